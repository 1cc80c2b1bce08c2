"""Retargeting accuracy on four real rigs, measured after an FBX round trip through bpy.

A Bandai-1 clip (ground-truth joints from its BVH) is retargeted onto the three MPFB2 rigs (one
body, three bone-naming and roll conventions: game engine, Mixamo, CMU MotionBuilder) and onto
the GDQuest mannequin, each exported to FBX (``pose2rig.io.blender.export_fbx``) and read back
(``read_fbx_animation``: Blender's FBX importer, ``anim_offset=0``). Reported per rig: frames
read back against source frames, the mean (over frames) and worst-frame angle between each mapped
limb bone and the source bone, and for the MPFB2 rigs the distance between their skinned meshes
(linear blend skinning of the one body, every frame; the mean over vertices, worst frame and
mean over frames). Also the time of ``retarget`` and of the FBX export and import per 1,000 frames (medians of
``--repeats``).

    BLENDER_USER_RESOURCES=/tmp/blender_user .venv/bin/python bench/retarget_rigs.py [--clip NAME] [--frames N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="dataset-1_dance-short_normal_001.bvh", help="a Bandai-1 clip name")
    ap.add_argument("--frames", type=int, default=0, help="use the first N frames (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender_user"))

    from pose2rig.io.blender import export_fbx, read_fbx_animation
    from pose2rig.io.gltf import load_gltf_rig
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.io.mpfb2 import load_mpfb2
    from pose2rig.retarget.character import retarget
    from pose2rig.retarget.check import direction_errors, skinned_distance
    from pose2rig.retarget.lbs import skin_frame
    from pose2rig.retarget.mapping import map_rig

    src = load_bvh_as_h36m17(DATA / "mocap" / "bandai1" / args.clip)
    if args.frames:
        n = args.frames
        src = src.replace(joints=src.joints[:n], timestamps=src.timestamps[:n], confidence=src.confidence[:n])
    rigs = {
        "MPFB2 game engine": load_mpfb2(DATA / "characters" / "mpfb2" / "rig.game_engine.json"),
        "MPFB2 Mixamo": load_mpfb2(DATA / "characters" / "mpfb2" / "rig.mixamo.json"),
        "MPFB2 CMU MotionBuilder": load_mpfb2(DATA / "characters" / "mpfb2" / "rig.cmu_mb.json"),
        "GDQuest mannequin": load_gltf_rig(DATA / "characters" / "mannequiny-0.3.0.glb"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="retarget_rigs"))
    rows, skinned, times_out = [], {}, []
    for name, rig in rigs.items():
        t_rt = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            anim = retarget(src, rig)
            t_rt.append(time.perf_counter() - t0)
        path = tmp / f"{name.replace(' ', '_')}.fbx"
        t_out, t_in = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            export_fbx(anim, path)
            t_out.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            back = read_fbx_animation(path)
            t_in.append(time.perf_counter() - t0)
        per_k = 1000.0 / anim.num_frames
        times_out.append((name, statistics.median(t_out) * per_k, statistics.median(t_in) * per_k,
                          len(rig.mesh.vertices) if rig.mesh is not None else 0,
                          statistics.median(t_rt) * per_k))
        mapping = map_rig(back.rig)
        err = direction_errors(back, src, mapping)
        mean = float(np.mean([e.mean() for e in err.values()]))
        worst = float(max(e.max() for e in err.values()))
        worst_frame_mean = float(np.max(np.mean(np.stack(list(err.values())), axis=0)))
        rows.append((name, rig.num_bones, back.num_frames, src.num_frames, mean, worst_frame_mean, worst))
        if name.startswith("MPFB2"):
            # the one body, skinned by the re-imported bones (the original mesh and weights, so
            # vertex order is the body's): bone world matrices by name
            order = [back.rig.bone_names.index(b) for b in rig.bone_names]
            mats = back.world_matrices()[:, order] @ np.linalg.inv(rig.rest)[None]
            skinned[name] = np.stack([skin_frame(rig.mesh, m) for m in mats])

    print(f"clip {args.clip}: {src.num_frames} frames at {src.fps:.0f} fps; after FBX export + bpy re-import\n")
    print("| rig | bones | frames back / source | limb direction error, mean | worst frame (mean over limbs) | worst bone-frame |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, bones, back_n, src_n, mean, wf, worst in rows:
        print(f"| {name} | {bones} | {back_n} / {src_n} | {mean:.4f} deg | {wf:.4f} deg | {worst:.4f} deg |")
    print("\n| skinned MPFB2 body, rig pair | mean over frames | worst frame |")
    print("| --- | ---: | ---: |")
    names = list(skinned)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            d = skinned_distance(skinned[names[i]], skinned[names[j]])
            print(f"| {names[i]} / {names[j]} | {100 * d.mean():.2f} cm | {100 * d.max():.2f} cm |")
    print("\n| rig | mesh vertices | retarget per 1,000 frames | FBX export per 1,000 frames | FBX import per 1,000 frames |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, t_out, t_in, verts, t_rt in times_out:
        print(f"| {name} | {verts:,} | {t_rt:.3f} s | {t_out:.2f} s | {t_in:.2f} s |")


if __name__ == "__main__":
    main()
