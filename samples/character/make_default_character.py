"""Rebuild the bundled default character, ``mpfb2_game_engine.glb``, from the CC0 MakeHuman/MPFB2
files in ``../shared/data/characters/mpfb2`` (base mesh + game-engine rig + its skin weights).

    .venv/bin/python samples/character/make_default_character.py

The body is moved up so that its soles stand on y = 0 (the MPFB2 files put the origin mid-body);
it faces +Z, Y up, metres, in its A-pose rest, with a one-frame rest-pose animation.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pose2rig.io.gltf import write_glb  # noqa: E402
from pose2rig.io.mpfb2 import load_mpfb2  # noqa: E402
from pose2rig.rig import RigAnimation, SkinnedMesh  # noqa: E402


def main() -> None:
    src = REPO.parent / "shared" / "data" / "characters" / "mpfb2" / "rig.game_engine.json"
    rig = load_mpfb2(src, name="mpfb2_game_engine")
    lift = -float(rig.mesh.vertices[:, 1].min())
    shift = np.array([0.0, lift, 0.0])
    rest = rig.rest.copy()
    rest[:, :3, 3] += shift
    mesh = rig.mesh
    mesh = SkinnedMesh(mesh.vertices + shift, mesh.faces, mesh.joints, mesh.weights, name="mpfb2_body")
    rig = replace(rig, rest=rest, tails=rig.tails + shift, mesh=mesh)
    out = Path(__file__).resolve().parent / "mpfb2_game_engine.glb"
    write_glb(RigAnimation.rest_pose(rig, 1), out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {rig.num_bones} bones, "
          f"{len(mesh.vertices)} vertices, {len(mesh.faces)} triangles, {np.ptp(mesh.vertices[:, 1]):.2f} m tall")


if __name__ == "__main__":
    main()
