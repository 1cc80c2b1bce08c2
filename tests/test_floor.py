"""The floor plane (pose2rig.clean.floor): foot points by name, a robust tilted plane, fallbacks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pose2rig.clean import Floor, fit_floor, foot_points
from pose2rig.errors import Pose2RigError
from pose2rig.io.bvh import read_bvh
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.skeletons import H36M17, MEDIAPIPE33
from pose2rig.testing import walk_sequence
from pose2rig.types import Skeleton

BANDAI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1"


def _rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def _noisy(joints: np.ndarray, seed: int) -> np.ndarray:
    """15 mm per-axis jitter, 100 mm spikes on 1% of frames, 5% of frames dropped (NaN)."""
    rng = np.random.default_rng(seed)
    x = joints + rng.normal(0.0, 0.015, joints.shape)
    spikes = rng.random(len(x)) < 0.01
    d = rng.normal(size=(int(spikes.sum()),) + joints.shape[1:])
    x[spikes] += 0.1 * d / np.linalg.norm(d, axis=-1, keepdims=True)
    x[rng.random(len(x)) < 0.05] = np.nan
    return x


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def bvh_skeleton(path: Path) -> tuple[Skeleton, np.ndarray]:
    """Every joint of a Bandai BVH as a skeleton and its ``(T, J, 3)`` positions in metres."""
    motion = read_bvh(path)
    pos, _ = motion.forward_kinematics(scale=0.01)
    names = tuple(motion.names)

    def twin(n: str) -> int:
        for a, b in (("_L", "_R"), ("_R", "_L")):
            if n.endswith(a):
                return names.index(n[: -len(a)] + b)
        return names.index(n)

    return Skeleton("bandai", names, tuple(motion.parents), tuple(twin(n) for n in names)), pos


def test_foot_points_by_name() -> None:
    assert [(f.name, f.side, f.kind) for f in foot_points(H36M17)] == [
        ("left_ankle", "left", "ankle"), ("right_ankle", "right", "ankle")]
    mp = {(f.side, f.kind): f.name for f in foot_points(MEDIAPIPE33)}
    assert mp == {("left", "ankle"): "left_ankle", ("left", "heel"): "left_heel",
                  ("left", "toe"): "left_foot_index", ("right", "ankle"): "right_ankle",
                  ("right", "heel"): "right_heel", ("right", "toe"): "right_foot_index"}
    skeleton, _ = bvh_skeleton(BANDAI / "dataset-1_walk_normal_001.bvh")
    bvh = {(f.side, f.kind): f.name for f in foot_points(skeleton)}
    assert bvh == {("left", "ankle"): "Foot_L", ("left", "toe"): "Toes_L",
                   ("right", "ankle"): "Foot_R", ("right", "toe"): "Toes_R"}
    for f in foot_points(skeleton):
        assert skeleton.joint_names[f.index] == f.name


def test_fit_floor_recovers_a_tilted_floor_within_one_degree() -> None:
    seq, _ = walk_sequence(10.0, path="circle")  # contacts cover the floor in two directions
    turn = _rotation([1.0, 0.0, 0.6], 30.0)  # a camera pitched and rolled: 30 degrees in all
    joints = _noisy(seq.joints.astype(np.float64) @ turn.T + [0.3, -1.2, 2.0], seed=1)
    floor = fit_floor(joints, seq.skeleton, fps=seq.fps)
    assert floor.method == "plane"
    assert _angle(floor.normal, turn @ [0.0, 1.0, 0.0]) < 1.0
    assert abs(np.degrees(floor.tilt) - 30.0) < 1.0
    # the level frame undoes the tilt: the resting ankles sit 8 cm above y = 0
    level = floor.level(seq.joints.astype(np.float64) @ turn.T + [0.3, -1.2, 2.0])
    ankles = level[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")], 1]
    assert abs(np.percentile(ankles, 5) - 0.08) < 0.01
    assert floor.contact_heights["left_ankle"] == pytest.approx(0.08, abs=0.01)
    np.testing.assert_allclose(floor.transform[:3, :3] @ floor.normal, [0.0, 1.0, 0.0], atol=1e-9)


def test_fit_floor_under_a_pitched_real_clip() -> None:
    """Bandai walk seen by a camera pitched 30 degrees: the walk's line fixes the pitch; the
    roll across that line comes from ``up``, so a walk a few degrees off the camera's axis
    leaves about a degree (1.1 here) about the line."""
    seq = load_bvh_as_h36m17(BANDAI / "dataset-1_walk_normal_001.bvh")
    turn = _rotation([1.0, 0.0, 0.0], 30.0)
    clean = seq.joints.astype(np.float64) @ turn.T
    floor = fit_floor(_noisy(clean, seed=2), seq.skeleton, fps=seq.fps)
    assert floor.method in ("plane", "line")
    assert _angle(floor.normal, turn @ [0.0, 1.0, 0.0]) < 1.5
    level = floor.level(clean)[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")], 1]
    assert abs(np.percentile(level, 5) - floor.contact_heights["left_ankle"]) < 0.03


def test_fit_floor_standing_still_stays_level() -> None:
    """Two planted feet fix no tilt across them: the plane stays square to ``up``."""
    seq, _ = walk_sequence(3.0, stride=0.0, lift=0.0)
    floor = fit_floor(_noisy(seq.joints.astype(np.float64), seed=3), seq.skeleton, fps=seq.fps)
    assert floor.method in ("line", "level")
    assert np.degrees(floor.tilt) < 1.0
    assert floor.offset == pytest.approx(0.0, abs=0.01)


def test_fit_floor_no_foot_goes_through_it() -> None:
    """Standing on one leg (tfjs_pose_1's pose): the raised foot is held still while the standing
    one drifts fast (a lifter's depth noise), so the slow samples are all the raised foot's; the
    floor still ends under the standing foot, which rests on it."""
    seq, _ = walk_sequence(3.0, stride=0.0, lift=0.0)
    x = seq.joints.astype(np.float64)
    sk = seq.skeleton
    left, right = sk.index("left_ankle"), sk.index("right_ankle")
    x[:, sk.index("right_knee")] += [0.0, 0.2, 0.1]
    x[:, right] += [0.0, 0.35, 0.0]  # held up, still
    rng = np.random.default_rng(0)
    x[:, left, 2] += 0.1 * np.sin(np.arange(len(x)) * 1.3) + rng.normal(0.0, 0.02, len(x))  # drifting in depth
    floor = fit_floor(x, sk, fps=seq.fps)
    h = floor.height(x[:, left])
    assert np.percentile(h, 5) == pytest.approx(floor.contact_heights["left_ankle"], abs=0.01)
    assert 0.05 < np.percentile(h, 5) < 0.12  # the ankle's height above the floor, not below it
    assert floor.height(x[:, right]).min() > 0.35


def test_fit_floor_too_few_contacts_falls_back_and_says_so() -> None:
    seq, _ = walk_sequence(0.4, stride=0.0)
    joints = seq.joints.astype(np.float64)
    joints[..., 2] += np.arange(len(joints))[:, None] * 0.1  # 3 m/s: nothing is slow
    with pytest.warns(UserWarning, match="level"):
        floor = fit_floor(joints, seq.skeleton, fps=seq.fps)
    assert floor.method == "level" and floor.inliers == 0
    np.testing.assert_allclose(floor.normal, [0.0, 1.0, 0.0])
    assert floor.offset == pytest.approx(0.0, abs=0.01)  # ankles 8 cm above a floor at 0


def test_fit_floor_bad_input() -> None:
    legless = Skeleton("torso", ("pelvis", "spine"), (-1, 0), (0, 1))
    with pytest.raises(Pose2RigError, match="no foot joints"):
        fit_floor(np.zeros((10, 2, 3)), legless, fps=30.0)
    with pytest.raises(Pose2RigError, match="every frame"):
        fit_floor(np.full((10, 17, 3), np.nan), H36M17, fps=30.0)
    with pytest.raises(Pose2RigError, match="expected joints"):
        fit_floor(np.zeros((10, 16, 3)), H36M17, fps=30.0)


def test_floor_arrays_for_npz() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        floor = Floor(np.array([0.0, 1.0, 0.0]), 0.5)
    arrays = floor.as_arrays()
    assert set(arrays) == {"floor_normal", "floor_offset", "floor_transform"}
    assert floor.height(np.array([1.0, 0.7, 2.0])) == pytest.approx(0.2)
    np.testing.assert_allclose(floor.level(np.array([1.0, 0.5, 2.0])), [1.0, 0.0, 2.0])
