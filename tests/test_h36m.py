"""Human3.6M files in the community's layout: cameras, joint mapping, eval data, training source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _h36m_fake import (
    CAMERA_IDS,
    cameras_json,
    clip_h36m17_world_z_up,
    look_at,
    write_fake_h36m,
)

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import matrix_to_quat
from pose2rig.io.h36m import (
    H36MCamera,
    canonical_action,
    h36m_eval_data,
    load_cameras,
    load_positions_2d,
    load_positions_3d,
)
from pose2rig.lift import codec
from pose2rig.train.h36m import H36MSource
from pose2rig.types import Camera

FRAMES = 30


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_fake_h36m(tmp_path_factory.mktemp("h36m"), frames=FRAMES)


def _camera(centre, target, *, distort: bool = False) -> H36MCamera:
    return H36MCamera(
        id="c", orientation=matrix_to_quat(look_at(np.asarray(centre, float), np.asarray(target, float))),
        translation=np.asarray(centre, float), focal_length=np.array([1000.0, 990.0]),
        center=np.array([500.0, 480.0]),
        radial=np.array([-0.2, 0.24, -0.003]) if distort else np.zeros(3),
        tangential=np.array([-0.001, -0.0014]) if distort else np.zeros(2), res_w=1000, res_h=1000,
    )


def test_convention_camera_frame_is_opencv_x_right_y_down_z_forward():
    cam = _camera([0.0, -5.0, 1.5], [0.0, 0.0, 1.5])  # looking along world +Y, Z up
    assert np.allclose(cam.world_to_camera([0.0, -5.0, 1.5]), 0.0, atol=1e-6)
    ahead = cam.world_to_camera([0.0, 0.0, 1.5])
    assert np.allclose(ahead, [0.0, 0.0, 5.0], atol=1e-6)
    right, up = cam.world_to_camera([1.0, 0.0, 1.5]), cam.world_to_camera([0.0, 0.0, 2.5])
    assert right[0] > 0.9 and up[1] < -0.9  # world +X is image right, world up is image up (y down)
    px = cam.project(np.stack([ahead, right, up]))
    assert np.allclose(px[0], cam.center)
    assert px[1, 0] > cam.center[0] and px[2, 1] < cam.center[1]


def test_undistorted_projection_is_the_pinhole_of_types_camera():
    cam = _camera([3.0, -4.0, 1.2], [0.0, 0.0, 1.0])
    pts = cam.world_to_camera(np.random.default_rng(0).normal([0, 0, 1], 0.5, (20, 3)))
    k = np.array([[1000.0, 0, 500], [0, 990, 480], [0, 0, 1]])
    assert np.allclose(cam.project(pts), Camera(k, (1000, 1000)).project(pts), atol=1e-3)


def test_distortion_follows_videopose3d_project_to_2d():
    cam = _camera([0, -5, 1], [0, 0, 1], distort=True)
    u = np.array([0.1, -0.2])
    r2 = u @ u
    radial = 1 - 0.2 * r2 + 0.24 * r2**2 - 0.003 * r2**3
    expect = u * (radial + cam.tangential @ u) + cam.tangential * r2
    assert np.allclose(cam.project(np.array([0.1, -0.2, 1.0])), cam.focal_length * expect + cam.center, atol=1e-3)


def test_cameras_file_translation_in_mm_and_errors(tmp_path: Path):
    doc = cameras_json(("S1",), distortion=False)
    (tmp_path / "c.json").write_text(json.dumps(doc))
    cams = load_cameras(tmp_path / "c.json")
    assert [c.id for c in cams["S1"]] == list(CAMERA_IDS)
    assert np.allclose(cams["S1"][0].translation * 1000, doc["extrinsic"]["S1"][0]["translation"])
    vp3d = {"h36m_cameras_intrinsic_params": doc["intrinsic"],
            "h36m_cameras_extrinsic_params": {**doc["extrinsic"], "S2": [{}, {}, {}, {}]}}
    (tmp_path / "v.json").write_text(json.dumps(vp3d))
    got = load_cameras(tmp_path / "v.json")
    assert list(got) == ["S1"] and np.allclose(got["S1"][2].orientation, cams["S1"][2].orientation)
    doc["extrinsic"]["S1"] = doc["extrinsic"]["S1"][:3]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(Pose2RigError, match="S1 has 3 extrinsics for 4 cameras"):
        load_cameras(tmp_path / "bad.json")
    with pytest.raises(Pose2RigError, match="not found"):
        load_cameras(tmp_path / "none.json")


def test_action_names_group_as_in_the_papers_tables():
    assert canonical_action("Walking 1") == "Walking"
    assert canonical_action("TakingPhoto") == "Photo" and canonical_action("WalkingDog 1") == "WalkDog"
    assert canonical_action("SittingDown 2") == "SittingDown"


def test_32_joints_map_to_the_standard_17(fake):
    p3 = load_positions_3d(fake["3d"], subjects=("S1",))
    expect = clip_h36m17_world_z_up(frames=2 * FRAMES)[:FRAMES]
    assert p3["S1"]["Walking 1"].shape == (FRAMES, 17, 3)
    assert np.allclose(p3["S1"]["Walking 1"], expect, atol=1e-5)  # no 9.0 sentinel joints left
    p2 = load_positions_2d(fake["2d"], subjects=("S9",))
    assert len(p2["S9"]["TakingPhoto"]) == 4 and p2["S9"]["TakingPhoto"][0].shape == (FRAMES, 17, 2)
    with pytest.raises(Pose2RigError, match="no subject.*S6.*it has S1, S5, S9, S11"):
        load_positions_3d(fake["3d"], subjects=("S6",))


def test_eval_data_of_the_test_subjects_from_the_2d_file_or_projected(fake):
    from_2d = h36m_eval_data(positions_3d=fake["3d"], cameras=fake["cameras"], positions_2d=fake["2d"])
    projected = h36m_eval_data(positions_3d=fake["3d"], cameras=fake["cameras"])
    n = 2 * 2 * 4 * FRAMES  # subjects x actions x cameras x frames
    assert from_2d.pixels.shape == (n, 17, 2) and from_2d.gt_camera.shape == (n, 17, 3)
    assert np.allclose(from_2d.pixels, projected.pixels, atol=1e-3)
    assert set(from_2d.subjects) == {"S9", "S11"} and set(from_2d.actions) == {"Walking", "Photo"}
    assert set(from_2d.cameras) == set(CAMERA_IDS)
    assert np.all(from_2d.gt_camera[..., 2] > 1.0)  # in front of each camera
    # the camera-frame truth reprojects onto the 2D input through that row's camera
    cams = load_cameras(fake["cameras"])
    row = np.flatnonzero((from_2d.subjects == "S11") & (from_2d.cameras == CAMERA_IDS[2]))[5]
    cam = cams["S11"][2]
    assert np.allclose(cam.project(from_2d.gt_camera[row]), from_2d.pixels[row], atol=1e-3)
    step = h36m_eval_data(positions_3d=fake["3d"], cameras=fake["cameras"], frame_step=3)
    assert len(step.pixels) == n // 3


def test_detector_files_with_more_2d_frames_are_cropped_to_the_mocap(tmp_path: Path):
    paths = write_fake_h36m(tmp_path, subjects=("S9",), actions=("Eating",), frames=10, extra_2d_frames=3)
    assert load_positions_2d(paths["2d"])["S9"]["Eating"][0].shape[0] == 13
    data = h36m_eval_data(positions_3d=paths["3d"], cameras=paths["cameras"], positions_2d=paths["2d"],
                          subjects=("S9",))
    assert len(data.pixels) == 4 * 10


def test_source_trains_from_2d_alone_without_any_3d(fake):
    src = H36MSource(positions_2d=fake["2d"], subjects=("S1", "S5"), mirror=False)
    assert src.two_d_only and src.n_joints == 17 and len(src) == 2 * 2 * 4 * FRAMES
    p2 = load_positions_2d(fake["2d"], subjects=("S1", "S5"))
    pixels = np.concatenate([v for s in ("S1", "S5") for a in p2[s].values() for v in a])
    assert np.allclose(np.sort(src.poses.ravel()), np.sort(codec.normalise(pixels)[0].ravel()), atol=1e-6)
    x = src.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 17, 2) and x.dtype == torch.float32
    assert torch.allclose(x, codec.normalise_torch(x), atol=1e-5)  # already in codec form


def test_source_from_3d_and_real_cameras_equals_the_gt_2d_file(fake):
    from_3d = H36MSource(positions_3d=fake["3d"], cameras=fake["cameras"], subjects=("S1", "S5"))
    from_2d = H36MSource(positions_2d=fake["2d"], subjects=("S1", "S5"))
    assert not from_3d.two_d_only
    assert np.allclose(from_3d.poses, from_2d.poses, atol=1e-4)
    with pytest.raises(Pose2RigError, match="needs a 2D file"):
        H36MSource(positions_3d=fake["3d"])
    with pytest.raises(Pose2RigError, match="17-joint"):
        H36MSource(positions_2d=fake["2d"], n_joints=14)


def test_draws_are_fixed_by_the_generator_and_mirror_half(fake):
    src = H36MSource(positions_2d=fake["2d"], subjects=("S1",))
    a = src.sample(400, torch.Generator().manual_seed(5))
    b = src.sample(400, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    bank = torch.from_numpy(src.poses)
    seen = (a[:, None] - bank[None]).abs().amax(dim=(2, 3)).min(dim=1).values < 1e-6
    assert 0.35 < seen.float().mean() < 0.65  # the unmirrored half is drawn as stored


def test_supervised_draws_pair_pixels_with_camera_frame_truth(fake):
    src = H36MSource(positions_3d=fake["3d"], cameras=fake["cameras"], subjects=("S1",), mirror=False)
    px, cam = src.sample_3d(50, torch.Generator().manual_seed(1))
    assert px.shape == (50, 17, 2) and cam.shape == (50, 17, 3) and torch.all(cam[..., 2] > 1.0)
    # every drawn pose is one of S1's world poses seen by one of S1's cameras
    cams = load_cameras(fake["cameras"])["S1"]
    world = np.concatenate(list(load_positions_3d(fake["3d"], subjects=("S1",))["S1"].values()))
    seen = np.stack([c.world_to_camera(world) for c in cams])  # (4, T, 17, 3)
    err = np.abs(seen[:, :, None] - cam.numpy()[None, None]).max(axis=(-1, -2)).min(axis=(0, 1))
    assert err.max() < 1e-4
    # pixels are the pinhole image about the principal point, with that camera's focal length
    q = cam.numpy()[..., :2] / cam.numpy()[..., 2:3]
    f = np.sum(px.numpy() * q, axis=1) / np.sum(q * q, axis=1)  # (50, 2) per-axis focal
    assert np.allclose(px.numpy(), f[:, None] * q, atol=1e-3)
    assert np.all(np.min(np.abs(f[:, None, 0] - [c.focal_length[0] for c in cams]), axis=1) < 1e-2)
    two_d_only = H36MSource(positions_2d=fake["2d"], subjects=("S1",))
    with pytest.raises(Pose2RigError, match="needs h36m_3d and h36m_cameras"):
        two_d_only.sample_3d(4, torch.Generator())
