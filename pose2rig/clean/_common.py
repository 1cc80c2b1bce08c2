"""Shared plumbing of the clean-up filters: unpack a core type into arrays and pack it back."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, TypeVar

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.types import Keypoints2D, PoseSequence

Track = TypeVar("Track", Keypoints2D, PoseSequence)


def points_of(x: Keypoints2D | PoseSequence, caller: str) -> np.ndarray:
    """The ``(T, J, D)`` coordinates of ``x``; raises naming the types accepted."""
    if isinstance(x, Keypoints2D):
        return x.keypoints
    if isinstance(x, PoseSequence):
        return x.joints
    raise Pose2RigError(f"{caller}: expected Keypoints2D or PoseSequence, got {type(x).__name__}")


def confidence_of(x: Keypoints2D | PoseSequence) -> np.ndarray:
    """The ``(T, J)`` confidence of ``x``: never None once built (``PoseSequence`` fills it in)."""
    c = x.confidence
    assert c is not None, "PoseSequence.__post_init__ sets confidence"
    return c


def with_points(
    x: Track, points: np.ndarray, confidence: np.ndarray | None = None, **changes: Any
) -> Track:
    """A copy of ``x`` with new coordinates (and confidence, timestamps, ... when given)."""
    key = "keypoints" if isinstance(x, Keypoints2D) else "joints"
    changes[key] = points
    if confidence is not None:
        changes["confidence"] = confidence
    return dataclasses.replace(x, **changes)


def finite_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index pairs of the runs of True in the 1D boolean array ``valid``."""
    v = np.concatenate([[False], np.asarray(valid, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(v.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def subject_scale(points: np.ndarray) -> float:
    """A robust size of the subject in ``points (T, J, D)``'s units.

    The median over frames of the diagonal of the box around the frame's finite joints (about
    standing height for a whole-body joint set: pixels for 2D, metres for 3D); 1.0 when no frame
    has two distinct joints.
    """
    p = np.asarray(points, dtype=np.float64)
    with warnings.catch_warnings():  # all-NaN frames are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        diag = np.linalg.norm(np.nanmax(p, axis=1) - np.nanmin(p, axis=1), axis=-1)
    diag = diag[np.isfinite(diag) & (diag > 0)]
    return float(np.median(diag)) if diag.size else 1.0
