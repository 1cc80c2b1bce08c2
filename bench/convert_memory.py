"""Peak memory of `pose2rig convert` as clip length grows (issue 16: long clips are streamed).

Builds clips of the given lengths by looping a real clip back and forth (forward, then reversed,
so the motion has no jump at the seams) at a chosen frame rate and height, written as H.264 into a
work folder outside the repository (a temporary one unless ``--workdir`` is given; built clips are
reused there). Then runs

    pose2rig convert CLIP --bvh out.bvh --npz out.npz --no-cache

on each as its own process and reports that process's peak resident memory (``ru_maxrss`` from
``os.wait4``), its wall time, the frame count and the ratio of each peak to the shortest clip's.

Usage:
    .venv/bin/python bench/convert_memory.py [--source samples/sports2d_demo.mp4] [--fps 15]
        [--height 480] [--minutes 1 10] [--workdir /tmp/p2r-mem]

Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build_clip(source: Path, out: Path, *, minutes: float, fps: float, height: int) -> int:
    """Loop ``source`` back and forth into ``out`` (``minutes`` long, ``fps``, ``height`` px tall,
    H.264); returns the number of frames written. Reuses ``out`` when it exists."""
    import cv2

    from pose2rig.video import VideoWriter, open_video, probe

    n = int(round(minutes * 60 * fps))
    if out.exists():
        return probe(out).frame_count
    with open_video(source) as video:
        info = video.info
        width = int(round(info.width * height / info.height / 2)) * 2
        times, images = [], []
        for f in video:  # a short source: its frames, scaled down, fit in memory
            times.append(f.time)
            images.append(cv2.resize(f.image, (width, height), interpolation=cv2.INTER_AREA))
    times_a = np.asarray(times)
    period = times_a[-1]  # one pass forward; the way back mirrors it
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    with VideoWriter(tmp, fps=fps, size=(width, height), crf=23) as w:
        for k in range(n):
            t = (k / fps) % (2 * period)
            t = t if t <= period else 2 * period - t
            w.write(images[int(np.abs(times_a - t).argmin())])
    tmp.rename(out)
    return n


def measure(clip: Path, out_dir: Path) -> tuple[int, float, int]:
    """Run ``pose2rig convert`` on ``clip``: (peak RSS bytes, wall seconds, exit status)."""
    cmd = [str(Path(sys.executable).with_name("pose2rig")), "convert", str(clip),
           "--bvh", str(out_dir / "out.bvh"), "--npz", str(out_dir / "out.npz"), "--no-cache"]
    env = {**os.environ, "GLOG_minloglevel": "2"}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    err = p.stderr.read()  # drain while it runs (progress bars), so the pipe never fills
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return int(usage.ru_maxrss) * 1024, wall, p.returncode  # Linux: ru_maxrss in KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=REPO / "samples" / "sports2d_demo.mp4")
    ap.add_argument("--fps", type=float, default=15.0, help="frame rate of the built clips")
    ap.add_argument("--height", type=int, default=480, help="height of the built clips (px)")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the clips and outputs go (default: a temporary folder)")
    args = ap.parse_args()

    from pose2rig.video import probe

    with tempfile.TemporaryDirectory(prefix="p2r-mem-") as tmp:
        work = args.workdir if args.workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for minutes in args.minutes:
            clip = work / f"{args.source.stem}_{minutes:g}min_{args.fps:g}fps_{args.height}p.mp4"
            t0 = time.perf_counter()
            frames = build_clip(args.source, clip, minutes=minutes, fps=args.fps, height=args.height)
            print(f"built {clip.name}: {frames} frames in {time.perf_counter() - t0:.0f} s", flush=True)
            out = work / f"out_{minutes:g}min"
            out.mkdir(exist_ok=True)
            peak, wall, rc = measure(clip, out)
            if rc:
                raise SystemExit(f"convert failed on {clip} (exit {rc})")
            rows.append((minutes, frames, peak, wall))
            print(f"{minutes:g} min: peak RSS {peak / 2**20:.0f} MiB, {wall:.0f} s", flush=True)
        info = probe(clip)
        print(f"\nsource {args.source.name} looped back and forth, {info.width}x{info.height}, "
              f"{args.fps:g} fps, H.264; {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs\n")
        print("| clip | frames | peak RSS (MiB) | wall (s) | peak / shortest |")
        print("|---|---:|---:|---:|---:|")
        base = rows[0][2]
        for minutes, frames, peak, wall in rows:
            print(f"| {minutes:g} min | {frames} | {peak / 2**20:.0f} | {wall:.0f} | {peak / base:.2f} |")


if __name__ == "__main__":
    main()
