"""Characters in and animations out, by file extension.

Readers (:func:`load_rig`): ``.glb``/``.gltf`` read directly (pygltflib, no Blender needed),
``.fbx``/``.blend`` through Blender's ``bpy``, and an MPFB2 ``rig.<name>.json`` (with its
``weights.<name>.json`` and ``base.obj`` beside it). Writers (:func:`write_animation`): FBX
through ``bpy`` (presets for Blender, Unity and Unreal), GLB directly (through ``bpy`` for FBX
and ``.blend`` characters), BVH in pure Python; the character file's own meshes, materials
and shape keys are kept.

Convention: the bundled default character (:func:`default_character`) is the CC0 MakeHuman/MPFB2
body with its game-engine rig (Unreal Mannequin bone names), as a GLB kept in ``samples/character``
with its license and shipped as package data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pose2rig.assets import bundled
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import continuous_euler_zxy
from pose2rig.io.bvh import BvhMotion
from pose2rig.rig import Rig, RigAnimation

__all__ = ["RIG_SUFFIXES", "animation_to_bvh", "default_character", "load_rig", "write_animation"]

log = logging.getLogger(__name__)

RIG_SUFFIXES = (".glb", ".gltf", ".fbx", ".blend", ".json")
_UNITS = {"cm": 100.0, "m": 1.0}


def default_character() -> Path:
    """The bundled default character's GLB (see the module docstring); raises
    :class:`Pose2RigError` when the install lacks it."""
    return bundled("character", "mpfb2_game_engine.glb")


def load_rig(path: str | Path | None = None) -> Rig:
    """Read a character (see the module docstring); ``None`` is the bundled default character."""
    p = Path(path) if path is not None else default_character()
    suffix = p.suffix.lower()
    if suffix not in RIG_SUFFIXES:
        raise ArgumentError(
            f"{{rig}} {p}: unsupported character file type {suffix or '(none)'!r}; expected one of "
            f"{', '.join(RIG_SUFFIXES)} (.json: an MPFB2 rig.<name>.json)", "rig"
        )
    if not p.is_file():
        raise Pose2RigError(f"character file {p} not found")
    if suffix in (".glb", ".gltf"):
        from pose2rig.io.gltf import load_gltf_rig

        return load_gltf_rig(p)
    if suffix == ".json":
        from pose2rig.io.mpfb2 import load_mpfb2

        return load_mpfb2(p)
    from pose2rig.io.blender import load_rig as load_with_blender

    return load_with_blender(p)


def animation_to_bvh(animation: RigAnimation, *, units: str = "cm") -> BvhMotion:
    """The character's skeleton and motion as BVH (its rest pose as BVH's zero pose).

    BVH joints have no rest orientation: each joint's channels hold its world rotation away from
    the rest pose (``W_j @ rest_j^-1``), made local to its parent's; offsets are the rest heads'
    differences; the root also carries its position, and so does every joint that the animation
    translates (:attr:`~pose2rig.rig.RigAnimation.locations`: a root on the floor, IK controls),
    in position channels that replace its offset. Bones without children end in an end site
    at their tail (or 5 cm along the parent's direction). Joints are written depth-first (BVH
    nests each subtree), so their order may differ from the rig's. Channels: root ``Xposition Yposition
    Zposition Zrotation Xrotation Yrotation``, joints ``Zrotation Xrotation Yrotation`` (with
    ``Xposition Yposition Zposition`` first where they move).
    """
    if units not in _UNITS:
        raise ArgumentError(f"{{units}} must be cm or m, got {units!r}", "units")
    rig = animation.rig
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    if len(roots) != 1:
        raise Pose2RigError(
            f"BVH holds one skeleton tree, but rig {rig.name!r} has {len(roots)} root bones "
            f"({', '.join(rig.bone_names[r] for r in roots)}); export FBX or GLB instead"
        )
    k = _UNITS[units]
    # BVH nests each joint's subtree right after it: depth-first order
    order: list[int] = []
    stack = [roots[0]]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(rig.children(j)))
    new = {old: i for i, old in enumerate(order)}
    world = animation.world_matrices()
    delta = world[..., :3, :3] @ np.swapaxes(rig.rest[None, :, :3, :3], -1, -2)  # (T, J, 3, 3)
    local = delta.copy()
    for j, p in enumerate(rig.parents):
        if p >= 0:
            local[:, j] = np.swapaxes(delta[:, p], -1, -2) @ delta[:, j]
    euler = np.degrees(continuous_euler_zxy(local))
    heads = rig.heads
    offsets = np.array([heads[j] - heads[p] if p >= 0 else heads[j] for j, p in enumerate(rig.parents)])
    ends = {}
    for j in range(rig.num_bones):
        if not rig.children(j):
            tail = rig.tails[j] if rig.tails is not None else None
            if tail is None or np.linalg.norm(tail - heads[j]) < 1e-6:
                p = rig.parents[j]
                d = heads[j] - heads[p] if p >= 0 else np.array([0.0, 1.0, 0.0])
                tail = heads[j] + 0.05 * d / max(float(np.linalg.norm(d)), 1e-9)
            ends[j] = (tail - heads[j]) * k
    rot = ("Zrotation", "Xrotation", "Yrotation")
    pos = ("Xposition", "Yposition", "Zposition")
    moved = set(animation.moved_bones)
    cols = [world[:, order[0], :3, 3] * k, euler[:, order[0]]]
    for j in order[1:]:
        if j in moved:  # the head in the parent's BVH frame (rest axes turned by the parent's delta)
            p = rig.parents[j]
            offset = np.einsum("tji,tj->ti", delta[:, p], world[:, j, :3, 3] - world[:, p, :3, 3])
            cols.append(offset * k)
        cols.append(euler[:, j])
    return BvhMotion(
        names=tuple(rig.bone_names[j] for j in order),
        parents=tuple(new[rig.parents[j]] if rig.parents[j] >= 0 else -1 for j in order),
        offsets=offsets[order] * k,
        channels=((*pos, *rot),) + tuple((*pos, *rot) if j in moved else rot for j in order[1:]),
        end_sites={new[j]: v for j, v in ends.items()},
        motion=np.concatenate(cols, axis=1),
        frame_time=1.0 / animation.fps,
    )


def write_animation(
    animation: RigAnimation,
    *,
    fbx: str | Path | None = None,
    glb: str | Path | None = None,
    bvh: str | Path | None = None,
    preset: str = "blender",
    units: str = "cm",
) -> dict[str, Path]:
    """Write the animation in each requested format (atomically); returns format -> path.

    The character is the one its rig was read from, with only the animation added, wherever the
    rig has a source file (``animation.rig.source``): a GLB of a glTF character is that file's
    document with the animation's channels added (:func:`pose2rig.io.gltf.write_glb`); every
    other GLB and FBX of a character file goes through Blender, which imports the file, keys its
    armature and exports it with its meshes, materials and shape keys
    (:func:`pose2rig.io.blender.export_fbx`, :func:`~pose2rig.io.blender.export_glb`). Rigs
    without a file (MPFB2 JSON, built in memory) are built from the rig: bones and the skinned
    mesh, no materials. BVH holds the skeleton only.
    """
    out: dict[str, Path] = {}
    if bvh is not None:
        from pose2rig.io.bvh import write_bvh

        write_bvh(bvh, animation_to_bvh(animation, units=units))
        out["bvh"] = Path(bvh)
    if glb is not None:
        source = animation.rig.source
        if source is not None and Path(source).suffix.lower() in (".fbx", ".blend") and Path(source).is_file():
            from pose2rig.io.blender import export_glb

            export_glb(animation, glb)
        else:
            from pose2rig.io.gltf import write_glb

            write_glb(animation, glb)
        out["glb"] = Path(glb)
    if fbx is not None:
        from pose2rig.io.blender import export_fbx

        export_fbx(animation, fbx, preset=preset)
        out["fbx"] = Path(fbx)
    return out
