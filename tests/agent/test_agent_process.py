"""The reference agent for real: `stockade-agent` processes on this Linux machine against a
running `stockade serve` process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockade.agent import facts
from stockade.http.server import free_port
from stockade.sim.scenario import attack_steps

pytestmark = pytest.mark.e2e
STOCKADE = [sys.executable, "-m", "stockade.cli"]
AGENT = [sys.executable, "-m", "stockade.agent.cli"]
UPN = "alex@contoso.example"


class ServeProcess:
    """`stockade serve` that a test can stop and start again on the same port and data."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        self.env.update(
            STOCKADE_DATA_DIR=str(tmp_path / "data"),
            STOCKADE_DATABASE_URL=database_url,
            STOCKADE_PORT=str(self.port),
            STOCKADE_PUBLIC_URL=self.url,
        )
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*STOCKADE, "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                out = self.proc.stdout.read() if self.proc.stdout else ""
                pytest.fail(f"stockade serve did not start:\n{out}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


def agent(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


def _admin(server: ServeProcess) -> tuple[httpx.Client, str]:
    created = subprocess.run(
        [*STOCKADE, "tenant", "create", "lab"],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = re.search(r"token\s+(sat_\S+)", created.stdout)
    assert token, created.stdout
    admin = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30
    )
    user = admin.post("/api/users", json={"userPrincipalName": UPN}).json()
    group = admin.post("/api/groups", json={"displayName": "Lab"}).json()
    admin.post(f"/api/groups/{group['id']}/members/$ref", json={"@odata.id": user["id"]})
    r = admin.post(
        "/api/deviceManagement/mobileThreatDefenseConnectors", json={"windowsEnabled": True}
    )
    assert r.status_code == 201, r.text
    (profile,) = admin.get("/api/deviceManagement/deviceConfigurations").json()["value"]
    admin.post(
        f"/api/deviceManagement/deviceConfigurations/{profile['id']}/assign",
        json={"assignments": [{"target": {"groupId": group["id"]}}]},
    )
    enrollment = admin.post("/api/deviceManagement/enrollmentTokens", json={}).json()
    return admin, enrollment["token"]


def _device(admin: httpx.Client, managed_id: str) -> dict[str, Any]:
    r = admin.get(f"/api/deviceManagement/managedDevices/{managed_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Any:
    served = ServeProcess(tmp_path, database_url)
    served.start()
    yield served
    served.stop()


def test_agent_enrolls_reports_onboards_ships_and_survives_an_outage(
    server: ServeProcess, tmp_path: Path
) -> None:
    admin, token = _admin(server)
    state_dir = tmp_path / "agent"
    token_file = tmp_path / "enrollment-token"
    token_file.write_text(token + "\n")
    done = agent(
        "enroll", "--server", server.url, "--user", UPN,
        "--token-file", str(token_file), "--state-dir", str(state_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    managed_id = re.search(r"managed device (\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    assert token not in done.stdout + done.stderr
    state_file = state_dir / "state.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert json.loads(state_file.read_text())["credential"].startswith("sdv_")

    # real facts of this machine
    device = _device(admin, managed_id)
    assert device["operatingSystem"] == "Linux"
    assert device["osVersion"] == facts.os_version()
    real = facts.device_facts()
    reported = device["deviceFacts"]
    assert {a["displayName"] for a in reported.get("installedApps", [])} == {
        a["displayName"] for a in real.get("installedApps", [])
    }
    for key in ("isEncrypted", "secureBootEnabled", "firewallEnabled", "tpmPresent"):
        assert reported.get(key) == real.get(key), key

    # telemetry to ship: the macro step of the scenario, and one line that is not an event
    log = tmp_path / "sysmon.ndjson"
    events = attack_steps("LAB-1", datetime.now(UTC))[0].events
    log.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events) + b"not json\n")

    # threat defense does not take Linux sensors yet: the profile reports the refusal and the
    # events wait on disk
    done = agent("run", "--once", "--state-dir", str(state_dir), "--tail", str(log))
    assert done.returncode == 0, done.stderr
    assert f"{len(events)} lines still buffered" in done.stdout
    done = agent("run", "--once", "--state-dir", str(state_dir), "--tail", str(log))
    profile_id = admin.get("/api/deviceManagement/deviceConfigurations").json()["value"][0]["id"]
    statuses = admin.get(f"/api/deviceManagement/deviceConfigurations/{profile_id}/deviceStatuses")
    (row,) = statuses.json()["value"]
    assert row["status"] == "error" and "osPlatform" in row["errorDescription"]

    # with a platform threat defense accepts, the sensor onboards and the buffer ships
    done = agent(
        "run", "--once", "--state-dir", str(state_dir), "--tail", str(log),
        "--sensor-os-platform", "Windows11",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 lines still buffered" in done.stdout
    machine = next(
        m
        for m in admin.get("/api/machines").json()["value"]
        if m["aadDeviceId"] == device["azureADDeviceId"]
    )
    alerts = admin.get(f"/api/machines/{machine['id']}/alerts").json()["value"]
    assert alerts, "the shipped events reached detection"

    # the server goes away: new lines wait on disk, then ship when it is back
    server.stop()
    more = attack_steps("LAB-1", datetime.now(UTC))[1].events
    with log.open("ab") as f:
        f.write(b"".join(json.dumps(e).encode() + b"\n" for e in more))
    done = agent("run", "--once", "--state-dir", str(state_dir), "--tail", str(log))
    assert done.returncode == 1 and "unreachable" in done.stderr
    status = agent("status", "--state-dir", str(state_dir))
    assert f"buffered lines: {len(more)}" in status.stdout
    server.start()
    done = agent(
        "run", "--once", "--state-dir", str(state_dir), "--tail", str(log),
        "--sensor-os-platform", "Windows11",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 lines still buffered" in done.stdout
    later = admin.get(f"/api/machines/{machine['id']}/alerts").json()["value"]
    assert len(later) > len(alerts)


def test_running_agent_syncs_on_demand_and_stops_when_revoked(
    server: ServeProcess, tmp_path: Path
) -> None:
    admin, token = _admin(server)
    state_dir = tmp_path / "agent"
    # the token from stdin this time
    done = agent(
        "enroll", "--server", server.url, "--user", UPN, "--token-file", "-",
        "--state-dir", str(state_dir), "--device-name", "LAB-2",
    stdin=token)  # fmt: skip
    assert done.returncode == 0, done.stderr
    managed_id = re.search(r"managed device (\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    proc = subprocess.Popen(
        [*AGENT, "run", "--state-dir", str(state_dir), "--ship-interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            _device(admin, managed_id)["lastSyncDateTime"]
            == _device(admin, managed_id)["enrolledDateTime"]
        ):
            assert time.monotonic() < deadline, "the agent never checked in"
            time.sleep(0.2)
        # sync now: the agent is not due for minutes, yet it checks in at once
        r = admin.post(f"/api/deviceManagement/managedDevices/{managed_id}/syncDevice")
        assert r.status_code == 204
        deadline = time.monotonic() + 15
        while True:
            actions = _device(admin, managed_id)["deviceActionResults"]
            if actions and actions[0]["actionState"] == "done":
                break
            assert time.monotonic() < deadline, actions
            time.sleep(0.2)
        # revoke: disable the device registration; the agent stops and says so
        device_id = _device(admin, managed_id)["azureADDeviceId"]
        admin.patch(f"/api/devices/{device_id}", json={"accountEnabled": False})
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
        assert "revoked" in err and "stopping" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_enrollment_token_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    done = agent("enroll", "--server", "http://127.0.0.1:9", "--user", UPN, "--token", "set_x.y")
    assert done.returncode != 0 and "No such option" in done.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = agent(
        "enroll", "--server", "http://127.0.0.1:9", "--user", UPN, "--token-file", str(empty),
        "--state-dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert done.returncode != 0 and "empty" in done.stderr
