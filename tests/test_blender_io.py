"""Tests for pose2rig.io.blender: rigs and animations through bpy (FBX, glTF, .blend).

Round trips go out through Blender's exporters and back through its importers, with the
conventions checked on their own: the FBX files' declared axes and units are read with the FBX
add-on's low-level parser and the GLB's joints with pygltflib, neither of which converts anything.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import frame_from_vectors
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh

CHARACTERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "characters"
C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Blender -> world, spelt out


@pytest.fixture(scope="module")
def B(bpy):
    from pose2rig.io import blender

    return blender


def _rig(mesh: bool = True) -> Rig:
    """Five bones: up the spine, down a leg, a foot pointing forward (+Z); rolls all different."""
    names = ("hips", "spine", "head", "thigh.L", "foot.L")
    parents = (-1, 0, 1, 0, 3)
    heads = np.array([[0, 1.0, 0], [0, 1.2, 0.02], [0, 1.6, 0.0], [0.1, 0.95, 0], [0.12, 0.1, 0.0]])
    dirs = np.array([[0, 1, 0.1], [0, 1, -0.05], [0, 1, 0], [0.02, -1, 0.01], [0, -0.2, 1.0]])
    secondary = np.array([[1, 0, 0.3], [0.2, 0, 1], [-1, 0.1, 0.4], [0, 0.3, 1], [1, 1, 0]])
    rest = np.tile(np.eye(4), (5, 1, 1))
    rest[:, :3, :3] = frame_from_vectors(dirs, secondary, "yx")
    rest[:, :3, 3] = heads
    tails = heads + 0.15 * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    skin = None
    if mesh:
        v = np.array([[0.1, 1, 0.1], [-0.1, 1, 0.1], [0, 1.3, 0.1], [0, 1.7, 0.05], [0.15, 0.5, 0.05],
                      [0.12, 0.05, 0.2]])
        f = np.array([[0, 1, 2], [1, 2, 3], [0, 2, 4], [0, 4, 5]])
        j = np.array([[0, 1], [0, 1], [1, 2], [2, 0], [3, 4], [4, 0]])
        w = np.array([[0.7, 0.3], [0.6, 0.4], [0.5, 0.5], [1, 0], [0.8, 0.2], [1, 0]])
        skin = SkinnedMesh(v, f, j, w, name="skin")
    return Rig("synth", names, parents, rest, tails, skin)


def _animation(rig: Rig, frames: int = 12, fps: float = 30.0) -> RigAnimation:
    """Every bone swinging by up to ~70 degrees; the root walking forward and bobbing."""
    rng = np.random.default_rng(0)
    t = np.arange(frames) / fps
    amp = rng.uniform(0.3, 1.2, (rig.num_bones, 3))
    phase = rng.uniform(0, 6, (rig.num_bones, 3))
    rv = amp * np.sin(2 * np.pi * 1.3 * t[:, None, None] + phase)
    q = Rotation.from_rotvec(rv.reshape(-1, 3)).as_quat(scalar_first=True).reshape(frames, rig.num_bones, 4)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    pos = rig.heads[roots][None] + np.stack([0.5 * t, 0.05 * np.sin(8 * t), 0.3 * t], -1)[:, None]
    return RigAnimation(rig, q, pos, fps)


def _by_name(rig: Rig, names: tuple[str, ...]) -> list[int]:
    return [rig.bone_names.index(n) for n in names]


def _assert_same_motion(got: RigAnimation, want: RigAnimation, *, pos_m: float = 1e-4, deg: float = 0.1) -> None:
    idx = _by_name(got.rig, want.rig.bone_names)
    a, b = got.world_matrices()[:, idx], want.world_matrices()
    assert np.abs(a[..., :3, 3] - b[..., :3, 3]).max() < pos_m
    rel = np.swapaxes(a[..., :3, :3], -1, -2) @ b[..., :3, :3]
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    assert angle.max() < deg


def _fbx_settings(path: Path) -> tuple[dict, dict]:
    """The file's GlobalSettings and each Model's properties, read raw (no axis conversion)."""
    from io_scene_fbx import parse_fbx

    root, _ = parse_fbx.parse(str(path))

    def props(elem) -> dict:
        p70 = next((e for e in elem.elems if e.id == b"Properties70"), None)
        return {} if p70 is None else {e.props[0].decode(): e.props[4:] for e in p70.elems}

    settings = props(next(e for e in root.elems if e.id == b"GlobalSettings"))
    objects = next(e for e in root.elems if e.id == b"Objects")
    models = {m.props[1].split(b"\x00")[0].decode(): props(m) for m in objects.elems if m.id == b"Model"}
    return settings, models


# ---------------------------------------------------------------------------------------------
# without Blender


def test_import_needs_no_bpy_and_missing_bpy_says_which_extra(monkeypatch, tmp_path):
    import subprocess

    code = "import sys, pose2rig.io.blender; assert 'bpy' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
    import pose2rig.io.blender as blender

    monkeypatch.setitem(sys.modules, "bpy", None)  # makes `import bpy` raise ImportError
    with pytest.raises(Pose2RigError, match=r"blender.*extra|extra.*blender"):
        blender.export_fbx(_animation(_rig()), tmp_path / "x.fbx")
    assert not any(tmp_path.iterdir())


def test_unsupported_extension_and_missing_file_fail_before_blender(tmp_path):
    from pose2rig.io.blender import load_rig, read_fbx_animation

    (tmp_path / "char.obj").write_text("v 0 0 0\n")
    with pytest.raises(Pose2RigError, match=r"unsupported file type '\.obj'.*\.fbx, \.blend, \.glb, \.gltf"):
        load_rig(tmp_path / "char.obj")
    with pytest.raises(Pose2RigError, match="no such file"):
        load_rig(tmp_path / "missing.fbx")
    with pytest.raises(Pose2RigError, match="unsupported file type"):
        read_fbx_animation(tmp_path / "char.obj")


# ---------------------------------------------------------------------------------------------
# conventions


@pytest.mark.slow
def test_convention_blender_z_up_becomes_y_up(bpy, B):
    """Blender (x, y, z) -> world (x, z, -y): up stays up, Blender's front (-Y) becomes +Z, and a
    bone's own axes (y head -> tail) are kept, so pose quaternions need no change."""
    assert np.array_equal(B.BLENDER_TO_WORLD, C)
    B._empty_scene()
    data = bpy.data.armatures.new("a")
    obj = bpy.data.objects.new("a", data)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    up = data.edit_bones.new("up")
    up.head, up.tail, up.roll = (1.0, -2.0, 3.0), (1.0, -2.0, 4.0), 0.0
    front = data.edit_bones.new("front")
    front.head, front.tail, front.roll = (0.0, 0.0, 1.0), (0.0, -0.5, 1.0), 0.0
    front.parent = up
    bpy.ops.object.mode_set(mode="OBJECT")
    rig = B.rig_from_armature(obj)
    assert rig.bone_names == ("up", "front") and rig.parents == (-1, 0)
    assert np.allclose(rig.heads[0], [1.0, 3.0, 2.0])  # (x, z, -y)
    assert np.allclose(rig.rest[0, :3, 1], [0, 1, 0], atol=1e-6)  # Blender +Z bone points up (+Y)
    assert np.allclose(rig.rest[1, :3, 1], [0, 0, 1], atol=1e-6)  # Blender -Y bone points forward
    assert np.allclose(rig.tails[1], [0.0, 1.0, 0.5])
    # rest = C @ matrix_local: the columns (the bone's axes) are the same vectors, relabelled
    local = np.array(obj.data.bones["front"].matrix_local)
    assert np.allclose(rig.rest[1, :3, :3], C @ local[:3, :3], atol=1e-6)


@pytest.mark.slow
def test_object_scale_and_rotation_are_honoured(bpy, B):
    """A Mixamo-style armature (0.01 scale, rotated object): positions in metres, rotations pure,
    and key_action keys it so Blender's own evaluation matches RigAnimation.world_matrices."""
    from mathutils import Matrix

    B._empty_scene()
    obj = B.build_armature(_rig(), "mixamo")
    base = B.rig_from_armature(obj)
    obj.matrix_world = Matrix.Translation((0.3, 0.2, 0.0)) @ Matrix.Rotation(0.7, 4, "Z") @ Matrix.Scale(0.01, 4)
    bpy.context.view_layer.update()
    rig = B.rig_from_armature(obj)
    r = np.linalg.det(rig.rest[:, :3, :3])
    assert np.allclose(r, 1.0, atol=1e-6)
    lengths = np.linalg.norm(rig.heads[1:] - rig.heads[[0, 1, 0, 3]], axis=1)
    assert np.allclose(lengths, 0.01 * np.linalg.norm(base.heads[1:] - base.heads[[0, 1, 0, 3]], axis=1), atol=1e-7)
    assert np.allclose(rig.mesh.vertices, (B._C4 @ np.array(obj.matrix_world) @ np.c_[
        _rig().mesh.vertices @ C, np.ones(6)].T).T[:, :3], atol=1e-6)

    anim = _animation(rig)
    action = B.key_action(obj, anim, name="walk", frame_start=5, set_scene_fps=True, set_frame_range=True)
    scene = bpy.context.scene
    assert obj.animation_data.action == action and obj.animation_data.action_slot is not None
    assert (scene.frame_start, scene.frame_end, scene.render.fps, scene.render.fps_base) == (5, 16, 30, 1.0)
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot)
    assert len(bag.fcurves) == 5 * 4 + 3  # quaternions everywhere, location on the one root
    for fc in bag.fcurves:
        assert len(fc.keyframe_points) == 12
        assert {k.interpolation for k in fc.keyframe_points} == {"LINEAR"}
        assert fc.keyframe_points[0].co[0] == 5 and fc.keyframe_points[-1].co[0] == 16
    want = anim.world_matrices()
    idx = _by_name(rig, tuple(b.name for b in obj.pose.bones))
    for t in range(anim.num_frames):
        scene.frame_set(5 + t)
        m = B._C4 @ np.array(obj.matrix_world) @ np.stack([np.array(pb.matrix) for pb in obj.pose.bones])
        m[:, :3, :3] /= 0.01
        assert np.abs(m - want[t, idx]).max() < 1e-4


def _spin(axis, turns: float, frames: int) -> np.ndarray:
    """``(frames, 4)`` quaternions turning ``turns`` times about ``axis`` (bone frame)."""
    a = np.asarray(axis, dtype=np.float64)
    angle = 2 * np.pi * turns * np.arange(frames) / (frames - 1)
    return Rotation.from_rotvec(angle[:, None] * a / np.linalg.norm(a)).as_quat(scalar_first=True)


@pytest.mark.slow
def test_key_action_keeps_rotation_modes_and_the_scene(bpy, B):
    """Bones in Euler modes (three orders) and axis-angle keep their modes and get continuous
    keys on those channels, posing the armature as quaternion keys do; by default the scene's
    frame rate, frame range and current frame stay as they are."""
    B._empty_scene()
    rig = _rig(mesh=False)
    frames = 60
    anim = _animation(rig, frames=frames, fps=60.0)  # a fine step: no frame turns a bone by 1 rad
    spin = {"spine": _spin([1, 0, 0.1], 2, frames), "head": _spin([0.1, 1, 0], -2, frames),
            "thigh.L": _spin([1, 1, 1], 2, frames)}  # twice round: past +-pi and through q = -1
    q = anim.rotations.copy()
    for b, turning in spin.items():
        q[:, rig.bone_names.index(b)] = turning
    anim = RigAnimation(rig, q, anim.root_positions, anim.fps)
    modes = {"hips": "QUATERNION", "spine": "XYZ", "head": "ZXY", "thigh.L": "AXIS_ANGLE", "foot.L": "YZX"}
    plain = B.build_armature(rig, "plain")
    mixed = B.build_armature(rig, "mixed")
    for b, mode in modes.items():
        mixed.pose.bones[b].rotation_mode = mode
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end = 3, 200
    scene.frame_set(7)
    B.key_action(plain, anim, name="plain")
    action = B.key_action(mixed, anim, name="mixed")
    assert (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.frame_current) == (
        24, 1.0, 3, 200, 7)
    assert tuple(action.frame_range) == (1.0, frames)
    assert {pb.name: pb.rotation_mode for pb in mixed.pose.bones} == modes
    assert {pb.rotation_mode for pb in plain.pose.bones} == {"QUATERNION"}

    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, mixed.animation_data.action_slot)
    keys: dict[str, dict[int, np.ndarray]] = {}
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        assert np.array_equal(co[0::2], np.arange(1, frames + 1))
        keys.setdefault(fc.data_path, {})[fc.array_index] = co[1::2]
    channel = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}
    want = {f'pose.bones["{b}"].{channel.get(m, "rotation_euler")}': 3 if m in ("XYZ", "ZXY", "YZX") else 4
            for b, m in modes.items()}
    assert {p: len(v) for p, v in keys.items()} == {**want, 'pose.bones["hips"].location': 3}
    # continuous: a spin twice round unwrapped (not wrapped into +-pi), no flipped axis
    for b, m in modes.items():
        v = np.stack([keys[f'pose.bones["{b}"].{channel.get(m, "rotation_euler")}'][i]
                      for i in range(4 if m in channel else 3)], axis=-1)
        assert np.abs(np.diff(v, axis=0)).max() < 1.0, b
    assert np.ptp(keys['pose.bones["spine"].rotation_euler'][0]) > 3 * np.pi
    assert np.ptp(keys['pose.bones["head"].rotation_euler'][1]) > 3 * np.pi
    assert np.ptp(keys['pose.bones["thigh.L"].rotation_axis_angle'][0]) > 3 * np.pi

    truth = anim.world_matrices()
    names = tuple(pb.name for pb in mixed.pose.bones)
    idx = _by_name(rig, names)
    for t in range(frames):
        scene.frame_set(1 + t)
        got = {o.name: B._C4 @ np.array(o.matrix_world) @ np.stack([np.array(o.pose.bones[n].matrix) for n in names])
               for o in (plain, mixed)}
        assert np.abs(got["mixed"] - got["plain"]).max() < 1e-4
        assert np.abs(got["mixed"] - truth[t, idx]).max() < 1e-4


# ---------------------------------------------------------------------------------------------
# building and reading armatures


@pytest.mark.slow
def test_build_armature_round_trip(bpy, B):
    rig = _rig()
    B._empty_scene()
    obj = B.build_armature(rig)
    got = B.rig_from_armature(obj)
    idx = _by_name(got, rig.bone_names)
    assert [got.bone_names[got.parents[i]] if got.parents[i] >= 0 else None for i in idx] == [
        rig.bone_names[p] if p >= 0 else None for p in rig.parents
    ]
    assert np.abs(got.rest[idx] - rig.rest).max() < 1e-5
    assert np.abs(got.tails[idx] - rig.tails).max() < 1e-5
    assert np.allclose(got.mesh.vertices, rig.mesh.vertices, atol=1e-6)
    assert np.array_equal(got.mesh.faces, rig.mesh.faces)
    # same weight per (vertex, bone), whatever the slot order
    for v in range(6):
        a = {got.bone_names[j]: w for j, w in zip(got.mesh.joints[v], got.mesh.weights[v]) if w > 0}
        b = {rig.bone_names[j]: w for j, w in zip(rig.mesh.joints[v], rig.mesh.weights[v]) if w > 0}
        assert a.keys() == b.keys() and np.allclose([a[k] for k in b], list(b.values()), atol=1e-6)


@pytest.mark.slow
def test_build_armature_without_tails_uses_child_distance(bpy, B):
    rig = _rig(mesh=False)
    rig = Rig(rig.name, rig.bone_names, rig.parents, rig.rest)
    B._empty_scene()
    obj = B.build_armature(rig)
    got = B.rig_from_armature(obj)
    length = dict(zip(got.bone_names, np.linalg.norm(got.tails - got.heads, axis=1)))
    assert length["hips"] == pytest.approx(0.2010, abs=1e-3)  # to the spine, its first child
    assert length["head"] == pytest.approx(0.5 * length["spine"], abs=1e-6)  # a leaf
    assert np.abs(got.rest[_by_name(got, rig.bone_names)] - rig.rest).max() < 1e-5


@pytest.mark.slow
def test_unweighted_vertices_follow_the_root(bpy, B, caplog):
    B._empty_scene()
    obj = B.build_armature(_rig())
    mesh = obj.children[0]
    mesh.vertex_groups.new(name="not_a_bone").add([0], 1.0, "REPLACE")
    mesh.vertex_groups["foot.L"].remove([5])  # vertex 5 was all foot
    with caplog.at_level(logging.WARNING):
        got = B.rig_from_armature(obj)
    assert "1 of 6 vertices have no weight" in caplog.text
    assert got.mesh.joints[5, 0] == got.bone_names.index("hips") and got.mesh.weights[5, 0] == 1.0
    assert np.allclose(got.mesh.weights.sum(axis=1), 1.0)


@pytest.mark.slow
def test_several_armatures_pick_the_biggest_or_the_named_one(bpy, B, tmp_path, caplog):
    B._empty_scene()
    B.build_armature(_rig(), "character")
    small = _rig(mesh=False)
    B.build_armature(Rig("prop", small.bone_names[:2], small.parents[:2], small.rest[:2]), "prop")
    path = tmp_path / "two.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    with caplog.at_level(logging.WARNING):
        rig = B.load_rig(path)
    assert rig.num_bones == 5 and rig.name == "two" and rig.source == path
    assert "'character' (5 bones)" in caplog.text and "'prop' (2)" in caplog.text
    assert B.load_rig(path, armature="prop").num_bones == 2
    with pytest.raises(Pose2RigError, match="no armature 'nope'"):
        B.load_rig(path, armature="nope")


@pytest.mark.slow
def test_load_rig_mannequiny_glb(B):
    rig = B.load_rig(CHARACTERS / "mannequiny-0.3.0.glb")
    assert rig.num_bones == 45
    assert {"pelvis", "thigh.l", "head", "hand.r"} <= set(rig.bone_names)
    heads = dict(zip(rig.bone_names, rig.heads))
    assert heads["head"][1] > heads["pelvis"][1] > heads["foot.l"][1]  # Y up
    assert heads["ball.l"][2] > heads["foot.l"][2]  # toes forward: facing +Z
    assert heads["thigh.l"][0] > 0 > heads["thigh.r"][0]  # the character's left is +X
    assert rig.mesh is not None and len(rig.mesh.vertices) > 1000
    assert np.allclose(rig.mesh.weights.sum(axis=1), 1.0, atol=1e-5)
    assert rig.mesh.joints.max() < 45


@pytest.mark.slow
def test_key_action_on_an_imported_character(bpy, B):
    """The add-on's path: an armature already in the scene (here mannequiny, which comes with
    its own actions), read with rig_from_armature, keyed, played by Blender."""
    B.load_rig(CHARACTERS / "mannequiny-0.3.0.glb")
    obj = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    old = obj.animation_data.action
    rig = B.rig_from_armature(obj, with_mesh=False)
    anim = _animation(rig, frames=4, fps=24.0)
    action = B.key_action(obj, anim)
    assert obj.animation_data.action == action != old
    want = anim.world_matrices()
    names = [pb.name for pb in obj.pose.bones]
    idx = _by_name(rig, tuple(names))
    for t in range(4):
        bpy.context.scene.frame_set(1 + t)
        got = B._C4 @ np.array(obj.matrix_world) @ np.stack([np.array(obj.pose.bones[n].matrix) for n in names])
        assert np.abs(got - want[t, idx]).max() < 1e-4


# ---------------------------------------------------------------------------------------------
# FBX and GLB round trips


@pytest.mark.slow
@pytest.mark.parametrize("fps", [30.0, 29.97])
def test_fbx_round_trip(B, tmp_path, fps):
    anim = _animation(_rig(), fps=fps)
    path = B.export_fbx(anim, tmp_path / "walk.fbx")
    assert path == tmp_path / "walk.fbx" and [p.name for p in tmp_path.iterdir()] == ["walk.fbx"]
    back = B.read_fbx_animation(path)
    assert back.num_frames == anim.num_frames
    assert back.fps == pytest.approx(fps, rel=1e-5)  # 29.97 is written as NTSC, 30000 / 1001
    assert set(back.rig.bone_names) == set(anim.rig.bone_names)
    assert np.abs(back.rig.rest[_by_name(back.rig, anim.rig.bone_names)] - anim.rig.rest).max() < 1e-5
    _assert_same_motion(back, anim)
    assert back.rig.mesh is not None and len(back.rig.mesh.vertices) == 6


def _fbx_key_times(path: Path) -> tuple[int, float, np.ndarray]:
    """The file's TimeMode, CustomFrameRate and every key time of every curve, in seconds."""
    from io_scene_fbx import parse_fbx

    root, version = parse_fbx.parse(str(path))
    assert version < 7700  # FBX 7.4/7.5 count 46,186,158,000 ticks a second
    settings, _ = _fbx_settings(path)
    objects = next(e for e in root.elems if e.id == b"Objects")
    ticks = [t for c in objects.elems if c.id == b"AnimationCurve"
             for e in c.elems if e.id == b"KeyTime" for t in e.props[0]]
    return settings["TimeMode"][0], settings["CustomFrameRate"][0], np.unique(ticks) / 46186158000


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fps", "stated", "mode"),
    [(1 / 0.008333, 120.0, 1), (1 / 0.033367, 30 / 1.001, 9), (25.0, 25.0, 10), (12.5, 12.5, 14)],
    ids=["bvh-120", "bvh-ntsc", "25", "custom"],
)
def test_fbx_keys_land_on_whole_frames_of_the_rate_it_states(B, tmp_path, fps, stated, mode):
    """A BVH's 'Frame Time: 0.008333' is 120.0048 fps: the file states 120 (FBX's own TimeMode
    for it, not a custom rate) and every key sits on a whole frame of it; a rate FBX has no
    name for stays custom, keys on its whole frames too."""
    anim = _animation(_rig(), frames=300, fps=fps)
    assert B.scene_rate(fps) == pytest.approx(stated, rel=1e-12)
    got_mode, rate, seconds = _fbx_key_times(B.export_fbx(anim, tmp_path / "a.fbx"))
    assert got_mode == mode and rate == pytest.approx(stated, rel=1e-7)
    frames = seconds * rate
    assert np.abs(frames - np.round(frames)).max() < 1e-4
    assert np.array_equal(np.round(frames), np.arange(300))


# file axes: (up axis, up sign, front axis, front sign); a character facing world +Z, Y up, lies
# in the file as ``raw`` (3, 3) @ world, in ``unit`` centimetres per value
PRESETS = {
    "blender": ((1, 1, 2, 1), np.eye(3), 1.0, 100.0),
    "unity": ((1, 1, 2, 1), np.eye(3), 100.0, 1.0),
    "unreal": ((2, 1, 1, -1), C.T, 1.0, 1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_fbx_presets_declare_their_axes_and_units(B, tmp_path, preset):
    """Each preset's file says what its target expects (read raw from GlobalSettings), its
    hips sit where those axes and units put them, and Blender's importer, which honours the
    declaration, gives the same motion back in metres."""
    axes, raw, unit_cm, node_scale = PRESETS[preset]
    anim = _animation(_rig())
    path = B.export_fbx(anim, tmp_path / f"{preset}.fbx", preset=preset)
    settings, models = _fbx_settings(path)
    got = (settings["UpAxis"][0], settings["UpAxisSign"][0], settings["FrontAxis"][0], settings["FrontAxisSign"][0])
    assert got == axes
    assert settings["UnitScaleFactor"][0] == pytest.approx(unit_cm)
    armature = "Armature" if preset == "unreal" else "synth"
    assert set(models) == {armature, "skin", *anim.rig.bone_names}  # no leaf bones, nothing else
    assert np.allclose(models[armature].get("Lcl Scaling", [1, 1, 1]), node_scale)
    # hips rest head in file units, through the armature node's own transform
    node = models[armature]
    rot = Rotation.from_euler("xyz", node.get("Lcl Rotation", [0, 0, 0]), degrees=True).as_matrix()
    hips = node_scale * rot @ np.array(models["hips"]["Lcl Translation"])
    assert np.allclose(hips * unit_cm / 100.0, raw @ anim.rig.heads[0], atol=1e-5)

    back = B.read_fbx_animation(path)
    assert back.num_frames == anim.num_frames and back.fps == pytest.approx(30.0)
    _assert_same_motion(back, anim)


@pytest.mark.slow
def test_glb_export_loads_back(bpy, B, tmp_path):
    import pygltflib

    anim = _animation(_rig())
    path = B.export_glb(anim, tmp_path / "walk.glb")
    assert [p.name for p in tmp_path.iterdir()] == ["walk.glb"]
    # glTF is Y up, metres, facing +Z like pose2rig: the file's joints are the rig's heads
    g = pygltflib.GLTF2().load(str(path))
    nodes = {n.name: n for n in g.nodes}
    assert np.allclose(nodes["hips"].translation, anim.rig.heads[0], atol=1e-6)
    assert len(g.animations) == 1
    times = g.accessors[g.animations[0].samplers[0].input]
    assert times.count == anim.num_frames
    assert times.min[0] == pytest.approx(0.0) and times.max[0] == pytest.approx((anim.num_frames - 1) / 30.0)

    rig = B.load_rig(path)
    assert rig.num_bones == 5 and rig.mesh is not None and len(rig.mesh.vertices) == 6
    idx = _by_name(rig, anim.rig.bone_names)
    assert np.abs(rig.heads[idx] - anim.rig.heads).max() < 1e-5
    # the animation as Blender's glTF importer plays it: joint positions frame by frame
    scene = bpy.context.scene
    obj = next(o for o in scene.objects if o.type == "ARMATURE")
    start = int(round(min(obj.animation_data.action.frame_range)))
    want = anim.world_matrices()[..., :3, 3]
    scene_fps = scene.render.fps / scene.render.fps_base  # glTF has no frame rate: the importer uses
    checked = 0                                          # the scene's (24), so compare on shared frames
    for t in range(anim.num_frames):
        frame = t * scene_fps / anim.fps
        if abs(frame - round(frame)) > 1e-9:
            continue
        scene.frame_set(start + round(frame))
        world = np.array(obj.matrix_world)
        heads = np.array([C @ (world @ [*obj.pose.bones[n].head, 1])[:3] for n in anim.rig.bone_names])
        assert np.abs(heads - want[t]).max() < 1e-4
        checked += 1
    assert checked == 3  # frames 0, 5, 10


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.slow
def test_text_file_named_fbx_is_refused(B, tmp_path):
    bad = tmp_path / "notes.fbx"
    bad.write_text("this is not an FBX file\n")
    with pytest.raises(Pose2RigError, match=f"cannot read {bad}") as e:
        B.load_rig(bad)
    assert "\n" not in str(e.value)
    print(e.value)
    with pytest.raises(Pose2RigError, match=f"cannot read {bad}"):
        B.read_fbx_animation(bad)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".blend", ".fbx"])
def test_file_without_armature_is_refused(bpy, B, tmp_path, suffix):
    B._empty_scene()
    bpy.ops.mesh.primitive_cube_add()
    path = tmp_path / f"cube{suffix}"
    if suffix == ".blend":
        bpy.ops.wm.save_as_mainfile(filepath=str(path))
    else:
        bpy.ops.export_scene.fbx(filepath=str(path))
    with pytest.raises(Pose2RigError, match=f"^{path} has no armature$"):
        B.load_rig(path)


@pytest.mark.slow
def test_fbx_without_animation_is_refused(bpy, B, tmp_path):
    B._empty_scene()
    B.build_armature(_rig(mesh=False))
    path = tmp_path / "still.fbx"
    bpy.ops.export_scene.fbx(filepath=str(path), bake_anim=False)
    assert B.load_rig(path).num_bones == 5 + 2  # Blender's exporter added leaf bones, kept as bones
    with pytest.raises(Pose2RigError, match="has no animation"):
        B.read_fbx_animation(path)


@pytest.mark.slow
def test_export_errors_leave_nothing_behind(bpy, B, tmp_path, monkeypatch):
    anim = _animation(_rig())
    with pytest.raises(Pose2RigError, match="unknown FBX preset 'maya'; expected one of blender, unity, unreal"):
        B.export_fbx(anim, tmp_path / "a.fbx", preset="maya")
    with pytest.raises(Pose2RigError, match=r"expected a \.fbx file name, got '\.glb'"):
        B.export_fbx(anim, tmp_path / "a.glb")
    with pytest.raises(Pose2RigError, match=r"expected a \.glb file name"):
        B.export_glb(anim, tmp_path / "a.gltf")

    from io_scene_fbx import export_fbx_bin

    def broken(operator, context, filepath="", **kwargs):
        Path(filepath).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_fbx_bin, "save", broken)
    good = tmp_path / "keep.fbx"
    good.write_bytes(b"a good file")
    with pytest.raises(Pose2RigError, match=rf"^cannot write {good}: OSError: \[Errno 28\] No space left on device$"):
        B.export_fbx(anim, good)
    assert good.read_bytes() == b"a good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.fbx"]


@pytest.mark.slow
def test_key_action_refuses_a_different_rig(bpy, B):
    B._empty_scene()
    obj = B.build_armature(_rig(mesh=False))
    other = _rig(mesh=False)
    renamed = Rig("x", ("hips", "spine", "head", "thigh.L", "toe.L"), other.parents, other.rest)
    with pytest.raises(Pose2RigError, match="armature 'synth' has no bone 'toe.L'"):
        B.key_action(obj, _animation(renamed))
    reparented = Rig("x", other.bone_names, (-1, 0, 1, 0, 0), other.rest)
    with pytest.raises(Pose2RigError, match="bone 'foot.L': parent 'hips' in the animation's rig but 'thigh.L'"):
        B.key_action(obj, _animation(reparented))
    with pytest.raises(Pose2RigError, match="is not an armature"):
        B.key_action(obj.children[0] if obj.children else bpy.data.objects.new("e", None), _animation(other))


@pytest.mark.slow
def test_bone_names_blender_cannot_keep_are_refused(B):
    rig = _rig(mesh=False)
    long = Rig("x", ("b" * 70, *rig.bone_names[1:]), rig.parents, rig.rest)
    B._empty_scene()
    with pytest.raises(Pose2RigError, match="at most 63 bytes"):
        B.build_armature(long)


@pytest.mark.slow
def test_blender_euler_orders_match_mathutils(B):
    from mathutils import Euler

    angles = np.array([[0.3, -1.1, 2.0], [1.4, 0.2, -0.7]])
    for mode in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):
        want = np.stack([np.array(Euler(a, mode).to_matrix()) for a in angles])
        assert np.allclose(B._blender_euler_matrix(angles, mode), want, atol=1e-6), mode


@pytest.mark.slow
def test_blend_armature_in_no_scene_keeps_its_transform(bpy, B, tmp_path):
    """An armature saved in a .blend but linked to no scene is read with its own location,
    rotation and scale (matrix_world is only valid after the view layer is evaluated)."""
    from mathutils import Euler, Vector

    rig = _rig(mesh=False)
    B._empty_scene()
    arm = B.build_armature(rig, "Floating")
    arm.location = Vector((1.0, 2.0, 0.5))
    arm.rotation_euler = Euler((0.0, 0.0, 0.7))
    path = tmp_path / "floating.blend"
    bpy.data.libraries.write(str(path), {arm, arm.data})  # the object only, in no scene
    got = B.load_rig(path)
    rz = np.array([[np.cos(0.7), -np.sin(0.7), 0.0], [np.sin(0.7), np.cos(0.7), 0.0], [0.0, 0.0, 1.0]])
    want = (C @ (rz @ (C.T @ rig.heads.T) + np.array([[1.0], [2.0], [0.5]]))).T
    assert np.abs(got.heads - want).max() < 1e-4
