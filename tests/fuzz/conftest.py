from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.fuzz_platform import RunningPlatform, Seeded, running_platform, seed


@pytest.fixture(scope="session")
def fuzz_platform(
    base_env: dict[str, str],
    run_id: str,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    work = tmp_path_factory.mktemp("fuzz")
    with running_platform(base_env, run_id, jwt_secret, "fuzz", work) as platform:
        yield platform


@pytest.fixture(scope="session")
async def fuzz_seeded(fuzz_platform: RunningPlatform) -> Seeded:
    return await seed(fuzz_platform)
