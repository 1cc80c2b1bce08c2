"""pose2rig retarget and convert onto characters: outputs, one key per source frame, and bad
input ending in one clear line with no output left behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_cli import DATA, REPO, assert_one_line_error, run

from pose2rig.io.bvh import read_bvh
from pose2rig.io.gltf import read_glb_animation, write_glb
from pose2rig.rig import RigAnimation
from pose2rig.testing import tpose_rig

BANDAI = DATA / "mocap" / "bandai1" / "dataset-1_bow_normal_001.bvh"
CHARACTER = REPO / "samples" / "character" / "mpfb2_game_engine.glb"


def _glb_rig(path: Path, rename: dict[str, str] | None = None) -> Path:
    rig = tpose_rig()
    if rename:
        rig = replace(rig, bone_names=tuple(rename.get(n, n) for n in rig.bone_names))
    write_glb(RigAnimation.rest_pose(rig, 1), path)
    return path


@pytest.mark.slow
def test_retarget_a_bvh_onto_the_bundled_character_writes_glb_and_bvh(tmp_path):
    glb, bvh = tmp_path / "bow.glb", tmp_path / "bow.bvh"
    proc = run("retarget", str(BANDAI), "--glb", str(glb), "--bvh", str(bvh), "-q")
    assert proc.returncode == 0, proc.stderr
    src = read_bvh(BANDAI)
    anim = read_glb_animation(glb)
    assert anim.num_frames == src.num_frames and abs(anim.fps - 1 / src.frame_time) < 1e-3
    assert anim.rig.num_bones == 53 and "thigh_l" in anim.rig.bone_names
    out = read_bvh(bvh)
    assert out.num_frames == src.num_frames and out.names[:2] == ("Root", "pelvis")
    assert np.all(np.isfinite(out.motion))


def test_retarget_onto_a_glb_rig_with_a_mapping_file(tmp_path):
    rig = _glb_rig(tmp_path / "odd.glb", {"calf_l": "knee_thing"})
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"left_shin": "knee_thing"}))
    out = tmp_path / "odd_anim.glb"
    proc = run("retarget", str(BANDAI), "--rig", str(rig), "--map", str(mapping), "--glb", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert read_glb_animation(out).num_frames == read_bvh(BANDAI).num_frames


def test_rig_missing_mapped_bones_is_one_error_naming_them_and_writes_nothing(tmp_path):
    rig = _glb_rig(tmp_path / "broken.glb", {"calf_l": "knee_thing", "upperarm_r": "arm_thing"})
    out = tmp_path / "out.glb"
    proc = run("retarget", str(BANDAI), "--rig", str(rig), "--glb", str(out))
    assert_one_line_error(proc, "left_shin", "right_upper_arm", "LeftLeg", "--map")
    assert not out.exists() and list(tmp_path.iterdir()) == [rig]


def test_mapping_file_naming_missing_bones_is_one_error(tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"left_shin": "no_such_bone"}))
    out = tmp_path / "out.glb"
    proc = run("retarget", str(BANDAI), "--map", str(mapping), "--glb", str(out))
    assert_one_line_error(proc, "no_such_bone", "left_shin")
    assert not out.exists()


def test_unreadable_rig_files_and_wrong_types_are_one_error_each(tmp_path):
    garbage = tmp_path / "garbage.glb"
    garbage.write_bytes(b"glTF\x02\x00\x00\x00garbage")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    out = tmp_path / "out.glb"
    assert_one_line_error(run("retarget", str(BANDAI), "--rig", str(garbage), "--glb", str(out)), "garbage.glb")
    assert_one_line_error(run("retarget", str(BANDAI), "--rig", str(text), "--glb", str(out)), "unsupported")
    assert_one_line_error(run("retarget", str(BANDAI), "--rig", str(tmp_path / "nope.glb"), "--glb", str(out)),
                          "not found")
    assert_one_line_error(run("retarget", str(text), "--glb", str(out)), ".npz or a .bvh")
    assert not out.exists()


def test_a_glb_without_an_armature_is_one_error(tmp_path):
    import trimesh

    plain = tmp_path / "box.glb"
    trimesh.creation.box().export(plain)
    out = tmp_path / "out.glb"
    assert_one_line_error(run("retarget", str(BANDAI), "--rig", str(plain), "--glb", str(out)), "armature")
    assert not out.exists()


def test_retarget_needs_an_output():
    assert_one_line_error(run("retarget", str(BANDAI)), "nothing to write")
