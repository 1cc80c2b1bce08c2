"""pose2rig.body.checks: the knees' and elbows' signed bend, on a hand-built skeleton posed by
known rotations (straight legs and arms hanging at rest, facing +Z)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose2rig.body.checks import HINGE_NAMES, hinge_angles, worst_backward_bend
from pose2rig.body.fit import BodyFit
from pose2rig.body.io import BodyFile
from pose2rig.errors import ArgumentError, Pose2RigError

NAMES = ("pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle", "spine",
         "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist")
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 7, 11, 12])
REST = np.array([
    [0, 1, 0], [0.1, 0.95, 0], [0.1, 0.5, 0], [0.1, 0.08, 0], [-0.1, 0.95, 0], [-0.1, 0.5, 0], [-0.1, 0.08, 0],
    [0, 1.45, 0], [0.2, 1.45, 0], [0.2, 1.15, 0], [0.2, 0.9, 0], [-0.2, 1.45, 0], [-0.2, 1.15, 0], [-0.2, 0.9, 0],
], dtype=np.float64)
X = np.array([1.0, 0.0, 0.0])
"""Legs and arms hang along -Y: a knee flexes (shin backwards, -Z) about +X, an elbow
(forearm forwards, +Z) about -X."""


def posed(local: dict[str, np.ndarray], frames: int = 1, rest: np.ndarray = REST) -> BodyFit:
    """The skeleton ``rest`` posed by local rotations ``name -> (T, 3) rotvec`` (world-aligned
    rest axes)."""
    j = len(NAMES)
    loc = np.broadcast_to(np.eye(3), (frames, j, 3, 3)).copy()
    for name, rv in local.items():
        loc[:, NAMES.index(name)] = Rotation.from_rotvec(np.array(np.broadcast_to(rv, (frames, 3)))).as_matrix()
    rot = np.zeros_like(loc)
    pos = np.zeros((frames, j, 3))
    for k, p in enumerate(PARENTS):
        if p < 0:
            rot[:, k], pos[:, k] = loc[:, k], rest[k]
        else:
            rot[:, k] = rot[:, p] @ loc[:, k]
            pos[:, k] = pos[:, p] + rot[:, p] @ (rest[k] - rest[p])
    return BodyFit(kind="test", joint_names=NAMES, parents=PARENTS, pose=np.zeros((frames, j, 3)),
                   shape=np.zeros(0), translation=pos[:, 0], joints=np.zeros((frames, 17, 3)), rotations=rot,
                   model_joints=pos, error=np.zeros(frames), fps=30.0)


def test_convention_straight_limbs_read_zero_and_columns_are_named():
    assert HINGE_NAMES == ("left_knee", "right_knee", "left_elbow", "right_elbow")
    np.testing.assert_allclose(hinge_angles(posed({})), np.zeros((1, 4)), atol=1e-9)


def test_natural_flexion_is_positive_and_hyperextension_negative():
    a = hinge_angles(posed({"left_knee": np.radians(30) * X, "right_knee": np.radians(-10) * X,
                            "left_elbow": np.radians(-45) * X, "right_elbow": np.radians(12) * X}))
    np.testing.assert_allclose(a, [[30.0, -10.0, 45.0, -12.0]], atol=1e-6)
    assert worst_backward_bend(a) == pytest.approx(12.0)


def test_bend_follows_the_thigh_not_the_world():
    """The whole body turned and leaning, the thigh twisted about its own bone and swung forward:
    the knee's bend is still read about the axis the thigh carries."""
    f = 3
    turn = Rotation.from_euler("yx", [[0, 0], [90, 0], [-150, 25]], degrees=True).as_rotvec()
    hip = Rotation.from_euler("yx", [[40, 0], [-30, -70], [10, -100]], degrees=True).as_rotvec()
    a = hinge_angles(posed({"pelvis": turn, "left_hip": hip, "left_knee": np.radians(55) * X,
                            "right_knee": np.radians(-7) * X}, frames=f))
    np.testing.assert_allclose(a[:, 0], 55.0, atol=1e-6)
    np.testing.assert_allclose(a[:, 1], -7.0, atol=1e-6)


def test_a_sideways_bend_is_not_a_flexion():
    a = hinge_angles(posed({"left_knee": np.radians(20) * np.array([0.0, 0.0, 1.0])}))
    assert abs(a[0, 0]) < 1e-6


def test_rest_pose_bent_like_annys_reads_its_bend():
    """A model whose rest knee is already bent (Anny's is, by about 8 degrees) reads that bend at
    zero pose: the angle is the limb's, not the pose parameters'."""
    rest = REST.copy()
    rest[NAMES.index("left_ankle")] = rest[NAMES.index("left_knee")] + 0.42 * np.array(
        [0.0, -np.cos(np.radians(8)), -np.sin(np.radians(8))])
    assert hinge_angles(posed({}, rest=rest))[0, 0] == pytest.approx(8.0, abs=1e-6)
    # and straightening it by 8 degrees reads 0, by 13 reads 5 degrees backwards
    np.testing.assert_allclose(hinge_angles(posed({"left_knee": np.radians(-13) * X}, rest=rest))[0, 0], -5.0,
                               atol=1e-6)


def test_a_body_file_reads_the_same_and_nan_frames_stay_nan():
    fit = posed({"left_knee": np.radians(np.array([[10.0], [-6.0]])) * X}, frames=2)
    pos = fit.model_joints.copy()
    pos[1] = np.nan  # a frame without joints (not the first: the rest is read from a finite one)
    body = BodyFile(kind="test", fps=30.0, bone_names=NAMES, bone_parents=tuple(int(p) for p in PARENTS),
                    bone_rest=REST, bone_rotations=fit.rotations, bone_positions=pos, joints=fit.joints,
                    error=fit.error, pose=fit.pose, shape=fit.shape, translation=fit.translation)
    a = hinge_angles(body)
    assert a[0, 0] == pytest.approx(10.0) and np.isnan(a[1]).all()
    np.testing.assert_allclose(hinge_angles(fit)[:, 0], [10.0, -6.0], atol=1e-6)


def test_worst_backward_bend_is_zero_when_every_limb_bends_the_right_way():
    assert worst_backward_bend(np.array([[3.0, 0.0, 40.0, np.nan]])) == 0.0
    assert worst_backward_bend(np.array([[np.nan] * 4])) == 0.0
    assert worst_backward_bend(np.array([[3.0, -4.5, 40.0, -1.0]])) == pytest.approx(4.5)


def test_bad_input_is_named():
    with pytest.raises(ArgumentError, match="body"):
        hinge_angles(object())
    fit = posed({})
    legless = BodyFit(kind="test", joint_names=tuple(n.replace("knee", "shin") for n in NAMES), parents=PARENTS,
                      pose=fit.pose, shape=fit.shape, translation=fit.translation, joints=fit.joints,
                      rotations=fit.rotations, model_joints=fit.model_joints, error=fit.error, fps=30.0)
    with pytest.raises(Pose2RigError, match="left_knee"):
        hinge_angles(legless)
