"""mdm depth

Revision ID: 0002_mdm_depth
Revises: 0001
Create Date: 2026-11-26 22:08:59.789280
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_mdm_depth"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mdm_action_timers",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("action_type", sa.String(length=32), nullable=False),
        sa.Column("episode", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_action_timers_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_action_timers")),
    )
    with op.batch_alter_table("mdm_action_timers", schema=None) as batch_op:
        batch_op.create_index("ix_mdm_action_timers_due", ["fired_at", "due_at"], unique=False)
        batch_op.create_index(
            "ix_mdm_action_timers_once",
            ["tenant_id", "device_id", "policy_id", "action_type", "episode"],
            unique=True,
        )

    op.create_table(
        "mdm_app_protection_policies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("odata_type", sa.String(length=120), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("maximum_threat_level", sa.String(length=16), nullable=True),
        sa.Column("remediation_action", sa.String(length=16), nullable=False),
        sa.Column("apps", sa.JSON(), nullable=False),
        sa.Column("unsupported", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_app_protection_policies_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_app_protection_policies")),
    )
    op.create_table(
        "mdm_audit_events",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activity", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_audit_events_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_audit_events")),
    )
    with op.batch_alter_table("mdm_audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mdm_audit_events_time", ["tenant_id", "activity_at"], unique=False
        )

    op.create_table(
        "mdm_deployment_statuses",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("config_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("profile_version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_deployment_statuses_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "config_id", "device_id", name=op.f("pk_mdm_deployment_statuses")
        ),
    )
    op.create_table(
        "mdm_device_commands",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("action_name", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_device_commands_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_device_commands")),
    )
    with op.batch_alter_table("mdm_device_commands", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mdm_device_commands_device",
            ["tenant_id", "device_id", "delivered_at"],
            unique=False,
        )

    op.create_table(
        "mdm_notification_templates",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("default_locale", sa.String(length=16), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_notification_templates_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdm_notification_templates")),
    )
    op.create_table(
        "mdm_partner_app_protection",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_partner_app_protection_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "platform", name=op.f("pk_mdm_partner_app_protection")
        ),
    )
    op.create_table(
        "mdm_retire_candidates",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_retire_candidates_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "device_id", "policy_id", name=op.f("pk_mdm_retire_candidates")
        ),
    )
    op.create_table(
        "mdm_tenant_settings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("secure_by_default", sa.Boolean(), nullable=False),
        sa.Column("checkin_threshold_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_tenant_settings_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_mdm_tenant_settings")),
    )
    op.create_table(
        "mdm_user_threat_levels",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("threat_level", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_user_threat_levels_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "user_id", "platform", name=op.f("pk_mdm_user_threat_levels")
        ),
    )
    with op.batch_alter_table("mdm_compliance_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("unsupported", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("scheduled_actions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))

    with op.batch_alter_table("mdm_managed_devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("noncompliant_since", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("management_state", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("evaluated_groups", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mdm_managed_devices", schema=None) as batch_op:
        batch_op.drop_column("evaluated_groups")
        batch_op.drop_column("management_state")
        batch_op.drop_column("noncompliant_since")
        batch_op.drop_column("facts")

    with op.batch_alter_table("mdm_compliance_policies", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("scheduled_actions")
        batch_op.drop_column("unsupported")
        batch_op.drop_column("settings")

    op.drop_table("mdm_user_threat_levels")
    op.drop_table("mdm_tenant_settings")
    op.drop_table("mdm_retire_candidates")
    op.drop_table("mdm_partner_app_protection")
    op.drop_table("mdm_notification_templates")
    with op.batch_alter_table("mdm_device_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_mdm_device_commands_device")

    op.drop_table("mdm_device_commands")
    op.drop_table("mdm_deployment_statuses")
    with op.batch_alter_table("mdm_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_mdm_audit_events_time")

    op.drop_table("mdm_audit_events")
    op.drop_table("mdm_app_protection_policies")
    with op.batch_alter_table("mdm_action_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_mdm_action_timers_once")
        batch_op.drop_index("ix_mdm_action_timers_due")

    op.drop_table("mdm_action_timers")
