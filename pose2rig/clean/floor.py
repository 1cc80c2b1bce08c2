"""The floor: a plane fitted to where the feet rest over a clip, and the change of frame that
puts it at y = 0, level.

Convention:
    - Input joints ``(T, J, 3)`` metres in any frame whose "up" is roughly ``up`` (default +Y:
      pose2rig's world, or a camera-derived frame with a pitched camera, whose floor is then
      tilted by the pitch). NaN marks missing frames.
    - The plane is ``normal . x == offset``, ``normal`` a unit vector pointing to the body's
      side (within ``max_tilt`` of ``up``). :meth:`Floor.height` is the signed height above it.
    - :attr:`Floor.transform` rotates ``normal`` onto +Y by the smallest rotation and lifts the
      floor to y = 0: a Y-up world frame. It keeps the heading; for a Y-down camera frame turn
      the axes first (:data:`pose2rig.geometry.CAMERA_TO_YUP`), else the smallest rotation is a
      half turn.
    - Foot points are found by joint name (:func:`foot_points`): ankles always where present,
      heels and toes where the joint set has them (MediaPipe's ``left_heel`` and
      ``left_foot_index``, BVH ``LeftToeBase`` / ``Toes_L`` / ``ball_l`` ...). Each kind sits at
      its own height above the sole, so the plane is fitted with one offset per kind.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pose2rig.clean._tracks import checked_joints, condition_track
from pose2rig.errors import Pose2RigError
from pose2rig.geometry import rotation_between
from pose2rig.skeletons import ANKLE_HEIGHT
from pose2rig.skeletons.names import find_bone
from pose2rig.types import Skeleton

__all__ = ["FOOT_POINT_HEIGHTS", "Floor", "FootPoint", "fit_floor", "foot_points"]

log = logging.getLogger(__name__)

FOOT_POINT_HEIGHTS: Mapping[str, float] = {"ankle": ANKLE_HEIGHT, "heel": 0.03, "toe": 0.03}
"""Height (m) above the floor of each kind of foot point when the foot is flat: the ankle joint
sits on the malleolus, 7-9 cm up (:data:`pose2rig.skeletons.ANKLE_HEIGHT`); MediaPipe's heel and
foot-index points and BVH toe joints about 3 cm up. The floor is placed this far below the
fitted contact level of the lowest kind present."""

_KINDS = ("ankle", "heel", "toe")
_NAMES = {  # exact joint names of pose2rig's joint sets, then BVH roles through find_bone
    "ankle": ("{side}_ankle",),
    "heel": ("{side}_heel",),
    "toe": ("{side}_foot_index", "{side}_toe", "{side}_big_toe"),
}
_ROLES = {"ankle": "{side}_foot", "heel": None, "toe": "{side}_toe"}
_HEEL_NAMES = ("{Side}Heel", "Heel_{S}", "heel_{s}", "heel.{s}", "{S}_Heel")


@dataclass(frozen=True)
class FootPoint:
    """One foot point of a skeleton: ``skeleton.joint_names[index] == name``; ``side`` is
    ``"left"`` or ``"right"``, ``kind`` ``"ankle"``, ``"heel"`` or ``"toe"``."""

    name: str
    index: int
    side: str
    kind: str


def foot_points(skeleton: Skeleton) -> tuple[FootPoint, ...]:
    """The foot points that ``skeleton`` has, left then right, ankle, heel, toe in each.

    Human3.6M-17 gives the two ankles; MediaPipe-33 ankles, heels and foot indices; a BVH
    skeleton its foot joints (as ankles) and toe joints. Empty when there are none.
    """
    names = skeleton.joint_names
    out: list[FootPoint] = []
    taken: set[int] = set()
    for side in ("left", "right"):
        s = side[0]
        for kind in _KINDS:
            index = None
            for pattern in _NAMES[kind]:
                name = pattern.format(side=side)
                if name in names and names.index(name) not in taken:
                    index = names.index(name)
                    break
            role = _ROLES[kind]
            if index is None and role is not None:
                index = find_bone(names, role.format(side=side), exclude=taken)
            if index is None and kind == "heel":
                lowered = {n.lower(): i for i, n in enumerate(names)}
                for pattern in _HEEL_NAMES:
                    n = pattern.format(Side=side.capitalize(), S=s.upper(), s=s).lower()
                    if n in lowered and lowered[n] not in taken:
                        index = lowered[n]
                        break
            if index is not None:
                taken.add(index)
                out.append(FootPoint(names[index], index, side, kind))
    return tuple(out)


@dataclass(frozen=True)
class Floor:
    """A floor plane ``normal . x == offset`` in the input's frame (see the module doc).

    Attributes:
        normal: ``(3,)`` unit normal, pointing up (to the body's side).
        offset: the plane's distance along ``normal`` from the origin, metres.
        contact_heights: foot point name -> its height above the floor when planted (the
            median over the fit's inliers), metres: the reference for contact detection.
        method: ``"plane"`` (tilt fitted in both directions), ``"line"`` (the feet rested
            along one line only: tilt fitted about that line, level from ``up`` across it),
            ``"level"`` (too few or too clustered contacts: a plane square to ``up`` at the
            feet's low percentile).
        inliers: how many foot samples the plane rests on.
    """

    normal: np.ndarray
    offset: float
    contact_heights: Mapping[str, float] = field(default_factory=dict)
    method: str = "plane"
    inliers: int = 0

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed height above the floor of ``points (..., 3)``: ``(...)`` metres."""
        return np.asarray(points, dtype=np.float64) @ self.normal - self.offset

    @property
    def rotation(self) -> np.ndarray:
        """``(3, 3)`` the smallest rotation taking :attr:`normal` onto +Y."""
        return rotation_between(self.normal, np.array([0.0, 1.0, 0.0]))

    @property
    def transform(self) -> np.ndarray:
        """``(4, 4)`` homogeneous map (column vectors) into the level frame: floor at y = 0."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[1, 3] = -self.offset
        return m

    @property
    def tilt(self) -> float:
        """Angle (radians) between the floor's normal and the input's +Y."""
        return float(np.arccos(np.clip(self.normal[1], -1.0, 1.0)))

    def level(self, points: np.ndarray) -> np.ndarray:
        """``points (..., 3)`` in the level frame (floor at y = 0, normal +Y)."""
        m = self.transform
        return np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]

    def as_arrays(self, prefix: str = "floor_") -> dict[str, np.ndarray]:
        """The plane as npz-ready arrays: ``normal (3,)``, ``offset ()``, ``transform (4, 4)``."""
        return {
            f"{prefix}normal": np.asarray(self.normal, dtype=np.float64),
            f"{prefix}offset": np.asarray(self.offset, dtype=np.float64),
            f"{prefix}transform": self.transform,
        }


def _densest(h: np.ndarray, width: float) -> tuple[float, int]:
    """Centre (median) and size of the most populated interval of ``width`` among ``h``."""
    s = np.sort(h)
    counts = np.searchsorted(s, s + width, side="right") - np.arange(s.size)
    i = int(np.argmax(counts))
    return float(np.median(s[i:i + counts[i]])), int(counts[i])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def fit_floor(
    joints: np.ndarray,
    skeleton: Skeleton,
    *,
    fps: float,
    up: tuple[float, float, float] = (0.0, 1.0, 0.0),
    max_tilt: float = np.radians(45.0),
    speed_threshold: float = 0.3,
    inlier_distance: float = 0.03,
    min_points: int = 20,
    min_spread: float = 0.2,
    percentile: float = 5.0,
    point_heights: Mapping[str, float] = FOOT_POINT_HEIGHTS,
    iterations: int = 300,
    seed: int = 0,
) -> Floor:
    """Fit the floor under a clip: a robust plane through the feet's slow samples.

    The foot points (:func:`foot_points`) are de-spiked and smoothed; their samples moving
    slower than ``speed_threshold`` are the candidate contacts. RANSAC on triples of one kind
    of point proposes normals within ``max_tilt`` of ``up``; each kind gets its own offset (the
    densest band along the normal), and the plane with the most samples within
    ``inlier_distance`` wins (``max_tilt=0``: the floor is square to ``up``, only its height is
    fitted). It is refined by least squares with one intercept per kind. Where
    the inliers spread less than ``min_spread`` (m, standard deviation) across a direction,
    the tilt about that direction is taken from ``up`` (standing still on two feet fixes no
    tilt). With fewer than ``min_points`` candidates the floor is square to ``up`` at the
    ``percentile`` of the lowest kind's height, and a warning says so. No foot goes through the
    floor: where a foot point's ``percentile`` height lies more than ``inlier_distance`` below its
    resting height (the slow samples were a foot held up while the standing foot drifted), the
    plane is lowered to it.

    Args:
        joints: ``(T, J, 3)`` metres, NaN where missing.
        skeleton: names the joints (it needs ankles, heels or toes).
        fps: frames per second of ``joints``.
        up: the input's rough up direction.
        point_heights: kind -> height of that point above the floor when the foot is flat.
        seed: seeds the RANSAC sampling (the fit is deterministic).

    Returns:
        The :class:`Floor`.
    """
    p = checked_joints(joints, skeleton, fps, "fit_floor")
    feet = foot_points(skeleton)
    if not feet:
        raise Pose2RigError(
            f"fit_floor: skeleton {skeleton.name!r} has no foot joints (ankles, heels or toes); "
            f"it has {', '.join(skeleton.joint_names)}"
        )
    u = _unit(np.asarray(up, dtype=np.float64))
    kinds = [k for k in _KINDS if any(f.kind == k for f in feet)]

    pts: list[np.ndarray] = []
    group: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    all_pos: list[tuple[FootPoint, np.ndarray]] = []
    for n_f, f in enumerate(feet):
        pos, vel, valid = condition_track(p[:, f.index], fps)
        if not valid.any():
            continue
        all_pos.append((f, pos[valid]))
        slow = valid & (np.linalg.norm(vel, axis=-1) < speed_threshold)
        pts.append(pos[slow])
        group.append(np.full(int(slow.sum()), kinds.index(f.kind)))
        owner.append(np.full(int(slow.sum()), n_f))
    if not all_pos:
        raise Pose2RigError("fit_floor: every frame of the feet is missing (NaN)")
    cand = np.concatenate(pts)
    g = np.concatenate(group)
    who = np.concatenate(owner)

    def contact_heights(normal: np.ndarray, offset: float, mask: np.ndarray) -> dict[str, float]:
        out = {}
        for n_f, f in enumerate(feet):
            m = mask & (who == n_f)
            if not m.any():
                m = mask & (g == kinds.index(f.kind))
            h = cand[m] @ normal - offset
            out[f.name] = float(np.median(h)) if h.size else point_heights[f.kind]
        return out

    def floor_offset(levels: dict[int, float]) -> float:
        k = min(levels, key=lambda k: point_heights[kinds[k]])  # the kind closest to the sole
        return levels[k] - point_heights[kinds[k]]

    if cand.shape[0] < min_points:
        lowest_kind = min((f.kind for f, _ in all_pos), key=lambda k: point_heights[k])
        hs = np.concatenate([pos @ u for f, pos in all_pos if f.kind == lowest_kind])
        level = float(np.percentile(hs, percentile))
        offset = level - point_heights[lowest_kind]
        warnings.warn(
            f"floor: the feet rest in only {cand.shape[0]} samples ({min_points} are needed to fit its "
            f"tilt); taking a level floor under the feet's {percentile:g}th-percentile height",
            stacklevel=2,
        )
        heights = {f.name: point_heights[f.kind] for f in feet}
        return Floor(u, offset, heights, "level", 0)

    rng = np.random.default_rng(seed)
    sample, sample_g = cand, g
    if cand.shape[0] > 4000:
        idx = rng.choice(cand.shape[0], 4000, replace=False)
        sample, sample_g = cand[idx], g[idx]
    by_kind = [np.flatnonzero(sample_g == k) for k in range(len(kinds))]
    usable = [k for k in range(len(kinds)) if by_kind[k].size >= 3]
    weights = np.array([by_kind[k].size for k in usable], dtype=np.float64)

    def score(normal: np.ndarray, pts_: np.ndarray, g_: np.ndarray) -> tuple[int, dict[int, float]]:
        total, levels = 0, {}
        for k in range(len(kinds)):
            h = pts_[g_ == k] @ normal
            if h.size:
                levels[k], c = _densest(h, 2 * inlier_distance)
                total += c
        return total, levels

    best_n, best_count = u, score(u, sample, sample_g)[0]
    cos_max = np.cos(max_tilt)
    for _ in range(iterations if usable else 0):
        k = usable[rng.choice(len(usable), p=weights / weights.sum())]
        a, b, c = sample[rng.choice(by_kind[k], 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-6:
            continue
        n = n / norm
        if n @ u < 0:
            n = -n
        if n @ u < cos_max:
            continue
        count = score(n, sample, sample_g)[0]
        if count > best_count:
            best_n, best_count = n, count

    # refine: least squares with one intercept per kind, tilt only where the inliers spread
    normal = best_n
    method = "plane"
    for _ in range(5):
        _, levels = score(normal, cand, g)
        h = cand @ normal
        inl = np.zeros(cand.shape[0], dtype=bool)
        for k, lv in levels.items():
            inl |= (g == k) & (np.abs(h - lv) <= inlier_distance)
        centred = cand[inl].copy()
        for k in levels:
            m = g[inl] == k
            centred[m] -= centred[m].mean(axis=0)
        evals, evecs = np.linalg.eigh(centred.T @ centred / max(1, centred.shape[0]))
        spread = np.sqrt(np.maximum(evals, 0.0))
        if spread[1] >= min_spread:
            new = evecs[:, 0]
            method = "plane"
        elif spread[2] >= min_spread:
            e1 = evecs[:, 2]
            new = u - (u @ e1) * e1
            method = "line"
        else:
            new = u
            method = "level"
        new = _unit(new)
        if new @ u < 0:
            new = -new
        if np.arccos(np.clip(new @ u, -1.0, 1.0)) > max_tilt + 1e-9:  # the refit is held to max_tilt too
            new, method = u, "level"
        if np.allclose(new, normal, atol=1e-9):
            normal = new
            break
        normal = new
    _, levels = score(normal, cand, g)
    h = cand @ normal
    inl = np.zeros(cand.shape[0], dtype=bool)
    for k, lv in levels.items():
        inl |= (g == k) & (np.abs(h - lv) <= inlier_distance)
    for k in levels:
        m = inl & (g == k)
        levels[k] = float(np.median(h[m]))
    offset = floor_offset(levels)
    heights = contact_heights(normal, offset, inl)
    # no foot stands in the floor: the slow samples can belong to a foot held up while the one
    # on the floor drifts (a lifter's depth noise); a foot whose low heights lie below its
    # resting height pulls the plane down to it, and rests on it
    sunk = {f.name: float(np.percentile(pos @ normal - offset, percentile)) - point_heights[f.kind]
            for f, pos in all_pos}
    lowest = min(sunk.values())
    if lowest < -inlier_distance:
        offset += lowest
        heights = {name: h - lowest for name, h in heights.items()}
        for f, _ in all_pos:
            if sunk[f.name] < -inlier_distance:
                heights[f.name] = point_heights[f.kind] + sunk[f.name] - lowest
        log.info("floor: %.0f cm lower than the slow foot samples say, so that no foot goes through it",
                 -100 * lowest)
    log.debug("fit_floor: %s, tilt %.2f deg, %d inliers", method,
              np.degrees(np.arccos(np.clip(normal @ u, -1, 1))), int(inl.sum()))
    return Floor(normal, float(offset), heights, method, int(inl.sum()))
