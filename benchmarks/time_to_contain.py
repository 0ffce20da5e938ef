"""Time-to-contain: malicious event sent -> first deny from forward auth, over real HTTP.

Starts `stockade serve` as its own process on the embedded default (SQLite in a temporary data
directory, in-process bus), provisions a tenant like the demo, then repeats N times: resolve
the victim's alerts (access returns), send the batch holding the macro event, and ask forward
auth until it answers 403. Prints p50 / p95 / max in milliseconds.

    .venv/bin/python benchmarks/time_to_contain.py [--runs 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

import httpx

from stockade.http.server import free_port
from stockade.sim.demo import contain_once, resolve_all
from stockade.sim.device import StepFailed
from stockade.sim.fleet import admin_client, bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps

STOCKADE = [sys.executable, "-m", "stockade.cli"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        env.update(
            STOCKADE_DATA_DIR=data,
            STOCKADE_PORT=str(port),
            STOCKADE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        if args.database_url:
            env["STOCKADE_DATABASE_URL"] = args.database_url
        out = subprocess.run(
            [*STOCKADE, "tenant", "create", "bench"], env=env, capture_output=True, text=True
        )
        match = re.search(r"token\s+(sat_\S+)", out.stdout)
        if not match:
            sys.exit(f"could not create the tenant: {out.stdout}{out.stderr}")
        server = subprocess.Popen(
            [*STOCKADE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            tenant = provision(admin_client(url, match.group(1)), "bench")
            client = httpx.Client(base_url=url, timeout=30)
            fleet = fleet_specs(client, tenant.users, args.devices)
            for device in fleet:
                bring_up(device, tenant.enrollment_token)
            victim = fleet[0]
            events = attack_steps(victim.name, datetime.now(UTC))[0].events
            samples: list[float] = []
            for _ in range(args.runs):
                resolve_all(tenant, victim)
                if victim.open_app(tenant.name, "payroll").status_code != 200:
                    raise StepFailed("access did not return after resolving the alerts")
                samples.append(contain_once(tenant, victim, events, "payroll"))
        finally:
            server.terminate()
            server.wait(timeout=15)

    store = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    print(f"time-to-contain over {len(samples)} runs ({store}, {args.devices} devices, HTTP)")
    print(f"  p50 {statistics.median(samples):7.1f} ms")
    print(f"  p95 {percentile(samples, 0.95):7.1f} ms")
    print(f"  max {max(samples):7.1f} ms")


if __name__ == "__main__":
    main()
