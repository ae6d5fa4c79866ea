"""Submission rules of intake's domain: form pointers, injection keys, attachments,
channels, free text, and appointment dates across weekends and Tết."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from chassis.calendar import VN_TZ, WorkingCalendar
from chassis.catalogue import load_default_catalogue
from intake.domain.submission import (
    AttachmentLimits,
    AttachmentRef,
    appointment_date,
    attachment_errors,
    channel_refusal,
    content_errors,
    fingerprint,
    form_errors,
    operator_key_errors,
)

CATALOGUE = load_default_catalogue()
LIMITS = AttachmentLimits(
    max_count=3,
    max_bytes=1000,
    max_total_bytes=1500,
    media_types=frozenset({"application/pdf", "image/png"}),
)


def waste_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "facility_name": "Nhà máy giấy Hòa Bình",
        "facility_address": "KCN Lương Sơn, Hòa Bình",
        "waste_items": [
            {
                "waste_code": "16 01 06",
                "name": "Bóng đèn huỳnh quang thải",
                "state": "solid",
                "quantity_kg_per_year": 120,
            }
        ],
    }
    form.update(changes)
    return form


def pointers(errors: list[Any]) -> list[str]:
    return [error.pointer for error in errors]


class TestForm:
    validator = CATALOGUE.form_validator("MT-004")

    def test_valid_form_has_no_errors(self) -> None:
        assert form_errors(self.validator, waste_form()) == []

    def test_missing_field_points_at_the_field(self) -> None:
        form = waste_form()
        del form["facility_name"]
        assert pointers(form_errors(self.validator, form)) == ["/form/facility_name"]

    def test_nested_error_points_into_the_array(self) -> None:
        form = waste_form()
        form["waste_items"][0]["quantity_kg_per_year"] = -3
        form["waste_items"][0]["waste_code"] = "160106"
        assert pointers(form_errors(self.validator, form)) == [
            "/form/waste_items/0/quantity_kg_per_year",
            "/form/waste_items/0/waste_code",
        ]

    def test_unknown_field_is_named(self) -> None:
        errors = form_errors(self.validator, waste_form(owner_cccd="001099012345"))
        assert pointers(errors) == ["/form/owner_cccd"]
        assert errors[0].detail == "unknown field"

    def test_land_parcel_area_pointer(self) -> None:
        procedure = next(
            p
            for p in CATALOGUE.procedures.values()
            if "parcel" in p.form_schema.get("properties", {})
        )
        validator = CATALOGUE.form_validator(procedure.code)
        errors = form_errors(validator, {"parcel": {"area_m2": 0}})
        assert "/form/parcel/area_m2" in pointers(errors)
        assert "/form/parcel/map_sheet" in pointers(errors)


class TestOperatorKeys:
    def test_dollar_and_dotted_keys_anywhere(self) -> None:
        form = {
            "$where": "1",
            "ok": {"a.b": 1, "list": [{"$gt": 0}, {"fine": True}]},
        }
        assert sorted(pointers(operator_key_errors(form))) == [
            "/form/$where",
            "/form/ok/a.b",
            "/form/ok/list/0/$gt",
        ]

    def test_plain_keys_pass(self) -> None:
        assert operator_key_errors(waste_form()) == []

    def test_pointer_escapes_slash(self) -> None:
        assert pointers(operator_key_errors({"$a/b": 1})) == ["/form/$a~1b"]


class TestAttachments:
    procedure = CATALOGUE.procedures["MT-004"]

    def test_known_documents_within_limits_pass(self) -> None:
        refs = [
            AttachmentRef("application_form", "application/pdf", 500),
            AttachmentRef("business_registration", "image/png", 900),
        ]
        assert attachment_errors(self.procedure, refs, LIMITS) == []

    def test_each_fault_has_its_pointer(self) -> None:
        refs = [
            AttachmentRef("passport_photo", "application/pdf", 10),
            AttachmentRef("application_form", "application/zip", 10),
            AttachmentRef("application_form", "application/pdf", 1001),
        ]
        assert pointers(attachment_errors(self.procedure, refs, LIMITS)) == [
            "/attachments/0/document_code",
            "/attachments/1/media_type",
            "/attachments/2/size",
        ]

    def test_count_and_total_limits(self) -> None:
        refs = [AttachmentRef("application_form", "application/pdf", 600)] * 4
        assert pointers(attachment_errors(self.procedure, refs, LIMITS)) == [
            "/attachments",
            "/attachments",
        ]

    def test_missing_mandatory_documents_are_left_to_processing(self) -> None:
        assert attachment_errors(self.procedure, [], LIMITS) == []


class TestChannelAndContent:
    @pytest.mark.parametrize("code", ["MT-004", "MT-003", "KN-001", "TC-001"])
    def test_fully_and_partly_online_procedures_are_lodged_online(self, code: str) -> None:
        """Decree 42/2022/NĐ-CP, Art. 11: full (toàn trình) and partial (một phần) online
        public services both take the dossier online; complaints and denunciations too."""
        assert channel_refusal(CATALOGUE.procedures[code], "online") is None

    def test_a_procedure_without_online_lodging_is_refused_online_with_the_reason(self) -> None:
        procedure = CATALOGUE.procedures["BHD-001"]
        assert not procedure.accepts_online_lodging
        refusal = channel_refusal(procedure, "online")
        assert refusal is not None
        assert refusal.status == 422
        assert refusal.reason == "not-fully-online"
        assert pointers(refusal.errors) == ["/channel"]
        assert procedure.code in refusal.detail
        assert "counter" in refusal.detail

    @pytest.mark.parametrize("channel", ["counter", "post"])
    @pytest.mark.parametrize("code", ["MT-003", "TC-001", "BHD-001", "MT-004", "PAKN-001"])
    def test_counter_and_post_take_every_level_and_kind(self, code: str, channel: str) -> None:
        assert channel_refusal(CATALOGUE.procedures[code], channel) is None

    def test_free_text_only_for_petitions_complaints_denunciations(self) -> None:
        assert pointers(content_errors(CATALOGUE.procedures["MT-004"], "text", 100)) == ["/content"]
        for code in ("PAKN-001", "KN-001", "TC-001"):
            assert content_errors(CATALOGUE.procedures[code], "text", 100) == []
        too_long = content_errors(CATALOGUE.procedures["PAKN-001"], "x" * 101, 100)
        assert pointers(too_long) == ["/content"]


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


class TestAppointmentDate:
    """Expected dates are counted by hand below, day by day."""

    def test_working_days_across_tet(self) -> None:
        # MT-004, 15 working days, received Thu 12 Feb 2026 09:00. Counted: Fri 13 (1);
        # Sat 14 - Sun 22 off (weekend, Tết 16-20 Feb, weekend); 23-27 Feb (2-6);
        # 2-6 Mar (7-11); 9-12 Mar (12-15).
        procedure = CATALOGUE.procedures["MT-004"]
        assert procedure.processing_days == 15
        assert appointment_date(procedure, at(2026, 2, 12, 9)) == date(2026, 3, 12)

    def test_working_days_after_hours_on_a_friday(self) -> None:
        # Received Fri 6 Mar 2026 18:30, after the 17:00 cut-off: counts as received
        # Mon 9 Mar. Counted: 10-13 (1-4), 16-20 (5-9), 23-27 (10-14), Mon 30 (15).
        procedure = CATALOGUE.procedures["MT-004"]
        assert appointment_date(procedure, at(2026, 3, 6, 18, 30)) == date(2026, 3, 30)

    def test_received_on_a_sunday_counts_from_monday(self) -> None:
        # Sun 8 Mar 2026 counts as received Mon 9 Mar: the same result as Friday evening.
        procedure = CATALOGUE.procedures["MT-004"]
        assert appointment_date(procedure, at(2026, 3, 8, 10)) == date(2026, 3, 30)

    def test_a_provincial_day_off_pushes_the_date(self) -> None:
        # As above, with Tue 10 Mar declared a day off: one more working day, Tue 31 Mar.
        procedure = CATALOGUE.procedures["MT-004"]
        calendar = WorkingCalendar(extra_days_off=[date(2026, 3, 10)])
        assert appointment_date(procedure, at(2026, 3, 6, 18, 30), calendar) == date(2026, 3, 31)

    def test_cut_off_is_17_00(self) -> None:
        procedure = CATALOGUE.procedures["MT-004"]
        before = appointment_date(procedure, at(2026, 3, 4, 16, 59))
        after = appointment_date(procedure, at(2026, 3, 4, 17, 1))
        # Wed 4 Mar before 17:00 counts from Thu 5 Mar; after it from Fri 6 Mar.
        assert (before, after) == (date(2026, 3, 25), date(2026, 3, 26))

    def test_calendar_days_ending_in_tet_move_to_the_next_working_day(self) -> None:
        # TC-001, 30 calendar days, received Thu 15 Jan 2026 10:00: 15 Jan + 30 days is
        # Sat 14 Feb; 15 Feb is a Sunday, 16-20 Feb Tết, 21-22 a weekend: Mon 23 Feb.
        procedure = CATALOGUE.procedures["TC-001"]
        assert procedure.processing_days == 30
        assert appointment_date(procedure, at(2026, 1, 15, 10)) == date(2026, 2, 23)

    def test_calendar_days_count_weekends(self) -> None:
        # KN-001, 30 calendar days, received Mon 2 Mar 2026 10:00: Wed 1 Apr 2026.
        procedure = CATALOGUE.procedures["KN-001"]
        assert appointment_date(procedure, at(2026, 3, 2, 10)) == date(2026, 4, 1)


class TestFingerprint:
    def test_key_order_does_not_matter(self) -> None:
        assert fingerprint({"a": 1, "b": [1, {"c": 2, "d": 3}]}) == fingerprint(
            {"b": [1, {"d": 3, "c": 2}], "a": 1}
        )

    def test_any_value_change_matters(self) -> None:
        assert fingerprint({"a": 1}) != fingerprint({"a": 2})
