"""Joint positions (Human3.6M-17) -> BVH rotations on a skeleton of the same topology.

Convention:
    - Input: world space (Y up, metres, subject facing +Z), skeleton ``h36m17``, finite joints.
    - Rest pose (all channels zero): a T-pose facing +Z. Legs hang down -Y, spine, neck and head
      point up +Y, arms point out along +X (left) and -X (right). Each offset is the subject's
      median bone length along that direction. The branch bones from the pelvis (to the hips)
      and from the thorax (to the shoulders) keep the subject's own mean direction in the pelvis
      or thorax frame (for a T-posed subject that is +-X): mocap places the pelvis above the hip
      line (CMU's ``Hips`` is 9 cm above its hip joints), which a pure +-X offset would twist.
    - Rotations: the pelvis frame has its y axis along pelvis->spine and its x axis towards the
      left hip (from the right hip); the thorax frame has y along thorax->neck and x towards the
      left shoulder; the spine joint's frame points y at the thorax, x along the mean of the hip
      and shoulder lines. Every other joint turns its one bone by the smallest rotation from
      the parent's frame (swing), except hips and shoulders, which also twist about the bone so
      that the knee or elbow bends about one local axis (x for the knees, -y/+y for the left and
      right elbows) once the limb is bent by more than 20 degrees (blended from 5 degrees);
      a straight limb keeps the swing alone, so limbs never spin. Ankles, wrists and the head
      are leaves with zero rotation and an end site, so the head joint keeps its position.
    - Channels: root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``, joints
      ``Zrotation Xrotation Yrotation`` (``R = Rz Rx Ry``), degrees, unwrapped over time so no
      curve jumps by 360.
"""

from __future__ import annotations

import logging

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import continuous_euler_zxy, frame_from_vectors, rotation_between
from pose2rig.io.bvh import BvhMotion
from pose2rig.options import ExportOptions
from pose2rig.skeletons import H36M17
from pose2rig.types import PoseSequence

log = logging.getLogger(__name__)

_UNITS = {"cm": 100.0, "m": 1.0}
_ROT = ("Zrotation", "Xrotation", "Yrotation")
_ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", *_ROT)

_X, _Y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
# rest direction of the bone from each joint's parent to the joint
_REST_DIR: dict[str, np.ndarray] = {
    "right_hip": -_X, "right_knee": -_Y, "right_ankle": -_Y,
    "left_hip": _X, "left_knee": -_Y, "left_ankle": -_Y,
    "spine": _Y, "thorax": _Y, "neck": _Y, "head": _Y,
    "left_shoulder": _X, "left_elbow": _X, "left_wrist": _X,
    "right_shoulder": -_X, "right_elbow": -_X, "right_wrist": -_X,
}
# limb roots that twist so the middle joint bends about one local axis: (middle, end, axis)
_BEND: dict[str, tuple[str, str, np.ndarray]] = {
    "left_hip": ("left_knee", "left_ankle", _X),
    "right_hip": ("right_knee", "right_ankle", _X),
    "left_shoulder": ("left_elbow", "left_wrist", -_Y),
    "right_shoulder": ("right_elbow", "right_wrist", _Y),
}
_BEND_FROM, _BEND_FULL = np.radians(5.0), np.radians(20.0)
_END_SITE_FRACTION = 0.25
_FIT_ROUNDS = 3  # leaf end sites: this fraction of the bone into the leaf


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _wahba(
    actual: list[np.ndarray], rest: list[np.ndarray], weights: tuple[float, ...]
) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` taking the ``rest (3,)`` (or per-frame ``(T, 3)``) directions
    closest onto ``actual (T, 3)``.

    The spine (or neck) gets the weight of both hips (shoulders) together, so the bend between
    them is shared about evenly.
    """
    b = sum(w * np.einsum("...i,...j->...ij", a, r) for a, r, w in zip(actual, rest, weights))
    u, _, vt = np.linalg.svd(b)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(u.shape[:-2] + (3,))
    fix[..., 2] = d
    return (u * fix[..., None, :]) @ vt


def _check(seq: PoseSequence) -> np.ndarray:
    if seq.skeleton.name != H36M17.name or seq.skeleton.joint_names != H36M17.joint_names:
        raise Pose2RigError(
            f"solve_bvh: expected a PoseSequence on skeleton 'h36m17', got {seq.skeleton.name!r}"
        )
    if seq.space != "world":
        raise Pose2RigError(
            f"solve_bvh: expected world-space joints (Y up, metres), got space={seq.space!r}"
        )
    j = seq.joints.astype(np.float64)
    if j.shape[0] == 0:
        raise Pose2RigError("solve_bvh: expected at least one frame, got none")
    bad = ~np.all(np.isfinite(j), axis=(1, 2))
    if bad.any():
        frames = np.flatnonzero(bad)
        raise Pose2RigError(
            f"solve_bvh: expected finite joints in every frame; {len(frames)} frames have NaN "
            f"(first {frames[0]}); fill gaps first"
        )
    return j


def solve_bvh(seq: PoseSequence, *, units: str = ExportOptions.units) -> BvhMotion:
    """Local rotations that pose a Human3.6M-17 BVH skeleton like ``seq`` (see module doc).

    Args:
        seq: world-space joints ``(T, 17, 3)``, finite.
        units: ``"cm"`` (default) or ``"m"`` for the file's lengths.

    Returns:
        A :class:`BvhMotion` with the 17 joints in H36M order, ``frame_time = 1 / fps``.
    """
    from scipy.spatial.transform import Rotation

    if units not in _UNITS:
        raise Pose2RigError(f"solve_bvh: units must be one of {', '.join(_UNITS)}, got {units!r}")
    k = _UNITS[units]
    j = _check(seq)
    sk = H36M17
    idx = sk.index
    t = j.shape[0]
    parents = sk.parents
    bone = np.zeros_like(j)
    for c, p in enumerate(parents):
        if p >= 0:
            bone[:, c] = j[:, c] - j[:, p]
    length = np.linalg.norm(bone, axis=-1)  # (T, J)
    zero = [sk.joint_names[c] for c, p in enumerate(parents) if p >= 0 and np.any(length[:, c] < 1e-6)]
    if zero:
        raise Pose2RigError(f"solve_bvh: bones of zero length (coincident joints) at {', '.join(zero)}")
    direction = bone / np.where(length > 0, length, 1.0)[..., None]
    med = np.median(length, axis=0)

    world = np.zeros((t, sk.num_joints, 3, 3))
    hip_line = j[:, idx("left_hip")] - j[:, idx("right_hip")]
    sho_line = j[:, idx("left_shoulder")] - j[:, idx("right_shoulder")]
    world[:, idx("pelvis")] = frame_from_vectors(direction[:, idx("spine")], hip_line, "yx")
    world[:, idx("spine")] = frame_from_vectors(
        direction[:, idx("thorax")], _unit(hip_line) + _unit(sho_line), "yx"
    )
    world[:, idx("thorax")] = frame_from_vectors(direction[:, idx("neck")], sho_line, "yx")

    # rest offsets: branch bones keep their mean direction in the parent frame. The pelvis and
    # thorax frames are then refitted to all three of their bones (Wahba), so that the spine's
    # bending is shared among the branch bones instead of landing on the hips alone.
    offsets = np.zeros((sk.num_joints, 3))
    for name, d in _REST_DIR.items():
        offsets[idx(name)] = d * med[idx(name)]
    for hub, kids in (
        ("pelvis", ("left_hip", "right_hip", "spine")),
        ("thorax", ("left_shoulder", "right_shoulder", "neck")),
    ):
        h = idx(hub)
        rest = {n: _REST_DIR[n] for n in kids}
        for _ in range(_FIT_ROUNDS):
            for n in kids:
                local = np.einsum("tba,tb->ta", world[:, h], direction[:, idx(n)])  # R^T d
                rest[n] = _unit(local.mean(axis=0))
            # gauge: the mean spine/neck direction is the rest +Y, the mean hip/shoulder line +X
            g = frame_from_vectors(rest[kids[2]], rest[kids[0]] - rest[kids[1]], "yx")
            rest = {n: g.T @ r for n, r in rest.items()}
            world[:, h] = _wahba(
                [direction[:, idx(n)] for n in kids], [rest[n] for n in kids], (1.0, 1.0, 2.0)
            )
        for n in kids:
            offsets[idx(n)] = rest[n] * med[idx(n)]

    # swing (+ bend twist) for the joints that carry one bone
    for name in ("right_hip", "right_knee", "left_hip", "left_knee", "neck",
                 "left_shoulder", "left_elbow", "right_shoulder", "right_elbow"):
        c = idx(name)
        child = sk.children(c)[0]
        parent_r = world[:, parents[c]]
        d_local = np.einsum("tba,tb->ta", parent_r, direction[:, child])
        swing = rotation_between(np.broadcast_to(_REST_DIR[sk.joint_names[child]], d_local.shape), d_local)
        if name in _BEND:
            mid, end, axis = _BEND[name]
            upper, lower = direction[:, idx(mid)], direction[:, idx(end)]
            normal = np.cross(upper, lower)
            bend = np.arctan2(np.linalg.norm(normal, axis=-1), np.sum(upper * lower, axis=-1))
            n_local = np.einsum("tba,tb->ta", parent_r, normal)
            n_local = n_local / np.maximum(np.linalg.norm(n_local, axis=-1, keepdims=True), 1e-12)
            have = swing @ axis  # where the bend axis is after the swing
            phi = np.arctan2(
                np.sum(d_local * np.cross(have, n_local), axis=-1), np.sum(have * n_local, axis=-1)
            )
            w = np.clip((bend - _BEND_FROM) / (_BEND_FULL - _BEND_FROM), 0.0, 1.0)
            w = w * w * (3 - 2 * w)  # smoothstep
            swing = Rotation.from_rotvec(d_local * (w * phi)[:, None]).as_matrix() @ swing  # about the bone
        world[:, c] = parent_r @ swing
    for name in ("right_ankle", "left_ankle", "head", "left_wrist", "right_wrist"):
        c = idx(name)
        world[:, c] = world[:, parents[c]]

    local = np.empty_like(world)
    local[:, 0] = world[:, 0]
    for c, p in enumerate(parents):
        if p >= 0:
            local[:, c] = np.swapaxes(world[:, p], -1, -2) @ world[:, c]
    if not np.all(np.isfinite(local)):
        frame = int(np.argwhere(~np.isfinite(local))[0, 0])
        raise Pose2RigError(
            f"solve_bvh: cannot orient the body in frame {frame} (hip or shoulder line parallel "
            "to the spine or neck?)"
        )
    euler = np.degrees(continuous_euler_zxy(local))  # (T, J, 3)

    cols = [j[:, 0] * k, euler[:, 0]] + [euler[:, c] for c in range(1, sk.num_joints)]
    motion = np.concatenate(cols, axis=1)
    end_sites = {}
    for name in ("right_ankle", "left_ankle", "head", "left_wrist", "right_wrist"):
        c = idx(name)
        end_sites[c] = _REST_DIR[name] * med[c] * _END_SITE_FRACTION * k
    if np.linalg.norm(end_sites[idx("head")]) < 1e-9:
        end_sites[idx("head")] = _Y * 0.1 * k
    return BvhMotion(
        names=sk.joint_names,
        parents=sk.parents,
        offsets=offsets * k,
        channels=(_ROOT_CHANNELS,) + (_ROT,) * (sk.num_joints - 1),
        end_sites=end_sites,
        motion=motion,
        frame_time=1.0 / seq.fps,
    )
