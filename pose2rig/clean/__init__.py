"""Temporal clean-up of 2D or 3D tracks: gaps, smoothing, resampling.

Each entry function takes a :class:`~pose2rig.types.Keypoints2D` or a
:class:`~pose2rig.types.PoseSequence` and returns a new object of the same type (inputs are
never changed); the ``*_array`` functions do the same work on plain numpy arrays. All of them
use the true timestamps, so variable-frame-rate clips are handled.
"""

from __future__ import annotations

from pose2rig.clean.gaps import fill_gaps, fill_gaps_array
from pose2rig.clean.resample import interpolate_at, resample, resample_array, uniform_times
from pose2rig.clean.smooth import one_euro_array, savgol_array, smooth, smooth_array

__all__ = [
    "fill_gaps",
    "fill_gaps_array",
    "interpolate_at",
    "one_euro_array",
    "resample",
    "resample_array",
    "savgol_array",
    "smooth",
    "smooth_array",
    "uniform_times",
]
