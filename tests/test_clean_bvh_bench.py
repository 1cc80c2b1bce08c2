"""bench/cleanup.py's BVH corruption (``corrupt_bvh``) and ``pose2rig clean`` on its output (issue 12):
the corruption's labels and what it does to a real Bandai-1 walk, then the command on the
corrupted file: same skeleton, frame count and frame time, 80% less foot sliding, and Blender
reads it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _bench_module import bench_module
from click.testing import CliRunner

from pose2rig.cli import cli
from pose2rig.io.bvh import detect_unit_scale, read_bvh, write_bvh
from pose2rig.motion_metrics import foot_sliding

REPO = Path(__file__).resolve().parents[1]
WALK = REPO.parent / "shared" / "data" / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"


@pytest.fixture(scope="module")
def bench():
    return bench_module("cleanup")


@pytest.fixture(scope="module")
def walk(bench):
    return bench.bvh_clip(WALK)


def _fk(motion) -> np.ndarray:
    pos, _ = motion.forward_kinematics(scale=detect_unit_scale(motion))
    return pos


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def test_corrupt_bvh_is_seeded_keeps_the_skeleton_and_hits_the_rates(bench, walk):
    bad, c = bench.corrupt_bvh(walk, 30.0, seed=5)
    again, _ = bench.corrupt_bvh(walk, 30.0, seed=5)
    other, _ = bench.corrupt_bvh(walk, seed=6)
    np.testing.assert_array_equal(bad.motion, again.motion)
    assert not np.array_equal(bad.motion, other.motion)
    assert bench.same_skeleton(bad, walk) and bad.num_frames == walk.num_frames
    assert bad.frame_time == walk.frame_time
    t = walk.num_frames
    spec = bench.SPEC
    assert c.dropped.sum() == round(spec.drop_rate * t)
    assert (c.swapped > 0).sum() == round(spec.swap_rate * t)
    assert c.spiked.sum() == round(spec.spike_rate * t)
    assert not (c.dropped & (c.swapped > 0)).any() and not (c.spiked & (c.dropped | (c.swapped > 0))).any()
    assert all(1 <= e - s <= 10 for s, e in _runs(c.dropped))
    # a dropped frame is frozen: it holds the channels of the frame before its run
    for s, e in _runs(c.dropped):
        held = bad.motion[s - 1] if s > 0 else bad.motion[e]
        np.testing.assert_array_equal(bad.motion[s:e], np.broadcast_to(held, (e - s, held.size)))
    # jitter-only frames: every joint off the clean file by about 15 mm per axis
    only = ~c.dropped & (c.swapped == 0) & ~c.spiked & ~np.any(c.slide_offset != 0, axis=(1, 2))
    err = (_fk(bad) - _fk(walk))[only]
    per_axis = err.reshape(-1, 3).std(axis=0)
    assert np.all((0.011 < per_axis) & (per_axis < 0.019)), per_axis
    assert c.contacts.any(axis=0).all() and c.slid.any()


def test_corrupt_bvh_slides_the_ankle_and_mirrors_swapped_limbs(bench, walk):
    # without jitter and with many swaps the two effects show alone
    bad, c = bench.corrupt_bvh(walk, seed=2, spec=replace(bench.SPEC, jitter_sigma=0.0, swap_rate=0.1))
    before, after = _fk(walk), _fk(bad)
    free = ~c.dropped & (c.swapped == 0) & ~c.spiked
    for k, foot in enumerate(c.feet):
        moved = free & np.any(c.slide_offset[:, k] != 0, axis=-1)
        got = (after[moved, foot] - before[moved, foot])[:, [0, 2]]
        # the ankle goes where it is sent (offsets of 3 to 4 cm in the median), exactly on most
        # frames; a leg that cannot reach stops short by millimetres
        miss = np.linalg.norm(got - c.slide_offset[moved, k][:, [0, 2]], axis=-1)
        assert moved.sum() > 10 and np.median(miss) < 1e-3 and miss.max() < 0.02
    names = bad.names
    left_hip, right_hip = names.index("UpperLeg_L"), names.index("UpperLeg_R")
    legs = np.flatnonzero(c.swapped == 3)
    assert legs.size
    still = legs[~np.any(c.slide_offset[legs] != 0, axis=(1, 2))]  # no sliding foot on these frames
    assert still.size
    for f in still:
        n = before[f, left_hip] - before[f, right_hip]
        n /= np.linalg.norm(n)
        mid = 0.5 * (before[f, left_hip] + before[f, right_hip])
        for left, right in (("Foot_L", "Foot_R"), ("Toes_R", "Toes_L"), ("LowerLeg_L", "LowerLeg_R")):
            # each leg joint stands where its twin's mirror image stood, across the plane half-way
            # between the hip joints
            q = before[f, names.index(right)]
            np.testing.assert_allclose(after[f, names.index(left)], q - 2.0 * np.dot(q - mid, n) * n, atol=1e-6)
        # and the arms were left alone
        arm = names.index("Hand_L")
        np.testing.assert_allclose(after[f, arm], before[f, arm], atol=1e-9)


def test_pose2rig_clean_on_a_corrupted_bvh_keeps_the_file_and_cuts_sliding_by_80_percent(bench, walk, tmp_path):
    bad, c = bench.corrupt_bvh(walk, seed=bench.clip_seed(WALK, 0))
    src, out = tmp_path / "corrupted.bvh", tmp_path / "clean.bvh"
    write_bvh(src, bad)
    res = CliRunner().invoke(cli, ["clean", str(src), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    a, b = read_bvh(src), read_bvh(out)
    assert bench.same_skeleton(a, b)
    assert b.num_frames == a.num_frames == walk.num_frames and b.frame_time == a.frame_time == walk.frame_time
    feet = list(c.feet)
    corrupted = foot_sliding(_fk(a)[:, feet], c.contacts, walk.fps)
    cleaned = foot_sliding(_fk(b)[:, feet], c.contacts, walk.fps)
    assert corrupted > 10.0 * foot_sliding(_fk(walk)[:, feet], c.contacts, walk.fps)  # the corruption slides
    assert cleaned <= 0.2 * corrupted, (corrupted, cleaned)


@pytest.mark.slow
def test_blender_imports_the_cleaned_corrupted_bvh(bpy, bench, walk, tmp_path):
    bad, _ = bench.corrupt_bvh(walk, seed=bench.clip_seed(WALK, 0))
    src, out = tmp_path / "corrupted.bvh", tmp_path / "clean.bvh"
    write_bvh(src, bad)
    assert CliRunner().invoke(cli, ["clean", str(src), "-o", str(out), "--quiet"]).exit_code == 0
    motion = read_bvh(out)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(out), global_scale=0.01)
    (arm,) = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert {bone.name for bone in arm.data.bones} == set(motion.names)
    start, end = arm.animation_data.action.frame_range
    assert int(round(end - start)) + 1 == motion.num_frames
    # the imported armature's feet follow the file: Blender's pose of the left foot on a frame
    # matches forward kinematics of the cleaned file (the importer turns Y up into Z up)
    frame = motion.num_frames // 2
    bpy.context.scene.frame_set(int(start) + frame)
    foot = arm.matrix_world @ arm.pose.bones["Foot_L"].head
    want = _fk(motion)[frame, motion.names.index("Foot_L")]
    np.testing.assert_allclose([foot.x, foot.z, -foot.y], want, atol=1e-3)
