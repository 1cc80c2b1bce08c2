"""MakeHuman / MPFB2 characters: the base mesh (``base.obj``), a rig (``rig.<name>.json``) and its
skin weights (``weights.<name>.json``) -> a :class:`~pose2rig.rig.Rig` with its mesh.

Convention:
    - ``base.obj``: decimetres, Y up, origin mid-body, facing +Z; groups ``body`` (the skin,
      quads), ``helper-*`` (clothes and proxies fitting helpers, dropped here) and ``joint-*``
      (small cubes marking joint centres).
    - Rig JSON: per bone ``head``/``tail`` placed by a ``strategy``: ``CUBE`` (the centre of the
      ``joint-*`` cube named ``cube_name``), ``MEAN`` (the mean of ``vertex_indices``) or
      ``VERTEX`` (one vertex); ``default_position`` (metres, Z up, each rig with its own origin)
      is a fallback only. ``roll`` is Blender's bone roll (radians, Z-up armature space),
      ``parent`` the parent's name (empty for a root). Mixamo's file wraps the bones in
      ``{"bones": ...}``.
    - Every position here is computed from the one mesh, so the three MPFB2 rigs (game engine,
      Mixamo, CMU MotionBuilder) share one body and one coordinate frame: pose2rig's world (Y up,
      metres, facing +Z), moved up from the file's mid-body origin so that the body's soles (the
      lowest vertex of its ``body`` group) stand on y = 0, as every character does.
    - Layout: ``rig.<name>.json`` needs ``base.obj`` and ``weights.<name>.json`` in its folder
      (as MPFB2 ships them); without the weights the rig loads bare, with a warning.
    - Weights: ``{"weights": {bone: [[vertex, weight], ...]}}``; renormalised per vertex (the
      Mixamo file's sums range from 0.2 to 1.5).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import quat_to_matrix
from pose2rig.io.jsonfile import read_json_object
from pose2rig.rig import Rig, SkinnedMesh

__all__ = ["blender_bone_matrix", "load_mpfb2", "read_obj"]

log = logging.getLogger(__name__)

OBJ_TO_METRES = 0.1
# Blender's armature space (Z up, facing -Y) -> pose2rig's world (Y up, facing +Z)
BLENDER_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def read_obj(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Vertices ``(N, 3)`` float64 (file units) and faces per group ``{group: (F, n) int}``
    (0-based vertex indices; polygons of each group all have the same size in MPFB2 files)."""
    p = Path(path)
    if not p.is_file():
        raise Pose2RigError(f"mesh file {p} not found")
    verts: list[list[float]] = []
    faces: dict[str, list[list[int]]] = {}
    group = "default"
    try:
        with open(p, encoding="utf-8", errors="strict") as fh:
            for line in fh:
                if line.startswith("v "):
                    verts.append([float(x) for x in line.split()[1:4]])
                elif line.startswith("g ") or line.startswith("o "):
                    group = line.split(maxsplit=1)[1].strip() if len(line.split()) > 1 else "default"
                elif line.startswith("f "):
                    faces.setdefault(group, []).append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    except (UnicodeDecodeError, ValueError, IndexError) as e:
        raise Pose2RigError(f"{p} is not a readable Wavefront OBJ file ({e})") from None
    if not verts:
        raise Pose2RigError(f"{p} has no vertices; expected the MPFB2 base mesh (base.obj)")
    out = {}
    for g, f in faces.items():
        sizes = {len(x) for x in f}
        if len(sizes) != 1:
            raise Pose2RigError(f"{p}: group {g!r} mixes polygons of {sorted(sizes)} vertices")
        out[g] = np.asarray(f, dtype=np.int64)
    return np.asarray(verts, dtype=np.float64), out


def blender_bone_matrix(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """Blender's bone rest rotation ``(3, 3)`` in armature space from head, tail and roll: the
    rotation taking +Y onto head -> tail (Blender's ``vec_roll_to_mat3_normalized``, with its
    special case next to -Y), then ``roll`` radians about that axis."""
    y = np.asarray(tail, dtype=np.float64) - np.asarray(head, dtype=np.float64)
    n = np.linalg.norm(y)
    if n < 1e-9:
        raise Pose2RigError("a bone has zero length (head == tail)")
    x, yy, z = y / n
    theta, theta_alt = 1.0 + yy, x * x + z * z
    if theta > 6.1e-3 or theta_alt > 2.5e-4:
        if theta <= 6.1e-3:  # next to -Y: theta from x and z (series of sqrt), as Blender does
            theta = 0.5 * theta_alt + 0.125 * theta_alt * theta_alt
        base = np.array([
            [1.0 - x * x / theta, x, -x * z / theta],
            [-x, yy, -z],
            [-x * z / theta, z, 1.0 - z * z / theta],
        ])
    else:  # along -Y: a half turn about Z
        base = np.diag([-1.0, -1.0, 1.0])
    half = 0.5 * roll
    q = np.concatenate([[np.cos(half)], np.sin(half) * (y / n)])
    return quat_to_matrix(q) @ base


def _place(spec: dict, verts: np.ndarray, cubes: dict[str, np.ndarray], bone: str, end: str) -> np.ndarray:
    """A head or tail position in the obj's frame (file units)."""
    strategy = spec.get("strategy")
    if strategy == "CUBE":
        name = spec.get("cube_name")
        if name not in cubes:
            raise Pose2RigError(f"bone {bone!r}: {end} refers to joint cube {name!r}, which base.obj lacks")
        return verts[np.unique(cubes[name])].mean(axis=0)
    if strategy in ("MEAN", "VERTEX"):
        idx = np.asarray(spec.get("vertex_indices", [spec.get("vertex_index")]), dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(verts):
            raise Pose2RigError(f"bone {bone!r}: {end} vertex indices out of range for base.obj")
        return verts[idx].mean(axis=0)
    raise Pose2RigError(f"bone {bone!r}: unknown {end} placement strategy {strategy!r}")


def load_mpfb2(
    rig_json: Path, weights_json: Path | None = None, obj: Path | None = None, *, name: str | None = None
) -> Rig:
    """An MPFB2 rig on the MakeHuman base mesh.

    Args:
        rig_json: ``rig.<name>.json``.
        weights_json: ``weights.<name>.json``; default: beside ``rig_json`` if it is there (else
            the rig has no mesh, with a warning). A file passed explicitly must exist.
        obj: ``base.obj``; default: beside ``rig_json`` (an error naming that folder when it
            is not there).
        name: the rig's name; default the file's middle part (``game_engine``).

    Returns:
        A :class:`Rig` in pose2rig's world (metres, Y up, facing +Z, soles on y = 0), bones
        parents first, with the ``body`` group of the mesh (quads split into triangles) skinned
        by the weights.
    """
    rig_json = Path(rig_json)
    folder = rig_json.parent
    stem = rig_json.name.removeprefix("rig.").removesuffix(".json")
    explicit_weights = weights_json is not None
    weights_json = Path(weights_json) if weights_json is not None else folder / f"weights.{stem}.json"
    if obj is None:
        obj = folder / "base.obj"
        if rig_json.is_file() and not obj.is_file():
            raise Pose2RigError(
                f"MPFB2 rig {rig_json}: no base.obj in {folder.resolve()}; an MPFB2 rig.<name>.json needs the "
                f"base mesh base.obj and its weights.<name>.json in the same folder (as MPFB2 ships them)"
            )
    obj = Path(obj)
    bones = _read_json(rig_json, "rig")
    bones = bones.get("bones", bones)
    if not isinstance(bones, dict) or not bones or not all(
        isinstance(b, dict) and "head" in b and "tail" in b for b in bones.values()
    ):
        raise Pose2RigError(f"{rig_json} is not an MPFB2 rig file (expected bones with head and tail)")
    verts, groups = read_obj(obj)
    cubes = {g: f for g, f in groups.items() if g.startswith("joint-")}
    body = np.unique(groups["body"]) if "body" in groups else np.arange(len(verts))
    lift = np.array([0.0, -float(verts[body, 1].min()) * OBJ_TO_METRES, 0.0])  # soles on y = 0

    # parents first
    order: list[str] = []
    placed: set[str] = set()
    pending = list(bones)
    while pending:
        progressed = False
        for b in list(pending):
            parent = bones[b].get("parent") or ""
            if parent and parent not in bones:
                raise Pose2RigError(f"{rig_json}: bone {b!r} has parent {parent!r}, which the rig lacks")
            if not parent or parent in placed:
                order.append(b)
                placed.add(b)
                pending.remove(b)
                progressed = True
        if not progressed:
            raise Pose2RigError(f"{rig_json}: the bone hierarchy has a cycle ({', '.join(pending)})")
    index = {b: i for i, b in enumerate(order)}

    to_world = BLENDER_TO_WORLD
    rest = np.tile(np.eye(4), (len(order), 1, 1))
    tails = np.zeros((len(order), 3))
    for i, b in enumerate(order):
        spec = bones[b]
        head = _place(spec["head"], verts, cubes, b, "head") * OBJ_TO_METRES + lift
        tail = _place(spec["tail"], verts, cubes, b, "tail") * OBJ_TO_METRES + lift
        # the roll is defined in Blender's Z-up armature space: build the bone there, then turn
        m = blender_bone_matrix(to_world.T @ head, to_world.T @ tail, float(spec.get("roll", 0.0)))
        rest[i, :3, :3] = to_world @ m
        rest[i, :3, 3] = head
        tails[i] = tail
    parents = tuple(index[bones[b]["parent"]] if bones[b].get("parent") else -1 for b in order)

    mesh = None
    if explicit_weights or weights_json.is_file():  # an explicit file must exist
        mesh = _skinned_body(verts, groups, weights_json, index, lift)
    else:
        log.warning("MPFB2 rig %s: no %s in %s; the character has no mesh", rig_json.name, weights_json.name,
                    folder.resolve())
    return Rig(
        name=name or stem, bone_names=tuple(order), parents=parents, rest=rest, tails=tails, mesh=mesh,
        source=rig_json,
    )


def _read_json(path: Path, what: str) -> dict:
    return read_json_object(path, f"MPFB2 {what} file")


def _skinned_body(
    verts: np.ndarray, groups: dict[str, np.ndarray], weights_json: Path, index: dict[str, int], lift: np.ndarray
) -> SkinnedMesh:
    if "body" not in groups:
        raise Pose2RigError("base.obj has no 'body' group")
    quads = groups["body"]
    used = np.unique(quads)
    remap = np.full(len(verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    if quads.shape[1] == 4:
        tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    elif quads.shape[1] == 3:
        tris = quads
    else:
        raise Pose2RigError(f"base.obj: body polygons have {quads.shape[1]} vertices; expected 3 or 4")

    data = _read_json(weights_json, "weights")
    table = data.get("weights")
    if not isinstance(table, dict):
        raise Pose2RigError(f"{weights_json} is not an MPFB2 weights file (no 'weights' table)")
    dense = np.zeros((len(used), len(index)))
    for bone, pairs in table.items():
        if bone not in index:
            raise Pose2RigError(f"{weights_json} weights bone {bone!r}, which the rig lacks")
        arr = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        v = remap[arr[:, 0].astype(np.int64)]
        keep = v >= 0
        np.add.at(dense[:, index[bone]], v[keep], arr[keep, 1])  # a view: adds into dense
    total = dense.sum(axis=1)
    if np.any(total <= 0):
        raise Pose2RigError(f"{weights_json}: {int((total <= 0).sum())} body vertices have no weight")
    k = int(max(1, (dense > 0).sum(axis=1).max()))
    joints = np.argsort(-dense, axis=1)[:, :k]
    weights = np.take_along_axis(dense, joints, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    return SkinnedMesh(
        vertices=verts[used] * OBJ_TO_METRES + lift, faces=remap[tris], joints=joints, weights=weights, name="body"
    )
