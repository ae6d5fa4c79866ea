"""The launcher's Kafka: one broker by default, exactly as before; three brokers, each also
a controller, when asked. No process is started here: names, ports and configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import deploy.launcher as launcher
from deploy.launcher.components import _resolve, extra_brokers


@pytest.fixture
def lay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> launcher.Layout:
    for name in ("HOSO_KAFKA_BROKERS", "HOSO_KAFKA_PORT", "HOSO_KAFKA_CONTROLLER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOSO_LOCAL_DIR", str(tmp_path))
    return launcher.layout()


def record(lay: launcher.Layout, name: str, config: dict[str, object]) -> None:
    lay.run.mkdir(parents=True, exist_ok=True)
    lay.pidfile(name).write_text(json.dumps({"pid": 1, "config": config, "started_at": ""}))


def test_the_lone_broker_keeps_the_configuration_it_always_had(lay: launcher.Layout) -> None:
    kafka = launcher.Kafka(lay)
    config = kafka.config()
    # A running broker recorded with exactly this is not restarted by a newer launcher.
    assert config == {"port": 9092, "controller_port": 9093}
    assert kafka.endpoints(config)["kafka"] == "127.0.0.1:9092"
    assert kafka.data_paths() == [lay.root / "kafka" / "data"]
    assert _resolve(["kafka", "store"], lay=lay) == ["kafka", "postgres", "store"]
    kafka._write_config(config)
    text = kafka.properties.read_text()
    assert "controller.quorum.voters=1@127.0.0.1:9093\n" in text
    assert "offsets.topic.replication.factor=1\n" in text
    assert "min.insync.replicas=1\n" in text


def test_three_brokers_each_a_voter_on_ports_a_hundred_apart(
    lay: launcher.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "3")
    assert _resolve(["kafka"], lay=lay) == ["kafka", "kafka-2", "kafka-3"]
    # kill and restart name one broker: "kafka" alone is the first.
    assert _resolve("kafka", requirements=False) == ["kafka"]
    brokers = [launcher.component(name, lay) for name in ("kafka", "kafka-2", "kafka-3")]
    configs = [b.config() for b in brokers]
    assert [(c["port"], c["controller_port"]) for c in configs] == [
        (9092, 9093),
        (9192, 9193),
        (9292, 9293),
    ]
    bootstrap = "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292"
    assert {b.endpoints(c)["kafka"] for b, c in zip(brokers, configs, strict=True)} == {bootstrap}
    assert brokers[1].endpoints(configs[1])["kafka_replication_factor"] == "3"
    assert brokers[1].endpoints(configs[1])["kafka_min_insync_replicas"] == "2"
    assert [b.address(c) for b, c in zip(brokers, configs, strict=True)] == bootstrap.split(",")
    folders = {b.data_paths()[0] for b in brokers}
    assert len(folders) == 3
    assert all(f.parent == lay.root / "kafka" / "cluster" for f in folders)

    brokers[2]._write_config(configs[2])
    text = brokers[2].properties.read_text()
    assert "node.id=3\n" in text
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
    assert f"controller.quorum.voters={voters}\n" in text
    assert "listeners=PLAINTEXT://127.0.0.1:9292,CONTROLLER://127.0.0.1:9293\n" in text
    for line in (
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.min.isr=2",
    ):
        assert f"\n{line}\n" in text


def test_the_brokers_share_one_cluster_id(
    lay: launcher.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "3")
    ids = {launcher.Kafka(lay, k)._cluster_id() for k in (1, 2, 3)}
    assert len(ids) == 1
    # The lone broker makes a fresh one each time its folder is formatted.
    lone = launcher.Kafka(lay, 1, brokers=1)
    assert lone._cluster_id() != lone._cluster_id()


def test_ports_move_together_with_the_base(
    lay: launcher.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "3")
    monkeypatch.setenv("HOSO_KAFKA_PORT", "19092")
    monkeypatch.setenv("HOSO_KAFKA_CONTROLLER_PORT", "19093")
    config = launcher.component("kafka-3", lay).config()
    assert (config["port"], config["controller_port"]) == (19292, 19293)
    assert config["bootstrap"] == "127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292"


def test_a_running_cluster_is_kept_until_another_size_is_asked(
    lay: launcher.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert launcher.kafka_brokers(lay) == 1
    record(lay, "kafka", {"port": 9092, "controller_port": 9093})
    assert launcher.kafka_brokers(lay) == 1
    record(lay, "kafka-2", launcher.Kafka(lay, 2, brokers=3).config())
    # `services` or a second `up` without the option keep the three brokers.
    assert launcher.kafka_brokers(lay) == 3
    assert _resolve(["kafka"], lay=lay) == ["kafka", "kafka-2", "kafka-3"]
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "1")
    assert launcher.kafka_brokers(lay) == 1
    assert extra_brokers(lay, 1) == ["kafka-2"]


def test_nonsense_sizes_and_names_are_refused(
    lay: launcher.Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "three")
    with pytest.raises(launcher.LauncherError):
        launcher.kafka_brokers(lay)
    monkeypatch.setenv("HOSO_KAFKA_BROKERS", "9")
    with pytest.raises(launcher.LauncherError):
        launcher.kafka_brokers(lay)
    with pytest.raises(launcher.LauncherError):
        _resolve(["kafka-7"])


def test_the_services_get_the_clusters_replication(lay: launcher.Layout) -> None:
    ep = {
        "kafka": "127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292",
        "kafka_replication_factor": "3",
        "kafka_min_insync_replicas": "2",
        "mongodb": "mongodb://127.0.0.1:27017",
        "smtp": "127.0.0.1:1025",
        "zipkin": "http://127.0.0.1:9411",
    }
    values = launcher.write_service_env(lay, ep)
    assert values["KAFKA_BOOTSTRAP_SERVERS"] == ep["kafka"]
    assert (values["KAFKA_REPLICATION_FACTOR"], values["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    lone = launcher.write_service_env(
        lay,
        {**ep, "kafka": "127.0.0.1:9092"}
        | {"kafka_replication_factor": "1", "kafka_min_insync_replicas": "1"},
    )
    assert (lone["KAFKA_REPLICATION_FACTOR"], lone["KAFKA_MIN_INSYNC_REPLICAS"]) == ("1", "1")
