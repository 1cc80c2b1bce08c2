"""Foot contacts (pose2rig.clean.contacts) against known contacts and the ground-truth rule."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from test_floor import bvh_skeleton

from pose2rig.clean import contact_weights, fit_floor, foot_contacts, foot_points, resample
from pose2rig.clean._common import finite_runs
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.motion_metrics import contact_scores, ground_contacts
from pose2rig.testing import walk_sequence

BANDAI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1"


def f1(pred: np.ndarray, true: np.ndarray) -> float:
    """Contact F1 (0 where there is nothing to score)."""
    score = contact_scores(pred, true)["f1"]
    return 0.0 if np.isnan(score) else score


def corrupt(joints: np.ndarray, feet: list[int], contacts: np.ndarray, fps: float,
            seed: int) -> np.ndarray:
    """bench/cleanup.py's corruption of the feet, seeded: 15 mm per-axis jitter, feet sliding
    at 20 cm/s during 30% of contacts, 100 mm spikes on 1% of frames, 5% of frames dropped in
    runs of 1 to 10."""
    rng = np.random.default_rng(seed)
    x = joints + rng.normal(0.0, 0.015, joints.shape)
    for col, j in enumerate(feet):
        for a, b in finite_runs(contacts[:, col]):
            if rng.random() < 0.3:
                angle = rng.uniform(0.0, 2 * np.pi)
                x[a:b, j] += np.arange(b - a)[:, None] / fps * 0.2 * [np.cos(angle), 0.0, np.sin(angle)]
    spikes = rng.random(len(x)) < 0.01
    d = rng.normal(size=(int(spikes.sum()),) + joints.shape[1:])
    x[spikes] += 0.1 * d / np.linalg.norm(d, axis=-1, keepdims=True)
    t = 0
    while t < len(x):
        if rng.random() < 0.05 / 5.5:
            n = int(rng.integers(1, 11))
            x[t:t + n] = np.nan
            t += n
        t += 1
    return x


@pytest.mark.parametrize("path", ["line", "circle"])
def test_contacts_of_a_synthetic_walk(path: str) -> None:
    seq, truth = walk_sequence(8.0, path=path)
    clean = seq.joints.astype(np.float64)
    feet = [f.index for f in foot_points(seq.skeleton)]
    # the smoothing window detects touch-down a frame or two late: about 0.93 clean, 0.9 noisy
    for joints, least in ((clean, 0.9), (corrupt(clean, feet, truth, seq.fps, seed=4), 0.85)):
        floor = fit_floor(joints, seq.skeleton, fps=seq.fps)
        contacts, weights = foot_contacts(joints, seq.skeleton, seq.fps, floor)
        assert contacts.shape == truth.shape and contacts.dtype == bool
        assert f1(contacts, truth) >= least


def test_weights_blend_in_and_out() -> None:
    seq, truth = walk_sequence(4.0)
    joints = seq.joints.astype(np.float64)
    contacts, weights = foot_contacts(joints, seq.skeleton, seq.fps,
                                      fit_floor(joints, seq.skeleton, fps=seq.fps), blend=0.1)
    assert np.all((weights >= 0) & (weights <= 1))
    assert np.all(weights[~contacts] == 0) and np.all(weights[contacts] > 0)
    assert np.abs(np.diff(weights, axis=0)).max() <= 0.5  # no pops: 3-frame ramps at 30 fps
    assert np.any(weights == 1.0)
    w = contact_weights(np.array([[0, 1, 1, 1, 1, 1, 1, 1, 1, 0]], dtype=bool).T, 3)[:, 0]
    np.testing.assert_allclose(w, [0, 0.15625, 0.5, 0.84375, 1, 1, 0.84375, 0.5, 0.15625, 0])


def test_heel_and_toe_points_of_a_bvh_skeleton() -> None:
    """A BVH skeleton with toe joints: one contact column per ankle and toe, each close to
    the rule on the clean clip."""
    skeleton, joints = bvh_skeleton(BANDAI / "dataset-1_walk_normal_001.bvh")
    feet = foot_points(skeleton)
    assert [f.kind for f in feet] == ["ankle", "toe", "ankle", "toe"]
    idx = [f.index for f in feet]
    truth = ground_contacts(joints[:, idx], 30.0)
    noisy = joints + np.random.default_rng(5).normal(0.0, 0.015, joints.shape)
    floor = fit_floor(noisy, skeleton, fps=30.0)
    assert floor.contact_heights["Toes_L"] < floor.contact_heights["Foot_L"]
    contacts, _ = foot_contacts(noisy, skeleton, 30.0, floor)
    assert contacts.shape == (len(joints), 4)
    for col in range(4):
        assert f1(contacts[:, col], truth[:, col]) >= 0.85, feet[col].name


def test_contact_f1_on_every_bandai_clip() -> None:
    """All 174 Bandai-1 clips at 30 fps, corrupted as bench/cleanup.py does (seeded): contact
    F1 against the rule (:func:`pose2rig.motion_metrics.ground_contacts`) on the clean clip,
    pooled over the clips and per clip (median). Runs and dashes score low per clip (the rule
    sees 1-3 slow frames per step that 15 mm jitter hides): the worst clips are near 0."""
    scores, tp, fp, fn = [], 0, 0, 0
    for i, path in enumerate(sorted(BANDAI.glob("*.bvh"))):
        seq = resample(load_bvh_as_h36m17(path), fps=30.0)
        clean = seq.joints.astype(np.float64)
        feet = [f.index for f in foot_points(seq.skeleton)]
        truth = ground_contacts(clean[:, feet], 30.0)
        noisy = corrupt(clean, feet, truth, 30.0, seed=i)
        with warnings.catch_warnings():  # short clips fall back to a level floor, saying so
            warnings.simplefilter("ignore")
            floor = fit_floor(noisy, seq.skeleton, fps=30.0)
        pred, _ = foot_contacts(noisy, seq.skeleton, 30.0, floor)
        scores.append(f1(pred, truth))
        tp += np.sum(pred & truth)
        fp += np.sum(pred & ~truth)
        fn += np.sum(~pred & truth)
    assert len(scores) == 174
    assert 2 * tp / (2 * tp + fp + fn) >= 0.9
    assert np.median(scores) >= 0.9

