"""Speed of the bpy exporters and readers in pose2rig.io.blender on a game-sized character.

The character is mannequiny (45 bones, read with ``load_rig``) with its mesh doubled to ~20k
vertices; the animation is 1,000 frames of smooth random rotations and a walking root. Each step
runs ``--repeats`` times; medians are printed as a Markdown table.

Usage:
    BLENDER_USER_RESOURCES=/tmp/blender_user .venv/bin/python bench/blender_io_speed.py [--frames 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

CHARACTER = Path(__file__).resolve().parents[2] / "shared" / "data" / "characters" / "mannequiny-0.3.0.glb"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender_user"))

    import bpy
    from scipy.spatial.transform import Rotation

    from pose2rig.io import blender
    from pose2rig.rig import RigAnimation

    rig = blender.load_rig(CHARACTER)
    m = rig.mesh
    assert m is not None
    doubled = replace(
        m,
        vertices=np.concatenate([m.vertices, m.vertices + [0.0, 0.0, 0.01]]),
        faces=np.concatenate([m.faces, m.faces + len(m.vertices)]),
        joints=np.concatenate([m.joints, m.joints]),
        weights=np.concatenate([m.weights, m.weights]),
    )
    rig = rig.with_mesh(doubled)
    t = np.arange(args.frames) / 30.0
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 6, (rig.num_bones, 3))
    rv = rng.uniform(0.1, 0.6, (rig.num_bones, 3)) * np.sin(2 * np.pi * t[:, None, None] + phase)
    q = Rotation.from_rotvec(rv.reshape(-1, 3)).as_quat(scalar_first=True).reshape(args.frames, rig.num_bones, 4)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    pos = rig.heads[roots][None] + np.stack([0.5 * t, 0 * t, 1.2 * t], -1)[:, None]
    anim = RigAnimation(rig, q, pos, 30.0)

    out = Path(tempfile.mkdtemp())
    steps = {
        "build_armature + key_action": lambda: blender._stage(anim, "bench"),
        "export_fbx (blender)": lambda: blender.export_fbx(anim, out / "a.fbx"),
        "export_fbx (unreal)": lambda: blender.export_fbx(anim, out / "u.fbx", preset="unreal"),
        "export_glb": lambda: blender.export_glb(anim, out / "a.glb"),
        "read_fbx_animation": lambda: blender.read_fbx_animation(out / "a.fbx"),
        "load_rig (FBX)": lambda: blender.load_rig(out / "a.fbx"),
    }
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    cpu = platform.processor() or platform.machine()
    print(f"{rig.num_bones} bones, {len(doubled.vertices):,} vertices, {len(doubled.faces):,} triangles, "
          f"{args.frames} frames; bpy {bpy.app.version_string}; {os.cpu_count()} cores ({cpu}); "
          f"median of {args.repeats}; FBX {(out / 'a.fbx').stat().st_size / 1e6:.1f} MB, "
          f"GLB {(out / 'a.glb').stat().st_size / 1e6:.1f} MB")
    print()
    print("| step | seconds |")
    print("|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} |")


if __name__ == "__main__":
    main()
