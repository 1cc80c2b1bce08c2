"""Issue 11: the character written back whole. For the GDQuest mannequin, RobotExpressive and the
bundled character, a Bandai-1 walk retargeted onto each and written as GLB and FBX, the way the
writers did before (built from the rig: ``from_source=False``) and now (the character's own
file, animated): material, mesh, morph-target / shape-key and node counts against the input's
(a GLB read with pygltflib, an FBX and the input as Blender's importers see them), the seconds
each write takes, and RobotExpressive's head-to-torso distance (the centres of its ``Head`` and
``Torso`` meshes) through the walk, in the animation itself and in each file.

    .venv/bin/python bench/character_files.py [--clip BVH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CHARACTERS = {
    "mannequin": DATA / "characters" / "mannequiny-0.3.0.glb",
    "robot": DATA / "characters" / "RobotExpressive.glb",
    "bundled": REPO / "samples" / "character" / "mpfb2_game_engine.glb",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DATA / "mocap" / "bandai1" / "dataset-1_walk_active_001.bvh")
    args = parser.parse_args()
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender_user"))
    sys.path.insert(0, str(REPO / "tests"))
    import bpy
    import pygltflib
    from test_gltf import _spec_posed_vertices
    from test_rigs import _blender_counts, _blender_scene, _gltf_counts, _posed

    from pose2rig.io import blender
    from pose2rig.io.gltf import load_gltf_rig, write_glb
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.retarget.character import retarget
    from pose2rig.retarget.lbs import skin_frame
    from pose2rig.retarget.mapping import map_rig

    src = load_bvh_as_h36m17(args.clip)
    out = Path(tempfile.mkdtemp(prefix="character_files"))
    print(f"{args.clip.name}: {src.num_frames} frames\n")
    print("| character | file | materials | meshes | morph targets / shape keys | nodes | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    files = {}
    for name, path in CHARACTERS.items():
        rig = load_gltf_rig(path)
        anim = retarget(src, rig, mapping=map_rig(rig))
        c = _gltf_counts(path)
        print(f"| {name} | input (glTF) | {c['materials']} | {c['meshes']} | {c['morph targets']} | {c['nodes']} | |")
        for when, keep in (("before", False), ("now", True)):
            glb, fbx = out / f"{name}_{when}.glb", out / f"{name}_{when}.fbx"
            start = time.perf_counter()
            write_glb(anim, glb, from_source=keep)
            seconds = time.perf_counter() - start
            c = _gltf_counts(glb)
            print(f"| {name} | GLB {when} | {c['materials']} | {c['meshes']} | {c['morph targets']} | {c['nodes']} "
                  f"| {seconds:.2f} |")
            start = time.perf_counter()
            blender.export_fbx(anim, fbx, from_source=keep)
            files[name, when] = (anim, glb, fbx, time.perf_counter() - start)
        b = _blender_counts(bpy, path)
        print(f"| {name} | input in Blender | {len(b['materials'])} | {len(b['meshes'])} | {len(b['shape keys'])} "
              f"| {b['nodes']} | |")
        for when in ("before", "now"):
            b = _blender_counts(bpy, files[name, when][2])
            print(f"| {name} | FBX {when} in Blender | {len(b['materials'])} | {len(b['meshes'])} "
                  f"| {len(b['shape keys'])} | {b['nodes']} | {files[name, when][3]:.2f} |")

    # RobotExpressive: head-to-torso distance, the rig's mesh parts and each written file
    rig = load_gltf_rig(CHARACTERS["robot"])
    anim, glb, fbx, _ = files["robot", "now"]
    skinned = len(load_gltf_rig(CHARACTERS["robot"], rigid_parts=False).mesh.vertices)
    rigid = np.arange(len(rig.mesh.joints)) >= skinned
    head = rigid & (rig.mesh.joints[:, 0] == rig.index("Head"))
    torso = rigid & (rig.mesh.joints[:, 0] == rig.index("Body"))

    def gap(v: np.ndarray) -> float:
        return float(np.linalg.norm(v[head].mean(0) - v[torso].mean(0)))

    rest = gap(rig.mesh.vertices)
    wanted = np.array([gap(skin_frame(rig.mesh, m)) for m in anim.skinning_matrices()])
    g = pygltflib.GLTF2().load(str(glb))
    in_glb = np.array([gap(_spec_posed_vertices(g, "pose2rig", t, keep_bind_offsets=False))
                       for t in range(anim.num_frames)])
    scene = _blender_scene(bpy, fbx)
    _, posed = _posed(bpy, scene, rig, anim.num_frames)
    centre = {n: np.array([list(v.co) for v in scene.objects[n].data.vertices]).mean(0) for n in ("Head", "Torso")}
    at = {n: posed[n][:, :3, :3] @ centre[n] + posed[n][:, :3, 3] for n in centre}
    in_fbx = np.linalg.norm(at["Head"] - at["Torso"], axis=-1)
    print(f"\nRobotExpressive head-to-torso distance at rest {rest:.4f} m; through the walk:")
    print("| where | change from rest, min .. max (mm) | off the animation's, max (mm) |")
    print("| --- | --- | --- |")
    for label, d in (("the animation (rig mesh skinned)", wanted), ("GLB (glTF spec posing)", in_glb),
                     ("FBX (Blender's importer)", in_fbx)):
        print(f"| {label} | {1000 * (d - rest).min():.1f} .. {1000 * (d - rest).max():.1f} "
              f"| {1000 * np.abs(d - wanted).max():.4f} |")
    for bone in ("Hips", "Abdomen", "Torso", "Neck"):
        j = rig.index(bone)
        angle = np.degrees(2 * np.arccos(np.clip(np.abs(anim.rotations[:, j, 0]), 0, 1))).max()
        print(f"{bone}: turns up to {angle:.1f} degrees from rest")


if __name__ == "__main__":
    main()
