"""Metrics on exact cases and the constant-depth baseline through the lifter's code path."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.evaluate import (
    all_metrics,
    evaluate_lifter,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    pck3d,
    scale_align,
    synthetic_views,
)
from pose2rig.geometry import euler_to_matrix
from pose2rig.lift import Lifter, codec


def _poses(n: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, size=(n, 17, 3))


def test_mpjpe_of_a_shift_of_one_joint():
    gt = _poses()
    pred = gt.copy()
    pred[:, 5, 0] += 0.17  # one joint of 17 off by 17 cm
    assert mpjpe(pred, gt) == pytest.approx(0.01)
    assert mpjpe(gt + [1.0, 2.0, 3.0], gt) == pytest.approx(0.0, abs=1e-12)  # root-aligned


def test_p_mpjpe_ignores_similarity_transforms():
    gt = _poses()
    r = euler_to_matrix(np.array([0.3, -1.0, 2.0]), "ZXY")
    pred = 2.5 * gt @ r.T + [0.4, -0.2, 5.0]
    assert p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(pred, gt) > 0.1


def test_n_mpjpe_ignores_scale_but_not_rotation():
    gt = _poses()
    assert n_mpjpe(0.3 * gt + 1.0, gt) == pytest.approx(0.0, abs=1e-9)
    r = euler_to_matrix(np.array([0.0, 0.5, 0.0]), "ZXY")
    assert n_mpjpe(gt @ r.T, gt) > 0.05
    np.testing.assert_allclose(scale_align(0.3 * gt, gt), gt, atol=1e-9)


def test_pck3d_counts_joints_within_threshold():
    gt = np.zeros((2, 17, 3))
    pred = gt.copy()
    pred[0, :4, 0] = 0.149
    pred[1, :8, 1] = 0.151
    assert pck3d(pred, gt, threshold=0.150) == pytest.approx(1 - 8 / 34)


def test_poses_with_nan_are_left_out_and_shape_mismatch_raises():
    gt = _poses(3)
    pred = gt.copy()
    pred[1] += 1.0
    pred[1, 2] = np.nan
    assert mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(Pose2RigError, match="one shape"):
        mpjpe(gt[:, :16], gt)


def test_constant_depth_baseline_is_the_flat_pose_through_the_same_path():
    rng = np.random.default_rng(1)
    world = rng.normal(0, 0.25, size=(40, 17, 3)) + [0.0, 1.0, 0.0]
    px, gt = synthetic_views([world], seed=3)
    baseline = Lifter.constant_depth()
    flat = baseline.shapes_from_pixels(px)
    np.testing.assert_allclose(flat[..., 2], 0.0, atol=1e-6)  # every joint at the root's depth
    norm, _, _ = codec.normalise(px)  # x, y: the normalised pose times the depth d
    np.testing.assert_allclose(flat[..., :2], norm * codec.DEPTH, atol=1e-5)
    got = evaluate_lifter(baseline, px, gt)
    # on-axis shape vs truth; the path only adds a rotation onto the root ray, which P-MPJPE ignores
    assert got["p_mpjpe"] == pytest.approx(all_metrics(flat, gt)["p_mpjpe"], rel=1e-6)
    assert got["p_mpjpe"] > 0.01


def test_synthetic_views_are_fixed_by_seed_and_reproject():
    world = np.random.default_rng(2).normal(0, 0.25, size=(30, 17, 3))
    a = synthetic_views([world], seed=5)
    b = synthetic_views([world], seed=5)
    c = synthetic_views([world], seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])
    px, cam = a
    assert np.all(cam[..., 2] > 0)
    # pixels are a pinhole projection of the camera-frame joints: px = f * xy / z, one f per view
    f = px[..., 0] * cam[..., 2] / cam[..., 0]
    np.testing.assert_allclose(f, np.broadcast_to(np.median(f, axis=1, keepdims=True), f.shape), rtol=1e-3)
    # lengths survive the camera (a rigid move)
    np.testing.assert_allclose(
        np.linalg.norm(cam[:, 3] - cam[:, 2], axis=-1), np.linalg.norm(world[:, 3] - world[:, 2], axis=-1),
        rtol=1e-4,
    )
