"""partner link: remote connectors with a shared secret, and links to remote device management

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


def upgrade() -> None:
    with op.batch_alter_table("connector_connectors") as batch:
        batch.add_column(
            sa.Column("remote", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("partner_secret", sa.String(length=128), nullable=True))
    with op.batch_alter_table("connector_connectors") as batch:
        batch.alter_column("remote", server_default=None)
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
    op.drop_table("connector_partner_links")
    with op.batch_alter_table("connector_connectors") as batch:
        batch.drop_column("partner_secret")
        batch.drop_column("remote")
