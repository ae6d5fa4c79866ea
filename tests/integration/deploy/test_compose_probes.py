"""docker-compose.yml's Kafka health check, run as Docker runs it (bash, inside the broker's
container, against 127.0.0.1:9092) but aimed at this session's real broker: it passes
only where a Kafka broker answers requests, without starting a JVM."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from pymongo.uri_parser import parse_uri

from tests.support.infra import Infra

ROOT = Path(__file__).resolve().parents[3]
INSIDE = "/dev/tcp/127.0.0.1/9092"


def _kafka_probe() -> list[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    test = compose["services"]["kafka"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert INSIDE in test[-1]
    return list(test[1:])


def _healthy(probe: list[str], host: str, port: int) -> bool:
    command = [*probe[:-1], probe[-1].replace(INSIDE, f"/dev/tcp/{host}/{port}")]
    try:
        # Docker's own limit for the check (timeout: 5s): a peer that never answers fails.
        done = subprocess.run(command, capture_output=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("bash") is None, reason="the probe is a bash command")
def test_the_kafka_probe_tells_a_broker_from_anything_else(infra: Infra) -> None:
    probe = _kafka_probe()
    host, _, port = infra.kafka.rpartition(":")
    assert _healthy(probe, host, int(port))

    store_host, store_port = parse_uri(infra.mongodb)["nodelist"][0]
    # Another server that accepts the connection but speaks another protocol.
    assert not _healthy(probe, store_host, store_port)
    assert not _healthy(probe, "127.0.0.1", _closed_port())
