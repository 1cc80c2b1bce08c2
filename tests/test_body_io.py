"""The body fit's file (pose2rig/body/io.py): AMASS-style for SMPL (Z up), Anny's parameters (Y
up), pose2rig's joints and bone rotations for both; round trips on exact body-model poses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

import pose2rig.cli  # noqa: F401  # sets OMP_WAIT_POLICY before torch is imported: 4x faster on 2 cores
from pose2rig.body.anny import SHAPE_NAMES, AnnyBody, anny_cache_dir, anny_cache_ready
from pose2rig.body.fit import BodyFit
from pose2rig.body.io import Y_UP_TO_Z_UP, read_body_npz, rest_joints, write_body_npz
from pose2rig.body.smpl import load_smpl_body
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.skeletons import H36M17
from pose2rig.testing import write_synthetic_smpl

T = 4


@pytest.fixture(scope="module")
def smpl(tmp_path_factory):
    return load_smpl_body(write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "model.npz"))


@pytest.fixture(scope="module")
def anny():
    if not anny_cache_ready():
        pytest.fail(f"Anny's body model cache is missing in {anny_cache_dir()}: build it once with "
                    "`python -m pose2rig.body.anny --build-cache` (make does it)")
    return AnnyBody()


def posed_fit(model, pose: np.ndarray, shape: np.ndarray, trans: np.ndarray, fps: float = 25.0) -> BodyFit:
    """A BodyFit that is exactly ``model`` at ``pose``, ``shape``, ``trans`` (error 0)."""
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(shape[None], dtype=torch.float32),
                    torch.as_tensor(trans, dtype=torch.float32))
        h = model.h36m17(out)
    return BodyFit(kind=model.kind, joint_names=tuple(model.joint_names), parents=np.asarray(model.parents),
                   pose=pose.astype(np.float32), shape=shape.astype(np.float32), translation=trans.astype(np.float32),
                   joints=h.numpy(), rotations=out.rotations.numpy(), model_joints=out.joints.numpy(),
                   error=np.zeros(len(pose), np.float32), fps=fps)


def random_fit(model, seed: int = 0) -> BodyFit:
    rng = np.random.default_rng(seed)
    pose = rng.normal(0.0, 0.3, (T, model.num_joints, 3))
    pose[:, 0] = Rotation.random(T, random_state=seed).as_rotvec()  # any global orientation
    shape = rng.normal(0.0, 0.5 if model.kind == "smpl" else 0.15, model.num_shape)
    trans = rng.normal(0.0, 1.0, (T, 3))
    return posed_fit(model, pose, shape, trans)


def _raw_forward(model, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray):
    with torch.no_grad():
        out = model(torch.as_tensor(poses.reshape(len(poses), -1, 3), dtype=torch.float32),
                    torch.as_tensor(betas[None], dtype=torch.float32), torch.as_tensor(trans, dtype=torch.float32))
        return out.joints.numpy().astype(np.float64), model.h36m17(out).numpy().astype(np.float64)


# ----------------------------------------------------------------------------- SMPL: AMASS-style
def test_smpl_file_has_amass_keys_and_round_trips(smpl, tmp_path):
    fit = random_fit(smpl)
    path = write_body_npz(tmp_path / "body.npz", fit, gender="female")
    raw = read_arrays(path)
    assert raw["poses"].shape == (T, 72) and raw["betas"].shape == (10,) and raw["trans"].shape == (T, 3)
    assert str(raw["gender"]) == "female" and float(raw["mocap_framerate"]) == 25.0
    assert str(raw["surface_model_type"]) == "smpl" and str(raw["coordinate_system"]) == "z_up"
    assert raw["bone_rotations"].shape == (T, 24, 3, 3) and raw["joints_h36m17"].shape == (T, 17, 3)
    np.testing.assert_allclose(raw["poses"].reshape(T, 24, 3)[:, 1:], fit.pose[:, 1:], atol=1e-7)  # local: as fitted

    body = read_body_npz(path)
    assert body.kind == "smpl" and body.gender == "female" and body.fps == 25.0 and body.num_frames == T
    assert body.bone_names == fit.joint_names and body.bone_parents == tuple(fit.parents)
    # the global orientation and translation come back in the Y-up world
    np.testing.assert_allclose(Rotation.from_rotvec(body.pose[:, 0]).as_matrix(),
                               Rotation.from_rotvec(fit.pose[:, 0]).as_matrix(), atol=1e-6)
    np.testing.assert_allclose(body.pose[:, 1:], fit.pose[:, 1:], atol=1e-7)
    np.testing.assert_allclose(body.translation, fit.translation, atol=1e-6)
    np.testing.assert_allclose(body.shape, fit.shape, atol=1e-7)
    np.testing.assert_allclose(body.joints, fit.joints, atol=1e-7)
    np.testing.assert_allclose(body.bone_rotations, fit.rotations, atol=1e-7)


def test_rest_joints_from_the_posed_skeleton_are_the_models_rest_for_the_shape(smpl):
    fit = random_fit(smpl, seed=3)
    with torch.no_grad():
        rest, _ = smpl.rest(torch.as_tensor(fit.shape[None]))
    got = rest_joints(fit.rotations, fit.model_joints, fit.translation, fit.parents)
    np.testing.assert_allclose(got, rest[0].numpy(), atol=2e-6)


def test_the_bones_read_back_as_a_rig_animation_with_the_fits_world_rotations(smpl, tmp_path):
    fit = random_fit(smpl, seed=1)
    body = read_body_npz(write_body_npz(tmp_path / "body.npz", fit))
    anim = body.animation()
    assert anim.rig.bone_names == fit.joint_names and anim.num_frames == T and anim.fps == 25.0
    assert anim.locations is None  # bones rotate, only the root moves
    world = anim.world_matrices()
    np.testing.assert_allclose(world[..., :3, :3], fit.rotations, atol=1e-5)
    np.testing.assert_allclose(world[..., :3, 3], fit.model_joints, atol=1e-5)


def test_a_body_file_reads_back_as_an_animation_without_torch(smpl, tmp_path):
    """What retarget needs from a fit comes from the file with numpy only (a fresh interpreter)."""
    path = write_body_npz(tmp_path / "body.npz", random_fit(smpl, seed=5))
    code = ("import sys; from pose2rig.body.io import read_body_npz; "
            f"a = read_body_npz({str(path)!r}).animation(); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(a.num_frames, a.rig.num_bones)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(T), "24"]


def test_convention_amass_file_is_z_up_and_smpl_reads_it_as_the_body_turned(smpl, tmp_path):
    """The file's raw poses/betas/trans in SMPL give the fitted body turned +90 degrees about X:
    the translation accounts for the root joint's rest position (trans_z != A trans_y)."""
    fit = random_fit(smpl, seed=2)
    raw = read_arrays(write_body_npz(tmp_path / "body.npz", fit))
    joints, h36m = _raw_forward(smpl, raw["poses"], raw["betas"], raw["trans"])
    np.testing.assert_allclose(joints, fit.model_joints.astype(np.float64) @ Y_UP_TO_Z_UP.T, atol=1e-5)
    np.testing.assert_allclose(h36m, fit.joints.astype(np.float64) @ Y_UP_TO_Z_UP.T, atol=1e-5)
    assert not np.allclose(raw["trans"], fit.translation @ Y_UP_TO_Z_UP.T, atol=1e-3)


def test_convention_amass_standing_body_has_its_head_at_pos_z_and_faces_neg_y(smpl, tmp_path):
    """A body standing in pose2rig's world (Y up, facing +Z) stands along +Z in the file."""
    pose = np.zeros((1, 24, 3))
    fit = posed_fit(smpl, pose, np.zeros(10), np.zeros((1, 3)))
    raw = read_arrays(write_body_npz(tmp_path / "body.npz", fit))
    _, h = _raw_forward(smpl, raw["poses"], raw["betas"], raw["trans"])
    head, pelvis, nose = (h[0, H36M17.index(n)] for n in ("head", "pelvis", "neck"))
    ankle = h[0, H36M17.index("left_ankle")]
    assert head[2] - ankle[2] > 1.4 and head[2] > pelvis[2] > ankle[2]  # up is +Z
    assert abs(head[1] - ankle[1]) < 0.02  # not along Y
    assert nose[1] < head[1] - 0.05  # the face looks along -Y (pose2rig's +Z)


# ----------------------------------------------------------------------------- Anny
def test_anny_file_keeps_anny_parameters_y_up_and_round_trips(anny, tmp_path):
    fit = random_fit(anny, seed=4)
    path = write_body_npz(tmp_path / "anny.npz", fit, shape_names=SHAPE_NAMES)
    raw = read_arrays(path)
    assert str(raw["model_kind"]) == "anny" and str(raw["coordinate_system"]) == "y_up"
    assert raw["anny_pose"].shape == (T, 22, 3) and tuple(raw["anny_shape_names"]) == SHAPE_NAMES
    assert "poses" not in raw and "gender" not in raw
    np.testing.assert_allclose(raw["trans"], fit.translation)  # Y up: as fitted
    body = read_body_npz(path)
    assert body.kind == "anny" and body.gender is None and body.shape_names == SHAPE_NAMES
    np.testing.assert_allclose(body.pose, fit.pose, atol=1e-7)
    np.testing.assert_allclose(body.shape, fit.shape, atol=1e-7)
    world = body.animation().world_matrices()
    np.testing.assert_allclose(world[..., :3, 3], fit.model_joints, atol=1e-5)
    with torch.no_grad():  # Anny at the file's parameters is the fitted body
        out = anny(torch.as_tensor(raw["anny_pose"]), torch.as_tensor(raw["anny_shape"][None]),
                   torch.as_tensor(raw["trans"]), vertices=False)
    np.testing.assert_allclose(out.joints.numpy(), fit.model_joints, atol=1e-5)


# ----------------------------------------------------------------------------- bad input
def test_write_refuses_an_unknown_gender_and_shape_names_of_another_length(smpl, tmp_path):
    fit = random_fit(smpl)
    with pytest.raises(ArgumentError, match="gender must be one of neutral, male, female"):
        write_body_npz(tmp_path / "a.npz", fit, gender="other")
    bad = BodyFit(**{**fit.__dict__, "kind": "anny"})
    with pytest.raises(ArgumentError, match="shape_names must name the 10 shape values"):
        write_body_npz(tmp_path / "b.npz", bad, shape_names=SHAPE_NAMES)
    assert list(tmp_path.iterdir()) == []


def _truncated(path, smpl):
    write_body_npz(path, random_fit(smpl))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _pose_file(path, smpl):
    write_arrays(path, {"joints3d_world": np.zeros((3, 17, 3), np.float32), "fps": np.float64(30)})


def _nan_rotations(path, smpl):
    write_body_npz(path, random_fit(smpl))
    arrays = read_arrays(path)
    arrays["bone_rotations"][1, 2] = np.nan
    write_arrays(path, arrays)


def _object_array(path, smpl):
    with open(path, "wb") as f:
        np.savez(f, model_kind=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("make, says", [
    (lambda p, m: None, "no such file"),
    (lambda p, m: p.write_text("not a zip"), "not a readable .npz"),
    (_truncated, "not a readable .npz"),
    (_pose_file, "not a pose2rig body file: missing format_version"),
    (_nan_rotations, "bone_rotations holds NaN"),
    (_object_array, "unsupported .npz content"),
])
def test_read_refuses_a_wrong_file_in_one_line(smpl, tmp_path, make, says):
    path = tmp_path / "body.npz"
    make(path, smpl)
    with pytest.raises(Pose2RigError) as e:
        read_body_npz(path)
    assert says in str(e.value) and "\n" not in str(e.value)
