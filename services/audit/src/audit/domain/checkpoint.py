"""Signed checkpoints: the audit service's statement "the log had N entries with this root".

A checkpoint signs, with Ed25519, the canonical JSON (``audit.domain.canonical``) of exactly
these fields::

    {"issued_at", "last_entry_hash", "log_id", "root_hash", "tree_size"}

``root_hash`` is the RFC 9162 Merkle root over the first ``tree_size`` audit entries and
``last_entry_hash`` is the ``entry_hash`` of entry ``tree_size`` (64 zeros for an empty log),
both as lowercase hex. ``key_id`` (first 16 hex characters of SHA-256 over the raw 32-byte
public key) and the base64 ``signature`` travel alongside but are not signed: the key id only
helps pick the right key when keys rotate. The signing key must be dedicated to checkpoints
so no other message signed with it can pass for one.

Export format: one checkpoint per line of an NDJSON file, each line
``Checkpoint.model_dump_json()`` (see ``audit.domain.export``).

Generating the signing key
--------------------------
``python -m audit.cli keygen --out DIR`` writes ``DIR/audit-checkpoint-key.pem`` (PKCS#8,
mode 0600) and ``DIR/audit-checkpoint-key.pub.pem``; ``openssl genpkey -algorithm ed25519``
produces an equivalent private key. The service reads the private key from its settings either
as that PEM text or as the base64 of the raw 32-byte seed (``private_key_to_base64``).
Auditors only ever receive the public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from audit.domain.canonical import canonical_json
from audit.domain.chain import HexHash, IsoTimestamp

__all__ = [
    "Checkpoint",
    "checkpoint_message",
    "generate_private_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "private_key_to_base64",
    "private_key_to_pem",
    "public_key_to_base64",
    "public_key_to_pem",
    "sign_checkpoint",
    "verify_checkpoint",
]

KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]

_RAW_KEY_SIZE = 32
_SIGNATURE_SIZE = 64


class Checkpoint(BaseModel):
    """A signed tree head of the audit log."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    log_id: str = Field(min_length=1)
    tree_size: int = Field(ge=0)
    root_hash: HexHash
    last_entry_hash: HexHash
    issued_at: IsoTimestamp
    key_id: KeyId
    signature: str = Field(min_length=1)

    def message(self) -> bytes:
        """The exact bytes the signature covers."""
        return checkpoint_message(
            log_id=self.log_id,
            tree_size=self.tree_size,
            root_hash=self.root_hash,
            last_entry_hash=self.last_entry_hash,
            issued_at=self.issued_at,
        )


def checkpoint_message(
    *, log_id: str, tree_size: int, root_hash: str, last_entry_hash: str, issued_at: str
) -> bytes:
    """Canonical JSON of the signed checkpoint fields."""
    return canonical_json(
        {
            "log_id": log_id,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "last_entry_hash": last_entry_hash,
            "issued_at": issued_at,
        }
    )


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short identifier of a checkpoint key: SHA-256 of the raw public key, first 16 hex."""
    return hashlib.sha256(_raw_public_bytes(public_key)).hexdigest()[:16]


def _as_hex(value: str | bytes) -> str:
    return value.hex() if isinstance(value, bytes) else value


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    *,
    log_id: str,
    tree_size: int,
    root_hash: str | bytes,
    last_entry_hash: str,
    issued_at: str,
) -> Checkpoint:
    """Sign a checkpoint; ``root_hash`` may be the raw Merkle root or its hex form."""
    root_hex = _as_hex(root_hash)
    message = checkpoint_message(
        log_id=log_id,
        tree_size=tree_size,
        root_hash=root_hex,
        last_entry_hash=last_entry_hash,
        issued_at=issued_at,
    )
    return Checkpoint(
        log_id=log_id,
        tree_size=tree_size,
        root_hash=root_hex,
        last_entry_hash=last_entry_hash,
        issued_at=issued_at,
        key_id=key_id(private_key.public_key()),
        signature=base64.b64encode(private_key.sign(message)).decode("ascii"),
    )


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True when ``checkpoint`` was signed by the private half of ``public_key``."""
    if checkpoint.key_id != key_id(public_key):
        return False
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != _SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, checkpoint.message())
    except InvalidSignature:
        return False
    return True


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(private_key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with ``password`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the form handed to auditors."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_to_base64(private_key: Ed25519PrivateKey) -> str:
    """Base64 of the raw 32-byte seed, for settings that hold the key as one line."""
    raw = private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode("ascii")


def public_key_to_base64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public_bytes(public_key)).decode("ascii")


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _decode_raw(data: bytes, what: str) -> bytes:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is neither PEM nor base64") from None
    if len(raw) != _RAW_KEY_SIZE:
        raise ValueError(f"{what} must be {_RAW_KEY_SIZE} raw bytes, got {len(raw)}")
    return raw


def load_private_key(data: str | bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from PKCS#8 PEM or from base64 of the raw 32-byte seed."""
    blob = data.encode("ascii") if isinstance(data, str) else data
    if _is_pem(blob):
        key = serialization.load_pem_private_key(blob, password=password)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM key is not an Ed25519 private key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_decode_raw(blob, "private key"))


def load_public_key(data: str | bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM or from base64 of the raw 32 bytes."""
    blob = data.encode("ascii") if isinstance(data, str) else data
    if _is_pem(blob):
        key = serialization.load_pem_public_key(blob)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(_decode_raw(blob, "public key"))
