"""What the MDM service needs from outside and does not own."""

from __future__ import annotations

from typing import Protocol


class Mailer(Protocol):
    def send(self, to: list[str], subject: str, body: str) -> None:
        """Deliver one message or raise."""
