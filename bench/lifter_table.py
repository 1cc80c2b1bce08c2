"""Score saved lifter checkpoints side by side on Bandai-1 (never trains).

Every model sees the same 2D: all Bandai-Namco Motiondataset-1 clips, every ``--frame-step``-th
frame, each pose filmed by a fixed-seed random virtual camera (``pose2rig.evaluate.synthetic_views``,
the training camera distribution), exactly as ``bench/lifter_eval.py`` makes them. The
constant-depth baseline (every depth offset 0, through the same code) is always a row. Metrics in
mm; PCK3D at 150 mm after scale alignment. Ratios are P-MPJPE ratios to constant depth and, when a
checkpoint is named ``supervised``, to it.

    .venv/bin/python bench/lifter_table.py \\
        --checkpoint supervised=runs/sup/best.pt --checkpoint adversarial=models/lifter_h36m17.pt

``--speed`` adds the training and inference throughput at the size of the checkpoint named
``shipped`` (else the last one), timed as ``bench/lifter_speed.py`` times it (which has every
case and the machine notes): samples/s of one G+D step, and poses/s of the generator as
``Lifter`` runs it at batch 4096 beside the fastest bare chain of matrix multiplies of the same
sizes (the roofline). Run it on a quiet machine.

``--write-docs`` replaces the marked section of docs/BENCHMARKS.md
(``<!-- lifter-table:begin -->`` ... ``<!-- lifter-table:end -->``; appended when absent) with the
table, the command, the machine, the date and each checkpoint's training configuration.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from lifter_eval import load_clips  # noqa: E402  # after sys.path setup; shared clip cache

from pose2rig.errors import Pose2RigError  # noqa: E402  # after sys.path setup
from pose2rig.evaluate import evaluate_lifter, synthetic_views  # noqa: E402  # after sys.path setup
from pose2rig.lift import Lifter, load_lifter  # noqa: E402  # after sys.path setup
from pose2rig.lift.codec import DEFAULT_ROLLS, parse_rolls  # noqa: E402  # after sys.path setup

BEGIN = "<!-- lifter-table:begin -->"
END = "<!-- lifter-table:end -->"
BASELINE = "constant depth"
REFERENCE = "supervised"
DOCS = REPO / "docs" / "BENCHMARKS.md"
SECTION_TITLE = "## Lifter variants on Bandai-1 (issue 3)"


@dataclass
class Row:
    name: str
    path: Path | None
    metrics: dict[str, float]
    meta: dict[str, object] = field(default_factory=dict)


def parse_checkpoint(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` -> (name, path); a bare PATH is named after its file stem."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).stem, spec
    name = name.strip()
    if not name or not path:
        raise Pose2RigError(f"--checkpoint: expected NAME=PATH, got {spec!r}")
    if name == BASELINE:
        raise Pose2RigError(f"--checkpoint: {BASELINE!r} is always added; give the model another name")
    return name, Path(path)


def checkpoint_meta(path: Path) -> dict[str, object]:
    """Training facts stored in a lifter checkpoint: config, selected step, training time.

    The time is read from ``seconds``/``train_seconds`` when the trainer stored one (None
    otherwise); the validation metrics of the selected step from ``metrics``.
    """
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=True)
    seconds = next((ck[k] for k in ("train_seconds", "seconds", "wall_seconds") if k in ck), None)
    return {
        "config": dict(ck.get("config") or {}),
        "step": ck.get("step"),
        "seconds": None if seconds is None else float(seconds),
        "val_metrics": dict(ck.get("metrics") or {}),
        "generator": dict(ck.get("generator") or {}),
        "discriminator": dict(ck.get("discriminator") or {}),
    }


def score(
    named: list[tuple[str, Path]], px: np.ndarray, gt: np.ndarray, *, rolls: tuple[float, ...] = DEFAULT_ROLLS,
) -> list[Row]:
    """Constant depth first, then each checkpoint (averaged over ``rolls`` and mirror images, as
    ``pose2rig lift`` runs it), on the same views."""
    rows = [Row(BASELINE, None, evaluate_lifter(Lifter.constant_depth(), px, gt))]
    for name, path in named:
        lifter = load_lifter(path, rolls=rolls)
        rows.append(Row(name, path, evaluate_lifter(lifter, px, gt), checkpoint_meta(path)))
    return rows


def ratios(rows: list[Row]) -> dict[str, dict[str, float | None]]:
    """P-MPJPE ratio of each row to constant depth and to ``supervised`` (None when absent)."""
    base = rows[0].metrics["p_mpjpe"]
    sup = next((r.metrics["p_mpjpe"] for r in rows if r.name == REFERENCE), None)
    return {
        r.name: {
            "to_constant": r.metrics["p_mpjpe"] / base,
            "to_supervised": None if sup is None else r.metrics["p_mpjpe"] / sup,
        }
        for r in rows
    }


def table_markdown(rows: list[Row]) -> str:
    rat = ratios(rows)
    has_sup = any(r.name == REFERENCE for r in rows)
    head = "| model | P-MPJPE | N-MPJPE | PCK3D@150 | P-MPJPE / constant depth |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if has_sup:
        head += " P-MPJPE / supervised |"
        rule += " ---: |"
    lines = [head, rule]
    for r in rows:
        m, q = r.metrics, rat[r.name]
        label = r.name if r.path is None else f"{r.name} (`{_rel(r.path)}`)"
        line = (f"| {label} | {1000 * m['p_mpjpe']:.1f} mm | {1000 * m['n_mpjpe']:.1f} mm "
                f"| {m['pck3d']:.3f} | {q['to_constant']:.3f} |")
        if has_sup:
            line += f" {q['to_supervised']:.3f} |"
        lines.append(line)
    return "\n".join(lines)


def table_text(rows: list[Row]) -> str:
    rat = ratios(rows)
    w = max(len(r.name) for r in rows) + 2
    out = [f"{'':{w}s}{'P-MPJPE mm':>12s}{'N-MPJPE mm':>12s}{'PCK3D@150':>11s}{'/const':>8s}{'/sup':>8s}"]
    for r in rows:
        m, q = r.metrics, rat[r.name]
        sup = "" if q["to_supervised"] is None else f"{q['to_supervised']:8.3f}"
        out.append(f"{r.name:{w}s}{1000 * m['p_mpjpe']:12.1f}{1000 * m['n_mpjpe']:12.1f}"
                   f"{m['pck3d']:11.3f}{q['to_constant']:8.3f}{sup}")
    return "\n".join(out)


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def _config_line(meta: dict[str, object]) -> str:
    """The checkpoint's training facts; config fields listed where they differ from today's
    ``TrainConfig`` defaults (every field when the defaults cannot be read)."""
    cfg = dict(meta.get("config") or {})
    try:
        from pose2rig.train.config import TrainConfig

        defaults = TrainConfig().to_plain()
    except Exception:
        defaults = {}
    skip = {"out", "run_dir", "checkpoint_every", "max_minutes", "threads", "device", "val_poses"}
    diff = {k: v for k, v in cfg.items() if k not in skip and defaults.get(k, object()) != v}
    g = meta.get("generator") or {}
    parts = [f"step {meta.get('step')} of {cfg.get('steps', '?')}",
             f"G {g.get('width', cfg.get('width'))}x{g.get('blocks', cfg.get('blocks'))}",
             f"batch {cfg.get('batch', '?')}"]
    secs = meta.get("seconds")
    if secs is not None:
        parts.append(f"trained {secs / 60:.1f} min")
    else:
        parts.append(f"training time not recorded (max-minutes {cfg.get('max_minutes', '?')})")
    parts.append(f"{cfg.get('device', '?')}, {cfg.get('threads', '?')} threads")
    val = meta.get("val_metrics") or {}
    if "p_mpjpe" in val:
        parts.append(f"val P-MPJPE {1000 * float(val['p_mpjpe']):.1f} mm")
    text = "; ".join(parts)
    if diff:
        text += "; config differing from defaults: " + ", ".join(f"`{k}={v}`" for k, v in sorted(diff.items()))
    return text


def machine(*, threads: bool = True) -> str:
    """CPU model, cores, Python and torch versions (and torch threads) for the docs."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    text = (f"{os.cpu_count()} cores (\"{cpu}\", {platform.machine()}), Python {platform.python_version()}, "
            f"torch {torch.__version__}")
    return text + (f", {torch.get_num_threads()} torch threads" if threads else "")


def throughput(path: Path, clips: list[np.ndarray], *, repeats: int = 7, threads: int = 1) -> str:
    """One paragraph: training samples/s and inference poses/s at ``path``'s size, the latter
    beside the roofline (``bench/lifter_speed.py``'s ``measure``, with the current torch threads)."""
    import torch
    from lifter_speed import measure

    bank = torch.from_numpy(np.ascontiguousarray(np.concatenate(clips)[::3][:20000], dtype=np.float32))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        m = measure(path, repeats=repeats, verbose=False, poses=bank)
    finally:
        torch.set_num_threads(before)
    as_run = next(k for k in m.res if "as Lifter runs it" in k)
    g, d = m.gen, m.disc
    return (f"Throughput at the size of `{_rel(path)}` (G {g.width} x {g.blocks} blocks, D "
            f"{d.net.inp.out_features} x {len(d.net.blocks)}, training batch {m.tb}; "
            f"{threads} torch thread(s); medians of {repeats} repeats, bench/lifter_speed.py "
            f"has every case): training **{m.tb / m.t_step:,.0f} samples/s** for one G+D step "
            f"({m.tb / m.t_full:,.0f} with the data draw); inference **{m.batch / m.res[as_run]:,.0f} poses/s** "
            f"(batch {m.batch}, {as_run}) against {m.batch / m.fastest_bare:,.0f} poses/s for the fastest "
            f"bare chain of matrix multiplies of the same sizes: **{m.ratio_eager_chunk:.2f}** of the roofline "
            f"(issue 3 asks for at least 0.8; median of per-round ratios).")


def averaging_text(rolls: tuple[float, ...]) -> str:
    """The test-time averaging every generator row had, in words."""
    if tuple(rolls) == (0.0,):
        return ("Every generator is mirror-averaged (each pose lifted with its mirror image; "
                "`Lifter.mirror`), without roll averaging (`--rolls 0`).")
    angles = ", ".join(f"{a:g}" for a in rolls)
    return (f"Every generator is averaged over {2 * len(rolls)} views of each pose, as `pose2rig lift` "
            f"runs it: camera rolls of {angles} degrees about the optical axis, each with its mirror "
            "image (`Lifter.rolls`, `Lifter.mirror`; bench/lifter_roll.py).")


def docs_section(
    rows: list[Row], *, command: str, poses: int, clips: int, frame_step: int, seed: int,
    rolls: tuple[float, ...] = DEFAULT_ROLLS,
) -> str:
    lines = [
        f"{datetime.date.today().isoformat()}, {machine()}:",
        "",
        f"    {command}",
        "",
        f"All {clips} Bandai-1 clips, one frame in {frame_step}, {poses:,} poses, ground-truth 2D from "
        f"fixed-seed ({seed}) random virtual cameras (the same views for every row). P-MPJPE: "
        "Procrustes with scale; N-MPJPE: scale-normalised; PCK3D at 150 mm after scale alignment. "
        "Ratios are of P-MPJPE. " + averaging_text(rolls),
        "",
        table_markdown(rows),
        "",
        "Checkpoints:",
        "",
    ]
    for r in rows[1:]:
        lines.append(f"- {r.name}: {_config_line(r.meta)}")
    return "\n".join(lines)


def replace_section(text: str, body: str, *, title: str = SECTION_TITLE, begin: str = BEGIN, end: str = END) -> str:
    """Put ``body`` between the ``begin`` and ``end`` markers of ``text``; append a titled, marked
    section when there are none. Everything outside the markers is kept byte for byte."""
    n_begin, n_end = text.count(begin), text.count(end)
    if n_begin == 0 and n_end == 0:
        return text.rstrip("\n") + f"\n\n{title}\n\n{begin}\n{body}\n{end}\n"
    if n_begin != 1 or n_end != 1 or text.index(begin) > text.index(end):
        raise Pose2RigError(f"docs: expected one {begin} before one {end}, found {n_begin} and {n_end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_docs(body: str, path: Path = DOCS, **markers: str) -> None:
    """Replace a marked section of ``path`` atomically; ``markers``: ``title``, ``begin``, ``end``
    of :func:`replace_section` (this table's by default). Every bench writes its docs this way."""
    from pose2rig.io.atomic import atomic_path

    new = replace_section(path.read_text(), body, **markers)
    with atomic_path(path) as tmp:
        tmp.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                    help="a saved lifter checkpoint to score (repeat); constant depth is always added")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mocap" / "bandai1")
    ap.add_argument("--frame-step", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-poses", type=int, default=None)
    ap.add_argument("--rolls", default=",".join(f"{a:g}" for a in DEFAULT_ROLLS),
                    help="camera rolls (degrees, comma-separated) each generator is averaged over; 0 for none")
    ap.add_argument("--speed", action="store_true", help="also time training and inference (see above)")
    ap.add_argument("--speed-repeats", type=int, default=7, help="timed repeats for --speed")
    ap.add_argument("--speed-threads", type=int, default=1,
                    help="torch threads for --speed (more than 1 needs OMP_WAIT_POLICY=PASSIVE on a shared machine)")
    ap.add_argument("--write-docs", action="store_true", help=f"replace the marked section of {_rel(DOCS)}")
    ap.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", type=Path, default=REPO / "runs" / "bench_cache", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.monotonic()
    try:
        named = [parse_checkpoint(s) for s in args.checkpoint]
        rolls = parse_rolls(args.rolls)
        names = [n for n, _ in named]
        if len(set(names)) != len(names):
            raise Pose2RigError(f"--checkpoint: names must differ, got {names}")
        from pose2rig.io.mocap import bvh_files

        files = bvh_files((args.data,))
        clips = load_clips(files, args.cache_dir / f"{args.data.name}.npz")
        px, gt = synthetic_views(clips, seed=args.seed, frame_step=args.frame_step, max_poses=args.max_poses)
        rows = score(named, px, gt, rolls=rolls)
        speed = None
        if args.speed:
            if not named:
                raise Pose2RigError("--speed needs a --checkpoint to time")
            speed = throughput(dict(named).get("shipped", named[-1][1]), clips, repeats=args.speed_repeats,
                               threads=args.speed_threads)
    except Pose2RigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.data.name}: {len(files)} clips, every {args.frame_step} frames, seed {args.seed}, "
          f"{len(px)} poses\n")
    print(table_text(rows))
    for r in rows[1:]:
        print(f"\n{r.name}: {_config_line(r.meta)}")
    if speed is not None:
        print("\n" + speed)
    if args.write_docs:
        command = " ".join([".venv/bin/python bench/lifter_table.py"] + [
            f"--checkpoint {shlex.quote(f'{n}={_rel(p)}')}" for n, p in named
        ] + [f"--{k.replace('_', '-')} {shlex.quote(str(_rel(v) if isinstance(v, Path) else v))}"
             for k, v in vars(args).items()
             if k in ("data", "frame_step", "seed", "max_poses", "rolls", "speed", "speed_repeats", "speed_threads")
             and v != ap.get_default(k)]).replace("--speed True", "--speed")
        body = docs_section(rows, command=command, poses=len(px), clips=len(files),
                            frame_step=args.frame_step, seed=args.seed, rolls=rolls)
        if speed is not None:
            body += "\n\n" + speed
        write_docs(body, args.docs)
        print(f"\nwrote the lifter table into {_rel(args.docs)}")
    print(f"\n{time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
