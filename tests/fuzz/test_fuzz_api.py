"""Schemathesis against every operation of every service's own OpenAPI document.

Requests are generated from the document (valid and invalid data, with a valid token for
the role each operation needs, and with the identifiers of real seeded dossiers half
the time), sent to the running service, and every answer must keep the contract: no 5xx,
a documented status code, a documented content type, a body that matches its schema,
and every error an ``application/problem+json`` document whose ``status`` is the HTTP
status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.fuzz_platform import (
    AGENCY_A,
    INSPECTORATE,
    RunningPlatform,
    Seeded,
    waste_registration,
)
from tests.support.services import SERVICES

pytestmark = pytest.mark.fuzz

# Audit's document verification takes the PDF itself as the body: arbitrary bytes sent
# as application/pdf, which the endpoint must refuse as not a PDF, inside its contract.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")

# Examples per operation: with ~45 operations the four services take about a minute.
MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def problem_documents(response: Any) -> None:
    """Every error is an RFC 9457 problem document that repeats the HTTP status."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/problem+json"), (
        f"{response.status_code} answered as {content_type!r}: {response.text[:200]}"
    )
    document = json.loads(response.content)
    assert isinstance(document, dict), document
    assert document.get("status") == response.status_code, document
    assert isinstance(document.get("title"), str), document
    assert isinstance(document.get("type"), str), document


def who_calls(platform: RunningPlatform, service: str, path: str) -> dict[str, str]:
    """A token of the role the operation is for; public operations get one too, which
    they must ignore."""
    if service == "intake":
        if path.startswith("/v1/identities"):
            return platform.token(
                "fuzz-inspector", "officer", agency=INSPECTORATE, scopes=("identity:resolve",)
            )
        return platform.token("fuzz-portal", "portal")
    if service == "processing":
        if path.startswith("/v1/ops"):
            return platform.token("fuzz-operator", "operator")
        return platform.token("fuzz-leader", "leader", agency=AGENCY_A)
    if service == "notification":
        return platform.token("fuzz-operator", "operator")
    return platform.token("fuzz-auditor", "auditor", scopes=("audit:pii",))


def real_identifiers(seeded: Seeded, path: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """Path parameters (and headers) naming things that exist, where the path has any."""
    known = {
        "{dossier_id}": ({"dossier_id": seeded.received.dossier_id}, {}),
        "{receipt_code}": (
            {"receipt_code": seeded.received.receipt_code},
            {"X-Follow-Up-Secret": seeded.received.follow_up_secret},
        ),
        "{pseudonym}": ({"pseudonym": seeded.pseudonym}, {}),
        "{delivery_id}": ({"delivery_id": seeded.delivery_id}, {}),
        "{code}": ({"code": "MT-004"}, {}),
    }
    for placeholder, found in known.items():
        if placeholder in path:
            return found
    return None


def strategy_for(
    operation: Any, headers: dict[str, str], seeded: Seeded
) -> st.SearchStrategy[Case]:
    options = [
        operation.as_strategy(headers=headers),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=headers),
    ]
    real = real_identifiers(seeded, operation.path)
    if real is not None:
        path_parameters, extra = real
        options.append(
            operation.as_strategy(path_parameters=path_parameters, headers=headers | extra)
        )
    if operation.method.upper() == "POST" and operation.path == "/v1/dossiers":
        options.append(
            operation.as_strategy(body=waste_registration("fuzz@example.vn"), headers=headers)
        )
    return st.one_of(options)


def run_operation(
    operation: Any, strategy: st.SearchStrategy[Case], base_url: str
) -> Callable[[], None]:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=CHECKS)
        problem_documents(response)

    return exercise


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_keeps_its_contract(
    service: str, fuzz_platform: RunningPlatform, fuzz_seeded: Seeded
) -> None:
    base_url = fuzz_platform.url(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = who_calls(fuzz_platform, service, operation.path)
        strategy = strategy_for(operation, headers, fuzz_seeded)
        try:
            run_operation(operation, strategy, base_url)()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
        tried += 1
    assert tried >= 3, f"{service} documents only {tried} operations"
    assert not failures, f"{len(failures)} operation(s) broke the contract:\n\n" + "\n\n".join(
        failures
    )
