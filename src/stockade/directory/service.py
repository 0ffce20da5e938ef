"""Directory use cases. Other contexts call this service, never the directory store."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from sqlalchemy.exc import IntegrityError

from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from stockade.core.events import DirectoryChanged
from stockade.core.ids import Credential, new_credential, new_id, parse_credential, secret_matches
from stockade.directory import device_ca, store
from stockade.directory.model import (
    DIRECTORY_ROLES,
    AdminPrincipal,
    ApiToken,
    DeviceRegistration,
    Group,
    Role,
    RoleAssignment,
    Tenant,
    User,
)
from stockade.directory.store import DirectoryStore
from stockade.storage.database import Database

TOKEN_PREFIX = "sat"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    credential: Credential


class DirectoryService:
    def __init__(self, db: Database, clock: Clock, bus: Bus | None = None) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus

    def _changed(self, tenant_id: str, object_id: str, change: str) -> None:
        if self.bus is not None:
            self.bus.publish(
                DirectoryChanged(
                    tenant_id=tenant_id,
                    occurred_at=self.clock.now(),
                    object_id=object_id,
                    change=change,
                )
            )

    # tenants (operator level: CLI and composition root, not the tenant API)
    def create_tenant(self, name: str, token_name: str = "bootstrap") -> tuple[Tenant, IssuedToken]:
        """A new tenant with one GlobalAdministrator token, returned once."""
        name = name.strip()
        if not name:
            raise InvalidInput("tenant name must not be empty", field="name")
        tenant = Tenant(id=new_id(), name=name, created_at=self.clock.now())
        try:
            with self.db.begin() as conn:
                store.create_tenant(conn, tenant)
                issued = self._issue(
                    DirectoryStore(conn, tenant.id), "bootstrap", Role.GLOBAL_ADMINISTRATOR
                )
        except IntegrityError as exc:
            raise Conflict(f"a tenant named {name!r} already exists") from exc
        return tenant, issued

    def find_tenant(self, name_or_id: str) -> Tenant | None:
        with self.db.read() as conn:
            return store.find_tenant(conn, name_or_id)

    def list_tenants(self) -> list[Tenant]:
        with self.db.read() as conn:
            return store.list_tenants(conn)

    # admin tokens
    def authenticate_admin(self, raw: str) -> AdminPrincipal:
        credential = parse_credential(raw, TOKEN_PREFIX)
        if credential is None:
            raise Unauthenticated("not an API token")
        with self.db.read() as conn:
            found = store.find_api_token(conn, credential.id)
        if found is None:
            raise Unauthenticated("unknown API token")
        tenant_id, token, digest_ = found
        if not secret_matches(credential, digest_):
            raise Unauthenticated("unknown API token")
        if token.revoked_at is not None:
            raise Unauthenticated("API token revoked")
        return AdminPrincipal(tenant_id=tenant_id, token_id=token.id, role=token.role)

    def issue_token(self, tenant_id: str, name: str, role: Role) -> IssuedToken:
        with self.db.begin() as conn:
            return self._issue(DirectoryStore(conn, tenant_id), name, role)

    def _issue(self, s: DirectoryStore, name: str, role: Role) -> IssuedToken:
        credential = new_credential(TOKEN_PREFIX)
        token = ApiToken(credential.id, name, role, self.clock.now(), None)
        s.add_token(token, credential.secret_digest)
        return IssuedToken(token, credential)

    def list_tokens(self, tenant_id: str) -> list[ApiToken]:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).list_tokens()

    def revoke_token(self, tenant_id: str, token_id: str) -> None:
        with self.db.begin() as conn:
            if not DirectoryStore(conn, tenant_id).revoke_token(token_id, self.clock.now()):
                raise NotFound(f"no active API token {token_id}")

    # users and groups
    def create_user(self, tenant_id: str, upn: str, display_name: str) -> User:
        upn = upn.strip().lower()
        if "@" not in upn:
            raise InvalidInput(
                "userPrincipalName must look like name@domain", field="userPrincipalName"
            )
        user = User(new_id(), upn, display_name or upn, True, self.clock.now())
        try:
            with self.db.begin() as conn:
                DirectoryStore(conn, tenant_id).add_user(user)
        except IntegrityError as exc:
            raise Conflict(f"user {upn} already exists") from exc
        self._changed(tenant_id, user.id, "user")
        return user

    def get_user(self, tenant_id: str, user_id: str) -> User:
        with self.db.read() as conn:
            user = DirectoryStore(conn, tenant_id).get_user(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return user

    def find_user(self, tenant_id: str, id_or_upn: str) -> User | None:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).find_user(id_or_upn)

    def list_users(self, tenant_id: str) -> list[User]:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).list_users()

    def create_group(self, tenant_id: str, display_name: str) -> Group:
        if not display_name.strip():
            raise InvalidInput("displayName must not be empty", field="displayName")
        group = Group(new_id(), display_name.strip(), self.clock.now())
        with self.db.begin() as conn:
            DirectoryStore(conn, tenant_id).add_group(group)
        return group

    def get_group(self, tenant_id: str, group_id: str) -> Group:
        with self.db.read() as conn:
            group = DirectoryStore(conn, tenant_id).get_group(group_id)
        if group is None:
            raise NotFound(f"no group {group_id}")
        return group

    def list_groups(self, tenant_id: str) -> list[Group]:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).list_groups()

    def add_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        with self.db.begin() as conn:
            s = DirectoryStore(conn, tenant_id)
            if s.get_group(group_id) is None:
                raise NotFound(f"no group {group_id}")
            if s.get_user(member_id) is not None:
                kind = "user"
            elif s.get_device(member_id) is not None:
                kind = "device"
            else:
                raise NotFound(f"no user or device {member_id}", field="member")
            s.add_member(group_id, member_id, kind)
        self._changed(tenant_id, member_id, "membership")

    def remove_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        with self.db.begin() as conn:
            if not DirectoryStore(conn, tenant_id).remove_member(group_id, member_id):
                raise NotFound(f"{member_id} is not a member of group {group_id}")
        self._changed(tenant_id, member_id, "membership")

    def list_members(self, tenant_id: str, group_id: str) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            s = DirectoryStore(conn, tenant_id)
            if s.get_group(group_id) is None:
                raise NotFound(f"no group {group_id}")
            return s.list_members(group_id)

    def group_ids_of(self, tenant_id: str, *member_ids: str | None) -> set[str]:
        """Groups that any of the given users/devices belong to (direct membership)."""
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).groups_of([m for m in member_ids if m])

    # device registrations
    def register_device(
        self,
        tenant_id: str,
        *,
        display_name: str,
        operating_system: str,
        operating_system_version: str,
        trust_type: str,
        owner_id: str | None,
    ) -> DeviceRegistration:
        device = DeviceRegistration(
            id=new_id(),
            display_name=display_name,
            operating_system=operating_system,
            operating_system_version=operating_system_version,
            trust_type=trust_type,
            registered_owner_id=owner_id,
            account_enabled=True,
            registered_at=self.clock.now(),
        )
        with self.db.begin() as conn:
            DirectoryStore(conn, tenant_id).add_device(device)
        return device

    def get_device(self, tenant_id: str, device_id: str) -> DeviceRegistration | None:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).get_device(device_id)

    def is_device_registered(self, tenant_id: str, device_id: str) -> bool:
        """The classic access policy's rule: registered and enabled."""
        device = self.get_device(tenant_id, device_id)
        return device is not None and device.account_enabled

    def list_devices(self, tenant_id: str) -> list[DeviceRegistration]:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).list_devices()

    def set_device_enabled(
        self, tenant_id: str, device_id: str, enabled: bool
    ) -> DeviceRegistration:
        with self.db.begin() as conn:
            s = DirectoryStore(conn, tenant_id)
            if not s.set_device_enabled(device_id, enabled):
                raise NotFound(f"no device {device_id}")
            device = s.get_device(device_id)
        assert device is not None
        self._changed(tenant_id, device_id, "device")
        return device

    # directory roles of users (Entra role assignments), used by conditional access
    def assign_role(
        self, tenant_id: str, principal_id: str, role_definition_id: str
    ) -> RoleAssignment:
        if role_definition_id not in DIRECTORY_ROLES:
            raise InvalidInput(
                f"unknown roleDefinitionId {role_definition_id!r}", field="roleDefinitionId"
            )
        self.get_user(tenant_id, principal_id)
        assignment = RoleAssignment(new_id(), principal_id, role_definition_id, self.clock.now())
        try:
            with self.db.begin() as conn:
                DirectoryStore(conn, tenant_id).add_role_assignment(assignment)
        except IntegrityError as exc:
            raise Conflict("the user already holds this role") from exc
        self._changed(tenant_id, principal_id, "role")
        return assignment

    def list_role_assignments(self, tenant_id: str) -> list[RoleAssignment]:
        with self.db.read() as conn:
            return DirectoryStore(conn, tenant_id).list_role_assignments()

    def remove_role_assignment(self, tenant_id: str, assignment_id: str) -> None:
        with self.db.begin() as conn:
            if not DirectoryStore(conn, tenant_id).delete_role_assignment(assignment_id):
                raise NotFound(f"no role assignment {assignment_id}")
        self._changed(tenant_id, assignment_id, "role")

    def role_ids_of(self, tenant_id: str, user_id: str) -> set[str]:
        with self.db.read() as conn:
            return {
                a.role_definition_id
                for a in DirectoryStore(conn, tenant_id).list_role_assignments(user_id)
            }

    # device certificates
    def device_ca_certificate(self, tenant_id: str) -> str:
        """The tenant's device CA certificate (PEM), created on first use; give it to the proxy
        that verifies client certificates (nginx `ssl_client_certificate`)."""
        with self.db.begin() as conn:
            s = DirectoryStore(conn, tenant_id)
            found = s.device_ca()
            if found is None:
                tenant = store.get_tenant(conn, tenant_id)
                cert_pem, key_pem = device_ca.new_ca(
                    tenant.name if tenant else tenant_id, self.clock.now()
                )
                s.set_device_ca(cert_pem, key_pem, self.clock.now())
                return cert_pem
            return found[0]

    def issue_device_certificate(self, tenant_id: str, device_id: str, csr_pem: str) -> str:
        self.device_ca_certificate(tenant_id)
        now = self.clock.now()
        with self.db.begin() as conn:
            s = DirectoryStore(conn, tenant_id)
            if s.get_device(device_id) is None:
                raise NotFound(f"no device {device_id}")
            ca = s.device_ca()
            assert ca is not None
            try:
                issued = device_ca.issue(ca[0], ca[1], csr_pem, device_id, now)
            except device_ca.CertificateError as exc:
                raise InvalidInput(str(exc), field="certificateSigningRequest") from None
            s.add_device_certificate(issued.sha256, issued.sha1, device_id, issued.not_after, now)
        return issued.pem

    def device_for_certificate(
        self, tenant_id: str, *, pem: str | None = None, fingerprint: str | None = None
    ) -> str | None:
        """The registered, enabled device a verified client certificate belongs to, or None.

        A PEM must have been issued by this tenant's device CA and be within its validity; a
        bare fingerprint (SHA-256, or SHA-1 as nginx's `$ssl_client_fingerprint`) is trusted
        only because the proxy verified the certificate against the tenant's CA.
        """
        now = self.clock.now()
        if pem:
            try:
                cert = device_ca.parse_presented(pem)
                with self.db.read() as conn:
                    ca = DirectoryStore(conn, tenant_id).device_ca()
                if ca is None:
                    return None
                cert.verify_directly_issued_by(
                    device_ca.x509.load_pem_x509_certificate(ca[0].encode())
                )
            except (device_ca.CertificateError, ValueError, TypeError, InvalidSignature):
                return None
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return None
            fingerprint = device_ca.fingerprint(cert, device_ca.hashes.SHA256())
        if not fingerprint:
            return None
        with self.db.read() as conn:
            found = DirectoryStore(conn, tenant_id).device_for_fingerprint(
                device_ca.normalise_fingerprint(fingerprint)
            )
        if found is None or found[1] < now:
            return None
        return found[0] if self.is_device_registered(tenant_id, found[0]) else None
