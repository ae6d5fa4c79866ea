from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.fuzz_platform import RunningPlatform, Seeded, running_platform, seed


@pytest.fixture(scope="session")
def permission_platform(
    base_env: dict[str, str],
    run_id: str,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    # The matrix asks the public follow-up routes dozens of times from one address.
    extra = {"INTAKE_RATE_LIMIT_FOLLOW_UP_PER_IP": "10000/minute"}
    work = tmp_path_factory.mktemp("permissions")
    with running_platform(base_env, run_id, jwt_secret, "perm", work, extra) as platform:
        yield platform


@pytest.fixture(scope="session")
async def permission_seeded(permission_platform: RunningPlatform) -> Seeded:
    return await seed(permission_platform)
