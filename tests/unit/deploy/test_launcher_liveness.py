"""The local launcher's idea of whether a component it started is still running."""

from __future__ import annotations

import subprocess
import sys

from deploy.launcher import processes


def test_a_started_child_is_alive_until_it_exits_whatever_its_command_line_shows() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    processes._children[child.pid] = child
    try:
        # The marker is nowhere in the child's command line, as while a JVM re-execs.
        assert processes._alive(child.pid, "not-in-the-command-line")
        child.kill()
        child.wait()
        assert not processes._alive(child.pid, "not-in-the-command-line")
    finally:
        processes._children.pop(child.pid, None)
        if child.poll() is None:
            child.kill()


def test_a_process_started_elsewhere_needs_the_marker() -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert processes._alive(other.pid, "time.sleep(30)")
        assert not processes._alive(other.pid, "kafka.properties")
    finally:
        other.kill()
        other.wait()
