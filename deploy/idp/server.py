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
* ``GET /authorize`` - OAuth 2.0 authorization code with PKCE (RFC 6749 §4.1, RFC 7636,
  ``S256`` only): a sign-in form (username and password) for a registered client and
  redirect URI; ``POST /authorize`` checks the user and redirects back with ``code`` and
  ``state``. ``POST /token`` with ``grant_type=authorization_code``, ``code``,
  ``redirect_uri``, ``client_id`` and ``code_verifier`` answers with an access token
  carrying the user's ``roles``, ``agency``, ``scope`` and an opaque ``sub``. A code is
  good once, for 60 seconds;
* ``POST /users`` - the developer client only: add or replace a user (form fields
  ``username``, ``password``, ``role`` and ``scope`` space-separated, ``agency``), as the
  ``add-user`` command does without the server;
* ``POST /rotate`` - the developer client only: a new current key, the old one published
  for ``grace_s`` more seconds (form field, default ``--grace-s``) and then dropped.

State directory: ``keys.json`` (private keys), ``clients.json`` (clients and the SHA-256
of their secrets; public clients with their redirect URIs), one credentials file per
confidential client (``developer.json``, ``status.json``, ``screenshot.json``,
``workbench-portal.json``: token endpoint, id, secret), ``users.json`` (users: roles,
agency, opaque subject, scrypt hash of the password) and ``passwords.json`` (the default
users' passwords in clear, for the developer), all made on first start; a default client
or user added since is made at the next start. A loopback redirect URI (127.0.0.1,
localhost, [::1]) matches a registered one whatever its port (RFC 8252 §7.3).

Run: ``python deploy/idp/server.py serve --dir DIR [--host H] [--port P]``;
``python deploy/idp/server.py rotate --dir DIR [--grace-s S]`` rotates without the server
(a running server picks the change up at its next request);
``python deploy/idp/server.py add-user --dir DIR --username U --password P --role R
[--agency A] [--scope S]`` adds a user (read by a running server at its next sign-in).
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
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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

# The clients made on first start. Only "developer" may ask for anything. The workbench
# is a public client (no secret): it signs people in with the authorization code and PKCE.
DEFAULT_CLIENTS: dict[str, dict[str, Any]] = {
    "developer": {"any": True, "credentials": "developer.json"},
    "hoso-status": {"roles": ["auditor"], "credentials": "status.json"},
    "hoso-screenshot": {"roles": ["portal"], "credentials": "screenshot.json"},
    # The workbench hands citizens' supplement files to intake as a portal would.
    "hoso-workbench-portal": {"roles": ["portal"], "credentials": "workbench-portal.json"},
    "hoso-workbench": {
        "public": True,
        "redirect_uris": [
            "http://127.0.0.1:8005/auth/callback",
            "http://localhost:8005/auth/callback",
        ],
    },
}
CODE_TTL_S = 60
# A person signed in through the form works for a while: the longest lifetime there is.
SIGN_IN_TTL_S = MAX_TTL_S
# scrypt's cost: 16 MiB and some 50 ms per check, far beyond a guessing budget.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# The people made on first start: a desk clerk, an officer and a leader of two agencies,
# the department office's one-stop desk clerk and hotline officer, an auditor and an
# operator. Passwords are random, written to passwords.json.
DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "desk.mt": {"roles": ["desk"], "agency": "STNMT-MT"},
    "officer.mt": {"roles": ["officer"], "agency": "STNMT-MT"},
    "leader.mt": {"roles": ["leader"], "agency": "STNMT-MT"},
    "desk.vpdk": {"roles": ["desk"], "agency": "STNMT-VPDK"},
    "officer.vpdk": {"roles": ["officer"], "agency": "STNMT-VPDK"},
    "leader.vpdk": {"roles": ["leader"], "agency": "STNMT-VPDK"},
    "desk.vp": {"roles": ["desk"], "agency": "STNMT-VP"},
    "hotline": {"roles": ["hotline"], "agency": "STNMT-VP"},
    "auditor": {"roles": ["auditor"]},
    "operator": {"roles": ["operator"]},
}
_PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


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
    public: bool = False
    redirect_uris: tuple[str, ...] = ()

    def authenticates(self, secret: str) -> bool:
        if self.public:
            return False
        offered = hashlib.sha256(secret.encode()).hexdigest()
        return hmac.compare_digest(offered, self.secret_sha256)

    def redirects_to(self, uri: str) -> bool:
        """``uri`` is registered, or is a loopback URI differing from a registered
        loopback one only in its port (RFC 8252 §7.3: a local app's port is not fixed)."""
        if uri in self.redirect_uris:
            return True
        asked = urlsplit(uri)
        if asked.scheme != "http" or asked.hostname not in _LOOPBACK or asked.query:
            return False
        for registered in map(urlsplit, self.redirect_uris):
            if (
                registered.scheme == "http"
                and registered.hostname == asked.hostname
                and registered.path == asked.path
            ):
                return True
        return False


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
            if spec.get("public"):
                if client_id not in registry:
                    registry[client_id] = dict(spec)
                    changed = True
                continue
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
            spec.get("secret_sha256", ""),
            any=bool(spec.get("any")),
            roles=tuple(spec.get("roles", ())),
            agency=spec.get("agency"),
            scopes=tuple(spec.get("scopes", ())),
            public=bool(spec.get("public")),
            redirect_uris=tuple(spec.get("redirect_uris", ())),
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


# --------------------------------------------------------------------------- users


def _hash_password(password: str) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return {
        "scheme": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": _b64url(salt),
        "hash": _b64url(digest),
    }


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _password_matches(record: dict[str, Any], password: str) -> bool:
    stored = record.get("password") or {}
    if stored.get("scheme") != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(),
        salt=_unb64url(stored["salt"]),
        n=int(stored["n"]),
        r=int(stored["r"]),
        p=int(stored["p"]),
        dklen=32,
        maxmem=128 * int(stored["n"]) * int(stored["r"]) * 2,
    )
    return hmac.compare_digest(digest, _unb64url(stored["hash"]))


@dataclass(frozen=True)
class User:
    username: str
    subject: str
    roles: tuple[str, ...]
    agency: str | None
    scopes: tuple[str, ...]


def user_record(
    roles: list[str], password: str, agency: str | None = None, scopes: list[str] | None = None
) -> dict[str, Any]:
    """A ``users.json`` entry; the subject is opaque, so tokens and events never carry a
    person's name."""
    for word in [*roles, *(scopes or [])]:
        if not _NAME.match(word):
            raise ValueError(f"malformed role or scope {word!r}")
    if agency is not None and not _NAME.match(agency):
        raise ValueError(f"malformed agency {agency!r}")
    if not roles:
        raise ValueError("a user needs at least one role")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    record: dict[str, Any] = {
        "sub": f"u-{secrets.token_hex(8)}",
        "roles": list(roles),
        "password": _hash_password(password),
    }
    if agency:
        record["agency"] = agency
    if scopes:
        record["scopes"] = list(scopes)
    return record


class UserStore:
    """``users.json``: username → roles, agency, scopes, opaque ``sub``, scrypt hash.
    Re-read when the file changes, so ``add-user`` needs no restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "users.json"
        self._users: dict[str, dict[str, Any]] = {}
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Make the default users with random passwords on first start, and those added
        to the defaults since at a later one; the passwords go to ``passwords.json`` (0600)
        for the developer, never anywhere else. Existing users are left as they are."""
        with self._lock, _locked(self.directory):
            users: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
            missing = [name for name in DEFAULT_USERS if name not in users]
            if not missing and self.path.exists():
                return
            passwords = self.directory / "passwords.json"
            clear: dict[str, str] = json.loads(passwords.read_text()) if passwords.exists() else {}
            for username in missing:
                spec = DEFAULT_USERS[username]
                password = secrets.token_urlsafe(12)
                users[username] = user_record(spec["roles"], password, spec.get("agency"))
                clear[username] = password
            _write_private(passwords, clear)
            _write_private(self.path, users)
            self._seen = None

    def put(
        self,
        username: str,
        password: str,
        roles: list[str],
        agency: str | None = None,
        scopes: list[str] | None = None,
    ) -> User:
        if not _NAME.match(username):
            raise ValueError("malformed username")
        record = user_record(roles, password, agency, scopes)
        with self._lock, _locked(self.directory):
            users = json.loads(self.path.read_text()) if self.path.exists() else {}
            previous = users.get(username)
            if previous:
                record["sub"] = previous["sub"]  # the same person keeps their subject
            users[username] = record
            _write_private(self.path, users)
            self._seen = None
        return self._user(username, record)

    @staticmethod
    def _user(username: str, record: dict[str, Any]) -> User:
        return User(
            username,
            record["sub"],
            tuple(record.get("roles", ())),
            record.get("agency"),
            tuple(record.get("scopes", ())),
        )

    def check(self, username: str, password: str) -> User | None:
        with self._lock:
            st = self.path.stat()
            if (st.st_mtime_ns, st.st_ino) != self._seen:
                self._users = json.loads(self.path.read_text())
                self._seen = (st.st_mtime_ns, st.st_ino)
            record = self._users.get(username)
        if record is None:
            # The same work as for a known user, so timing tells no usernames apart.
            _password_matches({"password": _DUMMY_PASSWORD}, password)
            return None
        return self._user(username, record) if _password_matches(record, password) else None


_DUMMY_PASSWORD = _hash_password(secrets.token_urlsafe(12))


@dataclass(frozen=True)
class PendingCode:
    """An authorization code waiting to be exchanged: who signed in, for which client,
    redirect URI and PKCE challenge."""

    client_id: str
    redirect_uri: str
    challenge: str
    user: User
    expires_at: float


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# --------------------------------------------------------------------------- sign-in page

_TEXTS = {
    "vi": {
        "title": "Đăng nhập",
        "heading": "Đăng nhập hệ thống một cửa",
        "intro": "Dùng tài khoản do Sở cấp.",
        "username": "Tên đăng nhập",
        "password": "Mật khẩu",
        "submit": "Đăng nhập",
        "wrong": "Tên đăng nhập hoặc mật khẩu không đúng.",
        "bad_request": "Yêu cầu đăng nhập không hợp lệ",
    },
    "en": {
        "title": "Sign in",
        "heading": "Sign in to the one-stop system",
        "intro": "Use the account the department gave you.",
        "username": "Username",
        "password": "Password",
        "submit": "Sign in",
        "wrong": "Wrong username or password.",
        "bad_request": "Invalid sign-in request",
    },
}
_AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "ui_locales",
)
_PAGE_HEADERS = {
    "Content_Security_Policy": "default-src 'none'; style-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X_Frame_Options": "DENY",
    "Referrer_Policy": "no-referrer",
    "X_Content_Type_Options": "nosniff",
}
LOGIN_CSS = b"""\
body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1b1f24;line-height:1.5}
main{max-width:24rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;
box-shadow:0 1px 3px #0003}
h1{font-size:1.4rem;margin-top:0}
label{display:block;font-weight:600;margin-top:1rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #59636e;
border-radius:.3rem}
button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;font-weight:600;color:#fff;
background:#0b5cad;border:0;border-radius:.3rem;cursor:pointer}
:focus-visible{outline:3px solid #b35900;outline-offset:2px}
.error{color:#a4161a;font-weight:600}
"""


def _language(value: str | None) -> str:
    return "en" if (value or "").split(" ")[0].lower().startswith("en") else "vi"


def sign_in_page(params: dict[str, str], error: bool = False, username: str = "") -> bytes:
    lang = _language(params.get("ui_locales"))
    t = _TEXTS[lang]
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in _AUTHORIZE_FIELDS
    )
    described = ' aria-describedby="sign-in-error" aria-invalid="true"' if error else ""
    alert = f'<p id="sign-in-error" class="error" role="alert">{t["wrong"]}</p>' if error else ""
    html = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title><link rel="stylesheet" href="/login.css"></head>
<body><main><h1>{t["heading"]}</h1><p>{t["intro"]}</p>{alert}
<form method="post" action="/authorize">{hidden}
<label for="username">{t["username"]}</label>
<input id="username" name="username" autocomplete="username" required
 value="{escape(username)}"{described}>
<label for="password">{t["password"]}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required
{described}>
<button type="submit">{t["submit"]}</button></form></main></body></html>"""
    return html.encode()


def error_page(params: dict[str, str], detail: str) -> bytes:
    lang = _language(params.get("ui_locales"))
    heading = _TEXTS[lang]["bad_request"]
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{heading}</title>"
        '<link rel="stylesheet" href="/login.css"></head>'
        f"<body><main><h1>{heading}</h1><p>{escape(detail)}</p></main></body></html>"
    ).encode()


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
        self.users = UserStore(directory)
        self.users.ensure()
        self._codes: dict[str, PendingCode] = {}
        self._codes_lock = threading.Lock()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "token_endpoint": f"{self.issuer}/token",
            "authorization_endpoint": f"{self.issuer}/authorize",
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "response_types_supported": ["code", "token"],
            "ui_locales_supported": ["vi", "en"],
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

    def authorization_request(self, params: dict[str, str]) -> Client:
        """The client of a valid authorization request, or a :class:`TokenError` shown on
        the provider's own page: with an unknown client or redirect URI nothing may be
        sent back (RFC 6749 §4.1.2.1)."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None or not client.redirect_uris:
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_client", "unknown client")
        if not client.redirects_to(params.get("redirect_uri", "")):
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "invalid_request", "redirect_uri is not registered"
            )
        if params.get("response_type") != "code":
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "unsupported_response_type", "response_type=code only"
            )
        if params.get("code_challenge_method") != "S256" or not _PKCE_CHALLENGE.match(
            params.get("code_challenge", "")
        ):
            raise TokenError(
                HTTPStatus.BAD_REQUEST, "invalid_request", "PKCE with S256 is required"
            )
        if not params.get("state"):
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", "state is required")
        return client

    def issue_code(self, client: Client, params: dict[str, str], user: User) -> str:
        code = secrets.token_urlsafe(32)
        now = _now()
        with self._codes_lock:
            # Forget the codes nobody came for.
            for stale in [c for c, p in self._codes.items() if p.expires_at <= now]:
                del self._codes[stale]
            self._codes[code] = PendingCode(
                client.client_id,
                params["redirect_uri"],
                params["code_challenge"],
                user,
                now + CODE_TTL_S,
            )
        log.info("sign-in of %s for %s", user.subject, client.client_id)
        return code

    def exchange(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        """The authorization code grant: the code is gone after its first use, good or
        bad, so a stolen one can be tried at most once."""
        with self._codes_lock:
            pending = self._codes.pop(form.get("code", ""), None)
        invalid = TokenError(HTTPStatus.BAD_REQUEST, "invalid_grant", "invalid or expired code")
        if pending is None or pending.expires_at <= _now():
            raise invalid
        if pending.client_id != client.client_id:
            raise invalid
        if form.get("redirect_uri") != pending.redirect_uri:
            raise invalid
        verifier = form.get("code_verifier", "")
        if not _PKCE_VERIFIER.match(verifier) or not hmac.compare_digest(
            s256(verifier), pending.challenge
        ):
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_grant", "code_verifier mismatch")
        user = pending.user
        claims: dict[str, Any] = {
            "sub": user.subject,
            "roles": list(user.roles),
            "client_id": client.client_id,
            "ttl": SIGN_IN_TTL_S,
        }
        if user.agency:
            claims["agency"] = user.agency
        if user.scopes:
            claims["scope"] = " ".join(user.scopes)
        return self._sign(claims)

    def add_user(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        if not client.any:
            raise TokenError(
                HTTPStatus.FORBIDDEN, "unauthorized_client", "only the developer client adds users"
            )
        try:
            user = self.users.put(
                form.get("username", ""),
                form.get("password", ""),
                _words(form.get("role"), "role"),
                form.get("agency") or None,
                _words(form.get("scope"), "scope"),
            )
        except ValueError as exc:
            raise TokenError(HTTPStatus.BAD_REQUEST, "invalid_request", str(exc)) from None
        return {"username": user.username, "sub": user.subject, "roles": list(user.roles)}

    def token(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        return self._sign(grant(client, form))

    def _sign(self, claims: dict[str, Any]) -> dict[str, Any]:
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
        log.info(
            "token for %s (%s), key %s", claims["client_id"], " ".join(claims["roles"]), key.kid
        )
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
        self._send_bytes(status, json.dumps(body).encode(), "application/json", **headers)

    def _send_bytes(
        self, status: HTTPStatus, data: bytes, content_type: str, **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _page(self, status: HTTPStatus, html: bytes) -> None:
        self._send_bytes(status, html, "text/html; charset=utf-8", **_PAGE_HEADERS)

    def _query(self) -> dict[str, str]:
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        return {k: v[0] for k, v in parse_qs(query).items()}

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/.well-known/openid-configuration":
            self._send(HTTPStatus.OK, self.provider.discovery())
        elif path == "/.well-known/jwks.json":
            self._send(HTTPStatus.OK, self.provider.jwks())
        elif path == "/healthz":
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif path == "/authorize":
            params = self._query()
            try:
                self.provider.authorization_request(params)
            except TokenError as exc:
                self._page(exc.status, error_page(params, exc.description))
                return
            self._page(HTTPStatus.OK, sign_in_page(params))
        elif path == "/login.css":
            self._send_bytes(HTTPStatus.OK, LOGIN_CSS, "text/css; charset=utf-8")
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def _form(self) -> dict[str, str]:
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
        return {k: v[0] for k, v in parsed.items()}

    def _sign_in(self) -> None:
        """``POST /authorize``: the form's username and password; back to the client
        with a code, or the form again with the error."""
        try:
            form = self._form()
            client = self.provider.authorization_request(form)
        except TokenError as exc:
            self._page(exc.status, error_page({}, exc.description))
            return
        username = form.get("username", "")
        user = self.provider.users.check(username, form.get("password", ""))
        if user is None:
            log.info("sign-in refused for %s", client.client_id)
            self._page(HTTPStatus.UNAUTHORIZED, sign_in_page(form, True, username))
            return
        code = self.provider.issue_code(client, form, user)
        query = urlencode({"code": code, "state": form["state"]})
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", f"{form['redirect_uri']}?{query}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _client(self, form: dict[str, str]) -> Client:
        """The authenticated client; a public client names itself for the code grant
        alone (PKCE stands in for its secret)."""
        header = self.headers.get("Authorization")
        if header is None and form.get("grant_type") == "authorization_code":
            client = self.provider.clients.get(form.get("client_id", ""))
            if client is not None and client.public:
                return client
        return self.provider.authenticate(header)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/authorize":
            self._sign_in()
            return
        if path not in ("/token", "/rotate", "/users"):
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})
            return
        try:
            form = self._form()
            client = self._client(form)
            if path == "/token" and form.get("grant_type") == "authorization_code":
                self._send(HTTPStatus.OK, self.provider.exchange(client, form), Pragma="no-cache")
            elif path == "/token":
                self._send(HTTPStatus.OK, self.provider.token(client, form), Pragma="no-cache")
            elif path == "/users":
                self._send(HTTPStatus.OK, self.provider.add_user(client, form))
            else:
                self._send(HTTPStatus.OK, self.provider.rotate(client, form))
        except TokenError as exc:
            headers = {"WWW_Authenticate": 'Basic realm="hoso-idp"'} if exc.status == 401 else {}
            body = {"error": exc.error, "error_description": exc.description}
            self._send(exc.status, body, **headers)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: a query string may hold a code or a state.
        log.info("%s %s", self.address_string(), (format % args).split("?", 1)[0])


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
    add = sub.add_parser("add-user", help="add or replace a user (roles, agency, password)")
    add.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("HOSO_IDP_DIR") or DEFAULT_DIR)
    )
    add.add_argument("--username", required=True)
    add.add_argument("--password", required=True)
    add.add_argument("--role", action="append", required=True)
    add.add_argument("--agency")
    add.add_argument("--scope", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "serve":
        serve(args.dir.resolve(), args.host, args.port, args.issuer, args.grace_s)
    elif args.command == "add-user":
        args.dir.mkdir(parents=True, exist_ok=True)
        args.dir.chmod(0o700)
        try:
            user = UserStore(args.dir.resolve()).put(
                args.username, args.password, args.role, args.agency, args.scope
            )
        except ValueError as exc:
            print(f"add-user: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"username": user.username, "sub": user.subject}))
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
