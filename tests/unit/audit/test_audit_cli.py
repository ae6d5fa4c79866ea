from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.cli import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, main
from audit.domain.chain import AuditEntry
from audit.domain.checkpoint import (
    Checkpoint,
    key_id,
    load_private_key,
    load_public_key,
    public_key_to_base64,
    public_key_to_pem,
    sign_checkpoint,
    verify_checkpoint,
)
from audit.domain.export import checkpoint_to_line, entry_to_line


class SampleLog(Protocol):
    entries: list[AuditEntry]
    checkpoints: list[Checkpoint]


class Export(Protocol):
    def __call__(self, log: SampleLog) -> list[str]: ...


@pytest.fixture
def export(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Export:
    """Write a log as the export endpoint does; returns the verify-export arguments."""

    def write(log: SampleLog) -> list[str]:
        entries = tmp_path / "entries.ndjson"
        checkpoints = tmp_path / "checkpoints.ndjson"
        key = tmp_path / "audit.pub.pem"
        entries.write_text("".join(entry_to_line(e) + "\n" for e in log.entries), "utf-8")
        checkpoints.write_text(
            "".join(checkpoint_to_line(c) + "\n" for c in log.checkpoints), "utf-8"
        )
        key.write_bytes(public_key_to_pem(signing_key.public_key()))
        return [
            "verify-export",
            "--log",
            str(entries),
            "--checkpoints",
            str(checkpoints),
            "--public-key",
            str(key),
        ]

    return write


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def table(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        if line.startswith("  "):
            label, _, value = line.strip().partition("  ")
            rows[label] = value.strip()
    return rows


def test_verify_intact_export(
    sample_log: Callable[..., SampleLog], export: Export, signing_key: Ed25519PrivateKey
) -> None:
    code, out, err = run_cli(export(sample_log(95, every=10)))
    rows = table(out)
    assert code == 0, out
    assert rows["Result"] == "OK"
    assert rows["Entries checked"] == "95"
    assert rows["Checkpoints checked"] == "9"
    assert rows["Signed coverage"] == "seq 1 to 90"
    assert rows["First failure"] == "none"
    assert rows["Public key id"] == key_id(signing_key.public_key())
    assert "last 5 entries are after the newest checkpoint" in out
    assert err == ""


def test_verify_reports_first_tampered_seq(
    sample_log: Callable[..., SampleLog], export: Export
) -> None:
    log = sample_log()
    log.entries[16] = log.entries[16].model_copy(update={"payload": {"fee_vnd": 0}})
    code, out, _ = run_cli(export(log))
    rows = table(out)
    assert code == 1
    assert rows["Result"] == "FAILED"
    assert rows["First failure"] == "seq 17: entry edited (hash mismatch)"
    assert rows["Entries checked"] == "16"


def test_verify_reports_deleted_entry(sample_log: Callable[..., SampleLog], export: Export) -> None:
    log = sample_log()
    del log.entries[30]
    code, out, _ = run_cli(export(log))
    assert code == 1
    assert table(out)["First failure"] == "seq 31: entry missing (sequence gap)"


def test_progress_goes_to_stderr(sample_log: Callable[..., SampleLog], export: Export) -> None:
    code, out, err = run_cli([*export(sample_log(95)), "--progress-every", "40"])
    assert code == 0
    assert err.splitlines() == ["... 40 entries read (seq 40)", "... 80 entries read (seq 80)"]
    assert "entries read" not in out


def test_export_written_with_json_module_and_bom(
    sample_log: Callable[..., SampleLog], export: Export
) -> None:
    log = sample_log(30)
    args = export(log)
    entries = Path(args[2])
    lines = [json.dumps(e.model_dump(mode="json")) for e in log.entries]
    entries.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n\r\n")
    code, out, _ = run_cli(args)
    assert code == 0, out


def test_invalid_utf8_line_is_an_unreadable_entry(
    sample_log: Callable[..., SampleLog], export: Export
) -> None:
    args = export(sample_log(30))
    entries = Path(args[2])
    lines = entries.read_bytes().splitlines(keepends=True)
    lines[11] = b'{"seq": 12, "actor": "\xff\xfe"}\n'
    entries.write_bytes(b"".join(lines))
    code, out, _ = run_cli(args)
    assert code == 1
    assert table(out)["First failure"] == "seq 12: entry unreadable (not a valid audit entry)"
    assert "line 12" in table(out)["Detail"]


def test_malformed_checkpoints_file_fails_verification(
    sample_log: Callable[..., SampleLog], export: Export
) -> None:
    args = export(sample_log(30))
    checkpoints = Path(args[4])
    checkpoints.write_text(checkpoints.read_text() + "{oops\n")
    code, out, _ = run_cli(args)
    assert code == 1
    assert table(out)["Result"] == "FAILED"
    assert "line 4" in table(out)["First failure"]


def test_raw_base64_public_key_is_accepted(
    sample_log: Callable[..., SampleLog], export: Export, signing_key: Ed25519PrivateKey
) -> None:
    args = export(sample_log(30))
    Path(args[6]).write_text(public_key_to_base64(signing_key.public_key()) + "\n")
    assert run_cli(args)[0] == 0


def test_unusable_inputs_exit_2(
    sample_log: Callable[..., SampleLog], export: Export, tmp_path: Path
) -> None:
    args = export(sample_log(30))
    Path(args[6]).write_text("not a key")
    code, _, err = run_cli(args)
    assert code == 2
    assert "public key" in err

    args = export(sample_log(30))
    missing = [*args]
    missing[2] = str(tmp_path / "absent.ndjson")
    code, _, err = run_cli(missing)
    assert code == 2
    assert "cannot read entries" in err


def test_keygen_writes_a_usable_key_pair(tmp_path: Path) -> None:
    out_dir = tmp_path / "keys"
    code, out, _ = run_cli(["keygen", "--out", str(out_dir)])
    assert code == 0
    private_path, public_path = out_dir / PRIVATE_KEY_FILE, out_dir / PUBLIC_KEY_FILE
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private_key = load_private_key(private_path.read_bytes())
    public_key = load_public_key(public_path.read_bytes())
    assert key_id(public_key) in out
    checkpoint = sign_checkpoint(
        private_key,
        log_id="hoso-audit",
        tree_size=0,
        root_hash="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        last_entry_hash="0" * 64,
        issued_at="2024-05-01T00:00:00Z",
    )
    assert verify_checkpoint(checkpoint, public_key)


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    assert run_cli(["keygen", "--out", str(tmp_path)])[0] == 0
    first = (tmp_path / PRIVATE_KEY_FILE).read_bytes()
    code, _, err = run_cli(["keygen", "--out", str(tmp_path)])
    assert code == 2
    assert "already exists" in err
    assert (tmp_path / PRIVATE_KEY_FILE).read_bytes() == first

    (tmp_path / PRIVATE_KEY_FILE).chmod(0o644)
    assert run_cli(["keygen", "--out", str(tmp_path), "--force"])[0] == 0
    assert (tmp_path / PRIVATE_KEY_FILE).read_bytes() != first
    assert stat.S_IMODE((tmp_path / PRIVATE_KEY_FILE).stat().st_mode) == 0o600


def test_module_entry_point(sample_log: Callable[..., SampleLog], export: Export) -> None:
    log = sample_log(20, every=5)
    ok = subprocess.run(
        [sys.executable, "-m", "audit.cli", *export(log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Result" in ok.stdout

    del log.entries[7]
    failed = subprocess.run(
        [sys.executable, "-m", "audit.cli", *export(log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    assert "seq 8: entry missing (sequence gap)" in failed.stdout


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["verify-export", "--log", "x"])
    assert caught.value.code == 2
