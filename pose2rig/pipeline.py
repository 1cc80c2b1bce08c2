"""Chains the stages for one clip: video -> 2D -> 3D -> clean-up -> world -> BVH / npz / preview.

Each stage is a plain function of another package; this module only orders them, checks the
outputs can be written before any work starts, and times each stage.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import check_writable
from pose2rig.types import Keypoints2D, PoseSequence

log = logging.getLogger(__name__)


def _defaults(func: object) -> dict[str, object]:
    """Keyword defaults of a stage function: defaults live once, in the stage's signature."""
    return {
        k: p.default
        for k, p in inspect.signature(func).parameters.items()  # type: ignore[arg-type]
        if p.default is not inspect.Parameter.empty
    }


def _stage_defaults() -> dict[str, object]:
    from pose2rig.clean import fill_gaps, smooth
    from pose2rig.lift.infer import lift
    from pose2rig.retarget import solve_bvh
    from pose2rig.world import to_world

    d: dict[str, object] = {}
    for f in (fill_gaps, smooth, to_world, lift, solve_bvh):
        d.update(_defaults(f))
    return d


_D = _stage_defaults()


@dataclass
class ConvertResult:
    """What :func:`convert` made: the poses, the files it wrote and seconds spent per stage."""

    keypoints: Keypoints2D
    camera_pose: PoseSequence
    world_pose: PoseSequence
    outputs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def keypoints_cache_path(video: Path, out_dir: Path) -> Path:
    """Where detection results for ``video`` are cached: beside the outputs."""
    return out_dir / f"{video.stem}.keypoints.npz"


def hold_missing_frames(pose: PoseSequence) -> PoseSequence:
    """Fill frames that are still missing after gap filling with the nearest valid frame.

    File formats such as BVH need a value on every frame; frames where nobody was seen for long
    hold the nearest seen pose (confidence stays 0 there, so the npz still tells them apart).
    """
    joints = pose.joints.copy()
    valid = np.all(np.isfinite(joints), axis=(1, 2))
    if not valid.any():
        raise Pose2RigError("no frame has a complete 3D pose; nothing to export")
    if valid.all():
        return pose
    idx = np.flatnonzero(valid)
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(len(valid))), 0, len(idx) - 1)]
    prev = idx[np.clip(np.searchsorted(idx, np.arange(len(valid)), side="right") - 1, 0, len(idx) - 1)]
    t = np.arange(len(valid))
    pick = np.where(np.abs(prev - t) <= np.abs(nearest - t), prev, nearest)
    joints[~valid] = joints[pick[~valid]]
    log.warning(
        "%d of %d frames had no complete pose; they hold the nearest seen pose",
        int((~valid).sum()),
        len(valid),
    )
    return pose.replace(joints=joints, confidence=np.where(valid[:, None], pose.confidence, 0.0))


def convert(
    video: str | Path,
    *,
    bvh: str | Path | None = None,
    npz: str | Path | None = None,
    preview: str | Path | None = None,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
    mirror: bool = False,
    height: float = _D["height"],  # type: ignore[assignment]
    fov: float = _D["fov"],  # type: ignore[assignment]
    root_motion: bool = _D["root_motion"],  # type: ignore[assignment]
    smooth: str = _D["method"],  # type: ignore[assignment]
    min_cutoff: float = _D["min_cutoff"],  # type: ignore[assignment]
    beta: float = _D["beta"],  # type: ignore[assignment]
    window: float = _D["window"],  # type: ignore[assignment]
    max_gap: float = _D["max_gap"],  # type: ignore[assignment]
    units: str = _D["units"],  # type: ignore[assignment]
    checkpoint: str | Path | None = None,
    cache: bool = True,
    progress: bool = True,
) -> ConvertResult:
    """Convert one video into a BVH (and optionally an npz and a preview).

    Args:
        video: the clip to read.
        bvh, npz, preview: output paths; each is written atomically, or not at all on failure.
        start, end: seconds of the clip to use.
        fps: resample the output to this frame rate (default: the clip's own rate; variable-rate
            clips are always put on a uniform grid).
        mirror: flip frames horizontally (selfie footage).
        height: the subject's standing height in metres; sets the metric scale.
        fov: the camera's horizontal field of view in degrees.
        root_motion: keep the pelvis's travel over the floor; off keeps the character in place.
        smooth, min_cutoff, beta, window: the temporal filter and its parameters.
        max_gap: longest detection gap, in seconds, that is filled by interpolation.
        units: BVH length units, ``"cm"`` or ``"m"``.
        checkpoint: a lifter checkpoint other than the bundled one.
        cache: reuse (and write) detection results beside the outputs.
        progress: show progress bars.
    """
    from pose2rig.clean import fill_gaps, resample
    from pose2rig.clean import smooth as smooth_pose
    from pose2rig.detect import detect_video
    from pose2rig.lift import lift, load_lifter
    from pose2rig.video import probe
    from pose2rig.world import to_world

    video = Path(video)
    outputs = {k: Path(v) for k, v in (("bvh", bvh), ("npz", npz), ("preview", preview)) if v}
    if not outputs:
        raise Pose2RigError("nothing to write: give at least one of --bvh, --npz, --preview")
    if units not in ("cm", "m"):
        raise Pose2RigError(f"--units must be cm or m, got {units!r}")
    if fps is not None and not 0 < fps <= 240:
        raise Pose2RigError(f"--fps must be in (0, 240], got {fps}")
    for p in outputs.values():
        check_writable(p)
    timings: dict[str, float] = {}

    with _timed(timings, "probe"):
        info = probe(video)
    lifter = load_lifter(Path(checkpoint) if checkpoint else None)

    cache_path = keypoints_cache_path(video, next(iter(outputs.values())).parent) if cache else None
    with _timed(timings, "decode+detect"):
        kp = detect_video(
            video, start=start, end=end, mirror=mirror, cache=cache_path, progress=progress
        )
    with _timed(timings, "filter"):
        kp_filled = fill_gaps(kp, max_gap=max_gap)
    with _timed(timings, "lift"):
        cam = lift(kp_filled, lifter=lifter, height=height, fov=fov)
    with _timed(timings, "filter"):
        cam = smooth_pose(cam, method=smooth, min_cutoff=min_cutoff, beta=beta, window=window)
        target_fps = fps if fps is not None else (info.fps if info.variable_frame_rate else None)
        if target_fps is not None:
            cam = resample(cam, fps=target_fps)
    with _timed(timings, "world"):
        world = to_world(cam, root_motion=root_motion)

    result = ConvertResult(kp, cam, world, timings=timings)
    with _timed(timings, "export"):
        if "bvh" in outputs:
            from pose2rig.io.bvh import write_bvh
            from pose2rig.retarget import solve_bvh

            write_bvh(outputs["bvh"], solve_bvh(hold_missing_frames(world), units=units))
        if "npz" in outputs:
            from pose2rig.io.npz import save_pose

            save_pose(outputs["npz"], cam, world_pose=world)
    if "preview" in outputs:
        from pose2rig.render import render_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(
            video, start=start, end=end, mirror=mirror
        ) as frames:
            render_preview(
                outputs["preview"], frames, kp, world, fps=world.fps, progress=progress
            )
    result.outputs = outputs
    return result
