"""2D keypoints -> 3D joints: the adversarially trained lifter of Drover et al. (2018).

``codec`` normalises 2D poses (shared by training and inference), ``model`` holds the generator
and discriminator, ``projection`` the back-projection and random projection layer, ``infer`` the
entry point :func:`lift` and :func:`load_lifter`.
"""

from __future__ import annotations

from pose2rig.lift.infer import Lifter, lift, load_lifter, skeleton_height

__all__ = ["Lifter", "lift", "load_lifter", "skeleton_height"]
