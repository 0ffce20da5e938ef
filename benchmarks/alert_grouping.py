"""Cost of the alert path as history piles up: one malicious batch -> alert, incident, risk.

Builds the services in process (no HTTP, so the figure is the ingest use case alone: store,
detect, alert window, incident grouping, risk, connector push, compliance) on a fresh SQLite
file (or --database-url), onboards a small fleet through the real API, then for each history
size H: leaves H resolved alerts (each in its own resolved incident) on the victim and on
another machine of the same user, and times `MtdService.ingest` of a batch that raises a new
alert, then resolving it. Prints p50 / p95 in milliseconds per history size.

    .venv/bin/python benchmarks/alert_grouping.py [--history 0,500,2000] [--samples 100]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from stockade.http.app import create_app
from stockade.mtd.model import AlertStatus, Machine
from stockade.services import Services
from stockade.settings import Settings
from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def batch(machine: Machine, at: datetime) -> bytes:
    events = attack_steps(machine.computer_dns_name, at)[0].events
    return b"\n".join(orjson.dumps(e) for e in events)


def raise_and_resolve(svc: Services, tenant_id: str, machine: Machine, at: datetime) -> float:
    """Milliseconds for the ingest that raises the alert."""
    t0 = time.perf_counter()
    result = svc.mtd.ingest(tenant_id, machine, batch(machine, at))
    elapsed = (time.perf_counter() - t0) * 1000
    for alert in result.alerts:
        svc.mtd.set_alert_status(tenant_id, alert.id, AlertStatus.RESOLVED)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="0,500,2000")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()
    sizes = [int(x) for x in args.history.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'stockade.db'}"
        settings = Settings(
            database_url=url, data_dir=Path(tmp), public_url="http://testserver", _env_file=None
        )
        svc = Services.build(settings)
        tenant, issued = svc.directory.create_tenant(f"bench-{time.time_ns()}")
        headers = {"Authorization": f"Bearer {issued.credential}"}
        app = create_app(svc)
        with TestClient(app, client=("127.0.0.1", 1), headers=headers) as admin:
            t = provision(admin, tenant.name, users=1)
            client = TestClient(app, client=("127.0.0.1", 2))
            fleet = [d for d in fleet_specs(client, t.users, 4) if d.platform == "windows"]
            for device in fleet:
                bring_up(device, t.enrollment_token)
        victim, sibling = (svc.mtd.get_machine(tenant.id, d.machine_id) for d in fleet[:2])
        # history is spread a week apart so every old alert sits in its own incident
        start = datetime.now(UTC) - timedelta(days=7 * (max(sizes) + 1))
        made = 0
        print(f"alert path, {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}")
        for size in sizes:
            while made < size:
                at = start + timedelta(days=7 * made)
                raise_and_resolve(svc, tenant.id, victim, at)
                raise_and_resolve(svc, tenant.id, sibling, at)
                made += 1
            now = datetime.now(UTC)
            samples = [raise_and_resolve(svc, tenant.id, victim, now) for _ in range(args.samples)]
            print(
                f"  history {size:5d} older resolved alerts: ingest raising an alert "
                f"p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms"
            )
        svc.close()


if __name__ == "__main__":
    main()
