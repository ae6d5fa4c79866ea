"""The docker-compose deployment's secrets, inside the services' image: ``keygen`` makes
them, ``check`` refuses to let the platform start without them.

    docker compose run --rm keygen                                # prints NAME=value lines
    docker compose run --rm -T keygen --fill < .env > .env.new    # the same .env, blanks filled
    python keygen.py check                                        # docker-compose's preflight

``--fill`` copies its input line by line and gives a value only to the secrets that are
blank or missing, so running it again never replaces a key already in use (a new
follow-up key would invalidate every citizen's follow-up secret, a new PII key would
leave personal data in the audit log unreadable).

Only the standard library and ``cryptography`` (a dependency of the services): the host
needs nothing but Docker.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _password() -> str:
    # URL-safe characters only: the store passwords go into mongodb:// URIs unescaped.
    return secrets.token_urlsafe(32)


def _fernet() -> str:
    return Fernet.generate_key().decode("ascii")


def _ed25519_seed() -> str:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode("ascii")


# Every secret the deployment makes itself, in .env.example's order.
GENERATED: dict[str, Callable[[], str]] = {
    "MONGO_ROOT_PASSWORD": _password,
    "AUDIT_DB_PASSWORD": _password,
    "INTAKE_DB_PASSWORD": _password,
    "PROCESSING_DB_PASSWORD": _password,
    "NOTIFICATION_DB_PASSWORD": _password,
    "INTAKE_IDENTITY_KEY": _fernet,
    "INTAKE_FOLLOW_UP_KEY": _password,
    "PROCESSING_SEARCH_KEY": _password,
    "AUDIT_SIGNING_KEY": _ed25519_seed,
    "AUDIT_PII_KEY": _fernet,
    "NOTIFICATION_DELIVERY_KEY_PEPPER": _password,
    "NOTIFICATION_WEBHOOK_SECRETS": _password,
    "WORKBENCH_SESSION_KEY": _fernet,
    "GRAFANA_ADMIN_PASSWORD": _password,
}

# What the platform must not start without: the generated secrets but the webhook's
# (which the notification service itself demands once a portal URL is set), and the
# settings that have no safe default.
REQUIRED = (
    *(name for name in GENERATED if name != "NOTIFICATION_WEBHOOK_SECRETS"),
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "NOTIFICATION_LOOKUP_URL",
    "NOTIFICATION_MAIL_FROM",
    # Without a key no result document is signed (the approvals wait dead-lettered).
    "INTAKE_SIGNING_PKCS12_PASSWORD",
    "WORKBENCH_IDP_URL",
)

_URI_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
_LINE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def _public_key_of(seed_b64: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64, validate=True))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _auditors_note(seed_b64: str) -> str:
    return (
        "# Auditors verify checkpoints with this public key (raw base64, for\n"
        "# `python -m audit.cli verify --public-key FILE`): "
        f"{_public_key_of(seed_b64)}"
    )


def fill(lines: Iterable[str]) -> list[str]:
    """The lines of an env file with every blank or missing generated secret given a
    value; every other line as it was."""
    out: list[str] = []
    seen: set[str] = set()
    new_signing_key: str | None = None
    for line in lines:
        text = line.rstrip("\n")
        match = _LINE.match(text)
        if match and match["name"] in GENERATED:
            name = match["name"]
            seen.add(name)
            if not match["value"].strip():
                value = GENERATED[name]()
                text = f"{name}={value}"
                if name == "AUDIT_SIGNING_KEY":
                    new_signing_key = value
        out.append(text)
    for name, make in GENERATED.items():
        if name not in seen:
            value = make()
            out.append(f"{name}={value}")
            if name == "AUDIT_SIGNING_KEY":
                new_signing_key = value
    if new_signing_key is not None:
        out.append(_auditors_note(new_signing_key))
    return out


def generate() -> list[str]:
    """A fresh value for every generated secret, as env file lines."""
    return fill([])


def problems(env: dict[str, str]) -> list[str]:
    """What is wrong with the deployment's secrets and required settings, one line each."""
    found = [f"{name} is not set" for name in REQUIRED if not env.get(name, "").strip()]
    for name in ("MONGO_ROOT_PASSWORD", *(n for n in GENERATED if n.endswith("_DB_PASSWORD"))):
        value = env.get(name, "")
        if value and not _URI_SAFE.fullmatch(value):
            found.append(f"{name} may hold only letters, digits and . _ ~ - (it goes into a URI)")
    for name in ("INTAKE_IDENTITY_KEY", "AUDIT_PII_KEY", "WORKBENCH_SESSION_KEY"):
        for key in filter(None, (k.strip() for k in env.get(name, "").split(","))):
            try:
                Fernet(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                found.append(f"{name} is not a Fernet key (32 url-safe base64-encoded bytes)")
    follow_up = env.get("INTAKE_FOLLOW_UP_KEY", "")
    if follow_up and len(follow_up.encode("utf-8")) < 16:
        found.append("INTAKE_FOLLOW_UP_KEY must be at least 16 bytes")
    signing = env.get("AUDIT_SIGNING_KEY", "").strip()
    if signing and not signing.startswith("-----BEGIN"):
        try:
            _public_key_of(signing)
        except ValueError:
            found.append("AUDIT_SIGNING_KEY is neither PEM nor the base64 of a 32-byte seed")
    if env.get("GRAFANA_ADMIN_PASSWORD", "") == "admin":
        found.append("GRAFANA_ADMIN_PASSWORD must not be Grafana's default")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keygen", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="print a value for every generated secret")
    keygen.add_argument(
        "--fill", action="store_true", help="read an env file, print it with blanks filled"
    )
    commands.add_parser("check", help="fail, naming them, if secrets are missing or malformed")
    args = parser.parse_args(argv)

    if args.command == "keygen":
        lines = fill(sys.stdin) if args.fill else generate()
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    found = problems(dict(os.environ))
    for line in found:
        print(f"preflight: {line}", file=sys.stderr)
    if found:
        print(
            "preflight: fill in .env (docker compose run --rm -T keygen --fill < .env > "
            ".env.new && mv .env.new .env) and start again",
            file=sys.stderr,
        )
        return 1
    print("preflight: secrets and required settings present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
