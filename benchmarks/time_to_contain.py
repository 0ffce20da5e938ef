"""Time-to-contain: malicious event sent -> first deny, over real HTTP.

Starts `stockade serve` as its own process (SQLite in a temporary data directory by default),
provisions a tenant like the demo, then repeats N times: resolve the victim's alerts (access
returns), send the batch holding the macro event, and ask until the answer is 403. By default
it asks forward auth directly; with --through-nginx it asks an nginx `auth_request` front
(configured by `stockade proxy-config nginx`) in front of a toy app. Prints p50 / p95 / p99 /
max in milliseconds.

    .venv/bin/python benchmarks/time_to_contain.py [--runs 100] [--through-nginx]
        [--database-url URL]
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

from stockade.access.proxies import ProxySite
from stockade.http.server import free_port
from stockade.sim.demo import resolve_all
from stockade.sim.device import SimulatedDevice, StepFailed
from stockade.sim.fleet import Tenant, admin_client, bring_up, fleet_specs, provision
from stockade.sim.processes import NginxProcess, StockadeProcess, ToyApp
from stockade.sim.scenario import attack_steps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    tenant: Tenant, victim: SimulatedDevice, runs: int, ask: httpx.Client | None
) -> list[float]:
    events = attack_steps(victim.name, datetime.now(UTC))[0].events
    headers = {
        "X-Forwarded-User": victim.user_principal_name,
        "X-Stockade-Device": victim.credential,
    }

    def status() -> int:
        if ask is None:
            return victim.open_app(tenant.name, "payroll").status_code
        return ask.get("/payroll/home", headers=headers).status_code

    samples: list[float] = []
    for _ in range(runs):
        resolve_all(tenant, victim)
        if status() != 200:
            raise StepFailed("access did not return after resolving the alerts")
        t0 = time.perf_counter()
        victim.send(events)
        while status() != 403:
            if time.perf_counter() - t0 > 10:
                raise StepFailed("no deny within 10 s")
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--through-nginx", action="store_true")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stockade = StockadeProcess(Path(tmp) / "data", args.database_url)
        token = stockade.create_tenant("bench")
        app = proxy = None
        with stockade:
            tenant = provision(admin_client(stockade.url, token), "bench")
            client = httpx.Client(base_url=stockade.url, timeout=30)
            fleet = fleet_specs(client, tenant.users, args.devices)
            for device in fleet:
                bring_up(device, tenant.enrollment_token)
            ask = None
            if args.through_nginx:
                app = ToyApp()
                site = ProxySite(
                    "bench", "payroll", app.url, stockade.url, f"127.0.0.1:{free_port()}"
                )
                proxy = NginxProcess(Path(tmp) / "nginx", site).start()
                ask = httpx.Client(base_url=proxy.url, timeout=10)
            try:
                samples = measure(tenant, fleet[0], args.runs, ask)
            finally:
                if proxy:
                    proxy.stop()
                if app:
                    app.stop()

    store = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    path = "through nginx auth_request" if args.through_nginx else "forward auth directly"
    print(f"time-to-contain over {len(samples)} runs ({store}, {args.devices} devices, {path})")
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        value = statistics.median(samples) if q == 0.5 else percentile(samples, q)
        print(f"  {label} {value:7.1f} ms")
    print(f"  max {max(samples):7.1f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
