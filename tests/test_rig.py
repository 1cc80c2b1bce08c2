"""pose2rig.rig.forward_kinematics: the one forward kinematics, on hand-computed chains."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.rig import Rig, RigAnimation, forward_kinematics

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 deg about +Z: x -> y


def _matrix(rotation: np.ndarray, translation: tuple[float, float, float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


def _chain() -> np.ndarray:
    """``(2, 3, 4, 4)``: a root at (0, 0, 1) and two bones of length 1 along local x. Frame 0
    turns the root and the middle joint +90 deg about z; frame 1 is at rest."""
    turned = [_matrix(RZ90, (0, 0, 1)), _matrix(RZ90, (1, 0, 0)), _matrix(np.eye(3), (1, 0, 0))]
    rest = [_matrix(np.eye(3), (0, 0, 1)), _matrix(np.eye(3), (1, 0, 0)), _matrix(np.eye(3), (1, 0, 0))]
    return np.array([turned, rest])


def test_a_three_joint_chain_by_hand() -> None:
    world = forward_kinematics(_chain(), (-1, 0, 1))
    assert world.shape == (2, 3, 4, 4)
    # frame 0: the root turned 90 deg, the middle joint 90 more: the tip points along -x
    np.testing.assert_allclose(world[0, :, :3, 3], [[0, 0, 1], [0, 1, 1], [-1, 1, 1]], atol=1e-12)
    np.testing.assert_allclose(world[0, 0, :3, :3], RZ90, atol=1e-12)
    np.testing.assert_allclose(world[0, 1, :3, :3], RZ90 @ RZ90, atol=1e-12)
    np.testing.assert_allclose(world[0, 2, :3, :3], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    # frame 1: at rest, the bones lie along +x
    np.testing.assert_allclose(world[1, :, :3, 3], [[0, 0, 1], [1, 0, 1], [2, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(world[1, :, :3, :3], np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12)
    np.testing.assert_array_equal(world[..., 3, :], np.broadcast_to([0.0, 0.0, 0.0, 1.0], (2, 3, 4)))


def test_rotations_alone_and_any_leading_axes() -> None:
    local = _chain()
    rot = forward_kinematics(local[..., :3, :3], [-1, 0, 1])  # 3x3 rotations compose the same way
    np.testing.assert_allclose(rot, forward_kinematics(local, [-1, 0, 1])[..., :3, :3], atol=1e-12)
    # a (batch, frame) pair of leading axes: each slice as on its own; one joint alone is its root
    stacked = np.stack([local, local[::-1]])
    world = forward_kinematics(stacked, np.array([-1, 0, 1]))
    np.testing.assert_allclose(world[1, 0], forward_kinematics(local[1], [-1, 0, 1]), atol=0)
    np.testing.assert_array_equal(forward_kinematics(local[:, :1], [-1]), local[:, :1])


def test_parents_may_come_after_their_children() -> None:
    # the same chain listed tip first (as glTF nodes may be): joint k of this order is chain[2 - k]
    local = _chain()[:, ::-1]
    world = forward_kinematics(local, (1, 2, -1))
    np.testing.assert_allclose(world[:, ::-1], forward_kinematics(_chain(), (-1, 0, 1)), atol=1e-12)
    # two roots, one of them a lone joint in the middle
    two = forward_kinematics(np.stack([_chain()[0, 0], _chain()[0, 2], _chain()[0, 1]]), (-1, -1, 0))
    np.testing.assert_allclose(two[1], _chain()[0, 2], atol=0)
    np.testing.assert_allclose(two[2, :3, 3], [0, 1, 1], atol=1e-12)


@pytest.mark.parametrize(
    ("parents", "match"),
    [
        ((-1, 2, 1), "cycle through joint 1"),  # 1 and 2 each other's parent
        ((-1, 1, 1), "joint 1 has parent 1"),  # its own parent
        ((-1, 0, 3), "joint 2 has parent 3"),  # no joint 3
        ((-1, -2, 0), "joint 1 has parent -2"),
    ],
)
def test_a_bad_parent_order_is_refused(parents: tuple[int, ...], match: str) -> None:
    with pytest.raises(Pose2RigError, match=match):
        forward_kinematics(_chain(), parents)


def test_local_transforms_must_match_the_parents() -> None:
    with pytest.raises(Pose2RigError, match=r"must be \(\.\.\., J=2, D, D\), got \(2, 3, 4, 4\)"):
        forward_kinematics(_chain(), (-1, 0))
    with pytest.raises(Pose2RigError, match=r"got \(3, 4, 3\)"):
        forward_kinematics(np.zeros((3, 4, 3)), (-1, 0, 1))


def test_world_matrices_of_a_rig_animation_by_hand() -> None:
    # two bones up +Y from (0, 1, 0), each 1 long with its own axes as the world's; the root lifted
    # to (0, 2, 0) and turned +90 deg about z, the child turned +90 deg about its own z
    rest = np.stack([_matrix(np.eye(3), (0, 1, 0)), _matrix(np.eye(3), (0, 2, 0))])
    rig = Rig("chain", ("a", "b"), (-1, 0), rest)
    q = np.array([[[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]] * 2])  # (1, 2, 4) w, x, y, z
    world = RigAnimation(rig, q, [[[0.0, 2.0, 0.0]]], 30.0).world_matrices()
    np.testing.assert_allclose(world[0, :, :3, 3], [[0, 2, 0], [-1, 2, 0]], atol=1e-12)
    np.testing.assert_allclose(world[0, 1, :3, :3], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
