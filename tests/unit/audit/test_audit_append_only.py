"""The audit service has no code path that changes or removes a stored document."""

from __future__ import annotations

import re
from pathlib import Path

import audit
from audit.adapters.store import CHECKPOINTS, ENTRIES

PACKAGE = Path(audit.__file__).parent
# Every PyMongo method that rewrites or removes documents, indexes or collections.
WRITES_BESIDES_INSERT = re.compile(
    r"\.(update_\w+|delete_\w+|replace_\w+|find_one_and_\w+|bulk_write|drop\w*|remove|"
    r"rename|findAndModify|save)\s*\("
)


def test_the_package_is_where_we_look() -> None:
    sources = list(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    assert any("insert_many" in s.read_text() for s in sources)


def test_no_update_delete_or_replace_call_exists() -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if WRITES_BESIDES_INSERT.search(line)
    ]
    assert offending == []


def test_the_pattern_catches_what_it_is_meant_to() -> None:
    for call in (
        "await entries.update_one({}, {})",
        "await entries.delete_many({})",
        "await entries.replace_one({}, {})",
        "await entries.find_one_and_update({}, {})",
        "await db.drop_collection('x')",
        "await entries.bulk_write([])",
    ):
        assert WRITES_BESIDES_INSERT.search(call), call
    assert not WRITES_BESIDES_INSERT.search("await entries.insert_many(docs, ordered=True)")


def test_the_database_role_grants_only_insert_and_find_on_the_collections_used() -> None:
    script = (Path(__file__).resolve().parents[3] / "deploy/mongo-init/01-users.js").read_text()
    privileges = re.findall(
        r'collection: "([^"]*)" \}, actions: \[([^\]]*)\]', script.split("createUser")[0]
    )
    granted = {name: set(re.findall(r'"(\w+)"', actions)) for name, actions in privileges}
    assert set(granted) - {""} == {ENTRIES, CHECKPOINTS}
    for name in (ENTRIES, CHECKPOINTS):
        assert granted[name] == {"insert", "find", "createIndex", "listIndexes"}, name
    assert granted.get("", set()) <= {"listCollections"}
