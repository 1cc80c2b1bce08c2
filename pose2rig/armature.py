"""The flow onto an armature of the running Blender session: map its bones, retarget, key.

The library side of the Blender add-on's library mode (``blender_addon/``): the add-on runs
:func:`pose2rig.pipeline.convert` and hands its result's poses here, in Blender's own process.
The add-on's executable mode gets the same keys from ``pose2rig retarget --blend-action``
(:func:`pose2rig.io.blender_scene.write_action_blend`): both key with
:func:`pose2rig.io.blender.key_action`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.blender_scene import FPS_PROPERTY
from pose2rig.options import DEFAULT_ROOT_MOTION
from pose2rig.types import PoseSequence

__all__ = ["FPS_PROPERTY", "animate_armature"]

log = logging.getLogger(__name__)


def animate_armature(
    obj: Any,
    poses: PoseSequence,
    *,
    root_motion: str | bool = DEFAULT_ROOT_MOTION,
    action_name: str = "pose2rig",
    frame_start: int = 1,
    rig_map: str | os.PathLike[str] | Mapping[str, str] | None = None,
    extremities: dict[str, np.ndarray] | None = None,
    set_scene_fps: bool = False,
    set_frame_range: bool = False,
) -> Any:
    """Animate the armature object ``obj`` of the current scene with ``poses``; a new action.

    Reads the armature (:func:`~pose2rig.io.blender.rig_from_armature`, without meshes; in Edit
    Mode its edit bones are flushed first), maps its bones
    (:func:`~pose2rig.retarget.mapping.map_rig`), retargets
    (:func:`~pose2rig.retarget.character.retarget`) and keys the result with
    :func:`~pose2rig.io.blender.key_action`, which assigns the action (and its slot) to ``obj``
    and keys each bone in its own rotation mode. The action records the animation's frame rate
    in its custom property :data:`FPS_PROPERTY`.

    The scene is changed only when asked, as Blender's own importers do. Unless
    ``set_scene_fps``, poses at another rate than the scene's (``render.fps / render.fps_base``)
    are first resampled to it (:func:`pose2rig.clean.resample`, ``extremities`` alike), so
    that the keys, one per scene frame, play the motion at its own speed.

    Args:
        obj: a ``bpy.types.Object`` of type ``'ARMATURE'``.
        poses: world-space poses (``ConvertResult.world_pose``, or an npz read with
            ``load_pose(path, space="world")``); frames with missing joints hold the nearest
            complete frame.
        root_motion: ``"on"``: move the character through space as the subject moves, on its
            root bones; ``"ground"``: the armature's root bone under the hips on the floor, with
            the travel and heading, the hips with their height (an armature whose hips bone is
            its root gets no new bone here: a warning, and ``"on"``); ``"off"``: in place.
            ``True``/``False`` are ``"on"``/``"off"``.
        action_name: the new action's name (Blender adds ``.001`` on a clash).
        frame_start: the frame of the first key.
        rig_map: role -> bone name overriding the automatic mapping: a dict, or a JSON file as
            ``--map`` takes.
        extremities: feet headings and hand knuckle lines (:func:`pose2rig.world.extremities`
            of the camera-space poses), as :func:`~pose2rig.retarget.character.retarget` takes.
        set_scene_fps: key one frame per pose frame and set the scene's frame rate to the
            poses' (else the poses are resampled to the scene's rate).
        set_frame_range: set the scene's frame range to the keys' and move it to
            ``frame_start``.

    Returns:
        The new ``bpy.types.Action`` (one key per frame on every mapped bone's channels:
        ``rotation_quaternion``, ``rotation_axis_angle`` or ``rotation_euler`` as the bone's
        rotation mode, and ``location`` on root bones).

    Raises:
        Pose2RigError: ``obj`` is not an armature, its bones cannot be mapped, or ``poses`` is
            not world-space Human3.6M-like motion. Nothing is created then.
    """
    from pose2rig.io.blender import key_action, rig_from_armature
    from pose2rig.retarget import load_mapping_file, map_rig, retarget

    if getattr(obj, "type", None) != "ARMATURE":
        raise Pose2RigError(f"{getattr(obj, 'name', obj)!r} is not an armature object")
    if obj.mode == "EDIT":
        obj.update_from_editmode()
    overrides = None
    if isinstance(rig_map, Mapping):
        overrides = dict(rig_map)
    elif rig_map is not None:
        overrides = load_mapping_file(Path(rig_map))
    rig = rig_from_armature(obj, with_mesh=False)
    mapping = map_rig(rig, overrides)
    if not set_scene_fps:
        import bpy  # obj is a bpy object: bpy is there

        render = bpy.context.scene.render
        poses, extremities = _at_rate(poses, extremities, render.fps / render.fps_base)
    animation = retarget(poses, rig, mapping=mapping, root_motion=root_motion, extremities=extremities,
                         add_root=False)
    action = key_action(obj, animation, name=action_name, frame_start=frame_start,
                        set_scene_fps=set_scene_fps, set_frame_range=set_frame_range)
    action[FPS_PROPERTY] = float(animation.fps)
    return action


def _at_rate(
    poses: PoseSequence, extremities: dict[str, np.ndarray] | None, fps: float
) -> tuple[PoseSequence, dict[str, np.ndarray] | None]:
    """``poses`` and its ``extremities`` resampled to ``fps`` (unchanged when already at it);
    the extremities' directions are interpolated at the new times and made unit again."""
    if np.isclose(poses.fps, fps, rtol=1e-6, atol=0.0):
        return poses, extremities
    from pose2rig.clean import interpolate_at, resample

    log.info("resampling %d frames at %.4g fps to the scene's %.4g fps", poses.num_frames, poses.fps, fps)
    out = resample(poses, fps=fps)
    if extremities:
        moved = {}
        for key, v in extremities.items():
            d = interpolate_at(v, poses.timestamps, out.timestamps)
            with np.errstate(invalid="ignore", divide="ignore"):
                moved[key] = d / np.linalg.norm(d, axis=-1, keepdims=True)
        extremities = moved
    return out, extremities
