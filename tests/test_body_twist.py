"""Retargeting takes the limbs' twist from a body fit (pose2rig/body/twist.py, ``retarget(twist=...)``
in pose2rig/retarget/character.py, body files in ``retarget_file`` and ``convert --fit-body``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

import pose2rig.retarget
from pose2rig.body.anny import JOINTS as ANNY_JOINTS
from pose2rig.body.io import BodyFile, read_body_npz
from pose2rig.body.smpl_file import SMPL_JOINT_NAMES, SMPL_PARENTS
from pose2rig.body.twist import FOOT_BONES, LIMB_BONES, body_extremities, body_twist
from pose2rig.cli import (
    cli,  # first: it sets OMP_WAIT_POLICY before torch is imported (4x faster on 2 cores)
)
from pose2rig.errors import Pose2RigError
from pose2rig.retarget import retarget
from pose2rig.retarget.character import TWIST_PARTS
from pose2rig.skeletons import H36M17
from pose2rig.testing import SYNTHETIC_SMPL_JOINTS, TPOSE_H36M17, tpose_rig
from pose2rig.types import PoseSequence

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
_LIMB_JOINTS = ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")


def _rest() -> np.ndarray:
    """``(24, 3)`` SMPL-named rest joints whose limbs are :func:`tpose_rig`'s (its Human3.6M-17
    T-pose), hands and feet continuing them."""
    rest = SYNTHETIC_SMPL_JOINTS.copy()
    names = list(SMPL_JOINT_NAMES)
    for s in ("left", "right"):
        for j in _LIMB_JOINTS:
            rest[names.index(f"{s}_{j}")] = TPOSE_H36M17[H36M17.joint_names.index(f"{s}_{j}")]
        wrist, elbow = rest[names.index(f"{s}_wrist")], rest[names.index(f"{s}_elbow")]
        rest[names.index(f"{s}_hand")] = wrist + 0.3 * (wrist - elbow)
        rest[names.index(f"{s}_foot")] = rest[names.index(f"{s}_ankle")] + [0.0, -0.045, 0.1]
    return rest


def _body(local: np.ndarray) -> BodyFile:
    """A synthetic SMPL body file posed by ``local (T, 24, 3, 3)`` rotations (each in the rest
    pose's world axes, parents first), its Human3.6M-17 joints the T-pose's with the limbs' joints
    where the body carries them."""
    rest, t = _rest(), local.shape[0]
    rot = np.empty_like(local)
    pos = np.empty((t, 24, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            rot[:, j], pos[:, j] = local[:, j], rest[j]
        else:
            rot[:, j] = rot[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + rot[:, p] @ (rest[j] - rest[p])
    joints = np.repeat(TPOSE_H36M17[None], t, axis=0)
    for s in ("left", "right"):
        for j in _LIMB_JOINTS:
            joints[:, H36M17.joint_names.index(f"{s}_{j}")] = pos[:, SMPL_JOINT_NAMES.index(f"{s}_{j}")]
    return BodyFile(kind="smpl", fps=30.0, bone_names=SMPL_JOINT_NAMES,
                    bone_parents=tuple(int(p) for p in SMPL_PARENTS), bone_rest=rest, bone_rotations=rot,
                    bone_positions=pos, joints=joints, error=np.zeros(t),
                    pose=np.zeros((t, 24, 3)), shape=np.zeros(10), translation=np.zeros((t, 3)), gender="neutral")


def _pose(body: BodyFile) -> PoseSequence:
    return PoseSequence(body.joints, H36M17, body.fps, np.arange(body.num_frames) / body.fps, space="world")


def _about(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(np.outer(angles, axis / np.linalg.norm(axis))).as_matrix()


def twist_angle(r: np.ndarray, r_ref: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """``(T,)`` degrees: the twist about unit ``axis (T, 3)`` of ``r r_ref^T`` (swing-twist)."""
    q = Rotation.from_matrix(r @ np.swapaxes(r_ref, -1, -2)).as_quat()
    a = 2.0 * np.arctan2((q[:, :3] * axis).sum(-1), q[:, 3])
    return np.degrees((a + np.pi) % (2 * np.pi) - np.pi)


def _rig_twist_error(anim, body: BodyFile, bone: str, joint: str, child: str) -> np.ndarray:
    """Degrees per frame: the rig bone's world rotation from rest against the body bone's
    fitted one, the twist about the fitted bone's direction (rig and body share their rest)."""
    rig = anim.rig
    b = rig.bone_names.index(bone)
    w = anim.world_matrices()[:, b, :3, :3] @ rig.rest[b, :3, :3].T
    j, c = SMPL_JOINT_NAMES.index(joint), SMPL_JOINT_NAMES.index(child)
    r = body.bone_rotations[:, j]
    d = r @ (body.bone_rest[c] - body.bone_rest[j])
    return twist_angle(w, r, d / np.linalg.norm(d, axis=-1, keepdims=True))


# ----------------------------------------------------------------------------- the tables
def test_limb_tables_name_joints_each_body_model_has():
    anny = {name for name, _ in ANNY_JOINTS}
    for kind, names in (("smpl", set(SMPL_JOINT_NAMES)), ("anny", anny)):
        assert set(LIMB_BONES[kind]) == set(TWIST_PARTS)
        for a, b in (*LIMB_BONES[kind].values(), *FOOT_BONES[kind].values()):
            assert a in names and b in names, (kind, a, b)


# ----------------------------------------------------------------------------- retarget(twist=)
def test_straight_forearm_and_leg_twist_follow_the_fit_the_plane_rule_does_not():
    """The fit twists a straight forearm (the arm lowered 30 degrees) and a straight leg about
    themselves: no joint moves, so the elbow/knee-plane rule cannot see it; the twist does."""
    theta = np.radians(np.linspace(-80.0, 80.0, 9))
    t = len(theta)
    rest = _rest()
    local = np.tile(np.eye(3), (t, 24, 1, 1))
    n = SMPL_JOINT_NAMES.index
    local[:, n("left_shoulder")] = _about(np.array([0.0, 0.0, 1.0]), np.full(t, np.radians(-30.0)))
    local[:, n("left_elbow")] = _about(rest[n("left_wrist")] - rest[n("left_elbow")], theta)
    local[:, n("right_hip")] = _about(rest[n("right_knee")] - rest[n("right_hip")], 0.5 * theta)
    body = _body(local)
    rig = tpose_rig()
    with_fit = retarget(_pose(body), rig, root_motion="off", twist=body_twist(body))
    plane = retarget(_pose(body), rig, root_motion="off")
    for bone, (joint, child), truth in (("lowerarm_l", ("left_elbow", "left_wrist"), theta),
                                        ("thigh_r", ("right_hip", "right_knee"), 0.5 * theta)):
        err = _rig_twist_error(with_fit, body, bone, joint, child)
        assert np.abs(err).max() < 3.0, (bone, err)
        err_plane = np.abs(_rig_twist_error(plane, body, bone, joint, child))
        if bone == "lowerarm_l":  # the plane rule keeps a straight forearm's rest twist: its error is the fit's twist
            np.testing.assert_allclose(err_plane, np.degrees(np.abs(truth)), atol=3.0)
        else:  # the rig's leg is bent a little (the knee 1 cm out): the plane sees a third of the twist
            assert np.all(err_plane >= 0.5 * np.degrees(np.abs(truth)) - 0.5), err_plane
    # the bone still points where the source's limb points
    w = with_fit.world_matrices()
    b = rig.bone_names.index("lowerarm_l")
    along = (w[:, b, :3, :3] @ rig.rest[b, :3, :3].T) @ (rig.tails[b] - rig.heads[b])
    h36m = H36M17.joint_names
    src = body.joints[:, h36m.index("left_wrist")] - body.joints[:, h36m.index("left_elbow")]
    cos = (along * src).sum(-1) / np.linalg.norm(along, axis=-1) / np.linalg.norm(src, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.5


def test_body_at_rest_keeps_the_rig_at_rest():
    body = _body(np.tile(np.eye(3), (3, 24, 1, 1)))
    twist = body_twist(body)
    assert set(twist) == set(TWIST_PARTS)
    anim = retarget(_pose(body), tpose_rig(), root_motion="off", twist=twist,
                    extremities=body_extremities(body))
    angle = np.degrees(2 * np.arccos(np.clip(np.abs(anim.rotations[..., 0]), 0, 1)))
    assert angle.max() < 0.05, angle.max(axis=0)


def test_bad_twist_is_one_clear_error():
    body = _body(np.tile(np.eye(3), (2, 24, 1, 1)))
    with pytest.raises(Pose2RigError, match=r"twist\['left_hand'\] must be one of"):
        retarget(_pose(body), tpose_rig(), twist={"left_hand": np.ones((2, 3))})
    with pytest.raises(Pose2RigError, match=r"twist\['left_forearm'\] holds NaN"):
        retarget(_pose(body), tpose_rig(), twist={"left_forearm": np.full((2, 3), np.nan)})


# ----------------------------------------------------------------------------- body files end to end
@pytest.fixture(scope="module")
def body_file(tmp_path_factory) -> Path:
    """A body file of a real fit: the synthetic SMPL-format model on the first second of CMU
    fairmotion_01_01."""
    from pose2rig.body.fit import FitOptions
    from pose2rig.options import ConvertOptions
    from pose2rig.pipeline import fit_file
    from pose2rig.testing import write_synthetic_smpl

    tmp = tmp_path_factory.mktemp("fit")
    smpl = write_synthetic_smpl(tmp / "SMPL_NEUTRAL.npz")
    out = tmp / "body.npz"
    fit_file(MOCAP / "cmu" / "fairmotion_01_01.bvh", out,
             ConvertOptions.from_flat(smpl_model=smpl, end=1.0, fps=30.0),
             fit_options=FitOptions(shape_iters=40, orient_iters=10, pose_iters=40), progress=False)
    return out


@pytest.fixture
def retarget_calls(monkeypatch) -> dict:
    """The keyword arguments of the latest ``pose2rig.retarget.retarget`` call (which still runs);
    the spy keeps the real function as ``__wrapped__``."""
    seen: dict = {}
    real = pose2rig.retarget.retarget

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    spy.__wrapped__ = real
    monkeypatch.setattr(pose2rig.retarget, "retarget", spy)
    return seen


def test_cli_retargets_a_body_file_with_the_fits_twist(tmp_path, body_file, retarget_calls):
    from pose2rig.io.gltf import read_glb_animation
    from pose2rig.io.rigs import load_rig

    body = read_body_npz(body_file)
    seen = retarget_calls
    glb, bvh = tmp_path / "out.glb", tmp_path / "out.bvh"
    res = CliRunner().invoke(cli, ["retarget", str(body_file), "--glb", str(glb), "--bvh", str(bvh), "-q"])
    assert res.exit_code == 0, res.output
    assert glb.stat().st_size > 0 and bvh.stat().st_size > 0
    want = body_twist(body)
    assert set(seen["twist"]) == set(TWIST_PARTS)
    for k in TWIST_PARTS:
        np.testing.assert_allclose(seen["twist"][k], want[k], atol=1e-6)
    assert set(seen["extremities"]) == {"left_foot", "right_foot"}
    anim = read_glb_animation(glb)
    assert anim.num_frames == body.num_frames
    # the animation is the one with the twist: its forearms differ from the plane rule's
    rig = load_rig(None)
    pose = PoseSequence(body.joints, H36M17, body.fps, np.arange(body.num_frames) / body.fps, space="world")
    real = pose2rig.retarget.retarget.__wrapped__
    plane = real(pose, rig, extremities=seen["extremities"])
    twisted = real(pose, rig, extremities=seen["extremities"], twist=want)
    fore = [i for i, n in enumerate(rig.bone_names) if "forearm" in n.lower() or "lowerarm" in n.lower()]
    assert fore
    dots = np.abs((plane.rotations[:, fore] * twisted.rotations[:, fore]).sum(-1))
    assert np.degrees(2 * np.arccos(np.clip(dots, 0, 1))).max() > 2.0


def test_cli_body_file_missing_keys_is_one_line(tmp_path, body_file):
    from pose2rig.io.npz import read_arrays, write_arrays

    arrays = read_arrays(body_file)
    del arrays["bone_rest"]
    broken = tmp_path / "broken.npz"
    write_arrays(broken, arrays)
    res = CliRunner().invoke(cli, ["retarget", str(broken), "--glb", str(tmp_path / "out.glb")])
    assert res.exit_code == 1
    (line,) = res.stderr.strip().splitlines()
    assert "not a pose2rig body file: missing bone_rest" in line
    assert not (tmp_path / "out.glb").exists()


def test_convert_fit_body_retargets_with_the_fits_twist(tmp_path, retarget_calls):
    from pose2rig.body.fit import FitOptions
    from pose2rig.options import ConvertOptions, Outputs
    from pose2rig.pipeline import convert
    from pose2rig.testing import walk_sequence, write_synthetic_smpl
    from pose2rig.types import Camera, Keypoints2D
    from pose2rig.video import VideoWriter

    frames, size = 12, (320, 240)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=30.0, size=size) as w:
        for _ in range(frames):
            w.write(np.zeros((size[1], size[0], 3), np.uint8))
    walk, _ = walk_sequence(frames / 30.0, stride=0.3)
    camera = Camera.from_fov(size, 60.0)
    kp = Keypoints2D(keypoints=camera.project(walk.joints.astype(np.float64) * [1.0, -1.0, 1.0] + [0.0, 1.0, 4.0]),
                     confidence=np.ones((frames, 17), np.float32), skeleton=H36M17, image_size=size, fps=30.0,
                     timestamps=np.arange(frames) / 30.0)
    seen = retarget_calls
    smpl = write_synthetic_smpl(tmp_path / "SMPL_NEUTRAL.npz")
    quick = FitOptions(shape_iters=40, orient_iters=10, pose_iters=40)
    result = convert(video, Outputs(glb=tmp_path / "out.glb"), ConvertOptions.from_flat(fit_body=True, smpl_model=smpl),
                     keypoints=kp, progress=False, fit_options=quick)
    want = body_twist(result.body)
    assert set(seen["twist"]) == set(TWIST_PARTS)
    for k in TWIST_PARTS:
        np.testing.assert_allclose(seen["twist"][k], want[k], atol=1e-9)
    seen.clear()
    convert(video, Outputs(glb=tmp_path / "plain.glb"), ConvertOptions.from_flat(), keypoints=kp, progress=False)
    assert seen["twist"] is None  # without a fit: the plane rule
