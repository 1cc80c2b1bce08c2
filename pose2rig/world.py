"""Camera space -> world space: Y up, feet on the floor, facing +Z, starting at the origin.

Convention:
    - Input: a ``space="camera"`` :class:`~pose2rig.types.PoseSequence` in OpenCV axes (x right,
      y down, z forward), metres.
    - Output: ``space="world"``: right-handed, Y up, the floor at y = 0, the subject facing +Z at
      the start (the subject's left towards +X), the pelvis at x = z = 0 in its first valid frame.
    - The camera is static with no roll. :func:`world_transform` takes it as pitched by
      ``pitch`` radians, positive looking down (the lifter's elevation convention, models/README):
      the change of axes is :data:`pose2rig.geometry.CAMERA_TO_YUP`, a turn by ``pitch`` about
      the camera's x axis, then a turn about Y. With the default ``pitch=0`` (a level camera) a
      camera pitched by some degrees leaves the floor tilted by the same angle; the clean-up's
      floor fit (:func:`pose2rig.clean.fit_floor`) then levels it, and :func:`camera_pitch`
      reads the pitch back from the final rotation.
    - Joints are found by name (``pelvis``, ``left_hip``, ``right_hip``, ``left_shoulder``,
      ``right_shoulder``, ``left_ankle``, ``right_ankle``), so any joint set with these names
      works; Human3.6M's ``h36m17`` does.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import CAMERA_TO_YUP, rotation_between
from pose2rig.options import DEFAULT_ROOT_MOTION, root_motion_mode
from pose2rig.skeletons import ANKLE_HEIGHT, MEDIAPIPE33
from pose2rig.types import PoseSequence, Skeleton

__all__ = ["LANDMARK_PITCH_GAIN", "LANDMARK_PITCH_RANGE", "SOLE_ABOVE_FLOOR", "camera_pitch", "landmark_pitch", "extremities", "foot_directions", "hand_lines", "remove_travel",
           "to_world", "world_transform"]

log = logging.getLogger(__name__)


def _joint(skeleton: Skeleton, joints: np.ndarray, name: str) -> np.ndarray | None:
    """``joints[:, index(name)]`` or None when the joint set has no such joint."""
    return joints[:, skeleton.index(name)] if name in skeleton.joint_names else None


def _facing_yaw(
    p: np.ndarray, skeleton: Skeleton, timestamps: np.ndarray, seconds: float
) -> np.ndarray:
    """Rotation ``(3, 3)`` about Y turning the subject's start facing onto +Z (Y-up input)."""
    lines = []
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        pa, pb = _joint(skeleton, p, a), _joint(skeleton, p, b)
        if pa is not None and pb is not None:
            lines.append(pa - pb)
    if not lines:
        raise Pose2RigError(
            "to_world: expected hip or shoulder joints named left_/right_hip or "
            f"left_/right_shoulder to find the facing, got joint set {skeleton.name!r}"
        )
    left = np.stack(lines)  # (L, T, 3): towards the subject's left
    left[..., 1] = 0.0
    ok = np.all(np.isfinite(left), axis=(0, 2)) & (np.linalg.norm(left, axis=-1).min(axis=0) > 1e-6)
    if not ok.any():
        warnings.warn(
            "to_world: no frame shows both hips and shoulders; facing left as seen", stacklevel=3
        )
        return np.eye(3)
    first = timestamps[np.flatnonzero(ok)[0]]
    use = ok & (timestamps <= first + seconds)
    unit = left[:, use] / np.linalg.norm(left[:, use], axis=-1, keepdims=True)
    mean_left = unit.sum(axis=(0, 1))
    forward = np.cross(mean_left, [0.0, 1.0, 0.0])  # left x up = forward (left is +X, facing +Z)
    if np.linalg.norm(forward) < 1e-9:
        return np.eye(3)
    return rotation_between(forward, np.array([0.0, 0.0, 1.0]))


def camera_pitch(rotation: np.ndarray) -> float:
    """The camera's pitch (radians, positive looking down) in the world that ``rotation``
    ``(3, 3)`` (``p_world = R @ p_camera + t``) maps it into: the angle of its optical axis
    (camera +z) below the horizontal. The floor's normal in the camera frame, ``R.T @ [0, 1, 0]``,
    is ``(0, -cos pitch, -sin pitch)`` for a camera with no roll."""
    r = np.asarray(rotation, dtype=np.float64)
    return float(-np.arcsin(np.clip(r[1, 2], -1.0, 1.0)))


LANDMARK_PITCH_GAIN = 1.13
"""How much MediaPipe's 3D legs under-show the camera's pitch: the least-squares gain (through
0) between the pitch its legs show (knees at 130 degrees or straighter) and the true pitch over
24 rendered CMU clips (the tuning set; ``bench/render_eval.py``, pitch -10 to 30 degrees). The
knee limit was chosen there too: 130 gave the smallest median and worst error of 0, 120, 130,
140, 150 and 160 degrees (|error| median 3.8, 90th percentile 8.9 degrees), and it keeps a squat
(``tfjs_pose_squats``: -9.5 degrees with every frame, 1.0 with the limit) from reading as a
camera looking up."""


LANDMARK_PITCH_RANGE = (-15.0, 35.0)
"""Degrees (positive looking down): :func:`landmark_pitch` readings outside are not used (the
benchmark measured it on -10 to 30 degrees; beyond, a dancer's raised leg reads 37 degrees on a
clip filmed about level)."""


def landmark_pitch(world33: np.ndarray, *, gain: float = LANDMARK_PITCH_GAIN, min_frames: int = 5,
                   min_knee: float = 130.0) -> float | None:
    """The camera's pitch (radians, positive looking down) that MediaPipe's world landmarks show,
    or None with fewer than ``min_frames`` frames showing both hips and ankles.

    BlazePose's world landmarks ``(T, 33, 3)`` (camera axes: x right, y down, z away; metres,
    hip-centred: :attr:`pose2rig.types.Keypoints2D.world33`) are regressed from the image, so
    unlike a lifter that sees only 2D points they carry the view's elevation (the top of the
    head, the soles) -- most of it: the mean unit direction from the mid-ankles to the mid-hips
    over the frames where neither knee bends much (``min_knee`` degrees or more between thigh
    and shin), read as world up ``(0, -cos p, -sin p)``, shows about 1/1.13 of the true pitch,
    hence ``gain``. The legs, not the torso: people stand on straight legs but lean and bow the
    torso; a squat or a raised knee leans the legs too, hence the knee limit (every frame where
    fewer than ``min_frames`` pass it). None with fewer than ``min_frames`` frames showing hips
    and ankles, or a reading outside :data:`LANDMARK_PITCH_RANGE` (with a warning). Measured on rendered Bandai-1 footage in docs/BENCHMARKS.md."""
    w = np.asarray(world33, dtype=np.float64)
    if w.ndim != 3 or w.shape[1:] != (33, 3):
        raise ArgumentError(f"{{world33}} must be (T, 33, 3), got {w.shape}", "world33")
    ix = MEDIAPIPE33.index
    hips = 0.5 * (w[:, ix("left_hip")] + w[:, ix("right_hip")])
    ankles = 0.5 * (w[:, ix("left_ankle")] + w[:, ix("right_ankle")])
    legs = hips - ankles
    n = np.linalg.norm(legs, axis=-1)
    seen = np.isfinite(n) & (n > 1e-6)
    if seen.sum() < min_frames:
        return None
    ok = seen.copy()
    with np.errstate(invalid="ignore"):
        for side in ("left", "right"):  # knees not bent much: a squat or a raised knee leans the legs
            knee = w[:, ix(f"{side}_knee")]
            a, b = w[:, ix(f"{side}_hip")] - knee, w[:, ix(f"{side}_ankle")] - knee
            cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
            ok &= cos <= np.cos(np.radians(min_knee))
    if ok.sum() < min_frames:  # bent throughout (a stoop, a crouch): every frame, the best there is
        ok = seen
    u = (legs[ok] / n[ok, None]).mean(axis=0)
    pitch = float(gain * np.arctan2(-u[2], -u[1]))
    lo, hi = LANDMARK_PITCH_RANGE
    if not np.radians(lo) <= pitch <= np.radians(hi):
        warnings.warn(f"MediaPipe's 3D legs show a camera pitched {np.degrees(pitch):.0f} degrees, outside the "
                      f"{lo:g} to {hi:g} degrees where that reading was measured; not using it (give the pitch "
                      "if the camera looked that far up or down)", stacklevel=2)
        return None
    return pitch


def _pitched(pitch: float) -> np.ndarray:
    """``(3, 3)`` camera -> Y-up axes for a camera pitched ``pitch`` radians down: world up is
    ``(0, -cos, -sin)`` in the camera frame."""
    up_cam = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])
    return rotation_between(CAMERA_TO_YUP @ up_cam, np.array([0.0, 1.0, 0.0])) @ CAMERA_TO_YUP


def world_transform(
    seq: PoseSequence,
    *,
    pitch: float = 0.0,
    ankle_height: float = ANKLE_HEIGHT,
    floor_percentile: float = 5.0,
    facing_seconds: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """The rigid map ``p_world = R @ p_camera + t`` that :func:`to_world` applies.

    Args:
        seq: a camera-space sequence.
        pitch: the camera's pitch, radians, positive looking down; in (-pi/2, pi/2).
        ankle_height: how far the ankle joints sit above the floor, metres.
        floor_percentile: the floor is this percentile of the lower ankle's height per frame
            over the clip, minus ``ankle_height`` (a low percentile ignores stray low frames;
            frames in the air, as in a jump, are above it).
        facing_seconds: the facing is the mean hip and shoulder line over this long from the
            first frame that shows them.

    Returns:
        ``R (3, 3)`` float64, a proper rotation, and ``t (3,)`` float64 metres.
    """
    if not isinstance(seq, PoseSequence):
        raise Pose2RigError(f"to_world: expected a PoseSequence, got {type(seq).__name__}")
    if seq.space != "camera":
        raise Pose2RigError(
            f"to_world: expected a camera-space PoseSequence, got space={seq.space!r}"
        )
    if not 0.0 <= floor_percentile <= 100.0:
        raise Pose2RigError(
            f"to_world: floor_percentile must be in [0, 100], got {floor_percentile}"
        )
    if not (np.isfinite(pitch) and abs(pitch) < np.pi / 2):
        raise ArgumentError(f"{{pitch}} must be in (-pi/2, pi/2) radians, got {pitch}", "pitch")
    sk = seq.skeleton
    axes = _pitched(pitch) if pitch else CAMERA_TO_YUP
    p = seq.joints.astype(np.float64) @ axes.T
    yaw = _facing_yaw(p, sk, seq.timestamps, facing_seconds)
    rot = yaw @ axes
    p = p @ yaw.T

    found = [_joint(sk, p, "left_ankle"), _joint(sk, p, "right_ankle")]
    ankles = [a for a in found if a is not None]
    with warnings.catch_warnings():  # all-NaN frames are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        if ankles:
            low = np.nanmin(np.stack([a[:, 1] for a in ankles]), axis=0)
            offset = ankle_height
        else:
            low = np.nanmin(p[..., 1], axis=1)
            offset = 0.0
            warnings.warn(
                "to_world: no ankle joints; the floor is under the lowest joint", stacklevel=2
            )
    low = low[np.isfinite(low)]
    if low.size == 0:
        raise Pose2RigError("to_world: expected at least one frame with joints, got none")
    floor = float(np.percentile(low, floor_percentile)) - offset

    pelvis = _joint(sk, p, "pelvis")
    if pelvis is None:
        pelvis = p[:, 0]  # the root
    valid = np.all(np.isfinite(pelvis), axis=-1)
    origin = pelvis[np.flatnonzero(valid)[0]] if valid.any() else np.zeros(3)
    t = -np.array([origin[0], floor, origin[2]])
    log.debug("to_world: floor at %.3f m (camera y-up), start pelvis %s", floor, origin)
    return rot, t


def to_world(
    seq: PoseSequence,
    *,
    root_motion: str | bool = DEFAULT_ROOT_MOTION,
    ankle_height: float = ANKLE_HEIGHT,
    floor_percentile: float = 5.0,
    facing_seconds: float = 0.5,
) -> PoseSequence:
    """Move a camera-space sequence into the world frame (see the module's Convention).

    Args:
        seq: ``space="camera"`` sequence; joints ``(T, J, 3)`` metres, OpenCV axes.
        root_motion: ``"on"`` or ``"ground"``: keep the pelvis's travel over the floor (where
            the travel goes on the character is the retargeting's business). ``"off"`` pins the
            pelvis at x = z = 0 in every frame (vertical motion such as jumps stays); frames
            whose pelvis is missing use the pelvis interpolated from the nearest frames that show
            it. ``True``/``False`` are ``"on"``/``"off"``.
        ankle_height, floor_percentile, facing_seconds: see :func:`world_transform`.

    Returns:
        A new ``space="world"`` sequence; confidence, timestamps and camera carried over.
    """
    rot, t = world_transform(
        seq,
        ankle_height=ankle_height,
        floor_percentile=floor_percentile,
        facing_seconds=facing_seconds,
    )
    p = seq.joints.astype(np.float64) @ rot.T + t
    out = seq.replace(joints=p.astype(np.float32), space="world")
    return remove_travel(out) if root_motion_mode(root_motion) == "off" else out


def remove_travel(seq: PoseSequence) -> PoseSequence:
    """A world-space sequence with the pelvis pinned at x = z = 0 in every frame (root motion
    ``"off"``): vertical motion such as jumps stays; frames whose pelvis is missing use the
    pelvis interpolated from the nearest frames that show it."""
    p = seq.joints.astype(np.float64)
    sk = seq.skeleton
    root = sk.index("pelvis") if "pelvis" in sk.joint_names else 0
    pelvis = p[:, root]
    valid = np.all(np.isfinite(pelvis), axis=-1)
    if valid.any():
        ts = seq.timestamps
        for axis in (0, 2):
            track = np.interp(ts, ts[valid], pelvis[valid, axis])
            p[..., axis] -= track[:, None]
    return seq.replace(joints=p.astype(np.float32))


SOLE_ABOVE_FLOOR = 0.03
"""Height of MediaPipe's heel and foot-index points above the floor when the foot is flat (m)."""


def foot_directions(
    seq: PoseSequence,
    *,
    min_visibility: float = 0.5,
    smooth_seconds: float = 0.2,
    ankle_height: float = ANKLE_HEIGHT,
    rotation: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Where each foot points, in the world frame of :func:`to_world`, from MediaPipe's heel and
    toe (``foot_index``) points.

    A single camera gives those points only as pixels. Each is put where its pixel's ray meets
    the sole's plane: horizontal (the camera is level), ``ankle_height - SOLE_ABOVE_FLOOR`` below
    that foot's ankle joint in the same frame. The heel-to-toe line on that plane is the foot's
    heading; frames where a point is hidden (visibility below ``min_visibility``), above the
    camera's horizon, or where the foot comes out shorter than 8 cm or longer than 40 cm, or more
    than 35 cm from its ankle, are NaN. Headings are averaged over ``smooth_seconds``.

    Args:
        seq: ``space="camera"`` poses (h36m17 names) with ``camera`` and ``landmarks33``.
        rotation: ``(3, 3)`` the camera -> world rotation to use (the clean-up's, which levels
            the floor); default :func:`world_transform`'s.

    Returns:
        ``{"left_foot": (T, 3), "right_foot": (T, 3)}`` unit horizontal vectors (y = 0), NaN where
        unknown; ``{}`` when the sequence has no landmarks or camera.
    """
    if seq.landmarks33 is None or seq.camera is None or seq.space != "camera":
        return {}
    rot = world_transform(seq, ankle_height=ankle_height)[0] if rotation is None else np.asarray(rotation, float)
    lm = np.asarray(seq.landmarks33, dtype=np.float64)
    k_inv = np.linalg.inv(seq.camera.matrix)
    # the level camera's "down" (OpenCV y) is gravity: planes y = const are horizontal
    out: dict[str, np.ndarray] = {}
    from pose2rig.skeletons import MEDIAPIPE33

    for side in ("left", "right"):
        ankle = _joint(seq.skeleton, seq.joints.astype(np.float64), f"{side}_ankle")
        if ankle is None:
            continue
        plane_y = ankle[:, 1] + (ankle_height - SOLE_ABOVE_FLOOR)  # camera y points down
        pts = []
        seen = np.ones(len(lm), dtype=bool)
        for name in (f"{side}_heel", f"{side}_foot_index"):
            i = MEDIAPIPE33.index(name)
            uv1 = np.concatenate([lm[:, i, :2], np.ones((len(lm), 1))], axis=1)
            ray = uv1 @ k_inv.T
            with np.errstate(invalid="ignore", divide="ignore"):
                s = plane_y / ray[:, 1]
            seen &= (lm[:, i, 2] >= min_visibility) & (ray[:, 1] > 1e-6) & (s > 0) & np.isfinite(s)
            pts.append(s[:, None] * ray)
        heel, toe = pts
        d = (toe - heel) @ rot.T  # into world axes (rotation only: directions)
        d[:, 1] = 0.0
        length = np.linalg.norm(d, axis=-1)
        near = np.linalg.norm(((toe - ankle) @ rot.T)[:, [0, 2]], axis=-1)
        ok = seen & (length > 0.08) & (length < 0.40) & (near < 0.35)
        unit = np.full_like(d, np.nan)
        unit[ok] = d[ok] / length[ok, None]
        out[f"{side}_foot"] = _smooth_directions(unit, seq.timestamps, smooth_seconds)
    return out


def _smooth_directions(unit: np.ndarray, times: np.ndarray, seconds: float) -> np.ndarray:
    """Average unit vectors ``(T, 3)`` over a centred window of ``seconds`` (NaN rows ignored;
    rows with no valid neighbour stay NaN); renormalised."""
    ok = np.all(np.isfinite(unit), axis=-1)
    out = np.full_like(unit, np.nan)
    if not ok.any() or seconds <= 0:
        return np.where(ok[:, None], unit, np.nan)
    for i in range(len(unit)):
        w = ok & (np.abs(times - times[i]) <= 0.5 * seconds)
        if w.any() and ok[i]:
            m = unit[w].sum(axis=0)
            n = np.linalg.norm(m)
            if n > 1e-9:
                out[i] = m / n
    return out


KNUCKLES_FROM_WRIST = 0.085
"""Distance of the index and little-finger knuckles from the wrist joint along the hand (m)."""


def hand_lines(seq: PoseSequence, *, min_visibility: float = 0.5, smooth_seconds: float = 0.2,
               min_strength: float = 0.3, rotation: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The roll of each hand, in the world frame of :func:`to_world`, from MediaPipe's index and
    little-finger knuckle points.

    The hand is taken to continue its forearm (a single view cannot tell wrist flexion); its
    knuckle line (little finger to index, perpendicular to the forearm) is the one whose image at
    the wrist points along the 2D index - pinky vector ``u``: with ``b``, ``c`` perpendicular to
    the forearm and ``J`` the projection's Jacobian at the knuckles (``KNUCKLES_FROM_WRIST`` along
    the forearm from the wrist), ``u x J (cos t b + sin t c) = 0``
    gives ``t`` in closed form (of the two solutions, the one whose image points along ``u``).
    Frames where either point is hidden, or where the knuckle line points nearly along the view
    ray (its image is under ``min_strength`` of the longest one possible), are NaN. Lines are
    averaged over ``smooth_seconds``. ``rotation``: as for :func:`foot_directions`.

    Returns:
        ``{"left_hand": (T, 3), "right_hand": (T, 3)}`` unit vectors (world, perpendicular to the
        forearm), NaN where unknown; ``{}`` without landmarks or camera.
    """
    if seq.landmarks33 is None or seq.camera is None or seq.space != "camera":
        return {}
    from pose2rig.skeletons import MEDIAPIPE33

    rot = world_transform(seq)[0] if rotation is None else np.asarray(rotation, dtype=np.float64)
    lm = np.asarray(seq.landmarks33, dtype=np.float64)
    k = seq.camera.matrix
    fx, fy = k[0, 0], k[1, 1]
    j = seq.joints.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for side in ("left", "right"):
        elbow, wrist = _joint(seq.skeleton, j, f"{side}_elbow"), _joint(seq.skeleton, j, f"{side}_wrist")
        if elbow is None or wrist is None:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            a = wrist - elbow
            a /= np.linalg.norm(a, axis=-1, keepdims=True)
            helper = np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
            b = np.cross(a, helper)
            b /= np.linalg.norm(b, axis=-1, keepdims=True)
            c = np.cross(a, b)
            knuckles = wrist + KNUCKLES_FROM_WRIST * a  # where the line's image is measured
            x, y, z = knuckles[:, 0], knuckles[:, 1], knuckles[:, 2]
            jac = np.zeros((len(j), 2, 3))
            jac[:, 0, 0], jac[:, 0, 2] = fx / z, -fx * x / z**2
            jac[:, 1, 1], jac[:, 1, 2] = fy / z, -fy * y / z**2
            ii, ip = MEDIAPIPE33.index(f"{side}_index"), MEDIAPIPE33.index(f"{side}_pinky")
            u = lm[:, ii, :2] - lm[:, ip, :2]
            u /= np.linalg.norm(u, axis=-1, keepdims=True)
            pb, pc = np.einsum("tij,tj->ti", jac, b), np.einsum("tij,tj->ti", jac, c)
            # the line whose image is parallel to u: u x J(cos b + sin c) = 0, pointing along u
            p1 = u[:, 0] * pb[:, 1] - u[:, 1] * pb[:, 0]
            p2 = u[:, 0] * pc[:, 1] - u[:, 1] * pc[:, 0]
            theta = np.arctan2(-p1, p2)
            image = np.cos(theta)[:, None] * pb + np.sin(theta)[:, None] * pc
            theta = np.where(np.sum(image * u, axis=-1) < 0, theta + np.pi, theta)
            best = np.linalg.norm(image, axis=-1)
            largest = np.maximum(np.linalg.norm(pb, axis=-1), np.linalg.norm(pc, axis=-1))
            line = np.cos(theta)[:, None] * b + np.sin(theta)[:, None] * c
        ok = (
            (lm[:, ii, 2] >= min_visibility) & (lm[:, ip, 2] >= min_visibility) & (z > 0)
            & np.all(np.isfinite(line), axis=-1) & (best >= min_strength * largest)
        )
        unit = np.full_like(line, np.nan)
        unit[ok] = line[ok] @ rot.T
        out[f"{side}_hand"] = _smooth_directions(unit, seq.timestamps, smooth_seconds)
    return out


def extremities(seq: PoseSequence, rotation: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`foot_directions` and :func:`hand_lines` of a camera-space sequence, as
    :func:`pose2rig.retarget.character.retarget` takes them (``{}`` without landmarks);
    ``rotation`` the camera -> world rotation (default :func:`world_transform`'s)."""
    return {**foot_directions(seq, rotation=rotation), **hand_lines(seq, rotation=rotation)}
