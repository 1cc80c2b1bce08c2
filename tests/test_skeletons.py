"""Joint sets and the MediaPipe-33 -> Human3.6M-17 mapping."""

from __future__ import annotations

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import (
    COCO17,
    COCO17_TO_H36M17,
    H36M17,
    MEDIAPIPE33,
    MEDIAPIPE33_TO_H36M17,
    by_name,
    known_joint_sets,
    map_points,
    mapping_to_h36m17,
    world_landmarks_to_h36m17,
)
from pose2rig.skeletons.joint_sets import skeleton_from_pairs

H36M_ORDER = (
    "pelvis right_hip right_knee right_ankle left_hip left_knee left_ankle spine thorax neck head "
    "left_shoulder left_elbow left_wrist right_shoulder right_elbow right_wrist"
).split()


def test_h36m17_is_the_standard_order() -> None:
    assert list(H36M17.joint_names) == H36M_ORDER
    assert H36M17.parents[H36M17.index("head")] == H36M17.index("neck")
    assert H36M17.parents[H36M17.index("left_shoulder")] == H36M17.index("thorax")


@pytest.mark.parametrize("skel", [H36M17, MEDIAPIPE33, COCO17])
def test_mirror_twice_is_identity_and_swaps_sides(skel) -> None:
    m = np.array(skel.mirror)
    assert np.array_equal(m[m], np.arange(skel.num_joints))
    for i, name in enumerate(skel.joint_names):
        twin = skel.joint_names[m[i]]
        if name.startswith("left_"):
            assert twin == "right_" + name[5:]
        elif name.endswith("_left"):
            assert twin == name[:-5] + "_right"
        elif "right" not in name:
            assert twin == name


def test_mediapipe_has_33_landmarks_in_mediapipe_order() -> None:
    assert MEDIAPIPE33.num_joints == 33
    assert MEDIAPIPE33.index("left_hip") == 23 and MEDIAPIPE33.index("right_foot_index") == 32
    assert MEDIAPIPE33.index("left_shoulder") == 11 and MEDIAPIPE33.index("nose") == 0


def test_by_name_and_unknown_name() -> None:
    assert by_name("h36m17") is H36M17
    with pytest.raises(Pose2RigError, match="unknown joint set"):
        by_name("smpl99")


def test_registry_names_each_joint_set_and_its_mapping_onto_h36m17() -> None:
    assert known_joint_sets() == ("coco17", "h36m17", "mediapipe33")
    for skel, mapping in ((H36M17, None), (MEDIAPIPE33, MEDIAPIPE33_TO_H36M17), (COCO17, COCO17_TO_H36M17)):
        assert by_name(skel.name) is skel
        assert mapping_to_h36m17(skel) is mapping
    # a joint set is known whole, not only by its name
    impostor = skeleton_from_pairs("coco17", [("nose", None), ("left_eye", "nose"), ("right_eye", "nose")])
    with pytest.raises(Pose2RigError, match=r"^detector: joint set 'coco17' has no mapping onto h36m17; "
                                            r"known: coco17, h36m17, mediapipe33$"):
        mapping_to_h36m17(impostor, what="detector")
    with pytest.raises(Pose2RigError, match="joint set 'smpl24' has no mapping"):
        mapping_to_h36m17(skeleton_from_pairs("smpl24", [("pelvis", None)]))


def test_mediapipe_mapping_places_each_joint() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 33, 2)).astype(np.float32)
    conf = rng.uniform(0.5, 1.0, size=(4, 33)).astype(np.float32)
    out, c = map_points(pts, conf, MEDIAPIPE33_TO_H36M17)
    mp = MEDIAPIPE33.index
    h = H36M17.index
    mid_hip = (pts[:, mp("left_hip")] + pts[:, mp("right_hip")]) / 2
    mid_sh = (pts[:, mp("left_shoulder")] + pts[:, mp("right_shoulder")]) / 2
    mid_ear = (pts[:, mp("left_ear")] + pts[:, mp("right_ear")]) / 2
    np.testing.assert_allclose(out[:, h("pelvis")], mid_hip, atol=1e-5)
    np.testing.assert_allclose(out[:, h("thorax")], mid_sh, atol=1e-5)
    np.testing.assert_allclose(out[:, h("spine")], (mid_hip + mid_sh) / 2, atol=1e-5)
    np.testing.assert_allclose(out[:, h("neck")], pts[:, mp("nose")], atol=1e-5)
    np.testing.assert_allclose(out[:, h("head")], mid_ear + 0.5 * (mid_ear - mid_sh), atol=1e-5)
    for side in ("left", "right"):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            np.testing.assert_allclose(out[:, h(f"{side}_{part}")], pts[:, mp(f"{side}_{part}")])
    # confidence of a composite joint is the least confident of its sources
    np.testing.assert_allclose(
        c[:, h("pelvis")], np.minimum(conf[:, mp("left_hip")], conf[:, mp("right_hip")])
    )


def test_mapping_propagates_missing_as_nan_with_zero_confidence() -> None:
    pts = np.ones((2, 33, 2), np.float32)
    conf = np.ones((2, 33), np.float32)
    pts[1, MEDIAPIPE33.index("left_hip")] = np.nan
    out, c = map_points(pts, conf, MEDIAPIPE33_TO_H36M17)
    for name in ("pelvis", "left_hip", "spine"):
        assert np.isnan(out[1, H36M17.index(name)]).all() and c[1, H36M17.index(name)] == 0
    assert np.isfinite(out[1, H36M17.index("right_hip")]).all()
    assert np.isfinite(out[0]).all()


def test_coco_mapping_matches_mediapipe_mapping_on_shared_landmarks() -> None:
    rng = np.random.default_rng(1)
    mp_pts = rng.normal(size=(3, 33, 2))
    coco_pts = np.stack([mp_pts[:, MEDIAPIPE33.index(n)] for n in COCO17.joint_names], axis=1)
    a, _ = map_points(mp_pts, np.ones((3, 33)), MEDIAPIPE33_TO_H36M17)
    b, _ = map_points(coco_pts, np.ones((3, 17)), COCO17_TO_H36M17)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_map_points_rejects_wrong_shape() -> None:
    with pytest.raises(Pose2RigError, match="expected points"):
        map_points(np.zeros((2, 17, 2)), np.zeros((2, 17)), MEDIAPIPE33_TO_H36M17)


def _standing_world33() -> np.ndarray:
    """A hand-made person in BlazePose's world frame (metres, origin between the hips, x right,
    y down, z away from the camera) facing the camera: their own left on the image's right."""
    w = np.zeros((33, 3))
    for side, x in (("left", 1.0), ("right", -1.0)):
        for part, p in {"hip": (0.1, 0.0, 0.0), "knee": (0.1, 0.45, 0.02), "ankle": (0.1, 0.85, 0.05),
                        "shoulder": (0.18, -0.5, 0.0), "elbow": (0.22, -0.25, 0.0),
                        "wrist": (0.24, 0.0, -0.05), "ear": (0.07, -0.68, 0.02)}.items():
            w[MEDIAPIPE33.index(f"{side}_{part}")] = (x * p[0], p[1], p[2])
    w[MEDIAPIPE33.index("nose")] = (0.0, -0.65, -0.1)  # facing the camera: nearer than the ears
    return w


def test_world_landmarks_map_onto_h36m17_by_the_2d_rules_with_the_axes_kept() -> None:
    w = _standing_world33()
    out = world_landmarks_to_h36m17(np.stack([w, w]))
    assert out.shape == (2, 17, 3) and out.dtype == np.float32
    h = H36M17.index
    np.testing.assert_allclose(out[0, h("pelvis")], (0, 0, 0), atol=1e-7)
    np.testing.assert_allclose(out[0, h("thorax")], (0, -0.5, 0), atol=1e-7)
    np.testing.assert_allclose(out[0, h("spine")], (0, -0.25, 0), atol=1e-7)
    np.testing.assert_allclose(out[0, h("neck")], (0, -0.65, -0.1), atol=1e-7)
    # mid-ears (0, -0.68, 0.02) + half of (mid-ears - thorax) = (0, -0.77, 0.03)
    np.testing.assert_allclose(out[0, h("head")], (0, -0.77, 0.03), atol=1e-6)
    np.testing.assert_allclose(out[0, h("left_ankle")], (0.1, 0.85, 0.05), atol=1e-7)
    np.testing.assert_allclose(out[0, h("right_wrist")], (-0.24, 0.0, -0.05), atol=1e-7)
    # OpenCV camera axes as they come: the head above (smaller y) the ankles, the subject's
    # left on +x, the nose nearer the camera (smaller z) than the pelvis
    assert out[0, h("head"), 1] < out[0, h("left_ankle"), 1]
    assert out[0, h("left_shoulder"), 0] > out[0, h("right_shoulder"), 0]
    assert out[0, h("neck"), 2] < out[0, h("pelvis"), 2]
    # the same joints as the 2D mapping gives for the x, y of these points
    xy, _ = map_points(w[None, :, :2], np.ones((1, 33)), MEDIAPIPE33_TO_H36M17)
    np.testing.assert_allclose(out[0, :, :2], xy[0], atol=1e-6)
    # a missing landmark empties the joints that use it
    w2 = w.copy()
    w2[MEDIAPIPE33.index("right_ear")] = np.nan
    out2 = world_landmarks_to_h36m17(w2[None])
    assert np.isnan(out2[0, h("head")]).all() and np.isfinite(np.delete(out2[0], h("head"), 0)).all()
    with pytest.raises(Pose2RigError, match="world33"):
        world_landmarks_to_h36m17(w)
