"""The detector's error, measured on rendered CMU footage and saved as a model training can sample.

Renders (cached) ``--clips`` windows of the CMU set (``render_eval.benchmark_set("cmu", ...)`` for
seeds 0, 1, 2, ...: new windows, cameras, heights and backgrounds per seed, the two characters
alternating; never Bandai-1, the report set), runs MediaPipe on them (cached), fits
:class:`pose2rig.train.detector_noise.DetectorNoise` on every clip and writes it (default
``models/detector_noise.npz``), and prints:

- per joint: median 2D error in pixels and in body scales (the truth's 2D bounding-box diagonal),
  dropped joints, low confidences, left/right swaps, the error's lag-1 autocorrelation;
- the median error by confidence bin, and the swap rate by confidence bin;
- how well the model's samples reproduce held-out clips: a model fitted on 2/3 of the clips
  samples the truth of the other 1/3 (every ``--holdout``-th clip), and the per-joint error
  percentiles, drops, confidences and autocorrelation are compared with MediaPipe's there.

Usage::

    .venv/bin/python bench/detector_noise.py [--clips 24] [--frames 100] [--out models/detector_noise.npz]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from pose2rig.train.detector_noise import DetectorNoise, body_scale

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render_eval

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "detector_noise.npz"


def windows(clips: int, *, frames: int = 100, max_travel: float = render_eval.MAX_TRAVEL) -> list[tuple[int, render_eval.BenchClip]]:
    """``clips`` CMU windows as ``(seed, BenchClip)``: :func:`render_eval.benchmark_set` of the CMU
    set (4 files) for seeds 0, 1, 2, ... (each seed draws new windows and, rendered with it, new
    cameras, heights and backgrounds), characters alternating within each seed."""
    out: list[tuple[int, render_eval.BenchClip]] = []
    seed = 0
    while len(out) < clips:
        for c in render_eval.benchmark_set("cmu", clips - len(out), frames=frames, max_travel=max_travel, seed=seed):
            out.append((seed, c))
        seed += 1
    return out[:clips]


def collect(jobs: list[tuple[int, render_eval.BenchClip]], *, cache: Path = render_eval.DEFAULT_CACHE,
            verbose: bool = True) -> list[dict[str, np.ndarray]]:
    """Render (cached) and detect (cached) each window; per clip ``truth (T, 17, 2)`` pixels,
    ``detected (T, 17, 2)`` (NaN where missing), ``confidence (T, 17)``, ``image_size``, ``pitch``."""
    out = []
    for seed, job in jobs:
        clip = render_eval.render_clip(job.bvh, render_eval.CHARACTERS[job.character], seed=seed, frames=job.frames,
                                       start=job.start, cache=cache)
        kp = render_eval.detect_rendered(clip)
        a = clip.arrays()
        out.append({"name": f"{job.name}#{seed}", "truth": a["joints_2d"].astype(np.float64),
                    "detected": kp.keypoints.astype(np.float64), "confidence": kp.confidence.astype(np.float64),
                    "image_size": a["image_size"], "pitch": float(a["pitch"]), "height": float(a["height"])})
        if verbose:
            print(f"{job.name}#{seed}: {f'rendered in {clip.seconds:.0f} s' if clip.rendered else 'cached'}, "
                  f"{np.isfinite(kp.keypoints).all(axis=-1).mean():.0%} of joints found", flush=True)
    return out


def _errors(clips: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pooled over clips: ``err_px (N, 17)``, ``err_scale (N, 17)`` (NaN where missing), ``conf (N, 17)``
    and ``lag1 (17,)`` the lag-1 autocorrelation of the x error (body scales) within clips."""
    px, sc, co, a, b = [], [], [], [], []
    for c in clips:
        d = c["detected"] - c["truth"]
        e = np.linalg.norm(d, axis=-1)
        s = body_scale(c["truth"])[:, None]
        px.append(e)
        sc.append(e / s)
        co.append(c["confidence"])
        x = d[..., 0] / s
        a.append(x[:-1])
        b.append(x[1:])
    x, y = np.concatenate(a), np.concatenate(b)
    lag = np.array([_corr(x[:, j], y[:, j]) for j in range(x.shape[1])])
    return np.concatenate(px), np.concatenate(sc), np.concatenate(co), lag


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def _swap_rate(model: DetectorNoise, clips: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the share of eligible frames swapped; and the share of decided frames in states 1, 2, 3."""
    hits, n, states = np.zeros(len(model.pairs)), np.zeros(len(model.pairs)), []
    for c in clips:
        st, sw, el = model._swap_states(c["truth"], c["detected"], body_scale(c["truth"]))
        hits += (sw & el).sum(axis=0)
        n += el.sum(axis=0)
        states.append(st[st >= 0])
    s = np.concatenate(states)
    return hits / np.maximum(n, 1), np.array([np.mean(s == k) for k in (1, 2, 3)])


def report(model: DetectorNoise, clips: list[dict[str, np.ndarray]]) -> str:
    """Markdown tables of the measured error on ``clips`` (what the model was fitted to)."""
    px, sc, co, lag = _errors(clips)
    names = [str(n) for n in model.joint_names]
    pair_rate, _ = _swap_rate(model, clips)
    pair_of = {int(i): k for k, p in enumerate(model.pairs) for i in p}
    lines = ["| joint | median px | median (body scale x1000) | 90% (x1000) | dropped % | conf < 0.5 % | "
             "L/R swapped % | lag-1 autocorr |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for j, name in enumerate(names):
        found = np.isfinite(sc[:, j])
        sw = f"{100 * pair_rate[pair_of[j]]:.1f}" if j in pair_of else "–"
        lines.append(f"| {name} | {np.nanmedian(px[:, j]):.1f} | {1000 * np.nanmedian(sc[:, j]):.1f} | "
                     f"{1000 * np.nanpercentile(sc[:, j], 90):.1f} | {100 * (1 - found.mean()):.1f} | "
                     f"{100 * np.mean(co[found, j] < 0.5):.1f} | {sw} | {lag[j]:.2f} |")
    edges = model.bin_edges
    heads = [f"{edges[b]:g}-{edges[b + 1]:g}" for b in range(model.num_bins)]
    lines += ["", "Median error (body scale x1000) by confidence bin, and the share of the joint's found frames in each bin (%):",
              "", "| joint | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    bins = model.confidence_bin(co)
    for j, name in enumerate(names):
        cells = []
        found = np.isfinite(sc[:, j])
        for b in range(model.num_bins):
            m = found & (bins[:, j] == b)
            cells.append(f"{1000 * np.median(sc[m, j]):.0f} ({100 * m.sum() / max(found.sum(), 1):.0f}%)" if m.sum() >= 5
                         else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Left/right swap rate (%) by the pair's lower confidence (fitted model, `pair_swap_rate`):", "",
              "| pair | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for k, (a, _) in enumerate(model.pairs):
        cells = ["–" if not np.isfinite(v) else f"{100 * v:.1f}" for v in model.pair_swap_rate[k]]
        lines.append(f"| {names[a].removeprefix('left_')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def validate(model: DetectorNoise, held: list[dict[str, np.ndarray]], *, draws: int = 5, seed: int = 0) -> str:
    """Markdown: measured vs sampled per-joint error percentiles (body scale x1000) on held-out clips,
    their truth run through ``model.sample`` ``draws`` times."""
    rng = np.random.default_rng(seed)
    fake = []
    for c in held:
        for _ in range(draws):
            noisy, conf = model.sample(c["truth"], rng)
            fake.append({"truth": c["truth"], "detected": noisy.astype(np.float64), "confidence": conf.astype(np.float64)})
    _, m_sc, m_co, m_lag = _errors(held)
    _, s_sc, s_co, s_lag = _errors(fake)
    m_sw, m_states = _swap_rate(model, held)
    s_sw, s_states = _swap_rate(model, fake)
    lines = ["| joint | p50 measured / sampled | p90 | p99 | dropped % | conf median | lag-1 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for j, name in enumerate(model.joint_names):
        cells = []
        for q in (50, 90, 99):
            a, b = 1000 * np.nanpercentile(m_sc[:, j], q), 1000 * np.nanpercentile(s_sc[:, j], q)
            ratios.append((q, b / a))
            cells.append(f"{a:.0f} / {b:.0f}")
        drop = f"{100 * np.isnan(m_sc[:, j]).mean():.1f} / {100 * np.isnan(s_sc[:, j]).mean():.1f}"
        med = f"{np.median(m_co[m_co[:, j] > 0, j]):.3f} / {np.median(s_co[s_co[:, j] > 0, j]):.3f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {drop} | {med} | {m_lag[j]:.2f} / {s_lag[j]:.2f} |")
    r = np.array(ratios)
    summary = [f"median sampled/measured ratio: p{q} {np.median(r[r[:, 0] == q, 1]):.2f} "
               f"(range {r[r[:, 0] == q, 1].min():.2f}-{r[r[:, 0] == q, 1].max():.2f})" for q in (50, 90, 99)]
    summary.append("swap states (arms, legs, both) % of frames: measured "
                   + ", ".join(f"{100 * v:.1f}" for v in m_states) + "; sampled " + ", ".join(f"{100 * v:.1f}" for v in s_states))
    pairs = ", ".join(str(model.joint_names[a]).removeprefix("left_") for a, _ in model.pairs)
    summary.append(f"pair swap % ({pairs}): measured "
                   + ", ".join(f"{100 * v:.1f}" for v in m_sw) + "; sampled " + ", ".join(f"{100 * v:.1f}" for v in s_sw))
    return "\n".join(lines) + "\n\n" + "\n".join(summary)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=24, help="CMU windows (never Bandai-1)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--holdout", type=int, default=3, help="every N-th clip is held out to check the samples")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the model fitted on every clip")
    ap.add_argument("--cache", type=Path, default=render_eval.DEFAULT_CACHE)
    ap.add_argument("--draws", type=int, default=5, help="samples per held-out clip")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    began = time.perf_counter()
    clips = collect(windows(args.clips, frames=args.frames), cache=args.cache)
    fit_part = [c for i, c in enumerate(clips) if i % args.holdout != args.holdout - 1]
    held = [c for i, c in enumerate(clips) if i % args.holdout == args.holdout - 1]
    frames = sum(len(c["truth"]) for c in clips)
    print(f"\n{len(clips)} CMU clips, {frames} frames; pitch {min(c['pitch'] for c in clips):.0f} to "
          f"{max(c['pitch'] for c in clips):.0f} deg, heights {min(c['height'] for c in clips):.2f}-"
          f"{max(c['height'] for c in clips):.2f} m\n")

    def fit(part: list[dict[str, np.ndarray]]) -> DetectorNoise:
        return DetectorNoise.fit([c["truth"] for c in part], [c["detected"] for c in part], [c["confidence"] for c in part])

    model = fit(clips)
    print("## Measured on all clips\n")
    print(report(model, clips))
    print(f"\n## Samples against {len(held)} held-out clips (model fitted on the other {len(fit_part)}), measured / sampled\n")
    print(validate(fit(fit_part), held, draws=args.draws))
    model.save(args.out)
    print(f"\nwrote {args.out} ({args.out.stat().st_size} bytes) in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
