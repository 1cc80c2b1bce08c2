"""Joint positions back onto a BVH's own skeleton: new rotations for moved joints.

:func:`repose_bvh` is the way back of ``pose2rig clean`` on a BVH: the clean-up moves the joints'
world positions (forward kinematics of the file's skeleton); this finds the rotations (and the
root's travel) that put the same skeleton, with the same offsets, channels and rotation orders,
as near those positions as its fixed bone lengths allow.

Convention:
    - ``positions (T, J, 3)``: world positions of the BVH's joints (end sites excluded), in the
      file's units and axes, as :meth:`~pose2rig.io.bvh.BvhMotion.forward_kinematics` gives
      them at ``scale=1``.
    - Joints are solved from the root down, each from where its parent put it. A joint's "bones"
      are its children with a non-zero offset, and through children of zero length (CMU's
      ``LHipJoint``, Reallusion's twist and share bones at their parent's origin) the first
      descendants that have one. Its new world rotation is:

      * one bone, or several along one line (within 8 degrees: a thigh with its twist bone): the
        joint is first carried along by its parent's change (parent's new world rotation times
        the file's local rotation), then turned by the smallest rotation taking the bones'
        direction onto their target direction, so the twist about the bone relative to its
        parent stays the file's (a body turned as a whole turns its limbs' twist with it);
      * several bones spread out (hips, chest, hand): the rotation that best takes the bones
        onto their targets (Wahba's problem, :func:`pose2rig.retarget.solve._wahba`), each bone
        weighted by its length times the joints it carries;
      * no bone (hands and feet without children, end-site joints): the old local rotation.

    - Translations: the root's position channels, and those of any joint whose translation is
      animated in the file (Bandai-Namco's ``Hips`` under a fixed ``joint_Root``), are solved to
      reach their target exactly; every other joint keeps its local translation (bone lengths
      and offsets unchanged). A joint with fewer than three rotation channels keeps its channels.
    - Angles are written in each joint's own channel order, of the triplets that give the
      rotation the one nearest the file's angles on that frame
      (:func:`pose2rig.geometry.euler_nearest`); where a local rotation did not change (to 1e-12)
      the file's angles are kept as they were, so positions that FK of the file gives back
      return the file itself.
"""

from __future__ import annotations

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import euler_nearest, rotation_between
from pose2rig.io.bvh import BvhMotion
from pose2rig.retarget.solve import _wahba

__all__ = ["repose_bvh"]

_POSITION = ("Xposition", "Yposition", "Zposition")
_ROTATION = ("Xrotation", "Yrotation", "Zrotation")
_LINE = np.radians(8.0)  # bones within this angle of one line fix no twist
_UNCHANGED = 1e-12


def _bones(motion: BvhMotion, zero: np.ndarray, free: np.ndarray) -> list[list[int]]:
    """Per joint, the descendants that act as its bones (see the module doc)."""
    children: list[list[int]] = [[] for _ in motion.names]
    for i, p in enumerate(motion.parents):
        if p >= 0:
            children[p].append(i)
    out: list[list[int]] = []
    for j in range(motion.num_joints):
        found, todo = [], list(children[j])
        while todo:
            c = todo.pop(0)
            if free[c]:
                continue
            if zero[c]:
                todo.extend(children[c])
            else:
                found.append(c)
        out.append(found)
    return out


def _carried(motion: BvhMotion) -> np.ndarray:
    """``(J,)`` how many joints each joint carries, itself included."""
    n = np.ones(motion.num_joints)
    for i in range(motion.num_joints - 1, 0, -1):
        n[motion.parents[i]] += n[i]
    return n


def repose_bvh(motion: BvhMotion, positions: np.ndarray) -> BvhMotion:
    """``motion`` with new rotations (and root travel) that pose its skeleton at ``positions``.

    Args:
        motion: the BVH to re-pose; its skeleton, offsets, channels, rotation orders, end sites
            and frame time are kept.
        positions: ``(T, J, 3)`` target world positions of its joints, file units and axes
            (see the module doc), finite; ``T`` is ``motion``'s frame count.

    Returns:
        A :class:`BvhMotion` on the same skeleton whose forward kinematics reproduces
        ``positions`` as closely as the fixed bone lengths allow, keeping each bone's twist.
    """
    target = np.asarray(positions, dtype=np.float64)
    t, j = motion.num_frames, motion.num_joints
    if target.shape != (t, j, 3):
        raise Pose2RigError(f"repose_bvh: expected positions of shape ({t}, {j}, 3), got {target.shape}")
    if not np.all(np.isfinite(target)):
        frame = int(np.argwhere(~np.isfinite(target))[0, 0])
        raise Pose2RigError(f"repose_bvh: positions contain NaN or infinity (first in frame {frame})")
    trans, local_old = motion.local_transforms()
    pos_old, world_old = motion.forward_kinematics()
    size = 1.0 + float(np.abs(trans).max()) if t else 1.0
    columns = motion.channel_columns()
    has_pos = [[c for c in ch if c in _POSITION] for ch in motion.channels]
    rot_channels = [[c for c in ch if c in _ROTATION] for ch in motion.channels]
    free = np.array([bool(has_pos[i]) and (i == 0 or np.ptp(trans[:, i], axis=0).max() > 1e-9 * size)
                     for i in range(j)])
    zero = np.linalg.norm(trans, axis=-1).max(axis=0) <= 1e-9 * size
    bones = _bones(motion, zero, free)
    carried = _carried(motion)

    world = np.empty_like(world_old)
    pos = np.empty_like(pos_old)
    new_trans = trans.copy()
    for i, p in enumerate(motion.parents):
        parent_r = world[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        parent_p = pos[:, p] if p >= 0 else np.zeros((t, 3))
        if free[i]:  # animated translation: reach the target exactly (on the channels there are)
            local = np.einsum("tba,tb->ta", parent_r, target[:, i] - parent_p)
            for c in has_pos[i]:
                new_trans[:, i, _POSITION.index(c)] = local[:, _POSITION.index(c)]
        pos[:, i] = parent_p + np.einsum("tab,tb->ta", parent_r, new_trans[:, i])
        kids = bones[i] if len(rot_channels[i]) == 3 else []
        if not kids:
            world[:, i] = parent_r @ local_old[:, i]
            continue
        # old bone vectors in the joint's old frame, and where the targets ask them to point
        rest = [np.einsum("tba,tb->ta", world_old[:, i], pos_old[:, c] - pos_old[:, i]) for c in kids]
        aim = [target[:, c] - pos[:, i] for c in kids]
        weight = [np.linalg.norm(r, axis=-1) * carried[c] for r, c in zip(rest, kids)]
        rest_u = [r / np.linalg.norm(r, axis=-1, keepdims=True) for r in rest]
        aim_n = [np.linalg.norm(a, axis=-1, keepdims=True) for a in aim]
        carry = parent_r @ local_old[:, i]  # the joint carried along by its parent's change
        old_dir = [np.einsum("tab,tb->ta", carry, r) for r in rest_u]
        aim_u = [np.where(n > 1e-9 * size, a / np.maximum(n, 1e-300), d) for a, n, d in zip(aim, aim_n, old_dir)]
        # swing of the weighted mean direction, after the parent's change (the local twist kept)
        mean_old = sum(w[:, None] * d for w, d in zip(weight, old_dir))
        mean_aim = sum(w[:, None] * a for w, a in zip(weight, aim_u))
        swing = rotation_between(mean_old, mean_aim) @ carry
        if len(kids) == 1:
            world[:, i] = swing
            continue
        # spread bones fix the twist too: Wahba's fit, where they are not along one line
        spread = sum(w[:, None, None] * np.einsum("ti,tj->tij", r, r) for w, r in zip(weight, rest_u))
        spread /= np.maximum(sum(weight), 1e-300)[:, None, None]
        second = np.linalg.eigvalsh(spread)[:, 1]  # 0 for bones on one line, (1 - cos a) / 2 for two
        fitted = _wahba([w[:, None] * a for w, a in zip(weight, aim_u)], rest_u, (1.0,) * len(kids))
        on_line = second < (1.0 - np.cos(_LINE)) / 2.0
        world[:, i] = np.where(on_line[:, None, None], swing, fitted)

    local = np.empty_like(world)
    local[:, 0] = world[:, 0]
    for i, p in enumerate(motion.parents):
        if p >= 0:
            local[:, i] = np.swapaxes(world[:, p], -1, -2) @ world[:, i]
    out = motion.motion.copy()
    for i, (ch, cols) in enumerate(zip(motion.channels, columns)):
        for c, col in zip(ch, cols):
            if free[i] and c in _POSITION:
                out[:, col] = new_trans[:, i, _POSITION.index(c)]
        rot = [(c, col) for c, col in zip(ch, cols) if c in _ROTATION]
        if len(rot) != 3:
            continue
        order = "".join(c[0] for c, _ in rot)
        rcols = [col for _, col in rot]
        changed = np.abs(local[:, i] - local_old[:, i]).max(axis=(-1, -2)) > _UNCHANGED
        if changed.any():
            angles = euler_nearest(local[changed, i], order, motion.motion[changed][:, rcols], degrees=True)
            out[np.ix_(np.flatnonzero(changed), rcols)] = angles
    return BvhMotion(
        names=motion.names, parents=motion.parents, offsets=motion.offsets, channels=motion.channels,
        end_sites=motion.end_sites, motion=out, frame_time=motion.frame_time,
    )
