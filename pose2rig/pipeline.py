"""Chains the stages for one clip: video -> 2D -> 3D -> clean-up -> world -> character -> files.

Each stage is a plain function of another package; this module only orders them, checks the
outputs can be written before any work starts, and times each stage. Its functions and
:class:`ConvertResult` are the public API that the CLI, the Blender add-on and batch runs call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.atomic import check_writable
from pose2rig.options import ConvertOptions, DetectOptions, LiftOptions, Outputs
from pose2rig.progress import Progress
from pose2rig.rig import Rig, RigAnimation
from pose2rig.types import Keypoints2D, PoseSequence

if TYPE_CHECKING:
    from pose2rig.retarget.mapping import RigMapping

__all__ = ["ConvertResult", "convert", "detect_keypoints", "hold_missing_frames", "lift_keypoints",
           "load_character", "retarget_file"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` made: everything a caller needs, without reading the files back.

    Attributes:
        keypoints: the detected 2D keypoints, as detected (gaps not filled).
        camera_pose: 3D joints in the camera frame (OpenCV axes, metres), gaps filled, smoothed
            and resampled as the options asked.
        world_pose: the same in the world frame (Y up, floor at y = 0, facing +Z; root motion
            removed when the options said so).
        world_rotation, world_translation: ``(3, 3)`` and ``(3,)`` float64, the rigid map
            ``p_world = R @ p_camera + t`` (:func:`pose2rig.world.world_transform`), before any
            root motion is removed.
        extremities: the feet's headings and the hands' knuckle lines in the world frame
            (:func:`pose2rig.world.extremities`; ``{}`` where MediaPipe's landmarks are
            missing), as :func:`pose2rig.retarget.retarget` and
            :func:`pose2rig.armature.animate_armature` take them.
        animation: the character's animation, when an output needed the character.
        outputs: the files written, by kind.
        timings: seconds spent per stage.
        options: the options it ran with.
    """

    keypoints: Keypoints2D
    camera_pose: PoseSequence
    world_pose: PoseSequence
    world_rotation: np.ndarray
    world_translation: np.ndarray
    extremities: dict[str, np.ndarray]
    animation: RigAnimation | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    options: ConvertOptions = field(default_factory=ConvertOptions)


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
    outputs: Outputs | None = None,
    options: ConvertOptions | None = None,
    *,
    progress: Progress = True,
) -> ConvertResult:
    """Convert one video into animation: BVH, FBX or GLB (and optionally an npz and previews).

    Args:
        video: the clip to read.
        outputs: the files to write (:class:`~pose2rig.options.Outputs`); each is written
            atomically, or not at all on failure. None or none given: nothing is written (the
            result still holds every pose). With ``options.export.rig``, ``bvh`` holds the
            character's skeleton; FBX, GLB, the character preview and the Blender action use
            the bundled character when no rig is given.
        options: what to do (:class:`~pose2rig.options.ConvertOptions`; default: the defaults).
        progress: progress bars (True), silence (False) or a callback ``report(stage, done,
            total)`` that may raise :class:`pose2rig.progress.Cancelled` (:mod:`pose2rig.progress`).

    Raises:
        Pose2RigError: bad input (unreadable video, nobody in it, a rig without the bones
            needed, an output that cannot be written), before any long work where it can tell.
    """
    from pose2rig.clean import fill_gaps, resample, smooth
    from pose2rig.detect import detect_video
    from pose2rig.lift import lift, load_lifter
    from pose2rig.video import probe
    from pose2rig.world import extremities, to_world, world_transform

    video = Path(video)
    o = options if options is not None else ConvertOptions()
    wanted = (outputs if outputs is not None else Outputs()).items()
    use_rig = o.export.rig is not None
    shows_character = outputs is not None and outputs.character
    if use_rig and not (shows_character or "bvh" in wanted):
        raise ArgumentError(
            "{rig} needs an output for the character: {fbx}, {glb}, {bvh}, {character_preview} or {blend_action}",
            "rig", "fbx", "glb", "bvh", "character_preview", "blend_action",
        )
    for p in wanted.values():
        check_writable(p)
    timings: dict[str, float] = {}
    target = mapping = None
    if use_rig or shows_character:  # read the character first: a bad rig fails before minutes of video work
        with _timed(timings, "rig"):
            target, mapping = load_character(o.export.rig, o.export.rig_map)

    with _timed(timings, "probe"):
        info = probe(video)
    lifter = load_lifter(o.lift.checkpoint)

    d = o.detect
    cache_path = keypoints_cache_path(video, next(iter(wanted.values())).parent) if d.cache and wanted else None
    with _timed(timings, "decode+detect"):
        kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=cache_path, progress=progress)
    c = o.clean
    with _timed(timings, "filter"):
        kp_filled = fill_gaps(kp, max_gap=c.max_gap)
    with _timed(timings, "lift"):
        cam = lift(kp_filled, lifter=lifter, height=o.lift.height, fov=o.lift.fov)
    with _timed(timings, "filter"):
        cam = smooth(cam, method=c.smooth, min_cutoff=c.min_cutoff, beta=c.beta, window=c.window)
        target_fps = o.export.fps if o.export.fps is not None else (info.fps if info.variable_frame_rate else None)
        if target_fps is not None:
            cam = resample(cam, fps=target_fps)
    with _timed(timings, "world"):
        world = to_world(cam, root_motion=o.world.root_motion)
        rotation, translation = world_transform(cam)
        ends = extremities(cam)

    animation = None
    if target is not None:
        from pose2rig.retarget import retarget

        with _timed(timings, "retarget"):
            animation = retarget(hold_missing_frames(world), target, mapping=mapping,
                                 root_motion=o.world.root_motion, extremities=ends)
        with _timed(timings, "export"):
            _write_character(animation, wanted, o, use_rig=use_rig, action_name=video.stem)
    with _timed(timings, "export"):
        if "bvh" in wanted and not use_rig:
            from pose2rig.io.bvh import write_bvh
            from pose2rig.retarget import solve_bvh

            write_bvh(wanted["bvh"], solve_bvh(hold_missing_frames(world), units=o.export.units))
        if "npz" in wanted:
            from pose2rig.io.npz import save_pose

            save_pose(wanted["npz"], cam, world_pose=world)
    if "preview" in wanted:
        from pose2rig.render import render_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(video, start=d.start, end=d.end, mirror=d.mirror) as frames:
            render_preview(wanted["preview"], frames, kp, world, fps=world.fps, progress=progress)
    if "character_preview" in wanted and animation is not None:
        from pose2rig.render_character import render_character_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(video, start=d.start, end=d.end, mirror=d.mirror) as frames:
            render_character_preview(wanted["character_preview"], animation, frames=frames, progress=progress)
    return ConvertResult(
        keypoints=kp, camera_pose=cam, world_pose=world, world_rotation=rotation, world_translation=translation,
        extremities=ends, animation=animation, outputs=wanted, timings=timings, options=o,
    )


def _write_character(animation: RigAnimation, wanted: dict[str, Path], options: ConvertOptions, *,
                     use_rig: bool, action_name: str) -> None:
    """The character's files: FBX, GLB, the rig's BVH (when a rig was given) and a Blender action."""
    from pose2rig.io.rigs import write_animation

    e = options.export
    write_animation(animation, fbx=wanted.get("fbx"), glb=wanted.get("glb"),
                    bvh=wanted.get("bvh") if use_rig else None, preset=e.preset, units=e.units)
    if "blend_action" in wanted:
        from pose2rig.io.blender_scene import write_action_blend

        write_action_blend(animation, wanted["blend_action"], action_name=action_name)


def detect_keypoints(
    video: str | Path, output: str | Path | None = None, options: DetectOptions | None = None, *,
    progress: Progress = True,
) -> Keypoints2D:
    """2D keypoints of ``video`` (Human3.6M-17, and MediaPipe's 33 landmarks), written to the
    keypoints ``output`` (.npz, atomically) when given. ``options.cache`` is not used here."""
    from pose2rig.detect import detect_video
    from pose2rig.io.npz import save_keypoints

    d = options if options is not None else DetectOptions()
    if output is not None:
        check_writable(Path(output))
    kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, progress=progress)
    if output is not None:
        save_keypoints(Path(output), kp)
    return kp


def lift_keypoints(
    keypoints: str | Path, output: str | Path | None = None, options: LiftOptions | None = None,
) -> PoseSequence:
    """3D joints in the camera frame from a keypoints file (``pose2rig detect``'s, or another
    tool's in the same layout), written to the pose ``output`` (.npz, atomically) when given."""
    from pose2rig.io.npz import load_keypoints, save_pose
    from pose2rig.lift import lift, load_lifter

    o = options if options is not None else LiftOptions()
    if output is not None:
        check_writable(Path(output))
    kp = load_keypoints(Path(keypoints))
    pose = lift(kp, lifter=load_lifter(o.checkpoint), height=o.height, fov=o.fov)
    if output is not None:
        save_pose(Path(output), pose)
    return pose


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


def load_character(rig: str | Path | None, rig_map: str | Path | None = None) -> tuple[Rig, RigMapping]:
    """The character (:func:`pose2rig.io.rigs.load_rig`; None = the bundled one) and its bone
    mapping (found by name, ``rig_map`` overriding); raises before any long work starts."""
    from pose2rig.io.rigs import load_rig
    from pose2rig.retarget.mapping import load_mapping_file, map_rig

    target = load_rig(rig)
    overrides = load_mapping_file(Path(rig_map)) if rig_map is not None else None
    return target, map_rig(target, overrides)


def retarget_file(
    source: str | Path,
    outputs: Outputs,
    options: ConvertOptions | None = None,
    *,
    progress: Progress = True,
) -> RigAnimation:
    """Move the motion in ``source`` (a pose2rig ``.npz`` or any BVH mapped onto Human3.6M-17)
    onto a character; returns its :class:`~pose2rig.rig.RigAnimation`.

    ``outputs``: ``fbx``, ``glb``, ``bvh`` (the character's skeleton), ``character_preview``
    and ``blend_action`` (the motion as one Blender action named after ``source``, alone in a
    ``.blend`` file, keyed for the rig's armature: :func:`pose2rig.io.blender_scene.write_action_blend`;
    the Blender add-on appends it). ``options``: the character (``export.rig``, ``rig_map``),
    ``export.preset`` and ``units``, and ``world.root_motion``; the others do not apply.
    """
    from pose2rig.retarget import retarget

    o = options if options is not None else ConvertOptions()
    wanted = outputs.items()
    allowed = ("fbx", "glb", "bvh", "character_preview", "blend_action")
    if not wanted:
        raise ArgumentError(
            "nothing to write: give at least one of {fbx}, {glb}, {bvh}, {character_preview}, {blend_action}", *allowed
        )
    extra = [k for k in wanted if k not in allowed]
    if extra:
        raise ArgumentError(f"retarget writes the character only, not {{{extra[0]}}}", extra[0])
    for p in wanted.values():
        check_writable(p)
    src = Path(source)
    suffix = src.suffix.lower()
    if suffix == ".npz":
        from pose2rig.io.npz import load_pose

        poses = load_pose(src, space="world")
        feet = _npz_extremities(src)
    elif suffix == ".bvh":
        from pose2rig.io.bvh import read_bvh
        from pose2rig.io.mocap import bvh_foot_headings, load_bvh_as_h36m17

        poses = load_bvh_as_h36m17(src)
        feet = bvh_foot_headings(read_bvh(src), poses.joints) or None
    else:
        raise Pose2RigError(
            f"retarget: SOURCE {src} must be a pose2rig .npz or a .bvh file, got {suffix or 'no extension'!r}"
        )
    target, mapping = load_character(o.export.rig, o.export.rig_map)
    animation = retarget(hold_missing_frames(poses), target, mapping=mapping, root_motion=o.world.root_motion,
                         extremities=feet)
    _write_character(animation, wanted, o, use_rig=True, action_name=src.stem)
    if "character_preview" in wanted:
        from pose2rig.render_character import render_character_preview

        render_character_preview(wanted["character_preview"], animation, progress=progress)
    return animation
