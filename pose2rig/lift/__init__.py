"""2D keypoints -> 3D joints: the adversarially trained lifter of Drover et al. (2018).

``codec`` normalises 2D poses (shared by training and inference), ``model`` holds the generator
and discriminator, ``projection`` the back-projection and random projection layer, ``infer`` the
entry point :func:`lift` and :func:`load_lifter`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pose2rig.lift.infer import Lifter, lift, load_lifter, skeleton_height

_INFER = ("Lifter", "lift", "load_lifter", "skeleton_height")


def __getattr__(name: str) -> object:
    # `infer` pulls in scipy.spatial (and torch when a lifter loads); load it on first use so that
    # `import pose2rig.lift.codec` (`pose2rig eval --help`) stays light
    if name in _INFER:
        from pose2rig.lift import infer

        return getattr(infer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Lifter", "lift", "load_lifter", "skeleton_height"]
