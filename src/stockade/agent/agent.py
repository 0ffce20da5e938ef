"""The agent's work: enroll, check in, apply the onboarding profile, ship telemetry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stockade.agent import facts, spool, state
from stockade.agent.model import AgentState, AgentStopped

log = logging.getLogger("stockade.agent")

ONBOARDING_PROFILE_TYPE = "#microsoft.graph.windowsDefenderAdvancedThreatProtectionConfiguration"
SHIP_INTERVAL_SECONDS = 5.0


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.text)
    except ValueError:
        return response.text[:300]


def enroll(
    server: str,
    token: str,
    user_principal_name: str,
    state_dir: Path,
    *,
    device_name: str | None = None,
    client: httpx.Client | None = None,
) -> AgentState:
    """Enroll this machine; the device credential goes to a file only its owner can read."""
    http = client or httpx.Client(timeout=60)
    r = http.post(
        f"{server.rstrip('/')}/api/enrollment/enroll",
        json={
            "deviceName": device_name or facts.hostname(),
            "platform": "linux",
            "osVersion": facts.os_version(),
            "userPrincipalName": user_principal_name,
            "facts": facts.device_facts(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    if r.status_code != 201:
        raise AgentStopped(f"enrollment refused ({r.status_code}): {_detail(r)}")
    data = r.json()
    enrolled = AgentState(
        server=server.rstrip("/"),
        managed_device_id=data["managedDevice"]["id"],
        device_id=data["managedDevice"]["azureADDeviceId"],
        credential=data["deviceCredential"],
        user_principal_name=user_principal_name,
    )
    state.save(state_dir, enrolled)
    return enrolled


@dataclass
class Agent:
    state_dir: Path
    tail_files: list[Path]
    client: httpx.Client
    sensor_os_platform: str = "Linux"
    ship_interval: float = SHIP_INTERVAL_SECONDS
    read_facts: Callable[[], dict[str, Any]] = facts.device_facts

    def __post_init__(self) -> None:
        self.state = state.load(self.state_dir)
        self.spool = spool.Spool(self.state_dir / "buffer")

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.state.credential}"}

    def _save(self) -> None:
        state.save(self.state_dir, self.state)

    # one cycle
    def check_in(self) -> dict[str, Any]:
        body = {
            "osVersion": facts.os_version(),
            "facts": self.read_facts(),
            "profileStatuses": self.state.profile_statuses,
        }
        r = self.client.post(
            f"{self.state.server}/api/enrollment/checkin", json=body, headers=self._auth
        )
        if r.status_code == 401:
            raise AgentStopped(f"the server revoked this device's credential: {_detail(r)}")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        self.state.profile_statuses = []
        self.state.next_check_in_seconds = int(data.get("nextCheckInSeconds", 900))
        for action in data.get("deviceActions", []):
            self._act(action)
        self._apply(data.get("profiles", []))
        self._save()
        return data

    def _act(self, action: dict[str, Any]) -> None:
        name = action.get("actionName")
        if name in ("retire", "wipe"):
            # company data here is the credential and the buffer: drop them and stop
            for path in (self.state_dir / state.STATE_FILE, *self.spool.segments()):
                path.unlink(missing_ok=True)
            raise AgentStopped(f"the device was {name}d by an administrator")
        log.info("device action %s received", name)

    def _apply(self, profiles: list[dict[str, Any]]) -> None:
        for profile in profiles:
            if profile.get("@odata.type") != ONBOARDING_PROFILE_TYPE:
                continue
            version = f"{profile['id']}@{profile.get('lastModifiedDateTime')}"
            if version == self.state.onboarded_profile and self.state.sensor_credential:
                continue
            blob = profile.get("advancedThreatProtectionOnboardingBlob") or {}
            status: dict[str, Any] = {"id": profile["id"], "status": "succeeded"}
            try:
                r = self.client.post(
                    blob["onboardUrl"],
                    json={
                        "deviceId": self.state.device_id,
                        "computerDnsName": facts.hostname(),
                        "osPlatform": self.sensor_os_platform,
                        "osVersion": facts.os_version(),
                    },
                    headers={"Authorization": f"Bearer {blob['onboardingCredential']}"},
                )
                if r.status_code == 201:
                    self.state.sensor_credential = r.json()["sensorCredential"]
                    self.state.ingest_url = blob.get("ingestUrl") or (
                        f"{self.state.server}/api/mtd/telemetry"
                    )
                else:
                    status = {
                        "id": profile["id"],
                        "status": "error",
                        "errorDescription": f"onboarding refused ({r.status_code}): {_detail(r)}",
                    }
            except KeyError as exc:
                status = {
                    "id": profile["id"],
                    "status": "error",
                    "errorDescription": f"the onboarding profile lacks {exc}",
                }
            self.state.onboarded_profile = version
            self.state.profile_statuses.append(status)

    def collect(self) -> int:
        """Copy new lines of the tailed files into the buffer, then remember how far."""
        copied = 0
        for path in self.tail_files:
            key = str(path.resolve())
            lines, offset, skipped = spool.tail(path, self.state.offsets.get(key, 0))
            if skipped:
                log.warning(
                    "%s: %d lines are not JSON objects with an EventID; skipped", path, skipped
                )
            if lines:
                copied += self.spool.append(lines)
            self.state.offsets[key] = offset
        self._save()
        return copied

    def ship(self) -> int:
        """Send buffered segments in order; stop at the first the server cannot take now."""
        if not self.state.sensor_credential:
            return 0
        sent = 0
        for segment in self.spool.segments():
            body = segment.read_bytes()
            r = self.client.post(
                self.state.ingest_url,
                content=body,
                headers={
                    "Authorization": f"Bearer {self.state.sensor_credential}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            if r.status_code == 202:
                segment.unlink()
                sent += body.count(b"\n")
            elif r.status_code in (400, 413, 422):
                self.spool.reject(segment, f"{r.status_code}: {_detail(r)}")
            elif r.status_code in (401, 403):
                raise AgentStopped(f"the server refused the sensor credential: {_detail(r)}")
            else:
                break
        return sent

    def cycle(self) -> None:
        self.collect()
        self.check_in()
        self.ship()

    def run(self, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Until stopped: collect and ship every few seconds, check in on the server's
        schedule or at once when it asks (an open wait for device actions)."""
        next_check_in = 0.0
        backoff = 1.0
        while not stop():
            try:
                self.collect()
                if time.monotonic() >= next_check_in:
                    self.check_in()
                    next_check_in = time.monotonic() + self.state.next_check_in_seconds
                self.ship()
                r = self.client.get(
                    f"{self.state.server}/api/enrollment/deviceActions/wait",
                    params={"waitSeconds": max(1, int(self.ship_interval))},
                    headers=self._auth,
                    timeout=self.ship_interval + 30,
                )
                if r.status_code == 401:
                    raise AgentStopped(f"the server revoked this device's credential: {_detail(r)}")
                if r.status_code == 200 and r.json().get("checkInNow"):
                    next_check_in = 0.0
                backoff = 1.0
            except httpx.TransportError as exc:
                # the server is away: keep buffering, try again a little later each time
                log.warning(
                    "server unreachable (%s); %d lines buffered", exc, self.spool.pending_lines()
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
