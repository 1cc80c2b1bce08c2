"""Score left/right swap repair (pose2rig.clean.swaps) on Bandai-1 / CMU mocap, in 3D and 2D.

Injects swaps on ``--rate`` of each clip's frames in runs of 1 to 5 frames (whole body, arm pair
or leg pair, chosen at random, seeded), repairs them and reports the share of swapped frames whose
labels are all right again, and the false flips: frames changed on the clean clips (no swaps
injected). 2D: the mocap seen by a perspective camera at a random yaw per clip, 4 m before the subject's nearest point (the
subject turns in view whenever the mocap turns), 1000 px focal length, with Gaussian noise of
``--noise`` px per coordinate.

    .venv/bin/python bench/swaps.py ../shared/data/mocap/bandai1 [--dims 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pose2rig.clean.swaps import FLIP_COST, SWITCH_COST, _permutations, repair_swaps
from pose2rig.io.mocap import bvh_files, load_bvh_as_h36m17
from pose2rig.types import Keypoints2D, PoseSequence


def inject(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` int states (0 clean, 1 arms, 2 legs, 3 whole body) with runs of 1-5 frames."""
    states = np.zeros(n, dtype=np.int8)
    target = int(round(rate * n))
    while (states > 0).sum() < target:
        length = int(rng.integers(1, 6))
        start = int(rng.integers(0, max(1, n - length)))
        if states[max(0, start - 1) : start + length + 1].any():
            continue
        states[start : start + length] = rng.integers(1, 4)
    return states


def project(joints: np.ndarray, yaw: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    p = joints @ rot.T
    centre = np.nanmean(p[:, 0], axis=0)
    x, y, z = p[..., 0] - centre[0], p[..., 1], p[..., 2] - np.nanmin(p[..., 2]) + 4.0
    uv = np.stack([960 + 1000 * x / z, 540 - 1000 * (y - 0.9) / z], axis=-1)
    return uv + rng.normal(0, noise, uv.shape)


def track(p: np.ndarray, pose: PoseSequence, dims: int) -> Keypoints2D | PoseSequence:
    """``p`` as 2D keypoints seen by a 1920x1080 camera (``dims`` 2) or as 3D joints, timed like ``pose``."""
    if dims == 2:
        return Keypoints2D(p, np.ones(p.shape[:2]), pose.skeleton, (1920, 1080), pose.fps, pose.timestamps)
    return PoseSequence(p, pose.skeleton, pose.fps, pose.timestamps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--dims", type=int, default=3, choices=(2, 3))
    ap.add_argument("--rate", type=float, default=0.02)
    ap.add_argument("--noise", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--switch-cost", type=float, default=SWITCH_COST)
    ap.add_argument("--flip-cost", type=float, default=FLIP_COST)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    costs = {"switch_cost": args.switch_cost, "flip_cost": args.flip_cost}
    swapped = repaired = clean_frames = false_flips = 0
    worst: list[tuple[int, str]] = []
    for path in bvh_files(tuple(args.data)):
        pose = load_bvh_as_h36m17(path)
        perm = _permutations(pose.skeleton)
        if args.dims == 2:
            pts = project(pose.joints.astype(np.float64), rng.uniform(0, 2 * np.pi), args.noise, rng)
        else:
            pts = pose.joints.astype(np.float64)
        tracked = track(pts, pose, args.dims)
        truth = np.asarray(tracked.keypoints if isinstance(tracked, Keypoints2D) else tracked.joints)
        clean_out, _ = repair_swaps(tracked, **costs)
        got = clean_out.keypoints if args.dims == 2 else clean_out.joints
        changed = ~np.all(np.isclose(got, truth, equal_nan=True), axis=(1, 2))
        states = inject(len(pts), args.rate, rng)
        bad = np.take_along_axis(pts, perm[states][..., None], axis=1)
        out, _ = repair_swaps(track(bad, pose, args.dims), **costs)
        got = out.keypoints if args.dims == 2 else out.joints
        ok = np.all(np.isclose(got, truth, equal_nan=True), axis=(1, 2))
        swapped += int((states > 0).sum())
        repaired += int(ok[states > 0].sum())
        clean_frames += len(pts)
        false_flips += int(changed.sum())
        worst.append((int(changed.sum()) + int((~ok[states > 0]).sum()), path.name))
    print(f"{args.dims}D, {len(worst)} clips, {clean_frames} frames")
    print(f"swapped frames repaired: {repaired}/{swapped} = {100 * repaired / max(swapped, 1):.1f}%")
    print(f"false flips on clean clips: {false_flips}/{clean_frames} = "
          f"{100 * false_flips / max(clean_frames, 1):.2f}% of frames")
    for n, name in sorted(worst, reverse=True)[:5]:
        if n:
            print(f"  {name}: {n} frames wrong")
    return 0


if __name__ == "__main__":
    sys.exit(main())
