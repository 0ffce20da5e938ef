"""A remote lock reaches the system's session locker."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stockade.agent.agent import lock_sessions


def test_remote_lock_runs_loginctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "loginctl"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert lock_sessions() is True
    assert calls.read_text().strip() == "lock-sessions"


def test_remote_lock_without_logind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert lock_sessions() is False
