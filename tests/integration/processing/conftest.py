from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from chassis.settings import ServiceSettings
from tests.integration.processing.processing_harness import Deployed, Intake, processing_process
from tests.support.infra import Infra

SHARED = "processing-it"


@pytest.fixture(scope="session")
def processing(
    base_env: dict[str, str],
    run_id: str,
    infra: Infra,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    """One processing process shared by the officer, deadline and statistics tests."""
    process = processing_process(base_env, run_id, SHARED, tmp_path_factory.mktemp(SHARED))
    process.start()
    try:
        process.wait_ready()
        yield Deployed(process, SHARED, infra.kafka)
    finally:
        process.stop()


@pytest.fixture(scope="session")
async def intake(processing: Deployed, run_id: str) -> AsyncIterator[Intake]:
    stand_in = Intake(
        ServiceSettings(
            service_name="intake-stand-in",
            kafka_bootstrap_servers=processing.bootstrap,
            kafka_topic_prefix=f"{run_id}-{SHARED}.",
        )
    )
    await stand_in.start()
    yield stand_in
    await stand_in.stop()
