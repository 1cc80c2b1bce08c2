"""Clean-up benchmark (issue 12): seeded corruption of clean mocap, and its motion metrics.

    .venv/bin/python bench/cleanup.py                      # all Bandai-1 clips (the report)
    .venv/bin/python bench/cleanup.py --mocap ../shared/data/mocap/cmu   # the tuning set
    .venv/bin/python bench/cleanup.py --write-docs         # also docs/BENCHMARKS.md's section

Each clip is read as Human3.6M-17 world joints (``load_bvh_as_h36m17``), resampled to 30 fps and
corrupted by :func:`corrupt` with the fixed :data:`SPEC` (written before any tuning; do not change
it to suit a method) and a seed per clip (``--seed`` plus the CRC-32 of the clip's name). Every
method in :data:`METHODS` maps the corrupted joints to cleaned joints; each is scored against the
clean mocap with :mod:`pose2rig.motion_metrics` (MPJPE over present frames, jitter, acceleration
error, foot sliding on the ground-truth contacts) and the clip means are averaged over clips.
Today :data:`METHODS` holds ``corrupted`` (the input itself) and foot locking alone; each
clean-up step and the full clean-up get a row there as they are built.

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
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose2rig.clean import fit_floor, foot_contacts, lock_feet, resample  # noqa: E402
from pose2rig.errors import Pose2RigError  # noqa: E402
from pose2rig.io.mocap import bvh_files, load_bvh_as_h36m17  # noqa: E402
from pose2rig.motion_metrics import accel_error, foot_sliding, ground_contacts, jitter, world_mpjpe  # noqa: E402
from pose2rig.skeletons import H36M17  # noqa: E402

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
    "foot locking": foot_locking,
    "foot locking, legs only": lambda joints, fps: foot_locking(joints, fps, root_follow=0.0),
}
"""name -> method: corrupted ``(T, 17, 3)`` joints (NaN on dropped frames) at ``fps`` -> cleaned
joints of the same shape. Each clean-up step alone and the full clean-up get a row here."""


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


def run(files: list[Path], *, seed: int = 0, methods: dict[str, Method] = METHODS) -> dict[str, object]:
    """Corrupt and score every clip. Returns ``{"clips", "frames", "rows": {name: figures},
    "rates": fractions}``: figures are means over clips (NaNs left out), the realised corruption
    rates are pooled over all clips (fractions of frames; sliding: of contact runs)."""
    per: dict[str, list[dict[str, float]]] = {"clean mocap": [], **{m: [] for m in methods}}
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

    def means(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}

    return {"clips": len(files), "frames": frames, "rows": {k: means(v) for k, v in per.items()},
            "rates": {"dropped": realised["dropped"] / realised["frames"],
                      "swapped": realised["swapped"] / realised["frames"],
                      "spiked": realised["spiked"] / realised["frames"],
                      "slid_runs": realised["slid_runs"] / max(realised["contact_runs"], 1)}}


def format_table(result: dict[str, object]) -> str:
    lines = [
        "| input | MPJPE, present frames (mm) | jitter (10 m/s^3) | acceleration error (m/s^2) | foot sliding (mm) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['mpjpe_mm']:.1f} | {r['jitter']:.1f} | {r['accel']:.2f} | {r['sliding_mm']:.2f} |")
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
        "height, under 20 cm/s horizontally). The clean-up steps get their rows here as they are "
        "built (`METHODS` in the script).",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mocap", type=Path, nargs="+", default=[BANDAI], help="BVH files or folders (Bandai-1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="the first N clips only")
    ap.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS.name}")
    args = ap.parse_args(argv)
    try:
        files = bvh_files(tuple(args.mocap))[: args.limit]
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
