"""Core types that the stages pass to each other.

All three are frozen dataclasses that validate their arrays on construction, so a stage never
receives a malformed value from another. Arrays are numpy, float32 unless stated.

Convention:
    - Units: metres for 3D, pixels for 2D, seconds for time.
    - Missing data: NaN coordinates with confidence 0, never a zero coordinate.
    - Camera frame (``space="camera"``): OpenCV axes, x right, y down, z forward.
    - World frame (``space="world"``): right-handed, Y up, floor at y = 0, subject facing +Z at
      the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.options import LiftOptions, check_fov

Space = Literal["camera", "world"]


@dataclass(frozen=True)
class Skeleton:
    """A named joint hierarchy. Never mutated: derive a new one instead.

    Attributes:
        name: the joint set's name, e.g. ``"h36m17"``.
        joint_names: one unique name per joint.
        parents: index of each joint's parent, ``-1`` for the root. Parents precede children.
        mirror: index of each joint's left/right twin (itself for joints on the mid-line).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    mirror: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(set(self.joint_names)) != n:
            raise Pose2RigError(f"skeleton {self.name!r}: joint names are not unique")
        if len(self.parents) != n or len(self.mirror) != n:
            raise Pose2RigError(
                f"skeleton {self.name!r}: {n} names but {len(self.parents)} parents and "
                f"{len(self.mirror)} mirrors"
            )
        roots = [i for i, p in enumerate(self.parents) if p == -1]
        if len(roots) != 1:
            raise Pose2RigError(f"skeleton {self.name!r}: expected one root, found {len(roots)}")
        for i, p in enumerate(self.parents):
            if p >= i:
                raise Pose2RigError(
                    f"skeleton {self.name!r}: parent of joint {i} is {p}; parents must precede "
                    "their children"
                )
        for i, m in enumerate(self.mirror):
            if not 0 <= m < n or self.mirror[m] != i:
                raise Pose2RigError(f"skeleton {self.name!r}: mirror of joint {i} is not an involution")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, name: str) -> int:
        """Index of joint ``name``; raises :class:`Pose2RigError` naming the joints there are."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise Pose2RigError(
                f"skeleton {self.name!r} has no joint {name!r}; it has {', '.join(self.joint_names)}"
            ) from None

    def children(self, joint: int) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(self.parents) if p == joint)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """``(parent, child)`` pairs, in joint order."""
        return tuple((p, i) for i, p in enumerate(self.parents) if p >= 0)


def _as_float32(name: str, value: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise Pose2RigError(f"{name}: expected shape {want}, got {arr.shape}")
    return arr


def _check_times(name: str, timestamps: np.ndarray, frames: int) -> np.ndarray:
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.shape != (frames,):
        raise Pose2RigError(f"{name}: expected {frames} timestamps, got shape {ts.shape}")
    if not np.all(np.isfinite(ts)):
        raise Pose2RigError(f"{name}: timestamps contain NaN or infinity")
    if frames > 1 and np.any(np.diff(ts) <= 0):
        raise Pose2RigError(f"{name}: timestamps must increase strictly")
    return ts


def _check_fps(name: str, fps: float) -> float:
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise Pose2RigError(f"{name}: fps must be a positive number, got {fps}")
    return fps


@dataclass(frozen=True)
class Keypoints2D:
    """2D joints detected in a video.

    Attributes:
        keypoints: ``(T, J, 2)`` float32 pixel coordinates (x right, y down); NaN where missing.
        confidence: ``(T, J)`` float32 in [0, 1]; 0 where missing.
        skeleton: the joint set of ``keypoints``.
        image_size: ``(width, height)`` in pixels, after any rotation the video asks for.
        fps: nominal frame rate.
        timestamps: ``(T,)`` float64 seconds of each frame (variable-rate clips are uneven).
        landmarks33: optional ``(T, 33, 3)`` float32 MediaPipe landmarks: x, y pixels and
            visibility in [0, 1]; NaN coordinates where missing.
        world33: optional ``(T, 33, 3)`` float32 MediaPipe's world landmarks from the same run
            (BlazePose's ``pose_world_landmarks``): metres, oriented as the camera sees the
            subject (x right, y down, z away from the camera: OpenCV's axes, kept as they
            come) but centred on the mid-point of the hips, not placed at the subject's
            distance; NaN on the frames without the subject. Human3.6M-17 joints from them:
            :func:`pose2rig.skeletons.world_landmarks_to_h36m17`.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    skeleton: Skeleton
    image_size: tuple[int, int]
    fps: float
    timestamps: np.ndarray
    landmarks33: np.ndarray | None = None
    world33: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        j = self.skeleton.num_joints
        kp = _as_float32("keypoints", self.keypoints, (None, j, 2))
        t = kp.shape[0]
        conf = _as_float32("confidence", self.confidence, (t, j))
        missing = ~np.all(np.isfinite(kp), axis=-1)
        kp = kp.copy()
        conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        kp[missing] = np.nan
        conf[missing] = 0.0
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "confidence", conf)
        w, h = (int(v) for v in self.image_size)
        if w <= 0 or h <= 0:
            raise Pose2RigError(f"image_size must be positive [width, height], got {self.image_size}")
        object.__setattr__(self, "image_size", (w, h))
        object.__setattr__(self, "fps", _check_fps("Keypoints2D", self.fps))
        object.__setattr__(self, "timestamps", _check_times("Keypoints2D", self.timestamps, t))
        if self.landmarks33 is not None:
            object.__setattr__(
                self, "landmarks33", _as_float32("landmarks33", self.landmarks33, (t, 33, 3))
            )
        if self.world33 is not None:
            world = _as_float32("world33", self.world33, (t, 33, 3)).copy()
            world[~np.all(np.isfinite(world), axis=-1)] = np.nan
            object.__setattr__(self, "world33", world)

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])


@dataclass(frozen=True)
class Camera:
    """A static pinhole camera.

    Attributes:
        matrix: ``(3, 3)`` intrinsics K (OpenCV convention), in pixels.
        image_size: ``(width, height)`` in pixels.
    """

    matrix: np.ndarray
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        k = np.asarray(self.matrix, dtype=np.float64)
        if k.shape != (3, 3) or not np.all(np.isfinite(k)):
            raise Pose2RigError(f"camera matrix: expected a finite (3, 3) array, got {k.shape}")
        object.__setattr__(self, "matrix", k)
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    @classmethod
    def from_fov(cls, image_size: tuple[int, int], fov_deg: float = LiftOptions.fov) -> Camera:
        """Pinhole camera with horizontal field of view ``fov_deg``, principal point at the centre."""
        check_fov(fov_deg)
        w, h = image_size
        f = 0.5 * w / np.tan(np.radians(fov_deg) / 2)
        k = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1.0]])
        return cls(k, (w, h))

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project camera-frame points ``(..., 3)`` to pixels ``(..., 2)``."""
        p = np.asarray(points, dtype=np.float64)
        uvw = p @ self.matrix.T
        return (uvw[..., :2] / uvw[..., 2:3]).astype(np.float32)


@dataclass(frozen=True)
class PoseSequence:
    """3D joints over time.

    Attributes:
        joints: ``(T, J, 3)`` float32 metres; NaN where missing.
        skeleton: the joint set of ``joints``.
        fps: frame rate of the sequence.
        timestamps: ``(T,)`` float64 seconds.
        space: ``"camera"`` (OpenCV axes, absolute, reprojects through ``camera``) or
            ``"world"`` (Y up, floor at 0, facing +Z).
        confidence: ``(T, J)`` float32 in [0, 1]; defaults to 1 where joints are finite.
        camera: the camera the joints were seen from, when known.
        landmarks33: optional ``(T, 33, 3)`` 2D MediaPipe landmarks carried along for later
            stages (feet and hands); see :class:`Keypoints2D`.
    """

    joints: np.ndarray
    skeleton: Skeleton
    fps: float
    timestamps: np.ndarray
    space: Space = "world"
    confidence: np.ndarray | None = None
    camera: Camera | None = None
    landmarks33: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        joints = _as_float32("joints", self.joints, (None, self.skeleton.num_joints, 3))
        t = joints.shape[0]
        if self.space not in ("camera", "world"):
            raise Pose2RigError(f"space must be 'camera' or 'world', got {self.space!r}")
        finite = np.all(np.isfinite(joints), axis=-1)
        if self.confidence is None:
            conf = finite.astype(np.float32)
        else:
            conf = _as_float32("confidence", self.confidence, (t, self.skeleton.num_joints)).copy()
            conf[~finite] = 0.0
        joints = joints.copy()
        joints[~finite] = np.nan
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "fps", _check_fps("PoseSequence", self.fps))
        object.__setattr__(self, "timestamps", _check_times("PoseSequence", self.timestamps, t))
        if self.landmarks33 is not None:
            object.__setattr__(
                self, "landmarks33", _as_float32("landmarks33", self.landmarks33, (t, 33, 3))
            )

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def replace(self, **changes: Any) -> PoseSequence:
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)
