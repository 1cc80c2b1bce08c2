"""Left/right swap repair (pose2rig.clean.swaps): injected swaps on real mocap in 3D and in 2D,
MediaPipe's own swap on the demo clip, turning motions left alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose2rig.clean import SwapReport, repair_swaps, swap_states_array
from pose2rig.clean.swaps import STATES, _limb_of, _permutations, lateral_pairs
from pose2rig.errors import ArgumentError
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.io.npz import load_keypoints
from pose2rig.skeletons.joint_sets import H36M17, MEDIAPIPE33
from pose2rig.types import Keypoints2D, PoseSequence, Skeleton

ROOT = Path(__file__).resolve().parents[1]
MOCAP = ROOT.parent / "shared" / "data" / "mocap"
BANDAI = MOCAP / "bandai1"
CLIPS = [
    BANDAI / "dataset-1_walk_normal_001.bvh",
    BANDAI / "dataset-1_dash_happy_001.bvh",
    BANDAI / "dataset-1_kick_normal_001.bvh",  # turns 1085 degrees
    MOCAP / "cmu" / "scaled_131_03.bvh",  # turns 475 degrees, 120 fps
]


def inject(n: int, rng: np.random.Generator, rate: float = 0.05) -> np.ndarray:
    """``(n,)`` states (0 clean, 1 arms, 2 legs, 3 body) in runs of 1-5 frames on ``rate`` of them,
    every kind present."""
    states = np.zeros(n, dtype=np.int8)
    kind = 0
    while (states > 0).sum() < rate * n:
        length = int(rng.integers(1, 6))
        start = int(rng.integers(0, n - length))
        if states[max(0, start - 1) : start + length + 1].any():
            continue
        states[start : start + length] = kind % 3 + 1
        kind += 1
    return states


def swapped(values: np.ndarray, skeleton: Skeleton, states: np.ndarray) -> np.ndarray:
    idx = _permutations(skeleton)[states]
    return np.take_along_axis(values, idx.reshape(idx.shape + (1,) * (values.ndim - 2)), axis=1)


def project(joints: np.ndarray, yaw: float) -> np.ndarray:
    """Perspective view, 1000 px focal length, from 4 m before the subject's nearest point."""
    c, s = np.cos(yaw), np.sin(yaw)
    p = joints @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
    x = p[..., 0] - p[:, 0, 0].mean()
    z = p[..., 2] - p[..., 2].min() + 4.0
    return np.stack([960 + 1000 * x / z, 540 - 1000 * (p[..., 1] - 0.9) / z], axis=-1)


@pytest.fixture(scope="module")
def mocap() -> list[PoseSequence]:
    return [load_bvh_as_h36m17(p) for p in CLIPS]


def test_groups_found_through_mirror_and_names():
    names = {(H36M17.joint_names[a], H36M17.joint_names[b]): g for a, b, g in lateral_pairs(H36M17)}
    # hips and shoulders are groups of their own: an arm or leg swap leaves them where they are
    assert names == {
        ("right_hip", "left_hip"): 4, ("right_knee", "left_knee"): 1,
        ("right_ankle", "left_ankle"): 1, ("left_shoulder", "right_shoulder"): 3,
        ("left_elbow", "right_elbow"): 0, ("left_wrist", "right_wrist"): 0,
    }
    mp = {MEDIAPIPE33.joint_names[a]: g for a, _, g in lateral_pairs(MEDIAPIPE33)}
    assert mp["left_foot_index"] == mp["left_heel"] == mp["left_knee"] == 1
    assert mp["left_index"] == mp["left_thumb"] == mp["left_elbow"] == 0
    assert mp["left_hip"] == 4 and mp["left_shoulder"] == 3
    assert mp["left_ear"] == mp["mouth_left"] == 2  # the face turns only with the whole body
    # rigs' joints at the hip and the shoulder, whatever they are called
    for name in ("UpperLeg_L", "LeftUpLeg", "LeftHip", "LHipJoint", "CC_Base_L_Thigh"):
        assert _limb_of(name) == 4, name
    for name in ("LeftArm", "UpperArm_L", "Shoulder_L", "LeftCollar", "CC_Base_L_Clavicle", "CC_Base_L_Upperarm"):
        assert _limb_of(name) == 3, name
    assert _limb_of("LeftForeArm") == _limb_of("LowerArm_L") == _limb_of("CC_Base_L_Forearm") == 0
    assert _limb_of("LeftLeg") == _limb_of("LowerLeg_L") == _limb_of("CC_Base_L_Calf") == 1


def test_3d_injected_swaps_repaired_and_clean_clips_untouched(mocap):
    rng = np.random.default_rng(0)
    total = repaired = 0
    for pose in mocap:
        out, report = repair_swaps(pose)
        assert report.num_flipped == 0, (pose.num_frames, str(report))
        np.testing.assert_array_equal(out.joints, pose.joints)
        states = inject(pose.num_frames, rng)
        bad = PoseSequence(swapped(pose.joints, H36M17, states), H36M17, pose.fps, pose.timestamps)
        fixed, report = repair_swaps(bad)
        ok = np.all(fixed.joints == pose.joints, axis=(1, 2))
        total += int((states > 0).sum())
        repaired += int(ok[states > 0].sum())
        assert ok[states == 0].mean() > 0.99  # almost no false flips around the swaps
        np.testing.assert_array_equal(report.frames, np.flatnonzero(~np.all(bad.joints == pose.joints, axis=(1, 2)) & ok))
    assert repaired >= 0.9 * total, (repaired, total)


def test_2d_swaps_repaired_with_landmarks33_and_confidence(mocap):
    """Projected mocap from four sides; the 33 landmarks (hands and feet beside the wrists and
    ankles, the face beside the head) are swapped with the joints and must come back with them."""
    rng = np.random.default_rng(1)
    total = repaired = 0
    lm_names = MEDIAPIPE33.joint_names
    for pose, yaw in zip(mocap, (0.0, np.pi / 2, np.pi, 1.2)):
        uv = project(pose.joints.astype(np.float64), yaw) + rng.normal(0, 2.0, (pose.num_frames, 17, 2))
        src = [H36M17.index(n) if n in H36M17.joint_names else
               H36M17.index({"eye": "head", "ear": "head", "mouth": "neck", "nose": "neck"}.get(
                   n.replace("left_", "").replace("right_", "").split("_")[0], "") or
                   n.replace("pinky", "wrist").replace("index", "wrist").replace("thumb", "wrist")
                   .replace("heel", "ankle").replace("foot_wrist", "ankle"))
               for n in lm_names]
        side = np.array([1 if n.startswith("left") or n.endswith("left") else -1 if "right" in n else 0
                         for n in lm_names])
        lm = np.concatenate([uv[:, src] + side[None, :, None] * 5.0, np.ones((pose.num_frames, 33, 1))], -1)
        conf = rng.uniform(0.5, 1.0, (pose.num_frames, 17))
        world = rng.normal(size=(pose.num_frames, 33, 3))  # relabelled with the same states
        clean = Keypoints2D(uv, conf, H36M17, (1920, 1080), pose.fps, pose.timestamps, landmarks33=lm,
                            world33=world)
        _, report = repair_swaps(clean)
        assert report.num_flipped == 0, str(report)
        states = inject(pose.num_frames, rng)
        bad = Keypoints2D(swapped(uv, H36M17, states), swapped(conf, H36M17, states), H36M17,
                          (1920, 1080), pose.fps, pose.timestamps,
                          landmarks33=swapped(lm, MEDIAPIPE33, states),
                          world33=swapped(world, MEDIAPIPE33, states))
        fixed, _ = repair_swaps(bad)
        ok = np.all(fixed.keypoints == clean.keypoints, axis=(1, 2))
        assert ok[states == 0].mean() > 0.99
        total += int((states > 0).sum())
        repaired += int(ok[states > 0].sum())
        np.testing.assert_array_equal(fixed.confidence[ok], clean.confidence[ok])
        np.testing.assert_array_equal(fixed.landmarks33[ok], clean.landmarks33[ok])
        np.testing.assert_array_equal(fixed.world33[ok], clean.world33[ok])
    assert repaired >= 0.9 * total, (repaired, total)


def test_a_labelling_that_changes_and_stays_is_not_flipped(mocap):
    """A swap that never goes back (a turn the detector keeps) is the new labelling: left alone."""
    pose = mocap[0]
    states = np.zeros(pose.num_frames, dtype=np.int8)
    states[pose.num_frames // 3 :] = 3
    bad = PoseSequence(swapped(pose.joints, H36M17, states), H36M17, pose.fps, pose.timestamps)
    out, report = repair_swaps(bad)
    assert report.num_flipped == 0
    np.testing.assert_array_equal(out.joints, bad.joints)


def test_costs_in_chunks_choose_the_same_states(mocap, monkeypatch):
    """Long clips build the triple-state costs a chunk of frames at a time (flat memory); chunks
    of 7 frames, which cut through every swapped run and the second-order terms at each seam,
    choose exactly the states the whole clip in one piece chooses."""
    from pose2rig.clean import swaps

    rng = np.random.default_rng(3)
    pose = mocap[1]
    states = inject(pose.num_frames, rng, rate=0.1)
    bad = swapped(pose.joints, H36M17, states)
    bad[rng.random(bad.shape[:2]) < 0.02] = np.nan  # missing joints are held across the seams too
    t = pose.timestamps + rng.uniform(0, 0.3, pose.num_frames) / pose.fps  # uneven steps
    whole = swap_states_array(bad, t, H36M17)
    assert (whole > 0).sum() >= 0.5 * (states > 0).sum()  # the comparison covers real flips
    monkeypatch.setattr(swaps, "_CHUNK", 7)
    np.testing.assert_array_equal(swap_states_array(bad, t, H36M17), whole)
    monkeypatch.setattr(swaps, "_CHUNK", 1)
    np.testing.assert_array_equal(swap_states_array(bad, t, H36M17), whole)


def test_report_names_runs_and_kinds():
    flipped = np.zeros((10, 2), dtype=bool)
    flipped[2:4] = True
    flipped[6, 1] = True
    body = np.zeros(10, dtype=bool)
    body[2:4] = True
    r = SwapReport(flipped=flipped, body=body)
    assert r.runs() == [(2, 4, "body"), (6, 7, "legs")]
    assert r.num_flipped == 3 and r.frames.tolist() == [2, 3, 6]
    assert str(r) == "left/right swaps repaired on 3 frames: body 2-3, legs 6"
    assert STATES[3] == "body"


def test_short_empty_and_unmirrored_input():
    t1 = PoseSequence(np.zeros((1, 17, 3)), H36M17, 30.0, np.zeros(1))
    assert repair_swaps(t1)[1].num_flipped == 0
    nan = PoseSequence(np.full((5, 17, 3), np.nan), H36M17, 30.0, np.arange(5) / 30)
    out, r = repair_swaps(nan)
    assert r.num_flipped == 0 and np.isnan(out.joints).all()
    line = Skeleton("line", ("a", "b"), (-1, 0), (0, 1))
    assert not swap_states_array(np.random.default_rng(0).normal(size=(6, 2, 3)), np.arange(6.0), line).any()
    with pytest.raises(ArgumentError, match="switch_cost"):
        repair_swaps(nan, switch_cost=-1.0)


@pytest.fixture(scope="module")
def demo_keypoints(tmp_path_factory) -> Keypoints2D:
    """MediaPipe on the demo clip's first 3 s, detected once for this module."""
    out = tmp_path_factory.mktemp("swaps") / "kp.npz"
    exe = Path(sys.executable).with_name("pose2rig")
    subprocess.run([str(exe), "detect", str(ROOT / "samples" / "sports2d_demo.mp4"), "--end", "3",
                    "-o", str(out), "--quiet"], check=True)
    return load_keypoints(out)


def test_demo_clip_swap_at_frames_67_71_repaired(demo_keypoints):
    """MediaPipe swaps left and right on frames 67-71 while the man faces the camera (his left
    shoulder on the image's right): after repair he faces the camera there, as around them."""
    kp = demo_keypoints
    ls, rs = H36M17.index("left_shoulder"), H36M17.index("right_shoulder")
    lh, rh = H36M17.index("left_hip"), H36M17.index("right_hip")
    span = np.arange(67, 72)
    around = np.r_[55:67, 74:90]

    def facing(k: Keypoints2D, a: int, b: int, frames: np.ndarray) -> np.ndarray:
        return k.keypoints[frames, a, 0] - k.keypoints[frames, b, 0]

    assert (facing(kp, ls, rs, span) < 0).all()  # the detector's swap is still there
    assert (facing(kp, ls, rs, around) > 0).all()
    fixed, report = repair_swaps(kp)
    assert (facing(fixed, ls, rs, span) > 0).all()
    assert (facing(fixed, lh, rh, span[1:]) > 0).all()
    assert set(span) <= set(report.frames.tolist())
    np.testing.assert_array_equal(fixed.keypoints[around], kp.keypoints[around])
    # the 33 landmarks turned with the joints: the 17 joints' shoulders are the landmarks'
    lm = MEDIAPIPE33.index("left_shoulder")
    np.testing.assert_allclose(fixed.landmarks33[span, lm, :2], fixed.keypoints[span, ls], atol=1e-3)
