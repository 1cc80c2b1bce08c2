"""The canonical npz contract: round trips, minimal inputs, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.io.npz import load_keypoints, load_pose, save_keypoints, save_pose
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence


def _keypoints(t: int = 5) -> Keypoints2D:
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 600, size=(t, 17, 2))
    kp[2, 4] = np.nan
    world = rng.normal(scale=0.4, size=(t, 33, 3))
    world[2] = np.nan  # a frame without the subject
    return Keypoints2D(kp, rng.uniform(size=(t, 17)), H36M17, (640, 480), 25.0,
                       np.arange(t) / 25.0 + 0.5, landmarks33=rng.uniform(size=(t, 33, 3)),
                       world33=world)


def test_keypoints_round_trip(tmp_path: Path) -> None:
    k = _keypoints()
    save_keypoints(tmp_path / "k.npz", k)
    r = load_keypoints(tmp_path / "k.npz")
    np.testing.assert_array_equal(r.keypoints, k.keypoints)
    np.testing.assert_array_equal(r.confidence, k.confidence)
    np.testing.assert_array_equal(r.timestamps, k.timestamps)
    np.testing.assert_array_equal(r.landmarks33, k.landmarks33)
    np.testing.assert_array_equal(r.world33, k.world33)
    assert np.isnan(r.world33[2]).all() and np.isfinite(r.world33[[0, 1, 3, 4]]).all()
    assert r.image_size == (640, 480) and r.fps == 25.0
    assert np.isnan(r.keypoints[2, 4]).all() and r.confidence[2, 4] == 0


def test_keypoints_only_four_keys_required(tmp_path: Path) -> None:
    np.savez(tmp_path / "min.npz", keypoints2d=np.zeros((3, 17, 2)), confidence=np.ones((3, 17)),
             image_size=np.array([100, 50]), fps=np.float64(10))
    r = load_keypoints(tmp_path / "min.npz")
    np.testing.assert_allclose(r.timestamps, [0, 0.1, 0.2])
    assert r.landmarks33 is None and r.world33 is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"confidence": np.ones((3, 17))}, "missing key"),
        ({"keypoints2d": np.zeros((3, 16, 2)), "confidence": np.ones((3, 16)),
          "image_size": np.array([1, 1]), "fps": 1.0}, r"shape \(T, 17, 2\)"),
        ({"keypoints2d": np.zeros((0, 17, 2)), "confidence": np.ones((0, 17)),
          "image_size": np.array([1, 1]), "fps": 1.0}, "no frames"),
        ({"keypoints2d": np.zeros((3, 17, 2)), "confidence": np.ones((3, 17)),
          "image_size": np.array([1, 1]), "fps": 1.0,
          "joint_names": np.array(list("abcdefghijklmnopq"))}, "Human3.6M-17"),
        ({"keypoints2d": np.zeros((3, 17, 2)), "confidence": np.ones((3, 17)),
          "image_size": np.array([1, 1, 1]), "fps": 1.0}, "width, height"),
    ],
)
def test_keypoints_bad_files_name_the_problem(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(Pose2RigError, match=message):
        load_keypoints(tmp_path / "bad.npz")


def test_pickled_and_non_npz_files_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", keypoints2d=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(Pose2RigError, match="unsupported"):
        load_keypoints(tmp_path / "obj.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(Pose2RigError, match="not a readable .npz"):
        load_keypoints(tmp_path / "text.npz")
    with pytest.raises(Pose2RigError, match="no such file"):
        load_keypoints(tmp_path / "absent.npz")


def test_pose_round_trip_camera_and_world(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cam = Camera.from_fov((640, 480), 60)
    j = rng.normal(size=(4, 17, 3)) + [0, 0, 5]
    cp = PoseSequence(j, H36M17, 30.0, np.arange(4) / 30, space="camera", camera=cam)
    wp = PoseSequence(j * [1, -1, -1], H36M17, 30.0, np.arange(4) / 30, space="world")
    save_pose(tmp_path / "p.npz", cp, world_pose=wp)
    rc = load_pose(tmp_path / "p.npz", space="camera")
    rw = load_pose(tmp_path / "p.npz")
    np.testing.assert_allclose(rc.joints, cp.joints)
    np.testing.assert_allclose(rw.joints, wp.joints)
    np.testing.assert_allclose(rc.camera.matrix, cam.matrix)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as d:
        assert {"joints3d", "camera_matrix", "joint_names", "fps", "format_version",
                "joints3d_world"} <= set(d.files)


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "k.npz"
    out.write_bytes(b"precious")

    def half_write(f, **arrays):  # writes some bytes, then fails like a full disk would
        f.write(b"PK\x03\x04partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", half_write)
    with pytest.raises(OSError):
        save_keypoints(out, _keypoints())
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["k.npz"]


def test_detection_cache_reads_as_a_keypoints_file(tmp_path: Path) -> None:
    """convert's <clip>.keypoints.npz (pose2rig.detect.cache) is a keypoints file for lift."""
    from pose2rig.detect.cache import save_cache
    from pose2rig.io.npz import contents

    k = _keypoints()
    save_cache(tmp_path / "clip.keypoints.npz", '{"format": "x"}', k)
    r = load_keypoints(tmp_path / "clip.keypoints.npz")
    np.testing.assert_array_equal(r.keypoints, k.keypoints)
    np.testing.assert_array_equal(r.confidence, k.confidence)
    np.testing.assert_array_equal(r.timestamps, k.timestamps)
    np.testing.assert_array_equal(r.landmarks33, k.landmarks33)
    np.testing.assert_array_equal(r.world33, k.world33)
    assert r.image_size == (640, 480) and r.fps == 25.0
    assert contents(tmp_path / "clip.keypoints.npz") == {"keypoints"}
    with np.load(tmp_path / "clip.keypoints.npz") as d:
        arrays = {n: d[n] for n in d.files}
    arrays["skeleton"] = np.array("coco17")
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(Pose2RigError, match="h36m17 joints, got coco17"):
        load_keypoints(tmp_path / "other.npz")


def test_contents_names_what_each_file_holds(tmp_path: Path) -> None:
    from pose2rig.io.npz import contents

    save_keypoints(tmp_path / "k.npz", _keypoints())
    cam = Camera.from_fov((640, 480), 60)
    j = np.random.default_rng(1).normal(size=(4, 17, 3)) + [0, 0, 5]
    cp = PoseSequence(j, H36M17, 30.0, np.arange(4) / 30, space="camera", camera=cam)
    save_pose(tmp_path / "lift.npz", cp)
    save_pose(tmp_path / "convert.npz", cp, world_pose=cp.replace(space="world"))
    assert contents(tmp_path / "k.npz") == {"keypoints"}
    assert contents(tmp_path / "lift.npz") == {"camera"}
    assert contents(tmp_path / "convert.npz") == {"camera", "world"}
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(Pose2RigError, match="not a pose2rig keypoints or pose file.*found something"):
        contents(tmp_path / "other.npz")
