"""Mobile containment and incident recovery, over real HTTP against a `stockade serve` process.

Provisions a tenant like the demo (SQLite in a temporary data directory by default), then
repeats N times on one iPhone of the fleet:

- time-to-contain: the threat-defense app reports the device jailbroken -> the first 403 from
  forward auth (the finding goes through alert, incident, risk, connector push, compliance);
- time-to-restore: the incident is resolved with one `PATCH /api/incidents/{id}` -> the first
  200 (its alerts resolve, risk drops, compliance and access follow).

Each run leaves one more resolved incident behind, so the last runs also show that grouping
stays cheap as incidents pile up. Prints p50 / p95 / max in milliseconds for both.

    .venv/bin/python benchmarks/mobile_containment.py [--runs 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from stockade.sim.device import SimulatedDevice, StepFailed, expect
from stockade.sim.fleet import Tenant, admin_client, bring_up, fleet_specs, provision
from stockade.sim.processes import StockadeProcess
from stockade.sim.scenario import mobile_attack_steps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_for(victim: SimulatedDevice, tenant: Tenant, status: int, t0: float) -> float:
    while victim.open_app(tenant.name, "payroll").status_code != status:
        if time.perf_counter() - t0 > 10:
            raise StepFailed(f"no {status} within 10 s")
    return (time.perf_counter() - t0) * 1000


def measure(tenant: Tenant, victim: SimulatedDevice, runs: int) -> tuple[list[float], list[float]]:
    jailbreak = mobile_attack_steps(victim.name, victim.platform, datetime.now(UTC))[2].events[0]
    contain: list[float] = []
    restore: list[float] = []
    for n in range(runs):
        if victim.open_app(tenant.name, "payroll").status_code != 200:
            raise StepFailed("the clean device was denied")
        finding = {**jailbreak, "findingId": f"bench-{n}"}  # a new finding each run
        t0 = time.perf_counter()
        victim.report([finding])
        contain.append(wait_for(victim, tenant, 403, t0))
        active = expect(tenant.admin.get("/api/incidents", params={"status": "active"}), 200)
        (incident,) = active["value"]
        t0 = time.perf_counter()
        expect(
            tenant.admin.patch(f"/api/incidents/{incident['id']}", json={"status": "resolved"}),
            200,
        )
        restore.append(wait_for(victim, tenant, 200, t0))
    return contain, restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stockade = StockadeProcess(Path(tmp) / "data", args.database_url)
        token = stockade.create_tenant("bench")
        with stockade:
            tenant = provision(admin_client(stockade.url, token), "bench")
            client = httpx.Client(base_url=stockade.url, timeout=30)
            fleet = fleet_specs(client, tenant.users, args.devices)
            for device in fleet:
                bring_up(device, tenant.enrollment_token)
            victim = next(d for d in fleet if d.platform == "iOS")
            contain, restore = measure(tenant, victim, args.runs)

    store = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    print(f"mobile containment over {args.runs} runs ({store}, {args.devices} devices)")
    for name, samples in (
        ("jailbreak finding -> first 403", contain),
        ("incident resolved -> first 200", restore),
    ):
        print(
            f"  {name}: p50 {statistics.median(samples):.1f} ms, "
            f"p95 {percentile(samples, 0.95):.1f} ms, max {max(samples):.1f} ms"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
