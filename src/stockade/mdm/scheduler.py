"""The loop that fires due compliance actions (grace ends, e-mails, locks, retire list) and
marks silent devices. Timers live in the database, so a restart loses none, and each is
claimed by one atomic update, so none fires twice even with several processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class ActionScheduler:
    def __init__(self, run: Callable[[], int], interval_seconds: float) -> None:
        self.run = run
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="mdm-actions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                fired = self.run()
                if fired:
                    log.info("fired %d compliance actions", fired)
            except Exception:  # the loop must outlive one bad sweep; the next one retries
                log.exception("compliance action sweep failed")
