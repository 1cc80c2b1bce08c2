"""Files that ship inside the package: the default lifter checkpoint and the default character.

They stay where the project keeps them, ``models/`` (the weights beside their model card) and
``samples/character/`` (the character beside its license and attribution): ``pyproject.toml`` maps
those folders onto the data packages ``pose2rig.assets.models`` and ``pose2rig.assets.character``,
so a wheel carries them, and :func:`bundled` finds them through :mod:`importlib.resources` in a
wheel and in an editable install alike.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pose2rig.errors import Pose2RigError

__all__ = ["bundled"]


def bundled(package: str, name: str) -> Path:
    """The file ``name`` of the data package ``pose2rig.assets.<package>`` (``"models"`` or
    ``"character"``), as a path on disk.

    Raises :class:`Pose2RigError` when it is missing: the install is broken (or is not on disk).
    """
    where = f"pose2rig.assets.{package}"
    try:
        path = files(where) / name
    except ModuleNotFoundError:
        path = None
    if not isinstance(path, Path) or not path.is_file():
        raise Pose2RigError(
            f"bundled file {name} is missing from {where}: this pose2rig install is broken; "
            "reinstall pose2rig, or give the file's path"
        )
    return path
