"""The procedure catalogue: packaged data, validation at load, look-up and search.

The rules the catalogue holds for complaints, denunciations and online levels are tested
in test_catalogue_rules.py, the reloading in test_catalogue_holder.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from chassis.catalogue import (
    Agency,
    Catalogue,
    CatalogueError,
    Clock,
    DossierKind,
    OnlineLevel,
    Procedure,
    Sector,
    fold_text,
    load_default_catalogue,
)

DATA_FILE = Path(__file__).parents[3] / "libs/chassis/src/chassis/catalogue/procedures.yaml"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_default_catalogue()


@pytest.fixture
def raw() -> dict[str, Any]:
    """The packaged data as plain YAML, for tests that break it on purpose."""
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "procedures.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def entry(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(item for item in data["procedures"] if item["code"] == code)


class TestPackagedData:
    def test_loads_enough_procedures_across_every_sector(self, catalogue: Catalogue) -> None:
        assert len(catalogue.procedures) >= 22
        assert {p.sector for p in catalogue.procedures.values()} == set(Sector)
        assert {p.kind for p in catalogue.procedures.values()} == set(DossierKind)

    def test_the_three_full_online_environmental_procedures(self, catalogue: Catalogue) -> None:
        full = catalogue.search(sector=Sector.ENVIRONMENT, level=OnlineLevel.FULL)
        # The seed's three level-3 environmental procedures: EIA appraisal, registration of
        # an environmental protection plan, hazardous-waste source owner registration.
        assert [p.code for p in full] == ["MT-001", "MT-004", "MT-005"]
        eia = catalogue.procedures["MT-001"]
        assert "tác động môi trường" in eia.name_vi
        assert any(d.code == "eia_report" for d in eia.required_documents)
        assert catalogue.procedures["MT-004"].processing_days == 15

    def test_most_administrative_procedures_are_partially_online(
        self, catalogue: Catalogue
    ) -> None:
        procedures = catalogue.search(kind=DossierKind.PROCEDURE)
        partial = [p for p in procedures if p.online_level is OnlineLevel.PARTIAL]
        assert len(partial) > len(procedures) / 2

    def test_petition(self, catalogue: Catalogue) -> None:
        (petition,) = catalogue.search(kind=DossierKind.PETITION)
        assert petition.processing_days == 10
        assert petition.clock is Clock.WORKING_DAYS
        assert not petition.confidential_applicant

    def test_first_complaint_follows_the_law_on_complaints(self, catalogue: Catalogue) -> None:
        complaint = catalogue.procedures["KN-001"]
        assert complaint.kind is DossierKind.COMPLAINT
        assert complaint.processing_days == 30
        assert complaint.extended_processing_days == 45
        assert complaint.clock is Clock.CALENDAR_DAYS

    def test_denunciation_is_confidential_and_extendable_twice(self, catalogue: Catalogue) -> None:
        """Law on Denunciation 2018, Art. 30: 30 days, twice 30 more at most."""
        (denunciation,) = catalogue.search(kind=DossierKind.DENUNCIATION)
        assert denunciation.confidential_applicant
        assert denunciation.processing_days == 30
        assert denunciation.extension_days == 30
        assert denunciation.max_extensions == 2
        assert denunciation.extended_processing_days == 90
        assert denunciation.clock is Clock.CALENDAR_DAYS

    def test_only_denunciations_hide_the_applicant(self, catalogue: Catalogue) -> None:
        for procedure in catalogue.procedures.values():
            expected = procedure.kind is DossierKind.DENUNCIATION
            assert procedure.confidential_applicant is expected, procedure.code

    def test_every_procedure_is_complete(self, catalogue: Catalogue) -> None:
        for procedure in catalogue.procedures.values():
            assert procedure.agency in catalogue.agencies, procedure.code
            assert procedure.name_vi != procedure.name_en, procedure.code
            assert any(d.mandatory for d in procedure.required_documents), procedure.code
            assert procedure.legal_basis, procedure.code
            schema = procedure.form_schema
            Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object", procedure.code
            assert schema["additionalProperties"] is False, procedure.code
            assert schema["required"], procedure.code
            assert set(schema["required"]) <= set(schema["properties"]), procedure.code

    def test_names_carry_vietnamese_diacritics(self, catalogue: Catalogue) -> None:
        for procedure in catalogue.procedures.values():
            assert fold_text(procedure.name_vi) != procedure.name_vi.casefold(), procedure.code

    def test_agencies(self, catalogue: Catalogue) -> None:
        assert 6 <= len(catalogue.agencies) <= 10
        prefixes = [a.receipt_prefix for a in catalogue.agencies.values()]
        assert len(set(prefixes)) == len(prefixes)
        assert catalogue.agency("STNMT-MT").receipt_prefix == "MT"
        used = {p.agency for p in catalogue.procedures.values()}
        assert used == set(catalogue.agencies)

    def test_default_catalogue_is_loaded_once(self) -> None:
        assert load_default_catalogue() is load_default_catalogue()

    def test_load_from_explicit_path_matches_packaged(self, catalogue: Catalogue) -> None:
        again = Catalogue.load(DATA_FILE)
        assert again.procedures == catalogue.procedures


class TestLookUp:
    def test_get(self, catalogue: Catalogue) -> None:
        assert catalogue.get("DD-001") is catalogue.procedures["DD-001"]
        assert catalogue.get("XX-999") is None

    def test_unknown_agency(self, catalogue: Catalogue) -> None:
        with pytest.raises(KeyError, match="STNMT-XX"):
            catalogue.agency("STNMT-XX")

    def test_procedures_are_frozen(self, catalogue: Catalogue) -> None:
        with pytest.raises(ValidationError):
            catalogue.procedures["DD-001"].processing_days = 1  # type: ignore[misc]


class TestSearch:
    @pytest.mark.parametrize(
        "text", ["giấy phép môi trường", "GIAY PHEP MOI TRUONG", "môi trường giấy phép"]
    )
    def test_diacritics_case_and_word_order_do_not_matter(
        self, catalogue: Catalogue, text: str
    ) -> None:
        codes = [p.code for p in catalogue.search(text=text)]
        assert codes == ["MT-002", "MT-003"]

    def test_d_with_stroke(self, catalogue: Catalogue) -> None:
        with_stroke = catalogue.search(text="Đăng ký đất đai")
        plain = catalogue.search(text="dang ky dat dai")
        assert [p.code for p in with_stroke] == [p.code for p in plain]
        assert "DD-001" in {p.code for p in plain}

    def test_english_name_and_code(self, catalogue: Catalogue) -> None:
        assert [p.code for p in catalogue.search(text="groundwater exploitation")] == ["TNN-001"]
        assert [p.code for p in catalogue.search(text="ks-002")] == ["KS-002"]

    def test_filters_combine(self, catalogue: Catalogue) -> None:
        water = catalogue.search(sector=Sector.WATER_RESOURCES)
        assert len(water) == 4
        assert catalogue.search(sector=Sector.WATER_RESOURCES, text="nuoc mat")[0].code == (
            "TNN-002"
        )
        assert catalogue.search(sector=Sector.LAND, level=OnlineLevel.FULL) == []
        assert [p.code for p in catalogue.search(kind=DossierKind.COMPLAINT)] == [
            "KN-001",
            "KN-002",
        ]

    def test_no_filter_returns_everything_in_order(self, catalogue: Catalogue) -> None:
        assert catalogue.search() == list(catalogue.procedures.values())
        assert catalogue.search(text="   ") == list(catalogue.procedures.values())

    def test_no_match(self, catalogue: Catalogue) -> None:
        assert catalogue.search(text="hộ chiếu") == []

    def test_fold_text(self) -> None:
        assert fold_text("Tài nguyên và Môi trường") == "tai nguyen va moi truong"
        assert fold_text("ĐẤT ĐAI") == "dat dai"


class TestFormValidator:
    def test_valid_form_passes_and_validator_is_cached(self, catalogue: Catalogue) -> None:
        validator = catalogue.form_validator("TNN-001")
        assert catalogue.form_validator("TNN-001") is validator
        form = {
            "works_name": "Giếng khoan cấp nước nhà máy",
            "location": "Xã Tân Phú",
            "purpose": "industrial",
            "flow_m3_per_day": 250.0,
            "well_count": 2,
            "aquifer": "qp",
            "term_years": 5,
        }
        assert list(validator.iter_errors(form)) == []
        too_much = form | {"flow_m3_per_day": 3000}
        assert not validator.is_valid(too_much)

    def test_unknown_field_and_missing_field_rejected(self, catalogue: Catalogue) -> None:
        validator = catalogue.form_validator("TC-001")
        form = {
            "denounced_person_name": "Nguyễn Văn A",
            "denounced_unit": "Phòng X",
            "violation_description": "Nhận tiền của người nộp hồ sơ",
        }
        assert validator.is_valid(form)
        assert not validator.is_valid(form | {"reporter_phone": "0900000000"})
        assert not validator.is_valid({"denounced_person_name": "Nguyễn Văn A"})

    def test_dates_are_checked(self, catalogue: Catalogue) -> None:
        validator = catalogue.form_validator("MT-003")
        form = {"licence_number": "12/GPMT-UBND", "licence_date": "2024-02-30", "changes": "x"}
        assert not validator.is_valid(form)
        assert validator.is_valid(form | {"licence_date": "2024-02-29"})

    def test_shared_parcel_fragment(self, catalogue: Catalogue) -> None:
        validator = catalogue.form_validator("DD-006")
        parcel = {
            "parcel_number": 125,
            "map_sheet": 14,
            "area_m2": 1520.5,
            "address": "Phường 1",
            "land_use_purpose": "CLN",
        }
        form = {"parcel": parcel, "requested_purpose": "TMD", "reason": "Xây dựng kho"}
        assert validator.is_valid(form)
        assert not validator.is_valid(form | {"parcel": parcel | {"map_sheet": 0}})
        assert not validator.is_valid(form | {"requested_purpose": "XYZ"})

    def test_every_form_validator_builds(self, catalogue: Catalogue) -> None:
        for code in catalogue.procedures:
            assert not catalogue.form_validator(code).is_valid({}), code

    def test_unknown_procedure(self, catalogue: Catalogue) -> None:
        with pytest.raises(KeyError, match="XX-1"):
            catalogue.form_validator("XX-1")


class TestValidationAtLoad:
    def test_duplicate_procedure_code(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        raw["procedures"].append(copy.deepcopy(entry(raw, "MT-001")))
        with pytest.raises(CatalogueError, match=r"MT-001.*twice"):
            Catalogue.load(write(tmp_path, raw))

    def test_invalid_form_schema_names_the_procedure(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        entry(raw, "KS-002")["form_schema"]["properties"]["area_ha"]["minimum"] = "zero"
        with pytest.raises(CatalogueError, match="KS-002") as caught:
            Catalogue.load(write(tmp_path, raw))
        assert "form_schema" in str(caught.value)

    def test_form_schema_must_describe_an_object(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "PAKN-001")["form_schema"] = {"type": "string"}
        with pytest.raises(CatalogueError, match=r"PAKN-001.*object"):
            Catalogue.load(write(tmp_path, raw))

    def test_unknown_agency(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "DD-003")["agency"] = "STNMT-XX"
        with pytest.raises(CatalogueError, match=r"DD-003.*STNMT-XX"):
            Catalogue.load(write(tmp_path, raw))

    def test_unknown_enum_value(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "DD-003")["online_level"] = "level_4"
        with pytest.raises(CatalogueError, match=r"DD-003.*online_level"):
            Catalogue.load(write(tmp_path, raw))

    def test_misspelt_field(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "DD-003")["processing_day"] = 7
        with pytest.raises(CatalogueError, match=r"DD-003.*processing_day"):
            Catalogue.load(write(tmp_path, raw))

    def test_denunciation_must_be_confidential(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "TC-001")["confidential_applicant"] = False
        with pytest.raises(CatalogueError, match=r"TC-001.*confidential"):
            Catalogue.load(write(tmp_path, raw))

    def test_extension_must_be_longer(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        entry(raw, "KN-001")["extended_processing_days"] = 30
        with pytest.raises(CatalogueError, match=r"KN-001.*extended_processing_days"):
            Catalogue.load(write(tmp_path, raw))

    def test_duplicate_document_code(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        documents = entry(raw, "MT-001")["required_documents"]
        documents.append(copy.deepcopy(documents[0]))
        with pytest.raises(CatalogueError, match=r"MT-001.*application_form"):
            Catalogue.load(write(tmp_path, raw))

    def test_duplicate_receipt_prefix(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        raw["agencies"][1]["receipt_prefix"] = raw["agencies"][0]["receipt_prefix"]
        with pytest.raises(CatalogueError, match="receipt prefix"):
            Catalogue.load(write(tmp_path, raw))

    @pytest.mark.parametrize("prefix", ["M", "ABCDE", "mt", "QL", "OT", "M1"])
    def test_receipt_prefix_must_be_speakable(self, prefix: str) -> None:
        with pytest.raises(ValidationError):
            Agency(code="STNMT-X", receipt_prefix=prefix, name_vi="X", name_en="X")

    def test_procedure_without_code_is_located_by_position(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> None:
        del raw["procedures"][2]["code"]
        with pytest.raises(CatalogueError, match="procedure #3"):
            Catalogue.load(write(tmp_path, raw))

    def test_unknown_top_level_key(self, tmp_path: Path, raw: dict[str, Any]) -> None:
        raw["procedure"] = []
        with pytest.raises(CatalogueError, match="unknown top-level keys: procedure"):
            Catalogue.load(write(tmp_path, raw))

    def test_broken_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "procedures.yaml"
        path.write_text("procedures: [\n", encoding="utf-8")
        with pytest.raises(CatalogueError, match="YAML"):
            Catalogue.load(path)

    def test_catalogue_built_in_code(self) -> None:
        agency = Agency(code="STNMT-VP", receipt_prefix="VP", name_vi="Văn phòng", name_en="Office")
        procedure = Procedure(
            code="PAKN-001",
            name_vi="Phản ánh",
            name_en="Petition",
            kind=DossierKind.PETITION,
            sector=Sector.GENERAL,
            agency="STNMT-VP",
            online_level=OnlineLevel.FULL,
            processing_days=10,
            legal_basis="Nghị định 20/2008/NĐ-CP",
            required_documents=[],
            form_schema={"type": "object", "additionalProperties": False},
        )
        small = Catalogue(agencies=[agency], procedures=[procedure])
        assert small.get("PAKN-001") is procedure
        assert small.procedures["PAKN-001"].clock is Clock.WORKING_DAYS
