"""Joint positions -> an animation of the user's character (:class:`~pose2rig.rig.Rig`).

Convention:
    - Input: a ``space="world"`` :class:`~pose2rig.types.PoseSequence` (Y up, metres, floor at
      y = 0) whose joint set names ``pelvis``, ``spine``, ``thorax``, ``head`` and left/right
      ``hip``, ``knee``, ``ankle``, ``shoulder``, ``elbow``, ``wrist`` (Human3.6M-17 does).
    - Output: a :class:`~pose2rig.rig.RigAnimation`: every bone's rotation relative to
      its own rest pose, so the rig's rolls and axis conventions never matter.
    - Each mapped part gets a world rotation ``D = F_pose @ F_rest^T`` applied on top of its rest
      orientation, where ``F`` is an orthonormal frame built by the same rule from the source's
      joints (``F_pose``) and from the rig's rest joints (``F_rest``): its first axis along the
      part (so each mapped bone points where the source bone points) and its second fixing the
      twist:

        * hips and spine: the chain from the hips to the neck follows the source's
          pelvis -> spine -> thorax curve at the same fractions of its length; twist from the hip
          line blended into the shoulder line up the chain;
        * neck and head: one frame, thorax -> head top, twisted by the shoulder line;
        * thigh and shin, upper arm and forearm: twist from the limb's plane: the knee or elbow
          hinge axis ``(B - A) x (C - B)``, blended with ``(B - A) x ref`` (``ref`` the torso's
          backward direction for legs and forward for arms) so that a straight limb keeps the
          torso's twist instead of spinning;
        * feet stay level (their rest pitch and roll against the floor), turned about the
          vertical to the given heel-to-toe heading (``extremities``) or, without one, to
          where the knee points;
        * hands continue their forearm, rolled to the given knuckle lines (``extremities``);
          without them they keep their rest pose on the forearm;
        * everything else (clavicles, toes, fingers, face and twist bones) keeps its rest pose
          relative to its parent.
    - Root motion: the rig's mid-hip point (between its thighs' heads) follows the source's,
      scaled by the ratio of the rig's leg length to the subject's (hip to knee to ankle) and
      starting over its rest position; then the whole clip is shifted vertically so the lower
      ankle sits as high above the floor as in the rig's rest pose (5th percentile over the
      clip). The root bones carry that motion; with ``root_motion=False`` the mid-hip point stays
      over its rest position horizontally.
"""

from __future__ import annotations

import logging

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import matrix_to_quat
from pose2rig.options import WorldOptions
from pose2rig.retarget.mapping import RigMapping, map_rig
from pose2rig.rig import Rig, RigAnimation
from pose2rig.types import PoseSequence

__all__ = ["SOURCE_JOINTS", "retarget"]

log = logging.getLogger(__name__)

SOURCE_JOINTS: tuple[str, ...] = (
    "pelvis", "spine", "thorax", "head",
    *(f"{s}_{j}" for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")),
)
"""Joints the source pose must name."""

_UP = np.array([0.0, 1.0, 0.0])

BLEND = 0.15
"""Weight of the torso reference in a limb's hinge axis: bends of more than ~9 degrees decide the
twist; straighter limbs take it from the torso."""


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` orthonormal frames with columns (primary, secondary orthogonalised, their
    cross product)."""
    a = _unit(primary)
    b = _unit(secondary - np.sum(secondary * a, axis=-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def _hinge(a: np.ndarray, b: np.ndarray, c: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hinge axis of the limb a -> b -> c, falling back to (b - a) x ref when straight."""
    u, w = _unit(b - a), _unit(c - b)
    return np.cross(u, w) + BLEND * np.cross(u, _unit(ref))


def _polyline_at(points: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points at arc-length ``fractions`` (K,) along polylines ``(..., P, 3)`` -> ``(..., K, 3)``."""
    seg = np.linalg.norm(np.diff(points, axis=-2), axis=-1)  # (..., P-1)
    cum = np.concatenate([np.zeros(seg.shape[:-1] + (1,)), np.cumsum(seg, axis=-1)], axis=-1)
    total = np.maximum(cum[..., -1:], 1e-12)
    cum = cum / total
    out = np.empty(points.shape[:-2] + (len(fractions), 3))
    for k, f in enumerate(fractions):
        i = np.clip(np.sum(cum <= f, axis=-1) - 1, 0, points.shape[-2] - 2)  # segment index
        lo = np.take_along_axis(cum, i[..., None], axis=-1)[..., 0]
        hi = np.take_along_axis(cum, i[..., None] + 1, axis=-1)[..., 0]
        t = np.clip((f - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)[..., None]
        p0 = np.take_along_axis(points, i[..., None, None].repeat(3, -1), axis=-2)[..., 0, :]
        p1 = np.take_along_axis(points, (i + 1)[..., None, None].repeat(3, -1), axis=-2)[..., 0, :]
        out[..., k, :] = p0 + t * (p1 - p0)
    return out


def _rig_points(rig: Rig, m: RigMapping) -> dict[str, np.ndarray]:
    h = rig.heads
    r = m.roles

    def end_of(bone: int, child_role: str | None) -> np.ndarray:
        if child_role and child_role in r:
            return h[r[child_role]]
        if rig.tails is not None:
            return rig.tails[bone]
        kids = rig.children(bone)
        if kids:
            return np.mean(h[list(kids)], axis=0)
        parent = rig.parents[bone]
        return h[bone] + (h[bone] - h[parent]) * 0.5

    pts = {
        "pelvis": h[r["hips"]],
        "thorax": h[m.neck[0]] if m.neck else h[r["head"]],
    }
    pts["head"] = end_of(r["head"], "head_top")
    for s in ("left", "right"):
        pts[f"{s}_hip"] = h[r[f"{s}_thigh"]]
        pts[f"{s}_knee"] = h[r[f"{s}_shin"]]
        pts[f"{s}_ankle"] = end_of(r[f"{s}_shin"], f"{s}_foot")
        pts[f"{s}_shoulder"] = h[r[f"{s}_upper_arm"]]
        pts[f"{s}_elbow"] = h[r[f"{s}_forearm"]]
        pts[f"{s}_wrist"] = end_of(r[f"{s}_forearm"], f"{s}_hand")
    return pts


def _frames(pts: dict[str, np.ndarray], chain: np.ndarray, fractions: np.ndarray) -> dict[str, np.ndarray]:
    """Every part's frame from named points (source ``(T, 3)`` each, or rig rest ``(3,)``).

    ``chain``: ``(..., P, 3)`` the torso polyline from the pelvis to the thorax; ``fractions``:
    ``(B + 1,)`` the spine bones' (hips first) start fractions and 1.
    """
    hip_axis = pts["left_hip"] - pts["right_hip"]
    sh_axis = pts["left_shoulder"] - pts["right_shoulder"]
    up = pts["thorax"] - pts["pelvis"]
    forward = np.cross(_unit(hip_axis) + _unit(sh_axis), up)  # left x up = forward (facing +Z)
    out: dict[str, np.ndarray] = {}
    at = _polyline_at(chain, fractions)
    for k in range(len(fractions) - 1):
        f = 0.5 * (fractions[k] + fractions[k + 1])
        lateral = (1.0 - f) * _unit(hip_axis) + f * _unit(sh_axis)
        out[f"spine{k}"] = _frame(at[..., k + 1, :] - at[..., k, :], lateral)
    out["head"] = _frame(pts["head"] - pts["thorax"], sh_axis)
    for s in ("left", "right"):
        n_leg = _hinge(pts[f"{s}_hip"], pts[f"{s}_knee"], pts[f"{s}_ankle"], -forward)
        out[f"{s}_thigh"] = _frame(pts[f"{s}_knee"] - pts[f"{s}_hip"], n_leg)
        out[f"{s}_shin"] = _frame(pts[f"{s}_ankle"] - pts[f"{s}_knee"], n_leg)
        # the foot stays level, turned to where the knee points (no toe points in the source)
        ahead = np.cross(_unit(n_leg), _UP) + 1e-3 * np.cross(_unit(hip_axis), _UP)
        out[f"{s}_foot"] = _frame(ahead, np.broadcast_to(_UP, ahead.shape))
        n_arm = _hinge(pts[f"{s}_shoulder"], pts[f"{s}_elbow"], pts[f"{s}_wrist"], forward)
        out[f"{s}_upper_arm"] = _frame(pts[f"{s}_elbow"] - pts[f"{s}_shoulder"], n_arm)
        out[f"{s}_forearm"] = _frame(pts[f"{s}_wrist"] - pts[f"{s}_elbow"], n_arm)
    return out


def _chain_fractions(rig: Rig, m: RigMapping) -> np.ndarray:
    """Start fractions of hips + spine bones along the rig's hips -> neck polyline, and 1; a bone
    of (near) zero length gets a sliver so its frame is still defined."""
    bones = [m.roles["hips"], *m.spine]
    top = rig.heads[m.neck[0]] if m.neck else rig.heads[m.roles["head"]]
    pts = np.concatenate([rig.heads[bones], top[None]])
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=-1)
    frac = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    for k in range(1, len(frac)):  # keep bones ordered and of non-zero span
        frac[k] = max(frac[k], frac[k - 1] + 0.02)
    return frac / frac[-1]


def _fill_missing(joints: np.ndarray) -> np.ndarray:
    ok = np.all(np.isfinite(joints), axis=(1, 2))
    if ok.all():
        return joints
    if not ok.any():
        raise Pose2RigError("retarget: every frame of the source has missing joints; nothing to animate")
    idx = np.flatnonzero(ok)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(ok))), 0, len(idx) - 1)]
    prev = idx[np.clip(np.searchsorted(idx, np.arange(len(ok))) - 1, 0, len(idx) - 1)]
    pick = np.where(np.abs(prev - np.arange(len(ok))) < np.abs(nearest - np.arange(len(ok))), prev, nearest)
    log.warning("retarget: %d of %d frames have missing joints; they hold the nearest complete frame",
                int((~ok).sum()), len(ok))
    return joints[pick]


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs ``(T, J, 4)`` so consecutive frames stay in one hemisphere."""
    q = q.copy()
    for t in range(1, len(q)):
        flip = np.sum(q[t] * q[t - 1], axis=-1) < 0
        q[t, flip] *= -1
    return q


def retarget(
    poses: PoseSequence,
    rig: Rig,
    *,
    mapping: RigMapping | None = None,
    root_motion: bool = WorldOptions.root_motion,
    extremities: dict[str, np.ndarray] | None = None,
) -> RigAnimation:
    """Animate ``rig`` with the motion in ``poses``.

    Args:
        poses: world-space joints ``(T, J, 3)`` naming :data:`SOURCE_JOINTS`; frames with missing
            joints hold the nearest complete frame.
        rig: the character.
        mapping: role -> bone (:func:`pose2rig.retarget.mapping.map_rig`); default found by name.
        root_motion: move the character through space as the subject moves (else in place,
            keeping only the vertical motion).
        extremities: world directions per frame (:func:`pose2rig.world.extremities`, from
            MediaPipe's heel, toe and knuckle points): ``left_foot``/``right_foot`` headings
            (heel to toe; NaN frames turn the foot with the knee) and ``left_hand``/``right_hand``
            knuckle lines (little finger to index, perpendicular to the forearm: the hand
            continues its forearm, rolled to match; needs the rig's ``index1`` and ``pinky1``
            bones; NaN frames keep the hand at rest on its forearm).

    Returns:
        ``RigAnimation`` with one frame per source frame at the source's fps.
    """
    if poses.space != "world":
        raise Pose2RigError(
            f"retarget: expected world-space poses (pose2rig.world.to_world), got space={poses.space!r}"
        )
    names = poses.skeleton.joint_names
    missing = [j for j in SOURCE_JOINTS if j not in names]
    if missing:
        raise Pose2RigError(
            f"retarget: the source joint set {poses.skeleton.name!r} lacks {', '.join(missing)}"
        )
    m = mapping if mapping is not None else map_rig(rig)
    joints = _fill_missing(np.asarray(poses.joints, dtype=np.float64))
    src = {j: joints[:, names.index(j)] for j in SOURCE_JOINTS}
    rest_pts = _rig_points(rig, m)

    fractions = _chain_fractions(rig, m)
    src_chain = np.stack([src["pelvis"], src["spine"], src["thorax"]], axis=1)
    rig_chain = np.stack([rest_pts["pelvis"], *(rig.heads[b] for b in m.spine), rest_pts["thorax"]])
    f_src = _frames(src, src_chain, fractions)
    f_rig = _frames(rest_pts, rig_chain, fractions)
    delta = {k: f_src[k] @ np.swapaxes(f_rig[k], -1, -2) for k in f_src}  # (T, 3, 3)
    for key, vectors in (extremities or {}).items():
        v = np.asarray(vectors, dtype=np.float64)
        if key not in ("left_foot", "right_foot", "left_hand", "right_hand") or v.shape != (len(joints), 3):
            raise Pose2RigError(
                f"retarget: extremities[{key!r}] must be one of left_/right_foot, left_/right_hand with "
                f"shape ({len(joints)}, 3), got {v.shape}"
            )
        side, part = key.split("_")
        if key not in m.roles:
            continue
        if part == "foot":
            frame = _foot_frames(rig, m, side, v)
        else:
            frame = _hand_frames(rig, m, side, v, src, rest_pts)
        if frame is None:
            continue
        ok, f_pose, f_rest = frame
        if key not in delta:
            delta[key] = np.broadcast_to(np.eye(3), (len(joints), 3, 3)).copy()
        delta[key][ok] = f_pose @ f_rest.T

    driven: dict[int, str] = {m.roles["hips"]: "spine0"}
    for k, b in enumerate(m.spine):
        driven[b] = f"spine{k + 1}"
    for b in (*m.neck, m.roles["head"]):
        driven[b] = "head"
    for s in ("left", "right"):
        for part in ("thigh", "shin", "upper_arm", "forearm", "foot", "hand"):
            if f"{s}_{part}" in m.roles and f"{s}_{part}" in delta:
                driven[m.roles[f"{s}_{part}"]] = f"{s}_{part}"

    t = len(joints)
    rest_rot = rig.rest[:, :3, :3]
    local_rest = rig.rest_local[:, :3, :3]
    world = np.empty((t, rig.num_bones, 3, 3))
    basis = np.empty_like(world)
    for j, p in enumerate(rig.parents):
        parent_world = world[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        if j in driven:
            world[:, j] = delta[driven[j]] @ rest_rot[j]
            basis[:, j] = np.swapaxes(parent_world @ local_rest[j], -1, -2) @ world[:, j]
        else:
            world[:, j] = parent_world @ local_rest[j]
            basis[:, j] = np.eye(3)
    rotations = _continuous(matrix_to_quat(basis))

    # root motion: hips follow the pelvis, scaled by leg length, feet on the floor
    def leg(p: dict[str, np.ndarray]) -> np.ndarray:
        return sum(
            np.linalg.norm(p[f"{s}_knee"] - p[f"{s}_hip"], axis=-1)
            + np.linalg.norm(p[f"{s}_ankle"] - p[f"{s}_knee"], axis=-1)
            for s in ("left", "right")
        ) / 2

    scale = float(leg(rest_pts)) / max(float(np.median(leg(src))), 1e-6)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]

    def animation(moved: np.ndarray) -> RigAnimation:
        return RigAnimation(rig, rotations, rig.heads[roots][None] + moved[:, None], poses.fps)

    # the mid-hip point (between the thighs' heads, the same on every rig of one body) follows the
    # source's, scaled; found by moving the roots after posing the rig in place
    still = animation(np.zeros((t, 3)))
    thighs = [m.roles[f"{s}_thigh"] for s in ("left", "right")]
    mid_posed = still.world_matrices()[:, thighs][..., :3, 3].mean(axis=1)
    mid_rest = rig.heads[thighs].mean(axis=0)
    target = scale * 0.5 * (src["left_hip"] + src["right_hip"])
    target[:, [0, 2]] += mid_rest[[0, 2]] - target[0, [0, 2]]
    if not root_motion:
        target[:, [0, 2]] = mid_rest[[0, 2]]
    moved = target - mid_posed
    # feet on the floor: the lower ankle as high as at rest (5th percentile over the clip)
    low = np.min(_ankle_positions(animation(moved), m, rest_pts)[..., 1], axis=1)
    rest_low = min(rest_pts["left_ankle"][1], rest_pts["right_ankle"][1])
    moved[:, 1] += rest_low - float(np.percentile(low, 5))
    return animation(moved)


def _foot_frames(rig: Rig, m: RigMapping, side: str, heading: np.ndarray):  # noqa: ANN202
    """(frames with a heading, their level frames along it, the rig foot's own level frame) or
    None when the rig's foot line is not defined."""
    foot = m.roles[f"{side}_foot"]
    kids = rig.children(foot)
    if f"{side}_toe" in m.roles:
        tip = rig.heads[m.roles[f"{side}_toe"]]
    elif rig.tails is not None:
        tip = rig.tails[foot]
    elif kids:
        tip = rig.heads[list(kids)].mean(axis=0)
    else:
        return None
    line = tip - rig.heads[foot]
    line[1] = 0.0
    if np.linalg.norm(line) < 1e-6:
        return None
    h = heading.copy()
    h[:, 1] = 0.0
    ok = np.all(np.isfinite(h), axis=-1) & (np.linalg.norm(h, axis=-1) > 1e-6)
    return ok, _frame(h[ok], np.broadcast_to(_UP, h[ok].shape)), _frame(line, _UP)


def _hand_frames(rig: Rig, m: RigMapping, side: str, line: np.ndarray, src: dict[str, np.ndarray],
                 rest_pts: dict[str, np.ndarray]):  # noqa: ANN202
    """(frames with a knuckle line, their frames (forearm, line), the rig's rest frame) or None
    when the rig has no index and little finger to give its own knuckle line."""
    if f"{side}_index1" not in m.roles or f"{side}_pinky1" not in m.roles:
        return None
    rest_line = rig.heads[m.roles[f"{side}_index1"]] - rig.heads[m.roles[f"{side}_pinky1"]]
    rest_fore = rest_pts[f"{side}_wrist"] - rest_pts[f"{side}_elbow"]
    fore = src[f"{side}_wrist"] - src[f"{side}_elbow"]
    ok = np.all(np.isfinite(line), axis=-1) & (np.linalg.norm(line, axis=-1) > 1e-6)
    return ok, _frame(fore[ok], line[ok]), _frame(rest_fore, rest_line)


def _ankle_positions(anim: RigAnimation, m: RigMapping, rest_pts: dict[str, np.ndarray]) -> np.ndarray:
    """``(T, 2, 3)`` world ankle points (left, right) of an animation: the rig's rest ankle points
    carried by the shin bones."""
    world = anim.world_matrices()
    inv_rest = np.linalg.inv(anim.rig.rest)
    out = []
    for s in ("left", "right"):
        shin = m.roles[f"{s}_shin"]
        local = inv_rest[shin] @ np.append(rest_pts[f"{s}_ankle"], 1.0)
        out.append((world[:, shin] @ local)[:, :3])
    return np.stack(out, axis=1)
