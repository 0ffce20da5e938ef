"""Authentication dependencies. Every route declares exactly one of them.

`require(permission)` for the admin API (bearer API token with a role), `device()` for managed
devices, `sensor()` for threat-defense sensors, and `public(reason)` for routes that
authenticate by other means (enrollment token, onboarding credential) or not at all. A test
walks the app's routes and fails on any route without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from stockade.core.errors import Forbidden, Unauthenticated
from stockade.directory.model import AdminPrincipal, Permission
from stockade.mdm.model import ManagedDevice
from stockade.mtd.model import Machine
from stockade.services import Services

AUTH_MARK = "stockade_auth"


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("missing bearer credential (Authorization: Bearer ...)")
    return value.strip()


def require(permission: Permission) -> Any:
    def dependency(request: Request) -> AdminPrincipal:
        principal = services(request).directory.authenticate_admin(bearer(request))
        if not principal.can(permission):
            raise Forbidden(
                f"role {principal.role.value} lacks permission {permission.value}",
                permission=permission.value,
            )
        return principal

    _mark(dependency, f"permission:{permission.value}")
    return Depends(dependency)


def device() -> Any:
    def dependency(request: Request) -> tuple[str, ManagedDevice]:
        return services(request).mdm.authenticate_device(bearer(request))

    _mark(dependency, "device")
    return Depends(dependency)


def sensor() -> Any:
    def dependency(request: Request) -> tuple[str, Machine]:
        return services(request).mtd.authenticate_sensor(bearer(request))

    _mark(dependency, "sensor")
    return Depends(dependency)


def public(reason: str) -> Any:
    def dependency() -> None:
        return None

    _mark(dependency, f"public:{reason}")
    return Depends(dependency)


def mark_auth(fn: Callable[..., Any], value: str) -> None:
    setattr(fn, AUTH_MARK, value)


_mark = mark_auth


def route_auth(route: Any) -> list[str]:
    """The auth marks a route declares (used by the authorization test)."""
    marks: list[str] = []

    def walk(dependant: Any) -> None:
        for dep in dependant.dependencies:
            mark = getattr(dep.call, AUTH_MARK, None)
            if mark:
                marks.append(mark)
            walk(dep)

    walk(route.dependant)
    return marks


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route of an app, looking inside included routers."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            out.extend(api_routes(list(inner.routes)))
        elif isinstance(getattr(route, "app", None), FastAPI):  # a mounted sub-application
            out.extend(api_routes(list(route.app.routes)))
    return out
