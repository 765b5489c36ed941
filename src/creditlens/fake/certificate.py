"""The emulator's self-signed TLS certificate: its own CA, so the PEM works as a CA bundle."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

CERT_NAME, KEY_NAME = "creditlens-emulator-cert.pem", "creditlens-emulator-key.pem"


def make_certificate(
    cert_dir: Path,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> tuple[Path, Path]:
    """A self-signed certificate for ``hosts`` (DNS and IP SANs), reused if still valid for 30 days.

    It is its own CA (basicConstraints CA:TRUE), so the PEM works as a CA bundle for ``requests``,
    ``arcgis`` (``ca_bundles=``) and ``REQUESTS_CA_BUNDLE``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = cert_dir / CERT_NAME, cert_dir / KEY_NAME
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            sans = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
            names |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
            if set(hosts) <= names and existing.not_valid_after_utc > now + dt.timedelta(days=30):
                return cert_path, key_path
        except Exception:
            pass  # unreadable or foreign files: make new ones
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Credit Lens portal emulator"),
        ]
    )
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            alt_names.append(x509.DNSName(host))  # some clients match IPs against DNS names
        except ValueError:
            alt_names.append(x509.DNSName(host))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
