"""Reading a catalogue file: header, agencies, procedures, every problem at once."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chassis.catalogue.models import (
    DEFAULT_DEPARTMENT,
    Agency,
    Department,
    DossierKind,
    OnlineLevel,
    Procedure,
    Sector,
)

__all__ = [
    "UNVERSIONED",
    "Catalogue",
    "CatalogueChange",
    "CatalogueError",
    "CatalogueProblem",
    "canonical_sha256",
    "fold_text",
    "load_default_catalogue",
    "read_catalogue",
    "version_id",
]

_DATA_FILE = "procedures.yaml"
_HEADER = frozenset({"version", "published_on", "department"})
_SECTIONS = frozenset({"agencies", "procedures"}) | _HEADER
# libyaml's safe loader when PyYAML was built with it: a catalogue parses in a tenth of
# the time, which matters to a service re-reading it while it serves.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A catalogue built in code (tests, tools) has no version of its own.
UNVERSIONED = "unversioned"


class CatalogueProblem(NamedTuple):
    """One fault of a catalogue file: where (``procedure DD-003``), which field, what."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.field}: {self.message}"
            if self.field
            else (f"{self.where}: {self.message}")
        )


class CatalogueError(ValueError):
    """The catalogue data is malformed; every problem names the offending entry and field."""

    def __init__(self, problems: Sequence[CatalogueProblem], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = [str(problem) for problem in self.problems]
        head = f"{source}: " if source else ""
        if len(lines) == 1:
            super().__init__(f"{head}{lines[0]}")
        else:
            super().__init__(f"{head}{len(lines)} problems:\n" + "\n".join(lines))

    @classmethod
    def one(cls, where: str, message: str, source: str | None = None) -> CatalogueError:
        return cls([CatalogueProblem(where, "", message)], source)


class _Header(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Set by the province's editors, e.g. "2026.12.1"; quoted in YAML if it looks numeric.
    version: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
    published_on: date
    department: Department = DEFAULT_DEPARTMENT


@dataclass(frozen=True)
class CatalogueChange:
    """What a new version changes, by procedure code, against the one before it."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def fold_text(text: str) -> str:
    """Lower-case ``text`` and strip Vietnamese diacritics, so "Đất" matches "dat"."""
    # đ is a letter of its own, not d with a combining mark, so NFD leaves it alone.
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", stripped).casefold()


def canonical_sha256(data: Any) -> str:
    """The digest of a catalogue's content, blind to comments, layout, key order and
    YAML anchors: two files that mean the same have one digest."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Catalogue:
    """Procedures and agencies of one catalogue version, indexed by code, in the order
    they are published.

    Every public member reads through `_live`, so that `CatalogueHolder` (a catalogue
    that follows the file) answers from whichever version is current.
    """

    def __init__(
        self,
        agencies: Iterable[Agency],
        procedures: Iterable[Procedure],
        *,
        department: Department = DEFAULT_DEPARTMENT,
        version: str = UNVERSIONED,
        published_on: date | None = None,
        sha256: str | None = None,
    ) -> None:
        problems: list[CatalogueProblem] = []
        self._agencies: dict[str, Agency] = {}
        prefixes: dict[str, str] = {}
        for agency in agencies:
            where = f"agency {agency.code}"
            if agency.code in self._agencies:
                problems.append(CatalogueProblem(where, "code", "is defined twice"))
                continue
            owner = prefixes.get(agency.receipt_prefix)
            if owner is not None:
                # Two agencies with one prefix would hand out receipt codes that do not
                # tell where the dossier lies.
                problems.append(
                    CatalogueProblem(
                        where,
                        "receipt_prefix",
                        f"reuses receipt prefix {agency.receipt_prefix!r} of agency {owner}",
                    )
                )
            prefixes[agency.receipt_prefix] = agency.code
            self._agencies[agency.code] = agency

        self._procedures: dict[str, Procedure] = {}
        for procedure in procedures:
            where = f"procedure {procedure.code}"
            if procedure.code in self._procedures:
                problems.append(CatalogueProblem(where, "code", "is defined twice"))
                continue
            if procedure.agency not in self._agencies:
                problems.append(
                    CatalogueProblem(where, "agency", f"names unknown agency {procedure.agency}")
                )
            self._procedures[procedure.code] = procedure
        if problems:
            raise CatalogueError(problems)

        self._department = department
        self._version = version
        self._published_on = published_on
        self._sha256 = sha256 or canonical_sha256(
            {
                "agencies": [a.model_dump(mode="json") for a in self._agencies.values()],
                "procedures": [p.model_dump(mode="json") for p in self._procedures.values()],
                "department": department.model_dump(mode="json"),
            }
        )
        self._search_text = {
            code: fold_text(" ".join((p.code, p.name_vi, p.name_en)))
            for code, p in self._procedures.items()
        }
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Read and validate a catalogue file; the packaged one when ``path`` is None."""
        if path is None:
            text = (
                resources.files("chassis.catalogue")
                .joinpath(_DATA_FILE)
                .read_text(encoding="utf-8")
            )
            return cls.parse(text, _DATA_FILE)
        return cls.parse(Path(path).read_text(encoding="utf-8"), str(path))

    @classmethod
    def parse(cls, text: str, source: str) -> Catalogue:
        """Validate a catalogue file's text; `CatalogueError` lists every problem found."""
        try:
            data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as error:
            raise CatalogueError.one("file", f"is not valid YAML: {error}", source) from error
        if not isinstance(data, Mapping):
            raise CatalogueError.one(
                "file", "must hold a mapping with a header, agencies and procedures", source
            )
        problems: list[CatalogueProblem] = []
        # Keys starting with "x-" hold YAML anchors shared between entries.
        unknown = sorted(
            str(key) for key in data if key not in _SECTIONS and not str(key).startswith("x-")
        )
        if unknown:
            problems.append(
                CatalogueProblem("file", "", f"unknown top-level keys: {', '.join(unknown)}")
            )
        header: _Header | None = None
        try:
            header = _Header.model_validate({k: v for k, v in data.items() if k in _HEADER})
        except ValidationError as error:
            problems.extend(_problems(error, "header"))
        agencies = _parse_entries(Agency, data.get("agencies"), "agency", problems)
        procedures = _parse_entries(Procedure, data.get("procedures"), "procedure", problems)
        # The checks across entries run on the valid entries even when others failed, so
        # that one pass over the file reports everything.
        try:
            built = cls(
                agencies,
                procedures,
                department=header.department if header else DEFAULT_DEPARTMENT,
                version=header.version if header else UNVERSIONED,
                published_on=header.published_on if header else None,
                sha256=canonical_sha256(data),
            )
        except CatalogueError as error:
            problems.extend(error.problems)
        else:
            if not problems:
                return built
        raise CatalogueError(problems, source)

    # ----------------------------------------------------------------- reading

    def _live(self) -> Catalogue:
        """The version that answers; a plain catalogue is its own only version."""
        return self

    @property
    def procedures(self) -> Mapping[str, Procedure]:
        return self._live()._procedures

    @property
    def agencies(self) -> Mapping[str, Agency]:
        return self._live()._agencies

    @property
    def department(self) -> Department:
        return self._live()._department

    @property
    def version(self) -> str:
        """The version string the province's editors gave the file."""
        return self._live()._version

    @property
    def sha256(self) -> str:
        """The digest of the content (`canonical_sha256`)."""
        return self._live()._sha256

    @property
    def published_on(self) -> date | None:
        return self._live()._published_on

    @property
    def version_id(self) -> str:
        """What a dossier records as the catalogue it was lodged under: the editors'
        version and the start of the content's digest, so that two contents never share
        an id even if a version string were reused."""
        return version_id(self.version, self.sha256)

    def at(self, version_id: str | None) -> Catalogue:
        """The catalogue as it stood under ``version_id``; the current one when that
        version is unknown here (or None: a dossier from before versions were kept)."""
        return self._live()

    def get(self, code: str) -> Procedure | None:
        return self.procedures.get(code)

    def search(
        self,
        sector: Sector | None = None,
        level: OnlineLevel | None = None,
        text: str | None = None,
        kind: DossierKind | None = None,
    ) -> list[Procedure]:
        """Procedures matching every given filter, in catalogue order.

        ``text`` matches code and both names regardless of case and diacritics; every
        word must occur, in any order, so "moi truong giay phep" finds "Cấp giấy phép
        môi trường".
        """
        live = self._live()
        words = fold_text(text).split() if text else []
        return [
            procedure
            for code, procedure in live._procedures.items()
            if (sector is None or procedure.sector is sector)
            and (level is None or procedure.online_level is level)
            and (kind is None or procedure.kind is kind)
            and all(word in live._search_text[code] for word in words)
        ]

    def agency(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            raise KeyError(f"unknown agency {code!r}") from None

    def form_validator(self, code: str) -> Draft202012Validator:
        """A validator for the application form of procedure ``code``; built once."""
        live = self._live()
        validator = live._validators.get(code)
        if validator is None:
            procedure = live._procedures.get(code)
            if procedure is None:
                raise KeyError(f"unknown procedure {code!r}")
            validator = Draft202012Validator(
                procedure.form_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            live._validators[code] = validator
        return validator

    def changes_since(self, previous: Catalogue | None) -> CatalogueChange:
        """Procedures added, removed and changed against ``previous`` (None: all added)."""
        now = self.procedures
        before: Mapping[str, Procedure] = previous.procedures if previous is not None else {}
        return CatalogueChange(
            added=tuple(code for code in now if code not in before),
            removed=tuple(code for code in before if code not in now),
            changed=tuple(code for code in now if code in before and now[code] != before[code]),
        )


def version_id(version: str, sha256: str) -> str:
    return f"{version}+{sha256[:12]}"


_Entry = TypeVar("_Entry", Agency, Procedure)
_PYDANTIC_WORDING = re.compile(r"^(Input should be|Value error, )")


def _message(text: str) -> str:
    """Pydantic's wording, in the editors' terms ("must be greater than 0")."""
    return _PYDANTIC_WORDING.sub(lambda m: "must be" if m.group(1) != "Value error, " else "", text)


def _problems(error: ValidationError, where: str) -> list[CatalogueProblem]:
    found: list[CatalogueProblem] = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = _message(str(problem["msg"]))
        if field == "version" and problem["type"] == "string_type":
            message = 'must be text: quote it (version: "2026.12")'

        if not field:
            # A whole-entry check reports one "field: message" line per problem.
            for line in message.splitlines():
                named, _, said = line.partition(": ")
                found.append(
                    CatalogueProblem(where, named, said)
                    if said
                    else CatalogueProblem(where, "", line)
                )
            continue
        found.append(CatalogueProblem(where, field, message))
    return found


def _parse_entries(
    model: type[_Entry], raw: Any, label: str, problems: list[CatalogueProblem]
) -> list[_Entry]:
    if not isinstance(raw, list):
        problems.append(CatalogueProblem("file", f"{label} entries", "must be given as a list"))
        return []
    entries: list[_Entry] = []
    for index, item in enumerate(raw):
        name = item.get("code") if isinstance(item, Mapping) else None
        where = f"{label} {name}" if name else f"{label} #{index + 1}"
        try:
            entries.append(model.model_validate(item))
        except ValidationError as error:
            problems.extend(_problems(error, where))
    return entries


def read_catalogue(path: str | Path | None) -> Catalogue:
    """The catalogue at ``path`` (``CATALOGUE_PATH``), or the packaged one when None."""
    return load_default_catalogue() if path is None else Catalogue.load(Path(path))


@lru_cache(maxsize=1)
def load_default_catalogue() -> Catalogue:
    return Catalogue.load()
