"""bench/compare_outputs.py: identical outputs pass, 0.2 mm / 0.05 degree changes fail, units count."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _bench_module import bench_module

from pose2rig.geometry import euler_to_matrix, matrix_to_quat, quat_to_matrix
from pose2rig.io.bvh import BvhMotion, write_bvh
from pose2rig.io.gltf import write_glb
from pose2rig.io.npz import save_keypoints, save_pose
from pose2rig.retarget.solve import solve_bvh
from pose2rig.rig import RigAnimation
from pose2rig.skeletons import H36M17
from pose2rig.testing import tpose_rig, tpose_sequence
from pose2rig.types import Camera, Keypoints2D, PoseSequence

REPO = Path(__file__).resolve().parents[1]
BOUNDS_MM, BOUNDS_DEG = 0.1, 0.01


@pytest.fixture(scope="module")
def cmp():
    return bench_module("compare_outputs")


def _bvh(units: str) -> BvhMotion:
    """A moving Human3.6M-17 BVH: the T-pose solved, then every rotation channel moved (±30 deg)."""
    m = solve_bvh(tpose_sequence(frames=6), units=units)
    motion = m.motion.copy()
    rot = [col for ch, cols in zip(m.channels, m.channel_columns()) for c, col in zip(ch, cols) if "rotation" in c]
    motion[:, rot] += np.random.default_rng(0).uniform(-30, 30, size=(len(motion), len(rot)))
    return dataclasses.replace(m, motion=motion)


def _column(m: BvhMotion, joint: str, channel: str) -> int:
    j = m.index(joint)
    return int(m.channel_columns()[j][m.channels[j].index(channel)])


def _changed(m: BvhMotion, frame: int, col: int, delta: float) -> BvhMotion:
    motion = m.motion.copy()
    motion[frame, col] += delta
    return dataclasses.replace(m, motion=motion)


def _compare_bvh(cmp, tmp_path: Path, old: BvhMotion, new: BvhMotion):
    write_bvh(tmp_path / "old.bvh", old)
    write_bvh(tmp_path / "new.bvh", new)
    return cmp.compare_bvh(tmp_path / "old.bvh", tmp_path / "new.bvh")


def test_rotation_angle_is_accurate_for_tiny_angles(cmp):
    a = euler_to_matrix(np.array([[10.0, -20.0, 30.0]]), "ZXY", degrees=True)
    for deg in (1e-5, 0.01, 0.05, 90.0, 179.0):
        b = a @ euler_to_matrix(np.array([[0.0, deg, 0.0]]), "ZXY", degrees=True)
        assert cmp.rotation_angle_deg(a, b)[0] == pytest.approx(deg, rel=1e-6)


def test_identical_bvh_passes_with_zeros(cmp, tmp_path):
    m = _bvh("cm")
    c = _compare_bvh(cmp, tmp_path, m, m)
    assert c.frames == (6, 6) and c.mm == 0.0 and c.deg == 0.0
    assert c.result(cmp.Bounds()) == "PASS"


def test_bvh_rotation_channel_off_by_005_degrees_fails(cmp, tmp_path):
    m = _bvh("cm")
    c = _compare_bvh(cmp, tmp_path, m, _changed(m, 3, _column(m, "left_elbow", "Xrotation"), 0.05))
    assert c.deg == pytest.approx(0.05, abs=1e-6)
    assert c.result(cmp.Bounds()) == "FAIL"
    assert any(f.startswith("deg ") for f in c.failures(cmp.Bounds()))


@pytest.mark.parametrize(("units", "delta"), [("cm", 0.02), ("m", 0.0002)])
def test_bvh_root_moved_02_mm_fails_in_either_unit(cmp, tmp_path, units, delta):
    m = _bvh(units)
    c = _compare_bvh(cmp, tmp_path, m, _changed(m, 2, _column(m, "pelvis", "Xposition"), delta))
    assert c.mm == pytest.approx(0.2, abs=1e-6)
    assert c.deg == 0.0
    assert c.failures(cmp.Bounds()) == ["mm 0.2 > 0.1"]


def test_bvh_in_other_units_fails_though_positions_agree(cmp, tmp_path):
    c = _compare_bvh(cmp, tmp_path, _bvh("cm"), _bvh("m"))
    assert any("units differ" in p for p in c.problems)
    assert c.mm < 1e-6 and c.deg < 1e-9  # each file scaled to metres by its own unit
    assert c.result(cmp.Bounds()) == "FAIL"


def test_bvh_frame_count_and_frame_time_must_match(cmp, tmp_path):
    m = _bvh("cm")
    fewer = dataclasses.replace(m, motion=m.motion[:5])
    assert "frame counts differ (6 vs 5)" in _compare_bvh(cmp, tmp_path, m, fewer).problems
    slower = dataclasses.replace(m, frame_time=1 / 25)
    assert any("frame time" in p for p in _compare_bvh(cmp, tmp_path, m, slower).problems)


def _pose_file(path: Path, *, world_shift: tuple[int, int, float] | None = None,
               missing: tuple[int, int] | None = None) -> Path:
    frames = 4
    world = tpose_sequence(frames=frames)
    joints = world.joints.copy()
    confidence = world.confidence.copy()
    if world_shift is not None:
        t, j, dx = world_shift
        joints[t, j, 0] += dx
    if missing is not None:
        joints[missing] = np.nan
        confidence[missing] = 0.0
    world = dataclasses.replace(world, joints=joints, confidence=confidence)
    camera_joints = world.joints * np.array([1.0, -1.0, 1.0], np.float32) + np.array([0, 1, 4], np.float32)
    camera = PoseSequence(
        joints=camera_joints, skeleton=H36M17, fps=30.0, timestamps=np.arange(frames) / 30.0, space="camera",
        confidence=world.confidence, camera=Camera.from_fov((640, 480), 60.0),
    )
    save_pose(path, camera, world_pose=world)
    return path


def test_identical_pose_npz_passes_with_zeros(cmp, tmp_path):
    c = cmp.compare_npz(_pose_file(tmp_path / "a.npz"), _pose_file(tmp_path / "b.npz"))
    assert c.frames == (4, 4) and c.mm == 0.0 and c.px == 0.0 and c.other == 0.0
    assert c.result(cmp.Bounds()) == "PASS"


def test_pose_npz_joint_moved_02_mm_fails(cmp, tmp_path):
    old = _pose_file(tmp_path / "a.npz")
    new = _pose_file(tmp_path / "b.npz", world_shift=(2, 15, 0.0002))
    c = cmp.compare_npz(old, new)
    assert c.mm == pytest.approx(0.2, abs=1e-3)  # float32 metres near 1 m: 1e-4 mm steps
    assert c.failures(cmp.Bounds()) == [f"mm {c.mm:.4g} > 0.1"]


def test_pose_npz_nan_pattern_must_match(cmp, tmp_path):
    c = cmp.compare_npz(_pose_file(tmp_path / "a.npz"), _pose_file(tmp_path / "b.npz", missing=(1, 4)))
    assert any(p.startswith("joints3d_world: NaN pattern differs") for p in c.problems)
    assert c.result(cmp.Bounds()) == "FAIL"


def test_npz_keys_shapes_and_non_float_arrays_must_match(cmp):
    old = {"joint_names": np.array(["a", "b"]), "image_size": np.array([640, 480]), "fps": np.float64(30)}
    same = cmp.compare_npz_arrays(old, dict(old), cmp.Comparison("x", "npz"))
    assert same.result(cmp.Bounds()) == "PASS"
    new = {"joint_names": np.array(["a", "c"]), "image_size": np.array([640, 480, 1])}
    c = cmp.compare_npz_arrays(old, new, cmp.Comparison("x", "npz"))
    assert c.problems == ["fps: only in old", "image_size: shape (2,) vs (3,)", "joint_names: values differ"]
    skipped = cmp.compare_npz_arrays(old, {**old, "fps": np.float64(25)}, cmp.Comparison("x", "npz"),
                                     skip_keys=("fps",))
    assert skipped.result(cmp.Bounds()) == "PASS" and skipped.notes == ["fps not compared"]


def _keypoints_file(path: Path, dx: float = 0.0) -> Path:
    kp = np.tile(np.linspace(10, 400, 34, dtype=np.float32).reshape(1, 17, 2), (3, 1, 1))
    kp[1, 5, 0] += dx
    save_keypoints(path, Keypoints2D(kp, np.ones((3, 17), np.float32), H36M17, (640, 480), 30.0,
                                     np.arange(3) / 30.0))
    return path


def test_keypoints_are_compared_in_pixels(cmp, tmp_path):
    same = cmp.compare_npz(_keypoints_file(tmp_path / "a.npz"), _keypoints_file(tmp_path / "b.npz"))
    assert same.px == 0.0 and same.mm is None and same.result(cmp.Bounds()) == "PASS"
    moved = cmp.compare_npz(_keypoints_file(tmp_path / "a.npz"), _keypoints_file(tmp_path / "c.npz", 0.05))
    assert moved.px == pytest.approx(0.05, abs=1e-4) and moved.mm is None
    assert moved.result(cmp.Bounds()) == "FAIL"


def _animation(*, bone: str | None = None, deg: float = 0.0) -> RigAnimation:
    rig = tpose_rig()
    q = np.zeros((3, rig.num_bones, 4))
    q[..., 0] = 1.0
    if bone is not None:
        j = rig.index(bone)
        q[1, j] = matrix_to_quat(quat_to_matrix(q[1, j]) @ euler_to_matrix(np.array([deg, 0, 0]), "XYZ", degrees=True))
    return RigAnimation(rig, q, np.repeat(rig.heads[[0]][None], 3, axis=0), 30.0)


def test_rig_animations_compare_world_matrices(cmp):
    same = cmp.compare_animations(_animation(), _animation(), cmp.Comparison("x", "fbx"))
    assert same.mm == 0.0 and same.deg == 0.0 and same.other == 0.0
    assert same.result(cmp.Bounds()) == "PASS"
    turned = cmp.compare_animations(_animation(), _animation(bone="upperarm_l", deg=0.05), cmp.Comparison("x", "fbx"))
    assert turned.deg == pytest.approx(0.05, abs=1e-6)
    # the fingers, about 0.63 m from the shoulder, move by at most that distance times 0.05 deg
    rig = tpose_rig()
    arm = [rig.index(b) for b in ("upperarm_l", "lowerarm_l", "hand_l", "index_01_l", "pinky_01_l")]
    reach = np.linalg.norm(rig.heads[arm] - rig.heads[arm[0]], axis=-1).max()
    assert 0.5 < turned.mm <= 1000 * reach * np.radians(0.05) + 1e-9
    assert turned.result(cmp.Bounds()) == "FAIL"


def test_rig_meshes_must_agree(cmp):
    a = _animation()
    mesh = a.rig.mesh
    moved = dataclasses.replace(mesh, vertices=mesh.vertices + np.array([0.0, 0.0002, 0.0], np.float32))
    c = cmp.compare_animations(a, dataclasses.replace(a, rig=a.rig.with_mesh(moved)), cmp.Comparison("x", "fbx"))
    assert c.mm == pytest.approx(0.2, abs=1e-3) and c.result(cmp.Bounds()) == "FAIL"
    bare = cmp.compare_animations(a, dataclasses.replace(a, rig=a.rig.with_mesh(None)), cmp.Comparison("x", "fbx"))
    assert bare.problems == ["mesh only in old"]


def test_glb_round_trip(cmp, tmp_path):
    write_glb(_animation(), tmp_path / "a.glb")
    write_glb(_animation(), tmp_path / "b.glb")
    write_glb(_animation(bone="calf_r", deg=0.05), tmp_path / "c.glb")
    assert cmp.compare_glb(tmp_path / "a.glb", tmp_path / "b.glb").result(cmp.Bounds()) == "PASS"
    c = cmp.compare_glb(tmp_path / "a.glb", tmp_path / "c.glb")
    assert c.deg == pytest.approx(0.05, abs=1e-4) and c.result(cmp.Bounds()) == "FAIL"


def test_folders_missing_files_fail_and_videos_are_skipped(cmp, tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    write_bvh(old / "clip.bvh", _bvh("cm"))
    _pose_file(old / "clip.npz")
    (old / "clip_preview.mp4").write_bytes(b"not a video")
    shutil.copytree(old, new)
    report = tmp_path / "report.json"
    assert cmp.main([str(old), str(new), "--json", str(report)]) == 0
    rows = {r["file"]: r for r in json.loads(report.read_text())["files"]}
    assert {f: r["result"] for f, r in rows.items()} == {
        "clip.bvh": "PASS", "clip.npz": "PASS", "clip_preview.mp4": "SKIP"}
    assert rows["clip.bvh"]["mm"] == 0.0 and rows["clip.bvh"]["frames_new"] == 6

    (new / "clip.npz").unlink()
    (new / "extra.bvh").write_bytes((old / "clip.bvh").read_bytes())
    assert cmp.main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "missing from NEW_DIR" in out and "only in NEW_DIR" in out
    assert cmp.main([str(old), str(new), "--mm", "0.1", "--deg", "0.01"]) == 1


def test_unreadable_file_fails_with_the_readers_message(cmp, tmp_path):
    (tmp_path / "a.bvh").write_text("not a bvh\n")
    c = cmp.compare_file(tmp_path / "a.bvh", tmp_path / "a.bvh", "a.bvh")
    assert c.result(cmp.Bounds()) == "FAIL" and "expected a BVH file" in c.problems[0]
