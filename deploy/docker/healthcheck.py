"""The services' image HEALTHCHECK: asks ``/readyz`` of the service this container runs.

One image runs any of the four services or the workbench, so the port is found from the process: the
service's command (``hoso-intake`` …) names it, its ``<SERVICE>_HTTP_PORT`` (or its
default) gives the port. Exit 0 when the service is ready (Kafka and the store reachable,
consumers running), 1 otherwise. Standard library only; one short Python process per
check.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# command -> (environment prefix, default port): the services' settings classes' defaults.
SERVICES = {
    "hoso-intake": ("INTAKE", 8001),
    "hoso-processing": ("PROCESSING", 8002),
    "hoso-notification": ("NOTIFICATION", 8003),
    "hoso-audit": ("AUDIT", 8004),
    "hoso-workbench": ("WORKBENCH", 8005),
}
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def running_service(proc: Path = Path("/proc")) -> str | None:
    """The command of the service running in this container, if one runs."""
    for entry in sorted(proc.iterdir(), key=lambda p: p.name):
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in argv[:3]:
            name = os.path.basename(arg.decode("utf-8", "replace"))
            if name in SERVICES:
                return name
    return None


def readiness_url(service: str, env: dict[str, str]) -> str:
    prefix, default_port = SERVICES[service]
    port = env.get(f"{prefix}_HTTP_PORT") or str(default_port)
    host = env.get(f"{prefix}_HTTP_HOST", "")
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/readyz"


def main() -> int:
    service = running_service()
    if service is None:
        print("no hoso service runs in this container", file=sys.stderr)
        return 1
    url = readiness_url(service, dict(os.environ))
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - fixed http URL
            ready = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"{service}: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
