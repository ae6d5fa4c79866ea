from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from audit.domain.canonical import canonical_json
from audit.domain.checkpoint import (
    Checkpoint,
    checkpoint_message,
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_to_base64,
    private_key_to_pem,
    public_key_to_base64,
    public_key_to_pem,
    sign_checkpoint,
    verify_checkpoint,
)
from audit.domain.export import (
    MalformedCheckpointError,
    checkpoint_to_line,
    iter_checkpoints,
    parse_checkpoint,
)
from audit.domain.merkle import EMPTY_ROOT

FIELDS = {
    "log_id": "hoso-audit",
    "tree_size": 1200,
    "root_hash": "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    "last_entry_hash": "ab" * 32,
    "issued_at": "2024-05-01T09:00:00Z",
}


def signed(key: Ed25519PrivateKey) -> Checkpoint:
    return sign_checkpoint(key, **FIELDS)


def test_signature_covers_canonical_json_of_the_five_fields(signing_key: Ed25519PrivateKey) -> None:
    checkpoint = signed(signing_key)
    message = checkpoint_message(**FIELDS)
    assert message == canonical_json(FIELDS)
    assert message.startswith(b'{"issued_at":"2024-05-01T09:00:00Z","last_entry_hash":')
    assert checkpoint.message() == message
    signature = base64.b64decode(checkpoint.signature, validate=True)
    signing_key.public_key().verify(signature, message)  # raises if wrong
    assert verify_checkpoint(checkpoint, signing_key.public_key())


def test_key_id_is_sha256_of_raw_public_key(signing_key: Ed25519PrivateKey) -> None:
    public = signing_key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(public) == hashlib.sha256(raw).hexdigest()[:16]
    assert signed(signing_key).key_id == key_id(public)


def test_root_hash_may_be_given_as_bytes(signing_key: Ed25519PrivateKey) -> None:
    checkpoint = sign_checkpoint(signing_key, **{**FIELDS, "tree_size": 0, "root_hash": EMPTY_ROOT})
    assert checkpoint.root_hash == EMPTY_ROOT.hex()
    assert verify_checkpoint(checkpoint, signing_key.public_key())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_id", "another-log"),
        ("tree_size", 1201),
        ("root_hash", "00" * 32),
        ("last_entry_hash", "cd" * 32),
        ("issued_at", "2024-05-01T09:00:01Z"),
    ],
)
def test_any_edited_field_invalidates_the_signature(
    signing_key: Ed25519PrivateKey, field: str, value: object
) -> None:
    tampered = signed(signing_key).model_copy(update={field: value})
    assert not verify_checkpoint(tampered, signing_key.public_key())


def test_damaged_or_foreign_signatures_fail(signing_key: Ed25519PrivateKey) -> None:
    checkpoint = signed(signing_key)
    public = signing_key.public_key()
    raw = bytearray(base64.b64decode(checkpoint.signature))
    raw[10] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()
    assert not verify_checkpoint(checkpoint.model_copy(update={"signature": flipped}), public)
    assert not verify_checkpoint(checkpoint.model_copy(update={"signature": "not base64!"}), public)
    short = base64.b64encode(b"x" * 10).decode()
    assert not verify_checkpoint(checkpoint.model_copy(update={"signature": short}), public)

    other = generate_private_key()
    assert not verify_checkpoint(checkpoint, other.public_key())
    # A checkpoint signed by another key but labelled with ours is still rejected.
    forged = signed(other).model_copy(update={"key_id": checkpoint.key_id})
    assert not verify_checkpoint(forged, public)


def test_pem_round_trip(signing_key: Ed25519PrivateKey) -> None:
    pem = private_key_to_pem(signing_key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(pem)
    assert key_id(loaded.public_key()) == key_id(signing_key.public_key())
    assert verify_checkpoint(signed(loaded), signing_key.public_key())

    public_pem = public_key_to_pem(signing_key.public_key())
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert key_id(load_public_key(public_pem.decode())) == key_id(signing_key.public_key())


def test_encrypted_pem(signing_key: Ed25519PrivateKey) -> None:
    pem = private_key_to_pem(signing_key, password=b"correct horse")
    assert b"ENCRYPTED" in pem
    loaded = load_private_key(pem, password=b"correct horse")
    assert key_id(loaded.public_key()) == key_id(signing_key.public_key())
    with pytest.raises((TypeError, ValueError)):
        load_private_key(pem)


def test_raw_base64_round_trip(signing_key: Ed25519PrivateKey) -> None:
    private_b64 = private_key_to_base64(signing_key)
    public_b64 = public_key_to_base64(signing_key.public_key())
    assert len(base64.b64decode(private_b64)) == 32
    assert len(base64.b64decode(public_b64)) == 32
    loaded = load_private_key(f"{private_b64}\n")
    assert verify_checkpoint(signed(loaded), load_public_key(public_b64))


@pytest.mark.parametrize(
    "data", ["", "not a key", base64.b64encode(b"x" * 31).decode(), b"\xff\xfe"]
)
def test_unusable_key_material(data: str | bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- message depends on the defect
        load_public_key(data)
    with pytest.raises(ValueError):  # noqa: PT011
        load_private_key(data)


def test_keys_of_another_algorithm_are_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_private_key(private_pem)
    with pytest.raises(ValueError, match="Ed25519"):
        load_public_key(public_pem)


def test_ndjson_round_trip(signing_key: Ed25519PrivateKey) -> None:
    checkpoint = signed(signing_key)
    line = checkpoint_to_line(checkpoint)
    assert "\n" not in line
    assert json.loads(line)["tree_size"] == 1200
    assert parse_checkpoint(line) == checkpoint
    assert list(iter_checkpoints([line + "\n", "\n", line])) == [checkpoint, checkpoint]


def test_malformed_checkpoint_lines(signing_key: Ed25519PrivateKey) -> None:
    good = checkpoint_to_line(signed(signing_key))
    extra = json.dumps({**json.loads(good), "comment": "unsigned"})
    for bad in ["{", extra, good.replace('"tree_size":1200', '"tree_size":"1200"')]:
        with pytest.raises(MalformedCheckpointError, match="line 2"):
            list(iter_checkpoints([good, bad]))


def test_checkpoint_fields_are_validated(signing_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValidationError):
        sign_checkpoint(signing_key, **{**FIELDS, "tree_size": -1})
    with pytest.raises(ValidationError):
        sign_checkpoint(signing_key, **{**FIELDS, "root_hash": "xyz"})
    with pytest.raises(ValidationError):
        sign_checkpoint(signing_key, **{**FIELDS, "issued_at": "2024-05-01 09:00"})
