"""Directory tables and queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)

from stockade.directory.model import (
    ApiToken,
    DeviceRegistration,
    Group,
    Role,
    RoleAssignment,
    Tenant,
    User,
)
from stockade.storage.database import TenantStore
from stockade.storage.types import UtcDateTime, metadata

tenants = Table(
    "directory_tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

users = Table(
    "directory_users",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("user_principal_name", String(320), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("account_enabled", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("tenant_id", "user_principal_name", name="uq_directory_users_upn"),
)

groups = Table(
    "directory_groups",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

group_members = Table(
    "directory_group_members",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("group_id", String(36), primary_key=True),
    Column("member_id", String(36), primary_key=True),
    Column("member_type", String(16), nullable=False),  # user | device
    Index("ix_directory_group_members_member", "tenant_id", "member_id"),
)

devices = Table(
    "directory_devices",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("operating_system", String(32), nullable=False),
    Column("operating_system_version", String(64), nullable=False),
    Column("trust_type", String(16), nullable=False),
    Column("registered_owner_id", String(36), nullable=True),
    Column("account_enabled", Boolean, nullable=False, default=True),
    Column("registered_at", UtcDateTime, nullable=False),
)

role_assignments = Table(
    "directory_role_assignments",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("principal_id", String(36), nullable=False),
    Column("role_definition_id", String(36), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint(
        "tenant_id", "principal_id", "role_definition_id", name="uq_directory_role_assignments"
    ),
)

device_ca = Table(
    "directory_device_ca",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("cert_pem", Text, nullable=False),
    Column("key_pem", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

device_certificates = Table(
    "directory_device_certificates",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("sha256", String(64), primary_key=True),
    Column("sha1", String(40), nullable=False, index=True),
    Column("device_id", String(36), nullable=False),
    Column("not_after", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = Table(
    "directory_api_tokens",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(64), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)


def create_tenant(conn: Connection, tenant: Tenant) -> None:
    conn.execute(
        insert(tenants).values(id=tenant.id, name=tenant.name, created_at=tenant.created_at)
    )


def get_tenant(conn: Connection, tenant_id: str) -> Tenant | None:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
    return Tenant(**row) if row else None


def find_tenant(conn: Connection, name_or_id: str) -> Tenant | None:
    row = (
        conn.execute(
            select(tenants).where(or_(tenants.c.id == name_or_id, tenants.c.name == name_or_id))
        )
        .mappings()
        .first()
    )
    return Tenant(**row) if row else None


def list_tenants(conn: Connection) -> list[Tenant]:
    return [Tenant(**r) for r in conn.execute(select(tenants).order_by(tenants.c.name)).mappings()]


def find_api_token(conn: Connection, token_id: str) -> tuple[str, ApiToken, str] | None:
    """Token lookup before the tenant is known: (tenant id, token, secret digest)."""
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
    if row is None:
        return None
    return row["tenant_id"], _token(row), row["secret_digest"]


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _device(row: Any) -> DeviceRegistration:
    return DeviceRegistration(
        id=row["id"],
        display_name=row["display_name"],
        operating_system=row["operating_system"],
        operating_system_version=row["operating_system_version"],
        trust_type=row["trust_type"],
        registered_owner_id=row["registered_owner_id"],
        account_enabled=row["account_enabled"],
        registered_at=row["registered_at"],
    )


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        user_principal_name=row["user_principal_name"],
        display_name=row["display_name"],
        account_enabled=row["account_enabled"],
        created_at=row["created_at"],
    )


class DirectoryStore(TenantStore):
    # users
    def add_user(self, user: User) -> None:
        self.conn.execute(
            insert(users).values(
                tenant_id=self.tenant_id,
                id=user.id,
                user_principal_name=user.user_principal_name,
                display_name=user.display_name,
                account_enabled=user.account_enabled,
                created_at=user.created_at,
            )
        )

    def get_user(self, user_id: str) -> User | None:
        row = (
            self.conn.execute(
                select(users).where(users.c.tenant_id == self.tenant_id, users.c.id == user_id)
            )
            .mappings()
            .first()
        )
        return _user(row) if row else None

    def find_user(self, id_or_upn: str) -> User | None:
        row = (
            self.conn.execute(
                select(users).where(
                    users.c.tenant_id == self.tenant_id,
                    or_(users.c.id == id_or_upn, users.c.user_principal_name == id_or_upn.lower()),
                )
            )
            .mappings()
            .first()
        )
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        q = select(users).where(users.c.tenant_id == self.tenant_id).order_by(users.c.created_at)
        return [_user(r) for r in self.conn.execute(q).mappings()]

    # groups
    def add_group(self, group: Group) -> None:
        self.conn.execute(
            insert(groups).values(
                tenant_id=self.tenant_id,
                id=group.id,
                display_name=group.display_name,
                created_at=group.created_at,
            )
        )

    def get_group(self, group_id: str) -> Group | None:
        row = (
            self.conn.execute(
                select(groups).where(groups.c.tenant_id == self.tenant_id, groups.c.id == group_id)
            )
            .mappings()
            .first()
        )
        return Group(row["id"], row["display_name"], row["created_at"]) if row else None

    def list_groups(self) -> list[Group]:
        q = select(groups).where(groups.c.tenant_id == self.tenant_id).order_by(groups.c.created_at)
        return [
            Group(r["id"], r["display_name"], r["created_at"])
            for r in self.conn.execute(q).mappings()
        ]

    def add_member(self, group_id: str, member_id: str, member_type: str) -> bool:
        exists = self.conn.execute(
            select(group_members.c.member_id).where(
                group_members.c.tenant_id == self.tenant_id,
                group_members.c.group_id == group_id,
                group_members.c.member_id == member_id,
            )
        ).first()
        if exists:
            return False
        self.conn.execute(
            insert(group_members).values(
                tenant_id=self.tenant_id,
                group_id=group_id,
                member_id=member_id,
                member_type=member_type,
            )
        )
        return True

    def remove_member(self, group_id: str, member_id: str) -> bool:
        result = self.conn.execute(
            group_members.delete().where(
                group_members.c.tenant_id == self.tenant_id,
                group_members.c.group_id == group_id,
                group_members.c.member_id == member_id,
            )
        )
        return result.rowcount > 0

    def list_members(self, group_id: str) -> list[tuple[str, str]]:
        q = select(group_members.c.member_id, group_members.c.member_type).where(
            group_members.c.tenant_id == self.tenant_id, group_members.c.group_id == group_id
        )
        return [(r[0], r[1]) for r in self.conn.execute(q)]

    def groups_of(self, member_ids: list[str]) -> set[str]:
        ids = [m for m in member_ids if m]
        if not ids:
            return set()
        q = select(group_members.c.group_id).where(
            group_members.c.tenant_id == self.tenant_id, group_members.c.member_id.in_(ids)
        )
        return {r[0] for r in self.conn.execute(q)}

    # devices
    def add_device(self, device: DeviceRegistration) -> None:
        self.conn.execute(
            insert(devices).values(
                tenant_id=self.tenant_id,
                id=device.id,
                display_name=device.display_name,
                operating_system=device.operating_system,
                operating_system_version=device.operating_system_version,
                trust_type=device.trust_type,
                registered_owner_id=device.registered_owner_id,
                account_enabled=device.account_enabled,
                registered_at=device.registered_at,
            )
        )

    def get_device(self, device_id: str) -> DeviceRegistration | None:
        row = (
            self.conn.execute(
                select(devices).where(
                    devices.c.tenant_id == self.tenant_id, devices.c.id == device_id
                )
            )
            .mappings()
            .first()
        )
        return _device(row) if row else None

    def list_devices(self) -> list[DeviceRegistration]:
        q = (
            select(devices)
            .where(devices.c.tenant_id == self.tenant_id)
            .order_by(devices.c.registered_at)
        )
        return [_device(r) for r in self.conn.execute(q).mappings()]

    def set_device_enabled(self, device_id: str, enabled: bool) -> bool:
        result = self.conn.execute(
            update(devices)
            .where(devices.c.tenant_id == self.tenant_id, devices.c.id == device_id)
            .values(account_enabled=enabled)
        )
        return result.rowcount > 0

    # api tokens
    def add_token(self, token: ApiToken, secret_digest: str) -> None:
        self.conn.execute(
            insert(api_tokens).values(
                tenant_id=self.tenant_id,
                id=token.id,
                name=token.name,
                role=token.role.value,
                secret_digest=secret_digest,
                created_at=token.created_at,
                revoked_at=None,
            )
        )

    def list_tokens(self) -> list[ApiToken]:
        q = (
            select(api_tokens)
            .where(api_tokens.c.tenant_id == self.tenant_id)
            .order_by(api_tokens.c.created_at)
        )
        return [_token(r) for r in self.conn.execute(q).mappings()]

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        result = self.conn.execute(
            update(api_tokens)
            .where(
                and_(
                    api_tokens.c.tenant_id == self.tenant_id,
                    api_tokens.c.id == token_id,
                    api_tokens.c.revoked_at.is_(None),
                )
            )
            .values(revoked_at=at)
        )
        return result.rowcount > 0

    # directory role assignments
    def add_role_assignment(self, assignment: RoleAssignment) -> None:
        self.conn.execute(
            insert(role_assignments).values(
                tenant_id=self.tenant_id,
                id=assignment.id,
                principal_id=assignment.principal_id,
                role_definition_id=assignment.role_definition_id,
                created_at=assignment.created_at,
            )
        )

    def list_role_assignments(self, principal_id: str | None = None) -> list[RoleAssignment]:
        q = select(role_assignments).where(role_assignments.c.tenant_id == self.tenant_id)
        if principal_id:
            q = q.where(role_assignments.c.principal_id == principal_id)
        return [
            RoleAssignment(r["id"], r["principal_id"], r["role_definition_id"], r["created_at"])
            for r in self.conn.execute(q.order_by(role_assignments.c.created_at)).mappings()
        ]

    def delete_role_assignment(self, assignment_id: str) -> bool:
        result = self.conn.execute(
            role_assignments.delete().where(
                role_assignments.c.tenant_id == self.tenant_id,
                role_assignments.c.id == assignment_id,
            )
        )
        return result.rowcount > 0

    # device CA and certificates
    def device_ca(self) -> tuple[str, str] | None:
        row = self.conn.execute(
            select(device_ca.c.cert_pem, device_ca.c.key_pem).where(
                device_ca.c.tenant_id == self.tenant_id
            )
        ).first()
        return (row[0], row[1]) if row else None

    def set_device_ca(self, cert_pem: str, key_pem: str, at: datetime) -> None:
        self.conn.execute(
            insert(device_ca).values(
                tenant_id=self.tenant_id, cert_pem=cert_pem, key_pem=key_pem, created_at=at
            )
        )

    def add_device_certificate(
        self, sha256: str, sha1: str, device_id: str, not_after: datetime, at: datetime
    ) -> None:
        self.conn.execute(
            insert(device_certificates).values(
                tenant_id=self.tenant_id,
                sha256=sha256,
                sha1=sha1,
                device_id=device_id,
                not_after=not_after,
                created_at=at,
            )
        )

    def device_for_fingerprint(self, fingerprint: str) -> tuple[str, datetime] | None:
        """(device id, not after) for a SHA-256 or SHA-1 fingerprint."""
        column = (
            device_certificates.c.sha256 if len(fingerprint) == 64 else device_certificates.c.sha1
        )
        row = self.conn.execute(
            select(device_certificates.c.device_id, device_certificates.c.not_after).where(
                device_certificates.c.tenant_id == self.tenant_id, column == fingerprint
            )
        ).first()
        return (row[0], row[1]) if row else None
