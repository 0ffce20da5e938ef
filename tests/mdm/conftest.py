"""Fixtures for device management tests: services with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from mdm_tenant import START, MdmTenant, make_mdm_tenant

from stockade.core.clock import FrozenClock
from stockade.http.app import create_app
from stockade.http.server import free_port
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


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def mailing_settings(settings: Settings, smtp_sink: tuple[SmtpSink, int]) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_sink[1],
            "smtp_sender": "it@contoso.example",
        }
    )


@pytest.fixture
def mailing_mdm(
    mailing_settings: Settings, clock: FrozenClock
) -> Iterator[tuple[MdmTenant, Services]]:
    built = Services.build(mailing_settings, clock=clock)
    ctx = make_mdm_tenant(built, create_app(built))
    yield ctx, built
    ctx.admin.close()
    ctx.device_client.close()
    built.close()
