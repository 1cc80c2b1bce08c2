"""Foot locking: planted feet stay put, the root follows them, two-bone leg IK absorbs the rest.

Convention:
    - ``joints (T, J, 3)`` metres, ``up`` (default +Y) the floor's normal, NaN where missing
      (missing frames stay missing and are never used); frames at a constant ``fps``.
    - The legs are found by joint name: ``{side}_hip``, ``{side}_knee``, ``{side}_ankle`` for
      ``side`` in ``left``, ``right`` (Human3.6M-17, COCO-17 and MediaPipe-33 names), else by
      bone role (:mod:`pose2rig.skeletons.names`: the thigh, shin and foot joints of BVH and rig
      skeletons, ``LeftUpLeg``/``LeftLeg``/``LeftFoot``, ``UpperLeg_L``/``LowerLeg_L``/``Foot_L``,
      ``CC_Base_L_Thigh``/``_Calf``/``_Foot``); hip, knee and ankle must descend from one
      another. The ankle is the locked foot point; heels and toes, where a joint set has them, are not moved by the
      IK (a later step re-attaches them).
    - ``contacts`` is :class:`~pose2rig.clean.contacts.FootContacts` from
      :func:`~pose2rig.clean.contacts.foot_contacts` on the same joints: one column per foot
      point of :func:`~pose2rig.clean.floor.foot_points` (only the ankle columns are used).
    - Which joints move: every joint by one horizontal shift per frame (the root correction),
      then each leg's knee and ankle (the IK). Hips, spine, arms and head only take the shift,
      so their bones keep their lengths exactly; while a foot is locked its thigh and shin take
      the clip's median lengths (eased in and out with the lock's weight), so a leg stretched
      by noise or a slide is not locked at that length.
"""

from __future__ import annotations

import numpy as np

from pose2rig.clean._common import finite_runs
from pose2rig.clean._tracks import checked_joints
from pose2rig.clean.contacts import FootContacts
from pose2rig.clean.floor import foot_points
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.skeletons.names import match_bones
from pose2rig.types import Skeleton

__all__ = ["lock_feet", "two_bone_ik"]

_EPS = 1e-9


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v (..., 3)`` divided by its norm, and the norm ``(...)`` (0-length vectors stay 0)."""
    n = np.linalg.norm(v, axis=-1)
    return v / np.where(n > _EPS, n, 1.0)[..., None], n


def _any_perpendicular(u: np.ndarray) -> np.ndarray:
    """A unit vector square to each unit ``u (..., 3)``."""
    axis = np.zeros_like(u)
    use_x = np.abs(u[..., 0]) < 0.9
    axis[..., 0] = use_x
    axis[..., 1] = ~use_x
    return _unit(np.cross(u, axis))[0]


def two_bone_ik(
    hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray, pole: np.ndarray,
    lengths: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK: move ``knee`` and ``ankle`` so that the ankle reaches ``target``.

    The hip stays; the thigh (hip-knee) and shin (knee-ankle) keep their lengths exactly (to
    floating point). The knee lies in the plane of hip, target and ``pole`` (a point the knee
    bends toward: pass the current knee to keep the bend's direction), on the pole's side. A
    target out of reach (farther than thigh + shin, or nearer than their difference) is
    clamped: the leg points straight at it (or folds toward it), the ankle as near as it can.
    Where the pole lies on the hip-target line, the current knee's side is used, and failing
    that any side.

    Args:
        hip, knee, ankle, target, pole: ``(..., 3)`` metres (broadcast together, e.g.
            ``(T, 3)`` for one leg over T frames).
        lengths: the thigh's and the shin's lengths ``(...)`` to give the leg instead of its
            current ones.

    Returns:
        ``(knee, ankle)``, each ``(..., 3)`` float64.
    """
    hip, knee, ankle, target, pole = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (hip, knee, ankle, target, pole)))
    if lengths is None:
        l1 = np.linalg.norm(knee - hip, axis=-1)
        l2 = np.linalg.norm(ankle - knee, axis=-1)
    else:
        l1, l2 = (np.broadcast_to(np.asarray(v, dtype=np.float64), hip.shape[:-1]) for v in lengths)
    u, dist = _unit(target - hip)
    u = np.where((dist > _EPS)[..., None], u, _unit(ankle - hip)[0])
    reach = np.clip(dist, np.abs(l1 - l2), l1 + l2)

    def side(point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = point - hip
        return _unit(p - np.sum(p * u, axis=-1, keepdims=True) * u)

    v, n = side(pole)
    v_knee, n_knee = side(knee)
    v = np.where((n > 1e-6)[..., None], v, np.where((n_knee > 1e-6)[..., None], v_knee, _any_perpendicular(u)))

    cos_a = np.where(reach * l1 > _EPS, (l1 ** 2 + reach ** 2 - l2 ** 2) / np.maximum(2.0 * l1 * reach, _EPS), 1.0)
    cos_a = np.clip(cos_a, -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a ** 2)
    new_knee = hip + l1[..., None] * (cos_a[..., None] * u + sin_a[..., None] * v)
    shin, _ = _unit(hip + reach[..., None] * u - new_knee)
    new_ankle = new_knee + l2[..., None] * shin
    return new_knee, new_ankle


def _legs(skeleton: Skeleton, contacts: FootContacts) -> list[tuple[int, int, int, int]]:
    """``(hip, knee, ankle, contact column)`` of each leg whose ankle is a foot point."""
    names = skeleton.joint_names
    columns = {f.index: c for c, f in enumerate(foot_points(skeleton))}
    n_cols = np.shape(contacts.weights)[1] if np.ndim(contacts.weights) == 2 else -1
    if n_cols != len(columns):
        raise Pose2RigError(
            f"lock_feet: expected contacts with {len(columns)} columns (the foot points of "
            f"{skeleton.name!r}), got weights of shape {np.shape(contacts.weights)}")
    roles = match_bones(names, [f"{s}_{part}" for s in ("left", "right") for part in ("thigh", "shin", "foot")])

    def descends(child: int, ancestor: int) -> bool:
        while child >= 0 and child != ancestor:
            child = skeleton.parents[child]
        return child == ancestor

    legs = []
    for side in ("left", "right"):
        joint = [f"{side}_{part}" for part in ("hip", "knee", "ankle")]
        if all(j in names for j in joint):
            hip, knee, ankle = (names.index(j) for j in joint)
        elif all(f"{side}_{part}" in roles for part in ("thigh", "shin", "foot")):
            hip, knee, ankle = (roles[f"{side}_{part}"] for part in ("thigh", "shin", "foot"))
        else:
            continue
        if ankle in columns and descends(ankle, knee) and descends(knee, hip) and hip != knee != ankle:
            legs.append((hip, knee, ankle, columns[ankle]))
    if not legs:
        raise Pose2RigError(
            f"lock_feet: skeleton {skeleton.name!r} has no legs (hip, knee and ankle joints named "
            f"<side>_hip, <side>_knee, <side>_ankle or as a rig's thigh, shin and foot); it has "
            f"{', '.join(names)}")
    return legs


def _ramp_out(on: np.ndarray, ramp: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(T,)`` that are 1 on the contact frames ``on (T,)`` and ease to 0 (smoothstep)
    over ``ramp`` frames before and after each contact run, and for every frame the contact
    frame whose correction it carries (-1 where the weight is 0)."""
    t = on.size
    w = np.where(on, 1.0, 0.0)
    src = np.where(on, np.arange(t), -1)
    x = 1.0 - np.arange(1, ramp + 1) / (ramp + 1.0)
    ease = x * x * (3.0 - 2.0 * x)
    for a, b in finite_runs(on):
        for i, e in enumerate(ease):
            for frame, edge in ((a - 1 - i, a), (b + i, b - 1)):
                if 0 <= frame < t and e > w[frame]:
                    w[frame], src[frame] = e, edge
    return w, src


def lock_feet(
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    contacts: FootContacts,
    *,
    up: tuple[float, float, float] = (0.0, 1.0, 0.0),
    root_follow: float = 0.0,
    blend: float = 0.1,
    max_correction: float = 0.25,
) -> np.ndarray:
    """Pin each planted ankle where it rests; the body's horizontal travel follows it.

    1. Planting: during each contact run of an ankle (a run of ``contacts.contacts``), its
       planted position is the mean of its positions over the run, weighted by
       ``contacts.weights`` (so the frames where the foot lands and lifts count less); it keeps
       the mean height the ankle has over the run. Each frame of the run then asks for the
       correction ``planted - ankle``; for ``blend`` seconds before and after the run the
       correction of the run's first (last) frame is carried with a weight easing from 0 to 1
       (1 to 0, smoothstep), in the swing, so the lock is full on every contact frame and
       nothing pops when it starts or ends.
    2. Root correction: the whole body is shifted horizontally (square to ``up``) by
       ``root_follow`` times the weighted mean of the feet's horizontal corrections,
       ``sum(w_f c_f) / max(1, sum(w_f))``. With ``root_follow=1`` the body follows a single
       planted foot, and in double support the mean of both feet's corrections. With 0 (the
       default) the root keeps its path and the legs' IK absorbs every slide: **in double
       support each leg is put back on its own planted spot by its own IK**, the body does not
       move. The default was chosen on the CMU tuning clips, where following the feet costs
       about 9 mm MPJPE (the body is moved with every misplaced foot), and on the real clips it
       changed neither the feet's sliding nor the body's path for the better
       (``docs/BENCHMARKS.md``).
    3. Leg IK: each leg's knee and ankle are moved by :func:`two_bone_ik` so that the ankle
       reaches ``shifted ankle + w (correction - shift)``: exactly the planted position on
       contact frames, blending out with the weight around them. The knee keeps bending toward
       where it was.

    Frames with any NaN joint are left as they are and neither carry nor plant anything. An
    ankle farther than ``max_correction`` from the median of its run (a spike or a left/right
    swap, not a slide) is an outlier: it is left out of the planted mean and of the root
    correction, and the IK alone puts it back on its planted spot (as far as the leg reaches).

    Args:
        joints: ``(T, J, 3)`` metres, NaN where missing.
        skeleton: names the joints (legs by name, see the module doc).
        fps: frames per second of ``joints``.
        contacts: :class:`~pose2rig.clean.contacts.FootContacts` for these joints.
        up: the floor's normal (horizontal means square to it).
        root_follow: in [0, 1], how much of the feet's mean correction the root takes.
        blend: seconds over which a lock eases in before a contact and out after it.
        max_correction: metres; farther from its run's median an ankle is an outlier.

    Returns:
        ``(T, J, 3)`` float64 joints with the feet locked (see the module doc for the lengths).
    """
    p = checked_joints(joints, skeleton, fps, "lock_feet").copy()
    if not (np.isfinite(root_follow) and 0.0 <= root_follow <= 1.0):
        raise ArgumentError(f"{{root_follow}} must be in [0, 1], got {root_follow}", "root_follow")
    if not (np.isfinite(blend) and blend >= 0.0):
        raise ArgumentError(f"{{blend}} must be a non-negative number of seconds, got {blend}", "blend")
    if not (np.isfinite(max_correction) and max_correction > 0.0):
        raise ArgumentError(f"{{max_correction}} must be a positive distance, got {max_correction}",
                            "max_correction")
    legs = _legs(skeleton, contacts)
    t = p.shape[0]
    weights = np.clip(np.asarray(contacts.weights, dtype=np.float64), 0.0, 1.0)
    on = np.asarray(contacts.contacts, dtype=bool)
    if weights.shape[0] != t or on.shape != weights.shape:
        raise Pose2RigError(
            f"lock_feet: expected contacts of {t} frames, got {on.shape} and {weights.shape}")
    n = np.asarray(up, dtype=np.float64)
    n = n / np.linalg.norm(n)
    valid = np.isfinite(p).all(axis=-1).all(axis=-1)
    ramp = int(round(blend * fps))

    # 1. planted positions, each frame's correction and weight per leg
    correction = np.zeros((t, len(legs), 3))
    w = np.zeros((t, len(legs)))
    outlier = np.zeros((t, len(legs)), dtype=bool)
    for k, (_, _, ankle, col) in enumerate(legs):
        planted_on = np.zeros(t, dtype=bool)
        for a, b in finite_runs(on[:, col]):
            pos = p[a:b, ankle]
            if not valid[a:b].any():
                continue
            median = np.median(pos[valid[a:b]], axis=0)
            keep = valid[a:b] & (np.linalg.norm(np.nan_to_num(pos - median), axis=-1) <= max_correction)
            outlier[a:b, k] = valid[a:b] & ~keep
            ww = np.where(keep, np.maximum(weights[a:b, col], 1e-3), 0.0)
            if ww.sum() <= 0.0:
                continue
            planted = (ww[:, None] * np.nan_to_num(pos)).sum(axis=0) / ww.sum()
            correction[a:b, k] = np.nan_to_num(planted - pos)
            planted_on[a:b] = valid[a:b]
        w[:, k], src = _ramp_out(planted_on, ramp)
        carried = (src >= 0) & ~planted_on
        correction[carried, k] = correction[src[carried], k]
    w[~valid] = 0.0
    w_root = np.where(outlier, 0.0, w)

    # 2. root correction: root_follow of the weighted mean of the feet's horizontal corrections
    horizontal = correction - (correction @ n)[..., None] * n
    shift = (w_root[..., None] * horizontal).sum(axis=1) / np.maximum(1.0, w_root.sum(axis=1))[:, None]
    shift *= root_follow
    p += shift[:, None, :]

    # 3. leg IK: each ankle to its shifted position plus what the shift left of its correction,
    #    the thigh and shin eased to the clip's median lengths with the lock's weight
    for k, (hip, knee, ankle, _) in enumerate(legs):
        m = w[:, k] > 0
        if not m.any():
            continue
        goal = p[m, ankle] + w[m, k, None] * (correction[m, k] - shift[m])
        lengths = []
        for a, b in ((hip, knee), (knee, ankle)):
            frame = np.linalg.norm(p[:, b] - p[:, a], axis=-1)
            median = float(np.median(frame[valid]))
            lengths.append((1.0 - w[m, k]) * frame[m] + w[m, k] * median)
        p[m, knee], p[m, ankle] = two_bone_ik(p[m, hip], p[m, knee], p[m, ankle], goal, p[m, knee],
                                              lengths=(lengths[0], lengths[1]))
    return p
