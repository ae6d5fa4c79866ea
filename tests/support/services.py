"""Runs the four services as separate processes, the way they run in production: each
service may run as several replicas, each its own process on its own port with the same
environment (same databases, same consumer groups)."""

from __future__ import annotations

import os

from deploy.launcher.spawn import (
    SERVICES,
    ServiceProcess,
    free_port,
    instance_id,
    with_instance,
)

__all__ = [
    "SERVICES",
    "ServiceProcess",
    "free_port",
    "instance_id",
    "replica_count",
    "service_env",
    "with_instance",
]

# How many processes of each service the end-to-end platform runs.
REPLICAS_VARIABLE = "HOSO_E2E_REPLICAS"
DEFAULT_REPLICAS = 2


def replica_count(environ: dict[str, str] | None = None) -> int:
    """The replicas per service asked for in ``HOSO_E2E_REPLICAS`` (default 2)."""
    raw = (os.environ if environ is None else environ).get(REPLICAS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_REPLICAS
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{REPLICAS_VARIABLE} must be a whole number of at least 1, not {raw!r}")
    return count


def service_env(
    base_env: dict[str, str], run_id: str, name: str, extra: dict[str, str]
) -> dict[str, str]:
    prefix = name.upper()
    env = {
        **base_env,
        f"{prefix}_MONGODB_DATABASE": f"{run_id}_{name}",
        **extra,
    }
    pythonpath = os.environ.get("PYTHONPATH")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env
