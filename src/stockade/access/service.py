"""Access use cases: policy administration, decisions, the sign-in log."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from stockade.access.evaluate import evaluate_access
from stockade.access.model import (
    THREAT_DEFENSE_APP,
    AccessPolicy,
    AccessStatus,
    Conditions,
    Control,
    Decision,
    PolicyState,
    SignInRequest,
)
from stockade.access.posture import PostureSource
from stockade.access.store import AccessStore
from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, NotFound
from stockade.core.events import AccessPolicyChanged
from stockade.core.ids import new_id
from stockade.directory.service import DirectoryService
from stockade.storage.database import Database

CLASSIC_REFUSAL = (
    "classic access policies belong to the threat-defense connector and cannot be edited, "
    "disabled or deleted; delete and recreate the connector"
)


@dataclass(frozen=True)
class AccessResult:
    decision: Decision
    signin_id: str
    user_principal_name: str | None
    device_name: str | None


class AccessService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        directory: DirectoryService,
        posture: PostureSource,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.posture = posture

    # policies
    def create_policy(self, tenant_id: str, policy: AccessPolicy) -> AccessPolicy:
        now = self.clock.now()
        policy = replace(
            policy, id=new_id(), classic=False, connector_id=None, created_at=now, modified_at=now
        )
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_policy(policy)
        self._changed(tenant_id, policy.id)
        return policy

    def update_policy(
        self, tenant_id: str, policy_id: str, changes: dict[str, Any]
    ) -> AccessPolicy:
        with self.db.begin() as conn:
            s = AccessStore(conn, tenant_id)
            current = s.get_policy(policy_id)
            if current is None:
                raise NotFound(f"no conditional access policy {policy_id}")
            if current.classic:
                raise Conflict(CLASSIC_REFUSAL, policyId=policy_id)
            policy = replace(current, **changes, modified_at=self.clock.now())
            s.replace_policy(policy)
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
        with self.db.read() as conn:
            return AccessStore(conn, tenant_id).list_policies()

    def create_classic_policy(self, tenant_id: str, connector_id: str) -> AccessPolicy:
        """The connector's classic policy: devices must be registered to reach threat defense."""
        now = self.clock.now()
        policy = AccessPolicy(
            id=new_id(),
            display_name="[Classic] Threat defense: require a registered device",
            state=PolicyState.ENABLED,
            conditions=Conditions(
                include_users=("All",), include_applications=(THREAT_DEFENSE_APP,)
            ),
            controls=(Control.COMPLIANT_DEVICE,),
            operator="OR",
            classic=True,
            connector_id=connector_id,
            created_at=now,
            modified_at=now,
        )
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_policy(policy)
        return policy

    def remove_classic_policies(self, tenant_id: str, connector_id: str) -> int:
        with self.db.begin() as conn:
            return AccessStore(conn, tenant_id).delete_classic(connector_id)

    def _changed(self, tenant_id: str, policy_id: str) -> None:
        self.bus.publish(
            AccessPolicyChanged(
                tenant_id=tenant_id, occurred_at=self.clock.now(), policy_id=policy_id
            )
        )

    # decisions
    def decide(
        self,
        tenant_id: str,
        *,
        user_ref: str,
        app_id: str,
        device_token: str | None,
        client_ip: str | None,
    ) -> AccessResult:
        """Evaluate one request and record it in the sign-in log.

        An unknown user is denied. A device token that is unknown, revoked or of another tenant
        counts as no device, so any policy that needs a compliant device fails.
        """
        user = self.directory.find_user(tenant_id, user_ref)
        device = None
        if device_token:
            found = self.posture.from_device_token(device_token)
            if found is not None and found[0] == tenant_id:
                device = found[1]
        if user is None or not user.account_enabled:
            reason = f"user {user_ref!r} is unknown or disabled in this tenant"
            decision = Decision(False, AccessStatus.FAILURE, (), (reason,))
            signin_id = self._log(tenant_id, None, user_ref, app_id, device, client_ip, decision)
            return AccessResult(
                decision, signin_id, user_ref, device.device_name if device else None
            )
        groups = self.directory.group_ids_of(
            tenant_id, user.id, device.azure_ad_device_id if device else None
        )
        posture = self.posture.posture(tenant_id, device) if device else None
        request = SignInRequest(
            user_id=user.id,
            user_principal_name=user.user_principal_name,
            group_ids=frozenset(groups),
            app_id=app_id,
            device=posture,
            client_ip=client_ip,
        )
        decision = evaluate_access(request, self.list_policies(tenant_id))
        signin_id = self._log(
            tenant_id, user.id, user.user_principal_name, app_id, device, client_ip, decision
        )
        return AccessResult(
            decision, signin_id, user.user_principal_name, device.device_name if device else None
        )

    def _log(
        self,
        tenant_id: str,
        user_id: str | None,
        upn: str | None,
        app_id: str,
        device: Any,
        client_ip: str | None,
        decision: Decision,
    ) -> str:
        signin_id = new_id()
        row = {
            "id": signin_id,
            "created_at": self.clock.now(),
            "user_id": user_id,
            "user_principal_name": upn,
            "app_id": app_id,
            "device_id": device.azure_ad_device_id if device else None,
            "device_name": device.device_name if device else None,
            "ip_address": client_ip,
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
            "reasons": {"chain": list(decision.reasons), "details": list(decision.details)},
            "failure_reason": None if decision.allowed else "; ".join(decision.reasons),
        }
        with self.db.begin() as conn:
            AccessStore(conn, tenant_id).add_signin(row)
        return signin_id

    def list_signins(
        self,
        tenant_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        status: str | None = None,
        since: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        with self.db.read() as conn:
            return AccessStore(conn, tenant_id).list_signins(
                limit=limit, offset=offset, status=status, since=since
            )
