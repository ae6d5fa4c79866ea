"""The editors' check of a catalogue file before it goes live.

    python -m chassis.catalogue check FILE

prints every problem of the file as a table (entry, field, problem) and exits 1, or the
version the file would activate and exits 0. Nothing is changed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from chassis.catalogue.loader import Catalogue, CatalogueError, CatalogueProblem

__all__ = ["main", "problem_table"]


def problem_table(problems: Sequence[CatalogueProblem]) -> str:
    rows = [("entry", "field", "problem")]
    rows += [(p.where, p.field or "-", p.message) for p in problems]
    where_width = max(len(row[0]) for row in rows)
    field_width = max(len(row[1]) for row in rows)
    lines = [f"{w:<{where_width}}  {f:<{field_width}}  {m}" for w, f, m in rows]
    lines.insert(1, f"{'-' * where_width}  {'-' * field_width}  {'-' * 7}")
    return "\n".join(lines)


def check(path: Path) -> int:
    try:
        catalogue = Catalogue.parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        print(f"{path}: cannot be read: {error.strerror or error}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"{path}: is not UTF-8 text", file=sys.stderr)
        return 1
    except CatalogueError as error:
        count = len(error.problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}\n")
        print(problem_table(error.problems))
        return 1
    print(
        f"{path}: valid; version {catalogue.version_id} published on "
        f"{catalogue.published_on}, {len(catalogue.procedures)} procedures, "
        f"{len(catalogue.agencies)} agencies, department {catalogue.department.name_vi!r}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chassis.catalogue")
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="validate a catalogue file, change nothing")
    checking.add_argument("file", type=Path)
    arguments = parser.parse_args(argv)
    return check(arguments.file)


if __name__ == "__main__":
    sys.exit(main())
