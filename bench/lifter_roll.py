"""Choose the camera rolls that the lifter averages over, on held-out CMU data; score the choice
on Bandai-1 (never trains).

Rolling the camera about its optical axis turns the lifter's normalised 2D pose about the root and
leaves every joint's depth unchanged (``pose2rig.lift.codec.view_averaged``), so a lifter can be
run on turned copies of each pose and the answers averaged. Which turns help is an empirical
question; this script answers it on the validation subject only (CMU subject 7, held out of
training; every frame, filmed by fixed-seed random cameras with seeds 0, 1 and 2), picks the
set with the lowest P-MPJPE, and only then scores that set and no rolls on Bandai-1 (the test set),
for the shipped lifter and any ``--checkpoint`` given (e.g. the supervised reference).

    .venv/bin/python bench/lifter_roll.py --checkpoint supervised=runs/table/supervised.pt

Every candidate also has mirror averaging on (``Lifter.mirror``). ``--write-docs`` replaces the
marked section of docs/BENCHMARKS.md (``<!-- lifter-roll:begin -->`` ... ``<!-- lifter-roll:end -->``).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from lifter_eval import load_clips  # noqa: E402  # after sys.path setup
from lifter_table import (  # noqa: E402  # after sys.path setup
    DOCS,
    _rel,
    machine,
    parse_checkpoint,
    write_docs,
)

from pose2rig.errors import Pose2RigError  # noqa: E402  # after sys.path setup
from pose2rig.evaluate import evaluate_lifter, synthetic_views  # noqa: E402  # after sys.path setup
from pose2rig.io.mocap import bvh_files, subject_of  # noqa: E402  # after sys.path setup
from pose2rig.lift import Lifter, load_lifter  # noqa: E402  # after sys.path setup
from pose2rig.lift.codec import DEFAULT_ROLLS  # noqa: E402  # after sys.path setup

BEGIN = "<!-- lifter-roll:begin -->"
END = "<!-- lifter-roll:end -->"
SECTION_TITLE = "### Test-time roll averaging (issue 3)"
SHIPPED = REPO / "models" / "lifter_h36m17.pt"
MOCAP = REPO.parent / "shared" / "data" / "mocap"

CANDIDATES: tuple[tuple[float, ...], ...] = (
    (0.0,),
    (-10.0, 10.0),
    (-15.0, 15.0),
    (-10.0, 0.0, 10.0),
    (-15.0, 0.0, 15.0),
    (-20.0, 0.0, 20.0),
    (-20.0, -10.0, 0.0, 10.0, 20.0),
    (-12.0, -6.0, 0.0, 6.0, 12.0),
    (-25.0, -15.0, -5.0, 5.0, 15.0, 25.0),
)
"""Roll sets (degrees) tried on validation: none, symmetric pairs, and 3 to 6 evenly spaced views."""


def label(rolls: tuple[float, ...]) -> str:
    return "none" if rolls == (0.0,) else ", ".join(f"{a:g}" for a in rolls)


def views(clips: list[np.ndarray], seeds: tuple[int, ...], frame_step: int) -> tuple[np.ndarray, np.ndarray]:
    """The clips filmed once per seed (fixed random cameras), concatenated."""
    parts = [synthetic_views(clips, seed=s, frame_step=frame_step) for s in seeds]
    return np.concatenate([p for p, _ in parts]), np.concatenate([g for _, g in parts])


def p_mpjpe_mm(path: Path, rolls: tuple[float, ...], px: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    m = evaluate_lifter(load_lifter(path, rolls=rolls), px, gt)
    return {k: (1000 * v if k != "pck3d" else v) for k, v in m.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                    help="also score the chosen rolls with this checkpoint on Bandai-1 (repeat)")
    ap.add_argument("--val-subject", type=int, default=7)
    ap.add_argument("--val-seeds", default="0,1,2")
    ap.add_argument("--data", type=Path, default=MOCAP / "bandai1")
    ap.add_argument("--frame-step", type=int, default=2, help="Bandai-1 frames (validation uses every frame)")
    ap.add_argument("--write-docs", action="store_true", help=f"replace the marked section of {_rel(DOCS)}")
    ap.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "bench_cache", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.monotonic()
    try:
        named = [("shipped", SHIPPED)] + [parse_checkpoint(s) for s in args.checkpoint]
        seeds = tuple(int(s) for s in args.val_seeds.split(","))
        val_files = [f for f in bvh_files((MOCAP / "cmu", MOCAP / "cmu_iclone"))
                     if subject_of(f) == args.val_subject]
        if not val_files:
            raise Pose2RigError(f"no CMU clips of subject {args.val_subject} under {MOCAP}")
        val_clips = load_clips(val_files, args.cache_dir / f"cmu_subject{args.val_subject}.npz")
        vpx, vgt = views(val_clips, seeds, 1)
        const_val = evaluate_lifter(Lifter.constant_depth(), vpx, vgt)["p_mpjpe"] * 1000
        val = {c: p_mpjpe_mm(SHIPPED, c, vpx, vgt)["p_mpjpe"] for c in CANDIDATES}
        chosen = min(val, key=val.__getitem__)
        test_files = bvh_files((args.data,))
        test_clips = load_clips(test_files, args.cache_dir / f"{args.data.name}.npz")
        tpx, tgt = synthetic_views(test_clips, seed=0, frame_step=args.frame_step)
        const_test = evaluate_lifter(Lifter.constant_depth(), tpx, tgt)["p_mpjpe"] * 1000
        test = {(n, c): p_mpjpe_mm(p, c, tpx, tgt)["p_mpjpe"] for n, p in named for c in ((0.0,), chosen)}
    except Pose2RigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    val_lines = ["| rolls (degrees), each with its mirror image | views per pose | validation P-MPJPE |",
                 "| --- | ---: | ---: |"]
    val_lines += [f"| {label(c)}{' (chosen)' if c == chosen else ''} | {2 * len(c)} | {v:.2f} mm |"
                  for c, v in val.items()]
    test_lines = ["| model | no rolls | rolls " + label(chosen) + " | no rolls / constant depth "
                  "| rolls / constant depth |", "| --- | ---: | ---: | ---: | ---: |"]
    for n, p in named:
        a, b = test[(n, (0.0,))], test[(n, chosen)]
        test_lines.append(f"| {n} (`{_rel(p)}`) | {a:.2f} mm | {b:.2f} mm | {a / const_test:.3f} "
                          f"| {b / const_test:.3f} |")
    sup = dict(named).get("supervised")
    ratio = ""
    if sup is not None:
        ratio = (f"\n\nShipped / supervised with the chosen rolls: "
                 f"{test[('shipped', chosen)] / test[('supervised', chosen)]:.3f}.")
    val_text = (f"Validation: CMU subject {args.val_subject} ({len(val_files)} clips, every frame, "
                f"cameras of seeds {args.val_seeds}; {len(vpx):,} poses; constant depth "
                f"{const_val:.2f} mm), shipped lifter:")
    test_text = (f"Test, the chosen set only against none: all {len(test_files)} Bandai-1 clips, one frame in "
                 f"{args.frame_step}, {len(tpx):,} poses, seed-0 cameras (the lifter table's views; "
                 f"constant depth {const_test:.2f} mm):")
    print(val_text + "\n\n" + "\n".join(val_lines) + "\n\n" + test_text + "\n\n" + "\n".join(test_lines) + ratio)
    if chosen != DEFAULT_ROLLS:
        print(f"\nnote: validation chose {label(chosen)}, but pose2rig.lift.codec.DEFAULT_ROLLS is "
              f"{label(DEFAULT_ROLLS)}")
    if args.write_docs:
        command = " ".join([".venv/bin/python bench/lifter_roll.py"] + [
            f"--checkpoint {shlex.quote(f'{n}={_rel(p)}')}" for n, p in named[1:]])
        body = "\n".join([
            f"{datetime.date.today().isoformat()}, {machine()}:", "", f"    {command}", "",
            val_text, "", *val_lines, "", test_text, "", *test_lines, ratio.strip(),
        ])
        write_docs(body.rstrip("\n"), args.docs, title=SECTION_TITLE, begin=BEGIN, end=END)
        print(f"\nwrote the roll section into {_rel(args.docs)}")
    print(f"\n{time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
