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
          line blended into the shoulder line up the chain. Where the rig's chain doubles back
          (RobotExpressive: ``Body``, the hips, sits in front of its spine and ``Hips`` below
          it), it starts at the mid-point of the thighs instead and the bones behind it share
          the first bone's direction;
        * a rig whose torso is one rigid piece on the hips bone (a mesh, none of it on the
          spine bones: RobotExpressive) keeps its spine at rest on the hips, and the hips bone
          takes the frame of the whole chain, pelvis -> thorax, so the head and arms stay on the
          torso; likewise a neck that carries nothing keeps its rest pose and the head bone
          alone turns;
        * neck and head: one frame, thorax -> head top, twisted by the shoulder line;
        * thigh and shin, upper arm and forearm: twist from the limb's plane: the knee or elbow
          hinge axis ``(B - A) x (C - B)``, blended with ``(B - A) x ref`` (``ref`` the torso's
          backward direction for legs and forward for arms) so that a straight limb keeps the
          torso's twist instead of spinning; or, given a body fit's ``twist``, from the fitted
          bone: its rest second axis ``(B - A) x ref`` at the body's rest pose, turned by the
          fitted rotation, against the same rule on the rig's rest pose;
        * feet stay level (their rest pitch and roll against the floor), turned about the
          vertical to the given heel-to-toe heading (``extremities``) or, without one, to
          where the knee points;
        * hands continue their forearm, rolled to the given knuckle lines (``extremities``);
          without them they keep their rest pose on the forearm;
        * IK controls outside the limb chains (:attr:`RigMapping.followers`: a foot or hand
          hanging from the root) follow the end of their shin or forearm: placed where the limb
          carries their rest head (a translation), turned as above if they play the foot or hand,
          else with the limb;
        * everything else (clavicles, toes, fingers, face and twist bones) keeps its rest pose
          relative to its parent.
    - Root motion: the rig's mid-hip point (between its thighs' heads) follows the source's,
      scaled by the ratio of the rig's leg length to the subject's (hip to knee to ankle) and
      starting over its rest position; then the whole clip is shifted vertically so the lower
      ankle sits as high above the floor (y = 0) as it sits above the rig's own lowest point in
      its rest pose (5th percentile over the clip; the lowest point: of the mesh, the heads and
      the tails). ``root_motion``:

        * ``"on"``: the root bones carry that motion (all three axes);
        * ``"ground"``: every bone moves as with ``"on"`` but the root of the hips' tree: it
          stays on the floor (y = 0) under the hips bone's head, turned about the vertical with
          the hips' heading (the rest pose's forward, ``left hip line x up``, carried by the
          hips); the hips bone carries the height as a translation. A rig whose hips bone is its
          root gets a new root bone ``root`` (with ``add_root``; else a warning and ``"on"``);
        * ``"off"``: the mid-hip point stays over its rest position horizontally.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import continuous_quat, matrix_to_quat, nearest_valid
from pose2rig.options import DEFAULT_ROOT_MOTION, root_motion_mode
from pose2rig.retarget.mapping import RigMapping, ancestors, map_rig
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh, forward_kinematics
from pose2rig.types import PoseSequence

__all__ = ["ROOT_BONE", "SOURCE_JOINTS", "TWIST_PARTS", "add_root_bone", "rest_floor", "retarget"]

log = logging.getLogger(__name__)

SOURCE_JOINTS: tuple[str, ...] = (
    "pelvis", "spine", "thorax", "head",
    *(f"{s}_{j}" for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist") for s in ("left", "right")),
)
"""Joints the source pose must name."""

TWIST_PARTS: tuple[str, ...] = tuple(
    f"{s}_{p}" for s in ("left", "right") for p in ("upper_arm", "forearm", "thigh", "shin"))
"""Limbs that take their twist from a body fit (``retarget(twist=...)``)."""

ROOT_BONE = "root"
"""Name of the root bone that ``root_motion="ground"`` adds to a rig without one (Unreal's)."""

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


def _frames(pts: dict[str, np.ndarray], chain: np.ndarray, fractions: np.ndarray,
            twist: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every part's frame from named points (source ``(T, 3)`` each, or rig rest ``(3,)``).

    ``chain``: ``(..., P, 3)`` the torso polyline from the pelvis to the thorax; ``fractions``:
    ``(B + 1,)`` the spine bones' (hips first) start fractions and 1. ``twist``: second axes
    for limbs (:data:`TWIST_PARTS`) that replace the hinge rule's; a shin's also tells the foot
    where the knee points.
    """
    twist = twist or {}
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
        n_arm = _hinge(pts[f"{s}_shoulder"], pts[f"{s}_elbow"], pts[f"{s}_wrist"], forward)
        for part, (a, b), n in _LIMBS:
            out[f"{s}_{part}"] = _frame(pts[f"{s}_{b}"] - pts[f"{s}_{a}"],
                                        twist.get(f"{s}_{part}", n_leg if n == "leg" else n_arm))
        # the foot stays level, turned to where the knee points (no toe points in the source)
        knee = twist.get(f"{s}_shin", n_leg)
        ahead = np.cross(_unit(knee), _UP) + 1e-3 * np.cross(_unit(hip_axis), _UP)
        out[f"{s}_foot"] = _frame(ahead, np.broadcast_to(_UP, ahead.shape))
    return out


_LIMBS = (("thigh", ("hip", "knee"), "leg"), ("shin", ("knee", "ankle"), "leg"),
          ("upper_arm", ("shoulder", "elbow"), "arm"), ("forearm", ("elbow", "wrist"), "arm"))
"""The limbs: part, (its start and end joint), leg or arm."""


def _rest_twist(pts: dict[str, np.ndarray], parts: list[str]) -> dict[str, np.ndarray]:
    """The rest second axes of limbs ``parts`` (see ``twist`` in :func:`retarget`) from rest
    points ``(3,)``: the limb's direction crossed with the rest pose's forward (arms) or
    backward (legs), forward = ``(unit left-right hip line + unit left-right shoulder line) x
    (mid-shoulders - mid-hips)``; ``pose2rig.body.twist`` applies the same rule to a body's
    rest joints."""
    hips = pts["left_hip"] - pts["right_hip"]
    shoulders = pts["left_shoulder"] - pts["right_shoulder"]
    up = 0.5 * (pts["left_shoulder"] + pts["right_shoulder"] - pts["left_hip"] - pts["right_hip"])
    forward = _unit(np.cross(_unit(hips) + _unit(shoulders), up))
    out = {}
    for key in parts:
        s, part = key.split("_", 1)
        _, (a, b), n = next(limb for limb in _LIMBS if limb[0] == part)
        out[key] = _unit(np.cross(pts[f"{s}_{b}"] - pts[f"{s}_{a}"], -forward if n == "leg" else forward))
    return out


def _carried(rig: Rig) -> np.ndarray | None:
    """``(J,)`` bool: which bones some of the rig's mesh follows (None: the rig has no mesh)."""
    mesh = rig.mesh
    if mesh is None:
        return None
    carried = np.zeros(rig.num_bones, dtype=bool)
    carried[mesh.joints[mesh.weights > 0]] = True
    return carried


def _rigid_chain(carried: np.ndarray | None, base: int, chain: tuple[int, ...]) -> bool:
    """Whether ``chain`` (the spine above the hips, or the neck below the head) is rigid: the
    rig has a mesh, ``base`` carries some of it and no bone of ``chain`` carries any
    (RobotExpressive: its ``Torso`` mesh hangs from ``Body``, the hips, while ``Hips``, ``Abdomen``
    and ``Torso`` carry nothing; its ``Head`` mesh hangs from ``Head``, its ``Neck`` carries
    nothing). Bending such a chain would slide what hangs above it off the piece below, so it
    keeps its rest pose and ``base`` takes the whole chain's turn."""
    return carried is not None and bool(chain) and bool(carried[base]) and not carried[list(chain)].any()


def _rig_chain(rig: Rig, m: RigMapping) -> tuple[np.ndarray, np.ndarray]:
    """The rig's torso polyline ``(P, 3)`` from the hips to the neck, and the start fractions of
    the hips and spine bones along it, and 1 ``(B + 1,)``.

    The polyline runs through the bones' heads. Where a head does not lie further up the torso
    (along hips -> neck) than the one before, the chain starts at the thighs' mid-point instead
    and heads behind the point before them are left out (their bones start where that point
    is); a bone of (near) zero span gets a sliver so its frame is still defined."""
    bones = [m.roles["hips"], *m.spine]
    top = rig.heads[m.neck[0]] if m.neck else rig.heads[m.roles["head"]]
    pts = np.concatenate([rig.heads[bones], top[None]])
    axis = _unit(top - pts[0])
    if np.any(np.diff((pts - pts[0]) @ axis) <= 1e-6):  # the chain doubles back
        pts[0] = rig.heads[[m.roles["left_thigh"], m.roles["right_thigh"]]].mean(axis=0)
        axis = _unit(top - pts[0])
    along = (pts - pts[0]) @ axis
    kept = [0]
    for k in range(1, len(pts)):
        if along[k] > along[kept[-1]] + 1e-6 or k == len(pts) - 1:
            kept.append(k)
    chain = pts[kept]
    seg = np.linalg.norm(np.diff(chain, axis=0), axis=-1)
    cum = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    at = np.searchsorted(kept, np.arange(len(pts)), side="right") - 1  # the kept point at or before
    frac = cum[at]
    for k in range(1, len(frac)):  # keep bones ordered and of non-zero span
        frac[k] = max(frac[k], frac[k - 1] + 0.02)
    return chain, frac / frac[-1]


def rest_floor(rig: Rig) -> float:
    """The height of the rig's lowest point in its rest pose: of its mesh, bone heads and tails."""
    low = float(rig.heads[:, 1].min())
    if rig.tails is not None:
        low = min(low, float(rig.tails[:, 1].min()))
    if rig.mesh is not None and len(rig.mesh.vertices):
        low = min(low, float(rig.mesh.vertices[:, 1].min()))
    return low


def _fill_missing(joints: np.ndarray) -> np.ndarray:
    """``(T, J, 3)`` with each frame that has a NaN holding the nearest complete frame (ties: the earlier)."""
    ok = np.all(np.isfinite(joints), axis=(1, 2))
    if ok.all():
        return joints
    if not ok.any():
        raise Pose2RigError("retarget: every frame of the source has missing joints; nothing to animate")
    pick = nearest_valid(ok)
    log.warning("retarget: %d of %d frames have missing joints; they hold the nearest complete frame",
                int((~ok).sum()), len(ok))
    return joints[pick]


def retarget(
    poses: PoseSequence,
    rig: Rig,
    *,
    mapping: RigMapping | None = None,
    root_motion: str | bool = DEFAULT_ROOT_MOTION,
    extremities: dict[str, np.ndarray] | None = None,
    add_root: bool = True,
    twist: dict[str, np.ndarray] | None = None,
) -> RigAnimation:
    """Animate ``rig`` with the motion in ``poses``.

    Args:
        poses: world-space joints ``(T, J, 3)`` naming :data:`SOURCE_JOINTS`; frames with missing
            joints hold the nearest complete frame.
        rig: the character.
        mapping: role -> bone (:func:`pose2rig.retarget.mapping.map_rig`); default found by name.
        root_motion: ``"on"``: move the character through space as the subject moves, on its
            root bones; ``"ground"``: the same, with the root bone on the floor under the hips
            carrying the travel and heading and the hips the height; ``"off"``: in place, keeping
            only the vertical motion (see the module's Convention). ``True``/``False`` are
            ``"on"``/``"off"``.
        extremities: world directions per frame (:func:`pose2rig.world.extremities`, from
            MediaPipe's heel, toe and knuckle points): ``left_foot``/``right_foot`` headings
            (heel to toe; NaN frames turn the foot with the knee) and ``left_hand``/``right_hand``
            knuckle lines (little finger to index, perpendicular to the forearm: the hand
            continues its forearm, rolled to match; needs the rig's ``index1`` and ``pinky1``
            bones; NaN frames keep the hand at rest on its forearm).
        add_root: with ``root_motion="ground"`` on a rig whose hips bone is a root, add a root
            bone (:func:`add_root_bone`; the animation's rig is then the new one). Off where the
            rig cannot change (an armature in Blender, an action for it): a warning, and the
            hips carry the motion as with ``"on"``.
        twist: the limbs' twist from a body fit (:func:`pose2rig.body.twist.body_twist`):
            ``{part: (T, 3)}`` for parts of :data:`TWIST_PARTS`, each frame's world direction
            of the limb's rest second axis (its rest direction crossed with the rest pose's
            forward for arms, backward for legs, as the body's rest pose has them), turned by the
            fitted bone. A given limb's frame takes it as its second axis instead of the knee or
            elbow plane, and the rig's rest frame the same rule on the rig's rest pose, so the
            rig is at rest when the body is; a shin's also turns the foot (without a heading in
            ``extremities``). Other parts keep their rule.

    Returns:
        ``RigAnimation`` with one frame per source frame at the source's fps.
    """
    mode = root_motion_mode(root_motion)
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

    carried = _carried(rig)
    chain_map = replace(m, spine=()) if _rigid_chain(carried, m.roles["hips"], m.spine) else m
    neck = () if _rigid_chain(carried, m.roles["head"], m.neck) else m.neck
    rig_chain, fractions = _rig_chain(rig, chain_map)
    src_chain = np.stack([src["pelvis"], src["spine"], src["thorax"]], axis=1)
    twist = _check_twist(twist, len(joints))
    f_src = _frames(src, src_chain, fractions, twist)
    f_rig = _frames(rest_pts, rig_chain, fractions, _rest_twist(rest_pts, list(twist)))
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
    for k, b in enumerate(chain_map.spine):
        driven[b] = f"spine{k + 1}"
    for b in (*neck, m.roles["head"]):
        driven[b] = "head"
    for s in ("left", "right"):
        for part in ("thigh", "shin", "upper_arm", "forearm", "foot", "hand"):
            if f"{s}_{part}" in m.roles and f"{s}_{part}" in delta:
                driven[m.roles[f"{s}_{part}"]] = f"{s}_{part}"

    t = len(joints)
    rest_rot = rig.rest[:, :3, :3]
    local_rest = rig.rest_local[:, :3, :3]
    # world rotations by forward kinematics over the rig's tree with two changes: a driven bone
    # is a root (its world rotation is given), a follower hangs from the limb it turns with. Only
    # over the bones a moving bone's rotation needs (the moving bones, their parents, and those
    # bones' chains up the changed tree): the others stay at rest, and fingers and face bones
    # left unmapped would only cost time.
    graph = list(rig.parents)
    for j in driven:
        graph[j] = -1
    for j, limb in m.followers.items():
        if j not in driven:
            graph[j] = limb
    moving = [j for j in range(rig.num_bones) if j in driven or j in m.followers]
    need: set[int] = set()
    for j in moving:
        for start in (j, rig.parents[j]):
            b = start
            while b >= 0 and b not in need:  # stops on a cycle too: forward_kinematics reports it
                need.add(b)
                b = graph[b]
    sub = sorted(need)
    pos = {j: i for i, j in enumerate(sub)}
    local = np.broadcast_to(local_rest[sub], (t, len(sub), 3, 3)).copy()
    for j, key in driven.items():
        local[:, pos[j]] = delta[key] @ rest_rot[j]
    for j, limb in m.followers.items():
        if j not in driven:
            local[:, pos[j]] = rest_rot[limb].T @ rest_rot[j]
    try:
        world = forward_kinematics(local, [pos[graph[j]] if graph[j] >= 0 else -1 for j in sub])
    except Pose2RigError:
        raise Pose2RigError(f"rig {rig.name!r}: a follower bone carries the limb it follows") from None
    # each moving bone's rotation from rest in its own axes: (parent's world @ rest local)^T @
    # world; every other bone stays at rest
    basis = np.broadcast_to(np.eye(3), (t, rig.num_bones, 3, 3)).copy()
    if moving:
        at = [pos[j] for j in moving]
        frame = np.broadcast_to(local_rest[moving], (t, len(moving), 3, 3)).copy()
        child = [i for i, j in enumerate(moving) if rig.parents[j] >= 0]
        if child:
            parent = [pos[rig.parents[moving[i]]] for i in child]
            frame[:, child] = world[:, parent] @ local_rest[[moving[i] for i in child]]
        basis[:, moving] = np.swapaxes(frame, -1, -2) @ world[:, at]
    rotations = continuous_quat(matrix_to_quat(basis))

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
    if mode == "off":
        target[:, [0, 2]] = mid_rest[[0, 2]]
    moved = target - mid_posed
    # feet on the floor: the lower ankle as high above y = 0 as at rest above the rig's lowest
    # point (5th percentile over the clip)
    low = np.min(_ankle_positions(animation(moved), m, rest_pts)[..., 1], axis=1)
    rest_low = min(rest_pts["left_ankle"][1], rest_pts["right_ankle"][1]) - rest_floor(rig)
    moved[:, 1] += rest_low - float(np.percentile(low, 5))
    anim = animation(moved)
    if m.followers:
        anim = _follow(anim, m)
    if mode == "ground":
        anim = _grounded(anim, m, add_root=add_root)
    return anim


def _check_twist(twist: dict[str, np.ndarray] | None, t: int) -> dict[str, np.ndarray]:
    out = {}
    for key, vectors in (twist or {}).items():
        v = np.asarray(vectors, dtype=np.float64)
        if key not in TWIST_PARTS or v.shape != (t, 3):
            raise Pose2RigError(f"retarget: twist[{key!r}] must be one of {', '.join(TWIST_PARTS)} with shape "
                                f"({t}, 3), got {v.shape}")
        if not np.isfinite(v).all() or (np.linalg.norm(v, axis=-1) < 1e-9).any():
            raise Pose2RigError(f"retarget: twist[{key!r}] holds NaN or zero vectors")
        out[key] = v
    return out


def _follow(anim: RigAnimation, m: RigMapping) -> RigAnimation:
    """``anim`` with each follower's head moved where its limb carries the follower's rest head:
    a root follower by its root position, any other by a translation (``locations``)."""
    rig = anim.rig
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    inv_rest = np.linalg.inv(rig.rest)
    local = rig.rest_local
    loc = np.zeros((anim.num_frames, rig.num_bones, 3)) if anim.locations is None else anim.locations.copy()
    root_positions = anim.root_positions.copy()
    for f in sorted(m.followers):
        world = RigAnimation(rig, anim.rotations, root_positions, anim.fps, locations=loc).world_matrices()
        limb = m.followers[f]
        target = (world[:, limb] @ (inv_rest[limb] @ rig.rest[f][:, 3]))[:, :3]
        p = rig.parents[f]
        if p < 0:
            root_positions[:, roots.index(f)] = target
        else:
            frame = world[:, p] @ local[f]
            loc[:, f] = np.einsum("tji,tj->ti", frame[:, :3, :3], target - frame[:, :3, 3])
    return RigAnimation(rig, anim.rotations, root_positions, anim.fps, locations=loc)


def add_root_bone(rig: Rig, hips: int, forward: np.ndarray, name: str = ROOT_BONE) -> Rig:
    """``rig`` with a new first bone, the parent of the root bone ``hips``: lying on the rig's
    rest floor (:func:`rest_floor`) under the hips' head, pointing along the horizontal
    ``forward`` ``(3,)`` with its z axis up, a fifth of the hips' height long. Every other bone
    index moves up by one (the mesh's weights too); a taken ``name`` gets a ``.001``-style
    suffix."""
    if rig.parents[hips] >= 0:
        raise Pose2RigError(f"rig {rig.name!r}: bone {rig.bone_names[hips]!r} is not a root")
    taken = set(rig.bone_names)
    unique, k = name, 0
    while unique in taken:
        k += 1
        unique = f"{name}.{k:03d}"
    floor = rest_floor(rig)
    head = rig.heads[hips].copy()
    forward = _unit(np.array([forward[0], 0.0, forward[2]], dtype=np.float64))
    up = np.array([0.0, 1.0, 0.0])
    rot = np.stack([np.cross(forward, up), forward, up], axis=-1)  # x, y (along the bone), z up
    rest = np.eye(4)
    rest[:3, :3] = rot
    rest[:3, 3] = [head[0], floor, head[2]]
    length = max(0.2 * (head[1] - floor), 1e-3)
    tails = None if rig.tails is None else np.concatenate([(rest[:3, 3] + length * forward)[None], rig.tails])
    parents = (-1, *(0 if j == hips else (p + 1 if p >= 0 else -1) for j, p in enumerate(rig.parents)))
    mesh = rig.mesh
    if mesh is not None:
        mesh = SkinnedMesh(mesh.vertices, mesh.faces, mesh.joints + 1, mesh.weights, name=mesh.name)
    return Rig(name=rig.name, bone_names=(unique, *rig.bone_names), parents=parents,
               rest=np.concatenate([rest[None], rig.rest]), tails=tails, mesh=mesh, source=rig.source)


def _rest_forward(rig: Rig, m: RigMapping) -> np.ndarray:
    """The rest pose's horizontal forward ``(3,)``: the hip line (left minus right thigh head)
    crossed with up; +Z where that is not defined."""
    line = rig.heads[m.roles["left_thigh"]] - rig.heads[m.roles["right_thigh"]]
    forward = np.cross(line, _UP)
    forward[1] = 0.0
    if np.linalg.norm(forward) < 1e-9:
        return np.array([0.0, 0.0, 1.0])
    return _unit(forward)


def _grounded(anim: RigAnimation, m: RigMapping, *, add_root: bool) -> RigAnimation:
    """``anim`` with the root of the hips' tree on the floor under the hips' head, turned with
    their heading; every other bone where it was (see the module's Convention)."""
    rig = anim.rig
    hips = m.roles["hips"]
    forward = _rest_forward(rig, m)
    world = anim.world_matrices()
    top = ancestors(rig, hips)[-1]
    if top == hips:
        if not add_root:
            log.warning("rig %r has no root bone under its hips bone %r: root motion 'ground' needs one; the "
                        "hips carry the travel as with 'on'", rig.name, rig.bone_names[hips])
            return anim
        rig = add_root_bone(rig, hips, forward)
        log.info("rig %r: added root bone %r under the hips for root motion 'ground'", rig.name, rig.bone_names[0])
        world = np.concatenate([np.broadcast_to(rig.rest[0], (anim.num_frames, 1, 4, 4)), world], axis=1)
        top, hips = 0, hips + 1
    turn = world[:, hips, :3, :3] @ rig.rest[hips, :3, :3].T  # the hips' world rotation from rest
    ahead = turn @ forward
    ahead[:, 1] = 0.0
    yaw = np.arctan2(np.cross(forward, ahead) @ _UP, ahead @ forward)
    ok = np.linalg.norm(ahead, axis=-1) > 0.1  # hips lying along the vertical: the nearest frame's heading
    if not ok.any():
        yaw[:] = 0.0
    elif not ok.all():
        yaw = yaw[nearest_valid(ok)]
    c, s = np.cos(yaw), np.sin(yaw)
    ry = np.zeros((anim.num_frames, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = c, s, 1.0, -s, c
    root = np.broadcast_to(np.eye(4), (anim.num_frames, 4, 4)).copy()
    root[:, :3, :3] = ry @ rig.rest[top, :3, :3]
    root[:, 0, 3], root[:, 2, 3] = world[:, hips, 0, 3], world[:, hips, 2, 3]
    world[:, top] = root
    out = RigAnimation.from_world(rig, world, anim.fps)
    return RigAnimation(rig, continuous_quat(out.rotations), out.root_positions, out.fps, locations=out.locations)


def _foot_frames(rig: Rig, m: RigMapping, side: str, heading: np.ndarray):
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
                 rest_pts: dict[str, np.ndarray]):
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
