"""MDM use cases: enrollment, check-in, policies and profiles, compliance re-evaluation."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from stockade.core.events import DeviceComplianceChanged, DirectoryChanged
from stockade.core.ids import Credential, new_credential, new_id, parse_credential, secret_matches
from stockade.core.model import Platform, ThreatLevel
from stockade.directory.service import DirectoryService
from stockade.mdm import store
from stockade.mdm.app_protection import (
    LaunchDecision,
    ParsedAppPolicy,
    decide_launch,
    parse_app_policy,
    parse_apps,
)
from stockade.mdm.cadence import next_check_in_seconds
from stockade.mdm.catalog import ParsedPolicy, parse_policy, unsupported_problems
from stockade.mdm.compliance import DEFAULT_POLICY_ID, evaluate_compliance
from stockade.mdm.model import (
    ALL_DEVICES,
    ALL_LICENSED_USERS,
    APP_PROTECTION_TYPES,
    EXCLUDE,
    ONBOARDING_PROFILE_TYPE,
    OPERATING_SYSTEMS,
    PROFILE_PLATFORMS,
    PROFILE_SETTINGS,
    ActionTimer,
    ActionType,
    AppProtectionPolicy,
    AuditEvent,
    CompliancePolicy,
    ComplianceState,
    DeploymentStatus,
    DeviceCommand,
    DeviceConfiguration,
    DevicePlatform,
    EnrollmentToken,
    JoinType,
    LocalizedMessage,
    ManagedDevice,
    NotificationTemplate,
    PartnerCompliance,
    ScheduledAction,
    SettingState,
    TenantSettings,
    assigned,
)
from stockade.mdm.notify import notification
from stockade.mdm.partner_store import PartnerStore
from stockade.mdm.ports import Mailer
from stockade.mdm.store import MdmStore
from stockade.storage.database import Database

ENROLLMENT_PREFIX = "set"
DEVICE_PREFIX = "sdv"

_WINDOWS_VERSION = re.compile(r"(10|11)(\.0(\.[0-9]+){0,2})?")


@dataclass(frozen=True)
class Enrollment:
    device: ManagedDevice
    credential: Credential


@dataclass(frozen=True)
class CheckIn:
    device: ManagedDevice
    profiles: tuple[DeviceConfiguration, ...]
    next_check_in_seconds: int
    commands: tuple[DeviceCommand, ...] = ()


# admin device actions and the management state they lead to until the device picks them up
DEVICE_ACTIONS = {
    "retire": "retirePending",
    "wipe": "wipePending",
    "remoteLock": None,
    "syncDevice": None,
}
# once the device has received one of these, its credential no longer works
FINAL_STATES = {"retirePending": "retireIssued", "wipePending": "wipeIssued"}


def windows_release(os_version: str) -> str | None:
    """`10` or `11` from what a Windows device reports (`10`, `11`, `10.0.22631`), else None.

    Windows 11 still reports a 10.0 kernel version; builds 22000 and later are Windows 11.
    """
    if not _WINDOWS_VERSION.fullmatch(os_version):
        return None
    parts = os_version.split(".")
    if parts[0] == "11":
        return "11"
    if len(parts) >= 3 and int(parts[2]) >= 22000:
        return "11"
    return "10"


class MdmService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        directory: DirectoryService,
        public_url: str,
        *,
        mailer: Mailer | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.public_url = public_url
        self.mailer = mailer
        bus.subscribe(DirectoryChanged, self.on_directory_changed)

    def on_directory_changed(self, event: DirectoryChanged) -> None:
        """A membership change can assign or unassign policies: re-evaluate the devices of
        that user (or that device) at once instead of waiting for the scheduler's sweep."""
        if event.change != "membership":
            return
        for device in self.list_devices(event.tenant_id):
            if event.object_id in (device.user_id, device.azure_ad_device_id):
                self.reevaluate(event.tenant_id, device.id)

    # enrollment tokens
    def create_enrollment_token(
        self, tenant_id: str, display_name: str, valid_days: int = 30
    ) -> tuple[EnrollmentToken, Credential]:
        if not 1 <= valid_days <= 365:
            raise InvalidInput("validDays must be between 1 and 365", field="validDays")
        credential = new_credential(ENROLLMENT_PREFIX)
        now = self.clock.now()
        token = EnrollmentToken(
            credential.id,
            display_name or "enrollment",
            now,
            now + timedelta(days=valid_days),
            None,
            0,
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).add_enrollment_token(token, credential.secret_digest)
        return token, credential

    def list_enrollment_tokens(self, tenant_id: str) -> list[EnrollmentToken]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).list_enrollment_tokens()

    def revoke_enrollment_token(self, tenant_id: str, token_id: str) -> None:
        with self.db.begin() as conn:
            if not MdmStore(conn, tenant_id).revoke_enrollment_token(token_id, self.clock.now()):
                raise NotFound(f"no active enrollment token {token_id}")

    # enrollment and check-in
    def enroll(
        self,
        raw_token: str,
        *,
        device_name: str,
        platform: str,
        os_version: str,
        join_type: str | None,
        user_principal_name: str,
        facts: dict[str, Any] | None = None,
    ) -> Enrollment:
        credential = parse_credential(raw_token, ENROLLMENT_PREFIX)
        if credential is None:
            raise Unauthenticated("not an enrollment token")
        with self.db.read() as conn:
            found = store.find_enrollment_token(conn, credential.id)
        if found is None or not secret_matches(credential, found[2]):
            raise Unauthenticated("unknown enrollment token")
        tenant_id, token, _ = found
        now = self.clock.now()
        if token.revoked_at is not None or token.expires_at <= now:
            raise Unauthenticated("enrollment token revoked or expired")

        plat, join = _validate_device(platform, os_version, join_type)
        user = self.directory.find_user(tenant_id, user_principal_name)
        if user is None or not user.account_enabled:
            raise InvalidInput(
                f"no enabled user {user_principal_name!r} in this tenant",
                field="userPrincipalName",
            )
        registration = self.directory.register_device(
            tenant_id,
            display_name=device_name,
            operating_system=OPERATING_SYSTEMS[plat],
            operating_system_version=os_version,
            trust_type=join.trust_type if join else "Workplace",
            owner_id=user.id,
        )
        device_credential = new_credential(DEVICE_PREFIX)
        device = ManagedDevice(
            id=device_credential.id,
            azure_ad_device_id=registration.id,
            device_name=device_name,
            platform=plat,
            os_version=os_version,
            join_type=join,
            user_id=user.id,
            user_principal_name=user.user_principal_name,
            enrolled_at=now,
            last_sync_at=now,
            compliance_state=ComplianceState.UNKNOWN,
            threat_level=None,
            threat_sequence=0,
            threat_updated_at=None,
        )
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            s.add_device(device, device_credential.secret_digest)
            if facts:
                s.update_device(device.id, facts=facts)
            s.count_enrollment_use(token.id)
        device = self.reevaluate(tenant_id, device.id)
        return Enrollment(device, device_credential)

    def authenticate_device(self, raw: str) -> tuple[str, ManagedDevice]:
        credential = parse_credential(raw, DEVICE_PREFIX)
        if credential is None:
            raise Unauthenticated("not a device credential")
        with self.db.read() as conn:
            found = store.find_device_credential(conn, credential.id)
        if found is None or not secret_matches(credential, found[2]):
            raise Unauthenticated("unknown device credential")
        tenant_id, device, _ = found
        if device.management_state in FINAL_STATES.values():
            raise Unauthenticated(
                f"device credential revoked: the device was "
                f"{device.management_state.removesuffix('Issued')}d"
            )
        if not self.directory.is_device_registered(tenant_id, device.azure_ad_device_id):
            raise Unauthenticated("device credential revoked: the device registration is disabled")
        return tenant_id, device

    def check_in(
        self,
        tenant_id: str,
        device: ManagedDevice,
        os_version: str | None,
        facts: dict[str, Any] | None = None,
        profile_statuses: list[tuple[str, str, str | None]] | None = None,
    ) -> CheckIn:
        """A device reports in: facts, the outcome of the profiles it applied
        (`profile_statuses`: id, succeeded/error, detail); it gets its profiles and actions."""
        values: dict[str, Any] = {"last_sync_at": self.clock.now()}
        if os_version:
            _validate_device(device.platform.value, os_version, device.join_type)
            values["os_version"] = os_version
        if facts:
            # a check-in reports what it knows; facts it leaves out keep their last value
            values["facts"] = {**device.facts, **facts}
        # everything is checked before anything changes: a refused check-in delivers nothing
        groups = self._groups(tenant_id, device)
        with self.db.read() as conn:
            assigned = {
                c.id: c
                for c in MdmStore(conn, tenant_id).list_configurations(groups)
                if device.platform in PROFILE_PLATFORMS.get(c.odata_type, frozenset(DevicePlatform))
            }
        for i, (config_id, _, _) in enumerate(profile_statuses or ()):
            if config_id not in assigned:
                raise InvalidInput(
                    f"profile {config_id} is not assigned to this device",
                    field=f"profileStatuses[{i}].id",
                )
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            commands = s.commands(device.id, pending_only=True)
            s.mark_delivered([c.id for c in commands], values["last_sync_at"])
            final = FINAL_STATES.get(device.management_state)
            if final and any(c.action_name in ("retire", "wipe") for c in commands):
                values["management_state"] = final
            s.update_device(device.id, **values)
        device = self.reevaluate(tenant_id, device.id)
        now = values["last_sync_at"]
        profiles = list(assigned.values())
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            known = s.deployment(device.id)
            for config_id, status, detail in profile_statuses or ():
                config = assigned[config_id]
                s.set_deployment(config_id, device.id, status, detail, config.modified_at, now)
                known[config_id] = (status, detail, config.modified_at, now)
            for config in profiles:
                # delivered now; a changed profile is pending again until the device reports
                if config.id not in known or known[config.id][2] != config.modified_at:
                    s.set_deployment(
                        config.id,
                        device.id,
                        DeploymentStatus.PENDING,
                        None,
                        config.modified_at,
                        now,
                    )
        cadence = next_check_in_seconds(device.enrolled_at, now)
        return CheckIn(device, tuple(profiles), cadence, tuple(commands))

    def deployment_statuses(
        self, tenant_id: str, config_id: str
    ) -> list[tuple[ManagedDevice, DeploymentStatus, str | None, datetime | None]]:
        """Every device the profile is assigned to, with its deployment status."""
        config = self.get_configuration(tenant_id, config_id)
        applies = PROFILE_PLATFORMS.get(config.odata_type, frozenset(DevicePlatform))
        out = []
        for device in self.list_devices(tenant_id):
            if not assigned(config.group_ids, self._groups(tenant_id, device)):
                continue
            if device.platform not in applies:
                out.append((device, DeploymentStatus.NOT_APPLICABLE, None, None))
                continue
            with self.db.read() as conn:
                row = MdmStore(conn, tenant_id).deployment(device.id).get(config.id)
            if row is None or row[2] != config.modified_at:
                out.append((device, DeploymentStatus.PENDING, None, row[3] if row else None))
            else:
                out.append((device, DeploymentStatus(row[0]), row[1], row[3]))
        return out

    # threat level from the connector
    def apply_threat_level(
        self,
        tenant_id: str,
        aad_device_id: str,
        level: ThreatLevel,
        sequence: int,
        *,
        unsupported_os: bool | None = None,
    ) -> ManagedDevice | None:
        """Record the partner's threat level and re-evaluate compliance at once.

        Returns None when no managed device has that id or the push is stale (its sequence is
        not newer than the last one applied), so a late push never overwrites a newer one.
        `unsupported_os`, when given, records whether the partner supports the device's OS.
        """
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            device = s.device_by_aad_id(aad_device_id, lock=True)
            if device is None or sequence <= device.threat_sequence:
                return None
            s.update_device(
                device.id,
                threat_level=level.value,
                threat_sequence=sequence,
                threat_updated_at=self.clock.now(),
            )
            if unsupported_os is not None:
                PartnerStore(conn, tenant_id).set_unsupported_os(aad_device_id, unsupported_os)
        return self.reevaluate(tenant_id, device.id)

    def set_partner_compliance(
        self, tenant_id: str, platform: Platform, value: PartnerCompliance
    ) -> int:
        """The connector's settings for a platform; devices of that platform whose result can
        change are re-evaluated at once. Returns how many were re-evaluated."""
        with self.db.begin() as conn:
            store = PartnerStore(conn, tenant_id)
            if store.get(platform.value) == value:
                return 0
            store.set(platform.value, value)
        devices = [d for d in self.list_devices(tenant_id) if d.platform.value == platform.value]
        for device in devices:
            self.reevaluate(tenant_id, device.id)
        return len(devices)

    def reevaluate(self, tenant_id: str, device_id: str) -> ManagedDevice:
        with self.db.read() as conn:
            device = MdmStore(conn, tenant_id).get_device(device_id)
        if device is None:
            raise NotFound(f"no managed device {device_id}")
        groups = self._groups(tenant_id, device)
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            device = s.get_device(device_id)
            assert device is not None
            policies = s.list_policies(groups)
            partners = PartnerStore(conn, tenant_id)
            result = evaluate_compliance(
                device,
                policies,
                s.tenant_settings(),
                now,
                partners.get(device.platform.value),
                partners.unsupported_os(device.azure_ad_device_id),
            )
            # grace periods count from the start of each policy's current noncompliance
            since = {
                r.policy_id: device.noncompliant_since.get(r.policy_id, now)
                for r in result.policies
                if r.policy_id != DEFAULT_POLICY_ID
                and r.state in (ComplianceState.NONCOMPLIANT, ComplianceState.IN_GRACE_PERIOD)
            }
            s.update_device(
                device_id,
                compliance_state=result.state.value,
                compliance=result,
                noncompliant_since=since,
                evaluated_groups=sorted(groups),
            )
            _schedule_actions(s, device_id, policies, since)
        previous = device.compliance_state
        device = replace(
            device, compliance_state=result.state, compliance=result, noncompliant_since=since
        )
        if result.state is not previous:
            self.bus.publish(
                DeviceComplianceChanged(
                    tenant_id=tenant_id,
                    occurred_at=self.clock.now(),
                    device_id=device.azure_ad_device_id,
                    compliance_state=result.state.value,
                    previous=previous.value,
                )
            )
        self._fire_due(tenant_id, device_id)
        return device

    # actions for noncompliance
    def run_due_actions(self) -> int:
        """The scheduler's sweep: fire every due timer once, and re-evaluate devices that have
        been silent past their tenant's validity period. Returns the number of timers fired."""
        now = self.clock.now()
        with self.db.read() as conn:
            due = store.due_timers(conn, now)
            stale = store.stale_devices(conn, now - timedelta(days=1))
        fired = sum(self._fire(tenant_id, timer, now) for tenant_id, timer in due)
        self._reevaluate_membership_changes()
        thresholds: dict[str, int] = {}
        for tenant_id, device_id, last_sync in stale:
            if tenant_id not in thresholds:
                thresholds[tenant_id] = self.get_settings(tenant_id).checkin_threshold_days
            if now - last_sync > timedelta(days=thresholds[tenant_id]):
                self.reevaluate(tenant_id, device_id)
        return fired

    def _reevaluate_membership_changes(self) -> int:
        """Group membership lives in the directory, which announces no changes: each sweep
        compares every device's groups with those of its last evaluation."""
        with self.db.read() as conn:
            rows = store.evaluated_groups(conn)
        changed = 0
        for tenant_id, device_id, user_id, aad_id, seen in rows:
            groups = self.directory.group_ids_of(tenant_id, user_id, aad_id)
            if sorted(groups) != seen:
                self.reevaluate(tenant_id, device_id)
                changed += 1
        return changed

    def pending_action_count(self, tenant_id: str, device_id: str) -> int:
        with self.db.read() as conn:
            return len(MdmStore(conn, tenant_id).commands(device_id, pending_only=True))

    def _fire_due(self, tenant_id: str, device_id: str) -> None:
        """Actions due at once (no grace) fire as soon as the device turns noncompliant."""
        now = self.clock.now()
        with self.db.read() as conn:
            timers = MdmStore(conn, tenant_id).timers(device_id)
        for timer in timers:
            if (
                timer.fired_at is None
                and timer.due_at <= now
                and timer.action.action_type is not ActionType.BLOCK
            ):
                self._fire(tenant_id, timer, now)

    def _fire(self, tenant_id: str, timer: ActionTimer, now: datetime) -> bool:
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            if not s.claim_timer(timer.id, now):
                return False  # another sweep (or process) took it
            device = s.get_device(timer.device_id)
            policy = s.get_policy(timer.policy_id)
        if device is None or policy is None:
            return self._record(tenant_id, timer, "skipped: the device or policy is gone")
        if device.noncompliant_since.get(policy.id) != timer.episode:
            return self._record(tenant_id, timer, "skipped: the device is compliant again")
        kind = timer.action.action_type
        if kind is ActionType.BLOCK:
            self.reevaluate(tenant_id, device.id)
            return self._record(tenant_id, timer, "grace period ended")
        if kind is ActionType.NOTIFICATION:
            try:
                result = self._notify(tenant_id, device, policy, timer.action)
            except Exception as exc:  # SMTP down: give the timer back, the next sweep retries
                with self.db.begin() as conn:
                    MdmStore(conn, tenant_id).release_timer(timer.id, f"failed: {exc}")
                return False
            return self._record(tenant_id, timer, result)
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            if kind is ActionType.RETIRE:
                s.add_retire_candidate(device.id, policy.id, now)
                result = "added to the retire noncompliant devices list"
            else:
                payload = {"policyId": policy.id, "policyName": policy.display_name}
                if kind is ActionType.PUSH_NOTIFICATION and device.compliance is not None:
                    payload["message"] = device.compliance.reason
                s.add_command(DeviceCommand(new_id(), device.id, kind.value, payload, now))
                result = f"{kind.value} queued for the device"
            s.record_timer_result(timer.id, result)
        return True

    def _record(self, tenant_id: str, timer: ActionTimer, result: str) -> bool:
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).record_timer_result(timer.id, result)
        return True

    def _notify(
        self,
        tenant_id: str,
        device: ManagedDevice,
        policy: CompliancePolicy,
        action: ScheduledAction,
    ) -> str:
        template = None
        if action.notification_template_id:
            with self.db.read() as conn:
                template = MdmStore(conn, tenant_id).get_template(action.notification_template_id)
        reasons = []
        for p in device.compliance.policies if device.compliance else ():
            if p.policy_id == policy.id:
                reasons = [s.reason for s in p.settings if s.state is SettingState.NONCOMPLIANT]
        subject, body = notification(
            template,
            {
                "UserName": device.user_principal_name,
                "DeviceName": device.device_name,
                "DeviceId": device.id,
                "OSAndVersion": f"{device.operating_system} {device.os_version}",
                "PolicyName": policy.display_name,
                "Reasons": "\n".join(f"- {r}" for r in reasons),
            },
        )
        to = [device.user_principal_name, *action.cc]
        if self.mailer is None:
            return "not sent: no SMTP server is configured (STOCKADE_SMTP_HOST)"
        self.mailer.send(to, subject, body)
        return f"e-mail sent to {', '.join(to)}"

    def retire_list(self, tenant_id: str) -> list[tuple[ManagedDevice, str, datetime]]:
        with self.db.read() as conn:
            s = MdmStore(conn, tenant_id)
            out = []
            for device_id, policy_id, added in s.retire_candidates():
                device = s.get_device(device_id)
                if device is not None:
                    out.append((device, policy_id, added))
        return out

    def device_action(
        self, tenant_id: str, device_id: str, action_name: str, actor: dict[str, Any]
    ) -> DeviceCommand:
        """An admin's device action (Graph managedDevice actions), queued for the device and
        audited. Retire and wipe revoke the device once it has received them."""
        if action_name not in DEVICE_ACTIONS:
            raise InvalidInput(f"unknown device action {action_name}", field="action")
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            device = s.get_device(device_id)
            if device is None:
                raise NotFound(f"no managed device {device_id}")
            if device.management_state in FINAL_STATES.values():
                raise Conflict(f"the device is already {device.management_state}")
            command = DeviceCommand(new_id(), device.id, action_name, {}, now)
            s.add_command(command)
            state = DEVICE_ACTIONS[action_name]
            if state:
                s.update_device(device.id, management_state=state)
                s.remove_retire_candidates(device.id)
            s.add_audit_event(
                AuditEvent(
                    new_id(),
                    now,
                    action_name,
                    actor,
                    (
                        {
                            "resourceId": device.id,
                            "displayName": device.device_name,
                            "type": "ManagedDevice",
                        },
                    ),
                    "success",
                )
            )
        return command

    def device_tenant(self, device_id: str) -> str:
        """The tenant of a managed device (operator reads, across tenants)."""
        with self.db.read() as conn:
            found = store.find_device_credential(conn, device_id)
        if found is None:
            raise NotFound(f"no managed device {device_id}")
        return found[0]

    def device_commands_for(self, device_id: str) -> list[DeviceCommand]:
        return self.device_commands(self.device_tenant(device_id), device_id)

    def device_commands(self, tenant_id: str, device_id: str) -> list[DeviceCommand]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).commands(device_id)

    def audit_events(self, tenant_id: str) -> list[AuditEvent]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).audit_events()

    # notification templates
    def create_template(
        self,
        tenant_id: str,
        display_name: str,
        default_locale: str,
        messages: list[LocalizedMessage],
    ) -> NotificationTemplate:
        now = self.clock.now()
        template = NotificationTemplate(
            new_id(), display_name, default_locale, tuple(messages), now, now
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).add_template(template)
        return template

    def add_template_message(
        self, tenant_id: str, template_id: str, message: LocalizedMessage
    ) -> NotificationTemplate:
        template = self.get_template(tenant_id, template_id)
        kept = tuple(m for m in template.messages if m.locale.lower() != message.locale.lower())
        template = replace(template, messages=(*kept, message), modified_at=self.clock.now())
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).save_template_messages(template)
        return template

    def list_templates(self, tenant_id: str) -> list[NotificationTemplate]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).templates()

    def get_template(self, tenant_id: str, template_id: str) -> NotificationTemplate:
        with self.db.read() as conn:
            template = MdmStore(conn, tenant_id).get_template(template_id)
        if template is None:
            raise NotFound(f"no notification message template {template_id}")
        return template

    def delete_template(self, tenant_id: str, template_id: str) -> None:
        with self.db.begin() as conn:
            if not MdmStore(conn, tenant_id).delete_template(template_id):
                raise NotFound(f"no notification message template {template_id}")

    def reevaluate_all(self, tenant_id: str) -> None:
        for device in self.list_devices(tenant_id):
            self.reevaluate(tenant_id, device.id)

    def _groups(self, tenant_id: str, device: ManagedDevice) -> set[str]:
        return self.directory.group_ids_of(tenant_id, device.user_id, device.azure_ad_device_id)

    # reads
    def list_devices(self, tenant_id: str) -> list[ManagedDevice]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).list_devices()

    def get_device(self, tenant_id: str, device_id: str) -> ManagedDevice:
        with self.db.read() as conn:
            device = MdmStore(conn, tenant_id).get_device(device_id)
        if device is None:
            raise NotFound(f"no managed device {device_id}")
        return device

    def device_by_aad_id(self, tenant_id: str, aad_device_id: str) -> ManagedDevice | None:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).device_by_aad_id(aad_device_id)

    # compliance policies
    def create_policy(
        self, tenant_id: str, raw: dict[str, Any], *, import_unsupported: bool = False
    ) -> CompliancePolicy:
        """A policy from a Graph body or an Intune export (see catalog.py for what is accepted)."""
        parsed = _checked(parse_policy(raw), import_unsupported)
        now = self.clock.now()
        policy = CompliancePolicy(
            id=new_id(),
            odata_type=parsed.odata_type,
            platform=parsed.platform,
            display_name=parsed.display_name,
            description=parsed.description,
            settings=parsed.settings,
            created_at=now,
            modified_at=now,
            unsupported=parsed.unsupported,
            scheduled_actions=parsed.scheduled_actions,
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).add_policy(policy)
        return policy

    def update_policy(
        self,
        tenant_id: str,
        policy_id: str,
        patch: dict[str, Any],
        *,
        import_unsupported: bool = False,
    ) -> CompliancePolicy:
        """Graph PATCH: the given properties replace the current ones; the rest stay."""
        current = self.get_policy(tenant_id, policy_id)
        merged = {**policy_body(current), **patch}
        parsed = _checked(
            parse_policy(merged, odata_type=current.odata_type),
            import_unsupported,
            keep=set(current.unsupported) - set(patch),
        )
        policy = replace(
            current,
            display_name=parsed.display_name,
            description=parsed.description,
            settings=parsed.settings,
            unsupported=parsed.unsupported,
            scheduled_actions=parsed.scheduled_actions,
            modified_at=self.clock.now(),
            version=current.version + 1,
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).update_policy(policy)
        self.reevaluate_all(tenant_id)
        return policy

    def delete_policy(self, tenant_id: str, policy_id: str) -> None:
        with self.db.begin() as conn:
            if not MdmStore(conn, tenant_id).delete_policy(policy_id):
                raise NotFound(f"no compliance policy {policy_id}")
        self.reevaluate_all(tenant_id)

    def list_policies(self, tenant_id: str) -> list[CompliancePolicy]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).list_policies()

    def get_policy(self, tenant_id: str, policy_id: str) -> CompliancePolicy:
        with self.db.read() as conn:
            policy = MdmStore(conn, tenant_id).get_policy(policy_id)
        if policy is None:
            raise NotFound(f"no compliance policy {policy_id}")
        return policy

    def assign(self, tenant_id: str, target_id: str, group_ids: list[str]) -> None:
        """Replace the assignment targets of a compliance policy or configuration: group ids,
        `!<group id>` to exclude a group, `allLicensedUsers` or `allDevices`."""
        for group_id in group_ids:
            if group_id not in (ALL_LICENSED_USERS, ALL_DEVICES):
                # NotFound for a foreign group
                self.directory.get_group(tenant_id, group_id.removeprefix(EXCLUDE))
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            if s.get_policy(target_id) is None and s.get_configuration(target_id) is None:
                raise NotFound(f"no compliance policy or configuration {target_id}")
            s.set_assignments(target_id, group_ids)
        self.reevaluate_all(tenant_id)

    # configurations
    def upsert_onboarding_profile(
        self, tenant_id: str, blob: dict[str, Any]
    ) -> DeviceConfiguration:
        """The MTD onboarding profile, filled in by the connector (one per tenant)."""
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            existing = s.configuration_of_type(ONBOARDING_PROFILE_TYPE)
            if existing is not None:
                settings = {**existing.settings, "advancedThreatProtectionOnboardingBlob": blob}
                s.update_configuration(existing.id, settings=settings, modified_at=now)
                return replace(existing, settings=settings, modified_at=now)
            config = DeviceConfiguration(
                id=new_id(),
                odata_type=ONBOARDING_PROFILE_TYPE,
                display_name="Threat defense onboarding",
                settings={
                    "advancedThreatProtectionOnboardingBlob": blob,
                    "advancedThreatProtectionAutoPopulateOnboardingBlob": True,
                    **PROFILE_SETTINGS[ONBOARDING_PROFILE_TYPE],
                },
                created_at=now,
                modified_at=now,
            )
            s.add_configuration(config)
            return config

    def list_configurations(self, tenant_id: str) -> list[DeviceConfiguration]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).list_configurations()

    def get_configuration(self, tenant_id: str, config_id: str) -> DeviceConfiguration:
        with self.db.read() as conn:
            config = MdmStore(conn, tenant_id).get_configuration(config_id)
        if config is None:
            raise NotFound(f"no device configuration {config_id}")
        return config

    def create_configuration(
        self, tenant_id: str, odata_type: str, display_name: str, settings: dict[str, Any]
    ) -> DeviceConfiguration:
        """A profile an admin creates (the onboarding profile comes from the connector)."""
        if odata_type == ONBOARDING_PROFILE_TYPE or odata_type not in PROFILE_SETTINGS:
            creatable = [t for t in PROFILE_SETTINGS if t != ONBOARDING_PROFILE_TYPE]
            raise InvalidInput(
                f"@odata.type {odata_type!r} cannot be created here; use one of "
                + ", ".join(creatable)
                + " (the onboarding profile is made by the threat-defense connector)",
                field="@odata.type",
            )
        _check_profile_settings(odata_type, settings)
        now = self.clock.now()
        config = DeviceConfiguration(
            new_id(),
            odata_type,
            display_name,
            {**PROFILE_SETTINGS[odata_type], **settings},
            now,
            now,
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).add_configuration(config)
        return config

    def delete_configuration(self, tenant_id: str, config_id: str) -> None:
        config = self.get_configuration(tenant_id, config_id)
        if config.odata_type == ONBOARDING_PROFILE_TYPE:
            raise Conflict(
                "the onboarding profile belongs to the threat-defense connector; "
                "delete the connector instead"
            )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).delete_configuration(config_id)

    def update_configuration(
        self, tenant_id: str, config_id: str, display_name: str | None, settings: dict[str, Any]
    ) -> DeviceConfiguration:
        config = self.get_configuration(tenant_id, config_id)
        if "advancedThreatProtectionOnboardingBlob" in settings:
            raise InvalidInput(
                "advancedThreatProtectionOnboardingBlob is set by the threat-defense connector",
                field="advancedThreatProtectionOnboardingBlob",
            )
        _check_profile_settings(config.odata_type, settings)
        merged = {**config.settings, **settings}
        now = self.clock.now()
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).update_configuration(
                config_id,
                settings=merged,
                display_name=display_name or config.display_name,
                modified_at=now,
            )
        return replace(
            config,
            settings=merged,
            display_name=display_name or config.display_name,
            modified_at=now,
        )

    # app protection
    def create_app_policy(
        self, tenant_id: str, raw: dict[str, Any], *, import_unsupported: bool = False
    ) -> AppProtectionPolicy:
        odata_type = raw.get("@odata.type")
        if odata_type not in APP_PROTECTION_TYPES:
            raise InvalidInput(
                f"@odata.type {odata_type!r} is not supported; use one of "
                + ", ".join(APP_PROTECTION_TYPES),
                field="@odata.type",
            )
        parsed = parse_app_policy(raw)
        _app_problems(parsed, import_unsupported, set())
        if not parsed.display_name:
            raise InvalidInput("displayName is required", field="displayName")
        now = self.clock.now()
        policy = AppProtectionPolicy(
            id=new_id(),
            odata_type=str(odata_type),
            display_name=parsed.display_name,
            description=parsed.description or "",
            maximum_allowed_device_threat_level=(
                None if parsed.maximum == "" else parsed.maximum  # type: ignore[arg-type]
            ),
            mobile_threat_defense_remediation_action=parsed.remediation or "block",
            apps=parsed.apps or (),
            created_at=now,
            modified_at=now,
            unsupported=dict(parsed.unsupported),
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).save_app_policy(policy, new=True)
        return policy

    def update_app_policy(
        self,
        tenant_id: str,
        policy_id: str,
        patch: dict[str, Any],
        *,
        import_unsupported: bool = False,
    ) -> AppProtectionPolicy:
        current = self.get_app_policy(tenant_id, policy_id)
        if patch.get("@odata.type") not in (None, current.odata_type):
            raise InvalidInput("@odata.type of a policy cannot change", field="@odata.type")
        parsed = parse_app_policy(patch)
        _app_problems(parsed, import_unsupported, set())
        policy = replace(
            current,
            display_name=parsed.display_name or current.display_name,
            description=current.description if parsed.description is None else parsed.description,
            maximum_allowed_device_threat_level=(
                current.maximum_allowed_device_threat_level
                if parsed.maximum == ""
                else parsed.maximum  # type: ignore[arg-type]
            ),
            mobile_threat_defense_remediation_action=(
                parsed.remediation or current.mobile_threat_defense_remediation_action
            ),
            apps=current.apps if parsed.apps is None else parsed.apps,
            unsupported={**current.unsupported, **parsed.unsupported},
            modified_at=self.clock.now(),
            version=current.version + 1,
        )
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).save_app_policy(policy, new=False)
        return policy

    def list_app_policies(self, tenant_id: str) -> list[AppProtectionPolicy]:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).app_policies()

    def get_app_policy(self, tenant_id: str, policy_id: str) -> AppProtectionPolicy:
        found = next((p for p in self.list_app_policies(tenant_id) if p.id == policy_id), None)
        if found is None:
            raise NotFound(f"no managed app policy {policy_id}")
        return found

    def delete_app_policy(self, tenant_id: str, policy_id: str) -> None:
        with self.db.begin() as conn:
            if not MdmStore(conn, tenant_id).delete_app_policy(policy_id):
                raise NotFound(f"no managed app policy {policy_id}")

    def assign_app_policy(self, tenant_id: str, policy_id: str, targets: list[str]) -> None:
        """Groups, or `allLicensedUsers`; replaces the assignments (Graph `assign`)."""
        self.get_app_policy(tenant_id, policy_id)
        for target in targets:
            if target != ALL_LICENSED_USERS:
                self.directory.get_group(tenant_id, target.removeprefix(EXCLUDE))
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).set_assignments(policy_id, targets)

    def target_apps(self, tenant_id: str, policy_id: str, apps: list[Any]) -> AppProtectionPolicy:
        problems: list[tuple[str, str]] = []
        parsed = parse_apps(apps, problems)
        if problems:
            raise InvalidInput(problems[0][1], field=problems[0][0])
        current = self.get_app_policy(tenant_id, policy_id)
        policy = replace(current, apps=parsed, modified_at=self.clock.now())
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).save_app_policy(policy, new=False)
        return policy

    def set_partner_app_protection(self, tenant_id: str, platform: Platform, enabled: bool) -> None:
        """Called by the connector when its app-protection toggle for `platform` changes: only
        then may app protection use the threat levels it reports."""
        with self.db.begin() as conn:
            MdmStore(conn, tenant_id).set_partner_app_protection(platform.value, enabled)

    def apply_user_threat_level(
        self,
        tenant_id: str,
        user_ref: str,
        platform: Platform,
        level: ThreatLevel,
        sequence: int,
    ) -> bool:
        """The partner's threat level for a user's (unenrolled) app device on `platform`.

        `user_ref` is the user id or UPN. A push whose `sequence` is not newer than the last one
        applied is ignored (returns False), so a late push never overwrites a newer one.
        """
        user = self.directory.find_user(tenant_id, user_ref)
        if user is None:
            raise NotFound(f"no user {user_ref}")
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            current = s.user_threat_level(user.id, platform.value)
            if current is not None and sequence <= current[1]:
                return False
            s.set_user_threat_level(
                user.id, platform.value, level.value, sequence, self.clock.now()
            )
        return True

    def conditional_launch(
        self,
        tenant_id: str,
        *,
        user_ref: str,
        app_id: str,
        platform: Platform,
        device_token: str | None = None,
    ) -> tuple[LaunchDecision, ThreatLevel | None]:
        """What a protected app does at launch and at each periodic check: allow, block or
        wipe, with the reason (app_protection.py has the rules)."""
        if platform not in APP_PROTECTION_TYPES.values():
            raise InvalidInput("platform must be android or iOS", field="platform")
        user = self.directory.find_user(tenant_id, user_ref)
        if user is None or not user.account_enabled:
            raise Unauthenticated(f"no enabled user {user_ref!r} in this tenant")
        groups = self.directory.group_ids_of(tenant_id, user.id) | {ALL_LICENSED_USERS}
        with self.db.read() as conn:
            s = MdmStore(conn, tenant_id)
            partner = s.partner_app_protection(platform.value)
            user_level = s.user_threat_level(user.id, platform.value)
            policies = [
                p
                for p in s.app_policies()
                if p.platform is platform and app_id in p.apps and assigned(p.targets, groups)
            ]
        level = ThreatLevel(user_level[0]) if user_level else None
        source = "the user's device"
        if device_token:
            # an enrolled device speaks for itself
            try:
                device_tenant, device = self.authenticate_device(device_token)
            except Unauthenticated:
                device_tenant, device = "", None
            if device and device_tenant == tenant_id and device.user_id == user.id:
                level, source = device.threat_level, f"device {device.device_name}"
        return decide_launch(policies, level, partner, source), level

    # tenant settings
    def get_settings(self, tenant_id: str) -> TenantSettings:
        with self.db.read() as conn:
            return MdmStore(conn, tenant_id).tenant_settings()

    def update_settings(
        self,
        tenant_id: str,
        secure_by_default: bool | None = None,
        checkin_threshold_days: int | None = None,
    ) -> TenantSettings:
        if checkin_threshold_days is not None and not 1 <= checkin_threshold_days <= 120:
            raise InvalidInput(
                "deviceComplianceCheckinThresholdDays must be between 1 and 120",
                field="deviceComplianceCheckinThresholdDays",
            )
        with self.db.begin() as conn:
            s = MdmStore(conn, tenant_id)
            current = s.tenant_settings()
            updated = TenantSettings(
                current.secure_by_default if secure_by_default is None else secure_by_default,
                checkin_threshold_days or current.checkin_threshold_days,
            )
            s.save_tenant_settings(updated)
        self.reevaluate_all(tenant_id)
        return updated


def _app_problems(parsed: ParsedAppPolicy, import_unsupported: bool, keep: set[str]) -> None:
    problems = list(parsed.problems)
    if not import_unsupported:
        problems += [
            (k, f"{k} is set ({v!r}) but not supported for app protection")
            for k, v in parsed.unsupported.items()
            if k not in keep
        ]
    if problems:
        raise InvalidInput(
            "; ".join(m for _, m in problems),
            field=problems[0][0],
            errors=[{"field": f, "message": m} for f, m in problems],
        )


def _check_profile_settings(odata_type: str, settings: dict[str, Any]) -> None:
    allowed = PROFILE_SETTINGS.get(odata_type, {})
    for key, value in settings.items():
        if key not in allowed:
            raise InvalidInput(f"{key} is not a setting of {odata_type}", field=key)
        if type(value) is not type(allowed[key]):
            raise InvalidInput(f"{key} must be a {type(allowed[key]).__name__}", field=key)


def _schedule_actions(
    s: MdmStore, device_id: str, policies: list[CompliancePolicy], since: dict[str, datetime]
) -> None:
    """One timer per action of each failing policy, due `gracePeriodHours` after the
    noncompliance began; timers of policies the device meets again are dropped."""
    by_id = {p.id: p for p in policies}
    for policy_id, episode in since.items():
        policy = by_id.get(policy_id)
        for action in policy.scheduled_actions if policy else ():
            if action.action_type is ActionType.BLOCK and not action.grace_period_hours:
                continue  # nothing to wait for: the state is noncompliant already
            s.schedule_timer(
                ActionTimer(
                    new_id(),
                    device_id,
                    policy_id,
                    action,
                    episode,
                    episode + timedelta(hours=action.grace_period_hours),
                )
            )
    s.cancel_timers(device_id, set(since))


def policy_body(policy: CompliancePolicy) -> dict[str, Any]:
    """The Graph body a policy was made from (settings that are set, actions, names)."""
    body: dict[str, Any] = {
        "@odata.type": policy.odata_type,
        "displayName": policy.display_name,
        "description": policy.description,
        **policy.settings,
        **policy.unsupported,
        "scheduledActionsForRule": [
            {
                "ruleName": "PasswordRequired",
                "scheduledActionConfigurations": [
                    {
                        "actionType": a.action_type.value,
                        "gracePeriodHours": a.grace_period_hours,
                        "notificationTemplateId": a.notification_template_id or "",
                        "notificationMessageCCList": list(a.cc),
                    }
                    for a in policy.scheduled_actions
                ],
            }
        ],
    }
    if "deviceThreatProtectionRequiredSecurityLevel" in policy.settings:
        body["deviceThreatProtectionEnabled"] = True
    return body


def _checked(
    parsed: ParsedPolicy, import_unsupported: bool, keep: set[str] | None = None
) -> ParsedPolicy:
    """Raise one 422 naming every problem; unsupported settings are problems unless imported
    anyway (or, on PATCH, already stored and left untouched: `keep`)."""
    problems = list(parsed.problems)
    if not import_unsupported:
        problems += [p for p in unsupported_problems(parsed) if p.field not in (keep or set())]
    if problems:
        raise InvalidInput(
            "; ".join(p.message for p in problems),
            field=problems[0].field,
            errors=[{"field": p.field, "message": p.message} for p in problems],
        )
    return parsed


def _validate_device(
    platform: str, os_version: str, join_type: str | JoinType | None
) -> tuple[DevicePlatform, JoinType | None]:
    try:
        plat = DevicePlatform(platform)
    except ValueError:
        raise InvalidInput(
            f"platform must be one of {', '.join(p.value for p in DevicePlatform)}",
            field="platform",
        ) from None
    if not os_version:
        raise InvalidInput("osVersion is required", field="osVersion")
    if plat is DevicePlatform.WINDOWS:
        if windows_release(os_version) is None:
            raise InvalidInput(
                "Windows devices must run Windows 10 or 11 (osVersion like 10, 11 or 10.0.22631)",
                field="osVersion",
            )
        try:
            join = JoinType(join_type or JoinType.AZURE_AD_JOINED)
        except ValueError:
            raise InvalidInput(
                f"joinType must be one of {', '.join(j.value for j in JoinType)}",
                field="joinType",
            ) from None
        return plat, join
    if join_type and join_type != JoinType.AZURE_AD_REGISTERED:
        raise InvalidInput("only Windows devices have a join type", field="joinType")
    return plat, None
