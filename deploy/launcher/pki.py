"""The local test PKI: a root CA and the department's document-signing certificate.

Issued results are signed PAdES by intake with a certificate the province's CA issues in
production (a PKCS#12 file and its password are settings). Locally nobody has one, so the
launcher makes a stand-in once under ``.local/pki/`` and keeps it across runs: a
self-signed root, and a signing certificate it issued, written as PKCS#12 with a random
password beside it (both 0600). Audit trusts the root (``ca.pem``) when it verifies a
document; tests sign with the same files.

Nothing here is fit for production: the root's key sits next to it, unencrypted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# RFC 9336 id-kp-documentSigning: says what the key is for; pyHanko's validator asks only
# for nonRepudiation by default, and a verifier that asks for this purpose finds it.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SIGNER_NAME = "So Tai nguyen va Moi truong (test)"
_VALID_FOR = dt.timedelta(days=3650)
_lock = threading.Lock()


@dataclass(frozen=True)
class TestPki:
    """Where the local PKI's files are. ``ca_pem`` is the trust root for verifiers;
    ``pkcs12_path`` + ``password`` are what a signer loads."""

    __test__ = False  # a name pytest would otherwise collect

    ca_pem: Path
    pkcs12_path: Path
    password: str

    @property
    def password_path(self) -> Path:
        return self.pkcs12_path.with_suffix(".password")


def _write_private(path: Path, data: bytes) -> None:
    """Written under another name with 0600 from the start, then renamed: never readable
    by others, never half-written."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hoso local test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make(directory: Path) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # clocks of other processes
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("hoso test root CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALID_FOR)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(SIGNER_NAME))
        .issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    bundle = pkcs12.serialize_key_and_certificates(
        b"document-signing",
        signer_key,
        signer_cert,
        [ca_cert],
        serialization.BestAvailableEncryption(password.encode()),
    )
    ca_key_pem = ca_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(directory / "ca.key", ca_key_pem)
    _write_private(directory / "signing.password", password.encode())
    _write_private(directory / "signing.p12", bundle)
    # Last: its presence says the rest is complete.
    _write_private(directory / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One maker at a time, across threads and processes (the launcher and a test
    session may both arrive first)."""
    with _lock, open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_test_pki(root: Path) -> TestPki:
    """The test PKI under ``root/pki`` (``root`` is ``.local``), made on the first call
    and reused after: signatures made earlier stay verifiable."""
    directory = root / "pki"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    with _exclusive(directory):
        complete = all(
            (directory / name).is_file() for name in ("ca.pem", "signing.p12", "signing.password")
        )
        if not complete:
            _make(directory)
    return TestPki(
        ca_pem=directory / "ca.pem",
        pkcs12_path=directory / "signing.p12",
        password=(directory / "signing.password").read_text().strip(),
    )


def sign_pdf(pki: TestPki, pdf: bytes, *, reason: str = "Kết quả giải quyết hồ sơ") -> bytes:
    """``pdf`` signed PAdES with the test PKI's certificate: what tests and benchmarks use
    in place of an issued result. (pyHanko is imported here, not by the launcher.)"""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    signer = signers.SimpleSigner.load_pkcs12(  # type: ignore[no-untyped-call]
        pki.pkcs12_path, passphrase=pki.password.encode()
    )
    if signer is None:
        raise ValueError(f"{pki.pkcs12_path} holds no usable key")
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(
            field_name="Signature1", reason=reason, subfilter=SigSeedSubFilter.PADES
        ),
        signer=signer,
        output=out,
    )
    return out.getvalue()
