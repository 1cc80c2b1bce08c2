"""The optional parts of the install, and the one line that names a missing one.

The core install (``pip install pose2rig``: numpy, scipy, click, tqdm, pygltflib) reads and writes
BVH, GLB and npz files and retargets them onto a character. The rest comes in the extras of
``pyproject.toml``, each imported only by the command that uses it. Before a command imports an
extra's module it calls :func:`require` (or :func:`require_extra` for all of an extra's
modules), so that a missing one ends in a :class:`~pose2rig.errors.Pose2RigError` naming the
``pip install`` that adds it, which the CLI shows as one line, not a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from pose2rig.errors import Pose2RigError

__all__ = ["EXTRAS", "require", "require_extra"]

EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "video": ("detecting and lifting a person in a video", ("cv2", "av", "mediapipe", "torch")),
    "preview": ("a preview video", ("pyrender", "trimesh", "cv2", "av")),
    "body": ("the body fit", ("torch", "anny", "warp", "roma")),
    "train": ("training and evaluating the lifter", ("torch", "matplotlib")),
    "blender": ("Blender I/O (FBX, .blend)", ("bpy",)),
    "smpl": ("the SMPL body model", ("smplx",)),
    "ray": ("running a batch on a Ray cluster", ("ray",)),
}
"""Each extra of ``pyproject.toml`` that the library imports: what it is for, and the modules
(import names) it brings, in the order a command imports them."""


def require(module: str, extra: str) -> ModuleType:
    """``module`` imported, or a :class:`Pose2RigError` naming the ``pip install`` of ``extra``.

    Args:
        module: the import name (``"cv2"``, ``"torch"``).
        extra: the extra of ``pyproject.toml`` that installs it (a key of :data:`EXTRAS`).

    Raises:
        Pose2RigError: ``module`` or one of its own requirements is not installed, or it is
            installed but does not import (a shared library missing); the message says which and
            the ``pip install`` that adds the extra.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise Pose2RigError(_missing(extra, e.name or module)) from None
    except ImportError as e:  # installed, but broken: a shared library of the system missing
        detail = " ".join(str(e).split())
        raise Pose2RigError(
            f"{_purpose(extra)} needs the [{extra}] extra, and {module} is installed but does not "
            f"import ({detail}): reinstall it with {_install(extra)}"
        ) from None


def require_extra(extra: str) -> None:
    """Raise :func:`require`'s error for the first module of ``extra`` (:data:`EXTRAS`) that is
    not installed. Only looks (``importlib.util.find_spec``), imports nothing: a command calls it
    before any long work starts, and the stage imports the module where it uses it (pyrender, for
    one, must be imported after its OpenGL platform is chosen)."""
    for module in EXTRAS[extra][1]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module that stood in sys.modules without a spec
            found = False
        if not found:
            raise Pose2RigError(_missing(extra, module))


def _purpose(extra: str) -> str:
    return EXTRAS[extra][0] if extra in EXTRAS else "this command"


def _install(extra: str) -> str:
    return f"pip install 'pose2rig[{extra}]'"


def _missing(extra: str, module: str) -> str:
    return f"{_purpose(extra)} needs the [{extra}] extra ({module} is not installed): {_install(extra)}"
