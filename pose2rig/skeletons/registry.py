"""The joint sets pose2rig knows by name, and each one's mapping onto Human3.6M-17.

One table read by everything that meets a joint set by name or must bring points onto the
lifter's joints: the detection cache (:func:`by_name`), a 2D backend's points after detection
and the lifter's input keypoints (:func:`mapping_to_h36m17`). A new joint set (say a detector's
own) is added here once, with its :class:`~pose2rig.skeletons.mapping.JointMapping`.

Not here, being other ideas: Human3.6M's own 32-joint files (``pose2rig.io.h36m``: a column
selection of one file format) and a BVH's bones by role (``pose2rig.io.mocap``: bones found by
name on any rig, with points such as the head top built from end sites).
"""

from __future__ import annotations

from pose2rig.errors import Pose2RigError
from pose2rig.skeletons.joint_sets import COCO17, H36M17, MEDIAPIPE33
from pose2rig.skeletons.mapping import COCO17_TO_H36M17, MEDIAPIPE33_TO_H36M17, JointMapping
from pose2rig.types import Skeleton

_REGISTRY: dict[str, tuple[Skeleton, JointMapping | None]] = {
    H36M17.name: (H36M17, None),
    MEDIAPIPE33.name: (MEDIAPIPE33, MEDIAPIPE33_TO_H36M17),
    COCO17.name: (COCO17, COCO17_TO_H36M17),
}


def known_joint_sets() -> tuple[str, ...]:
    """The names of the registered joint sets, sorted (``coco17``, ``h36m17``, ``mediapipe33``)."""
    return tuple(sorted(_REGISTRY))


def by_name(name: str) -> Skeleton:
    """The joint set called ``name`` (``h36m17``, ``mediapipe33``, ``coco17``)."""
    try:
        return _REGISTRY[name][0]
    except KeyError:
        raise Pose2RigError(f"unknown joint set {name!r}; known: {', '.join(known_joint_sets())}") from None


def mapping_to_h36m17(skeleton: Skeleton, *, what: str = "mapping_to_h36m17") -> JointMapping | None:
    """The mapping from ``skeleton`` onto Human3.6M-17, or ``None`` when it already is H36M17.

    Args:
        skeleton: a registered joint set (compared whole, not only by name).
        what: who asks, the start of the error message (``"detector"``, ``"lift"``).

    Raises:
        Pose2RigError: ``skeleton`` is not a registered joint set.
    """
    known = _REGISTRY.get(skeleton.name)
    if known is None or known[0] != skeleton:
        raise Pose2RigError(
            f"{what}: joint set {skeleton.name!r} has no mapping onto h36m17; known: "
            f"{', '.join(known_joint_sets())}"
        )
    return known[1]
