"""Characters written back animated (pose2rig.io.rigs.write_animation): the character file as the
user made it, with only the animation added, through every output format.

Real characters from ``../shared/data/characters`` and the bundled one, a real Bandai-1 walk
retargeted onto them. Counts are compared the way each format can be read: a GLB's document with
pygltflib, an FBX (or a glTF) as Blender's importers see it (objects, bones, materials, shape
keys), each output against the same reader's view of its input.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from test_gltf import _spec_posed_vertices

from pose2rig.io.gltf import load_gltf_rig, read_glb_animation
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.io.rigs import write_animation
from pose2rig.retarget.character import retarget
from pose2rig.retarget.lbs import skin_frame
from pose2rig.retarget.mapping import map_rig
from pose2rig.rig import RigAnimation

REPO = Path(__file__).resolve().parents[1]
CHARACTERS = REPO.parent / "shared" / "data" / "characters"
WALK = REPO.parent / "shared" / "data" / "mocap" / "bandai1" / "dataset-1_walk_active_001.bvh"
GLTF_CHARACTERS = {
    "mannequin": CHARACTERS / "mannequiny-0.3.0.glb",
    "robot": CHARACTERS / "RobotExpressive.glb",
    "bundled": REPO / "samples" / "character" / "mpfb2_game_engine.glb",
}
C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Blender -> world, spelt out
THIRTY_FRAMES = slice(0, 60, 2)


def _walk(rig, frames: slice = THIRTY_FRAMES) -> RigAnimation:
    """Thirty frames of a real walk on ``rig``, mapped by name (RobotExpressive's IK feet follow
    its legs: translations of non-root bones, which the writers must carry too)."""
    src = load_bvh_as_h36m17(WALK)
    src = src.replace(joints=src.joints[frames], timestamps=src.timestamps[frames], confidence=src.confidence[frames])
    return retarget(src, rig, mapping=map_rig(rig))


def _document(path: Path) -> dict:
    """A GLB's JSON chunk, as written."""
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20:20 + length])


def _gltf_counts(path: Path) -> dict:
    g = pygltflib.GLTF2().load(str(path))
    return {
        "nodes": len(g.nodes), "meshes": len(g.meshes), "materials": len(g.materials), "skins": len(g.skins),
        "morph targets": sum(len(m.primitives[0].targets or ()) for m in g.meshes),
        "primitives": sum(len(m.primitives) for m in g.meshes), "textures": len(g.textures), "images": len(g.images),
        "node names": sorted(n.name or "" for n in g.nodes), "mesh names": sorted(m.name or "" for m in g.meshes),
    }


def _blender_scene(bpy, path: Path):
    """``path`` imported into an empty scene by Blender's own importer (no bone display shapes)."""
    if path.suffix == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        return bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.suffix == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path))
    else:
        bpy.ops.import_scene.gltf(filepath=str(path), disable_bone_shape=True)
    return bpy.context.scene


def _blender_counts(bpy, path: Path) -> dict:
    scene = _blender_scene(bpy, path)
    objects = list(scene.objects)
    meshes = [o for o in objects if o.type == "MESH"]
    return {
        "nodes": len(objects) + sum(len(o.data.bones) for o in objects if o.type == "ARMATURE"),
        "meshes": sorted(o.name for o in meshes),
        "materials": sorted({m.name for o in meshes for m in o.data.materials if m is not None}),
        "shape keys": sorted(f"{o.name}:{k.name}" for o in meshes if o.data.shape_keys
                             for k in o.data.shape_keys.key_blocks[1:]),
        "uv layers": sum(len(o.data.uv_layers) for o in meshes),
        "colour layers": sum(len(o.data.color_attributes) for o in meshes),
        "vertices": sum(len(o.data.vertices) for o in meshes),
    }


def _posed(bpy, scene, rig, frames: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blender's posed bone heads ``(T, J, 3)`` of ``rig``'s bones and each mesh object's world
    matrix ``(T, 4, 4)`` (pose2rig's world), frame by frame from the action's first key."""
    arm = next(o for o in scene.objects if o.type == "ARMATURE" and rig.bone_names[0] in o.data.bones)
    start = int(round(arm.animation_data.action.frame_range[0]))
    c4 = np.eye(4)
    c4[:3, :3] = C
    heads = np.empty((frames, rig.num_bones, 3))
    objects = {o.name: np.empty((frames, 4, 4)) for o in scene.objects if o.type == "MESH"}
    for t in range(frames):
        scene.frame_set(start + t)
        world = np.array(arm.matrix_world)
        heads[t] = [C @ (world @ [*arm.pose.bones[n].head, 1.0])[:3] for n in rig.bone_names]
        for name, m in objects.items():
            m[t] = c4 @ np.array(scene.objects[name].matrix_world)
    return heads, objects


# ---------------------------------------------------------------------------------------------
# glTF characters to GLB: the document itself, animated (no Blender)


@pytest.mark.parametrize("character", list(GLTF_CHARACTERS))
def test_glb_of_a_gltf_character_is_its_document_animated(character, tmp_path):
    source = GLTF_CHARACTERS[character]
    rig = load_gltf_rig(source)
    anim = _walk(rig)
    out = write_animation(anim, glb=tmp_path / "walk.glb")["glb"]
    assert _gltf_counts(out) == _gltf_counts(source)
    # everything but the animations and the buffers they live in is the input's, to the letter
    before, after = (_document(p) for p in (source, out))
    for what in ("asset", "materials", "meshes", "skins", "scene", "scenes", "textures", "images", "samplers"):
        assert after.get(what) == before.get(what), what
    strip = ("translation", "rotation", "scale", "matrix")  # joints: their rest TRS, as the file has it
    for a, b in zip(after["nodes"], before["nodes"], strict=True):
        assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
    assert after["animations"][0]["name"] == "pose2rig"
    kept = [a for a in before["animations"] if a.get("name") != "pose2rig"]
    assert [a["name"] for a in after["animations"][1:]] == [a["name"] for a in kept]  # the file's own clips
    # the motion: read back as the same animation, and the file's meshes posed by the spec where
    # the rig's mesh is skinned
    back = read_glb_animation(out)
    assert back.num_frames == anim.num_frames and back.fps == pytest.approx(anim.fps, rel=1e-5)
    assert np.abs(back.world_matrices()[..., :3, 3] - anim.world_matrices()[..., :3, 3]).max() < 1e-5
    assert np.array_equal(back.rig.mesh.vertices, rig.mesh.vertices)


def test_robot_head_stays_on_its_neck_in_the_glb(tmp_path):
    """RobotExpressive's rigid parts follow their bones in the written file exactly as the rig's
    mesh does under the animation: the head's distance from the torso in the file is the
    animation's to 1 mm every frame (what the retargeting itself does to that distance is
    measured in docs/BENCHMARKS.md), and the head never leaves its neck joint."""
    rig = load_gltf_rig(GLTF_CHARACTERS["robot"])
    anim = _walk(rig)
    out = write_animation(anim, glb=tmp_path / "robot.glb")["glb"]
    g = pygltflib.GLTF2().load(str(out))
    part = rig.mesh.joints[:, 0]
    head, torso = part == rig.index("Head"), part == rig.index("Body")
    head &= rig.mesh.weights[:, 0] == 1.0
    torso &= rig.mesh.weights[:, 0] == 1.0
    assert head.sum() > 100 and torso.sum() > 100
    world = anim.world_matrices()
    skinning = anim.skinning_matrices()
    neck0 = np.linalg.norm(rig.mesh.vertices[head].mean(0) - rig.heads[rig.index("Head")])
    for t in range(anim.num_frames):
        in_file = _spec_posed_vertices(g, "pose2rig", t, keep_bind_offsets=False)
        wanted = skin_frame(rig.mesh, skinning[t])
        assert np.abs(in_file - wanted).max() < 1e-4
        distance = [np.linalg.norm(v[head].mean(0) - v[torso].mean(0)) for v in (in_file, wanted)]
        assert abs(distance[0] - distance[1]) < 1e-3
        neck = np.linalg.norm(in_file[head].mean(0) - world[t, rig.index("Head"), :3, 3])
        assert abs(neck - neck0) < 1e-3


def test_gltf_with_external_buffer_and_texture_becomes_one_glb(tmp_path):
    """A .gltf with its buffer in a .bin and a PNG texture beside it: the GLB holds both."""
    g = pygltflib.GLTF2().load(str(GLTF_CHARACTERS["mannequin"]))
    blob = g.binary_blob()
    (tmp_path / "body.bin").write_bytes(blob)
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201ab5f8b7d0000000049454e44ae426082")
    (tmp_path / "skin colour.png").write_bytes(png)
    raw = _document(GLTF_CHARACTERS["mannequin"])
    raw["buffers"] = [{"byteLength": len(blob), "uri": "body.bin"}]
    raw["images"] = [{"uri": "skin%20colour.png"}]
    raw["textures"] = [{"source": 0}]
    raw["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    source = tmp_path / "mannequin.gltf"
    source.write_text(json.dumps(raw))
    rig = load_gltf_rig(source)
    out = write_animation(RigAnimation.rest_pose(rig, 2), glb=tmp_path / "out" / "m.glb")["glb"]
    done = pygltflib.GLTF2().load(str(out))
    assert len(done.buffers) == 1 and done.buffers[0].uri is None
    assert done.images[0].uri is None and done.images[0].mimeType == "image/png"
    view = done.bufferViews[done.images[0].bufferView]
    assert done.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength] == png
    assert np.array_equal(load_gltf_rig(out).mesh.vertices, rig.mesh.vertices)


def test_a_rig_that_left_its_file_is_written_from_the_rig(tmp_path, caplog):
    """The rig says it came from a file whose skin has bones it lacks: a warning, and the GLB is
    built from the rig (no material)."""
    from dataclasses import replace

    rig = load_gltf_rig(GLTF_CHARACTERS["mannequin"])
    renamed = replace(rig, bone_names=tuple(f"b{i}" for i in range(rig.num_bones)))
    out = write_animation(RigAnimation.rest_pose(renamed), glb=tmp_path / "x.glb")["glb"]
    assert "has no bone 'pelvis' of the file's skin" in caplog.text and "built from the rig" in caplog.text
    counts = _gltf_counts(out)
    assert counts["materials"] == 0 and counts["nodes"] == rig.num_bones + 1


# ---------------------------------------------------------------------------------------------
# through Blender: FBX out of glTF, FBX and .blend characters; GLB out of FBX


@pytest.mark.slow
@pytest.mark.parametrize("character", list(GLTF_CHARACTERS))
def test_fbx_of_a_gltf_character_keeps_what_blender_carries(bpy, character, tmp_path, caplog):
    source = GLTF_CHARACTERS[character]
    rig = load_gltf_rig(source)
    anim = _walk(rig)
    with caplog.at_level(logging.INFO):
        out = write_animation(anim, fbx=tmp_path / "walk.fbx")["fbx"]
    assert not [r for r in caplog.records if r.name.startswith("glTF")]  # Blender's importer keeps quiet
    want = _blender_counts(bpy, source)
    got = _blender_counts(bpy, out)
    assert got == want
    assert len(want["meshes"]) == {"mannequin": 1, "robot": 14, "bundled": 1}[character]
    assert len(want["materials"]) == {"mannequin": 3, "robot": 3, "bundled": 0}[character]
    scene = _blender_scene(bpy, out)
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(1.0)
    heads, _ = _posed(bpy, scene, rig, anim.num_frames)
    assert np.abs(heads - anim.world_matrices()[..., :3, 3]).max() < 1e-4


@pytest.mark.slow
def test_robot_parts_follow_their_bones_in_the_fbx(bpy, tmp_path):
    """Every rigid part of RobotExpressive (12 meshes on bones) stands in the FBX, frame by
    frame, where the rig's mesh puts it under the animation (its vertices' centre to 0.1 mm), so
    the head keeps the distance from the torso that the animation gives it (to 1 mm)."""
    rig = load_gltf_rig(GLTF_CHARACTERS["robot"])
    anim = _walk(rig)
    out = write_animation(anim, fbx=tmp_path / "robot.fbx")["fbx"]
    scene = _blender_scene(bpy, out)
    parts = {o.name: o.parent_bone for o in scene.objects if o.type == "MESH" and o.parent_type == "BONE"}
    assert len(parts) == 12
    centre = {n: np.array([list(v.co) for v in scene.objects[n].data.vertices]).mean(0) for n in parts}
    _, posed = _posed(bpy, scene, rig, anim.num_frames)
    skinned = len(load_gltf_rig(GLTF_CHARACTERS["robot"], rigid_parts=False).mesh.vertices)
    bone_of = rig.mesh.joints[:, 0]
    rigid = np.arange(len(bone_of)) >= skinned
    got, want = {}, {}
    for name, bone in parts.items():
        got[name] = posed[name][:, :3, :3] @ (centre[name] * 1.0) + posed[name][:, :3, 3]
        sel = rigid & (bone_of == rig.index(bone))
        want[name] = np.stack([skin_frame(rig.mesh, m)[sel].mean(0) for m in anim.skinning_matrices()])
        assert np.abs(got[name] - want[name]).max() < 1e-4, name
    distance = [np.linalg.norm(c["Head"] - c["Torso"], axis=-1) for c in (got, want)]
    assert np.abs(distance[0] - distance[1]).max() < 1e-3


@pytest.fixture(scope="module")
def robot_files(bpy, tmp_path_factory):
    """RobotExpressive as a user's FBX and .blend character: Blender's import of the GLB, saved."""
    folder = tmp_path_factory.mktemp("robot")
    _blender_scene(bpy, GLTF_CHARACTERS["robot"])
    for o in bpy.context.scene.objects:
        if o.animation_data is not None:
            o.animation_data.action = None
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "robot.blend"))
    bpy.ops.export_scene.fbx(filepath=str(folder / "robot.fbx"), add_leaf_bones=False, bake_anim=False)
    return folder / "robot.fbx", folder / "robot.blend"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fbx", "blend"])
def test_fbx_and_blend_characters_round_trip_through_fbx_and_glb(bpy, robot_files, kind, tmp_path):
    from pose2rig.io.rigs import load_rig

    source = robot_files[0] if kind == "fbx" else robot_files[1]
    want = _blender_counts(bpy, source)
    rig = load_rig(source)
    assert rig.source == source
    anim = _walk(rig)
    outs = write_animation(anim, fbx=tmp_path / "walk.fbx", glb=tmp_path / "walk.glb")
    for fmt, out in outs.items():
        got = _blender_counts(bpy, out)
        assert got["meshes"] == want["meshes"] and got["materials"] == want["materials"], fmt
        assert got["shape keys"] == want["shape keys"] and got["nodes"] == want["nodes"], fmt
        if fmt == "fbx":  # glTF splits vertices where normals or UVs differ: another count
            assert got["vertices"] == want["vertices"]
    scene = _blender_scene(bpy, outs["fbx"])
    heads, _ = _posed(bpy, scene, rig, anim.num_frames)
    assert np.abs(heads - anim.world_matrices()[..., :3, 3]).max() < 1e-4
    glb = _gltf_counts(outs["glb"])
    assert glb["materials"] == 3 and glb["meshes"] == 14 and glb["morph targets"] == 3
    back = read_glb_animation(outs["glb"])  # the spec's reading of Blender's glTF exporter's file
    assert back.num_frames == anim.num_frames
    order = [back.rig.bone_names.index(n) for n in rig.bone_names]
    assert np.abs(back.world_matrices()[:, order][..., :3, 3] - anim.world_matrices()[..., :3, 3]).max() < 1e-4


# ---------------------------------------------------------------------------------------------
# a root bone added for root motion on the floor


def _ground_walk(rig) -> RigAnimation:
    src = load_bvh_as_h36m17(WALK)
    src = src.replace(joints=src.joints[:40:2], timestamps=src.timestamps[:40:2], confidence=src.confidence[:40:2])
    anim = retarget(src, rig, mapping=map_rig(rig), root_motion="ground")
    assert anim.rig.num_bones == rig.num_bones + 1 and anim.rig.parents[anim.rig.index("pelvis")] >= 0
    return anim


def test_a_root_bone_added_for_ground_root_motion_joins_the_glb(tmp_path):
    """The mannequin's hips are its root: root motion 'ground' adds a root bone. The GLB is
    still the file's document, with one joint node more above the pelvis, in its skin."""
    source = GLTF_CHARACTERS["mannequin"]
    anim = _ground_walk(load_gltf_rig(source))
    out = write_animation(anim, glb=tmp_path / "ground.glb")["glb"]
    before, after = _gltf_counts(source), _gltf_counts(out)
    assert after["nodes"] == before["nodes"] + 1 and after["materials"] == before["materials"] == 3
    assert sorted(after["node names"]) == sorted([*before["node names"], "root"])
    back = read_glb_animation(out)
    order = [back.rig.bone_names.index(n) for n in anim.rig.bone_names]
    assert back.rig.parents[back.rig.index("pelvis")] == back.rig.index("root")
    assert np.abs(back.world_matrices()[:, order][..., :3, 3] - anim.world_matrices()[..., :3, 3]).max() < 1e-5
    assert np.abs(back.world_matrices()[:, back.rig.index("root"), 1, 3]).max() < 1e-5  # on the floor


@pytest.mark.slow
def test_a_root_bone_added_for_ground_root_motion_joins_the_fbx(bpy, tmp_path):
    anim = _ground_walk(load_gltf_rig(GLTF_CHARACTERS["mannequin"]))
    out = write_animation(anim, fbx=tmp_path / "ground.fbx", preset="unity")["fbx"]
    got = _blender_counts(bpy, out)
    assert len(got["materials"]) == 3 and got["nodes"] == _blender_counts(bpy, GLTF_CHARACTERS["mannequin"])["nodes"] + 1
    scene = _blender_scene(bpy, out)
    heads, _ = _posed(bpy, scene, anim.rig, anim.num_frames)
    assert np.abs(heads - anim.world_matrices()[..., :3, 3]).max() < 1e-4


@pytest.mark.slow
def test_a_root_bone_added_to_an_fbx_characters_armature(bpy, tmp_path):
    """An FBX character whose hips are its root: the new root bone is added to its armature
    (parent of the hips, at the rig's rest) before keying; FBX and GLB both carry it."""
    from pose2rig.io.rigs import load_rig

    _blender_scene(bpy, GLTF_CHARACTERS["mannequin"])
    bpy.ops.export_scene.fbx(filepath=str(tmp_path / "mannequin.fbx"), add_leaf_bones=False, bake_anim=False)
    anim = _ground_walk(load_rig(tmp_path / "mannequin.fbx"))
    outs = write_animation(anim, fbx=tmp_path / "ground.fbx", glb=tmp_path / "ground.glb")
    got = _blender_counts(bpy, outs["fbx"])
    assert len(got["materials"]) == 3 and got["nodes"] == _blender_counts(bpy, tmp_path / "mannequin.fbx")["nodes"] + 1
    scene = _blender_scene(bpy, outs["fbx"])
    heads, _ = _posed(bpy, scene, anim.rig, anim.num_frames)
    assert np.abs(heads - anim.world_matrices()[..., :3, 3]).max() < 1e-4
    back = read_glb_animation(outs["glb"])
    order = [back.rig.bone_names.index(n) for n in anim.rig.bone_names]
    assert np.abs(back.world_matrices()[:, order][..., :3, 3] - anim.world_matrices()[..., :3, 3]).max() < 1e-4
    assert _gltf_counts(outs["glb"])["materials"] == 3


@pytest.mark.slow
def test_unreal_preset_scales_the_character_file_without_scaled_nodes(bpy, tmp_path):
    """RobotExpressive's armature carries a x100 scale under an empty: with the Unreal preset the
    character is scaled to centimetres and the scales applied, so no node of the file is scaled,
    the armature (named Armature) tops the file, and the character keeps its looks and motion."""
    from test_blender_io import _fbx_settings

    rig = load_gltf_rig(GLTF_CHARACTERS["robot"])
    anim = _walk(rig, slice(0, 20, 2))
    out = write_animation(anim, fbx=tmp_path / "robot.fbx", preset="unreal")["fbx"]
    settings, models = _fbx_settings(out)
    assert settings["UnitScaleFactor"][0] == pytest.approx(1.0)
    assert "Armature" in models and "RootNode" not in models
    scales = np.array([m.get("Lcl Scaling", [1.0, 1.0, 1.0]) for m in models.values()])
    assert np.abs(scales - 1.0).max() < 1e-4
    got = _blender_counts(bpy, out)
    assert len(got["meshes"]) == 14 and len(got["materials"]) == 3 and len(got["shape keys"]) == 3
    scene = _blender_scene(bpy, out)
    heads, parts = _posed(bpy, scene, rig, anim.num_frames)
    assert np.abs(heads - anim.world_matrices()[..., :3, 3]).max() < 1e-4
    # the parts hanging from bones stay where the Blender preset puts them: applying the scale
    # lengthens the bones, and a part hangs from its bone's tail (the head once sat 3 m too high)
    plain = write_animation(anim, fbx=tmp_path / "robot_blender.fbx", preset="blender")["fbx"]
    _, expected = _posed(bpy, _blender_scene(bpy, plain), rig, anim.num_frames)
    assert set(parts) == set(expected)
    for name in expected:
        assert np.abs(parts[name][:, :3, 3] - expected[name][:, :3, 3]).max() < 1e-4, name
