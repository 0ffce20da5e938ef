"""Fixtures for device management tests: services with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mdm_tenant import START, MdmTenant, make_mdm_tenant

from stockade.core.clock import FrozenClock
from stockade.http.app import create_app
from stockade.services import Services
from stockade.settings import Settings


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def frozen_services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    built = Services.build(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def mdm(frozen_services: Services) -> Iterator[MdmTenant]:
    """A tenant on services whose clock the test moves (`clock.at = ...`)."""
    app = create_app(frozen_services)
    ctx = make_mdm_tenant(frozen_services, app)
    yield ctx
    ctx.admin.close()
    ctx.device_client.close()
