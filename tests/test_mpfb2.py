"""MakeHuman / MPFB2 characters from the base mesh and rig JSON (pose2rig/io/mpfb2.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.io.mpfb2 import blender_bone_matrix, load_mpfb2

MPFB2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "characters" / "mpfb2"


@pytest.fixture(scope="module")
def rigs():
    return {n: load_mpfb2(MPFB2 / f"rig.{n}.json") for n in ("game_engine", "mixamo", "cmu_mb")}


def test_three_rigs_share_one_body_and_its_joint_positions(rigs):
    ge, mx, cmu = rigs["game_engine"], rigs["mixamo"], rigs["cmu_mb"]
    assert (ge.num_bones, mx.num_bones, cmu.num_bones) == (53, 52, 31)
    for r in rigs.values():
        assert r.mesh.vertices.shape == (13380, 3) and r.mesh.faces.shape == (26756, 3)
        assert np.allclose(r.mesh.weights.sum(axis=1), 1.0, atol=1e-5)
        assert np.ptp(r.mesh.vertices[:, 1]) == pytest.approx(1.666, abs=0.01)  # metres, Y up
    assert np.allclose(ge.heads[ge.index("thigh_l")], mx.heads[mx.index("mixamorig:LeftUpLeg")], atol=1e-9)
    assert np.allclose(ge.heads[ge.index("upperarm_r")], cmu.heads[cmu.index("RightArm")], atol=1e-9)


def test_convention_bones_point_y_from_head_to_tail_facing_pos_z(rigs):
    r = rigs["game_engine"]
    y = r.rest[:, :3, 1]
    direction = r.tails - r.heads
    assert np.allclose(y, direction / np.linalg.norm(direction, axis=1, keepdims=True), atol=1e-9)
    left, right = r.heads[r.index("thigh_l")], r.heads[r.index("thigh_r")]
    assert left[0] > 0 > right[0]  # the character's left is +X: it faces +Z
    toe, ankle = r.heads[r.index("ball_l")], r.heads[r.index("foot_l")]
    assert toe[2] > ankle[2]


def test_blender_bone_matrix_matches_known_cases():
    assert np.allclose(blender_bone_matrix([0, 0, 0], [0, 1, 0], 0.0), np.eye(3))
    assert np.allclose(blender_bone_matrix([0, 0, 0], [0, -2, 0], 0.0), np.diag([-1.0, -1.0, 1.0]))
    m = blender_bone_matrix([0, 0, 0], [0, 0, 1], np.pi / 2)  # up, rolled a quarter turn
    assert np.allclose(m[:, 1], [0, 0, 1]) and np.allclose(m @ m.T, np.eye(3))
    with pytest.raises(Pose2RigError, match="zero length"):
        blender_bone_matrix([1, 2, 3], [1, 2, 3], 0.0)


@pytest.mark.slow
def test_blender_bone_matrix_is_blenders(bpy):
    """Against Blender's own edit bones, including the special case next to -Y."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = bpy.data.armatures.new("a")
    ob = bpy.data.objects.new("a", arm)
    bpy.context.scene.collection.objects.link(ob)
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(0)
    cases = []
    for i in range(30):
        h = rng.normal(size=3)
        t = h + (rng.normal(size=3) if i > 2 else [[0, -1, 0], [0, -1, 1e-4], [0.03, -1, 0.02]][i])
        b = arm.edit_bones.new(f"b{i}")
        b.head, b.tail, b.roll = h, t, rng.uniform(-3, 3)
        cases.append((b.name, h, t, b.roll))
    bpy.ops.object.mode_set(mode="OBJECT")
    for name, h, t, roll in cases:
        got = np.array(arm.bones[name].matrix_local)[:3, :3]
        assert np.abs(got - blender_bone_matrix(h, t, roll)).max() < 1e-4, name


def test_bad_files_are_one_clear_error(tmp_path):
    with pytest.raises(Pose2RigError, match="not found"):
        load_mpfb2(tmp_path / "rig.none.json")
    bad = tmp_path / "rig.bad.json"
    bad.write_text("{oops")
    with pytest.raises(Pose2RigError, match="not valid JSON"):
        load_mpfb2(bad, obj=MPFB2 / "base.obj")
    orphan = tmp_path / "rig.orphan.json"
    orphan.write_text(json.dumps({"a": {"head": {"strategy": "MEAN", "vertex_indices": [0]},
                                        "tail": {"strategy": "MEAN", "vertex_indices": [1]}, "parent": "nope"}}))
    with pytest.raises(Pose2RigError, match="parent 'nope'"):
        load_mpfb2(orphan, obj=MPFB2 / "base.obj")
    with pytest.raises(Pose2RigError, match="weights file .* not found"):
        load_mpfb2(MPFB2 / "rig.game_engine.json", weights_json=tmp_path / "none.json")


def test_rigs_stand_on_the_floor_like_the_bundled_character(rigs):
    """Issue 11: the MPFB2 files put the origin mid-body (the mesh spanned y -0.82 to 0.85 m); a
    loaded rig stands with its soles on y = 0, exactly as the bundled character made from the
    same files."""
    from pose2rig.io.rigs import load_rig

    bundled = load_rig(None)
    for r in rigs.values():
        assert r.mesh.vertices[:, 1].min() == pytest.approx(0.0, abs=1e-6)
        assert r.mesh.vertices[:, 1].max() == pytest.approx(1.666, abs=0.01)
        assert np.allclose(r.mesh.vertices, bundled.mesh.vertices, atol=1e-6)
    ge = rigs["game_engine"]
    order = [ge.index(n) for n in bundled.bone_names]
    assert np.allclose(ge.rest[order], bundled.rest, atol=1e-6)
    assert abs(ge.heads[ge.index("Root"), 1]) < 0.002 and ge.heads[ge.index("pelvis"), 1] > 0.8


def test_a_rig_json_without_its_folder_says_where_it_looked(tmp_path, caplog):
    import logging
    import shutil

    lone = tmp_path / "copied"
    lone.mkdir()
    shutil.copy(MPFB2 / "rig.game_engine.json", lone)
    with pytest.raises(Pose2RigError) as e:
        load_mpfb2(lone / "rig.game_engine.json")
    msg = str(e.value)
    assert f"no base.obj in {lone.resolve()}" in msg and "weights.<name>.json in the same folder" in msg
    # with base.obj but without the weights: the rig loads bare, and a warning names the file missing
    (lone / "base.obj").symlink_to(MPFB2 / "base.obj")
    with caplog.at_level(logging.WARNING):
        bare = load_mpfb2(lone / "rig.game_engine.json")
    assert bare.mesh is None and bare.num_bones == 53
    assert f"no weights.game_engine.json in {lone.resolve()}" in caplog.text
