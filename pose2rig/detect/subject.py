"""Keep following one subject when a detector could jump to someone else.

Which subject is followed:
    the first person the detector reports (for BlazePose: the person its detector ranks first on
    the first frame with anyone in it), then whoever the detector keeps tracking, as long as the
    track stays plausible.

The guard: every accepted detection sets an anchor: its torso centre (mid-point of pelvis and
thorax, i.e. of mid-hips and mid-shoulders), torso height (pelvis to thorax) and time. A new
detection is the subject when its torso centre lies within
``max_jump + max_speed * (seconds since the anchor)`` anchor torso heights of the anchor: a fixed
allowance for one frame's motion and detector jitter, growing with the time the subject was not
seen (they may have moved meanwhile). A detection farther away is taken for another person (a
tracker that lost its subject re-detects whoever its detector ranks first): the frame is marked
missing (NaN, confidence 0), the detector is reset when it can be so that the next frame searches
the whole image again, and the detection starts or continues a *rival* track. Later detections
that continue the rival track (within the same allowance of the rival's last position) and are
not within ``max_jump`` of the anchor are rejected too, even once the growing allowance reaches
them, so a bystander is not taken for the returning subject. Once ``reacquire_s`` seconds have
passed without an accepted detection, the subject is taken to have left and the next person seen
becomes the subject (a warning names the frame).

Seen on ``sports2d_demo.mp4``: BlazePose loses a man mid-backflip (upside down) and jumps to a
woman walking below; the guard leaves those frames empty and takes the man back when he lands
about 1.1 s later, 5 torso heights from where he was lost.
"""

from __future__ import annotations

import logging

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import H36M17

log = logging.getLogger(__name__)

_PELVIS = H36M17.index("pelvis")
_THORAX = H36M17.index("thorax")


def torso_centre_and_height(points: np.ndarray) -> tuple[np.ndarray, float] | None:
    """``points (17, 2)`` in H36M17 order -> torso centre ``(2,)`` and height, or ``None``.

    Falls back to the mean of the finite points (height NaN) when pelvis or thorax is missing.
    """
    pelvis, thorax = points[_PELVIS], points[_THORAX]
    if np.all(np.isfinite(pelvis)) and np.all(np.isfinite(thorax)):
        return (pelvis + thorax) / 2.0, float(np.linalg.norm(thorax - pelvis))
    finite = np.all(np.isfinite(points), axis=-1)
    if not finite.any():
        return None
    return points[finite].mean(axis=0), float("nan")


class SubjectGuard:
    """Decides frame by frame whether a detection is the subject being followed.

    Args:
        max_jump: allowance, in torso heights, for the torso centre's move between consecutive
            accepted detections.
        max_speed: extra allowance, in torso heights per second, for the time since the last
            accepted detection.
        reacquire_s: seconds without an accepted detection after which the next person seen
            becomes the subject.
    """

    def __init__(
        self, *, max_jump: float = 1.0, max_speed: float = 5.0, reacquire_s: float = 2.0
    ) -> None:
        if not max_jump > 0:
            raise Pose2RigError(f"max_jump must be positive (torso heights), got {max_jump}")
        if not max_speed >= 0:
            raise Pose2RigError(
                f"max_speed must be zero or more (torso heights per second), got {max_speed}"
            )
        if not reacquire_s >= 0:
            raise Pose2RigError(f"reacquire_s must be zero or more seconds, got {reacquire_s}")
        self.max_jump = float(max_jump)
        self.max_speed = float(max_speed)
        self.reacquire_s = float(reacquire_s)
        self._centre: np.ndarray | None = None
        self._height = float("nan")
        self._time = float("-inf")
        self._rival: tuple[np.ndarray, float, float] | None = None  # centre, height, time
        self.rejected: list[int] = []
        self.switches: list[int] = []

    def _allowance(self, dt: float) -> float:
        return self.max_jump + self.max_speed * max(dt, 0.0)

    def accept(self, points_h36m: np.ndarray, *, time_s: float, frame: int = -1) -> bool:
        """Whether ``points_h36m (17, 2)`` seen at ``time_s`` belong to the subject.

        Updates the anchor when they do; records ``frame`` in ``rejected`` or ``switches``.
        """
        torso = torso_centre_and_height(np.asarray(points_h36m, dtype=np.float64))
        if torso is None:
            return False
        centre, height = torso
        if self._centre is None:
            self._set(centre, height, time_s)
            return True
        ref = self._height if np.isfinite(self._height) else height
        if not np.isfinite(ref) or ref <= 0:
            self._set(centre, height, time_s)
            return True
        gap = time_s - self._time
        jump = float(np.linalg.norm(centre - self._centre)) / ref
        rival = self._continues_rival(centre, height, time_s)
        if jump <= self.max_jump or (jump <= self._allowance(gap) and not rival):
            self._set(centre, height, time_s)
            return True
        if gap > self.reacquire_s:
            self.switches.append(frame)
            log.warning(
                "frame %d: the subject was not seen for %.2f s; now following the person %.1f "
                "torso heights away", frame, gap, jump,
            )
            self._set(centre, height, time_s)
            return True
        self.rejected.append(frame)
        self._rival = (centre, height if np.isfinite(height) else ref, float(time_s))
        log.debug("frame %d: torso %.1f torso heights from the subject; not the subject", frame,
                  jump)
        return False

    def _continues_rival(self, centre: np.ndarray, height: float, time_s: float) -> bool:
        if self._rival is None:
            return False
        r_centre, r_height, r_time = self._rival
        dist = float(np.linalg.norm(centre - r_centre)) / r_height
        return dist <= self._allowance(time_s - r_time)

    def _set(self, centre: np.ndarray, height: float, time_s: float) -> None:
        self._centre = centre
        if np.isfinite(height) and height > 0:
            self._height = height
        self._time = float(time_s)
        self._rival = None
