"""Compiled-rule cache: rules parsed once, loaded in a fraction of the time afterwards.

Parsing a SigmaHQ checkout (YAML, pySigma, condition grammar) takes seconds; what comes out of
it, `RulePlan`s and resolved correlations, is plain data. The cache pickles that data, keyed
by a fingerprint of the rule files (paths, sizes, modification times), the cache format, the
pySigma version and the source of the modules that make plans, so any change to a file, an
upgrade or a change of the compiler parses afresh. Predicates are always
built anew from the plans (closures do not pickle), which is fast.

A cache file that cannot be read is ignored (and rewritten on the next load); the cache only
ever saves time, it never changes what loads. Every rule set, upgrade and tuned scan leaves
files behind (a SigmaHQ rule set's is 7 MB), so a read marks its file used, and each write
removes the files no one has used for `STALE_DAYS`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import os
import pickle
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from stockade.detection import compile as compile_module
from stockade.detection import correlate, logsource, prefilter
from stockade.detection.compile import RulePlan
from stockade.detection.correlate import CompiledCorrelation
from stockade.detection.model import RuleProblem

__all__ = [
    "CACHE_FORMAT",
    "STALE_DAYS",
    "Plans",
    "ScanCache",
    "fingerprint",
    "prune",
    "read",
    "write",
]

CACHE_FORMAT = 1
STALE_DAYS = 30
_CACHE_FILES = ("rules-*.pickle", "scan-*.bin", "*.tmp")


@dataclass(frozen=True)
class Plans:
    rules: tuple[RulePlan, ...]
    problems: tuple[RuleProblem, ...]
    correlations: tuple[CompiledCorrelation, ...]


def _compiler_digest() -> bytes:
    """The code that turns YAML into plans: a change to it invalidates every cache."""
    digest = hashlib.sha256()
    load_module = importlib.import_module("stockade.detection.load")  # it imports this module
    for module in (compile_module, prefilter, logsource, correlate, load_module):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.digest()


def fingerprint(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{metadata.version('pysigma')}".encode())
    digest.update(_compiler_digest())
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            digest.update(f"|{file}|missing".encode())
            continue
        digest.update(f"|{file.absolute()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _path(directory: Path, key: str) -> Path:
    return directory / f"rules-{key[:32]}.pickle"


def read(directory: Path, key: str) -> Plans | None:
    # Unpickling creates ~200,000 small objects; the cyclic collector would walk them all
    # several times over for nothing (they are all alive), which doubles the load time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with _path(directory, key).open("rb") as source:
            stored = pickle.load(source)
        _mark_used(_path(directory, key))
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or foreign file: parse afresh
        return None
    finally:
        # The rules live as long as the engine: move them out of the collector's sight, so
        # that later collections (and forked hunt workers' memory) leave them alone.
        gc.freeze()
        if collecting:
            gc.enable()
    if not isinstance(stored, tuple) or len(stored) != 2 or stored[0] != key:
        return None
    plans = stored[1]
    return plans if isinstance(plans, Plans) else None


def write(directory: Path, key: str, plans: Plans) -> None:
    """Store atomically (a reader never sees half a file); failures only cost the cache."""
    _write_atomically(
        _path(directory, key), pickle.dumps((key, plans), protocol=pickle.HIGHEST_PROTOCOL)
    )


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as target:
            target.write(data)
        os.replace(temporary, path)
    except OSError:
        return
    prune(path.parent)


def _mark_used(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(path)


def prune(directory: Path, stale_days: float = STALE_DAYS) -> int:
    """Remove the cache files of ``directory`` not used (read or written) for
    ``stale_days``; how many went. Other files are left alone."""
    cutoff = time.time() - stale_days * 86400
    removed = 0
    for pattern in _CACHE_FILES:
        for path in directory.glob(pattern):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
    return removed


class ScanCache:
    """Compiled scans (see `prefilter.RuleScanner`) of one rule set, kept beside its rules:
    compiling a bucket's literals costs tens of milliseconds each, loading them next to
    nothing. Entries are named by the rule set's fingerprint, the code that builds scans and
    the bucket, so a changed rule file, upgrade or bucket never meets an old entry."""

    def __init__(self, directory: Path, rules_fingerprint: str) -> None:
        self._directory = directory
        digest = hashlib.sha256(rules_fingerprint.encode())
        for name in (
            "stockade.detection.scanplan",
            "stockade.detection.exclusion",
            "stockade.detection.prefilter",
            "stockade.detection.engine",
            "stockade.telemetry.eventlog",  # what exclusions assume of flattening
        ):
            digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
        with contextlib.suppress(metadata.PackageNotFoundError):  # none here: nothing to keep
            digest.update(metadata.version("hyperscan").encode())
        # Native and Python scans are kept apart: each build finds only its own kind.
        native = prefilter._rawscan
        digest.update(Path(native.__file__ or "").read_bytes() if native else b"python")
        self._prefix = digest.hexdigest()

    def _path(self, name: str) -> Path:
        key = hashlib.sha256(f"{self._prefix}|{name}".encode()).hexdigest()[:40]
        return self._directory / f"scan-{key}.bin"

    def get(self, name: str) -> bytes | None:
        try:
            data = self._path(name).read_bytes()
        except OSError:
            return None
        _mark_used(self._path(name))
        return data

    def put(self, name: str, data: bytes) -> None:
        """Store atomically; failures only cost the cache."""
        _write_atomically(self._path(name), data)
