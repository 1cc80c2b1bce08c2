"""`pose2rig convert` against the floor MediaPipe sets, each a fresh process, measured interleaved.

In one run, ``--repeats`` rounds, each of three fresh subprocesses in turn:

    floor     a process that imports MediaPipe, builds its pose graph (the settings of
              pose2rig.detect.mediapipe: BlazePose full, tracking, smoothing, confidences 0.5)
              and runs it on every frame of the clip, already decoded: the parent decodes the
              clip once, before the rounds, into a .npy that the child reads first; the child
              reports how long that read took and it is taken off the wall time
    convert   .venv/bin/pose2rig convert CLIP --bvh OUT --no-cache, start-up included
    stages    `python -X importtime` on the same conversion through pose2rig.pipeline.convert,
              with timers around its stages (wrapped functions writing marks to stderr): each
              stage's own seconds, imports taken out and counted apart by package

Wall times are the parent's clock from spawn to exit. Convert's time is reported as a ratio of
the floor's (median of the per-round ratios); stages as seconds and shares of the stages run's
wall. Prints Markdown for docs/BENCHMARKS.md.

Usage:
    .venv/bin/python bench/convert_speed.py [--clip samples/sports2d_demo.mp4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
POSE2RIG = REPO / ".venv" / "bin" / "pose2rig"
MARK = "@@stage"

# ---------------------------------------------------------------------------------------------
# the floor's child: numpy, then MediaPipe on decoded frames


def floor_child(frames_npy: Path, times_npy: Path) -> None:
    t0 = time.perf_counter()
    import numpy as np

    frames = np.load(frames_npy, allow_pickle=False)
    times = np.load(times_npy, allow_pickle=False)
    load_s = time.perf_counter() - t0
    import cv2
    import mediapipe as mp
    from mediapipe.python.solution_base import SolutionBase

    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                  min_detection_confidence=0.5, min_tracking_confidence=0.5)
    seen, last = 0, None
    for img, t in zip(frames, times, strict=True):
        t_us = int(round(float(t) * 1e6))  # strictly increasing times, as the detector feeds them
        t_us = t_us if last is None or t_us > last else last + 1
        last = t_us
        pose._simulated_timestamp = t_us - 33333
        result = SolutionBase.process(pose, {"image": cv2.cvtColor(img, cv2.COLOR_BGR2RGB)})
        seen += result.pose_landmarks is not None
    pose.close()
    print(json.dumps({"load_s": load_s, "detected": seen, "frames": len(frames)}))


# ---------------------------------------------------------------------------------------------
# the stages' child: the conversion with timers


def _mark(what: str) -> None:
    sys.stderr.write(f"{MARK} {what}\n")
    sys.stderr.flush()


def _wrap(owner: Any, attr: str, stage: str) -> None:
    fn = getattr(owner, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        _mark(f"enter {stage}")
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _mark(f"exit {stage} {time.perf_counter() - t0:.6f}")

    setattr(owner, attr, timed)


def stages_child(clip: Path, out: Path) -> None:
    _mark("enter start-up imports")
    t0 = time.perf_counter()
    import pose2rig.cli  # what the command imports before it runs
    from pose2rig.options import ConvertOptions, DetectOptions, Outputs
    from pose2rig.pipeline import convert

    _mark(f"exit start-up imports {time.perf_counter() - t0:.6f}")
    # the modules whose functions get timers (imported here, counted with the imports)
    import pose2rig.clean
    import pose2rig.detect
    import pose2rig.detect.mediapipe
    import pose2rig.io.bvh
    import pose2rig.lift.infer
    import pose2rig.lift.plausibility
    import pose2rig.pipeline
    import pose2rig.retarget
    import pose2rig.world

    _wrap(pose2rig.pipeline, "cached_lifter", "lifter load")
    _wrap(pose2rig.detect, "detect_video", "decode+detect")
    _wrap(pose2rig.detect.mediapipe.MediaPipePoseDetector, "_graph", "graph build")
    _wrap(pose2rig.clean, "repair_swaps", "clean-up (2D)")
    _wrap(pose2rig.lift.infer, "lift", "lifting")
    _wrap(pose2rig.pipeline, "clean_world", "clean-up (3D)")
    _wrap(pose2rig.world, "world_transform", "world")
    _wrap(pose2rig.lift.plausibility, "plausibility", "clean-up (3D): plausibility")
    _wrap(pose2rig.retarget, "solve_bvh", "writing")
    _wrap(pose2rig.io.bvh, "write_bvh", "writing")
    _mark("enter convert (rest)")
    t0 = time.perf_counter()
    convert(clip, Outputs(bvh=out), ConvertOptions(detect=DetectOptions(cache=False)), progress=False)
    _mark(f"exit convert (rest) {time.perf_counter() - t0:.6f}")


_IMPORT = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def parse_stages(stderr: str) -> tuple[dict[str, float], dict[str, float]]:
    """``(stage -> own seconds, package -> import seconds)`` from the stages child's stderr: each
    stage's inclusive time less its nested stages' and the imports that ran directly inside it;
    every import at the top of the import stack counted once, by its top-level package."""
    own: dict[str, float] = {}
    imports: dict[str, float] = {}
    stack: list[list[Any]] = []  # [stage, seconds of nested stages and imports]
    for line in stderr.splitlines():
        if line.startswith(MARK):
            parts = line[len(MARK):].split()
            if parts[0] == "enter":
                stack.append([" ".join(parts[1:]), 0.0])
            else:
                name, secs = " ".join(parts[1:-1]), float(parts[-1])
                top = stack.pop()
                assert top[0] == name, (top, name)
                own[name] = own.get(name, 0.0) + secs - top[1]
                if stack:
                    stack[-1][1] += secs
            continue
        m = _IMPORT.match(line)
        if m is None or m.group(3) != " ":  # nested imports are inside their parent's cumulative
            continue
        secs = int(m.group(2)) / 1e6
        pkg = m.group(4).split(".")[0]
        imports[pkg] = imports.get(pkg, 0.0) + secs
        if stack:
            stack[-1][1] += secs
    return own, imports


# ---------------------------------------------------------------------------------------------
# the parent


def decode(clip: Path, folder: Path) -> tuple[Path, Path, int, str]:
    """The clip's frames (BGR uint8, as pose2rig.video gives them) and times into two .npy files."""
    import numpy as np

    from pose2rig.video import open_video

    t0, c0 = time.perf_counter(), time.process_time()
    with open_video(clip) as video:
        info = video.info
        frames = [(f.image, f.time) for f in video]
    print(f"decoding alone (once, in this process): {time.perf_counter() - t0:.2f} s wall, "
          f"{time.process_time() - c0:.2f} s CPU")
    images = np.stack([f[0] for f in frames])
    times = np.asarray([f[1] for f in frames], dtype=np.float64)
    np.save(folder / "frames.npy", images)
    np.save(folder / "times.npy", times)
    return folder / "frames.npy", folder / "times.npy", len(frames), (
        f"{info.width}x{info.height}, {len(frames)} frames, {info.fps:.2f} fps")


def run(cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, str, str]:
    """Wall seconds from spawn to exit, stdout and stderr of ``cmd``; raises on failure."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return wall, p.stdout, p.stderr


def measure(clip: Path, repeats: int, *, baseline: Path | None = None,
            say: Callable[[str], None] = print) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="convert_speed_"))
    frames_npy, times_npy, n, desc = decode(clip, tmp)
    me = str(Path(__file__).resolve())
    floor, conv, stage_wall, ratios, base = [], [], [], [], []
    owns: list[dict[str, float]] = []
    imps: list[dict[str, float]] = []
    for r in range(repeats):
        wall, out, _ = run([str(PYTHON), me, "--floor-child", str(frames_npy), str(times_npy)])
        child = json.loads(out.strip().splitlines()[-1])
        floor.append(wall - child["load_s"])
        wall, _, _ = run([str(POSE2RIG), "convert", str(clip), "--bvh", str(tmp / "out.bvh"), "--no-cache"])
        conv.append(wall)
        ratios.append(conv[-1] / floor[-1])
        if baseline is not None:  # the same command from another checkout (its package first on the path)
            t0 = time.perf_counter()
            p = subprocess.run([str(PYTHON), "-m", "pose2rig.cli", "convert", str(clip), "--bvh",
                                str(tmp / "base.bvh"), "--no-cache"], capture_output=True, cwd=baseline)
            base.append(time.perf_counter() - t0)
            if p.returncode != 0:
                raise SystemExit(f"baseline convert failed in {baseline}:\n{p.stderr[-2000:]!r}")
        wall, _, err = run([str(PYTHON), "-X", "importtime", me, "--stages-child", str(clip), str(tmp / "s.bvh")])
        stage_wall.append(wall)
        own, imp = parse_stages(err)
        owns.append(own)
        imps.append(imp)
        say(f"round {r + 1}: floor {floor[-1]:.2f} s (detected {child['detected']} of {child['frames']}), "
            f"convert {conv[-1]:.2f} s, ratio {ratios[-1]:.3f}, stages run {wall:.2f} s"
            + (f", baseline convert {base[-1]:.2f} s" if base else ""))
    return {"clip": clip, "desc": desc, "frames": n, "floor": floor, "convert": conv, "ratios": ratios,
            "stage_wall": stage_wall, "own": owns, "imports": imps, "baseline": base, "baseline_dir": baseline}


def report(m: dict[str, Any]) -> str:
    med = statistics.median
    n = m["frames"]
    lines = [f"clip: {m['clip']} ({m['desc']}); {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores; medians of {len(m['floor'])} interleaved rounds", "",
             "| fresh process | seconds | frames/s | / floor |", "| --- | ---: | ---: | ---: |",
             f"| floor: import MediaPipe, build its graph, run it on decoded frames | {med(m['floor']):.2f} "
             f"| {n / med(m['floor']):.1f} | 1 |",
             f"| `pose2rig convert CLIP --bvh OUT --no-cache` | {med(m['convert']):.2f} | {n / med(m['convert']):.1f} "
             f"| **{med(m['ratios']):.3f}** |"]
    if m["baseline"]:
        b_ratio = med(b / f for b, f in zip(m["baseline"], m["floor"], strict=True))
        speedup = med(b / c for b, c in zip(m["baseline"], m["convert"], strict=True))
        lines.append(f"| the same convert from `{m['baseline_dir']}` (baseline) | {med(m['baseline']):.2f} "
                     f"| {n / med(m['baseline']):.1f} | {b_ratio:.3f} |")
        lines += ["", f"baseline / convert: {speedup:.3f} (median of per-round ratios)"]
    lines.append("")
    wall = med(m["stage_wall"])
    stages = sorted({k for o in m["own"] for k in o})
    rows = {f"stage: {k}": [o.get(k, 0.0) for o in m["own"]] for k in stages}
    pkgs = sorted({k for i in m["imports"] for k in i}, key=lambda k: -med([i.get(k, 0.0) for i in m["imports"]]))
    big = [k for k in pkgs if med([i.get(k, 0.0) for i in m["imports"]]) >= 0.1]
    for k in big:
        rows[f"imports: {k}"] = [i.get(k, 0.0) for i in m["imports"]]
    rows["imports: the rest"] = [sum(v for k, v in i.items() if k not in big) for i in m["imports"]]
    accounted = [sum(v[j] for v in rows.values()) for j in range(len(m["stage_wall"]))]
    rows["interpreter start-up, exit, untimed"] = [w - a for w, a in zip(m["stage_wall"], accounted, strict=True)]
    lines += [f"Stages (`python -X importtime` run of the same conversion with timers, wall {wall:.2f} s; "
              "imports counted apart from the stage they ran in):", "",
              "| part | seconds | share |", "| --- | ---: | ---: |"]
    for k, v in sorted(rows.items(), key=lambda kv: -med(kv[1])):
        lines.append(f"| {k} | {med(v):.2f} | {100 * med(v) / wall:.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=REPO / "samples" / "sports2d_demo.mp4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also time convert from this checkout (e.g. a git worktree of the commit before)")
    ap.add_argument("--floor-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stages-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor_child:
        floor_child(*args.floor_child)
        return
    if args.stages_child:
        stages_child(*args.stages_child)
        return
    sys.path.insert(0, str(REPO))
    print(report(measure(args.clip.resolve(), args.repeats, baseline=args.baseline)))


if __name__ == "__main__":
    main()
