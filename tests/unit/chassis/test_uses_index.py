"""Reading `explain()` answers: MongoDB's plan stages and FerretDB v2's PostgreSQL plans."""

from __future__ import annotations

from typing import Any

from chassis.mongo import uses_index


def _postgres(plan: dict[str, Any]) -> dict[str, Any]:
    return {"queryPlanner": {"Plan": plan}, "ok": 1.0}


def _bitmap(index: str, condition: str) -> dict[str, Any]:
    return {
        "Node Type": "Bitmap Heap Scan",
        "Relation Name": "documents_3",
        "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": index, "Index Cond": condition}],
    }


FIELD_CONDITION = (
    "(document OPERATOR(documentdb_api_catalog.@=) "
    "'BSONHEX0c0000001064000500000000'::documentdb_core.bson)"
)


def test_a_secondary_index_read_on_documentdb_counts() -> None:
    explained = _postgres({"Node Type": "Sort", "Plans": [_bitmap("d_1_s_1", FIELD_CONDITION)]})
    assert uses_index(explained)


def test_a_sequential_scan_on_documentdb_does_not() -> None:
    assert not uses_index(_postgres({"Node Type": "Seq Scan", "Filter": FIELD_CONDITION}))


def test_a_read_of_the_whole_collection_through_the_id_index_does_not() -> None:
    # What DocumentDB does for a small collection when no index fits the filter.
    whole = _bitmap("_id_", "(shard_key_value = '286'::bigint)")
    assert not uses_index(_postgres({**whole, "Filter": FIELD_CONDITION}))


def test_a_look_up_by_id_on_documentdb_counts() -> None:
    plan = {
        "Node Type": "Index Scan",
        "Index Name": "_id_",
        "Index Cond": "((shard_key_value = '286'::bigint) AND (object_id = 'x'::bson))",
    }
    assert uses_index(_postgres(plan))


def test_one_scan_anywhere_in_the_plan_spoils_it() -> None:
    plan = {
        "Node Type": "Append",
        "Plans": [_bitmap("d_1", FIELD_CONDITION), {"Node Type": "Seq Scan"}],
    }
    assert not uses_index(_postgres(plan))


def test_mongodb_index_and_collection_scans() -> None:
    ixscan = {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "d_1_s_1"}}
    assert uses_index({"queryPlanner": {"winningPlan": ixscan}})
    assert uses_index({"queryPlanner": {"winningPlan": {"stage": "IDHACK"}}})
    assert not uses_index({"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}})


def test_mongodb_rejected_plans_are_ignored() -> None:
    explained = {
        "queryPlanner": {
            "winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN"}},
            "rejectedPlans": [{"stage": "COLLSCAN"}],
        }
    }
    assert uses_index(explained)


def test_an_answer_without_a_plan_is_not_an_index_read() -> None:
    assert not uses_index({"ok": 1.0})
