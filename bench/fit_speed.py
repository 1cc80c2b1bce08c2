"""Body fit speed and memory (issue 14): frames per second of a full ``fit_body`` and the peak
memory of a long fit against a short one.

    .venv/bin/python bench/fit_speed.py --docs

Input: the synthetic SMPL-format model (pose2rig.testing) and Anny posed by a real clip (CMU
``fairmotion_01_01``, resampled to 30 fps; how mocap becomes a body-model pose:
``bench/fit_recovery.py``), with its Human3.6M-17 joints and MediaPipe extra points, no noise,
the true shape unknown (a full fit: shape stage, then the pose in windows). Frames per second:
``frames / seconds`` of one ``fit_body`` call after one warm-up call on a short clip, on the CPU
with ``--threads`` torch threads and on CUDA when ``torch.cuda.is_available()``; joint error:
the mean distance (mm) of the fitted Human3.6M-17 joints to the input.

Memory: each fit runs in its own subprocess (so two fits never share a peak) that loads the model
and the input (written by the parent), resets the kernel's peak resident set (``5`` into
``/proc/self/clear_refs``), fits, and reports the peak (``VmHWM``) minus the resident set just
before the fit, for a ``--frames`` and a ``10 x --frames`` clip (the CMU clip looped back and
forth to length). Goal: the long fit's at most 1.5 times the short one's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

DOCS = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- fit-speed:begin -->"
END = "<!-- fit-speed:end -->"
TITLE = "## Body fit: speed and memory (issue 14)"


def posed_input(kind: str, frames: int, folder: Path, seed: int = 0, *, keep_vertices: bool = True):
    """``(model, truth)``: ``kind``'s model posed by the CMU clip, ``frames`` long (looped back
    and forth)."""
    import fit_recovery as fr

    (name, mocap), = fr.load_clips(1, 0, 10 ** 6)
    idx = np.arange(frames) % (2 * len(mocap) - 2)
    idx = np.where(idx < len(mocap), idx, 2 * len(mocap) - 2 - idx)  # back and forth
    model = fr.make_model(kind, folder)
    rng = np.random.default_rng(seed)
    truth = fr.mocap_pose(model, fr.random_shape(model, rng), mocap[idx], rng, keep_vertices=keep_vertices)
    return model, truth


def timed_fit(kind: str, frames: int, device: str, folder: Path) -> dict[str, float]:
    from pose2rig.body.fit import FitOptions, fit_body

    model, truth = posed_input(kind, frames, folder, keep_vertices=False)
    model = model.to(device)
    options = FitOptions(device=device)
    fit_body(model, truth.h36m[:20], points={k: v[:20] for k, v in truth.points.items()}, options=options)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fit = fit_body(model, truth.h36m, points=truth.points, options=options)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"fps": frames / dt, "seconds": dt, "joint_mm": 1000 * float(np.linalg.norm(fit.joints - truth.h36m, axis=-1).mean())}


def _status(field: str) -> float:
    """``field`` of /proc/self/status in MiB (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(kind: str, npz: Path) -> None:
    """In a subprocess: load the model and the input, reset the peak resident set (writing 5 to
    /proc/self/clear_refs), fit, print the peak above the resident set before the fit (MiB)."""
    import fit_recovery as fr

    from pose2rig.body.fit import fit_body

    with tempfile.TemporaryDirectory() as tmp:
        model = fr.make_model(kind, Path(tmp))
    data = dict(np.load(npz))
    h = data.pop("h36m")
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    fit_body(model, h, points=data)
    print(json.dumps({"before": before, "peak": _status("VmHWM"), "fit_mib": _status("VmHWM") - before}))


def memory(kind: str, frames: int, threads: int, folder: Path) -> dict[str, float]:
    _, truth = posed_input(kind, frames, folder, keep_vertices=False)
    npz = folder / f"{kind}_{frames}.npz"
    np.savez(npz, h36m=truth.h36m, **truth.points)
    out = subprocess.run([sys.executable, __file__, "--memory-child", kind, str(npz), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="smpl,anny")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--machine", default="2 vCPUs AMD EPYC (machine B)")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--docs", action="store_true")
    ap.add_argument("--memory-child", nargs=2, metavar=("KIND", "NPZ"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child[0], Path(args.memory_child[1]))
        return 0
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = ["| model | device | frames | fit fps | seconds | joint error (mm) | goal |", "|---|---|---|---|---|---|---|"]
    goals = {"smpl": 30, "anny": 10}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            for dev in devices:
                r = timed_fit(kind, args.frames, dev, Path(tmp))
                row = (f"| {kind} | {dev} | {args.frames} | {r['fps']:.1f} | {r['seconds']:.1f} | {r['joint_mm']:.1f} | "
                       f">= {goals.get(kind, 0)} fps |")
                rows.append(row)
                print(row, flush=True)
    mem_rows = [f"| model | fit peak, {args.frames} frames (MiB) | fit peak, {10 * args.frames} frames (MiB) | ratio (goal <= 1.5) |", "|---|---|---|---|"]
    if not args.no_memory:
        for kind in args.models.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                short = memory(kind, args.frames, args.threads, Path(tmp))
                long = memory(kind, 10 * args.frames, args.threads, Path(tmp))
            row = f"| {kind} | {short['fit_mib']:.0f} | {long['fit_mib']:.0f} | {long['fit_mib'] / max(short['fit_mib'], 1e-9):.2f} |"
            mem_rows.append(row)
            print(row, flush=True)
    table = "\n".join(rows) + ("" if args.no_memory else "\n\n" + "\n".join(mem_rows))
    print(table)
    if args.docs:
        from lifter_table import write_docs

        cmd = "`.venv/bin/python bench/fit_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"
        body = (f"{args.date}, {args.machine}, {args.threads} torch threads, `FitOptions()` defaults, the shape "
                f"fitted, the extra points given; a real CMU clip on each model (see the script's docstring). "
                f"Memory: peak resident set of the fit above the process' before it, each fit in its own "
                f"subprocess. Command: {cmd}\n\n{table}")
        write_docs(body, DOCS, title=TITLE, begin=BEGIN, end=END)
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
