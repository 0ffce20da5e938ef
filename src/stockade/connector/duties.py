"""The connector's periodic duties: heartbeats, unresponsiveness, full reconciliation.

Runs on a background thread of the serving process. Each duty is idempotent, so running it in
several processes at once is harmless (a PostgreSQL advisory lock will make it a singleton
when scale-out lands).
"""

from __future__ import annotations

import logging
import threading
import time

from stockade.connector.service import ConnectorService
from stockade.settings import Settings

log = logging.getLogger(__name__)


class PartnerDuties:
    def __init__(self, connector: ConnectorService, settings: Settings) -> None:
        self.connector = connector
        self.heartbeat_every = settings.partner_heartbeat_seconds
        self.sync_every = settings.partner_sync_hours * 3600
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stockade-partner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last_sync = time.monotonic()
        while not self._stop.wait(self.heartbeat_every):
            try:
                self.connector.heartbeat_all()
                self.connector.mark_unresponsive()
                if time.monotonic() - last_sync >= self.sync_every:
                    last_sync = time.monotonic()
                    self.connector.sync_all()
            except Exception:  # a duty must never kill the thread
                log.exception("connector duty failed")
