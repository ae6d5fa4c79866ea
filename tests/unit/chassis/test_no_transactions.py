"""No code path opens a multi-document transaction or watches a change stream.

On the local store (FerretDB v2 on DocumentDB) a transaction's writes apply at once and its
commit fails, and there are no change streams; production MongoDB has both, so code using
them would pass there and break here, or worse, lose its all-or-nothing promise silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {"start_transaction", "with_transaction", "start_session", "watch"}


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if call and node.func.attr in FORBIDDEN:  # type: ignore[attr-defined]
            found.append((node.lineno, node.func.attr))  # type: ignore[attr-defined]
    return found


def _sources() -> list[Path]:
    roots = [ROOT / "libs", ROOT / "services"]
    return sorted(p for root in roots for p in root.rglob("*.py") if ".venv" not in p.parts)


def test_the_scan_sees_the_services_and_the_chassis() -> None:
    names = {p.parts[len(ROOT.parts) + 1] for p in _sources() if "services" in p.parts}
    assert {"intake", "processing", "notification", "audit"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_transaction_and_no_change_stream(path: Path) -> None:
    found = _calls(ast.parse(path.read_text(), filename=str(path)))
    assert not found, f"{path.relative_to(ROOT)}: {found}"


def test_the_check_finds_a_transaction_when_there_is_one() -> None:
    code = (
        "async def f(client):\n    async with client.start_session() as s:\n"
        "        async with s.start_transaction():\n            pass\n"
    )
    assert [name for _, name in _calls(ast.parse(code))] == ["start_session", "start_transaction"]
