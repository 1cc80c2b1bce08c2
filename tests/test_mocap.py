"""Tests for pose2rig.io.mocap: BVH mocap -> Human3.6M-17 on every format in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.io.bvh import BvhMotion, read_bvh, write_bvh
from pose2rig.io.mocap import iter_mocap_h36m17, load_bvh_as_h36m17
from pose2rig.skeletons import H36M17
from pose2rig.skeletons.names import find_bone, match_bones, normalize_name

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIPS = {
    "cmu": ("cmu/scaled_131_01.bvh", 120.0),
    "cmu_asf": ("cmu/fairmotion_01_01.bvh", 120.0),
    "iclone": ("cmu_iclone/002_01.bvh", 60.0),
    "bandai": ("bandai1/dataset-1_walk_normal_001.bvh", 30.0),
}
RIGID = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
         "head", "left_elbow", "left_wrist", "right_elbow", "right_wrist"]


@pytest.fixture(scope="module", params=sorted(CLIPS))
def loaded(request):
    name, fps = CLIPS[request.param]
    return request.param, load_bvh_as_h36m17(MOCAP / name), fps, read_bvh(MOCAP / name)


def _length(j: np.ndarray, name: str) -> np.ndarray:
    c = H36M17.index(name)
    return np.linalg.norm(j[:, c] - j[:, H36M17.parents[c]], axis=-1)


def test_sequence_shape_fps_world(loaded):
    _, seq, fps, bvh = loaded
    assert seq.skeleton is H36M17 and seq.space == "world"
    assert seq.joints.shape == (bvh.num_frames, 17, 3)
    assert seq.fps == pytest.approx(fps, rel=1e-4)
    assert np.all(np.isfinite(seq.joints))


def test_rigid_bones_constant_and_human(loaded):
    _, seq, _, _ = loaded
    j = seq.joints.astype(np.float64)
    for name in RIGID:
        length = _length(j, name)
        assert np.ptp(length) < 1e-4 + 1e-3 * length.mean(), name
    # thorax -> head joint spans two neck bones in MotionBuilder and Reallusion rigs
    length = _length(j, "neck")
    assert np.ptp(length) < 0.15 * length.mean()
    for name in ("left_knee", "left_ankle", "right_knee", "right_ankle"):  # thigh, shin
        assert 0.3 < _length(j, name).mean() < 0.6, name
    for name in ("left_elbow", "right_elbow"):  # upper arm
        assert 0.2 < _length(j, name).mean() < 0.4, name


def test_y_up_floor_and_facing_pos_z(loaded):
    _, seq, _, _ = loaded
    j = seq.joints.astype(np.float64)
    i = H36M17.index
    # head above pelvis above ankles in (nearly) every frame of these upright clips
    assert np.mean(j[:, i("head"), 1] > j[:, i("pelvis"), 1]) > 0.95
    assert np.mean(j[:, i("pelvis"), 1] > j[:, i("left_ankle"), 1]) > 0.95
    # ankles near the floor (ankle joints sit 5-15 cm above it)
    assert 0.0 < np.median(j[:, [i("left_ankle"), i("right_ankle")], 1]) < 0.2
    # subject faces +Z at the start: left hip on +X, chest forward of... the hip line along X
    left = j[0, i("left_hip")] - j[0, i("right_hip")]
    assert left[0] > 0 and abs(left[2]) < 1e-5 * np.linalg.norm(left) + 1e-6
    assert np.allclose(j[0, i("pelvis"), [0, 2]], 0.0, atol=1e-5)


def test_head_top_above_nose_and_spine_mid_torso(loaded):
    _, seq, _, _ = loaded
    j = seq.joints.astype(np.float64)
    i = H36M17.index
    assert 0.05 < _length(j, "head").mean() < 0.2
    assert np.allclose(j[:, i("spine")], 0.5 * (j[:, i("pelvis")] + j[:, i("thorax")]), atol=1e-5)
    up = j[:, i("head")] - j[:, i("neck")]
    assert np.median(up[:, 1] / np.linalg.norm(up, axis=-1)) > 0.5


def test_options_keep_file_frame(loaded):
    _, seq, _, bvh = loaded
    name = CLIPS[loaded[0]][0]
    raw = load_bvh_as_h36m17(MOCAP / name, face_forward=False, floor=False)
    # the same motion up to a rigid motion: pairwise distances agree
    a, b = seq.joints[::20].astype(float), raw.joints[::20].astype(float)
    da = np.linalg.norm(a[:, :, None] - a[:, None], axis=-1)
    db = np.linalg.norm(b[:, :, None] - b[:, None], axis=-1)
    assert np.allclose(da, db, atol=1e-5)


def test_missing_bones_named(tmp_path):
    m = read_bvh(MOCAP / "cmu/scaled_131_01.bvh")
    names = tuple("LeftLegBone" if n == "LeftKnee" else n for n in m.names)
    bad = BvhMotion(names, m.parents, m.offsets, m.channels, m.end_sites, m.motion[:5], m.frame_time)
    p = tmp_path / "renamed.bvh"
    write_bvh(p, bad)
    with pytest.raises(Pose2RigError, match=r"left_shin.*LeftLeg.*CC_Base_L_Calf"):
        load_bvh_as_h36m17(p)


def test_iter_mocap(tmp_path):
    src = read_bvh(MOCAP / "bandai1/dataset-1_walk_normal_001.bvh")
    short = BvhMotion(src.names, src.parents, src.offsets, src.channels, src.end_sites,
                      src.motion[:10], src.frame_time)
    write_bvh(tmp_path / "b.bvh", short)
    (tmp_path / "sub").mkdir()
    write_bvh(tmp_path / "sub" / "a.BVH", short)
    (tmp_path / "notes.txt").write_text("not mocap")
    (tmp_path / "z_broken.bvh").write_text("HIERARCHY\nROOT x\n{")
    with pytest.raises(Pose2RigError):
        list(iter_mocap_h36m17(tmp_path))
    with pytest.warns(UserWarning, match="z_broken"):
        got = list(iter_mocap_h36m17(tmp_path, skip_errors=True))
    assert [p.name for p, _ in got] == ["b.bvh", "a.BVH"]
    assert all(s.num_frames == 10 for _, s in got)
    with pytest.raises(Pose2RigError, match="not found"):
        list(iter_mocap_h36m17([tmp_path / "missing.bvh"]))


def test_names_lookup_schemes():
    assert normalize_name("mixamorig:LeftUpLeg") == "leftupleg"
    assert normalize_name("thigh.L") == normalize_name("thigh_l") == "thigh_l"
    cgspeed = ["Hips", "LeftHip", "LeftKnee", "LeftCollar", "LeftShoulder", "LeftElbow"]
    mb = ["Hips", "LeftUpLeg", "LeftLeg", "LeftShoulder", "LeftArm", "LeftForeArm"]
    r = match_bones(cgspeed)
    assert cgspeed[r["left_upper_arm"]] == "LeftShoulder" and cgspeed[r["left_clavicle"]] == "LeftCollar"
    assert cgspeed[r["left_thigh"]] == "LeftHip"
    r = match_bones(mb)
    assert mb[r["left_upper_arm"]] == "LeftArm" and mb[r["left_clavicle"]] == "LeftShoulder"
    for rig, want in [
        (["mixamorig:Hips", "mixamorig:RightUpLeg"], "mixamorig:RightUpLeg"),
        (["pelvis", "thigh_r", "calf_r"], "thigh_r"),
        (["spine", "thigh.R", "shin.R"], "thigh.R"),
        (["CC_Base_Hip", "CC_Base_R_Thigh"], "CC_Base_R_Thigh"),
        (["Hips", "UpperLeg_R"], "UpperLeg_R"),
    ]:
        assert rig[find_bone(rig, "right_thigh")] == want
    assert find_bone(["Hips"], "head") is None
    with pytest.raises(Pose2RigError, match="unknown bone role"):
        find_bone(["Hips"], "tail")


def test_bvh_foot_headings_follow_the_toes_in_the_output_frame():
    """Bandai's Foot->Toes bones give each foot's heading, turned like the h36m17 output; on a
    walk the feet point where the body faces, within a few degrees."""
    from pose2rig.io.bvh import read_bvh
    from pose2rig.io.mocap import bvh_foot_headings, load_bvh_as_h36m17

    f = MOCAP / "bandai1" / "dataset-1_walk_normal_001.bvh"
    seq = load_bvh_as_h36m17(f)
    heads = bvh_foot_headings(read_bvh(f), seq.joints)
    assert set(heads) == {"left_foot", "right_foot"}
    j = seq.joints.astype(np.float64)
    forward = np.cross(j[:, H36M17.index("left_hip")] - j[:, H36M17.index("right_hip")], [0.0, 1.0, 0.0])
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    for h in heads.values():
        assert np.allclose(h[:, 1], 0.0) and np.allclose(np.linalg.norm(h, axis=1), 1.0)
        angle = np.degrees(np.arccos(np.clip(np.sum(h * forward, axis=1), -1, 1)))
        assert np.median(angle) < 20.0


def test_bvh_files_one_rule_recursive_any_case_sorted(tmp_path):
    from pose2rig.io.mocap import bvh_files

    for name in ("b.bvh", "sub/A.BVH", "sub/deeper/c.Bvh", "a_notes.txt", "sub/z.bvh.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "dir.bvh").mkdir()  # a folder named like a file is no file
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.bvh").write_text("x")
    loose = tmp_path / "take.txt"
    loose.write_text("x")
    rel = [p.relative_to(tmp_path).as_posix() for p in bvh_files(tmp_path / "sub")]
    assert rel == ["sub/A.BVH", "sub/deeper/c.Bvh"]
    # several: each in the order given; a folder's files sorted by path; a given file as it is
    got = [p.relative_to(tmp_path).as_posix() for p in bvh_files([other, str(tmp_path), loose])]
    assert got == ["other/o.bvh", "b.bvh", "other/o.bvh", "sub/A.BVH", "sub/deeper/c.Bvh", "take.txt"]
    with pytest.raises(Pose2RigError, match="not found"):
        bvh_files((tmp_path / "missing",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(Pose2RigError, match="no .bvh files in"):
        bvh_files(tmp_path / "empty")
