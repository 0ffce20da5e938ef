"""Shared fixtures. Store-touching tests run on SQLite and on PostgreSQL.

PostgreSQL comes from STOCKADE_TEST_POSTGRES_URL (default: the local server). Where
STOCKADE_REQUIRE_SERVICES=1 (CI), a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stockade.http.app import create_app
from stockade.services import Services
from stockade.settings import Settings
from stockade.storage.tables import metadata

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def services_required() -> bool:
    return os.environ.get("STOCKADE_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private database on the PostgreSQL server for this test session."""
    base = make_url(os.environ.get("STOCKADE_TEST_POSTGRES_URL", PG_DEFAULT))
    name = f"stockade_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {base.render_as_string(hide_password=True)}: {exc}"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stockade.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            ).scalars()
        )
        names = [t.name for t in metadata.sorted_tables if t.name in existing]
        if names:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path, public_url="http://testserver", _env_file=None
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = Services.build(settings)
    yield built
    built.close()


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    return create_app(services)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    # requests come from loopback, which the default settings trust as a proxy
    with TestClient(app, client=("127.0.0.1", 50000)) as c:
        yield c


@dataclass
class TenantCtx:
    id: str
    name: str
    token: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_tenant(services: Services, app):  # type: ignore[no-untyped-def]
    clients: list[TestClient] = []

    def make(name: str | None = None) -> TenantCtx:
        tenant, issued = services.directory.create_tenant(name or f"t-{uuid.uuid4().hex[:8]}")
        c = TestClient(
            app,
            client=("127.0.0.1", 50001),
            headers={"Authorization": f"Bearer {issued.credential}"},
        )
        clients.append(c)
        return TenantCtx(tenant.id, tenant.name, str(issued.credential), c)

    yield make
    for c in clients:
        c.close()
