"""Root motion for game engines (``root_motion="ground"``, pose2rig/retarget/character.py) and the
translations of non-root bones it needs (``RigAnimation.locations``, pose2rig/rig.py), through
every file format that carries them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import quat_to_matrix
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.io.rigs import load_rig
from pose2rig.retarget import map_rig, retarget
from pose2rig.retarget.lbs import skin
from pose2rig.rig import RigAnimation
from pose2rig.testing import tpose_rig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WALK = DATA / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"
MIXAMO = DATA / "characters" / "mpfb2" / "rig.mixamo.json"


@pytest.fixture(scope="module")
def walk():
    src = load_bvh_as_h36m17(WALK)
    return src.replace(joints=src.joints[::4], timestamps=src.timestamps[::4], confidence=src.confidence[::4])


@pytest.fixture(scope="module")
def game_engine():
    """The bundled character: the MPFB2 body on its game-engine rig (a ``Root`` bone on the floor)."""
    return load_rig(None)


def _heading(world_rot: np.ndarray, rest_rot: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """``(T, 3)`` unit horizontal direction that a bone's turn from rest takes ``forward`` to."""
    d = (world_rot @ rest_rot.T) @ forward
    d[:, 1] = 0.0
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def test_ground_puts_the_root_on_the_floor_under_the_pelvis_with_its_heading(walk, game_engine):
    """Issue 11: the root bone's height is 0 on every frame and the pelvis's world path equals
    that of ``on`` (within 1 mm; here to float noise); every bone but the root is where ``on``
    puts it; the root stands under the pelvis, turned with the hips' heading."""
    rig = game_engine
    on = retarget(walk, rig, root_motion="on")
    ground = retarget(walk, rig, root_motion="ground")
    assert ground.rig is rig and on.locations is None
    w_on, w = on.world_matrices(), ground.world_matrices()
    root, pelvis = rig.index("Root"), rig.index("pelvis")
    assert np.abs(w[:, root, 1, 3]).max() == 0.0
    assert w_on[:, root, 1, 3].min() < -0.01  # with "on" the root sinks under the floor as the hips drop
    assert np.abs(w[:, pelvis, :3, 3] - w_on[:, pelvis, :3, 3]).max() < 1e-3
    others = [j for j in range(rig.num_bones) if j != root]
    assert np.abs(w[:, others] - w_on[:, others]).max() < 1e-9
    assert np.abs(w[:, root, :3, 3][:, [0, 2]] - w[:, pelvis, :3, 3][:, [0, 2]]).max() < 1e-9
    assert ground.moved_bones == (pelvis,)  # the pelvis carries the height as a translation
    # the root's yaw is the hips' heading (the rest forward, +Z, carried by each)
    forward = np.array([0.0, 0.0, 1.0])
    hips_ahead = _heading(w[:, pelvis, :3, :3], rig.rest[pelvis, :3, :3], forward)
    root_ahead = _heading(w[:, root, :3, :3], rig.rest[root, :3, :3], forward)
    assert np.abs(root_ahead - hips_ahead).max() < 1e-9
    turn = w[:, root, :3, :3] @ rig.rest[root, :3, :3].T
    assert np.abs(turn[:, :, 1] - [0.0, 1.0, 0.0]).max() < 1e-9  # a turn about the vertical only
    assert np.ptp(np.arctan2(root_ahead[:, 0], root_ahead[:, 2])) > np.radians(5)  # and it does turn
    assert np.abs(skin(ground) - skin(on)).max() < 1e-5  # the mesh does not see the difference


def test_ground_adds_a_root_bone_where_the_rig_has_none(walk, caplog):
    """The Mixamo rig's hips are its root: ``ground`` gives the animation a rig with a new
    ``root`` bone above them (the mesh's weights follow the new indices); where the rig cannot
    change (``add_root=False``: an armature in Blender) a warning, and the motion of ``on``."""
    rig = load_rig(MIXAMO)
    hips = rig.index("mixamorig:Hips")
    assert rig.parents[hips] == -1
    on = retarget(walk, rig, root_motion="on")
    ground = retarget(walk, rig, root_motion="ground")
    new = ground.rig
    assert new.bone_names == ("root", *rig.bone_names) and new.parents[0] == -1
    assert new.parents[new.index("mixamorig:Hips")] == 0
    assert np.allclose(new.rest[1:], rig.rest) and new.rest[0, 1, 3] == pytest.approx(0.0, abs=1e-9)
    w = ground.world_matrices()
    assert np.abs(w[:, 0, 1, 3]).max() == 0.0
    assert np.abs(w[:, 1:] - on.world_matrices()).max() < 1e-9
    assert np.abs(skin(ground) - skin(on)).max() < 1e-5
    with caplog.at_level(logging.WARNING):
        kept = retarget(walk, rig, root_motion="ground", add_root=False)
    assert "no root bone" in caplog.text and kept.rig is rig
    assert np.abs(kept.world_matrices() - on.world_matrices()).max() == 0.0


def test_root_motion_takes_the_three_modes_and_the_old_booleans(walk):
    rig = tpose_rig()
    assert np.array_equal(retarget(walk, rig, root_motion=True).root_positions,
                          retarget(walk, rig, root_motion="on").root_positions)
    off = retarget(walk, rig, root_motion=False).world_matrices()
    mid = off[:, [rig.index("thigh_l"), rig.index("thigh_r")]][..., :3, 3].mean(axis=1)
    assert np.ptp(mid[:, [0, 2]], axis=0).max() < 1e-9
    with pytest.raises(ArgumentError, match="root_motion must be one of on, ground, off"):
        retarget(walk, rig, root_motion="floor")


def test_locations_round_trip_through_world_matrices():
    """``RigAnimation.from_world`` inverts ``world_matrices``, translations of non-root bones
    included; roots move by ``root_positions`` only."""
    rig = tpose_rig()
    rng = np.random.default_rng(1)
    q = rng.normal(size=(4, rig.num_bones, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    loc = rng.normal(scale=0.1, size=(4, rig.num_bones, 3))
    loc[:, 0] = 0.0
    loc[:, 5:] = 0.0  # most bones do not translate
    anim = RigAnimation(rig, q, rng.normal(size=(4, 1, 3)), 30.0, locations=loc)
    assert anim.moved_bones == (1, 2, 3, 4)
    back = RigAnimation.from_world(rig, anim.world_matrices(), 30.0)
    assert np.abs(back.world_matrices() - anim.world_matrices()).max() < 1e-12
    assert np.abs(back.locations - loc).max() < 1e-12
    assert np.abs(np.abs(np.sum(back.rotations * anim.rotations, axis=-1)) - 1.0).max() < 1e-12
    # a translated head: the bone's own rest axes (Blender's pose location)
    one = np.zeros((1, rig.num_bones, 3))
    one[0, 1] = [0.0, 0.1, 0.0]
    moved = RigAnimation(rig, np.tile([1.0, 0, 0, 0], (1, rig.num_bones, 1)), rig.heads[[0]][None], 30.0,
                         locations=one).world_matrices()
    assert np.allclose(moved[0, 1, :3, 3], rig.heads[1] + 0.1 * rig.rest[1, :3, 1])
    assert RigAnimation.from_world(rig, RigAnimation.rest_pose(rig).world_matrices(), 30.0).locations is None
    bad = np.zeros((1, rig.num_bones, 3))
    bad[0, 0] = 1.0
    with pytest.raises(Pose2RigError, match="root bones move by root_positions"):
        RigAnimation(rig, np.tile([1.0, 0, 0, 0], (1, rig.num_bones, 1)), rig.heads[[0]][None], 30.0, locations=bad)


# --- through the files ----------------------------------------------------------------------------


def _accessor(g: pygltflib.GLTF2, i: int) -> np.ndarray:
    a = g.accessors[i]
    view = g.bufferViews[a.bufferView]
    n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a.type]
    return np.frombuffer(g.binary_blob(), dtype=np.float32, count=a.count * n,
                         offset=(view.byteOffset or 0) + (a.byteOffset or 0)).reshape(a.count, n)


def _glb_heads(path: Path, names: tuple[str, ...]) -> np.ndarray:
    """``(T, J, 3)`` world positions of the named nodes through the file's first animation, by the
    glTF spec (node TRS down the hierarchy; keys at every frame, so no interpolation)."""
    g = pygltflib.GLTF2().load(str(path))
    anim = g.animations[0]
    frames = g.accessors[anim.samplers[0].input].count
    trs = {
        "translation": np.array([n.translation or [0.0, 0.0, 0.0] for n in g.nodes], float),
        "rotation": np.array([n.rotation or [0.0, 0.0, 0.0, 1.0] for n in g.nodes], float),
        "scale": np.array([n.scale or [1.0, 1.0, 1.0] for n in g.nodes], float),
    }
    trs = {k: np.repeat(v[None], frames, axis=0) for k, v in trs.items()}
    for c in anim.channels:
        trs[c.target.path][:, c.target.node] = _accessor(g, anim.samplers[c.sampler].output)
    local = np.zeros((frames, len(g.nodes), 4, 4))
    local[..., :3, :3] = quat_to_matrix(trs["rotation"][..., [3, 0, 1, 2]]) * trs["scale"][..., None, :]
    local[..., :3, 3] = trs["translation"]
    local[..., 3, 3] = 1.0
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}
    world: dict[int, np.ndarray] = {}

    def at(i: int) -> np.ndarray:
        if i not in world:
            world[i] = local[:, i] if i not in parent else at(parent[i]) @ local[:, i]
        return world[i]

    index = {n.name: i for i, n in enumerate(g.nodes)}
    return np.stack([at(index[n])[:, :3, 3] for n in names], axis=1)


@pytest.mark.parametrize("character, root", [(None, "Root"), (MIXAMO, "root")])
def test_unreal_preset_writes_ground_root_motion_in_bvh_and_glb(tmp_path, character, root):
    """``retarget --preset unreal`` defaults to ground: in the BVH (position channels on the
    pelvis) and the GLB (a translation channel) the root stays at height 0 and the pelvis follows
    the path it follows with ``--root-motion on``, within 1 mm."""
    from pose2rig.io.bvh import read_bvh
    from pose2rig.options import ConvertOptions, Outputs
    from pose2rig.pipeline import retarget_file

    heads = {}
    for mode in ("ground", "on"):
        options = ConvertOptions.from_flat(rig=character, preset="unreal", end=4.0,
                                           **({"root_motion": mode} if mode == "on" else {}))
        assert options.root_motion == mode
        out = Outputs(bvh=tmp_path / f"{mode}.bvh", glb=tmp_path / f"{mode}.glb")
        anim = retarget_file(WALK, out, options, progress=False)
        names = anim.rig.bone_names
        pelvis = names.index(anim.rig.bone_names[map_rig(anim.rig).roles["hips"]])
        bvh = read_bvh(out.bvh)
        positions, _ = bvh.forward_kinematics(scale=0.01)
        assert np.abs(positions - anim.world_matrices()[:, [names.index(n) for n in bvh.names]][..., :3, 3]).max() < 1e-5
        glb = _glb_heads(out.glb, names)
        heads[mode] = (glb[:, names.index(root)] if root in names else None, glb[:, pelvis],
                       positions[:, bvh.names.index(names[pelvis])])
    root_glb, pelvis_glb, pelvis_bvh = heads["ground"]
    assert np.abs(root_glb[:, 1]).max() < 1e-6
    assert np.abs(pelvis_glb - heads["on"][1]).max() < 1e-3 and np.abs(pelvis_bvh - heads["on"][2]).max() < 1e-3
    assert np.abs(root_glb[:, [0, 2]] - pelvis_glb[:, [0, 2]]).max() < 1e-5
    assert np.ptp(pelvis_glb[:, 2]) > 1.0  # the walk travels


@pytest.mark.slow
def test_unreal_fbx_keeps_the_root_on_the_floor_in_blenders_importer(bpy, tmp_path):
    """The FBX for Unreal (centimetres, Z up) read back by Blender's own importer: the Root at
    height 0 and the pelvis on the path of ``on``, within 1 mm, in every frame."""
    from pose2rig.io.blender import BLENDER_TO_WORLD
    from pose2rig.options import ConvertOptions, Outputs
    from pose2rig.pipeline import retarget_file

    paths = {}
    for mode in ("ground", "on"):
        out = Outputs(fbx=tmp_path / f"{mode}.fbx")
        retarget_file(WALK, out, ConvertOptions.from_flat(preset="unreal", root_motion=mode, end=3.0), progress=False)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.fbx(filepath=str(out.fbx))
        arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
        scene = bpy.context.scene
        track = []
        for f in range(scene.frame_start, scene.frame_end + 1):
            scene.frame_set(f)
            mw = np.array(arm.matrix_world)
            track.append([BLENDER_TO_WORLD @ (mw @ np.append(np.array(arm.pose.bones[b].head), 1.0))[:3]
                          for b in ("Root", "pelvis")])
        paths[mode] = np.array(track)
    assert len(paths["ground"]) == len(paths["on"]) > 60
    assert np.abs(paths["ground"][:, 0, 1]).max() < 1e-4  # Blender's float32 through centimetres
    assert np.abs(paths["ground"][:, 1] - paths["on"][:, 1]).max() < 1e-3
    assert paths["on"][:, 0, 1].min() < -0.01  # "on": the root sinks with the hips
