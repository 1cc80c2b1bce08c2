"""pose2rig.body.fit: the SMPLify-style fit, on a small exact body model (Human3.6M-17's tree)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pose2rig.body.fit import (
    FitOptions,
    axis_angle_to_matrix,
    fit_body,
    forward_kinematics,
    hinge_axes,
)
from pose2rig.body.model import BodyModel, BodyOutput
from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import H36M17
from pose2rig.testing import tpose_sequence

LEGS = [H36M17.index(n) for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]


class StickBody(BodyModel):
    """Human3.6M-17's joints as a body model: shape 0 scales the whole body, shape 1 the legs
    (knees and ankles further from the hips); two 'vertices' (nose, head top) ride on the head
    joint, so the Human3.6M-17 'neck' (nose) and 'head' come from vertices as on a real mesh."""

    def __init__(self) -> None:
        super().__init__()
        rest = tpose_sequence(1).joints[0].astype(np.float64)
        for ankle in ("left_ankle", "right_ankle"):  # legs straight below the hips
            rest[H36M17.index(ankle), 2] = rest[H36M17.index("pelvis"), 2]
        for knee in ("left_knee", "right_knee"):
            rest[H36M17.index(knee), 2] = rest[H36M17.index("pelvis"), 2]
        self.kind = "stick"
        self.joint_names = tuple(H36M17.joint_names)
        self.parents = np.asarray(H36M17.parents)
        self.num_shape = 2
        self.num_vertices = 2
        self.faces = np.zeros((0, 3), dtype=np.int64)
        head = H36M17.index("head")
        self.register_buffer("rest_joints", torch.as_tensor(rest, dtype=torch.float32))
        verts = np.stack([rest[H36M17.index("neck")] + [0, 0.05, 0.1], rest[head] + [0, 0.1, 0]])
        self.register_buffer("rest_vertices", torch.as_tensor(verts, dtype=torch.float32))
        w = np.zeros((17, 17 + 2))
        for k in range(17):
            w[k, k] = 1.0
        nose = H36M17.index("neck")
        w[nose, nose], w[nose, 17] = 0.0, 1.0
        w[head, head], w[head, 18] = 0.0, 1.0
        self.h36m_weights = w
        self.vertex_joint = np.array([head, head])
        self.point_vertices = {"nose_tip": np.array([0])}

    def rest(self, shape, vertex_index=None):
        j = self.rest_joints[None].expand(shape.shape[0], -1, -1)
        pelvis = j[:, :1]
        scale = 1.0 + 0.1 * shape[:, 0, None, None]
        legs = torch.zeros_like(j)
        legs[:, LEGS] = 1.0
        hips = j.clone()
        for k, hip in zip(LEGS, [1, 4, 1, 4]):
            hips[:, k] = j[:, hip]
        j2 = hips + (j - hips) * (1.0 + legs * 0.1 * shape[:, 1, None, None])
        joints = pelvis + (j2 - pelvis) * scale
        v = self.rest_vertices[None].expand(shape.shape[0], -1, -1)
        v = pelvis + (v - pelvis) * scale
        if vertex_index is not None:
            v = v[:, torch.as_tensor(vertex_index, dtype=torch.long)]
        return joints, v

    def forward(self, pose, shape, translation, *, vertices=True):
        rj, rv = self.rest(shape)
        rot, pos = forward_kinematics(axis_angle_to_matrix(pose), rj, self.parents)
        head = H36M17.index("head")
        off = rv - rj[:, [head, head]]
        v = pos[:, [head, head]] + (rot[:, [head, head]] @ off[..., None])[..., 0]
        t = translation[:, None]
        return BodyOutput(pos + t, rot, v + t if vertices else None)


def _motion(model: StickBody, frames: int, seed: int, beta=(0.8, -0.6)):
    """A smooth random motion within natural limits: hinges bend the natural way only."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, frames)[:, None]
    pose = np.zeros((frames, 17, 3))
    for j in range(17):
        a, ph = rng.uniform(0.05, 0.35, 3), rng.uniform(0, 2 * np.pi, 3)
        pose[:, j] = a * np.sin(t + ph)
    with torch.no_grad():
        rj, _ = model.rest(torch.zeros(1, 2))
    idx, axes = hinge_axes(model, rj[0].numpy())
    for j, ax in zip(idx, axes):
        pose[:, j] = ax * (0.7 + 0.5 * np.sin(t[:, 0] + j))[:, None]  # flexed 0.2-1.2 rad, on the hinge
    pose[:, 0] = [0.0, 1.0, 0.0] * (0.5 * t)  # turning about up
    trans = np.c_[0.5 * np.sin(t[:, 0]), np.zeros(frames), 0.3 * t[:, 0]]
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.tensor([beta], dtype=torch.float32),
                    torch.as_tensor(trans, dtype=torch.float32))
        h = model.h36m17(out).numpy()
    return pose, trans, h, out


FAST = FitOptions(shape_iters=120, window=40, overlap=8, orient_iters=20, pose_iters=150)


def test_fit_recovers_exact_joints_and_the_shape():
    model = StickBody()
    _, _, h, out = _motion(model, 70, seed=1)
    fit = fit_body(model, h, options=FAST)
    assert fit.joints.shape == (70, 17, 3) and fit.pose.shape == (70, 17, 3) and fit.rotations.shape == (70, 17, 3, 3)
    err = np.linalg.norm(fit.joints - h, axis=-1)
    assert np.median(err) < 0.005 and err.mean() < 0.01, (np.median(err), err.mean())
    assert np.allclose(fit.shape, [0.8, -0.6], atol=0.15), fit.shape
    assert np.nanmax(fit.error) < 0.03
    # world rotations of bones with a child agree with the truth's where the child fixes them
    knee = H36M17.index("left_knee")
    true_dir = out.joints[:, H36M17.index("left_ankle")] - out.joints[:, knee]
    fit_dir = fit.model_joints[:, H36M17.index("left_ankle")] - fit.model_joints[:, knee]
    cos = (true_dir.numpy() * fit_dir).sum(-1) / np.linalg.norm(true_dir.numpy(), axis=-1) / np.linalg.norm(fit_dir, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 3.0


def test_fit_keeps_knees_from_bending_backwards():
    """Data whose knees are pushed 25 degrees the wrong way: the fit bends them at most a little."""
    model = StickBody()
    pose, trans, _, _ = _motion(model, 30, seed=2)
    with torch.no_grad():
        rj, _ = model.rest(torch.zeros(1, 2))
    idx, axes = hinge_axes(model, rj[0].numpy())
    for j, ax in zip(idx[:2], axes[:2]):
        pose[:, j] = -np.radians(25.0) * ax
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.zeros(1, 2), torch.as_tensor(trans, dtype=torch.float32))
        h = model.h36m17(out).numpy()
    fit = fit_body(model, h, shape=np.zeros(2), options=FAST)
    along = np.einsum("tjc,jc->tj", fit.pose[:, idx[:2]], axes[:2])
    assert np.degrees(-along).max() < 12.0, np.degrees(along).min()


def test_missing_frames_and_joints_carry_no_weight():
    model = StickBody()
    _, _, h, _ = _motion(model, 40, seed=3)
    bad = h.copy()
    bad[10:14] = np.nan
    bad[20, H36M17.index("left_wrist")] = np.nan
    fit = fit_body(model, bad, options=FAST)
    assert np.all(np.isfinite(fit.joints)) and np.all(np.isnan(fit.error[10:14]))
    err = np.linalg.norm(fit.joints - h, axis=-1)
    ok = np.isfinite(bad).all(axis=-1)
    assert np.median(err[ok]) < 0.01
    assert err[10:14].mean() < 0.1  # the gap is bridged, not thrown away


def test_bad_input_is_one_clear_error():
    model = StickBody()
    with pytest.raises(Pose2RigError, match="no frame has a joint"):
        fit_body(model, np.full((5, 17, 3), np.nan))
    with pytest.raises(Pose2RigError, match=r"\(T, 17, 3\)"):
        fit_body(model, np.zeros((5, 16, 3)))
    with pytest.raises(Pose2RigError, match="window"):
        FitOptions(window=10, overlap=10)


def test_one_frame_clip():
    model = StickBody()
    _, _, h, _ = _motion(model, 1, seed=4)
    fit = fit_body(model, h, options=FAST)
    assert fit.joints.shape == (1, 17, 3) and np.linalg.norm(fit.joints - h, axis=-1).mean() < 0.02


@pytest.mark.parametrize("w_limit", [1.0, 0.0])
def test_fit_keeps_the_neck_within_its_anatomical_limit(w_limit):
    """Data whose neck is turned 110 degrees (past its 60-degree limit, :data:`JOINT_LIMITS`):
    with the limits the fit's neck stays near 60 degrees; without them (``w_limit=0``) it
    follows the data past it."""
    from pose2rig.body.fit import JOINT_LIMITS

    assert JOINT_LIMITS[("neck", "neck01", "head")] == 60.0
    model = StickBody()
    pose, trans, _, _ = _motion(model, 30, seed=3)
    neck = H36M17.index("neck")
    pose[:, neck] = np.radians(110.0) * np.array([1.0, 0.0, 0.0])
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.zeros(1, 2), torch.as_tensor(trans, dtype=torch.float32))
        h = model.h36m17(out).numpy()
    fit = fit_body(model, h, shape=np.zeros(2), options=dataclasses.replace(FAST, w_limit=w_limit))
    angle = np.degrees(np.linalg.norm(fit.pose[:, neck], axis=-1))
    if w_limit:
        assert angle.max() < 72.0, angle.max()
    else:
        assert angle.mean() > 90.0, angle.mean()
