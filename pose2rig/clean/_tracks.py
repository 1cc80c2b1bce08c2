"""Conditioning of noisy point tracks for the floor and the foot contacts: spikes out, gaps
bridged, positions and velocities from local linear fits (robust to ~15 mm jitter)."""

from __future__ import annotations

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.types import Skeleton

SPIKE_DISTANCE = 0.05
"""A sample farther than this (m) from the median of its neighbours (and than 4 robust
deviations of the track) is a spike and is replaced by that median."""


def _rolling(x: np.ndarray, half: int, func: str) -> np.ndarray:
    """Rolling median or mean over ``2 * half + 1`` samples of ``x (T, D)``, edges padded."""
    if half <= 0 or x.shape[0] == 0:
        return x.copy()
    pad = np.pad(x, ((half, half), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1, axis=0)  # (T, D, W)
    return np.median(win, axis=-1) if func == "median" else win.mean(axis=-1)


def condition_track(points: np.ndarray, fps: float, *, window: float = 0.3) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Clean one point's track for contact work.

    Args:
        points: ``(T, D)`` metres, NaN where missing.
        fps: frames per second.
        window: length (s) of the local linear fit that gives position and velocity.

    Returns:
        ``(T, D)`` smoothed positions, ``(T, D)`` velocities (m/s) and ``(T,)`` bool: where the
        input had a sample (NaN frames are bridged linearly, held at the ends; an all-NaN track
        comes back all NaN).
    """
    p = np.asarray(points, dtype=np.float64)
    t = p.shape[0]
    valid = np.all(np.isfinite(p), axis=-1)
    if not valid.any():
        return np.full_like(p, np.nan), np.full_like(p, np.nan), valid
    frames = np.arange(t)
    filled = np.stack([np.interp(frames, frames[valid], p[valid, d]) for d in range(p.shape[1])], 1)
    # spikes: far from the rolling median (Hampel filter, at least SPIKE_DISTANCE)
    med = _rolling(filled, 3, "median")
    dev = np.linalg.norm(filled - med, axis=-1)
    mad = np.median(dev[valid]) if valid.any() else 0.0
    spike = dev > max(SPIKE_DISTANCE, 4.0 * 1.4826 * mad)
    filled[spike] = med[spike]
    # local linear fit over the window: centred mean and slope
    half = max(1, int(round(window * fps / 2)))
    k = np.arange(-half, half + 1, dtype=np.float64)
    pad = np.pad(filled, ((half, half), (0, 0)), mode="reflect", reflect_type="odd") if t > half \
        else np.pad(filled, ((half, half), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1, axis=0)  # (T, D, W)
    pos = win.mean(axis=-1)
    vel = (win @ k) / (k @ k) * fps
    return pos, vel, valid


def checked_joints(joints: np.ndarray, skeleton: Skeleton, fps: float, where: str) -> np.ndarray:
    """``joints`` as float64 ``(T, J, 3)`` for ``skeleton``, with a positive finite ``fps``; else
    a clear error naming ``where`` (the calling function)."""
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or p.shape[1] != skeleton.num_joints:
        raise Pose2RigError(f"{where}: expected joints (T, {skeleton.num_joints}, 3), got {p.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ArgumentError(f"{{fps}} must be a positive number, got {fps}", "fps")
    return p
