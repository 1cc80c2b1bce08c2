"""The body fit on real motion the priors did not generate (issue 14), on a short clip: 40 frames
of CMU ``scaled_131_02`` (30 fps) posing the synthetic SMPL-format model and Anny, through
``bench/fit_recovery.py``'s pose maker and metrics, with the fit's default options (``FitOptions()``).

Goals pinned (no noise), tighter than the issue's (joint 5 mm, swing 5 degrees, vertex 15 mm) to
what holds on this clip (2026-12-07: SMPL 1.2 mm / 1.7 degrees / 7.4 mm, Anny 2.7 / 1.9 / 5.8):
joint error under 3.5 mm and mean bone swing error under 2.5 degrees with the shape fitted;
vertex error (hands and feet left out) under 10 mm with the true shape given. And the fit's start
(no iteration): the limbs along the data's bones, the torso near it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _bench_module import bench_module

from pose2rig.skeletons import H36M17

fr = bench_module("fit_recovery")
FRAMES = 40


@pytest.fixture(scope="module")
def mocap():
    from pose2rig.clean import resample
    from pose2rig.io.mocap import load_bvh_as_h36m17

    seq = resample(load_bvh_as_h36m17(fr.MOCAP / "cmu" / "scaled_131_02.bvh"), fps=30.0)
    return seq.joints[:FRAMES].astype(np.float64)


@pytest.fixture(scope="module", params=["smpl", "anny"])
def posed(request, mocap, tmp_path_factory):
    torch.set_num_threads(2)
    model = fr.make_model(request.param, tmp_path_factory.mktemp("model"))
    rng = np.random.default_rng(7)
    return model, fr.mocap_pose(model, fr.random_shape(model, rng), mocap, rng), mocap


def test_posed_model_follows_the_mocap_bones_and_twists_off_the_plane_rule(posed):
    """The pose maker's convention: the model's limbs point along the mocap's bones exactly, its
    pelvis is the mocap's, and the truth's twist differs from the knee/elbow-plane rule by the
    random signal it drew (up to its range), while no joint moves."""
    model, truth, mocap = posed
    for a, b in (("left_shoulder", "left_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
                 ("right_knee", "right_ankle")):
        i, k = H36M17.index(a), H36M17.index(b)
        u = fr._unit(truth.h36m[:, k] - truth.h36m[:, i])
        v = fr._unit(mocap[:, k] - mocap[:, i])
        assert np.degrees(np.arccos(np.clip((u * v).sum(-1), -1, 1))).max() < 0.05, (a, b)
    np.testing.assert_allclose(truth.h36m[:, 0], mocap[:, 0], atol=1e-5)
    names = list(model.joint_names)
    for role, (left, _) in fr.ROLES[model.kind].items():
        j = names.index(left)
        child = names.index(fr.BONES[model.kind][left][0])
        axis = fr._unit(truth.joints[:, child] - truth.joints[:, j])
        rule = fr.twist_angle(truth.rule[:, j], truth.world[:, j], axis)
        np.testing.assert_allclose(rule, -truth.twist[left], atol=2e-3)
        assert np.degrees(np.abs(truth.twist[left])).max() == pytest.approx(fr.TWIST_RANGE[role], abs=2.0)


def test_fit_recovers_real_motion(posed):
    model, truth, _ = posed
    est = fr.fit_body(model, truth.h36m, points=truth.points)
    s = fr.scores(model, truth, est, twist=False)
    assert s["joint"] < 3.5, s
    assert s["swing"] < 2.5, s
    known = fr.fit_body(model, truth.h36m, points=truth.points, shape=truth.shape)
    k = fr.scores(model, truth, known)
    assert k["vertex"] < 10.0, k
    # the hand points give the forearm's twist: closer to the truth than the plane rule's
    assert k["twist forearm"] < k["rule forearm"], k


def test_start_lays_the_limbs_along_the_data_and_the_torso_near_it(posed):
    """The analytic start alone (true shape, no iteration): the legs on the data (the root's
    turn and the thighs' and shins' directions exact), each arm offset from the data only by its
    shoulder's offset (the upper arm's and forearm's directions exact, the error all in the
    torso), and the shoulders within 50 mm on average (the spine and the clavicles laid along the
    data's spine and shoulder line)."""
    model, truth, _ = posed
    start = fr.fit_body(model, truth.h36m, points=truth.points, shape=truth.shape,
                        options=fr.FitOptions(orient_iters=0, pose_iters=0))
    off = start.joints - truth.h36m  # (T, 17, 3)
    legs = [H36M17.index(f"{s}_{j}") for s in ("left", "right") for j in ("hip", "knee", "ankle")]
    assert 1000 * np.linalg.norm(off[:, legs], axis=-1).mean() < 1.0
    for side in ("left", "right"):
        shoulder = off[:, H36M17.index(f"{side}_shoulder")]
        assert 1000 * np.linalg.norm(shoulder, axis=-1).mean() < 50.0, side
        for j in ("elbow", "wrist"):
            d = off[:, H36M17.index(f"{side}_{j}")] - shoulder
            assert 1000 * np.linalg.norm(d, axis=-1).max() < 1.0, (side, j)
