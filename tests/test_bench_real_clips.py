"""bench/real_clips.py: the 2D contact rule on hand-made landmark tracks, and the measures, table,
docs section and picture on a tiny fake conversion result (no video is decoded)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _bench_module import bench_module

from pose2rig.clean import FootContacts
from pose2rig.skeletons import H36M17
from pose2rig.types import Keypoints2D, PoseSequence

H = 300.0  # the person's image height in every track below: shoulders at y 100, ankles at y 400


@pytest.fixture(scope="module")
def rc():
    return bench_module("real_clips")


def _body(t: int) -> np.ndarray:
    """``(t, 33, 3)`` landmarks: shoulders 300 px above the ankles, both feet flat and still at
    y 425 (heel) / 420 (toe), everything fully visible."""
    lm = np.zeros((t, 33, 3))
    lm[:, :, 2] = 1.0
    lm[:, [11, 12], 1] = 100.0
    lm[:, [27, 28], 1] = 400.0
    lm[:, [11, 27], 0] = 200.0
    lm[:, [12, 28], 0] = 300.0
    lm[:, [29, 31], 0] = (190.0, 230.0)  # left heel, toe
    lm[:, [30, 32], 0] = (290.0, 330.0)  # right heel, toe
    lm[:, [29, 30], 1] = 425.0
    lm[:, [31, 32], 1] = 420.0
    return lm


def test_person_height_is_the_shoulder_to_ankle_extent(rc):
    assert rc.person_height(_body(10)) == pytest.approx(H)


def test_a_still_foot_is_in_contact_until_it_moves_and_a_raised_foot_only_once_put_down(rc):
    t, fps = 30, 30.0
    lm = _body(t)
    # left foot still on frames 0-14, then sliding 20 px a frame (2 H/s): its last still frame is
    # 13, since frame 14's step out of it moves
    lm[15:, [29, 31], 0] += 20.0 * np.arange(1, t - 14)[:, None]
    # right foot held still 75 px (0.25 H) up on frames 0-14, put down at frame 15 and still after:
    # up there it is neither the lower foot nor near its clip-low; frames 14 and 15 touch the step
    lm[:15, [30, 32], 1] -= 75.0
    c = rc.image_contacts(lm, np.arange(t) / fps, fps)
    assert c.shape == (t, 2)
    assert np.array_equal(np.flatnonzero(c[:, 0]), np.arange(0, 14))
    assert np.array_equal(np.flatnonzero(c[:, 1]), np.arange(16, 30))


def test_still_is_judged_per_second_not_per_frame(rc):
    # 10 px a frame: 0.17 H/s at 5 fps (still), 1 H/s at 30 fps (moving)
    t = 20
    lm = _body(t)
    lm[:, [29, 31], 0] += 10.0 * np.arange(t)[:, None]
    slow = rc.image_contacts(lm, np.arange(t) / 5.0, 5.0)
    fast = rc.image_contacts(lm, np.arange(t) / 30.0, 30.0)
    assert slow[:, 0].all() and not fast[:, 0].any()
    assert slow[:, 1].all() and fast[:, 1].all()  # the right foot stays still at either rate


def test_unseen_frames_break_contacts_and_short_runs_are_dropped(rc):
    t, fps = 20, 30.0  # shortest contact: ceil(0.1 s * 30) = 3 frames
    lm = _body(t)
    lm[5, 29, 2] = 0.3  # left heel barely visible on frame 5
    lm[8:, [29, 31], 0] += 20.0 * np.arange(1, t - 7)[:, None]  # left foot moves from frame 8
    lm[10, 32, :2] = np.nan  # right toe missing on frame 10
    c = rc.image_contacts(lm, np.arange(t) / fps, fps)
    # left: still 0-6 minus the unseen frame 5 -> runs 0-4 (kept) and 6 (one frame: dropped)
    assert np.array_equal(np.flatnonzero(c[:, 0]), np.arange(0, 5))
    # right: a missing frame is no contact, and its neighbours keep their one step
    assert np.array_equal(np.flatnonzero(c[:, 1]), np.r_[0:10, 11:20])


def _fake_result(t: int = 30, fps: float = 30.0) -> SimpleNamespace:
    """A conversion result: the left foot still in the image all along while its 3D ankle slides
    1 cm a frame; the right foot moving in the image; the pelvis (and the body with it) walking
    10 cm a frame along world x; frames 10-12 with no pose. The camera looks along world +x."""
    ts = np.arange(t) / fps
    lm = _body(t)
    lm[:, [30, 32], 0] += 20.0 * np.arange(t)[:, None]
    kp = Keypoints2D(keypoints=np.ones((t, 17, 2)), confidence=np.ones((t, 17)), skeleton=H36M17,
                     image_size=(640, 480), fps=fps, timestamps=ts, landmarks33=lm)
    base = np.tile(np.arange(17, dtype=np.float64)[:, None] * [0.01, 0.05, 0.0], (t, 1, 1))
    joints = base + np.arange(t)[:, None, None] * [0.1, 0.0, 0.0]
    left, right = H36M17.index("left_ankle"), H36M17.index("right_ankle")
    joints[:, left] = np.arange(t)[:, None] * [0.01, 0.0, 0.0] + [0.1, 0.08, 0.0]
    joints[:, right] = np.arange(t)[:, None] * [0.0, 0.0, 0.05] + [-0.1, 0.08, 0.0]
    joints[10:13] = np.nan
    world = PoseSequence(joints=joints, skeleton=H36M17, fps=fps, timestamps=ts, space="world")
    look_along_x = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # R @ (0, 0, 1) = +x
    return SimpleNamespace(keypoints=kp, world_pose=world, world_rotation=look_along_x)


def test_measures_and_table_of_a_fake_result(rc):
    m = rc.measure(_fake_result(), "sports2d_demo")
    assert m.frames == 30 and m.fps == 30.0
    assert m.contact_share == pytest.approx(0.5)  # the left foot on every frame, the right never
    assert m.sliding_mm == pytest.approx(10.0)  # 1 cm a frame at 30 fps
    assert m.jitter == pytest.approx(0.0, abs=0.01) and m.jitter_ankles == pytest.approx(0.0, abs=0.01)  # float32
    # files hold frames 10, 11 at frame 9 and 12 at 13: the pelvis jumps 0.4 m into frame 12
    assert m.root_speed == pytest.approx(12.0) and m.root_speed_frame == 12
    assert m.root_path == pytest.approx(2.9)  # 29 steps of 10 cm, the held ones included
    assert m.depth_travel == pytest.approx(0.4)  # frames 3-7 along the camera's view (+x)
    assert m.feet_path == pytest.approx(29 * np.hypot(0.005, 0.025), rel=1e-5)  # a straight line
    assert m.unseen == 3
    assert rc.measure(_fake_result(), "tfjs_pose_1").depth_travel is None

    table = rc.format_table({"sports2d_demo": {"before": m}})
    assert "| sports2d_demo | 30 (30) | before | 3 | 50% | 10.0 | 0.0 | 0.0 | 12.0 (12) | 2.90 | 0.74 | 0.40 |" in table
    body = rc.docs_body({"sports2d_demo": {"before": m}}, ".venv/bin/python bench/real_clips.py",
                        figure="contacts.png", date="2026-12-07")
    assert table in body and "(contacts.png)" in body and rc.MACHINE in body and "2026-12-07" in body


def test_the_cleanups_own_contacts_per_foot_and_the_picture(rc, tmp_path):
    r = _fake_result()
    assert rc.cleanup_contacts(r) is None
    own = np.zeros((30, 2), dtype=bool)
    own[3:9, 0] = True
    own[20:, 1] = True
    r.cleanup = SimpleNamespace(contacts=FootContacts(contacts=own, weights=own.astype(float)))
    assert np.array_equal(rc.cleanup_contacts(r), own)  # Human3.6M-17's foot points: the two ankles

    path = tmp_path / "contacts.png"
    rc.write_figure(path, "fake", {"before": _fake_result(), "after": r})
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 150_000
