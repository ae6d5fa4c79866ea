"""The four services' OpenAPI documents and the table of problem kinds, written from the
code in-process: each app is built as the service builds it (nothing is started, so no
broker or store is needed) and asked for its document.

    python deploy/openapi_dump.py --out DIR   # DIR/<service>.json, for `make openapi-lint`
    python deploy/openapi_dump.py --docs      # docs/openapi/<service>.json and docs/problems.md

A unit test (tests/unit/chassis/test_openapi_documents.py) fails when the committed
documents or docs/problems.md differ from what this writes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_DIR = ROOT / "docs" / "openapi"
PROBLEMS_DOC = ROOT / "docs" / "problems.md"
SERVICES = ("intake", "processing", "notification", "audit")


def _builders() -> dict[str, Callable[[], FastAPI]]:
    from audit.main import build_app as audit
    from intake.main import build_app as intake
    from notification.main import build_app as notification
    from processing.main import build_app as processing

    return {
        "intake": intake,
        "processing": processing,
        "notification": notification,
        "audit": audit,
    }


def documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, as its `/openapi.json` serves it."""
    builders = _builders()
    found: dict[str, dict[str, Any]] = {}
    # Building an app logs its configuration warnings (no signing key…), not news here.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        for name in SERVICES:
            found[name] = builders[name]().openapi()
    finally:
        logging.disable(previous)
    return found


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def problems_table(docs: dict[str, dict[str, Any]]) -> str:
    """docs/problems.md: every kind of problem the documents name, and which services
    answer with it, and the kinds the HTTP layer answers with on its own."""
    from chassis.problems import ANY_STATUS, HTTP_LAYER_KINDS, PROBLEM_BASE, problem_kinds

    used: dict[str, list[str]] = {}
    for name, document in docs.items():
        for item in document["paths"].values():
            for operation in item.values():
                for response in operation.get("responses", {}).values():
                    for media in response.get("content", {}).values():
                        for code in media.get("examples", {}) if "schema" in media else ():
                            if name not in used.setdefault(code, []):
                                used[code].append(name)
    lines = [
        "# Problem types",
        "",
        "Every error of every service is an RFC 9457 problem document",
        "(`application/problem+json`) whose `type` names its kind, one of the table below:",
        f"`{PROBLEM_BASE}<code>`. A client tells errors apart by `type` (and `status`),",
        "never by `title` or `detail`; `detail` says what happened in this occurrence and",
        "may change. `instance` is the request's path. Where a kind carries more members",
        "(`errors`: a list of `{pointer, detail}` with RFC 6901 pointers into the body, or",
        "`query:/name`, `header:/Name`, `path:/name`) the table says so.",
        "",
        "The table is written from the code (`make openapi`, `deploy/openapi_dump.py`); a",
        "unit test fails when it is stale. Each operation of the OpenAPI documents",
        "(`docs/openapi/`) lists the kinds it can answer with, with an example of each.",
        "",
        "| type (code) | status | title | when | headers, members | services |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in problem_kinds():
        if kind.code not in used and kind not in HTTP_LAYER_KINDS:
            continue
        status = "any other" if kind.status == ANY_STATUS else str(kind.status)
        extras = ", ".join([f"`{h}`" for h in kind.headers] + [f"`{m}`" for m in kind.members])
        services = ", ".join(used.get(kind.code, [])) or "(the HTTP layer, any)"
        lines.append(
            f"| `{kind.code}` | {status} | {_cell(kind.title)} | {_cell(kind.when)} | "
            f"{extras} | {services} |"
        )
    return "\n".join(lines) + "\n"


def expected_files() -> dict[Path, str]:
    """What `--docs` writes, by path."""
    docs = documents()
    files = {OPENAPI_DIR / f"{name}.json": render(doc) for name, doc in docs.items()}
    files[PROBLEMS_DOC] = problems_table(docs)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write <service>.json into this folder")
    where.add_argument(
        "--docs", action="store_true", help="write docs/openapi and docs/problems.md"
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, document in documents().items():
            (args.out / f"{name}.json").write_text(render(document), encoding="utf-8")
        return 0
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in expected_files().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
