"""Starting, watching and stopping components' processes; the public API."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.launcher.base import (
    HOST,
    LauncherError,
    Layout,
    _port_free,
    _say,
    _tail,
    layout,
)
from deploy.launcher.components import (
    ALL,
    REQUIRES,
    Component,
    _resolve,
    component,
    extra_brokers,
    kafka_brokers,
)

# --------------------------------------------------------------------------- processes


# Children started by this interpreter, kept so they can be reaped instead of lingering
# as zombies in a long-lived test process.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass
class Running:
    pid: int
    config: dict[str, Any]
    started_at: str


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        raw, stat = b"", ""
    if stat and stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None  # a zombie has exited; its pid only awaits reaping
    if raw:
        return raw.replace(b"\0", b" ").decode("utf-8", "replace")
    # No procfs (macOS): ask ps.
    out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True)
    return out.stdout.decode("utf-8", "replace").strip() or None


def _alive(pid: int, marker: str) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        # A child of this process: its pid cannot be recycled before it is reaped, so its
        # exit status decides. Its command line is no guide while it execs (the JVM's
        # launcher may exec itself again), when it can read as empty.
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmd = _cmdline(pid)
    # The marker guards against a recycled pid now belonging to something else.
    return cmd is not None and marker in cmd


def _read_pidfile(comp: Component) -> Running | None:
    path = comp.lay.pidfile(comp.name)
    try:
        data = json.loads(path.read_text())
        return Running(int(data["pid"]), dict(data["config"]), str(data.get("started_at", "")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None


def _running(comp: Component) -> Running | None:
    """The recorded process if it is still alive, cleaning up a stale pid file."""
    rec = _read_pidfile(comp)
    if rec is None:
        return None
    if _alive(rec.pid, comp.marker()):
        return rec
    comp.lay.pidfile(comp.name).unlink(missing_ok=True)
    _children.pop(rec.pid, None)
    return None


@contextlib.contextmanager
def _lock(lay: Layout) -> Iterator[None]:
    # Serialises launchers (parallel test workers, a CLI in another terminal) so two of
    # them never start the same component.
    lay.run.mkdir(parents=True, exist_ok=True)
    with (lay.run / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _launch(comp: Component, config: dict[str, Any]) -> Running:
    busy = [f"{HOST}:{p} ({k})" for k, p in comp.ports(config).items() if not _port_free(p)]
    if busy:
        raise LauncherError(
            comp.name,
            f"{', '.join(busy)} already in use by a process this launcher did not start; "
            f"stop it or choose other ports (see `{Path(__file__).name} --help`)",
        )
    argv, env = comp.command(config)
    lay = comp.lay
    lay.logs.mkdir(parents=True, exist_ok=True)
    log_path = lay.log(comp.name)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with log_path.open("ab") as log:
        log.write(f"\n===== {started_at} starting: {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=lay.root,
            env=env,
            # Own session: Ctrl-C in the terminal or the end of a test run leaves the
            # infrastructure up for the next run, and down can signal the whole group.
            start_new_session=True,
        )
    _children[proc.pid] = proc
    rec = Running(proc.pid, config, started_at)
    tmp = lay.pidfile(comp.name).with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": rec.pid, "config": config, "started_at": started_at}))
    tmp.replace(lay.pidfile(comp.name))
    return rec


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        # The group reaches helpers a component may have forked; only used when the pid
        # leads its own group, which start_new_session guarantees for ours.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    proc = _children.get(pid)
    while time.monotonic() < deadline:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        else:
            time.sleep(0.2)
        if not _alive(pid, marker):
            _wait_reaped(pid, deadline)
            return True
    return not _alive(pid, marker)


def _wait_reaped(pid: int, deadline: float) -> None:
    # A killed process stays a zombie until its parent (init, for an orphan) reaps it, and
    # while it does, a new PostgreSQL takes the pid in postmaster.pid for a live server.
    proc_dir = Path(f"/proc/{pid}")
    while proc_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _terminate(comp: Component, *, force: bool = False) -> bool:
    """Stop the component's process; True if one was running."""
    rec = _running(comp)
    if rec is None:
        return False
    marker = comp.marker()
    if not force:
        _signal(rec.pid, comp.stop_signal)
        if _wait_gone(rec.pid, marker, comp.grace):
            comp.lay.pidfile(comp.name).unlink(missing_ok=True)
            _children.pop(rec.pid, None)
            return True
        _say(f"{comp.name}: still running after {comp.grace:.0f} s, sending SIGKILL")
    _signal(rec.pid, signal.SIGKILL)
    if not _wait_gone(rec.pid, marker, 10):
        raise LauncherError(comp.name, f"pid {rec.pid} survived SIGKILL")
    comp.lay.pidfile(comp.name).unlink(missing_ok=True)
    _children.pop(rec.pid, None)
    return True


def _failure(comp: Component, message: str) -> LauncherError:
    log = comp.lay.log(comp.name)
    return LauncherError(comp.name, message, f"--- last lines of {log} ---\n{_tail(log)}")


def _up(names: list[str], lay: Layout) -> dict[str, str]:
    """Start the components in waves: one whose requirements are among ``names`` waits
    until they are ready (FerretDB would only answer errors without PostgreSQL)."""
    later = [n for n in names if set(REQUIRES.get(n, ())) & set(names)]
    first = [n for n in names if n not in later]
    result = _up_wave(first, lay)
    if later:
        result.update(_up_wave(later, lay))
    return result


def _up_wave(names: list[str], lay: Layout) -> dict[str, str]:
    comps = [component(n, lay) for n in names]
    pending: dict[str, tuple[Component, Running, float]] = {}
    result: dict[str, str] = {}
    errors: list[LauncherError] = []

    for comp in comps:
        try:
            wanted = comp.config()
            rec = _running(comp)
            if rec is not None and rec.config != wanted:
                _say(f"{comp.name}: configuration changed, restarting")
                _terminate(comp)
                rec = None
            if rec is not None and comp.probe(rec.config):
                result.update(comp.endpoints(rec.config))
                continue
            if rec is None:
                # Downloads and builds happen here, before the readiness clock starts;
                # earlier components boot meanwhile.
                comp.prepare()
                rec = _launch(comp, wanted)
                _say(f"{comp.name}: starting (pid {rec.pid}, log {lay.log(comp.name)})")
            else:
                _say(f"{comp.name}: running (pid {rec.pid}) but not answering yet, waiting")
            pending[comp.name] = (comp, rec, time.monotonic() + comp.timeout)
        except LauncherError as exc:
            errors.append(exc)

    first_round = True
    while pending:
        for name, (comp, rec, deadline) in list(pending.items()):
            if comp.probe(rec.config):
                result.update(comp.endpoints(rec.config))
                del pending[name]
                # Ready at the first look means it booted while later components were
                # being prepared; the time since launch would then measure the wrong thing.
                waited = time.monotonic() - (deadline - comp.timeout)
                _say(f"{name}: ready" if first_round else f"{name}: ready after {waited:.1f} s")
                continue
            if not _alive(rec.pid, comp.marker()):
                comp.lay.pidfile(name).unlink(missing_ok=True)
                code = _children.pop(rec.pid).returncode if rec.pid in _children else None
                how = f" with exit code {code}" if code is not None else ""
                errors.append(_failure(comp, f"exited during start-up{how}"))
                del pending[name]
            elif time.monotonic() > deadline:
                # Left running: it may only be slow, and its state helps diagnose why.
                message = (
                    f"did not become ready within {comp.timeout:.0f} s "
                    f"(still running as pid {rec.pid}; `down {name}` stops it)"
                )
                errors.append(_failure(comp, message))
                del pending[name]
        first_round = False
        if pending:
            time.sleep(0.25)

    if errors:
        if len(errors) == 1:
            raise errors[0]
        joined = "; ".join(str(e) for e in errors)
        tails = "\n".join(e.log_tail for e in errors if e.log_tail)
        raise LauncherError(",".join(e.component for e in errors), joined, tails)
    return result


# --------------------------------------------------------------------------- public API


def ensure_up(components: Iterable[str] | str = ALL) -> dict[str, str]:
    """Start whatever of ``components`` is not running and wait until each is ready.

    Returns the endpoints, e.g. ``{"kafka": "127.0.0.1:9092", "mongodb":
    "mongodb://127.0.0.1:27017", "smtp": "127.0.0.1:1025", "smtp_http":
    "http://127.0.0.1:8025", "zipkin": "http://127.0.0.1:9411", "mail_dir": "..."}``.
    Raises :class:`LauncherError` naming the component that did not come up.
    """
    lay = layout()
    with _lock(lay):
        names = _resolve(components, lay=lay)
        if "kafka" in names:
            # A cluster shrinking (to the lone broker by default): its other brokers go.
            for extra in extra_brokers(lay, kafka_brokers(lay)):
                if _terminate(component(extra, lay)):
                    _say(f"{extra}: stopped (asked for fewer Kafka brokers)")
        return _up(names, lay)


def stop(components: Iterable[str] | str = ALL) -> list[str]:
    """SIGTERM, then SIGKILL after the component's grace period; returns what was stopped."""
    lay = layout()
    stopped = []
    with _lock(lay):
        names = _every(components, lay)
        brokers = [n for n in names if n.partition("-")[0] == "kafka"]
        told: set[str] = set()
        if len(brokers) > 1:
            # A cluster's brokers are told together: one by one, the last would wait out
            # its grace for a controller quorum that has already gone.
            for name in brokers:
                comp = component(name, lay)
                rec = _running(comp)
                if rec is not None:
                    _signal(rec.pid, comp.stop_signal)
                    told.add(name)
        for name in reversed(names):
            # A broker told above may be gone already.
            if _terminate(component(name, lay)) or name in told:
                stopped.append(name)
    return stopped


def _every(components: Iterable[str] | str, lay: Layout) -> list[str]:
    """The components named, with every broker of a Kafka cluster that has a pid file."""
    names = _resolve(components, lay=lay)
    if "kafka" in names:
        names += [n for n in extra_brokers(lay, 1) if n not in names]
    return _resolve(names, requirements=False)


_component = component


def kill(component: str) -> bool:
    """SIGKILL the component at once (crash simulation); True if it was running."""
    lay = layout()
    with _lock(lay):
        [name] = _resolve(component, requirements=False)
        return _terminate(_component(name, lay), force=True)


def restart(component: str) -> dict[str, str]:
    """Stop (gracefully) and start one component again, keeping its data."""
    lay = layout()
    with _lock(lay):
        [name] = _resolve(component, requirements=False)
        _terminate(_component(name, lay))
        return _up([name], lay)


def reset(components: Iterable[str] | str = ALL) -> list[str]:
    """Stop the components and delete their data; downloaded jars and binaries stay."""
    lay = layout()
    removed: list[str] = []
    with _lock(lay):
        for name in reversed(_every(components, lay)):
            comp = component(name, lay)
            _terminate(comp)
            for path in comp.data_paths():
                if not path.exists():
                    continue
                if path.is_relative_to(lay.root):
                    shutil.rmtree(path)
                else:
                    # A mail dir pointed elsewhere may hold other files: only drop ours.
                    for f in [*path.glob("*.eml"), *path.glob(".*.tmp")]:
                        f.unlink(missing_ok=True)
                removed.append(str(path))
    return removed


def endpoints(components: Iterable[str] | str = ALL) -> dict[str, str]:
    """Endpoints of running components (their recorded ports), else the configured ones."""
    lay = layout()
    result: dict[str, str] = {}
    for name in _every(components, lay):
        comp = component(name, lay)
        rec = _running(comp)
        result.update(comp.endpoints(rec.config if rec else comp.config()))
    return result


@dataclass
class Status:
    component: str
    address: str
    pid: int | None
    state: str  # ready | not answering | stopped | port in use (not ours)


def status(components: Iterable[str] | str = ALL) -> list[Status]:
    lay = layout()
    rows = []
    for name in _every(components, lay):
        comp = component(name, lay)
        rec = _running(comp)
        config = rec.config if rec else comp.config()
        if rec is not None:
            state = "ready" if comp.probe(config) else "not answering"
        elif any(not _port_free(p) for p in comp.ports(config).values()):
            state = "port in use (not ours)"
        else:
            state = "stopped"
        rows.append(Status(name, comp.address(config), rec.pid if rec else None, state))
    return rows
