"""A small OpenID-style identity provider for local development and tests.

It stands in for the province's identity provider: the services trust its public keys
(``JWT_JWKS_URL``) and nothing else. Its signing keys are Ed25519, kept only in its state
directory (``.local/idp/`` under the launcher, mode 0700, files 0600), read by this
process alone.

* ``GET /.well-known/openid-configuration`` - issuer, ``jwks_uri``, ``token_endpoint``;
* ``GET /.well-known/jwks.json`` - the current public key and the previous ones still in
  their grace period after a rotation;
* ``POST /token`` - OAuth 2.0 client credentials (RFC 6749 §4.4): the client's id and
  secret in HTTP Basic auth, form fields ``grant_type=client_credentials`` and, optional,
  ``role`` and ``scope`` (space-separated), ``agency``, ``sub`` and ``expires_in``. Each
  client may have only the roles, agency and scopes ``clients.json`` grants it; the
  ``developer`` client may ask for any (``hoso-token`` uses it);
* ``POST /rotate`` - the developer client only: a new current key, the old one published
  for ``grace_s`` more seconds (form field, default ``--grace-s``) and then dropped.

State directory: ``keys.json`` (private keys), ``clients.json`` (clients and the SHA-256
of their secrets) and one credentials file per client (``developer.json``,
``status.json``, ``screenshot.json``: token endpoint, id, secret), all made on first start.

Run: ``python deploy/idp/server.py serve --dir DIR [--host H] [--port P]``;
``python deploy/idp/server.py rotate --dir DIR [--grace-s S]`` rotates without the server
(a running server picks the change up at its next request).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger("idp")

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".local" / "idp"
DEFAULT_TTL_S = 15 * 60
MAX_TTL_S = 60 * 60
DEFAULT_GRACE_S = 60 * 60  # at least the longest lifetime, so no valid token is orphaned
AUDIENCE = "hoso"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$")
_MAX_BODY = 16 * 1024

# The clients made on first start. Only "developer" may ask for anything.
DEFAULT_CLIENTS: dict[str, dict[str, Any]] = {
    "developer": {"any": True, "credentials": "developer.json"},
    "hoso-status": {"roles": ["auditor"], "credentials": "status.json"},
    "hoso-screenshot": {"roles": ["portal"], "credentials": "screenshot.json"},
}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _now() -> float:
    return time.time()


def _write_private(path: Path, document: Any) -> None:
    """Atomically, created 0600 from the start: never readable by anyone else."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # The server and a `rotate` command may both rewrite keys.json.
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- keys


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created_at: float
    drop_at: float | None = None  # set when a newer key replaced this one

    @classmethod
    def generate(cls) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(_thumbprint(private), private, _now())

    def public_jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(raw),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def to_record(self) -> dict[str, Any]:
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "kid": self.kid,
            "created_at": self.created_at,
            "drop_at": self.drop_at,
            "private_pem": pem.decode(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SigningKey:
        private = serialization.load_pem_private_key(record["private_pem"].encode(), None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"key {record['kid']} is not Ed25519")
        return cls(record["kid"], private, float(record["created_at"]), record.get("drop_at"))


def _thumbprint(private: Ed25519PrivateKey) -> str:
    """RFC 7638 JWK thumbprint of the public key."""
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"))
    return _b64url(hashlib.sha256(members.encode()).digest())


class KeyRing:
    """``keys.json``: the current key (no ``drop_at``) first, then retired ones until their
    ``drop_at``. Re-read when the file changes, so `rotate` needs no restart."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "keys.json"
        self.directory = directory
        self._keys: list[SigningKey] = []
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        st = self.path.stat()
        signature = (st.st_mtime_ns, st.st_ino)
        if signature != self._seen:
            records = json.loads(self.path.read_text())["keys"]
            self._keys = [SigningKey.from_record(r) for r in records]
            self._seen = signature

    def _save(self, keys: list[SigningKey]) -> None:
        _write_private(self.path, {"keys": [k.to_record() for k in keys]})
        self._keys = keys
        self._seen = None

    def ensure(self) -> None:
        with self._lock, _locked(self.directory):
            if not self.path.exists():
                self._save([SigningKey.generate()])

    def published(self) -> list[SigningKey]:
        """Current first; drops (from memory and disk) what is past its grace period."""
        with self._lock:
            self._load()
            now = _now()
            if any(k.drop_at is not None and k.drop_at <= now for k in self._keys):
                with _locked(self.directory):
                    self._seen = None
                    self._load()
                    kept = [k for k in self._keys if k.drop_at is None or k.drop_at > now]
                    dropped = {k.kid for k in self._keys} - {k.kid for k in kept}
                    self._save(kept)
                log.info("dropped retired signing key(s) %s", ", ".join(sorted(dropped)))
            return list(self._keys)

    def current(self) -> SigningKey:
        return next(k for k in self.published() if k.drop_at is None)

    def rotate(self, grace_s: float) -> tuple[SigningKey, list[SigningKey]]:
        with self._lock, _locked(self.directory):
            self._seen = None
            self._load()
            now = _now()
            new = SigningKey.generate()
            kept = []
            for key in self._keys:
                if key.drop_at is None:
                    key.drop_at = now + grace_s
                if key.drop_at > now:
                    kept.append(key)
            self._save([new, *kept])
            return new, kept


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Client:
    client_id: str
    secret_sha256: str
    any: bool = False
    roles: tuple[str, ...] = ()
    agency: str | None = None
    scopes: tuple[str, ...] = ()

    def authenticates(self, secret: str) -> bool:
        offered = hashlib.sha256(secret.encode()).hexdigest()
        return hmac.compare_digest(offered, self.secret_sha256)


class TokenError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, status: HTTPStatus, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def ensure_clients(directory: Path, token_endpoint: str) -> dict[str, Client]:
    """Load ``clients.json``, making the default clients (and their credential files) on
    first start; credential files get the current token endpoint."""
    path = directory / "clients.json"
    with _locked(directory):
        registry: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        changed = False
        for client_id, spec in DEFAULT_CLIENTS.items():
            credentials = directory / spec["credentials"]
            if client_id in registry and credentials.exists():
                stored = json.loads(credentials.read_text())
                if stored.get("token_endpoint") != token_endpoint:
                    _write_private(credentials, stored | {"token_endpoint": token_endpoint})
                continue
            secret = secrets.token_urlsafe(32)
            grant = {k: v for k, v in spec.items() if k != "credentials"}
            registry[client_id] = grant | {
                "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()
            }
            document = {
                "token_endpoint": token_endpoint,
                "client_id": client_id,
                "client_secret": secret,
            }
            _write_private(credentials, document)
            changed = True
        if changed or not path.exists():
            _write_private(path, registry)
    return {
        client_id: Client(
            client_id,
            spec["secret_sha256"],
            any=bool(spec.get("any")),
            roles=tuple(spec.get("roles", ())),
            agency=spec.get("agency"),
            scopes=tuple(spec.get("scopes", ())),
        )
        for client_id, spec in registry.items()
    }


def _words(value: str | None, what: str) -> list[str]:
    words = (value or "").split()
    for word in words:
        if not _NAME.match(word):
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", f"malformed {what}")
    return words


def grant(client: Client, form: dict[str, str]) -> dict[str, Any]:
    """The claims ``client`` gets for ``form``, or a :class:`TokenError`."""
    if form.get("grant_type") != "client_credentials":
        raise TokenError(
            HTTPStatus.BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        )
    roles = _words(form.get("role"), "role")
    scopes = _words(form.get("scope"), "scope")
    agency = form.get("agency") or None
    subject = form.get("sub") or None
    if agency is not None and not _NAME.match(agency):
        raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "malformed agency")
    if client.any:
        subject = subject or client.client_id
        if subject and not _NAME.match(subject):
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "malformed sub")
    else:
        if subject not in (None, client.client_id):
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "invalid_request", "this client cannot choose its subject"
            )
        subject = client.client_id
        refused = sorted(set(roles) - set(client.roles))
        if refused:
            raise TokenError(
                HTTPStatus.BAD_REQUEST,
                "invalid_scope",
                f"this client may not have the role(s) {', '.join(refused)}",
            )
        refused = sorted(set(scopes) - set(client.scopes))
        if refused:
            raise TokenError(
                HTTPStatus.BAD_REQUEST,
                "invalid_scope",
                f"this client may not have the scope(s) {', '.join(refused)}",
            )
        if agency not in (None, client.agency):
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "invalid_scope", "this client may not act for that agency"
            )
        roles = roles or list(client.roles)
        agency = client.agency
    try:
        ttl = int(form.get("expires_in") or DEFAULT_TTL_S)
    except ValueError:
        raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "expires_in: seconds") from None
    if not 1 <= ttl <= MAX_TTL_S:
        raise TokenError(
            HTTPStatus.BAD_REQUEST, "invalid_request", f"expires_in: 1 to {MAX_TTL_S} seconds"
        )
    claims: dict[str, Any] = {"sub": subject, "roles": roles, "client_id": client.client_id}
    if agency:
        claims["agency"] = agency
    if scopes:
        claims["scope"] = " ".join(scopes)
    claims["ttl"] = ttl
    return claims


# --------------------------------------------------------------------------- HTTP


class Provider:
    def __init__(self, directory: Path, issuer: str, audience: str, grace_s: float) -> None:
        self.directory = directory
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.grace_s = grace_s
        self.ring = KeyRing(directory)
        self.ring.ensure()
        self.clients = ensure_clients(directory, f"{self.issuer}/token")

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "token_endpoint": f"{self.issuer}/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.ring.published()]}

    def authenticate(self, header: str | None) -> Client:
        unauthorised = TokenError(
            HTTPStatus.UNAUTHORIZED, "invalid_client", "client authentication failed"
        )
        if not header or not header.startswith("Basic "):
            raise unauthorised
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorised from None
        client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id)
        if client is None or not client.authenticates(secret):
            raise unauthorised
        return client

    def token(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        claims = grant(client, form)
        ttl = claims.pop("ttl")
        now = int(_now())
        claims |= {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        key = self.ring.current()
        token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
        log.info("token for %s (%s), key %s", client.client_id, " ".join(claims["roles"]), key.kid)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        if "scope" in claims:
            answer["scope"] = claims["scope"]
        return answer

    def rotate(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        if not client.any:
            raise TokenError(
                HTTPStatus.FORBIDDEN, "unauthorized_client", "only the developer client rotates"
            )
        try:
            grace = float(form.get("grace_s") or self.grace_s)
        except ValueError:
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "invalid_request", "grace_s: seconds"
            ) from None
        new, kept = self.ring.rotate(max(0.0, grace))
        log.info("rotated: key %s is current", new.kid)
        return {"kid": new.kid, "published": [k.kid for k in (new, *kept)]}


class Handler(BaseHTTPRequestHandler):
    server_version = "hoso-idp"
    provider: Provider

    def _send(self, status: HTTPStatus, body: dict[str, Any], **headers: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/.well-known/openid-configuration":
            self._send(HTTPStatus.OK, self.provider.discovery())
        elif path == "/.well-known/jwks.json":
            self._send(HTTPStatus.OK, self.provider.jwks())
        elif path == "/healthz":
            self._send(HTTPStatus.OK, {"status": "ok"})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/token", "/rotate"):
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "body too large")
            if "?" in self.path:
                # RFC 6749 §3.2: credentials and parameters never in the URL.
                raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "no query string")
            raw = self.rfile.read(length).decode("utf-8", "replace")
            parsed = parse_qs(raw, keep_blank_values=True)
            if any(len(v) > 1 for v in parsed.values()):
                raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "repeated parameter")
            form = {k: v[0] for k, v in parsed.items()}
            client = self.provider.authenticate(self.headers.get("Authorization"))
            if path == "/token":
                self._send(HTTPStatus.OK, self.provider.token(client, form), Pragma="no-cache")
            else:
                self._send(HTTPStatus.OK, self.provider.rotate(client, form))
        except TokenError as exc:
            headers = {"WWW_Authenticate": 'Basic realm="hoso-idp"'} if exc.status == 401 else {}
            body = {"error": exc.error, "error_description": exc.description}
            self._send(exc.status, body, **headers)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def serve(directory: Path, host: str, port: int, issuer: str | None, grace_s: float) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    provider = Provider(directory, issuer or f"http://{host}:{port}", AUDIENCE, grace_s)
    handler = type("BoundHandler", (Handler,), {"provider": provider})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info(
        "issuer %s, keys in %s, current key %s",
        provider.issuer,
        directory,
        provider.ring.current().kid,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="idp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the provider")
    run.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("HOSO_IDP_DIR") or DEFAULT_DIR)
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=int(os.environ.get("HOSO_IDP_PORT") or 8090))
    run.add_argument("--issuer", help="default http://HOST:PORT")
    run.add_argument("--grace-s", type=float, default=DEFAULT_GRACE_S)
    rotate = sub.add_parser("rotate", help="make a new key current; the old one is dropped later")
    rotate.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("HOSO_IDP_DIR") or DEFAULT_DIR)
    )
    rotate.add_argument("--grace-s", type=float, default=DEFAULT_GRACE_S)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "serve":
        serve(args.dir.resolve(), args.host, args.port, args.issuer, args.grace_s)
    else:
        ring = KeyRing(args.dir.resolve())
        if not ring.path.exists():
            print(f"no keys in {args.dir}: start the provider first", file=sys.stderr)
            return 1
        new, kept = ring.rotate(args.grace_s)
        print(json.dumps({"kid": new.kid, "published": [k.kid for k in (new, *kept)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
