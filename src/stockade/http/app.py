"""ASGI app assembly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from stockade import __version__
from stockade.access.api import router as access_router
from stockade.access.forward_auth import ForwardAuthFastPath
from stockade.connector.api import link_router
from stockade.connector.api import router as connector_router
from stockade.connector.duties import PartnerDuties
from stockade.connector.partner_api import PREFIX as PARTNER_PREFIX
from stockade.connector.partner_api import build_partner_app
from stockade.detection.api import router as detection_router
from stockade.directory.api import router as directory_router
from stockade.http import problems
from stockade.http.auth import public
from stockade.mdm.api import router as mdm_router
from stockade.mdm.scheduler import ActionScheduler
from stockade.mdm.tasks.api import router as security_tasks_router
from stockade.mtd.api import router as mtd_router
from stockade.services import Services
from stockade.vulnerability.api import router as vulnerability_router

health = APIRouter(tags=["health"])


@health.get("/healthz", dependencies=[public("liveness probe")])
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        duties = PartnerDuties(services.connector, services.settings)
        duties.start()
        actions = ActionScheduler(
            services.mdm.run_due_actions, services.settings.mdm_scheduler_seconds
        )
        actions.start()
        yield
        actions.stop()
        duties.stop()
        services.close()

    app = FastAPI(
        title="Stockade",
        version=__version__,
        description=(
            "Threat defense, device management and conditional access, joined. "
            "Resource and field names follow Microsoft Graph and the Defender API."
        ),
        lifespan=lifespan,
    )
    app.state.services = services
    problems.install(app)
    app.add_middleware(ForwardAuthFastPath, services=services)
    for router in (
        health,
        directory_router,
        mdm_router,
        mtd_router,
        connector_router,
        link_router,
        access_router,
        detection_router,
        vulnerability_router,
        security_tasks_router,
    ):
        app.include_router(router)
    app.mount(PARTNER_PREFIX, build_partner_app(services))
    return app
