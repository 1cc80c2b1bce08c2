"""The clean-up of 3D motion, step by step: what ``convert`` runs after lifting and what
``pose2rig clean`` runs on a pose file or a BVH.

Convention:
    - ``joints (T, J, 3)`` metres, world frame with +Y roughly up (pose2rig's world, or a BVH's
      joints from forward kinematics, scaled to metres); NaN marks missing frames (a frame
      with any non-finite joint counts as missing). Frames at a constant ``fps``.
    - ``skeleton`` names the joints and gives the hierarchy (parents) and the left/right twins
      (``mirror``); the steps find the legs and feet by name (any skeleton pose2rig reads:
      Human3.6M-17, BVH skeletons of the mocap libraries).
    - ``scores (T,)``: the plausibility of each frame (higher is more plausible; the lifter's
      discriminator, :func:`pose2rig.lift.plausibility.plausibility`), computed by the caller
      so that this stage imports no torch; NaN where unknown.

The steps, in order, each switched by :class:`~pose2rig.options.CleanOptions`:

1. ``swaps``: left/right swaps repaired (:func:`~pose2rig.clean.swaps.repair_swaps_array`).
2. ``outliers``: short runs of implausible frames (``scores`` with the frames' temporal
   residuals, :func:`~pose2rig.clean.outliers.plausibility_scores`,
   :func:`~pose2rig.clean.outliers.implausible_frames`) become gaps; frames whose root jumps
   faster than ``max_root_speed`` (:func:`~pose2rig.clean.outliers.root_speed_outliers`: a
   distance from the camera that came out wrong) keep their pose and are moved onto the root's
   path interpolated from the frames around them.
3. ``fill_gaps``: every gap filled in rotation space, the root interpolated across it
   (:func:`~pose2rig.clean.kinematic.fill_gaps_kinematic`). Off: gaps stay NaN.
4. ``smooth``: the bones' rotations and the root filtered separately
   (:func:`~pose2rig.clean.kinematic.smooth_kinematic`).
5. ``bone_lengths``: constant bone lengths (:func:`~pose2rig.clean.kinematic.enforce_bone_lengths`).
6. ``floor``: the floor plane fitted under the feet (:func:`~pose2rig.clean.floor.fit_floor`)
   and the joints moved into its level frame (floor at y = 0, level). Off: the plane is still
   fitted for the feet, the joints are not moved.
7. ``foot_lock``: contacts per foot point (:func:`~pose2rig.clean.contacts.foot_contacts`)
   and the planted feet pinned (:func:`~pose2rig.clean.footlock.lock_feet`).

Steps that need what a skeleton lacks (legs, feet, left/right twins) are skipped with a note
in :attr:`CleanResult.notes`; the rest run. A clip of one frame runs the steps that do not
need time (bone lengths, the floor) and notes the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pose2rig.clean.contacts import FootContacts
from pose2rig.clean.floor import Floor
from pose2rig.clean.swaps import SwapReport
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.options import CleanOptions
from pose2rig.types import Skeleton

__all__ = ["STEPS", "CleanResult", "clean_motion"]

STEPS = ("swaps", "outliers", "fill_gaps", "smooth", "bone_lengths", "floor", "foot_lock")
"""The clean-up's steps in the order they run; each is a field of :class:`CleanOptions`."""


@dataclass(frozen=True)
class CleanResult:
    """What :func:`clean_motion` made.

    Attributes:
        joints: ``(T, J, 3)`` float64 cleaned joints, in the floor's level frame when the
            ``floor`` step ran (see ``transform``).
        transform: ``(4, 4)`` the map (column vectors) from the input's frame to ``joints``'
            frame: the floor's level frame, or the identity.
        floor: the fitted floor plane in the input's frame, or None where the skeleton has no
            feet or the clip no frame to fit on.
        contacts: the foot contacts (:class:`FootContacts`, columns per foot point of
            :func:`~pose2rig.clean.floor.foot_points`) on the cleaned joints, or None.
        swaps: what the swap repair flipped, or None when it did not run.
        outliers: ``(T,)`` bool, frames the outlier step repaired (made gaps, or moved onto the
            root's path).
        filled: ``(T,)`` bool, frames missing from the input or made gaps, and filled.
        scores: ``(T,)`` the plausibility scores passed in (NaN where none were given).
        notes: one line per step skipped or worth telling (for the log and the report).
    """

    joints: np.ndarray
    transform: np.ndarray
    floor: Floor | None
    contacts: FootContacts | None
    swaps: SwapReport | None
    outliers: np.ndarray
    filled: np.ndarray
    scores: np.ndarray
    notes: tuple[str, ...] = field(default=())

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The clean-up's findings as npz-ready arrays: ``plausibility (T,)``, ``filled (T,)``,
        ``outliers (T,)``, the floor (``floor_normal``, ``floor_offset``, ``floor_transform``:
        in the frame the clean-up was given) and ``contacts (T, F)`` with ``contact_weights (T, F)``,
        one column per foot point of :func:`~pose2rig.clean.floor.foot_points` (for
        Human3.6M-17: the left and the right ankle)."""
        out: dict[str, np.ndarray] = {
            "plausibility": np.asarray(self.scores, dtype=np.float64),
            "filled": np.asarray(self.filled, dtype=bool),
            "outliers": np.asarray(self.outliers, dtype=bool),
        }
        if self.floor is not None:
            out.update(self.floor.as_arrays())
        if self.contacts is not None:
            out["contacts"] = np.asarray(self.contacts.contacts, dtype=bool)
            out["contact_weights"] = np.asarray(self.contacts.weights, dtype=np.float64)
        return out


def _check(joints: np.ndarray, skeleton: Skeleton, fps: float, scores: np.ndarray | None) -> tuple[
        np.ndarray, np.ndarray]:
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (skeleton.num_joints, 3) or p.shape[0] == 0:
        raise Pose2RigError(
            f"clean-up: expected joints of shape (T, {skeleton.num_joints}, 3) with T > 0 for skeleton "
            f"{skeleton.name!r}, got {p.shape}"
        )
    if not (np.isfinite(fps) and fps > 0):
        raise ArgumentError(f"{{fps}} must be a positive frame rate, got {fps}", "fps")
    seen = np.isfinite(p).all(axis=(1, 2))
    if not seen.any():
        raise Pose2RigError(f"clean-up: none of the {len(p)} frames has every joint; nothing to clean")
    if scores is None:
        s = np.full(len(p), np.nan)
    else:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (len(p),):
            raise Pose2RigError(f"clean-up: expected scores of shape ({len(p)},), got {s.shape}")
    return p, s


Report = Callable[[str], None]


def _reroot(p: np.ndarray, root: int, jumped: np.ndarray) -> np.ndarray:
    """``p`` with the frames ``jumped`` moved rigidly so that their root lies on the root's path
    interpolated (linearly in time) from the other seen frames: the pose of a frame whose
    distance from the camera came out wrong is kept, its position is not."""
    seen = np.isfinite(p).all(axis=(1, 2))
    good = seen & ~jumped
    fix = seen & jumped
    if not fix.any() or not good.any():
        return p
    frames = np.arange(len(p))
    track = np.stack([np.interp(frames[fix], frames[good], p[good, root, k]) for k in range(3)], axis=-1)
    out = p.copy()
    out[fix] += (track - p[fix, root])[:, None, :]
    return out


def clean_motion(
    joints: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    options: CleanOptions | None = None,
    *,
    scores: np.ndarray | None = None,
    root: int = 0,
    fit_tilt: bool = True,
    report: Report | None = None,
) -> CleanResult:
    """Run the clean-up's steps on one clip (see the module doc for the steps and conventions).

    Args:
        joints: ``(T, J, 3)`` metres, Y up, NaN where missing.
        skeleton: names the joints.
        fps: frames per second.
        options: which steps run and their parameters (default: :class:`CleanOptions`' defaults).
        scores: ``(T,)`` plausibility per frame (higher is better) or None (the outlier step
            then checks the root's speed only).
        root: index of the joint whose travel is the body's (the pelvis; a BVH's hips).
        fit_tilt: False takes the floor as square to +Y (the input already level, as when the
            camera's pitch is known): the ``floor`` step fits its height only.
        report: called with each step's name as it starts (progress).

    Raises:
        Pose2RigError: joints of the wrong shape or with no complete frame.
    """
    from pose2rig.clean import kinematic, outliers
    from pose2rig.clean.contacts import foot_contacts
    from pose2rig.clean.floor import fit_floor, foot_points
    from pose2rig.clean.footlock import lock_feet
    from pose2rig.clean.swaps import lateral_pairs, repair_swaps_array

    o = options if options is not None else CleanOptions()
    p, s = _check(joints, skeleton, fps, scores)
    notes: list[str] = []
    t = len(p)
    step = report or (lambda name: None)
    missing = ~np.isfinite(p).all(axis=(1, 2))
    marked = np.zeros(t, dtype=bool)
    swaps = None
    temporal = t >= 2
    if not temporal:
        notes.append("one frame: swaps, outliers, gaps, smoothing and foot locking need several")

    if o.swaps and temporal:
        step("swaps")
        if lateral_pairs(skeleton):
            p, swaps = repair_swaps_array(p, np.arange(t) / fps, skeleton)
        else:
            notes.append(f"swap repair skipped: skeleton {skeleton.name!r} has no left/right joints")
    if o.outliers and temporal:
        step("outliers")
        if np.isfinite(s).any():
            marked = outliers.implausible_frames(outliers.plausibility_scores(s, p)) & ~missing
        if (missing | marked).all():  # nothing would be left to fill from
            marked[:] = False
            notes.append("outlier repair skipped: every frame was marked")
        p[marked] = np.nan
        jumped = outliers.root_speed_outliers(p[:, root], fps, max_speed=o.max_root_speed)
        p = _reroot(p, root, jumped)
        marked = marked | jumped
    gaps = missing | (marked & ~np.isfinite(p).all(axis=(1, 2)))
    if o.fill_gaps and gaps.any():
        step("fill_gaps")
        # no max_speed: inside a gap the root is never faster than the straight line across it
        # or the subject at either end (a max_speed would let it reach that limit)
        p, _ = kinematic.fill_gaps_kinematic(p, skeleton, fps)
    if o.smooth != "none" and temporal:
        step("smooth")
        p = kinematic.smooth_kinematic(p, skeleton, fps, method=o.smooth, min_cutoff=o.min_cutoff, beta=o.beta,
                                       window=o.window)
    if o.bone_lengths:  # after smoothing: on the CMU tuning clips it beats enforcing first (bench/cleanup.py)
        step("bone_lengths")
        p = kinematic.enforce_bone_lengths(p, skeleton)

    floor = contacts = None
    transform = np.eye(4)
    if (o.floor or o.foot_lock) and not foot_points(skeleton):
        notes.append(f"floor and foot locking skipped: skeleton {skeleton.name!r} has no feet (ankles, heels or toes)")
    elif o.floor or o.foot_lock:
        step("floor")
        floor = fit_floor(p, skeleton, fps=fps) if fit_tilt else fit_floor(p, skeleton, fps=fps, max_tilt=0.0)
        if o.floor:
            transform = floor.transform
            p = floor.level(p)
            fitted = floor
            floor_here = Floor(normal=np.array([0.0, 1.0, 0.0]), offset=0.0,
                               contact_heights=fitted.contact_heights, method=fitted.method, inliers=fitted.inliers)
        else:
            floor_here = floor
        if o.foot_lock and temporal:
            step("foot_lock")
            contacts = foot_contacts(p, skeleton, fps, floor_here)
            try:
                p = lock_feet(p, skeleton, fps, contacts, up=tuple(floor_here.normal), root_follow=o.root_follow)
            except Pose2RigError as e:
                notes.append(f"foot locking skipped: {e}")
    return CleanResult(
        joints=p, transform=transform, floor=floor, contacts=contacts, swaps=swaps, outliers=marked,
        filled=gaps & np.isfinite(p).all(axis=(1, 2)), scores=s, notes=tuple(notes),
    )
