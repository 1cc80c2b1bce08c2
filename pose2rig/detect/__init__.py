"""Video frames -> 2D keypoints (:class:`~pose2rig.types.Keypoints2D`, Human3.6M-17 order).

Backends sit behind the small :class:`Detector` protocol; the default is MediaPipe BlazePose
(:class:`MediaPipePoseDetector`). :func:`detect` maps any backend's joint set onto H36M17 and keeps
following one subject (:mod:`pose2rig.detect.subject`); :func:`detect_video` adds opening the
video and an on-disk cache.
"""

from __future__ import annotations

from pose2rig.detect.base import Detection, Detector, detector_identity
from pose2rig.detect.mediapipe import MediaPipePoseDetector
from pose2rig.detect.run import detect, detect_video
from pose2rig.detect.subject import SubjectGuard

__all__ = [
    "Detection",
    "Detector",
    "MediaPipePoseDetector",
    "SubjectGuard",
    "detect",
    "detect_video",
    "detector_identity",
]
