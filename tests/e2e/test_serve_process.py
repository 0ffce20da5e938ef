"""Real processes: `stockade serve` played against over HTTP, and `stockade demo --once`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stockade.http.server import free_port
from stockade.sim.demo import play

pytestmark = pytest.mark.e2e
STOCKADE = [sys.executable, "-m", "stockade.cli"]


def _env(tmp_path: Path, database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update(
        STOCKADE_DATA_DIR=str(tmp_path / "data"),
        STOCKADE_DATABASE_URL=database_url,
        STOCKADE_PORT=str(port),
        STOCKADE_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    return env


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = _env(tmp_path, database_url, port)
    proc = subprocess.Popen(
        [*STOCKADE, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                f"stockade serve did not start:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        time.sleep(0.1)
    yield url, env
    proc.terminate()
    proc.wait(timeout=15)


def test_scenario_against_a_served_process(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    created = subprocess.run(
        [*STOCKADE, "tenant", "create", "e2e"], env=env, capture_output=True, text=True, check=True
    )
    token = re.search(r"token\s+(sat_\S+)", created.stdout)
    assert token, created.stdout
    # `play` raises StepFailed unless the attack is denied and recovery restores access
    time_to_contain = play(url, "e2e", token.group(1), devices=8)
    assert 0 < time_to_contain < 10_000
    again = subprocess.run(
        [*STOCKADE, "tenant", "create", "e2e"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_demo_once_exits_zero_with_time_to_contain_last(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [*STOCKADE, "demo", "--once", "--port", "0", "--devices", "8"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"time-to-contain: \d+(\.\d+)? ms", lines[-1]), lines[-1]
    assert any("DENIED" in line for line in lines)
    assert any("allowed again" in line for line in lines)
