"""SMPLify-style fit of a body model to lifted joints (issue 14), written once for every backend.

The fit finds one shape per clip and, per frame, the pose (local rotations) and translation of a
:class:`~pose2rig.body.model.BodyModel` whose Human3.6M-17 joints match the lifted ones:

1. **Initialisation**, made per window (no array of the whole clip kept for it): translation
   from the data's pelvis; the torso (:func:`_torso_init`): the root turned onto the data's
   torso frame (pelvis -> thorax, the hips' line), the spine's joints each laid along the data's
   spine, the neck and head onto the nose and head top, the clavicles onto the shoulders (a
   model with a curved rest spine and several spine joints, Anny's, otherwise starts with the
   spine at rest and settles in another basin); then the upper arms, forearms, thighs and
   shins along the data's bones by the knee/elbow-plane rule (elbows and knees as hinges, bent
   in the plane of their limb; :func:`_limb_init`): the fit then starts in the basin of the
   hands' and feet's true twist, which a start from rest often misses. The windows start from
   the fitted shape's rest pose.
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
- 2D reprojection (:class:`ImageTerm`, where given): the fitted joints and points projected
  through the camera onto MediaPipe's detected landmarks (hips, knees, ankles, shoulders,
  elbows, wrists, and the heels, toes, index and pinky knuckles, which fix the feet's and
  hands' twist that 17 joints leave open), the same robust term on the pixel residual divided
  by the focal length and multiplied by the point's depth (so metres, at any image size),
  weighted by the landmarks' visibility; depth clamped at 0.1 m (a point behind the camera
  stays finite);
- the directions of the limb bones (``1 - cos`` of the angle to the lifted bone, :data:`LIMB_BONES`);
- the bending prior of SMPLify for knees and elbows generalised to any backend: the component of
  the joint's local rotation along its natural flexion axis (``child bone x flexion direction``,
  knees flexing backwards, elbows forwards, at rest), counted from the straight limb (plus the
  rest's own bend: Anny's rest elbows are bent 42 degrees), pays ``angle^2`` when it bends the
  wrong way and nothing otherwise (SMPLify's ``exp`` pushed limbs that were straight in the
  data to bend), and the knee's and elbow's rotation
  about the third axis (normal to the flexion axis and the child bone: abduction) pays an L2
  (they are hinges); their twist about the forearm/shin stays free (pronation, tibial
  rotation: what the hand and foot points show), and the wrists and ankles pay an L2 on their
  own rotation about the forearm/shin, so a hand's or foot's twist goes to the bone above;
- anatomical joint-angle limits (:data:`JOINT_LIMITS`: spine, neck and head, clavicles, wrists,
  ankles and toes): a rotation from rest past the joint's range pays the square of the excess;
- an L2 pose prior (joint rotations toward rest), or SMPLify's Gaussian-mixture pose prior where
  one is given (:mod:`pose2rig.body.prior`); an L2 shape prior;
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
from typing import Protocol

import numpy as np
import torch

from pose2rig.body.model import BodyModel, axis_angle_to_matrix, forward_kinematics
from pose2rig.body.prior import GmmPrior
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import nearest_valid
from pose2rig.skeletons import H36M17

__all__ = ["IMAGE_LANDMARKS", "JOINT_LIMITS", "BodyFit", "FitOptions", "ImageTerm", "axis_angle_to_matrix", "fit_body", "forward_kinematics", "hinge_axes"]

log = logging.getLogger(__name__)


class _Progress(Protocol):
    """What :func:`fit_body` needs of a progress bar (tqdm, :func:`pose2rig.progress.progress_bar`)."""

    def update(self, n: int = 1) -> object: ...


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
        w_2d: weight of the 2D reprojection term (:class:`ImageTerm`) against the joints; 0
            turns it off.
        sigma_2d: Geman-McClure scale of the 2D term, metres: each pixel residual is divided
            by the focal length and multiplied by the model point's depth (its size across the
            line of sight at the point), so the weight means the same at any image size, focal
            length and distance.
        w_bend: weight of the knee/elbow bending prior.
        w_hinge: weight of knee/elbow rotation about the axis normal to both the hinge axis and
            the forearm/shin (abduction; the twist about the forearm/shin itself, pronation and
            tibial rotation, pays only the pose prior).
        w_dir: weight of the limb bones' directions (upper arms, forearms, thighs, shins):
            ``1 - cos`` of the angle between each fitted and given Human3.6M-17 limb bone, so
            the limbs point the data's way even while the torso above still moves them.
        w_limit: weight of the anatomical limits (:data:`JOINT_LIMITS`): the square of each
            limited joint's rotation from rest past its limit (radians), per frame.
        w_end_twist: weight of the rotation of the wrists, ankles and the joints below them
            (hands, feet, toes) about the forearm/shin axis (the hand's and foot's twist belongs
            to the forearm and shin).
        w_pose: weight of the L2 pose prior (used when no Gaussian-mixture prior is given).
        w_gmm: weight of SMPLify's Gaussian-mixture pose prior (:mod:`pose2rig.body.prior`, its
            negative log-likelihood per frame), which replaces the L2 pose prior when given
            (measured on CMU with a mixture fitted to CMU poses: 1e-4 and more cost joint error on
            exact joints, 3e-5 is neutral there and lowers the swing error with 10 mm noise).
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
    w_2d: float = 1.0
    sigma_2d: float = 0.05
    w_bend: float = 1e-2
    w_hinge: float = 1e-3
    w_end_twist: float = 1e-2
    w_limit: float = 1.0
    w_dir: float = 0.1
    w_pose: float = 1e-4
    w_gmm: float = 3e-5
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
        if not (self.w_2d >= 0 and self.sigma_2d > 0):
            raise ArgumentError(f"{{w_2d}} must be >= 0 and {{sigma_2d}} > 0, got {self.w_2d!r}, {self.sigma_2d!r}",
                                "w_2d", "sigma_2d")


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


IMAGE_LANDMARKS = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    "left_index", "right_index", "left_pinky", "right_pinky",
)
"""MediaPipe 33's landmarks the 2D term uses (:meth:`ImageTerm.from_landmarks33`), each named as
the fit's output it shows: the first twelve are Human3.6M-17 joints of the same name (the
Human3.6M-17 2D keypoints the lifter reads are these landmarks), the last eight are the body
models' extra points (:attr:`~pose2rig.body.model.BodyModel.point_vertices`)."""

_Z_MIN = 0.1
"""Depth (m) below which a projected point is taken at this depth (behind the camera, or on it)."""


@dataclass(frozen=True)
class ImageTerm:
    """Detected 2D landmarks the fit's outputs should project onto (the 2D reprojection term).

    Attributes:
        pixels: ``(T, K, 2)`` float pixels (x right, y down); NaN where missing.
        confidence: ``(T, K)`` weights in [0, 1]; rows with 0 or with NaN pixels carry no weight.
        names: ``(K,)`` the fit's output each row shows: a Human3.6M-17 joint name or one of the
            model's :attr:`~pose2rig.body.model.BodyModel.point_vertices`.
        camera_matrix: ``(3, 3)`` pinhole intrinsics, pixels.
        rotation, translation: ``(3, 3)``, ``(3,)`` the world -> camera map ``p_camera =
            rotation @ p_world + translation`` (OpenCV camera axes: x right, y down, z forward),
            the world being the frame of the fit's joints.
    """

    pixels: np.ndarray
    confidence: np.ndarray
    names: tuple[str, ...]
    camera_matrix: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        px = np.asarray(self.pixels, dtype=np.float64)
        names = tuple(str(n) for n in self.names)
        if px.ndim != 3 or px.shape[1:] != (len(names), 2):
            raise ArgumentError(f"{{pixels}} must be (T, K, 2) with K = {len(names)} names, got {px.shape}", "pixels")
        c = np.asarray(self.confidence, dtype=np.float64)
        if c.shape != px.shape[:2]:
            raise ArgumentError(f"{{confidence}} must be (T, K) = {px.shape[:2]}, got {c.shape}", "confidence")
        if len(set(names)) != len(names):
            raise ArgumentError(f"{{names}} must not repeat a name, got {names}", "names")
        for key, shape in (("camera_matrix", (3, 3)), ("rotation", (3, 3)), ("translation", (3,))):
            a = np.asarray(getattr(self, key), dtype=np.float64)
            if a.shape != shape or not np.isfinite(a).all():
                raise ArgumentError(f"{{{key}}} must be a finite {shape} array, got shape {a.shape}", key)
            object.__setattr__(self, key, a)
        k = self.camera_matrix
        if not (k[0, 0] > 0 and k[1, 1] > 0 and np.allclose(k[2], [0.0, 0.0, 1.0])):
            raise ArgumentError("{camera_matrix} must be pinhole intrinsics (fx, fy > 0, last row 0 0 1)",
                                "camera_matrix")
        ok = np.isfinite(px).all(axis=-1)
        c = np.where(ok, np.clip(np.nan_to_num(c), 0.0, 1.0), 0.0)
        object.__setattr__(self, "pixels", np.where(ok[..., None], px, np.nan))
        object.__setattr__(self, "confidence", c)
        object.__setattr__(self, "names", names)

    @property
    def num_frames(self) -> int:
        return int(self.pixels.shape[0])

    @classmethod
    def from_landmarks33(
        cls,
        landmarks33: np.ndarray,
        camera_matrix: np.ndarray,
        world_rotation: np.ndarray,
        world_translation: np.ndarray,
        *,
        names: tuple[str, ...] = IMAGE_LANDMARKS,
        min_visibility: float = 0.5,
    ) -> ImageTerm:
        """The term from MediaPipe's ``landmarks33 (T, 33, 3)`` (x, y pixels, visibility) and the
        camera -> world map ``p_world = world_rotation @ p_camera + world_translation`` (as
        :func:`pose2rig.pipeline.convert` and pose files hold it): the landmarks ``names``
        (:data:`IMAGE_LANDMARKS`), each weighted by its visibility, 0 below ``min_visibility``."""
        from pose2rig.skeletons import MEDIAPIPE33

        lm = np.asarray(landmarks33, dtype=np.float64)
        if lm.ndim != 3 or lm.shape[1:] != (33, 3):
            raise ArgumentError(f"{{landmarks33}} must be (T, 33, 3), got {lm.shape}", "landmarks33")
        idx = [MEDIAPIPE33.index(n) for n in names]
        vis = np.nan_to_num(lm[:, idx, 2])
        rot = np.asarray(world_rotation, dtype=np.float64)
        trans = np.asarray(world_translation, dtype=np.float64)
        return cls(pixels=lm[:, idx, :2], confidence=np.where(vis >= min_visibility, vis, 0.0), names=names,
                   camera_matrix=camera_matrix, rotation=rot.T, translation=-rot.T @ trans)


class _Image:
    """An :class:`ImageTerm` as tensors for the fit: which output each row is, and its loss."""

    def __init__(self, image: ImageTerm, model: BodyModel, frames: int, points: tuple[str, ...],
                 device: torch.device) -> None:
        if image.num_frames != frames:
            raise ArgumentError(f"{{image}} has {image.num_frames} frames, the joints {frames}", "image")
        unknown = [n for n in image.names if n not in H36M17.joint_names and n not in model.point_vertices]
        if unknown:
            raise ArgumentError(f"{{image}} names {unknown}: neither Human3.6M-17 joints nor points of the body "
                                f"model {model.kind!r}", "image")
        self.extra = tuple(n for n in image.names if n not in H36M17.joint_names and n not in points)
        order = (*points, *self.extra)
        self.rows = torch.as_tensor([H36M17.index(n) if n in H36M17.joint_names else 17 + order.index(n)
                                     for n in image.names], device=device)
        f32 = torch.float32
        self.pixels = torch.as_tensor(np.nan_to_num(image.pixels), dtype=f32, device=device)
        self.conf = torch.as_tensor(image.confidence, dtype=f32, device=device)
        k = image.camera_matrix
        self.k2 = torch.as_tensor(k[:2, :2], dtype=f32, device=device)
        self.k2_inv = torch.as_tensor(np.linalg.inv(k[:2, :2]), dtype=f32, device=device)
        self.centre = torch.as_tensor(k[:2, 2], dtype=f32, device=device)
        self.rotation = torch.as_tensor(image.rotation, dtype=f32, device=device)
        self.translation = torch.as_tensor(image.translation, dtype=f32, device=device)

    def loss(self, h: torch.Tensor, pts: torch.Tensor | None, sel: slice | np.ndarray, sigma: float) -> torch.Tensor:
        """Confidence-weighted Geman-McClure of each row's residual in metres at its depth:
        ``K2^-1 (projected - detected) * z`` (``K2``: the intrinsics' 2 x 2 part; ``z`` the
        point's depth, held fixed, and clamped to :data:`_Z_MIN` as in the projection)."""
        out = h if pts is None else torch.cat([h, pts], dim=1)
        p = out[:, self.rows] @ self.rotation.T + self.translation  # (B, K, 3) camera frame
        z = p[..., 2:].clamp(min=_Z_MIN)
        uv = (p[..., :2] / z) @ self.k2.T + self.centre
        r = ((uv - self.pixels[sel]) @ self.k2_inv.T) * z.detach()
        return (self.conf[sel] * _gm((r ** 2).sum(-1), sigma)).sum()


# ---------------------------------------------------------------------------------------------
# kinematics


def _find(model: BodyModel, *names: str) -> int:
    low = [n.lower() for n in model.joint_names]
    for n in names:
        if n.lower() in low:
            return low.index(n.lower())
    raise Pose2RigError(f"body model {model.kind!r} has none of the joints {names}")


JOINT_LIMITS: dict[tuple[str, ...], float] = {
    ("spine1", "spine2", "spine3", "spine05", "spine03", "spine01"): 45.0,
    ("neck", "neck01", "head"): 60.0,
    ("left_collar", "right_collar", "clavicle.L", "clavicle.R"): 45.0,
    ("left_wrist", "right_wrist", "wrist.L", "wrist.R", "left_hand", "right_hand"): 90.0,
    ("left_ankle", "right_ankle", "foot.L", "foot.R"): 60.0,
    ("left_foot", "right_foot", "toes.L", "toes.R"): 80.0,
}
"""Anatomical joint-angle limits of the fit (by SMPL's and Anny's joint names): the largest
rotation from rest (degrees, about any axis) of the spine's segments, the neck and head, the
clavicles, wrists and hands, ankles and toes: the ranges of motion of clinical tables (trunk
flexion about 90 degrees over three segments, cervical flexion/extension 45-75 and rotation 80
over two joints, shoulder-girdle elevation 40, wrist flexion 80, ankle plantar flexion 50, toe
extension 70-90) with a margin. A rotation past its limit pays ``w_limit * excess^2``; within
it, nothing. The knees and elbows have their bending prior; the hips and shoulders, whose range
is most of a sphere, none."""

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


def _limb_init(model: BodyModel, rest: np.ndarray, x: np.ndarray, world: np.ndarray,
               hinge_idx: list[int], hinge_ax: np.ndarray) -> dict[int, np.ndarray]:
    """Local rotations ``joint -> (T, 3, 3)`` that put the upper arms, forearms, thighs and
    shins along the data's bones, under the world rotations ``world (T, J, 3, 3)`` of the joints
    above them (the torso's start, :func:`_torso_init`): the upper arm (thigh) maps its rest direction onto the data's and the elbow's (knee's)
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
        upper_parent = int(parents[upper])
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
        u, f, par = u[ok], f[ok], world[ok, upper_parent]  # the chain above the upper joint
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


TORSO_JOINTS = {"neck": ("neck", "neck01"), "head": ("head",), "left_collar": ("left_collar", "clavicle.L"),
                "right_collar": ("right_collar", "clavicle.R"), "left_shoulder": ("left_shoulder", "upperarm01.L"),
                "right_shoulder": ("right_shoulder", "upperarm01.R")}
"""The torso's joints :func:`_torso_init` places, by their names in each backend (SMPL's, Anny's)."""


def _torso_init(model: BodyModel, rest: np.ndarray, h_rest: np.ndarray, x: np.ndarray) -> np.ndarray:
    """World rotations ``(T, J, 3, 3)`` of a start that puts the torso on the data ``x (T, 17,
    3)`` (Human3.6M-17, the torso's joints finite in every frame), the other joints at rest
    under their parents; ``rest (J, 3)``: the model's rest joints, ``h_rest (17, 3)`` its rest
    Human3.6M-17 joints.

    - root: the rotation taking the rest torso's frame (up: pelvis -> thorax, then the hips'
      left-right axis) onto the data's;
    - spine (the joints between the root and the neck), each by the smallest turn from its
      parent that lays its bone (to the next spine joint, or the neck) along the data's spine:
      the first along pelvis -> spine, the others along spine -> thorax, so a model whose rest
      spine curves (Anny's lumbar and thoracic curve) starts straightened onto the data's;
    - neck: its bone (to the head joint) along the data's thorax -> head; the head at rest;
    - collars (clavicles): their bone along the data's thorax -> shoulder (directions, not
      positions: a collar's bone is short and its start, at the end of the spine, a few
      centimetres off wherever the spine bends otherwise than the data's; aiming it at the
      data's shoulder from there turned SMPL's collars by up to 50 degrees).

    Joints a backend does not have (by :data:`TORSO_JOINTS`' names) keep their parent's rotation.
    """
    from pose2rig.geometry import frame_from_vectors, rotation_between

    parents = np.asarray(model.parents)
    root = _find_root(parents)
    low = [n.lower() for n in model.joint_names]

    def find(key: str) -> int | None:
        return next((low.index(n.lower()) for n in TORSO_JOINTS[key] if n.lower() in low), None)

    hx = {n: x[:, H36M17.index(n)] for n in ("pelvis", "left_hip", "right_hip", "spine", "thorax", "head",
                                              "left_shoulder", "right_shoulder")}
    hr = {n: h_rest[H36M17.index(n)] for n in hx}
    neck, head = find("neck"), find("head")
    if head is not None and (neck is None or parents[head] != neck):
        head = None
    spine: list[int] = []
    if neck is not None:
        j = int(parents[neck])
        while j >= 0 and j != root:
            spine.insert(0, j)
            j = int(parents[j])
    chain = spine + [neck] if neck is not None else spine  # no neck: no spine either
    next_of = {j: chain[i + 1] for i, j in enumerate(spine)}
    target: dict[int, np.ndarray] = {j: hx["spine"] - hx["pelvis"] if i == 0 else hx["thorax"] - hx["spine"]
                                     for i, j in enumerate(spine)}
    child: dict[int, int] = dict(next_of)
    if head is not None and neck is not None:
        target[neck], child[neck] = hx["head"] - hx["thorax"], head
    for side in ("left", "right"):
        c, s = find(f"{side}_collar"), find(f"{side}_shoulder")
        if c is not None and s is not None and parents[s] == c:
            target[c], child[c] = hx[f"{side}_shoulder"] - hx["thorax"], s
    t = len(x)
    world = np.empty((t, len(parents), 3, 3))
    world[:, root] = frame_from_vectors(hx["thorax"] - hx["pelvis"], hx["left_hip"] - hx["right_hip"], "xy") @ \
        frame_from_vectors(hr["thorax"] - hr["pelvis"], hr["left_hip"] - hr["right_hip"], "xy").T
    for j in range(len(parents)):  # parents come first
        p = int(parents[j])
        if p < 0:
            continue
        world[:, j] = world[:, p]
        if j not in child:
            continue
        bone = rest[child[j]] - rest[j]
        goal = target[j]
        ok = (np.linalg.norm(goal, axis=-1) > 1e-6) & np.isfinite(goal).all(-1)
        if np.linalg.norm(bone) > 1e-6 and ok.any():
            world[ok, j] = rotation_between(world[ok, p] @ bone, goal[ok]) @ world[ok, p]
    return world


def _rest_flexion(model: BodyModel, rest: np.ndarray, hinge_idx: list[int], hinge_ax: np.ndarray) -> np.ndarray:
    """``(4,)`` radians: how far each knee and elbow is already bent, the natural way, at rest
    (the signed angle about its flexion axis from the bone above to the bone below: Anny's rest
    elbows 42 degrees, knees 8), so that the bending prior measures from the straight limb."""
    parents = np.asarray(model.parents)
    out = []
    for j, axis in zip(hinge_idx, hinge_ax):
        below = [c for c in range(len(parents)) if parents[c] == j]
        u, f = rest[j] - rest[parents[j]], rest[below[0]] - rest[j] if below else rest[j] - rest[parents[j]]
        out.append(np.arctan2(np.dot(np.cross(u, f), axis), np.dot(u, f)))
    return np.asarray(out)


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
    progress: _Progress | None = None,
    pose_prior: GmmPrior | None = None,
    image: ImageTerm | None = None,
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
        pose_prior: SMPLify's Gaussian-mixture pose prior (:func:`pose2rig.body.prior.load_gmm_prior`)
            over the model's non-root joints, weighted by ``w_gmm`` in place of the L2 pose prior.
        image: detected 2D landmarks and the camera (:class:`ImageTerm`, one row per frame of
            ``joints``) for the 2D reprojection term, weighted by ``w_2d`` (0: not used); its
            point rows need no 3D ``points``.

    Raises:
        Pose2RigError: no finite joint in the clip, wrong shapes, a ``pose_prior`` over another
            model's joints.
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
    p_arr = np.stack([np.asarray(points[n], np.float64) for n in names], axis=1) if points and names else None
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
    if pose_prior is not None:
        pose_prior.check_model(model)
        pose_prior = pose_prior.to(dev)
    img = _Image(image, model, t_all, names, dev) if image is not None and o.w_2d > 0 else None
    rigid = _Rigid(model, names + (img.extra if img is not None else ()), dev)
    j_count = model.num_joints
    parents = np.asarray(model.parents)

    # -- initialisation, made per block of frames (the shape subsample, each window) so that no
    #    array of the whole clip is kept: the torso on the data's (frames without a torso: the
    #    nearest frame's), then the limbs by the knee/elbow-plane rule
    beta0 = torch.zeros(1, model.num_shape, dtype=f32, device=dev) if shape is None else \
        torch.as_tensor(np.asarray(shape, np.float64).reshape(1, -1), dtype=f32, device=dev)
    root0 = _find_root(parents)

    def rest_of(beta: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The model's rest joints ``(J, 3)`` and rest Human3.6M-17 joints ``(17, 3)``."""
        with torch.no_grad():
            rj, rv = model.rest(beta, rigid.vertex_index)
            eye = torch.zeros(1, j_count, 3, 3, dtype=f32, device=dev) + torch.eye(3, device=dev)
            r0, p0 = forward_kinematics(eye, rj, parents)
            hr, _ = rigid(r0, p0, rj, rv)
        return rj[0].cpu().numpy().astype(np.float64), hr[0].cpu().numpy().astype(np.float64)

    rest_np, h_rest_np = rest_of(beta0)
    torso = [H36M17.index(n) for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "spine")]
    pelvis, thorax = H36M17.index("pelvis"), H36M17.index("thorax")
    have = finite[:, torso].all(axis=1) & finite[:, pelvis]
    if not have.any():
        raise Pose2RigError("no frame shows the torso (hips, shoulders, spine) to place the body on")
    near = nearest_valid(have)  # the nearest frame showing the torso (ties: the earlier)
    torso_rows = [pelvis, thorax, *torso]

    def initial(frames: np.ndarray, rest_np: np.ndarray, h_rest_np: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose ``(n, J, 3)`` and translation ``(n, 3)`` to start ``frames`` from."""
        xi = x[frames]  # a copy (fancy index)
        xi[:, torso_rows] = x[near[frames]][:, torso_rows]
        mid = 0.5 * (xi[:, H36M17.index("left_shoulder")] + xi[:, H36M17.index("right_shoulder")])
        xi[:, thorax] = np.where(np.isfinite(xi[:, thorax]), xi[:, thorax], mid)
        world = _torso_init(model, rest_np, h_rest_np, xi)
        local = np.swapaxes(world[:, np.maximum(parents, 0)], -1, -2) @ world
        local[:, root0] = world[:, root0]
        h_idx, h_ax = hinge_axes(model, rest_np)
        for j, local_j in _limb_init(model, rest_np, xi, world, h_idx, h_ax).items():
            local[:, j] = local_j
        trans = xi[:, pelvis] - world[:, root0] @ (h_rest_np[pelvis] - rest_np[root0]) - rest_np[root0]
        return _matrix_to_axis_angle(local), trans

    hinge_idx, hinge_ax = hinge_axes(model, rest_np)
    hinge_axis = torch.as_tensor(hinge_ax, dtype=f32, device=dev)
    hinge_flex0 = torch.as_tensor(_rest_flexion(model, rest_np, hinge_idx, hinge_ax), dtype=f32, device=dev)
    rest_j = torch.as_tensor(rest_np[None], dtype=f32, device=dev)
    end_idx, end_ax, limb_ax = _hinge_bones(model, rest_j[0].cpu().numpy().astype(np.float64))
    low_names = [n.lower() for n in model.joint_names]
    limited = [(low_names.index(n.lower()), np.radians(deg)) for names_, deg in JOINT_LIMITS.items()
               for n in names_ if n.lower() in low_names]
    limit_idx = [j for j, _ in limited]
    limit_rad = torch.as_tensor([r for _, r in limited], dtype=f32, device=dev)
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
            pd2 = ((pts[:, : len(names)] - pdata[sel]) ** 2).sum(-1)
            loss = loss + o.w_points * (pconf[sel] * _gm(pd2, o.sigma)).sum()
        if img is not None:
            loss = loss + o.w_2d * img.loss(h, pts, sel, o.sigma_2d)
        hv = pose[:, hinge_idx]  # (B, 4, 3)
        along = (hv * hinge_axis).sum(-1)
        off = (hv * hinge_abduct).sum(-1)
        loss = loss + o.w_bend * torch.relu(-(along + hinge_flex0)).pow(2).sum() * 100.0  # from straight
        loss = loss + o.w_hinge * (off ** 2).sum()
        loss = loss + o.w_end_twist * ((pose[:, end_idx] * hinge_bone).sum(-1) ** 2).sum()
        if limit_idx and o.w_limit > 0:
            angle = ((pose[:, limit_idx] ** 2).sum(-1) + 1e-12).sqrt()  # (B, L): no NaN gradient at rest
            loss = loss + o.w_limit * torch.relu(angle - limit_rad).pow(2).sum()
        if o.w_dir > 0:
            dm = h[:, LIMB_BONES[:, 1]] - h[:, LIMB_BONES[:, 0]]
            dd = data[sel][:, LIMB_BONES[:, 1]] - data[sel][:, LIMB_BONES[:, 0]]
            cos = (dm * dd).sum(-1) / (dm.norm(dim=-1) * dd.norm(dim=-1) + 1e-9)
            wc = conf[sel][:, LIMB_BONES[:, 0]] * conf[sel][:, LIMB_BONES[:, 1]]
            loss = loss + o.w_dir * (wc * (1.0 - cos)).sum()
        body = [j for j in range(j_count) if j != root0]
        prior = o.w_pose * (pose[:, body] ** 2).sum() if pose_prior is None else \
            o.w_gmm * pose_prior(pose[:, body]).sum()
        loss = loss + prior + o.w_shape * (beta ** 2).sum() * pose.shape[0]
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
        pose_i, trans_i = initial(sub, rest_np, h_rest_np)
        pose_s = torch.tensor(pose_i, dtype=f32, device=dev, requires_grad=True)
        trans_s = torch.tensor(trans_i, dtype=f32, device=dev, requires_grad=True)
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
    rest_fit = (rest_np, h_rest_np) if beta_fit is beta0 else rest_of(beta_fit)  # the windows' start
    weight_sum = np.zeros(t_all)
    acc_pose = np.zeros((t_all, j_count, 3))
    acc_trans = np.zeros((t_all, 3))
    step = o.window - o.overlap
    starts = list(range(0, max(t_all - o.overlap, 1), step)) if t_all > o.window else [0]
    prev_pose: np.ndarray | None = None
    prev_trans: np.ndarray | None = None
    prev_end = 0
    for s in starts:
        e = min(s + o.window, t_all)
        init_p, init_t = initial(np.arange(s, e), *rest_fit)
        if prev_pose is not None and prev_trans is not None and prev_end > s:
            k = prev_end - s
            init_p[:k] = prev_pose[-k:]
            init_t[:k] = prev_trans[-k:]
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
                assert pose_w.grad is not None  # backward() has just set it
                pose_w.grad.mul_(root_mask)
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
            progress.update(e - s - (o.overlap if e < t_all else 0))
    pose_fit = acc_pose / weight_sum[:, None, None]
    trans_fit = acc_trans / weight_sum[:, None]
    del acc_pose, acc_trans

    # -- the result, window by window into arrays of the whole clip (float32: what it keeps)
    joints_fit = np.empty((t_all, 17, 3), dtype=np.float32)
    rot_fit = np.empty((t_all, j_count, 3, 3), dtype=np.float32)
    pos_fit = np.empty((t_all, j_count, 3), dtype=np.float32)
    with torch.no_grad():
        rj, rv = fixed_rest
        for s in range(0, t_all, o.window):
            e = min(s + o.window, t_all)
            local = axis_angle_to_matrix(torch.as_tensor(pose_fit[s:e], dtype=f32, device=dev))
            rot, pos = forward_kinematics(local, rj, parents)
            pos = pos + torch.as_tensor(trans_fit[s:e], dtype=f32, device=dev)[:, None]
            h, _ = rigid(rot, pos, rj, rv)
            joints_fit[s:e], rot_fit[s:e], pos_fit[s:e] = h.cpu().numpy(), rot.cpu().numpy(), pos.cpu().numpy()
    err = np.linalg.norm(joints_fit - x, axis=-1)
    count = finite.sum(axis=1)
    per_frame = np.where(count > 0, np.where(finite, err, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    return BodyFit(
        kind=model.kind, joint_names=tuple(model.joint_names), parents=parents.copy(),
        pose=pose_fit.astype(np.float32), shape=beta_fit[0].cpu().numpy().astype(np.float32),
        translation=trans_fit.astype(np.float32), joints=joints_fit, rotations=rot_fit, model_joints=pos_fit,
        error=per_frame.astype(np.float32), fps=float(fps),
    )


def _find_root(parents: np.ndarray) -> int:
    roots = np.flatnonzero(np.asarray(parents) < 0)
    if roots.size != 1:
        raise Pose2RigError(f"a body model needs exactly one root joint, this one has {roots.size}")
    return int(roots[0])
