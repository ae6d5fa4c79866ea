"""The four services' OpenAPI documents: committed copies current, every error a named
problem kind, and the access they document the same as the permission table's.

The documents are built in-process from the services' apps (nothing is started)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.api import problems as audit_problems
from chassis.problems import PROBLEM_BASE, ProblemKind, problem_kinds
from deploy import openapi_dump
from intake import problems as intake_problems
from notification.api import problems as notification_problems
from processing.api import problems as processing_problems
from tests.permissions.permission_table import MATRIX

# The role each caller of the permission table holds; anon, exp and forged hold no valid
# token at all.
ROLE_OF = {
    "portal": "portal",
    "offA": "officer",
    "offAc": "officer",
    "officer_b": "officer",
    "leader_a": "leader",
    "inspector": "officer",
    "auditor": "auditor",
    "auditorP": "auditor",
    "operator": "operator",
    "desk": "desk",
    "hotline": "hotline",
}
WITHOUT_TOKEN = ("anon", "exp", "forged")
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return openapi_dump.documents()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_committed_documents_and_problem_table_are_current() -> None:
    stale = [
        str(path.relative_to(openapi_dump.ROOT))
        for path, text in openapi_dump.expected_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale, run `make openapi`: {stale}"


def test_every_error_example_names_a_declared_kind(documents: dict[str, dict[str, Any]]) -> None:
    kinds = {k.code: k for k in problem_kinds()}
    for service, document in documents.items():
        assert "about:blank" not in json.dumps(document), service
        for method, path, operation in operations(document):
            for status, response in operation["responses"].items():
                if int(status) < 400 or path == "/readyz":
                    continue
                examples = response["content"]["application/problem+json"]["examples"]
                for code, example in examples.items():
                    kind = kinds[code]
                    assert example["value"]["type"] == PROBLEM_BASE + code
                    assert str(kind.status) == status, (service, method, path, code)


def test_every_kind_a_service_declares_is_documented(
    documents: dict[str, dict[str, Any]],
) -> None:
    """A kind no operation documents is either dead code or an error a client cannot
    expect."""
    text = json.dumps(documents)
    declared = [
        value
        for module in (intake_problems, processing_problems, notification_problems, audit_problems)
        for value in vars(module).values()
        if isinstance(value, ProblemKind)
    ]
    assert len(declared) >= 20
    missing = [k.code for k in declared if f'"{PROBLEM_BASE}{k.code}"' not in text]
    assert not missing, missing


def test_operation_ids_are_unique_across_services(documents: dict[str, dict[str, Any]]) -> None:
    # Health probes are the chassis's, the same operation in every service.
    seen: dict[str, str] = {}
    for service, document in documents.items():
        for method, path, operation in operations(document):
            if path in ("/healthz", "/readyz"):
                continue
            op_id = operation["operationId"]
            assert op_id not in seen, f"{op_id}: {service} {method} {path} and {seen[op_id]}"
            seen[op_id] = f"{service} {method} {path}"


def test_documented_access_agrees_with_the_permission_table(
    documents: dict[str, dict[str, Any]],
) -> None:
    """A caller without a valid token gets 401 exactly where the document asks for one, and
    a caller whose role the document does not admit gets 403."""
    disagreements: list[str] = []
    for row, expected in MATRIX.items():
        operation = documents[row.service]["paths"].get(row.path, {}).get(row.method.lower())
        if operation is None:
            continue  # /metrics, left out of the documents on purpose
        roles = set(operation.get("x-roles", []))
        secured = bool(operation.get("security"))
        for principal, status in expected.items():
            if not secured:
                # A public operation ignores the token: everybody gets what anybody gets.
                if status != expected["anon"]:
                    disagreements.append(f"{row}: public, yet {principal} gets {status}")
            elif principal in WITHOUT_TOKEN:
                if status != 401:
                    disagreements.append(f"{row}: {principal} gets {status}, documented 401")
            elif ROLE_OF[principal] not in roles and status != 403:
                disagreements.append(f"{row}: {principal} gets {status}, roles {sorted(roles)}")
    assert not disagreements, "\n".join(disagreements)


def test_every_list_pages_the_same_way(documents: dict[str, dict[str, Any]]) -> None:
    """An operation taking `cursor` takes `limit`, answers `next_cursor` and documents the
    `Link` header; no other paging parameter is left."""
    lists = 0
    for service, document in documents.items():
        schemas = document["components"]["schemas"]
        for _method, path, operation in operations(document):
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"after_size", "page", "offset"}, (service, path)
            if "cursor" not in names:
                continue
            lists += 1
            assert "limit" in names, (service, path)
            ok = operation["responses"]["200"]
            assert "Link" in ok["headers"], (service, path)
            ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert "next_cursor" in schemas[ref]["properties"], (service, path)
    # The officers' queue, the delivery log, the audit trail, entries and checkpoints.
    assert lists == 5
