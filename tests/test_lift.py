"""The lifter: geometry of back-projection and random projection, models, loading, lift()."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import rotation_between
from pose2rig.lift import Lifter, codec, lift, load_lifter, skeleton_height
from pose2rig.lift.model import Discriminator, Generator, kcs
from pose2rig.lift.projection import (
    back_project,
    project,
    random_angles,
    random_projection,
    rotation_matrices,
)
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHECKPOINT = REPO / "models" / "lifter_h36m17.pt"


def _world_poses(n: int = 12, seed: int = 0) -> np.ndarray:
    """Plausible standing-ish h36m17 poses, world Y up, metres (a T-ish pose with noise)."""
    rest = np.array([
        [0, 0.95, 0], [-0.12, 0.93, 0], [-0.13, 0.5, 0.02], [-0.13, 0.08, 0], [0.12, 0.93, 0],
        [0.13, 0.5, 0.02], [0.13, 0.08, 0], [0, 1.2, 0], [0, 1.45, 0], [0, 1.58, 0.05],
        [0, 1.72, 0], [0.18, 1.42, 0], [0.25, 1.15, 0.05], [0.28, 0.9, 0.1], [-0.18, 1.42, 0],
        [-0.25, 1.15, 0.05], [-0.28, 0.9, 0.1],
    ])
    rng = np.random.default_rng(seed)
    return rest + rng.normal(0, 0.02, size=(n, 17, 3))


def _keypoints(cam_joints: np.ndarray, camera: Camera) -> Keypoints2D:
    t = len(cam_joints)
    return Keypoints2D(
        keypoints=camera.project(cam_joints), confidence=np.ones((t, 17), np.float32),
        skeleton=H36M17, image_size=camera.image_size, fps=30.0, timestamps=np.arange(t) / 30.0,
    )


def _filmed(n: int = 12, seed: int = 0, size=(1280, 720), fov: float = 60.0):
    """Camera-frame joints of poses 3.5 m in front of a camera, off-centre, and their keypoints."""
    w = _world_poses(n, seed)
    cam = w * [1.0, -1.0, -1.0] + [0.4, 0.9, 3.5]  # turn to face the camera, y down
    camera = Camera.from_fov(size, fov)
    return cam, camera, _keypoints(cam, camera)


class _Oracle(Lifter):
    """Returns the true shape in the lifter's frame (root on the optical axis)."""

    def __init__(self, cam: np.ndarray) -> None:
        super().__init__(None)
        root = cam[:, 0] / np.linalg.norm(cam[:, 0], axis=-1, keepdims=True)
        align = rotation_between(np.broadcast_to([0.0, 0.0, 1.0], root.shape), root)
        self._shape = np.einsum("nji,nkj->nki", align, cam - cam[:, :1])  # R^T (X - root)

    def shapes_from_pixels(self, pixels: np.ndarray, **_: object) -> np.ndarray:
        return self._shape.astype(np.float64)


# --- geometry ------------------------------------------------------------------------------

def test_back_project_puts_joints_on_rays_at_d_plus_offset():
    xy = torch.tensor([[[0.0, 0.0], [0.05, -0.1], [0.02, 0.03]]])
    o = torch.tensor([[0.0, 0.5, -20.0]])
    x = back_project(xy, o, d=10.0)
    np.testing.assert_allclose(x[0, 1].numpy(), [0.525, -1.05, 10.5], atol=1e-6)
    assert x[0, 2, 2].item() == 1.0  # depth kept >= 1
    np.testing.assert_allclose((x[..., :2] / x[..., 2:]).numpy(), xy.numpy(), atol=1e-7)


def test_identity_rotation_reproduces_the_input():
    xy = torch.randn(4, 17, 2) * 0.05
    x = back_project(xy, torch.randn(4, 17) * 0.3)
    p = project(x, torch.eye(3).expand(4, 3, 3))
    np.testing.assert_allclose(p.numpy(), xy.numpy(), atol=1e-6)


def test_azimuth_90_turns_depth_into_image_x():
    # a point 1 unit nearer the camera than the root: after a 90 deg azimuth turn it sits at
    # x = -1 (R_y(90) takes +z to +x, so -z to -x) at the root's depth d
    x = torch.tensor([[[0.0, 0.0, 10.0], [0.0, 0.0, 9.0]]])
    r = rotation_matrices(torch.tensor([0.0]), torch.tensor([math.pi / 2]))
    p = project(x, r, d=10.0)
    np.testing.assert_allclose(p[0, 1].numpy(), [-0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(p[0, 0].numpy(), [0.0, 0.0], atol=1e-7)


def test_elevation_tilts_about_the_image_x_axis():
    # a point 1 unit above the root (y = -1, y down) tilted by 90 deg moves onto the optical axis
    x = torch.tensor([[[0.0, 0.0, 10.0], [0.0, -1.0, 10.0]]])
    r = rotation_matrices(torch.tensor([math.pi / 2]), torch.tensor([0.0]))
    p_full = (x - torch.tensor([0, 0, 10.0])) @ r.transpose(-1, -2) + torch.tensor([0, 0, 10.0])
    np.testing.assert_allclose(p_full[0, 1].numpy(), [0.0, 0.0, 9.0], atol=1e-6)
    assert project(x, r)[0, 1].abs().max().item() < 1e-6


def test_random_angles_stay_in_their_ranges_and_rotations_are_proper():
    g = torch.Generator().manual_seed(0)
    el, az = random_angles(20000, generator=g)
    assert 0 <= el.min() and el.max() <= math.radians(20)
    assert 0 <= az.min() and az.max() <= 2 * math.pi
    assert el.max() > math.radians(19.5) and az.max() > math.radians(355) and az.min() < 0.05
    r = rotation_matrices(el[:100], az[:100])
    np.testing.assert_allclose((r @ r.transpose(-1, -2)).numpy(), np.broadcast_to(np.eye(3), (100, 3, 3)), atol=1e-5)
    np.testing.assert_allclose(torch.linalg.det(r).numpy(), 1.0, atol=1e-5)


def test_random_projection_is_vectorised_and_keeps_the_root_at_the_origin():
    x = back_project(torch.randn(64, 17, 2) * 0.05, torch.randn(64, 17) * 0.3)
    x = x - x[:, :1] + torch.tensor([0.0, 0.0, 10.0])
    p, r = random_projection(x, generator=torch.Generator().manual_seed(1))
    assert p.shape == (64, 17, 2) and r.shape == (64, 3, 3)
    np.testing.assert_allclose(p[:, 0].numpy(), 0.0, atol=1e-6)
    assert not torch.allclose(r[0], r[1])


# --- models -----------------------------------------------------------------------------

def test_generator_starts_flat_and_keeps_the_root_offset_zero():
    g = Generator(width=16, blocks=1)
    xy = torch.randn(3, 17, 2) * 0.05
    assert torch.all(g(xy) == 0)
    torch.nn.init.normal_(g.net.out.weight)
    o = g(xy)
    assert o.shape == (3, 17) and torch.all(o[:, 0] == 0) and o.abs().max() > 0


def test_discriminator_scores_each_pose_and_kcs_is_bone_gram():
    d = Discriminator(width=16, blocks=1)
    assert d(torch.randn(5, 17, 2)).shape == (5,)
    xy = torch.zeros(1, 17, 2)
    xy[0, 1] = torch.tensor([3.0, 4.0])  # bone pelvis -> right_hip of length 5
    assert kcs(xy)[0, 0].item() == pytest.approx(25.0)


# --- loading ------------------------------------------------------------------------------

def test_load_lifter_rejects_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(Pose2RigError, match="not found"):
        load_lifter(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(Pose2RigError, match="corrupt"):
        load_lifter(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(Pose2RigError, match="not a pose2rig lifter"):
        load_lifter(foreign)


def test_load_lifter_rejects_weights_of_another_shape(tmp_path):
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.loop import lifter_checkpoint

    ck = lifter_checkpoint(Generator(width=16, blocks=1), Discriminator(width=16, blocks=1),
                           TrainConfig(width=16, blocks=1, d_width=16, d_blocks=1), step=0, metrics={})
    ck["generator"]["width"] = 32
    p = tmp_path / "shape.pt"
    torch.save(ck, p)
    with pytest.raises(Pose2RigError, match="do not fit"):
        load_lifter(p)
    ck["generator"]["width"] = 16
    torch.save(ck, p)
    assert load_lifter(p).generator.width == 16


# --- lift() -----------------------------------------------------------------------------

def test_lift_reprojects_onto_its_input_and_matches_height():
    cam, camera, kp = _filmed()
    g = Generator(width=16, blocks=1)
    torch.nn.init.normal_(g.net.out.weight, std=0.05)  # non-trivial depths
    seq = lift(kp, lifter=Lifter(g), height=1.62, fov=60.0)
    assert seq.space == "camera" and seq.skeleton is H36M17 and seq.joints.shape == (12, 17, 3)
    np.testing.assert_allclose(seq.camera.matrix, camera.matrix)
    err = np.linalg.norm(seq.camera.project(seq.joints) - kp.keypoints, axis=-1)
    assert err.max() < 1.0
    assert np.all(seq.joints[..., 2] > 0)
    np.testing.assert_allclose(np.median(skeleton_height(seq.joints)), 1.62, rtol=0.05)
    np.testing.assert_array_equal(seq.timestamps, kp.timestamps)


def test_lift_recovers_absolute_positions_from_the_true_shape():
    cam, camera, kp = _filmed()
    h = skeleton_height(cam)
    seq = lift(kp, lifter=_Oracle(cam), height=float(np.median(h)), fov=60.0)
    # per-frame size comes from height, so compare frames with the median height exactly
    scale = np.median(h) / h
    np.testing.assert_allclose(seq.joints, cam * scale[:, None, None], atol=2e-3)


def test_lift_root_depth_follows_height():
    cam, camera, kp = _filmed()
    near = lift(kp, lifter=Lifter.constant_depth(), height=1.0)
    far = lift(kp, lifter=Lifter.constant_depth(), height=2.0)
    np.testing.assert_allclose(far.joints[:, 0, 2], 2 * near.joints[:, 0, 2], rtol=1e-4)


def test_lift_frames_with_missing_joints_are_empty():
    cam, camera, kp = _filmed(4)
    pts = kp.keypoints.copy()
    pts[2, 7] = np.nan
    kp = Keypoints2D(pts, kp.confidence, H36M17, kp.image_size, kp.fps, kp.timestamps)
    seq = lift(kp, lifter=Lifter.constant_depth())
    assert np.isnan(seq.joints[2]).all() and np.all(seq.confidence[2] == 0)
    assert np.isfinite(seq.joints[[0, 1, 3]]).all() and np.all(seq.confidence[[0, 1, 3]] == 1)


def test_lift_rejects_bad_height():
    _, _, kp = _filmed(2)
    with pytest.raises(Pose2RigError, match="height"):
        lift(kp, lifter=Lifter.constant_depth(), height=17.0)


def test_mirror_averaging_cancels_a_left_right_bias_and_keeps_symmetric_answers():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(5, 17, 2)).astype(np.float32)
    perm = list(H36M17.mirror)
    left = np.array(["left" in n for n in H36M17.joint_names])

    def biased(x):  # depth from |x| (mirror-symmetric) plus +0.3 on whichever joints are "left"
        return np.abs(x[..., 0]) + 0.3 * left

    out = codec.mirror_averaged(biased, xy, perm)
    sided = left | np.array(["right" in n for n in H36M17.joint_names])
    assert np.allclose(out, np.abs(xy[..., 0]) + 0.15 * sided)  # the bias is split evenly over both sides
    t = torch.from_numpy(xy)
    assert torch.allclose(codec.mirror_averaged(lambda x: x[..., 0].abs(), t, perm), t[..., 0].abs())
    # the Lifter does the same (one batch of 2N), and not with mirror=False
    gen = Generator(n_joints=17, width=8, blocks=1)
    torch.nn.init.normal_(gen.net.out.weight)
    on, off = Lifter(gen, rolls=(0.0,)), Lifter(gen, mirror=False, rolls=(0.0,))
    px = np.random.default_rng(1).normal(size=(5, 17, 2)).astype(np.float32) * 40 + 300
    xn = codec.normalise(px)[0]
    with torch.no_grad():
        plain = gen(torch.from_numpy(xn)).numpy()
        flipped = gen(torch.from_numpy(xn[:, perm] * np.float32([-1, 1]))).numpy()[:, perm]
    # the generator holds the root's offset at 0, so each joint's depth below the root is its offset
    assert np.allclose(off.shapes_from_pixels(px)[..., 2], plain, atol=1e-5)
    assert np.allclose(on.shapes_from_pixels(px)[..., 2], 0.5 * (plain + flipped), atol=1e-5)


def test_roll_averaging_turns_the_view_about_the_root_and_averages_in_one_batch():
    rng = np.random.default_rng(2)
    xy = rng.normal(size=(4, 17, 2))
    perm = list(H36M17.mirror)
    calls = []

    def depth_is_x(v):
        calls.append(v.shape[0])
        return v[..., 0].copy()

    # the sign convention: a roll of +90 deg takes (x, y) to (-y, x)
    assert np.allclose(codec.view_averaged(depth_is_x, xy, perm, mirror=False, rolls=(90.0,)), -xy[..., 1])
    # over {-a, 0, a} the y terms cancel: x (1 + 2 cos a) / 3; all views in one call
    calls.clear()
    a = math.radians(15.0)
    out = codec.view_averaged(depth_is_x, xy, perm, mirror=False, rolls=(-15.0, 0.0, 15.0))
    assert calls == [3 * len(xy)]
    assert np.allclose(out, xy[..., 0] * (1 + 2 * math.cos(a)) / 3)
    # a predictor that is blind to roll and mirror (each joint's distance from the root) is unchanged,
    # numpy or torch, and the mirrored views run in the same single batch
    calls.clear()

    def radius(v):
        calls.append(v.shape[0])
        return (v**2).sum(-1) ** 0.5

    assert np.allclose(codec.view_averaged(radius, xy, perm, rolls=(-15.0, 0.0, 15.0)), radius(xy))
    assert calls[0] == 6 * len(xy)
    t = torch.from_numpy(xy.astype(np.float32))
    got = codec.view_averaged(radius, t, perm, rolls=(-15.0, 0.0, 15.0))
    assert isinstance(got, torch.Tensor) and torch.allclose(got, radius(t), atol=1e-6)
    for bad in ((), (float("nan"),), (120.0,), ("x",)):
        with pytest.raises(Pose2RigError, match="rolls"):
            codec.check_rolls(bad)
    assert codec.parse_rolls(" -15, 0,15 ") == (-15.0, 0.0, 15.0) and codec.parse_rolls("0") == (0.0,)
    for bad in ("", "a,b", "100", "nan"):
        with pytest.raises(Pose2RigError, match="rolls"):
            codec.parse_rolls(bad)


def test_lifter_averages_its_generator_over_the_default_rolls_and_mirror_images():
    torch.manual_seed(0)
    gen = Generator(n_joints=17, width=16, blocks=1)
    torch.nn.init.normal_(gen.net.out.weight, std=0.3)
    gen.eval()
    px = np.random.default_rng(3).normal(size=(6, 17, 2)).astype(np.float32) * 40 + 300
    xn = torch.from_numpy(codec.normalise(px)[0])
    perm = list(H36M17.mirror)
    assert Lifter(gen).rolls == codec.DEFAULT_ROLLS == (-15.0, 0.0, 15.0)
    with torch.no_grad():
        views = []
        for deg in codec.DEFAULT_ROLLS:
            c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
            rot = torch.tensor([[c, -s], [s, c]])
            turned = xn @ rot.T
            views += [gen(turned), gen(turned[:, perm] * torch.tensor([-1.0, 1.0]))[:, perm]]
        want = torch.stack(views).mean(0).numpy()
    got = Lifter(gen).shapes_from_pixels(px)[..., 2]
    assert np.allclose(got, want, atol=1e-5)
    # chunking does not change the answer
    assert np.allclose(Lifter(gen).shapes_from_pixels(px, batch=6)[..., 2], want, atol=1e-5)
    assert not np.allclose(Lifter(gen, rolls=(0.0,)).shapes_from_pixels(px)[..., 2], want, atol=1e-4)
    with pytest.raises(Pose2RigError, match="rolls"):
        Lifter(gen, rolls=(200.0,))


# --- the shipped checkpoint ----------------------------------------------------------------

@pytest.mark.slow
def test_shipped_checkpoint_beats_constant_depth_on_bandai_subset():
    from pose2rig.evaluate import evaluate_lifter, synthetic_views
    from pose2rig.io.mocap import load_bvh_as_h36m17

    lifter = load_lifter(CHECKPOINT)
    files = sorted((DATA / "mocap" / "bandai1").glob("*.bvh"))[::25]  # 7 clips, mixed actions
    assert len(files) >= 6
    clips = [load_bvh_as_h36m17(f).joints for f in files]
    px, gt = synthetic_views(clips, seed=0, frame_step=5)
    ours = evaluate_lifter(lifter, px, gt)["p_mpjpe"]
    base = evaluate_lifter(Lifter.constant_depth(), px, gt)["p_mpjpe"]
    assert ours < 0.9 * base


def test_convention_virtual_cameras_are_rotations_not_reflections():
    """A y-only flip from Y-up to y-down would film mirror-image people (left on the wrong side)."""
    from pose2rig.lift.projection import virtual_camera_views

    w = torch.tensor(_world_poses(64), dtype=torch.float64)
    _, cam = virtual_camera_views(w, generator=torch.Generator().manual_seed(0), aim_jitter=0.5)

    def volume(j: torch.Tensor) -> torch.Tensor:  # signed volume of three bones from the pelvis
        return torch.linalg.det(torch.stack([j[:, 4] - j[:, 0], j[:, 8] - j[:, 0], j[:, 13] - j[:, 0]], 1))

    np.testing.assert_allclose(volume(cam).numpy(), volume(w).numpy(), rtol=1e-6)


def test_convention_subject_facing_the_camera_has_its_left_on_the_image_right():
    from pose2rig.lift.projection import virtual_camera_views

    w = torch.tensor(_world_poses(400), dtype=torch.float64)  # facing +Z, left hip at +X
    w[..., 2] += 0.3 * (torch.arange(17) == 9)  # nose forward
    px, cam = virtual_camera_views(w, generator=torch.Generator().manual_seed(1), aim_jitter=0.0)
    facing_camera = cam[:, 9, 2] < cam[:, 10, 2]  # nose nearer than the head
    left_on_right = px[:, 4, 0] > px[:, 1, 0]
    assert 100 < facing_camera.sum() < 300
    # equal except near profile views, where perspective can swap two nearly overlapping hips
    assert (facing_camera == left_on_right).double().mean() > 0.95


def test_shipped_checkpoint_on_real_blazepose_keypoints():
    """tfjs squats clip: BlazePose's own 2D landmarks lifted by the shipped lifter agree with
    BlazePose's 3D output better than the constant-depth pose does, with the knees of the
    squat coming towards the camera (a mirror-image lifter puts them behind the hips)."""
    import json

    from pose2rig.evaluate import p_mpjpe
    from pose2rig.skeletons import MEDIAPIPE33, MEDIAPIPE33_TO_H36M17, map_points

    video = DATA / "video"
    k2 = np.array(json.loads((video / "tfjs_pose_squats.full.json").read_text()), np.float32)
    k3 = np.array(json.loads((video / "tfjs_pose_squats_3d.full.json").read_text()), np.float32)
    t = len(k2)
    kp = Keypoints2D(k2[..., :2], np.ones((t, 33), np.float32), MEDIAPIPE33, (720, 1280), 5.0,
                     np.arange(t) / 5.0)
    ref, _ = map_points(k3, np.ones((t, 33)), MEDIAPIPE33_TO_H36M17)  # x right, y down, z away
    ours = lift(kp, lifter=load_lifter(CHECKPOINT), height=1.65)
    flat = lift(kp, lifter=Lifter.constant_depth(), height=1.65)
    assert p_mpjpe(ours.joints, ref) < p_mpjpe(flat.joints, ref)
    knee_bent = (ref[:, 2, 2] - ref[:, 0, 2]) < -0.2  # BlazePose: right knee 20 cm nearer than pelvis
    assert knee_bent.sum() >= 5
    rel = ours.joints[knee_bent] - ours.joints[knee_bent][:, :1]
    assert np.median(rel[:, [2, 5], 2]) < -0.05
