"""The camera's pitch: pose2rig.world.world_transform(pitch=...), camera_pitch, and clean_world
levelling the world from the floor or taking the pitch as given (WorldOptions.camera_pitch).

The footage is exact: the synthetic walk's joints seen in the frame of a pitched camera, as a
lifter that made no error would give them (the bundled lifter's own pitch error is measured by
bench/camera_pitch.py, not here)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pose2rig.clean.floor import fit_floor
from pose2rig.errors import ArgumentError
from pose2rig.options import ConvertOptions, WorldOptions
from pose2rig.pipeline import clean_world
from pose2rig.skeletons import ANKLE_HEIGHT, H36M17
from pose2rig.testing import walk_sequence
from pose2rig.types import Camera, PoseSequence
from pose2rig.world import camera_pitch, world_transform

UP = np.array([0.0, 1.0, 0.0])
ANKLES = [H36M17.index("left_ankle"), H36M17.index("right_ankle")]


def pitched_view(pitch_deg: float, azimuth: float = 0.7) -> np.ndarray:
    """``(3, 3)`` world (Y up) -> OpenCV camera rotation: facing ``(sin az, 0, cos az)``, pitched
    ``pitch_deg`` down (positive looking down), no roll. Rows are the camera's x, y, z axes."""
    th = np.radians(pitch_deg)
    f = np.array([np.sin(azimuth), 0.0, np.cos(azimuth)])
    z = np.cos(th) * f - np.sin(th) * UP
    y = -(np.cos(th) * UP + np.sin(th) * f)
    return np.stack([np.cross(y, z), y, z])


def filmed(pitch_deg: float, path: str = "circle") -> tuple[PoseSequence, np.ndarray, np.ndarray]:
    """The walk in a pitched camera's frame (optical axis through the walk's middle at pelvis
    height, 6 m away horizontally): ``(camera-frame sequence, world -> camera rotation, the true
    ankles (T, 2, 3) at their contacts' frames in the camera frame, stacked (N, 3))``."""
    seq, contacts = walk_sequence(6.0, 30.0, path=path)
    w = seq.joints.astype(np.float64)
    r = pitched_view(pitch_deg)
    target = np.array([w[:, 0, 0].mean(), w[:, 0, 1].mean(), w[:, 0, 2].mean()])
    centre = target - r[2] * 6.0 / np.cos(np.radians(pitch_deg))
    cam = (w - centre) @ r.T
    camera = Camera.from_fov((1280, 720), 60.0)
    out = PoseSequence(cam.astype(np.float32), H36M17, seq.fps, seq.timestamps, space="camera", camera=camera)
    planted = cam[:, ANKLES][contacts]
    return out, r, planted


def heights_tilt(points: np.ndarray) -> float:
    """Degrees: tilt of the least-squares plane ``y = a x + b z + c`` through ``points (N, 3)``."""
    a = np.stack([points[:, 0], points[:, 2], np.ones(len(points))], axis=1)
    coef = np.linalg.lstsq(a, points[:, 1], rcond=None)[0]
    return float(np.degrees(np.arctan(np.hypot(coef[0], coef[1]))))


def test_convention_positive_pitch_looks_down() -> None:
    """world_transform(pitch=+25 deg) of a camera looking 25 degrees down maps the true up onto
    +Y exactly, and camera_pitch reads +25 back; the opposite sign tilts the world by 50."""
    seq, r, _ = filmed(25.0)
    true_up_cam = r @ UP
    rot, _ = world_transform(seq, pitch=np.radians(25.0))
    np.testing.assert_allclose(rot @ true_up_cam, UP, atol=1e-9)
    assert camera_pitch(rot) == pytest.approx(np.radians(25.0), abs=1e-9)
    wrong, _ = world_transform(seq, pitch=np.radians(-25.0))
    assert np.degrees(np.arccos(wrong @ true_up_cam @ UP)) == pytest.approx(50.0, abs=1e-6)
    level, _ = world_transform(seq)
    assert camera_pitch(level) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("pitch", [25.0, -10.0])
def test_floor_levels_the_world_of_a_pitched_camera(pitch: float) -> None:
    """Default (no pitch given): the clean-up's floor fit levels the world; measured on the true
    feet at their contacts, the floor is level within 3 degrees and the pitch is recovered with
    its sign (a camera looking down gives a positive pitch)."""
    seq, _, planted = filmed(pitch)
    _, _, rot, trans, res = clean_world(seq, ConvertOptions())
    assert res.floor is not None and res.floor.method == "plane"
    assert heights_tilt(planted @ rot.T + trans) < 3.0
    found = np.degrees(camera_pitch(rot))
    assert np.sign(found) == np.sign(pitch) and abs(found - pitch) < 3.0


@pytest.mark.parametrize("path", ["circle", "line"])
def test_given_pitch_makes_the_floor_exactly_level(path: str) -> None:
    """camera_pitch=25 (the truth): the world is exactly level even where the feet rest along
    one line (the floor fit could not tell the tilt about it); the floor step only lifts the
    floor to y = 0, so the planted ankles sit at their own height."""
    seq, _, planted = filmed(25.0, path)
    _, world, rot, trans, res = clean_world(seq, ConvertOptions.from_flat(camera_pitch=25.0))
    on_floor = planted @ rot.T + trans
    assert heights_tilt(on_floor) < 1e-6
    np.testing.assert_allclose(on_floor[:, 1], ANKLE_HEIGHT, atol=0.01)
    assert np.degrees(camera_pitch(rot)) == pytest.approx(25.0, abs=1e-9)
    assert res.floor is not None and res.floor.method == "level"
    assert np.isfinite(world.joints).all()


def test_level_camera_assumption_leaves_the_floor_tilted() -> None:
    """camera_pitch=0 is the old assumption, taken at its word: the world keeps the camera's
    25-degree tilt (the floor step fits no tilt when a pitch is given)."""
    seq, _, planted = filmed(25.0)
    _, _, rot, trans, _ = clean_world(seq, ConvertOptions.from_flat(camera_pitch=0.0))
    assert heights_tilt(planted @ rot.T + trans) == pytest.approx(25.0, abs=0.5)
    assert camera_pitch(rot) == 0.0


def test_fit_floor_max_tilt_zero_fits_the_height_only() -> None:
    """max_tilt=0: a floor tilted by 20 degrees gives a plane square to up (method "level")."""
    seq, _ = walk_sequence(6.0, 30.0, path="circle")
    c, s = np.cos(np.radians(20.0)), np.sin(np.radians(20.0))
    tilted = seq.joints.astype(np.float64) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]]).T
    assert np.degrees(fit_floor(tilted, H36M17, fps=30.0).tilt) == pytest.approx(20.0, abs=1.0)
    flat = fit_floor(tilted, H36M17, fps=30.0, max_tilt=0.0)
    np.testing.assert_array_equal(flat.normal, UP)
    assert flat.method == "level"


@pytest.mark.parametrize("bad", [90.0, -90.0, 120.0, float("nan"), True])
def test_bad_pitch_is_one_argument_error(bad: float) -> None:
    with pytest.raises(ArgumentError) as e:
        WorldOptions(camera_pitch=bad)
    assert e.value.arguments == ("camera_pitch",) and "between -90 and 90 degrees" in str(e.value)
    assert ConvertOptions.from_flat(camera_pitch=-30).world.camera_pitch == -30


def test_cli_flag_parses_and_rejects_90(tmp_path) -> None:
    """--camera-pitch is generated from WorldOptions: a bad value is one error line naming the
    flag; a good one passes the options check (the run then stops at the missing video)."""
    cmd = [sys.executable, "-m", "pose2rig.cli", "convert", str(tmp_path / "none.mp4"), "--npz", str(tmp_path / "o.npz")]
    bad = subprocess.run([*cmd, "--camera-pitch", "90"], capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--camera-pitch must be between -90 and 90 degrees" in lines[0]
    good = subprocess.run([*cmd, "--camera-pitch", "24.5"], capture_output=True, text=True)
    assert good.returncode != 0 and "camera-pitch" not in good.stderr


def mediapipe_world(pitch_deg: float, frames: int = 12) -> np.ndarray:
    """MediaPipe world landmarks ``(T, 33, 3)`` (camera axes, hip-centred) of a body standing on
    straight legs, seen by a camera pitched ``pitch_deg``: only hips and ankles set, the rest NaN."""
    from pose2rig.skeletons import MEDIAPIPE33

    r = pitched_view(pitch_deg)
    w = np.full((frames, 33, 3), np.nan)
    ix = MEDIAPIPE33.index
    for side, x in (("left", 0.1), ("right", -0.1)):
        w[:, ix(f"{side}_hip")] = r @ np.array([x, 0.0, 0.0])
        w[:, ix(f"{side}_knee")] = r @ np.array([x, -0.45, 0.0])
        w[:, ix(f"{side}_ankle")] = r @ np.array([x, -0.85, 0.0])
    return w


@pytest.mark.parametrize("pitch", [-10.0, 0.0, 12.0, 28.0])
def test_landmark_pitch_reads_straight_legs(pitch: float) -> None:
    from pose2rig.world import LANDMARK_PITCH_GAIN, landmark_pitch

    w = mediapipe_world(pitch)
    assert np.degrees(landmark_pitch(w, gain=1.0)) == pytest.approx(pitch, abs=1e-9)
    assert np.degrees(landmark_pitch(w)) == pytest.approx(LANDMARK_PITCH_GAIN * pitch, abs=1e-9)
    w[:8] = np.nan  # frames without the subject carry nothing; too few frames: no answer
    assert np.degrees(landmark_pitch(w, gain=1.0, min_frames=4)) == pytest.approx(pitch, abs=1e-9)
    assert landmark_pitch(w, min_frames=5) is None
    with pytest.raises(ArgumentError, match="world33"):
        landmark_pitch(w[:, :17])


def test_landmark_pitch_leaves_out_bent_knees_unless_every_frame_bends() -> None:
    """Frames with a knee bent past 130 degrees (a squat: the legs lean back) carry nothing
    while enough straight frames remain; a clip bent throughout uses every frame."""
    from pose2rig.skeletons import MEDIAPIPE33
    from pose2rig.world import landmark_pitch

    w = mediapipe_world(12.0, frames=12)
    ix = MEDIAPIPE33.index
    r = pitched_view(12.0)
    for side, x in (("left", 0.1), ("right", -0.1)):  # frames 0-5 squat: knees forward, hips back
        w[:6, ix(f"{side}_hip")] = r @ np.array([x, 0.0, -0.35])
        w[:6, ix(f"{side}_knee")] = r @ np.array([x, -0.4, 0.1])
    assert np.degrees(landmark_pitch(w, gain=1.0)) == pytest.approx(12.0, abs=1e-9)
    bent = np.degrees(landmark_pitch(w[:6], gain=1.0, min_frames=5))
    assert abs(bent - 12.0) > 5.0  # only bent frames: all of them, leaning


def test_landmark_pitch_outside_the_measured_range_is_not_used() -> None:
    from pose2rig.world import landmark_pitch

    with pytest.warns(UserWarning, match="outside"):
        assert landmark_pitch(mediapipe_world(40.0), gain=1.0) is None
    with pytest.warns(UserWarning, match="outside"):
        assert landmark_pitch(mediapipe_world(-20.0), gain=1.0) is None


def test_clean_world_takes_the_landmark_pitch_unless_one_is_given() -> None:
    """The pitch MediaPipe's legs show levels the world like a given pitch (no floor tilt fitted,
    even where the feet rest along one line); a given pitch overrides it."""
    seq, _, planted = filmed(25.0, "line")
    _, _, rot, trans, res = clean_world(seq, ConvertOptions(), landmark_pitch=25.0)
    assert heights_tilt(planted @ rot.T + trans) < 1e-6
    assert res.floor is not None and res.floor.method == "level"
    _, _, rot, _, _ = clean_world(seq, ConvertOptions.from_flat(camera_pitch=10.0), landmark_pitch=25.0)
    assert np.degrees(camera_pitch(rot)) == pytest.approx(10.0, abs=1e-9)
