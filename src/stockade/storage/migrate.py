"""Alembic, driven from code: `upgrade(db)` brings any database to the newest schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from stockade.storage.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "heads") -> None:
    """Every branch to its newest revision: contexts add migrations on branches of their own
    (down_revision "0001"), so parallel work never fights over one chain."""
    command.upgrade(alembic_config(db), revision)


def downgrade(db: Database, revision: str) -> None:
    command.downgrade(alembic_config(db), revision)
