"""Measures of a retargeted animation against its source: how far each mapped bone points from
the source bone, and how far two characters' skinned meshes lie apart (used by the tests and by
``bench/retarget_rigs.py``)."""

from __future__ import annotations

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.retarget.mapping import RigMapping
from pose2rig.rig import RigAnimation
from pose2rig.types import PoseSequence

__all__ = ["LIMBS", "direction_errors", "skinned_distance"]

LIMBS: dict[str, tuple[str, str, str]] = {
    f"{s}_{part}": (f"{s}_{part}", a, b)
    for s in ("left", "right")
    for part, a, b in (
        ("thigh", f"{s}_hip", f"{s}_knee"), ("shin", f"{s}_knee", f"{s}_ankle"),
        ("upper_arm", f"{s}_shoulder", f"{s}_elbow"), ("forearm", f"{s}_elbow", f"{s}_wrist"),
    )
}
"""Mapped limb role -> (role, source start joint, source end joint)."""

_END = {"thigh": "shin", "shin": "foot", "upper_arm": "forearm", "forearm": "hand"}


def direction_errors(animation: RigAnimation, poses: PoseSequence, mapping: RigMapping) -> dict[str, np.ndarray]:
    """Angle in degrees ``(T,)`` per limb role between the rig bone (its head to the head of the
    next mapped bone, or its tail) and the source bone, frame by frame (the same frame count)."""
    if animation.num_frames != poses.num_frames:
        raise Pose2RigError(
            f"direction_errors: {animation.num_frames} animation frames against {poses.num_frames} source frames"
        )
    world = animation.world_matrices()
    rig = animation.rig
    names = poses.skeleton.joint_names
    out = {}
    for role, (_, a, b) in LIMBS.items():
        bone = mapping.roles[role]
        side, part = role.split("_", 1)
        end_role = f"{side}_{_END[part]}"
        if end_role in mapping.roles:
            end = world[:, mapping.roles[end_role], :3, 3]
        elif rig.tails is not None:
            local_tail = np.linalg.inv(rig.rest[bone]) @ np.append(rig.tails[bone], 1.0)
            end = (world[:, bone] @ local_tail)[:, :3]
        else:
            continue
        got = end - world[:, bone, :3, 3]
        want = poses.joints[:, names.index(b)].astype(np.float64) - poses.joints[:, names.index(a)]
        cos = np.sum(got * want, -1) / np.maximum(np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1), 1e-12)
        out[role] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def skinned_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean distance per frame ``(T,)`` between two skinned vertex sets ``(T, V, 3)`` of one mesh."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise Pose2RigError(f"skinned_distance: shapes {a.shape} and {b.shape} differ")
    return np.linalg.norm(a - b, axis=-1).mean(axis=1)
