"""access depth: policies stored as Graph definitions, named locations, app settings, roles

Revision ID: 0003_access_depth
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003_access_depth"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_policies") as batch:
        batch.add_column(sa.Column("definition", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, display_name, state, conditions, grant_controls FROM access_policies")
    ).mappings()
    for row in list(rows):
        cond = row["conditions"]
        grant = row["grant_controls"]
        cond = json.loads(cond) if isinstance(cond, str) else cond
        grant = json.loads(grant) if isinstance(grant, str) else grant
        cond = {k: v for k, v in (cond or {}).items() if v is not None}
        definition = {
            "displayName": row["display_name"],
            "state": row["state"],
            "conditions": cond,
            "grantControls": grant,
        }
        conn.execute(
            sa.text("UPDATE access_policies SET definition = :d WHERE id = :id"),
            {"d": json.dumps(definition), "id": row["id"]},
        )
    with op.batch_alter_table("access_policies") as batch:
        batch.alter_column("definition", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("conditions")
        batch.drop_column("grant_controls")

    op.create_table(
        "access_named_locations",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("is_trusted", sa.Boolean(), nullable=False),
        sa.Column("ip_ranges", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_access_named_locations_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_named_locations")),
    )
    op.create_table(
        "access_app_settings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=200), nullable=False),
        sa.Column("fail_open", sa.Boolean(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_access_app_settings_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "app_id", name=op.f("pk_access_app_settings")),
    )
    op.create_table(
        "directory_role_assignments",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("role_definition_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["directory_tenants.id"],
            name=op.f("fk_directory_role_assignments_tenant_id_directory_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_role_assignments")),
        sa.UniqueConstraint(
            "tenant_id", "principal_id", "role_definition_id", name="uq_directory_role_assignments"
        ),
    )


def downgrade() -> None:
    op.drop_table("directory_role_assignments")
    op.drop_table("access_app_settings")
    op.drop_table("access_named_locations")
    with op.batch_alter_table("access_policies") as batch:
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("grant_controls", sa.JSON(), nullable=True))
    conn = op.get_bind()
    for row in list(conn.execute(sa.text("SELECT id, definition FROM access_policies")).mappings()):
        d = row["definition"]
        d = json.loads(d) if isinstance(d, str) else d
        conn.execute(
            sa.text(
                "UPDATE access_policies SET conditions = :c, grant_controls = :g WHERE id = :id"
            ),
            {
                "c": json.dumps(d.get("conditions") or {}),
                "g": json.dumps(d.get("grantControls") or {}),
                "id": row["id"],
            },
        )
    with op.batch_alter_table("access_policies") as batch:
        batch.alter_column("conditions", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("grant_controls", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("definition")
