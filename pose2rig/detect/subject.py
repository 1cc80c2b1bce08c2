"""Keep following one subject when a detector could jump to someone else.

Which subject is followed:
    the first person the detector reports (for BlazePose: the person its detector ranks first on
    the first frame with anyone in it), then whoever the detector keeps tracking, as long as the
    track stays plausible.

The guard: every accepted detection sets an anchor, its torso centre (mid-point of pelvis and
thorax, i.e. of mid-hips and mid-shoulders) and torso height (pelvis to thorax). A detection
whose torso centre lies more than ``max_jump`` anchor torso heights from the anchor is taken for
another person (a tracker re-detecting after a lost track lands on whoever its detector ranks
first) and that frame is marked missing (NaN, confidence 0). The detector is then reset, when it
can be, so that the next frame searches the whole image again. The anchor does not move while
detections are rejected or nobody is seen; once ``reacquire_s`` seconds have passed without an
accepted detection, the old subject is taken to have left and the next person seen becomes the
subject (a warning names the frame). A subject who walks out of view and comes back elsewhere
within ``reacquire_s`` is lost for at most that long.
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
        max_jump: largest plausible move of the torso centre, in torso heights, between the last
            accepted detection and this one.
        reacquire_s: seconds without an accepted detection after which the next person seen
            becomes the subject.
    """

    def __init__(self, *, max_jump: float = 1.0, reacquire_s: float = 1.0) -> None:
        if not max_jump > 0:
            raise Pose2RigError(f"max_jump must be positive (torso heights), got {max_jump}")
        if not reacquire_s >= 0:
            raise Pose2RigError(f"reacquire_s must be zero or more seconds, got {reacquire_s}")
        self.max_jump = float(max_jump)
        self.reacquire_s = float(reacquire_s)
        self._centre: np.ndarray | None = None
        self._height = float("nan")
        self._time = float("-inf")
        self.rejected: list[int] = []
        self.switches: list[int] = []

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
        jump = float(np.linalg.norm(centre - self._centre))
        if np.isfinite(ref) and jump > self.max_jump * ref:
            if time_s - self._time <= self.reacquire_s:
                self.rejected.append(frame)
                log.debug("frame %d: torso moved %.1f torso heights; not the subject", frame,
                          jump / ref)
                return False
            self.switches.append(frame)
            log.warning(
                "frame %d: the subject was not seen for %.2f s; now following the person %.1f "
                "torso heights away", frame, time_s - self._time, jump / ref,
            )
        self._set(centre, height, time_s)
        return True

    def _set(self, centre: np.ndarray, height: float, time_s: float) -> None:
        self._centre = centre
        if np.isfinite(height) and height > 0:
            self._height = height
        self._time = float(time_s)
