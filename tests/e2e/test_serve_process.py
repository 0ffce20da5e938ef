"""Real processes: `stockade serve` played against over HTTP, and `stockade demo --once`."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.sim.demo import play
from stockade.sim.processes import STOCKADE, StockadeProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[StockadeProcess]:
    with StockadeProcess(tmp_path / "data", database_url) as proc:
        yield proc


def test_scenario_against_a_served_process(server: StockadeProcess) -> None:
    token = server.create_tenant("e2e")
    # `play` raises StepFailed unless the attack is denied and recovery restores access
    time_to_contain = play(server.url, "e2e", token, devices=8)
    assert 0 < time_to_contain < 10_000
    again = subprocess.run(
        [*STOCKADE, "tenant", "create", "e2e"], env=server.env, capture_output=True, text=True
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
