"""The Anny backend (pose2rig/body/anny.py): conventions, kinematics, mappings, gradients.

Anny's cache is built by the install step (``make``: ``python -m pose2rig.body.anny
--build-cache``); a missing cache fails here with that command rather than building it per test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from pose2rig.body.anny import JOINTS, SHAPE_NAMES, AnnyBody, anny_cache_dir, anny_cache_ready
from pose2rig.errors import ArgumentError
from pose2rig.skeletons import H36M17


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    if not anny_cache_ready():
        pytest.fail(f"Anny's body model cache is missing in {anny_cache_dir()}: build it once with "
                    "`python -m pose2rig.body.anny --build-cache` (about 2 minutes; make does it)")
    return AnnyBody()


def _zeros(body: AnnyBody, b: int = 1):
    return torch.zeros(b, body.num_joints, 3), torch.zeros(1, body.num_shape), torch.zeros(b, 3)


def _j(body: AnnyBody, name: str) -> int:
    return body.joint_names.index(name)


def test_interface_shapes(body):
    assert body.kind == "anny"
    assert body.joint_names == tuple(n for n, _ in JOINTS) and body.num_joints == 22
    assert body.parents[0] == -1 and all(0 <= p < j for j, p in enumerate(body.parents) if j)
    assert body.num_shape == len(SHAPE_NAMES) == 6
    assert body.faces.shape[1] == 3 and body.faces.max() == body.num_vertices - 1
    assert body.h36m_weights.shape == (17, body.num_joints + body.num_vertices)
    np.testing.assert_allclose(body.h36m_weights.sum(axis=1), 1.0, atol=1e-5)
    out = body(*_zeros(body, 2))
    assert out.joints.shape == (2, 22, 3) and out.rotations.shape == (2, 22, 3, 3)
    assert out.vertices.shape == (2, body.num_vertices, 3) and out.joints.dtype == torch.float32
    assert body(*_zeros(body), vertices=False).vertices is None


def test_convention_y_up_facing_pos_z_rest(body):
    pose, shape, trans = _zeros(body)
    out = body(pose, shape, trans)
    joints = out.joints[0].numpy()
    np.testing.assert_allclose(joints, body.rest_joints, atol=1e-6)
    np.testing.assert_allclose(out.vertices[0].numpy(), body.rest_vertices, atol=1e-6)
    np.testing.assert_allclose(out.rotations[0].numpy(), np.broadcast_to(np.eye(3), (22, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(joints[0], 0.0, atol=1e-6)  # the root at the origin
    # Y up: head over neck over pelvis over knees over ankles
    y = {n: joints[_j(body, n), 1] for n in ("head", "neck01", "root", "lowerleg01.L", "foot.L")}
    assert y["head"] > y["neck01"] > y["root"] > y["lowerleg01.L"] > y["foot.L"]
    # facing +Z: toes in front of the ankles, nose in front of the head joint; the left side at +X
    for side in "LR":
        assert joints[_j(body, f"toes.{side}"), 2] > joints[_j(body, f"foot.{side}"), 2] + 0.08
    h = body.h36m17(out)[0].numpy()
    assert h[H36M17.index("neck"), 2] > joints[_j(body, "head"), 2] + 0.05
    for name in ("upperarm01", "wrist", "upperleg01", "foot"):
        assert joints[_j(body, f"{name}.L"), 0] > 0.05 > -0.05 > joints[_j(body, f"{name}.R"), 0]
    height = np.ptp(out.vertices[0, :, 1].numpy())
    assert 1.5 < height < 1.9, height


def test_knee_90_degrees_moves_the_ankle_as_computed(body):
    pose, shape, trans = _zeros(body)
    knee, ankle = _j(body, "lowerleg01.L"), _j(body, "foot.L")
    pose[0, knee] = torch.tensor([np.pi / 2, 0.0, 0.0])  # about +X: the shin swings backwards
    trans[0] = torch.tensor([0.1, -0.2, 0.3])
    out = body(pose, shape, trans, vertices=False)
    rest = body.rest_joints.astype(np.float64)
    dx, dy, dz = rest[ankle] - rest[knee]
    # Rx(90 deg) (x, y, z) = (x, -z, y): the shin, hanging down, now points to -Z (behind the knee)
    expected = rest[knee] + np.array([dx, -dz, dy]) + [0.1, -0.2, 0.3]
    np.testing.assert_allclose(out.joints[0, ankle].numpy(), expected, atol=1e-5)
    assert expected[2] < rest[knee, 2] + 0.3 - 0.4  # well behind the knee
    for name in ("root", "upperleg01.L", "lowerleg01.L", "foot.R", "wrist.L"):  # the rest stays
        np.testing.assert_allclose(out.joints[0, _j(body, name)].numpy(), rest[_j(body, name)] + [0.1, -0.2, 0.3],
                                   atol=1e-5)


def test_world_rotations_compose_the_locals_along_the_parents(body):
    rng = np.random.default_rng(3)
    rotvec = rng.normal(scale=0.5, size=(2, body.num_joints, 3))
    shape = torch.tensor([[0.1, -0.2, 0.2, -0.1, 0.3, 0.1]])
    out = body(torch.tensor(rotvec, dtype=torch.float32), shape, torch.zeros(2, 3), vertices=False)
    rest = body(*_zeros(body)[:1], shape, torch.zeros(1, 3), vertices=False).joints[0].numpy()
    world = out.rotations.numpy()
    joints = out.joints.numpy()
    for b in range(2):
        local = Rotation.from_rotvec(rotvec[b]).as_matrix()
        np.testing.assert_allclose(world[b, 0], local[0], atol=1e-5)
        for j, p in enumerate(body.parents):
            if p < 0:
                continue
            np.testing.assert_allclose(world[b, j], world[b, p] @ local[j], atol=1e-5)
            np.testing.assert_allclose(joints[b, j] - joints[b, p], world[b, p] @ (rest[j] - rest[p]), atol=1e-5)


def test_matches_annys_own_forward(body):
    """The same pose through Anny's own ``local-ref`` forward (104 bones, Anny's axes) gives the
    same mesh, turned to Y up, at shape 0 (for other shapes Anny's zero pose is its
    shape-independent reference pose, ours the shape's own rest pose)."""
    import roma

    from pose2rig.body.anny import _TO_Y_UP, SHAPE_BASE

    anny = body._anny
    c = torch.tensor(_TO_Y_UP, dtype=torch.float32)
    rng = np.random.default_rng(5)
    pose = torch.tensor(rng.normal(scale=0.3, size=(1, body.num_joints, 3)), dtype=torch.float32)
    shape = torch.zeros(1, body.num_shape)
    deltas = torch.eye(4).repeat(1, anny.bone_count, 1, 1)
    for j, name in enumerate(body.joint_names):
        bones = [k for k, b in enumerate(anny.bone_labels)
                 if b == name or (name.startswith("toes.") and b.startswith("toe") and b.endswith(f"-1.{name[-1]}"))]
        assert bones
        for k in bones:
            deltas[0, k, :3, :3] = c.T @ roma.rotvec_to_rotmat(pose[0, j]) @ c
    pheno = {n: float(v) for n, v in zip(SHAPE_NAMES, torch.tensor(SHAPE_BASE) + shape[0])}
    theirs = anny(pose_parameters=deltas, phenotype_kwargs=pheno)["vertices"][0] @ c.T
    ours = body(pose, shape, torch.zeros(1, 3)).vertices[0]
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_h36m17_hips_either_side_of_the_pelvis(body):
    out = body(*_zeros(body))
    h = body.h36m17(out)[0].numpy()
    idx = {n: H36M17.index(n) for n in H36M17.joint_names}
    pelvis, lh, rh = h[idx["pelvis"]], h[idx["left_hip"]], h[idx["right_hip"]]
    assert lh[0] > pelvis[0] + 0.05 and rh[0] < pelvis[0] - 0.05
    np.testing.assert_allclose(pelvis, (lh + rh) / 2, atol=1e-6)
    assert abs(lh[1] - pelvis[1]) < 1e-6 and abs(rh[1] - pelvis[1]) < 1e-6  # at hip height
    np.testing.assert_allclose(lh, body.rest_joints[_j(body, "upperleg01.L")], atol=1e-6)
    thorax = h[idx["thorax"]]
    np.testing.assert_allclose(h[idx["spine"]], (pelvis + thorax) / 2, atol=1e-6)
    assert h[idx["head"], 1] > h[idx["neck"], 1] > thorax[1] > h[idx["spine"], 1] > pelvis[1]
    assert h[idx["left_ankle"], 1] < h[idx["left_knee"], 1] < lh[1]
    with pytest.raises(ValueError, match="vertices"):
        body.h36m17(body(*_zeros(body), vertices=False))


def test_points_sit_where_mediapipe_puts_them(body):
    out = body(*_zeros(body))
    pts = {k: v[0].numpy() for k, v in body.points(out).items()}
    assert set(pts) == {f"{s}_{p}" for s in ("left", "right") for p in ("heel", "foot_index", "index", "pinky")}
    rest = body.rest_joints
    for s, side, sign in (("left", "L", 1), ("right", "R", -1)):
        ankle, wrist = rest[_j(body, f"foot.{side}")], rest[_j(body, f"wrist.{side}")]
        assert pts[f"{s}_heel"][2] < ankle[2] - 0.03 and pts[f"{s}_heel"][1] < ankle[1] - 0.03
        assert pts[f"{s}_foot_index"][2] > ankle[2] + 0.15
        for p in ("index", "pinky"):
            assert 0.05 < np.linalg.norm(pts[f"{s}_{p}"] - wrist) < 0.15
            assert sign * pts[f"{s}_{p}"][0] > sign * wrist[0]
    assert np.linalg.norm(pts["left_index"] - pts["left_pinky"]) > 0.03


def test_gradients_flow_to_pose_shape_and_translation(body):
    pose = torch.full((2, body.num_joints, 3), 0.1, requires_grad=True)
    shape = torch.zeros(1, body.num_shape, requires_grad=True)
    trans = torch.zeros(2, 3, requires_grad=True)
    out = body(pose, shape, trans)
    loss = body.h36m17(out).square().sum() + out.vertices[:, ::50].square().sum() \
        + sum(p.square().sum() for p in body.points(out).values())
    loss.backward()
    for name, t in (("pose", pose), ("shape", shape), ("translation", trans)):
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
    assert (pose.grad.abs().sum(dim=(0, 2)) > 0).sum() >= 18  # most joints move something
    assert shape.grad[0, SHAPE_NAMES.index("height")].abs() > 0
    # the warp skinning's gradient matches a finite difference on one vertex coordinate
    pose2 = torch.zeros(1, body.num_joints, 3, dtype=torch.float32)
    knee = _j(body, "lowerleg01.L")
    v = int(body.point_vertices["left_heel"][0])

    def heel_z(angle: float) -> float:
        p = pose2.clone()
        p[0, knee, 0] = angle
        return float(body(p, torch.zeros(1, 6), torch.zeros(1, 3)).vertices[0, v, 2])

    p = pose2.clone().requires_grad_(True)
    body(p, torch.zeros(1, 6), torch.zeros(1, 3)).vertices[0, v, 2].backward()
    fd = (heel_z(1e-2) - heel_z(-1e-2)) / 2e-2
    assert abs(p.grad[0, knee, 0].item() - fd) < 0.02 * abs(fd) + 1e-4


def test_a_taller_shape_is_taller(body):
    pose, _, trans = _zeros(body)
    i = SHAPE_NAMES.index("height")
    heights, legs = [], []
    for value in (-0.2, 0.0, 0.2):
        shape = torch.zeros(1, body.num_shape)
        shape[0, i] = value
        out = body(pose, shape, trans)
        heights.append(float(np.ptp(out.vertices[0, :, 1].numpy())))
        j = out.joints[0].numpy()
        legs.append(float(np.linalg.norm(j[_j(body, "upperleg01.L")] - j[_j(body, "foot.L")])))
    assert heights[0] + 0.1 < heights[1] < heights[2] - 0.1
    assert legs[0] < legs[1] < legs[2]


def test_rest_is_forward_at_zero_pose(body):
    shape = torch.tensor([[0.1, -0.2, 0.2, -0.1, 0.3, 0.1], [0.0, 0.0, 0.0, 0.0, -0.3, 0.0]])
    pose, trans = torch.zeros(2, body.num_joints, 3), torch.zeros(2, 3)
    out = body(pose, shape, trans)
    idx = np.concatenate([body.point_vertices["left_heel"], body.point_vertices["right_index"]])
    joints, verts = body.rest(shape, idx)
    np.testing.assert_allclose(joints.numpy(), out.joints.numpy(), atol=1e-6)
    np.testing.assert_allclose(verts.numpy(), out.vertices[:, idx].numpy(), atol=1e-6)
    assert body.rest(shape)[1].shape == (2, body.num_vertices, 3)
    # each vertex goes with the joint that moves it most
    assert body.vertex_joint.shape == (body.num_vertices,)
    assert set(body.vertex_joint[body.point_vertices["left_heel"]]) == {_j(body, "foot.L")}
    assert set(body.vertex_joint[body.point_vertices["right_index"]]) <= {_j(body, "wrist.R")}
    assert body.vertex_joint[np.argmax(body.rest_vertices[:, 1])] == _j(body, "head")


def test_bad_input_names_the_argument(body):
    pose, shape, trans = _zeros(body, 2)
    with pytest.raises(ArgumentError, match="pose must be"):
        body(pose[:, :5], shape, trans)
    with pytest.raises(ArgumentError, match="shape must be"):
        body(pose, torch.zeros(3, body.num_shape), trans)
    with pytest.raises(ArgumentError, match="translation must be"):
        body(pose, shape, trans[:1])
