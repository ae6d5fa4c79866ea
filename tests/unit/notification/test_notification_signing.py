"""Webhook signatures: the service's signer and the portal's verification helper."""

from __future__ import annotations

import ast
import hashlib
import hmac
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import notification.webhook_verify as webhook_verify
from notification.domain.signing import sign, sign_rotating, webhook_headers
from notification.webhook_verify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    DuplicateDelivery,
    InvalidSignature,
    ReplayGuard,
    parse_signature_header,
    verify,
    verify_delivery,
)

SECRET = b"whsec_5c1b0e5f0d7a4f8e9b2c3d4e5f6a7b8c"
OLD_SECRET = b"whsec_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
BODY = (
    b'{"event_type":"dossier.status-changed.v1","receipt_code":"000.00.12.H12-250317-0042",'
    b'"status":"supplement_requested","title":"Y\xc3\xaau c\xe1\xba\xa7u b\xe1\xbb\x95 sung"}'
)
NOW = 1_742_440_500  # 2025-03-20 03:15:00 UTC


def reason_of(excinfo: pytest.ExceptionInfo[InvalidSignature]) -> str:
    return excinfo.value.reason


# --- signing -------------------------------------------------------------------


def test_header_format_and_mac_definition() -> None:
    header = sign(BODY, SECRET, NOW)
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)


def test_round_trip() -> None:
    verify(BODY, sign(BODY, SECRET, NOW), SECRET, now=NOW)


def test_round_trip_at_the_edges_of_the_tolerance() -> None:
    verify(BODY, sign(BODY, SECRET, NOW - 300), SECRET, tolerance_s=300, now=NOW)
    verify(BODY, sign(BODY, SECRET, NOW + 300), SECRET, tolerance_s=300, now=NOW)


def test_webhook_headers() -> None:
    headers = webhook_headers(BODY, [SECRET], "dlv-8f14e45f", NOW)
    assert headers == {
        SIGNATURE_HEADER: sign(BODY, SECRET, NOW),
        DELIVERY_HEADER: "dlv-8f14e45f",
    }
    with pytest.raises(ValueError, match="single line"):
        webhook_headers(BODY, [SECRET], "dlv-1\r\nX-Injected: 1", NOW)


def test_signer_refuses_unusable_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(BODY, b"", NOW)
    with pytest.raises(TypeError):
        sign(BODY.decode(), SECRET, NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign_rotating(BODY, SECRET, NOW)
    with pytest.raises(ValueError, match="at least one"):
        sign_rotating(BODY, [], NOW)
    with pytest.raises(ValueError, match="unix time"):
        sign(BODY, SECRET, -1)


# --- verification failures -----------------------------------------------------


def test_tampered_body() -> None:
    header = sign(BODY, SECRET, NOW)
    tampered = BODY.replace(b"supplement_requested", b"approved")
    with pytest.raises(InvalidSignature) as excinfo:
        verify(tampered, header, SECRET, now=NOW)
    assert reason_of(excinfo) == "signature_mismatch"


def test_tampered_timestamp() -> None:
    header = sign(BODY, SECRET, NOW)
    moved = header.replace(f"t={NOW}", f"t={NOW + 60}")
    with pytest.raises(InvalidSignature) as excinfo:
        verify(BODY, moved, SECRET, now=NOW + 60)
    assert reason_of(excinfo) == "signature_mismatch"


def test_old_timestamp_is_a_replay() -> None:
    header = sign(BODY, SECRET, NOW - 301)
    with pytest.raises(InvalidSignature) as excinfo:
        verify(BODY, header, SECRET, tolerance_s=300, now=NOW)
    assert reason_of(excinfo) == "timestamp_too_old"
    assert "301s" in str(excinfo.value)


def test_timestamp_from_the_future() -> None:
    header = sign(BODY, SECRET, NOW + 3600)
    with pytest.raises(InvalidSignature) as excinfo:
        verify(BODY, header, SECRET, now=NOW)
    assert reason_of(excinfo) == "timestamp_in_future"


def test_wrong_secret() -> None:
    header = sign(BODY, b"whsec_someone_else", NOW)
    with pytest.raises(InvalidSignature) as excinfo:
        verify(BODY, header, SECRET, now=NOW)
    assert reason_of(excinfo) == "signature_mismatch"


def test_uses_current_time_by_default() -> None:
    import time

    verify(BODY, sign(BODY, SECRET, int(time.time())), SECRET)
    with pytest.raises(InvalidSignature):
        verify(BODY, sign(BODY, SECRET, NOW), SECRET)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("   ", "missing_header"),
        ("garbage", "malformed_header"),
        (f"t=abc,v1={'0' * 64}", "malformed_header"),
        (f"t=-5,v1={'0' * 64}", "malformed_header"),
        (f"v1={'0' * 64}", "malformed_header"),
        (f"t={NOW}", "malformed_header"),
        (f"t={NOW},v1=zz", "malformed_header"),
        (f"t={NOW},v1={'0' * 63}", "malformed_header"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", "malformed_header"),
        (f"t={NOW},v0={'0' * 64}", "malformed_header"),
        (f"t={NOW}," + ",".join(f"v1={'0' * 64}" for _ in range(9)), "malformed_header"),
        (f"t={NOW},v1={'0' * 64}" + "," * 5000, "malformed_header"),
    ],
)
def test_missing_or_malformed_header(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        verify(BODY, header, SECRET, now=NOW)
    assert reason_of(excinfo) == reason


def test_unknown_schemes_are_skipped_and_spacing_tolerated() -> None:
    mac = sign(BODY, SECRET, NOW).split("v1=")[1]
    verify(BODY, f"t={NOW}, v0=deadbeef, v1={mac.upper()}", SECRET, now=NOW)
    assert parse_signature_header(f" t = {NOW} , v1 = {mac} ") == (NOW, [mac])


def test_caller_mistakes_are_type_errors() -> None:
    header = sign(BODY, SECRET, NOW)
    with pytest.raises(TypeError, match="raw request body"):
        verify(BODY.decode(), header, SECRET, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        verify(BODY, header, SECRET.decode(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        verify(BODY, header, b"", now=NOW)


# --- secret rotation -----------------------------------------------------------


def test_rotation_header_carries_one_signature_per_secret() -> None:
    header = sign_rotating(BODY, [SECRET, OLD_SECRET], NOW)
    assert header.count("v1=") == 2
    # A portal still on the old secret and one already on the new both accept it.
    verify(BODY, header, OLD_SECRET, now=NOW)
    verify(BODY, header, SECRET, now=NOW)
    with pytest.raises(InvalidSignature):
        verify(BODY, header, b"whsec_unrelated", now=NOW)


def test_rotation_duplicates_collapse() -> None:
    assert sign_rotating(BODY, [SECRET, SECRET], NOW) == sign(BODY, SECRET, NOW)


def test_portal_may_hold_several_secrets_while_it_rotates() -> None:
    signed_with_new = sign(BODY, SECRET, NOW)
    verify(BODY, signed_with_new, [OLD_SECRET, SECRET], now=NOW)
    with pytest.raises(ValueError, match="at least one"):
        verify(BODY, signed_with_new, [], now=NOW)


# --- replay guard --------------------------------------------------------------


def test_guard_refuses_a_delivery_id_seen_within_the_window() -> None:
    guard = ReplayGuard(ttl_s=600)
    guard.check_and_remember("dlv-1", now=NOW)
    assert guard.seen("dlv-1", now=NOW)
    with pytest.raises(DuplicateDelivery) as excinfo:
        guard.check_and_remember("dlv-1", now=NOW + 599)
    assert excinfo.value.reason == "duplicate_delivery"
    assert isinstance(excinfo.value, InvalidSignature)


def test_guard_forgets_after_the_window() -> None:
    guard = ReplayGuard(ttl_s=600)
    guard.check_and_remember("dlv-1", now=NOW)
    assert not guard.seen("dlv-1", now=NOW + 600)
    guard.check_and_remember("dlv-1", now=NOW + 600)
    assert len(guard) == 1


def test_guard_is_bounded() -> None:
    guard = ReplayGuard(ttl_s=600, max_entries=3)
    for n in range(5):
        guard.check_and_remember(f"dlv-{n}", now=NOW + n)
    assert len(guard) == 3
    assert not guard.seen("dlv-0", now=NOW + 5)
    assert guard.seen("dlv-4", now=NOW + 5)


def test_guard_forget_lets_a_retry_through() -> None:
    guard = ReplayGuard()
    guard.check_and_remember("dlv-1", now=NOW)
    guard.forget("dlv-1")
    guard.check_and_remember("dlv-1", now=NOW)


def test_guard_needs_something_to_remember() -> None:
    with pytest.raises(ValueError, match="required"):
        ReplayGuard().check_and_remember(None, now=NOW)
    with pytest.raises(ValueError, match="positive"):
        ReplayGuard(ttl_s=0)


def delivery(timestamp: int, delivery_id: str | None = "dlv-8f14e45f") -> dict[str, str]:
    headers = {SIGNATURE_HEADER: sign(BODY, SECRET, timestamp)}
    if delivery_id is not None:
        headers[DELIVERY_HEADER] = delivery_id
    return headers


def test_verify_delivery_accepts_once() -> None:
    guard = ReplayGuard()
    assert verify_delivery(BODY, delivery(NOW), SECRET, guard, now=NOW) == "dlv-8f14e45f"
    with pytest.raises(DuplicateDelivery, match="delivery id"):
        verify_delivery(BODY, delivery(NOW), SECRET, guard, now=NOW + 10)


def test_verify_delivery_absorbs_the_services_own_retry() -> None:
    guard = ReplayGuard()
    verify_delivery(BODY, delivery(NOW), SECRET, guard, now=NOW)
    # The retry is freshly signed but carries the same delivery id.
    with pytest.raises(DuplicateDelivery):
        verify_delivery(BODY, delivery(NOW + 30), SECRET, guard, now=NOW + 30)


def test_replay_under_a_made_up_delivery_id_is_caught() -> None:
    guard = ReplayGuard()
    verify_delivery(BODY, delivery(NOW), SECRET, guard, now=NOW)
    # The delivery id header is not signed; the timestamp and body are.
    replay = delivery(NOW, delivery_id="dlv-made-up")
    with pytest.raises(DuplicateDelivery, match="signed content"):
        verify_delivery(BODY, replay, SECRET, guard, now=NOW + 5)


def test_replay_without_delivery_id_is_caught() -> None:
    guard = ReplayGuard()
    assert verify_delivery(BODY, delivery(NOW, None), SECRET, guard, now=NOW) is None
    with pytest.raises(DuplicateDelivery):
        verify_delivery(BODY, delivery(NOW, None), SECRET, guard, now=NOW + 1)


def test_forged_deliveries_are_not_remembered() -> None:
    guard = ReplayGuard()
    forged = {SIGNATURE_HEADER: sign(BODY, b"whsec_forger", NOW), DELIVERY_HEADER: "dlv-1"}
    with pytest.raises(InvalidSignature) as excinfo:
        verify_delivery(BODY, forged, SECRET, guard, now=NOW)
    assert not isinstance(excinfo.value, DuplicateDelivery)
    assert len(guard) == 0
    # The genuine delivery with that id still gets through afterwards.
    verify_delivery(BODY, delivery(NOW, "dlv-1"), SECRET, guard, now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in delivery(NOW).items()}
    assert verify_delivery(BODY, headers, SECRET, ReplayGuard(), now=NOW) == "dlv-8f14e45f"


def test_missing_signature_header_in_delivery() -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        verify_delivery(BODY, {DELIVERY_HEADER: "dlv-1"}, SECRET, ReplayGuard(), now=NOW)
    assert excinfo.value.reason == "missing_header"


# --- the helper stands alone ---------------------------------------------------


def test_helper_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(webhook_verify.__file__).read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            modules.add((node.module or "").split(".")[0])
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}


def test_helper_works_as_a_lone_file(tmp_path: Path) -> None:
    shutil.copy(webhook_verify.__file__, tmp_path / "webhook_verify.py")
    header = sign(BODY, SECRET, NOW)
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from webhook_verify import verify\n"
        f"verify({BODY!r}, {header!r}, {SECRET!r}, now={NOW})\n"
        "print('ok')\n"
    )
    # -I -S: no site-packages, so any third-party import would fail here.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
