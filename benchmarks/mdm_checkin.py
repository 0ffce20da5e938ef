"""Device management under load: import an Intune export, enroll a fleet, time check-ins that
report full facts against a 30-setting baseline, and time the scheduler sweep.

Runs in process over the ASGI app (FastAPI TestClient, real database), so the figures are the
server's own work without network. Prints p50 / p95 / max in milliseconds.

    .venv/bin/python benchmarks/mdm_checkin.py [--devices 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from stockade.http.app import create_app
from stockade.services import Services
from stockade.settings import Settings

EXPORT = (
    Path(__file__).resolve().parents[1] / "tests" / "mdm" / "exports" / "windows10_baseline.json"
)
FACTS = {
    "isEncrypted": True,
    "bitLockerEnabled": True,
    "secureBootEnabled": True,
    "codeIntegrityEnabled": True,
    "tpmPresent": True,
    "firewallEnabled": True,
    "antivirusEnabled": True,
    "antiSpywareEnabled": True,
    "defenderEnabled": True,
    "realTimeProtectionEnabled": True,
    "signatureUpdateOverdue": False,
    "passwordSet": True,
    "passwordBlockSimple": True,
    "passwordType": "alphanumeric",
    "passwordMinimumLength": 12,
    "passwordMinutesOfInactivityBeforeLock": 10,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=args.database_url, mdm_scheduler_seconds=0
        )
        services = Services.build(settings)
        app = create_app(services)
        _, issued = services.directory.create_tenant(f"bench-{time.time_ns()}")
        admin = TestClient(app, headers={"Authorization": f"Bearer {issued.credential}"})
        device_client = TestClient(app)
        upn = "bench@contoso.example"
        user = admin.post("/api/users", json={"userPrincipalName": upn}).json()
        group = admin.post("/api/groups", json={"displayName": "bench"}).json()
        admin.post(f"/api/groups/{group['id']}/members/$ref", json={"@odata.id": user["id"]})
        export = EXPORT.read_text().encode("utf-16")
        started = time.perf_counter()
        policy = admin.post(
            "/api/deviceManagement/deviceCompliancePolicies",
            content=export,
            headers={"content-type": "application/json"},
        ).json()
        import_ms = (time.perf_counter() - started) * 1000
        admin.post(
            f"/api/deviceManagement/deviceCompliancePolicies/{policy['id']}/assign",
            json={"assignments": [{"target": {"groupId": group["id"]}}]},
        )
        token = admin.post("/api/deviceManagement/enrollmentTokens", json={}).json()["token"]
        credentials = []
        for i in range(args.devices):
            r = device_client.post(
                "/api/enrollment/enroll",
                json={
                    "deviceName": f"WIN-{i:04d}",
                    "platform": "windows",
                    "osVersion": "10.0.22631",
                    "userPrincipalName": upn,
                    "facts": FACTS,
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            credentials.append(r.json()["deviceCredential"])
        timings = []
        for i, credential in enumerate(credentials):
            facts = {**FACTS, "firewallEnabled": i % 2 == 0}
            started = time.perf_counter()
            r = device_client.post(
                "/api/enrollment/checkin",
                json={"facts": facts},
                headers={"Authorization": f"Bearer {credential}"},
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
        started = time.perf_counter()
        services.mdm.run_due_actions()
        sweep_ms = (time.perf_counter() - started) * 1000
        states = admin.get("/api/deviceManagement/deviceCompliancePolicyDeviceStateSummary").json()
        services.close()
    print(f"import of a UTF-16 Intune export: {import_ms:.1f} ms")
    print(
        f"check-in with facts, {args.devices} devices, {len(json.loads(EXPORT.read_text()))} "
        f"properties in the policy: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {percentile(timings, 0.95):.1f} ms, max {max(timings):.1f} ms"
    )
    print(f"scheduler sweep over {args.devices} devices: {sweep_ms:.1f} ms")
    print(
        f"states: {states['compliantDeviceCount']} compliant, "
        f"{states['nonCompliantDeviceCount']} noncompliant"
    )


if __name__ == "__main__":
    main()
