"""Device certificates: each tenant's device CA signs a certificate for a device at enrollment.

A reverse proxy that verifies client certificates against the tenant's CA (nginx
`ssl_verify_client`) passes the verified certificate on, and forward auth identifies the device
by its fingerprint. Pure apart from key generation: PEM in, PEM out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class CertificateError(ValueError):
    """A signing request or certificate that cannot be used."""


@dataclass(frozen=True)
class IssuedCertificate:
    pem: str
    sha256: str
    sha1: str
    not_after: datetime


def new_ca(tenant_name: str, now: datetime) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a new device CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Stockade device CA {tenant_name}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def issue(
    ca_cert_pem: str, ca_key_pem: str, csr_pem: str, device_id: str, now: datetime
) -> IssuedCertificate:
    """Sign a device's CSR for one year; the subject is the device id whatever the CSR says."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate signing request: {exc}") from None
    if not csr.is_signature_valid:
        raise CertificateError("the signing request's signature does not verify")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return IssuedCertificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        sha256=fingerprint(cert, hashes.SHA256()),
        sha1=fingerprint(cert, hashes.SHA1()),
        not_after=cert.not_valid_after_utc,
    )


def fingerprint(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    return cert.fingerprint(algorithm).hex()


def parse_presented(pem_or_escaped: str) -> x509.Certificate:
    """The certificate as a proxy passes it (nginx `$ssl_client_escaped_cert` is URL-escaped)."""
    text = unquote(pem_or_escaped) if "%" in pem_or_escaped else pem_or_escaped
    try:
        return x509.load_pem_x509_certificate(text.encode())
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None


def normalise_fingerprint(raw: str) -> str:
    return raw.replace(":", "").strip().lower()


def signing_request_ok(csr_pem: str) -> bool:
    try:
        return x509.load_pem_x509_csr(csr_pem.encode()).is_signature_valid
    except ValueError:
        return False
