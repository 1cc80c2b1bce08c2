"""2D detection: backends behind the Detector protocol, the H36M17 mapping, the subject guard,
the cache, and agreement with the tfjs BlazePose reference on a real clip."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose2rig.detect import (
    Detection,
    Detector,
    MediaPipePoseDetector,
    SubjectGuard,
    detect,
    detect_video,
)
from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import COCO17, H36M17, MEDIAPIPE33
from pose2rig.video import Frame

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SQUATS = DATA / "tfjs_pose_squats.mp4"
SQUATS_REF = DATA / "tfjs_pose_squats.full.json"

MP = {n: MEDIAPIPE33.index(n) for n in MEDIAPIPE33.joint_names}
H = {n: H36M17.index(n) for n in H36M17.joint_names}


# ------------------------------------------------------------------------------------------------
# fakes and fixtures


def coco_person(cx: float, cy: float, scale: float = 100.0) -> np.ndarray:
    """``(17, 2)`` COCO points of an upright figure, torso centre ``(cx, cy)``, torso height
    ``scale`` (pelvis to thorax)."""
    layout = {
        "nose": (0, -0.9), "left_eye": (0.05, -0.95), "right_eye": (-0.05, -0.95),
        "left_ear": (0.1, -0.9), "right_ear": (-0.1, -0.9),
        "left_shoulder": (0.25, -0.5), "right_shoulder": (-0.25, -0.5),
        "left_elbow": (0.35, -0.1), "right_elbow": (-0.35, -0.1),
        "left_wrist": (0.4, 0.3), "right_wrist": (-0.4, 0.3),
        "left_hip": (0.15, 0.5), "right_hip": (-0.15, 0.5),
        "left_knee": (0.15, 1.0), "right_knee": (-0.15, 1.0),
        "left_ankle": (0.15, 1.5), "right_ankle": (-0.15, 1.5),
    }
    pts = np.array([layout[n] for n in COCO17.joint_names], dtype=np.float64)
    return pts * scale + (cx, cy)


class ScriptedCoco:
    """A coco17 Detector that returns ``script[i]`` (points or None) on its i-th call."""

    skeleton = COCO17

    def __init__(self, script: list[np.ndarray | None], *, identity: str = "scripted-coco v1"):
        self.script = script
        self.identity = identity
        self.calls = 0
        self.resets = 0
        self.closed = False

    def __call__(self, image_bgr: np.ndarray, time_s: float) -> Detection | None:
        pts = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if pts is None:
            return None
        return Detection(points=pts, confidence=np.full(len(pts), 0.9))

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed = True


def blank_frames(n: int, *, size: tuple[int, int] = (64, 48), fps: float = 30.0) -> list[Frame]:
    w, h = size
    return [Frame(i, i / fps, np.zeros((h, w, 3), np.uint8)) for i in range(n)]


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


@pytest.fixture(scope="module")
def squats() -> tuple:
    """Our detection of the whole squats clip (65 frames) and the tfjs BlazePose reference."""
    kp = detect_video(SQUATS, progress=False)
    ref = np.array(json.loads(SQUATS_REF.read_text()), dtype=np.float64)
    return kp, ref


# ------------------------------------------------------------------------------------------------
# Detection and the protocol


def test_detection_marks_nan_points_with_zero_confidence():
    pts = np.zeros((17, 2))
    pts[3] = np.nan
    d = Detection(points=pts, confidence=np.full(17, 1.5))
    assert d.confidence[3] == 0.0
    assert np.all(d.confidence[np.arange(17) != 3] == 1.0)
    with pytest.raises(Pose2RigError, match=r"expected points \(J, 2\)"):
        Detection(points=np.zeros((17, 3)), confidence=np.zeros(17))
    world = np.zeros((17, 3))
    world[5, 2] = np.inf
    assert np.isnan(Detection(points=pts, confidence=np.ones(17), world=world).world[5]).all()
    with pytest.raises(Pose2RigError, match=r"expected world points \(17, 3\)"):
        Detection(points=pts, confidence=np.ones(17), world=np.zeros((33, 3)))


def test_mediapipe_detector_is_a_detector_and_rejects_bad_images():
    det = MediaPipePoseDetector(min_detection_confidence=0.3)
    assert isinstance(det, Detector)
    assert det.skeleton is MEDIAPIPE33
    assert "det=0.3" in det.identity
    with pytest.raises(Pose2RigError, match="uint8 BGR image"):
        det(np.zeros((8, 8), np.uint8), 0.0)
    with pytest.raises(Pose2RigError, match="between 0 and 1"):
        MediaPipePoseDetector(min_tracking_confidence=1.5)
    det.close()


# ------------------------------------------------------------------------------------------------
# detect() with fake backends


def test_coco17_backend_goes_through_detect_as_h36m17():
    pts = coco_person(30, 20, scale=10)
    fake = ScriptedCoco([pts])
    kp = detect(blank_frames(4), image_size=(64, 48), fps=30.0, detector=fake, progress=False)
    assert kp.skeleton is H36M17 and kp.landmarks33 is None
    assert kp.keypoints.shape == (4, 17, 2)
    c = {n: COCO17.index(n) for n in COCO17.joint_names}
    np.testing.assert_allclose(
        kp.keypoints[:, H["pelvis"]],
        np.tile((pts[c["left_hip"]] + pts[c["right_hip"]]) / 2, (4, 1)), atol=1e-4,
    )
    np.testing.assert_allclose(
        kp.keypoints[:, H["left_wrist"]], np.tile(pts[c["left_wrist"]], (4, 1))
    )
    np.testing.assert_allclose(kp.confidence, 0.9, atol=1e-6)
    np.testing.assert_allclose(kp.timestamps, np.arange(4) / 30.0)
    assert fake.calls == 4 and not fake.closed  # a detector passed in is the caller's to close


def test_a_backend_with_an_unregistered_joint_set_is_refused_by_name():
    from pose2rig.skeletons.joint_sets import skeleton_from_pairs

    fake = ScriptedCoco([coco_person(30, 20, scale=10)], identity="rtm-fake v0")
    fake.skeleton = skeleton_from_pairs("rtm26", [("pelvis", None), ("neck", "pelvis")])
    with pytest.raises(Pose2RigError, match=r"^detector rtm-fake v0: joint set 'rtm26' has no mapping onto "
                                            r"h36m17; known: coco17, h36m17, mediapipe33$"):
        detect(blank_frames(2), image_size=(64, 48), fps=30.0, detector=fake, progress=False)
    assert fake.calls == 0


class ScriptedMediaPipe:
    """A mediapipe33 Detector returning one fixed person with world landmarks, or None."""

    skeleton = MEDIAPIPE33
    identity = "scripted-mediapipe v1"

    def __init__(self, script: list[bool], world: bool = True):
        self.script, self.world, self.calls = script, world, 0

    def __call__(self, image_bgr: np.ndarray, time_s: float) -> Detection | None:
        seen = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if not seen:
            return None
        pts = np.array([(20 + (i % 5) * 3, 5 + i) for i in range(33)], dtype=np.float64)
        world = np.stack([np.full(33, 0.1 * self.calls), np.arange(33) / 33, np.zeros(33)], axis=1)
        return Detection(points=pts, confidence=np.full(33, 0.8), world=world if self.world else None)

    def close(self) -> None:
        pass


def test_world_landmarks_are_kept_per_frame_and_nan_without_the_subject():
    fake = ScriptedMediaPipe([True, False, True])
    kp = detect(blank_frames(3), image_size=(64, 48), fps=30.0, detector=fake, progress=False)
    assert kp.world33.shape == (3, 33, 3) and kp.world33.dtype == np.float32
    assert np.isnan(kp.world33[1]).all() and np.isnan(kp.landmarks33[1, :, :2]).all()
    np.testing.assert_allclose(kp.world33[[0, 2], :, 0], [[0.1] * 33, [0.3] * 33], atol=1e-6)
    np.testing.assert_allclose(kp.world33[2, :, 1], np.arange(33) / 33, atol=1e-6)
    # a backend without world points gives none
    kp = detect(blank_frames(2), image_size=(64, 48), fps=30.0,
                detector=ScriptedMediaPipe([True], world=False), progress=False)
    assert kp.world33 is None and kp.landmarks33 is not None


def test_frames_without_anyone_are_nan_with_zero_confidence():
    pts = coco_person(30, 20, scale=10)
    fake = ScriptedCoco([pts, None, None, pts, pts])
    kp = detect(blank_frames(5), image_size=(64, 48), fps=30.0, detector=fake, progress=False)
    assert np.all(np.isnan(kp.keypoints[1:3])) and np.all(kp.confidence[1:3] == 0)
    assert np.all(np.isfinite(kp.keypoints[[0, 3, 4]])) and np.all(kp.confidence[[0, 3, 4]] > 0)


def test_nobody_in_any_frame_raises_a_clear_error():
    fake = ScriptedCoco([None])
    with pytest.raises(Pose2RigError, match="no person detected in any of the 6 frames"):
        detect(blank_frames(6), image_size=(64, 48), fps=30.0, detector=fake, progress=False)


def test_wrong_image_size_and_empty_input_are_refused():
    fake = ScriptedCoco([coco_person(30, 20, 10)])
    with pytest.raises(Pose2RigError, match=r"expected a \(40, 64, 3\) image"):
        detect(blank_frames(2), image_size=(64, 40), fps=30.0, detector=fake, progress=False)
    with pytest.raises(Pose2RigError, match="no frames"):
        detect([], image_size=(64, 48), fps=30.0, detector=fake, progress=False)


# ------------------------------------------------------------------------------------------------
# the subject guard


def test_guard_rejects_a_jump_to_another_person_and_returns_to_the_subject():
    a, b = coco_person(100, 200, 100), coco_person(600, 200, 100)  # 5 torso heights apart
    script = [a, a, a, None, b, b, a, a]
    fake = ScriptedCoco(script)
    with pytest.warns(UserWarning, match="2 of 8 frames"):
        kp = detect(blank_frames(8, size=(800, 400)), image_size=(800, 400), fps=30.0,
                    detector=fake, progress=False)
    pelvis_x = kp.keypoints[:, H["pelvis"], 0]
    assert np.all(np.isnan(pelvis_x[3:6]))
    np.testing.assert_allclose(pelvis_x[[0, 1, 2, 6, 7]], 100.0, atol=1e-3)
    assert fake.resets == 2  # the tracker is asked to search the image again after each jump


def test_guard_follows_the_new_person_once_the_subject_has_been_gone_long_enough():
    a, b = coco_person(100, 200, 100), coco_person(600, 200, 100)
    guard = SubjectGuard(max_jump=1.0, max_speed=5.0, reacquire_s=0.5)
    accepted = [guard.accept(_h36(a), time_s=0.0, frame=0)]
    # b is seen every 0.1 s from 0.1 s on; the subject was last accepted at t=0
    accepted += [guard.accept(_h36(b), time_s=0.1 * i, frame=i) for i in range(1, 9)]
    assert accepted == [True, False, False, False, False, False, True, True, True]
    assert guard.switches == [6] and guard.rejected == [1, 2, 3, 4, 5]


def test_guard_takes_back_the_subject_after_a_gap_but_not_the_bystander():
    a = coco_person(100, 200, 100)
    bystander = coco_person(400, 200, 100)  # 3 torso heights from the subject
    guard = SubjectGuard(max_jump=1.0, max_speed=5.0, reacquire_s=2.0)
    assert guard.accept(_h36(a), time_s=0.0)
    # the tracker jumps to the bystander and stays there: still rejected once the growing
    # allowance (1 + 5 * t torso heights) reaches them, because they continue the rival track
    assert not any(guard.accept(_h36(bystander), time_s=t) for t in (0.1, 0.5, 1.0, 1.5))
    # the subject reappears 4 torso heights away (on the other side) after 1.6 s: taken back
    assert guard.accept(_h36(coco_person(-300, 200, 100)), time_s=1.6)
    assert guard.switches == []


def test_guard_allows_ordinary_motion_and_scales_with_torso_height():
    guard = SubjectGuard(max_jump=1.0, max_speed=5.0, reacquire_s=1.0)
    # walking right at 0.3 torso heights per frame is followed
    walk = [_h36(coco_person(100 + 30 * i, 200, 100)) for i in range(20)]
    assert all(guard.accept(p, time_s=i / 30) for i, p in enumerate(walk))
    small = SubjectGuard(max_jump=1.0, max_speed=5.0, reacquire_s=1.0)
    assert small.accept(_h36(coco_person(100, 200, 20)), time_s=0.0)
    # the same 60 px move is 3 torso heights for a small (distant) figure
    assert not small.accept(_h36(coco_person(160, 200, 20)), time_s=1 / 30)


def test_guard_refuses_bad_settings():
    with pytest.raises(Pose2RigError, match="max_jump must be positive"):
        SubjectGuard(max_jump=0)
    with pytest.raises(Pose2RigError, match="reacquire_s"):
        SubjectGuard(reacquire_s=-1)


def _h36(coco_pts: np.ndarray) -> np.ndarray:
    from pose2rig.skeletons import COCO17_TO_H36M17, map_points

    p, _ = map_points(coco_pts[None], np.ones((1, 17)), COCO17_TO_H36M17)
    return p[0]


@pytest.mark.slow
def test_guard_on_real_detections_after_a_lost_track():
    """Composite clip: the squatter on the left, one black frame (track lost), then the same
    woman on the far right: a jump of several torso heights that is not followed until the
    subject has been gone for ``reacquire_s``."""
    imgs = [cv2.resize(im, (180, 320)) for im in read_frames(SQUATS, 10)]
    w, h = 720, 320
    frames = []
    for i in range(12):
        canvas = np.zeros((h, w, 3), np.uint8)
        if i < 5:
            canvas[:, :180] = imgs[i]
        elif i > 5:
            canvas[:, w - 180:] = imgs[i - 2]
        frames.append(Frame(i, i * 0.2, canvas))
    with MediaPipePoseDetector() as det:
        with pytest.warns(UserWarning, match="left out as another person"):
            kp = detect(frames, image_size=(w, h), fps=5.0, detector=det, reacquire_s=0.9,
                        progress=False)
    x = kp.keypoints[:, H["pelvis"], 0]
    assert np.all(x[:5] < 180)
    assert np.isnan(x[5])
    # last subject frame at t=0.8 s: frames 6-8 (1.2-1.6 s) are within 0.9 s and left out
    assert np.all(np.isnan(x[6:9]))
    # from t=1.8 s on the woman on the right is the subject
    assert np.all(x[9:] > w - 180)


@pytest.mark.slow
def test_guard_on_two_real_people():
    """sports2d_demo.mp4, 0-6.9 s: BlazePose tracks a man from the start, loses him mid-backflip
    (frame ~169, upside down) and jumps to a woman walking below (pelvis low and left in the
    image; a fresh detection ranks her first). With the guard those frames are empty, and the
    man, landing on the right, is followed again."""
    with pytest.warns(UserWarning, match="another person") as record:
        kp = detect_video(DATA / "sports2d_demo.mp4", end=6.9, progress=False)
    msg = next(str(w.message) for w in record if "another person" in str(w.message))
    left_out, first = int(msg.split()[0]), int(msg.rsplit("frame ", 1)[1].rstrip(")"))
    assert left_out >= 10 and 165 <= first <= 175  # the tracker did jump, at the flip
    frame = np.rint(kp.timestamps * 30).astype(int)
    x, y = kp.keypoints[:, H["pelvis"], 0], kp.keypoints[:, H["pelvis"], 1]
    assert not np.any(np.isfinite(x) & (x < 900) & (y > 600))  # never the woman
    assert np.isfinite(x[(frame > 10) & (frame < 169)]).mean() > 0.95  # the man before the flip
    landed = frame >= 198
    assert np.all(np.isfinite(x[landed])) and np.all(x[landed] > 1000)


# ------------------------------------------------------------------------------------------------
# the cache


def _copy_clip(tmp_path: Path) -> Path:
    dst = tmp_path / "clip.mp4"
    shutil.copyfile(SQUATS, dst)
    return dst


def test_cache_is_reused_without_running_the_detector(tmp_path):
    clip, cache = _copy_clip(tmp_path), tmp_path / "clip.keypoints.npz"
    first = ScriptedCoco([coco_person(300, 500, 200)])
    kp1 = detect_video(clip, end=1.0, cache=cache, detector=first, progress=False)
    assert first.calls == kp1.num_frames == 5 and cache.is_file()
    with np.load(cache, allow_pickle=False) as z:  # no pickles needed to read it
        assert "key" in z.files
    second = ScriptedCoco([coco_person(300, 500, 200)])
    kp2 = detect_video(clip, end=1.0, cache=cache, detector=second, progress=False)
    assert second.calls == 0
    np.testing.assert_array_equal(kp2.keypoints, kp1.keypoints)
    np.testing.assert_array_equal(kp2.timestamps, kp1.timestamps)
    assert kp2.image_size == kp1.image_size == (720, 1280) and kp2.skeleton is H36M17


@pytest.mark.parametrize(
    "change",
    ["detector_options", "mirror", "end", "max_jump", "video_mtime"],
)
def test_cache_is_invalidated_when_an_option_changes(tmp_path, change):
    clip, cache = _copy_clip(tmp_path), tmp_path / "clip.keypoints.npz"
    pts = coco_person(300, 500, 200)
    detect_video(clip, end=1.0, cache=cache, detector=ScriptedCoco([pts]), progress=False)
    kwargs = dict(end=1.0, cache=cache, progress=False)
    ident = "scripted-coco v1"
    if change == "detector_options":
        ident = "scripted-coco v1 threshold=0.3"
    elif change == "mirror":
        kwargs["mirror"] = True
    elif change == "end":
        kwargs["end"] = 0.6
    elif change == "max_jump":
        kwargs["max_jump"] = 2.0
    elif change == "video_mtime":
        st = clip.stat()
        os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = ScriptedCoco([pts], identity=ident)
    kp = detect_video(clip, detector=again, **kwargs)
    assert again.calls == kp.num_frames > 0
    # the fresh result replaced the old one: the same call now hits the cache
    third = ScriptedCoco([pts], identity=ident)
    detect_video(clip, detector=third, **kwargs)
    assert third.calls == 0


def test_a_cache_of_the_format_before_world_landmarks_is_detected_again(tmp_path, monkeypatch):
    import pose2rig.detect.cache as cache_module

    clip, cache = _copy_clip(tmp_path), tmp_path / "clip.keypoints.npz"
    pts = coco_person(300, 500, 200)
    with monkeypatch.context() as m:
        m.setattr(cache_module, "FORMAT", "pose2rig-detect-cache/1")
        detect_video(clip, end=1.0, cache=cache, detector=ScriptedCoco([pts]), progress=False)
    assert '"pose2rig-detect-cache/1"' in str(np.load(cache)["key"])
    again = ScriptedCoco([pts])
    kp = detect_video(clip, end=1.0, cache=cache, detector=again, progress=False)
    assert again.calls == kp.num_frames == 5
    assert cache_module.FORMAT in str(np.load(cache)["key"])


def test_unreadable_cache_is_recomputed(tmp_path):
    clip, cache = _copy_clip(tmp_path), tmp_path / "clip.keypoints.npz"
    cache.write_bytes(b"not an npz")
    fake = ScriptedCoco([coco_person(300, 500, 200)])
    with pytest.warns(UserWarning, match="unreadable"):
        kp = detect_video(clip, end=0.6, cache=cache, detector=fake, progress=False)
    assert fake.calls == kp.num_frames == 3
    assert np.load(cache, allow_pickle=False)["keypoints"].shape == (3, 17, 2)


# ------------------------------------------------------------------------------------------------
# MediaPipe on real footage


@pytest.mark.slow
def test_agrees_with_the_tfjs_blazepose_reference(squats):
    kp, ref = squats
    assert kp.num_frames == len(ref) == 65
    ref_xy = ref[:, :, :2]
    torso = np.linalg.norm(
        (ref_xy[:, MP["left_shoulder"]] + ref_xy[:, MP["right_shoulder"]]) / 2
        - (ref_xy[:, MP["left_hip"]] + ref_xy[:, MP["right_hip"]]) / 2,
        axis=-1,
    )
    err = np.linalg.norm(kp.landmarks33[:, :, :2] - ref_xy, axis=-1) / torso[:, None]
    assert np.all(np.isfinite(err))
    assert err.mean() < 0.05, f"mean error {err.mean():.3%} of torso height"


@pytest.mark.slow
def test_mapping_on_real_detections(squats):
    kp, _ = squats
    lm = kp.landmarks33
    assert lm.shape == (65, 33, 3)
    np.testing.assert_allclose(
        kp.keypoints[:, H["pelvis"]], (lm[:, MP["left_hip"], :2] + lm[:, MP["right_hip"], :2]) / 2,
        atol=1e-3,
    )
    np.testing.assert_allclose(
        kp.keypoints[:, H["thorax"]],
        (lm[:, MP["left_shoulder"], :2] + lm[:, MP["right_shoulder"], :2]) / 2, atol=1e-3,
    )
    np.testing.assert_allclose(kp.keypoints[:, H["right_knee"]], lm[:, MP["right_knee"], :2])
    np.testing.assert_allclose(kp.keypoints[:, H["neck"]], lm[:, MP["nose"], :2])
    np.testing.assert_allclose(
        kp.confidence[:, H["pelvis"]],
        np.minimum(lm[:, MP["left_hip"], 2], lm[:, MP["right_hip"], 2]), atol=1e-6,
    )
    # she faces the camera: her own left is on the image's right
    assert np.all(kp.keypoints[:, H["left_hip"], 0] > kp.keypoints[:, H["right_hip"], 0])
    assert np.all(kp.keypoints[:, H["left_shoulder"], 0] > kp.keypoints[:, H["right_shoulder"], 0])
    # the head lies above the nose, the nose above the thorax (image y grows downwards)
    assert np.all(kp.keypoints[:, H["head"], 1] < kp.keypoints[:, H["thorax"], 1])
    assert np.all(kp.keypoints[:, H["neck"], 1] < kp.keypoints[:, H["thorax"], 1])
    assert kp.confidence.min() >= 0 and kp.confidence.max() <= 1 and kp.confidence.mean() > 0.8
    np.testing.assert_allclose(np.diff(kp.timestamps), 0.2, atol=1e-3)
    assert kp.image_size == (720, 1280) and kp.fps == pytest.approx(5.0)


@pytest.mark.slow
def test_world_landmarks_of_a_real_detection_are_a_hip_centred_person_in_camera_axes(tmp_path):
    """tfjs_pose_squats.mp4's first second (5 frames, standing, facing the camera): MediaPipe's
    world landmarks from the same run, through the cache, are metric, hip-centred and in
    OpenCV's camera axes."""
    from pose2rig.skeletons import world_landmarks_to_h36m17

    clip, cache = _copy_clip(tmp_path), tmp_path / "clip.keypoints.npz"
    kp = detect_video(clip, end=1.0, cache=cache, progress=False)
    w = kp.world33
    assert w is not None and w.shape == (kp.num_frames, 33, 3) == (5, 33, 3)
    seen = np.all(np.isfinite(kp.keypoints), axis=(1, 2))
    assert seen.all() and np.isfinite(w).all()
    j = world_landmarks_to_h36m17(w)
    # origin at the hips' mid-point
    assert np.abs(j[:, H["pelvis"]]).max() < 0.01
    # a person's size: shoulders' mid-point to ankles' mid-point
    ankles = (j[:, H["left_ankle"]] + j[:, H["right_ankle"]]) / 2
    size = np.linalg.norm(j[:, H["thorax"]] - ankles, axis=-1)
    assert np.all((size > 1.2) & (size < 1.6)), size
    # camera axes: her left (image right) is +x, head up is -y, her nose nearer than her hips
    assert np.all(j[:, H["left_shoulder"], 0] > j[:, H["right_shoulder"], 0])
    assert np.all(j[:, H["head"], 1] < j[:, H["thorax"], 1]) and np.all(j[:, H["thorax"], 1] < ankles[:, 1])
    assert np.all(j[:, H["neck"], 2] < j[:, H["pelvis"], 2])
    # the cache gives them back
    np.testing.assert_array_equal(detect_video(clip, end=1.0, cache=cache, progress=False).world33, w)


@pytest.mark.slow
def test_black_frames_give_nan_and_a_black_clip_raises():
    imgs = read_frames(SQUATS, 4)
    black = np.zeros_like(imgs[0])
    seq = [imgs[0], imgs[1], black, black, imgs[2], imgs[3]]
    frames = [Frame(i, i * 0.2, im) for i, im in enumerate(seq)]
    kp = detect(frames, image_size=(720, 1280), fps=5.0, progress=False)
    assert np.all(np.isnan(kp.keypoints[2:4])) and np.all(kp.confidence[2:4] == 0)
    assert np.all(np.isnan(kp.landmarks33[2:4, :, :2]))
    assert np.all(np.isnan(kp.world33[2:4])) and np.all(np.isfinite(kp.world33[[0, 1, 4, 5]]))
    assert np.all(np.isfinite(kp.keypoints[[0, 1, 4, 5]]))
    small_black = [Frame(i, i / 30, np.zeros((120, 160, 3), np.uint8)) for i in range(5)]
    with pytest.raises(Pose2RigError, match="no person detected in any of the 5 frames"):
        detect(small_black, image_size=(160, 120), fps=30.0, progress=False)


def test_nobody_error_names_only_options_that_exist():
    """The hint names the detection confidence only where the detector has one (with its value)."""
    from pose2rig.errors import ArgumentError

    flags = {"start": "--start", "end": "--end", "min_detection_confidence": "--min-detection-confidence"}
    with pytest.raises(ArgumentError) as e:
        detect(blank_frames(3), image_size=(64, 48), fps=30.0, detector=ScriptedCoco([None]), progress=False)
    assert "--start/--end" in e.value.render(flags) and "confidence" not in str(e.value)

    class Thresholded(ScriptedCoco):
        min_detection_confidence = 0.4

    with pytest.raises(ArgumentError) as e:
        detect(blank_frames(3), image_size=(64, 48), fps=30.0, detector=Thresholded([None]), progress=False)
    assert "a lower --min-detection-confidence (now 0.4)" in e.value.render(flags)
    assert "a lower min_detection_confidence (now 0.4)" in str(e.value)  # the library's own name


@pytest.mark.slow
def test_a_lower_detection_confidence_finds_a_distant_person(tmp_path):
    """DetectOptions.min_detection_confidence reaches BlazePose: a small, distant person missed
    at the default 0.5 is found at 0.3 (through the public API, as convert and detect call it)."""
    from _clips import distant_person_clip

    from pose2rig.errors import ArgumentError
    from pose2rig.options import DetectOptions
    from pose2rig.pipeline import detect_keypoints

    clip = distant_person_clip(tmp_path / "far.mp4")
    with pytest.raises(ArgumentError, match=r"lower min_detection_confidence \(now 0.5\)"):
        detect_keypoints(clip, progress=False)
    kp = detect_keypoints(clip, options=DetectOptions(min_detection_confidence=0.3), progress=False)
    seen = np.isfinite(kp.keypoints).all(axis=(1, 2))
    assert seen.sum() >= 5, seen
    with pytest.raises(ArgumentError, match="min_detection_confidence must be between 0 and 1"):
        DetectOptions(min_detection_confidence=1.5)
