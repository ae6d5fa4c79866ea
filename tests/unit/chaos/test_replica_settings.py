"""How the test platforms are told how many replicas to run, and how replicas are named."""

from __future__ import annotations

import pytest

from tests.support.services import replica_count, with_instance


def test_two_replicas_unless_told_otherwise() -> None:
    assert replica_count({}) == 2
    assert replica_count({"HOSO_E2E_REPLICAS": " "}) == 2
    assert replica_count({"HOSO_E2E_REPLICAS": "3"}) == 3
    assert replica_count({"HOSO_E2E_REPLICAS": "1"}) == 1


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_count_that_is_not_a_positive_whole_number_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="HOSO_E2E_REPLICAS"):
        replica_count({"HOSO_E2E_REPLICAS": raw})


def test_the_instance_joins_the_other_resource_attributes() -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e-x", "A": "b"}
    named = with_instance(env, "audit-2")
    assert named["OTEL_RESOURCE_ATTRIBUTES"] == (
        "deployment.environment.name=e2e-x,service.instance.id=audit-2"
    )
    assert named["A"] == "b"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment.name=e2e-x"


def test_naming_a_replica_again_replaces_its_name() -> None:
    once = with_instance({}, "intake-1")
    assert with_instance(once, "intake-2")["OTEL_RESOURCE_ATTRIBUTES"] == (
        "service.instance.id=intake-2"
    )
