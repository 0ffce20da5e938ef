"""device certificates: a device CA per tenant and the certificates it issued

Revision ID: 0008_device_certificates
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_device_certificates"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_device_ca",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_device_ca_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_directory_device_ca")),
    )
    op.create_table(
        "directory_device_certificates",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_device_certificates_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_directory_device_certificates")),
    )
    op.create_index(
        op.f("ix_directory_device_certificates_sha1"),
        "directory_device_certificates",
        ["sha1"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_directory_device_certificates_sha1"), table_name="directory_device_certificates"
    )
    op.drop_table("directory_device_certificates")
    op.drop_table("directory_device_ca")
