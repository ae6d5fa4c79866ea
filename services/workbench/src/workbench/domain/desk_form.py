"""The one-stop desk's form for any procedure, drawn from the procedure's JSON Schema and
read back into the submission's ``form``, and the API's field errors put beside their
inputs.

Every input is named by the JSON Pointer of the value it holds, without the leading
slash (``form/waste_items/0/waste_code``): the pointer of an API error then names its
input directly. Values are sent as typed as the schema asks when they read as such, and
as typed otherwise, so that intake's validation, not this page, says what is wrong, in
the API's own words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Rows of a list (array of objects) drawn when the form is new; the desk adds more.
DEFAULT_ROWS = 1
MAX_ROWS = 50
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_TRUE = frozenset({"on", "true", "1", "yes"})

FormInput = Mapping[str, str]


@dataclass(frozen=True)
class Field:
    """One input (or group of inputs) of the form, as the template draws it."""

    name: str  # the value's JSON Pointer without the leading "/"
    label: str
    kind: str  # text | textarea | number | integer | date | choice | boolean | group | rows | lines
    required: bool = False
    value: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, words)
    hint: str | None = None
    max_length: int | None = None
    errors: tuple[str, ...] = ()
    children: tuple[Field, ...] = ()  # a group's fields; a list's rows (each a group)

    @property
    def id(self) -> str:
        """An HTML id: the name with its slashes as dashes."""
        return "f-" + self.name.replace("/", "-")

    @property
    def error_id(self) -> str:
        return self.id + "-error"


def pointer_of(name: str) -> str:
    return "/" + name


def name_of(*path: str | int) -> str:
    """The input name of a value's path, escaped as a JSON Pointer (RFC 6901)."""
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _titled_choices(schema: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """``oneOf`` of ``const`` values with a ``title`` each: a choice with its words."""
    choices = schema.get("oneOf")
    if not isinstance(choices, list) or not choices:
        return []
    if not all(isinstance(c, Mapping) and "const" in c for c in choices):
        return []
    return [(c["const"], str(c.get("title") or c["const"])) for c in choices]


def _choices(schema: Mapping[str, Any]) -> list[tuple[Any, str]]:
    titled = _titled_choices(schema)
    if titled:
        return titled
    return [(option, str(option)) for option in schema.get("enum") or ()]


def _label(schema: Mapping[str, Any], key: str) -> str:
    return str(schema.get("title") or key)


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if "enum" in schema or _titled_choices(schema):
        return "choice"
    if kind == "string":
        if schema.get("format") == "date":
            return "date"
        max_length = schema.get("maxLength")
        return "textarea" if isinstance(max_length, int) and max_length > 300 else "text"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    if kind == "object":
        return "group"
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping) and items.get("type") == "object":
            return "rows"
        return "lines"
    return "text"


def row_count(schema: Mapping[str, Any], name: str, entered: FormInput, extra: int = 0) -> int:
    """How many rows of a list to draw: those entered, at least the schema's minimum (or
    one), plus ``extra`` the desk asked for; never more than ``MAX_ROWS``."""
    prefix = name + "/"
    indexes = {
        int(key[len(prefix) :].split("/", 1)[0])
        for key in entered
        if key.startswith(prefix) and key[len(prefix) :].split("/", 1)[0].isdigit()
    }
    seen = max(indexes) + 1 if indexes else 0
    minimum = schema.get("minItems")
    floor = minimum if isinstance(minimum, int) and minimum > 0 else DEFAULT_ROWS
    return max(1, min(MAX_ROWS, max(seen, floor) + extra))


def fields(
    schema: Mapping[str, Any],
    entered: FormInput,
    errors: Mapping[str, Sequence[str]],
    *,
    path: tuple[str | int, ...] = ("form",),
    more_rows: str | None = None,
) -> list[Field]:
    """The inputs of an object schema's properties, in the schema's order, holding what
    was entered and the errors of their pointers. ``more_rows`` names a list that gets
    one row more."""
    required = set(schema.get("required") or ())
    drawn = []
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            drawn.append(_field(key, sub, key in required, entered, errors, path, more_rows))
    return drawn


def _field(
    key: str,
    schema: Mapping[str, Any],
    required: bool,
    entered: FormInput,
    errors: Mapping[str, Sequence[str]],
    path: tuple[str | int, ...],
    more_rows: str | None,
) -> Field:
    name = name_of(*path, key)
    kind = _kind(schema)
    label = _label(schema, key)
    hint = schema.get("description")
    hint = str(hint) if hint else None
    own_errors = tuple(errors.get(pointer_of(name), ()))
    if kind == "group":
        children = fields(schema, entered, errors, path=(*path, key), more_rows=more_rows)
        return Field(
            name, label, kind, required, hint=hint, errors=own_errors, children=tuple(children)
        )
    if kind == "rows":
        items = schema["items"]
        count = row_count(schema, name, entered, 1 if more_rows == name else 0)
        rows = tuple(
            Field(
                name=name_of(*path, key, index),
                label=str(index + 1),
                kind="group",
                errors=tuple(errors.get(pointer_of(name_of(*path, key, index)), ())),
                children=tuple(
                    fields(items, entered, errors, path=(*path, key, index), more_rows=more_rows)
                ),
            )
            for index in range(count)
        )
        return Field(name, label, kind, required, hint=hint, errors=own_errors, children=rows)
    options: tuple[tuple[str, str], ...] = ()
    if kind == "choice":
        options = tuple((str(value), words) for value, words in _choices(schema))
    max_length = schema.get("maxLength")
    return Field(
        name,
        label,
        kind,
        required,
        value=str(entered.get(name, "")),
        options=options,
        hint=hint,
        max_length=max_length if isinstance(max_length, int) else None,
        errors=own_errors,
    )


# --------------------------------------------------------------------------- reading back


def read_form(schema: Mapping[str, Any], entered: FormInput, root: str = "form") -> dict[str, Any]:
    """The object under ``root`` from the POSTed inputs: empty inputs left out, empty
    rows of a list dropped, numbers read as numbers when they are numbers."""
    value = _read_object(schema, entered, (root,))
    return value or {}


def _read_object(
    schema: Mapping[str, Any], entered: FormInput, path: tuple[str | int, ...]
) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        value = _read(sub, entered, (*path, key))
        if value is not None:
            found[key] = value
    return found or None


def _read(schema: Mapping[str, Any], entered: FormInput, path: tuple[str | int, ...]) -> Any:
    name = name_of(*path)
    kind = _kind(schema)
    if kind == "group":
        return _read_object(schema, entered, path)
    if kind == "rows":
        rows = []
        for index in range(row_count(schema, name, entered)):
            row = _read_object(schema["items"], entered, (*path, index))
            if row is not None:
                rows.append(row)
        return rows or None
    raw = entered.get(name)
    if kind == "boolean":
        # An unticked box is not sent at all: it means "no".
        return raw is not None and raw.strip().lower() in _TRUE
    if kind == "lines":
        items = schema.get("items")
        item_schema = items if isinstance(items, Mapping) else {}
        lines = [line.strip() for line in (raw or "").splitlines() if line.strip()]
        return [scalar(item_schema, line) for line in lines] or None
    text = (raw or "").strip()
    if not text:
        return None
    return scalar(schema, text)


def scalar(schema: Mapping[str, Any], text: str) -> Any:
    """One entered value as the schema's type, if it reads as one; as entered otherwise
    (intake then says what is wrong with it)."""
    kind = schema.get("type")
    if "enum" in schema or _titled_choices(schema):
        for option, _ in _choices(schema):
            if str(option) == text:
                return option
        return text
    if kind in ("number", "integer"):
        # A Vietnamese decimal comma ("1,5") is a decimal point.
        candidate = text.replace(" ", "")
        if "," in candidate and "." not in candidate:
            candidate = candidate.replace(",", ".")
        if _INTEGER.match(candidate):
            return int(candidate)
        if kind == "number" and _NUMBER.match(candidate):
            return float(candidate)
        return text
    return text


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class PlacedErrors:
    """The API's field errors: by the input they belong to, and those no input holds."""

    by_pointer: dict[str, list[str]] = field(default_factory=dict)
    elsewhere: list[tuple[str, str]] = field(default_factory=list)  # (pointer, detail)


def place_errors(
    problem_errors: Sequence[Mapping[str, Any]],
    known: set[str],
    attachment_names: Sequence[str] = (),
) -> PlacedErrors:
    """Each ``errors[]`` item of a problem beside its input: the pointer's own input if
    the form has it, the document input of an attachment (``/attachments/2/size`` →
    the input that file was chosen in), else the closest enclosing input; what has no
    place goes in the summary."""
    placed = PlacedErrors()
    for item in problem_errors:
        pointer = str(item.get("pointer") or "")
        detail = str(item.get("detail") or item.get("message") or "")
        target = _target(pointer, known, attachment_names)
        if target is None:
            placed.elsewhere.append((pointer, detail))
        else:
            placed.by_pointer.setdefault(target, []).append(detail)
    return placed


_ATTACHMENT = re.compile(r"^/attachments/([0-9]+)(?:/.*)?$")


def _target(pointer: str, known: set[str], attachment_names: Sequence[str]) -> str | None:
    match = _ATTACHMENT.match(pointer)
    if match:
        index = int(match.group(1))
        if index < len(attachment_names):
            return pointer_of(attachment_names[index])
        return None
    candidate = pointer
    while candidate:
        if candidate in known:
            return candidate
        candidate = candidate.rsplit("/", 1)[0]
    return None


def known_pointers(drawn: Sequence[Field]) -> set[str]:
    """The pointer of every input and group drawn."""
    found: set[str] = set()
    for item in drawn:
        found.add(pointer_of(item.name))
        found |= known_pointers(item.children)
    return found


def error_count(drawn: Sequence[Field]) -> int:
    return sum(len(item.errors) + error_count(item.children) for item in drawn)
