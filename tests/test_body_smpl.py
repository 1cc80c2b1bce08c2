"""The SMPL loader (pose2rig/body/smpl_file.py) and the SMPL backend (pose2rig/body/smpl.py), on
pose2rig.testing's synthetic SMPL-format model: never a real SMPL file."""

from __future__ import annotations

import pickle
import pickletools
import sys

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from pose2rig.body.smpl import SmplBody, load_smpl_body
from pose2rig.body.smpl_file import SMPL_JOINT_NAMES, SMPL_PARENTS, read_smpl_model
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.testing import (
    SYNTHETIC_SMPL_HEIGHT,
    SYNTHETIC_SMPL_JOINTS,
    malicious_pickle,
    synthetic_smpl_arrays,
    write_synthetic_smpl,
)

URL = "https://smpl.is.tue.mpg.de"
REST = torch.as_tensor(SYNTHETIC_SMPL_JOINTS, dtype=torch.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("smpl")
    return {"npz": write_synthetic_smpl(d / "model.npz"), "pkl": write_synthetic_smpl(d / "model.pkl", kind="pkl")}


@pytest.fixture(scope="module")
def body(files):
    return SmplBody(read_smpl_model(files["npz"]))


def zeros(b=1, s=10):
    return torch.zeros(b, 24, 3), torch.zeros(1, s), torch.zeros(b, 3)


# --- the loader -----------------------------------------------------------------------------

def test_synthetic_model_is_smpl_shaped_and_closed():
    a = synthetic_smpl_arrays()
    assert a["v_template"].shape == (6890, 3)
    assert a["shapedirs"].shape == (6890, 3, 10) and a["posedirs"].shape == (6890, 3, 207)
    assert np.array_equal(a["kintree_table"][0, 1:], SMPL_PARENTS[1:])
    mesh = trimesh.Trimesh(a["v_template"], a["f"], process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0.04
    np.testing.assert_allclose(a["J_regressor"] @ a["v_template"], SYNTHETIC_SMPL_JOINTS, atol=1e-12)
    np.testing.assert_allclose(a["weights"].sum(axis=1), 1.0, atol=1e-12)
    assert a["v_template"][:, 1].max() == pytest.approx(SYNTHETIC_SMPL_HEIGHT)
    assert a["v_template"][:, 1].min() == pytest.approx(0.0, abs=1e-3)


def test_npz_and_official_pkl_read_identically(files):
    a, b = read_smpl_model(files["npz"]), read_smpl_model(files["pkl"])
    x, y = a.arrays(), b.arrays()
    assert sorted(x) == sorted(y)
    for k in x:
        assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]), k
    src = synthetic_smpl_arrays()
    np.testing.assert_array_equal(b.J_regressor, src["J_regressor"])  # the sparse regressor, dense
    np.testing.assert_array_equal(b.shapedirs, src["shapedirs"])  # the chumpy array's value
    assert a.kind == b.kind == "smpl" and a.vertex_ids == b.vertex_ids and b.vertex_ids["nose"] >= 0
    np.testing.assert_array_equal(b.parents, SMPL_PARENTS)


def test_official_layout_pickle_needs_latin1_and_chumpy(files):
    data = files["pkl"].read_bytes()
    assert data[:2] == b"\x80\x02"  # protocol 2
    names = {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert names == {"chumpy.ch Ch", "scipy.sparse.csc csc_matrix", "__builtin__ set", "numpy ndarray",
                     "numpy dtype", "numpy.core.multiarray _reconstruct"}
    with pytest.raises(UnicodeDecodeError):  # Python 2 byte strings: only latin1 reads them
        pickle.loads(data)
    with pytest.raises(ModuleNotFoundError, match="chumpy"):  # what users hit with plain pickle
        pickle.loads(data, encoding="latin1")


def test_folder_layout_by_gender(files, tmp_path):
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_MALE.pkl").write_bytes(files["pkl"].read_bytes())
    (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(files["npz"].read_bytes())
    assert read_smpl_model(tmp_path, gender="male").source.endswith("SMPL_MALE.pkl")
    assert read_smpl_model(tmp_path).source.endswith("SMPL_NEUTRAL.npz")
    with pytest.raises(Pose2RigError, match="SMPL_FEMALE") as e:
        read_smpl_model(tmp_path, gender="female")
    assert URL in str(e.value)
    with pytest.raises(ArgumentError, match="gender must be one of"):
        read_smpl_model(tmp_path, gender="other")


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    live = tmp_path / "live"
    pickle.loads(malicious_pickle(tmp_path / "probe.pkl", live).read_bytes())
    assert live.exists()  # the payload does run under plain pickle

    marker = tmp_path / "pwned"
    path = malicious_pickle(tmp_path / "SMPL_NEUTRAL.pkl", marker)
    with pytest.raises(Pose2RigError, match=r"refusing to unpickle global (builtins|io)\.open"):
        read_smpl_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("what", ["text", "npz_missing", "no_file", "pickled_list"])
def test_wrong_file_says_where_to_obtain_smpl(tmp_path, files, what):
    p = tmp_path / "SMPL_NEUTRAL.pkl"
    if what == "text":
        p.write_text("this is not a model\n")
    elif what == "npz_missing":
        p = tmp_path / "model.npz"
        a = synthetic_smpl_arrays()
        np.savez(p, v_template=a["v_template"], f=a["f"])
    elif what == "pickled_list":
        p.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    else:
        p = tmp_path / "nothing_here.pkl"
    with pytest.raises(Pose2RigError) as e:
        read_smpl_model(p)
    msg = str(e.value)
    assert URL in msg and "\n" not in msg
    if what == "npz_missing":
        assert "missing shapedirs, posedirs, J_regressor, weights, kintree_table" in msg


# --- the body model ---------------------------------------------------------------------------

def test_zero_pose_gives_the_rest_joints(body):
    pose, shape, _ = zeros(2)
    t = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    for vertices in (True, False):
        out = body(pose, shape, t, vertices=vertices)
        torch.testing.assert_close(out.joints, REST[None] + t[:, None], atol=2e-6, rtol=0)
        torch.testing.assert_close(out.rotations, torch.eye(3).expand(2, 24, 3, 3))
    assert out.vertices is None
    assert body.joint_names == SMPL_JOINT_NAMES and body.num_joints == 24 and body.kind == "smpl"


def test_left_knee_90_degrees_moves_its_children_as_hand_computed(body):
    pose, shape, t = zeros()
    knee, ankle, foot = (SMPL_JOINT_NAMES.index(n) for n in ("left_knee", "left_ankle", "left_foot"))
    pose[0, knee] = torch.tensor([np.pi / 2, 0.0, 0.0])  # 90 degrees about +X: the shin swings back
    out = body(pose, shape, t)
    # Rx(90): (x, y, z) -> (x, -z, y). Rest knee (0.10, 0.48, 0), ankle (0.10, 0.08, 0),
    # foot (0.10, 0.035, 0.10): ankle - knee = (0, -0.40, 0) -> (0, 0, -0.40);
    # foot - knee = (0, -0.445, 0.10) -> (0, -0.10, -0.445).
    expected = REST.clone()
    expected[ankle] = torch.tensor([0.10, 0.48, -0.40])
    expected[foot] = torch.tensor([0.10, 0.38, -0.445])
    torch.testing.assert_close(out.joints[0], expected, atol=1e-5, rtol=0)
    # the shin's vertices turned with it: the heel vertex went behind and up
    heel = out.vertices[0, body.point_vertices["left_heel"][0]]
    assert heel[2] < -0.40 and heel[1] > 0.40


def test_global_orientation_turns_the_body_about_the_root(body):
    pose, shape, t = zeros()
    pose[0, 0] = torch.tensor([0.0, np.pi / 2, 0.0])  # 90 degrees about +Y: +X goes to -Z
    out = body(pose, shape, t)
    # left hip (0.09, 0.85, 0), pelvis (0, 0.93, 0): offset (0.09, -0.08, 0) -> (0, -0.08, -0.09)
    torch.testing.assert_close(out.joints[0, 1], torch.tensor([0.0, 0.85, -0.09]), atol=1e-5, rtol=0)


def test_world_rotations_compose_the_locals(body):
    rng = np.random.default_rng(3)
    pose = torch.as_tensor(rng.normal(0.0, 0.4, (3, 24, 3)), dtype=torch.float32)
    shape = torch.as_tensor(rng.normal(0.0, 1.0, (1, 10)), dtype=torch.float32)
    out = body(pose, shape, torch.zeros(3, 3), vertices=False)
    local = Rotation.from_rotvec(pose.reshape(-1, 3).numpy().astype(np.float64)).as_matrix().reshape(3, 24, 3, 3)
    world = np.zeros_like(local)
    for i, p in enumerate(SMPL_PARENTS):
        world[:, i] = local[:, i] if p < 0 else world[:, p] @ local[:, i]
    np.testing.assert_allclose(out.rotations.numpy(), world, atol=2e-5)
    # and they carry the bones: each posed bone is its parent's world rotation of the rest bone
    rest = body(torch.zeros(1, 24, 3), shape, torch.zeros(1, 3), vertices=False).joints[0].numpy()
    j = out.joints.numpy()
    for c in range(1, 24):
        p = SMPL_PARENTS[c]
        np.testing.assert_allclose(j[:, c] - j[:, p], world[:, p] @ (rest[c] - rest[p]), atol=2e-5)


def test_joints_only_forward_matches_the_skinned_one(body):
    rng = np.random.default_rng(4)
    pose = torch.as_tensor(rng.normal(0.0, 0.5, (2, 24, 3)), dtype=torch.float32)
    shape = torch.as_tensor(rng.normal(0.0, 1.0, (2, 10)), dtype=torch.float32)
    t = torch.as_tensor(rng.normal(0.0, 1.0, (2, 3)), dtype=torch.float32)
    a, b = body(pose, shape, t), body(pose, shape, t, vertices=False)
    torch.testing.assert_close(a.joints, b.joints, atol=2e-6, rtol=0)


def test_h36m17_pelvis_hips_and_thorax(body):
    pose, shape, _ = zeros()
    t = torch.tensor([[0.5, 0.0, -1.0]])
    out = body(pose, shape, t)
    h = body.h36m17(out)[0] - t[0]
    expect = {0: (0.0, 0.85, 0.0), 1: (-0.09, 0.85, 0.0), 4: (0.09, 0.85, 0.0),  # pelvis, hips
              2: (-0.10, 0.48, 0.0), 6: (0.10, 0.08, 0.0),  # right knee, left ankle
              8: (0.0, 1.40, 0.0), 7: (0.0, 1.125, 0.0),  # thorax: mid-shoulders; spine
              11: (0.18, 1.40, 0.0), 16: (-0.70, 1.40, 0.0)}  # left shoulder (not collar), right wrist
    for k, xyz in expect.items():
        torch.testing.assert_close(h[k], torch.tensor(xyz), atol=1e-5, rtol=0)
    v = out.vertices[0] - t[0]
    nose, lear, rear = (body.vertex_ids[n] for n in ("nose", "lear", "rear"))
    torch.testing.assert_close(h[9], v[nose])
    torch.testing.assert_close(h[10], 0.75 * (v[lear] + v[rear]) - 0.5 * torch.tensor([0.0, 1.40, 0.0]),
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(body.h36m_weights.sum(axis=1), 1.0, atol=1e-12)


def test_convention_y_up_facing_pos_z(body):
    out = body(*zeros())
    v, j = out.vertices[0], out.joints[0]
    nose = v[body.vertex_ids["nose"]]
    assert nose[2] > j[15, 2] + 0.05  # the face looks toward +Z
    assert j[15, 1] > j[0, 1] > j[7, 1]  # head above pelvis above ankles: Y up
    assert j[16, 0] > 0 > j[17, 0]  # the subject's left at +X


def test_gradients_flow_to_pose_and_shape(body):
    rng = np.random.default_rng(5)
    pose = torch.as_tensor(rng.normal(0.0, 0.3, (2, 24, 3)), dtype=torch.float32).requires_grad_()
    shape = torch.zeros(1, 10, requires_grad=True)
    out = body(pose, shape, torch.zeros(2, 3))
    (body.h36m17(out).square().sum() + out.vertices.square().mean()).backward()
    assert torch.isfinite(pose.grad).all() and torch.isfinite(shape.grad).all()
    assert pose.grad[:, [0, 1, 4, 16, 18]].abs().min() > 0  # root, hip, knee, shoulder, elbow
    assert (shape.grad.abs() > 0).sum() >= 8


def test_beta0_changes_the_height(body):
    pose, shape, t = zeros()
    heights = []
    for b0 in (0.0, 1.0, -1.0):
        shape[0, 0] = b0
        v = body(pose, shape, t).vertices[0]
        heights.append(float(v[:, 1].max() - v[:, 1].min()))
    assert heights[0] == pytest.approx(SYNTHETIC_SMPL_HEIGHT, abs=1e-4)
    assert heights[1] == pytest.approx(1.05 * SYNTHETIC_SMPL_HEIGHT, abs=1e-4)
    assert heights[2] == pytest.approx(0.95 * SYNTHETIC_SMPL_HEIGHT, abs=1e-4)


def test_beta1_lengthens_the_limbs_only(body):
    pose, _, t = zeros()
    shape = torch.zeros(1, 2)  # fewer betas than the model's: the rest are zero
    shape[0, 1] = 1.0
    j = body(pose, shape, t, vertices=False).joints[0]
    upper_arm = torch.linalg.norm(j[18] - j[16])
    assert float(upper_arm) == pytest.approx(1.1 * 0.27, abs=1e-5)
    assert float(torch.linalg.norm(j[4] - j[1])) == pytest.approx(1.1 * np.hypot(0.01, 0.37), abs=1e-5)
    torch.testing.assert_close(j[:4], REST[:4], atol=1e-6, rtol=0)  # pelvis, hips, spine1 stay


def test_smplx_sees_the_synthetic_model_as_its_own(files):
    import smplx
    from smplx.utils import Struct

    a = read_smpl_model(files["pkl"])
    struct = Struct(**{k: getattr(a, k) for k in ("v_template", "shapedirs", "posedirs", "J_regressor",
                                                  "weights", "kintree_table", "f")})
    m = smplx.SMPL("", data_struct=struct, vertex_ids=a.vertex_ids)
    out = m()
    assert out.joints.shape == (1, 24 + 21, 3)  # SMPL's joints, then smplx's landmark vertices
    torch.testing.assert_close(out.joints[0, :24], REST, atol=2e-6, rtol=0)


def test_bad_arguments_and_missing_extra(body, monkeypatch, files):
    with pytest.raises(ArgumentError, match=r"pose must be \(B, 24, 3\)"):
        body(torch.zeros(1, 23, 3), torch.zeros(1, 10), torch.zeros(1, 3))
    with pytest.raises(ArgumentError, match="shape must be"):
        body(torch.zeros(2, 24, 3), torch.zeros(3, 10), torch.zeros(2, 3))
    monkeypatch.setitem(sys.modules, "smplx", None)
    with pytest.raises(Pose2RigError, match=r"install pose2rig\[smpl\]"):
        load_smpl_body(files["npz"])


def test_rest_is_the_zero_pose_and_vertex_joint_the_heaviest_weight(body):
    beta = torch.zeros(2, 10)
    beta[1, 0], beta[1, 1] = 1.0, -0.5
    idx = np.array([0, 100, 5000, int(body.point_vertices["left_heel"][0])])
    joints, verts = body.rest(beta, idx)
    out = body(torch.zeros(2, 24, 3), beta, torch.zeros(2, 3))
    assert torch.allclose(joints, out.joints, atol=1e-5)
    assert torch.allclose(verts, out.vertices[:, idx], atol=1e-5)
    assert body.vertex_joint.shape == (body.num_vertices,)
    heel = int(body.point_vertices["left_heel"][0])
    assert body.joint_names[body.vertex_joint[heel]] in ("left_ankle", "left_foot")
