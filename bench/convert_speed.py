"""End-to-end speed of `pose2rig convert` on a clip, split by stage.

Runs each stage on its own, several times, and reports medians:

    decode          reading and decoding the frames only
    decode+detect   the detection stage as the pipeline runs it (decoding included)
    lift, filter, world, export (BVH + npz)

Usage:
    .venv/bin/python bench/convert_speed.py [--clip samples/sports2d_demo.mp4] [--repeats 3]

Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=Path("samples/sports2d_demo.mp4"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    from pose2rig.clean import fill_gaps, smooth
    from pose2rig.detect import detect_video
    from pose2rig.io.bvh import write_bvh
    from pose2rig.io.npz import save_pose
    from pose2rig.lift import lift, load_lifter
    from pose2rig.pipeline import hold_missing_frames
    from pose2rig.retarget import solve_bvh
    from pose2rig.video import open_video, probe
    from pose2rig.world import to_world

    info = probe(args.clip)
    lifter = load_lifter()
    times: dict[str, list[float]] = {k: [] for k in
                                     ("decode", "decode+detect", "lift", "filter", "world", "export")}
    tmp = Path(tempfile.mkdtemp())
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with open_video(args.clip) as frames:
            n = sum(1 for _ in frames)
        times["decode"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        kp = detect_video(args.clip, progress=False)
        times["decode+detect"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        cam = lift(fill_gaps(kp), lifter=lifter)
        times["lift"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        cam = smooth(cam)
        times["filter"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        world = to_world(cam)
        times["world"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        write_bvh(tmp / "o.bvh", solve_bvh(hold_missing_frames(world)))
        save_pose(tmp / "o.npz", cam, world_pose=world)
        times["export"].append(time.perf_counter() - t0)

    med = {k: statistics.median(v) for k, v in times.items()}
    pipeline = sum(v for k, v in med.items() if k != "decode")
    print(f"clip: {args.clip} ({info.width}x{info.height}, {n} frames, {info.fps:.2f} fps)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}; medians of {args.repeats} runs\n")
    print("| stage | seconds | ms/frame | frames/s |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} | {1000 * v / n:.2f} | {n / v:.1f} |")
    print(f"| **pipeline (decode+detect .. export)** | {pipeline:.3f} | {1000 * pipeline / n:.2f} "
          f"| {n / pipeline:.1f} |")
    print(f"\nreal-time factor: {n / pipeline / info.fps:.2f}x "
          f"(>1 is faster than real time at the clip's {info.fps:.0f} fps)")


if __name__ == "__main__":
    main()
