"""Directory vocabulary: roles, permissions and the records the other contexts read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Permission(StrEnum):
    """`scope:resource:action`; every route declares exactly one (or is explicitly public)."""

    DIRECTORY_READ = "directory:object:read"
    DIRECTORY_WRITE = "directory:object:write"
    TOKEN_WRITE = "directory:token:write"
    MDM_READ = "mdm:device:read"
    MDM_WRITE = "mdm:device:write"
    MDM_POLICY_WRITE = "mdm:policy:write"
    MDM_DEVICE_RETIRE = "mdm:device:retire"
    MTD_READ = "mtd:machine:read"
    MTD_ALERT_WRITE = "mtd:alert:write"
    MTD_INCIDENT_WRITE = "mtd:incident:write"
    CONNECTOR_READ = "connector:connector:read"
    CONNECTOR_WRITE = "connector:connector:write"
    ACCESS_READ = "access:policy:read"
    ACCESS_WRITE = "access:policy:write"
    SIGNIN_READ = "access:signin:read"
    ACCESS_EVALUATE = "access:decision:evaluate"
    """For identity providers asking at sign-in (a token with the AccessEvaluator role)."""
    DETECTION_READ = "detection:rule:read"
    DETECTION_WRITE = "detection:rule:write"
    VULN_READ = "vulnerability:software:read"
    VULN_WRITE = "vulnerability:catalog:write"
    REMEDIATION_WRITE = "vulnerability:remediation:write"
    MDM_TASK_WRITE = "mdm:task:write"


class Role(StrEnum):
    """Admin roles, named after the Entra built-in roles they mirror."""

    GLOBAL_ADMINISTRATOR = "GlobalAdministrator"
    SECURITY_ADMINISTRATOR = "SecurityAdministrator"
    INTUNE_ADMINISTRATOR = "IntuneAdministrator"
    CONDITIONAL_ACCESS_ADMINISTRATOR = "ConditionalAccessAdministrator"
    GLOBAL_READER = "GlobalReader"
    ACCESS_EVALUATOR = "AccessEvaluator"
    """A service role for identity providers: may ask for decisions, nothing else."""


_READ = {
    Permission.DIRECTORY_READ,
    Permission.MDM_READ,
    Permission.MTD_READ,
    Permission.CONNECTOR_READ,
    Permission.ACCESS_READ,
    Permission.SIGNIN_READ,
    Permission.DETECTION_READ,
    Permission.VULN_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.GLOBAL_ADMINISTRATOR: frozenset(Permission),
    Role.SECURITY_ADMINISTRATOR: frozenset(
        _READ
        | {
            Permission.MTD_ALERT_WRITE,
            Permission.MTD_INCIDENT_WRITE,
            Permission.CONNECTOR_WRITE,
            Permission.DETECTION_WRITE,
            Permission.VULN_WRITE,
            Permission.REMEDIATION_WRITE,
        }
    ),
    Role.INTUNE_ADMINISTRATOR: frozenset(
        _READ
        | {
            Permission.MDM_WRITE,
            Permission.MDM_POLICY_WRITE,
            Permission.MDM_DEVICE_RETIRE,
            Permission.CONNECTOR_WRITE,
            Permission.DIRECTORY_WRITE,
            Permission.MDM_TASK_WRITE,
        }
    ),
    Role.CONDITIONAL_ACCESS_ADMINISTRATOR: frozenset(_READ | {Permission.ACCESS_WRITE}),
    Role.GLOBAL_READER: frozenset(_READ),
    Role.ACCESS_EVALUATOR: frozenset({Permission.ACCESS_EVALUATE}),
}


DIRECTORY_ROLES: dict[str, str] = {
    # Entra built-in role template ids, so imported policies' includeRoles keep their meaning
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
}


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    principal_id: str
    role_definition_id: str
    created_at: datetime


@dataclass(frozen=True)
class AdminPrincipal:
    """Who is calling the admin API."""

    tenant_id: str
    token_id: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: str
    user_principal_name: str
    display_name: str
    account_enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Group:
    id: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True)
class DeviceRegistration:
    """A device registered in the directory (Entra `device`); `id` is its device id."""

    id: str
    display_name: str
    operating_system: str
    operating_system_version: str
    trust_type: str
    """`AzureAd` (joined), `ServerAd` (hybrid-joined) or `Workplace` (registered)."""
    registered_owner_id: str | None
    account_enabled: bool
    registered_at: datetime


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
