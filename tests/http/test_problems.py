"""Errors answer RFC 9457 problem+json, whatever context they carry."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from stockade.core.errors import Conflict
from stockade.http import problems


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/clash")
    def clash() -> None:
        raise Conflict("task is not pending", status="active", code="x", field="status")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def test_context_never_overrides_the_problem_fields() -> None:
    r = TestClient(_app()).get("/clash")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 409 and body["code"] == "conflict"
    assert body["detail"] == "task is not pending" and body["field"] == "status"


def test_unexpected_errors_are_problems_without_internals() -> None:
    r = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret" not in r.text
