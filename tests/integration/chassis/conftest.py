from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.chassis.inprocess import InProcess, build_all, started
from tests.support.infra import Infra


@pytest.fixture(scope="module")
async def four_services(infra: Infra, run_id: str) -> AsyncIterator[InProcess]:
    async with started(build_all(infra, run_id, "doors")) as services:
        yield services
