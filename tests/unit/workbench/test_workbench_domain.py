"""The workbench's pure rules: CSRF tokens, where a sign-in may lead, the words of every
page in both languages, and what the officers' pages make of the services' answers."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import pytest

from workbench.domain import csrf
from workbench.domain.i18n import TEXTS, Translator, language
from workbench.domain.navigation import visible
from workbench.domain.session import Session, safe_next
from workbench.domain.views import (
    action_body,
    action_forms,
    actor_label,
    ago,
    conflict_message,
    invalid_message,
    local_time,
    on_time_chart,
    queue_rows,
    timeline,
)

VI = Translator("vi")
EN = Translator("en")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
ME = "officer:u-me"


def _entry(action: str, actor: str, minutes_ago: float, before: str, after: str) -> dict[str, str]:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return {"action": action, "actor": actor, "at": at, "from_status": before, "to_status": after}


def test_csrf_tokens_are_random_and_only_the_very_same_one_is_accepted() -> None:
    token = csrf.new_token()
    assert token != csrf.new_token()
    assert len(token) >= 40
    assert csrf.accepts(token, token)
    assert not csrf.accepts(token, token[:-1])
    assert not csrf.accepts(token, "")
    assert not csrf.accepts(token, None)
    assert not csrf.accepts("", "")
    assert not csrf.accepts(None, token)


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/queue?status=received", "/queue?status=received"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/queue", "/"),
        ("/\\evil.example", "/"),
        ("queue", "/"),
    ],
)
def test_a_sign_in_leads_back_to_this_site_only(asked: str | None, lands: str) -> None:
    assert safe_next(asked) == lands


def test_every_text_has_both_languages_with_the_same_placeholders() -> None:
    names = string.Formatter()
    for key, (vi, en) in TEXTS.items():
        assert vi.strip(), key
        assert en.strip(), key
        assert {n for _, n, _, _ in names.parse(vi) if n} == {
            n for _, n, _, _ in names.parse(en) if n
        }, key


def test_the_language_is_vietnamese_unless_english_is_asked() -> None:
    assert language(None) == "vi"
    assert language("fr") == "vi"
    assert language("en") == "en"
    assert VI("nav.queue") == "Hồ sơ cần xử lý"
    assert EN("nav.queue") == "Work queue"
    assert VI("no.such.key") == "no.such.key"


def test_the_session_survives_its_cookie_record_and_ends_on_time() -> None:
    session = Session("tok", "u-1", frozenset({"officer"}), "STNMT-MT", "c", 100.0)
    again = Session.from_record(session.to_record())
    assert again == session
    assert again.live(99.9)
    assert not again.live(100.0)
    assert again.actor == "officer:u-1"


def test_the_navigation_shows_each_role_its_own_pages() -> None:
    assert [i.path for i in visible(frozenset({"officer"}))] == ["/queue"]
    leader = [i.path for i in visible(frozenset({"leader"}))]
    assert leader[:3] == ["/queue", "/approvals", "/statistics"]
    assert "/statistics" not in [i.path for i in visible(frozenset({"officer"}))]


def test_how_long_ago_in_the_largest_whole_unit() -> None:
    assert ago(NOW - timedelta(seconds=20), NOW, VI) == "vừa xong"
    assert ago(NOW - timedelta(minutes=1, seconds=5), NOW, VI) == "1 phút trước"
    assert ago(NOW - timedelta(minutes=2), NOW, VI) == "2 phút trước"
    assert ago(NOW - timedelta(hours=3), NOW, EN) == "3 hours ago"
    assert ago(NOW - timedelta(days=3), NOW, EN) == "3 days ago"
    # A clock a little ahead of ours is "just now", not a negative time.
    assert ago(NOW + timedelta(seconds=5), NOW, EN) == "just now"


def test_nobody_is_named_on_a_page_only_you_colleague_system_applicant() -> None:
    assert actor_label(ME, ME, VI) == "Bạn"
    assert actor_label("officer:u-other", ME, VI) == "Một đồng nghiệp"
    assert actor_label("system:processing", ME, VI) == "Hệ thống"
    assert actor_label("citizen:ab12", ME, EN) == "The applicant"
    assert actor_label("auditor:x", ME, EN) == "Someone else"


def test_the_conflict_says_who_did_what_and_how_long_ago() -> None:
    history = [
        _entry("receive", "system:processing", 60, "submitted", "received"),
        _entry("start_review", "officer:u-a", 10, "received", "in_review"),
        _entry("forward_for_approval", "officer:u-a", 5, "in_review", "awaiting_approval"),
        _entry("approve", "officer:u-leader", 2, "awaiting_approval", "approved"),
    ]
    message = conflict_message(history, ME, NOW, VI)
    assert message.startswith("Một đồng nghiệp đã phê duyệt hồ sơ này 2 phút trước.")
    english = conflict_message(history, ME, NOW, EN)
    assert english.startswith("A colleague approved this dossier 2 minutes ago.")
    # Unknown actions and an empty history still give a sentence.
    odd = [_entry("reopen", "officer:u-b", 0, "approved", "in_review")]
    assert conflict_message(odd, ME, NOW, EN).startswith("A colleague changed this dossier")
    assert conflict_message([], ME, NOW, EN).startswith("Someone else changed this dossier")


def test_the_timeline_is_newest_first_in_words_and_local_time() -> None:
    history = [
        _entry("receive", "system:processing", 60, "submitted", "received"),
        {
            **_entry("request_supplement", ME, 1, "received", "supplement_requested"),
            "reason": "Thiếu giấy phép",
        },
    ]
    entries = timeline(history, ME, VI)
    assert [e.who for e in entries] == ["Bạn", "Hệ thống"]
    assert entries[0].what == "Yêu cầu bổ sung"
    assert entries[0].change == "Đã tiếp nhận → Chờ bổ sung"
    assert entries[0].reason == "Thiếu giấy phép"
    assert local_time("2026-12-07T03:00:00Z") == "07/12/2026 10:00"


def test_the_queue_rows_name_the_assignee_relative_to_the_reader() -> None:
    item = {
        "dossier_id": "d1",
        "receipt_code": "MT-261207-ABCDEF",
        "procedure_code": "MT-004",
        "procedure_name_vi": "Đăng ký chủ nguồn thải",
        "procedure_name_en": "Hazardous waste registration",
        "status": "in_review",
        "due_date": "2026-12-17",
        "overdue": True,
        "clock_paused": False,
    }
    rows = queue_rows(
        [item | {"assignee": "u-me"}, item | {"assignee": "u-x"}, item | {"assignee": None}],
        "u-me",
        EN,
    )
    assert [r.assignee for r in rows] == ["You", "A colleague", "Nobody"]
    assert rows[0].procedure == "MT-004 · Hazardous waste registration"
    assert rows[0].due == "17/12/2026"
    assert rows[0].status_label == "In review"


def test_each_action_form_asks_for_what_processing_requires() -> None:
    forms = {f.action: f for f in action_forms(["request_supplement", "approve", "reject"], VI)}
    assert forms["request_supplement"].reason_required
    assert forms["approve"].result_reference
    assert not forms["approve"].reason
    assert forms["reject"].grave
    assert forms["reject"].reason_required


def test_the_chart_scales_each_rate_and_leaves_a_procedure_without_decisions_empty() -> None:
    chart = on_time_chart(
        [
            {"procedure_code": "MT-001", "on_time_rate": 1.0},
            {"procedure_code": "MT-004", "on_time_rate": 0.5},
            {"procedure_code": "MT-005", "on_time_rate": None},
        ],
        VI,
    )
    widths = [bar.width for bar in chart.bars]
    assert widths == [chart.plot_width, chart.plot_width / 2, 0.0]
    assert [bar.value_text for bar in chart.bars] == ["100 %", "50 %", "chưa có"]
    ys = [bar.y for bar in chart.bars]
    assert ys == sorted(ys)
    assert chart.height > ys[-1]
    assert all(re.fullmatch(r"MT-00\d", bar.label) for bar in chart.bars)


def test_an_action_body_holds_only_what_was_filled_in() -> None:
    form = {
        "reason": "  Thiếu bản vẽ  ",
        "result_reference": "",
        "missing_items": "Bản vẽ mặt bằng\n\n  Sơ đồ vị trí \n",
        "complex": "1",
        "remote_area": "",
        "extension_days": "x",
        "decision_number": "12/QĐ",
        "decision_issued_on": "2026-12-01",
    }
    body = action_body("request_supplement", form, {"missing_documents": ["eia_report"]})
    assert body == {
        "action": "request_supplement",
        "reason": "Thiếu bản vẽ",
        "missing_documents": ["eia_report"],
        "missing_items": ["Bản vẽ mặt bằng", "Sơ đồ vị trí"],
        "complex": True,
        "decision": {"number": "12/QĐ", "issued_on": "2026-12-01"},
    }
    assert action_body("approve", {"extension_days": "30"}, {}) == {
        "action": "approve",
        "extension_days": 30,
    }


def test_processings_field_errors_are_named_in_the_readers_words() -> None:
    problem = {
        "errors": [
            {"pointer": "/missing_documents", "detail": "required"},
            {"pointer": "/reason", "detail": "required"},
            {"pointer": "/missing_documents", "detail": "unknown document code"},
        ]
    }
    assert invalid_message(problem, VI) == (
        "Thao tác chưa được thực hiện. Cần điền: Giấy tờ cần bổ sung, Lý do."
    )
    assert invalid_message({"errors": [{"pointer": "/elsewhere"}]}, EN).startswith(
        "The request held invalid data"
    )


def test_an_action_without_words_of_its_own_still_gets_a_label_and_decisions_for_cases() -> None:
    [unknown] = action_forms(["reopen_case"], EN)
    assert unknown.label == "Reopen case"
    [complaint] = action_forms(["reject"], VI, "complaint")
    [procedure] = action_forms(["reject"], VI, "procedure")
    assert complaint.decision
    assert not procedure.decision
    [apology] = action_forms(["propose_apology"], VI)
    assert apology.apology
    assert apology.label == "Đề xuất phiếu xin lỗi, hẹn lại"
