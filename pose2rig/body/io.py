"""The body fit's file: ``write_body_npz`` / ``read_body_npz`` (numpy only: torch is not imported).

One ``.npz`` per fitted clip (``pose2rig fit``'s ``-o``, ``convert --body``), read back without
torch or the body model. Two parts:

**The body model's own parameters**, as the tools of its family read them:

- SMPL, SMPL-H, SMPL-X (``model_kind`` ``"smpl"``, ...): an **AMASS-style** file. AMASS writes
  its bodies **Z up** (the floor is the XY plane; SMPL's own model is Y up and AMASS turns the
  global orientation and translation); so does this file: the global orientation (the first 3
  values of ``poses``) and ``trans`` are pose2rig's Y-up world turned by +90 degrees about X
  (:data:`Y_UP_TO_Z_UP`: ``(x, y, z) -> (x, -z, y)``, up ``+Y`` -> ``+Z``, pose2rig's forward
  ``+Z`` -> ``-Y``), and ``coordinate_system`` says ``"z_up"``. As in SMPL the body turns about
  its root joint, whose rest position ``J0`` depends on the shape, so
  ``trans_z = A (trans_y + J0) - J0`` (not ``A trans_y``): feeding ``poses``, ``betas`` and
  ``trans`` to smplx gives the Y-up body turned by ``A`` exactly.

  =================  ==============  ========================================================
  key                shape / type    meaning
  =================  ==============  ========================================================
  poses              (T, 3 J) f64    axis-angle per joint (radians), joint 0 the global
                                     orientation (Z up); ``J`` = 24 for SMPL
  betas              (S,) f64        the shape
  trans              (T, 3) f64      metres, Z up (SMPL's ``transl``)
  gender             () str          ``neutral``, ``male`` or ``female``: the model file's
  mocap_framerate    () f64          frames per second
  surface_model_type () str          ``smpl``, ``smplh`` or ``smplx``
  coordinate_system  () str          ``z_up``
  =================  ==============  ========================================================

- Anny (``model_kind`` ``"anny"``): its parameters as :class:`pose2rig.body.anny.AnnyBody`
  takes them, **Y up** as pose2rig's world (``coordinate_system`` ``"y_up"``): ``anny_pose``
  ``(T, J, 3)`` f32 axis-angle in the :mod:`pose2rig.body.model` convention (each local
  rotation in the rest pose's world axes, not Anny's bone-aligned frames), ``anny_shape``
  ``(S,)`` f32 offsets of the phenotype sliders named in ``anny_shape_names`` ``(S,)``,
  ``trans`` ``(T, 3)`` f32 metres.

**pose2rig's arrays**, the same for every model, always **Y up** in pose2rig's world (the
frame of the pose file the fit read: floor at y = 0, facing +Z at the start):

==================  ==============  =========================================================
joints_h36m17       (T, 17, 3) f32  the fitted body's Human3.6M-17 joints, metres
h36m17_names        (17,) str       their names
bone_names          (J,) str        the model's joints (``model_kind``'s names)
bone_parents        (J,) int64      each joint's parent, -1 for the root
bone_rest           (J, 3) f32      the joints at rest for the fitted shape (zero pose, zero
                                    translation)
bone_rotations      (T, J, 3, 3)    each joint's world rotation from rest, f32 (the rest
                                    pose's axes are the world's, so this is its world frame)
bone_positions      (T, J, 3) f32   each joint's world position
fit_error           (T,) f32        mean distance (m) of the fitted joints to the input's,
                                    NaN on frames without input joints
fps                 () f64          frames per second
model_kind          () str          ``smpl``, ``smplh``, ``smplx`` or ``anny``
format_version      () int          this layout's version
==================  ==============  =========================================================

:meth:`BodyFile.animation` turns the bone arrays into a core :class:`~pose2rig.rig.RigAnimation`
on a :class:`~pose2rig.rig.Rig` whose rest matrices are ``[I | bone_rest]``: what ``retarget``
and the exporters read, without torch or the body model.

Convention:
    - Metres, radians; pose2rig's arrays Y up, right-handed, facing +Z (pose2rig's world);
      SMPL-family parameters Z up (AMASS's), Anny's Y up.
    - Axis-angle only here, at the body model's boundary.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.transform import Rotation

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.rig import Rig, RigAnimation
from pose2rig.skeletons import H36M17

if TYPE_CHECKING:
    from pose2rig.body.fit import BodyFit

__all__ = ["BODY_FORMAT_VERSION", "GENDERS", "SMPL_KINDS", "Y_UP_TO_Z_UP", "BodyFile", "is_body_npz",
           "read_body_npz", "write_body_npz"]

BODY_FORMAT_VERSION = 1
SMPL_KINDS = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
MODEL_KINDS = (*SMPL_KINDS, "anny")

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""``(3, 3)`` +90 degrees about X: pose2rig's Y-up world -> AMASS's Z up (``(0, 1, 0) -> (0, 0, 1)``)."""

_COMMON = ("format_version", "model_kind", "fps", "bone_names", "bone_parents", "bone_rest", "bone_rotations",
           "bone_positions", "joints_h36m17", "fit_error")
_OWN = {"smpl": ("poses", "betas", "trans", "gender", "mocap_framerate", "surface_model_type", "coordinate_system"),
        "anny": ("anny_pose", "anny_shape", "trans", "coordinate_system")}


@dataclass(frozen=True)
class BodyFile:
    """A body fit as read back from its file (see the module doc), every array in pose2rig's
    Y-up world whatever the file's ``coordinate_system``.

    Attributes:
        kind: ``"smpl"``, ``"smplh"``, ``"smplx"`` or ``"anny"``.
        fps: frames per second.
        bone_names, bone_parents: the model's joints ``(J,)`` and their parents (-1: root).
        bone_rest: ``(J, 3)`` float64 the joints at rest for the fitted shape.
        bone_rotations: ``(T, J, 3, 3)`` float64 world rotations.
        bone_positions: ``(T, J, 3)`` float64 world positions of the joints.
        joints: ``(T, 17, 3)`` float64 the fitted Human3.6M-17 joints.
        error: ``(T,)`` float64 per-frame mean joint error (m), NaN where no input.
        pose: ``(T, J, 3)`` float64 axis-angle, the global orientation in the Y-up world (an
            AMASS file's Z-up one turned back).
        shape: ``(S,)`` float64 betas (SMPL) or phenotype offsets (Anny).
        translation: ``(T, 3)`` float64 metres, Y up (the body model's ``translation``).
        gender: the SMPL model file's gender, None for Anny.
        shape_names: Anny's shape slider names, ``()`` for SMPL.
        coordinate_system: the file's ``coordinate_system`` (``"z_up"`` or ``"y_up"``).
    """

    kind: str
    fps: float
    bone_names: tuple[str, ...]
    bone_parents: tuple[int, ...]
    bone_rest: np.ndarray
    bone_rotations: np.ndarray
    bone_positions: np.ndarray
    joints: np.ndarray
    error: np.ndarray
    pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    gender: str | None = None
    shape_names: tuple[str, ...] = ()
    coordinate_system: str = "y_up"

    @property
    def num_frames(self) -> int:
        return int(self.bone_rotations.shape[0])

    def rig(self) -> Rig:
        """The body's skeleton as a :class:`~pose2rig.rig.Rig`: one bone per model joint, rest
        matrices ``[I | bone_rest]`` (the rest pose's axes are the world's), no mesh."""
        rest = np.tile(np.eye(4), (len(self.bone_names), 1, 1))
        rest[:, :3, 3] = self.bone_rest
        return Rig(name=self.kind, bone_names=self.bone_names, parents=self.bone_parents, rest=rest)

    def animation(self) -> RigAnimation:
        """The fitted motion on :meth:`rig`: its world matrices are ``[bone_rotations |
        bone_positions]`` (to float32 rounding)."""
        world = np.zeros(self.bone_rotations.shape[:2] + (4, 4))
        world[..., :3, :3] = self.bone_rotations
        world[..., :3, 3] = self.bone_positions
        world[..., 3, 3] = 1.0
        return RigAnimation.from_world(self.rig(), world, self.fps, tolerance=1e-4)


def rest_joints(rotations: np.ndarray, positions: np.ndarray, translation: np.ndarray,
                parents: np.ndarray) -> np.ndarray:
    """``(J, 3)`` the rest joints that a posed skeleton implies: the root's rest position is its
    position less the translation (the body turns about its root), each child's rest offset its
    posed offset turned back by its parent's world rotation; averaged over the frames.

    Args:
        rotations: ``(T, J, 3, 3)`` world rotations; positions: ``(T, J, 3)`` world joints;
        translation: ``(T, 3)``; parents: ``(J,)`` (parents before children).
    """
    r = np.asarray(rotations, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    rest = np.zeros(x.shape[1:])
    for j, p in enumerate(np.asarray(parents)):
        if p < 0:
            rest[j] = (x[:, j] - np.asarray(translation, dtype=np.float64)).mean(axis=0)
        else:
            offset = np.einsum("tba,tb->ta", r[:, p], x[:, j] - x[:, p])  # R_p^T (x_j - x_p)
            rest[j] = rest[p] + offset.mean(axis=0)
    return rest


def _root(parents: np.ndarray) -> int:
    roots = np.flatnonzero(np.asarray(parents) < 0)
    if roots.size != 1:
        raise Pose2RigError(f"a body needs exactly one root joint, got {roots.size}")
    return int(roots[0])


def _turn_root(pose: np.ndarray, translation: np.ndarray, rest: np.ndarray, root: int, turn: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """``pose (T, J, 3)`` with its root's rotation premultiplied by ``turn (3, 3)`` and the
    translation that turns the body as a whole about the origin: ``turn (t + J0) - J0``, ``J0``
    the root's rest position (the body turns about its root joint, then moves by ``t``)."""
    out = np.array(pose, dtype=np.float64)
    out[:, root] = (Rotation.from_matrix(turn) * Rotation.from_rotvec(out[:, root])).as_rotvec()
    j0 = rest[root]
    return out, (np.asarray(translation, np.float64) + j0) @ turn.T - j0


def write_body_npz(path: str | os.PathLike[str], fit: BodyFit, *, gender: str | None = None,
                   shape_names: tuple[str, ...] | None = None) -> Path:
    """Write ``fit`` (a :class:`pose2rig.body.fit.BodyFit`) as a body file (see the module doc),
    atomically; returns the path.

    Args:
        path: the ``.npz`` to write.
        fit: the fitted body.
        gender: the SMPL model file's gender (``neutral``, ``male``, ``female``; default
            ``neutral``); not used for Anny.
        shape_names: Anny's shape sliders, in order (:data:`pose2rig.body.anny.SHAPE_NAMES`);
            not used for SMPL.

    Raises:
        Pose2RigError: an unknown model kind, arrays that disagree in shape.
    """
    kind = str(fit.kind)
    if kind not in MODEL_KINDS:
        raise ArgumentError(f"{{fit}} must be a fit of one of {', '.join(MODEL_KINDS)}, got {kind!r}", "fit")
    parents = np.asarray(fit.parents, dtype=np.int64)
    j = len(fit.joint_names)
    rot = np.asarray(fit.rotations, dtype=np.float64)
    pos = np.asarray(fit.model_joints, dtype=np.float64)
    pose = np.asarray(fit.pose, dtype=np.float64)
    trans = np.asarray(fit.translation, dtype=np.float64)
    t = rot.shape[0]
    expect = {"rotations": (rot, (t, j, 3, 3)), "model_joints": (pos, (t, j, 3)), "pose": (pose, (t, j, 3)),
              "translation": (trans, (t, 3)), "joints": (np.asarray(fit.joints), (t, 17, 3)),
              "error": (np.asarray(fit.error), (t,)), "parents": (parents, (j,))}
    for name, (a, want) in expect.items():
        if a.shape != want:
            raise ArgumentError(f"{{fit}}.{name} must be {want}, got {a.shape}", "fit")
    if t == 0:
        raise ArgumentError("{fit} holds no frames", "fit")
    root = _root(parents)
    rest = rest_joints(rot, pos, trans, parents)
    arrays: dict[str, Any] = {
        "format_version": np.int64(BODY_FORMAT_VERSION),
        "model_kind": np.asarray(kind),
        "fps": np.float64(fit.fps),
        "bone_names": np.asarray(fit.joint_names),
        "bone_parents": parents,
        "bone_rest": rest.astype(np.float32),
        "bone_rotations": rot.astype(np.float32),
        "bone_positions": pos.astype(np.float32),
        "joints_h36m17": np.asarray(fit.joints, dtype=np.float32),
        "h36m17_names": np.asarray(H36M17.joint_names),
        "fit_error": np.asarray(fit.error, dtype=np.float32),
    }
    if kind in SMPL_KINDS:
        g = "neutral" if gender is None else gender
        if g not in GENDERS:
            raise ArgumentError(f"{{gender}} must be one of {', '.join(GENDERS)}, got {g!r}", "gender")
        if root != 0:
            raise Pose2RigError(f"an SMPL-family body's root must be joint 0, got {root}")
        poses_z, trans_z = _turn_root(pose, trans, rest, root, Y_UP_TO_Z_UP)
        arrays.update({
            "poses": poses_z.reshape(t, 3 * j), "betas": np.asarray(fit.shape, dtype=np.float64),
            "trans": trans_z, "gender": np.asarray(g), "mocap_framerate": np.float64(fit.fps),
            "surface_model_type": np.asarray(kind), "coordinate_system": np.asarray("z_up"),
        })
    else:
        shape = np.asarray(fit.shape, dtype=np.float32)
        names = tuple(shape_names) if shape_names is not None else tuple(f"shape{i}" for i in range(shape.size))
        if len(names) != shape.size:
            raise ArgumentError(f"{{shape_names}} must name the {shape.size} shape values, got {len(names)}",
                                "shape_names")
        arrays.update({"anny_pose": pose.astype(np.float32), "anny_shape": shape,
                       "anny_shape_names": np.asarray(names, dtype=str), "trans": trans.astype(np.float32),
                       "coordinate_system": np.asarray("y_up")})
    write_arrays(path, arrays)
    return Path(path)


def _text(data: dict[str, np.ndarray], key: str, p: Path) -> str:
    a = np.asarray(data[key])
    if a.dtype.kind != "U" or a.size != 1:
        raise Pose2RigError(f"{p}: {key} must be a text value, got {a.dtype} of shape {a.shape}")
    return str(a.reshape(()))


def _float(data: dict[str, np.ndarray], key: str, p: Path, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(data[key])
    if a.dtype.kind not in "fiu" or a.shape != shape:
        raise Pose2RigError(f"{p}: {key} must be numbers of shape {shape}, got {a.dtype} {a.shape}")
    a = a.astype(np.float64)
    if key != "fit_error" and not np.isfinite(a).all():
        raise Pose2RigError(f"{p}: {key} holds NaN or infinite values")
    return a


def is_body_npz(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an ``.npz`` meant as a body file: one that holds ``model_kind`` or
    ``bone_rotations`` (:func:`read_body_npz` then names whatever else it lacks). False for a
    missing or unreadable file (its reader says why)."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            keys = set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False
    return bool(keys & {"model_kind", "bone_rotations"})


def read_body_npz(path: str | os.PathLike[str]) -> BodyFile:
    """Read a body file (see the module doc) as a :class:`BodyFile`, every array in pose2rig's
    Y-up world (an AMASS-style file's Z-up global orientation and translation turned back).

    Raises:
        Pose2RigError: a missing, truncated or non-``.npz`` file (read with
            ``allow_pickle=False``: a pickled array is refused), a file that is not a body
            file, arrays of the wrong shape or with NaN.
    """
    p = Path(path)
    data = read_arrays(p)
    missing = [k for k in _COMMON if k not in data]
    if missing:
        raise Pose2RigError(f"{p}: not a pose2rig body file: missing {', '.join(missing)}; found "
                            f"{', '.join(sorted(data)) or 'no arrays'}")
    kind = _text(data, "model_kind", p)
    if kind not in MODEL_KINDS:
        raise Pose2RigError(f"{p}: model_kind must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    own = _OWN["smpl" if kind in SMPL_KINDS else "anny"]
    missing = [k for k in own if k not in data]
    if missing:
        raise Pose2RigError(f"{p}: a {kind} body file needs {', '.join(missing)}")
    version = int(np.asarray(data["format_version"]).reshape(-1)[0])
    if version > BODY_FORMAT_VERSION:
        raise Pose2RigError(f"{p}: body file version {version} is newer than this pose2rig reads "
                            f"({BODY_FORMAT_VERSION}); update pose2rig")
    names = np.asarray(data["bone_names"])
    if names.dtype.kind != "U" or names.ndim != 1 or names.size == 0:
        raise Pose2RigError(f"{p}: bone_names must be a list of names, got {names.dtype} {names.shape}")
    j = names.size
    parents = np.asarray(data["bone_parents"])
    if parents.shape != (j,) or parents.dtype.kind not in "iu" or any(
            not -1 <= q < i for i, q in enumerate(parents.tolist())):
        raise Pose2RigError(f"{p}: bone_parents must give each of the {j} bones a parent before it (-1: root)")
    root = _root(parents)
    rot = np.asarray(data["bone_rotations"])
    t = rot.shape[0] if rot.ndim == 4 else 0
    if t == 0:
        raise Pose2RigError(f"{p}: bone_rotations must be (T, {j}, 3, 3) with T > 0, got {rot.shape}")
    rot = _float(data, "bone_rotations", p, (t, j, 3, 3))
    fps = float(_float(data, "fps", p, ()))
    if fps <= 0:
        raise Pose2RigError(f"{p}: fps must be positive, got {fps}")
    rest = _float(data, "bone_rest", p, (j, 3))
    out: dict[str, Any] = dict(
        kind=kind, fps=fps, bone_names=tuple(str(n) for n in names), bone_parents=tuple(int(q) for q in parents),
        bone_rest=rest, bone_rotations=rot, bone_positions=_float(data, "bone_positions", p, (t, j, 3)),
        joints=_float(data, "joints_h36m17", p, (t, 17, 3)), error=_float(data, "fit_error", p, (t,)),
        coordinate_system=_text(data, "coordinate_system", p),
    )
    if kind in SMPL_KINDS:
        poses = _float(data, "poses", p, (t, 3 * j)).reshape(t, j, 3)
        trans = _float(data, "trans", p, (t, 3))
        if out["coordinate_system"] == "z_up":
            poses, trans = _turn_root(poses, trans, rest, root, Y_UP_TO_Z_UP.T)
        elif out["coordinate_system"] != "y_up":
            raise Pose2RigError(f"{p}: coordinate_system must be z_up or y_up, got {out['coordinate_system']!r}")
        out.update(pose=poses, translation=trans, shape=_float(data, "betas", p, np.shape(data["betas"])[:1]),
                   gender=_text(data, "gender", p))
    else:
        if out["coordinate_system"] != "y_up":
            raise Pose2RigError(f"{p}: an Anny body file is y_up, got {out['coordinate_system']!r}")
        shape_names = tuple(str(n) for n in np.asarray(data.get("anny_shape_names", np.asarray([], dtype=str))))
        out.update(pose=_float(data, "anny_pose", p, (t, j, 3)), translation=_float(data, "trans", p, (t, 3)),
                   shape=_float(data, "anny_shape", p, np.shape(data["anny_shape"])[:1]), shape_names=shape_names)
    return BodyFile(**out)
