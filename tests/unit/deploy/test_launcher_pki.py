"""`make run`'s document-signing PKI: made once under .local/pki, handed to intake (the
PKCS#12 and its password) and to audit (the root to trust), kept across runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

import deploy.launcher as launcher
from deploy.launcher.pki import DOCUMENT_SIGNING

ENDPOINTS = {
    "kafka": "127.0.0.1:9092",
    "mongodb": "mongodb://127.0.0.1:27017",
    "smtp": "127.0.0.1:1025",
    "zipkin": "http://127.0.0.1:9411",
}


@pytest.fixture
def lay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> launcher.Layout:
    monkeypatch.setenv("HOSO_LOCAL_DIR", str(tmp_path))
    return launcher.layout()


def test_the_services_get_the_test_pki_and_keep_it(lay: launcher.Layout) -> None:
    first = launcher.write_service_env(lay, ENDPOINTS)
    pki = launcher.ensure_test_pki(lay.root)
    assert first["INTAKE_SIGNING_PKCS12"] == str(lay.root / "pki" / "signing.p12")
    assert first["INTAKE_SIGNING_PKCS12_PASSWORD"] == pki.password
    assert first["AUDIT_DOCUMENT_TRUST_ROOTS"] == str(lay.root / "pki" / "ca.pem")
    again = launcher.write_service_env(lay, ENDPOINTS)
    assert again == first
    assert (lay.root / "pki").stat().st_mode & 0o777 == 0o700


def test_the_signing_certificate_is_for_signing_documents_and_chains_to_the_root(
    lay: launcher.Layout,
) -> None:
    pki = launcher.ensure_test_pki(lay.root)
    bundle = pkcs12.load_pkcs12(pki.pkcs12_path.read_bytes(), pki.password.encode())
    assert bundle.key is not None
    assert bundle.cert is not None
    certificate = bundle.cert.certificate
    root = x509.load_pem_x509_certificate(pki.ca_pem.read_bytes())
    assert certificate.issuer == root.subject
    certificate.verify_directly_issued_by(root)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment  # nonRepudiation: what pyHanko's validator asks for
    assert not usage.key_cert_sign
    purposes = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert DOCUMENT_SIGNING in purposes
    assert ExtendedKeyUsageOID.SERVER_AUTH not in purposes
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_pkcs12(pki.pkcs12_path.read_bytes(), b"not the password")


def test_a_pkcs12_the_operator_chose_is_left_alone(lay: launcher.Layout) -> None:
    lay.root.mkdir(parents=True, exist_ok=True)
    (lay.root / "env").write_text(
        "INTAKE_SIGNING_PKCS12=/etc/hoso/province.p12\nINTAKE_SIGNING_PKCS12_PASSWORD=kept\n"
    )
    values = launcher.write_service_env(lay, ENDPOINTS)
    assert values["INTAKE_SIGNING_PKCS12"] == "/etc/hoso/province.p12"
    assert values["INTAKE_SIGNING_PKCS12_PASSWORD"] == "kept"
    assert "AUDIT_DOCUMENT_TRUST_ROOTS" not in values
    assert not (lay.root / "pki").exists()
