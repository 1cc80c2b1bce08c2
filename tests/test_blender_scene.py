"""Tests for pose2rig.io.blender_scene: motion onto armatures of the running Blender session, and
actions alone in .blend files (what ``pose2rig retarget --blend-action`` writes and the add-on
appends). The two paths must give the same keys, on armatures with an object transform too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.testing import tpose_rig

BVH = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1" / "dataset-1_bow_normal_001.bvh"


@pytest.fixture(scope="module")
def poses():
    from pose2rig.io.mocap import load_bvh_as_h36m17

    seq = load_bvh_as_h36m17(BVH)
    return seq.replace(joints=seq.joints[:24], timestamps=seq.timestamps[:24], confidence=None)


def _empty(bpy):
    bpy.ops.wm.read_factory_settings(use_empty=True)


MODES = {"thigh_l": "XYZ", "calf_l": "ZXY", "upperarm_r": "AXIS_ANGLE"}
"""Rotation modes other than quaternions on some of the tpose rig's mapped bones."""


def _hero(bpy, rig, *, moved: bool, modes: dict[str, str] | None = None):
    from pose2rig.io.blender import build_armature

    obj = build_armature(rig.with_mesh(None), "Hero")
    for bone, mode in (modes or {}).items():
        obj.pose.bones[bone].rotation_mode = mode
    if moved:  # keys must honour the object's own transform
        obj.location = (1.0, 2.0, 0.5)
        obj.rotation_euler = (0.0, 0.0, 0.7)
        obj.scale = (2.0, 2.0, 2.0)
        bpy.context.view_layer.update()
    return obj


def _keys(obj) -> dict[tuple[str, int], np.ndarray]:
    from bpy_extras import anim_utils

    adt = obj.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    out = {}
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[fc.data_path, fc.array_index] = co.reshape(-1, 2)
    return out


def _append(bpy, path: Path, obj):
    with bpy.data.libraries.load(str(path)) as (src, dst):
        assert src.objects == [] and src.armatures == [] and len(src.actions) == 1  # the action alone
        dst.actions = list(src.actions)
    action = dst.actions[0]
    adt = obj.animation_data_create()
    adt.action = action
    adt.action_slot = action.slots[0]
    return action


@pytest.mark.slow
@pytest.mark.parametrize("from_blend", [True, False], ids=["rig_from_blend", "rig_built"])
def test_action_blend_gives_animate_armatures_keys(bpy, poses, tmp_path, from_blend):
    """A rig read from a .blend (its armature moved, turned and scaled, some bones in Euler and
    axis-angle modes) and a rig from elsewhere (the armature built at the origin): the appended
    action holds animate_armature's keys, on each bone's own rotation channel."""
    from pose2rig.armature import FPS_PROPERTY, animate_armature
    from pose2rig.io.blender_scene import write_action_blend
    from pose2rig.io.rigs import load_rig
    from pose2rig.retarget.character import retarget

    _empty(bpy)
    obj = _hero(bpy, tpose_rig(), moved=from_blend, modes=MODES if from_blend else None)
    rig_file = tmp_path / "hero.blend"
    scene = bpy.data.scenes.new("rig")  # the armature alone in a scene, as the add-on writes it
    scene.collection.objects.link(obj)
    bpy.data.libraries.write(str(rig_file), {scene}, fake_user=True)
    bpy.data.scenes.remove(scene)
    action = animate_armature(obj, poses, action_name="bow", frame_start=1, set_scene_fps=True)
    assert obj.animation_data.action == action and action[FPS_PROPERTY] == pytest.approx(poses.fps)
    want = _keys(obj)
    if from_blend:
        assert ('pose.bones["thigh_l"].rotation_euler', 2) in want
        assert ('pose.bones["upperarm_r"].rotation_axis_angle', 3) in want
        assert ('pose.bones["thigh_l"].rotation_quaternion', 0) not in want

    rig = load_rig(rig_file) if from_blend else tpose_rig()
    assert (rig.source is not None) == from_blend
    out = write_action_blend(retarget(poses, rig), tmp_path / "bow.blend", action_name="bow")
    assert out == tmp_path / "bow.blend" and not list(tmp_path.glob(".bow*"))

    _empty(bpy)
    if from_blend:
        bpy.ops.wm.open_mainfile(filepath=str(rig_file), load_ui=False)
        target = bpy.data.objects["Hero"]
    else:
        target = _hero(bpy, tpose_rig(), moved=False)
    got_action = _append(bpy, out, target)
    assert got_action.name == "bow" and got_action[FPS_PROPERTY] == pytest.approx(poses.fps)
    got = _keys(target)
    assert {b.name: b.rotation_mode for b in target.pose.bones if b.rotation_mode != "QUATERNION"} == (
        MODES if from_blend else {})
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, err_msg=str(k))
    assert len(want['pose.bones["pelvis"].location', 0]) == poses.num_frames


@pytest.mark.slow
def test_animate_armature_changes_the_scene_only_when_asked(bpy, poses):
    """By default the scene keeps its 24 fps, frame range and frame, and the 30 fps poses (and
    their extremities) are resampled to 24 fps; asked, the scene takes the poses' rate and the
    keys' frame range, one key per pose frame."""
    from pose2rig.armature import FPS_PROPERTY, animate_armature

    _empty(bpy)
    obj = _hero(bpy, tpose_rig(), moved=False)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end = 5, 300
    scene.frame_set(9)
    assert poses.fps == pytest.approx(30.0, rel=1e-5) and poses.num_frames == 24
    ahead = np.tile([0.0, 0.0, 1.0], (poses.num_frames, 1))  # (T, 3): must follow the resampling
    action = animate_armature(obj, poses, extremities={"left_foot": ahead, "right_foot": ahead})
    n = int(np.floor((poses.timestamps[-1] - poses.timestamps[0]) * 24 + 1e-6)) + 1
    assert n == 19  # 23 frames at 30 fps: 0.7667 s
    assert {len(k) for k in _keys(obj).values()} == {n} and tuple(action.frame_range) == (1, n)
    assert action[FPS_PROPERTY] == pytest.approx(24.0)
    assert (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.frame_current) == (
        24, 1.0, 5, 300, 9)

    action = animate_armature(obj, poses, set_scene_fps=True)
    assert {len(k) for k in _keys(obj).values()} == {24} and action[FPS_PROPERTY] == pytest.approx(poses.fps)
    assert scene.render.fps / scene.render.fps_base == pytest.approx(poses.fps)
    assert (scene.frame_start, scene.frame_end, scene.frame_current) == (5, 300, 9)

    scene.render.fps, scene.render.fps_base = 24, 1.0
    animate_armature(obj, poses, set_frame_range=True, frame_start=3)
    assert {len(k) for k in _keys(obj).values()} == {n} and scene.render.fps == 24
    assert (scene.frame_start, scene.frame_end, scene.frame_current) == (3, 3 + n - 1, 3)


@pytest.mark.slow
def test_animate_armature_takes_a_mapping_for_unknown_bone_names(bpy, poses):
    from pose2rig.armature import animate_armature
    from pose2rig.io.blender import build_armature

    rig = tpose_rig()
    rename = {n: f"b_{n}" for n in rig.bone_names}
    odd = replace(rig, bone_names=tuple(rename[n] for n in rig.bone_names), mesh=None)
    _empty(bpy)
    obj = build_armature(odd, "Odd")
    with pytest.raises(Pose2RigError, match="lacks bones for hips"):
        animate_armature(obj, poses)
    assert len(bpy.data.actions) == 0  # nothing made before the mapping is known
    roles = {"hips": "pelvis", "head": "head", "neck": "neck_01"}
    for s, side in (("l", "left"), ("r", "right")):
        roles.update({f"{side}_thigh": f"thigh_{s}", f"{side}_shin": f"calf_{s}", f"{side}_foot": f"foot_{s}",
                      f"{side}_upper_arm": f"upperarm_{s}", f"{side}_forearm": f"lowerarm_{s}",
                      f"{side}_hand": f"hand_{s}", f"{side}_clavicle": f"clavicle_{s}"})
    action = animate_armature(obj, poses, rig_map={r: rename[b] for r, b in roles.items()}, action_name="x")
    assert action.name == "x" and obj.animation_data.action == action
    assert ('pose.bones["b_thigh_l"].rotation_quaternion', 0) in _keys(obj)


@pytest.mark.slow
def test_refusals(bpy, poses, tmp_path):
    from pose2rig.armature import animate_armature
    from pose2rig.io.blender_scene import write_action_blend
    from pose2rig.retarget.character import retarget

    _empty(bpy)
    mesh = bpy.data.objects.new("Box", bpy.data.meshes.new("Box"))
    with pytest.raises(Pose2RigError, match="'Box' is not an armature"):
        animate_armature(mesh, poses)
    with pytest.raises(Pose2RigError, match="expected a .blend file name"):
        write_action_blend(retarget(poses, tpose_rig()), tmp_path / "bow.fbx")
    assert list(tmp_path.iterdir()) == []
