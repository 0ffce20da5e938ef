"""RFC 9457 problem+json for every error, with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from stockade.core.errors import StockadeError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    extra: dict[str, Any] | None = None,
    **more: Any,
) -> Response:
    body = {
        "type": f"urn:stockade:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    fields = {**(extra or {}), **more}
    body.update({k: v for k, v in fields.items() if v is not None and k not in body})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(StockadeError)
    async def _stockade(_: Request, exc: StockadeError) -> Response:
        # context may hold any field name (even "status"): pass it as one mapping
        return problem(exc.status, exc.title, exc.detail, exc.code, extra=exc.context)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(e["field"] or "(body)" for e in errors)
        return problem(
            422, "Invalid input", f"invalid fields: {fields}", "invalid_input", errors=errors
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return problem(
            500, "Internal error", "an unexpected error occurred; it was logged", "internal"
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), f"http_{exc.status_code}")
