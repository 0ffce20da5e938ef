"""Migrations build exactly the schema the stores declare, on each database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from stockade.storage.database import Database
from stockade.storage.migrate import downgrade, upgrade
from stockade.storage.tables import metadata


def test_upgrade_matches_the_models_and_downgrade_empties(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        upgrade(db)  # idempotent
        downgrade(db, "base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        upgrade(db)
        assert {t.name for t in metadata.sorted_tables} <= set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
