"""Atomic outputs: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path, check_writable


def test_success_renames_with_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.bvh") as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".bvh"
            tmp.write_text("data")
    finally:
        os.umask(old)
    out = tmp_path / "out.bvh"
    assert out.read_text() == "data"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.bvh"]


def test_failure_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out.bvh"
    out.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("failed half way")
    assert out.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bvh"]


def test_check_writable_refuses_folders_and_paths_under_files(tmp_path: Path) -> None:
    with pytest.raises(Pose2RigError, match="is a folder"):
        check_writable(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(Pose2RigError, match="is a file"):
        check_writable(tmp_path / "f" / "out.bvh")
    assert check_writable(tmp_path / "new" / "out.bvh") == tmp_path / "new" / "out.bvh"
