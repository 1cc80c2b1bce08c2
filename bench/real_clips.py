"""Real clips before and after the clean-up (issue 12): foot sliding, jitter and the root's speed.

    .venv/bin/python bench/real_clips.py                       # the clips in ../shared/data/video
    .venv/bin/python bench/real_clips.py --write-docs --figure docs/contacts.png
    .venv/bin/python bench/real_clips.py --variants before     # today's figures only

Each clip's 2D keypoints are detected once (:func:`pose2rig.detect.detect_video` with a cache
file ``<clip>.keypoints.npz`` under ``--cache``, default ``~/.cache/pose2rig-bench``), then
:func:`pose2rig.pipeline.convert` runs once per variant from that cache (passed as its
``keypoints`` where it takes them, else linked beside a temporary npz output, where ``convert``
looks for its cache) with the default options except:

- ``before``: every on/off switch of :class:`~pose2rig.options.CleanOptions` (its ``bool``
  fields: swap repair, gap filling, outliers, bone lengths, floor, foot locking, those that
  exist) off; smoothing and ``max_gap`` stay as they are. Before the clean-up was wired into
  ``convert`` (c8b5b31) there were none, and both variants were that day's ``convert``;
- ``after``: the defaults (``ConvertOptions()``).

Measured per clip and variant, on ``result.world_pose`` (Human3.6M-17, world frame, Y up):

- foot sliding (:func:`pose2rig.motion_metrics.foot_sliding`: the ankles' mean horizontal step
  per frame while in contact, mm at 30 fps) with the contacts of :func:`image_contacts`, taken
  from the 2D landmarks alone, so that they do not depend on the clean-up being measured;
- jitter (:func:`pose2rig.motion_metrics.jitter`, 10 m/s^3) over all 17 joints and over the two
  ankles;
- the root (pelvis) on the motion as the files show it (``hold_missing_frames``: frames with no
  pose hold the nearest seen one): its fastest frame-to-frame speed in m/s (the issue's bar:
  at most 10 m/s on every clip), its horizontal path length in m (the squats' bar: under 0.3 m,
  she squats in place), and on ``sports2d_demo`` its depth travel over frames 3-7 (the man
  stands on a box; depth along the camera's horizontal viewing direction);
- the feet's (the ankles' midpoint's) horizontal path in m on the same motion: a squat moves
  the hips back and forth over planted feet, so for standing still this is the figure a true
  motion keeps near zero;
- the frames with no pose seen (confidence 0 on every joint): held or interpolated frames, on
  which the root figures above say little.

The 2D contact rule (:func:`image_contacts`; MediaPipe's 33 landmarks, pixels, y down): per foot
its heel (29 left, 30 right) and toe (foot index, 31, 32). Let ``H`` be the person's image height,
the :data:`EXTENT_PERCENTILE` th percentile over the clip of the distance from the shoulders'
midpoint (11, 12) to the ankles' midpoint (27, 28). A foot is in contact at frame ``t`` when

1. still: the heel's and the toe's image speed are both under :data:`STILL_SPEED` ``H`` per
   second, a point's speed at ``t`` being the larger of its steps into and out of ``t`` (its
   step over the frame's time: the one step there is at the ends and next to a missing frame);
2. seen: both points are present with visibility at least :data:`MIN_VISIBILITY`;
3. low: its lower point (largest image y) is within :data:`LOW_TOLERANCE` ``H`` of the other
   foot's lower point or below it (it is the lower foot, or level with it), or within
   :data:`LOW_TOLERANCE` ``H`` of its own clip-low, the :data:`CLIP_LOW_PERCENTILE` th
   percentile of that point's image y over the clip;
4. long enough: frames passing 1-3 form a run of at least :data:`MIN_STILL_S` seconds and at
   least :data:`MIN_STILL_FRAMES` frames (shorter runs are dropped).

Convention:
    ``landmarks33 (T, 33, 3)``: x, y pixels (y down) and visibility, NaN where missing;
    ``timestamps (T,)`` seconds; contacts ``(T, 2)`` bool, columns (left, right) foot; world
    poses ``(T, 17, 3)`` metres, Y up, so "horizontal" is X and Z.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import math
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose2rig.errors import Pose2RigError  # noqa: E402  # after sys.path setup
from pose2rig.motion_metrics import foot_sliding, jitter  # noqa: E402  # after sys.path setup
from pose2rig.options import (  # noqa: E402  # after sys.path setup
    CleanOptions,
    ConvertOptions,
    Outputs,
)
from pose2rig.pipeline import hold_missing_frames  # noqa: E402  # after sys.path setup
from pose2rig.skeletons import H36M17  # noqa: E402  # after sys.path setup

VIDEO_DIR = REPO.parent / "shared" / "data" / "video"
CLIPS = ("sports2d_demo", "tfjs_pose_1", "tfjs_pose_squats")
CACHE = Path("~/.cache/pose2rig-bench")
DOCS = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- real-clips:begin -->"
END = "<!-- real-clips:end -->"
SECTION_TITLE = "## Real clips: clean-up before and after (issue 12)"
MACHINE = "2 vCPUs AMD EPYC (machine B)"

STILL_SPEED = 0.2
"""image speed (person heights ``H`` per second) under which a heel or toe is still"""
MIN_VISIBILITY = 0.5
"""MediaPipe visibility a heel or toe needs to count"""
LOW_TOLERANCE = 0.08
"""how far (in ``H``) above the other foot or its own clip-low a foot may be and still be low"""
CLIP_LOW_PERCENTILE = 95.0
"""a foot's clip-low: this percentile of its lower point's image y (y down) over the clip"""
EXTENT_PERCENTILE = 90.0
"""the person's image height ``H``: this percentile of the shoulder-to-ankle distance"""
MIN_STILL_S = 0.1
"""shortest contact (s)"""
MIN_STILL_FRAMES = 2
"""shortest contact (frames): a step needs a contact at both ends"""

FOOT_LANDMARKS = ((29, 31), (30, 32))
"""(heel, toe) of the left and the right foot in MediaPipe's 33 landmarks"""
ANKLES = (H36M17.index("left_ankle"), H36M17.index("right_ankle"))
PELVIS = H36M17.index("pelvis")
DEPTH_SPANS = {"sports2d_demo": (3, 7)}
"""clip -> (first, last) frame over which the pelvis's depth travel is reported"""


# ---------------------------------------------------------------- the 2D contact rule


def person_height(landmarks33: np.ndarray) -> float:
    """``H``: the :data:`EXTENT_PERCENTILE` th percentile over the clip of the image distance
    (pixels) from the shoulders' midpoint to the ankles' midpoint; raises when never seen."""
    lm = np.asarray(landmarks33, dtype=np.float64)
    shoulders = 0.5 * (lm[:, 11, :2] + lm[:, 12, :2])
    ankles = 0.5 * (lm[:, 27, :2] + lm[:, 28, :2])
    extent = np.linalg.norm(shoulders - ankles, axis=-1)
    extent = extent[np.isfinite(extent)]
    if extent.size == 0 or not np.percentile(extent, EXTENT_PERCENTILE) > 0:
        raise Pose2RigError("image_contacts: shoulders and ankles are never seen together")
    return float(np.percentile(extent, EXTENT_PERCENTILE))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in ``mask (T,)``."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _point_speed(xy: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """``(T,)`` image speed (pixels/s) of one point ``xy (T, 2)``: the larger of its steps into
    and out of each frame; NaN where it or both neighbours are missing."""
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1) / np.diff(timestamps)  # (T-1,)
    into = np.r_[np.nan, step]
    out = np.r_[step, np.nan]
    return np.fmax(into, out)  # NaN only where both are NaN


def image_contacts(landmarks33: np.ndarray, timestamps: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 2)`` bool contacts of the (left, right) foot from 2D landmarks alone (the rule of
    the module's doc; never the 3D output)."""
    lm = np.asarray(landmarks33, dtype=np.float64)
    ts = np.asarray(timestamps, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 3) or ts.shape != lm.shape[:1]:
        raise Pose2RigError(f"image_contacts: expected landmarks (T, 33, 3) and timestamps (T,), "
                            f"got {lm.shape} and {ts.shape}")
    t = lm.shape[0]
    out = np.zeros((t, 2), dtype=bool)
    if t < 2:
        return out
    h = person_height(lm)
    low_y = np.stack([np.fmax(lm[:, heel, 1], lm[:, toe, 1]) for heel, toe in FOOT_LANDMARKS], axis=1)
    min_frames = max(MIN_STILL_FRAMES, math.ceil(MIN_STILL_S * fps - 1e-9))
    for f, (heel, toe) in enumerate(FOOT_LANDMARKS):
        with np.errstate(invalid="ignore"):
            speed = np.fmax(_point_speed(lm[:, heel, :2], ts), _point_speed(lm[:, toe, :2], ts)) / h
            seen = np.all(np.isfinite(lm[:, [heel, toe], :2]), axis=(1, 2)) & (
                np.minimum(lm[:, heel, 2], lm[:, toe, 2]) >= MIN_VISIBILITY)
            still = seen & (speed < STILL_SPEED)
            y = low_y[:, f]
            clip_low = np.nanpercentile(y, CLIP_LOW_PERCENTILE) if np.isfinite(y).any() else np.nan
            low = (y >= low_y[:, 1 - f] - LOW_TOLERANCE * h) | (y >= clip_low - LOW_TOLERANCE * h)
        m = still & low
        for a, b in _runs(m):
            if b - a < min_frames:
                m[a:b] = False
        out[:, f] = m
    return out


# ---------------------------------------------------------------- measures of one result


@dataclass(frozen=True)
class Measures:
    """One clip and variant (see the module's doc for each figure)."""

    frames: int
    fps: float
    contact_share: float  # share of foot-frames in contact (2D rule)
    sliding_mm: float  # NaN when no contact step
    jitter: float  # 10 m/s^3, all joints
    jitter_ankles: float  # 10 m/s^3, the two ankles
    root_speed: float  # m/s, fastest frame-to-frame pelvis speed
    root_speed_frame: int  # the frame it arrives at
    root_path: float  # m, horizontal path length of the pelvis
    feet_path: float  # m, horizontal path length of the ankles' midpoint
    unseen: int  # frames with no pose seen (confidence 0 on every joint)
    depth_travel: float | None  # m, over DEPTH_SPANS' frames; None for other clips


def _nearest(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Index into sorted ``src`` of the time nearest each of ``dst``."""
    i = np.clip(np.searchsorted(src, dst), 1, max(len(src) - 1, 1))
    left = np.clip(i - 1, 0, len(src) - 1)
    right = np.clip(i, 0, len(src) - 1)
    return np.where(np.abs(src[left] - dst) <= np.abs(src[right] - dst), left, right)


def world_contacts(result: Any) -> np.ndarray:
    """The 2D-rule contacts ``(T, 2)`` on ``result.world_pose``'s frames (nearest keypoint
    frame in time, should the output have been resampled)."""
    kp = result.keypoints
    if kp.landmarks33 is None:
        raise Pose2RigError("the result has no MediaPipe landmarks: no 2D contacts")
    c = image_contacts(kp.landmarks33, kp.timestamps, kp.fps)
    world = result.world_pose
    if world.num_frames == kp.num_frames and np.allclose(world.timestamps, kp.timestamps):
        return c
    return c[_nearest(kp.timestamps, world.timestamps)]


def cleanup_contacts(result: Any) -> np.ndarray | None:
    """The clean-up's own contacts per (left, right) foot, ``(T, 2)`` bool (a foot is in
    contact when any of its points is), when the result carries them (``result.cleanup.contacts``:
    a :class:`~pose2rig.clean.FootContacts` over :func:`~pose2rig.clean.foot_points` of the
    world pose's skeleton); else None."""
    from pose2rig.clean import foot_points

    c = getattr(getattr(result, "cleanup", None), "contacts", None)
    if c is None:
        return None
    c = np.asarray(getattr(c, "contacts", c), dtype=bool)
    points = foot_points(result.world_pose.skeleton)
    if c.ndim != 2 or c.shape != (result.world_pose.num_frames, len(points)):
        return None
    sides = np.array([p.side for p in points])
    return np.stack([c[:, sides == side].any(axis=1) for side in ("left", "right")], axis=1)


def _horizontal_steps(p: np.ndarray) -> np.ndarray:
    d = np.diff(p, axis=0)
    return np.hypot(d[:, 0], d[:, 2])


def measure(result: Any, clip: str = "") -> Measures:
    """:class:`Measures` of a :class:`~pose2rig.pipeline.ConvertResult` (or anything with its
    ``keypoints``, ``world_pose`` and ``world_rotation``)."""
    world = result.world_pose
    x = world.joints.astype(np.float64)
    fps = float(world.fps)
    contacts = world_contacts(result)
    feet = x[:, list(ANKLES)]
    try:
        sliding = foot_sliding(feet, contacts, fps)
    except Pose2RigError:
        sliding = float("nan")
    held_joints = hold_missing_frames(world).joints.astype(np.float64)
    held = held_joints[:, PELVIS]
    dt = np.diff(world.timestamps)
    speed = np.linalg.norm(np.diff(held, axis=0), axis=-1) / dt
    k = int(np.nanargmax(speed)) if np.isfinite(speed).any() else -1
    depth = None
    if clip in DEPTH_SPANS:
        a, b = DEPTH_SPANS[clip]
        forward = np.asarray(result.world_rotation, dtype=np.float64) @ np.array([0.0, 0.0, 1.0])
        forward[1] = 0.0
        forward /= np.linalg.norm(forward)
        along = held[a:b + 1] @ forward
        depth = float(np.nanmax(along) - np.nanmin(along))
    return Measures(
        frames=world.num_frames,
        fps=fps,
        contact_share=float(contacts.mean()),
        sliding_mm=sliding,
        jitter=jitter(x, fps),
        jitter_ankles=jitter(feet, fps),
        root_speed=float(speed[k]) if k >= 0 else float("nan"),
        root_speed_frame=k + 1,
        root_path=float(np.nansum(_horizontal_steps(held))),
        feet_path=float(np.nansum(_horizontal_steps(held_joints[:, list(ANKLES)].mean(axis=1)))),
        unseen=int(np.sum(world.confidence.max(axis=1) == 0)),
        depth_travel=depth,
    )


# ---------------------------------------------------------------- running convert


def clean_switches() -> tuple[str, ...]:
    """The on/off switches of :class:`CleanOptions`: its fields whose default is a bool."""
    return tuple(f.name for f in dataclasses.fields(CleanOptions) if isinstance(f.default, bool))


def variants() -> dict[str, ConvertOptions]:
    """``before`` (every clean-up switch off) and ``after`` (the defaults)."""
    return {"before": ConvertOptions.from_flat(**{s: False for s in clean_switches()}),
            "after": ConvertOptions()}


def cache_file(video: Path, cache: Path) -> Path:
    return cache.expanduser() / f"{video.stem}.keypoints.npz"


def detect(video: Path, cache: Path, options: ConvertOptions) -> float:
    """Detect ``video``'s keypoints into its cache file (read back when there); seconds taken."""
    from pose2rig.detect import detect_video

    d = options.detect
    path = cache_file(video, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=path,
                 min_detection_confidence=d.min_detection_confidence, progress=False)
    return time.perf_counter() - t0


def convert_cached(video: Path, cache: Path, options: ConvertOptions) -> Any:
    """:func:`pose2rig.pipeline.convert` of ``video`` with ``options``, its detection read from
    the cache: given to ``convert`` as ``keypoints`` where it takes them, else linked as
    ``<clip>.keypoints.npz`` beside a temporary npz output, where ``convert`` looks for its cache."""
    import inspect

    from pose2rig.pipeline import convert, keypoints_cache_path

    if "keypoints" in inspect.signature(convert).parameters:
        from pose2rig.detect import detect_video

        d = options.detect
        kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=cache_file(video, cache),
                          min_detection_confidence=d.min_detection_confidence, progress=False)
        return convert(video, None, options, progress=False, keypoints=kp)
    options = options.replace(cache=True)
    with tempfile.TemporaryDirectory(prefix="real_clips_") as tmp:
        out = Path(tmp) / f"{video.stem}.npz"
        keypoints_cache_path(video, out.parent).symlink_to(cache_file(video, cache).resolve())
        return convert(video, Outputs(npz=out), options, progress=False)


def run(clips: list[Path], cache: Path, names: list[str]) -> tuple[dict, dict, dict]:
    """``(measures, results, timings)``: ``measures[clip][variant]``, the results, and the
    seconds of detection per clip."""
    opts = variants()
    measures: dict[str, dict[str, Measures]] = {}
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    for video in clips:
        timings[video.stem] = detect(video, cache, opts[names[0]])
        for name in names:
            r = convert_cached(video, cache, opts[name])
            if r.timings.get("decode+detect", 0.0) > 5.0:
                logging.warning("%s: convert did not read the detection cache", video.name)
            results.setdefault(video.stem, {})[name] = r
            measures.setdefault(video.stem, {})[name] = measure(r, video.stem)
    return measures, results, timings


# ---------------------------------------------------------------- table and docs


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, fmt)


def format_table(measures: dict[str, dict[str, Measures]]) -> str:
    lines = [
        "| clip | frames (fps) | variant | frames unseen | contact foot-frames (2D rule) "
        "| foot sliding (mm/frame at 30 fps) | jitter, all joints (10 m/s^3) | jitter, ankles (10 m/s^3) "
        "| max root speed (m/s, at frame) | pelvis horizontal path (m) | feet horizontal path (m) "
        "| pelvis depth travel, frames 3-7 (m) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clip, by_variant in measures.items():
        for name, m in by_variant.items():
            lines.append(
                f"| {clip} | {m.frames} ({m.fps:g}) | {name} | {m.unseen} | {100 * m.contact_share:.0f}% "
                f"| {_f(m.sliding_mm, '.1f')} | {_f(m.jitter, '.1f')} | {_f(m.jitter_ankles, '.1f')} "
                f"| {_f(m.root_speed, '.1f')} ({m.root_speed_frame}) | {_f(m.root_path, '.2f')} "
                f"| {_f(m.feet_path, '.2f')} | {_f(m.depth_travel, '.2f')} |"
            )
    return "\n".join(lines)


def docs_body(measures: dict[str, dict[str, Measures]], command: str, *, figure: str | None,
              date: str) -> str:
    import textwrap

    wrap = textwrap.TextWrapper(width=100, break_long_words=False, break_on_hyphens=False)
    switches = ", ".join(f"`{s}`" for s in clean_switches()) or "none yet"
    paragraphs = [
        f"    {command}",
        "",
        f"Machine: {MACHINE}; {date}. The clips of `../shared/data/video`, converted with the default "
        f"options (`after`) and with every clean-up switch of `CleanOptions` off (`before`: {switches}; "
        "smoothing and `max_gap` as they are). Contacts come from the 2D heel and toe landmarks alone "
        "(`image_contacts` in the script: both points still under 0.2 person heights per second for at "
        "least 0.1 s, seen, and the lower foot or near the foot's lowest image position), so the "
        "before and after are scored on the same frames. Foot sliding is the ankles' mean horizontal "
        "step during those contacts; jitter is the third difference times fps^3 "
        "(`pose2rig.motion_metrics`); the root figures are on the motion as the files show it "
        "(frames without a pose hold the nearest seen one); \"frames unseen\" counts the frames "
        "with confidence 0 on every joint (held or interpolated). The issue's bars: root speed at most "
        "10 m/s on every clip; the squats' pelvis path under 0.3 m; the demo's man on the box not "
        "travelling 2 m in depth over frames 3-7.",
        "",
        format_table(measures),
    ]
    if figure:
        paragraphs += ["", f"![The feet of one clip over time, before and after the clean-up]({figure})"]
    return "\n".join(wrap.fill(line) if len(line) > 100 and not line.startswith(("|", "    ", "![")) else line
                     for line in paragraphs)


# ---------------------------------------------------------------- the picture


def _shade(ax: Any, mask: np.ndarray, t: np.ndarray, *, color: str, label: str | None,
           band: tuple[float, float] = (0.0, 1.0)) -> None:
    half = 0.5 * (np.median(np.diff(t)) if len(t) > 1 else 1.0)
    for i, (a, b) in enumerate(_runs(mask)):
        ax.axvspan(t[a] - half, t[b - 1] + half, ymin=band[0], ymax=band[1], color=color, alpha=0.25,
                   lw=0, label=label if i == 0 else None)


def write_figure(path: Path, clip: str, results: dict[str, Any]) -> None:
    """``clip``'s ankles over time: height (world y) and horizontal speed, per foot, for each
    variant in ``results`` (name -> result), the 2D-rule contacts shaded (and the clean-up's own
    contacts as a band at the bottom of each panel where the result carries them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pose2rig.io.atomic import atomic_path

    styles = {"before": dict(color="0.45", lw=1.2, ls="--"), "after": dict(color="C0", lw=1.6)}
    fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True, sharey="row")
    any_result = next(iter(results.values()))
    contacts = world_contacts(any_result)
    t = any_result.world_pose.timestamps - any_result.world_pose.timestamps[0]
    speed_top = 0.0
    for f, side in enumerate(("left", "right")):
        h_ax, s_ax = axes[0, f], axes[1, f]
        for ax in (h_ax, s_ax):
            _shade(ax, contacts[:, f], t, color="C2", label="contact (2D rule)")
        for name, r in results.items():
            ankle = r.world_pose.joints[:, ANKLES[f]].astype(np.float64)
            tt = r.world_pose.timestamps - r.world_pose.timestamps[0]
            speed = np.r_[np.nan, _horizontal_steps(ankle) / np.diff(r.world_pose.timestamps)]
            style = styles.get(name, {})
            h_ax.plot(tt, ankle[:, 1], label=name, **style)
            s_ax.plot(tt, speed, label=name, **style)
            if np.isfinite(speed).any():
                speed_top = max(speed_top, float(np.nanpercentile(speed, 95)))
            own = cleanup_contacts(r)
            if own is not None and name == "after":
                for ax in (h_ax, s_ax):
                    _shade(ax, own[:, f], tt, color="C3", label="contact (clean-up)", band=(0.0, 0.06))
        h_ax.set_title(f"{side} ankle")
        s_ax.set_xlabel("time (s)")
    axes[0, 0].set_ylabel("height, world y (m)")
    axes[1, 0].set_ylabel("horizontal speed (m/s)")
    axes[1, 0].set_ylim(0, max(1.5 * speed_top, 0.5))
    axes[0, 0].legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.suptitle(f"{clip}: the ankles {' and '.join(results)} the clean-up (speeds above the axis clipped)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, nargs="+", default=[VIDEO_DIR / f"{c}.mp4" for c in CLIPS])
    ap.add_argument("--cache", type=Path, default=CACHE, help="folder of the keypoint caches")
    ap.add_argument("--variants", nargs="+", choices=("before", "after"), default=["before", "after"])
    ap.add_argument("--figure", type=Path, default=None, help="write the feet's picture (PNG) here")
    ap.add_argument("--figure-clip", default="tfjs_pose_squats", help="the clip the picture shows")
    ap.add_argument("--write-docs", action="store_true", help=f"replace the marked section of {DOCS.name}")
    ap.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    try:
        measures, results, timings = run(list(args.video), args.cache, list(args.variants))
        if args.figure is not None:
            if args.figure_clip not in results:
                raise Pose2RigError(f"--figure-clip {args.figure_clip} is not among the clips run")
            write_figure(args.figure, args.figure_clip, results[args.figure_clip])
    except Pose2RigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(measures))
    print()
    print("seconds: " + ", ".join(f"{c} detection (or cache) {s:.1f}" for c, s in timings.items())
          + f"; total {time.perf_counter() - t0:.1f}")
    if args.write_docs:
        from lifter_table import write_docs  # the one docs writer of the benches (imports torch)

        command = ".venv/bin/python bench/real_clips.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        figure = None
        if args.figure is not None:
            try:
                figure = args.figure.resolve().relative_to(args.docs.resolve().parent).as_posix()
            except ValueError:
                figure = None
        body = docs_body(measures, command.strip(), figure=figure, date=datetime.date.today().isoformat())
        write_docs(body, args.docs, title=SECTION_TITLE, begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
