"""pose2rig.clean.clean_motion: the clean-up's steps in order, their switches, and what they report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _bench_module import bench_module

from pose2rig.clean import STEPS, clean_motion
from pose2rig.errors import Pose2RigError
from pose2rig.motion_metrics import foot_sliding, jitter, world_mpjpe
from pose2rig.options import CleanOptions
from pose2rig.skeletons import H36M17
from pose2rig.types import Skeleton

REPO = Path(__file__).resolve().parents[1]
BANDAI = REPO.parent / "shared" / "data" / "mocap" / "bandai1"
FPS = 30.0
OFF = {name: False for name in ("swaps", "outliers", "fill_gaps", "bone_lengths", "floor", "foot_lock")}


@pytest.fixture(scope="module")
def bench():
    return bench_module("cleanup")


@pytest.fixture(scope="module")
def walk(bench) -> np.ndarray:
    return bench.load_clip(BANDAI / "dataset-1_walk_normal_001.bvh")


@pytest.fixture(scope="module")
def corrupted(bench, walk):
    return bench.corrupt(walk, FPS, seed=11)


def test_every_step_is_an_option():
    for name in STEPS:
        assert name in CleanOptions.__dataclass_fields__


def test_all_off_changes_nothing(corrupted):
    res = clean_motion(corrupted.joints, H36M17, FPS, CleanOptions(smooth="none", **OFF))
    np.testing.assert_array_equal(res.joints, corrupted.joints)  # NaN where dropped, too
    np.testing.assert_array_equal(res.transform, np.eye(4))
    assert res.floor is None and res.contacts is None and res.swaps is None
    assert not res.filled.any() and not res.outliers.any()


def test_full_cleanup_beats_the_corrupted_input(bench, walk, corrupted):
    res = clean_motion(corrupted.joints, H36M17, FPS)
    out = res.joints
    assert np.isfinite(out).all() and out.shape == walk.shape
    assert res.filled[corrupted.dropped].all()
    # the floor of clean mocap is level at y = 0 already: the transform is nearly the identity
    assert res.floor is not None and np.degrees(res.floor.tilt) < 2.0
    back = (out - res.transform[:3, 3]) @ res.transform[:3, :3]  # into the input's frame
    feet = list(bench.FEET)
    before = foot_sliding(np.nan_to_num(corrupted.joints[:, feet]), corrupted.contacts, FPS)
    after = foot_sliding(back[:, feet], corrupted.contacts, FPS)
    assert after < 0.35 * before
    present = ~corrupted.dropped
    assert jitter(back, FPS) < 0.5 * jitter(np.where(present[:, None, None], corrupted.joints, back), FPS)
    assert world_mpjpe(back[present], walk[present]) <= world_mpjpe(corrupted.joints[present], walk[present])
    # swaps repaired: the swapped frames are back within a few cm of the truth
    swapped = corrupted.swapped > 0
    assert res.swaps is not None and res.swaps.num_flipped >= 0.9 * swapped.sum()
    err = np.linalg.norm(back[swapped] - walk[swapped], axis=-1).max(axis=1)
    assert np.median(err) < 0.08


def test_bone_lengths_constant_after_cleanup(corrupted):
    out = clean_motion(corrupted.joints, H36M17, FPS, CleanOptions(bone_lengths=True)).joints
    parents = np.array(H36M17.parents)
    kids = np.flatnonzero(parents >= 0)
    lengths = np.linalg.norm(out[:, kids] - out[:, parents[kids]], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-3


def test_tilted_floor_is_levelled(walk):
    a = np.radians(6.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    res = clean_motion(walk @ tilt.T, H36M17, FPS, CleanOptions(foot_lock=False))
    assert res.floor is not None
    assert np.degrees(res.floor.tilt) == pytest.approx(6.0, abs=1.0)
    ankles = res.joints[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")], 1]
    low = np.percentile(ankles.min(axis=1), 5)
    assert 0.03 < low < 0.15  # the ankle joints sit a few cm above a floor at y = 0


def test_skeleton_without_legs_skips_the_feet_steps(walk):
    keep = [H36M17.index(n) for n in H36M17.joint_names if not any(w in n for w in ("knee", "ankle"))]
    names = tuple(H36M17.joint_names[i] for i in keep)
    remap = {old: new for new, old in enumerate(keep)}
    parents = tuple(remap.get(H36M17.parents[i], -1) for i in keep)
    mirror = tuple(remap[H36M17.mirror[i]] for i in keep)
    sk = Skeleton("upper", names, parents, mirror)
    res = clean_motion(walk[:, keep], sk, FPS)
    assert any("no feet" in n for n in res.notes)
    assert res.floor is None and res.contacts is None
    assert np.isfinite(res.joints).all()


def test_one_frame_runs_what_needs_no_time(walk):
    res = clean_motion(walk[:1], H36M17, FPS)
    assert res.joints.shape == (1, 17, 3) and np.isfinite(res.joints).all()
    assert any("one frame" in n for n in res.notes)


def test_all_missing_is_one_clear_error():
    with pytest.raises(Pose2RigError, match="none of the 5 frames"):
        clean_motion(np.full((5, 17, 3), np.nan), H36M17, FPS)


def test_root_jump_across_a_gap_is_interpolated(walk):
    """A 20-frame gap after which the lifted root lands 4 m away (a backflip lost by the
    detector): the root crosses it at a person's speed, never held and then jumped."""
    x = walk[:120].copy()
    x[60:80] = np.nan
    x[80:] += np.array([0.0, 0.0, 4.0])
    res = clean_motion(x, H36M17, FPS, CleanOptions(floor=False, foot_lock=False))
    speed = np.linalg.norm(np.diff(res.joints[:, 0], axis=0), axis=-1) * FPS
    assert speed.max() < 10.0
    assert res.filled[60:80].all()
