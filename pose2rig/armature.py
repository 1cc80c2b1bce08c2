"""The flow onto an armature of the running Blender session: map its bones, retarget, key.

The library side of the Blender add-on's library mode (``blender_addon/``): the add-on runs
:func:`pose2rig.pipeline.convert` and hands its result's poses here, in Blender's own process.
The add-on's executable mode gets the same keys from ``pose2rig retarget --blend-action``
(:func:`pose2rig.io.blender_scene.write_action_blend`): both key with
:func:`pose2rig.io.blender.key_action`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.blender_scene import FPS_PROPERTY
from pose2rig.types import PoseSequence

__all__ = ["FPS_PROPERTY", "animate_armature"]


def animate_armature(
    obj: Any,
    poses: PoseSequence,
    *,
    root_motion: bool = True,
    action_name: str = "pose2rig",
    frame_start: int = 1,
    rig_map: str | os.PathLike[str] | Mapping[str, str] | None = None,
    extremities: dict[str, np.ndarray] | None = None,
) -> Any:
    """Animate the armature object ``obj`` of the current scene with ``poses``; a new action.

    Reads the armature (:func:`~pose2rig.io.blender.rig_from_armature`, without meshes; in Edit
    Mode its edit bones are flushed first), maps its bones
    (:func:`~pose2rig.retarget.mapping.map_rig`), retargets
    (:func:`~pose2rig.retarget.character.retarget`) and keys the result with
    :func:`~pose2rig.io.blender.key_action`, which assigns the action (and its slot) to ``obj``
    and sets the scene's fps and frame range.

    Args:
        obj: a ``bpy.types.Object`` of type ``'ARMATURE'``.
        poses: world-space poses (``ConvertResult.world_pose``, or an npz read with
            ``load_pose(path, space="world")``); frames with missing joints hold the nearest
            complete frame.
        root_motion: move the character through space as the subject moves (else in place).
        action_name: the new action's name (Blender adds ``.001`` on a clash).
        frame_start: the frame of the first key.
        rig_map: role -> bone name overriding the automatic mapping: a dict, or a JSON file as
            ``--map`` takes.
        extremities: feet headings and hand knuckle lines (:func:`pose2rig.world.extremities`
            of the camera-space poses), as :func:`~pose2rig.retarget.character.retarget` takes.

    Returns:
        The new ``bpy.types.Action`` (one key per frame on every mapped bone's channels).

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
    animation = retarget(poses, rig, mapping=map_rig(rig, overrides), root_motion=root_motion,
                         extremities=extremities)
    action = key_action(obj, animation, name=action_name, frame_start=frame_start)
    action[FPS_PROPERTY] = float(animation.fps)
    return action
