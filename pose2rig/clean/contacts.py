"""Foot contacts: per foot point, from its height above the floor and its horizontal speed.

Convention:
    - ``joints (T, J, 3)`` metres in the frame the :class:`~pose2rig.clean.floor.Floor` was
      fitted in (any frame; heights and horizontal speeds are measured against the floor's
      normal), NaN where missing; frames at a constant ``fps``.
    - One column per foot point of :func:`~pose2rig.clean.floor.foot_points`, in its order
      (left ankle, heel, toe, then right; those the joint set has).
    - ``contacts (T, F)`` bool; ``weights (T, F)`` float in [0, 1]: 0 outside a contact, easing
      up to 1 over the first ``blend`` seconds of the contact and back to 0 over its last
      ``blend`` seconds (smoothstep), so that a foot lock driven by them never pops.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pose2rig.clean._common import finite_runs
from pose2rig.clean._tracks import checked_joints, condition_track
from pose2rig.clean.floor import Floor, foot_points
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.types import Skeleton

__all__ = ["FootContacts", "contact_weights", "foot_contacts"]


class FootContacts(NamedTuple):
    """``contacts (T, F)`` bool and ``weights (T, F)`` float in [0, 1] (see the module doc)."""

    contacts: np.ndarray
    weights: np.ndarray


def _hysteresis(enter: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """True from a frame where ``enter`` holds for as long as ``stay`` holds."""
    out = np.zeros(enter.shape, dtype=bool)
    on = False
    for i in range(enter.size):
        on = bool(stay[i]) if on else bool(enter[i])
        out[i] = on
    return out


def _min_runs(mask: np.ndarray, min_on: int, min_off: int) -> np.ndarray:
    """Close gaps shorter than ``min_off`` frames between contacts, then drop contacts
    shorter than ``min_on`` frames."""
    m = mask.copy()
    for a, b in finite_runs(~m):
        if 0 < a and b < m.size and b - a < min_off:
            m[a:b] = True
    for a, b in finite_runs(m):
        if b - a < min_on:
            m[a:b] = False
    return m


def contact_weights(contacts: np.ndarray, ramp: int) -> np.ndarray:
    """Blend weights ``(T, F)`` for ``contacts (T, F)``: each contact eases in over its first
    ``ramp`` frames and out over its last ``ramp`` (smoothstep); 0 outside contacts."""
    c = np.asarray(contacts, dtype=bool)
    w = np.zeros(c.shape, dtype=np.float64)
    for f in range(c.shape[1]):
        for a, b in finite_runs(c[:, f]):
            d = np.minimum(np.arange(b - a), np.arange(b - a)[::-1])  # frames from the nearer end
            x = np.clip((d + 1.0) / (ramp + 1.0), 0.0, 1.0)
            w[a:b, f] = x * x * (3.0 - 2.0 * x)
    return w


def foot_contacts(
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    floor: Floor,
    *,
    height_on: float = 0.03,
    height_off: float = 0.05,
    speed_on: float = 0.3,
    speed_off: float = 0.45,
    window: float = 0.2,
    min_duration: float = 0.1,
    min_gap: float = 0.1,
    blend: float = 0.1,
) -> FootContacts:
    """Detect when each foot point rests on the floor.

    Each foot point's track is de-spiked, bridged across NaN frames and smoothed by local
    linear fits over ``window`` seconds (position and velocity), which keeps 15 mm jitter to a
    few cm/s. Its height is measured above its own resting height (``floor.contact_heights``).
    A contact starts where the height is under ``height_on`` and the horizontal speed under
    ``speed_on`` and lasts while they stay under ``height_off`` and ``speed_off``
    (hysteresis); breaks shorter than ``min_gap`` are closed and contacts shorter than
    ``min_duration`` dropped. Weights blend over ``blend`` seconds (see the module doc).

    Args:
        joints: ``(T, J, 3)`` metres, NaN where missing.
        skeleton: names the joints.
        fps: frames per second.
        floor: from :func:`~pose2rig.clean.floor.fit_floor` on the same joints.

    Returns:
        :class:`FootContacts` with ``(T, F)`` arrays, F = ``len(foot_points(skeleton))``.
    """
    p = checked_joints(joints, skeleton, fps, "foot_contacts")
    if not (0 <= height_on <= height_off and 0 <= speed_on <= speed_off):
        raise ArgumentError(
            "{height_on} <= {height_off} and {speed_on} <= {speed_off} must hold (hysteresis), "
            f"got {height_on}, {height_off}, {speed_on}, {speed_off}",
            "height_on", "height_off", "speed_on", "speed_off",
        )
    feet = foot_points(skeleton)
    if not feet:
        raise Pose2RigError(
            f"foot_contacts: skeleton {skeleton.name!r} has no foot joints (ankles, heels or toes)"
        )
    t = p.shape[0]
    n = np.asarray(floor.normal, dtype=np.float64)
    contacts = np.zeros((t, len(feet)), dtype=bool)
    min_on = max(1, int(round(min_duration * fps)))
    min_off = max(1, int(round(min_gap * fps)))
    for i, f in enumerate(feet):
        pos, vel, valid = condition_track(p[:, f.index], fps, window=window)
        if not valid.any():
            continue
        h = floor.height(pos) - floor.contact_heights.get(f.name, 0.0)
        v = np.linalg.norm(vel - np.outer(vel @ n, n), axis=-1)
        raw = _hysteresis((h < height_on) & (v < speed_on), (h < height_off) & (v < speed_off))
        contacts[:, i] = _min_runs(raw, min_on, min_off)
    ramp = max(1, int(round(blend * fps)))
    return FootContacts(contacts, contact_weights(contacts, ramp))
