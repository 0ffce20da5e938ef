"""The exception tree. Expected outcomes (denied, noncompliant) are values, not exceptions.

StockadeError
 +-- NotFound               404: the resource does not exist in the caller's tenant
 +-- Conflict               409: the request contradicts the resource's state
 +-- InvalidInput           400/422: the request is malformed; `errors` says what and where
 +-- Unauthenticated        401: missing, unknown or revoked credential
 +-- Forbidden              403: authenticated but the role lacks the permission
"""

from __future__ import annotations

from typing import Any


class StockadeError(Exception):
    status: int = 500
    code: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.context = context


class NotFound(StockadeError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(StockadeError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(StockadeError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"

    def __init__(self, detail: str, *, status: int = 422, **context: Any) -> None:
        super().__init__(detail, **context)
        self.status = status


class Unauthenticated(StockadeError):
    status = 401
    code = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(StockadeError):
    status = 403
    code = "forbidden"
    title = "Forbidden"
