"""The desk's form drawn from a procedure's JSON Schema and read back into the
submission, and the API's field errors put beside their inputs."""

from __future__ import annotations

from typing import Any

from chassis.catalogue import load_default_catalogue
from workbench.domain import desk_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "items"],
    "properties": {
        "name": {"type": "string", "title": "Tên", "maxLength": 50},
        "count": {"type": "integer", "title": "Số lượng"},
        "area": {"type": "number", "title": "Diện tích"},
        "kind": {"type": "string", "enum": ["a", "b"], "title": "Loại"},
        "level": {"type": "integer", "enum": [1, 2]},
        "agreed": {"type": "boolean", "title": "Đồng ý"},
        "on": {"type": "string", "format": "date"},
        "site": {
            "type": "object",
            "title": "Địa điểm",
            "properties": {"street": {"type": "string"}, "ward": {"type": "string"}},
        },
        "items": {
            "type": "array",
            "title": "Danh sách",
            "minItems": 2,
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "kg": {"type": "number"}},
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def _by_name(fields: list[desk_form.Field]) -> dict[str, desk_form.Field]:
    found: dict[str, desk_form.Field] = {}
    for item in fields:
        found[item.name] = item
        found |= _by_name(list(item.children))
    return found


def test_every_kind_of_property_gets_its_input_named_by_its_pointer() -> None:
    drawn = _by_name(desk_form.fields(SCHEMA, {}, {}))
    assert drawn["form/name"].kind == "text"
    assert drawn["form/name"].label == "Tên"
    assert drawn["form/name"].required
    assert drawn["form/name"].max_length == 50
    assert drawn["form/count"].kind == "integer"
    assert drawn["form/area"].kind == "number"
    assert drawn["form/kind"].options == (("a", "a"), ("b", "b"))
    assert drawn["form/level"].kind == "choice"
    assert drawn["form/agreed"].kind == "boolean"
    assert drawn["form/on"].kind == "date"
    # A title-less property is labelled by its name.
    assert drawn["form/site/street"].label == "street"
    assert drawn["form/site"].kind == "group"
    # A list of objects: its schema's minimum of rows, each a group of inputs.
    assert drawn["form/items"].kind == "rows"
    assert [row.name for row in drawn["form/items"].children] == ["form/items/0", "form/items/1"]
    assert drawn["form/items/1/kg"].id == "f-form-items-1-kg"
    assert drawn["form/tags"].kind == "lines"


def test_asking_for_one_more_row_adds_it_after_those_entered() -> None:
    entered = {"form/items/0/code": "x", "form/items/2/code": "z"}
    drawn = _by_name(desk_form.fields(SCHEMA, entered, {}, more_rows="form/items"))
    assert len(drawn["form/items"].children) == 4
    assert drawn["form/items/2/code"].value == "z"


def test_titled_choices_show_their_titles_and_send_their_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "who": {
                "oneOf": [{"const": "person", "title": "Cá nhân"}, {"const": 2, "title": "Hai"}]
            }
        },
    }
    (who,) = desk_form.fields(schema, {}, {}, path=("applicant",))
    assert who.name == "applicant/who"
    assert who.options == (("person", "Cá nhân"), ("2", "Hai"))
    assert desk_form.read_form(schema, {"applicant/who": "2"}, root="applicant") == {"who": 2}


def test_the_form_reads_back_typed_with_empty_inputs_and_rows_left_out() -> None:
    entered = {
        "form/name": "  Xưởng  ",
        "form/count": "12",
        "form/area": "1,5",
        "form/kind": "b",
        "form/level": "2",
        "form/agreed": "true",
        "form/on": "2026-12-01",
        "form/site/street": "",
        "form/site/ward": "",
        "form/items/0/code": "17 02 03",
        "form/items/0/kg": "200",
        "form/items/1/code": "",
        "form/items/1/kg": "",
        "form/tags": "một\n\n hai \n",
    }
    assert desk_form.read_form(SCHEMA, entered) == {
        "name": "Xưởng",
        "count": 12,
        "area": 1.5,
        "kind": "b",
        "level": 2,
        "agreed": True,
        "on": "2026-12-01",
        "items": [{"code": "17 02 03", "kg": 200}],
        "tags": ["một", "hai"],
    }


def test_a_value_that_is_not_of_its_type_is_sent_as_typed_for_intake_to_refuse() -> None:
    entered = {"form/count": "mười", "form/area": "1.5.2", "form/kind": "c"}
    form = desk_form.read_form(SCHEMA, entered)
    assert form["count"] == "mười"
    assert form["area"] == "1.5.2"
    assert form["kind"] == "c"
    # An unticked box is not posted: it means "no".
    assert form["agreed"] is False
    # An integer field does not take a fraction as a number.
    assert desk_form.read_form(SCHEMA, {"form/count": "1.5"})["count"] == "1.5"


def test_every_catalogue_form_is_drawn_and_read_back_without_error() -> None:
    catalogue = load_default_catalogue()
    for code, procedure in catalogue.procedures.items():
        schema = procedure.form_schema
        drawn = desk_form.fields(schema, {}, {})
        assert len(drawn) == len(schema.get("properties") or {}), code
        assert desk_form.read_form(schema, {}) == {
            key: False
            for key, sub in (schema.get("properties") or {}).items()
            if sub.get("type") == "boolean"
        }, code


def test_api_errors_go_beside_their_inputs_attachments_beside_their_file_input() -> None:
    drawn = desk_form.fields(SCHEMA, {}, {})
    known = desk_form.known_pointers(drawn) | {"/document/application_form", "/channel"}
    placed = desk_form.place_errors(
        [
            {"pointer": "/form/items/0/kg", "detail": "0 is less than the minimum"},
            {"pointer": "/form/site/unknown", "detail": "unknown field"},
            {"pointer": "/attachments/1/size", "detail": "at most 25 bytes"},
            {"pointer": "/attachments/7/size", "detail": "no such"},
            {"pointer": "/form", "detail": "'name' is a required property"},
            {"pointer": "/channel", "detail": "this procedure cannot be lodged online"},
        ],
        known,
        ["document/business_registration", "document/application_form"],
    )
    assert placed.by_pointer == {
        "/form/items/0/kg": ["0 is less than the minimum"],
        "/form/site": ["unknown field"],
        "/document/application_form": ["at most 25 bytes"],
        "/channel": ["this procedure cannot be lodged online"],
    }
    assert placed.elsewhere == [
        ("/attachments/7/size", "no such"),
        ("/form", "'name' is a required property"),
    ]
    shown = desk_form.fields(SCHEMA, {}, placed.by_pointer)
    assert desk_form.error_count(shown) == 2
    assert _by_name(shown)["form/items/0/kg"].errors == ("0 is less than the minimum",)


def test_input_names_escape_slashes_as_json_pointers_do() -> None:
    assert desk_form.name_of("form", "a/b", "c~d", 0) == "form/a~1b/c~0d/0"
