"""detection: tenant rule sets (own rules, per-rule switches, revision)

Revision ID: 0005_detection
Revises: 0001
Create Date: 2026-11-26 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_detection"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["directory_tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_directory_tenants"),
    )


def upgrade() -> None:
    op.create_table(
        "detection_custom_rules",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("query_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("detection_custom_rules"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_detection_custom_rules")),
    )
    op.create_table(
        "detection_rule_states",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("detection_rule_states"),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", name=op.f("pk_detection_rule_states")),
    )
    op.create_table(
        "detection_rule_sets",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _tenant_fk("detection_rule_sets"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_detection_rule_sets")),
    )


def downgrade() -> None:
    op.drop_table("detection_rule_sets")
    op.drop_table("detection_rule_states")
    op.drop_table("detection_custom_rules")
