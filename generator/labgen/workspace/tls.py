"""The server's TLS certificate: the teacher's own (--cert/--key), or one made here.

A made certificate is self-signed, for the names and addresses students will type, and
kept in the class folder's secrets/ (mode 0600) so that it stays the same across
restarts and students accept it once. Its SHA-256 fingerprint is printed for them to
compare."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labgen.atomic import write_text_atomic
from labgen.errors import UsageError

CERT_FILE = "secrets/serve.crt"
KEY_FILE = "secrets/serve.key"


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _covers(cert: x509.Certificate, names: Sequence[str]) -> bool:
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(n) for n in alt.get_values_for_type(x509.DNSName)}
    have |= {str(n) for n in alt.get_values_for_type(x509.IPAddress)}
    expires = cert.not_valid_after_utc
    fresh = expires > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)
    return fresh and set(names) <= have


def self_signed(folder: Path, names: Sequence[str]) -> tuple[Path, Path]:
    """The class's certificate for `names`, made (or made again) when the kept one does not
    cover them or expires within a week."""
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        kept = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if _covers(kept, names):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    _write_private(key_path, pem_key)
    write_text_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    return cert_path, key_path


def _write_private(path: Path, text: str) -> None:
    """Write a key file that is 0600 from its first byte (temp + rename)."""
    temp = path.with_name(f".{path.name}.tmp")
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="ascii") as file:
        file.write(text)
    os.replace(temp, path)


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(
            f"{cert_path}: cannot use this certificate and key ({error}); give a PEM "
            "certificate with --cert and its unencrypted PEM key with --key"
        ) from None
    return context
