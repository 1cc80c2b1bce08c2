"""Tests for pose2rig.io.gltf: real characters, skinning conventions, round trips, bad files, the
Khronos validator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from scipy.spatial.transform import Rotation

from pose2rig.errors import Pose2RigError
from pose2rig.io.gltf import load_gltf_rig, read_glb_animation, write_glb
from pose2rig.retarget.lbs import skin_frame
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh

REPO = Path(__file__).resolve().parents[1]
CHARACTERS = REPO.parent / "shared" / "data" / "characters"
MANNEQUIN = CHARACTERS / "mannequiny-0.3.0.glb"
ROBOT = CHARACTERS / "RobotExpressive.glb"
VALIDATOR = REPO / "tests" / "tools" / "validate_gltf.mjs"
VALIDATOR_PACKAGE = REPO / ".venv" / "node" / "node_modules" / "gltf-validator" / "package.json"


@pytest.fixture(scope="module")
def mannequin() -> Rig:
    return load_gltf_rig(MANNEQUIN)


@pytest.fixture(scope="module")
def robot() -> Rig:
    return load_gltf_rig(ROBOT)


def _random_animation(rig: Rig, frames: int, *, seed: int = 0, spread: float = 0.4, fps: float = 30.0) -> RigAnimation:
    rng = np.random.default_rng(seed)
    rotvec = rng.normal(scale=spread, size=(frames, rig.num_bones, 3))
    q = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat(scalar_first=True).reshape(frames, rig.num_bones, 4)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    walk = np.linspace(0.0, 1.0, frames)[:, None, None] * np.array([0.1, 0.0, 1.0])
    return RigAnimation(rig, q, rig.heads[roots][None] + walk, fps)


def _synthetic_rig() -> Rig:
    """4 bones (a second root among them), non-trivial rest rotations, a 6-vertex mesh."""
    def pose(rotvec, head):
        m = np.eye(4)
        m[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
        m[:3, 3] = head
        return m

    rest = np.stack([
        pose([0.0, 0.3, 0.0], [0.0, 1.0, 0.0]),
        pose([0.2, 0.3, 0.1], [0.0, 1.4, 0.05]),
        pose([-0.5, 0.0, 0.9], [0.1, 1.8, 0.0]),
        pose([0.0, 0.0, 2.5], [0.5, 0.2, 0.3]),
    ])
    vertices = np.array([[0, 0.9, 0], [0.1, 1.1, 0], [0, 1.5, 0.1], [0.1, 1.7, 0], [0.1, 1.9, 0.05], [0.5, 0.3, 0.3]])
    faces = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4], [0, 5, 1]])
    joints = np.array([[0, 1], [0, 1], [1, 0], [1, 2], [2, 1], [3, 0]])
    weights = np.array([[1.0, 0.0], [0.7, 0.3], [0.6, 0.4], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    mesh = SkinnedMesh(vertices, faces, joints, weights, name="blob")
    return Rig("synthetic", ("hips", "spine", "head", "prop"), (-1, 0, 1, -1), rest, mesh=mesh)


# ---------------------------------------------------------------------------------------------
# an independent reader: the glTF 2.0 spec's skinning, straight from pygltflib


def _accessor(g: pygltflib.GLTF2, index: int) -> np.ndarray:
    a = g.accessors[index]
    view = g.bufferViews[a.bufferView]
    n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[a.type]
    dt = np.dtype({5126: "<f4", 5121: "<u1", 5123: "<u2", 5125: "<u4"}[a.componentType])
    stride = view.byteStride or dt.itemsize * n
    start = (view.byteOffset or 0) + (a.byteOffset or 0)
    rows = np.ndarray((a.count, n), dt, g.binary_blob(), start, (stride, dt.itemsize))
    return rows.astype(np.float64)


def _spec_posed_vertices(g: pygltflib.GLTF2, animation: str, key: int, *, keep_bind_offsets: bool) -> np.ndarray:
    """Every mesh vertex at keyframe ``key`` as the glTF 2.0 spec places it: skinned meshes by
    ``sum w G_j IBM_j v``, meshes under joints by their node's world matrix. Skinned meshes first,
    then the others in node order (the loader's order). With ``keep_bind_offsets`` the joints below
    the skeleton's root keep their bind-pose offsets from their parents (what a RigAnimation keeps)."""
    anim = next(a for a in g.animations if a.name == animation)
    trs = {i: [n.translation or [0, 0, 0], n.rotation or [0, 0, 0, 1], n.scale or [1, 1, 1]]
           for i, n in enumerate(g.nodes)}
    for c in anim.channels:
        slot = {"translation": 0, "rotation": 1, "scale": 2}.get(c.target.path)
        if slot is not None:
            trs[c.target.node][slot] = _accessor(g, anim.samplers[c.sampler].output)[key]
    skin = g.skins[0]
    ibm = _accessor(g, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    parent = {c: i for i, n in enumerate(g.nodes) for c in n.children or ()}
    if keep_bind_offsets:
        for k, node in enumerate(skin.joints):
            if parent.get(node) in skin.joints:
                p = skin.joints.index(parent[node])
                trs[node][0] = (ibm[p] @ np.linalg.inv(ibm[k]))[:3, 3]

    def world(i: int) -> np.ndarray:
        t, r, s = trs[i]
        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(r).as_matrix() * np.asarray(s)
        m[:3, 3] = t
        return m if i not in parent else world(parent[i]) @ m

    skinning = np.stack([world(j) for j in skin.joints]) @ ibm
    out = []
    for node_index, node in sorted(enumerate(g.nodes), key=lambda x: x[1].skin is None):
        if node.mesh is None:
            continue
        for prim in g.meshes[node.mesh].primitives:
            v = np.c_[_accessor(g, prim.attributes.POSITION), np.ones(g.accessors[prim.attributes.POSITION].count)]
            if node.skin is not None:
                j = _accessor(g, prim.attributes.JOINTS_0).astype(int)
                w = _accessor(g, prim.attributes.WEIGHTS_0)
                w /= w.sum(axis=1, keepdims=True)
                out.append(np.einsum("vk,vkab,vb->va", w, skinning[j], v)[:, :3])
            else:
                out.append((v @ world(node_index).T)[:, :3])
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# the real characters


def test_mannequin_bones_mesh_and_weights(mannequin):
    rig = mannequin
    assert rig.num_bones == 45
    for name in ("pelvis", "thigh.l", "calf.r", "spine_01", "head", "hand.l", "index_03.r"):
        assert name in rig.bone_names
    assert rig.bone_names[0] == "pelvis" and rig.parents[0] == -1
    assert rig.parents[rig.index("calf.l")] == rig.index("thigh.l")
    mesh = rig.mesh
    assert mesh is not None and mesh.name == "bony_body.002"
    assert len(mesh.vertices) == 10366  # glTF splits vertices at UV seams: 7,136 distinct positions
    assert len(np.unique(mesh.vertices.round(6), axis=0)) == 7136
    assert np.allclose(mesh.weights.sum(axis=1), 1.0, atol=1e-5)
    assert mesh.joints.max() < rig.num_bones and np.all(mesh.weights >= 0)
    assert len(np.unique(mesh.joints[mesh.weights > 0])) == 45  # every bone moves some vertex


def test_convention_y_up_facing_pos_z(mannequin):
    rig, v = mannequin, mannequin.mesh.vertices
    assert abs(v[:, 1].min()) < 0.01  # feet on the ground
    assert 1.7 < v[:, 1].max() < 1.85  # the mannequin is 1.79 m tall
    head, pelvis, foot = (rig.heads[rig.index(n)] for n in ("head", "pelvis", "foot.l"))
    assert head[1] > pelvis[1] > foot[1]
    assert rig.heads[rig.index("ball.l"), 2] > foot[2]  # toes point +Z
    assert rig.heads[rig.index("hand.l"), 0] > 0.5 > -0.5 > rig.heads[rig.index("hand.r"), 0]  # T-pose, left on +X


def test_mannequin_identity_skinning_is_the_files_bind_pose(mannequin):
    g = pygltflib.GLTF2().load(str(MANNEQUIN))
    raw = np.concatenate([_accessor(g, p.attributes.POSITION) for p in g.meshes[0].primitives])
    still = skin_frame(mannequin.mesh, np.broadcast_to(np.eye(4), (mannequin.num_bones, 4, 4)))
    assert np.allclose(still, raw, atol=1e-6)
    rest = RigAnimation.rest_pose(mannequin)
    assert np.allclose(skin_frame(mannequin.mesh, rest.skinning_matrices()[0]), raw, atol=1e-6)


def test_robot_scaled_armature_and_rigid_parts(robot):
    rig = robot
    assert rig.num_bones == 43 and rig.bone_names[0] == "Bone"
    assert {"Hips", "Head", "UpperArm.L", "LowerLeg.R", "Palm2.R"} <= set(rig.bone_names)
    # the armature is scaled 100 and turned from Z up: rest keeps rotations, the world keeps metres
    assert np.allclose(rig.rest[:, :3, :3] @ np.swapaxes(rig.rest[:, :3, :3], 1, 2), np.eye(3), atol=1e-6)
    v = rig.mesh.vertices
    assert abs(v[:, 1].min()) < 0.05 and 4.3 < v[:, 1].max() < 4.7  # stands on the ground, 4.5 m
    assert rig.heads[rig.index("Head"), 1] > rig.heads[rig.index("Hips"), 1] > rig.heads[rig.index("Foot.L"), 1]
    # only the hands are skinned; the rest are meshes parented to joints, weighted 1.0 to them
    hands_only = load_gltf_rig(ROBOT, rigid_parts=False)
    assert len(hands_only.mesh.vertices) == 1108 and len(v) == 7214
    rigid = v[len(hands_only.mesh.vertices):]
    assert np.all(rig.mesh.weights[len(hands_only.mesh.vertices):, 0] == 1.0)
    head_part = rig.mesh.joints[len(hands_only.mesh.vertices):, 0] == rig.index("Head")
    assert rigid[head_part, 1].min() > rig.heads[rig.index("Neck"), 1]
    assert np.allclose(hands_only.mesh.vertices, v[: len(hands_only.mesh.vertices)])


@pytest.mark.parametrize(
    ("path", "animation", "keys"),
    [(MANNEQUIN, "fight_idle", (0, 22, 44)), (ROBOT, "Wave", (0, 20, 44))],
    ids=["mannequin", "robot"],
)
def test_file_animation_skins_as_the_gltf_spec(path, animation, keys):
    anim = read_glb_animation(path, animation=animation)
    assert anim.num_frames == 45
    matrices = anim.skinning_matrices()
    g = pygltflib.GLTF2().load(str(path))
    for key in keys:
        expected = _spec_posed_vertices(g, animation, key, keep_bind_offsets=False)
        assert np.abs(skin_frame(anim.rig.mesh, matrices[key]) - expected).max() < 2e-4


def test_robot_body_bob_is_kept_as_locations(caplog):
    """RobotExpressive's clips move the Body joint up and down (and place every joint a little
    off its bind-pose offset): non-root translations, read as ``locations``; nothing dropped."""
    anim = read_glb_animation(ROBOT, animation="Wave")
    assert anim.fps == 24.0 and "dropped" not in caplog.text
    assert anim.rig.index("Body") in anim.moved_bones
    bob = anim.world_matrices()[:, anim.rig.index("Body"), 1, 3]
    assert np.ptp(bob) > 0.01  # the body bobs by centimetres (the robot is 4.5 m tall)
    assert np.ptp(anim.world_matrices()[:, anim.rig.index("Bone"), 1, 3]) < 1e-6  # its root stays put


# ---------------------------------------------------------------------------------------------
# writing and reading back


def test_round_trip_synthetic_rig(tmp_path):
    rig = _synthetic_rig()
    anim = _random_animation(rig, 7, seed=3, spread=1.5, fps=25.0)
    out = write_glb(anim, tmp_path / "synthetic.glb")
    back = read_glb_animation(out)
    assert back.rig.bone_names == rig.bone_names and back.rig.parents == rig.parents
    assert back.num_frames == 7 and back.fps == 25.0
    assert np.abs(back.world_matrices() - anim.world_matrices()).max() < 1e-5
    assert np.allclose(back.rig.rest, rig.rest, atol=1e-6)
    assert np.allclose(back.rig.mesh.vertices, rig.mesh.vertices, atol=1e-7)
    posed = [skin_frame(a.rig.mesh, a.skinning_matrices()[3]) for a in (anim, back)]
    assert np.abs(posed[0] - posed[1]).max() < 1e-5

    g = pygltflib.GLTF2().load(str(out))
    (a,) = g.animations
    assert a.name == "pose2rig" and len(a.channels) == rig.num_bones + 2  # + both roots' translations
    times = _accessor(g, a.samplers[0].input)[:, 0]
    assert np.allclose(times, np.arange(7) / 25.0) and g.accessors[a.samplers[0].input].max == [pytest.approx(6 / 25)]
    for c in a.channels:
        s = a.samplers[c.sampler]
        assert s.interpolation == "LINEAR" and g.accessors[s.output].count == 7
        if c.target.path == "rotation":
            q = _accessor(g, s.output)
            assert np.all(np.sum(q[1:] * q[:-1], axis=1) >= 0)  # sign-continuous
    assert g.skins[0].joints == [0, 1, 2, 3] and g.nodes[4].skin == 0 and g.nodes[4].mesh == 0


def test_round_trip_without_mesh(tmp_path):
    anim = _random_animation(_synthetic_rig(), 3)
    back = read_glb_animation(write_glb(anim, tmp_path / "bare.glb", include_mesh=False))
    assert back.rig.mesh is None
    assert np.abs(back.world_matrices() - anim.world_matrices()).max() < 1e-5


def test_mannequin_rest_written_and_read_skins_identically(mannequin, tmp_path):
    rest = RigAnimation.rest_pose(mannequin, frames=2)
    back = read_glb_animation(write_glb(rest, tmp_path / "rest.glb"))
    assert np.array_equal(back.rig.mesh.vertices, mannequin.mesh.vertices)
    assert np.array_equal(back.rig.mesh.faces, mannequin.mesh.faces)
    for a in (rest, back):
        assert np.abs(skin_frame(a.rig.mesh, a.skinning_matrices()[1]) - mannequin.mesh.vertices).max() < 1e-5


def test_writer_keeps_up_to_eight_influences_in_two_sets(tmp_path):
    """A vertex with 10 influences keeps its 8 largest (JOINTS_0/1, WEIGHTS_0/1), renormalised;
    a mesh with at most 4 per vertex writes one set only."""
    n = 10
    rest = np.tile(np.eye(4), (n, 1, 1))
    rest[:, 1, 3] = np.arange(n) * 0.1
    vertices = np.array([[0.0, 0.0, 0.0], [0.1, 0.5, 0.0], [0.0, 0.9, 0.1]])
    weights = np.tile(np.arange(n, 0, -1, dtype=np.float64), (3, 1))
    weights /= weights.sum(axis=1, keepdims=True)
    joints = np.tile(np.arange(n)[::-1], (3, 1))  # the largest weight on the last bone
    weights = weights[:, ::-1]
    mesh = SkinnedMesh(vertices, np.array([[0, 1, 2]]), joints, weights)
    rig = Rig("chain", tuple(f"b{i}" for i in range(n)), (-1, *range(n - 1)), rest, mesh=mesh)
    out = write_glb(RigAnimation.rest_pose(rig), tmp_path / "k10.glb")
    attrs = pygltflib.GLTF2().load(str(out)).meshes[0].primitives[0].attributes
    assert attrs.JOINTS_1 is not None and attrs.WEIGHTS_1 is not None
    back = load_gltf_rig(out).mesh
    assert back.joints.shape == (3, 8)
    names = [load_gltf_rig(out).bone_names[j] for j in back.joints[0]]
    kept = np.arange(n, 2, -1, dtype=np.float64)
    assert names == [f"b{i}" for i in range(8)]
    np.testing.assert_allclose(back.weights[0], kept / kept.sum(), atol=1e-6)
    small = write_glb(RigAnimation.rest_pose(_synthetic_rig()), tmp_path / "k2.glb")
    assert getattr(pygltflib.GLTF2().load(str(small)).meshes[0].primitives[0].attributes, "JOINTS_1", None) is None


def test_writer_merges_a_bone_listed_twice(tmp_path):
    rig = _synthetic_rig()
    joints = np.array([[0, 1, 2, 3, 1, 2]] * 6)  # bone 1 twice: 0.1 + 0.25 beat bone 0's 0.3
    weights = np.array([[0.3, 0.1, 0.05, 0.2, 0.25, 0.1]] * 6)
    mesh = SkinnedMesh(rig.mesh.vertices, rig.mesh.faces, joints, weights)
    out = write_glb(RigAnimation.rest_pose(rig.with_mesh(mesh)), tmp_path / "k6.glb")
    back = load_gltf_rig(out).mesh
    assert back.joints.shape == (6, 4)
    order = np.argsort(-back.weights[0])
    assert list(back.joints[0, order]) == [1, 0, 3, 2]
    assert np.allclose(back.weights[0, order], np.array([0.35, 0.3, 0.2, 0.15]) / 1.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# hand-made glTF files: spec corners


class _Gltf:
    """A tiny glTF JSON builder with one base64 buffer (independent of the module's writer)."""

    def __init__(self) -> None:
        self.doc: dict = {"asset": {"version": "2.0"}, "nodes": [], "meshes": [], "skins": [],
                          "accessors": [], "bufferViews": [], "buffers": [], "scenes": [], "scene": 0}
        self.blob = bytearray()

    def data(self, array, kind: str, component: int = 5126) -> int:
        arr = np.ascontiguousarray(array, dtype={5126: "<f4", 5121: "<u1", 5123: "<u2"}[component])
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": arr.nbytes})
        self.blob.extend(arr.tobytes())
        acc = {"bufferView": len(self.doc["bufferViews"]) - 1, "componentType": component,
               "count": len(arr), "type": kind}
        if kind == "VEC3" and component == 5126:
            acc["min"], acc["max"] = arr.min(0).tolist(), arr.max(0).tolist()
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def node(self, **fields) -> int:
        self.doc["nodes"].append(fields)
        return len(self.doc["nodes"]) - 1

    def save(self, path: Path) -> Path:
        uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode()
        self.doc["buffers"] = [{"byteLength": len(self.blob), "uri": uri}]
        if not self.doc["scenes"]:
            roots = set(range(len(self.doc["nodes"]))) - {c for n in self.doc["nodes"] for c in n.get("children", [])}
            self.doc["scenes"] = [{"nodes": sorted(roots)}]
        path.write_text(json.dumps({k: v for k, v in self.doc.items() if v != []}))
        return path


def _two_bone_file(*, armature: dict, mesh_node: dict, ibm: np.ndarray | None, vertices: np.ndarray,
                   a: dict | None = None, b_offset=(0.0, 1.0, 0.0), mesh_under_armature: bool = False,
                   mode: int = 4, indices=None, extra_influences: bool = False) -> _Gltf:
    """Armature node -> joint "a" -> joint "b"; a mesh node skinned to them, under the armature
    (Blender's exporter) or at the scene root (FBX2GLTF)."""
    g = _Gltf()
    b = g.node(name="b", translation=list(b_offset))
    joint_a = g.node(name="a", children=[b], **(a or {}))
    arm = g.node(name="armature", children=[joint_a], **armature)
    n = len(vertices)
    attrs = {"POSITION": g.data(vertices, "VEC3"),
             "JOINTS_0": g.data(np.tile([0, 1, 0, 0], (n, 1)), "VEC4", 5121),
             "WEIGHTS_0": g.data(np.tile([0.6, 0.2, 0, 0], (n, 1)), "VEC4")}
    if extra_influences:
        attrs["JOINTS_1"] = g.data(np.tile([1, 0, 0, 0], (n, 1)), "VEC4", 5121)
        attrs["WEIGHTS_1"] = g.data(np.tile([0.2, 0, 0, 0], (n, 1)), "VEC4")
    prim = {"attributes": attrs, "mode": mode}
    if indices is not None:
        prim["indices"] = g.data(np.asarray(indices)[:, None], "SCALAR", 5123)
    g.doc["meshes"].append({"name": "m", "primitives": [prim]})
    skin = {"joints": [joint_a, b]}
    if ibm is not None:
        skin["inverseBindMatrices"] = g.data(ibm.transpose(0, 2, 1).reshape(-1, 16), "MAT4")
    g.doc["skins"].append(skin)
    body = g.node(name="body", mesh=0, skin=0, **mesh_node)
    if mesh_under_armature:
        g.doc["nodes"][arm]["children"].append(body)
    return g


def test_blender_style_scaled_armature(tmp_path):
    # Blender's exporter: IBMs and vertices in the world, the mesh node under the (scaled) armature
    arm = np.diag([0.01, 0.01, 0.01, 1.0])
    arm[:3, 3] = [1.0, 0.0, 2.0]
    bind = np.stack([arm, arm @ np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1.0]])])
    verts = np.array([[1.0, 0.0, 2.0], [1.01, 0.0, 2.0], [1.0, 0.01, 2.0]])
    g = _two_bone_file(armature={"translation": [1.0, 0.0, 2.0], "scale": [0.01] * 3}, mesh_node={},
                       mesh_under_armature=True, ibm=np.linalg.inv(bind), vertices=verts)
    rig = load_gltf_rig(g.save(tmp_path / "blender.gltf"))
    assert rig.bone_names == ("a", "b")
    assert np.allclose(rig.rest[:, :3, :3], np.eye(3))  # the 0.01 scale is gone from rest
    assert np.allclose(rig.heads, [[1.0, 0.0, 2.0], [1.0, 0.01, 2.0]])
    assert np.allclose(rig.mesh.vertices, verts, atol=1e-7)


def test_fbx2gltf_style_mesh_node_places_the_bind_space(tmp_path):
    # FBX2GLTF: IBMs and vertices in the mesh node's space, the mesh node placed in the world
    turn = {"rotation": [-0.7071068, 0.0, 0.0, 0.7071068], "scale": [100.0] * 3}  # Z up cm-ish -> Y up
    bind = np.stack([np.eye(4), np.eye(4)])
    bind[0, :3, :3] = bind[1, :3, :3] = Rotation.from_rotvec([np.pi / 2, 0, 0]).as_matrix()  # bones along +z
    bind[1, :3, 3] = [0.0, 0.0, 0.01]
    verts = np.array([[0.0, 0.0, 0.0], [0.001, 0.0, 0.005], [0.0, 0.001, 0.01]])
    g = _two_bone_file(armature=turn, mesh_node=turn, a={"rotation": [0.7071068, 0.0, 0.0, 0.7071068]},
                       b_offset=(0.0, 0.01, 0.0), ibm=np.linalg.inv(bind), vertices=verts)
    rig = load_gltf_rig(g.save(tmp_path / "fbx.gltf"))
    assert np.allclose(rig.heads, [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-6)  # 1 m up, Y up
    assert np.allclose(rig.mesh.vertices, [[0, 0, 0], [0.1, 0.5, 0], [0, 1.0, -0.1]], atol=1e-5)


def test_no_inverse_bind_matrices_means_identity(tmp_path):
    verts = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    g = _two_bone_file(armature={}, mesh_node={}, ibm=None, vertices=verts)
    rig = load_gltf_rig(g.save(tmp_path / "noibm.gltf"))
    assert np.allclose(rig.rest, np.eye(4))  # the spec's default: every joint bound at the origin
    assert np.allclose(rig.mesh.vertices, verts)


def test_strips_fans_and_second_influence_set(tmp_path):
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 0]], dtype=float)
    bind = np.stack([np.eye(4), np.eye(4)])
    bind[1, 1, 3] = 1.0
    strip = _two_bone_file(armature={}, mesh_node={}, ibm=np.linalg.inv(bind), vertices=verts, mode=5,
                           indices=[0, 1, 2, 3, 4], extra_influences=True)
    rig = load_gltf_rig(strip.save(tmp_path / "strip.gltf"))
    assert rig.mesh.faces.tolist() == [[0, 1, 2], [1, 3, 2], [2, 3, 4]]  # winding kept
    assert rig.mesh.joints.shape == (5, 8)
    assert np.allclose(rig.mesh.weights[:, :2], [0.6, 0.2]) and np.allclose(rig.mesh.weights[:, 4], 0.2)
    fan = _two_bone_file(armature={}, mesh_node={}, ibm=np.linalg.inv(bind), vertices=verts, mode=6)
    assert load_gltf_rig(fan.save(tmp_path / "fan.gltf")).mesh.faces.tolist() == [[1, 2, 0], [2, 3, 0], [3, 4, 0]]


def test_resampling_and_animation_choice(tmp_path):
    anim = _random_animation(_synthetic_rig(), 5, fps=10.0)
    out = write_glb(anim, tmp_path / "a.glb")
    dense = read_glb_animation(out, animation="pose2rig", fps=20.0)
    assert dense.num_frames == 9 and dense.fps == 20.0
    assert np.abs(dense.world_matrices()[::2] - anim.world_matrices()).max() < 1e-5
    with pytest.raises(Pose2RigError, match="has no animation 'walk' \\(it has pose2rig\\)"):
        read_glb_animation(out, animation="walk")


# ---------------------------------------------------------------------------------------------
# bad input and atomic output


def test_not_gltf(tmp_path):
    text = tmp_path / "notes.glb"
    text.write_text("hello, not a model")
    with pytest.raises(Pose2RigError, match="is not a glTF file"):
        load_gltf_rig(text)
    with pytest.raises(Pose2RigError, match="no such file"):
        load_gltf_rig(tmp_path / "missing.glb")


def test_truncated_glb(tmp_path):
    cut = tmp_path / "cut.glb"
    cut.write_bytes(MANNEQUIN.read_bytes()[:400_000])
    with pytest.raises(Pose2RigError, match="truncated GLB"):
        load_gltf_rig(cut)


def test_truncated_buffer(tmp_path):
    data = bytearray(write_glb(RigAnimation.rest_pose(_synthetic_rig()), tmp_path / "ok.glb").read_bytes())
    json_len = int.from_bytes(data[12:16], "little")
    bin_start = 20 + json_len + 8
    short = bytearray(data[:bin_start + 16])  # the BIN chunk cut to 16 bytes, the lengths made to match
    short[8:12] = len(short).to_bytes(4, "little")
    short[bin_start - 8:bin_start - 4] = (16).to_bytes(4, "little")
    (tmp_path / "short.glb").write_bytes(short)
    with pytest.raises(Pose2RigError, match="buffer 0 holds 16 bytes but declares .* truncated"):
        load_gltf_rig(tmp_path / "short.glb")


def test_gltf_without_skin(tmp_path):
    g = _Gltf()
    g.doc["meshes"].append({"primitives": [{"attributes": {"POSITION": g.data(np.eye(3), "VEC3")}}]})
    g.node(name="static", mesh=0)
    path = g.save(tmp_path / "static.gltf")
    with pytest.raises(Pose2RigError, match=r"static.gltf has no skinned armature \(no glTF skin\)"):
        load_gltf_rig(path)


def test_write_glb_leaves_no_partial_file(tmp_path, monkeypatch):
    anim = RigAnimation.rest_pose(_synthetic_rig())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Pose2RigError, match="is a file, not a folder"):
        write_glb(anim, blocker / "out.glb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]

    good = write_glb(anim, tmp_path / "good.glb")
    before = good.read_bytes()

    def half_then_fail(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_glb(_random_animation(anim.rig, 4), good)
    monkeypatch.undo()
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "good.glb"]


# ---------------------------------------------------------------------------------------------
# the Khronos glTF validator


def _validate(path: Path) -> dict:
    node = shutil.which("node")
    if node is None or not VALIDATOR_PACKAGE.is_file():
        pytest.fail("the Khronos glTF validator needs node and the npm package gltf-validator in "
                    ".venv/node: run `make install`")
    run = subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NODE_OPTIONS": ""})
    if run.returncode not in (0, 1):
        pytest.fail(f"the glTF validator did not run: {run.stderr.strip()}")
    return json.loads(run.stdout)


def _serious(report: dict) -> set[tuple[str, str]]:
    """The validator's errors and warnings as (code, JSON pointer)."""
    return {(m["code"], m.get("pointer", "")) for m in report["issues"]["messages"] if m["severity"] <= 1}


@pytest.mark.parametrize("character", ["mannequin", "robot"])
def test_khronos_validator_accepts_written_characters(character, request, tmp_path):
    """The GLB built from a rig (no source document) has no error or warning at all."""
    rig = request.getfixturevalue(character)
    out = write_glb(_random_animation(rig, 10), tmp_path / f"{character}.glb", from_source=False)
    report = _validate(out)
    issues = report["issues"]
    warnings = [f"{m['code']} at {m.get('pointer')}: {m['message']}" for m in issues["messages"] if m["severity"] <= 1]
    assert issues["numErrors"] == 0, "\n".join(warnings)
    assert issues["numWarnings"] == 0, "\n".join(warnings)
    assert report["info"]["animationCount"] == 1 and report["info"]["hasSkins"]


@pytest.mark.parametrize("path", [MANNEQUIN, ROBOT, REPO / "samples" / "character" / "mpfb2_game_engine.glb"],
                         ids=["mannequin", "robot", "bundled"])
def test_khronos_validator_finds_nothing_new_in_an_animated_character(path, tmp_path):
    """The character's own document animated: the validator reports what it reports on the
    input (RobotExpressive's unnormalised weights, the mannequin's non-root skinned mesh node:
    the files' own issues, kept as they are) and nothing else; our animation is valid."""
    rig = load_gltf_rig(path)
    out = write_glb(_random_animation(rig, 10), tmp_path / "animated.glb")
    before, after = _validate(path), _validate(out)
    assert _serious(after) == _serious(before)
    # the new animation comes first; the bundled character's own one, also named "pose2rig", is replaced
    replaced = path.parent.name == "character"
    assert after["info"]["animationCount"] == before["info"]["animationCount"] + (0 if replaced else 1)
    assert not [m for m in after["issues"]["messages"] if "/animations/0/" in m.get("pointer", "")]
