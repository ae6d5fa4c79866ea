"""How many copies the platform's topics are created with, and what counts as too few."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from chassis.kafka.topics import Replication, new_topics, replication_for, under_replicated
from chassis.settings import ServiceSettings


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ServiceSettings:
    for name in ("KAFKA_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings()


def test_unset_means_three_copies_and_two_in_sync_on_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert replication_for(settings(monkeypatch), brokers=3) == Replication(3, 2)
    assert replication_for(settings(monkeypatch), brokers=5) == Replication(3, 2)


def test_unset_on_a_lone_broker_gives_one_copy_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chassis.kafka.topics"):
        assert replication_for(settings(monkeypatch), brokers=1) == Replication(1, 1)
    assert "KAFKA_REPLICATION_FACTOR" in caplog.text


def test_set_values_are_demanded_whatever_the_cluster_has_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A cluster still coming up shows one broker: the topics must not be made with one copy.
    demanding = settings(monkeypatch, KAFKA_REPLICATION_FACTOR="3", KAFKA_MIN_INSYNC_REPLICAS="2")
    assert replication_for(demanding, brokers=1) == Replication(3, 2)
    single = settings(monkeypatch, KAFKA_REPLICATION_FACTOR="1", KAFKA_MIN_INSYNC_REPLICAS="1")
    assert replication_for(single, brokers=3) == Replication(1, 1)


def test_the_shared_unprefixed_names_reach_a_service_with_its_own_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class IntakeLike(ServiceSettings):
        model_config = SettingsConfigDict(extra="ignore", env_prefix="INTAKE_")

    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "1")
    got = IntakeLike()
    assert (got.kafka_replication_factor, got.kafka_min_insync_replicas) == (2, 1)


def test_only_the_factor_set_keeps_min_isr_below_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert replication_for(
        settings(monkeypatch, KAFKA_REPLICATION_FACTOR="1"), brokers=3
    ) == Replication(1, 1)
    assert replication_for(
        settings(monkeypatch, KAFKA_REPLICATION_FACTOR="5"), brokers=5
    ) == Replication(5, 2)


def test_min_isr_above_the_factor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # With acks=all no write could ever be acknowledged.
    with pytest.raises(ValidationError, match="KAFKA_MIN_INSYNC_REPLICAS"):
        settings(monkeypatch, KAFKA_REPLICATION_FACTOR="2", KAFKA_MIN_INSYNC_REPLICAS="3")
    with pytest.raises(ValidationError):
        settings(monkeypatch, KAFKA_REPLICATION_FACTOR="0")


def test_every_new_topic_carries_the_factor_and_min_isr() -> None:
    made = new_topics({"a": 3, "a.dlq": 1}, Replication(3, 2))
    assert [(t.name, t.num_partitions, t.replication_factor) for t in made] == [
        ("a", 3, 3),
        ("a.dlq", 1, 3),
    ]
    assert all(t.topic_configs == {"min.insync.replicas": "2"} for t in made)


def test_a_topic_with_fewer_copies_than_asked_is_named_with_its_fewest() -> None:
    described = [
        {
            "topic": "old",
            "error_code": 0,
            "partitions": [{"replicas": [1]}, {"replicas": [1, 2, 3]}],
        },
        {"topic": "fine", "error_code": 0, "partitions": [{"replicas": [1, 2, 3]}]},
        {"topic": "gone", "error_code": 3, "partitions": []},
    ]
    assert under_replicated(described, 3) == {"old": 1}
    assert under_replicated(described, 1) == {}
