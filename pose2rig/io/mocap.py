"""Motion capture (BVH) -> Human3.6M-17 joint positions, for training and evaluation.

How each Human3.6M joint is placed from the BVH joints (bones found by name through
:mod:`pose2rig.skeletons.names`, so cgspeed CMU, MotionBuilder/Mixamo, Reallusion CC and
Bandai-Namco files all work):

================  ==========================================================================
h36m17            from the BVH
================  ==========================================================================
pelvis            the hips joint (cgspeed/MB ``Hips``, CC ``CC_Base_Hip``, Bandai ``Hips``)
hips, knees,      the thigh, shin and foot joints (``LeftUpLeg``/``LeftLeg``/``LeftFoot``,
ankles            ``LeftHip``/``LeftKnee``/``LeftAnkle``, ``CC_Base_L_Thigh``/``_Calf``/``_Foot``,
                  ``UpperLeg_L``/``LowerLeg_L``/``Foot_L``)
thorax            the base of the neck: the first neck joint (``Neck``, ``CC_Base_NeckTwist01``;
                  cgspeed's ``Neck`` sits between the upper-arm joints, its ``lowerneck`` lower)
spine             mid-torso: the mid-point of pelvis and thorax (as the MediaPipe mapping does)
neck (nose)       the head joint (about chin level)
head              the head's end site (head top); where it is missing or has zero length
                  (Bandai, Reallusion CC) it is extrapolated from the head joint along the
                  neck->head bone direction turned with the head, by 7% of standing height
shoulders,        the upper-arm, forearm and hand joints, not the clavicles (``LeftArm``,
elbows, wrists    cgspeed ``LeftShoulder``, ``CC_Base_L_Upperarm``, ``UpperArm_L``, ...)
================  ==========================================================================

Differences from Human3.6M's own skeleton that are kept, not corrected: Bandai's hip joints are
13 cm apart (27 cm in Human3.6M) and its shoulders are narrower than CMU's; CMU's pelvis is
level with its hip joints, Human3.6M's a little above.

Convention: world frame, Y up (the files in ``../shared/data/mocap`` are Y up already), metres
(:func:`pose2rig.io.bvh.detect_unit_scale`), floor at y = 0 (the median over frames of the
lowest joint or end site, moved to 0 when it is more than 5 cm off; some Reallusion exports put
the floor a metre below the origin), and with ``face_forward`` the subject turned about Y to face
+Z in the first frame, its pelvis over the origin.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose2rig.errors import Pose2RigError
from pose2rig.io.bvh import BvhMotion, detect_unit_scale, read_bvh, standing_height
from pose2rig.skeletons import H36M17
from pose2rig.skeletons.names import require_bones
from pose2rig.types import PoseSequence

log = logging.getLogger(__name__)

#: roles needed from the BVH, by the H36M joint they place
_ROLES: tuple[str, ...] = (
    "hips",
    "left_thigh", "left_shin", "left_foot",
    "right_thigh", "right_shin", "right_foot",
    "neck", "head",
    "left_upper_arm", "left_forearm", "left_hand",
    "right_upper_arm", "right_forearm", "right_hand",
)
_DIRECT: dict[str, str] = {
    "pelvis": "hips",
    "right_hip": "right_thigh",
    "right_knee": "right_shin",
    "right_ankle": "right_foot",
    "left_hip": "left_thigh",
    "left_knee": "left_shin",
    "left_ankle": "left_foot",
    "thorax": "neck",
    "neck": "head",
    "left_shoulder": "left_upper_arm",
    "left_elbow": "left_forearm",
    "left_wrist": "left_hand",
    "right_shoulder": "right_upper_arm",
    "right_elbow": "right_forearm",
    "right_wrist": "right_hand",
}
HEAD_TOP_FRACTION = 0.07  # head top above the head joint, as a fraction of standing height
_FLOOR_TOLERANCE_M = 0.05


def bvh_to_h36m17(
    motion: BvhMotion,
    *,
    scale: float | None = None,
    face_forward: bool = True,
    floor: bool = True,
    source: str = "BVH",
) -> np.ndarray:
    """Human3.6M-17 joints ``(T, 17, 3)`` float64 metres from a BVH motion (see module doc).

    ``scale``: metres per file unit (default: :func:`detect_unit_scale`).
    """
    found = require_bones(motion.names, _ROLES, what=source)
    if scale is None:
        scale = detect_unit_scale(motion)
    pos, rot = motion.forward_kinematics(scale=scale)
    t = motion.num_frames
    out = np.empty((t, H36M17.num_joints, 3))
    for joint, role in _DIRECT.items():
        out[:, H36M17.index(joint)] = pos[:, found[role]]
    pelvis, thorax = out[:, H36M17.index("pelvis")], out[:, H36M17.index("thorax")]
    out[:, H36M17.index("spine")] = 0.5 * (pelvis + thorax)

    head = found["head"]
    end = motion.end_sites.get(head)
    if end is not None and np.linalg.norm(end) > 1e-6:
        top = pos[:, head] + np.einsum("tab,b->ta", rot[:, head], end * scale)
    else:
        bone = motion.offsets[head]
        n = np.linalg.norm(bone)
        local = bone / n if n > 1e-9 else np.array([0.0, 1.0, 0.0])
        length = HEAD_TOP_FRACTION * standing_height(motion) * scale
        top = pos[:, head] + length * np.einsum("tab,b->ta", rot[:, head], local)
    out[:, H36M17.index("head")] = top

    if floor and t:
        ends = motion.end_site_positions(scale=scale, fk=(pos, rot))
        lowest = pos[..., 1].min(axis=1)
        if ends:
            lowest = np.minimum(lowest, np.stack([e[:, 1] for e in ends.values()], 1).min(axis=1))
        level = float(np.median(lowest))
        if abs(level) > _FLOOR_TOLERANCE_M:
            log.info("%s: floor at y = %.3f m; moving it to 0", source, level)
            out[..., 1] -= level
    if face_forward and t:
        left = out[0, H36M17.index("left_hip")] - out[0, H36M17.index("right_hip")]
        yaw = np.arctan2(-left[2], left[0])  # angle of the hip line from +X, about +Y
        c, s = np.cos(yaw), np.sin(yaw)
        turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # rotation by yaw about Y
        centre = out[0, H36M17.index("pelvis")] * np.array([1.0, 0.0, 1.0])
        out = (out - centre) @ turn  # row vectors: v @ R == R.T v, undoing the yaw
    return out


def load_bvh_as_h36m17(
    path: str | os.PathLike[str],
    *,
    scale: float | None = None,
    face_forward: bool = True,
    floor: bool = True,
) -> PoseSequence:
    """Read a BVH file as a world-space Human3.6M-17 :class:`PoseSequence` (see module doc).

    fps is ``1 / frame_time``; ``scale`` (metres per file unit) is detected when not given.
    Raises :class:`Pose2RigError` naming the missing bones and the names tried.
    """
    motion = read_bvh(path)
    joints = bvh_to_h36m17(
        motion, scale=scale, face_forward=face_forward, floor=floor, source=str(path)
    )
    return PoseSequence(
        joints=joints.astype(np.float32),
        skeleton=H36M17,
        fps=motion.fps,
        timestamps=np.arange(motion.num_frames) * motion.frame_time,
        space="world",
    )


def bvh_files(data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The BVH files of ``data``: one file or folder, or several, in the order given.

    A folder gives every file below it (searched recursively) whose suffix is ``.bvh`` in any
    case, sorted by path; a file is taken as given, whatever its suffix.

    Raises:
        Pose2RigError: a path does not exist, or no BVH file is found at all.
    """
    items = [Path(data)] if isinstance(data, (str, os.PathLike)) else [Path(p) for p in data]
    files: list[Path] = []
    for p in items:
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() == ".bvh" and q.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise Pose2RigError(f"mocap data {p} not found; expected a BVH file or a folder of them")
    if not files:
        raise Pose2RigError(f"no .bvh files in {', '.join(map(str, items)) or 'no paths given'}")
    return files


def iter_mocap_h36m17(
    folder_or_files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    skip_errors: bool = False,
    progress: bool = False,
    face_forward: bool = True,
    floor: bool = True,
) -> Iterator[tuple[Path, PoseSequence]]:
    """Yield ``(path, sequence)`` for every BVH file of ``folder_or_files`` (:func:`bvh_files`).

    With ``skip_errors`` a file that cannot be read or mapped is skipped with a warning instead
    of raising.
    """
    files = bvh_files(folder_or_files)
    for f in tqdm(files, desc="mocap", unit="clip", disable=not progress):
        try:
            seq = load_bvh_as_h36m17(f, face_forward=face_forward, floor=floor)
        except Pose2RigError as e:
            if not skip_errors:
                raise
            warnings.warn(f"skipping {f}: {e}", stacklevel=2)
            continue
        yield f, seq


def bvh_foot_headings(motion: BvhMotion, joints: np.ndarray) -> dict[str, np.ndarray]:
    """Where each foot points (its foot joint to its toe joint, made horizontal) in the frame of
    ``joints``, the ``(T, 17, 3)`` :func:`bvh_to_h36m17` output of the same motion, as
    :func:`pose2rig.retarget.character.retarget` takes them (``extremities``).

    ``bvh_to_h36m17`` may turn the subject about the vertical (``face_forward``); the headings
    are turned by the same angle, found from the hip line of the first frame. Feet without a toe
    joint are left out; ``{}`` when neither foot has one.
    """
    from pose2rig.skeletons.names import match_bones

    roles = match_bones(motion.names, ["left_thigh", "right_thigh", "left_foot", "right_foot",
                                       "left_toe", "right_toe"])
    pos, _ = motion.forward_kinematics()
    j = np.asarray(joints, dtype=np.float64)
    if len(j) != motion.num_frames or not {"left_thigh", "right_thigh"} <= set(roles):
        return {}
    raw = pos[0, roles["left_thigh"]] - pos[0, roles["right_thigh"]]
    out_line = j[0, H36M17.index("left_hip")] - j[0, H36M17.index("right_hip")]
    turn = np.arctan2(raw[2], raw[0]) - np.arctan2(out_line[2], out_line[0])  # about +Y
    c, s = np.cos(turn), np.sin(turn)
    heads: dict[str, np.ndarray] = {}
    for side in ("left", "right"):
        if f"{side}_foot" not in roles or f"{side}_toe" not in roles:
            continue
        d = pos[:, roles[f"{side}_toe"]] - pos[:, roles[f"{side}_foot"]]
        x, z = c * d[:, 0] - s * d[:, 2], s * d[:, 0] + c * d[:, 2]
        h = np.stack([x, np.zeros_like(x), z], axis=-1)
        n = np.linalg.norm(h, axis=-1, keepdims=True)
        heads[f"{side}_foot"] = np.where(n > 1e-9, h / np.maximum(n, 1e-12), np.nan)
    return heads


def subject_of(path: Path) -> int | None:
    """CMU subject number from a file name: ``007_03`` -> 7, ``scaled_131_01`` -> 131,
    ``fairmotion_01_01`` -> 1 (the second-last number); None when there is none."""
    nums = re.findall(r"\d+", Path(path).stem)
    return int(nums[-2]) if len(nums) >= 2 else None
