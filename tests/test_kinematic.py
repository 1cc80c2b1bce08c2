"""Clean-up in rotation space (pose2rig.clean.kinematic): hand-computed chains, a Bandai-1 walk
with 15 mm noise, and BVH skeletons of every joint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.clean import (
    bone_lengths,
    enforce_bone_lengths,
    fill_gaps_kinematic,
    from_rotations,
    resample,
    smooth_kinematic,
    to_rotations,
)
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.bvh import bvh_skeleton, detect_unit_scale, read_bvh
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.motion_metrics import jitter, world_mpjpe
from pose2rig.skeletons import H36M17
from pose2rig.types import Skeleton

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
WALK = MOCAP / "bandai1" / "dataset-1_walk_normal_001.bvh"
ICLONE = MOCAP / "cmu_iclone" / "001_01.bvh"
FPS = 30.0
NAMES = H36M17.joint_names
ENDS = [NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_wrist", "right_wrist")]

# root -> a -> b -> c: a chain with no names the limb finder knows
CHAIN = Skeleton("chain", ("root", "a", "b", "c"), (-1, 0, 1, 2), (0, 1, 2, 3))


def lengths_of(x: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """``(T, J - 1)`` distances of every non-root joint to its parent."""
    return np.stack([np.linalg.norm(x[:, j] - x[:, p], axis=-1)
                     for j, p in enumerate(skeleton.parents) if p >= 0], axis=1)


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    """The Bandai-1 walk as Human3.6M-17 world joints at 30 fps, metres."""
    return np.asarray(resample(load_bvh_as_h36m17(WALK), fps=FPS).joints, dtype=np.float64)


@pytest.fixture(scope="module")
def noisy_walk(walk: np.ndarray) -> np.ndarray:
    return walk + np.random.default_rng(12).normal(scale=0.015, size=walk.shape)


def bvh_joints(path: Path, frames: int) -> tuple[np.ndarray, Skeleton, float]:
    motion = read_bvh(path)
    pos, _ = motion.forward_kinematics(scale=detect_unit_scale(motion))
    return pos[:frames], bvh_skeleton(motion), motion.fps


# ----------------------------------------------------------------------------- rotation space


def test_rotations_round_trip_and_hand_computed_chain():
    x = np.array([[[0, 1, 0], [0, 1, 1], [0, 3, 1], [0, 3, 1]]], dtype=np.float64)  # c on b
    root, d, ln = to_rotations(x, CHAIN)
    np.testing.assert_allclose(root, [[0, 1, 0]])
    np.testing.assert_allclose(d[0], [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(ln[0], [0, 1, 2, 0])
    np.testing.assert_allclose(from_rotations(root, d, ln, CHAIN), x, atol=1e-12)
    np.testing.assert_allclose(bone_lengths(x, CHAIN), [0, 1, 2, 0])


def test_round_trip_with_a_ground_root_above_the_hips():
    # Bandai's files: joint_Root stays at the origin and the hips travel away from it
    x, skeleton, _ = bvh_joints(WALK, 60)
    assert skeleton.joint_names[:2] == ("joint_Root", "Hips")
    root, d, ln = to_rotations(x, skeleton)
    np.testing.assert_allclose(root, x[:, 1])  # the body root is the hips
    np.testing.assert_allclose(from_rotations(root, d, ln, skeleton), x, atol=1e-9)
    np.testing.assert_allclose(from_rotations(root, d, bone_lengths(x, skeleton), skeleton)[:, 2:],
                               x[:, 2:], atol=1e-6)  # constant lengths: the body is rigid


# ----------------------------------------------------------------------------- gaps


def test_gap_slerps_directions_and_keeps_bone_lengths():
    t, gap = 24, slice(8, 16)
    angle = np.where(np.arange(t) < 12, 0.0, np.radians(150.0))  # a jumps by 150 deg mid-gap
    x = np.zeros((t, 4, 3))
    x[:, 0] = np.stack([0.1 * np.arange(t), np.zeros(t), np.zeros(t)], -1)
    x[:, 1] = x[:, 0] + 0.5 * np.stack([np.cos(angle), np.sin(angle), np.zeros(t)], -1)
    x[:, 2] = x[:, 1] + [0.0, 0.0, 0.4]
    x[:, 3] = x[:, 2] + [0.0, -0.3, 0.0]
    held = x.copy()
    x[gap] = np.nan
    filled, mask = fill_gaps_kinematic(x, CHAIN, FPS)
    np.testing.assert_array_equal(mask, np.isnan(x).any(axis=(1, 2)))
    # every filled bone keeps its length exactly
    np.testing.assert_allclose(lengths_of(filled, CHAIN), np.broadcast_to([0.5, 0.4, 0.3], (t, 3)), atol=1e-12)
    # a's direction turns uniformly along the great circle: 150 deg over 9 steps from frame 7 to 16
    d = (filled[:, 1] - filled[:, 0]) / 0.5
    got = np.degrees(np.arctan2(d[7:17, 1], d[7:17, 0]))
    np.testing.assert_allclose(got, np.linspace(0, 150, 10), atol=1e-9)
    # the root moved at a steady 0.1 per frame on both sides: the filled root goes on doing so
    np.testing.assert_allclose(filled[:, 0], held[:, 0], atol=1e-12)
    # linear interpolation of the positions would have shortened bone a by 0.37 at mid-gap
    w = (np.arange(8, 16) - 7) / 9.0
    linear = (1 - w)[:, None, None] * held[7] + w[:, None, None] * held[16]
    shortening = 0.5 - np.linalg.norm(linear[:, 1] - linear[:, 0], axis=-1)
    assert shortening.max() > 0.3
    assert np.abs(lengths_of(filled[gap], CHAIN)[:, 0] - 0.5).max() < 1e-12


def test_antipodal_directions_turn_about_a_perpendicular():
    x = np.zeros((5, 4, 3))
    x[:, 1] = [1.0, 0, 0]
    x[4, 1] = [-1.0, 0, 0]  # bone a flips to the opposite direction
    x[:, 2] = x[:, 1] + [0, 1, 0]
    x[:, 3] = x[:, 2] + [0, 1, 0]
    x[1:4] = np.nan
    filled, _ = fill_gaps_kinematic(x, CHAIN, FPS)
    assert np.all(np.isfinite(filled))
    np.testing.assert_allclose(lengths_of(filled, CHAIN)[:, 0], 1.0, atol=1e-12)
    mid = filled[2, 1] - filled[2, 0]
    assert abs(mid[0]) < 1e-12  # half-way round: square to both ends


def test_root_across_a_long_gap_moves_no_faster_than_the_straight_line():
    # still before and after a 2 s gap, 2 m apart (a backflip that the detector lost):
    # held-then-jumped moves 2 m in one frame; a Hermite curve from rest peaks at 1.5x the line
    t = 100
    x = np.zeros((t, 4, 3))
    x[50:, 0] = [2.0, 0, 0]
    x[:, 1:] = x[:, :1] + np.array([[0, 1, 0], [0, 2, 0], [0, 3, 0]])
    x[20:80] = np.nan
    filled, _ = fill_gaps_kinematic(x, CHAIN, FPS)
    steps = np.linalg.norm(np.diff(filled[19:81, 0], axis=0), axis=-1) * FPS
    line = 2.0 / 61 * FPS
    assert steps.max() <= line * (1 + 1e-9)
    assert steps.min() > 0.99 * line  # never held
    # max_speed allows more than the line: the curve eases in and out, within it
    eased, _ = fill_gaps_kinematic(x, CHAIN, FPS, max_speed=1.25 * line)
    steps = np.linalg.norm(np.diff(eased[19:81, 0], axis=0), axis=-1) * FPS
    assert steps.max() <= 1.25 * line * (1 + 1e-9)
    # half-way to the smoothstep (whose peak is 1.5x the line; 1 + 0.5 / 2 = 1.25): the first
    # and last steps are about half the line's
    assert steps.max() > 1.24 * line
    assert steps[0] < 0.6 * line and steps[-1] < 0.6 * line


def test_root_follows_the_end_velocities_without_overshooting():
    # moving at 1.2 m/s along +x before and after a 1 s gap: the line across it is the motion
    t = 90
    x = np.zeros((t, 4, 3))
    x[:, 0, 0] = 1.2 * np.arange(t) / FPS
    x[:, 1:] = x[:, :1] + np.array([[0, 1, 0], [0, 2, 0], [0, 3, 0]])
    truth = x.copy()
    x[30:60] = np.nan
    filled, _ = fill_gaps_kinematic(x, CHAIN, FPS)
    np.testing.assert_allclose(filled, truth, atol=1e-9)
    # the gap's far side moves back toward the start: speed stays within the ends' speed
    x[60:, 0, 0] = x[59 - 30, 0, 0] - 1.2 * np.arange(t - 60) / FPS
    x[60:, 1:] = x[60:, :1] + np.array([[0, 1, 0], [0, 2, 0], [0, 3, 0]])
    filled, _ = fill_gaps_kinematic(x, CHAIN, FPS)
    steps = np.linalg.norm(np.diff(filled[29:61, 0], axis=0), axis=-1) * FPS
    assert steps.max() <= 1.2 * (1 + 1e-6)
    assert filled[30:60, 0, 0].max() <= x[29, 0, 0] + 1.2 / FPS * 30  # no wild overshoot


def test_leading_and_trailing_gaps_hold_and_partial_frames_are_missing():
    x = np.zeros((10, 4, 3))
    x[:, :, 1] = np.arange(4)
    x[:, :, 0] = np.arange(10)[:, None] * 0.1
    x[:3] = np.nan
    x[8:] = np.nan
    x[5, 3] = np.nan  # a frame partly seen is filled whole
    filled, mask = fill_gaps_kinematic(x, CHAIN, FPS)
    np.testing.assert_array_equal(mask, [1, 1, 1, 0, 0, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(filled[:3], np.broadcast_to(x[3], (3, 4, 3)))
    np.testing.assert_array_equal(filled[8:], np.broadcast_to(x[7], (2, 4, 3)))
    np.testing.assert_allclose(filled[5, :, 0], 0.5, atol=1e-12)
    np.testing.assert_array_equal(filled[~mask], x[~mask])


# ----------------------------------------------------------------------------- bone lengths


def test_enforce_bone_lengths_keeps_end_effectors(noisy_walk: np.ndarray):
    x = noisy_walk.copy()
    x[40:45] = np.nan
    target = bone_lengths(x, H36M17)
    out = enforce_bone_lengths(x, H36M17)
    seen = np.isfinite(x).all(axis=(1, 2))
    np.testing.assert_allclose(lengths_of(out[seen], H36M17), np.broadcast_to(target[1:], (seen.sum(), 16)),
                               atol=1e-9)
    assert np.isnan(out[40:45]).all()
    # the naive rebuild: outward from the root along each bone, every joint at its length
    root, d, _ = to_rotations(x, H36M17)
    naive = from_rotations(root, d, target, H36M17)
    moved = np.linalg.norm(out[seen][:, ENDS] - x[seen][:, ENDS], axis=-1)
    moved_naive = np.linalg.norm(naive[seen][:, ENDS] - x[seen][:, ENDS], axis=-1)
    assert np.median(moved) < 1e-9  # where reachable, an end effector does not move at all
    assert moved.mean() < 0.25 * moved_naive.mean()
    assert np.all(moved <= moved_naive + 1e-9)


def test_enforce_bone_lengths_with_given_lengths_and_bad_lengths(walk: np.ndarray):
    shorter = bone_lengths(walk, H36M17) * 0.9
    out = enforce_bone_lengths(walk[:20], H36M17, shorter)
    np.testing.assert_allclose(lengths_of(out, H36M17), np.broadcast_to(shorter[1:], (20, 16)), atol=1e-9)
    np.testing.assert_array_equal(out[:, 0], walk[:20, 0])  # the root stays
    with pytest.raises(ArgumentError, match="lengths"):
        enforce_bone_lengths(walk, H36M17, np.ones(5))
    with pytest.raises(ArgumentError, match="lengths"):
        enforce_bone_lengths(walk, H36M17, -np.ones(17))


# ----------------------------------------------------------------------------- smoothing


def test_smoothing_reduces_jitter_on_a_noisy_walk(walk: np.ndarray, noisy_walk: np.ndarray):
    x = noisy_walk.copy()
    x[50:53] = np.nan
    smoothed = smooth_kinematic(x, H36M17, FPS)
    assert np.isnan(smoothed[50:53]).all()
    assert jitter(smoothed, FPS) < jitter(x, FPS) / 4
    assert world_mpjpe(smoothed, walk) < 0.7 * world_mpjpe(x, walk)
    # the bones' lengths, noisy by ~2 cm per frame, come out steadier (each frame's own length,
    # smoothed with its direction)
    seen = np.isfinite(x).all(axis=(1, 2))
    assert lengths_of(smoothed[seen], H36M17).std(0).max() < 0.7 * lengths_of(x[seen], H36M17).std(0).min()
    # with the clip's constant lengths: one length per bone, exactly
    target = bone_lengths(x, H36M17)
    const = smooth_kinematic(x, H36M17, FPS, lengths=target)
    np.testing.assert_allclose(lengths_of(const[seen], H36M17), np.broadcast_to(target[1:], (seen.sum(), 16)),
                               atol=1e-6)
    assert jitter(const, FPS) < jitter(x, FPS) / 4
    # "none" changes nothing; the root's own parameters act on the root alone
    np.testing.assert_allclose(smooth_kinematic(x, H36M17, FPS, method="none"), x, atol=1e-6, equal_nan=True)
    stiff = smooth_kinematic(x, H36M17, FPS, root_min_cutoff=0.5, root_beta=0.0)
    assert jitter(stiff[:, :1], FPS) < jitter(smoothed[:, :1], FPS)


# ----------------------------------------------------------------------------- any skeleton


@pytest.mark.parametrize("path", [WALK, ICLONE], ids=["bandai_22_joints", "iclone_100_joints"])
def test_bvh_skeleton_of_every_joint(path: Path):
    x, skeleton, fps = bvh_joints(path, 240)
    truth = x.copy()
    x = x + np.random.default_rng(5).normal(scale=0.005, size=x.shape)
    x[100:130] = np.nan
    filled, mask = fill_gaps_kinematic(x, skeleton, fps)
    assert mask.sum() == 30 and np.all(np.isfinite(filled))
    # each filled bone's length lies between its lengths on the two seen frames around the gap
    ends = lengths_of(x[[99, 130]], skeleton)
    inside = lengths_of(filled[100:130], skeleton)
    assert np.all(inside >= ends.min(0) - 1e-9) and np.all(inside <= ends.max(0) + 1e-9)
    chain = 2 if skeleton.joint_names[0] == "joint_Root" else 1
    # about as near the truth as linear interpolation of the positions (a 1 s gap in the walk,
    # 0.5 s of a jump at 60 fps: the end velocities of a gait cycle mislead a cubic a little)
    linear = np.linspace(x[99], x[130], 32)[1:-1]
    assert world_mpjpe(filled[100:130], truth[100:130]) < 1.2 * world_mpjpe(linear, truth[100:130])
    if chain == 2:  # the ground root above the hips stays at the origin through the gap
        np.testing.assert_allclose(filled[100:130, 0], 0.0, atol=0.02)
    out = enforce_bone_lengths(filled, skeleton)
    np.testing.assert_allclose(lengths_of(out, skeleton)[:, chain - 1:],
                               np.broadcast_to(bone_lengths(filled, skeleton)[chain:],
                                               (len(out), skeleton.num_joints - chain)),
                               atol=1e-9)
    smoothed = smooth_kinematic(filled, skeleton, fps)
    assert jitter(smoothed, fps) < jitter(filled, fps) / 2
    far = np.r_[0:90, 140:len(x)]  # the root chain is smoothed too, away from the gap's fill
    assert np.linalg.norm(smoothed[far, :chain] - truth[far, :chain], axis=-1).max() < 0.02


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(Pose2RigError, match="nothing to fill"):
        fill_gaps_kinematic(np.full((5, 4, 3), np.nan), CHAIN, FPS)
    with pytest.raises(Pose2RigError, match="no frame is finite"):
        bone_lengths(np.full((5, 4, 3), np.nan), CHAIN)
    with pytest.raises(Pose2RigError, match=r"expected joints \(T, 4, 3\)"):
        fill_gaps_kinematic(np.zeros((5, 17, 3)), CHAIN, FPS)
    with pytest.raises(Pose2RigError, match=r"expected joints"):
        smooth_kinematic(np.zeros((5, 4)), CHAIN, FPS)
    with pytest.raises(ArgumentError, match="fps"):
        smooth_kinematic(np.zeros((5, 4, 3)), CHAIN, 0.0)
    with pytest.raises(ArgumentError, match="max_speed"):
        fill_gaps_kinematic(np.zeros((5, 4, 3)), CHAIN, FPS, max_speed=-1.0)
    with pytest.raises(Pose2RigError, match="Skeleton"):
        to_rotations(np.zeros((5, 4, 3)), "chain")
    with pytest.raises(Pose2RigError, match="lengths"):
        from_rotations(np.zeros((5, 3)), np.zeros((5, 4, 3)), np.zeros(3), CHAIN)
    with pytest.raises(Pose2RigError, match="method"):
        smooth_kinematic(np.zeros((5, 4, 3)), CHAIN, FPS, method="box")
    # all-NaN frames stay NaN through smoothing and bone lengths
    x = np.full((5, 4, 3), np.nan)
    assert np.isnan(smooth_kinematic(x, CHAIN, FPS)).all()
    assert np.isnan(enforce_bone_lengths(x, CHAIN)).all()
