"""pose2rig.train.detector_noise: the detector's error model, fitted on synthetic exact data."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.npz import write_arrays
from pose2rig.skeletons import H36M17
from pose2rig.train.detector_noise import DetectorNoise, body_scale, limb_pairs

# a 2D body (pixels, y down) seen from the front: its left on the image's right, arms out
BODY = np.array([
    [0, 0], [-10, 0], [-10, 40], [-10, 80], [10, 0], [10, 40], [10, 80], [0, -20], [0, -40], [0, -50],
    [0, -60], [15, -40], [25, -20], [30, 0], [-15, -40], [-25, -20], [-30, 0],
], dtype=np.float64) * 3.0 + 300.0
SIGMA = np.linspace(0.004, 0.03, 17)  # per-joint noise, body scales
ARM_PAIRS = ((11, 14), (12, 15), (13, 16))


def _truth(rng: np.random.Generator, t: int) -> np.ndarray:
    drift = np.cumsum(rng.normal(0.0, 0.5, (t, 1, 2)), axis=0)
    wobble = rng.normal(0.0, 0.3, (t, 17, 2))
    return BODY[None] + drift + wobble


def _runs(rng: np.random.Generator, t: int, rate: float, length: int) -> np.ndarray:
    on = np.zeros(t, dtype=bool)
    while on.mean() < rate:
        s = int(rng.integers(0, t - length))
        on[s:s + length] = True
    return on


def _clip(rng: np.random.Generator, t: int = 300, *, rho: float = 0.0, drop: float = 0.0, swap: float = 0.0,
          joint_drop: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    truth = _truth(rng, t)
    scale = body_scale(truth)
    z = rng.standard_normal((t, 17, 2))
    for i in range(1, t):
        z[i] = rho * z[i - 1] + np.sqrt(1 - rho**2) * z[i]
    det = truth + z * SIGMA[None, :, None] * scale[:, None, None]
    swapped = _runs(rng, t, swap, 4) if swap else np.zeros(t, dtype=bool)
    for a, b in ARM_PAIRS:
        det[swapped, a], det[swapped, b] = det[swapped, b].copy(), det[swapped, a].copy()
    conf = rng.uniform(0.6, 1.0, (t, 17))
    if drop:
        gone = _runs(rng, t, drop, 5)
        det[gone] = np.nan
        conf[gone] = 0.0
    if joint_drop:
        gone = _runs(rng, t, joint_drop, 3)
        det[gone, 3] = np.nan
        conf[gone, 3] = 0.0
    return truth, det, conf, swapped


def _fit(rng: np.random.Generator, clips: int = 6, **kw: float) -> DetectorNoise:
    data = [_clip(rng, **kw) for _ in range(clips)]
    return DetectorNoise.fit([d[0] for d in data], [d[1] for d in data], [d[2] for d in data])


def _stationary(transition: np.ndarray) -> np.ndarray:
    p = np.full(len(transition), 1.0 / len(transition))
    for _ in range(500):
        p = p @ transition
    return p


def test_limb_pairs_of_h36m17() -> None:
    pairs, group = limb_pairs(H36M17.joint_names, H36M17.mirror)
    names = {(H36M17.joint_names[a], H36M17.joint_names[b], int(g)) for (a, b), g in zip(pairs, group, strict=True)}
    assert names == {("left_shoulder", "right_shoulder", 0), ("left_elbow", "right_elbow", 0),
                     ("left_wrist", "right_wrist", 0), ("left_hip", "right_hip", 1), ("left_knee", "right_knee", 1),
                     ("left_ankle", "right_ankle", 1)}


def test_body_scale_is_the_bounding_box_diagonal() -> None:
    pts = np.zeros((1, 17, 2))
    pts[0, 1] = [30.0, 0.0]
    pts[0, 2] = [0.0, 40.0]
    assert body_scale(pts)[0] == pytest.approx(50.0)


def test_fit_recovers_gaussian_noise_per_joint() -> None:
    model = _fit(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    truth = _truth(rng, 2000)
    noisy, conf = model.sample(truth, rng, drops=False, swaps=False)
    err = (noisy - truth) / body_scale(truth)[:, None, None]
    per_axis = np.sqrt(np.mean(err**2, axis=(0, 2)))
    np.testing.assert_allclose(per_axis, SIGMA, rtol=0.15)
    # no bias: within 4 standard errors of a median (1.25 sigma / sqrt(n)) in every bin that was measured
    n = np.maximum(model.counts, 1)[..., None]
    measured = model.counts[..., None] >= 30
    assert np.all(~measured | (np.abs(model.bias) < 4 * 1.25 * SIGMA[:, None, None] / np.sqrt(n)))
    # the confidence distribution is the uniform one it was given
    assert conf.min() >= 0.6 - 1e-6 and conf.max() <= 1.0 + 1e-6
    assert np.mean(conf) == pytest.approx(0.8, abs=0.02)
    assert model.counts.sum() == 6 * 300 * 17


def test_fit_measures_the_temporal_correlation_and_sample_keeps_it() -> None:
    model = _fit(np.random.default_rng(2), rho=0.8)
    assert np.all(np.abs(model.error_rho - 0.8) < 0.08)
    white = _fit(np.random.default_rng(3), rho=0.0)
    assert np.all(white.error_rho < 0.1)
    rng = np.random.default_rng(4)
    truth = _truth(rng, 3000)
    noisy, _ = model.sample(truth, rng, drops=False, swaps=False)
    e = ((noisy - truth) / body_scale(truth)[:, None, None])[:, 10, 0]
    assert np.corrcoef(e[:-1], e[1:])[0, 1] == pytest.approx(0.8, abs=0.08)


def test_fit_recovers_drop_and_swap_rates() -> None:
    model = _fit(np.random.default_rng(5), drop=0.06, swap=0.05, joint_drop=0.04)
    frame_rate = model.frame_drop[0] / (model.frame_drop[0] + 1 - model.frame_drop[1])
    assert frame_rate == pytest.approx(0.06, abs=0.02)
    assert model.frame_drop[1] == pytest.approx(0.8, abs=0.1)  # runs of 5 frames
    ankle = model.joint_drop[3]
    assert ankle[0] / (ankle[0] + 1 - ankle[1]) == pytest.approx(0.04 / 0.94, abs=0.02)
    assert np.all(model.joint_drop[[0, 1, 2, 4, 5, 6], 0] == 0.0)
    # arms swapped (state 1) ~5% of the frames, never the legs
    p = _stationary(model.swap_transition[2])
    assert p[1] == pytest.approx(0.05, abs=0.025)
    assert p[2] + p[3] < 0.01
    arms = [i for i, (a, _) in enumerate(model.pairs) if a in (11, 12, 13)]
    rate = np.nanmean(model.pair_swap_rate[arms])
    assert rate == pytest.approx(0.05, abs=0.025)
    # the swaps are undone before the noise is measured: it stays the injected Gaussian
    rng = np.random.default_rng(6)
    truth = _truth(rng, 2000)
    noisy, _ = model.sample(truth, rng, drops=False, swaps=False)
    err = (noisy - truth) / body_scale(truth)[:, None, None]
    np.testing.assert_allclose(np.sqrt(np.mean(err**2, axis=(0, 2)))[11:], SIGMA[11:], rtol=0.2)


def test_sample_draws_drops_and_swaps_at_the_fitted_rates() -> None:
    model = _fit(np.random.default_rng(7), drop=0.06, swap=0.05)
    rng = np.random.default_rng(8)
    truth = _truth(rng, 6000)
    noisy, conf = model.sample(truth, rng)
    gone = np.isnan(noisy).any(axis=-1)
    assert np.array_equal(gone, conf == 0.0)
    assert np.array_equal(np.isnan(noisy[..., 0]), np.isnan(noisy[..., 1]))
    frames = gone.all(axis=1)
    assert np.array_equal(gone.any(axis=1), frames)  # whole frames only, as fitted
    assert frames.mean() == pytest.approx(0.06, abs=0.03)
    state, _, _ = model._swap_states(truth, noisy, body_scale(truth))
    seen = state >= 0
    assert np.mean(state[seen] == 1) == pytest.approx(0.05, abs=0.03)
    assert np.mean(state[seen] >= 2) < 0.01


def test_sample_is_seeded() -> None:
    model = _fit(np.random.default_rng(9), drop=0.05, swap=0.05)
    truth = _truth(np.random.default_rng(10), 200)
    a = model.sample(truth, np.random.default_rng(11))
    b = model.sample(truth, np.random.default_rng(11))
    c = model.sample(truth, np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(np.nan_to_num(a[0]), np.nan_to_num(c[0]))
    assert a[0].shape == truth.shape and a[0].dtype == np.float32 and a[1].shape == truth.shape[:2]


def test_save_load_round_trip(tmp_path) -> None:
    model = _fit(np.random.default_rng(13), drop=0.05, swap=0.05)
    path = tmp_path / "noise.npz"
    model.save(path)
    back = DetectorNoise.load(path)
    assert tuple(back.joint_names) == H36M17.joint_names
    np.testing.assert_array_equal(back.pairs, model.pairs)
    np.testing.assert_array_equal(back.swap_transition, model.swap_transition)
    np.testing.assert_allclose(back.radius_quantiles, model.radius_quantiles, rtol=1e-6)
    np.testing.assert_allclose(back.chol, model.chol, rtol=1e-6, atol=1e-9)
    truth = _truth(np.random.default_rng(14), 100)
    np.testing.assert_allclose(back.sample(truth, np.random.default_rng(0))[0],
                               model.sample(truth, np.random.default_rng(0))[0], atol=1e-3)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["format_version"]) == 1


def test_load_refuses_another_npz(tmp_path) -> None:
    path = tmp_path / "other.npz"
    write_arrays(path, {"keypoints": np.zeros((2, 17, 2))})
    with pytest.raises(Pose2RigError, match="not a detector noise model"):
        DetectorNoise.load(path)


def test_bad_input_raises() -> None:
    model = _fit(np.random.default_rng(15), clips=2)
    rng = np.random.default_rng(0)
    truth = _truth(rng, 50)
    with pytest.raises(ArgumentError, match="truth_2d must be"):
        model.sample(truth[:, :16], rng)
    bad = truth.copy()
    bad[3, 2, 0] = np.nan
    with pytest.raises(ArgumentError, match="finite"):
        model.sample(bad, rng)
    with pytest.raises(ArgumentError, match="rng"):
        model.sample(truth, 3)  # type: ignore[arg-type]
    t, d, c, _ = _clip(rng, 50)
    with pytest.raises(ArgumentError, match="confidence"):
        DetectorNoise.fit(t, d, c[:, :10])
    with pytest.raises(ArgumentError, match="finite"):
        DetectorNoise.fit(bad, d, c)
    with pytest.raises(ArgumentError, match="same number of clips"):
        DetectorNoise.fit([t, t], [d], [c])
    with pytest.raises(ArgumentError, match="bin_edges"):
        DetectorNoise.fit(t, d, c, bin_edges=(0.0, 0.5, 0.9))


def test_frames_on_someone_else_count_as_dropped() -> None:
    rng = np.random.default_rng(16)
    t, d, c, _ = _clip(rng, 300)
    d = d.copy()
    d[100:130] += 200.0  # the detector followed a person 200 px away (the body is ~300 px)
    model = DetectorNoise.fit(t, d, c)
    assert model.frame_drop[0] > 0 and model.frame_drop[1] > 0.9
    assert np.all(model.radius_quantiles[..., -1] * np.abs(model.chol[..., 0, 0]) < 0.2)
