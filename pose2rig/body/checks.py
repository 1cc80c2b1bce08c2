"""Checks on a fitted body: how far each knee and elbow bends, and which way (issue 14).

:func:`hinge_angles` reads a :class:`~pose2rig.body.fit.BodyFit` or a
:class:`~pose2rig.body.io.BodyFile` (numpy only: its bone rotations and positions, not the body
model), so a fit can be checked where it was made and after its file was read back.

The angle of a hinge (knee or elbow) is measured on the posed skeleton, not on the pose's
parameters: the signed angle from the upper bone (thigh, upper arm: the hinge joint's parent to
the hinge joint) to the lower bone (shin, forearm: the hinge joint to the wrist or ankle) about
the hinge's natural flexion axis carried by the upper bone. The axis is
:func:`pose2rig.body.fit.hinge_axes`'s at rest (``lower bone x flexion direction``, knees flexing
backwards, elbows forwards, the body facing +Z), turned by the upper bone's world rotation. So

- 0 is a straight limb (the two bones in line), whatever the body model's rest pose;
- positive is the natural flexion (a knee bending backwards under the thigh, an elbow forwards);
- negative is a limb bent the wrong way: hyperextension.

The lower bone's part along the axis (a sideways bend) is left out (the angle is taken in the
plane normal to the axis).

Convention:
    - Input: world rotations ``(T, J, 3, 3)`` (from rest, the rest pose's axes being the
      world's, as :mod:`pose2rig.body.model` poses) and world positions ``(T, J, 3)`` metres of
      the model's joints; the rest skeleton is read back from them (``rest_k - rest_parent(k) =
      R_parent(k)^T (p_k - p_parent(k))``, exact under forward kinematics).
    - Output ``(T, 4)`` float64 degrees, columns :data:`HINGE_NAMES`; NaN on frames whose
      joints are not finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError

__all__ = ["HINGE_NAMES", "hinge_angles", "worst_backward_bend"]

HINGE_NAMES = ("left_knee", "right_knee", "left_elbow", "right_elbow")
"""The columns of :func:`hinge_angles` (the order of :data:`pose2rig.body.fit.HINGES`)."""


def _arrays(body: Any) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """``(names, parents, rotations, positions)`` of a BodyFit or a BodyFile."""
    if hasattr(body, "bone_rotations"):  # BodyFile
        names, parents = body.bone_names, body.bone_parents
        rot, pos = body.bone_rotations, body.bone_positions
    elif hasattr(body, "rotations") and hasattr(body, "model_joints"):  # BodyFit
        names, parents, rot, pos = body.joint_names, body.parents, body.rotations, body.model_joints
    else:
        raise ArgumentError(f"{{body}} must be a BodyFit or a BodyFile, got {type(body).__name__}", "body")
    rot = np.asarray(rot, dtype=np.float64)
    pos = np.asarray(pos, dtype=np.float64)
    parents = np.asarray(parents, dtype=np.int64)
    j = len(names)
    if rot.ndim != 4 or rot.shape[1:] != (j, 3, 3) or pos.shape != (rot.shape[0], j, 3) or parents.shape != (j,):
        raise ArgumentError(f"{{body}} must hold (T, {j}, 3, 3) rotations and (T, {j}, 3) positions, got "
                            f"{rot.shape} and {pos.shape}", "body")
    return tuple(names), parents, rot, pos


def _rest(parents: np.ndarray, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The rest joints ``(J, 3)`` (the root at the origin) from the first frame whose joints are
    all finite."""
    ok = np.flatnonzero(np.isfinite(pos).all(axis=(1, 2)) & np.isfinite(rot).all(axis=(1, 2, 3)))
    if ok.size == 0:
        raise Pose2RigError("the body has no frame with finite joints to measure its knees and elbows on")
    r, p = rot[ok[0]], pos[ok[0]]
    rest = np.zeros_like(p)
    for k, par in enumerate(parents):  # parents come first
        if par >= 0:
            rest[k] = rest[par] + r[par].T @ (p[k] - p[par])
    return rest


def hinge_angles(body: Any) -> np.ndarray:
    """Signed bend (degrees) of each knee and elbow per frame, ``(T, 4)`` in the order of
    :data:`HINGE_NAMES`: positive the natural way, negative bent backwards (see the module doc).

    Args:
        body: a :class:`~pose2rig.body.fit.BodyFit` or a :class:`~pose2rig.body.io.BodyFile`.

    Raises:
        ArgumentError: ``body`` is neither, or its arrays' shapes disagree.
        Pose2RigError: the body model has no knee or elbow under a known name, or no frame has
            finite joints.
    """
    from pose2rig.body.fit import HINGES, JOINT_ALIASES

    names, parents, rot, pos = _arrays(body)
    low = [n.lower() for n in names]

    def find(name: str) -> int:
        for n in (name, *JOINT_ALIASES.get(name, ())):
            if n.lower() in low:
                return low.index(n.lower())
        raise Pose2RigError(f"the body has no joint {name!r} (nor {JOINT_ALIASES.get(name, ())}) to measure")

    rest = _rest(parents, rot, pos)
    out = np.full((rot.shape[0], len(HINGES)), np.nan)
    for col, (joint, (child, flex)) in enumerate(HINGES.items()):
        j, c = find(joint), find(child)
        p = int(parents[j])
        if p < 0:
            raise Pose2RigError(f"the body's {names[j]!r} has no parent bone to bend against")
        lower = rest[c] - rest[j]
        axis = np.cross(lower / np.linalg.norm(lower), np.asarray(flex, dtype=np.float64))
        axis = axis / np.linalg.norm(axis)
        a = rot[:, p] @ axis  # (T, 3) the axis carried by the upper bone
        u = pos[:, j] - pos[:, p]
        f = pos[:, c] - pos[:, j]
        # drop each bone's part along the axis: the bend in the hinge's plane
        u = u - (u * a).sum(-1, keepdims=True) * a
        f = f - (f * a).sum(-1, keepdims=True) * a
        sin = (np.cross(u, f) * a).sum(-1)
        cos = (u * f).sum(-1)
        out[:, col] = np.degrees(np.arctan2(sin, cos))
    return out


def worst_backward_bend(angles: np.ndarray) -> float:
    """How far (degrees, >= 0) the worst knee or elbow in ``angles (T, 4)`` (:func:`hinge_angles`)
    bends backwards: ``max(0, -min(angles))`` over finite values; 0 when none bends backwards."""
    a = np.asarray(angles, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(max(0.0, -a.min())) if a.size else 0.0
