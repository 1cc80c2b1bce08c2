"""Left/right swap repair from temporal consistency, for 2D keypoints and 3D joints.

A detector (MediaPipe above all) sometimes labels a person's left side as the right for a few
frames: the whole body while the person faces the camera (it believes it sees their back), or one
limb pair (both arms, or both legs) while the torso stays right. Mocap from other tools shows the
same fault. This module finds those runs and swaps the labels back.

Convention:
    - Groups. The left/right joint pairs come from the skeleton's ``mirror``. Each pair belongs
      to the ``arms`` (elbow, wrist, hand, fingers), the ``legs`` (knee, ankle, heel, foot,
      toes), the shoulders (shoulder, clavicle, and rigs' upper-arm joints, which sit at the
      shoulder), the hips (hip, and rigs' thigh joints) or the face (eyes, ears, mouth), by its
      joint names; a lateral joint with an unknown name follows its nearest lateral ancestor.
      A frame is in one of six states (:data:`STATES`): as detected; the arms or the legs
      swapped while the whole torso stays right; the upper body (shoulders and arms) or the
      lower body (hips and legs) swapped; or the whole body swapped. The report counts an
      upper-body swap as the arms' and a lower-body swap as the legs'.
    - Method. A Viterbi pass over the clip chooses each frame's state to minimise
      ``sum over frames and pairs of |y_t - (y_{t-1} + v_{t-1})| / size`` (``y`` the relabelled
      joints, ``v`` their previous step, so a limb that crosses its twin at speed is predicted
      where it goes, not matched to its twin), plus ``switch_cost`` for every change of state
      and ``flip_cost`` per second spent in a swapped state. ``size`` is the subject's size
      (:func:`~pose2rig.clean._common.subject_scale`, about standing height), so the costs are in
      subject heights and one set of defaults serves pixels and metres. A run of swapped frames
      is flipped back when the jumps into and out of it outweigh two switches and its length; a
      labelling that changes and then stays (a real turn, or a detector that keeps the new
      labels) is left as it is: a run in a swapped state longer than ``max_swap`` seconds (1 s)
      is kept as detected and the rest chosen again. Where both labellings fit equally (the
      subject side-on), nothing is flipped.
    - Missing joints (NaN) give no evidence: each joint is held at its last seen position for
      the costs only. Confidence moves with its joint. ``landmarks33`` and ``world33``
      (MediaPipe's 33 points, 2D and metric) are swapped with the same groups, hands with the
      arms, feet with the legs, the face with the whole body.
    - Nothing is interpolated or smoothed: a repaired frame holds exactly the detected points,
      relabelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pose2rig.clean._common import (
    Track,
    confidence_of,
    finite_runs,
    points_of,
    subject_scale,
    with_points,
)
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.skeletons.joint_sets import MEDIAPIPE33
from pose2rig.skeletons.names import normalize_name
from pose2rig.types import Skeleton

GROUPS = ("arms", "legs")
"""The limb pairs that can be swapped on their own; the report's columns."""

STATES = ("none", "arms", "legs", "body", "upper", "lower")
"""The labellings of a frame: as detected, arms swapped (elbows down), legs swapped (knees down),
whole body swapped, the upper body's pairs swapped (arms and shoulders: the hips stay), the lower
body's (legs and hips: the shoulders stay)."""

_SWAPPED = np.array(
    [  # arms, legs, other pairs (the face), shoulders, hips swapped in each state
        [False, False, False, False, False],
        [True, False, False, False, False],
        [False, True, False, False, False],
        [True, True, True, True, True],
        [True, False, False, True, False],
        [False, True, False, False, True],
    ]
)

_LEG_WORDS = ("hip", "knee", "ankle", "heel", "foot", "toe", "leg", "thigh", "shin", "calf", "ball")
_ARM_WORDS = (
    "shoulder", "elbow", "wrist", "hand", "arm", "clavicle", "collar", "pinky", "index", "thumb",
    "finger", "middle", "ring",
)

_HIP_WORDS = ("hip", "thigh", "upleg", "upperleg")
_SHOULDER_WORDS = ("shoulder", "clavicle", "collar", "upperarm", "uparm")
_ARM_ROOT = re.compile(r"(^|[_.])(l|r|left|right)?arm([_.](l|r))?$")
"""the joint at the shoulder in rigs that call it "arm" (Mixamo's ``LeftArm``)"""

SWITCH_COST = 0.15
"""Default cost of one change of labelling, in subject heights of joint displacement."""
FLIP_COST = 0.6
"""Default cost per second of a swapped labelling, in subject heights."""
MAX_SWAP = 1.0
"""Default longest run of swapped frames that is repaired, seconds."""


@dataclass(frozen=True)
class SwapReport:
    """Which frames :func:`repair_swaps` relabelled.

    Attributes:
        flipped: ``(T, 2)`` bool: the frame's arms (column 0) and legs (column 1) were swapped
            back; both together with the rest of the body for a whole-body swap.
        body: ``(T,)`` bool: the whole body (face and unnamed lateral joints too) was swapped.
    """

    flipped: np.ndarray
    body: np.ndarray

    @property
    def frames(self) -> np.ndarray:
        """``(N,)`` int indices of the frames where anything was swapped back."""
        return np.flatnonzero(self.flipped.any(axis=1))

    @property
    def num_flipped(self) -> int:
        return int(self.flipped.any(axis=1).sum())

    def runs(self) -> list[tuple[int, int, str]]:
        """``(start, stop, state)`` for each run of frames in one swapped state; ``stop`` is
        exclusive and ``state`` one of ``"arms"``, ``"legs"``, ``"body"``."""
        state = np.where(self.body, 3, self.flipped[:, 0] + 2 * self.flipped[:, 1])
        out = []
        for s in (1, 2, 3):
            out += [(a, b, STATES[s]) for a, b in finite_runs(state == s)]
        return sorted(out)

    def __str__(self) -> str:
        runs = self.runs()
        if not runs:
            return "no left/right swaps"
        parts = [f"{kind} {a}-{b - 1}" if b - a > 1 else f"{kind} {a}" for a, b, kind in runs]
        return f"left/right swaps repaired on {self.num_flipped} frames: " + ", ".join(parts)


def _limb_of(name: str) -> int | None:
    """The group of a lateral joint by its name: 0 arm (elbow down), 1 leg (knee down), 3
    shoulder (where the arm attaches), 4 hip (where the leg attaches); None when the name says
    none of these (see the module doc)."""
    n = normalize_name(name)
    if any(w in n for w in _HIP_WORDS):
        return 4
    if any(w in n for w in _SHOULDER_WORDS) or _ARM_ROOT.search(n):
        return 3
    if any(w in n for w in _LEG_WORDS):  # before arms: "foot_index" is a foot
        return 1
    if any(w in n for w in _ARM_WORDS):
        return 0
    return None


def lateral_pairs(skeleton: Skeleton) -> list[tuple[int, int, int]]:
    """``(left, right, group)`` for each pair of mirrored joints; ``group`` is 0 for the arms,
    1 for the legs, 2 for the rest (swapped only with the whole body), 3 for the shoulders and
    4 for the hips. See the module doc."""
    n = skeleton.num_joints
    limb: list[int | None] = [None] * n
    for j in range(n):  # parents precede children
        if skeleton.mirror[j] == j:
            continue
        limb[j] = _limb_of(skeleton.joint_names[j])
        p = skeleton.parents[j]
        if limb[j] is None and p >= 0 and skeleton.mirror[p] != p:
            limb[j] = limb[p]
    pairs = []
    for j in range(n):
        m = skeleton.mirror[j]
        if m > j:
            lj = limb[j]
            g = lj if lj is not None and lj == limb[m] else 2
            pairs.append((j, m, g))
    return pairs


def _permutations(skeleton: Skeleton) -> np.ndarray:
    """``(S, J)`` int: frame state ``s`` reads joint ``j`` from ``perm[s, j]``."""
    perm = np.tile(np.arange(skeleton.num_joints), (len(STATES), 1))
    for a, b, g in lateral_pairs(skeleton):
        for s in range(len(STATES)):
            if _SWAPPED[s, g]:
                perm[s, a], perm[s, b] = b, a
    return perm


def _held(points: np.ndarray) -> np.ndarray:
    """Each joint held at its last finite position over gaps (leading gaps stay NaN)."""
    p = points.copy()
    finite = np.all(np.isfinite(p), axis=-1)  # (T, J)
    idx = np.where(finite, np.arange(len(p))[:, None], 0)
    idx = np.maximum.accumulate(idx, axis=0)
    held = np.take_along_axis(p, idx[..., None], axis=0)
    seen = np.maximum.accumulate(finite, axis=0)
    held[~seen] = np.nan
    return held


def swap_states_array(
    points: np.ndarray,
    timestamps: np.ndarray,
    skeleton: Skeleton,
    *,
    switch_cost: float = SWITCH_COST,
    flip_cost: float = FLIP_COST,
    max_swap: float = MAX_SWAP,
) -> np.ndarray:
    """The most consistent labelling of each frame (see the module doc).

    Args:
        points: ``(T, J, D)`` 2D pixels or 3D metres of ``skeleton``'s joints; NaN where missing.
        timestamps: ``(T,)`` strictly increasing seconds.
        skeleton: gives the left/right pairs (``mirror``) and, by name, the groups.
        switch_cost: cost of each change of labelling, subject heights.
        flip_cost: cost per second of a swapped labelling, subject heights.
        max_swap: longest run of swapped frames repaired, seconds; a longer one is kept as
            detected (a real turn, or labels the detector keeps).

    Returns:
        ``(T,)`` int8 state per frame, an index into :data:`STATES` (0: as detected).
    """
    p = np.asarray(points, dtype=np.float64)
    t = np.asarray(timestamps, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != skeleton.num_joints or t.shape != p.shape[:1]:
        raise Pose2RigError(
            f"repair_swaps: expected points (T, {skeleton.num_joints}, D) and timestamps (T,), "
            f"got {p.shape} and {t.shape}"
        )
    for name, v in (("switch_cost", switch_cost), ("flip_cost", flip_cost), ("max_swap", max_swap)):
        if not (np.isfinite(v) and v >= 0):
            raise ArgumentError(f"{{{name}}} must be >= 0, got {v}", name)
    n_frames = len(p)
    pairs = lateral_pairs(skeleton)
    if n_frames < 2 or not pairs:
        return np.zeros(n_frames, dtype=np.int8)
    size = subject_scale(p)
    h = _held(p) / size
    left = np.array([a for a, _, _ in pairs])
    right = np.array([b for _, b, _ in pairs])
    groups = np.array([g for _, _, g in pairs])
    # x[t, bit, k]: the pair's two joints (k = 0 left slot, 1 right slot) read unswapped (bit 0)
    # or swapped (bit 1): (T, 2, P, 2, D)
    lr = np.stack([h[:, left], h[:, right]], axis=2)
    x = np.stack([lr, lr[:, :, ::-1]], axis=1)
    dt = np.diff(t)
    ratio = np.ones(n_frames)
    ratio[2:] = dt[1:] / dt[:-1]
    # Sum over pairs for every triple of frame states: bits[s, p] is pair p swapped in state s.
    bits = _SWAPPED[:, groups].astype(int)  # (S, P)
    pi = np.arange(len(pairs))
    n_states = len(STATES)
    # In chunks of frames: the per-pair intermediates are ~10 kB a frame, the result 1.7 kB, so a
    # long clip's memory stays flat (every row is computed exactly as in one piece).
    cost3 = np.empty((n_frames - 2, n_states, n_states, n_states))
    for a in range(0, n_frames - 2, _CHUNK):
        b = min(a + _CHUNK, n_frames - 2)
        # c3[t, b2, b1, b0, p]: the pair's error at t when it is read with bits b2, b1, b0 at
        # frames t-2, t-1, t; c2 for the first step (no velocity yet).
        x0 = x[a + 2 : b + 2, None, None, :]  # frame t, bit b0 on axis 3
        x1 = x[a + 1 : b + 1, None, :, None]  # frame t-1, bit b1
        x2 = x[a:b, :, None, None]  # frame t-2, bit b2
        pred = x1 + ratio[a + 2 : b + 2, None, None, None, None, None, None] * (x1 - x2)
        c3 = np.nan_to_num(np.linalg.norm(x0 - pred, axis=-1).sum(axis=-1), nan=0.0)
        cost3[a:b] = c3[:, bits[:, None, None, :], bits[None, :, None, :], bits[None, None, :, :], pi].sum(-1)
    c2 = np.nan_to_num(
        np.linalg.norm(x[1, None, :] - x[0, :, None], axis=-1).sum(axis=-1), nan=0.0
    )  # (b1, b0, P)
    cost2 = c2[bits[:, None, :], bits[None, :, :], pi].sum(-1)  # (S, S)
    frame_dt = np.empty(n_frames)
    frame_dt[0] = dt[0]
    frame_dt[1:] = dt
    unary = flip_cost * frame_dt[:, None] * (np.arange(len(STATES)) > 0)  # (T, S)
    switch = switch_cost * (np.arange(n_states)[:, None] != np.arange(n_states)[None, :])  # (S, S)
    # A run in a swapped state longer than max_swap is taken as the true labelling: its frames
    # are kept as detected and the labelling is chosen again (a few rounds at most).
    kept = np.zeros(n_frames, dtype=bool)
    while True:
        forbid = _FORBIDDEN * (kept[:, None] & (np.arange(len(STATES)) > 0))
        states = _viterbi(unary + forbid, cost2, cost3, switch)
        long = [
            (a, b) for a, b in finite_runs(states > 0)
            if t[b - 1] - t[a] + frame_dt[b - 1] > max_swap + 1e-9
        ]
        if not long:
            return states
        for a, b in long:
            kept[a:b] = True


_CHUNK = 2048
"""Frames per chunk of the triple-state costs (memory, not results)."""

_FORBIDDEN = 1e9
"""Unary cost of a swapped state on frames kept as detected."""


def _viterbi(unary: np.ndarray, cost2: np.ndarray, cost3: np.ndarray, switch: np.ndarray) -> np.ndarray:
    """Second-order Viterbi over the frame states: the chain's state is ``(s_{t-1}, s_t)``.

    ``unary (T, S)``, ``cost2 (S, S)`` for frames 0-1, ``cost3 (T-2, S, S, S)`` for
    ``(s_{t-2}, s_{t-1}, s_t)``, ``switch (S, S)``; returns ``(T,)`` int8 states.
    """
    n_frames = len(unary)
    v = unary[0][:, None] + unary[1][None, :] + cost2 + switch
    back = np.zeros((n_frames,) + v.shape, dtype=np.int8)
    for k in range(2, n_frames):
        total = v[:, :, None] + cost3[k - 2]  # (s_{k-2}, s_{k-1}, s_k)
        back[k] = np.argmin(total, axis=0)
        v = np.min(total, axis=0) + switch + unary[k][None, :]
    states = np.zeros(n_frames, dtype=np.int8)
    states[-2], states[-1] = np.unravel_index(np.argmin(v), v.shape)
    for k in range(n_frames - 1, 1, -1):
        states[k - 2] = back[k, states[k - 1], states[k]]
    return states

def _report(states: np.ndarray, points: np.ndarray, perm: np.ndarray) -> SwapReport:
    """Report the swapped states, on frames where a relabelled joint was seen."""
    finite = np.all(np.isfinite(points), axis=-1)  # (T, J)
    moved = perm[states] != np.arange(perm.shape[1])  # (T, J)
    seen = np.any(moved & finite, axis=1)
    s = np.where(seen, states, 0)
    flipped = np.stack([np.isin(s, (1, 3, 4)), np.isin(s, (2, 3, 5))], axis=1)
    return SwapReport(flipped=flipped, body=s == 3)


def _apply(values: np.ndarray, perm: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``values (T, J, ...)`` relabelled frame by frame: ``out[t, j] = values[t, perm[s_t, j]]``."""
    idx = perm[states]
    idx = idx.reshape(idx.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, idx, axis=1)


def repair_swaps_array(
    points: np.ndarray,
    timestamps: np.ndarray,
    skeleton: Skeleton,
    *,
    switch_cost: float = SWITCH_COST,
    flip_cost: float = FLIP_COST,
    max_swap: float = MAX_SWAP,
) -> tuple[np.ndarray, SwapReport]:
    """:func:`repair_swaps` on a plain ``(T, J, D)`` array of ``skeleton``'s joints: the
    relabelled array (a new one) and the :class:`SwapReport`."""
    p = np.asarray(points)
    states = swap_states_array(
        p, timestamps, skeleton, switch_cost=switch_cost, flip_cost=flip_cost, max_swap=max_swap,
    )
    return _apply(p, _permutations(skeleton), states), _report(states, p, _permutations(skeleton))


def repair_swaps(
    x: Track,
    *,
    switch_cost: float = SWITCH_COST,
    flip_cost: float = FLIP_COST,
    max_swap: float = MAX_SWAP,
) -> tuple[Track, SwapReport]:
    """Swap left and right back where a :class:`Keypoints2D` or :class:`PoseSequence` has them
    swapped for a run of frames: the whole body, the arms or the legs (see the module doc).

    Args:
        x: 2D keypoints (pixels) or 3D joints (metres), any skeleton with mirrored joints.
        switch_cost: cost of each change of labelling, in subject heights of joint
            displacement; higher flips fewer, clearer runs.
        flip_cost: cost per second of a swapped labelling, subject heights; higher leaves
            longer runs as detected.
        max_swap: longest run of swapped frames repaired, seconds.

    Returns:
        A new object of ``x``'s type (``x`` is not changed): joints, confidence,
        ``landmarks33`` and ``world33`` relabelled; and a :class:`SwapReport` of the frames
        swapped back.
    """
    p = points_of(x, "repair_swaps")
    states = swap_states_array(
        p, x.timestamps, x.skeleton, switch_cost=switch_cost, flip_cost=flip_cost,
        max_swap=max_swap,
    )
    perm = _permutations(x.skeleton)
    report = _report(states, p, perm)  # as repair_swaps_array; the 33 landmarks move with the states
    changes: dict[str, object] = {}
    for name in ("landmarks33", "world33"):  # MediaPipe's 33 points, 2D and metric 3D
        if getattr(x, name, None) is not None:
            changes[name] = _apply(getattr(x, name), _permutations(MEDIAPIPE33), states)
    out = with_points(x, _apply(p, perm, states), _apply(confidence_of(x), perm, states), **changes)
    return out, report

