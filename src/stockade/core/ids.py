"""Identifiers and secrets.

Credentials look like `<prefix>_<id>.<secret>`: the id finds the row, the secret is compared
against a SHA-256 digest. Secrets carry 256 bits of entropy, so a slow hash adds nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass


def new_id() -> str:
    return str(uuid.uuid4())


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    prefix: str
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{self.prefix}_{self.id}.{self.secret}"

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"Credential(prefix={self.prefix!r}, id={self.id!r}, secret='***')"

    @property
    def secret_digest(self) -> str:
        return digest(self.secret)


def new_credential(prefix: str, id_: str | None = None) -> Credential:
    return Credential(prefix, id_ or new_id(), secrets.token_urlsafe(32))


def parse_credential(raw: str, prefix: str) -> Credential | None:
    """Split a presented credential; None when it is not of this kind."""
    head, sep, rest = raw.strip().partition("_")
    if not sep or head != prefix:
        return None
    id_, dot, secret = rest.partition(".")
    if not dot or not id_ or not secret:
        return None
    return Credential(prefix, id_, secret)


def secret_matches(credential: Credential, stored_digest: str) -> bool:
    return hmac.compare_digest(credential.secret_digest, stored_digest)
