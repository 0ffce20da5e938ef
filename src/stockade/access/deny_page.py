"""The page a person sees when access is denied: which device, what is wrong, what to do."""

from __future__ import annotations

import html

from stockade.access.model import Decision
from stockade.access.service import AccessResult


def deny_page(result: AccessResult) -> str:
    """A short page a person can act on: which device, what is wrong, what to do."""
    decision: Decision = result.decision
    device = result.device_name or "this device (not enrolled, or no device token)"
    what: list[str] = []
    todo = "Contact your IT help desk and quote the reference below."
    if "mfa" in decision.requirements or any(
        r.startswith("authenticationStrength") for r in decision.requirements
    ):
        what.append("This app needs multi-factor authentication.")
        todo = "Sign in again and complete multi-factor authentication."
    for detail in decision.details:
        control = detail.get("control")
        if control == "block":
            what.append(f"Policy “{detail['policy']}” blocks this app.")
        elif control in ("compliantApplication", "approvedApplication"):
            what.append("This app must be opened from an app protected by your organisation.")
        elif control == "domainJoinedDevice":
            what.append("This app needs a hybrid-joined work device.")
        elif control == "compliantDevice" and "complianceState" not in detail:
            what.append("This app needs a managed, compliant device.")
            todo = "Open this app from your enrolled work device."
        elif control == "compliantDevice":
            level = detail.get("threatLevel")
            alerts = detail.get("alerts") or []
            if level and level != "secured":
                what.append(f"Threat level {level.capitalize()}: {len(alerts)} active alert(s).")
                todo = (
                    "Disconnect the device from the network if you can, and contact your "
                    "security team. Access returns by itself once the alerts are resolved."
                )
            for setting in detail.get("settings", []):
                what.append(f"{setting['policy']}: {setting['reason']}.")
    if not what:
        what = list(decision.reasons)
    items = "".join(f"<li>{html.escape(w)}</li>" for w in dict.fromkeys(what))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access blocked</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;
padding:0 1rem;color:#222}} h1{{color:#a4262c}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head>
<body><h1>Access blocked</h1>
<p>You cannot reach this app from <strong>{html.escape(device)}</strong> right now.</p>
<h2>What is wrong</h2><ul>{items}</ul>
<h2>What to do</h2><p>{html.escape(todo)}</p>
<p><small>Reference: <code>{html.escape(result.signin_id)}</code></small></p>
</body></html>"""
