"""Every context's tables on one MetaData, for Alembic and test set-up."""

from __future__ import annotations

from stockade.access import store as _access  # noqa: F401
from stockade.connector import store as _connector  # noqa: F401
from stockade.detection import store as _detection  # noqa: F401
from stockade.directory import store as _directory  # noqa: F401
from stockade.mdm import partner_store as _mdm_partner  # noqa: F401
from stockade.mdm import store as _mdm  # noqa: F401
from stockade.mdm.tasks import store as _mdm_tasks  # noqa: F401
from stockade.mtd import store as _mtd  # noqa: F401
from stockade.storage.types import metadata
from stockade.vulnerability import store as _vulnerability  # noqa: F401

__all__ = ["metadata"]
