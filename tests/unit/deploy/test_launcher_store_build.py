"""How the local launcher prepares FerretDB's sources for its build."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tests.support.infra import load_launcher

ROOT = Path(__file__).resolve().parents[3]


def _read_only(tree: Path) -> None:
    for folder, _, files in os.walk(tree, topdown=False):
        for name in files:
            (Path(folder) / name).chmod(0o444)
        Path(folder).chmod(0o555)


def test_a_copy_of_the_read_only_module_cache_can_be_edited_and_deleted(tmp_path: Path) -> None:
    released = tmp_path / "modcache" / "FerretDB@v1"
    (released / "internal" / "metadata").mkdir(parents=True)
    (released / "go.mod").write_text("module github.com/FerretDB/FerretDB\n")
    (released / "internal" / "metadata" / "metadata.go").write_text("package metadata\n")
    _read_only(released)
    copy = tmp_path / "build" / "FerretDB"
    try:
        load_launcher()._copy_writable(released, copy)
        edited = copy / "internal" / "metadata" / "metadata.go"
        assert edited.read_text() == "package metadata\n"
        assert (copy / "go.mod").read_text() == "module github.com/FerretDB/FerretDB\n"
        for folder, _, _ in os.walk(copy):
            assert os.stat(folder).st_mode & stat.S_IWUSR
        edited.write_text("package metadata // ours\n")
        shutil.rmtree(copy)
        assert not copy.exists()
    finally:
        for folder, _, _ in os.walk(released):
            Path(folder).chmod(0o755)


def test_every_file_the_build_puts_over_ferretdb_is_in_the_repository() -> None:
    launcher = load_launcher()
    assert launcher._OVERLAY, "the store is built from FerretDB's sources unchanged"
    for inside, ours in launcher._OVERLAY.items():
        assert Path(ours).is_file(), ours
        assert Path(ours).is_relative_to(ROOT / "deploy" / "ferretdb" / "overlay")
        assert Path(inside).name == Path(ours).name
