"""Frames -> :class:`~pose2rig.types.Keypoints2D` in Human3.6M-17 order."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pose2rig.detect.base import Detector, detector_identity
from pose2rig.detect.cache import cache_key, load_cache, save_cache
from pose2rig.detect.subject import SubjectGuard
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.options import DetectOptions
from pose2rig.progress import Progress, progress_bar
from pose2rig.skeletons import H36M17, map_points, mapping_to_h36m17
from pose2rig.types import Keypoints2D

if TYPE_CHECKING:
    from pose2rig.video import Frame

log = logging.getLogger(__name__)


def detect(
    frames: Iterable[Frame],
    *,
    image_size: tuple[int, int],
    fps: float,
    detector: Detector | None = None,
    total: int | None = None,
    max_jump: float = 1.0,
    max_speed: float = 5.0,
    reacquire_s: float = 2.0,
    min_detection_confidence: float = DetectOptions.min_detection_confidence,
    progress: Progress = True,
) -> Keypoints2D:
    """Detect the subject's 2D joints in every frame.

    Args:
        frames: objects with ``index``, ``time`` (seconds) and ``image`` ``(H, W, 3)`` uint8 BGR,
            in time order (as :func:`pose2rig.video.open_video` yields them).
        image_size: ``(width, height)`` of every image.
        fps: nominal frame rate, stored in the result.
        detector: the backend; a new :class:`MediaPipePoseDetector` (closed afterwards) when
            ``None``. A detector passed in is not closed.
        total: number of frames, for the progress bar only.
        max_jump, max_speed, reacquire_s: the subject guard, see :mod:`pose2rig.detect.subject`.
        min_detection_confidence: the person detector's score needed to find the subject, for
            the detector made here (a detector passed in keeps its own).
        progress: a progress bar (True), silence (False) or a callback (:mod:`pose2rig.progress`).

    Returns:
        ``Keypoints2D`` with ``keypoints (T, 17, 2)`` and ``confidence (T, 17)`` in H36M17 order,
        ``timestamps`` the frames' times and, for a ``mediapipe33`` detector, ``landmarks33
        (T, 33, 3)`` (x px, y px, confidence) and, when the detector gives them, ``world33
        (T, 33, 3)`` (its metric world landmarks, see :class:`~pose2rig.types.Keypoints2D`).
        Frames without the subject are NaN, confidence 0.

    Raises:
        Pose2RigError: no frames, an image of the wrong size, or nobody in any frame (an
            :class:`~pose2rig.errors.ArgumentError` naming ``start``, ``end`` and, where the
            detector has one, ``min_detection_confidence``).
    """
    own = detector is None
    if detector is None:
        from pose2rig.detect.mediapipe import MediaPipePoseDetector

        detector = MediaPipePoseDetector(min_detection_confidence=min_detection_confidence)
    try:
        return _detect(
            frames, image_size=image_size, fps=fps, detector=detector, total=total,
            guard=SubjectGuard(max_jump=max_jump, max_speed=max_speed, reacquire_s=reacquire_s),
            progress=progress,
        )
    finally:
        if own:
            detector.close()


def _detect(
    frames: Iterable[Frame],
    *,
    image_size: tuple[int, int],
    fps: float,
    detector: Detector,
    total: int | None,
    guard: SubjectGuard,
    progress: Progress,
) -> Keypoints2D:
    src = detector.skeleton
    mapping = mapping_to_h36m17(src, what=f"detector {detector_identity(detector)}")
    keep33 = src.name == "mediapipe33"
    w, h = (int(v) for v in image_size)
    reset = getattr(detector, "reset", None)
    kps, confs, lms, worlds, times = [], [], [], [], []
    no_world = np.full((src.num_joints, 3), np.nan, np.float32)
    has_world = False
    nobody = np.full((H36M17.num_joints, 2), np.nan, np.float32)
    seen = 0
    for frame in progress_bar(frames, total=total, progress=progress, desc="detect 2D"):
        img = frame.image
        if img.ndim != 3 or img.shape[:2] != (h, w):
            raise Pose2RigError(
                f"frame {frame.index}: expected a ({h}, {w}, 3) image, got {img.shape}"
            )
        det = detector(img, float(frame.time))
        times.append(float(frame.time))
        if det is not None and det.points.shape != (src.num_joints, 2):
            raise Pose2RigError(
                f"detector {detector_identity(detector)}: expected {src.num_joints} points for "
                f"{src.name}, got {det.points.shape}"
            )
        if det is not None:
            seen += 1
            if mapping is None:
                pts, conf = det.points, det.confidence
            else:
                p, c = map_points(det.points[None], det.confidence[None], mapping)
                pts, conf = p[0], c[0]
            if not guard.accept(pts, time_s=float(frame.time), frame=int(frame.index)):
                det = None
                if callable(reset):
                    reset()
        if det is None:
            kps.append(nobody)
            confs.append(np.zeros(H36M17.num_joints, np.float32))
            if keep33:
                lms.append(np.full((src.num_joints, 3), np.nan, np.float32))
                worlds.append(no_world)
            continue
        kps.append(pts)
        confs.append(conf)
        if keep33:
            lms.append(np.concatenate([det.points, det.confidence[:, None]], axis=1))
            worlds.append(no_world if det.world is None else det.world)
            has_world = has_world or det.world is not None
    n = len(times)
    if n == 0:
        raise Pose2RigError(
            "no frames to detect people in: the video (or the chosen range) is empty"
        )
    if seen == 0:
        hint = "check the video and the {start}/{end} range"
        threshold = getattr(detector, "min_detection_confidence", None)
        if isinstance(threshold, (int, float)) and threshold > 0:
            hint += f"; a small or distant person may need a lower {{min_detection_confidence}} (now {threshold:g})"
        raise ArgumentError(
            f"no person detected in any of the {n} frames; expected one person in view ({hint})",
            "start", "end", "min_detection_confidence",
        )
    if guard.rejected:
        warnings.warn(
            f"{len(guard.rejected)} of {n} frames showed someone far from the subject and were "
            f"left out as another person (first at frame {guard.rejected[0]})",
            stacklevel=3,
        )
    missing = n - seen + len(guard.rejected)
    log.info("detected the subject in %d of %d frames", n - missing, n)
    return Keypoints2D(
        keypoints=np.stack(kps),
        confidence=np.stack(confs),
        skeleton=H36M17,
        image_size=(w, h),
        fps=fps,
        timestamps=np.asarray(times),
        landmarks33=np.stack(lms) if keep33 else None,
        world33=np.stack(worlds) if keep33 and has_world else None,
    )


def detect_video(
    path: str | os.PathLike[str],
    *,
    start: float | None = None,
    end: float | None = None,
    mirror: bool = False,
    cache: str | os.PathLike[str] | None = None,
    detector: Detector | None = None,
    max_jump: float = 1.0,
    max_speed: float = 5.0,
    reacquire_s: float = 2.0,
    min_detection_confidence: float = DetectOptions.min_detection_confidence,
    progress: Progress = True,
) -> Keypoints2D:
    """Open the video at ``path`` and :func:`detect` the subject in it.

    ``start``, ``end`` and ``mirror`` are passed to :func:`pose2rig.video.open_video`;
    ``min_detection_confidence`` to the :class:`MediaPipePoseDetector` made when ``detector`` is
    None (it is part of the detector's identity, so the cache tells the settings apart). When
    ``cache`` names an ``.npz`` file made for the same video (path, size, modification time),
    range, mirroring, detector identity and guard settings, it is returned without running the
    detector; otherwise the result is computed and written there atomically.
    """
    from pose2rig.video import open_video, prefetch

    path = Path(path)
    if not path.is_file():
        raise Pose2RigError(f"video {path} not found (expected a video file)")
    own = detector is None
    if detector is None:
        from pose2rig.detect.mediapipe import MediaPipePoseDetector

        detector = MediaPipePoseDetector(min_detection_confidence=min_detection_confidence)
    try:
        if cache is not None:
            key = cache_key(
                path, start=start, end=end, mirror=mirror, detector=detector_identity(detector),
                max_jump=max_jump, max_speed=max_speed, reacquire_s=reacquire_s,
            )
            hit = load_cache(cache, key)
            if hit is not None:
                log.info("2D keypoints read from cache %s", cache)
                return hit
        with open_video(path, start=start, end=end, mirror=mirror) as video:
            info = video.info
            kp = _detect(
                prefetch(video), image_size=(info.width, info.height), fps=info.fps, detector=detector,
                total=len(video) if hasattr(video, "__len__") else None,
                guard=SubjectGuard(
                    max_jump=max_jump, max_speed=max_speed, reacquire_s=reacquire_s
                ),
                progress=progress,
            )
        if cache is not None:
            save_cache(cache, key, kp)
        return kp
    finally:
        if own:
            detector.close()

