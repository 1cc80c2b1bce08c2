"""Fill short runs of missing frames by linear interpolation in time."""

from __future__ import annotations

import numpy as np

from pose2rig.clean._common import (
    Track,
    confidence_of,
    finite_runs,
    points_of,
    with_points,
)
from pose2rig.errors import Pose2RigError
from pose2rig.options import CleanOptions

FILLED_CONFIDENCE_FACTOR = 0.5
"""A filled joint's confidence is the lower confidence of the two ends times this factor."""


def fill_gaps_array(
    points: np.ndarray,
    confidence: np.ndarray,
    timestamps: np.ndarray,
    *,
    max_gap: float = CleanOptions.max_gap,
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate runs of missing frames per joint, linearly in time.

    A gap is bridged when the time between the valid frames on its two sides is at most
    ``max_gap`` seconds. Leading and trailing gaps (no valid frame on one side) and longer gaps
    stay NaN. A filled joint gets confidence ``min(c_before, c_after) * 0.5`` so that later
    stages can tell it was not seen.

    Args:
        points: ``(T, J, D)`` coordinates, NaN where missing (a joint is missing when any of
            its coordinates is NaN).
        confidence: ``(T, J)`` in [0, 1].
        timestamps: ``(T,)`` seconds, strictly increasing.
        max_gap: longest bridged gap, seconds.

    Returns:
        ``(T, J, D)`` float32 points and ``(T, J)`` float32 confidence (new arrays).
    """
    p = np.array(points, dtype=np.float64)
    c = np.array(confidence, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    if p.ndim != 3 or c.shape != p.shape[:2] or t.shape != p.shape[:1]:
        raise Pose2RigError(
            "fill_gaps: expected points (T, J, D), confidence (T, J) and timestamps (T,), got "
            f"{p.shape}, {c.shape} and {t.shape}"
        )
    if not max_gap >= 0:
        raise Pose2RigError(f"fill_gaps: max_gap must be >= 0 seconds, got {max_gap}")
    valid = np.all(np.isfinite(p), axis=-1)
    for j in range(p.shape[1]):
        runs = finite_runs(~valid[:, j])
        for start, stop in runs:
            before, after = start - 1, stop
            if before < 0 or after >= len(t) or t[after] - t[before] > max_gap + 1e-9:
                continue
            w = ((t[start:stop] - t[before]) / (t[after] - t[before]))[:, None]
            p[start:stop, j] = (1.0 - w) * p[before, j] + w * p[after, j]
            c[start:stop, j] = FILLED_CONFIDENCE_FACTOR * min(c[before, j], c[after, j])
    return p.astype(np.float32), c.astype(np.float32)


def fill_gaps(x: Track, *, max_gap: float = CleanOptions.max_gap) -> Track:
    """Fill short gaps of a :class:`Keypoints2D` or :class:`PoseSequence`; see
    :func:`fill_gaps_array`. Returns a new object of the same type; ``x`` is not changed.
    ``landmarks33`` is carried along unchanged."""
    p = points_of(x, "fill_gaps")
    filled, conf = fill_gaps_array(p, confidence_of(x), x.timestamps, max_gap=max_gap)
    return with_points(x, filled, conf)
