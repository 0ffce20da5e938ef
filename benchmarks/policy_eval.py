"""In-process policy evaluation: 100 policies, 10,000 devices; p50 / p99 per decision.

The pure evaluator (`stockade.access.evaluate.PolicySet`) over a realistic policy set:
policies scoped by groups, roles and apps, platforms, locations, device filters and client
app types, with block / compliantDevice / mfa / domainJoinedDevice controls, some report-only
or disabled. Each of the 10,000 devices signs in once to a random app.

    .venv/bin/python benchmarks/policy_eval.py [--policies 100] [--devices 10000]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from stockade.access.evaluate import PolicySet
from stockade.access.model import AccessPolicy, DevicePosture, SignInRequest
from stockade.access.policy_json import build_policy

APPS = [f"app-{i}" for i in range(40)]
GROUPS = [f"group-{i}" for i in range(30)]
PLATFORMS = ["windows", "android", "iOS"]


def make_policies(n: int, rng: random.Random) -> list[AccessPolicy]:
    policies = []
    for i in range(n):
        kind = i % 6
        users = {"includeGroups": rng.sample(GROUPS, 3)} if i % 3 else {"includeUsers": ["All"]}
        if i % 7 == 0:
            users["excludeGroups"] = [rng.choice(GROUPS)]
        conditions: dict = {
            "users": users,
            "applications": {"includeApplications": rng.sample(APPS, 4) if i % 5 else ["All"]},
            "clientAppTypes": ["all"] if i % 4 else ["browser"],
        }
        if kind == 1:
            conditions["platforms"] = {"includePlatforms": [rng.choice(PLATFORMS)]}
        if kind == 2:
            conditions["locations"] = {
                "includeLocations": ["All"],
                "excludeLocations": ["AllTrusted"],
            }
        if kind == 3:
            conditions["devices"] = {
                "deviceFilter": {
                    "mode": "exclude",
                    "rule": 'device.trustType -eq "ServerAd" '
                    '-or device.extensionAttribute1 -eq "kiosk"',
                }
            }
        controls = [["compliantDevice"], ["mfa"], ["compliantDevice", "domainJoinedDevice"]][i % 3]
        if i % 10 == 9:  # a few block policies, scoped to groups and apps
            controls = ["block"]
            conditions["users"] = {"includeGroups": [rng.choice(GROUPS)]}
            conditions["applications"] = {"includeApplications": rng.sample(APPS, 2)}
        state = ["enabled", "enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"][
            i % 5
        ]
        definition = {
            "displayName": f"policy {i}",
            "state": state,
            "conditions": conditions,
            "grantControls": {"operator": "OR", "builtInControls": controls},
        }
        policies.append(build_policy(definition))
    return [p.__class__(**{**p.__dict__, "id": f"p{i}"}) for i, p in enumerate(policies)]


def make_requests(n: int, rng: random.Random) -> list[SignInRequest]:
    requests = []
    for i in range(n):
        compliant = rng.random() > 0.1
        device = DevicePosture(
            device_id=f"dev-{i}",
            display_name=f"DEV-{i}",
            platform=rng.choice(PLATFORMS),
            is_compliant=compliant,
            compliance_state="compliant" if compliant else "noncompliant",
            trust_type=rng.choice(["AzureAd", "ServerAd", "Workplace"]),
            threat_level="secured" if compliant else "high",
        )
        requests.append(
            SignInRequest(
                user_id=f"user-{i % 2000}",
                user_principal_name=f"user{i % 2000}@contoso.example",
                group_ids=frozenset(rng.sample(GROUPS, 2)),
                app_id=rng.choice(APPS),
                device=device,
                client_app_type=rng.choice(["browser", "mobileAppsAndDesktopClients"]),
                client_ip="198.51.100.7",
                trusted_location=rng.random() > 0.5,
                mfa_satisfied=rng.random() > 0.3,
            )
        )
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument(
        "--freeze", action="store_true", help="gc.freeze() after warm-up (see docs/access.md)"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    policies = make_policies(args.policies, rng)
    requests = make_requests(args.devices, rng)
    policy_set = PolicySet(policies)  # what the service keeps per tenant
    for r in requests[:2000]:  # warm up: compiled templates and memos reach steady state
        policy_set.evaluate(r)
    if args.freeze:
        # what a long-running server does with long-lived state: keep it out of collections
        gc.collect()
        gc.freeze()
    wall: list[float] = []
    cpu: list[float] = []
    denied = 0
    for r in requests:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        decision = policy_set.evaluate(r)
        wall.append((time.perf_counter_ns() - t0) / 1000)
        cpu.append((time.thread_time_ns() - c0) / 1000)
        denied += not decision.allowed
    print(f"policy evaluation: {args.policies} policies, {args.devices} devices, in process")
    # wall time includes being preempted by other processes; CPU time is the evaluator's own
    for label, values in (("wall", wall), ("cpu ", cpu)):
        values.sort()
        p50 = statistics.median(values)
        p99 = values[int(0.99 * (len(values) - 1))]
        print(f"  {label} p50 {p50:6.1f} µs   p99 {p99:6.1f} µs   max {values[-1]:8.1f} µs")
    print(f"  denied {denied} of {len(requests)}")


if __name__ == "__main__":
    main()
