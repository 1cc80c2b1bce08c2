"""The body fit's 2D reprojection term on a real clip (issue 14): the fit of a pose file with and
without it.

    .venv/bin/pose2rig convert samples/sports2d_demo.mp4 --npz /tmp/demo.npz
    .venv/bin/python bench/fit_2d.py /tmp/demo.npz [--smpl-model PATH] [--threads 2]

:func:`pose2rig.pipeline.fit_file` fits the body model (Anny by default) to the file's world
joints twice: with ``FitOptions()`` (the 2D term on MediaPipe's ``landmarks33`` through the
file's camera, :class:`pose2rig.body.fit.ImageTerm`) and with ``FitOptions(w_2d=0)`` (off).
Per run, over the frames where the person was seen (some joint's confidence above 0):

- joint error: the mean distance (mm) of the fitted Human3.6M-17 joints to the file's (lifted,
  cleaned) ones;
- 2D error (px, median over the landmarks with visibility 0.5 or more): the fitted joints
  (hips, knees, ankles, shoulders, elbows, wrists) and the fitted hand and foot points (heels,
  toes, index and pinky knuckles) projected through the file's camera, against MediaPipe's
  landmarks;
- and between the two runs: the mean angle (degrees) between the world rotations of the wrists
  and of the ankles with and without the term: how much the hand and foot points turn them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from fit_recovery import _forward  # noqa: E402  # after sys.path setup

from pose2rig.body.fit import IMAGE_LANDMARKS, FitOptions  # noqa: E402  # after sys.path setup
from pose2rig.io.npz import read_arrays  # noqa: E402  # after sys.path setup
from pose2rig.options import BodyOptions, ConvertOptions  # noqa: E402  # after sys.path setup
from pose2rig.pipeline import fit_file, load_body_model  # noqa: E402  # after sys.path setup
from pose2rig.skeletons import H36M17, MEDIAPIPE33  # noqa: E402  # after sys.path setup

ENDS = {"anny": (("wrist.L", "wrist.R"), ("foot.L", "foot.R")),
        "smpl": (("left_wrist", "right_wrist"), ("left_ankle", "right_ankle"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pose", type=Path, help="a pose file from convert --npz")
    ap.add_argument("--smpl-model", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    opts = ConvertOptions(body=BodyOptions(smpl_model=args.smpl_model))
    model = load_body_model(opts.body)
    a = read_arrays(args.pose)
    rot, trans, k = (np.asarray(a[n], np.float64) for n in ("world_rotation", "world_translation", "camera_matrix"))
    lm = np.asarray(a["landmarks33"], np.float64)[:, [MEDIAPIPE33.index(n) for n in IMAGE_LANDMARKS]]
    seen = np.asarray(a["confidence"]).max(axis=1) > 0
    lifted = np.asarray(a["joints3d_world"], np.float64)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fo in (("on", FitOptions()), ("off", FitOptions(w_2d=0.0))):
            t0 = time.perf_counter()
            fit = fit_file(args.pose, Path(tmp) / f"{label}.npz", opts, fit_options=fo, progress=False)
            runs[label] = (fit, time.perf_counter() - t0)
    print(f"{args.pose.name}: {len(seen)} frames, {seen.sum()} seen; model {model.kind}")
    print("| 2D term | joint error (mm) | 2D error, joints (px) | 2D error, hand and foot points (px) | seconds |")
    print("|---|---|---|---|---|")
    for label, (fit, sec) in runs.items():
        out, pts = _forward(model, fit.pose.astype(np.float64), fit.shape, fit.translation.astype(np.float64),
                            keep_vertices=False)
        world = {**{n: out["h36m"][:, H36M17.index(n)] for n in H36M17.joint_names}, **pts}
        p = np.stack([world[n] for n in IMAGE_LANDMARKS], axis=1)
        cam = (p - trans) @ rot
        uv = cam[..., :2] / cam[..., 2:] @ k[:2, :2].T + k[:2, 2]
        err = np.linalg.norm(uv - lm[..., :2], axis=-1)
        use = (lm[..., 2] >= 0.5) & seen[:, None]
        joint = 1000 * np.linalg.norm(fit.joints - lifted, axis=-1)[seen].mean()
        print(f"| {label} | {joint:.1f} | {np.median(err[:, :12][use[:, :12]]):.1f} | "
              f"{np.median(err[:, 12:][use[:, 12:]]):.1f} | {sec:.0f} |")
    names = list(model.joint_names)
    for part, js in zip(("wrists", "ankles"), ENDS[model.kind]):
        idx = [names.index(j) for j in js]
        d = np.einsum("tjab,tjac->tjbc", runs["on"][0].rotations[:, idx].astype(np.float64),
                      runs["off"][0].rotations[:, idx].astype(np.float64))
        ang = np.degrees(np.arccos(np.clip((np.trace(d, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))[seen]
        print(f"{part}: on vs off, mean {ang.mean():.1f} degrees (95th percentile {np.percentile(ang, 95):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
