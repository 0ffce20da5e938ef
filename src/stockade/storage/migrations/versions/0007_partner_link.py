"""partner link: remote connectors with a shared secret, links to remote device management,
and the connector's compliance settings as device management records them

Revision ID: 0007_partner_link
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_partner_link"
down_revision = "0001"
branch_labels = None
depends_on = None

BLOCK_FLAGS = (
    "windows_blocked_on_missing_data",
    "android_blocked_on_missing_data",
    "ios_blocked_on_missing_data",
    "unsupported_os_blocked",
)


def upgrade() -> None:
    with op.batch_alter_table("connector_connectors") as batch:
        batch.add_column(
            sa.Column("remote", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("partner_secret", sa.String(length=128), nullable=True))
        for flag in BLOCK_FLAGS:
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
    with op.batch_alter_table("connector_connectors") as batch:
        for flag in ("remote", *BLOCK_FLAGS):
            batch.alter_column(flag, server_default=None)
    op.create_table(
        "mdm_partner_compliance",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("responsive", sa.Boolean(), nullable=False),
        sa.Column("blocked_on_missing_data", sa.Boolean(), nullable=False),
        sa.Column("unsupported_os_blocked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_partner_compliance_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "platform", name=op.f("pk_mdm_partner_compliance")),
    )
    op.create_table(
        "mdm_partner_device_flags",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("unsupported_os", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_mdm_partner_device_flags_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "device_id", name=op.f("pk_mdm_partner_device_flags")),
    )
    op.create_table(
        "connector_partner_links",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("mdm_url", sa.String(length=500), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_connector_partner_links_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_connector_partner_links")),
    )


def downgrade() -> None:
    op.drop_table("mdm_partner_device_flags")
    op.drop_table("mdm_partner_compliance")
    op.drop_table("connector_partner_links")
    with op.batch_alter_table("connector_connectors") as batch:
        for flag in BLOCK_FLAGS:
            batch.drop_column(flag)
        batch.drop_column("partner_secret")
        batch.drop_column("remote")
