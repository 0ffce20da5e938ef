"""Access use cases: policy administration, named locations, decisions, What If, sign-in log."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

from stockade.access.cache import DecisionCache
from stockade.access.evaluate import PolicySet, first_unmatched_condition
from stockade.access.model import (
    THREAT_DEFENSE_APP,
    AccessPolicy,
    AccessStatus,
    ClientAppType,
    Control,
    Decision,
    NamedLocation,
    PolicyState,
    SignInRequest,
)
from stockade.access.policy_json import (
    PolicyDefinitionError,
    build_policy,
    merge_patch,
    parse_policy,
)
from stockade.access.posture import PostureSource
from stockade.access.store import AccessStore, purge_signins
from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound
from stockade.core.events import (
    AccessPolicyChanged,
    DeviceComplianceChanged,
    DirectoryChanged,
    MachineAlertsChanged,
    MachineRiskChanged,
    NamedLocationsChanged,
)
from stockade.core.ids import new_id
from stockade.directory.service import DirectoryService
from stockade.storage.database import Database

CLASSIC_REFUSAL = (
    "classic access policies belong to the threat-defense connector and cannot be edited, "
    "disabled or deleted; delete and recreate the connector"
)
LOCKOUT_REFUSAL = (
    "this policy would block every user, administrators included, from every application; "
    "exclude an emergency-access account or group, or confirm with ?confirmLockout=true"
)


@dataclass(frozen=True)
class AccessResult:
    decision: Decision
    signin_id: str
    user_principal_name: str | None
    device_name: str | None
    cached: bool = False


@dataclass(frozen=True)
class SignIn:
    """A sign-in to decide: who, to what, from which device, and what the caller vouches for."""

    user_ref: str
    app_id: str
    device_token: str | None = None
    device_id: str | None = None
    client_ip: str | None = None
    client_app_type: str = ClientAppType.BROWSER.value
    mfa_satisfied: bool = False
    app_protected: bool = False
    client_cert: str | None = None
    """The TLS client certificate a trusted proxy verified (PEM, possibly URL-escaped)."""
    client_cert_fingerprint: str | None = None
    """Or only its fingerprint (SHA-256, or SHA-1 as nginx's `$ssl_client_fingerprint`)."""


@dataclass
class Metrics:
    decisions: int = 0
    denied: int = 0
    fail_closed: int = 0
    fail_open: int = 0


class AccessService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        directory: DirectoryService,
        posture: PostureSource,
        signin_retention_days: int = 30,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.posture = posture
        self.retention = timedelta(days=signin_retention_days)
        self.cache: DecisionCache[AccessResult] = DecisionCache()
        self.metrics = Metrics()
        self._policies: dict[str, tuple[list[AccessPolicy], list[NamedLocation], PolicySet]] = {}
        self._fail_open: dict[str, set[str]] = {}
        self._last_purge = 0.0
        self._lock = threading.Lock()
        for event_type in (
            MachineRiskChanged,
            MachineAlertsChanged,
            DeviceComplianceChanged,
            AccessPolicyChanged,
            DirectoryChanged,
            NamedLocationsChanged,
        ):
            bus.subscribe(event_type, self._invalidate)

    def _invalidate(self, event: Any) -> None:
        if isinstance(event, AccessPolicyChanged | NamedLocationsChanged):
            self._policies.pop(event.tenant_id, None)
        self.cache.invalidate(event.tenant_id)

    # policies
    def create_policy(
        self, tenant_id: str, raw: dict[str, Any], *, confirm_lockout: bool = False
    ) -> AccessPolicy:
        _, policy = _parse(raw)
        self._refuse_lockout(tenant_id, policy, confirm_lockout)
        now = self.clock.now()
        policy = replace(policy, id=new_id(), created_at=now, modified_at=now)
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_policy(policy)
        self._changed(tenant_id, policy.id)
        return policy

    def update_policy(
        self,
        tenant_id: str,
        policy_id: str,
        patch: dict[str, Any],
        *,
        confirm_lockout: bool = False,
    ) -> AccessPolicy:
        _parse(patch, partial=True)  # names unknown properties before anything else
        current = self.get_policy(tenant_id, policy_id)
        if current.classic:
            raise Conflict(CLASSIC_REFUSAL, policyId=policy_id)
        _, policy = _parse(merge_patch(current.definition, patch))
        self._refuse_lockout(tenant_id, policy, confirm_lockout)
        policy = replace(
            policy,
            id=policy_id,
            created_at=current.created_at,
            modified_at=self.clock.now(),
        )
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).replace_policy(policy)
        self._changed(tenant_id, policy_id)
        return policy

    def delete_policy(self, tenant_id: str, policy_id: str) -> None:
        with self.db.begin() as conn:
            s = AccessStore(conn, tenant_id)
            current = s.get_policy(policy_id)
            if current is None:
                raise NotFound(f"no conditional access policy {policy_id}")
            if current.classic:
                raise Conflict(CLASSIC_REFUSAL, policyId=policy_id)
            s.delete_policy(policy_id)
        self._changed(tenant_id, policy_id)

    def get_policy(self, tenant_id: str, policy_id: str) -> AccessPolicy:
        with self.db.read() as conn:
            policy = AccessStore(conn, tenant_id).get_policy(policy_id)
        if policy is None:
            raise NotFound(f"no conditional access policy {policy_id}")
        return policy

    def list_policies(self, tenant_id: str) -> list[AccessPolicy]:
        return list(self._policy_set(tenant_id)[0])

    def _policy_set(
        self, tenant_id: str
    ) -> tuple[list[AccessPolicy], list[NamedLocation], PolicySet]:
        """The tenant's policies, compiled once and kept until a policy or location changes."""
        cached = self._policies.get(tenant_id)
        if cached is None:
            with self.db.read() as conn:
                s = AccessStore(conn, tenant_id)
                policies = s.list_policies()
                cached = (policies, s.list_locations(), PolicySet(policies))
            self._policies[tenant_id] = cached
        return cached

    def _refuse_lockout(self, tenant_id: str, policy: AccessPolicy, confirmed: bool) -> None:
        """Entra warns about locking yourself out; refuse outright unless confirmed."""
        c = policy.conditions
        blocks_everyone = (
            policy.state is PolicyState.ENABLED
            and Control.BLOCK in policy.controls
            and "All" in c.include_users
            and not (c.exclude_users or c.exclude_groups or c.exclude_roles)
            and "All" in c.include_applications
            and not c.exclude_applications
            and not c.include_platforms
            and not c.include_locations
            and c.device_filter is None
        )
        if blocks_everyone and not confirmed:
            raise Conflict(LOCKOUT_REFUSAL, conflict="lockout")

    def create_classic_policy(self, tenant_id: str, connector_id: str) -> AccessPolicy:
        """The connector's classic policy: devices must be registered to reach threat defense.

        The rule itself is enforced by threat defense on every endpoint (MtdService checks the
        directory registration); this record makes it visible and undeletable.
        """
        now = self.clock.now()
        definition = {
            "displayName": "[Classic] Threat defense: only registered devices may report",
            "description": (
                "Created with the threat-defense connector. A device must be registered and "
                "enabled in the directory before it may onboard or send telemetry."
            ),
            "state": PolicyState.ENABLED.value,
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": [THREAT_DEFENSE_APP]},
                "clientAppTypes": ["all"],
            },
            "grantControls": {"operator": "OR", "builtInControls": []},
        }
        policy = replace(
            build_policy(definition, classic=True),
            id=new_id(),
            classic=True,
            connector_id=connector_id,
            created_at=now,
            modified_at=now,
        )
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_policy(policy)
        self._changed(tenant_id, policy.id)
        return policy

    def remove_classic_policies(self, tenant_id: str, connector_id: str) -> int:
        with self.db.begin() as conn:
            removed = AccessStore(conn, tenant_id).delete_classic(connector_id)
        self._changed(tenant_id, connector_id)
        return removed

    def _changed(self, tenant_id: str, policy_id: str) -> None:
        self.bus.publish(
            AccessPolicyChanged(
                tenant_id=tenant_id, occurred_at=self.clock.now(), policy_id=policy_id
            )
        )

    # named locations
    def save_location(self, tenant_id: str, location: NamedLocation) -> NamedLocation:
        now = self.clock.now()
        with self.db.begin() as conn:
            s = AccessStore(conn, tenant_id)
            existing = next((x for x in s.list_locations() if x.id == location.id), None)
            if existing is None:
                location = replace(
                    location, id=location.id or new_id(), created_at=now, modified_at=now
                )
                s.add_location(location)
            else:
                location = replace(location, created_at=existing.created_at, modified_at=now)
                s.replace_location(location)
        self.bus.publish(NamedLocationsChanged(tenant_id=tenant_id, occurred_at=now))
        return location

    def list_locations(self, tenant_id: str) -> list[NamedLocation]:
        return list(self._policy_set(tenant_id)[1])

    def get_location(self, tenant_id: str, location_id: str) -> NamedLocation:
        found = next((x for x in self.list_locations(tenant_id) if x.id == location_id), None)
        if found is None:
            raise NotFound(f"no named location {location_id}")
        return found

    def delete_location(self, tenant_id: str, location_id: str) -> None:
        used = [
            p.display_name
            for p in self.list_policies(tenant_id)
            if location_id in (*p.conditions.include_locations, *p.conditions.exclude_locations)
        ]
        if used:
            raise Conflict(f"named location {location_id} is used by policies: {', '.join(used)}")
        with self.db.begin() as conn:
            if not AccessStore(conn, tenant_id).delete_location(location_id):
                raise NotFound(f"no named location {location_id}")
        self.bus.publish(NamedLocationsChanged(tenant_id=tenant_id, occurred_at=self.clock.now()))

    # application settings
    def set_fail_open(self, tenant_id: str, app_id: str, fail_open: bool) -> None:
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).set_fail_open(app_id, fail_open, self.clock.now())
        self._fail_open.pop(tenant_id, None)
        self.fail_open_apps(tenant_id)

    def fail_open_apps(self, tenant_id: str) -> set[str]:
        """Read when the store is up and kept, so it still answers when the store is down."""
        if tenant_id not in self._fail_open:
            with self.db.read() as conn:
                self._fail_open[tenant_id] = AccessStore(conn, tenant_id).fail_open_apps()
        return self._fail_open[tenant_id]

    def is_fail_open(self, tenant_id: str, app_id: str) -> bool:
        return app_id in self._fail_open.get(tenant_id, set())

    # decisions
    def decide(self, tenant_id: str, signin: SignIn, *, use_cache: bool = True) -> AccessResult:
        """Evaluate one request; each evaluation is recorded in the sign-in log.

        An unknown user is denied. A device token that is unknown, revoked or of another tenant
        counts as no device, so any policy that needs a compliant device fails. Identical
        requests are answered from the cache until an event invalidates it; those answers
        repeat a logged decision and are counted, not logged again.
        """
        key = cache_key(signin)
        if use_cache:
            hit = self.cached_decision(tenant_id, key)
            if hit is not None:
                return hit
        generation = self.cache.generation(tenant_id)
        request, device = self._request(tenant_id, signin)
        if request is None:
            reason = f"user {signin.user_ref!r} is unknown or disabled in this tenant"
            decision = Decision(False, AccessStatus.FAILURE, (), (reason,))
            user_id, upn = None, signin.user_ref
        else:
            decision = self._policy_set(tenant_id)[2].evaluate(request)
            user_id, upn = request.user_id, request.user_principal_name
        signin_id = self._log(tenant_id, user_id, upn, signin, device, decision)
        result = AccessResult(decision, signin_id, upn, device.device_name if device else None)
        self.metrics.decisions += 1
        self.metrics.denied += 0 if decision.allowed else 1
        if use_cache:
            self.cache.put(tenant_id, key, result, generation)
        return result

    def cached_decision(self, tenant_id: str, key: tuple[Any, ...]) -> AccessResult | None:
        hit = self.cache.get(tenant_id, key)
        if hit is None:
            return None
        self.metrics.decisions += 1
        self.metrics.denied += 0 if hit.decision.allowed else 1
        return replace(hit, cached=True)

    def what_if(self, tenant_id: str, signin: SignIn) -> dict[str, Any]:
        """Simulate a sign-in without logging it: which policies apply, with their controls,
        and for each that does not, the first condition that did not match."""
        request, device = self._request(tenant_id, signin)
        policies, _, policy_set = self._policy_set(tenant_id)
        if request is None:
            raise NotFound(f"no enabled user {signin.user_ref!r} in this tenant", field="user")
        decision = policy_set.evaluate(request)
        by_id = {p.id: p for p in policies}
        applied, not_applied = [], []
        for outcome in decision.policies:
            policy = by_id[outcome.policy_id]
            entry = {
                "id": policy.id,
                "displayName": policy.display_name,
                "state": policy.state.value,
                "classic": policy.classic,
                "result": outcome.result.value,
                "grantControls": list(outcome.enforced_controls),
                "operator": policy.operator,
                "reasons": list(outcome.reasons),
                "requirements": list(outcome.requirements),
                "notEnforced": [
                    {"path": u.path, "treatment": u.treatment} for u in policy.unobserved
                ],
            }
            miss = first_unmatched_condition(policy, request)
            if miss is None and policy.state is not PolicyState.DISABLED:
                applied.append(entry)
            else:
                not_applied.append({**entry, "firstUnmatchedCondition": miss or "policy disabled"})
        return {
            "decision": "allow" if decision.allowed else "deny",
            "conditionalAccessStatus": decision.status.value,
            "requirements": list(decision.requirements),
            "reasons": list(decision.reasons),
            "device": {"id": device.azure_ad_device_id, "displayName": device.device_name}
            if device
            else None,
            "appliedPolicies": applied,
            "notAppliedPolicies": not_applied,
            "classicPoliciesExist": any(p.classic for p in policies),
        }

    def _request(self, tenant_id: str, signin: SignIn) -> tuple[SignInRequest | None, Any]:
        user = self.directory.find_user(tenant_id, signin.user_ref)
        device = None
        if signin.device_token:
            found = self.posture.from_device_token(signin.device_token)
            if found is not None and found[0] == tenant_id:
                device = found[1]
        elif signin.device_id:
            device = self.posture.from_device_id(tenant_id, signin.device_id)
        elif signin.client_cert or signin.client_cert_fingerprint:
            device_id = self.directory.device_for_certificate(
                tenant_id, pem=signin.client_cert, fingerprint=signin.client_cert_fingerprint
            )
            if device_id is not None:
                device = self.posture.from_device_id(tenant_id, device_id)
        if user is None or not user.account_enabled:
            return None, device
        groups = self.directory.group_ids_of(
            tenant_id, user.id, device.azure_ad_device_id if device else None
        )
        roles = self.directory.role_ids_of(tenant_id, user.id)
        policies, locations, _ = self._policy_set(tenant_id)
        location_ids, unknown, trusted = _locate(signin.client_ip, locations, policies)
        return (
            SignInRequest(
                user_id=user.id,
                user_principal_name=user.user_principal_name,
                group_ids=frozenset(groups),
                role_ids=frozenset(roles),
                app_id=signin.app_id,
                device=self.posture.posture(tenant_id, device) if device else None,
                client_app_type=signin.client_app_type,
                client_ip=signin.client_ip,
                location_ids=location_ids,
                unknown_location_ids=unknown,
                trusted_location=trusted,
                mfa_satisfied=signin.mfa_satisfied,
                app_protected=signin.app_protected,
            ),
            device,
        )

    def _log(
        self,
        tenant_id: str,
        user_id: str | None,
        upn: str | None,
        signin: SignIn,
        device: Any,
        decision: Decision,
    ) -> str:
        signin_id = new_id()
        now = self.clock.now()
        row = {
            "id": signin_id,
            "created_at": now,
            "user_id": user_id,
            "user_principal_name": upn,
            "app_id": signin.app_id,
            "device_id": device.azure_ad_device_id if device else None,
            "device_name": device.device_name if device else None,
            "ip_address": signin.client_ip,
            "status": decision.status.value,
            "allowed": decision.allowed,
            "applied_policies": [
                {
                    "id": o.policy_id,
                    "displayName": o.display_name,
                    "result": o.result.value,
                    "enforcedGrantControls": list(o.enforced_controls),
                    "reasons": list(o.reasons),
                }
                for o in decision.policies
            ],
            "reasons": {
                "chain": list(decision.reasons),
                "details": list(decision.details),
                "requirements": list(decision.requirements),
                "clientAppType": signin.client_app_type,
            },
            "failure_reason": None if decision.allowed else "; ".join(decision.reasons),
        }
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_signin(row)
            if time.monotonic() - self._last_purge > 3600:  # retention, at most hourly
                self._last_purge = time.monotonic()
                purge_signins(conn, now - self.retention)
        return signin_id

    def list_signins(self, tenant_id: str, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        with self.db.read() as conn:
            return AccessStore(conn, tenant_id).list_signins(**filters)


def _parse(raw: dict[str, Any], *, partial: bool = False) -> tuple[dict[str, Any], AccessPolicy]:
    try:
        return parse_policy(raw, partial=partial)
    except PolicyDefinitionError as exc:
        fields = ", ".join(e["field"] for e in exc.errors)
        raise InvalidInput(f"invalid policy: {exc}", errors=exc.errors, fields=fields) from None


def cache_key(s: SignIn) -> tuple[Any, ...]:
    token = hashlib.sha256(s.device_token.encode()).hexdigest() if s.device_token else None
    cert = hashlib.sha256(s.client_cert.encode()).hexdigest() if s.client_cert else None
    return (
        cert,
        s.client_cert_fingerprint,
        s.user_ref.lower(),
        s.app_id,
        token,
        s.device_id,
        s.client_ip,
        s.client_app_type,
        s.mfa_satisfied,
        s.app_protected,
    )


def _locate(
    client_ip: str | None, locations: list[NamedLocation], policies: list[AccessPolicy]
) -> tuple[frozenset[str], frozenset[str], bool]:
    """(locations containing the address, locations whose membership cannot be known, trusted)."""
    known = {loc.id for loc in locations}
    referenced = {
        x
        for p in policies
        for x in (*p.conditions.include_locations, *p.conditions.exclude_locations)
        if x not in ("All", "AllTrusted")
    }
    unknown = {x for x in referenced if x not in known}
    unknown |= {loc.id for loc in locations if loc.countries}
    inside: set[str] = set()
    trusted = False
    if client_ip:
        try:
            addr = ip_address(client_ip)
        except ValueError:
            addr = None
        if addr is not None:
            for loc in locations:
                if any(addr.version == net.version and addr in net for net in loc.ranges):
                    inside.add(loc.id)
                    trusted = trusted or loc.is_trusted
    return frozenset(inside), frozenset(unknown), trusted
