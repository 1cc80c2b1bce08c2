"""Tests for pose2rig.retarget.solve: H36M-17 joints -> BVH rotations -> FK gives them back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import euler_to_matrix
from pose2rig.io.bvh import read_bvh, write_bvh
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.retarget import solve_bvh
from pose2rig.skeletons import COCO17, H36M17
from pose2rig.types import PoseSequence

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
BRANCH = {"right_hip", "left_hip", "spine", "neck", "left_shoulder", "right_shoulder"}


def _seq(joints: np.ndarray, fps: float = 30.0) -> PoseSequence:
    return PoseSequence(joints=joints, skeleton=H36M17, fps=fps, timestamps=np.arange(len(joints)) / fps)


def _t_pose() -> np.ndarray:
    """A T-pose facing +Z (left on +X), pelvis at 1 m, in H36M order."""
    p = {
        "pelvis": (0, 1.0, 0), "right_hip": (-0.13, 1.0, 0), "right_knee": (-0.13, 0.55, 0),
        "right_ankle": (-0.13, 0.1, 0), "left_hip": (0.13, 1.0, 0), "left_knee": (0.13, 0.55, 0),
        "left_ankle": (0.13, 0.1, 0), "spine": (0, 1.25, 0), "thorax": (0, 1.5, 0),
        "neck": (0, 1.6, 0), "head": (0, 1.72, 0), "left_shoulder": (0.18, 1.5, 0),
        "left_elbow": (0.46, 1.5, 0), "left_wrist": (0.72, 1.5, 0),
        "right_shoulder": (-0.18, 1.5, 0), "right_elbow": (-0.46, 1.5, 0),
        "right_wrist": (-0.72, 1.5, 0),
    }
    return np.array([p[n] for n in H36M17.joint_names], dtype=np.float64)


def _angles(seq: PoseSequence, units: str = "cm") -> dict[str, np.ndarray]:
    """Per-bone angle (degrees, (T,)) between the input and the FK of the solved BVH."""
    motion = solve_bvh(seq, units=units)
    pos, _ = motion.forward_kinematics(scale=0.01 if units == "cm" else 1.0)
    j = seq.joints.astype(np.float64)
    out = {}
    for p, c in H36M17.bones:
        a, b = j[:, c] - j[:, p], pos[:, c] - pos[:, p]
        cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        out[H36M17.joint_names[c]] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return out


@pytest.fixture(scope="module", params=["cmu/scaled_131_01.bvh", "bandai1/dataset-1_walk_normal_001.bvh",
                                        "cmu_iclone/002_01.bvh"])
def real(request):
    return load_bvh_as_h36m17(MOCAP / request.param)


def test_round_trip_directions_on_real_clips(real):
    ang = _angles(real)
    for name, a in ang.items():
        if name in BRANCH:
            assert a.mean() < 5.0, (name, a.mean(), a.max())
        else:  # the joint's only child: exact up to float error
            assert a.max() < 0.5, (name, a.max())


def test_bone_lengths_constant_and_median(real):
    motion = solve_bvh(real, units="m")
    pos, _ = motion.forward_kinematics()
    j = real.joints.astype(np.float64)
    for p, c in H36M17.bones:
        fk = np.linalg.norm(pos[:, c] - pos[:, p], axis=-1)
        assert np.ptp(fk) < 1e-9
        assert fk[0] == pytest.approx(np.median(np.linalg.norm(j[:, c] - j[:, p], axis=-1)), rel=1e-6)
    # root follows the pelvis exactly
    assert np.allclose(pos[:, 0], j[:, 0], atol=1e-6)


def test_channels_units_and_frame_time(real):
    cm, m = solve_bvh(real), solve_bvh(real, units="m")
    assert cm.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert all(ch == ("Zrotation", "Xrotation", "Yrotation") for ch in cm.channels[1:])
    assert cm.names == H36M17.joint_names and cm.parents == H36M17.parents
    assert np.allclose(cm.offsets, 100 * m.offsets)
    assert np.allclose(cm.motion[:, :3], 100 * m.motion[:, :3])
    assert np.allclose(cm.motion[:, 3:], m.motion[:, 3:])
    assert cm.frame_time == pytest.approx(1 / real.fps)
    # head end site keeps the head joint a joint (its position comes from the neck's rotation)
    assert H36M17.index("head") in cm.end_sites


def test_convention_t_pose_facing_pos_z_gives_zero_rotations():
    motion = solve_bvh(_seq(_t_pose()[None].repeat(3, 0)))
    rot = motion.motion[:, 3:]
    assert np.abs(rot).max() < 1e-6
    assert np.allclose(motion.motion[0, :3], [0, 100, 0])
    # the rest pose is that T-pose: legs down -Y, arms out +-X, spine up +Y
    idx = H36M17.index
    assert motion.offsets[idx("left_knee")] == pytest.approx([0, -45, 0])
    assert motion.offsets[idx("left_elbow")] == pytest.approx([28, 0, 0])
    assert motion.offsets[idx("right_elbow")] == pytest.approx([-28, 0, 0])
    assert motion.offsets[idx("thorax")] == pytest.approx([0, 25, 0])


def test_convention_turned_subject_rotates_root_about_y_only():
    turn = euler_to_matrix(np.array([0.0, 0.0, 90.0]), "ZXY", degrees=True)  # +90 about Y
    j = _t_pose() @ turn.T
    motion = solve_bvh(_seq(j[None]))
    assert motion.motion[0, 3:6] == pytest.approx([0, 0, 90], abs=1e-6)
    assert np.abs(motion.motion[0, 6:]).max() < 1e-6


def test_knee_bends_about_local_x_and_elbow_about_y():
    j = _t_pose()[None].repeat(20, 0)
    idx = H36M17.index
    bend = np.radians(np.linspace(0, 100, 20))
    # left shin swings backwards (-Z), left forearm forwards (+Z)
    j[:, idx("left_ankle")] = j[:, idx("left_knee")] + 0.45 * np.stack(
        [0 * bend, -np.cos(bend), -np.sin(bend)], -1)
    j[:, idx("left_wrist")] = j[:, idx("left_elbow")] + 0.26 * np.stack(
        [np.cos(bend), 0 * bend, np.sin(bend)], -1)
    motion = solve_bvh(_seq(j))
    cols = motion.channel_columns()
    knee = motion.motion[:, cols[idx("left_knee")]]  # Z, X, Y
    elbow = motion.motion[:, cols[idx("left_elbow")]]
    assert np.allclose(knee[:, [0, 2]], 0, atol=1e-6) and knee[-1, 1] == pytest.approx(100)
    assert np.allclose(elbow[:, [0, 1]], 0, atol=1e-6) and elbow[-1, 2] == pytest.approx(-100)
    # and the limb roots do not spin
    assert np.abs(motion.motion[:, cols[idx("left_hip")]]).max() < 1e-6


def test_euler_unwrapped_over_turns():
    frames = 181
    yaw = np.radians(np.linspace(0, 1080, frames))  # three full turns
    turns = euler_to_matrix(np.stack([0 * yaw, 0 * yaw, yaw], -1), "ZXY")
    j = np.einsum("tab,jb->tja", turns, _t_pose() - [0, 1, 0]) + [0, 1, 0]
    motion = solve_bvh(_seq(j))
    root_y = motion.motion[:, 5]
    assert np.abs(np.diff(motion.motion[:, 3:], axis=0)).max() < 10
    assert root_y[-1] - root_y[0] == pytest.approx(1080, abs=1e-6)


def test_solved_bvh_round_trips_through_file(tmp_path, real):
    motion = solve_bvh(real)
    write_bvh(tmp_path / "s.bvh", motion)
    back = read_bvh(tmp_path / "s.bvh")
    assert np.array_equal(back.motion, motion.motion) and np.array_equal(back.offsets, motion.offsets)


def test_bad_input_raises():
    j = _t_pose()[None].repeat(4, 0)
    j[2, 5] = np.nan
    with pytest.raises(Pose2RigError, match="finite.*first 2"):
        solve_bvh(_seq(j))
    with pytest.raises(Pose2RigError, match="h36m17"):
        solve_bvh(PoseSequence(np.zeros((1, 17, 3)), COCO17, 30.0, np.zeros(1)))
    with pytest.raises(Pose2RigError, match="world"):
        solve_bvh(_seq(_t_pose()[None]).replace(space="camera"))
    with pytest.raises(Pose2RigError, match="units"):
        solve_bvh(_seq(_t_pose()[None]), units="inch")
    j = _t_pose()[None].copy()
    j[0, H36M17.index("left_knee")] = j[0, H36M17.index("left_hip")]
    with pytest.raises(Pose2RigError, match="zero length.*left_knee"):
        solve_bvh(_seq(j))


_BLENDER_SCRIPT = r"""
import json, sys
import bpy
from mathutils import Matrix
from bpy_extras.io_utils import axis_conversion

src, dst = sys.argv[1], sys.argv[2]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.frame_end = 1  # the importer only ever extends the scene
bpy.ops.import_anim.bvh(filepath=src, global_scale=1.0, update_scene_fps=True,
                        update_scene_duration=True, axis_forward="-Z", axis_up="Y")
scene = bpy.context.scene
arm = next(o for o in scene.objects if o.type == "ARMATURE")
to_bvh = axis_conversion(from_forward="-Z", from_up="Y").to_4x4().inverted()
first, last = arm.animation_data.action.frame_range  # keyed frames, first to last
frames = list(range(int(round(first)), int(round(last)) + 1))
heads = []
for f in frames:
    scene.frame_set(f)
    heads.append({b.name: list(to_bvh @ arm.matrix_world @ b.head) for b in arm.pose.bones})
json.dump({"fps": scene.render.fps / scene.render.fps_base, "frames": len(frames), "heads": heads},
          open(dst, "w"))
"""


def _blender_heads(path: Path, tmp_path: Path) -> dict:
    script = tmp_path / "blender_check.py"
    script.write_text(_BLENDER_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    out = tmp_path / "heads.json"
    run = subprocess.run([sys.executable, str(script), str(path), str(out)], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_blender_imports_solved_bvh_and_agrees(tmp_path):
    """Blender's own BVH importer (an outside reader) gets the same joints as our FK."""
    seq = load_bvh_as_h36m17(MOCAP / "cmu/scaled_131_01.bvh")
    seq = seq.replace(joints=seq.joints[:30], timestamps=seq.timestamps[:30], confidence=None)
    motion = solve_bvh(seq, units="m")
    path = tmp_path / "solved.bvh"
    write_bvh(path, motion)
    got = _blender_heads(path, tmp_path)
    assert got["frames"] == 30
    assert got["fps"] == pytest.approx(seq.fps, rel=1e-6)  # 1 / 0.008333 s, as in the file
    pos, _ = read_bvh(path).forward_kinematics()
    blender = np.array([[h[n] for n in H36M17.joint_names] for h in got["heads"]])
    err = np.linalg.norm(blender - pos, axis=-1)
    print(f"Blender vs pose2rig FK: max {err.max() * 1000:.2e} mm, mean {err.mean() * 1000:.2e} mm")
    assert err.max() < 1e-3, err.max()
    # and those joints are the input's, up to the branch bones' small direction changes
    assert np.median(np.linalg.norm(blender - seq.joints, axis=-1)) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["bandai1/dataset-1_walk_normal_001.bvh", "cmu/scaled_131_01.bvh"])
def test_blender_agrees_with_reader_fk_on_real_files(tmp_path, clip):
    """Position channels on every joint (Bandai) and mixed ZYX/ZXY orders (CMU): same FK."""
    src = read_bvh(MOCAP / clip)
    short = type(src)(src.names, src.parents, src.offsets, src.channels, src.end_sites,
                      src.motion[:10], src.frame_time)
    path = tmp_path / "short.bvh"
    write_bvh(path, short)
    got = _blender_heads(path, tmp_path)
    assert got["frames"] == 10
    pos, _ = short.forward_kinematics()
    blender = np.array([[h[n] for n in short.names] for h in got["heads"]])
    scale = 0.01 if "bandai" in clip else 1.0
    assert np.linalg.norm(blender - pos, axis=-1).max() * scale < 1e-3
