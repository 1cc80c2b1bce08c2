"""Human3.6M in the community's preprocessed layout (VideoPose3D's files), read safely.

The file readers, shared by training (:mod:`pose2rig.train.h36m`) and evaluation
(:mod:`pose2rig.evaluate`).

Files (paths the user passes; the pickled ones are read with :mod:`pose2rig.safe_pickle`):

- 3D, e.g. ``data_3d_h36m.npz``: key ``positions_3d``, a pickled dict
  ``[subject][action] -> (T, 32, 3)`` metres in the motion-capture world frame (Z up). The 32
  joints are mapped to h36m17 with :data:`H36M32_TO_H36M17`; files already holding 17 joints
  in that order are taken as they are.
- 2D, e.g. ``data_2d_h36m_gt.npz`` or a detector's ``data_2d_h36m_cpn_ft_h36m_dbb.npz``: key
  ``positions_2d``, ``[subject][action][camera] -> (T, 17, 2)`` pixels (a list of one array per
  camera, in the cameras file's order); ``metadata`` is ignored. 32-joint 2D is mapped as 3D.
- Cameras, a JSON file laid out as VideoPose3D's ``h36m_dataset.py`` lists them::

      {"intrinsic": [{"id": "54138969", "res_w": 1000, "res_h": 1002,
                      "focal_length": [fx, fy], "center": [cx, cy],
                      "radial_distortion": [k1, k2, k3], "tangential_distortion": [p1, p2]},
                     ... one per camera],
       "extrinsic": {"S1": [{"orientation": [w, x, y, z], "translation": [x, y, z]}, ...], ...},
       "translation_unit": "mm"}

  (``h36m_cameras_intrinsic_params`` / ``h36m_cameras_extrinsic_params`` are accepted as the
  two key names too; other keys such as ``azimuth`` are ignored, and subjects whose entries
  are all empty, as VideoPose3D lists S2, S3, S4, are skipped). ``orientation`` is the
  camera-to-world rotation quaternion, ``translation`` the camera centre in the world, in
  millimetres as VideoPose3D lists it unless ``translation_unit`` says ``"m"``.

Convention:
    - Camera frame: ``X_cam = R(q)^T (X_world - t)``, OpenCV axes (x right, y down, z forward).
    - Projection (VideoPose3D's ``project_to_2d`` in pixels): ``u = X/Z`` clipped to [-1, 1],
      ``r2 = |u|^2``, ``u' = u (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p . u) + p r2``,
      ``pixel = f u' + c``. This reproduces ``data_2d_h36m_gt.npz`` from ``data_3d_h36m.npz``.
    - Subjects S1, S5, S6, S7, S8 train; S9, S11 test. Actions are grouped as in the papers'
      tables by :func:`canonical_action` (``"Walking 1"`` -> ``"Walking"``,
      ``"TakingPhoto"`` -> ``"Photo"``, ``"WalkingDog"`` -> ``"WalkDog"``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import quat_to_matrix
from pose2rig.io.jsonfile import read_json_object
from pose2rig.safe_pickle import load_npz_object

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
H36M32_TO_H36M17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
"""Indices of the 17 joints (VideoPose3D's ``remove_joints`` complement) among Human3.6M's 32."""


def canonical_action(name: str) -> str:
    """The action of a sequence name as tables group it: ``"Walking 1"`` -> ``"Walking"``."""
    base = re.sub(r"[\s_-]*\d+$", "", str(name).strip())
    return {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}.get(base, base)


@dataclass(frozen=True)
class H36MCamera:
    """One calibrated Human3.6M camera for one subject.

    Attributes:
        id: the camera's name, e.g. ``"54138969"``.
        orientation: ``(4,)`` camera-to-world rotation quaternion ``(w, x, y, z)``.
        translation: ``(3,)`` the camera centre in the world, metres.
        focal_length, center: ``(2,)`` pixels.
        radial: ``(3,)`` k1, k2, k3; tangential: ``(2,)`` p1, p2 (VideoPose3D's formula).
        res_w, res_h: image size in pixels.
    """

    id: str
    orientation: np.ndarray
    translation: np.ndarray
    focal_length: np.ndarray
    center: np.ndarray
    radial: np.ndarray
    tangential: np.ndarray
    res_w: int
    res_h: int

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world metres -> ``(..., 3)`` camera frame metres."""
        r = quat_to_matrix(self.orientation)
        return ((np.asarray(points, dtype=np.float64) - self.translation) @ r).astype(np.float32)

    def project(self, points: np.ndarray, *, distort: bool = True) -> np.ndarray:
        """``(..., 3)`` camera-frame points -> ``(..., 2)`` pixels (module doc's formula)."""
        p = np.asarray(points, dtype=np.float64)
        u = np.clip(p[..., :2] / p[..., 2:3], -1.0, 1.0)
        if distort:
            r2 = np.sum(u * u, axis=-1, keepdims=True)
            k = self.radial
            radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
            tan = np.sum(self.tangential * u, axis=-1, keepdims=True)
            u = u * (radial + tan) + self.tangential * r2
        return (self.focal_length * u + self.center).astype(np.float32)


def _vec(entry: dict, key: str, n: int, where: str) -> np.ndarray:
    try:
        v = np.asarray(entry[key], dtype=np.float64).reshape(-1)
    except KeyError:
        raise Pose2RigError(f"{where}: missing {key!r}") from None
    except (TypeError, ValueError):
        raise Pose2RigError(f"{where}: {key!r} must be {n} numbers") from None
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise Pose2RigError(f"{where}: {key!r} must be {n} finite numbers, got {entry[key]!r}")
    return v


def load_cameras(path: PathLike) -> dict[str, list[H36MCamera]]:
    """Read the cameras JSON (module doc): ``{subject: [H36MCamera, ...]}`` in file order."""
    p = Path(path)
    doc = read_json_object(p, "cameras file", hint="; expected the cameras JSON of docs/HUMAN36M.md")
    intr = doc.get("intrinsic", doc.get("h36m_cameras_intrinsic_params"))
    extr = doc.get("extrinsic", doc.get("h36m_cameras_extrinsic_params"))
    if not isinstance(intr, list) or not isinstance(extr, dict) or not intr or not extr:
        raise Pose2RigError(
            f"{p}: expected 'intrinsic' (a list, one entry per camera) and 'extrinsic' "
            "(per subject, a list of one entry per camera)"
        )
    unit = doc.get("translation_unit", "mm")
    if unit not in ("mm", "m"):
        raise Pose2RigError(f"{p}: translation_unit must be 'mm' or 'm', got {unit!r}")
    to_m = 0.001 if unit == "mm" else 1.0
    out: dict[str, list[H36MCamera]] = {}
    for subject, cams in extr.items():
        if isinstance(cams, list) and all(c == {} for c in cams):
            continue  # VideoPose3D lists S2, S3, S4 with empty entries: no calibration
        if not isinstance(cams, list) or len(cams) != len(intr):
            raise Pose2RigError(
                f"{p}: subject {subject} has {len(cams) if isinstance(cams, list) else 'no list of'} "
                f"extrinsics for {len(intr)} cameras"
            )
        row = []
        for i, (ci, ce) in enumerate(zip(intr, cams)):
            where = f"{p}: {subject} camera {i}"
            if not isinstance(ci, dict) or not isinstance(ce, dict):
                raise Pose2RigError(f"{where}: expected JSON objects")
            q = _vec(ce, "orientation", 4, where)
            if abs(np.linalg.norm(q) - 1.0) > 1e-3:
                raise Pose2RigError(f"{where}: orientation must be a unit quaternion (w, x, y, z)")
            try:
                w, h = int(ci["res_w"]), int(ci["res_h"])
            except (KeyError, TypeError, ValueError):
                raise Pose2RigError(f"{where}: res_w and res_h must be integers") from None
            row.append(H36MCamera(
                id=str(ci.get("id", i)),
                orientation=q / np.linalg.norm(q),
                translation=_vec(ce, "translation", 3, where) * to_m,
                focal_length=_vec(ci, "focal_length", 2, where),
                center=_vec(ci, "center", 2, where),
                radial=_vec(ci, "radial_distortion", 3, where) if "radial_distortion" in ci else np.zeros(3),
                tangential=(_vec(ci, "tangential_distortion", 2, where)
                            if "tangential_distortion" in ci else np.zeros(2)),
                res_w=w, res_h=h,
            ))
        out[str(subject)] = row
    return out


def _to17(arr: object, dims: int, where: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim != 3 or a.shape[2] != dims or a.shape[1] not in (17, 32):
        raise Pose2RigError(f"{where}: expected (T, 32, {dims}) or (T, 17, {dims}), got {a.shape}")
    return a[:, list(H36M32_TO_H36M17)] if a.shape[1] == 32 else a


def _select(data: object, path: Path, key: str, subjects: Iterable[str] | None) -> dict:
    if not isinstance(data, dict):
        raise Pose2RigError(f"{path}: {key} must hold a dict [subject][action], got {type(data).__name__}")
    if subjects is None:
        return data
    missing = [s for s in subjects if s not in data]
    if missing:
        raise Pose2RigError(
            f"{path}: no subject(s) {', '.join(missing)} in {key}; it has {', '.join(map(str, data))}"
        )
    return {s: data[s] for s in subjects}


def load_positions_3d(path: PathLike, *, subjects: Iterable[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``[subject][action] -> (T, 17, 3)`` float32 world metres from a ``positions_3d`` file."""
    p = Path(path)
    data = _select(load_npz_object(p, "positions_3d"), p, "positions_3d", subjects)
    out: dict[str, dict[str, np.ndarray]] = {}
    for s, actions in data.items():
        if not isinstance(actions, dict):
            raise Pose2RigError(f"{p}: positions_3d[{s!r}] must be a dict of actions")
        out[s] = {a: _to17(v, 3, f"{p}: {s} {a}") for a, v in actions.items()}
        for a, v in out[s].items():
            if np.nanmax(np.abs(v), initial=0.0) > 50.0:
                raise Pose2RigError(f"{p}: {s} {a} has coordinates beyond 50; expected metres (divide mm by 1000)")
    return out


def load_positions_2d(path: PathLike, *, subjects: Iterable[str] | None = None) -> dict[str, dict[str, list[np.ndarray]]]:
    """``[subject][action] -> [(T, 17, 2) float32 pixels per camera]`` from a ``positions_2d`` file."""
    p = Path(path)
    data = _select(load_npz_object(p, "positions_2d"), p, "positions_2d", subjects)
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for s, actions in data.items():
        if not isinstance(actions, dict):
            raise Pose2RigError(f"{p}: positions_2d[{s!r}] must be a dict of actions")
        out[s] = {}
        for a, views in actions.items():
            if not isinstance(views, (list, tuple)) or not views:
                raise Pose2RigError(f"{p}: positions_2d[{s!r}][{a!r}] must be a list of per-camera arrays")
            out[s][a] = [_to17(v, 2, f"{p}: {s} {a} camera {i}") for i, v in enumerate(views)]
    return out


def _cameras_for(cameras: dict[str, list[H36MCamera]], subject: str, path: PathLike) -> list[H36MCamera]:
    if subject not in cameras:
        raise Pose2RigError(f"{path}: no cameras for subject {subject}; it has {', '.join(cameras)}")
    return cameras[subject]


def _crop(a: np.ndarray, b: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Both to the shorter length (detector files may have a few more 2D frames than the mocap)."""
    if len(b) < len(a):
        log.warning("%s: 2D has %d frames, 3D %d; using the first %d", where, len(b), len(a), len(b))
    n = min(len(a), len(b))
    return a[:n], b[:n]


class H36MEvalData(NamedTuple):
    """Evaluation poses of the test subjects, one row per (frame, camera).

    Attributes:
        pixels: ``(N, 17, 2)`` float32 2D input (the 2D file's, or the 3D projected).
        gt_camera: ``(N, 17, 3)`` float32 metres in each camera's frame.
        actions: ``(N,)`` str, :func:`canonical_action` names.
        subjects: ``(N,)`` str; cameras: ``(N,)`` str camera ids.
    """

    pixels: np.ndarray
    gt_camera: np.ndarray
    actions: np.ndarray
    subjects: np.ndarray
    cameras: np.ndarray


def h36m_eval_data(
    *,
    positions_3d: PathLike,
    cameras: PathLike,
    positions_2d: PathLike | None = None,
    subjects: Iterable[str] = TEST_SUBJECTS,
    frame_step: int = 1,
) -> H36MEvalData:
    """Evaluation data: every frame (every ``frame_step``-th) of every action and camera.

    The 2D input is the ``positions_2d`` file's keypoints (ground truth or a detector's) when
    given, else the 3D projected with the real cameras (ground-truth 2D). Poses with a
    non-finite joint are left out.
    """
    if frame_step < 1:
        raise Pose2RigError(f"frame_step must be at least 1, got {frame_step}")
    subjects = tuple(subjects)
    cams = load_cameras(cameras)
    p3 = load_positions_3d(positions_3d, subjects=subjects)
    p2 = load_positions_2d(positions_2d, subjects=subjects) if positions_2d is not None else None
    parts: dict[str, list] = {k: [] for k in H36MEvalData._fields}
    for s in subjects:
        cs = _cameras_for(cams, s, cameras)
        for action, world in sorted(p3[s].items()):
            if p2 is not None and action not in p2[s]:
                raise Pose2RigError(f"{positions_2d}: no {s} {action!r} in positions_2d (the 3D file has it)")
            if p2 is not None and len(p2[s][action]) != len(cs):
                raise Pose2RigError(
                    f"{positions_2d}: {s} {action!r} has {len(p2[s][action])} cameras, the cameras file {len(cs)}"
                )
            for c, cam in enumerate(cs):
                gt = cam.world_to_camera(world)
                px = cam.project(gt) if p2 is None else p2[s][action][c]
                gt, px = _crop(gt, px, f"{s} {action} camera {cam.id}")
                gt, px = gt[::frame_step], px[::frame_step]
                ok = np.all(np.isfinite(gt), axis=(1, 2)) & np.all(np.isfinite(px), axis=(1, 2))
                n = int(ok.sum())
                parts["pixels"].append(px[ok])
                parts["gt_camera"].append(gt[ok])
                parts["actions"].append(np.full(n, canonical_action(action), dtype=object))
                parts["subjects"].append(np.full(n, s, dtype=object))
                parts["cameras"].append(np.full(n, cam.id, dtype=object))
    if not parts["pixels"] or sum(len(x) for x in parts["pixels"]) == 0:
        raise Pose2RigError(f"{positions_3d}: no evaluation poses for subjects {', '.join(subjects)}")
    return H36MEvalData(
        pixels=np.concatenate(parts["pixels"]).astype(np.float32),
        gt_camera=np.concatenate(parts["gt_camera"]).astype(np.float32),
        actions=np.concatenate(parts["actions"]).astype(str),
        subjects=np.concatenate(parts["subjects"]).astype(str),
        cameras=np.concatenate(parts["cameras"]).astype(str),
    )


def training_pixels(
    *,
    positions_3d: PathLike | None = None,
    positions_2d: PathLike | None = None,
    cameras: PathLike | None = None,
    subjects: Iterable[str] = TRAIN_SUBJECTS,
    frame_step: int = 1,
) -> tuple[np.ndarray, str]:
    """The 2D training poses ``(N, 17, 2)`` pixels and a description of where they came from.

    With ``positions_2d``: its keypoints of ``subjects`` (every action, camera, and
    ``frame_step``-th frame) and nothing else; no 3D is read (2D-only training). Otherwise
    ``positions_3d`` filmed by the subjects' real ``cameras``.
    """
    if frame_step < 1:
        raise Pose2RigError(f"frame_step must be at least 1, got {frame_step}")
    subjects = tuple(subjects)
    chunks: list[np.ndarray] = []
    if positions_2d is not None:
        if positions_3d is not None:
            log.info("Human3.6M: training from the 2D keypoints of %s; the 3D file is not used", positions_2d)
        for actions in load_positions_2d(positions_2d, subjects=subjects).values():
            for views in actions.values():
                chunks += [v[::frame_step] for v in views]
        what = f"{Path(positions_2d).name} 2D keypoints ({', '.join(subjects)})"
    elif positions_3d is not None and cameras is not None:
        cams = load_cameras(cameras)
        for s, poses in load_positions_3d(positions_3d, subjects=subjects).items():
            for world in poses.values():
                w = world[::frame_step]
                chunks += [cam.project(cam.world_to_camera(w)) for cam in _cameras_for(cams, s, cameras)]
        what = f"{Path(positions_3d).name} projected by the real cameras ({', '.join(subjects)})"
    else:
        raise Pose2RigError(
            "Human3.6M training needs a 2D file (positions_2d), or a 3D file (positions_3d) with "
            "its cameras file"
        )
    if not chunks:
        raise Pose2RigError(f"Human3.6M: no training poses for subjects {', '.join(subjects)}")
    return np.concatenate(chunks), what
