"""The local identity provider as the launcher runs it: its own process, state directory
and port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chassis.auth import ClientCredentials
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "deploy" / "idp" / "server.py"


@dataclass
class Idp:
    url: str
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def credentials(self, name: str) -> ClientCredentials:
        return ClientCredentials.from_file(self.directory / f"{name}.json")

    def token(self, name: str = "developer", **form: str) -> httpx.Response:
        client = self.credentials(name)
        return httpx.post(
            client.token_endpoint,
            data={"grant_type": "client_credentials", **form},
            auth=(client.client_id, client.client_secret),
            timeout=10,
        )

    def rotate(self, grace_s: float) -> str:
        client = self.credentials("developer")
        response = httpx.post(
            f"{self.url}/rotate",
            data={"grace_s": str(grace_s)},
            auth=(client.client_id, client.client_secret),
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["kid"])


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    directory = tmp_path_factory.mktemp("idp") / "state"
    port = free_port()
    log = (directory.parent / "idp.log").open("wb")
    argv = [sys.executable, str(SERVER), "serve", "--port", str(port), "--dir", str(directory)]
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (directory.parent / "idp.log").read_text()
            assert time.monotonic() < deadline, "the identity provider did not start"
            time.sleep(0.1)
        yield Idp(url, directory, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
