"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 21:42:28.318550
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_signins",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("user_principal_name", sa.String(length=320), nullable=True),
        sa.Column("app_id", sa.String(length=200), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("device_name", sa.String(length=200), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("applied_policies", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_signins")),
    )
    with op.batch_alter_table("access_signins", schema=None) as batch_op:
        batch_op.create_index("ix_access_signins_time", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "directory_group_members",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("member_type", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "group_id", "member_id", name=op.f("pk_directory_group_members")
        ),
    )
    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_directory_group_members_member", ["tenant_id", "member_id"], unique=False
        )

    op.create_table(
        "directory_tenants",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_directory_tenants_name")),
    )
    op.create_table(
        "mdm_assignments",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "target_id", "group_id", name=op.f("pk_mdm_assignments")
        ),
    )
    op.create_table(
        "mtd_alert_evidence",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("event_row_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "event_row_id", name=op.f("pk_mtd_alert_evidence")),
    )
    op.create_table(
        "mtd_alerts",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("mitre_techniques", sa.JSON(), nullable=False),
        sa.Column("first_event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mtd_alerts")),
    )
    with op.batch_alter_table("mtd_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mtd_alerts_machine", ["tenant_id", "machine_id", "status"], unique=False
        )

    op.create_table(
        "mtd_events",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mtd_events")),
    )
    with op.batch_alter_table("mtd_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mtd_events_machine", ["tenant_id", "machine_id", "received_at"], unique=False
        )

    op.create_table(
        "access_policies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("grant_controls", sa.JSON(), nullable=False),
        sa.Column("classic", sa.Boolean(), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_access_policies_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_policies")),
    )
    op.create_table(
        "connector_connectors",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("partner_state", sa.String(length=16), nullable=False),
        sa.Column("windows_enabled", sa.Boolean(), nullable=False),
        sa.Column("android_enabled", sa.Boolean(), nullable=False),
        sa.Column("ios_enabled", sa.Boolean(), nullable=False),
        sa.Column("android_mam_enabled", sa.Boolean(), nullable=False),
        sa.Column("ios_mam_enabled", sa.Boolean(), nullable=False),
        sa.Column("unresponsiveness_threshold_days", sa.Integer(), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_connector_connectors_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_connector_connectors")),
    )
    op.create_table(
        "directory_api_tokens",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_api_tokens_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_api_tokens")),
    )
    op.create_table(
        "directory_devices",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("operating_system", sa.String(length=32), nullable=False),
        sa.Column("operating_system_version", sa.String(length=64), nullable=False),
        sa.Column("trust_type", sa.String(length=16), nullable=False),
        sa.Column("registered_owner_id", sa.String(length=36), nullable=True),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_devices_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_directory_devices")),
    )
    op.create_table(
        "directory_groups",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_groups_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_directory_groups")),
    )
    op.create_table(
        "directory_users",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_principal_name", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_users_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_directory_users")),
        sa.UniqueConstraint("tenant_id", "user_principal_name", name="uq_directory_users_upn"),
    )
    op.create_table(
        "mdm_compliance_policies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("odata_type", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("threat_protection_enabled", sa.Boolean(), nullable=False),
        sa.Column("threat_protection_level", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_compliance_policies_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_compliance_policies")),
    )
    op.create_table(
        "mdm_device_configurations",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("odata_type", sa.String(length=120), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_device_configurations_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_device_configurations")),
    )
    op.create_table(
        "mdm_enrollment_tokens",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_enrollment_tokens_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_enrollment_tokens")),
    )
    op.create_table(
        "mdm_managed_devices",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("azure_ad_device_id", sa.String(length=36), nullable=False),
        sa.Column("device_name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("os_version", sa.String(length=64), nullable=False),
        sa.Column("join_type", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("user_principal_name", sa.String(length=320), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compliance_state", sa.String(length=16), nullable=False),
        sa.Column("compliance", sa.JSON(), nullable=True),
        sa.Column("threat_level", sa.String(length=16), nullable=True),
        sa.Column("threat_sequence", sa.BigInteger(), nullable=False),
        sa.Column("threat_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_managed_devices_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_managed_devices")),
    )
    with op.batch_alter_table("mdm_managed_devices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mdm_managed_devices_aad", ["tenant_id", "azure_ad_device_id"], unique=True
        )

    op.create_table(
        "mtd_machines",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("aad_device_id", sa.String(length=36), nullable=False),
        sa.Column("computer_dns_name", sa.String(length=255), nullable=False),
        sa.Column("os_platform", sa.String(length=32), nullable=False),
        sa.Column("os_version", sa.String(length=64), nullable=False),
        sa.Column("risk_score", sa.String(length=16), nullable=False),
        sa.Column("risk_sequence", sa.BigInteger(), nullable=False),
        sa.Column("sensor_token_id", sa.String(length=36), nullable=False),
        sa.Column("sensor_secret_digest", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mtd_machines_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_mtd_machines")),
        sa.UniqueConstraint("sensor_token_id", name=op.f("uq_mtd_machines_sensor_token_id")),
    )
    with op.batch_alter_table("mtd_machines", schema=None) as batch_op:
        batch_op.create_index("ix_mtd_machines_device", ["tenant_id", "aad_device_id"], unique=True)

    op.create_table(
        "mtd_onboarding",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mtd_onboarding_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_mtd_onboarding")),
    )


def downgrade() -> None:
    op.drop_table("mtd_onboarding")
    with op.batch_alter_table("mtd_machines", schema=None) as batch_op:
        batch_op.drop_index("ix_mtd_machines_device")

    op.drop_table("mtd_machines")
    with op.batch_alter_table("mdm_managed_devices", schema=None) as batch_op:
        batch_op.drop_index("ix_mdm_managed_devices_aad")

    op.drop_table("mdm_managed_devices")
    op.drop_table("mdm_enrollment_tokens")
    op.drop_table("mdm_device_configurations")
    op.drop_table("mdm_compliance_policies")
    op.drop_table("directory_users")
    op.drop_table("directory_groups")
    op.drop_table("directory_devices")
    op.drop_table("directory_api_tokens")
    op.drop_table("connector_connectors")
    op.drop_table("access_policies")
    with op.batch_alter_table("mtd_events", schema=None) as batch_op:
        batch_op.drop_index("ix_mtd_events_machine")

    op.drop_table("mtd_events")
    with op.batch_alter_table("mtd_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_mtd_alerts_machine")

    op.drop_table("mtd_alerts")
    op.drop_table("mtd_alert_evidence")
    op.drop_table("mdm_assignments")
    op.drop_table("directory_tenants")
    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_group_members_member")

    op.drop_table("directory_group_members")
    with op.batch_alter_table("access_signins", schema=None) as batch_op:
        batch_op.drop_index("ix_access_signins_time")

    op.drop_table("access_signins")
