"""``pose2rig clean``: BVH skeletons by name (:func:`pose2rig.io.bvh.bvh_skeleton`), rotations
back onto a BVH's own skeleton (:func:`pose2rig.retarget.repose.repose_bvh`), the flow
(:func:`pose2rig.pipeline.clean_file`) and the command, on the three mocap libraries' skeletons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pose2rig.cli import cli
from pose2rig.geometry import euler_nearest, euler_to_matrix
from pose2rig.io.bvh import BvhMotion, bvh_skeleton, detect_unit_scale, read_bvh, write_bvh
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.options import ConvertOptions
from pose2rig.pipeline import clean_file
from pose2rig.retarget.repose import repose_bvh
from pose2rig.skeletons import H36M17
from pose2rig.skeletons.names import mirror_indices, mirror_name_candidates
from pose2rig.testing import walk_sequence

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIPS = {
    "bandai": MOCAP / "bandai1" / "dataset-1_walk_normal_001.bvh",
    "cmu": MOCAP / "cmu" / "scaled_131_01.bvh",
    "cmu_iclone": MOCAP / "cmu_iclone" / "001_01.bvh",
}
LEGS = {  # (thigh, shin, foot) of the left leg in each library's names
    "bandai": ("UpperLeg_L", "LowerLeg_L", "Foot_L"),
    "cmu": ("LeftHip", "LeftKnee", "LeftAnkle"),
    "cmu_iclone": ("CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Foot"),
}


def _cut(motion: BvhMotion, seconds: float) -> BvhMotion:
    n = max(2, int(round(seconds * motion.fps)))
    return BvhMotion(motion.names, motion.parents, motion.offsets, motion.channels, motion.end_sites,
                     motion.motion[:n], motion.frame_time)


@pytest.fixture(scope="module", params=sorted(CLIPS))
def clip(request, tmp_path_factory) -> tuple[str, Path]:
    """A few seconds of each library's clip, as a BVH file."""
    path = tmp_path_factory.mktemp("clips") / f"{request.param}.bvh"
    write_bvh(path, _cut(read_bvh(CLIPS[request.param]), 3.0))
    return request.param, path


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("name, twin", [
    ("LeftArm", "RightArm"), ("Hand_L", "Hand_R"), ("CC_Base_L_Thigh", "CC_Base_R_Thigh"),
    ("LHipJoint", "RHipJoint"), ("lhand", "rhand"), ("thigh.l", "thigh.r"), ("RThumb", "LThumb"),
    ("left_hip", "right_hip"), ("upperarm_r", "upperarm_l"),
])
def test_mirror_name_candidates_swap_the_side_in_each_naming_scheme(name, twin):
    assert mirror_name_candidates(name)[0] == twin


def test_mirror_indices_pair_only_names_that_name_each_other_and_leave_the_midline_alone():
    names = ("Hips", "LeftUpLeg", "RightUpLeg", "LowerBack", "lowerback", "Hand_L", "Spine")
    assert mirror_indices(names) == (0, 2, 1, 3, 4, 5, 6)  # lowerback: no "rowerback"; Hand_L: no Hand_R


def test_bvh_skeleton_pairs_left_and_right_joints_of_the_three_libraries(clip):
    name, path = clip
    motion = read_bvh(path)
    sk = bvh_skeleton(motion)
    assert sk.joint_names == motion.names and sk.parents == motion.parents
    for left in LEGS[name]:
        i = sk.index(left)
        twin = sk.joint_names[sk.mirror[i]]
        assert twin != left and mirror_name_candidates(left)[0] == twin
    hips = {"bandai": "Hips", "cmu": "Hips", "cmu_iclone": "CC_Base_Hip"}[name]
    assert sk.mirror[sk.index(hips)] == sk.index(hips)


# ----------------------------------------------------------------------------- repose
def test_euler_nearest_keeps_the_files_angles_beyond_180_and_the_flipped_solution():
    ref = np.array([[190.0, 100.0, -200.0], [10.0, 20.0, 30.0]])
    m = euler_to_matrix(ref, "ZYX", degrees=True)
    np.testing.assert_allclose(euler_nearest(m, "ZYX", ref, degrees=True), ref, atol=1e-9)


def test_repose_of_the_files_own_positions_gives_the_file_back(clip):
    _, path = clip
    motion = read_bvh(path)
    pos, _ = motion.forward_kinematics()
    out = repose_bvh(motion, pos)
    assert out.names == motion.names and out.channels == motion.channels
    np.testing.assert_array_equal(out.offsets, motion.offsets)
    np.testing.assert_allclose(out.motion, motion.motion, rtol=0, atol=1e-6)  # degrees and file units


def test_repose_reaches_a_moved_leg_and_leaves_the_rest_of_the_body(clip):
    name, path = clip
    motion = read_bvh(path)
    thigh, shin, _ = LEGS[name]
    # the target: the same clip with the left hip and knee bent further (positions from FK)
    bent = motion.motion.copy()
    cols = motion.channel_columns()
    for joint, degrees in ((thigh, 25.0), (shin, -40.0)):
        i = motion.index(joint)
        rot = [c for c, ch in zip(cols[i], motion.channels[i]) if ch.endswith("rotation")]
        bent[:, rot[0]] += degrees
    moved = BvhMotion(motion.names, motion.parents, motion.offsets, motion.channels, motion.end_sites, bent,
                      motion.frame_time)
    target, _ = moved.forward_kinematics()
    before, _ = motion.forward_kinematics()
    out = repose_bvh(motion, target)
    got, _ = out.forward_kinematics()
    leg = [i for i in range(motion.num_joints) if np.abs(target[:, i] - before[:, i]).max() > 1e-6]
    assert motion.index(LEGS[name][2]) in leg  # the foot did move, by centimetres at least
    assert np.linalg.norm(target - before, axis=-1).max() * detect_unit_scale(motion) > 0.05
    # to 0.2 mm: where a joint's bones lie along one line (Reallusion's foot with its toe share
    # bone) the twist about them stays the file's, and an off-line offset of millimetres follows it
    np.testing.assert_allclose(got, target, atol=2e-4 / detect_unit_scale(motion))
    # joints outside the leg keep their channels (to the Wahba fit's float precision)
    for i in set(range(motion.num_joints)) - set(leg) - {motion.index(thigh)}:
        np.testing.assert_allclose(out.motion[:, cols[i]], motion.motion[:, cols[i]], rtol=0, atol=1e-6)


def test_repose_carries_an_animated_child_translation_and_keeps_fixed_bones():
    # root at the origin without travel, hips under it carrying the travel (Bandai's layout)
    rot = ("Zrotation", "Xrotation", "Yrotation")
    motion = BvhMotion(
        names=("root", "hips", "spine"), parents=(-1, 0, 1),
        offsets=np.array([[0.0, 0.0, 0.0], [0.0, 90.0, 0.0], [0.0, 20.0, 0.0]]),
        channels=(("Xposition", "Yposition", "Zposition", *rot),) * 2 + (rot,),
        motion=np.array([[0, 0, 0, 0, 0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0],
                         [0, 0, 0, 0, 0, 0, 5, 90, 3, 0, 0, 0, 0, 0, 0]], dtype=float),
    )
    target = np.array([[[0, 0, 0], [0, 90, 0], [0, 110, 0]],
                       [[0, 0, 0], [10, 85, 3], [10 + 20 * np.sin(0.3), 85 + 20 * np.cos(0.3), 3]]])
    out = repose_bvh(motion, target)
    got, _ = out.forward_kinematics()
    np.testing.assert_allclose(got, target, atol=1e-9)
    np.testing.assert_array_equal(out.motion[:, :6], motion.motion[:, :6])  # the root did not move
    np.testing.assert_allclose(out.motion[1, 6:9], [10, 85, 3])  # the hips' travel
    # the hips lean by 0.3 rad about -Z (toward +X): Zrotation -17.19 degrees
    np.testing.assert_allclose(out.motion[1, 9:12], [-np.degrees(0.3), 0, 0], atol=1e-9)


# ----------------------------------------------------------------------------- the flow
def test_clean_file_keeps_skeleton_units_and_timing_and_finds_the_legs(clip, tmp_path):
    name, path = clip
    out = tmp_path / "clean.bvh"
    result = clean_file(path, out, progress=False)
    a, b = read_bvh(path), read_bvh(out)
    assert (b.names, b.parents, b.channels) == (a.names, a.parents, a.channels)
    np.testing.assert_array_equal(b.offsets, a.offsets)
    assert b.num_frames == a.num_frames and b.frame_time == a.frame_time
    assert set(b.end_sites) == set(a.end_sites)
    assert result.contacts is not None and result.floor is not None  # legs and feet found by name
    assert not [n for n in result.notes if "skipped" in n]
    # the file holds the cleaned motion: its legs far nearer the cleaned joints than the input's
    scale = detect_unit_scale(a)
    before, _ = a.forward_kinematics(scale=scale)
    after, _ = b.forward_kinematics(scale=scale)
    legs = [b.index(n) for n in LEGS[name]]
    moved = np.linalg.norm(before[:, legs] - result.joints[:, legs], axis=-1).mean()
    kept = np.linalg.norm(after[:, legs] - result.joints[:, legs], axis=-1).mean()
    assert moved > 0.005 and kept < 0.2 * moved


def test_clean_file_writes_the_cleaned_legs_exactly_where_the_clean_up_keeps_bone_lengths(clip, tmp_path):
    # the smoothing step changes bone lengths by up to 3 cm on these clips, which no rotation on a
    # fixed skeleton can follow; without it the legs (foot locking: analytic IK) come back exactly
    name, path = clip
    out = tmp_path / "clean.bvh"
    result = clean_file(path, out, ConvertOptions.from_flat(smooth="none"), progress=False)
    a, b = read_bvh(path), read_bvh(out)
    got, _ = b.forward_kinematics(scale=detect_unit_scale(a))
    legs = [b.index(n) for n in LEGS[name]]
    np.testing.assert_allclose(got[:, legs], result.joints[:, legs], atol=1e-3)


@pytest.mark.slow
def test_blender_imports_the_cleaned_bvh(bpy, clip, tmp_path):
    name, path = clip
    out = tmp_path / "clean.bvh"
    clean_file(path, out, progress=False)
    motion = read_bvh(out)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(out), global_scale=0.01)
    (arm,) = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert {b.name for b in arm.data.bones} == set(motion.names)
    start, end = arm.animation_data.action.frame_range
    assert int(round(end - start)) + 1 == motion.num_frames


def test_clean_file_on_a_pose_npz_keeps_its_arrays_and_adds_the_findings(tmp_path):
    walk, _ = walk_sequence(3.0)
    joints = walk.joints.copy()
    joints[40:44] = np.nan  # a gap to fill
    src, out = tmp_path / "pose.npz", tmp_path / "clean.npz"
    write_arrays(src, {"joints3d_world": joints, "fps": np.float64(walk.fps), "joint_names":
                       np.asarray(H36M17.joint_names), "confidence": np.ones(joints.shape[:2], np.float32),
                       "mine": np.arange(3)})
    result = clean_file(src, out, progress=False)
    data = read_arrays(out)
    np.testing.assert_array_equal(data["mine"], np.arange(3))
    assert data["joints3d_world"].shape == joints.shape and np.isfinite(data["joints3d_world"]).all()
    assert data["filled"][40:44].all()
    for key in ("plausibility", "floor_normal", "floor_offset", "contacts"):
        assert key in data
    assert data["contacts"].shape[0] == len(joints) and result.contacts is not None
    assert (data["confidence"][40:44] > 0).all()  # a short gap: interpolated confidence


# ----------------------------------------------------------------------------- bad input
def _no_legs(path: Path) -> None:
    rot = ("Zrotation", "Xrotation", "Yrotation")
    t = np.arange(30)
    data = np.zeros((30, 6 + 3 * 4))
    data[:, 1] = 100.0 + 2.0 * np.sin(t / 5)
    data[:, 3] = 10.0 * np.sin(t / 7)
    write_bvh(path, BvhMotion(
        names=("Hips", "Spine", "Head", "LeftArm", "RightArm"), parents=(-1, 0, 1, 1, 1),
        offsets=np.array([[0, 0, 0], [0, 30, 0], [0, 40, 0], [15, 35, 0], [-15, 35, 0]], dtype=float),
        channels=(("Xposition", "Yposition", "Zposition", *rot),) + (rot,) * 4,
        end_sites={2: np.array([0.0, 20.0, 0.0]), 3: np.array([50.0, 0.0, 0.0]), 4: np.array([-50.0, 0.0, 0.0])},
        motion=data, frame_time=1 / 30,
    ))


def _run(*args: str):
    return CliRunner().invoke(cli, ["clean", *map(str, args)])


def test_cli_cleans_a_bvh_with_one_wrote_line(clip, tmp_path):
    _, path = clip
    out = tmp_path / "out.bvh"
    res = _run(path, "-o", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert out.is_file() and res.stdout == ""
    res = _run(path, "-o", out, "--no-foot-lock", "--smooth", "none")
    assert res.exit_code == 0 and res.stdout.strip().splitlines() == [f"wrote clean motion: {out} "
                                                                       f"({read_bvh(path).num_frames} frames)"]


def test_cli_on_a_bvh_without_legs_says_which_steps_it_skipped_and_writes_the_rest(tmp_path):
    src, out = tmp_path / "arms.bvh", tmp_path / "out.bvh"
    _no_legs(src)
    res = _run(src, "-o", out)
    assert res.exit_code == 0, res.output
    assert "no feet" in res.stderr and "skipped" in res.stderr
    assert read_bvh(out).names == read_bvh(src).names and read_bvh(out).num_frames == 30


def _truncated(path: Path) -> None:
    text = CLIPS["cmu"].read_text().splitlines()
    path.write_text("\n".join(text[: len(text) // 2]) + "\n")


def _one_frame(path: Path) -> None:
    m = read_bvh(CLIPS["bandai"])
    write_bvh(path, BvhMotion(m.names, m.parents, m.offsets, m.channels, m.end_sites, m.motion[:1], m.frame_time))


def _all_nan(path: Path) -> None:
    write_arrays(path, {"joints3d_world": np.full((20, 17, 3), np.nan, np.float32), "fps": np.float64(30),
                        "joint_names": np.asarray(H36M17.joint_names)})


@pytest.mark.parametrize("make, suffix, says", [
    (lambda p: p.write_text("hello"), ".txt", "must be a .bvh or a pose2rig .npz"),
    (_truncated, ".bvh", "truncated"),
    (_one_frame, ".bvh", "at least 2 frames"),
    (_all_nan, ".npz", "nothing to clean"),
    (lambda p: p.write_text("HIERARCHY\nnot really"), ".npz", "not a readable .npz"),
])
def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, make, suffix, says):
    src = tmp_path / f"in{suffix}"
    make(src)
    out = tmp_path / f"out{suffix}"
    res = _run(src, "-o", out)
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]
