"""Which unique key refused a submission's insert, read from the refusal as MongoDB and
FerretDB word it; anything else is left to a read of the idempotency index."""

from __future__ import annotations

from intake.adapters.store import _refusing_index


def test_mongodb_names_the_key_pattern() -> None:
    failure = {
        "index": 0,
        "code": 11000,
        "errmsg": "E11000 duplicate key error collection: intake.submissions index: "
        'receipt_code_1 dup key: { receipt_code: "MT-261126-AAAAAA" }',
        "keyPattern": {"receipt_code": 1},
        "keyValue": {"receipt_code": "MT-261126-AAAAAA"},
    }
    assert _refusing_index(failure) == "receipt_code"
    failure["keyPattern"] = {"idempotency_id": 1}
    assert _refusing_index(failure) == "idempotency_id"


def test_ferretdb_names_the_index_in_its_message() -> None:
    message = "Duplicate key violation on the requested collection: Index '{}'"
    assert _refusing_index({"errmsg": message.format("idempotency_id_1")}) == "idempotency_id"
    assert _refusing_index({"errmsg": message.format("receipt_code_1")}) == "receipt_code"


def test_a_refusal_naming_neither_is_left_to_a_read() -> None:
    assert _refusing_index({"errmsg": "Duplicate key violation: Index '_id_'"}) is None
    assert _refusing_index({"errmsg": "duplicate key"}) is None
    assert _refusing_index({"keyPattern": {"_id": 1}, "errmsg": "receipt_code_1"}) is None
