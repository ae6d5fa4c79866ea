"""The public catalogue of procedures handled by the department.

The catalogue ships with the package as ``procedures.yaml`` and is validated in full when
loaded, so a malformed entry stops a service at start-up instead of surfacing when a
citizen submits a dossier.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from chassis.catalogue.models import (
    Agency,
    Clock,
    DossierKind,
    OnlineLevel,
    Procedure,
    RequiredDocument,
    Sector,
)

__all__ = [
    "Agency",
    "Catalogue",
    "CatalogueError",
    "Clock",
    "DossierKind",
    "OnlineLevel",
    "Procedure",
    "RequiredDocument",
    "Sector",
    "fold_text",
    "load_default_catalogue",
]

_DATA_FILE = "procedures.yaml"
_SECTIONS = frozenset({"agencies", "procedures"})


class CatalogueError(ValueError):
    """The catalogue data is malformed; the message names the offending entry."""


def fold_text(text: str) -> str:
    """Lower-case ``text`` and strip Vietnamese diacritics, so "Đất" matches "dat"."""
    # đ is a letter of its own, not d with a combining mark, so NFD leaves it alone.
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", stripped).casefold()


class Catalogue:
    """Procedures and agencies, indexed by code, in the order they are published."""

    procedures: dict[str, Procedure]
    agencies: dict[str, Agency]

    def __init__(self, agencies: Iterable[Agency], procedures: Iterable[Procedure]) -> None:
        self.agencies = {}
        prefixes: dict[str, str] = {}
        for agency in agencies:
            if agency.code in self.agencies:
                raise CatalogueError(f"agency {agency.code!r} is defined twice")
            owner = prefixes.get(agency.receipt_prefix)
            if owner is not None:
                # Two agencies with one prefix would hand out receipt codes that do not
                # tell where the dossier lies.
                raise CatalogueError(
                    f"agency {agency.code!r} reuses receipt prefix "
                    f"{agency.receipt_prefix!r} of agency {owner!r}"
                )
            prefixes[agency.receipt_prefix] = agency.code
            self.agencies[agency.code] = agency

        self.procedures = {}
        for procedure in procedures:
            if procedure.code in self.procedures:
                raise CatalogueError(f"procedure {procedure.code!r} is defined twice")
            if procedure.agency not in self.agencies:
                raise CatalogueError(
                    f"procedure {procedure.code!r} names unknown agency {procedure.agency!r}"
                )
            self.procedures[procedure.code] = procedure

        self._search_text = {
            code: fold_text(" ".join((p.code, p.name_vi, p.name_en)))
            for code, p in self.procedures.items()
        }
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Read and validate a catalogue file; the packaged one when ``path`` is None."""
        if path is None:
            text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
            source = _DATA_FILE
        else:
            text = Path(path).read_text(encoding="utf-8")
            source = str(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise CatalogueError(f"{source} is not valid YAML: {error}") from error
        if not isinstance(data, Mapping):
            raise CatalogueError(f"{source} must hold a mapping with agencies and procedures")
        # Keys starting with "x-" hold YAML anchors shared between entries.
        unknown = sorted(
            str(key) for key in data if key not in _SECTIONS and not str(key).startswith("x-")
        )
        if unknown:
            raise CatalogueError(f"{source}: unknown top-level keys: {', '.join(unknown)}")
        return cls(
            agencies=_parse_entries(Agency, data.get("agencies"), "agency", source),
            procedures=_parse_entries(Procedure, data.get("procedures"), "procedure", source),
        )

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
        words = fold_text(text).split() if text else []
        return [
            procedure
            for code, procedure in self.procedures.items()
            if (sector is None or procedure.sector is sector)
            and (level is None or procedure.online_level is level)
            and (kind is None or procedure.kind is kind)
            and all(word in self._search_text[code] for word in words)
        ]

    def agency(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            raise KeyError(f"unknown agency {code!r}") from None

    def form_validator(self, code: str) -> Draft202012Validator:
        """A validator for the application form of procedure ``code``; built once."""
        validator = self._validators.get(code)
        if validator is None:
            procedure = self.procedures.get(code)
            if procedure is None:
                raise KeyError(f"unknown procedure {code!r}")
            validator = Draft202012Validator(
                procedure.form_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._validators[code] = validator
        return validator


_Entry = TypeVar("_Entry", Agency, Procedure)


def _parse_entries(model: type[_Entry], raw: Any, label: str, source: str) -> list[_Entry]:
    if not isinstance(raw, list):
        raise CatalogueError(f"{source}: the {label} entries must be given as a list")
    entries: list[_Entry] = []
    for index, item in enumerate(raw):
        name = item.get("code") if isinstance(item, Mapping) else None
        where = f"{label} {name!r}" if name else f"{label} #{index + 1}"
        try:
            entries.append(model.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or '(entry)'}: {problem['msg']}"
                for problem in error.errors()
            )
            raise CatalogueError(f"{source}: invalid {where}: {problems}") from error
    return entries


@lru_cache(maxsize=1)
def load_default_catalogue() -> Catalogue:
    return Catalogue.load()
