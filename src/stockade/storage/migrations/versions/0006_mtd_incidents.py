"""mtd incidents: alert triage fields and comments, incidents, mobile threat findings

Revision ID: 0006_mtd_incidents
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_mtd_incidents"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mtd_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("classification", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("determination", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("assigned_to", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("incident_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("user_id", sa.String(length=36), nullable=True))
        # alerts raised before this revision all came from Sigma rules
        batch_op.add_column(
            sa.Column(
                "detection_source",
                sa.String(length=32),
                nullable=False,
                server_default="customDetection",
            )
        )
        batch_op.create_index("ix_mtd_alerts_incident", ["tenant_id", "incident_id"], unique=False)
        batch_op.create_index("ix_mtd_alerts_user", ["tenant_id", "user_id"], unique=False)

    op.create_table(
        "mtd_alert_comments",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mtd_alert_comments")),
    )
    with op.batch_alter_table("mtd_alert_comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mtd_alert_comments_alert", ["tenant_id", "alert_id"], unique=False
        )

    op.create_table(
        "mtd_incidents",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("classification", sa.String(length=48), nullable=True),
        sa.Column("determination", sa.String(length=48), nullable=True),
        sa.Column("assigned_to", sa.String(length=255), nullable=True),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redirect_incident_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mtd_incidents")),
    )
    with op.batch_alter_table("mtd_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_mtd_incidents_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "mtd_mobile_findings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("finding_id", sa.String(length=128), nullable=True),
        sa.Column("finding_type", sa.String(length=48), nullable=False),
        sa.Column("detected_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mtd_mobile_findings")),
    )
    with op.batch_alter_table("mtd_mobile_findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mtd_mobile_findings_app_id",
            ["tenant_id", "machine_id", "finding_id"],
            unique=True,
        )


def downgrade() -> None:
    op.drop_table("mtd_mobile_findings")
    op.drop_table("mtd_incidents")
    op.drop_table("mtd_alert_comments")
    with op.batch_alter_table("mtd_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_mtd_alerts_user")
        batch_op.drop_index("ix_mtd_alerts_incident")
        batch_op.drop_column("detection_source")
        batch_op.drop_column("user_id")
        batch_op.drop_column("incident_id")
        batch_op.drop_column("assigned_to")
        batch_op.drop_column("determination")
        batch_op.drop_column("classification")
