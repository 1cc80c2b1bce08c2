"""Atomic output: write beside the target, then rename over it.

A failed run never leaves a half-written file and never replaces a good one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pose2rig.errors import Pose2RigError


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early, with one clear line, when ``path`` cannot be written."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise Pose2RigError(f"output {p} is a folder; give a file name")
    if folder.exists() and not folder.is_dir():
        raise Pose2RigError(f"cannot write output {p}: {folder} is a file, not a folder")
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise Pose2RigError(f"cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise Pose2RigError(f"output folder {folder} is not writable")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps ``path``'s suffix so writers that choose a format by suffix
    (numpy, OpenCV, PyAV) behave as for the real name. On error the temporary file is removed
    and ``path`` is left as it was.
    """
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent or "."
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
