"""The small interface a 2D pose backend implements, and what it returns per frame.

A backend is any object with a ``skeleton`` (the joint set of its points), a ``__call__`` that
takes one BGR image and its time and returns a :class:`Detection` (or ``None`` when nobody is
there), and ``close()``. Two optional members are used when present:

- ``identity: str`` names the backend, its version and its options; the detection cache is keyed
  on it, so change it whenever the output would change. Without it the class name is used.
- ``reset()`` forgets any tracking state, so the next frame is searched afresh.

Points come back in the backend's own joint set; :func:`pose2rig.detect.detect` maps them onto
Human3.6M-17 with :func:`pose2rig.skeletons.mapping_to_h36m17` (the registry of joint sets).
Adding, say, an RTMPose ONNX backend returning ``COCO17`` touches nothing outside this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.types import Skeleton


@dataclass(frozen=True)
class Detection:
    """One person's 2D joints in one image.

    Attributes:
        points: ``(J, 2)`` float32 pixel coordinates (x right, y down); NaN where missing.
        confidence: ``(J,)`` float32 in [0, 1]; 0 where ``points`` is missing.
        world: optional ``(J, 3)`` float32 metric 3D points the backend gives beside the 2D
            ones (BlazePose's world landmarks: metres, hip-centred, camera axes x right, y
            down, z away from the camera); NaN where missing.
    """

    points: np.ndarray
    confidence: np.ndarray
    world: np.ndarray | None = None

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float32)
        conf = np.array(self.confidence, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2 or conf.shape != pts.shape[:1]:
            raise Pose2RigError(
                f"Detection: expected points (J, 2) and confidence (J,), got {pts.shape} and "
                f"{conf.shape}"
            )
        missing = ~np.all(np.isfinite(pts), axis=-1)
        pts[missing] = np.nan
        conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        conf[missing] = 0.0
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "confidence", conf)
        if self.world is not None:
            world = np.array(self.world, dtype=np.float32)
            if world.shape != (pts.shape[0], 3):
                raise Pose2RigError(
                    f"Detection: expected world points ({pts.shape[0]}, 3), got {world.shape}"
                )
            world[~np.all(np.isfinite(world), axis=-1)] = np.nan
            object.__setattr__(self, "world", world)


@runtime_checkable
class Detector(Protocol):
    """A 2D pose backend: one image in, at most one person out."""

    skeleton: Skeleton

    def __call__(self, image_bgr: np.ndarray, time_s: float) -> Detection | None:
        """Detect the subject in ``image_bgr`` ``(H, W, 3)`` uint8 BGR shown at ``time_s``.

        Frames are passed in time order; a backend may track from one frame to the next.
        """
        ...

    def close(self) -> None:
        """Release the backend's resources."""
        ...


def detector_identity(detector: Detector) -> str:
    """A string naming ``detector``, its version and options (its ``identity`` when it has one)."""
    ident = getattr(detector, "identity", None)
    if isinstance(ident, str) and ident:
        return ident
    cls = type(detector)
    return f"{cls.__module__}.{cls.__qualname__}"
