"""Clean-up of 2D or 3D tracks: gaps, smoothing, resampling, left/right swaps, floor, contacts.

Each entry function takes a :class:`~pose2rig.types.Keypoints2D` or a
:class:`~pose2rig.types.PoseSequence` and returns a new object of the same type (inputs are
never changed; :func:`repair_swaps` returns it with a report of what it flipped); the
``*_array`` functions do the same work on plain numpy arrays. All of them use the true
timestamps, so variable-frame-rate clips are handled. :func:`fit_floor`,
:func:`foot_contacts` and :func:`lock_feet` work on ``(T, J, 3)`` joint arrays at a constant frame rate.
"""

from __future__ import annotations

from pose2rig.clean.contacts import FootContacts, contact_weights, foot_contacts
from pose2rig.clean.floor import FOOT_POINT_HEIGHTS, Floor, FootPoint, fit_floor, foot_points
from pose2rig.clean.footlock import lock_feet, two_bone_ik
from pose2rig.clean.gaps import fill_gaps, fill_gaps_array
from pose2rig.clean.kinematic import (
    bone_lengths,
    enforce_bone_lengths,
    fill_gaps_kinematic,
    from_rotations,
    smooth_kinematic,
    to_rotations,
)
from pose2rig.clean.motion import STEPS, CleanResult, clean_motion
from pose2rig.clean.resample import interpolate_at, resample, resample_array, uniform_times
from pose2rig.clean.smooth import one_euro_array, savgol_array, smooth, smooth_array
from pose2rig.clean.swaps import SwapReport, repair_swaps, repair_swaps_array, swap_states_array

__all__ = [
    "STEPS",
    "CleanResult",
    "clean_motion",
    "repair_swaps_array",
    "FOOT_POINT_HEIGHTS",
    "Floor",
    "FootContacts",
    "FootPoint",
    "contact_weights",
    "fit_floor",
    "foot_contacts",
    "foot_points",
    "lock_feet",
    "two_bone_ik",
    "SwapReport",
    "fill_gaps",
    "fill_gaps_array",
    "bone_lengths",
    "enforce_bone_lengths",
    "fill_gaps_kinematic",
    "from_rotations",
    "smooth_kinematic",
    "to_rotations",
    "interpolate_at",
    "one_euro_array",
    "repair_swaps",
    "resample",
    "resample_array",
    "savgol_array",
    "smooth",
    "smooth_array",
    "swap_states_array",
    "uniform_times",
]
