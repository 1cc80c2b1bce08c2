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
from pose2rig.progress import Progress
from pose2rig.rig import RigAnimation
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
    animation: RigAnimation | None = None


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
    rig: str | Path | None = None,
    fbx: str | Path | None = None,
    glb: str | Path | None = None,
    rig_map: str | Path | None = None,
    preset: str = "blender",
    character_preview: str | Path | None = None,
    cache: bool = True,
    progress: Progress = True,
) -> ConvertResult:
    """Convert one video into animation: BVH, FBX or GLB (and optionally an npz and previews).

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
        rig: the character to animate (``.glb``, ``.gltf``, ``.fbx``, ``.blend`` or an MPFB2
            ``rig.*.json``); with it ``bvh`` holds the character's skeleton. FBX, GLB and the
            character preview use the bundled character when no rig is given.
        fbx, glb: the character's animation as FBX (through Blender's bpy) or GLB.
        rig_map: JSON file of role -> bone name overriding the automatic bone mapping.
        preset: FBX axis and scale conventions: ``blender``, ``unity`` or ``unreal``.
        character_preview: a video of the skinned character beside the clip (.mp4).
        cache: reuse (and write) detection results beside the outputs.
        progress: progress bars (True), silence (False) or a callback ``report(stage, done,
            total)`` that may raise :class:`pose2rig.progress.Cancelled` (:mod:`pose2rig.progress`).
    """
    from pose2rig.clean import fill_gaps, resample
    from pose2rig.clean import smooth as smooth_pose
    from pose2rig.detect import detect_video
    from pose2rig.lift import lift, load_lifter
    from pose2rig.video import probe
    from pose2rig.world import to_world

    video = Path(video)
    outputs = {
        k: Path(v)
        for k, v in (("bvh", bvh), ("npz", npz), ("preview", preview), ("fbx", fbx), ("glb", glb),
                     ("character_preview", character_preview))
        if v
    }
    if not outputs:
        raise Pose2RigError(
            "nothing to write: give at least one of --bvh, --fbx, --glb, --npz, --preview, --character-preview"
        )
    character = rig is not None or any(k in outputs for k in ("fbx", "glb", "character_preview"))
    if rig is not None and not any(k in outputs for k in ("bvh", "fbx", "glb", "character_preview")):
        raise Pose2RigError("--rig needs an output for the character: --fbx, --glb, --bvh or --character-preview")
    if units not in ("cm", "m"):
        raise Pose2RigError(f"--units must be cm or m, got {units!r}")
    if fps is not None and not 0 < fps <= 240:
        raise Pose2RigError(f"--fps must be in (0, 240], got {fps}")
    for p in outputs.values():
        check_writable(p)
    timings: dict[str, float] = {}
    target = mapping = None
    if character:  # read the character first: a bad rig fails before minutes of video work
        with _timed(timings, "rig"):
            target, mapping = load_character(rig, rig_map)

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
    animation = None
    if target is not None:
        from pose2rig.retarget.character import retarget

        with _timed(timings, "retarget"):
            from pose2rig.world import extremities

            animation = retarget(hold_missing_frames(world), target, mapping=mapping, root_motion=root_motion,
                                 extremities=extremities(cam))
        with _timed(timings, "export"):
            from pose2rig.io.rigs import write_animation

            write_animation(
                animation, fbx=outputs.get("fbx"), glb=outputs.get("glb"),
                bvh=outputs.get("bvh") if rig is not None else None, preset=preset, units=units,
            )
    with _timed(timings, "export"):
        if "bvh" in outputs and rig is None:
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
    if "character_preview" in outputs and animation is not None:
        from pose2rig.render_character import render_character_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(video, start=start, end=end, mirror=mirror) as frames:
            render_character_preview(outputs["character_preview"], animation, frames=frames, progress=progress)
    result.outputs = outputs
    result.animation = animation
    return result


def _npz_extremities(path: Path) -> dict[str, np.ndarray] | None:
    """Feet headings and hand knuckle lines from a pose file's camera-space joints and MediaPipe
    landmarks, when it has them (``convert --npz`` and ``lift`` files do); else None."""
    from pose2rig.io.npz import load_pose
    from pose2rig.world import extremities

    try:
        cam = load_pose(path, space="camera")
    except Pose2RigError as e:  # a world-only pose file: feet turn with the knees, hands stay
        log.info("%s has no camera-space poses (%s); feet and hands follow the limbs", path, e)
        return None
    return extremities(cam) or None


def load_character(rig: str | Path | None, rig_map: str | Path | None = None):  # noqa: ANN201
    """The character (:func:`pose2rig.io.rigs.load_rig`; None = the bundled one) and its bone
    mapping (found by name, ``rig_map`` overriding); raises before any long work starts."""
    from pose2rig.io.rigs import load_rig
    from pose2rig.retarget.mapping import load_mapping_file, map_rig

    target = load_rig(rig)
    overrides = load_mapping_file(Path(rig_map)) if rig_map is not None else None
    return target, map_rig(target, overrides)


def retarget_file(
    source: str | Path,
    *,
    rig: str | Path | None = None,
    fbx: str | Path | None = None,
    glb: str | Path | None = None,
    bvh: str | Path | None = None,
    rig_map: str | Path | None = None,
    preset: str = "blender",
    root_motion: bool = True,
    units: str = "cm",
    character_preview: str | Path | None = None,
    blend_action: str | Path | None = None,
    progress: Progress = True,
):  # noqa: ANN201
    """Move the motion in ``source`` (a pose2rig ``.npz`` or any BVH mapped onto Human3.6M-17)
    onto a character; returns the :class:`~pose2rig.rig.RigAnimation`. Outputs as in
    :func:`convert`, and ``blend_action``: the motion as one Blender action named after
    ``source``, alone in a ``.blend`` file, keyed for the rig's armature
    (:func:`pose2rig.io.blender_scene.write_action_blend`; the Blender add-on appends it)."""
    from pose2rig.io.rigs import write_animation
    from pose2rig.retarget.character import retarget

    outputs = {k: Path(v) for k, v in (("fbx", fbx), ("glb", glb), ("bvh", bvh),
                                       ("character_preview", character_preview),
                                       ("blend_action", blend_action)) if v}
    if not outputs:
        raise Pose2RigError(
            "nothing to write: give at least one of --fbx, --glb, --bvh, --preview, --blend-action"
        )
    for p in outputs.values():
        check_writable(p)
    src = Path(source)
    suffix = src.suffix.lower()
    if suffix == ".npz":
        from pose2rig.io.npz import load_pose

        poses = load_pose(src, space="world")
        feet = _npz_extremities(src)
    elif suffix == ".bvh":
        from pose2rig.io.mocap import load_bvh_as_h36m17

        from pose2rig.io.bvh import read_bvh
        from pose2rig.io.mocap import bvh_foot_headings

        poses = load_bvh_as_h36m17(src)
        feet = bvh_foot_headings(read_bvh(src), poses.joints) or None
    else:
        raise Pose2RigError(
            f"retarget: SOURCE {src} must be a pose2rig .npz or a .bvh file, got {suffix or 'no extension'!r}"
        )
    target, mapping = load_character(rig, rig_map)
    animation = retarget(hold_missing_frames(poses), target, mapping=mapping, root_motion=root_motion,
                         extremities=feet)
    write_animation(animation, fbx=outputs.get("fbx"), glb=outputs.get("glb"), bvh=outputs.get("bvh"),
                    preset=preset, units=units)
    if "blend_action" in outputs:
        from pose2rig.io.blender_scene import write_action_blend

        write_action_blend(animation, outputs["blend_action"], action_name=src.stem)
    if "character_preview" in outputs:
        from pose2rig.render_character import render_character_preview

        render_character_preview(outputs["character_preview"], animation, progress=progress)
    return animation
