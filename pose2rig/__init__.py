"""pose2rig: video of a person -> animation on a rigged 3D character.

Stages (each a package with one plain entry function, meeting only through the core
types in :mod:`pose2rig.types`)::

    video -> detect (Keypoints2D) -> lift (PoseSequence, camera) -> clean -> io (BVH, npz)
"""

from __future__ import annotations

__version__ = "0.1.0"

from pose2rig.errors import Pose2RigError

__all__ = ["Pose2RigError", "__version__"]
