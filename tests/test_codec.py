"""The 2D normalisation shared by training and inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.lift import codec


def _poses(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 800, size=(n, 1, 2))
    return (base + rng.normal(0, 80, size=(n, 17, 2))).astype(np.float32)


def test_root_at_origin_and_head_at_one_over_d():
    norm, root, scale = codec.normalise(_poses())
    np.testing.assert_allclose(norm[:, codec.ROOT], 0.0, atol=1e-7)
    head = np.linalg.norm(norm[:, codec.HEAD], axis=-1)
    rms = np.sqrt(np.mean(np.sum((_poses() - root[:, None]) ** 2, -1), -1))
    upright = np.linalg.norm(_poses()[:, codec.HEAD] - root, axis=-1) >= codec.MIN_HEAD_RATIO * rms
    assert upright.any()
    np.testing.assert_allclose(head[upright], 1.0 / codec.DEPTH, rtol=1e-5)


def test_denormalise_inverts_normalise():
    kp = _poses()
    norm, root, scale = codec.normalise(kp, d=7.0)
    np.testing.assert_allclose(codec.denormalise(norm, root, scale, d=7.0), kp, atol=1e-3)


def test_invariant_to_image_translation_and_scale():
    kp = _poses()
    a, _, _ = codec.normalise(kp)
    b, _, _ = codec.normalise(kp * 3.0 + np.float32([50.0, -20.0]))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_degenerate_head_root_uses_robust_floor():
    kp = _poses(1)
    kp[0, codec.HEAD] = kp[0, codec.ROOT] + 0.01  # head straight over the pelvis (bowing)
    norm, root, scale = codec.normalise(kp)
    assert np.all(np.isfinite(norm))
    rms = np.sqrt(np.mean(np.sum((kp[0] - root[0]) ** 2, -1)))
    np.testing.assert_allclose(scale[0], codec.MIN_HEAD_RATIO * rms, rtol=1e-5)


def test_axes_are_image_axes_not_flipped():
    kp = np.zeros((1, 17, 2), np.float32)
    kp[0, codec.HEAD] = [0.0, -100.0]  # head above the pelvis: smaller pixel y
    kp[0, 1] = [30.0, 0.0]
    norm, _, _ = codec.normalise(kp)
    assert norm[0, codec.HEAD, 1] < 0 and norm[0, 1, 0] > 0


def test_torch_matches_numpy():
    kp = _poses()
    kp[0, codec.HEAD] = kp[0, codec.ROOT] + 0.5
    np.testing.assert_allclose(
        codec.normalise_torch(torch.from_numpy(kp)).numpy(), codec.normalise(kp)[0], atol=1e-6
    )


def test_missing_joint_gives_nan_and_bad_shape_raises():
    kp = _poses(2)
    kp[1, 3] = np.nan
    norm, _, _ = codec.normalise(kp)
    assert np.all(np.isfinite(norm[0])) and np.isnan(norm[1, 3]).all()
    with pytest.raises(Pose2RigError, match=r"\(\.\.\., 17, 2\)"):
        codec.normalise(np.zeros((4, 17, 3)))
