"""Joint sets by name and the documented mappings between them.

``H36M17``: Human3.6M's 17 joints, the lifter's joint set::

     0 pelvis          5 left_knee      10 head             15 right_elbow
     1 right_hip       6 left_ankle     11 left_shoulder    16 right_wrist
     2 right_knee      7 spine          12 left_elbow
     3 right_ankle     8 thorax         13 left_wrist
     4 left_hip        9 neck (nose)    14 right_shoulder

``MEDIAPIPE33``: BlazePose's 33 landmarks in MediaPipe's order. ``COCO17``: the COCO keypoints.
Each is registered by name with its mapping onto ``H36M17`` in :mod:`pose2rig.skeletons.registry`
(:func:`by_name`, :func:`mapping_to_h36m17`).
"Left" always means the subject's own left.
"""

from __future__ import annotations

from pose2rig.skeletons.joint_sets import (
    ANKLE_HEIGHT,
    COCO17,
    H36M17,
    MEDIAPIPE33,
)
from pose2rig.skeletons.mapping import (
    COCO17_TO_H36M17,
    MEDIAPIPE33_TO_H36M17,
    JointMapping,
    map_points,
    world_landmarks_to_h36m17,
)
from pose2rig.skeletons.registry import by_name, known_joint_sets, mapping_to_h36m17

__all__ = [
    "ANKLE_HEIGHT",
    "COCO17",
    "COCO17_TO_H36M17",
    "H36M17",
    "MEDIAPIPE33",
    "MEDIAPIPE33_TO_H36M17",
    "JointMapping",
    "by_name",
    "known_joint_sets",
    "map_points",
    "mapping_to_h36m17",
    "world_landmarks_to_h36m17",
]
