"""Body fit recovery on real motion the priors did not generate (issue 14).

    .venv/bin/python bench/fit_recovery.py --docs

Poses from real mocap (CMU and Bandai-1 BVH files in ``../shared/data/mocap``, read as
Human3.6M-17 world joints and resampled to 30 fps) drive (a) pose2rig.testing's synthetic
6,890-vertex SMPL-format model (:class:`~pose2rig.body.smpl.SmplBody`) and (b) Anny
(:class:`~pose2rig.body.anny.AnnyBody`), each with a random shape per clip (seeded: SMPL betas 0-3
~ N(0, 1), the others 0; Anny's six offsets uniform in +-0.3). The posed model's Human3.6M-17
joints (``model.h36m17``) and MediaPipe extra points (``model.points``) are the fit's input,
exact and with Gaussian noise of 10 mm per coordinate (seeded) on every joint and point.

How mocap becomes a body-model pose (:func:`mocap_pose`), per frame, parents before children,
each joint's world rotation ``G_j`` built from a *base* ``B_j`` and a random twist:

- root: the rotation taking the model's rest torso frame (up: pelvis -> thorax, then the hips'
  left-right axis, orthogonalised) onto the mocap's;
- a joint mapped to a mocap bone (:data:`BONES`: the model bone ``joint -> child`` follows the
  Human3.6M-17 bone ``a -> b``; spine, neck, collars, upper arms, forearms, thighs, shins):
  ``B_j = S(B_parent d_j -> t_j) B_parent``, the smallest rotation taking the model's rest bone
  direction ``d_j``, carried by the parent's *base*, onto the mocap's direction ``t_j``. The
  upper arms and thighs instead take the **knee/elbow-plane rule**: ``B_j`` maps ``d_j`` onto
  ``t_j`` and the hinge axis of the elbow/knee below (:func:`pose2rig.body.fit.hinge_axes`) onto
  ``t_j x t_child`` (the limb's bend plane, bent the natural way), blended toward the swing-only
  axis as the limb straightens (weight 0 below 10 degrees of bend, 1 above 25); the forearm and
  shin below then swing from it, a pure hinge bend;
- truth: ``G_j = R(t_j, tau_j(t)) B_j``, a twist about the bone's own axis by a smooth random
  signal (a sum of four sines of 0.1-0.6 Hz, seeded, scaled so that its peak is the range): upper arms +-30
  degrees, forearms +-40, thighs +-20, the other mapped bones +-5. Twisting a bone never moves a
  joint (the children's bases come from the parent's base, not from its truth), so the joints
  follow the mocap's bone directions exactly and the twist is visible only in the mesh and the
  extra points (hands through the forearm, feet through the shin);
- joints with no mocap bone (wrists, hands, ankles, feet, toes, head): a smooth random local
  rotation of at most 10 degrees per axis, on the parent's truth (``G_j = G_parent L_j``);
- pose ``= G_parent^T G_j`` as axis-angle; the translation puts the model's Human3.6M-17 pelvis
  on the mocap's.

Figures (means over frames, then over clips; mm and degrees):

- joint: distance of the fitted Human3.6M-17 joints to the exact (noise-free) truth;
- swing: the angle between the fitted and true direction of every bone of the model's tree
  (parent joint -> child joint, bones of 1 cm or more), mean over bones (and the worst bone,
  named ``parent>child`` with its clip: the bone whose mean over a clip's frames is largest);
- vertex: distance of the fitted mesh to the true one, vertices whose ``vertex_joint`` is a hand
  or foot joint (SMPL: wrists, hands, ankles, feet; Anny: wrists, feet, toes) left out; with the
  shape fitted, and with the true shape given to ``fit_body(..., shape=...)``;
- twist (of the true-shape fit): the twist part (about the true bone's axis) of the rotation
  between the fitted and true world rotation of the upper arms, forearms and thighs, against
  the same for the knee/elbow-plane rule (the base ``B_j`` above: what a fit or retargeting that
  keeps elbows and knees pure hinges, with no twist of their own, gives). By construction the
  rule's twist error is the truth's ``|tau|``.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose2rig.body.fit import (  # noqa: E402  # after sys.path setup
    BodyFit,
    FitOptions,
    fit_body,
    hinge_axes,
)
from pose2rig.body.model import BodyModel  # noqa: E402  # after sys.path setup
from pose2rig.geometry import (  # noqa: E402  # after sys.path setup
    frame_from_vectors,
    rotation_between,
)
from pose2rig.skeletons import H36M17  # noqa: E402  # after sys.path setup

MOCAP = REPO.parent / "shared" / "data" / "mocap"
DOCS = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- fit-recovery:begin -->"
END = "<!-- fit-recovery:end -->"
TITLE = "## Body fit: recovery on real motion (issue 14)"

CMU_FILES = ("fairmotion_01_01.bvh", "scaled_131_01.bvh", "scaled_131_02.bvh", "scaled_131_03.bvh")
BANDAI_FILES = (
    "dataset-1_dance-short_normal_001.bvh", "dataset-1_slash_normal_002.bvh", "dataset-1_kick_normal_001.bvh",
    "dataset-1_bye_feminine_001.bvh", "dataset-1_walk_not-confident_001.bvh", "dataset-1_guide_feminine_001.bvh",
)

# model joint -> (its child joint, Human3.6M-17 bone a -> b whose direction it follows)
BONES: dict[str, dict[str, tuple[str, str, str]]] = {
    "smpl": {
        "spine1": ("spine2", "pelvis", "spine"), "spine2": ("spine3", "spine", "thorax"),
        "spine3": ("neck", "spine", "thorax"), "neck": ("head", "thorax", "head"),
        **{f"{s}_collar": (f"{s}_shoulder", "thorax", f"{s}_shoulder") for s in ("left", "right")},
        **{f"{s}_shoulder": (f"{s}_elbow", f"{s}_shoulder", f"{s}_elbow") for s in ("left", "right")},
        **{f"{s}_elbow": (f"{s}_wrist", f"{s}_elbow", f"{s}_wrist") for s in ("left", "right")},
        **{f"{s}_hip": (f"{s}_knee", f"{s}_hip", f"{s}_knee") for s in ("left", "right")},
        **{f"{s}_knee": (f"{s}_ankle", f"{s}_knee", f"{s}_ankle") for s in ("left", "right")},
    },
    "anny": {
        "spine05": ("spine03", "pelvis", "spine"), "spine03": ("spine01", "spine", "thorax"),
        "spine01": ("neck01", "spine", "thorax"), "neck01": ("head", "thorax", "head"),
        **{f"clavicle.{s}": (f"upperarm01.{s}", "thorax", f"{n}_shoulder") for s, n in (("L", "left"), ("R", "right"))},
        **{f"upperarm01.{s}": (f"lowerarm01.{s}", f"{n}_shoulder", f"{n}_elbow") for s, n in (("L", "left"), ("R", "right"))},
        **{f"lowerarm01.{s}": (f"wrist.{s}", f"{n}_elbow", f"{n}_wrist") for s, n in (("L", "left"), ("R", "right"))},
        **{f"upperleg01.{s}": (f"lowerleg01.{s}", f"{n}_hip", f"{n}_knee") for s, n in (("L", "left"), ("R", "right"))},
        **{f"lowerleg01.{s}": (f"foot.{s}", f"{n}_knee", f"{n}_ankle") for s, n in (("L", "left"), ("R", "right"))},
    },
}
# twist roles: name -> (left joint, right joint) whose bone (joint -> child) it is
ROLES: dict[str, dict[str, tuple[str, str]]] = {
    "smpl": {"upper arm": ("left_shoulder", "right_shoulder"), "forearm": ("left_elbow", "right_elbow"),
             "thigh": ("left_hip", "right_hip")},
    "anny": {"upper arm": ("upperarm01.L", "upperarm01.R"), "forearm": ("lowerarm01.L", "lowerarm01.R"),
             "thigh": ("upperleg01.L", "upperleg01.R")},
}
TWIST_RANGE = {"upper arm": 30.0, "forearm": 40.0, "thigh": 20.0}
"""Degrees: the truth's twist amplitude per role; other mapped bones :data:`OTHER_TWIST`."""
OTHER_TWIST = 5.0
FREE_RANGE = 10.0
"""Degrees per axis: the local rotation of joints with no mocap bone."""
HANDS_FEET = {
    "smpl": ("left_wrist", "right_wrist", "left_hand", "right_hand", "left_ankle", "right_ankle",
             "left_foot", "right_foot"),
    "anny": ("wrist.L", "wrist.R", "foot.L", "foot.R", "toes.L", "toes.R"),
}


# ---------------------------------------------------------------------------------------------
# clips and models


def load_clips(cmu: int, bandai: int, frames: int, fps: float = 30.0) -> list[tuple[str, np.ndarray]]:
    """``[(name, joints (T, 17, 3))]``: ``cmu`` non-overlapping ``frames``-frame windows of the
    CMU files (a file shorter than ``frames`` whole) and the first ``frames`` of ``bandai``
    Bandai-1 clips, resampled to ``fps``."""
    from pose2rig.clean import resample
    from pose2rig.io.mocap import load_bvh_as_h36m17

    out: list[tuple[str, np.ndarray]] = []
    for name in CMU_FILES:
        j = resample(load_bvh_as_h36m17(MOCAP / "cmu" / name), fps=fps).joints
        for s in range(0, max(len(j) - frames, 0) + 1, frames):
            if sum(n.startswith("cmu") for n, _ in out) < cmu:
                out.append((f"cmu/{name[:-4]}@{s}", j[s:s + frames].astype(np.float64)))
    for name in BANDAI_FILES[:bandai]:
        j = resample(load_bvh_as_h36m17(MOCAP / "bandai1" / name), fps=fps).joints
        out.append((f"bandai1/{name[10:-4]}", j[:frames].astype(np.float64)))
    return out


def make_model(kind: str, folder: Path) -> BodyModel:
    if kind == "smpl":
        from pose2rig.body.smpl import load_smpl_body
        from pose2rig.testing import write_synthetic_smpl

        return load_smpl_body(write_synthetic_smpl(folder / "synthetic_smpl.npz"))
    from pose2rig.body.anny import AnnyBody

    return AnnyBody()


def random_shape(model: BodyModel, rng: np.random.Generator) -> np.ndarray:
    """SMPL: betas 0-3 ~ N(0, 1), the rest 0; Anny: every offset uniform in +-0.3."""
    if model.kind == "anny":
        return rng.uniform(-0.3, 0.3, model.num_shape)
    b = np.zeros(model.num_shape)
    b[:4] = rng.standard_normal(4)
    return b


# ---------------------------------------------------------------------------------------------
# mocap -> pose


def smooth_signal(rng: np.random.Generator, frames: int, fps: float, amplitude: float, size: int = 1) -> np.ndarray:
    """``(frames, size)`` smooth random signals reaching ``+-amplitude``: four sines of 0.1-0.6 Hz
    with random weights and phases, scaled so that each signal's largest magnitude is
    ``amplitude``."""
    t = np.arange(frames)[:, None, None] / fps
    f = rng.uniform(0.1, 0.6, (1, size, 4))
    ph = rng.uniform(0, 2 * np.pi, (1, size, 4))
    w = rng.uniform(0.2, 1.0, (1, size, 4))
    s = (w * np.sin(2 * np.pi * f * t + ph)).sum(-1)
    return amplitude * s / np.maximum(np.abs(s).max(axis=0, keepdims=True), 1e-9)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@dataclass
class Truth:
    """A posed model: pose ``(T, J, 3)``, shape ``(S,)``, translation ``(T, 3)``; world rotations
    ``(T, J, 3, 3)`` of the truth and of the knee/elbow-plane rule; the output's joints
    ``(T, J, 3)``, Human3.6M-17 ``(T, 17, 3)``, points ``name -> (T, 3)`` and vertices."""

    pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    world: np.ndarray
    rule: np.ndarray
    joints: np.ndarray
    h36m: np.ndarray
    points: dict[str, np.ndarray]
    vertices: np.ndarray
    twist: dict[str, np.ndarray] = field(default_factory=dict)


def _forward(model: BodyModel, pose: np.ndarray, shape: np.ndarray, trans: np.ndarray, chunk: int = 100,
             keep_vertices: bool = True):
    """Numpy in, the model's joints, rotations, vertices (an empty ``(T, 0, 3)`` unless
    ``keep_vertices``), Human3.6M-17 and points out (chunked)."""
    outs: dict[str, list[np.ndarray]] = {"joints": [], "rotations": [], "vertices": [], "h36m": []}
    pts: dict[str, list[np.ndarray]] = {}
    f32 = torch.float32
    with torch.no_grad():
        beta = torch.as_tensor(np.asarray(shape).reshape(1, -1), dtype=f32)
        for s in range(0, len(pose), chunk):
            o = model(torch.as_tensor(pose[s:s + chunk], dtype=f32), beta, torch.as_tensor(trans[s:s + chunk], dtype=f32))
            outs["joints"].append(o.joints.numpy())
            outs["rotations"].append(o.rotations.numpy())
            outs["vertices"].append(o.vertices.numpy() if keep_vertices else np.zeros((len(o.joints), 0, 3)))
            outs["h36m"].append(model.h36m17(o).numpy())
            for k, v in model.points(o).items():
                pts.setdefault(k, []).append(v.numpy())
    return ({k: np.concatenate(v).astype(np.float64) for k, v in outs.items()},
            {k: np.concatenate(v).astype(np.float64) for k, v in pts.items()})


def mocap_pose(model: BodyModel, shape: np.ndarray, mocap: np.ndarray, rng: np.random.Generator,
               fps: float = 30.0, *, keep_vertices: bool = True) -> Truth:
    """The body model posed by ``mocap (T, 17, 3)`` Human3.6M-17 joints (see the module doc);
    ``keep_vertices=False`` leaves ``Truth.vertices`` empty (long clips)."""
    names = list(model.joint_names)
    parents = np.asarray(model.parents)
    bones = BONES[model.kind]
    roles = {j: r for r, pair in ROLES[model.kind].items() for j in pair}
    t_count, j_count = len(mocap), len(names)
    h = {n: mocap[:, H36M17.index(n)] for n in H36M17.joint_names}
    with torch.no_grad():
        rest_j, _ = model.rest(torch.as_tensor(np.asarray(shape).reshape(1, -1), dtype=torch.float32))
    rest = rest_j[0].numpy().astype(np.float64)
    zero, _ = _forward(model, np.zeros((1, j_count, 3)), shape, np.zeros((1, 3)))
    hr = {n: zero["h36m"][0, H36M17.index(n)] for n in H36M17.joint_names}
    hinge_idx, hinge_ax = hinge_axes(model, rest)
    hinge_of = {int(parents[j]): (j, a) for j, a in zip(hinge_idx, hinge_ax)}  # upper arm/thigh -> its hinge

    def target(j: int) -> np.ndarray:
        _, a, b = bones[names[j]]
        return _unit(h[b] - h[a])

    base = np.zeros((t_count, j_count, 3, 3))
    world = np.zeros_like(base)
    twist: dict[str, np.ndarray] = {}
    for j in range(j_count):
        p = parents[j]
        if p < 0:
            r = frame_from_vectors(h["thorax"] - h["pelvis"], h["left_hip"] - h["right_hip"], "xy") @ \
                frame_from_vectors(hr["thorax"] - hr["pelvis"], hr["left_hip"] - hr["right_hip"], "xy").T
            base[:, j] = world[:, j] = r
            continue
        if names[j] not in bones:
            local = Rotation.from_rotvec(np.radians(smooth_signal(rng, t_count, fps, FREE_RANGE, 3))).as_matrix()
            base[:, j] = base[:, p] @ local
            world[:, j] = world[:, p] @ local
            continue
        child = names.index(bones[names[j]][0])
        d = _unit(rest[child] - rest[j])
        t = target(j)
        b = rotation_between((base[:, p] @ d[:, None])[..., 0], t) @ base[:, p]
        if j in hinge_of:  # the knee/elbow-plane rule
            k, a_rest = hinge_of[j]
            f = target(k)
            n = np.cross(t, f)
            bend = np.degrees(np.arcsin(np.clip(np.linalg.norm(n, axis=-1), 0, 1)))
            bend = np.where((t * f).sum(-1) < 0, 180 - bend, bend)
            w = np.clip((bend - 10.0) / 15.0, 0.0, 1.0)[:, None]
            a_swing = (b @ a_rest[:, None])[..., 0]
            a_world = w * _unit(n) + (1 - w) * a_swing
            a_world = np.where(np.linalg.norm(a_world, axis=-1, keepdims=True) < 0.3, a_swing, a_world)
            b = frame_from_vectors(t, a_world, "xy") @ frame_from_vectors(d, a_rest, "xy").T
        base[:, j] = b
        amp = TWIST_RANGE[roles[names[j]]] if names[j] in roles else OTHER_TWIST
        tau = np.radians(smooth_signal(rng, t_count, fps, amp)[:, 0])
        if names[j] in roles:
            twist[names[j]] = tau
        world[:, j] = Rotation.from_rotvec(t * tau[:, None]).as_matrix() @ b
    local = np.einsum("tjba,tjbc->tjac", world[:, np.maximum(parents, 0)], world)
    root = int(np.flatnonzero(parents < 0)[0])
    local[:, root] = world[:, root]
    pose = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(t_count, j_count, 3)
    out, _ = _forward(model, pose, shape, np.zeros((t_count, 3)), keep_vertices=False)
    trans = h["pelvis"] - out["h36m"][:, H36M17.index("pelvis")]
    out, pts = _forward(model, pose, shape, trans, keep_vertices=keep_vertices)
    return Truth(pose=pose, shape=np.asarray(shape, np.float64), translation=trans, world=out["rotations"],
                 rule=base, joints=out["joints"], h36m=out["h36m"], points=pts, vertices=out["vertices"], twist=twist)


# ---------------------------------------------------------------------------------------------
# metrics


def twist_angle(r_fit: np.ndarray, r_true: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """``(T,)`` radians: the twist about unit ``axis (T, 3)`` of ``r_fit r_true^T`` (swing-twist
    decomposition of the world-frame difference)."""
    q = Rotation.from_matrix(r_fit @ np.swapaxes(r_true, -1, -2)).as_quat()  # (x, y, z, w)
    return 2.0 * np.arctan2((q[:, :3] * axis).sum(-1), q[:, 3])


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def scores(model: BodyModel, truth: Truth, fit: BodyFit, *, twist: bool = True) -> dict[str, float | str]:
    """``joint`` (mm), ``swing`` / ``swing_max`` (deg, mean over bones / the worst bone, named in
    ``swing_bone`` as ``parent>child``), ``vertex``
    (mm, hands and feet left out), and with ``twist`` per role ``twist <role>`` / ``rule <role>``
    (deg) (see the module doc)."""
    names = list(model.joint_names)
    parents = np.asarray(model.parents)
    out: dict[str, float | str] = {"joint": 1000 * float(np.linalg.norm(fit.joints - truth.h36m, axis=-1).mean())}
    per_bone, bone_names = [], []
    for c in range(len(names)):
        p = parents[c]
        if p < 0:
            continue
        if np.linalg.norm(truth.joints[0, c] - truth.joints[0, p]) < 0.01:
            continue  # a joint on its parent (Anny's root and spine05): no direction
        a = _unit(truth.joints[:, c] - truth.joints[:, p])
        b = _unit(fit.model_joints[:, c] - fit.model_joints[:, p])
        per_bone.append(np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1))).mean())
        bone_names.append(f"{names[p]}>{names[c]}")
    out["swing"] = float(np.mean(per_bone))
    out["swing_max"] = float(np.max(per_bone))
    out["swing_bone"] = bone_names[int(np.argmax(per_bone))]
    fitted, _ = _forward(model, fit.pose.astype(np.float64), fit.shape, fit.translation.astype(np.float64))
    keep = ~np.isin(np.asarray(model.vertex_joint), [names.index(n) for n in HANDS_FEET[model.kind]])
    out["vertex"] = 1000 * float(np.linalg.norm(fitted["vertices"][:, keep] - truth.vertices[:, keep], axis=-1).mean())
    if twist:
        for role, pair in ROLES[model.kind].items():
            fit_e, rule_e = [], []
            for n in pair:
                j = names.index(n)
                child = names.index(BONES[model.kind][n][0])
                axis = _unit(truth.joints[:, child] - truth.joints[:, j])
                fit_e.append(np.abs(_wrap(twist_angle(fit.rotations[:, j].astype(np.float64), truth.world[:, j], axis))))
                rule_e.append(np.abs(_wrap(twist_angle(truth.rule[:, j], truth.world[:, j], axis))))
            out[f"twist {role}"] = float(np.degrees(np.mean(fit_e)))
            out[f"rule {role}"] = float(np.degrees(np.mean(rule_e)))
    return out


def noisy_input(truth: Truth, noise_m: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The fit's input: Human3.6M-17 joints and extra points with N(0, noise_m) per coordinate."""
    if noise_m <= 0:
        return truth.h36m.copy(), {k: v.copy() for k, v in truth.points.items()}
    return (truth.h36m + rng.normal(0, noise_m, truth.h36m.shape),
            {k: v + rng.normal(0, noise_m, v.shape) for k, v in truth.points.items()})


def run_clip(model: BodyModel, truth: Truth, noise_m: float, rng: np.random.Generator,
             options: FitOptions) -> dict[str, float | str]:
    """One clip at one noise level: the fit with the shape estimated and with the true shape."""
    h, pts = noisy_input(truth, noise_m, rng)
    t0 = time.perf_counter()
    est = fit_body(model, h, points=pts, fps=30.0, options=options)
    t1 = time.perf_counter()
    known = fit_body(model, h, points=pts, fps=30.0, shape=truth.shape, options=options)
    t2 = time.perf_counter()
    s_est = scores(model, truth, est, twist=False)
    s_true = scores(model, truth, known)
    out = {"joint": s_est["joint"], "swing": s_est["swing"], "swing_max": s_est["swing_max"], "swing_bone": s_est["swing_bone"],
           "vertex est": s_est["vertex"], "vertex true": s_true["vertex"], "joint true": s_true["joint"],
           "swing true": s_true["swing"], "fps": len(h) / (t1 - t0), "fps true": len(h) / (t2 - t1)}
    out.update({k: v for k, v in s_true.items() if k.startswith(("twist", "rule"))})
    return out


# ---------------------------------------------------------------------------------------------
# report


def tables(results: dict[tuple[str, float], list[dict[str, float | str]]], clips: list[str]) -> str:
    rows = ["| model | noise (mm) | clips | joint (mm) | swing (deg, mean / worst bone) | worst bone (clip) "
            "| vertex, shape fitted (mm) | vertex, true shape (mm) | joint, true shape (mm) | fit fps |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for (kind, noise), rs in results.items():
        m = {k: float(np.mean([r[k] for r in rs])) for k in rs[0] if k != "swing_bone"}
        w = int(np.argmax([r["swing_max"] for r in rs]))
        rows.append(f"| {kind} | {1000 * noise:g} | {len(rs)} | {m['joint']:.1f} | {m['swing']:.2f} / "
                    f"{rs[w]['swing_max']:.1f} | {rs[w]['swing_bone']} ({clips[w]}) "
                    f"| {m['vertex est']:.1f} | {m['vertex true']:.1f} | {m['joint true']:.1f} | {m['fps']:.0f} |")
    rows += ["", "Twist error (deg, mean |twist| of the true-shape fit against the truth) of the fit and of the "
             "knee/elbow-plane rule:", "",
             "| model | noise (mm) | upper arm: fit / rule | forearm: fit / rule | thigh: fit / rule |",
             "|---|---|---|---|---|"]
    for (kind, noise), rs in results.items():
        cells = []
        for role in ("upper arm", "forearm", "thigh"):
            cells.append(f"{np.mean([r[f'twist {role}'] for r in rs]):.1f} / {np.mean([r[f'rule {role}'] for r in rs]):.1f}")
        rows.append(f"| {kind} | {1000 * noise:g} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def per_clip(results: dict[tuple[str, float], list[dict[str, float | str]]], clips: list[str]) -> str:
    rows = ["| model | noise (mm) | clip | joint (mm) | swing (deg) | worst bone (deg) | vertex, true shape (mm) "
            "| forearm twist: fit / rule |",
            "|---|---|---|---|---|---|---|---|"]
    for (kind, noise), rs in results.items():
        for name, r in zip(clips, rs):
            rows.append(f"| {kind} | {1000 * noise:g} | {name} | {r['joint']:.1f} | {r['swing']:.2f} | "
                        f"{r['swing_bone']} {r['swing_max']:.1f} | "
                        f"{r['vertex true']:.1f} | {r['twist forearm']:.1f} / {r['rule forearm']:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="smpl,anny", help="comma-separated: smpl, anny")
    ap.add_argument("--cmu", type=int, default=5, help="CMU windows (5: every non-overlapping one there is)")
    ap.add_argument("--bandai", type=int, default=6, help=f"Bandai-1 clips (at most {len(BANDAI_FILES)})")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--noise-mm", default="0,10", help="comma-separated noise levels, mm per coordinate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--machine", default="2 vCPUs AMD EPYC (machine B)")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--docs", action="store_true", help=f"write the tables into {DOCS.name}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    clips = load_clips(args.cmu, args.bandai, args.frames)
    noises = [float(x) / 1000 for x in args.noise_mm.split(",")]
    options = FitOptions(device=args.device)
    results: dict[tuple[str, float], list[dict[str, float | str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mi, kind in enumerate(args.models.split(",")):
            model = make_model(kind, Path(tmp))
            for ci, (name, mocap) in enumerate(clips):
                rng = np.random.default_rng([args.seed, mi, ci])
                truth = mocap_pose(model, random_shape(model, rng), mocap, rng)
                for ni, noise in enumerate(noises):
                    r = run_clip(model, truth, noise, np.random.default_rng([args.seed, mi, ci, ni, 1]), options)
                    results.setdefault((kind, noise), []).append(r)
                    print(f"{kind} {name} noise {1000 * noise:g} mm: " +
                          ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()),
                          flush=True)
    table = tables(results, [n for n, _ in clips])
    print(table)
    print()
    print(per_clip(results, [n for n, _ in clips]))
    if args.docs:
        from lifter_table import write_docs

        cmd = "`.venv/bin/python bench/fit_recovery.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"
        body = (f"{args.date}, {args.machine}, {args.threads} torch threads, `FitOptions()` defaults; "
                f"{len(clips)} clips ({', '.join(n for n, _ in clips)}) of up to {args.frames} frames at 30 fps; "
                f"one random shape per clip and model; noise per coordinate on every input joint and point. "
                f"Goals: joint 5 mm without noise, 15 mm with; swing 5 degrees; vertex 15 mm with the true shape. "
                f"How the poses are made and what each figure means: the docstring of bench/fit_recovery.py. "
                f"Command: {cmd}\n\n{table}\n\n<details><summary>Per clip</summary>\n\n"
                f"{per_clip(results, [n for n, _ in clips])}\n\n</details>")
        write_docs(body, DOCS, title=TITLE, begin=BEGIN, end=END)
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
