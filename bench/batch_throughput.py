"""Batch throughput and resume: `pose2rig batch` with 1 and 2 local workers and on Ray (issue 16).

Two steps:

    .venv/bin/python bench/batch_throughput.py --build DIR [--max-videos N] [--max-bvh N] [--seed 16]
    .venv/bin/python bench/batch_throughput.py --run DIR --out OUT [--repeats N]

``--build`` makes a folder of inputs outside the repository: 2-4 s cuts of the real clips in
``../shared/data/video`` (and ``samples/``) re-encoded with PyAV, a few whole copies, cuts of a few
hundred frames of BVH mocap (CMU, Bandai-1, CMU re-exported by iClone) written with
:mod:`pose2rig.io.bvh`, some in nested folders, and broken files: an empty ``.mp4``, a truncated
``.mp4``, a text file named ``.mov``, a clip with no person (a plain colour), a truncated BVH and a
BVH with a syntax error. Everything is chosen by a seeded generator: the same seed builds the same
folder. ``expected.json`` beside the inputs (a hidden file: ``batch`` skips it) says which inputs
are meant to fail.

``--run`` times, in one invocation, ``pose2rig batch DIR -o OUT/<run>`` as a fresh subprocess each:
1 local worker, 2 local workers, ``--ray auto`` with 2 workers (a local Ray instance), each into
an empty folder, then a rerun of each (the last first): it should skip every good clip (failed ones
are retried by design). Repeats interleave the order.
It reads each run's ``manifest.jsonl`` (done / failed / skipped), checks the good inputs converted
and the bad ones failed with a one-line error in the manifest and ``summary.md``, compares every
BVH and npz of the three runs byte for byte, and prints a Markdown table of medians. The CPU time of
the batch (its processes and their children) over the wall time says how many cores it got; the
machine's busy time beside it says how much other work ran at the same time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
VIDEOS = [DATA / "video" / "sports2d_demo.mp4", DATA / "video" / "tfjs_pose_1.mp4",
          DATA / "video" / "tfjs_pose_squats.mp4", REPO / "samples" / "sports2d_demo.mp4"]
WHOLE = [DATA / "video" / "tfjs_pose_1.mp4", DATA / "video" / "tfjs_pose_squats.mp4"]
MOCAP = {"cmu": DATA / "mocap" / "cmu", "bandai1": DATA / "mocap" / "bandai1",
         "cmu_iclone": DATA / "mocap" / "cmu_iclone"}
EXPECTED = ".expected.json"
RUNS = ("local-1", "local-2", "ray-2")


# ---------------------------------------------------------------------------------------------
# building the folder


def _cut_video(src: Path, dst: Path, start_s: float, length_s: float) -> int:
    """Frames [start_s, start_s + length_s) of ``src`` re-encoded as H.264 (one thread: the
    same bytes every time). Returns the frames written."""
    import av

    dst.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(30)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.thread_count = 1
        vout.options = {"preset": "veryfast", "crf": "20", "threads": "1"}
        for frame in inp.decode(vin):
            t = float(frame.pts * vin.time_base) if frame.pts is not None else n / float(rate)
            if t < start_s:
                continue
            if t >= start_s + length_s:
                break
            img = frame.to_ndarray(format="rgb24")
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = n
            for pkt in vout.encode(f):
                out.mux(pkt)
            n += 1
        for pkt in vout.encode():
            out.mux(pkt)
    return n


def _plain_video(dst: Path, *, frames: int = 60, size: tuple[int, int] = (640, 360),
                 colour: tuple[int, int, int] = (40, 120, 60)) -> None:
    """A clip of one plain colour: no person in it."""
    import av
    import numpy as np

    dst.parent.mkdir(parents=True, exist_ok=True)
    img = np.empty((size[1], size[0], 3), np.uint8)
    img[:] = colour
    with av.open(str(dst), "w") as out:
        vout = out.add_stream("libx264", rate=30)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        vout.options = {"preset": "veryfast", "threads": "1"}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for pkt in vout.encode(f):
                out.mux(pkt)
        for pkt in vout.encode():
            out.mux(pkt)


def _cut_bvh(src: Path, dst: Path, start: int, length: int) -> int:
    from dataclasses import replace

    from pose2rig.io.bvh import read_bvh, write_bvh

    m = read_bvh(src)
    start = max(0, min(start, len(m.motion) - length))
    cut = replace(m, motion=m.motion[start:start + length].copy())
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_bvh(dst, cut)
    return len(cut.motion)


def _duration(path: Path) -> float:
    from pose2rig.video import probe

    info = probe(path)
    return float(info.duration)


def build(root: Path, *, max_videos: int, max_bvh: int, seed: int) -> dict[str, Any]:
    """Make the input folder; returns what ``.expected.json`` holds."""
    if root.resolve().is_relative_to(REPO):
        raise SystemExit(f"--build {root}: build the inputs outside the repository")
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"--build {root}: the folder is not empty")
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    good: list[str] = []
    bad: dict[str, str] = {}

    # videos: 2-4 s cuts of each clip, round robin, and whole copies
    plan: list[tuple[Path, str]] = []
    for i in range(64):
        src = VIDEOS[i % len(VIDEOS)]
        sub = "samples" if src.parent.name == "samples" else src.stem
        plan.append((src, f"video/{sub}/cut_{i:02d}.mp4"))
    n_whole = min(len(WHOLE), max(0, max_videos // 8))
    plan = plan[: max(0, max_videos - n_whole)]
    for src, rel in plan:
        dur = _duration(src)
        length = rng.uniform(2.0, min(4.0, dur))
        start = rng.uniform(0.0, max(0.0, dur - length))
        n = _cut_video(src, root / rel, round(start, 2), round(length, 2))
        good.append(rel)
        print(f"  {rel}: {n} frames from {src.name} at {start:.2f} s", file=sys.stderr)
    for src in WHOLE[:n_whole]:
        rel = f"video/whole/{src.name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        good.append(rel)

    # BVH: cuts of a few hundred frames, spread over the three sets, some nested deeper
    files = {name: sorted(d.glob("*.bvh")) for name, d in MOCAP.items()}
    bvh_plan: list[tuple[str, Path]] = []
    order = ["bandai1", "cmu_iclone", "cmu"]
    for i in range(max_bvh):
        name = order[i % len(order)]
        bvh_plan.append((name, rng.choice(files[name])))
    for i, (name, src) in enumerate(bvh_plan):
        nested = f"{name}/take_{i % 3}/" if i % 4 == 0 else f"{name}/"
        rel = f"mocap/{nested}{src.stem}_{i:02d}.bvh"
        length = rng.randint(200, 400)
        start = rng.randint(0, 2000)
        n = _cut_bvh(src, root / rel, start, length)
        good.append(rel)
        print(f"  {rel}: {n} frames of {src.name}", file=sys.stderr)

    # broken inputs
    broken = root / "broken"
    broken.mkdir()
    (broken / "empty.mp4").write_bytes(b"")
    bad["broken/empty.mp4"] = "empty file"
    cut = _cut_video(VIDEOS[1], broken / "whole_for_truncation.mp4", 0.0, 2.0)
    data = (broken / "whole_for_truncation.mp4").read_bytes()
    (broken / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (broken / "whole_for_truncation.mp4").unlink()
    bad["broken/truncated.mp4"] = f"first third of a {cut}-frame clip"
    (broken / "notes.mov").write_text("this is a text file, not a video\n")
    bad["broken/notes.mov"] = "text named .mov"
    _plain_video(broken / "no_person.mp4")
    bad["broken/no_person.mp4"] = "plain colour, no person"
    src_bvh = files["bandai1"][0]
    text = src_bvh.read_text()
    (broken / "truncated.bvh").write_text(text[: len(text) // 2 - 7])
    bad["broken/truncated.bvh"] = "BVH cut off mid-motion"
    (broken / "syntax.bvh").write_text(text.replace("OFFSET", "OFSET", 3).replace("{", "", 1))
    bad["broken/syntax.bvh"] = "BVH with misspelt keywords and a missing brace"

    expected = {"seed": seed, "good": sorted(good), "bad": bad}
    (root / EXPECTED).write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


# ---------------------------------------------------------------------------------------------
# running


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [float(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    return (sum(v) - idle) / tick, sum(v) / tick


class _TreeCpu:
    """CPU seconds of a process and all its descendants (Ray's workers included, which are not
    reaped by the batch), sampled from /proc every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        import threading

        self.pid, self.interval = pid, interval
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")
        self.thread.start()

    def _sample(self) -> None:
        stats: dict[int, tuple[int, float]] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                raw = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            rest = raw[raw.rindex(")") + 2:].split()
            stats[int(d)] = (int(rest[1]), (float(rest[11]) + float(rest[12])) / self.tick)
        tree = {self.pid} | set(self.seen)
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _) in stats.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        for pid in tree:
            if pid in stats:
                self.seen[pid] = max(self.seen.get(pid, 0.0), stats[pid][1])

    def _loop(self) -> None:
        while not self.stop.is_set():
            self._sample()
            self.stop.wait(self.interval)

    def total(self) -> float:
        self.stop.set()
        self.thread.join()
        return sum(self.seen.values())


def run_batch(inputs: Path, out: Path, *, workers: int, ray: bool, env: dict[str, str]) -> dict[str, Any]:
    """One fresh ``pose2rig batch`` subprocess; wall time, CPU, machine load, manifest counts."""
    cmd = [str(REPO / ".venv" / "bin" / "pose2rig"), "batch", str(inputs), "-o", str(out), "--workers", str(workers)]
    if ray:
        cmd += ["--ray", "auto"]
    n_lines = len(_manifest(out))
    busy0, _ = _cpu_busy()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = _TreeCpu(proc.pid)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    cpu = tree.total()
    busy1, _ = _cpu_busy()
    records = _manifest(out)[n_lines:]
    done = [r for r in records if r["status"] == "done"]
    failed = [r for r in records if r["status"] == "failed"]
    machine_busy = busy1 - busy0
    return {
        "cmd": " ".join(cmd), "rc": proc.returncode, "wall": wall, "cpu": cpu,
        "cores_used": cpu / wall, "machine_busy_cores": machine_busy / wall,
        "other_cores": max(0.0, (machine_busy - cpu) / wall), "load1": (load0 + os.getloadavg()[0]) / 2,
        "done": len(done), "failed": len(failed),
        "skipped": None, "clips_per_min": 60.0 * len(done) / wall,
        "clip_seconds": sum(r["seconds"] for r in records),
        "video_seconds": [r["seconds"] for r in done if r.get("kind") == "video"],
        "bvh_seconds": [r["seconds"] for r in done if r.get("kind") == "bvh"],
        "failed_seconds": sum(r["seconds"] for r in failed),
        "records": records, "stderr_tail": [ln for ln in stderr.splitlines() if ln.strip()][-3:],
    }


def _manifest(out: Path) -> list[dict[str, Any]]:
    path = out / "manifest.jsonl"
    if not path.is_file():
        return []
    out_recs = []
    for line in path.read_text().splitlines():
        try:
            out_recs.append(json.loads(line))
        except ValueError:
            pass
    return out_recs


def _digests(out: Path) -> dict[str, str]:
    """sha256 of every BVH and npz under ``out``, by path relative to it."""
    d = {}
    for p in sorted(out.rglob("*")):
        if p.suffix in (".bvh", ".npz") and ".pose2rig-tmp" not in p.parts and p.is_file():
            d[p.relative_to(out).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return d


def _check(out: Path, expected: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """What went against expectations: good inputs not converted, bad ones not failed with a
    one-line error in the manifest and the summary."""
    problems = []
    latest = {r["rel"]: r for r in _manifest(out)}
    summary = (out / "summary.md").read_text() if (out / "summary.md").is_file() else ""
    summary = summary.replace("\\_", "_")  # Markdown escapes
    if not summary:
        problems.append("no summary.md")
    for rel in expected["good"]:
        rec = latest.get(rel)
        if rec is None or rec["status"] != "done":
            problems.append(f"good input {rel}: {rec and rec['status']}: {rec and rec.get('error')}")
    for rel in expected["bad"]:
        rec = latest.get(rel)
        if rec is None or rec["status"] != "failed":
            problems.append(f"bad input {rel}: {rec and rec['status']}")
            continue
        err = rec.get("error") or ""
        if not err or "\n" in err or "Traceback" in err:
            problems.append(f"bad input {rel}: error not one line: {err!r}")
        if rel not in summary:
            problems.append(f"bad input {rel} missing from summary.md")
    extra = set(latest) - set(expected["good"]) - set(expected["bad"])
    if extra:
        problems.append(f"unexpected inputs in the manifest: {sorted(extra)}")
    return problems


def _ray_running() -> bool:
    """A Ray cluster already runs on this machine (``--ray auto`` would join it)."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    try:
        addr = Path("/tmp/ray/ray_current_cluster").read_text().strip()
    except OSError:
        return False
    import socket

    host, _, port = addr.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except (OSError, ValueError):
        return False


def run(inputs: Path, out_root: Path, *, repeats: int) -> None:
    expected = json.loads((inputs / EXPECTED).read_text())
    if out_root.exists() and any(out_root.iterdir()):
        raise SystemExit(f"--out {out_root}: the folder is not empty")
    out_root.mkdir(parents=True, exist_ok=True)
    if _ray_running():
        print("WARNING: a Ray cluster already runs on this machine: --ray auto joins it", file=sys.stderr)
    env = dict(os.environ)
    env.pop("POSE2RIG_BATCH_CRASH", None)
    env["PYTHONWARNINGS"] = "ignore"
    n_inputs = len(expected["good"]) + len(expected["bad"])
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in (*RUNS, *(f"rerun-{n}" for n in RUNS))}
    problems: list[str] = []
    digests: dict[str, dict[str, str]] = {}
    for r in range(repeats):
        order = list(RUNS[r % len(RUNS):] + RUNS[: r % len(RUNS)])
        for name in order:
            out = out_root / f"r{r}-{name}"
            res = run_batch(inputs, out, workers=1 if name == "local-1" else 2, ray=name == "ray-2", env=env)
            res["skipped"] = n_inputs - res["done"] - res["failed"]
            results[name].append(res)
            print(f"repeat {r} {name}: {res['wall']:.1f} s, done {res['done']}, failed {res['failed']}, "
                  f"{res['clips_per_min']:.2f} clips/min, batch {res['cores_used']:.2f} cores, "
                  f"others {res['other_cores']:.2f} cores, rc {res['rc']}", file=sys.stderr)
            problems += [f"r{r} {name}: {p}" for p in _check(out, expected, res)]
            digests[f"r{r}-{name}"] = _digests(out)
        for name in reversed(order):  # the last run's rerun first, then the others'
            out = out_root / f"r{r}-{name}"
            res = run_batch(inputs, out, workers=1 if name == "local-1" else 2, ray=name == "ray-2", env=env)
            res["skipped"] = n_inputs - res["done"] - res["failed"]
            results[f"rerun-{name}"].append(res)
            print(f"repeat {r} rerun of {name}: {res['wall']:.1f} s, done {res['done']}, failed {res['failed']}, "
                  f"skipped {res['skipped']}, rc {res['rc']}", file=sys.stderr)
            if res["done"]:
                problems.append(f"r{r} rerun of {name} converted {res['done']} clip(s) again")
            if res["skipped"] != len(expected["good"]):
                problems.append(f"r{r} rerun of {name} skipped {res['skipped']}, not the {len(expected['good'])} good")
            if _digests(out) != digests[f"r{r}-{name}"]:
                problems.append(f"r{r} rerun of {name} changed outputs")

    # byte-identical outputs across every run
    ref_name = next(iter(digests))
    ref = digests[ref_name]
    diffs = []
    for name, d in digests.items():
        if d == ref:
            continue
        only = sorted(set(d) ^ set(ref))
        differ = sorted(k for k in set(d) & set(ref) if d[k] != ref[k])
        diffs.append(f"{name} vs {ref_name}: {len(differ)} file(s) differ "
                     f"({', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}); "
                     f"{len(only)} present in one only ({', '.join(only[:4])})")
    report(inputs, expected, results, problems, diffs, len(ref), repeats)
    (out_root / "bench.json").write_text(json.dumps(
        {k: [{kk: vv for kk, vv in x.items() if kk != "records"} for x in v] for k, v in results.items()},
        indent=1))


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def report(inputs: Path, expected: dict[str, Any], results: dict[str, list[dict[str, Any]]], problems: list[str],
           diffs: list[str], n_files: int, repeats: int) -> None:
    n_good, n_bad = len(expected["good"]), len(expected["bad"])
    n_video = sum(1 for g in expected["good"] if g.endswith(".mp4"))
    print(f"\nInputs: {n_good + n_bad} in {inputs} ({n_video} videos, {n_good - n_video} BVH, {n_bad} broken); "
          f"{repeats} repeat(s), medians; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{dt.date.today().isoformat()}.\n")
    print("| run | wall (s) | clips/min | done | failed | skipped | batch CPU (cores) | other work (cores) "
          "| video clip (s, median) | BVH clip (s, median) | failed clips (s, sum) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {"local-1": "1 local worker", "local-2": "2 local workers", "ray-2": "Ray (local instance), 2 workers",
              **{f"rerun-{n}": f"rerun, {n} (resume)" for n in RUNS}}
    for name in (*RUNS, *(f"rerun-{n}" for n in RUNS)):
        rs = results[name]
        if not rs:
            continue
        vid = [s for r in rs for s in r["video_seconds"]]
        bvh = [s for r in rs for s in r["bvh_seconds"]]
        print(f"| {labels[name]} | {_med([r['wall'] for r in rs]):.1f} | {_med([r['clips_per_min'] for r in rs]):.1f} "
              f"| {_med([r['done'] for r in rs]):g} | {_med([r['failed'] for r in rs]):g} "
              f"| {_med([r['skipped'] for r in rs]):g} | {_med([r['cores_used'] for r in rs]):.2f} "
              f"| {_med([r['other_cores'] for r in rs]):.2f} | {_med(vid):.2f} | {_med(bvh):.2f} "
              f"| {_med([r['failed_seconds'] for r in rs]):.1f} |")
    one = _med([r["wall"] for r in results["local-1"]])
    two = _med([r["wall"] for r in results["local-2"]])
    ray2 = _med([r["wall"] for r in results["ray-2"]])
    print(f"\nSpeed-up, 2 local workers / 1: {one / two:.2f}x; Ray 2 workers / 1 local: {one / ray2:.2f}x "
          f"(goal: 2 workers >= 1.7x one).")
    for name in RUNS:
        rs = results[name]
        w = 1 if name == "local-1" else 2
        util = _med([r["clip_seconds"] / (r["wall"] * w) for r in rs])
        print(f"- {labels[name]}: the clips' own seconds fill {100 * util:.0f}% of wall x workers "
              f"(the rest: start-up, pool/Ray spawn, imports, the driver's hashing and summary).")
    print(f"\nOutputs (BVH + npz, {n_files} files per run): "
          + ("byte-identical across all runs." if not diffs else "DIFFER: " + "; ".join(diffs)))
    print("Checks (good inputs done, bad inputs failed with a one-line error in manifest and summary, "
          "rerun converts nothing): " + ("all passed." if not problems else f"{len(problems)} problem(s):"))
    for p in problems:
        print(f"- {p}")
    print("\nErrors of the broken inputs (manifest, first run):")
    first = results["local-1"][0]["records"]
    for rec in first:
        if rec["rel"] in expected["bad"]:
            print(f"- `{rec['rel']}` ({expected['bad'][rec['rel']]}): {rec.get('error')}")


_STARTUP = r"""
import json, os, sys, time
t0 = time.perf_counter()
import pose2rig.batch.work  # what a pool worker imports first
t1 = time.perf_counter()
from pose2rig.lift import load_lifter
import pose2rig.pipeline
import torch
t2 = time.perf_counter()
loads = []
for _ in range(3):
    s = time.perf_counter(); load_lifter(); loads.append(time.perf_counter() - s)
from pose2rig.detect.mediapipe import MediaPipePoseDetector
import numpy as np
graphs = []
img = np.zeros((360, 640, 3), np.uint8)
for _ in range(3):
    s = time.perf_counter()
    d = MediaPipePoseDetector()
    d(img, 0.0)  # the graph is built on the first frame
    d.close()
    graphs.append(time.perf_counter() - s)
print(json.dumps({"import_work": t1 - t0, "import_pipeline_torch": t2 - t1,
                  "load_lifter": loads, "mediapipe_graph_first_frame": graphs}))
"""


def startup() -> None:
    """Per-clip and per-worker start-up costs, each in a fresh process with one thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOG_minloglevel="2")
    py = str(REPO / ".venv" / "bin" / "python")
    t0 = time.perf_counter()
    subprocess.run([py, "-c", "pass"], env=env, check=True)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = subprocess.run([py, "-c", _STARTUP], env=env, check=True, capture_output=True, text=True).stdout
    whole = time.perf_counter() - t0
    r = json.loads(out.strip().splitlines()[-1])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        t0 = time.perf_counter()
        subprocess.run([str(REPO / ".venv" / "bin" / "pose2rig"), "batch", str(empty), "-o", str(Path(tmp) / "o")],
                       env=env, check=True, capture_output=True)
        empty_batch = time.perf_counter() - t0
    print("| start-up cost | seconds |")
    print("| --- | ---: |")
    print(f"| python interpreter, nothing imported | {bare:.2f} |")
    print(f"| import pose2rig.batch.work (a pool worker's first import) | {r['import_work']:.2f} |")
    print(f"| import pose2rig.pipeline + torch | {r['import_pipeline_torch']:.2f} |")
    print(f"| load_lifter(), first / second / third call | "
          f"{' / '.join(f'{x:.2f}' for x in r['load_lifter'])} |")
    print(f"| MediaPipe pose graph built + first frame, 1st / 2nd / 3rd detector | "
          f"{' / '.join(f'{x:.2f}' for x in r['mediapipe_graph_first_frame'])} |")
    print(f"| that whole process | {whole:.2f} |")
    print(f"| `pose2rig batch` on an empty folder (CLI start, discovery, summary) | {empty_batch:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, help="make the input folder here (outside the repository)")
    ap.add_argument("--max-videos", type=int, default=20, help="good videos (cuts and whole copies)")
    ap.add_argument("--max-bvh", type=int, default=28, help="good BVH cuts")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--run", type=Path, help="time the batch runs over this input folder")
    ap.add_argument("--out", type=Path, help="where the runs write (one folder each)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--startup", action="store_true", help="time the start-up costs a worker and a clip pay")
    args = ap.parse_args()
    if args.build is None and args.run is None and not args.startup:
        ap.error("give --build DIR, --run DIR --out OUT or --startup")
    if args.startup:
        startup()
    if args.build is not None:
        exp = build(args.build, max_videos=args.max_videos, max_bvh=args.max_bvh, seed=args.seed)
        print(f"built {len(exp['good'])} good and {len(exp['bad'])} broken inputs in {args.build}")
    if args.run is not None:
        if args.out is None:
            ap.error("--run needs --out")
        run(args.run, args.out, repeats=args.repeats)


if __name__ == "__main__":
    main()
