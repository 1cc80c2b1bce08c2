"""The rendered benchmark's figure for the docs: one clip's frames with MediaPipe's keypoints and the
true joints drawn over them, and each method's per-frame N-MPJPE over the clip.

It reads what ``bench/render_eval.py score --save SCORES.npz`` wrote (the scores, with the
per-frame errors ``per_frame/<clip index>/<method>``) and the render cache that run used
(``<key>.mp4``, ``<key>.npz`` with the truth, ``<key>.keypoints.npz`` with MediaPipe's
keypoints: read again through :func:`render_eval.detect_rendered`, which detects only when the
cache lacks them). Nothing is scored here.

Usage::

    python bench/render_figure.py /tmp/bench40.npz                       # docs/render_eval.png
    python bench/render_figure.py scores.npz --cache /tmp/rf_cache --clip 0 -o /tmp/fig.png
    python bench/render_figure.py scores.npz --clip "scaled_131_03@0/bundled"

The clip, unless ``--clip`` names one (its index in the npz, or its job name, or a part of the
name that only one job has): the TYPICAL one (:func:`typical_clip`), the clip whose difference
between the lifter's and MediaPipe's N-MPJPE is nearest the median difference over all clips,
among the clips scored on at least 90% of their frames (so the curves have few gaps).

Convention:
    - Image coordinates are pixels of the rendered video, x right, y down (the truth's
      ``joints_2d (T, 17, 2)`` and the keypoints' ``(T, 17, 2)``, Human3.6M-17); the frames are
      drawn at those coordinates (a crop around the body), so the overlay needs no transform.
    - Errors are N-MPJPE in millimetres per frame (root-relative, scale-aligned, as scored by
      :func:`render_eval.score_clip`), NaN on the frames not scored (where some method has no
      pose); time in seconds from the clip's first frame.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import render_eval

from pose2rig.io.npz import read_arrays
from pose2rig.skeletons import H36M17

log = logging.getLogger("render_figure")

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "render_eval.png"
MAX_BYTES = 300_000
SHOWN = 4
MIN_SCORED = 0.9
FIGSIZE = (10.0, 6.0)  # inches
DPI = 100
CROP_ASPECT = 0.8  # width / height of each frame's crop (portrait, as the renders)
KEYPOINT_COLOUR = "#39ff14"  # MediaPipe's keypoints and bones
TRUTH_COLOUR = "#ff00ff"  # the true joints
METHOD_STYLES = {
    "constant depth": dict(color="0.55", lw=1.2),
    "mediapipe world": dict(color="C1", lw=1.6),
    "lifter": dict(color="C0", lw=1.8),
    "lifter, level camera": dict(color="C0", lw=1.2, ls="--", alpha=0.7),
}


# ---------------------------------------------------------------------------------------------
# choosing the clip and the frames


def load_scores(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays :func:`render_eval.save_scores` wrote."""
    return read_arrays(Path(path))


def per_frame(scores: Mapping[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """Clip ``index``'s per-frame N-MPJPE (mm), method -> ``(T,)``, in :data:`render_eval.METHODS`
    order (the methods the run scored)."""
    return {m: np.asarray(scores[f"per_frame/{index}/{m}"], dtype=np.float64)
            for m in render_eval.METHODS if f"per_frame/{index}/{m}" in scores}


def typical_clip(scores: Mapping[str, np.ndarray], *, min_scored: float = MIN_SCORED) -> int:
    """The clip whose lifter-minus-MediaPipe N-MPJPE is nearest the median of that difference
    over every clip that has both, chosen among those scored on at least ``min_scored`` of their
    frames (all of them when none is); ties go to the clip with more frames scored."""
    diff = np.asarray(scores["lifter/n_mpjpe"], float) - np.asarray(scores["mediapipe world/n_mpjpe"], float)
    fraction = np.asarray(scores["scored"], float) / np.maximum(np.asarray(scores["frames"], float), 1.0)
    ok = np.isfinite(diff)
    if not ok.any():
        raise ValueError("no clip has both the lifter's and MediaPipe's N-MPJPE")
    candidates = ok & (fraction >= min_scored)
    if not candidates.any():
        candidates = ok
    median = float(np.median(diff[ok]))
    idx = np.flatnonzero(candidates)
    order = np.lexsort((-fraction[idx], np.abs(diff[idx] - median)))
    return int(idx[order[0]])


def pick_clip(scores: Mapping[str, np.ndarray], clip: str | None) -> int:
    """The clip's index: ``clip`` None is :func:`typical_clip`; digits are an index; else a job
    name, or a part of one that only one job has."""
    jobs = [str(j) for j in scores["job"]]
    if clip is None:
        return typical_clip(scores)
    if clip.isdigit():
        if int(clip) >= len(jobs):
            raise ValueError(f"clip {clip}: the scores have {len(jobs)} clips (0 to {len(jobs) - 1})")
        return int(clip)
    if clip in jobs:
        return jobs.index(clip)
    hits = [i for i, j in enumerate(jobs) if clip in j]
    if len(hits) != 1:
        some = ", ".join(jobs[:6]) + (", ..." if len(jobs) > 6 else "")
        raise ValueError(f"clip {clip!r} matches {len(hits)} jobs; give an index or one of: {some}")
    return hits[0]


def shown_frames(errors: Mapping[str, np.ndarray], count: int = SHOWN) -> list[int]:
    """``count`` frames spread evenly over the frames every method scored (the middles of
    ``count`` equal parts of them, in order), or over the whole clip when fewer were scored."""
    t = len(next(iter(errors.values())))
    scored = np.flatnonzero(np.all([np.isfinite(e) for e in errors.values()], axis=0))
    pool = scored if scored.size >= count else np.arange(t)
    at = np.floor((np.arange(count) + 0.5) * len(pool) / count).astype(int)
    return sorted(set(int(pool[i]) for i in np.clip(at, 0, len(pool) - 1)))


def crop_box(points: np.ndarray, image_size: tuple[int, int], *, margin: float = 0.12,
             aspect: float = CROP_ASPECT) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` pixels (x1, y1 excluded): the box around the finite ``points (N, 2)``
    with ``margin`` of its larger side on each side, widened to ``aspect`` (width / height),
    moved and clipped into the image of ``image_size (width, height)``."""
    w, h = int(image_size[0]), int(image_size[1])
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    p = p[np.all(np.isfinite(p), axis=1)]
    if p.size == 0:
        return 0, 0, w, h
    lo, hi = p.min(axis=0), p.max(axis=0)
    pad = margin * float((hi - lo).max())
    lo, hi = lo - pad, hi + pad
    bw, bh = hi - lo
    if bw / max(bh, 1e-9) < aspect:
        bw = aspect * bh
    else:
        bh = bw / aspect
    bw, bh = min(bw, w), min(bh, h)
    centre = 0.5 * (lo + hi)
    x0 = int(round(min(max(centre[0] - bw / 2, 0), w - bw)))
    y0 = int(round(min(max(centre[1] - bh / 2, 0), h - bh)))
    return x0, y0, int(min(w, x0 + round(bw))), int(min(h, y0 + round(bh)))


def read_frames(video: str | Path, indices: list[int]) -> dict[int, np.ndarray]:
    """Frames ``indices`` of ``video`` as ``(H, W, 3) uint8`` RGB."""
    from pose2rig.video import open_video

    want, out = set(indices), {}
    with open_video(video) as reader:
        for frame in reader:
            if frame.index in want:
                out[frame.index] = np.ascontiguousarray(frame.image[..., ::-1])
                if len(out) == len(want):
                    break
    missing = sorted(want - out.keys())
    if missing:
        raise ValueError(f"{video}: no frame(s) {missing}")
    return out


# ---------------------------------------------------------------------------------------------
# the figure


def figure(scores: Mapping[str, np.ndarray], index: int, rendered: render_eval.RenderedClip, keypoints,
           *, shown: int = SHOWN):
    """The figure (a matplotlib ``Figure``, Agg, :data:`FIGSIZE` at :data:`DPI`): top row,
    ``shown`` frames of clip ``index`` (:func:`shown_frames`) cropped around the body, with
    ``keypoints`` (a ``Keypoints2D`` of the render, Human3.6M-17) as bones and dots and the true
    joints as small dots; below, each method's per-frame N-MPJPE (mm) over time, the shown
    frames marked, the frames not scored shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = rendered.arrays()
    joints_2d = np.asarray(truth["joints_2d"], dtype=np.float64)
    kp = np.asarray(keypoints.keypoints, dtype=np.float64)
    if kp.shape != joints_2d.shape:
        raise ValueError(f"keypoints {kp.shape} and truth {joints_2d.shape} differ in shape")
    errors = per_frame(scores, index)
    if not errors:
        raise ValueError(f"the scores have no per-frame errors for clip {index}")
    t = joints_2d.shape[0]
    if any(len(e) != t for e in errors.values()):
        raise ValueError(f"clip {index}: per-frame errors of {len(next(iter(errors.values())))} frames, "
                         f"the render has {t}")
    fps = float(truth["fps"])
    frames = shown_frames(errors, shown)
    images = read_frames(rendered.video, frames)
    size = tuple(int(v) for v in truth["image_size"])
    x0, y0, x1, y1 = crop_box(np.concatenate([joints_2d[frames], kp[frames]]), size)  # type: ignore[arg-type]

    fig = plt.figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, len(frames), height_ratios=(1.5, 1.0))
    letters = "abcdefghijklmnopqrstuvwxyz"
    for n, f in enumerate(frames):
        ax = fig.add_subplot(grid[0, n])
        ax.imshow(images[f][y0:y1, x0:x1], extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5), interpolation="antialiased")
        for a, b in H36M17.bones:
            seg = kp[f, [a, b]]
            if np.all(np.isfinite(seg)):
                ax.plot(seg[:, 0], seg[:, 1], color=KEYPOINT_COLOUR, lw=2.0, solid_capstyle="round", zorder=2)
        ax.scatter(kp[f, :, 0], kp[f, :, 1], s=14, color=KEYPOINT_COLOUR, zorder=3, linewidths=0)
        ax.scatter(joints_2d[f, :, 0], joints_2d[f, :, 1], s=9, color=TRUTH_COLOUR, zorder=4, linewidths=0)
        ax.set_xlim(x0 - 0.5, x1 - 0.5)
        ax.set_ylim(y1 - 0.5, y0 - 0.5)
        ax.set_axis_off()
        ax.set_title(f"({letters[n]}) {f / fps:.2f} s", fontsize=9)

    ax = fig.add_subplot(grid[1, :])
    time = np.arange(t) / fps
    half = 0.5 / fps
    unscored = ~np.all([np.isfinite(e) for e in errors.values()], axis=0)
    first = True
    for i in np.flatnonzero(unscored):
        ax.axvspan(time[i] - half, time[i] + half, color="0.88", lw=0, label="not scored" if first else None)
        first = False
    for method, err in errors.items():
        mean = scores.get(f"{method}/n_mpjpe")
        label = method if mean is None else f"{method} (clip: {float(np.asarray(mean)[index]):.0f} mm)"
        ax.plot(time, err, label=label, **METHOD_STYLES.get(method, {}))
    top = [np.nanpercentile(e, 98) for e in errors.values() if np.isfinite(e).any()]
    ax.set_ylim(0, 1.45 * max(top) if top else 1.0)  # room for the legend
    for n, f in enumerate(frames):
        ax.axvline(time[f], color="0.3", lw=0.8, ls=":")
        ax.annotate(f"({letters[n]})", (time[f], 0.0), xycoords=("data", "axes fraction"), xytext=(2, 3),
                    textcoords="offset points", fontsize=8, color="0.3")
    ax.set_xlim(time[0] - half, time[-1] + half)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("N-MPJPE per frame (mm)")
    from matplotlib.lines import Line2D

    overlay = [Line2D([], [], color=KEYPOINT_COLOUR, lw=2.0, marker="o", ms=4, label="MediaPipe keypoints (above)"),
               Line2D([], [], color=TRUTH_COLOUR, lw=0, marker="o", ms=3.5, label="true joints (above)")]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, *overlay], loc="upper center", ncol=3, fontsize=7.5, framealpha=0.9)
    ax.grid(True, alpha=0.3)
    job = str(scores["job"][index])
    scored = int(np.asarray(scores["scored"])[index]) if "scored" in scores else int((~unscored).sum())
    fig.suptitle(f"{job}: camera pitched {float(truth['pitch']):.0f}° down, field of view "
                 f"{float(truth['hfov']):.0f}°, {scored} of {t} frames scored", fontsize=10)
    return fig


def write_png(fig, path: str | Path, *, max_bytes: int = MAX_BYTES) -> int:
    """Save ``fig`` at its own dpi as a PNG at ``path`` (atomically) and close it; over
    ``max_bytes``, the image is reduced to 256 colours (the overlay keeps its colours: they are
    among the most frequent). Returns the bytes written."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from pose2rig.io.atomic import atomic_path

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    plt.close(fig)
    data = buf.getvalue()
    if len(data) > max_bytes:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        out = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out, format="png", optimize=True)
        data = out.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return len(data)


# ---------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scores", type=Path, help="the npz of render_eval.py score --save")
    ap.add_argument("--cache", type=Path, default=render_eval.DEFAULT_CACHE, help="the render cache that run used")
    ap.add_argument("--clip", default=None, help="index or job name (default: the typical clip)")
    ap.add_argument("--frames", type=int, default=SHOWN, help="how many frames to show")
    ap.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    scores = load_scores(args.scores)
    index = pick_clip(scores, args.clip)
    key = str(scores["key"][index])
    folder = args.cache.expanduser()
    rendered = render_eval.RenderedClip(key, folder / f"{key}.mp4", folder / f"{key}.npz", rendered=False)
    if not (rendered.video.is_file() and rendered.truth.is_file()):
        raise SystemExit(f"error: clip {index} ({scores['job'][index]}): no render {key} in {folder}")
    keypoints = render_eval.detect_rendered(rendered)
    diff = float(scores["lifter/n_mpjpe"][index] - scores["mediapipe world/n_mpjpe"][index])
    size = write_png(figure(scores, index, rendered, keypoints, shown=args.frames), args.output)
    print(f"clip {index} {scores['job'][index]} (lifter - MediaPipe N-MPJPE {diff:+.1f} mm; "
          f"{int(scores['scored'][index])}/{int(scores['frames'][index])} frames scored): "
          f"wrote {args.output} ({size / 1000:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
