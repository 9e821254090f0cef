"""RSA key pairs for the test IdP: a key, its self-signed certificate, both as files.

pysaml2 and xmlsec1 read keys from files, so each `KeyPair` is written to a
folder as well as kept in memory.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """An RSA 2048 key and its self-signed certificate, both as PEM files too."""

    key_pem: bytes
    cert_pem: bytes
    key_file: Path
    cert_file: Path

    @classmethod
    def generate(cls, directory: Path, name: str) -> KeyPair:
        """Make a fresh key pair; write `<name>.key.pem` and `<name>.cert.pem`."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gatehouse tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"test-idp-{name}"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        directory.mkdir(parents=True, exist_ok=True)
        key_file = directory / f"{name}.key.pem"
        cert_file = directory / f"{name}.cert.pem"
        key_file.write_bytes(key_pem)
        cert_file.write_bytes(cert_pem)
        return cls(key_pem, cert_pem, key_file, cert_file)

    @property
    def cert_b64(self) -> str:
        """The certificate as one line of base64 DER (as in metadata and KeyInfo)."""
        return pem_to_b64(self.cert_pem.decode("ascii"))

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate as a `cryptography` object."""
        return x509.load_pem_x509_certificate(self.cert_pem)


def pem_to_b64(cert: str) -> str:
    """A certificate given as PEM or base64 DER, as one line of base64 DER."""
    lines = [line.strip() for line in cert.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))
