"""One clip of a batch: a :class:`WorkUnit` in, a :class:`UnitResult` out, the outputs published
by one rename.

:func:`run_unit` runs in a worker process (local pool or Ray task). It writes every output of
the clip into ``OUTPUT_DIR/.pose2rig-tmp/<key>-<pid>-<attempt>/``, then publishes that folder as
``OUTPUT_DIR/<clip>/`` with one ``os.rename``: a clip is wholly there or not at all. It catches
every error of the clip and returns it in the result (one line, no traceback), so one bad clip
never stops the batch.

Convention:
    - A clip's folder ``<clip>`` is its input's path relative to ``INPUT_DIR`` without the
      suffix (``takes/a.mp4`` -> ``takes/a/``), holding ``<stem>.bvh``, ``<stem>.npz``,
      ``<stem>.fbx``, ``<stem>.glb``, ``thumb.jpg``, ``result.json`` (the :class:`UnitResult`)
      and ``key.txt`` (the clip's key): a clip is finished when ``key.txt`` holds its key.
    - A video goes through :func:`pose2rig.pipeline.convert`. A BVH goes through
      :func:`pose2rig.pipeline.clean_file` (out as BVH on its own skeleton); its ``npz`` holds
      the cleaned world joints of that skeleton, ``joints3d_world (T, J, 3)`` float32 metres,
      Y up, with ``joint_names``, ``parents``, ``fps``, ``timestamps`` and the clean-up's findings;
      ``fbx``/``glb`` come from :func:`pose2rig.pipeline.retarget_file` of the cleaned BVH onto
      the rig (the bundled character without one).
    - ``foot_sliding`` is in m/s: the clean-up's foot contacts on the cleaned world joints,
      measured by :func:`pose2rig.motion_metrics.foot_sliding`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError

__all__ = ["CRASH_ENV", "CRASH_POINTS", "TMP_DIR", "UnitResult", "WorkUnit", "WorkerLost", "clip_dir",
           "crash_point", "run_unit"]

log = logging.getLogger(__name__)

TMP_DIR = ".pose2rig-tmp"
"""Staging folder under ``OUTPUT_DIR``: per-clip work folders, removed at the start of a run."""
CRASH_ENV = "POSE2RIG_BATCH_CRASH"
"""Environment variable naming a crash point (tests): the process ``os._exit(77)`` there."""
CRASH_POINTS = ("before-write", "mid-write", "before-publish", "after-publish", "mid-manifest")
CRASH_STATUS = 77
FORMATS = ("bvh", "fbx", "glb", "npz")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


class WorkerLost(Pose2RigError):
    """Raised by a backend's ``run_units`` when a worker process died without a result: ``units``
    are those that were in flight then (the driver fails them, one line each, and goes on with
    the rest in a fresh call)."""

    def __init__(self, message: str, units: Sequence[Any]) -> None:
        super().__init__(message)
        self.units = tuple(units)


def crash_point(name: str) -> None:
    """Exit the process at once (``os._exit(77)``, nothing flushed) where :data:`CRASH_ENV`
    names ``name``: tests kill the batch at each step of write, publish, record."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_STATUS)


@dataclass(frozen=True)
class WorkUnit:
    """One clip to convert (picklable, plain values only).

    Attributes:
        source: absolute input path.
        rel: input path relative to ``INPUT_DIR``, POSIX separators (``"takes/a.mp4"``).
        kind: ``"video"`` or ``"bvh"``.
        out_dir: absolute ``OUTPUT_DIR``.
        key: the clip's key (hex): what the outputs were made from.
        formats: a subset of ``("bvh", "fbx", "glb", "npz")``.
        options: :meth:`pose2rig.options.ConvertOptions.flat` with paths as strings.
        rig: the character's path, or None (the bundled one).
        attempt: 1 for the first attempt at this clip, counted over the manifest.
        clip: the clip's folder relative to ``OUTPUT_DIR`` (default: ``rel`` without suffix).
    """

    source: str
    rel: str
    kind: str
    out_dir: str
    key: str
    formats: tuple[str, ...]
    options: dict[str, Any]
    rig: str | None
    attempt: int
    clip: str = ""

    @property
    def folder(self) -> str:
        """The clip's folder relative to ``OUTPUT_DIR`` (POSIX separators)."""
        return self.clip or clip_dir(self.rel)


def clip_dir(rel: str) -> str:
    """``"takes/a.mp4"`` -> ``"takes/a"``: the clip's output folder, relative to ``OUTPUT_DIR``."""
    head, _, name = rel.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return f"{head}/{stem}" if head else stem


@dataclass(frozen=True)
class UnitResult:
    """What one attempt at a clip made; the manifest's record (with ``time`` and ``kind``).

    Attributes:
        rel, key, attempt: the :class:`WorkUnit`'s.
        status: ``"done"`` or ``"failed"``.
        seconds: wall time of the attempt.
        frames: frames of the motion written, or None.
        detection_rate: fraction of frames with a person (videos), or None.
        plausibility: median per-frame plausibility (the lifter's discriminator), or None.
        foot_sliding: m/s of planted feet on the cleaned world joints, or None.
        outputs: format -> path relative to ``OUTPUT_DIR``.
        thumbnail: the thumbnail's path relative to ``OUTPUT_DIR``, or None.
        error: one line, or None.
        timings: seconds per stage.
    """

    rel: str
    key: str
    attempt: int
    status: str
    seconds: float
    frames: int | None = None
    detection_rate: float | None = None
    plausibility: float | None = None
    foot_sliding: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    thumbnail: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> UnitResult:
        """From a manifest record (fields that are not the result's are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})


def one_line(error: BaseException) -> str:
    """An exception as one line: a library error's message, else its type and message."""
    from pose2rig.errors import ArgumentError

    if isinstance(error, ArgumentError):
        text = error.render({})
    elif isinstance(error, Pose2RigError):
        text = str(error)
    elif isinstance(error, OSError):
        text = f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
    else:
        text = f"internal error: {type(error).__name__}: {error}"
    return " ".join(text.split()) or type(error).__name__


def _finite_median(x: np.ndarray | None) -> float | None:
    if x is None:
        return None
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def _foot_sliding(joints: np.ndarray, skeleton: Any, cleanup: Any, fps: float) -> float | None:
    """m/s of the feet while planted (clean-up's contacts), or None where it cannot tell."""
    from pose2rig.clean import foot_points
    from pose2rig.motion_metrics import SLIDING_FPS, foot_sliding

    if cleanup is None or cleanup.contacts is None:
        return None
    points = foot_points(skeleton)
    contacts = np.asarray(cleanup.contacts.contacts, dtype=bool)
    if not points or contacts.shape != (len(joints), len(points)):
        return None
    feet = np.asarray(joints, dtype=np.float64)[:, [p.index for p in points]]
    try:
        mm_per_frame = foot_sliding(feet, contacts, fps)  # mm per frame at SLIDING_FPS
    except Pose2RigError:
        return None
    return mm_per_frame * SLIDING_FPS / 1000.0


def _options(unit: WorkUnit) -> Any:
    from pose2rig.options import ConvertOptions

    return ConvertOptions.from_flat(**unit.options)


def _convert_video(unit: WorkUnit, tmp: Path, stem: str) -> tuple[dict[str, Any], np.ndarray | None, Any]:
    from pose2rig.options import Outputs
    from pose2rig.pipeline import convert, keypoints_cache_path

    src = Path(unit.source)
    old_cache = keypoints_cache_path(src, Path(unit.out_dir) / unit.folder)
    if old_cache.is_file():  # an earlier key's detections: detect_video checks they fit (video, settings)
        shutil.copy2(old_cache, keypoints_cache_path(src, tmp))
    outputs = Outputs(**{f: tmp / f"{stem}.{f}" for f in unit.formats})
    result = convert(src, outputs, _options(unit), progress=False)
    crash_point("mid-write")
    kp = result.keypoints.keypoints
    seen = np.isfinite(kp).all(axis=-1).any(axis=-1)
    world = result.world_pose
    stats = {
        "frames": int(world.num_frames),
        "detection_rate": float(seen.mean()) if len(seen) else 0.0,
        "plausibility": _finite_median(result.cleanup.scores if result.cleanup is not None else None),
        "foot_sliding": _foot_sliding(world.joints, world.skeleton, result.cleanup, world.fps),
        "timings": dict(result.timings),
    }
    return stats, world.joints, result.keypoints


def _convert_bvh(unit: WorkUnit, tmp: Path, stem: str) -> tuple[dict[str, Any], np.ndarray | None, Any]:
    from pose2rig.io.bvh import bvh_skeleton, read_bvh
    from pose2rig.io.npz import FORMAT_VERSION, write_arrays
    from pose2rig.options import Outputs
    from pose2rig.pipeline import clean_file, retarget_file

    o = _options(unit)
    timings: dict[str, float] = {}
    cleaned = tmp / f"{stem}.bvh"
    t0 = time.perf_counter()
    res = clean_file(unit.source, cleaned, o, progress=False)
    timings["clean"] = time.perf_counter() - t0
    crash_point("mid-write")
    motion = read_bvh(cleaned)
    skeleton = bvh_skeleton(motion, name=stem)
    joints = np.asarray(res.joints, dtype=np.float32)
    if "npz" in unit.formats:
        write_arrays(tmp / f"{stem}.npz", {
            "joints3d_world": joints,
            "joint_names": np.asarray(skeleton.joint_names),
            "parents": np.asarray(skeleton.parents, dtype=np.int64),
            "fps": np.float64(motion.fps),
            "timestamps": np.arange(len(joints), dtype=np.float64) / motion.fps,
            "format_version": np.int64(FORMAT_VERSION),
            **res.as_arrays(),
        })
    character = [f for f in ("fbx", "glb") if f in unit.formats]
    if character:
        t0 = time.perf_counter()
        retarget_file(cleaned, Outputs(**{f: tmp / f"{stem}.{f}" for f in character}), o, progress=False)
        timings["retarget"] = time.perf_counter() - t0
    if "bvh" not in unit.formats:
        cleaned.unlink()
    stats = {
        "frames": int(len(joints)),
        "plausibility": None,  # the lifter scores Human3.6M-17 poses, not a BVH's own skeleton
        "foot_sliding": _foot_sliding(res.joints, skeleton, res, float(motion.fps)),
        "timings": timings,
    }
    return stats, joints, None


def _thumbnail(unit: WorkUnit, joints: np.ndarray | None, keypoints: Any, out: Path) -> bool:
    from pose2rig.batch import report

    return report.thumbnail(Path(unit.source), unit.kind, joints, out, keypoints=keypoints) is not None


def _publish(tmp: Path, final: Path, staging: Path, unit: WorkUnit) -> None:
    """``tmp`` becomes ``final`` by one rename; an older ``final`` (another key) is moved into
    ``staging`` and deleted first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = staging / f"old-{unit.key[:16]}-{os.getpid()}-{unit.attempt}"
        os.rename(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, final)


def run_unit(unit: WorkUnit) -> UnitResult:
    """Convert one clip into its folder (see the module's conventions); never raises for the
    clip's own errors: they come back as ``status="failed"`` with a one-line ``error``."""
    t0 = time.perf_counter()
    out_dir = Path(unit.out_dir)
    staging = out_dir / TMP_DIR
    tmp = staging / f"{unit.key}-{os.getpid()}-{unit.attempt}"
    final = out_dir / unit.folder
    stem = final.name
    try:
        bad = [f for f in unit.formats if f not in FORMATS]
        if bad or not unit.formats:
            from pose2rig.errors import ArgumentError

            raise ArgumentError(f"{{formats}} must be some of {', '.join(FORMATS)}, got {list(unit.formats)}",
                                "formats")
        if unit.kind not in ("video", "bvh"):
            raise ValueError(f"unknown kind {unit.kind!r}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        crash_point("before-write")
        convert = _convert_video if unit.kind == "video" else _convert_bvh
        stats, joints, keypoints = convert(unit, tmp, stem)
        thumb = _thumbnail(unit, joints, keypoints, tmp / "thumb.jpg")
        folder = unit.folder
        outputs = {f: f"{folder}/{stem}.{f}" for f in unit.formats if (tmp / f"{stem}.{f}").is_file()}
        result = UnitResult(
            rel=unit.rel, key=unit.key, attempt=unit.attempt, status="done",
            seconds=time.perf_counter() - t0, outputs=outputs,
            thumbnail=f"{folder}/thumb.jpg" if thumb else None, **stats,
        )
        (tmp / "result.json").write_text(json.dumps(result.as_dict(), sort_keys=True) + "\n")
        _write_key(tmp / "key.txt", unit.key)
        crash_point("before-publish")
        _publish(tmp, final, staging, unit)
        return result
    except Exception as e:  # one bad clip never stops the batch: its error goes in the manifest
        shutil.rmtree(tmp, ignore_errors=True)
        log.debug("%s failed", unit.rel, exc_info=True)
        # The input by its path under INPUT_DIR: a manifest read on another machine or mount
        # (a cluster's nodes, a copied output folder) names the same file.
        error = one_line(e).replace(unit.source, unit.rel)
        return UnitResult(rel=unit.rel, key=unit.key, attempt=unit.attempt, status="failed",
                          seconds=time.perf_counter() - t0, error=error)


def _write_key(path: Path, key: str) -> None:
    with open(path, "w") as f:
        f.write(key + "\n")
        f.flush()
        os.fsync(f.fileno())
