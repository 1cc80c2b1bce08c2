"""The canonical on-disk format: ``.npz`` files, written and read with ``allow_pickle=False``.

These keys are how other tools feed pose2rig and read its results (README.md documents them).

Keypoints file (``pose2rig detect`` writes it, ``pose2rig lift`` reads it):

===============  ===============  =========================================================
key              shape / type     meaning
===============  ===============  =========================================================
keypoints2d      (T, 17, 2) f32   pixels, Human3.6M-17 order, NaN where missing (required)
confidence       (T, 17) f32      in [0, 1], 0 where missing (required)
image_size       (2,) int         [width, height] in pixels (required)
fps              () float         frame rate (required)
timestamps       (T,) f64         seconds; default ``arange(T) / fps``
joint_names      (17,) str        the Human3.6M-17 names
landmarks33      (T, 33, 3) f32   MediaPipe landmarks: x, y pixels, visibility
world33          (T, 33, 3) f32   MediaPipe's world landmarks: metres, hip-centred, camera
                                  axes (x right, y down, z away); NaN where missing
format_version   () int           this file layout's version
===============  ===============  =========================================================

The detection cache that ``convert`` keeps beside its outputs (``<clip>.keypoints.npz``,
:mod:`pose2rig.detect.cache`) reads as a keypoints file too: it holds ``keypoints`` (for
``keypoints2d``) and ``skeleton`` (``"h36m17"``) instead of ``joint_names``, plus its ``key``.

Pose file (``pose2rig lift`` writes it; ``convert --npz`` adds ``joints3d_world``):

===============  ===============  =========================================================
joints3d         (T, 17, 3) f32   metres, camera frame (OpenCV axes), absolute: reprojects
                                  through ``camera_matrix`` onto the 2D keypoints
camera_matrix    (3, 3) f64       pinhole intrinsics K
image_size       (2,) int         [width, height]
joint_names      (17,) str        Human3.6M-17 names
fps, timestamps, confidence, format_version, landmarks33 (when known)
joints3d_world   (T, 17, 3) f32   world frame: Y up, floor at y = 0, facing +Z at the start
===============  ===============  =========================================================
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence, Space

FORMAT_VERSION = 1


def check_npz_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, or one clear error when it is missing or not a zip archive."""
    p = Path(path)
    if not p.is_file():
        raise Pose2RigError(f"{p}: no such file")
    if not zipfile.is_zipfile(p):
        raise Pose2RigError(f"{p}: not a readable .npz file (expected a zip archive of arrays)")
    return p


def _read(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    p = check_npz_file(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise Pose2RigError(f"{p}: not a readable .npz file ({e})") from None
    except ValueError as e:  # object arrays need pickle: refuse them
        raise Pose2RigError(f"{p}: unsupported .npz content ({e})") from None


def _write(path: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def _require(data: dict[str, np.ndarray], path: Path, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise Pose2RigError(
            f"{path}: missing key(s) {', '.join(missing)}; found {', '.join(sorted(data)) or 'none'}"
        )


def _check_joint_names(data: dict[str, np.ndarray], path: Path) -> None:
    if "joint_names" in data:
        names = tuple(str(n) for n in data["joint_names"])
        if names != H36M17.joint_names:
            raise Pose2RigError(
                f"{path}: joints must be Human3.6M-17 in order ({', '.join(H36M17.joint_names)}); "
                f"got {', '.join(names)}"
            )


def _is_detection_cache(data: dict[str, np.ndarray]) -> bool:
    return "keypoints2d" not in data and {"keypoints", "skeleton"} <= set(data)


def _from_detection_cache(data: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """A detection cache's arrays under the keypoints file's names (see the module's docstring)."""
    skeleton = str(np.asarray(data["skeleton"]).reshape(()))
    if skeleton != H36M17.name:
        raise Pose2RigError(f"{path}: keypoints must be {H36M17.name} joints, got {skeleton}")
    out = {k: v for k, v in data.items() if k not in ("keypoints", "skeleton", "key")}
    out["keypoints2d"] = data["keypoints"]
    return out


def contents(path: str | os.PathLike[str]) -> frozenset[str]:
    """What a pose2rig ``.npz`` holds, without reading its arrays: ``"keypoints"`` (2D: a
    keypoints file or convert's detection cache), ``"camera"`` and/or ``"world"`` (3D poses of a
    pose file, ``joints3d`` and ``joints3d_world``).

    Raises:
        Pose2RigError: not a readable ``.npz``, or one that holds none of these.
    """
    p = check_npz_file(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            keys = set(data.files)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise Pose2RigError(f"{p}: not a readable .npz file ({e})") from None
    out = set()
    if "keypoints2d" in keys or {"keypoints", "skeleton"} <= keys:
        out.add("keypoints")
    if "joints3d" in keys:
        out.add("camera")
    if "joints3d_world" in keys:
        out.add("world")
    if not out:
        raise Pose2RigError(
            f"{p}: not a pose2rig keypoints or pose file (expected keypoints2d, joints3d or joints3d_world); "
            f"found {', '.join(sorted(keys)) or 'no arrays'}"
        )
    return frozenset(out)


def save_keypoints(path: str | os.PathLike[str], keypoints: Keypoints2D) -> None:
    """Write a keypoints file (atomically)."""
    if keypoints.skeleton != H36M17:
        raise Pose2RigError(f"keypoints files hold h36m17 joints, got {keypoints.skeleton.name}")
    arrays: dict[str, Any] = {
        "keypoints2d": keypoints.keypoints,
        "confidence": keypoints.confidence,
        "image_size": np.asarray(keypoints.image_size, dtype=np.int64),
        "fps": np.float64(keypoints.fps),
        "timestamps": keypoints.timestamps,
        "joint_names": np.asarray(H36M17.joint_names),
        "format_version": np.int64(FORMAT_VERSION),
    }
    if keypoints.landmarks33 is not None:
        arrays["landmarks33"] = keypoints.landmarks33
    if keypoints.world33 is not None:
        arrays["world33"] = keypoints.world33
    _write(path, arrays)


def load_keypoints(path: str | os.PathLike[str]) -> Keypoints2D:
    """Read a keypoints file; only ``keypoints2d``, ``confidence``, ``image_size``, ``fps`` are required."""
    p = Path(path)
    data = _read(p)
    if _is_detection_cache(data):
        data = _from_detection_cache(data, p)
    _require(data, p, ("keypoints2d", "confidence", "image_size", "fps"))
    _check_joint_names(data, p)
    kp = data["keypoints2d"]
    if kp.ndim != 3 or kp.shape[1:] != (17, 2):
        raise Pose2RigError(f"{p}: keypoints2d must have shape (T, 17, 2), got {kp.shape}")
    if kp.shape[0] == 0:
        raise Pose2RigError(f"{p}: keypoints2d holds no frames")
    size = data["image_size"].reshape(-1)
    if size.shape != (2,):
        raise Pose2RigError(f"{p}: image_size must be [width, height], got shape {data['image_size'].shape}")
    fps = float(np.asarray(data["fps"]).reshape(()))
    ts = data.get("timestamps")
    if ts is None:
        ts = np.arange(kp.shape[0]) / fps if fps > 0 else np.arange(kp.shape[0], dtype=float)
    try:
        return Keypoints2D(
            keypoints=kp,
            confidence=data["confidence"],
            skeleton=H36M17,
            image_size=(int(size[0]), int(size[1])),
            fps=fps,
            timestamps=ts,
            landmarks33=data.get("landmarks33"),
            world33=data.get("world33"),
        )
    except Pose2RigError as e:
        raise Pose2RigError(f"{p}: {e}") from None


def save_pose(
    path: str | os.PathLike[str],
    camera_pose: PoseSequence,
    *,
    world_pose: PoseSequence | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a pose file (atomically): the camera-frame pose, and the world-frame one when given.

    ``extra``: more arrays to store beside them, by key (the clean-up's floor plane, foot
    contacts and plausibility scores: :meth:`pose2rig.clean.CleanResult.as_arrays`); a key
    the pose itself uses is an error."""
    if camera_pose.space != "camera" or camera_pose.camera is None:
        raise Pose2RigError("save_pose needs the camera-frame pose with its camera")
    arrays: dict[str, Any] = {
        "joints3d": camera_pose.joints,
        "camera_matrix": camera_pose.camera.matrix,
        "image_size": np.asarray(camera_pose.camera.image_size, dtype=np.int64),
        "joint_names": np.asarray(camera_pose.skeleton.joint_names),
        "fps": np.float64(camera_pose.fps),
        "timestamps": camera_pose.timestamps,
        "confidence": camera_pose.confidence,
        "format_version": np.int64(FORMAT_VERSION),
    }
    if camera_pose.landmarks33 is not None:
        arrays["landmarks33"] = camera_pose.landmarks33
    if world_pose is not None:
        if world_pose.space != "world" or world_pose.num_frames != camera_pose.num_frames:
            raise Pose2RigError("world pose must be in world space with the same frames")
        arrays["joints3d_world"] = world_pose.joints
    for key, value in (extra or {}).items():
        if key in arrays:
            raise Pose2RigError(f"save_pose: extra array {key!r} would overwrite the pose's own")
        arrays[key] = np.asarray(value)
    _write(path, arrays)


def read_array(path: str | os.PathLike[str], key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """One more array of a pose file (``save_pose``'s ``extra``), or None where the file has
    none; an array of another ``shape`` or with non-finite values is an error."""
    p = Path(path)
    data = _read(p)
    if key not in data:
        return None
    a = np.asarray(data[key], dtype=np.float64)
    if a.shape != shape or not np.isfinite(a).all():
        raise Pose2RigError(f"{p}: {key} must be a finite array of shape {shape}, got {a.shape}")
    return a


def load_pose(
    path: str | os.PathLike[str], *, space: Space = "world"
) -> PoseSequence:
    """Read a pose file as a :class:`PoseSequence` in ``space`` (``"world"`` or ``"camera"``)."""
    p = Path(path)
    data = _read(p)
    key = {"world": "joints3d_world", "camera": "joints3d"}.get(space)
    if key is None:
        raise Pose2RigError(f"space must be 'world' or 'camera', got {space!r}")
    _require(data, p, (key, "fps"))
    _check_joint_names(data, p)
    joints = data[key]
    if joints.ndim != 3 or joints.shape[1:] != (17, 3) or joints.shape[0] == 0:
        raise Pose2RigError(f"{p}: {key} must have shape (T, 17, 3) with T > 0, got {joints.shape}")
    fps = float(np.asarray(data["fps"]).reshape(()))
    camera = None
    if "camera_matrix" in data and "image_size" in data:
        size = data["image_size"].reshape(-1)
        camera = Camera(data["camera_matrix"], (int(size[0]), int(size[1])))
    try:
        return PoseSequence(
            joints=joints,
            skeleton=H36M17,
            fps=fps,
            timestamps=data.get("timestamps", np.arange(joints.shape[0]) / fps),
            space=space,
            confidence=data.get("confidence"),
            camera=camera,
            landmarks33=data.get("landmarks33"),
        )
    except Pose2RigError as e:
        raise Pose2RigError(f"{p}: {e}") from None


def read_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file by key (no pickles); one clear error for a file that is
    not a readable ``.npz``. For tools that rewrite a file and keep what they do not know."""
    return _read(path)


def write_arrays(path: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` (atomically: a failure leaves no file)."""
    _write(path, arrays)
