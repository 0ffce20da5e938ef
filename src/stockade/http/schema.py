"""Shared request-body base and response helpers for the Graph-shaped API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """Request bodies refuse unknown fields, naming them, so a typo is never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def collection(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Graph's collection shape."""
    return {"value": items, **extra}
