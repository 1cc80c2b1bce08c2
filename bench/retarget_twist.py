"""Limb twist of a retargeted rig against the body fit's own, with and without ``retarget(twist=...)``
(issue 14: "retargeting uses the fit where present").

    .venv/bin/python bench/retarget_twist.py ../shared/data/mocap/cmu/fairmotion_01_01.bvh --seconds 10

A body model (Anny by default; ``--smpl-model`` for an SMPL-format file) is fitted to the BVH's
Human3.6M-17 joints (``pose2rig.pipeline.fit_file``, ``FitOptions()`` defaults, 30 fps), then its
body file is retargeted (``retarget_file``'s path: the fitted joints, the feet's headings) with the
fit's twist references and with the knee/elbow-plane rule, onto two rigs:

- **the body's own skeleton** (``BodyFile.rig()``: rest matrices ``[I | bone_rest]``, so a bone's
  world rotation from rest is comparable with the fit's): the figure is the mean ``|twist|``
  (degrees) about the fitted bone's direction of ``W_rig R_fit^T``, ``W_rig`` the rig bone's
  world rotation from rest, ``R_fit`` the fitted one (swing-twist decomposition);
- **the bundled character** (another rest pose): the angle about the rig bone's posed direction
  between where its rest second axis went (the rule of ``retarget``'s ``twist``: rest direction x
  forward for arms, x backward for legs) and the fit's twist reference. With the twist given this
  is 0 by construction (the frame is built on it); the plane rule's figure is what the fit adds.

Per part (upper arm, forearm, thigh, shin; both sides pooled), over all frames.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTS = ("upper_arm", "forearm", "thigh", "shin")


def _twist_deg(r: np.ndarray, r_ref: np.ndarray, axis: np.ndarray) -> np.ndarray:
    q = Rotation.from_matrix(r @ np.swapaxes(r_ref, -1, -2)).as_quat()
    a = 2.0 * np.arctan2((q[:, :3] * axis).sum(-1), q[:, 3])
    return np.degrees(np.abs((a + np.pi) % (2 * np.pi) - np.pi))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def own_skeleton(body, pose, ends, twist) -> dict[str, tuple[float, float]]:
    from pose2rig.body.twist import LIMB_BONES
    from pose2rig.retarget import map_rig, retarget

    rig = body.rig()
    table = LIMB_BONES["smpl" if body.kind != "anny" else "anny"]
    over = {f"{s}_{p}": table[f"{s}_{p}"][0] for s in ("left", "right") for p in PARTS}
    names = body.bone_names
    if body.kind == "anny":
        over.update(hips="root", head="head", left_foot="foot.L", right_foot="foot.R", left_hand="wrist.L",
                    right_hand="wrist.R")
    mapping = map_rig(rig, over)
    out = {}
    runs = {"twist": retarget(pose, rig, mapping=mapping, extremities=ends, twist=twist, root_motion="off"),
            "plane": retarget(pose, rig, mapping=mapping, extremities=ends, root_motion="off")}
    for part in PARTS:
        errs = {k: [] for k in runs}
        for s in ("left", "right"):
            a, b = table[f"{s}_{part}"]
            j, c = names.index(a), names.index(b)
            r_fit = body.bone_rotations[:, j]
            axis = _unit(r_fit @ (body.bone_rest[c] - body.bone_rest[j]))
            for k, anim in runs.items():
                w = anim.world_matrices()[:, rig.bone_names.index(a), :3, :3]
                errs[k].append(_twist_deg(w, r_fit, axis))
        out[part] = (float(np.mean(errs["twist"])), float(np.mean(errs["plane"])))
    return out


def character(body, pose, ends, twist) -> dict[str, tuple[float, float]]:
    from pose2rig.io.rigs import load_rig
    from pose2rig.retarget import map_rig, retarget
    from pose2rig.retarget.character import _rest_twist, _rig_points

    rig = load_rig(None)
    m = map_rig(rig)
    pts = _rig_points(rig, m)
    rest_axes = _rest_twist(pts, [f"{s}_{p}" for s in ("left", "right") for p in PARTS])
    ends_of = {"upper_arm": ("shoulder", "elbow"), "forearm": ("elbow", "wrist"), "thigh": ("hip", "knee"),
               "shin": ("knee", "ankle")}
    runs = {"twist": retarget(pose, rig, extremities=ends, twist=twist, root_motion="off"),
            "plane": retarget(pose, rig, extremities=ends, root_motion="off")}
    out = {}
    for part in PARTS:
        errs = {k: [] for k in runs}
        for s in ("left", "right"):
            key = f"{s}_{part}"
            b = m.roles[key]
            a, c = ends_of[part]
            d0 = pts[f"{s}_{c}"] - pts[f"{s}_{a}"]
            for k, anim in runs.items():
                w = anim.world_matrices()[:, b, :3, :3] @ rig.rest[b, :3, :3].T
                d = _unit(w @ d0)
                got = w @ rest_axes[key]
                want = twist[key]
                got = _unit(got - (got * d).sum(-1, keepdims=True) * d)
                want = _unit(want - (want * d).sum(-1, keepdims=True) * d)
                ang = np.arctan2((np.cross(want, got) * d).sum(-1), (want * got).sum(-1))
                errs[k].append(np.degrees(np.abs(ang)))
        out[part] = (float(np.mean(errs["twist"])), float(np.mean(errs["plane"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bvh", type=Path)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--smpl-model", type=Path, default=None)
    ap.add_argument("--body", type=Path, default=None, help="reuse (or keep) the body file here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from pose2rig.body.io import read_body_npz
    from pose2rig.body.twist import body_extremities, body_twist
    from pose2rig.options import ConvertOptions
    from pose2rig.pipeline import fit_file
    from pose2rig.skeletons import H36M17
    from pose2rig.types import PoseSequence

    path = args.body or Path(tempfile.mkdtemp()) / "body.npz"
    if not path.exists():
        t0 = time.perf_counter()
        flat = dict(end=args.seconds, fps=30.0)
        if args.smpl_model is not None:
            flat["smpl_model"] = args.smpl_model
        fit_file(args.bvh, path, ConvertOptions.from_flat(**flat), progress=False)
        print(f"fit: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    body = read_body_npz(path)
    pose = PoseSequence(body.joints, H36M17, body.fps, np.arange(body.num_frames) / body.fps, space="world")
    ends, twist = body_extremities(body), body_twist(body)
    print(f"{args.bvh.name}, {body.num_frames} frames, {body.kind}, mean fit error "
          f"{1000 * np.nanmean(body.error):.1f} mm\n")
    print("| rig | upper arm: twist / plane | forearm: twist / plane | thigh: twist / plane | shin: twist / plane |")
    print("|---|---|---|---|---|")
    for name, fn in (("the body's own skeleton", own_skeleton), ("bundled character", character)):
        r = fn(body, pose, ends, twist)
        print(f"| {name} | " + " | ".join(f"{r[p][0]:.1f} / {r[p][1]:.1f}" for p in PARTS) + " |")


if __name__ == "__main__":
    main()
