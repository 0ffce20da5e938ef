"""Who is signing in, as the proxy in front asserts it: a trusted header or a verified JWT."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

import jwt

from stockade.core.errors import Unauthenticated


@dataclass(frozen=True)
class Identity:
    user_ref: str
    mfa: bool
    source: str  # header | jwt


def from_trusted_proxy(client_host: str | None, networks: list[IPv4Network | IPv6Network]) -> bool:
    if not client_host:
        return False
    try:
        addr = ip_address(client_host)
    except ValueError:
        return False
    return any(addr.version == net.version and addr in net for net in networks)


class JwtVerifier:
    """Verifies bearer JWTs against a JWKS URL (keys are fetched once and cached by PyJWT)."""

    def __init__(self, jwks_url: str, issuer: str, audience: str, user_claim: str) -> None:
        self.client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)
        self.issuer = issuer or None
        self.audience = audience or None
        self.user_claim = user_claim

    def verify(self, token: str) -> Identity:
        try:
            key = self.client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        user = claims.get(self.user_claim) or claims.get("upn") or claims.get("email")
        if not isinstance(user, str) or not user:
            raise Unauthenticated(f"the token has no {self.user_claim!r} claim")
        amr = claims.get("amr") or []
        return Identity(user, isinstance(amr, list) and "mfa" in amr, "jwt")
