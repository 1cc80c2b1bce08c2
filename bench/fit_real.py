"""Body fit on the real clips (issue 14): Anny fitted to the lifted joints of every clip in
../shared/data/video; joint error and knees or elbows bent backwards.

    .venv/bin/python bench/fit_real.py                 # every clip, the default options
    .venv/bin/python bench/fit_real.py --docs          # and the table in docs/BENCHMARKS.md
    .venv/bin/python bench/fit_real.py --set w_bend=0.1 --set pose_iters=200   # try FitOptions

Each clip's 2D keypoints are detected (:func:`pose2rig.detect.detect_video`, default detection
options), afresh by default (a detection cache is keyed by the video and the options, not by
pose2rig's code, so an old one may hold what an earlier detector found); ``--cache FOLDER``
keeps them there as ``<clip>.keypoints.npz`` and reads them back, for repeated experiments
(``bench/real_clips.py``'s ``~/.cache/pose2rig-bench`` holds the same files). Then
:func:`pose2rig.pipeline.convert` runs with the default options and the body fit on
(``ConvertOptions.from_flat(fit_body=True)``: what ``pose2rig convert --fit-body`` does: the
lifter, the clean-up, the world frame, then Anny (:class:`pose2rig.body.anny.AnnyBody`) fitted
by :func:`pose2rig.pipeline.fit_pose` to the cleaned world joints, with the 2D term on
MediaPipe's landmarks where the camera maps them) with ``FitOptions()`` (or those ``--set``
changes), on the CPU with ``--threads`` torch threads.

Per clip:

- frames, and those where no person was seen (every joint's confidence 0: gaps that the clean-up
  filled or held);
- joint error: the fit's per-frame mean distance (mm) of its Human3.6M-17 joints to the lifted
  ones (:attr:`pose2rig.body.fit.BodyFit.error`), its mean over the frames, its 95th percentile
  and its worst frame (the issue's bar: mean under 40 mm on every clip); also the mean on the
  frames where the person was seen;
- the lifted joints' own bone-length spread: per limb bone (upper arms, forearms, thighs, shins)
  the standard deviation of its length over the clip over its median, averaged (%): a body
  model keeps its bones' lengths, so a lifter that stretches them leaves an error no fit can
  remove;
- the straightest knee or elbow: the smallest signed bend over the clip and the four joints
  (:func:`pose2rig.body.checks.hinge_angles`, degrees: 0 straight, positive the natural way,
  negative bent backwards), with the joint and the frame; and the worst backward bend, that
  angle's negative part (the issue's bar: at most 5 degrees);
- fit fps: frames over the seconds ``convert`` spent in its ``body fit`` stage (the shape stage
  and the windows; the body model is loaded before).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import os
import sys
from pathlib import Path

import numpy as np

# torch's OpenMP threads spin while they wait (as pose2rig.cli says): set before torch is imported
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

VIDEO = REPO.parent / "shared" / "data" / "video"
DOCS = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- fit-real:begin -->"
END = "<!-- fit-real:end -->"
TITLE = "## Body fit: real clips (issue 14)"
LIMBS = tuple((f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
              for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")))


def convert_fit(video: Path, cache: Path | None, fit_options=None):
    """``convert``'s result for ``video`` with the default options and the body fit on
    (``pose2rig convert --fit-body``: Anny, :func:`pose2rig.pipeline.fit_pose` on the cleaned
    world joints, with the 2D term where the camera maps them), its keypoints detected into
    ``cache`` (a folder; read back when there) or afresh (None)."""
    from pose2rig.detect import detect_video
    from pose2rig.options import ConvertOptions
    from pose2rig.pipeline import convert

    o = ConvertOptions.from_flat(fit_body=True)
    d = o.detect
    path = None
    if cache is not None:
        path = cache.expanduser() / f"{video.stem}.keypoints.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
    kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=path,
                      min_detection_confidence=d.min_detection_confidence, progress=False)
    return convert(video, None, o, progress=False, keypoints=kp, fit_options=fit_options)


def bone_spread(joints: np.ndarray) -> float:
    """Mean over the limb bones of the std of their length over their median (%), ``joints (T,
    17, 3)`` Human3.6M-17 (NaN frames left out)."""
    from pose2rig.skeletons import H36M17

    out = []
    for a, b in LIMBS:
        n = np.linalg.norm(joints[:, H36M17.index(b)] - joints[:, H36M17.index(a)], axis=-1)
        n = n[np.isfinite(n)]
        if n.size > 1:
            out.append(100.0 * n.std() / np.median(n))
    return float(np.mean(out)) if out else float("nan")


def measure(video: Path, fit_options, cache: Path | None) -> dict:
    """The figures of one clip (see the module doc)."""
    from pose2rig.body.checks import HINGE_NAMES, hinge_angles

    result = convert_fit(video, cache, fit_options)
    world, fit = result.world_pose, result.body
    seconds = result.timings["body fit"]
    err = 1000.0 * fit.error.astype(np.float64)
    seen = (world.confidence > 0).any(axis=1)
    ok = np.isfinite(err)
    angles = hinge_angles(fit)
    t, k = np.unravel_index(np.nanargmin(angles), angles.shape)
    return {
        "clip": video.stem, "frames": world.num_frames, "unseen": int((~seen).sum()),
        "mean_mm": float(err[ok].mean()), "p95_mm": float(np.percentile(err[ok], 95)),
        "seen_mm": float(err[ok & seen].mean()) if (ok & seen).any() else float("nan"),
        "worst_frame_mm": float(err[ok].max()), "worst_frame": int(np.flatnonzero(ok)[np.argmax(err[ok])]),
        "spread_pct": bone_spread(world.joints.astype(np.float64)),
        "backward_deg": float(max(0.0, -angles[t, k])), "straightest_deg": float(angles[t, k]),
        "straightest_joint": HINGE_NAMES[k], "straightest_frame": int(t),
        "fps": world.num_frames / seconds, "seconds": seconds,
    }


def parse_set(items: list[str]) -> dict:
    """``name=value`` pairs -> FitOptions fields (typed as the defaults are)."""
    from pose2rig.body.fit import FitOptions

    fields = {f.name: f for f in dataclasses.fields(FitOptions)}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in fields or not value:
            raise SystemExit(f"--set {item!r}: expected NAME=VALUE with NAME among {', '.join(fields)}")
        kind = type(getattr(FitOptions(), name))
        out[name] = kind(value)
    return out


def table(rows: list[dict]) -> str:
    lines = ["| clip | frames (unseen) | joint error, mean (mm) | p95 frame (mm) | mean on seen frames (mm) | "
             "worst frame (mm) | limb length spread (%) | straightest knee or elbow (deg, < 0: backwards) | "
             "worst backward bend (deg) | fit fps |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['frames']} ({r['unseen']}) | {r['mean_mm']:.1f} | {r['p95_mm']:.1f} | "
            f"{r['seen_mm']:.1f} | {r['worst_frame_mm']:.0f} (frame {r['worst_frame']}) | {r['spread_pct']:.1f} | "
            f"{r['straightest_deg']:+.1f} ({r['straightest_joint']}, frame {r['straightest_frame']}) | "
            f"{r['backward_deg']:.1f} | {r['fps']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, nargs="*", default=None, help="clips (default: every .mp4 in the data)")
    ap.add_argument("--cache", type=Path, default=None, help="folder of keypoint caches (default: detect afresh)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a FitOptions field")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--machine", default="2 vCPUs AMD EPYC (machine B)")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--docs", action="store_true", help=f"replace the marked section of {DOCS.name}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    from pose2rig.body.fit import FitOptions

    torch.set_num_threads(args.threads)
    changes = parse_set(args.set)
    fit_options = FitOptions(**changes)
    clips = args.video or sorted(VIDEO.glob("*.mp4"))
    rows = []
    for video in clips:
        r = measure(video, fit_options, args.cache)
        rows.append(r)
        print(table([r]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.docs:
        from lifter_table import write_docs

        cmd = "`.venv/bin/python bench/fit_real.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"
        opts = ", ".join(f"{k}={v}" for k, v in changes.items())
        load = os.getloadavg()[0]
        body = (f"{args.date}, {args.machine} (load average {load:.1f} from other work while it ran: fit fps "
                f"are indicative), {args.threads} torch thread(s); `convert --fit-body` "
                f"(Anny, `ConvertOptions.from_flat(fit_body=True)`) with `FitOptions({opts})`; goals: mean joint error under 40 mm and no knee or elbow bent backwards "
                f"by more than 5 degrees on every clip (see the script's docstring). Command: {cmd}\n\n{text}")
        write_docs(body, DOCS, title=TITLE, begin=BEGIN, end=END)
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
