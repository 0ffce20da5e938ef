"""Configuration, read once from `STOCKADE_*` environment variables (or a `.env` file).

No setting is required for the embedded default: SQLite in `./.stockade/`, in-process bus.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKADE_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".stockade")
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at `<data_dir>/stockade.db` (WAL)."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    """Base URL devices use to reach this server; empty means http://host:port."""

    forward_auth_user_header: str = "X-Forwarded-User"
    """Header carrying the signed-in user (UPN or id), set by the auth proxy in front."""
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )
    """Only requests from these addresses may assert identity through headers."""

    forward_auth_mfa_header: str = "X-Stockade-MFA"
    """Set to `true` by a trusted auth proxy when the user performed multi-factor auth."""
    jwt_jwks_url: str = ""
    """When set, forward auth and the decision API also accept a bearer JWT verified with
    these keys; the user comes from `jwt_user_claim`, MFA from `amr` containing `mfa`."""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_user_claim: str = "preferred_username"
    signin_retention_days: int = Field(30, ge=1, le=3650)

    partner_heartbeat_seconds: float = Field(60.0, gt=0)
    """How often threat defense tells a linked device management deployment it is alive."""
    partner_sync_hours: float = Field(24.0, gt=0)
    """How often every machine's level is pushed again, repairing anything missed."""

    smtp_host: str = ""
    """SMTP server for noncompliance e-mail; empty means e-mail actions are recorded, not sent."""
    smtp_port: int = 25
    smtp_sender: str = "stockade@localhost"
    smtp_username: str = ""
    smtp_password: str = Field("", repr=False)
    smtp_starttls: bool = False
    mdm_scheduler_seconds: float = 30.0
    """How often due compliance actions fire; 0 turns the loop off (tests drive it)."""

    max_batch_events: int = 5000
    max_batch_bytes: int = 5 * 1024 * 1024

    rule_dirs: str = ""
    """Sigma rule directories (a SigmaHQ checkout works as is), comma-separated, added to the
    built-in rules as every tenant's detection catalogue."""

    @property
    def rule_directories(self) -> list[Path]:
        return [Path(part.strip()) for part in self.rule_dirs.split(",") if part.strip()]

    alert_window_minutes: int = Field(24 * 60, ge=1)
    """Matches of one rule on one machine this close to an active alert's events join it."""
    incident_window_minutes: int = Field(24 * 60, ge=1)
    """A new alert this close to an incident's alerts on the machine or the user joins it."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [ip_network(part.strip(), strict=False) for part in value.split(",") if part]
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stockade.db').as_posix()}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
