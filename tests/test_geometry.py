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


def test_continuous_quat_flips_signs_cumulatively() -> None:
    s = 0.6
    joint0 = np.array([[1, 0, 0, 0], [-1, 0, 0, 0], [-s, 0.8, 0, 0], [0, 1, 0, 0]], dtype=float)
    joint1 = np.tile([0.0, 0.0, 1.0, 0.0], (4, 1))
    q = np.stack([joint0, joint1], axis=1)  # (T=4, J=2, 4)
    before = q.copy()
    out = g.continuous_quat(q)
    # dots as given: -1 (flip), 0.6, 0.8: the flip of frame 1 carries to frames 2 and 3
    want0 = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [s, -0.8, 0, 0], [0, -1, 0, 0]], dtype=float)
    assert np.array_equal(out[:, 0], want0)
    assert np.array_equal(out[:, 1], joint1)
    assert np.array_equal(q, before)  # the input is left alone
    # time on another axis: the same answer
    assert np.array_equal(g.continuous_quat(q.transpose(1, 0, 2), axis=1), out.transpose(1, 0, 2))
    # a single frame comes back as a copy
    one = g.continuous_quat(q[:1])
    assert np.array_equal(one, q[:1]) and one is not q


def test_continuous_quat_missing_frame_keeps_the_running_sign() -> None:
    q = np.array([[1, 0, 0, 0], [-1, 0, 0, 0], [np.nan] * 4, [-1, 0, 0, 0]], dtype=float)
    out = g.continuous_quat(q)
    assert np.array_equal(out[[0, 1, 3]], [[1, 0, 0, 0]] * 3)  # the frame after the gap is not NaN
    assert np.isnan(out[2]).all()
    # unit vectors of any length (Blender's axis-angle axes are 3-vectors)
    v = np.array([[0, 0, 1], [0, 0, -1], [0, 0.6, -0.8]], dtype=float)
    assert np.array_equal(g.continuous_quat(v), [[0, 0, 1], [0, 0, 1], [0, -0.6, 0.8]])
    with pytest.raises(Pose2RigError, match="time axis"):
        g.continuous_quat(q, axis=-1)


def test_nearest_valid_ties_go_to_the_previous_frame() -> None:
    ok = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    # frame 0 before the first valid: 1; 3 is nearer 4; 6 is 2 from both 4 and 8: the earlier, 4
    assert g.nearest_valid(ok).tolist() == [1, 1, 1, 4, 4, 4, 4, 8, 8, 8]
    assert g.nearest_valid(np.array([True, False, True])).tolist() == [0, 0, 2]
    assert g.nearest_valid(np.ones(3, bool)).tolist() == [0, 1, 2]
    with pytest.raises(Pose2RigError, match="true entry"):
        g.nearest_valid(np.zeros(4, bool))
    with pytest.raises(Pose2RigError, match="T,"):
        g.nearest_valid(np.ones((2, 2), bool))


def test_continuous_quat_on_a_turn_with_every_third_frame_negated() -> None:
    from scipy.spatial.transform import Rotation

    q = Rotation.from_rotvec(np.linspace(0, 5.5, 40)[:, None] * [0, 0, 1]).as_quat(scalar_first=True)
    flipped = q * np.where(np.arange(40) % 3 == 0, -1.0, 1.0)[:, None]
    out = g.continuous_quat(flipped[:, None])[:, 0]
    assert np.all(np.sum(out[1:] * out[:-1], axis=-1) > 0)
    assert np.allclose(np.abs(np.sum(out * q, axis=-1)), 1.0)  # same rotations


def test_slerp_of_directions_on_hand_computed_arcs() -> None:
    x, y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    h = np.sqrt(0.5)
    np.testing.assert_allclose(g.slerp(x, y, 0.5), [h, h, 0.0], atol=1e-15)
    # fractions along a new leading axis: (G, 1) with (J, 3) -> (G, J, 3), constant speed
    a, b = np.stack([x, y]), np.stack([y, [0.0, 0.0, 1.0]])
    out = g.slerp(a, b, np.array([0.0, 1 / 3, 1.0])[:, None])
    assert out.shape == (3, 2, 3)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    np.testing.assert_allclose(out[:, 0], [x, [c, s, 0.0], y], atol=1e-15)
    np.testing.assert_allclose(out[:, 1], [y, [0.0, c, s], [0.0, 0.0, 1.0]], atol=1e-15)


def test_slerp_antipodal_and_zero_vectors() -> None:
    # no unique arc: turn toward a x X (a x Y for a near X)
    np.testing.assert_allclose(g.slerp(np.array([0.0, 1.0, 0.0]), np.array([0.0, -1.0, 0.0]), 0.5),
                               [0.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_allclose(g.slerp(np.array([1.0, 0.0, 0.0]), np.array([-1.0, 0.0, 0.0]), 0.5),
                               [0.0, 0.0, 1.0], atol=1e-15)
    # a zero vector takes the other end's, two zeros stay 0
    z = np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(g.slerp(np.zeros(3), z, np.array([0.0, 0.4, 1.0])), [z, z, z])
    np.testing.assert_array_equal(g.slerp(np.zeros(3), np.zeros(3), 0.5), np.zeros(3))
    with pytest.raises(Pose2RigError, match="one shape"):
        g.slerp(np.zeros((2, 3)), np.zeros((3, 3)), 0.5)


def test_slerp_of_quaternions_as_4_vectors() -> None:
    # identity -> 90 deg about z, halfway: 45 deg about z, (w, x, y, z) = (cos 22.5, 0, 0, sin 22.5)
    q = g.slerp(np.array([1.0, 0.0, 0.0, 0.0]), np.array([np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)]), 0.5)
    np.testing.assert_allclose(q, [np.cos(np.pi / 8), 0.0, 0.0, np.sin(np.pi / 8)], atol=1e-15)
    np.testing.assert_allclose(g.quat_to_matrix(q) @ [1.0, 0.0, 0.0], [np.sqrt(0.5), np.sqrt(0.5), 0.0],
                               atol=1e-15)
    # antipodal 4-vectors turn toward the basis vector least along a, here e1
    np.testing.assert_allclose(g.slerp(np.array([1.0, 0.0, 0.0, 0.0]), np.array([-1.0, 0.0, 0.0, 0.0]), 0.5),
                               [0.0, 1.0, 0.0, 0.0], atol=1e-15)


def test_polar_splits_rotation_and_symmetric_scale() -> None:
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    k1 = np.diag([2.0, 3.0, 4.0])
    k2 = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])  # symmetric, eigenvalues 3, 1, 1
    a = np.stack([rz @ k1, rz.T @ k2])
    r, k = g.polar(a)
    np.testing.assert_allclose(r, np.stack([rz, rz.T]), atol=1e-12)
    np.testing.assert_allclose(k, np.stack([k1, k2]), atol=1e-12)
    # a mirrored matrix gives a reflection, which callers check for
    r, k = g.polar(np.diag([-2.0, 2.0, 2.0]))
    np.testing.assert_allclose(r, np.diag([-1.0, 1.0, 1.0]), atol=1e-12)
    np.testing.assert_allclose(k, 2 * np.eye(3), atol=1e-12)


def test_polar_agrees_with_scipy_per_matrix() -> None:
    import scipy.linalg

    a = np.random.default_rng(3).normal(size=(4, 5, 3, 3))
    r, k = g.polar(a)
    assert r.shape == k.shape == a.shape
    for i in np.ndindex(a.shape[:2]):
        want_r, want_k = scipy.linalg.polar(a[i], side="right")
        np.testing.assert_allclose(r[i], want_r, atol=1e-10)
        np.testing.assert_allclose(k[i], want_k, atol=1e-10)
