"""Mappings from one joint set onto another as weighted sums of source joints.

A target joint is ``sum(w_k * source[k])``; its confidence is the smallest confidence among
the sources it uses, and it is missing (NaN) when any of them is.

MediaPipe 33 -> Human3.6M 17 (``MEDIAPIPE33_TO_H36M17``):

==============  ==========================================================================
h36m17          from mediapipe33
==============  ==========================================================================
pelvis          mid-point of left_hip and right_hip
hips, knees,    the same-named landmark (subject's left/right)
ankles
thorax          mid-point of the shoulders
spine           mid-point of pelvis and thorax
neck (nose)     nose
head            mid-ears extended away from the thorax by half the thorax-to-ears distance
                (BlazePose has no head-top point; this lands near Human3.6M's head joint)
shoulders,      the same-named landmark
elbows, wrists
==============  ==========================================================================

COCO 17 -> Human3.6M 17 (``COCO17_TO_H36M17``) uses the same rules with COCO's names.

MediaPipe's metric world landmarks (``Keypoints2D.world33``) go through the same
``MEDIAPIPE33_TO_H36M17`` rules in 3D (:func:`world_landmarks_to_h36m17`), so a joint means the
same thing in the 2D keypoints and in MediaPipe's own 3D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.skeletons.joint_sets import COCO17, H36M17, MEDIAPIPE33
from pose2rig.types import Skeleton


@dataclass(frozen=True)
class JointMapping:
    """``rules[i]`` lists the ``(source joint, weight)`` terms of target joint ``i``."""

    source: Skeleton
    target: Skeleton
    rules: tuple[tuple[tuple[str, float], ...], ...]

    def __post_init__(self) -> None:
        if len(self.rules) != self.target.num_joints:
            raise Pose2RigError(
                f"mapping {self.source.name}->{self.target.name}: {len(self.rules)} rules for "
                f"{self.target.num_joints} joints"
            )
        for rule in self.rules:
            for name, _ in rule:
                self.source.index(name)

    def matrix(self) -> np.ndarray:
        """``(J_target, J_source)`` weights."""
        m = np.zeros((self.target.num_joints, self.source.num_joints))
        for i, rule in enumerate(self.rules):
            for name, w in rule:
                m[i, self.source.index(name)] += w
        return m


def map_points(
    points: np.ndarray, confidence: np.ndarray, mapping: JointMapping
) -> tuple[np.ndarray, np.ndarray]:
    """Map ``points (T, Js, D)`` and ``confidence (T, Js)`` onto the mapping's target joints.

    Returns ``(T, Jt, D)`` float32 points and ``(T, Jt)`` float32 confidence.
    """
    points = np.asarray(points, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    js = mapping.source.num_joints
    if points.ndim != 3 or points.shape[1] != js or confidence.shape != points.shape[:2]:
        raise Pose2RigError(
            f"map_points: expected points (T, {js}, D) and confidence (T, {js}), got "
            f"{points.shape} and {confidence.shape}"
        )
    m = mapping.matrix()
    used = m != 0
    out = np.einsum("tsd,js->tjd", np.nan_to_num(points), m)
    conf_src = np.where(np.all(np.isfinite(points), axis=-1), confidence, 0.0)
    conf = np.stack([conf_src[:, used[j]].min(axis=1) for j in range(m.shape[0])], axis=1)
    missing = np.stack(
        [~np.all(np.isfinite(points[:, used[j]]), axis=(1, 2)) for j in range(m.shape[0])], axis=1
    )
    out[missing] = np.nan
    conf[missing] = 0.0
    return out.astype(np.float32), conf.astype(np.float32)


def _rules(prefix_map: dict[str, str], nose: str) -> tuple[tuple[tuple[str, float], ...], ...]:
    lh, rh = prefix_map["left_hip"], prefix_map["right_hip"]
    ls, rs = prefix_map["left_shoulder"], prefix_map["right_shoulder"]
    le, re = prefix_map["left_ear"], prefix_map["right_ear"]
    same = {n: ((prefix_map[n], 1.0),) for n in prefix_map}
    return (
        ((lh, 0.5), (rh, 0.5)),
        same["right_hip"],
        same["right_knee"],
        same["right_ankle"],
        same["left_hip"],
        same["left_knee"],
        same["left_ankle"],
        ((lh, 0.25), (rh, 0.25), (ls, 0.25), (rs, 0.25)),
        ((ls, 0.5), (rs, 0.5)),
        ((nose, 1.0),),
        # mid_ears + 0.5 * (mid_ears - thorax)
        ((le, 0.75), (re, 0.75), (ls, -0.25), (rs, -0.25)),
        same["left_shoulder"],
        same["left_elbow"],
        same["left_wrist"],
        same["right_shoulder"],
        same["right_elbow"],
        same["right_wrist"],
    )


_SAME = [
    f"{side}_{part}"
    for side in ("left", "right")
    for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist", "ear")
]

MEDIAPIPE33_TO_H36M17 = JointMapping(
    MEDIAPIPE33, H36M17, _rules({n: n for n in _SAME}, "nose")
)
COCO17_TO_H36M17 = JointMapping(COCO17, H36M17, _rules({n: n for n in _SAME}, "nose"))


def world_landmarks_to_h36m17(world33: np.ndarray) -> np.ndarray:
    """MediaPipe's world landmarks ``(T, 33, 3)`` metres -> Human3.6M-17 joints ``(T, 17, 3)``
    float32 metres, by the rules of ``MEDIAPIPE33_TO_H36M17`` (the 2D keypoints' own).

    Convention:
        BlazePose's ``pose_world_landmarks`` have their origin at the mid-point of the hips and
        the camera's axes: x right, y down, z away from the camera, which are pose2rig's camera
        axes (OpenCV), so the coordinates are kept as they are; no axis is flipped. They are
        not placed in front of the camera: the pelvis stays at the origin (about 0 on every
        frame, as the pelvis is the hips' mid-point), so compare them root-relative or after
        an alignment. A joint is NaN where a landmark it uses is.
    """
    w = np.asarray(world33, dtype=np.float64)
    n = MEDIAPIPE33.num_joints
    if w.ndim != 3 or w.shape[1:] != (n, 3):
        raise Pose2RigError(f"world_landmarks_to_h36m17: expected world33 (T, {n}, 3), got {w.shape}")
    out, _ = map_points(w, np.ones(w.shape[:2]), MEDIAPIPE33_TO_H36M17)
    return out
