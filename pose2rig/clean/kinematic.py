"""Clean-up in rotation space: a point skeleton's motion as a root track, bone directions and
bone lengths; gaps filled, smoothing and bone lengths enforced there rather than on positions.

Convention:
    - ``joints (T, J, 3)`` float, metres (any length unit works; only ``max_speed`` is in those
      units per second), frames at a constant ``fps``; NaN where missing. A frame is *seen* when
      every joint of it is finite; a frame with any non-finite joint is *missing* as a whole.
    - Any :class:`~pose2rig.types.Skeleton` works: Human3.6M-17 from the lifter, or a BVH
      skeleton of every joint (positions from forward kinematics).
    - Rotation space: the direction of joint ``j`` is the unit vector from its parent to it (a
      point skeleton's bone rotation, up to the twist about the bone, which points cannot
      carry), its length the distance between them. The skeleton's root has direction 0 and
      length 0; so has a bone shorter than 1e-9 (rigs' twist and share bones sit on their
      parent).
    - The *body root* is the joint named as the hips (``hips`` in
      :data:`pose2rig.skeletons.names.BONE_SYNONYMS`: ``Hips``, ``pelvis``, ``CC_Base_Hip``, ...),
      else the skeleton's root. Joints above it (a BVH's world or ground-projection root above
      the hips, as in the Bandai-Namco files) are not bones of the body: the distance to them
      changes as the subject travels. They and the body root form the *root chain*, carried as
      position tracks (interpolated and smoothed as the root is, never given a constant
      length).
    - :func:`from_rotations` places the body root at ``root``, the joints above it upward
      (``x[parent] = x[child] - length[child] * direction[child]``), and every other joint
      outward (``x[j] = x[parent] + length[j] * direction[j]``), so that
      ``from_rotations(*to_rotations(x), skeleton) == x`` up to floating point.
    - Two-bone limbs (for :func:`enforce_bone_lengths`) are found by name, checked against the
      hierarchy: thigh-shin-foot and upper arm-forearm-hand by
      :func:`pose2rig.skeletons.names.match_bones`, or ``{side}_hip/_knee/_ankle`` and
      ``{side}_shoulder/_elbow/_wrist`` (Human3.6M-17, COCO-17, MediaPipe-33); the three joints
      must be parent, child and grandchild.
"""

from __future__ import annotations

import numpy as np

from pose2rig.clean._common import finite_runs, subject_scale
from pose2rig.clean._tracks import checked_joints
from pose2rig.clean.footlock import two_bone_ik
from pose2rig.clean.smooth import smooth_array
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import slerp
from pose2rig.options import CleanOptions
from pose2rig.skeletons.names import match_bones
from pose2rig.types import Skeleton

__all__ = [
    "bone_lengths",
    "enforce_bone_lengths",
    "fill_gaps_kinematic",
    "from_rotations",
    "smooth_kinematic",
    "to_rotations",
]

_EPS = 1e-9

_LIMB_ROLES = (("thigh", "shin", "foot"), ("upper_arm", "forearm", "hand"))
_LIMB_NAMES = (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))


# ----------------------------------------------------------------------------- the skeleton


def _joints(joints: np.ndarray, skeleton: Skeleton, where: str) -> np.ndarray:
    """``joints`` as float64 ``(T, J, 3)`` for ``skeleton``; else a clear error."""
    if not isinstance(skeleton, Skeleton):
        raise Pose2RigError(f"{where}: expected a Skeleton, got {type(skeleton).__name__}")
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or p.shape[1] != skeleton.num_joints:
        raise Pose2RigError(
            f"{where}: expected joints (T, {skeleton.num_joints}, 3) for skeleton "
            f"{skeleton.name!r}, got {p.shape}")
    return p


def _root_chain(skeleton: Skeleton) -> list[int]:
    """The skeleton's root down to the body root (see the module doc), in that order."""
    hips = match_bones(skeleton.joint_names, ["hips"]).get("hips")
    root = skeleton.parents.index(-1)
    chain = [root if hips is None else hips]
    while skeleton.parents[chain[-1]] >= 0:
        chain.append(skeleton.parents[chain[-1]])
    return chain[::-1]


def _limbs(skeleton: Skeleton) -> list[tuple[int, int, int]]:
    """``(upper, middle, end)`` joints of each two-bone limb (see the module doc)."""
    names, parents = skeleton.joint_names, skeleton.parents
    roles = match_bones(names, [f"{s}_{r}" for s in ("left", "right") for t in _LIMB_ROLES for r in t])
    chain = set(_root_chain(skeleton))
    out: list[tuple[int, int, int]] = []
    for side in ("left", "right"):
        for by_role, by_name in zip(_LIMB_ROLES, _LIMB_NAMES):
            found = [roles.get(f"{side}_{r}") for r in by_role]
            if None in found:
                found = [names.index(f"{side}_{n}") if f"{side}_{n}" in names else None for n in by_name]
            a, b, c = found
            if a is None or b is None or c is None:
                continue
            if parents[b] == a and parents[c] == b and not chain & {a, b, c}:
                out.append((a, b, c))
    return out


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v (..., 3)`` over its norm (0 where the norm is under 1e-9; NaN stays NaN), and the norm."""
    n = np.linalg.norm(v, axis=-1)
    ok = n > _EPS
    u = np.where(ok[..., None], v / np.where(ok, n, 1.0)[..., None], 0.0)
    return np.where(np.isnan(n)[..., None], np.nan, u), n


def _build(chain_pos: np.ndarray, directions: np.ndarray, lengths: np.ndarray,
           skeleton: Skeleton, chain: list[int]) -> np.ndarray:
    """Joints ``(..., J, 3)`` from the root chain's positions ``(..., len(chain), 3)`` and the
    other joints' directions ``(..., J, 3)`` and lengths ``(..., J)`` (outward)."""
    out = np.empty(directions.shape, dtype=np.float64)
    out[..., chain, :] = chain_pos
    on_chain = set(chain)
    for j, p in enumerate(skeleton.parents):
        if j not in on_chain:
            out[..., j, :] = out[..., p, :] + lengths[..., j, None] * directions[..., j, :]
    return out


# ----------------------------------------------------------------------------- public helpers


def to_rotations(joints: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``joints (T, J, 3)`` into the body root's track, bone directions and lengths.

    Returns:
        ``root (T, 3)``, ``directions (T, J, 3)`` (unit, or 0 for the root and bones under
        1e-9) and ``lengths (T, J)`` (0 for the root), float64; NaN where the joint or its
        parent is missing. See the module doc for the body root.
    """
    x = _joints(joints, skeleton, "to_rotations")
    parents = np.asarray(skeleton.parents)
    bone = x - x[:, np.maximum(parents, 0)]
    directions, lengths = _unit(bone)
    root_joint = skeleton.parents.index(-1)
    directions[:, root_joint] = np.where(np.isnan(x[:, root_joint]), np.nan, 0.0)
    lengths[:, root_joint] = np.where(np.all(np.isfinite(x[:, root_joint]), axis=-1), 0.0, np.nan)
    return x[:, _root_chain(skeleton)[-1]].copy(), directions, lengths


def from_rotations(root: np.ndarray, directions: np.ndarray, lengths: np.ndarray,
                   skeleton: Skeleton) -> np.ndarray:
    """Joints ``(T, J, 3)`` float64 from ``root (T, 3)``, ``directions (T, J, 3)`` and
    ``lengths`` ``(T, J)`` or ``(J,)`` (constant): the inverse of :func:`to_rotations`.

    Directions are used as given (not renormalised). NaN spreads from a joint to the joints
    built from it.
    """
    if not isinstance(skeleton, Skeleton):
        raise Pose2RigError(f"from_rotations: expected a Skeleton, got {type(skeleton).__name__}")
    r = np.asarray(root, dtype=np.float64)
    d = np.asarray(directions, dtype=np.float64)
    n = skeleton.num_joints
    if r.ndim != 2 or r.shape[-1] != 3 or d.shape != (r.shape[0], n, 3):
        raise Pose2RigError(
            f"from_rotations: expected root (T, 3) and directions (T, {n}, 3), got {r.shape} and "
            f"{d.shape}")
    ln = np.asarray(lengths, dtype=np.float64)
    if ln.shape == (n,):
        ln = np.broadcast_to(ln, d.shape[:2])
    if ln.shape != d.shape[:2]:
        raise Pose2RigError(f"from_rotations: expected lengths ({r.shape[0]}, {n}) or ({n},), got {ln.shape}")
    chain = _root_chain(skeleton)
    pos = np.empty((r.shape[0], len(chain), 3))
    pos[:, -1] = r
    for k in range(len(chain) - 2, -1, -1):
        child = chain[k + 1]
        pos[:, k] = pos[:, k + 1] - ln[:, child, None] * d[:, child]
    return _build(pos, d, ln, skeleton, chain)


def bone_lengths(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """``(J,)`` float64: each joint's distance to its parent, the median over the frames where
    both are finite; 0 for the root. Raises :class:`Pose2RigError` when a bone is never seen
    (no frame has both its joints finite; in particular when no frame is finite)."""
    x = _joints(joints, skeleton, "bone_lengths")
    _, _, lengths = to_rotations(x, skeleton)
    seen = np.isfinite(lengths)
    never = [skeleton.joint_names[j] for j in np.flatnonzero(~seen.any(axis=0))]
    if never:
        what = "no frame is finite" if not seen.any() else f"never seen with its parent: {', '.join(never)}"
        raise Pose2RigError(f"bone_lengths: {x.shape[0]} frames of {skeleton.name!r} but {what}")
    return np.nanmedian(lengths, axis=0)


def _constant_lengths(lengths: np.ndarray | None, x: np.ndarray, skeleton: Skeleton, where: str) -> np.ndarray:
    if lengths is None:
        return bone_lengths(x, skeleton)
    ln = np.asarray(lengths, dtype=np.float64)
    if ln.shape != (skeleton.num_joints,) or not np.all(np.isfinite(ln)) or np.any(ln < 0):
        raise ArgumentError(
            f"{{lengths}} must be ({skeleton.num_joints},) finite non-negative bone lengths, got "
            f"shape {ln.shape}", "lengths")
    return ln


# ----------------------------------------------------------------------------- bone lengths


def enforce_bone_lengths(joints: np.ndarray, skeleton: Skeleton,
                         lengths: np.ndarray | None = None) -> np.ndarray:
    """Give every bone its constant length while moving the end effectors as little as it can.

    The rule, per seen frame:

    - The root chain (the body root and any joint above it) stays where it is.
    - Every other joint outside a two-bone limb is rebuilt outward from its (rebuilt) parent
      along its own bone's direction, at its constant length (the trunk, neck, head,
      clavicles, and the joints below the limbs' ends).
    - Each two-bone limb (hip-knee-ankle, shoulder-elbow-wrist; see the module doc) keeps its
      end effector's world position: from the rebuilt upper joint, analytic two-bone IK
      (:func:`pose2rig.clean.footlock.two_bone_ik`) places the middle joint in the limb's bend
      plane (the bend's side from the middle joint's own direction) so that the end effector
      lands where it was. When that point is out of reach (farther than the two bones, or
      nearer than their difference) the limb points straight (or folds) toward it and the end
      effector lands on the nearest reachable point. Joints below the end effector (toes,
      fingers) ride along: rebuilt from it along their own directions.

    So an end effector moves only when its old position cannot be reached with the new lengths,
    and then by the least distance the limb allows.

    Args:
        joints: ``(T, J, 3)``; frames with any non-finite joint are returned unchanged.
        skeleton: the joints' skeleton.
        lengths: ``(J,)`` bone lengths (the root's is ignored); default
            :func:`bone_lengths` of ``joints``.

    Returns:
        ``(T, J, 3)`` float64, a new array.
    """
    x = _joints(joints, skeleton, "enforce_bone_lengths")
    seen = np.all(np.isfinite(x), axis=(1, 2))
    out = x.copy()
    if not seen.any():
        return out
    ln = _constant_lengths(lengths, x, skeleton, "enforce_bone_lengths")
    f = x[seen]
    y = f.copy()
    chain = set(_root_chain(skeleton))
    limbs = {b: (a, b, c) for a, b, c in _limbs(skeleton)}
    ends = {c for _, _, c in limbs.values()}
    for j, p in enumerate(skeleton.parents):
        if j in chain or j in ends:
            continue
        if j in limbs:
            a, b, c = limbs[j]
            mid = y[:, a] + ln[b] * _unit(f[:, b] - f[:, a])[0]
            end = mid + ln[c] * _unit(f[:, c] - f[:, b])[0]
            y[:, b], y[:, c] = two_bone_ik(y[:, a], mid, end, f[:, c], mid)
        else:
            y[:, j] = y[:, p] + ln[j] * _unit(f[:, j] - f[:, p])[0]
    out[seen] = y
    return out


# ----------------------------------------------------------------------------- gaps


VELOCITY_WINDOW = 0.3
"""Seconds of consecutive seen frames beyond a gap's end that give that end's velocity (a
least-squares line). Chosen on the CMU tuning clips with the benchmark's corruption (15 mm
jitter, gaps of 1-10 frames): the root's error inside gaps was 29 mm from 3 frames, 26 mm from
5 and 24 mm from 9 (0.3 s); 22 mm from the straight line, which no longer follows motion
into a long gap."""


def _end_velocity(p: np.ndarray, seen: np.ndarray, end: int, step: int, frames: int) -> np.ndarray | None:
    """Velocity (units per frame) of track ``p (T, 3)`` at seen frame ``end``: the slope of the
    least-squares line through it and up to ``frames - 1`` more consecutive seen frames away
    from the gap (``step`` -1: before it, +1: after); None when ``end`` is the only one."""
    idx = [end]
    for k in range(1, frames):
        i = end + step * k
        if not (0 <= i < len(seen) and seen[i]):
            break
        idx.append(i)
    if len(idx) == 1:
        return None
    x = np.asarray(idx, dtype=np.float64)
    x -= x.mean()
    y = p[idx]
    return (x @ (y - y.mean(axis=0))) / (x @ x)


def _root_across(p: np.ndarray, seen: np.ndarray, before: int, after: int, fps: float,
                 max_speed: float | None) -> np.ndarray:
    """Track ``p (T, 3)`` on the missing frames between seen frames ``before`` and ``after``:
    cubic Hermite with the end velocities, pulled toward the straight line until no step's
    speed exceeds the limit (see :func:`fill_gaps_kinematic`). Returns ``(after - before - 1, 3)``."""
    n = after - before
    p0, p1 = p[before], p[after]
    chord = (p1 - p0) / n  # per frame
    frames = max(3, int(round(VELOCITY_WINDOW * fps)))
    v0 = _end_velocity(p, seen, before, -1, frames)
    v1 = _end_velocity(p, seen, after, +1, frames)
    v0 = chord if v0 is None else v0
    v1 = chord if v1 is None else v1
    s = (np.arange(1, n) / n)[:, None]
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    hermite = h00 * p0 + h10 * n * v0 + h01 * p1 + h11 * n * v1
    line = p0 + s * (p1 - p0)
    c = float(np.linalg.norm(chord)) * fps
    if max_speed is None:
        limit = max(c, float(np.linalg.norm(v0)) * fps, float(np.linalg.norm(v1)) * fps)
    else:
        limit = max(c, max_speed)
    limit *= 1.0 + 1e-9

    def top_speed(alpha: float) -> float:
        path = np.concatenate([p0[None], line + alpha * (hermite - line), p1[None]])
        return float(np.max(np.linalg.norm(np.diff(path, axis=0), axis=-1))) * fps

    alpha = 1.0
    if top_speed(1.0) > limit:  # the steps' speeds are convex in alpha and the line's is c
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if top_speed(mid) <= limit else (lo, mid)
        alpha = lo
    return line + alpha * (hermite - line)


def fill_gaps_kinematic(joints: np.ndarray, skeleton: Skeleton, fps: float, *,
                        max_speed: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill every missing frame (a gap of any length) in rotation space.

    Inside a gap between two seen frames:

    - each bone's direction turns along the great circle from its direction on the seen frame
      before to the one after (the shorter arc; an antipodal pair turns about a fixed
      perpendicular), so every filled bone keeps its length where linear interpolation of
      positions would shorten it;
    - each bone's length goes linearly from one end's to the other's;
    - the root chain (the body root, and any joint above it) follows a cubic Hermite curve
      between the two ends, with each end's velocity from a line fitted to that end and the
      consecutive seen frames beyond it, up to :data:`VELOCITY_WINDOW` seconds (at least 3
      frames; the straight-line velocity across the gap where the end has no seen neighbour). The curve is pulled toward the straight line, just enough,
      until no frame-to-frame speed over the gap (the steps into and out of it included)
      exceeds the limit: ``max(max_speed, c)`` when ``max_speed`` is given, else
      ``max(c, |v_before|, |v_after|)`` (no faster than the subject moved at either end), with
      ``c`` the straight-line speed across the gap. So the root never holds and then jumps,
      and never overshoots.

    Leading and trailing gaps (no seen frame on one side) hold the nearest seen frame.

    Args:
        joints: ``(T, J, 3)``, NaN where missing; a frame with any non-finite joint is filled
            whole.
        skeleton: the joints' skeleton.
        fps: frames per second.
        max_speed: speed the root chain may reach inside a gap (units per second), when it is
            more than the straight-line speed; see above.

    Returns:
        ``(T, J, 3)`` float64 filled joints (a new array) and ``(T,)`` bool: the frames filled.
    """
    x = checked_joints(_joints(joints, skeleton, "fill_gaps_kinematic"), skeleton, fps, "fill_gaps_kinematic")
    if max_speed is not None and not (np.isfinite(max_speed) and max_speed > 0):
        raise ArgumentError(f"{{max_speed}} must be a positive number of units per second, got {max_speed}",
                            "max_speed")
    t = x.shape[0]
    seen = np.all(np.isfinite(x), axis=(1, 2))
    if not seen.any():
        raise Pose2RigError(
            f"fill_gaps_kinematic: none of the {t} frames has all {skeleton.num_joints} joints "
            "finite; there is nothing to fill from")
    out = x.copy()
    _, directions, lengths = to_rotations(x, skeleton)
    chain = _root_chain(skeleton)
    for start, stop in finite_runs(~seen):
        before, after = start - 1, stop
        if before < 0 or after >= t:
            out[start:stop] = x[after if before < 0 else before]
            continue
        w = (np.arange(start, stop) - before) / (after - before)
        d = slerp(directions[before], directions[after], w[:, None])
        ln = (1.0 - w[:, None]) * lengths[before] + w[:, None] * lengths[after]
        pos = np.stack([_root_across(x[:, c], seen, before, after, fps, max_speed) for c in chain], axis=1)
        out[start:stop] = _build(pos, d, ln, skeleton, chain)
    return out, ~seen


# ----------------------------------------------------------------------------- smoothing


def smooth_kinematic(
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    *,
    method: str = CleanOptions.smooth,
    min_cutoff: float = CleanOptions.min_cutoff,
    beta: float = CleanOptions.beta,
    window: float = CleanOptions.window,
    root_min_cutoff: float | None = None,
    root_beta: float | None = None,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """Smooth the root and the bones separately, then rebuild the positions outward.

    The root chain's tracks (positions; see the module doc) are smoothed with
    :func:`pose2rig.clean.smooth.smooth_array` (One-Euro's ``root_min_cutoff`` and
    ``root_beta``, default ``min_cutoff`` and ``beta``), one track at a time; so are the bones
    (each bone's direction times its length on that frame, all bones together). The smoothed
    bones give the directions (renormalised) and, unless ``lengths`` is given, each frame's
    length. The joints are rebuilt outward from the smoothed root chain.

    ``beta`` keeps its meaning of :func:`~pose2rig.clean.smooth.smooth_array` on positions (per
    subject height per second, the subject's size taken from ``joints``): :func:`smooth_array`
    normalises each call by the spread of what it is given, which for a root track or for bone
    vectors is not the subject's height, so the ``beta`` passed on is rescaled to match.

    Why per-frame lengths by default: on the CMU tuning clips with 15 mm noise, rebuilding with
    the clip's constant lengths was 2 mm worse in MPJPE than the smoothed per-frame lengths
    (direction errors no longer cancel along a chain the way position noise does), and jitter
    was worse too. Pass ``lengths=bone_lengths(joints, skeleton)`` (or run
    :func:`enforce_bone_lengths` after) for bones of one length over the clip.

    Args:
        joints: ``(T, J, 3)``; frames with any non-finite joint are returned unchanged (the
            filter restarts after them; fill gaps first to smooth across them).
        skeleton: the joints' skeleton.
        fps: frames per second.
        method, min_cutoff, beta, window: as :func:`pose2rig.clean.smooth.smooth_array`
            (``"one_euro"``, ``"savgol"`` or ``"none"``).
        root_min_cutoff, root_beta: One-Euro's parameters for the root chain.
        lengths: ``(J,)`` constant bone lengths to rebuild with; default each frame's own,
            smoothed.

    Returns:
        ``(T, J, 3)`` float64, a new array.
    """
    x = checked_joints(_joints(joints, skeleton, "smooth_kinematic"), skeleton, fps, "smooth_kinematic")
    seen = np.all(np.isfinite(x), axis=(1, 2))
    out = x.copy()
    if not seen.any():
        return out
    xs = np.where(seen[:, None, None], x, np.nan)
    ln = None if lengths is None else _constant_lengths(lengths, xs, skeleton, "smooth_kinematic")
    chain = _root_chain(skeleton)
    bones = xs - xs[:, np.maximum(np.asarray(skeleton.parents), 0)]
    bones[:, chain] = np.where(seen[:, None, None], 0.0, np.nan)  # the root chain is smoothed as tracks
    times = np.arange(x.shape[0]) / fps
    size = subject_scale(xs)
    root_beta = beta if root_beta is None else root_beta
    root_cutoff = min_cutoff if root_min_cutoff is None else root_min_cutoff
    # one track at a time: the joints of a root chain can be metres apart (a ground root left
    # behind by the hips), which would change the normalisation of smooth_array
    pos = np.concatenate([
        smooth_array(xs[:, [c]], times, method=method, min_cutoff=root_cutoff,
                     beta=root_beta * subject_scale(xs[:, [c]]) / size, window=window)
        for c in chain], axis=1).astype(np.float64)
    smoothed = smooth_array(bones, times, method=method, min_cutoff=min_cutoff,
                            beta=beta * subject_scale(bones) / size, window=window).astype(np.float64)
    directions, own = _unit(smoothed)
    rebuilt = _build(pos, directions, own if ln is None else np.broadcast_to(ln, own.shape), skeleton, chain)
    out[seen] = rebuilt[seen]
    return out
