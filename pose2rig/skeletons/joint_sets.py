"""The joint sets pose2rig knows (registered by name in :mod:`pose2rig.skeletons.registry`)."""

from __future__ import annotations

from pose2rig.types import Skeleton


def skeleton_from_pairs(name: str, joints: list[tuple[str, str | None]]) -> Skeleton:
    """Build a skeleton from ``(joint, parent)`` pairs; mirrors follow the left_/right_ prefix."""
    names = tuple(j for j, _ in joints)
    parents = tuple(-1 if p is None else names.index(p) for _, p in joints)

    def twin(n: str) -> int:
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if n.startswith(a):
                return names.index(b + n[len(a):])
        for a, b in (("_left", "_right"), ("_right", "_left")):
            if n.endswith(a):
                return names.index(n[: -len(a)] + b)
        return names.index(n)

    return Skeleton(name, names, parents, tuple(twin(n) for n in names))


H36M17 = skeleton_from_pairs(
    "h36m17",
    [
        ("pelvis", None),
        ("right_hip", "pelvis"),
        ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"),
        ("left_hip", "pelvis"),
        ("left_knee", "left_hip"),
        ("left_ankle", "left_knee"),
        ("spine", "pelvis"),
        ("thorax", "spine"),
        ("neck", "thorax"),
        ("head", "neck"),
        ("left_shoulder", "thorax"),
        ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_shoulder", "thorax"),
        ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"),
    ],
)

MEDIAPIPE33 = skeleton_from_pairs(
    "mediapipe33",
    [
        ("nose", None),
        ("left_eye_inner", "nose"),
        ("left_eye", "left_eye_inner"),
        ("left_eye_outer", "left_eye"),
        ("right_eye_inner", "nose"),
        ("right_eye", "right_eye_inner"),
        ("right_eye_outer", "right_eye"),
        ("left_ear", "left_eye_outer"),
        ("right_ear", "right_eye_outer"),
        ("mouth_left", "nose"),
        ("mouth_right", "nose"),
        ("left_shoulder", "nose"),
        ("right_shoulder", "nose"),
        ("left_elbow", "left_shoulder"),
        ("right_elbow", "right_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"),
        ("left_pinky", "left_wrist"),
        ("right_pinky", "right_wrist"),
        ("left_index", "left_wrist"),
        ("right_index", "right_wrist"),
        ("left_thumb", "left_wrist"),
        ("right_thumb", "right_wrist"),
        ("left_hip", "left_shoulder"),
        ("right_hip", "right_shoulder"),
        ("left_knee", "left_hip"),
        ("right_knee", "right_hip"),
        ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"),
        ("left_heel", "left_ankle"),
        ("right_heel", "right_ankle"),
        ("left_foot_index", "left_ankle"),
        ("right_foot_index", "right_ankle"),
    ],
)

COCO17 = skeleton_from_pairs(
    "coco17",
    [
        ("nose", None),
        ("left_eye", "nose"),
        ("right_eye", "nose"),
        ("left_ear", "left_eye"),
        ("right_ear", "right_eye"),
        ("left_shoulder", "nose"),
        ("right_shoulder", "nose"),
        ("left_elbow", "left_shoulder"),
        ("right_elbow", "right_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"),
        ("left_hip", "left_shoulder"),
        ("right_hip", "right_shoulder"),
        ("left_knee", "left_hip"),
        ("right_knee", "right_hip"),
        ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"),
    ],
)

ANKLE_HEIGHT = 0.08
"""Height of the ankle joint above the sole of a standing adult, metres (Human3.6M's ankle
joint sits on the lateral malleolus, 7-9 cm above the floor)."""
