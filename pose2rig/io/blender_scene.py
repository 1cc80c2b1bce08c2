"""Motion onto armatures of a Blender session, and actions as ``.blend`` files.

The library side of the Blender add-on (``blender_addon/``): the add-on's panel and operators
only gather options and call these, in Blender's own process (:func:`animate_armature`) or in a
``pose2rig retarget --blend-action`` subprocess (:func:`write_action_blend`) whose action the
add-on then appends. Both key the action with :func:`pose2rig.io.blender.key_action`, so the two
give the same keys.

Convention:
    - Keys sit at frames ``frame_start + i``, one per pose frame (``frame_start=1``: Blender's
      first frame). The action records the animation's frame rate in its custom property
      ``"pose2rig_fps"`` (a ``.blend`` action carries no scene, so whoever appends it sets the
      scene's rate from there).
    - Axes, units and object transforms: as :mod:`pose2rig.io.blender` (the armature's own
      object transform is honoured; keys are in its bones' rest frames).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path, check_writable
from pose2rig.retarget.rig import RigAnimation
from pose2rig.types import PoseSequence

__all__ = ["FPS_PROPERTY", "animate_armature", "write_action_blend"]

log = logging.getLogger(__name__)

FPS_PROPERTY = "pose2rig_fps"
"""Custom property of the actions made here: the animation's frame rate (float)."""


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
    from pose2rig.retarget.character import retarget
    from pose2rig.retarget.mapping import load_mapping_file, map_rig

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


def _armature_for(bpy: Any, animation: RigAnimation) -> Any:
    """The armature object to key ``animation`` on: the one in the rig's ``.blend`` file with
    exactly the rig's bones, or else (any other source) the rig built in an empty scene."""
    from pose2rig.io.blender import _empty_scene, _operator, build_armature

    rig = animation.rig
    source = rig.source
    if source is not None and Path(source).suffix.lower() == ".blend":
        _operator(bpy.ops.wm.open_mainfile, f"cannot read {source}", filepath=str(source), load_ui=False)
        scene = bpy.context.scene
        want = set(rig.bone_names)
        found = [o for o in bpy.data.objects
                 if o.type == "ARMATURE" and o.library is None and {b.name for b in o.data.bones} == want]
        if not found:
            raise Pose2RigError(f"{source} no longer holds an armature with the bones of rig {rig.name!r}")
        if len(found) > 1:
            log.warning("%s holds %d armatures with the same bones; keying %r", source, len(found), found[0].name)
        obj = found[0]
        if obj.name not in scene.objects:  # written without a scene: evaluate it here
            scene.collection.objects.link(obj)
            bpy.context.view_layer.update()  # else its matrix_world reads as the identity
        return obj
    _empty_scene()
    return build_armature(rig.with_mesh(None))


def write_action_blend(
    animation: RigAnimation,
    path: str | os.PathLike[str],
    *,
    action_name: str = "pose2rig",
    frame_start: int = 1,
) -> Path:
    """Write ``animation`` as one Blender action in a ``.blend`` file of its own (atomically).

    The action is keyed by :func:`~pose2rig.io.blender.key_action` onto the armature it is for:
    when the rig was read from a ``.blend`` file (``animation.rig.source``, as
    :func:`pose2rig.io.rigs.load_rig` sets it), that file is opened and its armature with exactly
    the rig's bones is used, so the keys honour that object's transform; for any other rig the
    armature is built in an empty scene (:func:`~pose2rig.io.blender.build_armature`, at the
    origin). Only the action is written (with a fake user), not the armature: append it with
    ``bpy.data.libraries.load`` and assign it, with ``action.slots[0]``, to the armature. Its
    frame rate is in the custom property :data:`FPS_PROPERTY`.

    This replaces the Blender session's data (the file is opened, or a factory scene loaded).

    Returns:
        ``path`` as a Path.
    """
    from pose2rig.io.blender import _bpy, key_action

    target = Path(path)
    if target.suffix.lower() != ".blend":
        raise Pose2RigError(f"{target}: expected a .blend file name, got {target.suffix or 'no extension'!r}")
    check_writable(target)
    bpy = _bpy()
    obj = _armature_for(bpy, animation)
    action = key_action(obj, animation, name=action_name, frame_start=frame_start)
    action[FPS_PROPERTY] = float(animation.fps)
    with atomic_path(target) as tmp:
        bpy.data.libraries.write(str(tmp), {action}, fake_user=True)
    return target
