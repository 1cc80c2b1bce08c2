"""Issue 4's acceptance check on a short real clip: a Bandai-1 clip retargeted onto the three
MPFB2 rigs (one body; three naming and roll conventions) and the GDQuest mannequin, exported to
FBX and re-imported with bpy: one key per source frame, mapped limbs within 5 degrees of the
source bones, and the one body skinned by the three rigs within 2 cm every frame. The full clip
and the figures are in ``bench/retarget_rigs.py`` / docs/BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIP = DATA / "mocap" / "bandai1" / "dataset-1_dance-short_normal_001.bvh"


@pytest.fixture(scope="module")
def blender(bpy):
    from pose2rig.io import blender as module

    return module


@pytest.mark.slow
def test_four_rigs_after_fbx_round_trip(blender, tmp_path):
    from pose2rig.io.gltf import load_gltf_rig
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.io.mpfb2 import load_mpfb2
    from pose2rig.retarget.character import retarget
    from pose2rig.retarget.check import direction_errors, skinned_distance
    from pose2rig.retarget.lbs import skin_frame
    from pose2rig.retarget.mapping import map_rig

    src = load_bvh_as_h36m17(CLIP)
    sel = slice(300, 1500, 20)  # 60 frames of the dance, moving
    src = src.replace(joints=src.joints[sel], timestamps=src.timestamps[sel], confidence=src.confidence[sel])
    rigs = {name: load_mpfb2(DATA / "characters" / "mpfb2" / f"rig.{name}.json")
            for name in ("game_engine", "mixamo", "cmu_mb")}
    rigs["mannequin"] = load_gltf_rig(DATA / "characters" / "mannequiny-0.3.0.glb")
    body = {}
    for name, rig in rigs.items():
        path = tmp_path / f"{name}.fbx"
        blender.export_fbx(retarget(src, rig), path)
        back = blender.read_fbx_animation(path)
        assert back.num_frames == src.num_frames, name
        assert abs(back.fps - src.fps) < 1e-3, name
        errors = direction_errors(back, src, map_rig(back.rig))
        assert len(errors) == 8
        assert max(e.mean() for e in errors.values()) < 5.0, (name, {k: e.mean() for k, e in errors.items()})
        if rig.mesh is not None and name != "mannequin":
            order = [back.rig.bone_names.index(b) for b in rig.bone_names]
            mats = back.world_matrices()[:, order] @ np.linalg.inv(rig.rest)[None]
            body[name] = np.stack([skin_frame(rig.mesh, m) for m in mats])
    moving = np.linalg.norm(body["game_engine"] - body["game_engine"][:1], axis=-1).mean(axis=1)
    assert moving.max() > 0.05  # the clip moves the body
    for a, b in (("game_engine", "mixamo"), ("game_engine", "cmu_mb"), ("mixamo", "cmu_mb")):
        d = skinned_distance(body[a], body[b])
        assert d.max() < 0.02, (a, b, d.max())
