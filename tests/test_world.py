"""pose2rig.world: camera space -> Y-up world with the floor at 0, facing +Z."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import CAMERA_TO_YUP
from pose2rig.skeletons import ANKLE_HEIGHT, H36M17, MEDIAPIPE33_TO_H36M17, map_points
from pose2rig.types import Camera, PoseSequence
from pose2rig.world import to_world, world_transform

FPS = 30.0


def canonical_walk(t: np.ndarray, *, jump: tuple[float, float] | None = None) -> np.ndarray:
    """``(T, 17, 3)`` world joints: facing +Z, walking +Z at 1 m/s with a little sway in x,
    pelvis at x = z = 0 at t = 0, each ankle at exactly ``ANKLE_HEIGHT`` while its foot is down."""
    ix = H36M17.index
    ph = 2 * np.pi * t
    lift = np.zeros_like(t)
    if jump is not None:
        a, b = jump
        inside = (t > a) & (t < b)
        lift[inside] = 0.3 * np.sin(np.pi * (t[inside] - a) / (b - a))
    pelvis = np.stack([0.03 * np.sin(ph), 0.95 + lift, 1.0 * t], -1)
    out = np.zeros((t.size, 17, 3))
    out[:, ix("pelvis")] = pelvis
    for side, s, phase in (("left", 1.0, 0.0), ("right", -1.0, np.pi)):
        up = np.maximum(0.0, 0.12 * np.sin(ph + phase)) + lift
        stride = 0.25 * np.cos(ph + phase)
        ankle = np.stack([pelvis[:, 0] + 0.12 * s, ANKLE_HEIGHT + up, pelvis[:, 2] + stride], -1)
        hip = pelvis + [0.13 * s, 0.0, 0.0]
        out[:, ix(f"{side}_hip")] = hip
        out[:, ix(f"{side}_ankle")] = ankle
        out[:, ix(f"{side}_knee")] = 0.5 * (hip + ankle) + [0.0, 0.0, 0.05]
        shoulder = pelvis + [0.18 * s, 0.5, 0.0]
        out[:, ix(f"{side}_shoulder")] = shoulder
        out[:, ix(f"{side}_elbow")] = shoulder + [0.02 * s, -0.28, -0.1 * stride[0]]
        out[:, ix(f"{side}_wrist")] = shoulder + [0.03 * s, -0.52, 0.05]
    for name, off in (("spine", [0, 0.25, 0]), ("thorax", [0, 0.5, 0]), ("neck", [0, 0.6, 0.08]),
                      ("head", [0, 0.75, 0])):
        out[:, ix(name)] = pelvis + off
    return out


def yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def seen_by_camera(
    world: np.ndarray, *, subject_yaw: float, camera_pos, camera_yaw: float
) -> PoseSequence:
    """Place ``world`` (canonical) turned by ``subject_yaw`` in a scene and look at it through a
    static, level camera; returns the camera-space (OpenCV axes) sequence."""
    scene = world @ yaw(subject_yaw).T + np.array([1.5, 0.0, 2.0])
    cam_to_world = yaw(camera_yaw)
    in_cam_yup = (scene - np.asarray(camera_pos)) @ cam_to_world  # R^T (p - c)
    cam = in_cam_yup @ CAMERA_TO_YUP.T  # Y-up -> OpenCV (CAMERA_TO_YUP is its own inverse)
    t = np.arange(world.shape[0]) / FPS
    return PoseSequence(cam, H36M17, FPS, t, space="camera", camera=Camera.from_fov((640, 480)))


@pytest.fixture(scope="module")
def scene():
    t = np.arange(60) / FPS
    truth = canonical_walk(t)
    # the subject walks off to the camera's right-front; camera 1.6 m up, turned 30 degrees
    cam_seq = seen_by_camera(truth, subject_yaw=2.2, camera_pos=[0.0, 1.6, -4.0], camera_yaw=0.5)
    return truth, cam_seq


def test_convention_y_up_facing_pos_z(scene):
    truth, cam_seq = scene
    w = to_world(cam_seq)
    assert w.space == "world"
    j = w.joints
    ix = H36M17.index
    # Y up: the head is above the pelvis, the pelvis above the ankles, in every frame
    assert np.all(j[:, ix("head"), 1] > j[:, ix("pelvis"), 1] + 0.5)
    assert np.all(j[:, ix("pelvis"), 1] > j[:, ix("left_ankle"), 1])
    # feet on the floor: the lowest ankle sits ANKLE_HEIGHT above y = 0
    low = np.minimum(j[:, ix("left_ankle"), 1], j[:, ix("right_ankle"), 1])
    assert low.min() == pytest.approx(ANKLE_HEIGHT, abs=1e-4)
    # facing +Z: the subject's left is +X, and walking forward increases z
    assert np.all(j[:, ix("left_hip"), 0] > j[:, ix("right_hip"), 0])
    assert j[-1, ix("pelvis"), 2] - j[0, ix("pelvis"), 2] == pytest.approx(59 / FPS, abs=1e-3)
    # starting at the origin
    np.testing.assert_allclose(j[0, ix("pelvis"), [0, 2]], 0.0, atol=1e-5)
    # and it is exactly the motion that was filmed, in its canonical place
    np.testing.assert_allclose(j, truth, atol=1e-4)


def test_world_transform_is_a_proper_rotation(scene):
    _, cam_seq = scene
    rot, t = world_transform(cam_seq)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(cam_seq.joints @ rot.T + t, to_world(cam_seq).joints, atol=1e-4)


def test_root_motion_off_pins_pelvis_xz_and_keeps_the_body(scene):
    _, cam_seq = scene
    moving = to_world(cam_seq)
    pinned = to_world(cam_seq, root_motion=False)
    pelvis = pinned.joints[:, H36M17.index("pelvis")]
    np.testing.assert_allclose(pelvis[:, [0, 2]], 0.0, atol=1e-5)
    np.testing.assert_allclose(pelvis[:, 1], moving.joints[:, 0, 1], atol=1e-6)

    def rel(s):
        return s.joints - s.joints[:, :1]

    np.testing.assert_allclose(rel(pinned), rel(moving), atol=1e-5)


def test_jump_keeps_height_and_floor_ignores_outliers():
    t = np.arange(90) / FPS
    truth = canonical_walk(t, jump=(1.0, 1.6))
    cam_seq = seen_by_camera(truth, subject_yaw=-0.7, camera_pos=[0.5, 1.2, -3.0], camera_yaw=-0.2)
    joints = cam_seq.joints.copy()
    joints[5, H36M17.index("left_ankle"), 1] += 0.4  # one bad detection 40 cm under the floor
    joints[[7, 8], :] = np.nan  # and two lost frames
    cam_seq = cam_seq.replace(joints=joints)
    w = to_world(cam_seq, root_motion=False)
    ix = H36M17.index
    low = np.fmin(w.joints[:, ix("left_ankle"), 1], w.joints[:, ix("right_ankle"), 1])
    assert np.nanmedian(low) == pytest.approx(ANKLE_HEIGHT, abs=1e-3)
    airborne = (t > 1.25) & (t < 1.35)
    assert np.all(low[airborne] > ANKLE_HEIGHT + 0.25)  # the jump stays in the world motion
    assert np.isnan(w.joints[7]).all() and np.isfinite(w.joints[9]).all()


def test_to_world_rejects_world_space_input(scene):
    truth, _ = scene
    world = PoseSequence(truth, H36M17, FPS, np.arange(truth.shape[0]) / FPS, space="world")
    with pytest.raises(Pose2RigError, match="camera-space"):
        to_world(world)


DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def test_real_blazepose_3d_lands_upright_facing_pos_z():
    # BlazePose's own 3D output for a woman doing squats towards the camera (metres, hip-centred,
    # x right, y down, z away from the camera): push it 3 m in front of a camera and convert.
    world33 = np.array(json.loads((DATA / "tfjs_pose_squats_3d.full.json").read_text()))
    joints, conf = map_points(world33, np.ones(world33.shape[:2]), MEDIAPIPE33_TO_H36M17)
    t = np.arange(joints.shape[0]) / 5.0
    cam_seq = PoseSequence(
        joints + [0.0, 0.0, 3.0], H36M17, 5.0, t, space="camera", confidence=conf
    )
    w = to_world(cam_seq).joints
    ix = H36M17.index
    assert np.all(w[:, ix("head"), 1] > w[:, ix("pelvis"), 1] + 0.3)
    low = np.minimum(w[:, ix("left_ankle"), 1], w[:, ix("right_ankle"), 1])
    assert np.percentile(low, 5) == pytest.approx(ANKLE_HEIGHT, abs=1e-3)
    # facing +Z: the nose is in front of the pelvis and the left hip on the +X side
    assert w[0, ix("neck"), 2] > w[0, ix("pelvis"), 2] + 0.03
    assert w[0, ix("left_hip"), 0] > w[0, ix("right_hip"), 0] + 0.1


# --- feet: headings from MediaPipe's heel and toe pixels ---------------------------------------

def _filmed_feet(yaw_left: float, yaw_right: float, frames: int = 6, visibility: float = 1.0):
    """A T-posed subject facing a level camera 3 m away at 1 m height, feet turned by the given
    yaws (radians, about +Y, 0 = toes along +Z), as a camera-space sequence with landmarks33."""
    from pose2rig.skeletons import MEDIAPIPE33
    from pose2rig.testing import TPOSE_H36M17

    r = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # world -> OpenCV camera
    c = np.array([0.0, 1.0, 3.0])
    camera = Camera.from_fov((1280, 720), 60.0)
    joints = np.repeat(((TPOSE_H36M17 - c) @ r.T)[None], frames, axis=0)
    lm = np.full((frames, 33, 3), np.nan)
    for side, psi in (("left", yaw_left), ("right", yaw_right)):
        ankle = TPOSE_H36M17[H36M17.index(f"{side}_ankle")]
        ahead = np.array([np.sin(psi), 0.0, np.cos(psi)])
        for name, along in ((f"{side}_heel", -0.05), (f"{side}_foot_index", 0.16)):
            p = np.array([ankle[0], 0.03, ankle[2]]) + along * ahead
            px = camera.project(((p - c) @ r.T)[None])[0]
            lm[:, MEDIAPIPE33.index(name), :2] = px
            lm[:, MEDIAPIPE33.index(name), 2] = visibility
    return PoseSequence(joints=joints.astype(np.float32), skeleton=H36M17, fps=30.0,
                        timestamps=np.arange(frames) / 30.0, space="camera", camera=camera,
                        landmarks33=lm.astype(np.float32))


def test_foot_directions_recover_the_feet_headings():
    from pose2rig.world import foot_directions

    seq = _filmed_feet(np.radians(25.0), np.radians(-40.0))
    got = foot_directions(seq)
    for side, want in (("left", 25.0), ("right", -40.0)):
        d = got[f"{side}_foot"]
        assert np.all(np.isfinite(d)) and np.allclose(d[:, 1], 0.0)
        angle = np.degrees(np.arctan2(d[:, 0], d[:, 2]))
        assert np.abs(angle - want).max() < 1.0, (side, angle)


def test_foot_directions_are_nan_when_the_points_are_hidden_or_missing():
    from pose2rig.world import foot_directions

    hidden = foot_directions(_filmed_feet(0.0, 0.0, visibility=0.1))
    assert all(np.all(np.isnan(v)) for v in hidden.values())
    assert foot_directions(_filmed_feet(0.0, 0.0).replace(landmarks33=None)) == {}


def test_hand_lines_recover_the_roll_of_a_hand_about_its_forearm():
    from pose2rig.skeletons import MEDIAPIPE33
    from pose2rig.world import hand_lines

    roll = np.radians(40.0)
    seq = _filmed_feet(0.0, 0.0)
    r = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    c = np.array([0.0, 1.0, 3.0])
    from pose2rig.testing import TPOSE_H36M17

    lm = seq.landmarks33.astype(np.float64).copy()
    want = {}
    for side in ("left", "right"):
        elbow = TPOSE_H36M17[H36M17.index(f"{side}_elbow")]
        wrist = TPOSE_H36M17[H36M17.index(f"{side}_wrist")]
        a = (wrist - elbow) / np.linalg.norm(wrist - elbow)
        rest = np.array([0.0, 0.0, 1.0]) - a * a[2]  # pinky -> index: forward, palms down
        rest /= np.linalg.norm(rest)
        line = np.cos(roll) * rest + np.sin(roll) * np.cross(a, rest)
        want[side] = line
        for name, sign in ((f"{side}_index", 1.0), (f"{side}_pinky", -1.0)):
            p = wrist + 0.08 * a + sign * 0.03 * line
            lm[:, MEDIAPIPE33.index(name), :2] = seq.camera.project(((p - c) @ r.T)[None])[0]
            lm[:, MEDIAPIPE33.index(name), 2] = 1.0
    got = hand_lines(seq.replace(landmarks33=lm.astype(np.float32)))
    for side in ("left", "right"):
        d = got[f"{side}_hand"]
        assert np.all(np.isfinite(d))
        angle = np.degrees(np.arccos(np.clip(d @ want[side], -1, 1)))
        assert angle.max() < 2.0, (side, angle)
    assert all(np.all(np.isnan(v)) for v in hand_lines(seq).values())  # no knuckle points: NaN
