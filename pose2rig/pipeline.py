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
from pose2rig.options import BodyOptions, ConvertOptions, DetectOptions, LiftOptions, Outputs
from pose2rig.progress import Progress
from pose2rig.rig import Rig, RigAnimation
from pose2rig.types import Keypoints2D, PoseSequence, Skeleton

if TYPE_CHECKING:
    from pose2rig.body.fit import BodyFit, FitOptions, ImageTerm
    from pose2rig.body.io import BodyFile
    from pose2rig.body.model import BodyModel
    from pose2rig.clean import CleanResult
    from pose2rig.lift import Lifter
    from pose2rig.retarget.mapping import RigMapping

__all__ = ["ConvertResult", "body_preview", "cached_lifter", "clean_file", "clean_world", "convert", "detect_keypoints", "fit_file",
           "fit_pose", "hold_missing_frames", "lift_keypoints", "load_body_model", "load_character", "retarget_file",
           "write_body", "write_body_mesh"]

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
        cleanup: what the clean-up found (:class:`~pose2rig.clean.CleanResult`: the floor,
            the foot contacts, the swaps repaired, the frames filled, the plausibility scores);
            its ``joints`` are ``world_pose``'s before any root motion is removed.
        camera_pitch: the camera's pitch in degrees, positive looking down, in the world of
            ``world_rotation`` (:func:`pose2rig.world.camera_pitch`): the one given as
            ``options.world.camera_pitch``, or the one the floor's tilt showed.
        body: the body fit (:class:`~pose2rig.body.fit.BodyFit`: the body model's pose, shape
            and translation, its joints' world rotations, the fitted Human3.6M-17 joints) on
            ``world_pose``, when ``options.body.fit_body`` or the ``body`` output asked for it;
            else None.
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
    cleanup: CleanResult | None = None
    body: BodyFit | None = None

    @property
    def camera_pitch(self) -> float:
        from pose2rig.world import camera_pitch

        return float(np.degrees(camera_pitch(self.world_rotation)))


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def _require_extras(wanted: dict[str, Path], *, fit_body: bool = False) -> None:
    """A missing extra of the install that the outputs ``wanted`` (or the body fit) need, in one
    line before any work (:func:`pose2rig.extras.require_extra`): previews, the body fit, FBX
    and Blender actions through bpy."""
    from pose2rig.extras import require_extra

    if "preview" in wanted or "character_preview" in wanted:
        require_extra("preview")
    if fit_body:
        require_extra("body")
    if "fbx" in wanted or "blend_action" in wanted:
        require_extra("blender")


_LIFTERS: dict[tuple[str, int, int], Lifter] = {}


def cached_lifter(checkpoint: str | Path | None = None) -> Lifter:
    """:func:`pose2rig.lift.load_lifter` of ``checkpoint`` (None: the bundled one), loaded once per
    process: a batch worker converts many clips with one copy. Keyed by the file's resolved path,
    size and modification time, so a checkpoint rewritten in place is read again. A lifter is not
    changed by lifting, so the clips share it. A model that numpy runs exactly (the bundled one:
    :func:`pose2rig.lift.numpy_infer.load_lifter_numpy`) is loaded without torch, which then is
    never imported; others through torch."""
    from pose2rig.lift.infer import default_checkpoint

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    try:
        st = path.stat()
    except OSError:
        return _load_lifter(path)  # its own one-line error for a missing file
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LIFTERS:
        _LIFTERS.clear()  # one checkpoint at a time: a batch uses one
        _LIFTERS[key] = _load_lifter(path)
    return _LIFTERS[key]


def _load_lifter(path: Path) -> Lifter:
    from pose2rig.lift.numpy_infer import load_lifter_numpy

    lifter = load_lifter_numpy(path)
    if lifter is not None:
        return lifter
    from pose2rig.lift import load_lifter

    return load_lifter(path)


def keypoints_cache_path(video: Path, out_dir: Path) -> Path:
    """Where detection results for ``video`` are cached: beside the outputs."""
    return out_dir / f"{video.stem}.keypoints.npz"


def hold_missing_frames(pose: PoseSequence) -> PoseSequence:
    """Fill frames that are still missing after gap filling with the nearest valid frame.

    File formats such as BVH need a value on every frame; frames where nobody was seen for long
    hold the nearest seen pose (confidence stays 0 there, so the npz still tells them apart); a
    frame midway between two seen ones holds the earlier (:func:`pose2rig.geometry.nearest_valid`).
    """
    from pose2rig.geometry import nearest_valid

    joints = pose.joints.copy()
    valid = np.all(np.isfinite(joints), axis=(1, 2))
    if not valid.any():
        raise Pose2RigError("no frame has a complete 3D pose; nothing to export")
    if valid.all():
        return pose
    joints[~valid] = joints[nearest_valid(valid)[~valid]]
    log.warning(
        "%d of %d frames had no complete pose; they hold the nearest seen pose",
        int((~valid).sum()),
        len(valid),
    )
    assert pose.confidence is not None  # PoseSequence fills it in
    return pose.replace(joints=joints, confidence=np.where(valid[:, None], pose.confidence, 0.0))


def convert(
    video: str | Path,
    outputs: Outputs | None = None,
    options: ConvertOptions | None = None,
    *,
    progress: Progress = True,
    keypoints: Keypoints2D | None = None,
    fit_options: FitOptions | None = None,
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
        keypoints: this clip's 2D keypoints when they were detected before (with the same
            ``options.detect``): detection is skipped. The video is still read for its frame
            rate and for previews.
        fit_options: the body fit's weights and iteration counts
            (:class:`pose2rig.body.fit.FitOptions`; default: its defaults), where
            ``options.body.fit_body`` or the ``body`` output asks for the fit
            (:func:`fit_pose` on the cleaned world joints; :attr:`ConvertResult.body`).

    Raises:
        Pose2RigError: bad input (unreadable video, nobody in it, a rig without the bones
            needed, a missing or wrong SMPL model file, an output that cannot be written),
            before any long work where it can tell.
    """
    from pose2rig.extras import require_extra

    require_extra("video")  # a missing extra in one line, before the detector imports cv2
    from pose2rig.clean import fill_gaps, repair_swaps, resample
    from pose2rig.detect import detect_video
    from pose2rig.lift import lift
    from pose2rig.video import probe
    from pose2rig.world import camera_pitch, extremities, landmark_pitch

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
    fit_body = o.body.fit_body or "body" in wanted
    if o.body.smpl_model is not None and not fit_body:
        raise ArgumentError("{smpl_model} is the body fit's model: give {fit_body} or {body} too",
                            "smpl_model", "fit_body", "body")
    _require_extras(wanted, fit_body=fit_body)
    for p in wanted.values():
        check_writable(p)
    timings: dict[str, float] = {}
    target = mapping = None
    if use_rig or shows_character:  # read the character first: a bad rig fails before minutes of video work
        with _timed(timings, "rig"):
            target, mapping = load_character(o.export.rig, o.export.rig_map)
    body_model = None
    if fit_body:  # and the body model: a wrong SMPL file fails before the video work too
        with _timed(timings, "body model"):
            body_model = load_body_model(o.body)

    with _timed(timings, "probe"):
        info = probe(video)
    lifter = cached_lifter(o.lift.checkpoint)

    d = o.detect
    cache_path = keypoints_cache_path(video, next(iter(wanted.values())).parent) if d.cache and wanted else None
    if keypoints is not None:
        kp = keypoints
    else:
        with _timed(timings, "decode+detect"):
            kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=cache_path,
                              min_detection_confidence=d.min_detection_confidence, progress=progress)
    c = o.clean
    with _timed(timings, "clean"):
        kp_2d = kp
        if c.swaps:
            kp_2d, swapped = repair_swaps(kp)
            if swapped.num_flipped:
                log.info("2D %s", swapped)
        if not c.fill_gaps:  # the 3D clean-up fills gaps in rotation space; without it, short 2D gaps as before
            kp_2d = fill_gaps(kp_2d, max_gap=c.max_gap)
    with _timed(timings, "lift"):
        lifted = lift(kp_2d, lifter=lifter, height=o.lift.height, fov=o.lift.fov)
    with _timed(timings, "clean"):
        target_fps = o.export.fps if o.export.fps is not None else (info.fps if info.variable_frame_rate else None)
        if target_fps is not None:
            lifted = resample(lifted, fps=target_fps)
        found = landmark_pitch(kp.world33) if kp.world33 is not None else None
        cam, world, rotation, translation, cleanup = clean_world(
            lifted, o, lifter, landmark_pitch=None if found is None else float(np.degrees(found)))
        ends = extremities(cam, rotation=rotation)
    body = None
    if body_model is not None:
        with _timed(timings, "body fit"):
            maps = _camera_map(cam, world, rotation, translation)  # None with root motion removed
            body = fit_pose(world, body_model, o.body, fit_options=fit_options, progress=progress,
                            world_rotation=None if maps is None else rotation,
                            world_translation=None if maps is None else translation)
    # files and previews show a pose on every frame: long gaps hold the nearest seen pose
    held = hold_missing_frames(world) if target is not None or {"bvh", "preview"} & wanted.keys() else world

    animation = None
    if target is not None:
        from pose2rig.retarget import retarget

        twist = None
        if body is not None:  # the fitted bones give the limbs their twist
            from pose2rig.body.twist import body_twist

            twist = body_twist(body)
        with _timed(timings, "retarget"):
            animation = retarget(held, target, mapping=mapping, root_motion=o.root_motion, extremities=ends,
                                 add_root="blend_action" not in wanted, twist=twist)
        with _timed(timings, "export"):
            _write_character(animation, wanted, o, use_rig=use_rig, action_name=video.stem)
    with _timed(timings, "export"):
        if "bvh" in wanted and not use_rig:
            from pose2rig.io.bvh import write_bvh
            from pose2rig.retarget import solve_bvh

            write_bvh(wanted["bvh"], solve_bvh(held, units=o.export.units))
        if "npz" in wanted:
            from pose2rig.io.npz import save_pose

            save_pose(wanted["npz"], cam, world_pose=world,
                      extra={**cleanup.as_arrays(), "world_rotation": rotation, "world_translation": translation,
                             "camera_pitch": np.asarray(np.degrees(camera_pitch(rotation)), np.float64)})
        if "body" in wanted and body is not None:
            write_body(wanted["body"], body, o.body)
    if "preview" in wanted:
        from pose2rig.render import render_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(video, start=d.start, end=d.end, mirror=d.mirror) as frames:
            render_preview(wanted["preview"], frames, kp, held, fps=world.fps, progress=progress)
    if "character_preview" in wanted and animation is not None:
        from pose2rig.render_character import render_character_preview
        from pose2rig.video import open_video

        with _timed(timings, "preview"), open_video(video, start=d.start, end=d.end, mirror=d.mirror) as frames:
            render_character_preview(wanted["character_preview"], animation, frames=frames, progress=progress)
    return ConvertResult(
        keypoints=kp, camera_pose=cam, world_pose=world, world_rotation=rotation, world_translation=translation,
        extremities=ends, animation=animation, outputs=wanted, timings=timings, options=o, cleanup=cleanup,
        body=body,
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
    from pose2rig.extras import require_extra

    require_extra("video")
    from pose2rig.detect import detect_video
    from pose2rig.io.npz import save_keypoints

    d = options if options is not None else DetectOptions()
    if output is not None:
        check_writable(Path(output))
    kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror,
                      min_detection_confidence=d.min_detection_confidence, progress=progress)
    if output is not None:
        save_keypoints(Path(output), kp)
    return kp


def lift_keypoints(
    keypoints: str | Path, output: str | Path | None = None, options: LiftOptions | None = None,
) -> PoseSequence:
    """3D joints in the camera frame from a keypoints file (``pose2rig detect``'s, or another
    tool's in the same layout), written to the pose ``output`` (.npz, atomically) when given."""
    from pose2rig.extras import require
    from pose2rig.io.npz import load_keypoints, save_pose

    require("torch", "video")
    from pose2rig.lift import lift

    o = options if options is not None else LiftOptions()
    if output is not None:
        check_writable(Path(output))
    kp = load_keypoints(Path(keypoints))
    pose = lift(kp, lifter=cached_lifter(o.checkpoint), height=o.height, fov=o.fov)
    if output is not None:
        save_pose(Path(output), pose)
    return pose


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
    """Move the motion in ``source`` onto a character; returns its :class:`~pose2rig.rig.RigAnimation`.

    ``source``: any ``.npz`` that pose2rig writes, or any BVH mapped onto Human3.6M-17. A body
    file (``pose2rig fit``'s, ``convert --body``'s) gives its fitted joints, and its fitted bones
    give the limbs their twist and the feet their heading (``retarget(twist=...)``); a pose
    file's world-frame poses (``convert``'s npz) are used as they are; camera-frame poses
    (``lift``'s npz) go through the same world transform as :func:`convert`; 2D keypoints
    (``detect``'s npz, ``convert``'s detection cache) are first lifted as :func:`lift_keypoints`
    lifts them (``options.lift``).

    ``outputs``: ``fbx``, ``glb``, ``bvh`` (the character's skeleton), ``character_preview``
    and ``blend_action`` (the motion as one Blender action named after ``source``, alone in a
    ``.blend`` file, keyed for the rig's armature: :func:`pose2rig.io.blender_scene.write_action_blend`;
    the Blender add-on appends it). ``options``: the character (``export.rig``, ``rig_map``),
    ``export.preset``, ``units`` and ``fps`` (resample the motion; a source with uneven
    timestamps is resampled at its own rate), ``detect.start`` and ``end`` (a window of the
    source's timestamps, ``start <= t < end``; a BVH starts at 0), the root motion
    (:attr:`~pose2rig.options.ConvertOptions.root_motion`: ``world.root_motion``, by default the
    ``export.preset``'s; with ``blend_action``, ``ground`` adds no root bone, as the action keys
    the rig's own armature), and ``lift`` for keypoints sources; the others do not apply.

    Raises:
        Pose2RigError: an unreadable or unknown source, a window with no frames, a rig without
            the bones needed, an output that cannot be written; before the long work.
    """
    from pose2rig.retarget import retarget
    from pose2rig.retarget.character import TWIST_PARTS

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
    _require_extras(wanted)
    for p in wanted.values():
        check_writable(p)
    src = Path(source)
    world, ends, _ = _read_source(src, o)
    twist = {k: ends.pop(k) for k in TWIST_PARTS if k in ends}  # a body file's
    target, mapping = load_character(o.export.rig, o.export.rig_map)
    animation = retarget(hold_missing_frames(world), target, mapping=mapping, root_motion=o.root_motion,
                         extremities=ends or None, add_root="blend_action" not in wanted, twist=twist or None)
    _write_character(animation, wanted, o, use_rig=True, action_name=src.stem)
    if "character_preview" in wanted:
        from pose2rig.render_character import render_character_preview

        render_character_preview(wanted["character_preview"], animation, progress=progress)
    return animation


def _read_source(src: Path, o: ConvertOptions
                 ) -> tuple[PoseSequence, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """A retarget source as ``(world, extremities, camera_map)``: its world-frame poses and the feet and
    hands directions in that frame (:func:`pose2rig.world.extremities` of its camera-frame
    poses, a BVH's foot headings, a body file's feet and, keyed by the parts of
    :data:`pose2rig.retarget.character.TWIST_PARTS`, its limbs' twist references
    (:func:`pose2rig.body.twist.body_twist`), or ``{}``), cut to ``start``/``end`` and
    resampled as ``options`` say. A body file (``pose2rig fit``'s) gives its fitted
    Human3.6M-17 joints. Camera-frame poses are cut and resampled before they are put in the
    world, as :func:`convert` does; a file's own world-frame poses keep its world.
    ``camera_map``: ``(world_rotation, world_translation)``, ``p_world = world_rotation @
    p_camera + world_translation``, where the world poses are the camera-frame ones through it
    (:func:`_camera_map`; a pose file's stored map, or the clean-up's), else None."""
    from pose2rig.body.io import is_body_npz
    from pose2rig.clean import resample
    from pose2rig.world import extremities

    suffix = src.suffix.lower()
    camera: PoseSequence | None = None
    world: PoseSequence | None = None
    ends: dict[str, np.ndarray] = {}
    camera_map: tuple[np.ndarray, np.ndarray] | None = None
    if suffix == ".bvh":
        from pose2rig.io.bvh import read_bvh
        from pose2rig.io.mocap import bvh_foot_headings, load_bvh_as_h36m17

        world = load_bvh_as_h36m17(src)
        ends = bvh_foot_headings(read_bvh(src), world.joints)
    elif suffix == ".npz" and is_body_npz(src):  # a body fit: its joints, its feet and the limbs' twist
        from pose2rig.body.io import read_body_npz
        from pose2rig.body.twist import body_extremities, body_twist
        from pose2rig.skeletons import H36M17

        body = read_body_npz(src)
        world = PoseSequence(body.joints, H36M17, body.fps, np.arange(body.num_frames) / body.fps, space="world")
        ends = {**body_extremities(body), **body_twist(body)}
    elif suffix == ".npz":
        from pose2rig.io.npz import contents, load_pose, read_array, read_arrays

        kinds = contents(src)
        if "world" in kinds:
            world = load_pose(src, space="world")
            arrays = read_arrays(src)
            if _world_maps_camera(arrays):  # the 2D term of the body fit needs the camera in this world
                camera_map = (np.asarray(arrays["world_rotation"], np.float64),
                              np.asarray(arrays["world_translation"], np.float64))
            if "camera" in kinds:  # the whole clip's directions, in the file's world frame
                cam = load_pose(src, space="camera")
                if cam.num_frames != world.num_frames:
                    raise Pose2RigError(f"{src}: joints3d has {cam.num_frames} frames but joints3d_world "
                                        f"{world.num_frames}")
                ends = extremities(cam, rotation=read_array(src, "world_rotation", (3, 3)))
        elif "camera" in kinds:
            camera = load_pose(src, space="camera")
        else:
            camera = lift_keypoints(src, options=o.lift)
    else:
        raise Pose2RigError(
            f"retarget: SOURCE {src} must be a pose2rig .npz or a .bvh file, got {suffix or 'no extension'!r}"
        )
    poses = world if world is not None else camera
    assert poses is not None
    times = poses.timestamps
    keep = _window(times, o.detect.start, o.detect.end, fps=poses.fps)
    if not keep.any():
        start, end = o.detect.start, o.detect.end
        names = [n for n, v in (("start", start), ("end", end)) if v is not None]
        if start is not None and end is not None:
            window = f"between {{start}} ({start:g} s) and {{end}} ({end:g} s)"
        else:
            window = f"from {{start}} ({start:g} s) on" if start is not None else f"before {{end}} ({end:g} s)"
        raise ArgumentError(
            f"{{source}} has no frames {window}; its timestamps run from {times[0]:g} to {times[-1]:g} s",
            "source", *names,
        )
    if not keep.all():
        poses = _frames(poses, keep)
        ends = {k: v[keep] for k, v in ends.items()}
        times = times[keep]
    fps = o.export.fps
    if fps is None and not _uniform(times, poses.fps):
        fps = poses.fps  # uneven timestamps (a variable-frame-rate clip): even them out, as convert does
    if fps is not None:
        from pose2rig.clean.resample import interpolate_at

        poses = resample(poses, fps=fps)
        ends = {k: _unit(interpolate_at(v, times, poses.timestamps)) for k, v in ends.items()}
    if poses.space == "camera":
        from pose2rig.extras import require

        require("torch", "video")
        cam, world, rotation, translation, _ = clean_world(poses, o, cached_lifter(o.lift.checkpoint))
        return world, extremities(cam, rotation=rotation), _camera_map(cam, world, rotation, translation)
    return poses, ends, camera_map


def clean_world(
    camera: PoseSequence, options: ConvertOptions | None = None, lifter: Lifter | None = None,
    *, landmark_pitch: float | None = None,
) -> tuple[PoseSequence, PoseSequence, np.ndarray, np.ndarray, CleanResult]:
    """Lifted camera-frame poses -> the clean-up (:func:`pose2rig.clean.clean_motion`) in the
    world frame, as :func:`convert` and :func:`retarget_file` run it.

    The poses go into the world (:func:`pose2rig.world.world_transform`: Y up, facing +Z), each
    frame is scored by ``lifter``'s discriminator (:func:`pose2rig.lift.plausibility.plausibility`;
    no scores where the lifter has none), and the clean-up runs on the world joints with the
    root's travel. Filled frames keep the confidence interpolated from the frames around them
    in gaps up to ``options.clean.max_gap``, 0 in longer gaps (with a warning). Root motion
    ``off`` then pins the pelvis (:func:`pose2rig.world.remove_travel`). With
    ``options.world.camera_pitch`` the camera is taken as pitched by that much and the floor is
    only lifted to y = 0; without it, ``landmark_pitch`` (degrees: the pitch MediaPipe's 3D legs
    show, :func:`pose2rig.world.landmark_pitch`) is taken the same way where given, and else the
    floor's fitted tilt levels the world (the camera's pitch and roll).

    Returns:
        ``(camera_pose, world_pose, rotation, translation, cleanup)``: the cleaned poses in
        the camera frame and in the world frame, the rigid map ``p_world = rotation @ p_camera +
        translation`` (the floor's levelling included, travel not removed), and the clean-up's
        :class:`~pose2rig.clean.CleanResult`.
    """
    from pose2rig.clean import clean_motion
    from pose2rig.world import camera_pitch, remove_travel, world_transform

    o = options if options is not None else ConvertOptions()
    given = o.world.camera_pitch
    pitch = given if given is not None else landmark_pitch
    rot, trans = world_transform(camera, pitch=0.0 if pitch is None else np.radians(pitch))
    p = camera.joints.astype(np.float64) @ rot.T + trans
    scores = _plausibility(p, lifter)
    sk = camera.skeleton
    root = sk.index("pelvis") if "pelvis" in sk.joint_names else 0
    res = clean_motion(p, sk, camera.fps, o.clean, scores=scores, root=root, fit_tilt=pitch is None)
    for note in res.notes:
        log.warning("%s", note)
    if res.swaps is not None and res.swaps.num_flipped:
        log.info("3D %s", res.swaps)
    m = res.transform
    rot2 = m[:3, :3] @ rot
    trans2 = m[:3, :3] @ trans + m[:3, 3]
    found = np.degrees(camera_pitch(rot2))
    log.info("camera pitched %.1f degrees %s (%s)", abs(found), "down" if found >= 0 else "up",
             "as given" if given is not None else "from MediaPipe's 3D legs" if pitch is not None
             else "from the floor" if o.clean.floor else "taken as level")
    assert camera.confidence is not None  # PoseSequence fills it in
    conf = _filled_confidence(camera.confidence, res.filled, camera.fps, o.clean.max_gap)
    world = camera.replace(joints=res.joints.astype(np.float32), space="world", confidence=conf)
    cam = camera.replace(joints=((res.joints - trans2) @ rot2).astype(np.float32), confidence=conf)
    if o.root_motion == "off":
        world = remove_travel(world)
    return cam, world, rot2, trans2, res


def _plausibility(world_joints: np.ndarray, lifter: Lifter | None) -> np.ndarray | None:
    """``(T,)`` each world-frame Human3.6M-17 frame's plausibility by ``lifter``'s discriminator
    (:func:`pose2rig.lift.plausibility.plausibility`; NaN where a joint is missing), or None
    where there is no lifter or it has no discriminator."""
    if lifter is None or getattr(lifter, "discriminator", None) is None:
        return None
    from pose2rig.lift.plausibility import plausibility

    return plausibility(world_joints, lifter)


def _filled_confidence(confidence: np.ndarray, filled: np.ndarray, fps: float, max_gap: float) -> np.ndarray:
    """``confidence (T, J)`` on filled frames: interpolated from the frames around each gap of up
    to ``max_gap`` seconds, 0 in longer gaps and at the clip's ends (with a warning)."""
    from pose2rig.clean._common import finite_runs

    c = np.asarray(confidence, dtype=np.float32).copy()
    t = len(c)
    long_gaps = 0
    for a, b in finite_runs(filled):
        if a > 0 and b < t and (b - a) / fps <= max_gap:
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            c[a:b] = (1 - w)[:, None] * c[a - 1] + w[:, None] * c[b]
        else:
            c[a:b] = 0.0
            long_gaps += b - a
    if long_gaps:
        log.warning("%d of %d frames lie in gaps longer than %g s or at the clip's ends; they are "
                    "interpolated and marked unseen (confidence 0)", long_gaps, t, max_gap)
    return c



def clean_file(
    source: str | Path,
    output: str | Path,
    options: ConvertOptions | None = None,
    *,
    progress: Progress = True,
) -> CleanResult:
    """Clean up the 3D motion in ``source`` (:func:`pose2rig.clean.clean_motion`) and write it to
    ``output`` in the same format; returns the :class:`~pose2rig.clean.CleanResult`.

    ``source``:

    - a BVH from any source: cleaned on the world positions of all its joints (forward
      kinematics of its own skeleton, :func:`pose2rig.io.bvh.bvh_skeleton`, in metres by
      :func:`pose2rig.io.bvh.detect_unit_scale`, Y up), then written back as rotations on the
      same skeleton (:func:`pose2rig.retarget.repose.repose_bvh`): joint names, offsets,
      channels, units, frame count and frame time as they were. With ``options.clean.floor`` the
      motion is moved into the floor's level frame (floor at y = 0). No plausibility scores:
      the lifter scores Human3.6M-17 poses.
    - a pose2rig ``.npz`` with world joints (``joints3d_world``, ``convert --npz``): the world
      joints are cleaned (scored by the lifter's discriminator, ``options.lift.checkpoint``,
      where it has one); every other array is kept, and the clean-up's findings are added
      (:meth:`~pose2rig.clean.CleanResult.as_arrays`: plausibility, filled and outlier frames,
      the floor plane, the foot contacts).

    Steps that need what the skeleton lacks (legs, feet) are skipped with a warning each
    (:attr:`~pose2rig.clean.CleanResult.notes`); the rest run. ``progress``: a bar over the
    steps, as :mod:`pose2rig.progress` describes.

    Raises:
        Pose2RigError: a source that is neither ``.bvh`` nor ``.npz``, an output of another
            format, an unreadable or truncated file, a clip of fewer than 2 frames, no frame
            with every joint; nothing is written then.
    """
    from pose2rig.clean import STEPS, clean_motion
    from pose2rig.progress import progress_bar

    src, out = Path(source), Path(output)
    o = options if options is not None else ConvertOptions()
    suffix = src.suffix.lower()
    if suffix not in (".bvh", ".npz"):
        raise ArgumentError(
            f"{{source}} {src} must be a .bvh or a pose2rig .npz file, got {suffix or 'no extension'!r}", "source")
    if out.suffix.lower() != suffix:
        raise ArgumentError(f"{{output}} {out} must be a {suffix} file like {{source}}", "output", "source")
    if not src.is_file():
        raise ArgumentError(f"{{source}} {src} does not exist", "source")
    check_writable(out)

    def run(joints: np.ndarray, skeleton: Skeleton, fps: float, root: int,
            scores: np.ndarray | None = None) -> CleanResult:
        if len(joints) < 2:
            raise Pose2RigError(f"{src}: {len(joints)} frame(s); the clean-up needs a clip of at least 2 frames")
        if not np.isfinite(joints).all(axis=(1, 2)).any():
            raise Pose2RigError(f"{src}: none of the {len(joints)} frames has every joint; nothing to clean")
        with progress_bar(total=len(STEPS), desc="clean-up", unit="step", progress=progress) as bar:
            res = clean_motion(joints, skeleton, fps, o.clean, scores=scores, root=root,
                               report=lambda step: bar.update(1))
            bar.update(len(STEPS) - bar.n)  # steps with nothing to do
        for note in res.notes:
            log.warning("%s: %s", src.name, note)
        if res.swaps is not None and res.swaps.num_flipped:
            log.info("%s", res.swaps)
        return res

    if suffix == ".bvh":
        from pose2rig.io.bvh import bvh_skeleton, detect_unit_scale, read_bvh, write_bvh
        from pose2rig.retarget.repose import repose_bvh
        from pose2rig.skeletons.names import find_bone

        motion = read_bvh(src)
        skeleton = bvh_skeleton(motion, name=src.stem)
        scale = detect_unit_scale(motion)
        joints, _ = motion.forward_kinematics(scale=scale)
        hips = find_bone(motion.names, "hips")
        res = run(joints, skeleton, motion.fps, hips if hips is not None else 0)
        cleaned = res.joints.copy()
        kept = ~np.isfinite(cleaned).all(axis=(1, 2))  # left missing (gap filling off): the input's pose
        if kept.any():
            m = res.transform
            cleaned[kept] = joints[kept] @ m[:3, :3].T + m[:3, 3]
        write_bvh(out, repose_bvh(motion, cleaned / scale))
        return res

    from pose2rig.io.npz import contents, load_pose, read_arrays, write_arrays
    from pose2rig.skeletons import H36M17

    if "world" not in contents(src):
        raise Pose2RigError(f"{src}: no world-frame joints (joints3d_world) to clean; a pose file from "
                            "convert has them, one from lift does not")
    world = load_pose(src, space="world")
    arrays = read_arrays(src)
    joints = world.joints.astype(np.float64)
    joints[~np.isfinite(joints).all(axis=(1, 2))] = np.nan
    scores = None
    if len(joints) >= 2 and np.isfinite(joints).all(axis=(1, 2)).any():
        scores = _plausibility(joints, cached_lifter(o.lift.checkpoint))
    res = run(joints, H36M17, world.fps, H36M17.index("pelvis"), scores)
    maps_camera = _world_maps_camera(arrays)
    arrays["joints3d_world"] = res.joints.astype(np.float32)
    if maps_camera:
        # convert's file (root motion kept): the camera-frame joints follow the cleaned world
        # ones, through the map with the floor's levelling
        m = res.transform
        rot = m[:3, :3] @ np.asarray(arrays["world_rotation"], dtype=np.float64)
        trans = m[:3, :3] @ np.asarray(arrays["world_translation"], dtype=np.float64) + m[:3, 3]
        arrays["world_rotation"], arrays["world_translation"] = rot, trans
        arrays["joints3d"] = ((res.joints - trans) @ rot).astype(np.float32)
    if "confidence" in arrays:
        arrays["confidence"] = _filled_confidence(arrays["confidence"], res.filled, world.fps, o.clean.max_gap)
    arrays.update(res.as_arrays())
    write_arrays(out, arrays)
    return res


def _camera_map(cam: PoseSequence, world: PoseSequence, rotation: np.ndarray, translation: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rotation, translation)`` where ``world``'s joints are ``cam``'s through ``p_world =
    rotation @ p_camera + translation`` (:func:`_world_maps_camera`), else None."""
    arrays = {"world_rotation": rotation, "world_translation": translation, "joints3d": cam.joints,
              "joints3d_world": world.joints}
    return (rotation, translation) if _world_maps_camera(arrays) else None


def _world_maps_camera(arrays: dict[str, np.ndarray]) -> bool:
    """Whether a pose file's world joints are its camera joints through its stored
    ``world_rotation`` and ``world_translation`` (to 1 mm; not so where root motion was removed)."""
    if not {"world_rotation", "world_translation", "joints3d", "joints3d_world"} <= arrays.keys():
        return False
    cam = np.asarray(arrays["joints3d"], dtype=np.float64)
    world = np.asarray(arrays["joints3d_world"], dtype=np.float64)
    mapped = cam @ np.asarray(arrays["world_rotation"], dtype=np.float64).T + arrays["world_translation"]
    ok = np.isfinite(mapped) & np.isfinite(world)
    return cam.shape == world.shape and ok.any() and bool(np.abs(mapped[ok] - world[ok]).max() < 1e-3)


def load_body_model(options: BodyOptions | None = None) -> BodyModel:
    """The body model that ``options`` names: SMPL from ``options.smpl_model`` (a model file or
    folder, :func:`pose2rig.body.smpl.load_smpl_body`, ``smpl_gender``; needs the ``smpl``
    extra), else Anny (:class:`pose2rig.body.anny.AnnyBody`, no file; the first one on a
    machine builds Anny's cache, with a message), on ``options.fit_device``.

    Raises:
        Pose2RigError: a missing or wrong SMPL model file (saying where users obtain one), no
            ``smpl`` extra, ``fit_device`` ``cuda`` without a CUDA device, a ``pose_prior``
            file that is not a Gaussian mixture over the SMPL model's body pose.
    """
    from pose2rig.extras import require, require_extra

    b = options if options is not None else BodyOptions()
    require("torch", "body")
    device = _fit_device(b.fit_device)
    model: BodyModel
    if b.smpl_model is not None:
        from pose2rig.body.smpl import load_smpl_body

        model = load_smpl_body(b.smpl_model, gender=b.smpl_gender)
        if b.pose_prior is not None:  # a wrong prior fails before the source is read
            from pose2rig.body.prior import load_gmm_prior

            load_gmm_prior(b.pose_prior).check_model(model)
    else:
        require_extra("body")
        from pose2rig.body.anny import AnnyBody

        model = AnnyBody(device=device)
    log.info("body model: %s (%d joints, %d vertices) on %s", model.kind, model.num_joints, model.num_vertices,
             device)
    return model.to(device)


def _fit_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` where torch sees a CUDA device, else ``"cpu"``; ``"cuda"``
    without one is an error naming ``fit_device``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("{fit_device} is cuda but torch finds no CUDA device; use cpu or auto", "fit_device")
    return device


UNSEEN_WEIGHT = 0.05
"""The body fit's data weight of the joints on frames the clean-up filled (every joint's confidence
0, finite): enough to keep those frames on the filled motion (the demo clip's backflip, 27 unseen frames: 38.8 -> 25.8 mm
mean joint error), too little to pull the seen frames."""


def fit_pose(
    pose: PoseSequence,
    model: BodyModel,
    options: BodyOptions | None = None,
    *,
    fit_options: FitOptions | None = None,
    progress: Progress = True,
    world_rotation: np.ndarray | None = None,
    world_translation: np.ndarray | None = None,
) -> BodyFit:
    """Fit ``model`` to a world-frame Human3.6M-17 ``pose`` (:func:`pose2rig.body.fit.fit_body`:
    its joints, weighted by their confidence, :data:`UNSEEN_WEIGHT` on frames the clean-up filled
    where nobody was seen; NaN joints carry no weight).

    ``fit_options``: weights and iteration counts (:class:`~pose2rig.body.fit.FitOptions`),
    its ``device`` replaced by ``options.fit_device``.

    ``world_rotation (3, 3)``, ``world_translation (3,)``: the map ``p_world = world_rotation @
    p_camera + world_translation`` from ``pose.camera``'s frame to ``pose``'s world (as
    :func:`convert` and its pose file hold it, root motion kept). With them, ``pose.camera``
    and ``pose.landmarks33``, the fit adds the 2D reprojection term on MediaPipe's landmarks
    (:meth:`pose2rig.body.fit.ImageTerm.from_landmarks33`: hips, knees, ankles, shoulders,
    elbows, wrists, and the heels, toes, index and pinky knuckles, which fix the feet's and
    hands' twist), each weighted by its visibility times its joint's confidence in ``pose``
    (the ankle's for the feet's points, the wrist's for the hands'), weighted by
    ``fit_options.w_2d`` (0 turns it off). Without them, or where ``pose``'s joints land far
    from the landmarks through that camera (median over 5% of the image's diagonal: not the
    same frame), the fit runs on the 3D joints alone and says why in the log.
    """
    import dataclasses

    from pose2rig.body.fit import FitOptions, fit_body
    from pose2rig.progress import progress_bar
    from pose2rig.skeletons import H36M17

    if pose.space != "world" or pose.skeleton != H36M17:
        raise ArgumentError(f"{{pose}} must be world-frame Human3.6M-17 joints, got {pose.space}-frame "
                            f"{pose.skeleton.name}", "pose")
    b = options if options is not None else BodyOptions()
    fo = dataclasses.replace(fit_options or FitOptions(), device=_fit_device(b.fit_device))
    prior = None
    if b.pose_prior is not None:
        from pose2rig.body.prior import load_gmm_prior

        prior = load_gmm_prior(b.pose_prior)
    with progress_bar(total=pose.num_frames, desc=f"body fit ({model.kind})", unit="frame",
                      progress=progress) as bar:
        # frames nobody was seen in, which the clean-up filled (held or interpolated, every joint's
        # confidence 0), keep a small weight: with none, nothing holds them and Adam's scale-free
        # steps drift them toward the priors' rest. A single unseen joint on a seen frame keeps 0.
        conf = pose.confidence
        assert conf is not None  # PoseSequence fills it in
        filled = np.isfinite(pose.joints).all(axis=-1) & (conf <= 0).all(axis=1, keepdims=True)
        weight = np.where(filled, UNSEEN_WEIGHT, conf)
        fit = fit_body(model, pose.joints, confidence=weight, fps=pose.fps, options=fo, progress=bar,
                       pose_prior=prior, image=_image_term(pose, world_rotation, world_translation, fo.w_2d))
    err = fit.error[np.isfinite(fit.error)]
    if err.size:
        log.info("body fit: %s, mean joint error %.1f mm (worst frame %.1f mm)", model.kind,
                 1000 * float(err.mean()), 1000 * float(err.max()))
    return fit


def _image_term(pose: PoseSequence, world_rotation: np.ndarray | None, world_translation: np.ndarray | None,
                weight: float) -> ImageTerm | None:
    """The body fit's 2D term for world-frame ``pose`` (see :func:`fit_pose`), or None (logged)."""
    from dataclasses import replace

    from pose2rig.body.fit import ImageTerm
    from pose2rig.skeletons import H36M17

    missing = [what for what, have in (("landmarks33", pose.landmarks33 is not None),
                                       ("camera", pose.camera is not None),
                                       ("world map", world_rotation is not None and world_translation is not None))
               if not have]
    if weight <= 0 or missing:
        log.info("body fit: no 2D term (%s)", "w_2d is 0" if weight <= 0 else "no " + ", ".join(missing))
        return None
    assert pose.landmarks33 is not None and pose.camera is not None and pose.confidence is not None
    image = ImageTerm.from_landmarks33(pose.landmarks33, pose.camera.matrix, np.asarray(world_rotation),
                                       np.asarray(world_translation))
    # each landmark's weight: its visibility times its joint's confidence (the points': the
    # ankle's or the wrist's), so frames the clean-up marked unseen carry none
    side = [n.split("_")[0] for n in image.names]
    joint = [n if n in H36M17.joint_names else f"{s}_ankle" if n.endswith(("_heel", "_foot_index")) else f"{s}_wrist"
             for n, s in zip(image.names, side)]
    image = replace(image, confidence=image.confidence * pose.confidence[:, [H36M17.index(j) for j in joint]])
    body = [i for i, n in enumerate(image.names) if n in H36M17.joint_names]
    x = pose.joints[:, [H36M17.index(image.names[i]) for i in body]].astype(np.float64)
    cam = x @ image.rotation.T + image.translation
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = cam[..., :2] / cam[..., 2:] @ image.camera_matrix[:2, :2].T + image.camera_matrix[:2, 2]
        err = np.linalg.norm(uv - image.pixels[:, body], axis=-1)
    use = (image.confidence[:, body] > 0) & np.isfinite(err) & (cam[..., 2] > 0)
    diagonal = float(np.hypot(*pose.camera.image_size))
    if not use.any():
        log.info("body fit: no 2D term (no landmark seen on a frame with joints)")
        return None
    median = float(np.median(err[use]))
    if median > 0.05 * diagonal:
        log.warning("body fit: no 2D term: the joints land %.0f px (median) from MediaPipe's landmarks through "
                    "the camera, not the same frame (root motion removed?)", median)
        return None
    log.info("body fit: 2D term on %d landmarks over %d of %d frames (the joints %.1f px from them, median)",
             len(image.names), int((image.confidence > 0).any(axis=1).sum()), pose.num_frames, median)
    return image


def write_body(path: str | Path, fit: BodyFit, options: BodyOptions | None = None) -> Path:
    """Write ``fit`` as a body file (:func:`pose2rig.body.io.write_body_npz`: AMASS-style for
    SMPL with ``options.smpl_gender``, Anny's parameters with its shape names), atomically."""
    from pose2rig.body.io import write_body_npz

    b = options if options is not None else BodyOptions()
    names = None
    if fit.kind == "anny":
        from pose2rig.body.anny import SHAPE_NAMES

        names = SHAPE_NAMES
    return write_body_npz(path, fit, gender=b.smpl_gender, shape_names=names)


def fit_file(
    source: str | Path,
    output: str | Path,
    options: ConvertOptions | None = None,
    *,
    fit_options: FitOptions | None = None,
    progress: Progress = True,
    mesh: str | Path | None = None,
    video: str | Path | None = None,
    preview: str | Path | None = None,
) -> BodyFit:
    """Fit a body model to the motion in ``source`` and write the body file ``output``
    (:func:`write_body`); returns the :class:`~pose2rig.body.fit.BodyFit`.

    ``source``: a pose2rig ``.npz`` read as :func:`retarget_file` reads it: its world-frame
    joints as they are (``convert --npz``'s, after the clean-up; ``pose2rig clean``'s),
    camera-frame joints (``lift``'s) put in the world and cleaned as :func:`convert` does
    (``options.clean``, ``options.world``), 2D keypoints lifted first; or a BVH mapped onto
    Human3.6M-17. ``options.body`` picks the model (Anny, or SMPL from ``smpl_model``) and the
    device; ``detect.start``/``end`` and ``export.fps`` cut and resample the source as for
    :func:`retarget_file`. ``fit_options``: as :func:`fit_pose` takes them.

    ``mesh``: also write the fitted body as an animated skinned ``.glb`` (:func:`write_body_mesh`).
    ``video`` and ``preview``: also render the posed body over ``video`` (the clip ``source`` was
    made from) into the ``.mp4`` ``preview`` (:func:`body_preview`, placed on the clip through
    the pose file's camera).

    Raises:
        Pose2RigError: a source that is missing or neither ``.npz`` nor ``.bvh``, a file without
            joints, an output that is not ``.npz`` (``mesh``: ``.glb``; ``preview``: ``.mp4``) or
            cannot be written, ``preview`` without ``video`` or the reverse, an unreadable
            ``video``, a missing or wrong SMPL model file (before the source is read); nothing
            is written then.
    """
    src, out = Path(source), Path(output)
    o = options if options is not None else ConvertOptions()
    suffix = src.suffix.lower()
    if suffix not in (".npz", ".bvh"):
        raise ArgumentError(f"{{source}} {src} must be a pose2rig .npz or a .bvh file, got "
                            f"{suffix or 'no extension'!r}", "source")
    if not src.is_file():
        raise ArgumentError(f"{{source}} {src} does not exist", "source")
    if out.suffix.lower() != ".npz":
        raise ArgumentError(f"{{output}} {out} must be an .npz file, got {out.suffix or 'no extension'!r}", "output")
    check_writable(out)
    if preview is not None and video is None:
        raise ArgumentError("{preview} draws the body over the clip: give {video} too, the clip the pose file "
                            "was made from", "preview", "video")
    if video is not None and preview is None:
        raise ArgumentError("{video} is read only for {preview}: give {preview} too", "video", "preview")
    for name, path, ext in (("mesh", mesh, ".glb"), ("preview", preview, ".mp4")):
        if path is not None:
            if Path(path).suffix.lower() != ext:
                raise ArgumentError(f"{{{name}}} {path} must be a {ext} file, got "
                                    f"{Path(path).suffix or 'no extension'!r}", name)
            check_writable(Path(path))
    if video is not None:  # an unreadable clip, or no preview extra, fails before the fit
        from pose2rig.extras import require_extra

        require_extra("preview")
        from pose2rig.video import probe

        probe(video)
    if suffix == ".npz":  # a file that holds no poses fails before the body model is built
        from pose2rig.io.npz import contents

        contents(src)
    model = load_body_model(o.body)
    world, _, camera_map = _read_source(src, o)
    rotation, translation = camera_map if camera_map is not None else (None, None)
    fit = fit_pose(world, model, o.body, fit_options=fit_options, progress=progress, world_rotation=rotation,
                   world_translation=translation)
    write_body(out, fit, o.body)
    if mesh is not None or preview is not None:
        from pose2rig.body.io import read_body_npz

        body = read_body_npz(out)
        if mesh is not None:
            write_body_mesh(mesh, body, model)
        if preview is not None and video is not None:  # one without the other was refused above
            body_preview(preview, video, body, model, pose_file=src if suffix == ".npz" else None,
                         timestamps=world.timestamps, progress=progress)
    return fit


def write_body_mesh(path: str | Path, body: BodyFile | str | Path, model: BodyModel) -> Path:
    """Write a body fit as an animated skinned ``.glb`` (:func:`pose2rig.io.gltf.write_glb`), atomically.

    The file holds one bone per model joint, the model's rest mesh for the fitted shape skinned
    to them (SMPL's own weights, Anny's summed onto its driven joints, 4 per vertex), and the
    fit's motion as one animation keyed per frame (:func:`pose2rig.body.mesh.body_animation`);
    Blender and :func:`pose2rig.io.gltf.read_glb_animation` read it. SMPL's pose correctives
    (``posedirs``) are not in it: glTF skins by linear blend skinning alone.

    Args:
        path: the ``.glb`` to write.
        body: the body fit (:class:`~pose2rig.body.io.BodyFile`, or its ``.npz``).
        model: the body model it was fitted with (:func:`load_body_model`).

    Raises:
        Pose2RigError: a path that is not ``.glb``, a model that is not the body's.
    """
    from pose2rig.body.io import read_body_npz
    from pose2rig.body.mesh import body_animation
    from pose2rig.io.gltf import write_glb

    p = Path(path)
    if p.suffix.lower() != ".glb":
        raise ArgumentError(f"{{path}} {p} must be a .glb file, got {p.suffix or 'no extension'!r}", "path")
    b = body if not isinstance(body, (str, Path)) else read_body_npz(body)
    return write_glb(body_animation(b, model), p, name="body_fit")


def body_preview(
    path: str | Path,
    video: str | Path,
    body: BodyFile | str | Path,
    model: BodyModel,
    *,
    pose_file: str | Path | None = None,
    timestamps: np.ndarray | None = None,
    progress: Progress = True,
) -> str:
    """Render the posed body mesh over ``video`` into the ``.mp4`` ``path``, atomically; returns
    the codec (:func:`pose2rig.render_character.render_character_overlay`).

    The fit's world is the pose file's (``convert --npz``'s): where ``pose_file`` holds its
    ``camera_matrix`` and the map ``p_world = world_rotation @ p_camera + world_translation``
    (and its world joints are its camera joints through that map: not so where root motion
    was removed), the body is drawn over each frame through that camera, at the clip's size
    (the intrinsics scaled where the clip's size is not the pose file's ``image_size``).
    Otherwise (a ``lift`` or BVH source, root motion removed, no pose file) there is no camera
    for the world: the body is drawn beside the clip from the character preview's following
    camera (:func:`~pose2rig.render_character.render_character_preview`), with a warning.

    Frames: the body's frame ``t`` is at ``timestamps[t]`` on the clip's clock (default: the
    pose file's ``timestamps`` where it has as many frames as the body, else its first one
    ``+ t / fps``); the preview holds the clip's frames over the body's time span, each showing
    the nearest body frame. A clip with another number of frames over that span than the pose
    file (not the clip it was made from, or a pose file resampled to another rate) is refused,
    not resampled.

    Args:
        path: the ``.mp4`` to write.
        video: the clip the pose file was made from.
        body: the body fit (:class:`~pose2rig.body.io.BodyFile`, or its ``.npz``).
        model: the body model it was fitted with.
        pose_file: the pose ``.npz`` the body was fitted to, or None.
        timestamps: ``(T,)`` seconds, the body frames' times on the clip.
        progress: show a progress bar.

    Raises:
        Pose2RigError: an unreadable clip, a clip that does not match the pose file's frames,
            a model that is not the body's.
    """
    from pose2rig.body.io import read_body_npz
    from pose2rig.body.mesh import body_animation
    from pose2rig.video import open_video

    b = body if not isinstance(body, (str, Path)) else read_body_npz(body)
    t_count = b.num_frames
    arrays: dict[str, np.ndarray] = {}
    if pose_file is not None:
        from pose2rig.io.npz import read_arrays

        arrays = read_arrays(pose_file)
    pose_times = None
    if "timestamps" in arrays:
        pose_times = np.asarray(arrays["timestamps"], dtype=np.float64).reshape(-1)
    elif "joints3d_world" in arrays or "joints3d" in arrays:
        frames_in = len(arrays["joints3d_world" if "joints3d_world" in arrays else "joints3d"])
        pose_times = np.arange(frames_in) / float(np.asarray(arrays.get("fps", b.fps)))
    if timestamps is not None:
        times = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    elif pose_times is not None and len(pose_times) == t_count:
        times = pose_times
    else:
        times = (0.0 if pose_times is None else float(pose_times[0])) + np.arange(t_count) / b.fps
    if times.shape != (t_count,) or not np.isfinite(times).all():
        raise ArgumentError(f"{{timestamps}} must be ({t_count},) finite seconds, got {times.shape}", "timestamps")
    half = 0.5 / b.fps
    start, end = max(0.0, float(times[0]) - half), float(times[-1]) + half
    expected = t_count if pose_times is None else int(np.count_nonzero((pose_times >= start) & (pose_times < end)))

    camera = None
    if {"camera_matrix", "world_rotation", "world_translation"} <= arrays.keys() and _world_maps_camera(arrays):
        k = np.asarray(arrays["camera_matrix"], dtype=np.float64)
        pose = np.eye(4)
        pose[:3, :3] = np.asarray(arrays["world_rotation"], dtype=np.float64)
        pose[:3, 3] = np.asarray(arrays["world_translation"], dtype=np.float64)
        camera = (k, pose, np.asarray(arrays.get("image_size", ()), dtype=np.float64).reshape(-1))
    animation = body_animation(b, model)
    with open_video(video, start=start, end=end) as frames:
        if len(frames) != expected:
            raise ArgumentError(
                f"{{video}} {video} has {len(frames)} frames from {start:.3f} to {end:.3f} s where the pose file "
                f"has {expected}: give the clip the pose file was made from (a resampled pose file is not "
                "matched)", "video")
        info = frames.info
        if camera is None:
            from pose2rig.render_character import render_character_preview

            log.warning("%s: no camera for the body's world (camera_matrix, world_rotation and "
                        "world_translation, as convert --npz writes them, with root motion kept): the body "
                        "is drawn beside the clip", pose_file if pose_file is not None else "no pose file")
            return render_character_preview(path, animation, frames=frames, progress=progress)
        from pose2rig.render_character import render_character_overlay

        k, pose, image_size = camera
        if image_size.shape == (2,) and np.all(image_size > 0):
            k = np.diag([info.width / image_size[0], info.height / image_size[1], 1.0]) @ k
        return render_character_overlay(path, animation, frames, camera_matrix=k, camera_to_world=pose,
                                        frame_times=times, fps=info.fps, progress=progress)


def _window(times: np.ndarray, start: float | None, end: float | None, *, fps: float) -> np.ndarray:
    """``(T,)`` bool: the frames with ``start <= t < end`` (either bound may be None); a frame
    within 1% of a frame's time from a bound is at it (BVH frame times are rounded)."""
    tol = 0.01 / fps
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= start - tol
    if end is not None:
        keep &= times < end - tol
    return keep


def _uniform(times: np.ndarray, fps: float) -> bool:
    """Whether ``times`` step by ``1 / fps`` to within 1% of a frame."""
    return len(times) < 2 or bool(np.all(np.abs(np.diff(times) * fps - 1.0) < 0.01))


def _frames(pose: PoseSequence, keep: np.ndarray) -> PoseSequence:
    """The frames of ``pose`` where ``keep`` is True."""
    assert pose.confidence is not None  # PoseSequence fills it in
    return pose.replace(
        joints=pose.joints[keep], confidence=pose.confidence[keep], timestamps=pose.timestamps[keep],
        landmarks33=pose.landmarks33[keep] if pose.landmarks33 is not None else None,
    )


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` scaled to unit length (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float64)
