"""Rotation conventions pinned by name."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig import geometry as g
from pose2rig.errors import Pose2RigError


def test_convention_bvh_euler_order_is_first_channel_outermost() -> None:
    a, b, c = 0.3, -0.7, 1.1
    rz = g.euler_to_matrix([a, 0, 0], "ZXY")
    rx = g.euler_to_matrix([0, b, 0], "ZXY")
    ry = g.euler_to_matrix([0, 0, c], "ZXY")
    np.testing.assert_allclose(g.euler_to_matrix([a, b, c], "ZXY"), rz @ rx @ ry, atol=1e-12)
    # Rz(90 deg) takes +X to +Y (right-handed, column vectors)
    np.testing.assert_allclose(g.euler_to_matrix([90, 0, 0], "ZXY", degrees=True) @ [1, 0, 0],
                               [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("order", ["ZXY", "ZYX", "XYZ", "YXZ"])
def test_euler_round_trip(order: str) -> None:
    rng = np.random.default_rng(0)
    m = g.quat_to_matrix(rng.normal(size=(50, 4)) / 1.0)
    m = g.quat_to_matrix(g.matrix_to_quat(m))
    np.testing.assert_allclose(g.euler_to_matrix(g.matrix_to_euler(m, order), order), m, atol=1e-9)
    with pytest.raises(Pose2RigError):
        g.euler_to_matrix([0, 0, 0], "XXY")


def test_convention_quaternion_is_scalar_first() -> None:
    q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])  # 90 deg about Z
    np.testing.assert_allclose(g.quat_to_matrix(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(g.matrix_to_quat(g.quat_to_matrix(q)), q, atol=1e-12)


def test_rotation_between_including_antiparallel() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(100, 3))
    b = rng.normal(size=(100, 3))
    b[0] = -a[0]
    r = g.rotation_between(a, b)
    got = np.einsum("nij,nj->ni", r, a / np.linalg.norm(a, axis=1, keepdims=True))
    np.testing.assert_allclose(got, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)


def test_frame_from_vectors_is_right_handed_for_any_axis_pair() -> None:
    for axes in ("yx", "xy", "zx", "yz", "zy", "xz"):
        f = g.frame_from_vectors([0.2, 1.0, 0.1], [1.0, 0.0, 0.3], axes)
        np.testing.assert_allclose(f.T @ f, np.eye(3), atol=1e-12)
        assert np.linalg.det(f) == pytest.approx(1.0)
        p = np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1])
        np.testing.assert_allclose(f[:, "xyz".index(axes[0])], p, atol=1e-12)
        assert f[:, "xyz".index(axes[1])] @ [1.0, 0.0, 0.3] > 0


def test_procrustes_recovers_similarity_and_refuses_reflection() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 17, 3))
    r = g.euler_to_matrix(rng.normal(size=(5, 3)), "XYZ")
    y = 1.7 * np.einsum("nij,nkj->nki", r, x) + rng.normal(size=(5, 1, 3))
    np.testing.assert_allclose(g.procrustes_align(x, y), y, atol=1e-9)
    mirrored = x * [-1, 1, 1]
    err = np.abs(g.procrustes_align(mirrored, x) - x).max()
    assert err > 1e-3  # a reflection is not a rotation


def test_convention_camera_to_y_up() -> None:
    # a point above the optical axis in the image (camera y negative) is above the camera (Y > 0),
    # and a point in front of the camera (z > 0) is at -Z: the camera looks along -Z, so a subject
    # facing the camera faces +Z.
    np.testing.assert_allclose(g.CAMERA_TO_YUP @ [0, -1, 0], [0, 1, 0])
    np.testing.assert_allclose(g.CAMERA_TO_YUP @ [0, 0, 3], [0, 0, -3])
    assert np.linalg.det(g.CAMERA_TO_YUP) == pytest.approx(1.0)
