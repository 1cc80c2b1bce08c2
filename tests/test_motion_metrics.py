"""Motion metrics on hand-computed cases (pose2rig/motion_metrics.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose2rig.errors import Pose2RigError
from pose2rig.motion_metrics import (
    accel_error,
    contact_scores,
    foot_sliding,
    ground_contacts,
    jitter,
    roc_auc,
    root_translation_error,
    w_mpjpe,
    wa_mpjpe,
    world_mpjpe,
)


def _track(values_x: np.ndarray, joints: int = 1) -> np.ndarray:
    """(T, joints, 3) with joint 0 moving along X by ``values_x``, the others still."""
    x = np.zeros((len(values_x), joints, 3))
    x[:, 0, 0] = values_x
    return x


def test_jitter_of_a_cubic_is_six_a_fps_cubed_in_tens_of_m_per_s3():
    t = np.arange(10, dtype=float)
    a = 0.001
    # third difference of a t^3 is 6a per frame^3; one moving joint of two halves the mean
    assert jitter(_track(a * t**3), 30) == pytest.approx(6 * a * 30**3 / 10)
    assert jitter(_track(a * t**3, joints=2), 30) == pytest.approx(3 * a * 30**3 / 10)
    assert jitter(_track(5 + 0.3 * t + 0.2 * t**2), 30) == pytest.approx(0.0, abs=1e-6)


def test_jitter_leaves_out_the_differences_that_touch_a_missing_frame():
    t = np.arange(8, dtype=float)
    x = _track(t**4)  # third difference 24 t + 36 over frames t..t+3
    x[6] = np.nan  # windows starting at 3, 4, 5 touch frame 6; 0, 1, 2 and none other remain
    expected = np.mean([24 * s + 36 for s in (0, 1, 2)]) * 2**3 / 10
    assert jitter(x, 2) == pytest.approx(expected)
    x[:] = np.nan
    with pytest.raises(Pose2RigError, match="no finite difference"):
        jitter(x, 30)
    with pytest.raises(Pose2RigError, match="fps"):
        jitter(_track(t), 0)


def test_accel_error_is_the_second_difference_gap_times_fps_squared():
    t = np.arange(6, dtype=float)
    gt = np.random.default_rng(0).normal(size=(6, 3, 3))
    pred = gt.copy()
    pred[:, 1, 1] += 0.01 * t**2  # second difference 0.02 m per frame^2 on one joint of three
    assert accel_error(pred, gt, 30) == pytest.approx(0.02 * 900 / 3)
    assert accel_error(gt, gt, 30) == pytest.approx(0.0)
    pred[:, 0, 0] += 0.5  # a constant offset has no acceleration
    assert accel_error(pred, gt, 30) == pytest.approx(0.02 * 900 / 3)
    gt[2, 2] = np.nan  # joint 2 of frame 2: its three windows go, the others stay
    pred[4, 1] = np.nan  # joint 1 of frame 4: windows centred on 3, 4 go; 1 and 2 remain for it
    assert accel_error(pred, gt, 30) == pytest.approx(0.02 * 900 * 2 / (4 + 2 + 1))


def test_ground_contacts_need_both_low_height_and_slow_horizontal_speed():
    fps = 30.0
    n = 40
    feet = np.zeros((n, 2, 3))
    feet[:, 0, 1] = 0.0  # foot 0 on the floor, still...
    feet[20:, 0, 1] = 0.2  # ...then lifted 20 cm
    feet[:, 1, 1] = 0.01  # foot 1 low but moving at 40 cm/s, then 5 cm/s from frame 19 on
    feet[:, 1, 0] = np.concatenate([np.arange(20) * 0.4 / fps, 19 * 0.4 / fps + np.arange(1, 21) * 0.05 / fps])
    c = ground_contacts(feet, fps)
    assert c[:20, 0].all() and not c[20:, 0].any()
    # the floor of foot 1 is its own 5th percentile (0.01); frame 19's central speed is 0.225 m/s
    assert not c[:20, 1].any() and c[20:, 1].all()
    feet[5, 0] = np.nan
    assert not ground_contacts(feet, fps)[5, 0]


def test_foot_sliding_is_mean_horizontal_step_in_contact_in_mm_at_30_fps():
    feet = np.zeros((5, 1, 3))
    feet[:, 0, 0] = [0.0, 0.002, 0.004, 0.010, 0.010]
    feet[:, 0, 1] = [0.0, 0.5, 0.9, 0.0, 3.0]  # vertical motion is not sliding
    contacts = np.array([[True], [True], [True], [False], [True]])
    # steps 0->1 and 1->2 have contact at both ends: 2 mm each
    assert foot_sliding(feet, contacts, 30) == pytest.approx(2.0)
    # the same steps at 60 fps are twice as fast: 4 mm per 30 fps frame
    assert foot_sliding(feet, contacts, 60) == pytest.approx(4.0)
    feet[1] = np.nan
    contacts[3:] = True  # steps 3->4 (0 mm) only; 0->1, 1->2 touch the missing frame, 2->3 is 6 mm
    assert foot_sliding(feet, contacts, 30) == pytest.approx(3.0)
    with pytest.raises(Pose2RigError, match="no step in contact"):
        foot_sliding(feet, np.zeros((5, 1), bool), 30)


def test_contact_scores_count_true_and_false_positives():
    truth = np.array([[1, 1], [1, 0], [0, 0], [1, 0]], bool)
    pred = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], bool)
    s = contact_scores(pred, truth)  # tp 3, fp 1, fn 1
    assert s["precision"] == pytest.approx(0.75) and s["recall"] == pytest.approx(0.75)
    assert s["f1"] == pytest.approx(0.75)
    s = contact_scores(np.zeros(4, bool), np.array([1, 0, 0, 1], bool))
    assert np.isnan(s["precision"]) and s["recall"] == 0.0 and s["f1"] == 0.0


def _auc_by_pairs(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_with_ties_matches_counting_pairs():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4, np.nan])
    labels = np.array([0, 0, 1, 1, 1, 0, 1], bool)
    # pairs (pos, neg): 0.35 beats 0.1 (1); 0.8 beats all 3 (3); 0.4 beats 0.1 and ties two 0.4 (2)
    assert roc_auc(scores, labels) == pytest.approx(6 / 9)
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, 60).astype(float)
    y = rng.random(60) < 0.4
    assert roc_auc(s, y) == pytest.approx(_auc_by_pairs(s, y))
    assert roc_auc(np.arange(4.0), np.array([0, 0, 1, 1])) == 1.0
    with pytest.raises(Pose2RigError, match="positives and negatives"):
        roc_auc(np.arange(3.0), np.ones(3, bool))


def test_world_mpjpe_does_not_align_and_skips_missing_poses():
    gt = np.zeros((3, 2, 3))
    pred = gt.copy()
    pred[:, :, 2] += 0.03  # the whole body 3 cm off: a root-centred MPJPE would say 0
    pred[1, 0] = np.nan
    assert world_mpjpe(pred, gt) == pytest.approx(30.0)


def _walk(frames: int, joints: int = 5, seed: int = 0) -> np.ndarray:
    """(frames, joints, 3) random body drifting along +X: a stand-in for world-frame truth."""
    rng = np.random.default_rng(seed)
    body = rng.normal(scale=0.3, size=(frames, joints, 3))
    body[..., 0] += 0.02 * np.arange(frames)[:, None]
    return body


def test_wa_and_w_mpjpe_are_zero_for_the_truth_under_one_similarity_transform():
    gt = _walk(60)
    r = Rotation.from_euler("YXZ", [70, 10, -5], degrees=True).as_matrix()
    pred = 1.3 * gt @ r.T + np.array([2.0, -1.0, 0.5])
    assert wa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert w_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert world_mpjpe(pred, gt) > 100.0  # unaligned, it is far off


def test_an_offset_after_frame_two_shows_in_w_but_hardly_in_wa():
    gt = _walk(100)
    pred = gt.copy()
    d = np.array([0.3, 0.0, 0.4])  # 0.5 m, from frame 2 to the chunk's end
    pred[2:] += d
    # W fits on frames 0 and 1 (exact): identity; 98 of 100 frames are 500 mm off
    assert w_mpjpe(pred, gt) == pytest.approx(500.0 * 98 / 100)
    # WA fits the whole chunk: its error is below the RMS of the translation-only fit by the
    # mean offset 0.98 d: 2 frames off by 0.98 |d|, 98 by 0.02 |d|
    bound = 500.0 * np.sqrt((2 * 0.98**2 + 98 * 0.02**2) / 100)
    assert wa_mpjpe(pred, gt) <= bound + 1e-6


def test_world_chunks_are_100_frames_from_the_first_and_the_short_last_one_weighs_by_frames():
    gt = _walk(250)
    pred = gt.copy()
    # a different similarity transform in each chunk [0, 100), [100, 200), [200, 250): only
    # chunks cut exactly there align every frame
    for i, (a, b) in enumerate(((0, 100), (100, 200), (200, 250))):
        r = Rotation.from_euler("Y", 30 * (i + 1), degrees=True).as_matrix()
        pred[a:b] = (1.0 + 0.1 * i) * gt[a:b] @ r.T + i
    assert wa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert w_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert wa_mpjpe(pred, gt, chunk=250) > 100.0
    # an offset on every frame but each chunk's first two: W is 0.1 m on 98 + 98 + 48 frames of
    # 250 (the mean over frames; the mean of the chunks' means would be 0.1 * 0.9733)
    pred = gt.copy()
    later = (np.arange(250) % 100) >= 2
    pred[later] += np.array([0.0, 0.1, 0.0])
    assert w_mpjpe(pred, gt) == pytest.approx(100.0 * 244 / 250)
    # a missing frame is dropped before chunking (WHAM's mask): with frame 50 gone, the chunks
    # are frames 0-100 (less 50), 101-200 and 201-249, fitted on 0, 1 / 101, 102 / 201, 202
    pred = gt.copy()
    exact = [0, 1, 101, 102, 201, 202]
    pred += np.array([0.0, 0.1, 0.0])
    pred[exact] = gt[exact]
    pred[50, 3] = np.nan
    assert w_mpjpe(pred, gt) == pytest.approx(100.0 * (249 - 6) / 249)
    with pytest.raises(Pose2RigError, match="chunk"):
        wa_mpjpe(pred, gt, chunk=0)
    with pytest.raises(Pose2RigError, match="no frame"):
        w_mpjpe(np.full_like(gt, np.nan), gt)


def test_root_translation_error_is_percent_of_the_true_path_after_rigid_alignment():
    x = np.linspace(0.0, 10.0, 11)  # a 10 m straight walk
    gt = np.stack([x, np.zeros(11), np.zeros(11)], axis=1)
    r = Rotation.from_euler("Y", 40, degrees=True).as_matrix()
    assert root_translation_error(gt @ r.T + 3.0, gt) == pytest.approx(0.0, abs=1e-9)
    # 10 % too long: no scale is fitted, so the centred line is off by 0.1 |x - 5| per frame
    assert root_translation_error(1.1 * gt, gt) == pytest.approx(100 * 0.1 * (30 / 11) / 10)
    with pytest.raises(Pose2RigError, match="does not move"):
        root_translation_error(gt, np.zeros_like(gt))


def test_ga_mpjpe_sees_a_tilt_that_wa_mpjpe_aligns_away():
    from pose2rig.motion_metrics import ga_mpjpe, wa_mpjpe, yaw_similarity

    rng = np.random.default_rng(0)
    gt = rng.normal(size=(30, 17, 3)) + np.array([0.0, 1.0, 0.0])
    a = np.radians(20.0)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    yaw = np.array([[np.cos(1.0), 0.0, np.sin(1.0)], [0.0, 1.0, 0.0], [-np.sin(1.0), 0.0, np.cos(1.0)]])
    turned = 1.3 * gt @ yaw.T + [2.0, 0.5, -1.0]  # scale, heading, shift: no error either way
    assert ga_mpjpe(turned, gt) < 1e-6 and wa_mpjpe(turned, gt) < 1e-6
    tilted = gt @ tilt.T
    assert wa_mpjpe(tilted, gt) < 1e-6 and ga_mpjpe(tilted, gt) > 100.0
    k, r, t = yaw_similarity(turned.reshape(-1, 3), gt.reshape(-1, 3))
    assert k == pytest.approx(1 / 1.3) and np.allclose(r[1], [0.0, 1.0, 0.0])
