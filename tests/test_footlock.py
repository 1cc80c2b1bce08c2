"""Foot locking (pose2rig.clean.footlock): two-bone IK and locking a sliding Bandai-1 walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.clean import FootContacts, fit_floor, foot_contacts, resample
from pose2rig.clean._common import finite_runs
from pose2rig.clean.footlock import lock_feet, two_bone_ik
from pose2rig.errors import Pose2RigError
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.motion_metrics import foot_sliding, ground_contacts
from pose2rig.skeletons import H36M17

BANDAI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1"
WALK = BANDAI / "dataset-1_walk_normal_001.bvh"
FPS = 30.0
NAMES = H36M17.joint_names
FEET = [NAMES.index("left_ankle"), NAMES.index("right_ankle")]
KNEES = [NAMES.index("left_knee"), NAMES.index("right_knee")]


BONES = [(p, j) for j, p in enumerate(H36M17.parents) if p >= 0]


def bone_lengths(x: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(x[:, j] - x[:, p], axis=-1)
                     for j, p in enumerate(H36M17.parents) if p >= 0], axis=1)


def test_two_bone_ik_keeps_lengths_and_reaches():
    rng = np.random.default_rng(3)
    n = 500
    hip = rng.normal(size=(n, 3))
    knee = hip + rng.normal(size=(n, 3)) * 0.3
    ankle = knee + rng.normal(size=(n, 3)) * 0.3
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    dist = rng.uniform(0.0, 1.5, n) * (l1 + l2)
    target = hip + dist[:, None] * direction
    k2, a2 = two_bone_ik(hip, knee, ankle, target, knee)
    np.testing.assert_allclose(np.linalg.norm(k2 - hip, axis=-1), l1, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(a2 - k2, axis=-1), l2, atol=1e-9)
    reachable = (dist >= np.abs(l1 - l2) + 1e-6) & (dist <= l1 + l2 - 1e-6)
    assert reachable.sum() > 200
    np.testing.assert_allclose(a2[reachable], target[reachable], atol=1e-9)
    # out of reach: the leg points straight at the target, the ankle as near as it can be
    far = dist > l1 + l2
    np.testing.assert_allclose(a2[far], hip[far] + ((l1 + l2)[far] / dist[far])[:, None]
                               * (target[far] - hip[far]), atol=1e-9)
    # the knee bends toward the pole: same side of the hip-target line as the old knee
    u = direction[reachable]

    def side(k):
        return (k - hip[reachable]) - np.sum((k - hip[reachable]) * u, -1, keepdims=True) * u

    assert (np.sum(side(k2[reachable]) * side(knee[reachable]), -1) >= -1e-12).all()


def test_two_bone_ik_pole_picks_the_bend():
    hip, knee, ankle = np.zeros(3), np.array([0.0, -0.45, 0.0]), np.array([0.0, -0.9, 0.0])
    target = np.array([0.0, -0.6, 0.0])
    k_front, _ = two_bone_ik(hip, knee, ankle, target, np.array([0.0, -0.45, 1.0]))
    k_back, _ = two_bone_ik(hip, knee, ankle, target, np.array([0.0, -0.45, -1.0]))
    assert k_front[2] > 0.2 and k_back[2] < -0.2


@pytest.fixture(scope="module")
def sliding_walk():
    clean = np.asarray(resample(load_bvh_as_h36m17(WALK), fps=FPS).joints, dtype=np.float64)
    truth = ground_contacts(clean[:, FEET], FPS)
    rng = np.random.default_rng(0)
    slid = clean.copy()
    for col, (ankle, knee) in enumerate(zip(FEET, KNEES)):  # bench/cleanup.py's slide, every contact
        for a, b in finite_runs(truth[:, col]):
            angle = rng.uniform(0.0, 2.0 * np.pi)
            off = np.arange(b - a)[:, None] / FPS * 0.2 * np.array([np.cos(angle), 0.0, np.sin(angle)])
            back = min(15, len(slid) - b)
            ret = off[-1] * (1.0 - np.arange(1, back + 1) / back)[:, None] if back else off[:0]
            slid[a:b, ankle] += off
            slid[a:b, knee] += 0.5 * off
            slid[b:b + back, ankle] += ret
            slid[b:b + back, knee] += 0.5 * ret
    return clean, slid, truth


@pytest.mark.parametrize("root_follow", [1.0, 0.0])
def test_lock_feet_removes_sliding(sliding_walk, root_follow):
    clean, slid, truth = sliding_walk
    contacts = foot_contacts(slid, H36M17, FPS, fit_floor(slid, H36M17, fps=FPS))
    locked = lock_feet(slid, H36M17, FPS, contacts, root_follow=root_follow)
    before = foot_sliding(slid[:, FEET], truth, FPS)
    after = foot_sliding(locked[:, FEET], truth, FPS)
    assert before > 3.0 * foot_sliding(clean[:, FEET], truth, FPS)  # the slide is there to remove
    assert after < 0.2 * before
    # legs at the clip's median lengths where locked (the slide stretched them), the rest as they were
    lb, sb = bone_lengths(locked), bone_lengths(slid)
    legs = [i for i, (a, b) in enumerate(BONES) if {NAMES[a], NAMES[b]} & {"left_knee", "right_knee"}]
    others = [i for i in range(len(BONES)) if i not in legs]
    np.testing.assert_allclose(lb[:, others], sb[:, others], atol=1e-9)
    for col, side in enumerate(("left", "right")):  # foot_points: the left ankle, then the right
        on = contacts.contacts[:, col]
        for a, b in (("hip", "knee"), ("knee", "ankle")):
            i = BONES.index((NAMES.index(f"{side}_{a}"), NAMES.index(f"{side}_{b}")))
            assert np.ptp(lb[on, i]) < 1e-9 < np.ptp(sb[on, i])  # one length while locked

    def step(x):
        return np.linalg.norm(np.diff(x, axis=0), axis=-1)

    assert step(locked).max() <= step(clean).max() + 0.005  # no pop: 5 mm over the clean clip's fastest
    moved = np.abs(locked - slid).max(axis=(0, 2)) > 1e-9
    expected = {"left_knee", "right_knee", "left_ankle", "right_ankle"}
    assert {NAMES[j] for j in np.flatnonzero(moved)} == (set(NAMES) if root_follow else expected)


@pytest.mark.parametrize("root_follow", [1.0, 0.0])
def test_lock_feet_double_support_splits_the_shift(root_follow):
    """Standing on both feet, one foot sliding under a still body: with root_follow=1 the body
    takes the mean of the feet's corrections, with 0 (the default) it stays; either way the IK
    puts each ankle back on its own planted spot."""
    clean = np.asarray(resample(load_bvh_as_h36m17(WALK), fps=FPS).joints, dtype=np.float64)[:40]
    frame = clean[:1].repeat(40, axis=0)
    x = frame.copy()
    x[:, FEET[0]] += np.arange(40)[:, None] / FPS * [0.1, 0.0, 0.0]
    on = np.zeros((40, 2), dtype=bool)
    on[:, :] = True
    locked = lock_feet(x, H36M17, FPS, FootContacts(on, np.ones((40, 2))), root_follow=root_follow)
    planted_left = x[:, FEET[0]].mean(axis=0)
    np.testing.assert_allclose(locked[:, FEET[0]], np.broadcast_to(planted_left, (40, 3)), atol=1e-9)
    np.testing.assert_allclose(locked[:, FEET[1]], frame[:, FEET[1]], atol=1e-9)
    shift = locked[:, 0] - x[:, 0]  # the pelvis: half the left foot's correction
    np.testing.assert_allclose(shift, root_follow * 0.5 * (planted_left - x[:, FEET[0]]) * [1, 0, 1], atol=1e-9)


def test_lock_feet_rejects_bad_contacts(sliding_walk):
    _, slid, _ = sliding_walk
    with pytest.raises(Pose2RigError, match="columns"):
        lock_feet(slid, H36M17, FPS, FootContacts(np.zeros((len(slid), 3), bool), np.zeros((len(slid), 3))))
