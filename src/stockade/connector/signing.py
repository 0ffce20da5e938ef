"""Signed requests between threat defense and device management deployments. Pure.

Each request carries `X-Stockade-Partner` (the connector id), `X-Stockade-Timestamp` (Unix
seconds) and `X-Stockade-Signature`: hex HMAC-SHA256 with the connector's shared secret over

    METHOD \\n PATH \\n TIMESTAMP \\n SHA256(BODY)

Each response is signed the same way over `STATUS \\n TIMESTAMP \\n SHA256(BODY)`, so both
sides prove they hold the secret (mutual authentication). A timestamp more than
`MAX_SKEW_SECONDS` away is refused, which bounds replays; pushes also carry per-device
sequence numbers, so a replayed or late push never overwrites a newer one.
"""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_SECONDS = 300
PARTNER = "X-Stockade-Partner"
TIMESTAMP = "X-Stockade-Timestamp"
SIGNATURE = "X-Stockade-Signature"


def _mac(secret: str, *parts: str) -> str:
    return hmac.new(secret.encode(), "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def sign_request(secret: str, method: str, path: str, timestamp: int, body: bytes) -> str:
    return _mac(secret, method.upper(), path, str(timestamp), hashlib.sha256(body).hexdigest())


def sign_response(secret: str, status: int, timestamp: int, body: bytes) -> str:
    return _mac(secret, str(status), str(timestamp), hashlib.sha256(body).hexdigest())


def verify(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected, presented)


def fresh(timestamp: int, now: float) -> bool:
    return abs(now - timestamp) <= MAX_SKEW_SECONDS
