"""convert with the clean-up on the real clips of ../shared/data/video: the root moves as a person
can, across detection gaps too; the man on the box stays on it; the detector's left/right swap
on the demo clip does not turn the character round; planted feet stay planted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose2rig.io.npz import load_keypoints
from pose2rig.options import ConvertOptions
from pose2rig.pipeline import ConvertResult, convert, hold_missing_frames
from pose2rig.skeletons import H36M17

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
CLIPS = ("sports2d_demo", "tfjs_pose_1", "tfjs_pose_squats")
OFF = {name: False for name in ("swaps", "outliers", "fill_gaps", "bone_lengths", "floor", "foot_lock")}


@pytest.fixture(scope="module")
def keypoints(tmp_path_factory) -> dict:
    """MediaPipe on each clip, detected once for this module (pose2rig detect)."""
    out = {}
    folder = tmp_path_factory.mktemp("real")
    exe = Path(sys.executable).with_name("pose2rig")
    for clip in CLIPS:
        path = folder / f"{clip}.npz"
        subprocess.run([str(exe), "detect", str(VIDEO / f"{clip}.mp4"), "-o", str(path), "--quiet"], check=True)
        out[clip] = load_keypoints(path)
    return out


@pytest.fixture(scope="module")
def results(keypoints) -> dict[str, ConvertResult]:
    return {clip: convert(VIDEO / f"{clip}.mp4", keypoints=kp, progress=False) for clip, kp in keypoints.items()}


def _root_speed(result: ConvertResult) -> np.ndarray:
    """Frame-to-frame speed (m/s) of the pelvis as the files show it."""
    world = hold_missing_frames(result.world_pose)
    pelvis = world.joints[:, H36M17.index("pelvis")].astype(np.float64)
    return np.linalg.norm(np.diff(pelvis, axis=0), axis=-1) * world.fps


@pytest.mark.parametrize("clip", CLIPS)
def test_root_never_faster_than_a_person(results, clip):
    assert _root_speed(results[clip]).max() <= 10.0


def test_without_the_cleanup_the_backflip_gap_jumps(keypoints):
    """The case the clean-up fixes: the demo's backflip loses detection for about 20 frames
    (169-188); held on each side, the root jumps several metres in one frame."""
    kp = keypoints["sports2d_demo"]
    missing = ~np.isfinite(kp.keypoints).all(axis=(1, 2))
    assert missing[172:186].all()
    raw = convert(VIDEO / "sports2d_demo.mp4", options=ConvertOptions.from_flat(**OFF), keypoints=kp, progress=False)
    assert _root_speed(raw).max() > 19.0


def test_the_man_on_the_box_stays_on_it(results):
    """Frames 3-7 of the demo: he stands on a box; before the clean-up the root travelled about
    2 m in depth there (detection flickers at the clip's start)."""
    r = results["sports2d_demo"]
    world = hold_missing_frames(r.world_pose)
    pelvis = world.joints[3:8, H36M17.index("pelvis")].astype(np.float64)
    assert np.linalg.norm(pelvis[:, [0, 2]] - pelvis[0, [0, 2]], axis=-1).max() < 0.5


def test_the_detectors_swap_does_not_turn_the_character(results):
    """Frames 67-71 of the demo: MediaPipe calls his left his right while he faces the camera;
    the world pose keeps facing the way it faces around that span."""
    w = results["sports2d_demo"].world_pose.joints.astype(np.float64)
    left = w[:, H36M17.index("left_hip")] - w[:, H36M17.index("right_hip")]
    left += w[:, H36M17.index("left_shoulder")] - w[:, H36M17.index("right_shoulder")]
    forward = np.cross(left, [0.0, 1.0, 0.0])[:, [0, 2]]
    around = forward[np.r_[55:67, 74:90]].mean(axis=0)
    assert (forward[67:72] @ around > 0).all()


def test_planted_feet_stay_planted_when_she_squats(results):
    """The squats clip: both feet stay on the floor; the clean-up keeps them still (before it,
    the ankles' midpoint wandered about 0.7 m over the clip)."""
    w = results["tfjs_pose_squats"].world_pose.joints.astype(np.float64)
    feet = 0.5 * (w[:, H36M17.index("left_ankle")] + w[:, H36M17.index("right_ankle")])
    path = np.linalg.norm(np.diff(feet[:, [0, 2]], axis=0), axis=-1).sum()
    assert path < 0.1


def test_cleanup_findings_come_with_the_result(results):
    r = results["tfjs_pose_squats"]
    c = r.cleanup
    assert c is not None and c.floor is not None and c.contacts is not None
    assert c.contacts.contacts.mean() > 0.8  # she never lifts a foot
    assert np.isfinite(c.scores).all()  # the discriminator scored every frame
    # the world frame is level on the fitted floor: the feet rest at the ankle's height above y = 0
    ankles = r.world_pose.joints[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")], 1]
    assert 0.03 < float(np.median(ankles)) < 0.15


def test_clean_file_on_converts_npz_keeps_camera_and_world_together(keypoints, tmp_path):
    """convert's npz cleaned again (other smoothing): its camera-frame joints follow the world
    ones through the stored (updated) world map, and the findings are replaced."""
    from pose2rig.options import Outputs
    from pose2rig.pipeline import clean_file

    first, second = tmp_path / "squats.npz", tmp_path / "squats_clean.npz"
    convert(VIDEO / "tfjs_pose_squats.mp4", Outputs(npz=first), keypoints=keypoints["tfjs_pose_squats"],
            progress=False)
    clean_file(first, second, ConvertOptions.from_flat(smooth="savgol"), progress=False)
    with np.load(first) as a, np.load(second) as b:
        assert not np.allclose(a["joints3d_world"], b["joints3d_world"])
        mapped = b["joints3d"].astype(np.float64) @ b["world_rotation"].T + b["world_translation"]
        np.testing.assert_allclose(mapped, b["joints3d_world"], atol=1e-3)
        assert b["plausibility"].shape == (a["joints3d"].shape[0],) and b["contacts"].shape[1] == 2
