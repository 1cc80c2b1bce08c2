"""pose2rig.lift.plausibility (the discriminator's score of 3D poses) and pose2rig.clean.outliers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.clean.outliers import (
    implausible_frames,
    plausibility_scores,
    plausibility_threshold,
    root_speed_outliers,
    temporal_residual,
)
from pose2rig.errors import Pose2RigError
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.lift import Lifter, codec, load_lifter
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.plausibility import plausibility
from pose2rig.skeletons import H36M17

BANDAI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1"


@pytest.fixture(scope="module")
def lifter():
    return load_lifter()


@pytest.fixture(scope="module")
def poses():
    """60 real poses: every 10th frame of three Bandai-1 clips (world frame, metres, Y up)."""
    clips = ("dataset-1_walk_normal_001", "dataset-1_bow_normal_001", "dataset-1_kick_normal_001")
    return np.concatenate([load_bvh_as_h36m17(BANDAI / f"{c}.bvh").joints[::10][:20] for c in clips]).astype(np.float64)


def test_bundled_lifter_carries_its_discriminator(lifter):
    assert isinstance(lifter.discriminator, Discriminator)
    assert not lifter.discriminator.training


def test_real_poses_score_above_a_wrist_spike(lifter, poses):
    rng = np.random.default_rng(0)
    base = plausibility(poses, lifter)
    assert base.shape == (len(poses),) and base.dtype == np.float64 and np.isfinite(base).all()
    for wrist in ("left_wrist", "right_wrist"):
        d = rng.normal(size=(len(poses), 3))
        spiked = poses.copy()
        spiked[:, H36M17.index(wrist)] += 0.100 * d / np.linalg.norm(d, axis=1, keepdims=True)
        s = plausibility(spiked, lifter)
        assert s.mean() < base.mean() - 1.0
        assert np.mean(s < base) > 0.75


def test_real_poses_score_above_swapped_legs(lifter, poses):
    swapped = poses.copy()
    for n in ("knee", "ankle"):  # the legs below the hips: the benchmark's leg swap
        a, b = H36M17.index(f"left_{n}"), H36M17.index(f"right_{n}")
        swapped[:, [a, b]] = swapped[:, [b, a]]
    base, s = plausibility(poses, lifter), plausibility(swapped, lifter)
    assert s.mean() < base.mean() - 1.0
    assert np.mean(s < base) > 0.75


def test_nan_frames_score_nan_and_leave_the_others_alone(lifter, poses):
    x = poses[:6].copy()
    x[2, 5, 1] = np.nan
    x[4] = np.inf
    s = plausibility(x, lifter)
    assert np.isnan(s[[2, 4]]).all() and np.isfinite(s[[0, 1, 3, 5]]).all()
    np.testing.assert_allclose(s[[0, 1, 3, 5]], plausibility(poses[[0, 1, 3, 5]], lifter), rtol=1e-5, atol=1e-5)
    assert np.isnan(plausibility(np.full((3, 17, 3), np.nan), lifter)).all()


def test_convention_world_y_up_is_the_camera_frame_turned_about_x(lifter, poses):
    cam = poses[:8] * np.array([1.0, -1.0, -1.0])  # pi about X: Y up -> y down, facing the camera
    np.testing.assert_allclose(plausibility(poses[:8], lifter), plausibility(cam, lifter, space="camera"),
                               rtol=1e-6, atol=1e-6)
    # turning the subject about the vertical by one view step permutes the views: same mean
    a = np.radians(360.0 / 8)
    c, s = np.cos(a), np.sin(a)
    turned = poses[:8] @ np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]]).T
    np.testing.assert_allclose(plausibility(turned, lifter, views=8), plausibility(poses[:8], lifter, views=8),
                               rtol=1e-4, atol=1e-4)


def test_one_front_view_is_the_discriminator_on_the_normalised_perspective_view():
    """The random projection layer's geometry by hand: the pose in camera axes, head one unit from
    the root, root at depth d, seen straight on (azimuth 0, elevation 0), normalised by the codec."""
    torch.manual_seed(0)
    disc = Discriminator(width=16, blocks=1).eval()
    rng = np.random.default_rng(1)
    cam = rng.normal(scale=0.3, size=(4, 17, 3))
    rel = cam - cam[:, :1]
    unit = rel / np.linalg.norm(rel[:, codec.HEAD], axis=-1)[:, None, None]
    z = codec.DEPTH + unit[..., 2]
    xy = unit[..., :2] / np.maximum(z, 1.0)[..., None]
    with torch.no_grad():
        want = disc(torch.from_numpy(codec.normalise(xy)[0])).double().numpy()
    got = plausibility(cam, Lifter(Generator(width=16, blocks=1), discriminator=disc), views=1,
                       elevations=(0.0,), space="camera")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_checkpoint_without_discriminator_is_refused_clearly(tmp_path, poses):
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.loop import lifter_checkpoint

    ck = lifter_checkpoint(Generator(width=16, blocks=1), Discriminator(width=16, blocks=1),
                           TrainConfig(width=16, blocks=1, d_width=16, d_blocks=1), step=0, metrics={})
    del ck["discriminator"], ck["discriminator_state"]
    p = tmp_path / "no_disc.pt"
    torch.save(ck, p)
    lf = load_lifter(p)
    assert lf.discriminator is None
    with pytest.raises(Pose2RigError, match="no discriminator"):
        plausibility(poses[:3], lf)


def test_bad_input_is_refused(lifter):
    with pytest.raises(Pose2RigError, match=r"\(T, 17, 3\)"):
        plausibility(np.zeros((3, 16, 3)), lifter)
    with pytest.raises(Pose2RigError, match="space"):
        plausibility(np.zeros((3, 17, 3)), lifter, space="image")


# --- implausible_frames -------------------------------------------------------------------

def test_implausible_frames_marks_short_runs_below_the_threshold_only():
    s = np.zeros(30)
    s[3] = -5.0  # one frame
    s[8:11] = -5.0  # three frames
    s[15:22] = -5.0  # seven frames: a long unusual move, left
    s[25] = -0.5  # above the threshold
    got = implausible_frames(s, threshold=-1.0, max_run=3)
    want = np.zeros(30, bool)
    want[3] = want[8:11] = True
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(implausible_frames(s, threshold=-1.0, max_run=7)[15:22], True)


def test_implausible_frames_bridges_nan_and_never_marks_it():
    s = np.zeros(12)
    s[[4, 6]] = -5.0
    s[5] = np.nan  # a missing frame inside the run: the run is 3 frames long
    got = implausible_frames(s, threshold=-1.0, max_run=2)
    assert not got.any()
    got = implausible_frames(s, threshold=-1.0, max_run=3)
    np.testing.assert_array_equal(np.flatnonzero(got), [4, 6])


def test_implausible_frames_default_threshold_is_the_clips_robust_tail():
    rng = np.random.default_rng(0)
    s = rng.normal(10.0, 1.0, 500)
    s[[100, 300]] = 0.0
    thr = plausibility_threshold(s)
    med = np.median(s)
    assert thr == pytest.approx(med - 3.0 * 1.4826 * np.median(np.abs(s - med)))
    got = implausible_frames(s)
    assert got[[100, 300]].all() and got.sum() <= 5
    assert not implausible_frames(np.full(5, np.nan)).any()
    with pytest.raises(Pose2RigError, match="max_run"):
        implausible_frames(s, max_run=0)


def test_temporal_residual_and_combined_score_single_out_a_spike():
    t = np.linspace(0.0, 1.0, 11)
    x = np.zeros((11, 2, 3))
    x[:, :, 0] = t[:, None]  # straight uniform motion: zero residual
    x[5, 1, 1] += 0.1
    x[8] = np.nan
    r = temporal_residual(x)
    assert np.isnan(r[[0, 8, 10]]).all()
    assert r[5] == pytest.approx(0.1)
    np.testing.assert_allclose(r[[1, 2, 3, 7, 9]], 0.0, atol=1e-12)
    assert r[4] == pytest.approx(0.05) and r[6] == pytest.approx(0.05)
    logits = np.linspace(-1.0, 1.0, 11)
    logits[8] = np.nan  # the frame with no pose has no logit
    s = plausibility_scores(logits, x)
    assert np.isnan(s[8]) and np.nanargmin(s) == 5
    v = logits[np.isfinite(logits)]
    med = np.median(v)
    z = (logits - med) / (1.4826 * np.median(np.abs(v - med)))
    np.testing.assert_allclose(plausibility_scores(logits, x, residual_weight=0.0), z)


# --- root_speed_outliers ------------------------------------------------------------------

def test_root_speed_outliers_marks_a_4m_jump_and_its_return():
    fps = 30.0
    root = np.zeros((60, 3))
    root[:, 2] = np.arange(60) * 1.5 / fps  # walking at 1.5 m/s
    root[20:23, 0] += 4.0  # out 4 m for three frames, then back
    got = root_speed_outliers(root, fps)
    np.testing.assert_array_equal(np.flatnonzero(got), [20, 21, 22])
    assert not root_speed_outliers(root, fps, max_speed=200.0).any()


def test_root_speed_outliers_marks_the_isolated_frames_at_a_detection_edge():
    fps = 30.0
    root = np.zeros((80, 3))
    root[25:45] = np.nan  # detection lost for 20 frames
    root[45:48, 1] = 4.0  # three frames 4 m away after it (5.7 m/s across the gap), then a jump back
    root[0] = [0.0, 0.0, 3.0]  # the first frame off by 3 m
    got = root_speed_outliers(root, fps)
    np.testing.assert_array_equal(np.flatnonzero(got), [0, 45, 46, 47])
    # a long stretch cut off by a jump is a real place, not an outlier
    root = np.zeros((60, 3))
    root[30:] += [4.0, 0.0, 0.0]
    assert not root_speed_outliers(root, fps).any()
