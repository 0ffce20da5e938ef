"""A simulated device: enrolls, checks in, onboards its sensor and sends telemetry over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from stockade.mdm.model import ONBOARDING_PROFILE_TYPE


class StepFailed(RuntimeError):
    """The server did not answer as the scenario expects."""


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise StepFailed(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
            f"{response.text[:500]}"
        )
    return response.json() if response.content else None


@dataclass
class SimulatedDevice:
    client: httpx.Client
    name: str
    platform: str
    os_version: str
    user_principal_name: str
    join_type: str | None = None
    managed_device_id: str = ""
    device_id: str = ""
    credential: str = ""
    sensor_credential: str = ""
    machine_id: str = ""
    profiles: list[dict[str, Any]] = field(default_factory=list)
    key_pem: str = ""
    certificate_pem: str = ""
    ca_pem: str = ""

    @property
    def os_platform(self) -> str:
        if self.platform == "windows":
            major = self.os_version.split(".")
            build = int(major[2]) if len(major) > 2 else 0
            return "Windows11" if major[0] == "11" or build >= 22000 else "Windows10"
        return {"android": "Android", "iOS": "iOS"}[self.platform]

    def enroll(self, enrollment_token: str, *, with_certificate: bool = False) -> None:
        body: dict[str, Any] = {
            "deviceName": self.name,
            "platform": self.platform,
            "osVersion": self.os_version,
            "userPrincipalName": self.user_principal_name,
        }
        if self.join_type:
            body["joinType"] = self.join_type
        if with_certificate:
            self.key_pem, body["certificateSigningRequest"] = signing_request(self.name)
        data = expect(
            self.client.post(
                "/api/enrollment/enroll",
                json=body,
                headers={"Authorization": f"Bearer {enrollment_token}"},
            ),
            201,
        )
        self.managed_device_id = data["managedDevice"]["id"]
        self.device_id = data["managedDevice"]["azureADDeviceId"]
        self.credential = data["deviceCredential"]
        self.certificate_pem = data.get("deviceCertificate", "")
        self.ca_pem = data.get("caCertificate", "")

    def check_in(self) -> dict[str, Any]:
        data = expect(
            self.client.post(
                "/api/enrollment/checkin",
                json={},
                headers={"Authorization": f"Bearer {self.credential}"},
            ),
            200,
        )
        self.profiles = data["profiles"]
        return data

    def onboard(self) -> None:
        """Apply the onboarding profile received at check-in: onboard the sensor to MTD."""
        profile = next(
            (p for p in self.profiles if p["@odata.type"] == ONBOARDING_PROFILE_TYPE), None
        )
        if profile is None:
            raise StepFailed(f"{self.name}: no onboarding profile delivered at check-in")
        blob = profile["advancedThreatProtectionOnboardingBlob"]
        data = expect(
            self.client.post(
                blob["onboardUrl"],
                json={
                    "deviceId": self.device_id,
                    "computerDnsName": self.name,
                    "osPlatform": self.os_platform,
                    "osVersion": self.os_version,
                },
                headers={"Authorization": f"Bearer {blob['onboardingCredential']}"},
            ),
            201,
        )
        self.machine_id = data["machine"]["id"]
        self.sensor_credential = data["sensorCredential"]

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = b"\n".join(orjson.dumps(e) for e in events)
        return expect(
            self.client.post(
                "/api/mtd/telemetry",
                content=body,
                headers={
                    "Authorization": f"Bearer {self.sensor_credential}",
                    "Content-Type": "application/x-ndjson",
                },
            ),
            202,
        )

    def report(self, findings: list[dict[str, Any]]) -> dict[str, Any]:
        """What the threat-defense app of a phone sends: findings, with the sensor credential."""
        return expect(
            self.client.post(
                "/api/mtd/mobileFindings",
                json={"findings": findings},
                headers={"Authorization": f"Bearer {self.sensor_credential}"},
            ),
            202,
        )

    def open_app(self, tenant: str, app: str, *, browser: bool = False) -> httpx.Response:
        """What a reverse proxy asks Stockade when this device's user opens `app`."""
        headers = {
            "X-Forwarded-User": self.user_principal_name,
            "X-Stockade-Device": self.credential,
        }
        if browser:
            headers["Accept"] = "text/html"
        return self.client.get(
            "/access/forward-auth", params={"tenant": tenant, "app": app}, headers=headers
        )


def signing_request(name: str) -> tuple[str, str]:
    """(private key PEM, CSR PEM) for a device certificate, as a device would make them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()
