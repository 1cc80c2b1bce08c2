"""MediaPipe BlazePose (legacy ``mp.solutions.pose``) as a :class:`~pose2rig.detect.base.Detector`.

Runs BlazePose GHUM full (``model_complexity=1``; the lite and heavy models are downloaded on
first use, so they are not offered) in video mode: the first frame, and any frame after the track
is lost, runs the person detector; later frames reuse the region of interest found from the
previous frame's landmarks. BlazePose follows one person: on a detection frame it takes the person
its detector ranks first. :func:`pose2rig.detect.detect` adds a guard against jumps to another
person (see :mod:`pose2rig.detect.subject`).

Convention:
    - Input is OpenCV's BGR; MediaPipe gets RGB.
    - Points are pixels: MediaPipe's normalised x, y times the image width, height.
    - Confidence is ``visibility * presence``: visibility is the likelihood that the landmark is
      in view and not occluded, presence that it lies inside the image. The legacy ``Pose.process``
      clears presence, so frames are sent through the base ``SolutionBase.process`` to keep it.
    - The one-euro landmark filter is fed the frames' real timestamps (the legacy API otherwise
      assumes 30 fps), so smoothing means the same at 5 fps and at 60 fps.
    - ``Detection.world`` is the same run's ``pose_world_landmarks``: metres, origin at the
      mid-point of the hips, x right, y down and z away from the camera (checked on
      ``tfjs_pose_squats.mp4``: her left shoulder, on the image's right, has the larger x, her
      nose a smaller y than her ankles and, facing the camera, a smaller z than her hips), i.e.
      OpenCV's camera axes, kept as they come.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pose2rig.detect.base import Detection
from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import MEDIAPIPE33

log = logging.getLogger(__name__)

_MODEL_COMPLEXITY = 1
_LEGACY_STEP_US = 33333  # SolutionBase.process adds this to its simulated timestamp


class MediaPipePoseDetector:
    """BlazePose full (33 landmarks) in tracking mode; one instance per video.

    The MediaPipe graph is built on the first frame, so constructing one is cheap.

    Args:
        min_detection_confidence: person detector score needed to start a track, in [0, 1].
        min_tracking_confidence: landmark score needed to keep the track; below it the next
            frame runs the person detector again.
        smooth_landmarks: MediaPipe's one-euro filter on the landmarks across frames.
    """

    skeleton = MEDIAPIPE33

    def __init__(
        self,
        *,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        smooth_landmarks: bool = True,
    ) -> None:
        for name, v in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
        ):
            if not 0.0 <= float(v) <= 1.0:
                raise Pose2RigError(f"{name} must be between 0 and 1, got {v}")
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.smooth_landmarks = bool(smooth_landmarks)
        self._pose = None
        self._last_us: int | None = None

    @property
    def identity(self) -> str:
        import mediapipe as mp

        return (
            f"mediapipe-pose-legacy {mp.__version__} complexity={_MODEL_COMPLEXITY} "
            f"det={self.min_detection_confidence:g} track={self.min_tracking_confidence:g} "
            f"smooth={self.smooth_landmarks} conf=visibility*presence time=real"
        )

    def _graph(self):
        if self._pose is None:
            import mediapipe as mp

            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=_MODEL_COMPLEXITY,
                smooth_landmarks=self.smooth_landmarks,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        return self._pose

    def __call__(self, image_bgr: np.ndarray, time_s: float) -> Detection | None:
        """``image_bgr`` ``(H, W, 3)`` uint8 -> 33 landmarks in pixels, or ``None``."""
        img = np.asarray(image_bgr)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise Pose2RigError(
                f"MediaPipePoseDetector: expected an (H, W, 3) uint8 BGR image, got "
                f"{img.shape} {img.dtype}"
            )
        from mediapipe.python.solution_base import SolutionBase

        pose = self._graph()
        # Feed the real time: the graph needs strictly increasing timestamps.
        t_us = int(round(float(time_s) * 1e6))
        if self._last_us is not None and t_us <= self._last_us:
            t_us = self._last_us + 1
        self._last_us = t_us
        if hasattr(pose, "_simulated_timestamp"):
            pose._simulated_timestamp = t_us - _LEGACY_STEP_US
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)  # 0.7 ms; a numpy channel flip takes 9 ms
        result = SolutionBase.process(pose, {"image": rgb})
        if result.pose_landmarks is None:
            return None
        h, w = img.shape[:2]
        lm = result.pose_landmarks.landmark
        arr = np.array(
            [
                (p.x, p.y, p.visibility, p.presence if p.HasField("presence") else 1.0)
                for p in lm
            ],
            dtype=np.float64,
        )
        points = arr[:, :2] * (w, h)
        world = None
        if result.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
        return Detection(points=points, confidence=arr[:, 2] * arr[:, 3], world=world)

    def reset(self) -> None:
        """Drop the track: the next frame runs the person detector on the whole image."""
        if self._pose is not None:
            self._pose.reset()
            self._last_us = None  # a new graph run may restart its clock

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> MediaPipePoseDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
