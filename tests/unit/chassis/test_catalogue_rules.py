"""The rules the catalogue holds, each with the article it follows (docs/catalogue.md):
online levels (Decree 42/2022/NĐ-CP), complaints (Law on Complaints 2011), denunciations
(Law on Denunciation 2018), the header and the editors' error report."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from chassis.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueProblem,
    Clock,
    DossierKind,
    OnlineLevel,
    OnlineSteps,
    load_default_catalogue,
)
from chassis.catalogue.__main__ import main as catalogue_cli

DATA_FILE = Path(__file__).parents[3] / "libs/chassis/src/chassis/catalogue/procedures.yaml"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PACKAGED: dict[str, Any] = yaml.load(DATA_FILE.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506


@pytest.fixture
def raw() -> dict[str, Any]:
    return copy.deepcopy(PACKAGED)


def write(tmp_path: Path, data: dict[str, Any], name: str = "catalogue.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.dump(data, Dumper=_DUMPER, allow_unicode=True), encoding="utf-8")
    return path


def entry(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(item for item in data["procedures"] if item["code"] == code)


def problems_of(tmp_path: Path, data: dict[str, Any]) -> list[CatalogueProblem]:
    with pytest.raises(CatalogueError) as caught:
        Catalogue.load(write(tmp_path, data))
    return list(caught.value.problems)


# --------------------------------------------------------------------------- online levels


class TestOnlineLevelsOfDecree42:
    """Decree 42/2022/NĐ-CP, Art. 11: toàn trình (full) and một phần (partial)."""

    def test_both_levels_accept_online_lodging_decree_42_art_11(self) -> None:
        catalogue = load_default_catalogue()
        for procedure in catalogue.procedures.values():
            expected = procedure.online_level is not OnlineLevel.NONE
            assert procedure.accepts_online_lodging is expected, procedure.code
        assert catalogue.procedures["DD-001"].online_level is OnlineLevel.PARTIAL
        assert catalogue.procedures["DD-001"].accepts_online_lodging

    def test_complaints_and_denunciations_are_lodged_online(self) -> None:
        """Their decision is handed over in person or by post: partly online."""
        catalogue = load_default_catalogue()
        for kind in (DossierKind.COMPLAINT, DossierKind.DENUNCIATION):
            for procedure in catalogue.search(kind=kind):
                assert procedure.online_level is OnlineLevel.PARTIAL, procedure.code
                assert procedure.online_steps.lodging, procedure.code
                assert not procedure.online_steps.result, procedure.code

    def test_old_information_level_is_none(self) -> None:
        """The old "level 2" published forms only: counter and post, no online step."""
        sea = load_default_catalogue().procedures["BHD-001"]
        assert sea.online_level is OnlineLevel.NONE
        assert sea.online_steps == OnlineSteps(lodging=False, payment=False, result=False)
        assert not sea.accepts_online_lodging

    def test_information_is_no_longer_a_level(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "BHD-001")["online_level"] = "information"
        (problem,) = problems_of(tmp_path, raw)
        assert problem.where == "procedure BHD-001"
        assert problem.field == "online_level"

    def test_every_procedure_spells_its_steps_out(self, raw: dict[str, Any]) -> None:
        for item in raw["procedures"]:
            assert set(item["online_steps"]) == {"lodging", "payment", "result"}, item["code"]

    @pytest.mark.parametrize(
        ("level", "steps", "field"),
        [
            ("full", {"lodging": True, "payment": True, "result": False}, "online_steps"),
            (
                "partial",
                {"lodging": False, "payment": True, "result": False},
                "online_steps.lodging",
            ),
            ("partial", {"lodging": True, "payment": True, "result": True}, "online_steps"),
            ("none", {"lodging": False, "payment": True, "result": False}, "online_steps"),
        ],
    )
    def test_steps_must_match_the_level_decree_42_art_11(
        self,
        tmp_path: Path,
        raw: dict[str, Any],
        level: str,
        steps: dict[str, bool],
        field: str,
    ) -> None:
        item = entry(raw, "DD-003")
        item["online_level"] = level
        item["online_steps"] = steps
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure DD-003", field)

    @pytest.mark.parametrize("level", list(OnlineLevel))
    def test_steps_left_out_follow_the_level(self, level: OnlineLevel) -> None:
        steps = OnlineSteps.of_level(level)
        assert steps.lodging is (level is not OnlineLevel.NONE)
        assert steps.result is (level is OnlineLevel.FULL)

    def test_a_partial_procedure_may_take_its_result_online_and_pay_in_person(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "DD-003")["online_steps"] = {"lodging": True, "payment": False, "result": True}
        steps = Catalogue.load(write(tmp_path, raw)).procedures["DD-003"].online_steps
        assert (steps.payment, steps.result) == (False, True)


# --------------------------------------------------------------------------- complaints


class TestComplaintLimitsOfTheLawOnComplaints2011:
    def test_first_complaint_law_on_complaints_2011_art_27_28(self) -> None:
        """Accepted within 10 days of receipt (Art. 27); 30 days from acceptance, 45 for
        a complex case; 45 and 60 in remote areas (Art. 28)."""
        complaint = load_default_catalogue().procedures["KN-001"]
        assert (complaint.acceptance_days, complaint.acceptance_clock) == (10, Clock.CALENDAR_DAYS)
        assert (complaint.processing_days, complaint.extended_processing_days) == (30, 45)
        assert complaint.remote_area_processing_days == 45
        assert complaint.remote_area_extended_processing_days == 60
        assert complaint.clock is Clock.CALENDAR_DAYS
        assert complaint.max_extensions == 0
        assert complaint.has_acceptance_step
        assert "Điều 27, 28" in complaint.legal_basis

    def test_second_complaint_law_on_complaints_2011_art_36_37(self) -> None:
        """Accepted within 10 days (Art. 36); 45 days, 60 if complex; 60 and 70 in remote
        areas (Art. 37)."""
        complaint = load_default_catalogue().procedures["KN-002"]
        assert complaint.acceptance_days == 10
        assert (complaint.processing_days, complaint.extended_processing_days) == (45, 60)
        assert complaint.remote_area_processing_days == 60
        assert complaint.remote_area_extended_processing_days == 70

    def test_a_complaint_needs_its_acceptance_limit_art_27(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        del entry(raw, "KN-001")["acceptance_days"]
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure KN-001", "acceptance_days")

    def test_remote_area_limits_come_as_a_pair_art_28(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        del entry(raw, "KN-001")["remote_area_extended_processing_days"]
        (problem,) = problems_of(tmp_path, raw)
        assert problem.field == "remote_area_extended_processing_days"

    def test_remote_area_limit_is_not_shorter_art_28(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "KN-001")["remote_area_processing_days"] = 20
        (problem,) = problems_of(tmp_path, raw)
        assert problem.field == "remote_area_processing_days"

    def test_only_complaints_have_remote_area_limits(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "DD-001")["remote_area_processing_days"] = 25
        entry(raw, "DD-001")["remote_area_extended_processing_days"] = 30
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure DD-001", "remote_area_processing_days")

    def test_an_administrative_procedure_has_no_acceptance_step(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "DD-001")["acceptance_days"] = 3
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure DD-001", "acceptance_days")


# --------------------------------------------------------------------------- denunciations


class TestDenunciationLimitsOfTheLawOnDenunciation2018:
    def test_denunciation_law_on_denunciation_2018_art_24_29_30(self) -> None:
        """Accepted within 7 working days (Art. 24(1), 29); settled within 30 days of
        acceptance, extended at most twice by 30 days: 90 in all (Art. 30)."""
        denunciation = load_default_catalogue().procedures["TC-001"]
        assert denunciation.acceptance_days == 7
        assert denunciation.acceptance_clock is Clock.WORKING_DAYS
        assert denunciation.processing_days == 30
        assert (denunciation.extension_days, denunciation.max_extensions) == (30, 2)
        assert denunciation.extended_processing_days == 90

    def test_total_must_add_up_art_30(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "TC-001")["max_extensions"] = 1
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure TC-001", "extended_processing_days")
        assert "= 60" in problem.message

    def test_extension_days_and_count_come_together_art_30(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "TC-001")["max_extensions"] = 0
        (problem,) = problems_of(tmp_path, raw)
        assert problem.field == "max_extensions"

    def test_only_denunciations_are_extended_by_days(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        item = entry(raw, "KN-001")
        item["extension_days"], item["max_extensions"] = 15, 1
        item["extended_processing_days"] = 45
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("procedure KN-001", "extension_days")


# --------------------------------------------------------------------------- legal bases


class TestLegalBases:
    REPEALED = (
        "55/2014/QH13",  # Law on Environmental Protection 2014 -> 72/2020/QH14
        "17/2012/QH13",  # Law on Water Resources 2012 -> 28/2023/QH15
        "45/2013/QH13",  # Land Law 2013 -> 31/2024/QH15
        "201/2013/NĐ-CP",
        "18/2015/NĐ-CP",
        "36/2015/TT-BTNMT",
        "27/2015/TT-BTNMT",
        "61/2018/NĐ-CP",  # one-stop mechanism -> 118/2025/NĐ-CP
    )

    def test_no_procedure_cites_repealed_law(self) -> None:
        catalogue = load_default_catalogue()
        for procedure in catalogue.procedures.values():
            for repealed in self.REPEALED:
                assert repealed not in procedure.legal_basis, procedure.code

    def test_current_laws_are_cited(self) -> None:
        procedures = load_default_catalogue().procedures
        assert "72/2020/QH14" in procedures["MT-004"].legal_basis
        assert "08/2022/NĐ-CP" in procedures["MT-005"].legal_basis
        assert "28/2023/QH15" in procedures["TNN-003"].legal_basis
        assert "31/2024/QH15" in procedures["DD-005"].legal_basis
        assert "25/2018/QH14" in procedures["TC-001"].legal_basis

    def test_the_department_after_the_merger_of_1_march_2025(self) -> None:
        department = load_default_catalogue().department
        assert department.name_vi == "Sở Nông nghiệp và Môi trường"
        assert department.name_en == "Department of Agriculture and Environment"
        assert department.legal_basis is not None
        assert "118/2025/NĐ-CP" in department.legal_basis
        assert "42/2022/NĐ-CP" in department.legal_basis

    def test_department_name_is_data(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        raw["department"] = {"name_vi": "Sở Tài nguyên và Môi trường", "name_en": "DONRE"}
        catalogue = Catalogue.load(write(tmp_path, raw))
        assert catalogue.department.name_vi == "Sở Tài nguyên và Môi trường"

    def test_department_left_out_is_the_merged_one(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        del raw["department"]
        catalogue = Catalogue.load(write(tmp_path, raw))
        assert catalogue.department.name_vi == "Sở Nông nghiệp và Môi trường"


# --------------------------------------------------------------------------- the file


class TestHeaderAndIdentity:
    def test_version_and_date_are_required(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        del raw["version"], raw["published_on"]
        found = {(p.where, p.field) for p in problems_of(tmp_path, raw)}
        assert found == {("header", "version"), ("header", "published_on")}

    def test_a_numeric_version_must_be_quoted(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        raw["version"] = 2026.12
        (problem,) = problems_of(tmp_path, raw)
        assert (problem.where, problem.field) == ("header", "version")
        assert "quote" in problem.message

    def test_version_id_is_version_and_digest(self) -> None:
        catalogue = load_default_catalogue()
        assert catalogue.version == "2026.12.1"
        assert catalogue.version_id == f"2026.12.1+{catalogue.sha256[:12]}"
        assert len(catalogue.sha256) == 64

    def test_digest_ignores_comments_layout_and_key_order(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        packaged = Catalogue.load(DATA_FILE)
        reordered = dict(reversed(list(raw.items())))
        again = Catalogue.load(write(tmp_path, reordered))
        assert again.sha256 == packaged.sha256
        entry(raw, "DD-003")["processing_days"] = 8
        assert Catalogue.load(write(tmp_path, raw, "changed.yaml")).sha256 != packaged.sha256

    def test_changes_since_names_the_codes(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        before = Catalogue.load(DATA_FILE)
        entry(raw, "DD-003")["processing_days"] = 8
        raw["procedures"] = [p for p in raw["procedures"] if p["code"] != "KS-003"]
        after = Catalogue.load(write(tmp_path, raw))
        change = after.changes_since(before)
        assert (change.added, change.removed, change.changed) == ((), ("KS-003",), ("DD-003",))
        assert len(before.changes_since(None).added) == len(before.procedures)


class TestEveryProblemAtOnce:
    def test_every_problem_names_procedure_and_field(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "DD-003")["processing_days"] = 0
        entry(raw, "TC-001")["max_extensions"] = 1
        entry(raw, "KN-001")["agency"] = "STNMT-XX"
        entry(raw, "MT-001")["online_level"] = "level_4"
        with pytest.raises(CatalogueError) as caught:
            Catalogue.load(write(tmp_path, raw))
        lines = str(caught.value).splitlines()
        assert lines[0].endswith("4 problems:")
        assert "procedure DD-003: processing_days: must be greater than 0" in lines
        assert "procedure KN-001: agency: names unknown agency STNMT-XX" in lines
        assert {p.where for p in caught.value.problems} == {
            "procedure DD-003",
            "procedure TC-001",
            "procedure KN-001",
            "procedure MT-001",
        }

    def test_check_command_prints_a_table_and_fails(
        self, tmp_path: Path, raw: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        entry(raw, "DD-003")["processing_days"] = 0
        entry(raw, "KN-002")["acceptance_days"] = -1
        assert catalogue_cli(["check", str(write(tmp_path, raw))]) == 1
        out = capsys.readouterr().out
        assert "2 problems" in out
        header, rule, *rows = out.strip().splitlines()[2:]
        assert header.split() == ["entry", "field", "problem"]
        assert set(rule.replace(" ", "")) == {"-"}
        assert rows[0].split()[:3] == ["procedure", "DD-003", "processing_days"]
        assert rows[1].split()[:3] == ["procedure", "KN-002", "acceptance_days"]

    def test_check_command_passes_the_packaged_file(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert catalogue_cli(["check", str(DATA_FILE)]) == 0
        assert "valid; version 2026.12.1+" in capsys.readouterr().out

    def test_check_command_on_a_missing_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert catalogue_cli(["check", str(tmp_path / "absent.yaml")]) == 2
        assert "cannot be read" in capsys.readouterr().err
