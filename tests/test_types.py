"""Core types validate their input and keep the missing-data convention."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence, Skeleton


def test_skeleton_rejects_child_before_parent_and_bad_mirror() -> None:
    with pytest.raises(Pose2RigError, match="precede"):
        Skeleton("x", ("a", "b"), (1, -1), (0, 1))
    with pytest.raises(Pose2RigError, match="involution"):
        Skeleton("x", ("a", "b", "c"), (-1, 0, 0), (1, 2, 0))
    with pytest.raises(Pose2RigError, match="no joint 'nope'"):
        H36M17.index("nope")


def test_keypoints_missing_is_nan_with_zero_confidence() -> None:
    kp = np.zeros((2, 17, 2))
    kp[1, 3, 0] = np.nan
    conf = np.ones((2, 17))
    k = Keypoints2D(kp, conf, H36M17, (640, 480), 30.0, np.array([0.0, 1 / 30]))
    assert np.isnan(k.keypoints[1, 3]).all() and k.confidence[1, 3] == 0
    assert k.confidence[0, 3] == 1


def test_keypoints_reject_bad_shapes_times_and_fps() -> None:
    ok = dict(confidence=np.ones((2, 17)), skeleton=H36M17, image_size=(10, 10), fps=30.0,
              timestamps=np.array([0.0, 0.1]))
    with pytest.raises(Pose2RigError, match=r"expected shape \(\?, 17, 2\)"):
        Keypoints2D(np.zeros((2, 16, 2)), **ok)
    with pytest.raises(Pose2RigError, match="increase"):
        Keypoints2D(np.zeros((2, 17, 2)), **{**ok, "timestamps": np.array([0.1, 0.1])})
    with pytest.raises(Pose2RigError, match="fps"):
        Keypoints2D(np.zeros((2, 17, 2)), **{**ok, "fps": 0})


def test_camera_from_fov_projects_optical_axis_to_centre() -> None:
    cam = Camera.from_fov((1920, 1080), 60.0)
    assert cam.matrix[0, 0] == pytest.approx(960 / np.tan(np.radians(30)))
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 5.0])), [960, 540], atol=1e-3)
    # a point at the edge of the horizontal field of view lands on the image border
    x = 5.0 * np.tan(np.radians(30))
    np.testing.assert_allclose(cam.project(np.array([x, 0.0, 5.0])), [1920, 540], atol=1e-2)
    with pytest.raises(Pose2RigError, match="fov"):
        Camera.from_fov((100, 100), 0.0)


def test_pose_sequence_default_confidence_and_replace() -> None:
    j = np.zeros((3, 17, 3))
    j[2] = np.nan
    p = PoseSequence(j, H36M17, 30.0, np.arange(3) / 30)
    assert p.confidence.tolist()[2] == [0.0] * 17 and p.confidence[0].min() == 1
    q = p.replace(fps=60.0)
    assert q.fps == 60 and p.fps == 30
    with pytest.raises(Pose2RigError, match="space"):
        p.replace(space="screen")
