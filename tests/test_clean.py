"""pose2rig.clean: gap filling, smoothing and resampling on synthetic tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.clean import fill_gaps, resample, smooth
from pose2rig.errors import Pose2RigError
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence


def synthetic_walk(t: np.ndarray, *, speed: float = 1.2, freq: float = 1.0) -> np.ndarray:
    """``(T, 17, 3)`` H36M joints of a walk along +Z in a Y-up world, metres."""
    ix = H36M17.index
    out = np.zeros((t.size, H36M17.num_joints, 3))
    ph = 2 * np.pi * freq * t
    pelvis = np.stack([np.zeros_like(t), 0.95 + 0.02 * np.cos(2 * ph), speed * t], -1)
    out[:, ix("pelvis")] = pelvis
    for side, s in (("left", 1.0), ("right", -1.0)):
        swing = 0.45 * np.sin(ph + (0.0 if s > 0 else np.pi))
        hip = pelvis + [0.13 * s, 0, 0]
        knee = hip + 0.45 * np.stack([0 * t, -np.cos(swing), np.sin(swing)], -1)
        ankle = knee + 0.44 * np.stack([0 * t, -np.cos(swing - 0.2), np.sin(swing - 0.2)], -1)
        shoulder = pelvis + [0.18 * s, 0.5, 0]
        elbow = shoulder + 0.28 * np.stack([0 * t, -np.cos(-0.6 * swing), np.sin(-0.6 * swing)], -1)
        fore = 0.3 - 0.6 * swing
        wrist = elbow + 0.25 * np.stack([0 * t, -np.cos(fore), np.sin(fore)], -1)
        for name, v in (("hip", hip), ("knee", knee), ("ankle", ankle), ("shoulder", shoulder),
                        ("elbow", elbow), ("wrist", wrist)):
            out[:, ix(f"{side}_{name}")] = v
    for name, off in (("spine", 0.25), ("thorax", 0.5), ("neck", 0.6), ("head", 0.72)):
        out[:, ix(name)] = pelvis + [0, off, 0.0]
    return out


def seq(joints: np.ndarray, t: np.ndarray, **kw) -> PoseSequence:
    return PoseSequence(joints, H36M17, fps=30.0, timestamps=t, **kw)


def jitter(x: np.ndarray) -> float:
    """Std of the second difference over time, ignoring NaN."""
    return float(np.nanstd(np.diff(x, 2, axis=0)))


def linear_motion(t: np.ndarray) -> np.ndarray:
    base = np.arange(H36M17.num_joints * 3, dtype=np.float64).reshape(1, -1, 3) * 0.01
    vel = np.linspace(-1.0, 1.0, H36M17.num_joints * 3).reshape(1, -1, 3)
    return base + vel * t[:, None, None]


# ---------------------------------------------------------------- fill_gaps


def test_fill_gaps_fills_short_gap_exactly_and_leaves_long_gap():
    t = np.arange(60) / 30.0
    truth = linear_motion(t)
    j = truth.copy()
    j[10:14, 3] = np.nan  # 4 frames: the valid ends are 5/30 s apart
    j[20:45, 5] = np.nan  # 25 frames: 26/30 s > 0.5 s
    j[:3, 7] = np.nan  # leading
    j[-2:, 8] = np.nan  # trailing
    conf = np.full(j.shape[:2], 0.8, np.float32)
    conf[9, 3], conf[14, 3] = 0.6, 0.9
    s = seq(j, t, confidence=conf)
    before = s.joints.copy()
    out = fill_gaps(s, max_gap=0.5)
    assert isinstance(out, PoseSequence)
    np.testing.assert_allclose(out.joints[10:14, 3], truth[10:14, 3], atol=1e-5)
    np.testing.assert_allclose(out.confidence[10:14, 3], 0.5 * 0.6)
    assert np.isnan(out.joints[20:45, 5]).all() and (out.confidence[20:45, 5] == 0).all()
    assert np.isnan(out.joints[:3, 7]).all()
    assert np.isnan(out.joints[-2:, 8]).all()
    np.testing.assert_array_equal(s.joints, before)  # input untouched


def test_fill_gaps_uses_timestamps_not_frame_counts():
    # two missing frames, but the clip is variable rate: the valid ends are 0.6 s apart
    t = np.array([0.0, 0.1, 0.2, 0.5, 0.7, 0.8, 0.9])
    j = linear_motion(t)
    j[[2, 3], 0] = np.nan
    j[[2, 3], 1] = np.nan
    s = seq(j, t)
    assert np.isnan(fill_gaps(s, max_gap=0.5).joints[2:4, 0]).all()
    filled = fill_gaps(s, max_gap=0.7).joints
    np.testing.assert_allclose(filled[2:4, :2], linear_motion(t)[2:4, :2], atol=1e-5)


def test_fill_gaps_keeps_keypoints2d_type_and_fields():
    t = np.arange(10) / 30.0
    kp = np.arange(34, dtype=np.float32).reshape(1, 17, 2) + t[:, None, None] * 30
    kp[4, 2] = np.nan
    k = Keypoints2D(kp, np.ones((10, 17)), H36M17, image_size=(640, 480), fps=30.0, timestamps=t)
    out = fill_gaps(k)
    assert isinstance(out, Keypoints2D) and out.image_size == (640, 480)
    np.testing.assert_allclose(out.keypoints[4, 2], [4.0 + 4, 5.0 + 4], atol=1e-4)
    assert out.confidence[4, 2] == pytest.approx(0.5)


# ---------------------------------------------------------------- smooth


@pytest.fixture(scope="module")
def noisy_walk():
    t = np.arange(300) / 30.0
    clean = synthetic_walk(t)
    noisy = clean + np.random.default_rng(0).normal(0.0, 0.015, clean.shape)
    return t, clean, noisy


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.sum((a - b) ** 2, axis=-1))))


@pytest.mark.parametrize(
    "method, kw, min_factor",
    [("one_euro", {}, 3.5), ("savgol", {}, 3.0), ("savgol", {"window": 0.3}, 4.5)],
)
def test_smooth_reduces_jitter_and_keeps_the_signal(noisy_walk, method, kw, min_factor):
    t, clean, noisy = noisy_walk
    out = smooth(seq(noisy, t), method=method, **kw).joints
    assert jitter(noisy) / jitter(out) > min_factor
    assert rms(out, clean) < 0.7 * rms(noisy, clean)  # closer to the truth than the input
    on_clean = smooth(seq(clean, t), method=method, **kw).joints
    assert rms(on_clean, clean) < 0.015  # metres per joint: little lag or rounding
    # no lag: the smoothed pelvis crosses the same place at the same time
    lag = np.mean(on_clean[:, 0, 2] - clean[:, 0, 2])
    assert abs(lag) < 0.005


def test_one_euro_backward_pass_removes_lag(noisy_walk):
    t, clean, _ = noisy_walk
    causal = smooth(seq(clean, t), bidirectional=False).joints
    both = smooth(seq(clean, t)).joints
    # walking forward at 1.2 m/s the causal filter trails behind; the two-pass one does not
    assert np.mean(clean[:, 0, 2] - causal[:, 0, 2]) > 0.02
    assert abs(np.mean(clean[:, 0, 2] - both[:, 0, 2])) < 0.005


def test_one_euro_is_unit_free(noisy_walk):
    t, _, noisy = noisy_walk
    metres = smooth(seq(noisy, t)).joints
    millimetres = smooth(seq(noisy * 1000.0, t)).joints
    np.testing.assert_allclose(millimetres / 1000.0, metres, atol=1e-5)


def test_one_euro_follows_variable_frame_rate_linear_motion():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.02, 0.06, 120))
    truth = linear_motion(t)
    out = smooth(seq(truth, t)).joints
    np.testing.assert_allclose(out, truth, atol=5e-3)  # metres, at up to 1 m/s


@pytest.mark.parametrize("method", ["one_euro", "savgol", "none"])
def test_smoothing_never_spreads_nan(noisy_walk, method):
    t, _, noisy = noisy_walk
    j = noisy.copy()
    j[50:60, :] = np.nan  # whole frames lost
    j[100:103, 4] = np.nan  # one joint
    j[200, 10] = np.nan
    j[0, 1] = np.nan
    j[-1, 2] = np.nan
    s = seq(j, t)
    out = smooth(s, method=method)
    np.testing.assert_array_equal(np.isnan(out.joints), np.isnan(s.joints))
    np.testing.assert_array_equal(out.confidence, s.confidence)
    # the filter restarts after a gap: the first frame after it is not pulled from before it
    assert np.all(np.isfinite(out.joints[60]))


def test_smooth_keypoints2d_in_pixels():
    t = np.arange(200) / 30.0
    walk = synthetic_walk(t) + [0.0, 0.0, 4.0]  # camera 4 m in front (Y-up to OpenCV below)
    cam = Camera.from_fov((1280, 720), 60.0)
    px = cam.project(walk * [1.0, -1.0, 1.0] + [0.0, 1.0, 0.0])[:, :, :2].astype(np.float64)
    noisy = px + np.random.default_rng(2).normal(0.0, 2.0, px.shape)  # 2-pixel detector noise
    k = Keypoints2D(noisy, np.ones(noisy.shape[:2]), H36M17, (1280, 720), 30.0, t)
    out = smooth(k)
    assert isinstance(out, Keypoints2D)
    assert jitter(noisy) / jitter(out.keypoints) > 4.0
    assert rms(out.keypoints, px) < 0.7 * rms(noisy, px)


def test_smooth_rejects_unknown_method(noisy_walk):
    t, clean, _ = noisy_walk
    with pytest.raises(Pose2RigError, match="one_euro, savgol, none"):
        smooth(seq(clean, t), method="kalman")
    with pytest.raises(Pose2RigError, match="Keypoints2D or PoseSequence"):
        smooth(clean)


MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"


@pytest.mark.parametrize("method", ["one_euro", "savgol"])
def test_smooth_real_mocap_walk(method):
    # CMU subject 131 walking (real motion capture), at 30 fps, with 15 mm of per-frame noise
    truth = resample(load_bvh_as_h36m17(MOCAP / "cmu" / "scaled_131_01.bvh"), fps=30.0)
    clean = truth.joints.astype(np.float64)
    noisy = clean + np.random.default_rng(4).normal(0.0, 0.015, clean.shape)
    out = smooth(truth.replace(joints=noisy), method=method).joints
    assert jitter(noisy) / jitter(out) > 3.0
    assert rms(out, clean) < 0.65 * rms(noisy, clean)
    assert rms(smooth(truth, method=method).joints, clean) < 0.010


# ---------------------------------------------------------------- resample


def test_resample_variable_rate_to_uniform_grid_exactly_on_linear_motion():
    rng = np.random.default_rng(3)
    t = 1.25 + np.cumsum(rng.uniform(0.01, 0.07, 80))
    s = seq(linear_motion(t), t)
    out = resample(s, fps=25.0)
    assert out.fps == 25.0
    assert out.timestamps[0] == t[0] and out.timestamps[-1] <= t[-1] + 1e-9
    np.testing.assert_allclose(np.diff(out.timestamps), 1 / 25.0, atol=1e-9)
    assert t[-1] - out.timestamps[-1] < 1 / 25.0
    np.testing.assert_allclose(out.joints, linear_motion(out.timestamps), atol=1e-5)


def test_resample_keeps_nan_and_landmarks_in_step():
    t = np.arange(31) / 30.0
    j = linear_motion(t)
    j[10, 3] = np.nan
    lm = np.zeros((31, 33, 3), np.float32)
    lm[..., 0] = t[:, None] * 100
    world = np.zeros((31, 33, 3), np.float32)
    world[..., 2] = t[:, None] * 2.0  # MediaPipe's metric world landmarks go along too
    k = Keypoints2D(j[:, :, :2], np.ones((31, 17)), H36M17, (640, 480), 30.0, t, landmarks33=lm,
                    world33=world)
    out = resample(k, fps=60.0)
    assert out.num_frames == 61 and out.landmarks33.shape == (61, 33, 3)
    np.testing.assert_allclose(out.world33[:, 5, 2], out.timestamps * 2.0, atol=1e-5)
    # grid times 19..21 (t = 9.5/30 .. 10.5/30) touch the missing sample; the rest are kept
    nan_frames = np.flatnonzero(np.isnan(out.keypoints[:, 3, 0]))
    np.testing.assert_array_equal(nan_frames, [19, 20, 21])
    assert (out.confidence[nan_frames, 3] == 0).all()
    np.testing.assert_allclose(out.landmarks33[:, 0, 0], out.timestamps * 100, atol=1e-3)
    np.testing.assert_allclose(out.keypoints[::2], k.keypoints, atol=1e-5)  # samples kept
