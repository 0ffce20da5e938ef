"""The agent's state directory: a 0700 directory and 0600 files, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stockade.agent.model import AgentState, NotEnrolled

STATE_FILE = "state.json"


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` so that only the owner can ever read it, replacing `path` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask; this is not
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save(state_dir: Path, state: AgentState) -> None:
    private_dir(state_dir)
    write_private(state_dir / STATE_FILE, json.dumps(state.to_json(), indent=1).encode())


def load(state_dir: Path) -> AgentState:
    path = state_dir / STATE_FILE
    if not path.exists():
        raise NotEnrolled(f"not enrolled: no {path}; run `stockade-agent enroll` first")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise NotEnrolled(f"{path} is readable by others (mode {mode:o}); refusing to use it")
    return AgentState.from_json(json.loads(path.read_text()))
