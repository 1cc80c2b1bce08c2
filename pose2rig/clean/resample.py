"""Resample onto a uniform time grid (variable frame rate in, constant frame rate out)."""

from __future__ import annotations

import numpy as np

from pose2rig.clean._common import Track, confidence_of, points_of, with_points
from pose2rig.errors import Pose2RigError

_TIME_TOL = 1e-6  # seconds; grid times this close to a sample take the sample itself


def uniform_times(timestamps: np.ndarray, fps: float) -> np.ndarray:
    """``(N,)`` float64 times ``t0 + k / fps`` from the first timestamp up to the last."""
    t = np.asarray(timestamps, dtype=np.float64)
    if not (np.isfinite(fps) and fps > 0):
        raise Pose2RigError(f"resample: fps must be a positive number, got {fps}")
    if t.size == 0:
        return t.copy()
    n = int(np.floor((t[-1] - t[0]) * fps + _TIME_TOL * fps)) + 1
    return t[0] + np.arange(n) / fps


def interpolate_at(values: np.ndarray, timestamps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values (T, ...)`` sampled at ``timestamps`` onto ``times (N,)``.

    A result is NaN when either neighbouring sample is NaN, except at a time that coincides
    with a sample (within 1 microsecond), which takes that sample. Times outside the samples'
    range are NaN. Returns ``(N, ...)`` float64.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    q = np.asarray(times, dtype=np.float64)
    out = np.full((q.size,) + v.shape[1:], np.nan)
    if t.size == 0:
        return out
    i = np.clip(np.searchsorted(t, q, side="right") - 1, 0, max(t.size - 2, 0))
    inside = (q >= t[0] - _TIME_TOL) & (q <= t[-1] + _TIME_TOL)
    if t.size == 1:
        out[inside] = v[0]
        return out
    t0, t1 = t[i], t[i + 1]
    w = np.clip((q - t0) / (t1 - t0), 0.0, 1.0)
    shape = (-1,) + (1,) * (v.ndim - 1)
    w = w.reshape(shape)
    out[:] = (1.0 - w) * v[i] + w * v[i + 1]
    at_left = (np.abs(q - t0) <= _TIME_TOL).reshape(shape)
    at_right = (np.abs(q - t1) <= _TIME_TOL).reshape(shape)
    out = np.where(at_left, v[i], np.where(at_right, v[i + 1], out))
    out[~inside] = np.nan
    return out


def resample_array(
    points: np.ndarray, confidence: np.ndarray, timestamps: np.ndarray, *, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample ``points (T, J, D)`` and ``confidence (T, J)`` onto a uniform grid at ``fps``.

    The grid starts at the first timestamp and ends at or before the last. Interpolation is
    linear; a joint missing at either neighbouring sample is missing (NaN, confidence 0).

    Returns:
        ``(N, J, D)`` float32 points, ``(N, J)`` float32 confidence, ``(N,)`` float64 times.
    """
    p = np.asarray(points, dtype=np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    if p.ndim != 3 or c.shape != p.shape[:2] or t.shape != p.shape[:1]:
        raise Pose2RigError(
            "resample: expected points (T, J, D), confidence (T, J) and timestamps (T,), got "
            f"{p.shape}, {c.shape} and {t.shape}"
        )
    times = uniform_times(t, fps)
    new_p = interpolate_at(p, t, times)
    missing = ~np.all(np.isfinite(new_p), axis=-1)
    new_p[missing] = np.nan
    new_c = interpolate_at(c, t, times)
    new_c[missing] = 0.0
    return new_p.astype(np.float32), new_c.astype(np.float32), times


def resample(x: Track, *, fps: float) -> Track:
    """Resample a :class:`Keypoints2D` or :class:`PoseSequence` onto a uniform grid at ``fps``
    (see :func:`resample_array`); ``fps`` and ``timestamps`` of the result describe the grid,
    and ``landmarks33`` (and a :class:`Keypoints2D`'s ``world33``) are resampled alongside.
    Returns a new object; ``x`` is not changed."""
    p = points_of(x, "resample")
    new_p, new_c, times = resample_array(p, confidence_of(x), x.timestamps, fps=fps)
    changes: dict[str, object] = {"timestamps": times, "fps": float(fps)}
    for name in ("landmarks33", "world33"):
        if getattr(x, name, None) is not None:
            changes[name] = interpolate_at(getattr(x, name), x.timestamps, times).astype(np.float32)
    return with_points(x, new_p, new_c, **changes)
