"""Animations as Blender actions in ``.blend`` files of their own.

:func:`write_action_blend` is what a ``pose2rig retarget --blend-action`` subprocess of the Blender
add-on writes; the add-on appends the action. The add-on's other path, in Blender's own process,
is :func:`pose2rig.armature.animate_armature`. Both key the action with
:func:`pose2rig.io.blender.key_action`, so the two give the same keys.

Convention:
    - Keys sit at frames ``frame_start + i``, one per pose frame (``frame_start=1``: Blender's
      first frame). The action records the animation's frame rate in its custom property
      ``"pose2rig_fps"`` (a ``.blend`` action carries no scene, so whoever appends it may set
      the scene's rate from there).
    - Axes, units and object transforms: as :mod:`pose2rig.io.blender` (the armature's own
      object transform is honoured; keys are in its bones' rest frames).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path, check_writable
from pose2rig.rig import RigAnimation

__all__ = ["FPS_PROPERTY", "write_action_blend"]

log = logging.getLogger(__name__)

FPS_PROPERTY = "pose2rig_fps"
"""Custom property of the actions made here: the animation's frame rate (float)."""


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
