"""Forward auth under load over HTTP on loopback: requests/s and latency percentiles (wrk).

Starts `stockade serve` in its own process (SQLite in a temp dir), provisions a tenant with a
"require compliant device" policy and 20 devices, then drives GET /access/forward-auth with
wrk (Debian package `wrk`) for each device in turn: every request is a full forward-auth
request (identity from the trusted header, device from its token), answered from the decision
cache after the first. Prints wrk's requests/s and latency distribution.

    .venv/bin/python benchmarks/forward_auth_load.py [--seconds 10] [--connections 8]
        [--env STOCKADE_X=value]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from stockade.sim.fleet import admin_client, bring_up, fleet_specs, provision
from stockade.sim.processes import StockadeProcess

LUA = """
local devices = {%s}
local users = {%s}
local i = 0
request = function()
  i = i + 1
  local k = (i %% #devices) + 1
  wrk.headers["X-Forwarded-User"] = users[k]
  wrk.headers["X-Stockade-Device"] = devices[k]
  return wrk.format("GET", "/access/forward-auth?tenant=bench&app=payroll")
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--env", action="append", default=[], help="STOCKADE_X=value for the server"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        stockade = StockadeProcess(Path(tmp) / "data", **dict(a.split("=", 1) for a in args.env))
        token = stockade.create_tenant("bench")
        with stockade:
            tenant = provision(admin_client(stockade.url, token), "bench")
            client = httpx.Client(base_url=stockade.url, timeout=30)
            fleet = fleet_specs(client, tenant.users, 20)
            for device in fleet:
                bring_up(device, tenant.enrollment_token)
                assert device.open_app("bench", "payroll").status_code == 200
            script = Path(tmp) / "forward_auth.lua"
            script.write_text(
                LUA
                % (
                    ", ".join(f'"{d.credential}"' for d in fleet),
                    ", ".join(f'"{d.user_principal_name}"' for d in fleet),
                )
            )
            out = subprocess.run(
                [
                    "wrk",
                    f"-t{args.threads}",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "--latency",
                    "-s",
                    str(script),
                    stockade.url,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"forward auth over HTTP: {args.connections} connections, {args.seconds} s, "
        "one stockade serve process"
    )
    print(f"  requests/s {float(rps.group(1)) if rps else 0:,.0f}")
    for q in ("50", "90", "99"):
        m = re.search(rf"\s{q}%\s+([\d.]+\w+)", out)
        print(f"  p{q} {m.group(1) if m else '?'}")
    print(f"  non-2xx responses {non2xx.group(1) if non2xx else 0}")


if __name__ == "__main__":
    main()
