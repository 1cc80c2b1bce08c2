"""Evaluate a lifter checkpoint against the constant-depth baseline on mocap (no training).

Ground-truth 2D comes from filming each test pose with a fixed-seed random virtual camera (the
training camera distribution, pose2rig.lift.projection.virtual_camera_views). Metrics in mm;
PCK3D at 150 mm after scale alignment.

    .venv/bin/python bench/lifter_eval.py --checkpoint models/lifter_h36m17.pt

Default test set: Bandai-Namco Motiondataset-1 (CC BY-NC, evaluation only), all 174 clips, every
2nd frame (30 fps -> 15 fps), seed 0. ``--cmu-subject 7`` adds the held-out CMU subject.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pose2rig.evaluate import evaluate_lifter, synthetic_views  # noqa: E402  # after sys.path setup
from pose2rig.io.mocap import bvh_files, subject_of  # noqa: E402  # after sys.path setup
from pose2rig.lift import Lifter, load_lifter  # noqa: E402  # after sys.path setup


def load_clips(files: list[Path], cache: Path | None) -> list[np.ndarray]:
    from pose2rig.io.mocap import load_bvh_as_h36m17

    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return [z[k] for k in sorted(z.files)]
    clips = [load_bvh_as_h36m17(f).joints for f in files]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **{f"c{i:04d}": c for i, c in enumerate(clips)})
    return clips


def report(name: str, lifter: Lifter, baseline: Lifter, px: np.ndarray, gt: np.ndarray) -> float:
    m = evaluate_lifter(lifter, px, gt)
    b = evaluate_lifter(baseline, px, gt)
    print(f"\n{name}: {len(px)} poses")
    print(f"{'':16s}{'P-MPJPE mm':>12s}{'N-MPJPE mm':>12s}{'PCK3D@150':>11s}")
    for label, r in (("lifter", m), ("constant depth", b)):
        print(f"{label:16s}{1000 * r['p_mpjpe']:12.1f}{1000 * r['n_mpjpe']:12.1f}{r['pck3d']:11.3f}")
    ratio = m["p_mpjpe"] / b["p_mpjpe"]
    print(f"P-MPJPE ratio lifter / constant depth: {ratio:.3f}  (issue 3 bar for the shipped lifter on Bandai-1: <= 0.6)")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "lifter_h36m17.pt")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mocap" / "bandai1")
    ap.add_argument("--frame-step", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-poses", type=int, default=None)
    ap.add_argument("--cmu-subject", type=int, default=None,
                    help="also evaluate this held-out CMU subject (from ../shared/data/mocap/cmu*)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.monotonic()
    lifter = load_lifter(args.checkpoint)
    meta = lifter.meta
    print(f"checkpoint {args.checkpoint}: step {meta.get('step')}, "
          f"width {meta['config'].get('width')} x {meta['config'].get('blocks')} blocks")
    baseline = Lifter.constant_depth()
    files = bvh_files((args.data,))
    clips = load_clips(files, REPO / "runs" / "bench_cache" / f"{args.data.name}.npz")
    px, gt = synthetic_views(clips, seed=args.seed, frame_step=args.frame_step, max_poses=args.max_poses)
    report(f"{args.data.name} ({len(files)} clips, every {args.frame_step} frames, seed {args.seed})",
           lifter, baseline, px, gt)
    if args.cmu_subject is not None:
        data = REPO.parent / "shared" / "data" / "mocap"
        cmu = [f for f in bvh_files((data / "cmu", data / "cmu_iclone")) if subject_of(f) == args.cmu_subject]
        clips = load_clips(cmu, REPO / "runs" / "bench_cache" / f"cmu_subject{args.cmu_subject}.npz")
        px, gt = synthetic_views(clips, seed=args.seed, frame_step=2 * args.frame_step)
        report(f"CMU subject {args.cmu_subject} (held out, {len(cmu)} clips)", lifter, baseline, px, gt)
    print(f"\n{time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
