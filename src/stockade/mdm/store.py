"""MDM tables and queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from stockade.core.model import ThreatLevel
from stockade.mdm.catalog import platform_of_policy
from stockade.mdm.model import (
    ActionTimer,
    ActionType,
    AppProtectionPolicy,
    AuditEvent,
    CompliancePolicy,
    ComplianceResult,
    ComplianceState,
    DeviceCommand,
    DeviceConfiguration,
    DevicePlatform,
    EnrollmentToken,
    JoinType,
    LocalizedMessage,
    ManagedDevice,
    NotificationTemplate,
    PolicyResult,
    ScheduledAction,
    SettingResult,
    SettingState,
    TenantSettings,
)
from stockade.storage.database import TenantStore
from stockade.storage.types import Json, UtcDateTime, metadata

enrollment_tokens = Table(
    "mdm_enrollment_tokens",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("use_count", Integer, nullable=False, default=0),
)

managed_devices = Table(
    "mdm_managed_devices",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("azure_ad_device_id", String(36), nullable=False),
    Column("device_name", String(200), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("os_version", String(64), nullable=False),
    Column("join_type", String(32), nullable=True),
    Column("user_id", String(36), nullable=False),
    Column("user_principal_name", String(320), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("last_sync_at", UtcDateTime, nullable=False),
    Column("compliance_state", String(16), nullable=False),
    Column("compliance", Json, nullable=True),
    Column("threat_level", String(16), nullable=True),
    Column("threat_sequence", BigInteger, nullable=False, default=0),
    Column("threat_updated_at", UtcDateTime, nullable=True),
    Column("facts", Json, nullable=True),
    Column("noncompliant_since", Json, nullable=True),
    Column("management_state", String(32), nullable=True),
    Column("evaluated_groups", Json, nullable=True),
    Index("ix_mdm_managed_devices_aad", "tenant_id", "azure_ad_device_id", unique=True),
)

compliance_policies = Table(
    "mdm_compliance_policies",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("odata_type", String(100), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("threat_protection_enabled", Boolean, nullable=False),
    Column("threat_protection_level", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    Column("settings", Json, nullable=True),
    Column("unsupported", Json, nullable=True),
    Column("scheduled_actions", Json, nullable=True),
    Column("version", Integer, nullable=True),
)

action_timers = Table(
    "mdm_action_timers",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("device_id", String(36), nullable=False),
    Column("policy_id", String(36), nullable=False),
    Column("action_type", String(32), nullable=False),
    # when the noncompliance began: one timer per action and episode
    Column("episode", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("fired_at", UtcDateTime, nullable=True),
    Column("config", Json, nullable=False),
    Column("result", Text, nullable=True),
    Index(
        "ix_mdm_action_timers_once",
        "tenant_id",
        "device_id",
        "policy_id",
        "action_type",
        "episode",
        unique=True,
    ),
    Index("ix_mdm_action_timers_due", "fired_at", "due_at"),
)

device_commands = Table(
    "mdm_device_commands",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("device_id", String(36), nullable=False),
    Column("action_name", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Index("ix_mdm_device_commands_device", "tenant_id", "device_id", "delivered_at"),
)

retire_candidates = Table(
    "mdm_retire_candidates",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("device_id", String(36), primary_key=True),
    Column("policy_id", String(36), primary_key=True),
    Column("added_at", UtcDateTime, nullable=False),
)

notification_templates = Table(
    "mdm_notification_templates",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("default_locale", String(16), nullable=False),
    Column("messages", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

audit_events = Table(
    "mdm_audit_events",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("activity_at", UtcDateTime, nullable=False),
    Column("activity", String(64), nullable=False),
    Column("actor", Json, nullable=False),
    Column("resources", Json, nullable=False),
    Column("result", String(16), nullable=False),
    Index("ix_mdm_audit_events_time", "tenant_id", "activity_at"),
)

deployment_statuses = Table(
    "mdm_deployment_statuses",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("config_id", String(36), primary_key=True),
    Column("device_id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    # the profile version (its lastModifiedDateTime) the status is about
    Column("profile_version", UtcDateTime, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
)

app_protection_policies = Table(
    "mdm_app_protection_policies",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("odata_type", String(120), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("maximum_threat_level", String(16), nullable=True),
    Column("remediation_action", String(16), nullable=False),
    Column("apps", Json, nullable=False),
    Column("unsupported", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

partner_app_protection = Table(
    "mdm_partner_app_protection",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("enabled", Boolean, nullable=False),
)

user_threat_levels = Table(
    "mdm_user_threat_levels",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("threat_level", String(16), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

tenant_settings = Table(
    "mdm_tenant_settings",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("secure_by_default", Boolean, nullable=False),
    Column("checkin_threshold_days", Integer, nullable=False),
)

device_configurations = Table(
    "mdm_device_configurations",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("odata_type", String(120), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("settings", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

assignments = Table(
    "mdm_assignments",
    metadata,
    Column("tenant_id", String(36), nullable=False, primary_key=True),
    Column("target_id", String(36), primary_key=True),  # a policy or a configuration
    Column("group_id", String(36), primary_key=True),
)


def result_to_json(result: ComplianceResult) -> dict[str, Any]:
    return {
        "state": result.state.value,
        "reason": result.reason,
        "policies": [
            {
                "id": p.policy_id,
                "displayName": p.display_name,
                "state": p.state.value,
                "settings": [
                    {
                        "setting": s.setting,
                        "state": s.state.value,
                        "expected": s.expected,
                        "actual": s.actual,
                        "reason": s.reason,
                    }
                    for s in p.settings
                ],
            }
            for p in result.policies
        ],
    }


def result_from_json(raw: dict[str, Any]) -> ComplianceResult:
    return ComplianceResult(
        ComplianceState(raw["state"]),
        tuple(
            PolicyResult(
                p["id"],
                p["displayName"],
                ComplianceState(p["state"]),
                tuple(
                    SettingResult(
                        s["setting"],
                        SettingState(s["state"]),
                        s["expected"],
                        s["actual"],
                        s["reason"],
                    )
                    for s in p["settings"]
                ),
            )
            for p in raw["policies"]
        ),
        raw["reason"],
    )


def _device(row: Any) -> ManagedDevice:
    return ManagedDevice(
        id=row["id"],
        azure_ad_device_id=row["azure_ad_device_id"],
        device_name=row["device_name"],
        platform=DevicePlatform(row["platform"]),
        os_version=row["os_version"],
        join_type=JoinType(row["join_type"]) if row["join_type"] else None,
        user_id=row["user_id"],
        user_principal_name=row["user_principal_name"],
        enrolled_at=row["enrolled_at"],
        last_sync_at=row["last_sync_at"],
        compliance_state=ComplianceState(row["compliance_state"]),
        threat_level=ThreatLevel(row["threat_level"]) if row["threat_level"] else None,
        threat_sequence=row["threat_sequence"],
        threat_updated_at=row["threat_updated_at"],
        compliance=result_from_json(row["compliance"]) if row["compliance"] else None,
        facts=dict(row["facts"] or {}),
        noncompliant_since={
            k: datetime.fromisoformat(v) for k, v in (row["noncompliant_since"] or {}).items()
        },
        management_state=row["management_state"] or "managed",
    )


def _policy_values(policy: CompliancePolicy) -> dict[str, Any]:
    level = policy.settings.get("deviceThreatProtectionRequiredSecurityLevel")
    return {
        "display_name": policy.display_name,
        "description": policy.description,
        # kept filled for readers of the foundation's columns
        "threat_protection_enabled": level is not None,
        "threat_protection_level": level or "secured",
        "modified_at": policy.modified_at,
        "settings": policy.settings,
        "unsupported": policy.unsupported,
        "scheduled_actions": [_action_json(a) for a in policy.scheduled_actions],
        "version": policy.version,
    }


def _policy(r: Any, groups: tuple[str, ...]) -> CompliancePolicy:
    settings = dict(r["settings"]) if r["settings"] is not None else {}
    if r["settings"] is None and r["threat_protection_enabled"]:
        # a row written before settings were stored as a whole
        settings = {"deviceThreatProtectionRequiredSecurityLevel": r["threat_protection_level"]}
    return CompliancePolicy(
        id=r["id"],
        odata_type=r["odata_type"],
        platform=platform_of_policy(r["odata_type"]),
        display_name=r["display_name"],
        description=r["description"],
        settings=settings,
        created_at=r["created_at"],
        modified_at=r["modified_at"],
        unsupported=dict(r["unsupported"] or {}),
        scheduled_actions=tuple(
            ScheduledAction(
                ActionType(a["actionType"]),
                a["gracePeriodHours"],
                a.get("notificationTemplateId"),
                tuple(a.get("notificationMessageCCList") or ()),
            )
            for a in (r["scheduled_actions"] or [])
        )
        or (ScheduledAction(ActionType.BLOCK, 0),),
        group_ids=groups,
        version=r["version"] or 1,
    )


def find_device_credential(conn: Any, device_id: str) -> tuple[str, ManagedDevice, str] | None:
    """Device credential lookup before the tenant is known: (tenant, device, secret digest)."""
    row = (
        conn.execute(select(managed_devices).where(managed_devices.c.id == device_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return row["tenant_id"], _device(row), row["secret_digest"]


def find_enrollment_token(conn: Any, token_id: str) -> tuple[str, EnrollmentToken, str] | None:
    row = (
        conn.execute(select(enrollment_tokens).where(enrollment_tokens.c.id == token_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return row["tenant_id"], _enrollment_token(row), row["secret_digest"]


def _enrollment_token(row: Any) -> EnrollmentToken:
    return EnrollmentToken(
        id=row["id"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        use_count=row["use_count"],
    )


class MdmStore(TenantStore):
    # enrollment tokens
    def add_enrollment_token(self, token: EnrollmentToken, secret_digest: str) -> None:
        self.conn.execute(
            insert(enrollment_tokens).values(
                tenant_id=self.tenant_id,
                id=token.id,
                display_name=token.display_name,
                secret_digest=secret_digest,
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=None,
                use_count=0,
            )
        )

    def count_enrollment_use(self, token_id: str) -> None:
        self.conn.execute(
            update(enrollment_tokens)
            .where(
                enrollment_tokens.c.tenant_id == self.tenant_id, enrollment_tokens.c.id == token_id
            )
            .values(use_count=enrollment_tokens.c.use_count + 1)
        )

    def list_enrollment_tokens(self) -> list[EnrollmentToken]:
        q = select(enrollment_tokens).where(enrollment_tokens.c.tenant_id == self.tenant_id)
        return [
            _enrollment_token(r)
            for r in self.conn.execute(q.order_by(enrollment_tokens.c.created_at)).mappings()
        ]

    def revoke_enrollment_token(self, token_id: str, at: datetime) -> bool:
        result = self.conn.execute(
            update(enrollment_tokens)
            .where(
                enrollment_tokens.c.tenant_id == self.tenant_id,
                enrollment_tokens.c.id == token_id,
                enrollment_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return result.rowcount > 0

    # managed devices
    def add_device(self, device: ManagedDevice, secret_digest: str) -> None:
        self.conn.execute(
            insert(managed_devices).values(
                tenant_id=self.tenant_id,
                id=device.id,
                azure_ad_device_id=device.azure_ad_device_id,
                device_name=device.device_name,
                platform=device.platform.value,
                os_version=device.os_version,
                join_type=device.join_type.value if device.join_type else None,
                user_id=device.user_id,
                user_principal_name=device.user_principal_name,
                secret_digest=secret_digest,
                enrolled_at=device.enrolled_at,
                last_sync_at=device.last_sync_at,
                compliance_state=device.compliance_state.value,
                compliance=None,
                threat_level=None,
                threat_sequence=0,
                threat_updated_at=None,
            )
        )

    def get_device(self, device_id: str) -> ManagedDevice | None:
        row = (
            self.conn.execute(
                select(managed_devices).where(
                    managed_devices.c.tenant_id == self.tenant_id, managed_devices.c.id == device_id
                )
            )
            .mappings()
            .first()
        )
        return _device(row) if row else None

    def device_by_aad_id(self, aad_device_id: str, *, lock: bool = False) -> ManagedDevice | None:
        """With `lock`, the row stays locked until commit (PostgreSQL), so two pushes for one
        device apply in sequence order; SQLite writers already hold the database lock."""
        q = select(managed_devices).where(
            managed_devices.c.tenant_id == self.tenant_id,
            managed_devices.c.azure_ad_device_id == aad_device_id,
        )
        if lock and self.conn.dialect.name != "sqlite":
            q = q.with_for_update()
        row = self.conn.execute(q).mappings().first()
        return _device(row) if row else None

    def list_devices(self) -> list[ManagedDevice]:
        q = (
            select(managed_devices)
            .where(managed_devices.c.tenant_id == self.tenant_id)
            .order_by(managed_devices.c.enrolled_at)
        )
        return [_device(r) for r in self.conn.execute(q).mappings()]

    def update_device(self, device_id: str, **values: Any) -> None:
        if "compliance" in values and isinstance(values["compliance"], ComplianceResult):
            values["compliance"] = result_to_json(values["compliance"])
        if "noncompliant_since" in values:
            values["noncompliant_since"] = {
                k: v.isoformat() for k, v in values["noncompliant_since"].items()
            }
        self.conn.execute(
            update(managed_devices)
            .where(managed_devices.c.tenant_id == self.tenant_id, managed_devices.c.id == device_id)
            .values(**values)
        )

    # compliance policies
    def add_policy(self, policy: CompliancePolicy) -> None:
        self.conn.execute(
            insert(compliance_policies).values(
                tenant_id=self.tenant_id,
                id=policy.id,
                odata_type=policy.odata_type,
                created_at=policy.created_at,
                **_policy_values(policy),
            )
        )

    def update_policy(self, policy: CompliancePolicy) -> None:
        self.conn.execute(
            update(compliance_policies)
            .where(
                compliance_policies.c.tenant_id == self.tenant_id,
                compliance_policies.c.id == policy.id,
            )
            .values(**_policy_values(policy))
        )

    def delete_policy(self, policy_id: str) -> bool:
        self.conn.execute(
            delete(assignments).where(
                assignments.c.tenant_id == self.tenant_id, assignments.c.target_id == policy_id
            )
        )
        result = self.conn.execute(
            delete(compliance_policies).where(
                compliance_policies.c.tenant_id == self.tenant_id,
                compliance_policies.c.id == policy_id,
            )
        )
        return result.rowcount > 0

    def list_policies(self, group_ids: set[str] | None = None) -> list[CompliancePolicy]:
        """Every policy, or only those assigned to one of `group_ids`."""
        assigned = self._assignments()
        q = select(compliance_policies).where(compliance_policies.c.tenant_id == self.tenant_id)
        out = []
        for r in self.conn.execute(q.order_by(compliance_policies.c.created_at)).mappings():
            groups = tuple(assigned.get(r["id"], ()))
            if group_ids is not None and not set(groups) & group_ids:
                continue
            out.append(_policy(r, groups))
        return out

    def get_policy(self, policy_id: str) -> CompliancePolicy | None:
        return next((p for p in self.list_policies() if p.id == policy_id), None)

    # configurations
    def add_configuration(self, config: DeviceConfiguration) -> None:
        self.conn.execute(
            insert(device_configurations).values(
                tenant_id=self.tenant_id,
                id=config.id,
                odata_type=config.odata_type,
                display_name=config.display_name,
                settings=config.settings,
                created_at=config.created_at,
                modified_at=config.modified_at,
            )
        )

    def update_configuration(self, config_id: str, **values: Any) -> None:
        self.conn.execute(
            update(device_configurations)
            .where(
                device_configurations.c.tenant_id == self.tenant_id,
                device_configurations.c.id == config_id,
            )
            .values(**values)
        )

    def list_configurations(self, group_ids: set[str] | None = None) -> list[DeviceConfiguration]:
        assigned = self._assignments()
        q = select(device_configurations).where(device_configurations.c.tenant_id == self.tenant_id)
        out = []
        for r in self.conn.execute(q.order_by(device_configurations.c.created_at)).mappings():
            groups = tuple(assigned.get(r["id"], ()))
            if group_ids is not None and not set(groups) & group_ids:
                continue
            out.append(
                DeviceConfiguration(
                    id=r["id"],
                    odata_type=r["odata_type"],
                    display_name=r["display_name"],
                    settings=dict(r["settings"]),
                    created_at=r["created_at"],
                    modified_at=r["modified_at"],
                    group_ids=groups,
                )
            )
        return out

    def get_configuration(self, config_id: str) -> DeviceConfiguration | None:
        return next((c for c in self.list_configurations() if c.id == config_id), None)

    def configuration_of_type(self, odata_type: str) -> DeviceConfiguration | None:
        return next((c for c in self.list_configurations() if c.odata_type == odata_type), None)

    # assignments
    def _assignments(self) -> dict[str, list[str]]:
        q = select(assignments.c.target_id, assignments.c.group_id).where(
            assignments.c.tenant_id == self.tenant_id
        )
        out: dict[str, list[str]] = {}
        for target, group in self.conn.execute(q):
            out.setdefault(target, []).append(group)
        return out

    def set_assignments(self, target_id: str, group_ids: Sequence[str]) -> None:
        """Graph's `assign` action replaces the whole assignment list."""
        self.conn.execute(
            delete(assignments).where(
                assignments.c.tenant_id == self.tenant_id, assignments.c.target_id == target_id
            )
        )
        if group_ids:
            self.conn.execute(
                insert(assignments),
                [
                    {"tenant_id": self.tenant_id, "target_id": target_id, "group_id": g}
                    for g in dict.fromkeys(group_ids)
                ],
            )

    # tenant settings
    def tenant_settings(self) -> TenantSettings:
        row = (
            self.conn.execute(
                select(tenant_settings).where(tenant_settings.c.tenant_id == self.tenant_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return TenantSettings()
        return TenantSettings(row["secure_by_default"], row["checkin_threshold_days"])

    def save_tenant_settings(self, settings: TenantSettings) -> None:
        values = {
            "secure_by_default": settings.secure_by_default,
            "checkin_threshold_days": settings.checkin_threshold_days,
        }
        done = self.conn.execute(
            update(tenant_settings)
            .where(tenant_settings.c.tenant_id == self.tenant_id)
            .values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(insert(tenant_settings).values(tenant_id=self.tenant_id, **values))

    # action timers
    def schedule_timer(self, timer: ActionTimer) -> bool:
        """Insert a timer unless this action already has one for the episode."""
        exists = self.conn.execute(
            select(action_timers.c.id).where(
                action_timers.c.tenant_id == self.tenant_id,
                action_timers.c.device_id == timer.device_id,
                action_timers.c.policy_id == timer.policy_id,
                action_timers.c.action_type == timer.action.action_type.value,
                action_timers.c.episode == timer.episode,
            )
        ).first()
        if exists:
            return False
        self.conn.execute(
            insert(action_timers).values(
                tenant_id=self.tenant_id,
                id=timer.id,
                device_id=timer.device_id,
                policy_id=timer.policy_id,
                action_type=timer.action.action_type.value,
                episode=timer.episode,
                due_at=timer.due_at,
                fired_at=None,
                config=_action_json(timer.action),
                result=None,
            )
        )
        return True

    def cancel_timers(self, device_id: str, keep_policies: set[str]) -> None:
        """Drop the unfired timers of policies the device no longer fails."""
        q = delete(action_timers).where(
            action_timers.c.tenant_id == self.tenant_id,
            action_timers.c.device_id == device_id,
            action_timers.c.fired_at.is_(None),
        )
        if keep_policies:
            q = q.where(action_timers.c.policy_id.not_in(keep_policies))
        self.conn.execute(q)

    def claim_timer(self, timer_id: str, at: datetime) -> bool:
        """Take a due timer; only one caller (thread or process) ever gets True."""
        done = self.conn.execute(
            update(action_timers)
            .where(
                action_timers.c.tenant_id == self.tenant_id,
                action_timers.c.id == timer_id,
                action_timers.c.fired_at.is_(None),
            )
            .values(fired_at=at)
        )
        return done.rowcount == 1

    def release_timer(self, timer_id: str, result: str) -> None:
        self.conn.execute(
            update(action_timers)
            .where(action_timers.c.tenant_id == self.tenant_id, action_timers.c.id == timer_id)
            .values(fired_at=None, result=result)
        )

    def record_timer_result(self, timer_id: str, result: str) -> None:
        self.conn.execute(
            update(action_timers)
            .where(action_timers.c.tenant_id == self.tenant_id, action_timers.c.id == timer_id)
            .values(result=result)
        )

    def timers(self, device_id: str | None = None) -> list[ActionTimer]:
        q = select(action_timers).where(action_timers.c.tenant_id == self.tenant_id)
        if device_id:
            q = q.where(action_timers.c.device_id == device_id)
        return [_timer(r) for r in self.conn.execute(q.order_by(action_timers.c.due_at)).mappings()]

    # device commands
    def add_command(self, command: DeviceCommand) -> None:
        self.conn.execute(
            insert(device_commands).values(
                tenant_id=self.tenant_id,
                id=command.id,
                device_id=command.device_id,
                action_name=command.action_name,
                payload=command.payload,
                created_at=command.created_at,
                delivered_at=None,
            )
        )

    def commands(self, device_id: str, *, pending_only: bool = False) -> list[DeviceCommand]:
        q = select(device_commands).where(
            device_commands.c.tenant_id == self.tenant_id,
            device_commands.c.device_id == device_id,
        )
        if pending_only:
            q = q.where(device_commands.c.delivered_at.is_(None))
        return [
            DeviceCommand(
                r["id"],
                r["device_id"],
                r["action_name"],
                dict(r["payload"]),
                r["created_at"],
                r["delivered_at"],
            )
            for r in self.conn.execute(q.order_by(device_commands.c.created_at)).mappings()
        ]

    def mark_delivered(self, command_ids: Sequence[str], at: datetime) -> None:
        if command_ids:
            self.conn.execute(
                update(device_commands)
                .where(
                    device_commands.c.tenant_id == self.tenant_id,
                    device_commands.c.id.in_(list(command_ids)),
                )
                .values(delivered_at=at)
            )

    # retire list
    def add_retire_candidate(self, device_id: str, policy_id: str, at: datetime) -> None:
        exists = self.conn.execute(
            select(retire_candidates.c.device_id).where(
                retire_candidates.c.tenant_id == self.tenant_id,
                retire_candidates.c.device_id == device_id,
                retire_candidates.c.policy_id == policy_id,
            )
        ).first()
        if not exists:
            self.conn.execute(
                insert(retire_candidates).values(
                    tenant_id=self.tenant_id, device_id=device_id, policy_id=policy_id, added_at=at
                )
            )

    def retire_candidates(self) -> list[tuple[str, str, datetime]]:
        q = select(retire_candidates).where(retire_candidates.c.tenant_id == self.tenant_id)
        return [
            (r["device_id"], r["policy_id"], r["added_at"])
            for r in self.conn.execute(q.order_by(retire_candidates.c.added_at)).mappings()
        ]

    def remove_retire_candidates(self, device_id: str) -> None:
        self.conn.execute(
            delete(retire_candidates).where(
                retire_candidates.c.tenant_id == self.tenant_id,
                retire_candidates.c.device_id == device_id,
            )
        )

    # notification templates
    def add_template(self, template: NotificationTemplate) -> None:
        self.conn.execute(
            insert(notification_templates).values(
                tenant_id=self.tenant_id,
                id=template.id,
                display_name=template.display_name,
                default_locale=template.default_locale,
                messages=[_message_json(m) for m in template.messages],
                created_at=template.created_at,
                modified_at=template.modified_at,
            )
        )

    def save_template_messages(self, template: NotificationTemplate) -> None:
        self.conn.execute(
            update(notification_templates)
            .where(
                notification_templates.c.tenant_id == self.tenant_id,
                notification_templates.c.id == template.id,
            )
            .values(
                messages=[_message_json(m) for m in template.messages],
                modified_at=template.modified_at,
            )
        )

    def templates(self) -> list[NotificationTemplate]:
        q = select(notification_templates).where(
            notification_templates.c.tenant_id == self.tenant_id
        )
        return [
            NotificationTemplate(
                r["id"],
                r["display_name"],
                r["default_locale"],
                tuple(
                    LocalizedMessage(
                        m["locale"], m["subject"], m["messageTemplate"], m["isDefault"]
                    )
                    for m in r["messages"]
                ),
                r["created_at"],
                r["modified_at"],
            )
            for r in self.conn.execute(q.order_by(notification_templates.c.created_at)).mappings()
        ]

    def get_template(self, template_id: str) -> NotificationTemplate | None:
        return next((t for t in self.templates() if t.id == template_id), None)

    def delete_template(self, template_id: str) -> bool:
        done = self.conn.execute(
            delete(notification_templates).where(
                notification_templates.c.tenant_id == self.tenant_id,
                notification_templates.c.id == template_id,
            )
        )
        return done.rowcount > 0

    # audit
    def add_audit_event(self, event: AuditEvent) -> None:
        self.conn.execute(
            insert(audit_events).values(
                tenant_id=self.tenant_id,
                id=event.id,
                activity_at=event.activity_at,
                activity=event.activity,
                actor=event.actor,
                resources=list(event.resources),
                result=event.result,
            )
        )

    def audit_events(self) -> list[AuditEvent]:
        q = select(audit_events).where(audit_events.c.tenant_id == self.tenant_id)
        return [
            AuditEvent(
                r["id"],
                r["activity_at"],
                r["activity"],
                dict(r["actor"]),
                tuple(r["resources"]),
                r["result"],
            )
            for r in self.conn.execute(q.order_by(audit_events.c.activity_at)).mappings()
        ]

    # profile deployment
    def deployment(self, device_id: str) -> dict[str, tuple[str, str | None, datetime, datetime]]:
        """Per profile id: (status, detail, profile version, reported at) for one device."""
        q = select(deployment_statuses).where(
            deployment_statuses.c.tenant_id == self.tenant_id,
            deployment_statuses.c.device_id == device_id,
        )
        return {
            r["config_id"]: (r["status"], r["detail"], r["profile_version"], r["reported_at"])
            for r in self.conn.execute(q).mappings()
        }

    def set_deployment(
        self,
        config_id: str,
        device_id: str,
        status: str,
        detail: str | None,
        version: datetime,
        at: datetime,
    ) -> None:
        values = {"status": status, "detail": detail, "profile_version": version, "reported_at": at}
        done = self.conn.execute(
            update(deployment_statuses)
            .where(
                deployment_statuses.c.tenant_id == self.tenant_id,
                deployment_statuses.c.config_id == config_id,
                deployment_statuses.c.device_id == device_id,
            )
            .values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(deployment_statuses).values(
                    tenant_id=self.tenant_id, config_id=config_id, device_id=device_id, **values
                )
            )

    def delete_configuration(self, config_id: str) -> bool:
        for table, column in (
            (assignments, assignments.c.target_id),
            (deployment_statuses, deployment_statuses.c.config_id),
        ):
            self.conn.execute(
                delete(table).where(table.c.tenant_id == self.tenant_id, column == config_id)
            )
        done = self.conn.execute(
            delete(device_configurations).where(
                device_configurations.c.tenant_id == self.tenant_id,
                device_configurations.c.id == config_id,
            )
        )
        return done.rowcount > 0

    # app protection
    def save_app_policy(self, policy: AppProtectionPolicy, *, new: bool) -> None:
        values = {
            "odata_type": policy.odata_type,
            "display_name": policy.display_name,
            "description": policy.description,
            "maximum_threat_level": (
                policy.maximum_allowed_device_threat_level.value
                if policy.maximum_allowed_device_threat_level
                else None
            ),
            "remediation_action": policy.mobile_threat_defense_remediation_action,
            "apps": list(policy.apps),
            "unsupported": policy.unsupported,
            "created_at": policy.created_at,
            "modified_at": policy.modified_at,
            "version": policy.version,
        }
        if new:
            self.conn.execute(
                insert(app_protection_policies).values(
                    tenant_id=self.tenant_id, id=policy.id, **values
                )
            )
        else:
            self.conn.execute(
                update(app_protection_policies)
                .where(
                    app_protection_policies.c.tenant_id == self.tenant_id,
                    app_protection_policies.c.id == policy.id,
                )
                .values(**values)
            )

    def app_policies(self) -> list[AppProtectionPolicy]:
        assigned = self._assignments()
        q = select(app_protection_policies).where(
            app_protection_policies.c.tenant_id == self.tenant_id
        )
        return [
            AppProtectionPolicy(
                id=r["id"],
                odata_type=r["odata_type"],
                display_name=r["display_name"],
                description=r["description"],
                maximum_allowed_device_threat_level=(
                    ThreatLevel(r["maximum_threat_level"]) if r["maximum_threat_level"] else None
                ),
                mobile_threat_defense_remediation_action=r["remediation_action"],
                apps=tuple(r["apps"]),
                created_at=r["created_at"],
                modified_at=r["modified_at"],
                unsupported=dict(r["unsupported"]),
                targets=tuple(assigned.get(r["id"], ())),
                version=r["version"],
            )
            for r in self.conn.execute(q.order_by(app_protection_policies.c.created_at)).mappings()
        ]

    def delete_app_policy(self, policy_id: str) -> bool:
        self.conn.execute(
            delete(assignments).where(
                assignments.c.tenant_id == self.tenant_id, assignments.c.target_id == policy_id
            )
        )
        done = self.conn.execute(
            delete(app_protection_policies).where(
                app_protection_policies.c.tenant_id == self.tenant_id,
                app_protection_policies.c.id == policy_id,
            )
        )
        return done.rowcount > 0

    def set_partner_app_protection(self, platform: str, enabled: bool) -> None:
        done = self.conn.execute(
            update(partner_app_protection)
            .where(
                partner_app_protection.c.tenant_id == self.tenant_id,
                partner_app_protection.c.platform == platform,
            )
            .values(enabled=enabled)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(partner_app_protection).values(
                    tenant_id=self.tenant_id, platform=platform, enabled=enabled
                )
            )

    def partner_app_protection(self, platform: str) -> bool:
        row = self.conn.execute(
            select(partner_app_protection.c.enabled).where(
                partner_app_protection.c.tenant_id == self.tenant_id,
                partner_app_protection.c.platform == platform,
            )
        ).first()
        return bool(row[0]) if row else False

    def user_threat_level(self, user_id: str, platform: str) -> tuple[str, int] | None:
        row = self.conn.execute(
            select(user_threat_levels.c.threat_level, user_threat_levels.c.sequence).where(
                user_threat_levels.c.tenant_id == self.tenant_id,
                user_threat_levels.c.user_id == user_id,
                user_threat_levels.c.platform == platform,
            )
        ).first()
        return (row[0], row[1]) if row else None

    def set_user_threat_level(
        self, user_id: str, platform: str, level: str, sequence: int, at: datetime
    ) -> None:
        values = {"threat_level": level, "sequence": sequence, "updated_at": at}
        done = self.conn.execute(
            update(user_threat_levels)
            .where(
                user_threat_levels.c.tenant_id == self.tenant_id,
                user_threat_levels.c.user_id == user_id,
                user_threat_levels.c.platform == platform,
            )
            .values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(user_threat_levels).values(
                    tenant_id=self.tenant_id, user_id=user_id, platform=platform, **values
                )
            )


def due_timers(conn: Any, now: datetime, limit: int = 500) -> list[tuple[str, ActionTimer]]:
    """Unfired timers due by `now`, across tenants (the scheduler's sweep): (tenant, timer)."""
    q = (
        select(action_timers)
        .where(action_timers.c.fired_at.is_(None), action_timers.c.due_at <= now)
        .order_by(action_timers.c.due_at)
        .limit(limit)
    )
    return [(r["tenant_id"], _timer(r)) for r in conn.execute(q).mappings()]


def evaluated_groups(conn: Any) -> list[tuple[str, str, str, str, list[str] | None]]:
    """(tenant, device, user, directory device, groups at the last evaluation) of every device."""
    q = select(
        managed_devices.c.tenant_id,
        managed_devices.c.id,
        managed_devices.c.user_id,
        managed_devices.c.azure_ad_device_id,
        managed_devices.c.evaluated_groups,
    )
    return [(t, d, u, a, g) for t, d, u, a, g in conn.execute(q)]


def stale_devices(conn: Any, before: datetime) -> list[tuple[str, str, datetime]]:
    """(tenant, device, last sync) of devices silent since `before`, not yet noncompliant."""
    q = select(
        managed_devices.c.tenant_id, managed_devices.c.id, managed_devices.c.last_sync_at
    ).where(
        managed_devices.c.last_sync_at < before,
        managed_devices.c.compliance_state != "noncompliant",
    )
    return [(t, d, at) for t, d, at in conn.execute(q)]


def _action_json(a: ScheduledAction) -> dict[str, Any]:
    return {
        "actionType": a.action_type.value,
        "gracePeriodHours": a.grace_period_hours,
        "notificationTemplateId": a.notification_template_id,
        "notificationMessageCCList": list(a.cc),
    }


def _timer(r: Any) -> ActionTimer:
    c = r["config"]
    return ActionTimer(
        id=r["id"],
        device_id=r["device_id"],
        policy_id=r["policy_id"],
        action=ScheduledAction(
            ActionType(c["actionType"]),
            c["gracePeriodHours"],
            c.get("notificationTemplateId"),
            tuple(c.get("notificationMessageCCList") or ()),
        ),
        episode=r["episode"],
        due_at=r["due_at"],
        fired_at=r["fired_at"],
        result=r["result"],
    )


def _message_json(m: LocalizedMessage) -> dict[str, Any]:
    return {
        "locale": m.locale,
        "subject": m.subject,
        "messageTemplate": m.message_template,
        "isDefault": m.is_default,
    }
