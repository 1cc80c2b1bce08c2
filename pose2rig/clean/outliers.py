"""Outlier frames: short runs of implausible poses, and root positions no person could reach.

:func:`implausible_frames` and :func:`root_speed_outliers` only return a mask of the frames to
repair; the flow sets those frames to NaN and refills them with the gap filler (in rotation space),
so a marked frame is treated exactly like a dropped one.

Convention:
    - ``logits``: ``(T,)`` the lifter's mean discriminator logit per frame
      (:func:`pose2rig.lift.plausibility.plausibility`, which the flow computes and passes in:
      this module is numpy only). ``scores``: ``(T,)`` per-frame plausibility, higher is more
      plausible: :func:`plausibility_scores` (the logit and the frame's temporal residual, as
      robust z-scores), or the logits themselves. NaN: a frame with no score (a missing pose).
    - ``joints``: ``(T, J, 3)`` metres (any metric frame), NaN rows for missing frames.
    - ``root``: ``(T, 3)`` metres, any frame whose axes are metric (world or camera); NaN rows are
      missing frames. ``fps``: frames per second of a constant-rate clip.
    - Masks are ``(T,)`` bool, True on frames to repair; NaN frames are never marked.
"""

from __future__ import annotations

import numbers

import numpy as np

from pose2rig.clean._common import finite_runs
from pose2rig.errors import ArgumentError, Pose2RigError

PLAUSIBILITY_MAD_K = 3.0
"""The default threshold of :func:`implausible_frames`: the clip's median score minus this many
(normal-consistent) median absolute deviations."""
PLAUSIBILITY_MAX_RUN = 5
"""Runs of at most this many frames below the threshold are outliers; longer runs are left (a long
unusual move is not an outlier)."""
ROOT_MAX_SPEED = 10.0
"""Metres per second: a root faster than this from one frame to the next is a jump no person makes."""
ROOT_MAX_JUMP_RUN = 0.5
"""Seconds: :func:`root_speed_outliers` marks runs of at most this long cut off by jumps."""

RESIDUAL_WEIGHT = 0.5
"""How much the temporal residual counts against the discriminator logit in
:func:`plausibility_scores` (both as robust z-scores); chosen on the CMU tuning set."""

_MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution is 0.6745 sigma


def _robust_z(v: np.ndarray) -> np.ndarray:
    """``(v - median) / (1.4826 MAD)`` over the finite entries; NaN stays NaN. A zero MAD (every
    value equal) gives zeros where ``v`` equals the median and +-inf elsewhere."""
    finite = np.isfinite(v)
    out = np.full(v.shape, np.nan)
    if not finite.any():
        return out
    med = float(np.median(v[finite]))
    mad = _MAD_TO_SIGMA * float(np.median(np.abs(v[finite] - med)))
    dev = v[finite] - med
    with np.errstate(divide="ignore", invalid="ignore"):
        out[finite] = np.where(dev == 0, 0.0, dev / mad) if mad > 0 else np.where(dev == 0, 0.0, np.sign(dev) * np.inf)
    return out


def temporal_residual(joints: np.ndarray) -> np.ndarray:
    """How far each frame's worst joint lies from its neighbours: ``(T, J, D)`` -> ``(T,)``.

    For each present frame (all joints finite) with a present frame on each side, the largest
    over joints of the distance between the joint and its linear interpolation in time between
    the nearest present frames before and after (in the joints' units). NaN for missing frames
    and for the first and last present frames.
    """
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3:
        raise Pose2RigError(f"temporal_residual: expected joints (T, J, D), got {x.shape}")
    out = np.full(x.shape[0], np.nan)
    idx = np.flatnonzero(np.all(np.isfinite(x), axis=(1, 2)))
    if idx.size < 3:
        return out
    a, i, b = idx[:-2], idx[1:-1], idx[2:]
    w = ((b - i) / (b - a))[:, None, None]
    pred = w * x[a] + (1.0 - w) * x[b]
    out[i] = np.max(np.linalg.norm(x[i] - pred, axis=-1), axis=-1)
    return out


def plausibility_scores(
    logits: np.ndarray, joints: np.ndarray, *, residual_weight: float = RESIDUAL_WEIGHT
) -> np.ndarray:
    """Each frame's plausibility from the discriminator and from temporal consistency.

    ``z(logit) - residual_weight * z(temporal_residual(joints))``, with ``z`` the clip's robust
    z-score (median and normal-consistent MAD over the clip's finite values). Higher is more
    plausible: a pose the discriminator takes for a real person's, where it is expected from its
    neighbours. Where the residual is not defined (the first and last present frames) only the
    logit counts.

    Args:
        logits: ``(T,)`` the lifter's mean discriminator logit per frame
            (:func:`pose2rig.lift.plausibility.plausibility`); NaN for no score.
        joints: ``(T, J, 3)`` the joints that were scored (any metric frame).
        residual_weight: 0 for the discriminator alone.

    Returns:
        ``(T,)`` float64, NaN where the logit is NaN.
    """
    s = np.asarray(logits, dtype=np.float64)
    x = np.asarray(joints, dtype=np.float64)
    if s.ndim != 1 or x.ndim != 3 or x.shape[0] != s.shape[0]:
        raise Pose2RigError(
            f"plausibility_scores: expected logits (T,) and joints (T, J, 3) of one length, got {s.shape} and {x.shape}"
        )
    if not np.isfinite(residual_weight) or residual_weight < 0:
        raise ArgumentError(f"{{residual_weight}} must be zero or positive, got {residual_weight!r}", "residual_weight")
    out = _robust_z(s)
    if residual_weight > 0:
        r = _robust_z(temporal_residual(x))
        out = out - residual_weight * np.where(np.isfinite(r), r, 0.0)
    return out


def _check_max_run(max_run: int) -> int:
    if not isinstance(max_run, numbers.Real) or not float(max_run).is_integer() or int(max_run) < 1:
        raise ArgumentError(f"{{max_run}} must be a whole number of frames of at least 1, got {max_run!r}", "max_run")
    return int(max_run)


def plausibility_threshold(scores: np.ndarray, *, k: float = PLAUSIBILITY_MAD_K) -> float:
    """The per-clip threshold ``median - k * 1.4826 * MAD`` of the finite ``scores`` (``(T,)``);
    NaN when no score is finite."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size == 0:
        return float("nan")
    med = float(np.median(s))
    return med - float(k) * _MAD_TO_SIGMA * float(np.median(np.abs(s - med)))


def implausible_frames(
    scores: np.ndarray,
    *,
    threshold: float | None = None,
    max_run: int = PLAUSIBILITY_MAX_RUN,
) -> np.ndarray:
    """Frames to repair: short runs of frames that score below a threshold.

    Args:
        scores: ``(T,)`` plausibility per frame, higher is more plausible; NaN for no score.
        threshold: scores below it are implausible; default :func:`plausibility_threshold` of the
            clip (median minus :data:`PLAUSIBILITY_MAD_K` robust deviations), so the rule adapts
            to how a lifter scores this subject and motion.
        max_run: the longest run (frames) that is marked; longer runs are left as they are.

    Returns:
        ``(T,)`` bool. A run is a maximal span of below-threshold frames, NaN frames inside it
        bridged (they count towards its length, so a gap never splits a long run into short
        ones); NaN frames themselves are never marked.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise Pose2RigError(f"implausible_frames: expected scores (T,), got {s.shape}")
    max_run = _check_max_run(max_run)
    thr = plausibility_threshold(s) if threshold is None else float(threshold)
    finite = np.isfinite(s)
    out = np.zeros(s.shape, dtype=bool)
    if not np.isfinite(thr) or not finite.any():
        return out
    low = finite & (s < thr)
    for start, stop in finite_runs(low | ~finite):
        idx = np.flatnonzero(low[start:stop])
        if idx.size == 0:
            continue
        first, last = start + int(idx[0]), start + int(idx[-1])
        if last - first + 1 <= max_run:
            out[first : last + 1] = low[first : last + 1]
    return out


def root_speed_outliers(
    root: np.ndarray,
    fps: float,
    *,
    max_speed: float = ROOT_MAX_SPEED,
    max_jump_run: float = ROOT_MAX_JUMP_RUN,
) -> np.ndarray:
    """Frames whose root makes a jump no person makes.

    The present (finite) frames are cut into pieces wherever the root moves faster than
    ``max_speed`` between two consecutive present frames (the speed over the time between them,
    so a jump across a gap of missing frames is judged by the gap's length) and wherever a frame
    is missing. A piece of at most ``max_jump_run`` seconds is marked when a fast jump cuts it off on
    both sides (out and back), or on one side with the other at a missing frame or the clip's
    end (the isolated frames at the edge of a detection). Pieces cut by no fast jump, and longer
    pieces, are left. When every piece would be marked, the longest is kept.

    Args:
        root: ``(T, 3)`` metres (see the module's Convention); NaN rows are missing frames.
        fps: frames per second.
        max_speed: metres per second.
        max_jump_run: seconds, the longest piece marked.

    Returns:
        ``(T,)`` bool, True on the frames to set missing and refill.
    """
    r = np.asarray(root, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != 3:
        raise Pose2RigError(f"root_speed_outliers: expected root positions (T, 3), got {r.shape}")
    if not np.isfinite(fps) or fps <= 0:
        raise ArgumentError(f"{{fps}} must be positive, got {fps!r}", "fps")
    if not np.isfinite(max_speed) or max_speed <= 0:
        raise ArgumentError(f"{{max_speed}} must be a positive speed in m/s, got {max_speed!r}", "max_speed")
    if not np.isfinite(max_jump_run) or max_jump_run < 0:
        raise ArgumentError(f"{{max_jump_run}} must be a duration in seconds, got {max_jump_run!r}", "max_jump_run")
    t = r.shape[0]
    out = np.zeros(t, dtype=bool)
    present = np.flatnonzero(np.all(np.isfinite(r), axis=1))
    if present.size < 2:
        return out
    step = np.linalg.norm(np.diff(r[present], axis=0), axis=1)
    speed = step * fps / np.diff(present)
    fast = speed > max_speed  # between present[i] and present[i + 1]
    if not fast.any():
        return out
    # pieces of present frames: cut at fast jumps and at missing frames
    cut = fast | (np.diff(present) > 1)
    bounds = np.r_[0, np.flatnonzero(cut) + 1, present.size]
    longest_frames = int(np.floor(max_jump_run * fps + 1e-9))
    pieces = []  # (first, last) indices into present, marked?
    for a, b in zip(bounds[:-1], bounds[1:]):
        fast_before = a > 0 and bool(fast[a - 1])
        fast_after = b < present.size and bool(fast[b - 1])
        n = present[b - 1] - present[a] + 1
        marked = n <= longest_frames and (fast_before or fast_after)
        pieces.append((a, b, marked))
    if all(m for _, _, m in pieces):
        keep = max(range(len(pieces)), key=lambda i: pieces[i][1] - pieces[i][0])
        pieces[keep] = (pieces[keep][0], pieces[keep][1], False)
    for a, b, marked in pieces:
        if marked:
            out[present[a:b]] = True
    return out


__all__ = [
    "PLAUSIBILITY_MAD_K",
    "PLAUSIBILITY_MAX_RUN",
    "RESIDUAL_WEIGHT",
    "ROOT_MAX_JUMP_RUN",
    "ROOT_MAX_SPEED",
    "implausible_frames",
    "plausibility_scores",
    "plausibility_threshold",
    "root_speed_outliers",
    "temporal_residual",
]
