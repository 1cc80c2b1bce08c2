"""pose2rig.pipeline.retarget_file reads every npz that pose2rig writes, and cuts and resamples
its source (--start, --end, --fps); the documented detect -> lift -> retarget chain on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_cli import DATA, assert_one_line_error, run

from pose2rig.errors import ArgumentError
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.io.npz import load_pose, save_keypoints, save_pose
from pose2rig.options import ConvertOptions, Outputs
from pose2rig.pipeline import lift_keypoints, retarget_file
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence

BANDAI = DATA / "mocap" / "bandai1" / "dataset-1_bow_normal_001.bvh"  # 30 fps, 4.3 s
VIDEOS = sorted((DATA / "video").glob("*.mp4"))


def _filmed(seconds: float = 2.0) -> tuple[PoseSequence, Keypoints2D]:
    """Real mocap filmed by a level camera 4 m in front of the subject at 1.2 m: the camera-frame
    poses (as `lift` writes them) and their pixels (as `detect` writes them)."""
    world = load_bvh_as_h36m17(BANDAI)
    n = int(seconds * world.fps)
    w = world.joints[:n].astype(np.float64)
    cam_pts = np.stack([w[..., 0], 1.2 - w[..., 1], 4.0 - w[..., 2]], axis=-1)  # x right, y down, z forward
    camera = Camera.from_fov((1280, 720), 60.0)
    ts = world.timestamps[:n]
    pose = PoseSequence(cam_pts, H36M17, world.fps, ts, space="camera", camera=camera)
    pixels = camera.project(cam_pts)
    kp = Keypoints2D(pixels, np.ones(pixels.shape[:2], np.float32), H36M17, camera.image_size, world.fps, ts)
    return pose, kp


def _feet_heights(matrices: np.ndarray) -> np.ndarray:
    """``(T,)`` the lower of the bundled character's two ankles (its foot bones' heads), metres."""
    from pose2rig.io.rigs import load_rig

    names = load_rig(None).bone_names
    return matrices[:, [names.index("foot_l"), names.index("foot_r")], 1, 3].min(axis=1)


def _bones(path: Path, tmp_path: Path, **options) -> tuple[np.ndarray, float]:
    """World matrices of the bundled character's bones retargeted from ``path``, and the fps."""
    anim = retarget_file(path, Outputs(bvh=tmp_path / f"{path.stem}.bvh"), ConvertOptions.from_flat(**options),
                         progress=False)
    m = anim.world_matrices()
    assert np.all(np.isfinite(m))
    return m, anim.fps


def test_lift_files_go_through_the_world_transform_of_convert(tmp_path: Path) -> None:
    """A camera-frame pose file (lift's) gives the animation that convert's npz of the same poses
    gives: convert stores the cleaned world poses (pipeline.clean_world) and the world map beside
    them, retarget uses those; a camera-only file goes through the same clean_world."""
    from pose2rig.lift import load_lifter
    from pose2rig.options import ConvertOptions
    from pose2rig.pipeline import clean_world

    cam, _ = _filmed()
    save_pose(tmp_path / "lift.npz", cam)
    cleaned, world, rot, trans, _ = clean_world(cam, ConvertOptions(), load_lifter())
    save_pose(tmp_path / "convert.npz", cleaned, world_pose=world,
              extra={"world_rotation": rot, "world_translation": trans})
    lifted, fps = _bones(tmp_path / "lift.npz", tmp_path)
    converted, _ = _bones(tmp_path / "convert.npz", tmp_path)
    assert fps == pytest.approx(30.0, rel=1e-4) and lifted.shape[0] == cam.num_frames
    np.testing.assert_allclose(lifted, converted, atol=1e-5)
    # the world transform ran: the feet are on the floor although the camera filmed from 1.2 m
    assert 0.0 < np.percentile(_feet_heights(lifted), 5) < 0.2


def test_keypoint_files_and_convert_caches_are_lifted_as_lift_does(tmp_path: Path) -> None:
    from pose2rig.detect.cache import save_cache

    _, kp = _filmed(1.0)
    save_keypoints(tmp_path / "kp.npz", kp)
    save_cache(tmp_path / "clip.keypoints.npz", "{}", kp)
    lift_keypoints(tmp_path / "kp.npz", tmp_path / "pose.npz")
    via_pose, _ = _bones(tmp_path / "pose.npz", tmp_path, height=1.7)
    via_kp, _ = _bones(tmp_path / "kp.npz", tmp_path, height=1.7)
    via_cache, _ = _bones(tmp_path / "clip.keypoints.npz", tmp_path, height=1.7)
    np.testing.assert_allclose(via_kp, via_pose, atol=1e-5)
    np.testing.assert_allclose(via_cache, via_pose, atol=1e-5)
    wider, _ = _bones(tmp_path / "kp.npz", tmp_path, height=1.7, fov=90.0)  # options.lift applies
    assert not np.allclose(wider, via_kp, atol=1e-3)


def test_start_end_cut_and_fps_resamples_the_source(tmp_path: Path) -> None:
    full, fps = _bones(BANDAI, tmp_path)
    cut, cut_fps = _bones(BANDAI, tmp_path, start=1.0, end=2.0)
    assert fps == cut_fps == pytest.approx(30.0, rel=1e-4) and cut.shape[0] == 30  # 1.0 <= t < 2.0
    part = full[30:60]
    np.testing.assert_allclose(cut[..., :3, :3], part[..., :3, :3], atol=1e-6)  # the same bone rotations
    travel = cut[:, :, :3, 3] - cut[:1, :1, :3, 3]  # the same path (retarget places and scales the root per clip)
    assert np.abs(travel - (part[:, :, :3, 3] - part[:1, :1, :3, 3])).max() < 0.005
    fast, fast_fps = _bones(BANDAI, tmp_path, start=1.0, end=2.0, fps=60.0)
    # every 1/60 s from the first frame kept to the last (the BVH's frame time is 0.033333 s)
    assert fast_fps == 60.0 and fast.shape[0] == 59
    np.testing.assert_allclose(fast[::2, :, :3, :3], cut[:, :, :3, :3], atol=1e-4)  # grid times on source frames
    np.testing.assert_allclose(fast[::2, :, :3, 3], cut[:, :, :3, 3], atol=1e-4)
    between = 0.5 * (cut[:29, :, :3, 3] + cut[1:30, :, :3, 3])
    assert np.abs(fast[1::2, :, :3, 3] - between).max() < 0.01  # in between: interpolated


def test_camera_sources_are_cut_before_the_world_transform_as_convert_cuts_clips(tmp_path: Path) -> None:
    cam, _ = _filmed()
    save_pose(tmp_path / "lift.npz", cam)
    part = cam.replace(joints=cam.joints[15:45], confidence=cam.confidence[15:45], timestamps=cam.timestamps[15:45])
    save_pose(tmp_path / "part.npz", part)
    cut, _ = _bones(tmp_path / "lift.npz", tmp_path, start=0.5, end=1.5)
    whole_part, _ = _bones(tmp_path / "part.npz", tmp_path)
    np.testing.assert_allclose(cut, whole_part, atol=1e-5)


def test_a_window_without_frames_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"source has no frames from start \(9 s\) on; its timestamps run"):
        retarget_file(BANDAI, Outputs(glb=tmp_path / "o.glb"), ConvertOptions.from_flat(start=9.0))
    proc = run("retarget", str(BANDAI), "--glb", str(tmp_path / "o.glb"), "--start", "5", "--end", "6")
    assert_one_line_error(proc, "SOURCE has no frames between --start (5 s) and --end (6 s)")
    assert not (tmp_path / "o.glb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("video", VIDEOS, ids=[v.stem for v in VIDEOS])
def test_detect_lift_retarget_chain_on_every_real_clip(tmp_path: Path, video: Path) -> None:
    """The README's chain: pose2rig detect clip -o kp.npz && pose2rig lift kp.npz -o pose.npz &&
    pose2rig retarget pose.npz --glb out.glb (the detection is the cost)."""
    from pose2rig.io.gltf import read_glb_animation
    from pose2rig.io.npz import load_keypoints

    kp, pose, glb = tmp_path / "kp.npz", tmp_path / "pose.npz", tmp_path / "out.glb"
    for args in (("detect", str(video), "-o", str(kp)), ("lift", str(kp), "-o", str(pose)),
                 ("retarget", str(pose), "--glb", str(glb))):
        proc = run(*args, "-q")
        assert proc.returncode == 0, (args, proc.stderr)
    frames = load_keypoints(kp).num_frames
    anim = read_glb_animation(glb)
    assert anim.num_frames == frames == load_pose(pose, space="camera").num_frames
    m = anim.world_matrices()
    assert np.all(np.isfinite(m))
    assert 0.0 < np.percentile(_feet_heights(m), 5) < 0.2  # ankles just above the floor, not at the camera's height


@pytest.mark.slow
def test_lift_reads_the_keypoints_cache_that_convert_leaves(tmp_path: Path) -> None:
    """pose2rig convert --npz writes <clip>.keypoints.npz beside it; pose2rig lift reads it, and
    its poses reproject onto the cached keypoints."""
    from pose2rig.io.npz import load_keypoints

    video = DATA / "video" / "tfjs_pose_squats.mp4"
    proc = run("convert", str(video), "--npz", str(tmp_path / "clip.npz"), "-q")
    assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "tfjs_pose_squats.keypoints.npz"
    proc = run("lift", str(cache), "-o", str(tmp_path / "pose.npz"), "-q")
    assert proc.returncode == 0, proc.stderr
    kp = load_keypoints(cache)
    pose = load_pose(tmp_path / "pose.npz", space="camera")
    assert pose.num_frames == kp.num_frames == 65
    ok = np.all(np.isfinite(pose.joints), axis=(1, 2))
    assert ok.mean() > 0.9
    err = np.linalg.norm(pose.camera.project(pose.joints[ok]) - kp.keypoints[ok], axis=-1)
    assert np.median(err) < 2.0  # pixels
    proc = run("retarget", str(cache), "--glb", str(tmp_path / "o.glb"), "-q")
    assert proc.returncode == 0, proc.stderr
