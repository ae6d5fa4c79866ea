"""The local launcher's command line: ``uv run python deploy/local.py --help``.

The launcher itself is the package ``deploy.launcher`` (tests and benchmarks import it).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts deploy/ on the path, not the repository that holds the
# package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.launcher import *  # noqa: F403
from deploy.launcher import main

if __name__ == "__main__":
    sys.exit(main())
