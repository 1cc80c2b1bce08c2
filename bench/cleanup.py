"""Clean-up benchmark (issue 12): seeded corruption of clean mocap, and its motion metrics.

    .venv/bin/python bench/cleanup.py                      # all Bandai-1 clips (the report)
    .venv/bin/python bench/cleanup.py --mocap ../shared/data/mocap/cmu   # the tuning set
    .venv/bin/python bench/cleanup.py --write-docs         # also docs/BENCHMARKS.md's section
    .venv/bin/python bench/cleanup.py --bvh                # `pose2rig clean` on corrupted BVHs (corrupt_bvh)

Each clip is read as Human3.6M-17 world joints (``load_bvh_as_h36m17``), resampled to 30 fps and
corrupted by :func:`corrupt` with the fixed :data:`SPEC` (written before any tuning; do not change
it to suit a method) and a seed per clip (``--seed`` plus the CRC-32 of the clip's name). Every
method in :data:`METHODS` maps the corrupted joints to cleaned joints; each is scored against the
clean mocap with :mod:`pose2rig.motion_metrics` (MPJPE over present frames, jitter, acceleration
error, foot sliding on the ground-truth contacts) and the clip means are averaged over clips.
:data:`METHODS` holds ``corrupted`` (the input itself) and foot locking with the root following
each planted foot (``root_follow=1``, not the default: it shows why); :data:`CLEANUPS` runs
:func:`pose2rig.clean.clean_motion` with each step alone and with the full clean-up (``convert``'s
defaults), scoring also its contact F1 and the swapped frames it repaired. ``--plausibility``
scores the lifter's discriminator on the corrupted frames (ROC AUC); ``--bvh`` corrupts BVH files
the same way and runs ``pose2rig clean`` on them.

The corruption, on ``(T, 17, 3)`` metres at 30 fps, Y up, in this order:

1. feet sliding: each ground-truth contact run of each ankle (the rule of
   :func:`pose2rig.motion_metrics.ground_contacts`) slides with probability 0.3, i.e. 30% of the
   contacts (short clips have few runs, so a per-clip exact count would round away), sliding horizontally at
   20 cm/s in a random direction from the run's first frame to its last; after the run the offset
   returns linearly to zero over the swing (at most 0.5 s, ending before the foot's next contact).
   The ankle takes the offset, its knee half of it (the hip stays).
2. frames dropped: 5% of the frames, in runs of 1 to 10 frames, set to NaN.
3. left/right swaps: 2% of the frames, in runs of 1 to 5 frames, not on dropped frames; each run
   swaps the whole body (every left/right pair: hips, knees, ankles, shoulders, elbows, wrists),
   the arms (elbows and wrists: the torso stays right) or the legs (knees and ankles), at random.
4. spikes: 1% of the frames (not dropped, not swapped), one random joint moved 100 mm in a random
   3D direction.
5. jitter: Gaussian noise of sigma 15 mm on every axis of every joint of every frame.

Runs of one kind never touch each other (so each run is one event). Frame counts of steps 2-4
are exact: ``round(rate * T)`` frames per kind.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose2rig.clean import (  # noqa: E402  # after sys.path setup
    CleanResult,
    clean_motion,
    fit_floor,
    foot_contacts,
    lock_feet,
    resample,
)
from pose2rig.clean.floor import foot_points  # noqa: E402  # after sys.path setup
from pose2rig.errors import Pose2RigError  # noqa: E402  # after sys.path setup
from pose2rig.io.bvh import (  # noqa: E402  # after sys.path setup
    BvhMotion,
    detect_unit_scale,
    read_bvh,
    write_bvh,
)
from pose2rig.io.mocap import bvh_files, load_bvh_as_h36m17  # noqa: E402  # after sys.path setup
from pose2rig.motion_metrics import (  # noqa: E402  # after sys.path setup
    accel_error,
    contact_scores,
    foot_sliding,
    ground_contacts,
    jitter,
    world_mpjpe,
)
from pose2rig.options import CleanOptions, ConvertOptions  # noqa: E402  # after sys.path setup
from pose2rig.skeletons import H36M17  # noqa: E402  # after sys.path setup

FPS = 30.0
DATA = REPO.parent / "shared" / "data" / "mocap"
BANDAI = DATA / "bandai1"
CMU = DATA / "cmu"
DOCS = REPO / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- cleanup-bench:begin -->"
END = "<!-- cleanup-bench:end -->"
SECTION_TITLE = "## Clean-up benchmark (issue 12): the corruption and its metrics"
MACHINE = "2 vCPUs AMD EPYC"
DATE = "2026-12-07"

_J = {name: i for i, name in enumerate(H36M17.joint_names)}
FEET = (_J["right_ankle"], _J["left_ankle"])
"""the foot points of Human3.6M-17 (it has no toes): right ankle, left ankle"""
KNEES = (_J["right_knee"], _J["left_knee"])


def _pairs(*names: str) -> tuple[tuple[int, int], ...]:
    return tuple((_J[f"left_{n}"], _J[f"right_{n}"]) for n in names)


SWAP_KINDS: dict[int, tuple[str, tuple[tuple[int, int], ...]]] = {
    1: ("body", _pairs("hip", "knee", "ankle", "shoulder", "elbow", "wrist")),
    2: ("arms", _pairs("elbow", "wrist")),
    3: ("legs", _pairs("knee", "ankle")),
}
"""swap code -> (name, the left/right joint pairs exchanged); code 0 is no swap"""


@dataclass(frozen=True)
class CorruptionSpec:
    """The corruption's parameters (issue 12), fixed before any tuning."""

    jitter_sigma: float = 0.015  # metres, per axis, per joint
    slide_speed: float = 0.20  # metres per second
    slide_fraction: float = 0.30  # of the contact runs of each foot
    slide_return_s: float = 0.5  # at most, back to zero after a sliding run
    drop_rate: float = 0.05
    drop_run: tuple[int, int] = (1, 10)
    swap_rate: float = 0.02
    swap_run: tuple[int, int] = (1, 5)
    spike_rate: float = 0.01
    spike_size: float = 0.100  # metres


SPEC = CorruptionSpec()


@dataclass(frozen=True)
class Corrupted:
    """A corrupted clip and the ground truth of what was done to it (``T`` frames, ``J`` joints).

    Attributes:
        joints: ``(T, J, 3)`` float64 metres, NaN on dropped frames.
        contacts: ``(T, 2)`` bool, the clean motion's ground contacts of :data:`FEET`.
        slid: ``(T, 2)`` bool, the contact frames of each foot that slide (whole contact runs).
        slide_offset: ``(T, 2, 3)`` metres added to each ankle (half of it to the knee); nonzero
            on sliding frames and on the return after them.
        dropped: ``(T,)`` bool, frames set to NaN.
        swapped: ``(T,)`` int8, 0 or the :data:`SWAP_KINDS` code of the swap on that frame.
        spiked: ``(T,)`` bool, frames with a spike.
        spike_joint: ``(T,)`` int, the spiked joint (-1 where none).
        spike: ``(T, 3)`` metres added to that joint (0 where none).
        noise: ``(T, J, 3)`` metres of jitter added to every frame (also under dropped ones).
    """

    joints: np.ndarray
    contacts: np.ndarray
    slid: np.ndarray
    slide_offset: np.ndarray
    dropped: np.ndarray
    swapped: np.ndarray
    spiked: np.ndarray
    spike_joint: np.ndarray
    spike: np.ndarray
    noise: np.ndarray


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D bool array."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _place_runs(rng: np.random.Generator, free: np.ndarray, total: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Runs of ``lo..hi`` frames (the last one cut to fit) covering exactly ``total`` free frames,
    apart from each other by at least one frame. Raises when the clip has no room."""
    n = free.size
    taken = np.zeros(n, dtype=bool)
    runs: list[tuple[int, int]] = []
    placed = 0
    for _ in range(100_000):
        if placed >= total:
            return sorted(runs)
        length = min(int(rng.integers(lo, hi + 1)), total - placed)
        start = int(rng.integers(0, n - length + 1))
        end = start + length
        if not free[start:end].all() or taken[max(start - 1, 0):end + 1].any():
            continue
        taken[start:end] = True
        runs.append((start, end))
        placed += length
    raise Pose2RigError(f"corrupt: no room for {total} frames in runs of {lo} to {hi} in a clip of {n} frames")


def _slide(contacts: np.ndarray, rng: np.random.Generator, spec: CorruptionSpec, fps: float
           ) -> tuple[np.ndarray, np.ndarray]:
    t, k = contacts.shape
    offset = np.zeros((t, k, 3))
    slid = np.zeros((t, k), dtype=bool)
    back_max = int(round(spec.slide_return_s * fps))
    for foot in range(k):
        runs = _runs(contacts[:, foot])
        chosen = np.flatnonzero(rng.random(len(runs)) < spec.slide_fraction)
        for i in chosen.tolist():
            s, e = runs[i]
            angle = rng.uniform(0.0, 2.0 * np.pi)
            direction = np.array([np.cos(angle), 0.0, np.sin(angle)])
            dist = spec.slide_speed * np.arange(e - s) / fps
            offset[s:e, foot] = dist[:, None] * direction
            slid[s:e, foot] = True
            next_start = runs[i + 1][0] if i + 1 < len(runs) else t
            back = min(back_max, next_start - e)
            if back > 0:  # linear back to zero, reaching it on the last swing frame
                offset[e:e + back, foot] = (dist[-1] * (1.0 - np.arange(1, back + 1) / back))[:, None] * direction
    return offset, slid


def corrupt(clean: np.ndarray, fps: float = FPS, *, seed: int, spec: CorruptionSpec = SPEC) -> Corrupted:
    """Corrupt clean Human3.6M-17 joints ``(T, 17, 3)`` metres (Y up) at ``fps`` (see the module
    doc); the same ``seed`` gives the same result. Returns the corrupted joints with their labels."""
    x = np.asarray(clean, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (len(H36M17.joint_names), 3):
        raise Pose2RigError(f"corrupt: expected Human3.6M-17 joints (T, 17, 3), got {x.shape}")
    if not np.isfinite(x).all():
        raise Pose2RigError("corrupt: expected clean joints without NaN")
    rng = np.random.default_rng(seed)
    t = x.shape[0]
    contacts = ground_contacts(x[:, FEET], fps)

    slide_offset, slid = _slide(contacts, rng, spec, fps)
    out = x.copy()
    out[:, FEET] += slide_offset
    out[:, KNEES] += 0.5 * slide_offset

    dropped = np.zeros(t, dtype=bool)
    for s, e in _place_runs(rng, np.ones(t, bool), int(round(spec.drop_rate * t)), *spec.drop_run):
        dropped[s:e] = True

    swapped = np.zeros(t, dtype=np.int8)
    for s, e in _place_runs(rng, ~dropped, int(round(spec.swap_rate * t)), *spec.swap_run):
        code = int(rng.integers(1, len(SWAP_KINDS) + 1))
        swapped[s:e] = code
        for left, right in SWAP_KINDS[code][1]:
            out[s:e, [left, right]] = out[s:e, [right, left]]

    n_spikes = int(round(spec.spike_rate * t))
    spiked = np.zeros(t, dtype=bool)
    spike_joint = np.full(t, -1)
    spike = np.zeros((t, 3))
    candidates = np.flatnonzero(~dropped & (swapped == 0))
    if n_spikes > candidates.size:
        raise Pose2RigError(f"corrupt: no room for {n_spikes} spikes in a clip of {t} frames")
    frames = np.sort(rng.choice(candidates, size=n_spikes, replace=False))
    spiked[frames] = True
    spike_joint[frames] = rng.integers(0, x.shape[1], size=n_spikes)
    direction = rng.normal(size=(n_spikes, 3))
    spike[frames] = spec.spike_size * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    out[frames, spike_joint[frames]] += spike[frames]

    noise = rng.normal(0.0, spec.jitter_sigma, size=x.shape)
    out += noise
    out[dropped] = np.nan
    return Corrupted(joints=out, contacts=contacts, slid=slid, slide_offset=slide_offset, dropped=dropped,
                     swapped=swapped, spiked=spiked, spike_joint=spike_joint, spike=spike, noise=noise)


def foot_locking(joints: np.ndarray, fps: float, root_follow: float = 1.0) -> np.ndarray:
    """Foot locking alone: the floor and contacts from the corrupted joints themselves (no labels),
    then :func:`pose2rig.clean.lock_feet` (frames with NaN stay NaN). ``root_follow=0`` leaves the
    root's path alone (the corruption slides the feet only, the hips stay)."""
    floor = fit_floor(joints, H36M17, fps=fps)
    contacts = foot_contacts(joints, H36M17, fps, floor)
    return lock_feet(joints, H36M17, fps, contacts, root_follow=root_follow)


Method = Callable[[np.ndarray, float], np.ndarray]
METHODS: dict[str, Method] = {
    "corrupted": lambda joints, fps: joints,
    "foot locking, root follows each planted foot (root_follow=1)": foot_locking,
}
"""name -> method: corrupted ``(T, 17, 3)`` joints (NaN on dropped frames) at ``fps`` -> cleaned
joints of the same shape. Each clean-up step alone and the full clean-up get a row here."""


SWITCHES = ("swaps", "outliers", "fill_gaps", "bone_lengths", "floor", "foot_lock")
"""The clean-up's on/off steps (fields of :class:`pose2rig.options.CleanOptions`); smoothing is
switched by ``smooth="none"``."""


def only(step: str) -> CleanOptions:
    """The clean-up with one step alone (``"smooth"`` or one of :data:`SWITCHES`)."""
    return CleanOptions(smooth="one_euro" if step == "smooth" else "none",
                        **{name: name == step for name in SWITCHES})


CLEANUPS: dict[str, CleanOptions] = {
    **{f"{label} alone": only(step) for step, label in (
        ("swaps", "swap repair"), ("outliers", "outlier repair"), ("fill_gaps", "gap filling"),
        ("smooth", "smoothing"), ("bone_lengths", "bone lengths"), ("floor", "floor"),
        ("foot_lock", "foot locking (+floor)"))},
    "full clean-up": CleanOptions(),
}
"""name -> the options of :func:`pose2rig.clean.clean_motion` for a row of the table: each step
alone and the full clean-up (the defaults of ``convert``). Foot locking needs a floor: alone it
fits one for its contacts without levelling the joints."""

_LIFTER = None


def clean_up(joints: np.ndarray, fps: float, options: CleanOptions) -> CleanResult:
    """:func:`pose2rig.clean.clean_motion` on corrupted Human3.6M-17 joints, scored for
    plausibility by the bundled lifter's discriminator when the outlier step runs (as
    ``convert`` does)."""
    global _LIFTER
    scores = None
    if options.outliers:
        from pose2rig.lift import load_lifter
        from pose2rig.lift.plausibility import plausibility

        _LIFTER = _LIFTER or load_lifter()
        scores = plausibility(joints, _LIFTER)
    return clean_motion(joints, H36M17, fps, options, scores=scores)


def in_input_frame(res: CleanResult) -> np.ndarray:
    """The cleaned joints mapped back into the frame the clean-up was given (undoing the floor's
    levelling), so they are scored against the truth in its own frame."""
    m = res.transform
    return (res.joints - m[:3, 3]) @ m[:3, :3]


def load_clip(path: Path) -> np.ndarray:
    """A BVH file as ``(T, 17, 3)`` float64 world joints at 30 fps."""
    seq = resample(load_bvh_as_h36m17(path), fps=FPS)
    return np.asarray(seq.joints, dtype=np.float64)


def clip_seed(path: Path, seed: int) -> int:
    return seed + zlib.crc32(path.stem.encode())


def score(cleaned: np.ndarray, clean: np.ndarray, contacts: np.ndarray, fps: float = FPS) -> dict[str, float]:
    """The benchmark's figures of ``cleaned`` against ``clean`` (both ``(T, 17, 3)``)."""
    try:
        sliding = foot_sliding(cleaned[:, FEET], contacts, fps)
    except Pose2RigError:  # no contact step left to measure on this clip
        sliding = float("nan")
    return {
        "mpjpe_mm": world_mpjpe(cleaned, clean),
        "jitter": jitter(cleaned, fps),
        "accel": accel_error(cleaned, clean, fps),
        "sliding_mm": sliding,
    }


def counts(c: Corrupted) -> dict[str, int]:
    """The realised corruption: frames of each kind, and the ankles' contact runs (all, sliding)."""
    runs = [(foot, s) for foot in range(c.contacts.shape[1]) for s, _ in _runs(c.contacts[:, foot])]
    return {
        "frames": int(c.dropped.size),
        "dropped": int(c.dropped.sum()),
        "swapped": int((c.swapped > 0).sum()),
        "spiked": int(c.spiked.sum()),
        "contact_runs": len(runs),
        "slid_runs": int(sum(c.slid[s, foot] for foot, s in runs)),
    }


def cleanup_figures(res: CleanResult, c: Corrupted) -> dict[str, float]:
    """What a clean-up found against the corruption's labels: contact F1 of its ankle contacts
    against the ground-truth rule on the clean mocap, and the fraction of swapped frames that it
    swapped back (NaN where the step did not run)."""
    out = {"contact_f1": float("nan"), "swaps_repaired": float("nan")}
    if res.contacts is not None:
        names = [f.name for f in foot_points(H36M17)]
        cols = [names.index(H36M17.joint_names[j]) for j in FEET]
        pred, truth = res.contacts.contacts[:, cols], c.contacts
        out["contact_f1"] = contact_scores(pred, truth)["f1"]
        out["_tp"], out["_fp"], out["_fn"] = (float(np.sum(pred & truth)), float(np.sum(pred & ~truth)),
                                             float(np.sum(~pred & truth)))
    swapped = c.swapped > 0
    if res.swaps is not None and swapped.any():
        out["swaps_repaired"] = float(res.swaps.flipped.any(axis=1)[swapped].mean())
    return out


def run(files: list[Path], *, seed: int = 0, methods: dict[str, Method] = METHODS,
        cleanups: dict[str, CleanOptions] = CLEANUPS) -> dict[str, object]:
    """Corrupt and score every clip. Returns ``{"clips", "frames", "rows": {name: figures},
    "rates": fractions}``: figures are means over clips (NaNs left out), the realised corruption
    rates are pooled over all clips (fractions of frames; sliding: of contact runs). Rows: the
    clean mocap, each of ``methods``, each of ``cleanups`` (with contact F1 and swaps repaired)."""
    per: dict[str, list[dict[str, float]]] = {"clean mocap": [], **{m: [] for m in methods},
                                              **{m: [] for m in cleanups}}
    realised = {"frames": 0, "dropped": 0, "swapped": 0, "spiked": 0, "contact_runs": 0, "slid_runs": 0}
    frames = 0
    for path in files:
        clean = load_clip(path)
        c = corrupt(clean, FPS, seed=clip_seed(path, seed))
        frames += clean.shape[0]
        for k, v in counts(c).items():
            realised[k] += v
        per["clean mocap"].append(score(clean, clean, c.contacts))
        for name, method in methods.items():
            per[name].append(score(method(c.joints.copy(), FPS), clean, c.contacts))
        for name, options in cleanups.items():
            res = clean_up(c.joints.copy(), FPS, options)
            per[name].append({**score(in_input_frame(res), clean, c.contacts), **cleanup_figures(res, c)})

    def means(rows: list[dict[str, float]]) -> dict[str, float]:
        with warnings.catch_warnings():  # a column a row never fills is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out = {k: float(np.nanmean([r.get(k, np.nan) for r in rows])) for k in rows[0] if not k.startswith("_")}
        if "_tp" in rows[0]:  # contact F1 pooled over every frame of every clip
            tp, fp, fn = (sum(r[k] for r in rows) for k in ("_tp", "_fp", "_fn"))
            out["contact_f1_pooled"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        return out

    return {"clips": len(files), "frames": frames, "rows": {k: means(v) for k, v in per.items()},
            "rates": {"dropped": realised["dropped"] / realised["frames"],
                      "swapped": realised["swapped"] / realised["frames"],
                      "spiked": realised["spiked"] / realised["frames"],
                      "slid_runs": realised["slid_runs"] / max(realised["contact_runs"], 1)}}


def format_table(result: dict[str, object]) -> str:
    lines = [
        "| input | MPJPE, present frames (mm) | jitter (10 m/s^3) | acceleration error (m/s^2) "
        "| foot sliding (mm) | contact F1, pooled (mean over clips) | swapped frames repaired |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def opt(v: float, fmt: str) -> str:
        return "-" if not np.isfinite(v) else format(v, fmt)

    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['mpjpe_mm']:.1f} | {r['jitter']:.1f} | {r['accel']:.2f} | {r['sliding_mm']:.2f} "
                     f"| {opt(r.get('contact_f1_pooled', np.nan), '.3f')} ({opt(r.get('contact_f1', np.nan), '.3f')}) "
                     f"| {opt(100 * r.get('swaps_repaired', np.nan), '.1f')}% |"
                     .replace("| -% |", "| - |").replace("| - (-) |", "| - |"))
    return "\n".join(lines)


def format_rates(result: dict[str, object]) -> str:
    r = result["rates"]
    return (f"Realised corruption (pooled over clips): {100 * r['dropped']:.2f}% of frames dropped, "
            f"{100 * r['swapped']:.2f}% swapped, {100 * r['spiked']:.2f}% spiked, "
            f"{100 * r['slid_runs']:.1f}% of the ankles' contact runs sliding.")


def docs_body(result: dict[str, object], command: str) -> str:
    wrap = textwrap.TextWrapper(width=100, break_long_words=False, break_on_hyphens=False)
    return "\n".join(wrap.fill(line) if len(line) > 100 and not line.startswith("|") else line for line in [
        f"    {command}",
        "",
        f"All {result['clips']} Bandai-1 clips ({result['frames']} frames at 30 fps), Human3.6M-17 joints "
        f"from the BVH files; machine: {MACHINE}; {DATE}. The corruption is `bench/cleanup.py`'s "
        "fixed `SPEC`: per-axis Gaussian jitter of sigma 15 mm on every joint; the ankles sliding at "
        "20 cm/s (knees half) during 30% of their ground-truth contact runs; 5% of frames dropped "
        "(NaN) in runs of 1 to 10; left/right swaps (whole body, arms or legs) on 2% of frames in runs "
        "of 1 to 5; 100 mm spikes of one joint on 1% of frames; seeded per clip.",
        "",
        format_table(result),
        "",
        format_rates(result),
        "",
        "Figures are means over clips, each clip scored against its clean mocap with "
        "`pose2rig.motion_metrics`: MPJPE in the world frame without alignment over the frames the "
        "input has; jitter (third difference times fps^3) and acceleration error (second "
        "difference against the truth's, times fps^2) leave out every difference that touches a "
        "missing frame; foot sliding is the ankles' mean horizontal step in mm per frame over the "
        "steps where the clean mocap is in contact (within 5 cm of the ankle's 5th-percentile "
        "height, under 20 cm/s horizontally). Rows ending in 'alone' run `pose2rig.clean.clean_motion` "
        "with that step only (smoothing off unless it is the step; foot locking fits the floor for its "
        "contacts); 'full clean-up' is `convert`'s default clean-up. Contact F1: the clean-up's ankle "
        "contacts against the ground-truth rule; swapped frames repaired: of the injected swaps, "
        "those the swap repair flipped back.",
    ])


def jitter_only(c: Corrupted) -> np.ndarray:
    """``(T,)`` bool: frames whose only corruption is the jitter (not dropped, swapped, spiked, and
    no sliding offset on either ankle)."""
    return ~c.dropped & (c.swapped == 0) & ~c.spiked & ~np.any(c.slide_offset != 0, axis=(1, 2))


def plausibility_run(files: list[Path], *, seed: int = 0) -> dict[str, object]:
    """Score every corrupted clip's frames with the lifter's discriminator and see how the scores
    separate spike and swap frames (positives) from jitter-only frames (negatives).

    Two scores: the mean discriminator logit alone (:func:`pose2rig.lift.plausibility.plausibility`,
    the bundled lifter) and :func:`pose2rig.clean.outliers.plausibility_scores` (the logit and the
    temporal residual). ROC AUC (:func:`pose2rig.motion_metrics.roc_auc`, implausibility = minus
    the score) per clip, averaged over clips, and pooled over all frames of all clips; then the
    frames :func:`pose2rig.clean.outliers.implausible_frames` marks with its defaults on the
    combined score: positives marked (spikes, swaps), false marks on jitter-only frames, and marks
    on the clean mocap itself (scored the same way)."""
    from pose2rig.clean.outliers import implausible_frames, plausibility_scores
    from pose2rig.lift import load_lifter
    from pose2rig.lift.plausibility import plausibility
    from pose2rig.motion_metrics import roc_auc

    lifter = load_lifter()
    names = ("logit", "combined")
    per: dict[str, list[float]] = {n: [] for n in names}
    pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {n: ([], []) for n in names}
    marks = {"spiked": 0, "spiked_marked": 0, "swapped": 0, "swapped_marked": 0, "negatives": 0,
             "false_marks": 0, "clean_frames": 0, "clean_marks": 0}
    frames = 0
    for path in files:
        clean = load_clip(path)
        c = corrupt(clean, FPS, seed=clip_seed(path, seed))
        frames += clean.shape[0]
        logit = plausibility(c.joints, lifter)
        scores = {"logit": logit, "combined": plausibility_scores(logit, c.joints)}
        pos = c.spiked | (c.swapped > 0)
        neg = jitter_only(c)
        used = pos | neg
        for n in names:
            if pos.any() and neg.any():  # a short clip may slide an ankle on every frame
                per[n].append(roc_auc(-scores[n][used], pos[used]))
            pooled[n][0].append(-scores[n][used])
            pooled[n][1].append(pos[used])
        marked = implausible_frames(scores["combined"])
        marks["spiked"] += int(c.spiked.sum())
        marks["spiked_marked"] += int((marked & c.spiked).sum())
        marks["swapped"] += int((c.swapped > 0).sum())
        marks["swapped_marked"] += int((marked & (c.swapped > 0)).sum())
        marks["negatives"] += int(neg.sum())
        marks["false_marks"] += int((marked & neg).sum())
        marks["clean_frames"] += int(clean.shape[0])
        marks["clean_marks"] += int(implausible_frames(plausibility_scores(plausibility(clean, lifter), clean)).sum())
    auc = {n: {"mean": float(np.mean(per[n])), "min": float(np.min(per[n])),
               "pooled": roc_auc(np.concatenate(pooled[n][0]), np.concatenate(pooled[n][1]))} for n in names}
    return {"clips": len(files), "frames": frames, "auc": auc, "marks": marks, "clips_scored": len(per["logit"])}


def format_plausibility(result: dict[str, object]) -> str:
    m = result["marks"]
    lines = [
        f"{result['clips']} clips, {result['frames']} frames at 30 fps; positives: spike and swap frames, "
        "negatives: jitter-only frames (not dropped, swapped, spiked or sliding); the mean over clips "
        f"leaves out {result['clips'] - result['clips_scored']} clips that have no frame of one class.",
        "",
        "| score | ROC AUC, mean over clips | worst clip | pooled |",
        "| --- | ---: | ---: | ---: |",
    ]
    label = {"logit": "discriminator logit (mean over views)", "combined": "logit and temporal residual"}
    for n, a in result["auc"].items():
        lines.append(f"| {label[n]} | {a['mean']:.3f} | {a['min']:.3f} | {a['pooled']:.3f} |")
    lines += [
        "",
        f"implausible_frames (defaults, combined score) marks {m['spiked_marked']} of {m['spiked']} spiked "
        f"and {m['swapped_marked']} of {m['swapped']} swapped frames, and {m['false_marks']} of "
        f"{m['negatives']} jitter-only frames ({100 * m['false_marks'] / max(m['negatives'], 1):.1f}%); "
        f"on the clean mocap {m['clean_marks']} of {m['clean_frames']} frames "
        f"({100 * m['clean_marks'] / max(m['clean_frames'], 1):.1f}%).",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- BVH corruption
BVH_LEGS = (("right_thigh", "right_shin", "right_foot"), ("left_thigh", "left_shin", "left_foot"))
"""the leg roles of a BVH, in the order of :data:`FEET` (right, left): hip, knee, ankle joints"""
BVH_LIMBS = {"arms": ("left_upper_arm", "right_upper_arm"), "legs": ("left_thigh", "right_thigh")}
"""swap kind -> the roles of the joints whose subtrees (below them) a swap mirrors"""
BVH_SWAPS: dict[int, tuple[str, ...]] = {1: ("arms", "legs"), 2: ("arms",), 3: ("legs",)}
""":data:`SWAP_KINDS` code -> the limbs mirrored on a BVH"""


@dataclass(frozen=True)
class CorruptedBvh:
    """What :func:`corrupt_bvh` did to a BVH of ``T`` frames and ``J`` joints (metres, the file's
    axes, Y up; the labels of :class:`Corrupted` where they mean the same).

    Attributes:
        feet: BVH indices of the right and left foot joints (the ankles, as :data:`FEET`).
        contacts: ``(T, 2)`` bool, the clean file's ground contacts of ``feet``.
        slid: ``(T, 2)`` bool, the contact frames of each foot that slide (whole contact runs).
        slide_offset: ``(T, 2, 3)`` the offset asked of each ankle (two-bone IK realises it;
            a leg that cannot reach that far gets as near as it can).
        dropped: ``(T,)`` bool, frozen frames: each holds the channels of the frame before its run
            (after it, for a run at the start).
        swapped: ``(T,)`` int8, 0 or the :data:`SWAP_KINDS` code (body, arms, legs).
        spiked: ``(T,)`` bool; spike_joint ``(T,)`` the BVH joint whose target moved (-1 where
            none); spike ``(T, 3)`` how far it was moved.
        noise: ``(T, J, 3)`` jitter added to every joint's target.
        targets: ``(T, J, 3)`` the corrupted joint positions the rotations were solved for.
    """

    feet: tuple[int, int]
    contacts: np.ndarray
    slid: np.ndarray
    slide_offset: np.ndarray
    dropped: np.ndarray
    swapped: np.ndarray
    spiked: np.ndarray
    spike_joint: np.ndarray
    spike: np.ndarray
    noise: np.ndarray
    targets: np.ndarray


def _below(parents: tuple[int, ...], joint: int) -> list[int]:
    """The descendants of ``joint`` (not itself), parents first."""
    inside = {joint}
    for i, p in enumerate(parents):
        if p in inside:
            inside.add(i)
    return sorted(inside - {joint})


def _spike_joints(motion: BvhMotion, hips: int) -> np.ndarray:
    """Joints whose 100 mm move shows in the re-posed skeleton: the hips (their translation) and
    every joint at a fixed, non-zero offset from a parent with three rotation channels (the
    parent turns to follow it, :func:`pose2rig.retarget.repose.repose_bvh`)."""
    trans, _ = motion.local_transforms()
    rot3 = [sum(c.endswith("rotation") for c in ch) == 3 for ch in motion.channels]
    size = 1.0 + float(np.abs(trans).max())
    out = [hips]
    for i, p in enumerate(motion.parents):
        fixed = np.ptp(trans[:, i], axis=0).max() <= 1e-9 * size
        if p >= 0 and i != hips and rot3[p] and fixed and np.linalg.norm(trans[0, i]) > 1e-9 * size:
            out.append(i)
    return np.array(out)


def corrupt_bvh(motion: BvhMotion, fps: float | None = None, *, seed: int, spec: CorruptionSpec = SPEC
                ) -> tuple[BvhMotion, CorruptedBvh]:
    """The corruption of :func:`corrupt` applied to a BVH's rotations and root: the same seeded
    draws, rates and run lengths, on the world positions of the file's own joints (forward
    kinematics, metres), then solved back onto its fixed skeleton by
    :func:`pose2rig.retarget.repose.repose_bvh` (skeleton, channels, frame count and frame time
    kept). ``fps``: the file's frame rate (checked; default its own). In :func:`corrupt`'s order:

    1. sliding: the same contact runs slide (the ground-truth rule on the clean file's foot
       joints); each ankle is moved by the offset through analytic two-bone IK of its leg
       (:func:`pose2rig.clean.footlock.two_bone_ik`, hip fixed, knee bending as it did), the foot
       below it carried along rigidly;
    2. dropped frames: a BVH cannot hold NaN, so each dropped frame is frozen, holding the
       channels of the frame before its run, as a capture dropout gives (applied last, after the
       re-pose);
    3. swaps (body, arms or legs): the limbs below the upper arms and/or the thighs take the mirror
       image of the other side's positions, mirrored across the plane half-way between the two
       upper-arm (thigh) joints. Mirroring positions, not Euler angles, is what gives the mirror
       pose on every skeleton: Bandai's left bones lie along +X of their frames and the right
       ones along -X, its thighs sit apart along the hips' Y and its shoulders along the chest's
       Z, so negating angles would not mirror the pose;
    4. spikes: one joint (of :func:`_spike_joints`) moved 100 mm; its parent turns to follow it
       (a rotation kick of about 100 mm / bone length), its own rotation turns its children
       back (the hips: their translation);
    5. jitter: 15 mm per axis on every joint's target: the root's translation jitters by 15 mm
       and every bone turns toward a target 15 mm off, a random rotation of about
       15 mm / bone length radians about each axis across the bone (none about it); the targets
       are solved from the root down, so the jitter does not add up along the chains.

    Returns the corrupted motion and its labels. Raises :class:`Pose2RigError` for a skeleton
    without legs and arms found by name, a clip with NaN or too short for the runs.
    """
    from pose2rig.clean.footlock import two_bone_ik
    from pose2rig.retarget.repose import repose_bvh
    from pose2rig.skeletons.names import mirror_indices, require_bones

    rate = motion.fps if fps is None else float(fps)
    if not abs(rate - motion.fps) <= 0.01 * motion.fps:
        raise Pose2RigError(f"corrupt_bvh: fps {rate} is not the file's frame rate {motion.fps:.3f}")
    roles = require_bones(motion.names, ["hips", *(r for leg in BVH_LEGS for r in leg), *BVH_LIMBS["arms"]],
                          what="corrupt_bvh: the BVH")
    scale = detect_unit_scale(motion)
    x, _ = motion.forward_kinematics(scale=scale)
    t, j = x.shape[:2]
    rng = np.random.default_rng(seed)
    feet = (roles["right_foot"], roles["left_foot"])
    contacts = ground_contacts(x[:, feet], rate)

    slide_offset, slid = _slide(contacts, rng, spec, rate)
    out = x.copy()
    for k, (hip, knee, ankle) in enumerate(BVH_LEGS):
        h, n, a = roles[hip], roles[knee], roles[ankle]
        moved = np.flatnonzero(np.any(slide_offset[:, k] != 0, axis=-1))
        new_knee, new_ankle = two_bone_ik(x[moved, h], x[moved, n], x[moved, a],
                                          x[moved, a] + slide_offset[moved, k], x[moved, n])
        out[moved, n] = new_knee
        out[np.ix_(moved, [a, *_below(motion.parents, a)])] += (new_ankle - x[moved, a])[:, None]

    dropped = np.zeros(t, dtype=bool)
    drops = _place_runs(rng, np.ones(t, bool), int(round(spec.drop_rate * t)), *spec.drop_run)
    for s, e in drops:
        dropped[s:e] = True

    mirror = mirror_indices(motion.names)
    swapped = np.zeros(t, dtype=np.int8)
    for s, e in _place_runs(rng, ~dropped, int(round(spec.swap_rate * t)), *spec.swap_run):
        code = int(rng.integers(1, len(SWAP_KINDS) + 1))
        swapped[s:e] = code
        old = out[s:e].copy()
        for limb in BVH_SWAPS[code]:
            left, right = (roles[r] for r in BVH_LIMBS[limb])
            normal = old[:, left] - old[:, right]
            normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
            mid = 0.5 * (old[:, left] + old[:, right])
            for i in _below(motion.parents, left) + _below(motion.parents, right):
                p = old[:, mirror[i]]
                out[s:e, i] = p - 2.0 * np.sum((p - mid) * normal, axis=-1, keepdims=True) * normal

    n_spikes = int(round(spec.spike_rate * t))
    spiked = np.zeros(t, dtype=bool)
    spike_joint = np.full(t, -1)
    spike = np.zeros((t, 3))
    candidates = np.flatnonzero(~dropped & (swapped == 0))
    if n_spikes > candidates.size:
        raise Pose2RigError(f"corrupt_bvh: no room for {n_spikes} spikes in a clip of {t} frames")
    frames = np.sort(rng.choice(candidates, size=n_spikes, replace=False))
    joints = _spike_joints(motion, roles["hips"])
    spiked[frames] = True
    spike_joint[frames] = joints[rng.integers(0, joints.size, size=n_spikes)]
    direction = rng.normal(size=(n_spikes, 3))
    spike[frames] = spec.spike_size * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    out[frames, spike_joint[frames]] += spike[frames]

    noise = rng.normal(0.0, spec.jitter_sigma, size=x.shape)
    out += noise
    bad = repose_bvh(motion, out / scale)
    channels = bad.motion.copy()
    for s, e in drops:
        channels[s:e] = channels[s - 1] if s > 0 else channels[e]
    bad = BvhMotion(names=bad.names, parents=bad.parents, offsets=bad.offsets, channels=bad.channels,
                    end_sites=bad.end_sites, motion=channels, frame_time=bad.frame_time)
    return bad, CorruptedBvh(feet=feet, contacts=contacts, slid=slid, slide_offset=slide_offset, dropped=dropped,
                             swapped=swapped, spiked=spiked, spike_joint=spike_joint, spike=spike, noise=noise,
                             targets=out)


# ----------------------------------------------------------------------------- BVH bench (--bvh)
BVH_SECONDS = 20.0
"""each clip is cut to its first 20 s in ``--bvh`` mode, to bound the time"""


def bvh_clip(path: Path, seconds: float | None = BVH_SECONDS) -> BvhMotion:
    """A BVH file at 30 fps (every k-th frame of a file at k times 30 fps, e.g. CMU's 120 fps;
    other rates are kept), cut to its first ``seconds``."""
    m = read_bvh(path)
    k = int(round(m.fps / FPS))
    step = k if k > 1 and abs(m.fps - k * FPS) <= 0.01 * m.fps else 1
    n = m.num_frames if seconds is None else int(round(seconds * m.fps / step))
    return BvhMotion(m.names, m.parents, m.offsets, m.channels, m.end_sites, m.motion[::step][:n],
                     m.frame_time * step)


def bvh_feet(motion: BvhMotion, feet: tuple[int, int]) -> np.ndarray:
    """``(T, 2, 3)`` metres: the foot joints' world positions (forward kinematics)."""
    pos, _ = motion.forward_kinematics(scale=detect_unit_scale(motion))
    return pos[:, list(feet)]


def same_skeleton(a: BvhMotion, b: BvhMotion) -> bool:
    """Joint names, parents, offsets, channels and end sites identical."""
    return (a.names == b.names and a.parents == b.parents and a.channels == b.channels
            and np.array_equal(a.offsets, b.offsets) and set(a.end_sites) == set(b.end_sites)
            and all(np.array_equal(a.end_sites[k], b.end_sites[k]) for k in a.end_sites))


def clean_bvh_figures(clean: BvhMotion, bad_path: Path, out_path: Path, c: CorruptedBvh) -> dict[str, float]:
    """The figures of one clip once ``bad_path`` (the corrupted file) was cleaned into
    ``out_path``: the files as read back by :func:`pose2rig.io.bvh.read_bvh`."""
    bad, back = read_bvh(bad_path), read_bvh(out_path)
    fps = clean.fps

    def sliding(m: BvhMotion, contacts: np.ndarray = c.contacts) -> float:
        try:
            return foot_sliding(bvh_feet(m, c.feet), contacts, fps)
        except Pose2RigError:  # no contact step on this clip
            return float("nan")

    held = c.contacts & c.dropped[:, None]  # contact frames that the corruption froze
    slid = c.contacts & c.slid
    return {
        "same_skeleton": float(same_skeleton(bad, back)),
        "same_frames": float(bad.num_frames == back.num_frames == clean.num_frames),
        "same_frame_time": float(bad.frame_time == back.frame_time == clean.frame_time),
        "clean_mm": sliding(clean), "corrupted_mm": sliding(bad), "cleaned_mm": sliding(back),
        "corrupted_slid_mm": sliding(bad, slid), "cleaned_slid_mm": sliding(back, slid),
        "corrupted_other_mm": sliding(bad, c.contacts & ~c.slid & ~held),
        "cleaned_other_mm": sliding(back, c.contacts & ~c.slid & ~held),
    }


def bvh_run(files: list[Path], *, seed: int = 0, seconds: float | None = BVH_SECONDS,
            options: ConvertOptions | None = None) -> dict[str, object]:
    """Every clip (:func:`bvh_clip`) corrupted by :func:`corrupt_bvh`, written to a temporary
    folder, cleaned by :func:`pose2rig.pipeline.clean_file` (what ``pose2rig clean`` runs; default
    options) and read back. Returns ``{"clips", "frames", "rows": [per-clip figures], "means"}``:
    the figures of :func:`clean_bvh_figures`, means over clips (NaNs left out), the reduction of
    the mean sliding in %."""
    import tempfile

    from pose2rig.pipeline import clean_file

    rows = []
    for path in files:
        clean = bvh_clip(path, seconds)
        bad, c = corrupt_bvh(clean, seed=clip_seed(path, seed))
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / f"{path.stem}.bvh", Path(tmp) / f"{path.stem}_clean.bvh"
            write_bvh(src, bad)
            with warnings.catch_warnings(record=True) as caught:  # counted, not printed per clip
                warnings.simplefilter("always")
                clean_file(src, out, options, progress=False)
            rows.append({"clip": path.stem, "frames": clean.num_frames,
                         **clean_bvh_figures(clean, src, out, c),
                         "floor_level_fallback": float(any("taking a level floor" in str(w.message) for w in caught))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if k not in ("clip", "frames")}
    for part in ("", "_slid", "_other"):
        before, after = means[f"corrupted{part}_mm"], means[f"cleaned{part}_mm"]
        means[f"reduction{part}"] = 100.0 * (before - after) / before
    per_clip = [1.0 - r["cleaned_mm"] / r["corrupted_mm"] for r in rows if np.isfinite(r["corrupted_mm"])]
    means["median_clip_reduction"] = 100.0 * float(np.median(per_clip))
    means["clips_worse"] = float(sum(r < 0.0 for r in per_clip))
    means["clips_scored"] = float(len(per_clip))
    return {"clips": len(files), "frames": int(sum(r["frames"] for r in rows)), "rows": rows, "means": means}


def format_bvh(result: dict[str, object]) -> str:
    m = result["means"]
    n = result["clips"]
    lines = [
        f"{n} clips, {result['frames']} frames at 30 fps (first {BVH_SECONDS:g} s of each); the files read "
        f"back: skeleton identical in {round(m['same_skeleton'] * n)} of {n}, frame count in "
        f"{round(m['same_frames'] * n)}, frame time in {round(m['same_frame_time'] * n)}.",
        "",
        "| foot sliding (mm), ground-truth contacts | clean file | corrupted | `pose2rig clean` | reduction |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| all contact steps | {m['clean_mm']:.2f} | {m['corrupted_mm']:.2f} | {m['cleaned_mm']:.2f} "
        f"| {m['reduction']:.1f}% |",
        f"| steps in sliding runs | | {m['corrupted_slid_mm']:.2f} | {m['cleaned_slid_mm']:.2f} "
        f"| {m['reduction_slid']:.1f}% |",
        f"| the other steps, not frozen | | {m['corrupted_other_mm']:.2f} | {m['cleaned_other_mm']:.2f} "
        f"| {m['reduction_other']:.1f}% |",
        "",
        f"Reduction per clip: median {m['median_clip_reduction']:.1f}% over the {m['clips_scored']:.0f} clips with "
        f"a contact step; {m['clips_worse']:.0f} clips slide more after the clean-up than before. The "
        f"floor fit found too few slow foot samples and fell back to a level plane on "
        f"{round(m['floor_level_fallback'] * n)} clips.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mocap", type=Path, nargs="+", default=[BANDAI], help="BVH files or folders (Bandai-1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="the first N clips only")
    ap.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS.name}")
    ap.add_argument("--plausibility", action="store_true",
                    help="only score the lifter's plausibility on the corrupted clips (ROC AUC, marks)")
    ap.add_argument("--bvh", action="store_true",
                    help="only corrupt each BVH's rotations and root (corrupt_bvh), run `pose2rig clean` "
                         "on it and score the file read back")
    args = ap.parse_args(argv)
    try:
        files = bvh_files(tuple(args.mocap))[: args.limit]
        if args.plausibility:
            print(format_plausibility(plausibility_run(files, seed=args.seed)))
            return 0
        if args.bvh:
            print(format_bvh(bvh_run(files, seed=args.seed)))
            return 0
        result = run(files, seed=args.seed)
    except Pose2RigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(result))
    print()
    print(format_rates(result))
    if args.write_docs:
        from lifter_table import write_docs  # the one docs writer of the benches (imports torch)

        command = ".venv/bin/python bench/cleanup.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_docs(docs_body(result, command.strip()), DOCS, title=SECTION_TITLE, begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
