"""End to end on a short real clip: video -> BVH, npz and preview."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.io.bvh import read_bvh
from pose2rig.io.npz import load_pose
from pose2rig.options import ConvertOptions, Outputs
from pose2rig.pipeline import convert
from pose2rig.skeletons import H36M17

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "samples" / "sports2d_demo.mp4"


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("convert")
    result = convert(
        CLIP, Outputs(bvh=out / "clip.bvh", npz=out / "clip.npz", preview=out / "clip_preview.mp4"),
        ConvertOptions.from_flat(end=2.0), progress=False,
    )
    return out, result


@pytest.mark.slow
def test_convert_writes_one_bvh_frame_per_video_frame(converted) -> None:
    out, result = converted
    motion = read_bvh(out / "clip.bvh")
    assert result.keypoints.num_frames == 60  # 2 s at 30 fps
    assert motion.motion.shape[0] == 60
    assert motion.frame_time == pytest.approx(1 / 30, rel=1e-3)
    assert np.all(np.isfinite(motion.motion))


@pytest.mark.slow
def test_convert_bone_lengths_constant_in_bvh(converted) -> None:
    out, _ = converted
    motion = read_bvh(out / "clip.bvh")
    pos, _ = motion.forward_kinematics()
    lengths = np.stack(
        [np.linalg.norm(pos[:, c] - pos[:, p], axis=-1)
         for c, p in enumerate(motion.parents) if p >= 0], axis=1,
    )
    assert np.ptp(lengths, axis=0).max() < 1e-3 * max(lengths.max(), 1.0)


@pytest.mark.slow
def test_convert_npz_reprojects_and_stands_on_floor(converted) -> None:
    out, result = converted
    cam = load_pose(out / "clip.npz", space="camera")
    world = load_pose(out / "clip.npz")
    assert cam.joints.shape == world.joints.shape == (60, 17, 3)
    assert world.space == "world"
    ok = np.all(np.isfinite(world.joints), axis=(1, 2))
    assert ok.mean() > 0.9
    w = world.joints[ok]
    head_above_pelvis = w[:, H36M17.index("head"), 1] > w[:, H36M17.index("pelvis"), 1]
    assert head_above_pelvis.mean() > 0.95
    ankles = w[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")], 1]
    assert -0.05 < np.percentile(ankles.min(axis=1), 5) < 0.2  # feet near the floor
    # the subject is about the requested height (1.70 m): head top to ankles, upright frames
    span = w[:, H36M17.index("head"), 1] - ankles.min(axis=1)
    assert 1.2 < np.median(span) < 1.9


@pytest.mark.slow
def test_convert_preview_is_a_playable_video(converted) -> None:
    import cv2

    out, _ = converted
    cap = cv2.VideoCapture(str(out / "clip_preview.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 60
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) > cap.get(cv2.CAP_PROP_FRAME_HEIGHT)


@pytest.mark.slow
def test_second_run_reuses_cached_detections(converted, caplog, monkeypatch) -> None:
    import pose2rig.detect.mediapipe as mp_backend

    out, first = converted

    def no_detector(*a, **k):
        raise AssertionError("the detector ran although detections were cached")

    monkeypatch.setattr(mp_backend.MediaPipePoseDetector, "__call__", no_detector)
    with caplog.at_level("INFO"):
        again = convert(CLIP, Outputs(bvh=out / "again.bvh"), ConvertOptions.from_flat(end=2.0, height=1.8),
                        progress=False)
    assert "from cache" in caplog.text
    np.testing.assert_array_equal(again.keypoints.keypoints, first.keypoints.keypoints)
    assert (out / "again.bvh").exists()


@pytest.mark.slow
def test_fps_resampling_mirror_and_root_motion_off(converted) -> None:
    out, first = converted
    res = convert(CLIP, Outputs(bvh=out / "half.bvh"),
                  ConvertOptions.from_flat(end=2.0, fps=15.0, root_motion=False), progress=False)
    motion = read_bvh(out / "half.bvh")
    assert motion.frame_time == pytest.approx(1 / 15, rel=1e-3)
    assert 29 <= motion.num_frames <= 31  # 2 s at 15 fps
    pelvis = res.world_pose.joints[:, H36M17.index("pelvis")]
    ok = np.all(np.isfinite(pelvis), axis=1)
    assert np.ptp(pelvis[ok][:, [0, 2]], axis=0).max() < 1e-4  # in place over the floor

    mirrored = convert(CLIP, Outputs(npz=out / "mirror.npz"), ConvertOptions.from_flat(end=2.0, mirror=True),
                       progress=False)
    w = first.keypoints.image_size[0]
    a, b = first.keypoints, mirrored.keypoints
    both = np.all(np.isfinite(a.keypoints), axis=(1, 2)) & np.all(np.isfinite(b.keypoints), axis=(1, 2))
    # the subject's left wrist in the mirrored clip sits where the right wrist was, flipped
    lw, rw = H36M17.index("left_wrist"), H36M17.index("right_wrist")
    flipped = w - b.keypoints[both, lw, 0]
    assert np.median(np.abs(flipped - a.keypoints[both, rw, 0])) < 0.05 * w


@pytest.mark.slow
@pytest.mark.parametrize(("clip", "frames"), [("tfjs_pose_squats.mp4", 65), ("tfjs_pose_1.mp4", 120)])
def test_real_clips_give_one_bvh_frame_per_video_frame(tmp_path, clip: str, frames: int) -> None:
    video = REPO.parent / "shared" / "data" / "video" / clip
    convert(video, Outputs(bvh=tmp_path / "o.bvh", preview=tmp_path / "p.mp4"), progress=False)
    motion = read_bvh(tmp_path / "o.bvh")
    assert motion.num_frames == frames
    pos, _ = motion.forward_kinematics()
    lengths = np.stack([np.linalg.norm(pos[:, c] - pos[:, p], axis=-1)
                        for c, p in enumerate(motion.parents) if p >= 0], axis=1)
    assert np.ptp(lengths, axis=0).max() < 1e-3
    assert (tmp_path / "p.mp4").stat().st_size > 10_000


@pytest.mark.slow
def test_result_carries_what_a_caller_needs(converted) -> None:
    """Poses in both frames, the rigid map between them and the feet/hand directions: callers
    (the add-on, batch) need nothing but the result."""
    from pose2rig.world import extremities

    _, result = converted
    r, t = result.world_rotation, result.world_translation
    assert r.shape == (3, 3) and t.shape == (3,)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)
    cam, world = result.camera_pose.joints, result.world_pose.joints
    ok = np.all(np.isfinite(cam), axis=(1, 2))
    np.testing.assert_allclose(cam[ok] @ r.T + t, world[ok], atol=1e-5)  # root motion on: rigid
    ends = extremities(result.camera_pose, rotation=r)  # in the clean-up's level world frame
    assert set(result.extremities) == set(ends) and result.extremities  # MediaPipe's landmarks
    for k, v in ends.items():
        np.testing.assert_array_equal(result.extremities[k], v)
    assert result.animation is None  # no character output asked
    assert result.options == ConvertOptions.from_flat(end=2.0)
    assert set(result.outputs) == {"bvh", "npz", "preview"}


@pytest.mark.slow
def test_convert_without_outputs_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = convert(CLIP, options=ConvertOptions.from_flat(end=1.0), progress=False)
    assert result.outputs == {} and list(tmp_path.iterdir()) == []  # not even a keypoint cache
    assert result.world_pose.num_frames == 30 and result.world_pose.space == "world"


def test_hold_missing_frames_midway_frame_holds_the_earlier() -> None:
    from pose2rig.pipeline import hold_missing_frames
    from pose2rig.testing import tpose_sequence

    seq = tpose_sequence(frames=5)
    joints = seq.joints + np.arange(5, dtype=np.float32)[:, None, None]  # frame t sits t metres up x, y, z
    joints[[1, 3, 4]] = np.nan
    held = hold_missing_frames(seq.replace(joints=joints))
    # frame 1 is midway between 0 and 2: the earlier; 3 and 4 after the last seen: frame 2
    assert np.array_equal(held.joints[:, 0] - seq.joints[:, 0], np.array([0, 0, 2, 2, 2])[:, None] * np.ones(3))
    assert held.confidence[[1, 3, 4]].max() == 0.0 and held.confidence[[0, 2]].min() == 1.0


def test_cached_lifter_loads_once_and_again_when_the_file_changes(tmp_path):
    """A batch worker converts many clips with one lifter; a checkpoint rewritten in place is
    read again (keyed by path, size and modification time)."""
    import os
    import shutil

    from pose2rig.lift.infer import default_checkpoint
    from pose2rig.pipeline import cached_lifter

    ck = tmp_path / "lifter.pt"
    shutil.copyfile(default_checkpoint(), ck)
    first = cached_lifter(ck)
    assert cached_lifter(ck) is first
    st = ck.stat()
    os.utime(ck, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = cached_lifter(ck)
    assert again is not first
    assert cached_lifter(ck) is again
