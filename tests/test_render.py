"""pose2rig.render: the side-by-side preview video and stills."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import CAMERA_TO_YUP
from pose2rig.render import LEFT_COLOR, RIGHT_COLOR, render_preview, render_still
from pose2rig.skeletons import H36M17, MEDIAPIPE33_TO_H36M17, map_points
from pose2rig.types import Camera, Keypoints2D, PoseSequence

FPS = 30.0
SIZE = (320, 240)
GREY = 128


@dataclass(frozen=True)
class FakeFrame:  # the fields of pose2rig.video.Frame that the renderer reads
    index: int
    time: float
    image: np.ndarray


def standing_walk(t: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` Y-up world joints, arms held out sideways so the wrists stand clear."""
    ix = H36M17.index
    out = np.zeros((t.size, 17, 3))
    sway = 0.1 * np.sin(2 * np.pi * t)
    pelvis = np.stack([sway, np.full_like(t, 0.95), 0.3 * t], -1)
    table = {
        "pelvis": [0, 0, 0], "spine": [0, 0.25, 0], "thorax": [0, 0.5, 0], "neck": [0, 0.6, 0.05],
        "head": [0, 0.75, 0],
        "left_hip": [0.13, 0, 0], "left_knee": [0.14, -0.45, 0.03], "left_ankle": [0.15, -0.87, 0],
        "right_hip": [-0.13, 0, 0], "right_knee": [-0.14, -0.45, 0.03],
        "right_ankle": [-0.15, -0.87, 0],
        "left_shoulder": [0.18, 0.5, 0], "left_elbow": [0.45, 0.5, 0], "left_wrist": [0.7, 0.55, 0],
        "right_shoulder": [-0.18, 0.5, 0], "right_elbow": [-0.45, 0.5, 0],
        "right_wrist": [-0.7, 0.55, 0],
    }
    for name, off in table.items():
        out[:, ix(name)] = pelvis + off
    return out


@pytest.fixture(scope="module")
def clip():
    """15 grey frames of a subject facing a camera 3.5 m away, its 2D keypoints and 3D pose."""
    t = np.arange(15) / FPS
    world = standing_walk(t)
    # the subject faces the camera: turn it half a turn, put it 3.5 m in front, 1 m below the lens
    facing_camera = world * [-1.0, 1.0, -1.0] + [0.0, -1.0, 3.5]
    cam_joints = facing_camera @ CAMERA_TO_YUP.T
    camera = Camera.from_fov(SIZE, 70.0)
    px = camera.project(cam_joints)
    conf = np.ones((t.size, 17), np.float32)
    conf[:, H36M17.index("right_wrist")] = 0.2  # faded
    kp = Keypoints2D(px, conf, H36M17, SIZE, FPS, t)
    pose = PoseSequence(world, H36M17, FPS, t, space="world")
    grey = np.full((SIZE[1], SIZE[0], 3), GREY, np.uint8)
    frames = [FakeFrame(i, float(ti), grey.copy()) for i, ti in enumerate(t)]
    return frames, kp, pose


def colourfulness(pixel: np.ndarray) -> int:
    return int(pixel.max()) - int(pixel.min())


def test_render_preview_writes_playable_video_with_skeleton(clip, tmp_path):
    frames, kp, pose = clip
    out = tmp_path / "preview.mp4"
    codec = render_preview(out, frames, kp, pose, fps=FPS, progress=False, height=240)
    assert codec in ("h264", "mp4v")
    with av.open(str(out)) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(images) == len(frames)
    h, w = images[0].shape[:2]
    assert (h, w) == (240, 320 + 240)
    img = images[7]
    left = img[:, :320]
    lw = tuple(int(round(v)) for v in kp.keypoints[7, H36M17.index("left_wrist")])
    pelvis = tuple(int(round(v)) for v in kp.keypoints[7, H36M17.index("pelvis")])
    b, g, r = (int(v) for v in left[lw[1], lw[0]])
    assert b > r + 60  # the subject's left is blue
    mid = left[pelvis[1], pelvis[0]]
    assert colourfulness(mid) < 40 and mid.mean() > 170  # the mid-line is light grey
    corner = left[5, 5]
    assert colourfulness(corner) < 10 and abs(int(corner.mean()) - GREY) < 6  # background kept
    right = img[:, 320:].astype(int)
    coloured = (np.abs(right - right.mean(axis=-1, keepdims=True)).max(axis=-1) > 60).sum()
    assert coloured > 200  # the 3D skeleton's coloured bones are there


def test_render_still_colours_sides_and_fades_low_confidence(clip):
    frames, kp, pose = clip
    img = render_still(frames[3].image, kp, pose, time=frames[3].time, height=240)
    assert img.shape == (240, 560, 3) and img.dtype == np.uint8
    ix = H36M17.index
    lw = tuple(int(round(v)) for v in kp.keypoints[3, ix("left_wrist")])
    rw = tuple(int(round(v)) for v in kp.keypoints[3, ix("right_wrist")])
    re = tuple(int(round(v)) for v in kp.keypoints[3, ix("right_elbow")])
    np.testing.assert_array_equal(img[lw[1], lw[0]], LEFT_COLOR)
    np.testing.assert_array_equal(img[re[1], re[0]], RIGHT_COLOR)
    faded = img[rw[1], rw[0]].astype(int)  # right wrist, confidence 0.2: a blend with the grey
    assert 0 < np.abs(faded - GREY).max() < 0.5 * np.abs(np.array(RIGHT_COLOR) - GREY).max()


def test_render_matches_pose_by_timestamp(clip):
    frames, kp, pose = clip
    sparse = PoseSequence(pose.joints[::5], H36M17, 6.0, pose.timestamps[::5], space="world")
    drawn = render_still(frames[1].image, kp, sparse, time=frames[1].time, height=240)
    empty = render_still(frames[1].image, kp, sparse.replace(timestamps=sparse.timestamps + 5.0),
                         time=frames[1].time, height=240)
    def coloured(img):
        right = img[:, 320:].astype(int)
        return (np.abs(right - right.mean(axis=-1, keepdims=True)).max(axis=-1) > 60).sum()
    assert coloured(drawn) > 200  # frame 1 (t = 1/30 s) takes the pose sample at t = 0
    assert coloured(empty) == 0  # no pose sample near this time: grid only
    # keypoints far from the frame's time are not drawn either: the left half is the frame
    bare = render_still(frames[1].image, kp, pose, time=10.0, height=240)
    assert (bare[:, :320] == GREY).all()


def test_render_preview_rejects_empty_input(clip, tmp_path):
    _, kp, pose = clip
    with pytest.raises(Pose2RigError, match="at least one video frame"):
        render_preview(tmp_path / "x.mp4", [], kp, pose, fps=FPS, progress=False)
    assert not (tmp_path / "x.mp4").exists()


DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def test_render_preview_of_real_clip_through_open_video(tmp_path):
    # the first 2 s (10 frames) of a real portrait clip, with BlazePose's reference 2D and 3D
    from pose2rig.video import open_video
    from pose2rig.world import to_world

    k2 = np.array(json.loads((DATA / "tfjs_pose_squats.full.json").read_text()))[:, :, :2]
    k3 = np.array(json.loads((DATA / "tfjs_pose_squats_3d.full.json").read_text()))
    t = np.arange(k2.shape[0]) / 5.0
    p2, c2 = map_points(k2, np.ones(k2.shape[:2]), MEDIAPIPE33_TO_H36M17)
    p3, c3 = map_points(k3, np.ones(k3.shape[:2]), MEDIAPIPE33_TO_H36M17)
    kp = Keypoints2D(p2, c2, H36M17, (720, 1280), 5.0, t)
    pose = to_world(PoseSequence(p3 + [0, 0, 3.0], H36M17, 5.0, t, space="camera"))
    out = tmp_path / "squats.mp4"
    with open_video(DATA / "tfjs_pose_squats.mp4", end=2.0) as frames:
        codec = render_preview(out, frames, kp, pose, fps=5.0, progress=False, height=320)
    with av.open(str(out)) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(images) == 10
    assert images[0].shape == (320, 180 + 320, 3)
    assert codec in ("h264", "mp4v")
    # the left half shows the drawn skeleton: the subject's left hip (blue) where BlazePose put it
    x, y = (kp.keypoints[4, H36M17.index("left_hip")] * 320 / 1280).round().astype(int)
    b, g, r = (int(v) for v in images[4][y, x])
    assert b > r + 50


def _panel_skeleton(img: np.ndarray, left_w: int) -> tuple[int, np.ndarray]:
    """(coloured pixel count, (x0, y0, x1, y1) of them) in the 3D panel of a preview frame."""
    right = img[:, left_w:].astype(int)
    coloured = np.abs(right - right.mean(axis=-1, keepdims=True)).max(axis=-1) > 40
    ys, xs = np.nonzero(coloured)
    if ys.size == 0:
        return 0, np.zeros(4, int)
    return int(ys.size), np.array([xs.min(), ys.min(), xs.max(), ys.max()])


def test_preview_follows_a_subject_who_travels_far():
    """A 20 m walk: the 3D panel follows the subject, keeps its whole body in view and at a
    readable size (the view used to be framed on the whole clip: a 60-pixel skeleton)."""
    fps = 10.0
    t = np.arange(101) / fps
    world = standing_walk(t)
    world[..., 2] += 2.0 * t[:, None] - 0.3 * t[:, None]  # 2 m/s forward: 20 m in 10 s
    world[..., 0] += np.where(t > 5.0, 3.0, 0.0)[:, None]  # and a 3 m jump sideways halfway
    pose = PoseSequence(world, H36M17, fps, t, space="world")
    kp = Keypoints2D(np.full((t.size, 17, 2), np.nan), np.zeros((t.size, 17)), H36M17, SIZE, fps, t)
    height = 240
    heights = []
    for ti in (0.0, 2.5, 4.9, 5.0, 5.1, 7.5, 10.0):
        img = render_still(None, kp, pose, time=ti, height=height)
        count, (x0, y0, x1, y1) = _panel_skeleton(img, 320)
        assert count > 200, ti
        assert x0 > 0 and y0 > 0 and x1 < height - 1 and y1 < height - 1, (ti, x0, y0, x1, y1)  # all in view
        heights.append(y1 - y0)
    assert min(heights) > 0.4 * height, heights  # a 1.7 m body fills over 40% of the panel
    assert max(heights) < 1.3 * min(heights), heights  # and keeps its size along the way


def test_follow_path_smooths_and_never_lags_far():
    from pose2rig.render import follow_path

    fps = 30.0
    t = np.arange(90) / fps
    ramp = np.stack([1.5 * t, np.full_like(t, 0.9), np.zeros_like(t)], axis=1)
    target = follow_path(ramp, fps, max_offset=0.2)
    np.testing.assert_allclose(target[20:70], ramp[20:70], atol=1e-9)  # steady walking: no lag
    jump = ramp.copy()
    jump[45:, 2] += 5.0  # a held pose giving way to the next seen one, 5 m away
    target = follow_path(jump, fps, max_offset=0.2)
    assert np.linalg.norm(target - jump, axis=1).max() <= 0.2 + 1e-9
    assert 0.1 < np.abs(target[44, 2] - jump[44, 2]) <= 0.2  # smoothed towards the jump, up to the limit
    rng = np.random.default_rng(0)
    shaky = ramp + rng.normal(0.0, 0.02, ramp.shape)
    target = follow_path(shaky, fps, max_offset=0.2)
    assert np.std(np.diff(target[20:70, 1])) < 0.2 * np.std(np.diff(shaky[20:70, 1]))  # steadier
    gappy = ramp.copy()
    gappy[30:40] = np.nan  # missing rows take the nearest seen one
    assert np.all(np.isfinite(follow_path(gappy, fps, max_offset=0.2)))
    with pytest.raises(Pose2RigError, match="no frame"):
        follow_path(np.full((5, 3), np.nan), fps, max_offset=0.2)


@pytest.mark.slow
def test_convert_preview_shows_the_held_pose_through_a_long_gap(tmp_path):
    """A real clip with 4 s blacked out: convert's preview keeps drawing the pose the clean-up
    filled in (faded: nobody was seen) instead of an empty floor."""
    import cv2

    from pose2rig.options import ConvertOptions, Outputs
    from pose2rig.pipeline import convert
    from pose2rig.video import VideoWriter, open_video

    clip = tmp_path / "gap.mp4"
    with open_video(DATA / "tfjs_pose_squats.mp4") as video, VideoWriter(clip, fps=5.0, size=(360, 640)) as w:
        for f in video:
            img = cv2.resize(f.image, (360, 640), interpolation=cv2.INTER_AREA)
            if 4.0 <= f.time < 8.0:
                img[:] = 0
            w.write(img)
    out = tmp_path / "preview.mp4"
    result = convert(clip, Outputs(preview=out), ConvertOptions.from_flat(cache=False), progress=False)
    gap = (result.world_pose.confidence == 0).all(axis=1)
    assert gap.sum() >= 15  # the blackout is a gap longer than --max-gap: filled but marked unseen
    with av.open(str(out)) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    left_w = images[0].shape[1] - images[0].shape[0]
    for k in np.flatnonzero(gap):
        count, _ = _panel_skeleton(images[k], left_w)
        assert count > 100, k  # a skeleton is drawn in every frame of the gap


def test_frames_are_shrunk_bilinearly_down_to_half_size_and_by_area_below_it() -> None:
    """Bilinear is 7x faster than area averaging on the demo's frames and, above half size,
    within a grey level of it on a real frame; below half size it would alias, so area there."""
    import cv2

    from pose2rig.render import downscale_interpolation
    from pose2rig.video import open_video

    assert downscale_interpolation(994, 720) == cv2.INTER_LINEAR
    assert downscale_interpolation(720, 720) == cv2.INTER_LINEAR
    assert downscale_interpolation(480, 720) == cv2.INTER_LINEAR  # enlarging
    assert downscale_interpolation(1441, 720) == cv2.INTER_AREA
    demo = Path(__file__).resolve().parents[1] / "samples" / "sports2d_demo.mp4"
    with open_video(demo, start=3.0, end=3.1) as v:
        image = next(iter(v)).image
    area = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_AREA).astype(np.float64)
    linear = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    assert np.abs(area - linear).mean() < 1.5
