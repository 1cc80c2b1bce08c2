"""Reading a JSON file that must hold an object, with one clear error line for each way it can fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pose2rig.errors import Pose2RigError

__all__ = ["read_json_object"]


def read_json_object(path: str | os.PathLike[str], what: str, *, hint: str = "") -> dict:
    """The JSON object in ``path``; ``what`` names the file in errors (``"mapping file"``),
    ``hint`` is appended to them (what the file should be)."""
    p = Path(path)
    if not p.is_file():
        raise Pose2RigError(f"{what} {p} not found{hint}")
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Pose2RigError(f"{what} {p} is not valid JSON ({e}){hint}") from None
    if not isinstance(data, dict):
        raise Pose2RigError(f"{what} {p}: expected a JSON object, got {type(data).__name__}{hint}")
    return data
