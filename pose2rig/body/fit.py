"""SMPLify-style fit of a body model to lifted joints (issue 14), written once for every backend.

The fit finds one shape per clip and, per frame, the pose (local rotations) and translation of a
:class:`~pose2rig.body.model.BodyModel` whose Human3.6M-17 joints match the lifted ones:

1. **Initialisation**: translation from the data's pelvis; the global orientation per frame from
   the torso (hips and shoulders, a Procrustes turn of the model's rest torso onto the data's);
   the upper arms, forearms, thighs and shins along the data's bones by the knee/elbow-plane
   rule (elbows and knees as hinges, bent in the plane of their limb; :func:`_limb_init`): the
   fit then starts in the basin of the hands' and feet's true twist, which a start from rest
   often misses.
2. **Shape** on a subsample of frames (``shape_frames``, evenly spread): shape, pose and
   translation together.
3. **Pose** in overlapping windows of ``window`` frames (memory stays bounded on long clips), the
   shape fixed: first global orientation and translation alone, then the whole pose; each
   window starts from the previous window's solution where they overlap and from the
   initialisation elsewhere; overlapping frames are blended linearly.

Objective (summed over frames, torch, Adam with its rate decayed along a cosine from ``lr`` to
``lr * lr_end`` in each stage):

- data: Geman-McClure ``rho(e) = e^2 s^2 / (e^2 + s^2)`` (SMPLify's robust term) of each joint's
  distance ``e`` to the lifted joint, weighted by its confidence;
- MediaPipe's extra points (heels, toes, index and pinky knuckles) where given in 3D, the same
  robust term;
- the directions of the limb bones (``1 - cos`` of the angle to the lifted bone, :data:`LIMB_BONES`);
- the bending prior of SMPLify for knees and elbows generalised to any backend: the component of
  the joint's local rotation along its natural flexion axis (``child bone x flexion direction``,
  knees flexing backwards, elbows forwards, at rest) pays ``exp(-angle)`` -like
  ``softplus(-angle / 0.1)^2`` when it bends the wrong way, and the knee's and elbow's rotation
  about the third axis (normal to the flexion axis and the child bone: abduction) pays an L2
  (they are hinges); their twist about the forearm/shin stays free (pronation, tibial
  rotation: what the hand and foot points show), and the wrists and ankles pay an L2 on their
  own rotation about the forearm/shin, so a hand's or foot's twist goes to the bone above;
- an L2 pose prior (joint rotations toward rest), an L2 shape prior;
- temporal smoothness: squared differences of consecutive local rotations (as matrices) and
  second differences of the translation.

Vertices the Human3.6M-17 mapping or the extra points need (the nose, the head top, ...) are
carried rigidly with the joint that moves each most (:attr:`BodyModel.vertex_joint`): exact for
the forward kinematics of the joints, an approximation of linear blend skinning near joints that
bend (none of those vertices sits near one).

Convention:
    - Input joints ``(T, 17, 3)`` Human3.6M-17, metres, the world frame of pose2rig (Y up, the
      floor at y = 0); NaN on missing frames or joints (they carry no weight; a missing frame
      keeps the interpolated pose).
    - Output: :class:`BodyFit`: pose ``(T, J, 3)`` axis-angle (SMPL's convention: local
      rotations in world-aligned rest axes), shape ``(S,)``, translation ``(T, 3)``, the fitted
      Human3.6M-17 joints ``(T, 17, 3)``, world rotations ``(T, J, 3, 3)``, per-frame mean joint
      error (m).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from pose2rig.body.model import BodyModel, axis_angle_to_matrix, forward_kinematics
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.skeletons import H36M17

__all__ = ["BodyFit", "FitOptions", "axis_angle_to_matrix", "fit_body", "forward_kinematics", "hinge_axes"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitOptions:
    """Weights and iteration counts of the body fit (defaults work on lifted joints at 30 fps).

    Attributes:
        sigma: Geman-McClure scale of the data term, metres.
        shape_frames: frames (evenly spread) the shape is fitted on.
        shape_iters: Adam iterations of the shape stage.
        window: frames per window of the pose stage.
        overlap: frames two windows share (blended).
        orient_iters: iterations fitting global orientation and translation alone, per window.
        pose_iters: iterations fitting the whole pose, per window.
        lr: Adam's learning rate (radians for rotations, metres for translation).
        lr_end: the rate at each stage's last step, a fraction of ``lr`` (cosine decay).
        w_points: weight of MediaPipe's extra points against the joints.
        w_bend: weight of the knee/elbow bending prior.
        w_hinge: weight of knee/elbow rotation about the axis normal to both the hinge axis and
            the forearm/shin (abduction; the twist about the forearm/shin itself, pronation and
            tibial rotation, pays only the pose prior).
        w_dir: weight of the limb bones' directions (upper arms, forearms, thighs, shins):
            ``1 - cos`` of the angle between each fitted and given Human3.6M-17 limb bone, so
            the limbs point the data's way even while the torso above still moves them.
        w_end_twist: weight of the rotation of the wrists, ankles and the joints below them
            (hands, feet, toes) about the forearm/shin axis (the hand's and foot's twist belongs
            to the forearm and shin).
        w_pose: weight of the L2 pose prior.
        w_shape: weight of the L2 shape prior.
        w_smooth: weight of the rotation smoothness (per frame pair).
        w_accel: weight of the translation's second differences.
        device: torch device (``"cpu"``, ``"cuda"``).
    """

    sigma: float = 0.1
    shape_frames: int = 48
    shape_iters: int = 150
    window: int = 200
    overlap: int = 16
    orient_iters: int = 20
    pose_iters: int = 100
    lr: float = 0.05
    lr_end: float = 0.02
    w_points: float = 0.5
    w_bend: float = 1e-2
    w_hinge: float = 1e-3
    w_end_twist: float = 1e-2
    w_dir: float = 0.1
    w_pose: float = 1e-4
    w_shape: float = 2e-4
    w_smooth: float = 3e-3
    w_accel: float = 3e-2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("shape_frames", "shape_iters", "window", "orient_iters", "pose_iters"):
            if int(getattr(self, name)) < (0 if name.endswith("iters") else 1):
                raise ArgumentError(f"{{{name}}} must be a positive count, got {getattr(self, name)!r}", name)
        if not 0 <= self.overlap < self.window:
            raise ArgumentError(f"{{overlap}} must be in [0, window), got {self.overlap!r}", "overlap")
        if not (self.sigma > 0 and self.lr > 0):
            raise ArgumentError("{sigma} and the learning rate must be positive", "sigma")


@dataclass
class BodyFit:
    """A fitted body (see the module's Convention).

    Attributes:
        kind: the body model's kind (``"smpl"``, ``"anny"``, ...).
        joint_names, parents: the model's joints.
        pose: ``(T, J, 3)`` float32 axis-angle.
        shape: ``(S,)`` float32.
        translation: ``(T, 3)`` float32 metres.
        joints: ``(T, 17, 3)`` float32 the fitted Human3.6M-17 joints.
        rotations: ``(T, J, 3, 3)`` float32 world rotations of the model's joints.
        model_joints: ``(T, J, 3)`` float32 the model's joints.
        error: ``(T,)`` float32 mean distance (m) of the fitted to the given joints (NaN where
            none was given).
        fps: frames per second.
    """

    kind: str
    joint_names: tuple[str, ...]
    parents: np.ndarray
    pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    joints: np.ndarray
    rotations: np.ndarray
    model_joints: np.ndarray
    error: np.ndarray
    fps: float


# ---------------------------------------------------------------------------------------------
# kinematics


def _find(model: BodyModel, *names: str) -> int:
    low = [n.lower() for n in model.joint_names]
    for n in names:
        if n.lower() in low:
            return low.index(n.lower())
    raise Pose2RigError(f"body model {model.kind!r} has none of the joints {names}")


HINGES = {
    # joint: (child joint, natural flexion direction at rest)
    "left_knee": ("left_ankle", (0.0, 0.0, -1.0)),
    "right_knee": ("right_ankle", (0.0, 0.0, -1.0)),
    "left_elbow": ("left_wrist", (0.0, 0.0, 1.0)),
    "right_elbow": ("right_wrist", (0.0, 0.0, 1.0)),
}
"""Knees flex backwards (-Z), elbows forwards (+Z), the body at rest facing +Z."""

LIMB_BONES = np.array([[H36M17.index(a), H36M17.index(b)] for s in ("left", "right") for a, b in (
    (f"{s}_hip", f"{s}_knee"), (f"{s}_knee", f"{s}_ankle"), (f"{s}_shoulder", f"{s}_elbow"), (f"{s}_elbow", f"{s}_wrist"))])
"""``(8, 2)`` Human3.6M-17 limb bones (joint, child) the direction term compares."""

JOINT_ALIASES = {
    "left_knee": ("lowerleg01.L",), "right_knee": ("lowerleg01.R",),
    "left_ankle": ("foot.L",), "right_ankle": ("foot.R",),
    "left_elbow": ("lowerarm01.L",), "right_elbow": ("lowerarm01.R",),
    "left_wrist": ("wrist.L",), "right_wrist": ("wrist.R",),
}
"""The names :data:`HINGES` uses (SMPL's) -> the same joints in the other backends (Anny's)."""


def hinge_axes(model: BodyModel, rest_joints: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The knee and elbow joint indices and their natural flexion axes ``(4, 3)`` (unit, rest
    world axes): ``child bone x flexion direction``, so a positive rotation about the axis
    bends the joint the natural way."""
    idx, axes = [], []
    for joint, (child, flex) in HINGES.items():
        j = _find(model, joint, *JOINT_ALIASES.get(joint, ()))
        c = _find(model, child, *JOINT_ALIASES.get(child, ()))
        bone = rest_joints[c] - rest_joints[j]
        axis = np.cross(bone / np.linalg.norm(bone), np.asarray(flex))
        idx.append(j)
        axes.append(axis / np.linalg.norm(axis))
    return idx, np.asarray(axes)


def _hinge_bones(model: BodyModel, rest_joints: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The wrists and ankles (the hinges' children) and every joint below them (hands, feet,
    toes), and for each the unit rest direction ``(K, 3)`` of the forearm or shin above: the
    twist axis of the hands and feet; and the four forearms' and shins' directions ``(4, 3)``."""
    parents = np.asarray(model.parents)
    idx, dirs, bones = [], [], []
    for joint, (child, _) in HINGES.items():
        j = _find(model, joint, *JOINT_ALIASES.get(joint, ()))
        c = _find(model, child, *JOINT_ALIASES.get(child, ()))
        bone = rest_joints[c] - rest_joints[j]
        bones.append(bone / np.linalg.norm(bone))
        below = [c]
        for k in range(c + 1, len(parents)):  # parents come first
            if parents[k] in below:
                below.append(k)
        idx += below
        dirs += [bone / np.linalg.norm(bone)] * len(below)
    return idx, np.asarray(dirs), np.asarray(bones)


# ---------------------------------------------------------------------------------------------
# the fit


class _Rigid:
    """Human3.6M-17 joints and extra points of a model from its joints, with the vertices they
    need carried rigidly by their joints (see the module doc)."""

    def __init__(self, model: BodyModel, points: tuple[str, ...], device: torch.device) -> None:
        w = np.asarray(model.h36m_weights, dtype=np.float64)
        j = model.num_joints
        self.weights_j = torch.as_tensor(w[:, :j], dtype=torch.float32, device=device)
        vcols = np.flatnonzero(np.any(w[:, j:] != 0, axis=0))
        self.point_names = points
        pv = [np.asarray(model.point_vertices[n]) for n in points]
        self.vertex_index = np.unique(np.concatenate([vcols, *pv]).astype(np.int64)) if (vcols.size or pv) \
            else np.zeros(0, dtype=np.int64)
        pos = {v: i for i, v in enumerate(self.vertex_index)}
        self.point_rows = [torch.as_tensor([pos[int(v)] for v in p], device=device) for p in pv]
        vj = np.asarray(model.vertex_joint)[self.vertex_index]
        self.vertex_joint = torch.as_tensor(vj, device=device)
        # Each output (the 17 rows, then the points) as weights over the carried vertices
        # (N, V'), and those weights summed per carrying joint (N, J): the carried vertices
        # collapse onto their joints, sum_v a_v (p_j(v) + R_j(v) o_v) = sum_j A_j p_j + R_j O_j,
        # so no frame pays per vertex.
        a = np.zeros((17 + len(pv), self.vertex_index.size))
        a[:17] = w[:, j + self.vertex_index]
        for i, p in enumerate(pv):
            a[17 + i, [pos[int(v)] for v in p]] = 1.0 / len(p)
        a_joint = np.zeros((a.shape[0], j))
        np.add.at(a_joint.T, vj, a.T)
        self.vertex_weights = torch.as_tensor(a, dtype=torch.float32, device=device)
        self.joint_weights = torch.as_tensor(a_joint, dtype=torch.float32, device=device)
        self.num_joints = j

    def __call__(self, rot: torch.Tensor, joints: torch.Tensor, rest_j: torch.Tensor, rest_v: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = torch.einsum("kj,bjc->bkc", self.weights_j, joints)
        if self.vertex_index.size == 0:
            return h, None
        vj = self.vertex_joint
        offset = rest_v - rest_j[:, vj]  # (R, V', 3), R = 1 (one shape) or B
        weighted = self.vertex_weights[None, :, :, None] * offset[:, None]  # (R, N, V', 3)
        o = weighted.new_zeros(offset.shape[0], weighted.shape[1], self.num_joints, 3).index_add(2, vj, weighted)
        out = torch.einsum("nj,bjc->bnc", self.joint_weights, joints)
        out = out + (torch.einsum("bjcd,njd->bnc", rot, o[0]) if o.shape[0] == 1
                     else torch.einsum("bjcd,bnjd->bnc", rot, o))
        pts = out[:, 17:] if self.point_rows else None
        return h + out[:, :17], pts


def _limb_init(model: BodyModel, rest: np.ndarray, x: np.ndarray, orient: np.ndarray,
               hinge_idx: list[int], hinge_ax: np.ndarray) -> dict[int, np.ndarray]:
    """Local rotations ``joint -> (T, 3, 3)`` that put the upper arms, forearms, thighs and
    shins along the data's bones, the rest of the body at rest under the root's ``orient (T, 3,
    3)``: the upper arm (thigh) maps its rest direction onto the data's and the elbow's (knee's)
    hinge axis onto the normal of the limb's bend plane (the knee/elbow-plane rule; toward the
    smallest turn's axis as the limb straightens, from 10 to 25 degrees of bend), the forearm
    (shin) then takes the smallest turn onto its bone: a hinge bend. Frames or limbs without
    data keep rest. ``x (T, 17, 3)``: the data (NaN where missing)."""
    from pose2rig.geometry import frame_from_vectors, rotation_between

    w = np.asarray(model.h36m_weights)[:, : model.num_joints]
    one_hot = {k: int(np.argmax(w[k])) for k in range(17) if np.isclose(w[k].max(), 1.0) and np.isclose(w[k].sum(), 1.0)}
    parents = np.asarray(model.parents)
    out: dict[int, np.ndarray] = {}
    for hinge, axis in zip(hinge_idx, hinge_ax):
        upper = int(parents[hinge])
        names = [h for h, j in one_hot.items() if j in (upper, hinge)]
        lower = [c for c in range(model.num_joints) if parents[c] == hinge]
        if upper < 0 or len(names) != 2 or not lower:
            continue
        k_up = next(h for h in names if one_hot[h] == upper)
        k_hi = next(h for h in names if one_hot[h] == hinge)
        k_lo = [h for h, j in one_hot.items() if j in lower and H36M17.parents[h] == k_hi]
        if not k_lo:
            continue
        end = one_hot[k_lo[0]]
        u, f = x[:, k_hi] - x[:, k_up], x[:, k_lo[0]] - x[:, k_hi]
        ok = np.isfinite(u).all(-1) & np.isfinite(f).all(-1) & (np.linalg.norm(u, axis=-1) > 1e-6) \
            & (np.linalg.norm(f, axis=-1) > 1e-6)
        if not ok.any():
            continue
        u, f, par = u[ok], f[ok], orient[ok]  # the chain above the upper joint at rest
        d_up, d_lo = rest[hinge] - rest[upper], rest[end] - rest[hinge]
        g_swing = rotation_between(par @ d_up, u) @ par
        n = np.cross(u / np.linalg.norm(u, axis=-1, keepdims=True), f / np.linalg.norm(f, axis=-1, keepdims=True))
        bend = np.degrees(np.arctan2(np.linalg.norm(n, axis=-1), (u * f).sum(-1) / np.linalg.norm(u, axis=-1)
                                     / np.linalg.norm(f, axis=-1)))
        blend = np.clip((bend - 10.0) / 15.0, 0.0, 1.0)[:, None]
        a_swing = g_swing @ axis
        a_world = blend * n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9) + (1 - blend) * a_swing
        a_world = np.where(np.linalg.norm(a_world, axis=-1, keepdims=True) < 0.3, a_swing, a_world)
        g_up = frame_from_vectors(u, a_world, "xy") @ np.swapaxes(frame_from_vectors(d_up, axis, "xy"), -1, -2)
        g_hi = rotation_between(g_up @ d_lo, f) @ g_up
        eye = np.broadcast_to(np.eye(3), (len(x), 3, 3))
        out[upper], out[hinge] = eye.copy(), eye.copy()
        out[upper][ok] = np.swapaxes(par, -1, -2) @ g_up
        out[hinge][ok] = np.swapaxes(g_up, -1, -2) @ g_hi
    return out


def _anneal(opt: torch.optim.Optimizer, o: FitOptions, i: int, n: int) -> None:
    """Adam's learning rate at step ``i`` of ``n``: cosine from ``lr`` down to ``lr * lr_end``
    (a constant rate leaves Adam circling the minimum at about the rate's size)."""
    lr = o.lr * (o.lr_end + (1.0 - o.lr_end) * 0.5 * (1.0 + np.cos(np.pi * i / max(n - 1, 1))))
    for g in opt.param_groups:
        g["lr"] = lr


def _gm(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    s2 = sigma * sigma
    return s2 * sq / (sq + s2)


def _torso_turn(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking centred ``src (K, 3)`` onto ``dst (K, 3)`` (Kabsch, no scale)."""
    a = src - src.mean(axis=0)
    b = dst - dst.mean(axis=0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(r.reshape(-1, 3, 3)).as_rotvec().reshape(*r.shape[:-2], 3)


def fit_body(
    model: BodyModel,
    joints: np.ndarray,
    *,
    confidence: np.ndarray | None = None,
    points: dict[str, np.ndarray] | None = None,
    fps: float = 30.0,
    shape: np.ndarray | None = None,
    options: FitOptions | None = None,
    progress: object | None = None,
) -> BodyFit:
    """Fit ``model`` to Human3.6M-17 ``joints (T, 17, 3)`` (see the module doc).

    Args:
        model: the body model.
        joints: lifted joints, metres, Y up; NaN where missing.
        confidence: ``(T, 17)`` weights in [0, 1] (default 1 where the joint is finite).
        points: MediaPipe extra points ``name -> (T, 3)`` in the same frame (NaN where missing),
            names among the model's :attr:`~BodyModel.point_vertices`.
        fps: the clip's frame rate (kept on the result).
        shape: ``(S,)`` a known shape: the shape stage is skipped.
        options: :class:`FitOptions`.
        progress: an object with ``update(n)`` (a :class:`pose2rig.progress` bar), advanced per
            window.

    Raises:
        Pose2RigError: no finite joint in the clip, wrong shapes.
    """
    o = options or FitOptions()
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (17, 3):
        raise ArgumentError(f"{{joints}} must be (T, 17, 3) Human3.6M-17, got {x.shape}", "joints")
    t_all = x.shape[0]
    finite = np.isfinite(x).all(axis=-1)
    if not finite.any():
        raise Pose2RigError("no frame has a joint to fit the body to (every joint is missing)")
    c = finite.astype(np.float64) if confidence is None else np.where(finite, np.asarray(confidence, np.float64), 0.0)
    if c.shape != (t_all, 17):
        raise ArgumentError(f"{{confidence}} must be (T, 17) = {(t_all, 17)}, got {c.shape}", "confidence")
    c = np.clip(np.nan_to_num(c), 0.0, 1.0)
    names = tuple(sorted(points or {}))
    unknown = [n for n in names if n not in model.point_vertices]
    if unknown:
        raise ArgumentError(f"{{points}} names {unknown} that the body model has no vertices for", "points")
    p_arr = np.stack([np.asarray(points[n], np.float64) for n in names], axis=1) if names else None  # type: ignore[index]
    if p_arr is not None and p_arr.shape != (t_all, len(names), 3):
        raise ArgumentError(f"{{points}} must each be (T, 3) with T = {t_all}", "points")
    dev = torch.device(o.device)
    f32 = torch.float32
    x0 = np.where(finite[..., None], x, 0.0)
    data = torch.as_tensor(x0, dtype=f32, device=dev)
    conf = torch.as_tensor(c, dtype=f32, device=dev)
    if p_arr is not None:
        p_ok = np.isfinite(p_arr).all(axis=-1)
        pdata = torch.as_tensor(np.where(p_ok[..., None], p_arr, 0.0), dtype=f32, device=dev)
        pconf = torch.as_tensor(p_ok.astype(np.float64), dtype=f32, device=dev)
    model = model.to(dev)
    rigid = _Rigid(model, names, dev)
    j_count = model.num_joints
    parents = np.asarray(model.parents)

    # -- initialisation: the data's pelvis and torso turn per frame (frames without: nearest)
    beta0 = torch.zeros(1, model.num_shape, dtype=f32, device=dev) if shape is None else \
        torch.as_tensor(np.asarray(shape, np.float64).reshape(1, -1), dtype=f32, device=dev)
    with torch.no_grad():
        rest_j, rest_v = model.rest(beta0, rigid.vertex_index)
        zero = torch.zeros(1, j_count, 3, 3, dtype=f32, device=dev) + torch.eye(3, device=dev)
        rot0, pos0 = forward_kinematics(zero, rest_j, parents)
        h_rest, _ = rigid(rot0, pos0, rest_j, rest_v)
    h_rest_np = h_rest[0].cpu().numpy().astype(np.float64)
    torso = [H36M17.index(n) for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "spine")]
    pelvis = H36M17.index("pelvis")
    have = finite[:, torso].all(axis=1) & finite[:, pelvis]
    if not have.any():
        raise Pose2RigError("no frame shows the torso (hips, shoulders, spine) to place the body on")
    near = np.array([np.flatnonzero(have)[np.argmin(np.abs(np.flatnonzero(have) - t))] for t in range(t_all)])
    orient0 = np.stack([_torso_turn(h_rest_np[torso], x[near[t], torso]) for t in range(t_all)])
    root0 = _find_root(parents)
    rest_root = rest_j[0, root0].cpu().numpy().astype(np.float64)
    trans0 = np.stack([x[near[t], pelvis] - orient0[t] @ (h_rest_np[pelvis] - rest_root) - rest_root
                       for t in range(t_all)])
    pose_init = np.zeros((t_all, j_count, 3))
    pose_init[:, root0] = _matrix_to_axis_angle(orient0)
    hinge_idx, hinge_ax = hinge_axes(model, rest_j[0].cpu().numpy().astype(np.float64))
    hinge_axis = torch.as_tensor(hinge_ax, dtype=f32, device=dev)
    for j, local0 in _limb_init(model, rest_j[0].cpu().numpy().astype(np.float64), x, orient0,
                                hinge_idx, hinge_ax).items():
        pose_init[:, j] = _matrix_to_axis_angle(local0)
    end_idx, end_ax, limb_ax = _hinge_bones(model, rest_j[0].cpu().numpy().astype(np.float64))
    hinge_bone = torch.as_tensor(end_ax, dtype=f32, device=dev)
    hinge_abduct = torch.as_tensor(np.cross(hinge_ax, limb_ax), dtype=f32, device=dev)

    def terms(pose: torch.Tensor, beta: torch.Tensor, trans: torch.Tensor, sel: slice | np.ndarray,
              smooth: bool, rest: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        rj, rv = model.rest(beta, rigid.vertex_index) if rest is None else rest
        local = axis_angle_to_matrix(pose)
        rot, pos = forward_kinematics(local, rj, parents)
        pos = pos + trans[:, None]
        h, pts = rigid(rot, pos, rj, rv)
        d2 = ((h - data[sel]) ** 2).sum(-1)
        loss = (conf[sel] * _gm(d2, o.sigma)).sum()
        if pts is not None and p_arr is not None:
            pd2 = ((pts - pdata[sel]) ** 2).sum(-1)
            loss = loss + o.w_points * (pconf[sel] * _gm(pd2, o.sigma)).sum()
        hv = pose[:, hinge_idx]  # (B, 4, 3)
        along = (hv * hinge_axis).sum(-1)
        off = (hv * hinge_abduct).sum(-1)
        loss = loss + o.w_bend * (torch.nn.functional.softplus(-along / 0.1) * 0.1).pow(2).sum() * 100.0
        loss = loss + o.w_hinge * (off ** 2).sum()
        loss = loss + o.w_end_twist * ((pose[:, end_idx] * hinge_bone).sum(-1) ** 2).sum()
        if o.w_dir > 0:
            dm = h[:, LIMB_BONES[:, 1]] - h[:, LIMB_BONES[:, 0]]
            dd = data[sel][:, LIMB_BONES[:, 1]] - data[sel][:, LIMB_BONES[:, 0]]
            cos = (dm * dd).sum(-1) / (dm.norm(dim=-1) * dd.norm(dim=-1) + 1e-9)
            wc = conf[sel][:, LIMB_BONES[:, 0]] * conf[sel][:, LIMB_BONES[:, 1]]
            loss = loss + o.w_dir * (wc * (1.0 - cos)).sum()
        body = [j for j in range(j_count) if j != root0]
        loss = loss + o.w_pose * (pose[:, body] ** 2).sum() + o.w_shape * (beta ** 2).sum() * pose.shape[0]
        if smooth and pose.shape[0] > 1:
            loss = loss + o.w_smooth * ((local[1:] - local[:-1]) ** 2).sum()
            if pose.shape[0] > 2:
                acc = trans[2:] - 2 * trans[1:-1] + trans[:-2]
                loss = loss + o.w_accel * (acc ** 2).sum() * 100.0
        return loss

    # -- shape stage on a subsample
    if shape is None and o.shape_iters > 0:
        sub = np.unique(np.linspace(0, t_all - 1, min(o.shape_frames, t_all)).round().astype(int))
        sub = sub[finite[sub].sum(axis=1) >= 8] if (finite[sub].sum(axis=1) >= 8).any() else sub
        pose_s = torch.tensor(pose_init[sub], dtype=f32, device=dev, requires_grad=True)
        trans_s = torch.tensor(trans0[sub], dtype=f32, device=dev, requires_grad=True)
        beta = beta0.clone().requires_grad_(True)
        opt = torch.optim.Adam([pose_s, trans_s, beta], lr=o.lr)
        for i in range(o.shape_iters):
            _anneal(opt, o, i, o.shape_iters)
            opt.zero_grad()
            loss = terms(pose_s, beta, trans_s, sub, smooth=False) / len(sub)
            loss.backward()
            opt.step()
        beta_fit = beta.detach()
    else:
        beta_fit = beta0

    # -- pose stage in windows, the shape (so the rest pose) fixed
    with torch.no_grad():
        fixed_rest = model.rest(beta_fit, rigid.vertex_index)
    pose_out = np.array(pose_init, dtype=np.float64)
    trans_out = np.array(trans0, dtype=np.float64)
    weight_sum = np.zeros(t_all)
    acc_pose = np.zeros_like(pose_out)
    acc_trans = np.zeros_like(trans_out)
    step = o.window - o.overlap
    starts = list(range(0, max(t_all - o.overlap, 1), step)) if t_all > o.window else [0]
    prev_pose: np.ndarray | None = None
    prev_trans: np.ndarray | None = None
    prev_end = 0
    for s in starts:
        e = min(s + o.window, t_all)
        init_p = pose_out[s:e].copy()
        init_t = trans_out[s:e].copy()
        if prev_pose is not None and prev_end > s:
            k = prev_end - s
            init_p[:k] = prev_pose[-k:]
            init_t[:k] = prev_trans[-k:]  # type: ignore[index]
        sel = slice(s, e)
        pose_w = torch.tensor(init_p, dtype=f32, device=dev, requires_grad=True)
        trans_w = torch.tensor(init_t, dtype=f32, device=dev, requires_grad=True)
        root_mask = torch.zeros(1, j_count, 1, dtype=f32, device=dev)
        root_mask[0, root0] = 1.0
        opt = torch.optim.Adam([pose_w, trans_w], lr=o.lr)
        for i in range(o.orient_iters + o.pose_iters):
            _anneal(opt, o, i, o.orient_iters + o.pose_iters)
            opt.zero_grad()
            loss = terms(pose_w, beta_fit, trans_w, sel, smooth=True, rest=fixed_rest) / (e - s)
            loss.backward()
            if i < o.orient_iters:
                pose_w.grad.mul_(root_mask)  # type: ignore[union-attr]
            opt.step()
        pw = pose_w.detach().cpu().numpy().astype(np.float64)
        tw = trans_w.detach().cpu().numpy().astype(np.float64)
        w = np.ones(e - s)
        if s > 0 and o.overlap:
            k = min(o.overlap, e - s)
            w[:k] = np.linspace(0.0, 1.0, k + 2)[1:-1]
        if e < t_all and o.overlap:
            k = min(o.overlap, e - s)
            w[-k:] = np.minimum(w[-k:], np.linspace(1.0, 0.0, k + 2)[1:-1])
        acc_pose[s:e] += w[:, None, None] * pw
        acc_trans[s:e] += w[:, None] * tw
        weight_sum[s:e] += w
        prev_pose, prev_trans, prev_end = pw, tw, e
        if progress is not None:
            progress.update(e - s - (o.overlap if e < t_all else 0))  # type: ignore[attr-defined]
    pose_fit = acc_pose / weight_sum[:, None, None]
    trans_fit = acc_trans / weight_sum[:, None]

    with torch.no_grad():
        rj, rv = model.rest(beta_fit, rigid.vertex_index)
        local = axis_angle_to_matrix(torch.as_tensor(pose_fit, dtype=f32, device=dev))
        rot, pos = forward_kinematics(local, rj, parents)
        pos = pos + torch.as_tensor(trans_fit, dtype=f32, device=dev)[:, None]
        h, _ = rigid(rot, pos, rj, rv)
    h_np = h.cpu().numpy()
    err = np.linalg.norm(h_np - x, axis=-1)
    count = finite.sum(axis=1)
    per_frame = np.where(count > 0, np.where(finite, err, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    return BodyFit(
        kind=model.kind, joint_names=tuple(model.joint_names), parents=parents.copy(),
        pose=pose_fit.astype(np.float32), shape=beta_fit[0].cpu().numpy().astype(np.float32),
        translation=trans_fit.astype(np.float32), joints=h_np.astype(np.float32),
        rotations=rot.cpu().numpy().astype(np.float32), model_joints=pos.cpu().numpy().astype(np.float32),
        error=per_frame.astype(np.float32), fps=float(fps),
    )


def _find_root(parents: np.ndarray) -> int:
    roots = np.flatnonzero(np.asarray(parents) < 0)
    if roots.size != 1:
        raise Pose2RigError(f"a body model needs exactly one root joint, this one has {roots.size}")
    return int(roots[0])
