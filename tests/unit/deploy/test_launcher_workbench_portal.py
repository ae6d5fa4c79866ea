"""`make run`'s accounts for the workbench: the identity provider's portal client for
citizens' uploads (made on its first start, 0600, handed to the workbench by the
launcher) and the default users, including those added to the defaults later."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

import deploy.launcher as launcher
from deploy.idp import server
from deploy.launcher.services import WORKBENCH_PORTAL_CREDENTIALS, workbench_portal_client

TOKEN_ENDPOINT = "http://127.0.0.1:8090/token"
ENDPOINTS = {
    "kafka": "127.0.0.1:9092",
    "mongodb": "mongodb://127.0.0.1:27017",
    "smtp": "127.0.0.1:1025",
    "zipkin": "http://127.0.0.1:9411",
    "idp": "http://127.0.0.1:8090",
}
PORTAL_ENV = ("WORKBENCH_PORTAL_CLIENT_ID", "WORKBENCH_PORTAL_CLIENT_SECRET")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_provider_makes_the_workbench_a_portal_client_and_nothing_more(
    tmp_path: Path,
) -> None:
    clients = server.ensure_clients(tmp_path, TOKEN_ENDPOINT)
    credentials = tmp_path / WORKBENCH_PORTAL_CREDENTIALS
    assert _mode(credentials) == 0o600
    document = json.loads(credentials.read_text())
    client = clients[document["client_id"]]
    assert client.authenticates(document["client_secret"])
    assert not client.public
    assert document["client_secret"] not in (tmp_path / "clients.json").read_text()
    claims = server.grant(client, {"grant_type": "client_credentials", "role": "portal"})
    assert claims["roles"] == ["portal"]
    for role in ("officer", "desk"):
        with pytest.raises(server.TokenError):
            server.grant(client, {"grant_type": "client_credentials", "role": role})


def test_a_provider_from_before_gets_the_client_and_keeps_the_others(tmp_path: Path) -> None:
    server.ensure_clients(tmp_path, TOKEN_ENDPOINT)
    developer = (tmp_path / "developer.json").read_text()
    registry = json.loads((tmp_path / "clients.json").read_text())
    del registry["hoso-workbench-portal"]
    (tmp_path / "clients.json").write_text(json.dumps(registry))
    (tmp_path / WORKBENCH_PORTAL_CREDENTIALS).unlink()

    clients = server.ensure_clients(tmp_path, TOKEN_ENDPOINT)
    assert "hoso-workbench-portal" in clients
    assert (tmp_path / WORKBENCH_PORTAL_CREDENTIALS).exists()
    assert (tmp_path / "developer.json").read_text() == developer


def test_the_default_users_include_the_department_offices_desk_and_hotline(
    tmp_path: Path,
) -> None:
    users = server.UserStore(tmp_path)
    users.ensure()
    records = json.loads((tmp_path / "users.json").read_text())
    clear = json.loads((tmp_path / "passwords.json").read_text())
    assert set(records) == set(server.DEFAULT_USERS) == set(clear)
    assert {"desk.mt", "officer.vpdk", "leader.mt", "auditor", "operator"} <= set(records)
    desk = users.check("desk.vp", clear["desk.vp"])
    hotline = users.check("hotline", clear["hotline"])
    assert desk is not None
    assert hotline is not None
    assert (desk.roles, desk.agency) == (("desk",), "STNMT-VP")
    assert (hotline.roles, hotline.agency) == (("hotline",), "STNMT-VP")
    assert _mode(tmp_path / "passwords.json") == 0o600


def test_users_added_to_the_defaults_are_made_at_the_next_start(tmp_path: Path) -> None:
    server.UserStore(tmp_path).ensure()
    records = json.loads((tmp_path / "users.json").read_text())
    clear = json.loads((tmp_path / "passwords.json").read_text())
    for name in ("desk.vp", "hotline"):
        del records[name], clear[name]
    (tmp_path / "users.json").write_text(json.dumps(records))
    (tmp_path / "passwords.json").write_text(json.dumps(clear))

    server.UserStore(tmp_path).ensure()
    after = json.loads((tmp_path / "users.json").read_text())
    assert {name: after[name] for name in records} == records  # the others untouched
    assert set(after) == set(server.DEFAULT_USERS)
    assert set(json.loads((tmp_path / "passwords.json").read_text())) == set(after)


def test_the_launcher_hands_the_portal_client_to_the_workbench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_LOCAL_DIR", str(tmp_path))
    monkeypatch.delenv("HOSO_IDP_DIR", raising=False)
    lay = launcher.layout()
    idp_dir = lay.root / "idp"
    idp_dir.mkdir(parents=True)

    before = launcher.write_service_env(lay, ENDPOINTS)
    assert not set(PORTAL_ENV) & set(before)  # no provider state yet: uploads stay closed

    server.ensure_clients(idp_dir, TOKEN_ENDPOINT)
    document = json.loads((idp_dir / WORKBENCH_PORTAL_CREDENTIALS).read_text())
    values = launcher.write_service_env(lay, ENDPOINTS)
    assert values["WORKBENCH_PORTAL_CLIENT_ID"] == document["client_id"]
    assert values["WORKBENCH_PORTAL_CLIENT_SECRET"] == document["client_secret"]
    assert workbench_portal_client(idp_dir) == {name: values[name] for name in PORTAL_ENV}
    _, env = launcher.Service(lay, "workbench").command({"port": 8005})
    assert env["WORKBENCH_PORTAL_CLIENT_ID"] == document["client_id"]

    # A provider reset since: the old credentials do not linger.
    (idp_dir / WORKBENCH_PORTAL_CREDENTIALS).unlink()
    assert not set(PORTAL_ENV) & set(launcher.write_service_env(lay, ENDPOINTS))
