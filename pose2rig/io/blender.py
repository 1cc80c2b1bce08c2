"""Rigs and animations in and out of Blender: FBX, .blend and glTF through bpy's own add-ons.

Needs Blender as a Python module (``pip install 'pose2rig[blender]'``); every ``bpy`` import is
inside a function, so importing this module costs nothing and a missing ``bpy`` only fails when
used, with one clear line.

Functions that read or write files (:func:`load_rig`, :func:`read_fbx_animation`,
:func:`export_fbx`, :func:`export_glb`) start from an empty factory scene, so they discard
whatever the running Blender session holds; :func:`rig_from_armature`, :func:`build_armature` and
:func:`key_action` work in the current scene (the Blender add-on uses these three).

Convention:
    - Blender's world is Z up with a character facing -Y; pose2rig's is Y up facing +Z. A point
      changes as ``p_world = C @ p_blender`` with ``C = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]``,
      i.e. Blender ``(x, y, z)`` -> world ``(x, z, -y)``, the change of axes of Blender's glTF
      exporter. This is done here and nowhere else.
    - A bone's rest matrix changes on the left only: ``rest = C4 @ (obj.matrix_world @
      bone.matrix_local)``. Its columns stay the bone's own axes (y from head to tail, the roll
      about it), so a rotation relative to the rest pose in those axes is exactly Blender's
      pose-bone ``rotation_quaternion``, and the two conventions meet without touching the
      animation. (Conjugating, ``C @ M @ C^-1``, would relabel the bone's own axes as well and
      then every pose quaternion would need the same conjugation; nothing gains from that.)
    - Object scale: armatures imported from FBX files in centimetres (Mixamo, Unreal) carry a
      0.01 object scale. Rest matrices keep the world head positions (scaled, so in metres) and
      drop the scale from the rotation by polar decomposition. A uniform scale is exact; a
      non-uniform one is logged and approximated; a mirroring one is refused.
    - Rig animations are keyed at frames ``frame_start + i`` (exports use ``frame_start=0`` so
      that frame ``i`` sits at time ``i / fps`` in the file). A scene's frame rate is the
      animation's snapped to a standard one within 0.02% (:func:`scene_rate`).
    - Exports animate the character as its file has it: the rig's source file is imported
      again and only an action is added (see :func:`export_fbx`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.extras import require
from pose2rig.geometry import continuous_quat, euler_to_matrix, matrix_to_quat, polar
from pose2rig.io.atomic import atomic_path, check_writable
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh, forward_kinematics

__all__ = [
    "BLENDER_TO_WORLD",
    "FBX_PRESETS",
    "build_armature",
    "export_fbx",
    "export_glb",
    "key_action",
    "load_rig",
    "read_fbx_animation",
    "rig_from_armature",
    "scene_rate",
]

log = logging.getLogger(__name__)

BLENDER_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""``(3, 3)``: Blender ``(x, y, z)`` (Z up, facing -Y) -> pose2rig world ``(x, z, -y)``."""

_C4 = np.eye(4)
_C4[:3, :3] = BLENDER_TO_WORLD
_C4_INV = _C4.T.copy()

_READERS = (".fbx", ".blend", ".glb", ".gltf")

FBX_PRESETS: dict[str, dict[str, Any]] = {
    # Blender's own FBX exporter defaults: -Z forward / Y up written into the file's axis
    # settings (a facing -Y character faces +Z in the file); the file's unit is the centimetre
    # (UnitScaleFactor 1) and the x100 sits in the root nodes' scale ("All Local").
    "blender": {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_NONE"},
    # Unity: Y up, the character facing +Z (Unity's importer only mirrors x for its left-handed
    # frame), and "FBX All" scaling: values in metres, UnitScaleFactor 100, so Unity shows
    # "1m (File)" and imports at scale 1 instead of 100 / 0.01. "Apply Transform"
    # (bake_space_transform) is left off: Blender documents it as broken for armatures; the
    # armature root node keeps the -90 degree x rotation, which Unity's "Bake Axis Conversion"
    # import option folds in.
    "unity": {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_ALL"},
    # Unreal: Blender's own axes (forward Y, up Z: the file's front axis is -Y, Z up,
    # right-handed, which is exactly the axis system Unreal's FBX importer converts to, so its
    # "Convert Scene" changes nothing; after its y mirror the character faces +Y like the UE
    # mannequin), and centimetres with no scale on any node: the armature and mesh are built at
    # 100x with the scene unit scale 0.01, as Epic's Send to Unreal does ("automatically scale
    # bones"). The armature object is named "Armature", which Unreal's importer (4.24+) drops,
    # so the rig's own root bone becomes the skeleton's root.
    "unreal": {"axis_forward": "Y", "axis_up": "Z", "apply_scale_options": "FBX_SCALE_NONE"},
}
"""FBX exporter transform options per target application (see :func:`export_fbx`)."""

_UNREAL_CM = 100.0


# --------------------------------------------------------------------------------------------
# bpy plumbing


def _bpy() -> Any:
    return require("bpy", "blender")  # or the one line naming the extra


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Send the add-ons' ``print`` chatter to the debug log instead of stdout; the glTF add-on's
    own loggers (which log every object it makes at INFO) stop passing their records on to the
    application's handlers meanwhile (they still write to the redirected stdout, and errors to
    stderr)."""
    buf = io.StringIO()
    chatty = [logging.getLogger(name) for name in ("glTFImporter", "glTFImporter_errors")]
    passed_on = [c.propagate for c in chatty]
    for c in chatty:
        c.propagate = False
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        for c, before in zip(chatty, passed_on):
            c.propagate = before
        text = buf.getvalue().strip()
        if text:
            log.debug("bpy: %s", text)


def _empty_scene() -> Any:
    bpy = _bpy()
    with _quiet():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def _np(m: Any) -> np.ndarray:
    """A mathutils Matrix/Vector -> float64 array."""
    return np.array([list(r) for r in m], dtype=np.float64) if hasattr(m[0], "__len__") else np.array(m, float)


def _matrix(a: np.ndarray) -> Any:
    from mathutils import Matrix

    return Matrix([list(map(float, r)) for r in a])


def _operator(op: Any, what: str, **kwargs: Any) -> None:
    """Run a bpy operator; a failure or a cancel becomes one Pose2RigError line."""
    try:
        with _quiet():
            result = op(**kwargs)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith("Location:")]
        # an add-on's Python exception comes as a whole traceback: its last line says what failed
        line = (lines[-1] if "Traceback" in str(e) else lines[0]) if lines else "failed"
        raise Pose2RigError(f"{what}: {line.removeprefix('Error: ')}") from None
    if "FINISHED" not in result:
        raise Pose2RigError(f"{what}: Blender's operator returned {sorted(result)}")


def _ensure_object_mode(bpy: Any) -> None:
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")


# --------------------------------------------------------------------------------------------
# reading rigs


def _check_input(path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise Pose2RigError(
            f"{p}: unsupported file type {p.suffix or '(none)'!r}; expected one of {', '.join(suffixes)}"
        )
    if not p.is_file():
        raise Pose2RigError(f"{p}: no such file")
    return p


def _import_file(p: Path) -> Any:
    """Import ``p`` into an empty scene; returns the scene."""
    bpy = _bpy()
    suffix = p.suffix.lower()
    what = f"cannot read {p}"
    if suffix == ".blend":
        _operator(bpy.ops.wm.open_mainfile, what, filepath=str(p), load_ui=False)
        scene = bpy.context.scene
        # armatures that live in the file but in no scene: bring them in so they can be evaluated
        in_scene = {o.name for o in scene.objects}
        for o in bpy.data.objects:
            if o.type == "ARMATURE" and o.name not in in_scene and o.library is None:
                scene.collection.objects.link(o)
        # newly linked objects get their matrix_world from their location, rotation and scale
        # only when the view layer is evaluated; without it the rig would be read at the origin
        bpy.context.view_layer.update()
        return scene
    scene = _empty_scene()
    if suffix == ".fbx":
        _operator(bpy.ops.import_scene.fbx, what, filepath=str(p), use_anim=True, anim_offset=0.0)
    else:
        _operator(bpy.ops.import_scene.gltf, what, filepath=str(p))
    return scene


def _pick_armature(scene: Any, p: Path, name: str | None) -> Any:
    arms = [o for o in scene.objects if o.type == "ARMATURE"]
    if name is not None:
        for o in arms:
            if o.name == name:
                return o
        have = ", ".join(repr(o.name) for o in arms) or "none"
        raise Pose2RigError(f"{p} has no armature {name!r} (armatures: {have})")
    if not arms:
        raise Pose2RigError(f"{p} has no armature")
    arms.sort(key=lambda o: -len(o.data.bones))
    if len(arms) > 1:
        log.warning(
            "%s has %d armatures; using %r (%d bones), the one with the most bones; others: %s",
            p, len(arms), arms[0].name, len(arms[0].data.bones),
            ", ".join(f"{o.name!r} ({len(o.data.bones)})" for o in arms[1:]),
        )
    return arms[0]


def load_rig(path: str | os.PathLike[str], *, armature: str | None = None) -> Rig:
    """Read a character (armature, rest pose, skinned mesh) through Blender's importers.

    Args:
        path: a ``.fbx``, ``.blend``, ``.glb`` or ``.gltf`` file. It is imported into an empty
            factory scene (``.blend`` files are opened), which replaces the session's data.
        armature: the armature object's name when the file holds several; by default the one
            with the most bones is used and the choice is logged as a warning.

    Returns:
        A :class:`Rig` named after the file's stem, as :func:`rig_from_armature` reads it.
        glTF files go through Blender's importer and its bone heuristic, so bone axes are
        Blender's guess, not the glTF joints' own frames; heads (joint positions) are exact.

    Raises:
        Pose2RigError: unsupported extension, missing or unreadable file, no armature.
    """
    p = _check_input(path, _READERS)
    scene = _import_file(p)
    obj = _pick_armature(scene, p, armature)
    rig = rig_from_armature(obj, name=p.stem)
    return replace(rig, source=p)


def _bone_order(bones: Any) -> list[Any]:
    """Blender's bone order, reordered only where a child comes before its parent."""
    out: list[Any] = []
    seen: set[str] = set()

    def visit(b: Any) -> None:
        if b.name in seen:
            return
        if b.parent is not None:
            visit(b.parent)
        seen.add(b.name)
        out.append(b)

    for b in bones:
        visit(b)
    return out


def _rigid_world(matrix_world: np.ndarray, local: np.ndarray, what: str) -> tuple[np.ndarray, float]:
    """``C4 @ matrix_world @ local`` with its scale removed; returns (matrix, mean scale)."""
    m = _C4 @ matrix_world @ local
    rot, k = polar(m[..., :3, :3])
    s = np.linalg.eigvalsh(k)[..., ::-1]  # the scales: singular values, largest first
    if np.any(np.linalg.det(m[..., :3, :3]) <= 0):
        raise Pose2RigError(f"{what} has a mirroring (negative) or zero scale; apply it in Blender first")
    if np.any(s.max(-1) > s.min(-1) * (1 + 1e-3)):
        log.warning("%s has a non-uniform scale %s; rest rotations approximate it", what,
                    np.round(s.reshape(-1, 3)[0], 4))
    out = m.copy()
    out[..., :3, :3] = rot
    return out, float(s.mean())


def rig_from_armature(obj: Any, *, name: str | None = None, with_mesh: bool = True) -> Rig:
    """Read an armature object of the current Blender scene as a :class:`Rig`.

    Args:
        obj: a ``bpy.types.Object`` of type ``'ARMATURE'``.
        name: the rig's name; the object's name by default.
        with_mesh: also read the meshes skinned to it (slower on big meshes).

    Returns:
        A Rig with Blender's bone names, parents first (Blender's order, moved only where a child
        precedes its parent), rest ``(J, 4, 4)`` from ``obj.matrix_world @ bone.matrix_local``
        in pose2rig's world (see the module's Convention), tails ``(J, 3)`` and, with
        ``with_mesh``, every mesh deformed by this armature merged into one
        :class:`SkinnedMesh`:

        - a mesh counts when it has an Armature modifier pointing at ``obj`` or is parented to
          it (parent type ARMATURE, or BONE: then all its vertices follow that bone rigidly);
        - it is evaluated with the armature in its rest position (other modifiers and shape
          keys as they are), triangulated, in world metres;
        - weights come from vertex groups named like deforming bones; other groups are ignored
          and each vertex's weights renormalised to sum to 1;
        - a vertex with no such weight follows the mesh's parent bone (bone-parented meshes) or
          else the first root bone, with weight 1 (Blender would leave it with the armature
          object); how many did is logged as a warning.
    """
    bpy = _bpy()
    if getattr(obj, "type", None) != "ARMATURE":
        raise Pose2RigError(f"{getattr(obj, 'name', obj)!r} is not an armature object")
    what = f"armature {obj.name!r}"
    bones = _bone_order(obj.data.bones)
    names = tuple(b.name for b in bones)
    index = {n: i for i, n in enumerate(names)}
    parents = tuple(index[b.parent.name] if b.parent else -1 for b in bones)
    mw = _np(obj.matrix_world)
    local = np.stack([_np(b.matrix_local) for b in bones])
    rest, _ = _rigid_world(mw, local, what)
    tails_arm = np.array([list(b.tail_local) for b in bones], dtype=np.float64)
    tails = (_C4 @ mw @ np.c_[tails_arm, np.ones(len(bones))].T).T[:, :3]
    mesh = _skinned_mesh(bpy, obj, bones, index) if with_mesh else None
    return Rig(name or obj.name, names, parents, rest, tails, mesh)


def _deformed_meshes(bpy: Any, arm: Any) -> list[Any]:
    out = []
    for o in bpy.context.scene.objects:
        if o.type != "MESH":
            continue
        by_modifier = any(m.type == "ARMATURE" and m.object == arm for m in o.modifiers)
        by_parent = o.parent == arm and o.parent_type in ("ARMATURE", "BONE")
        if by_modifier or by_parent:
            out.append(o)
    return out


def _skinned_mesh(bpy: Any, arm: Any, bones: list[Any], index: dict[str, int]) -> SkinnedMesh | None:
    objects = _deformed_meshes(bpy, arm)
    if not objects:
        return None
    deform = {b.name for b in bones if b.use_deform}
    data = arm.data
    old_position = data.pose_position
    data.pose_position = "REST"
    try:
        bpy.context.view_layer.update()
        depsgraph = bpy.context.evaluated_depsgraph_get()
        parts = [_read_mesh(o, o.evaluated_get(depsgraph), arm, index, deform) for o in objects]
    finally:
        data.pose_position = old_position
        bpy.context.view_layer.update()
    offset = 0
    verts, faces, joints, weights = [], [], [], []
    k = max(p[2].shape[1] for p in parts)
    for v, f, j, w in parts:
        faces.append(f + offset)
        offset += len(v)
        verts.append(v)
        joints.append(np.pad(j, ((0, 0), (0, k - j.shape[1]))))
        weights.append(np.pad(w, ((0, 0), (0, k - w.shape[1]))))
    return SkinnedMesh(
        np.concatenate(verts), np.concatenate(faces), np.concatenate(joints), np.concatenate(weights),
        name="+".join(o.name for o in objects),
    )


def _read_mesh(
    orig: Any, ob: Any, arm: Any, index: dict[str, int], deform: set[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One mesh object: world vertices, triangles, and weights on deforming bones (see
    :func:`rig_from_armature` for the fallback of unweighted vertices)."""
    me = ob.to_mesh()
    try:
        n = len(me.vertices)
        co = np.empty(n * 3, dtype=np.float32)
        me.vertices.foreach_get("co", co)
        co = co.reshape(n, 3).astype(np.float64)
        mw = _np(ob.matrix_world)
        verts = (_C4 @ mw @ np.c_[co, np.ones(n)].T).T[:, :3]
        me.calc_loop_triangles()
        tri = np.empty(len(me.loop_triangles) * 3, dtype=np.int32)
        me.loop_triangles.foreach_get("vertices", tri)
        faces = tri.reshape(-1, 3)
        rigid = orig.parent == arm and orig.parent_type == "BONE" and orig.parent_bone in index
        has_modifier = any(m.type == "ARMATURE" and m.object == arm for m in orig.modifiers)
        fallback = index[orig.parent_bone] if rigid else 0  # bone 0 is a root: parents come first
        group_bone = {
            g.index: index[g.name] for g in orig.vertex_groups if g.name in index and g.name in deform
        }
        rows: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        if group_bone and (has_modifier or orig.parent_type == "ARMATURE"):
            for v in me.vertices:
                r = rows[v.index]
                for g in v.groups:
                    b = group_bone.get(g.group)
                    if b is not None and g.weight > 0:
                        r.append((b, g.weight))
    finally:
        ob.to_mesh_clear()
    k = max(1, max((len(r) for r in rows), default=0))
    joints = np.zeros((n, k), dtype=np.int32)
    weights = np.zeros((n, k), dtype=np.float64)
    for i, r in enumerate(rows):
        for s, (b, w) in enumerate(r):
            joints[i, s], weights[i, s] = b, w
    total = weights.sum(axis=1)
    empty = total <= 0
    if empty.any():
        if not rigid:
            log.warning(
                "mesh %r: %d of %d vertices have no weight on a deforming bone; bound to root bone %r",
                orig.name, int(empty.sum()), n, next(b for b, i in index.items() if i == fallback),
            )
        joints[empty] = 0
        joints[empty, 0] = fallback
        weights[empty] = 0.0
        weights[empty, 0] = 1.0
        total = weights.sum(axis=1)
    weights /= total[:, None]
    return verts, faces, joints, weights.astype(np.float32)


# --------------------------------------------------------------------------------------------
# building armatures and keying animation


def _bone_lengths(rig: Rig) -> np.ndarray:
    """``(J,)``: from tails, else the first child's head, else half the parent's length."""
    heads = rig.heads
    extent = float(np.ptp(heads, axis=0).max()) if len(heads) > 1 else 0.0
    floor = max(1e-3 * extent, 1e-4)
    out = np.zeros(rig.num_bones)
    for j in range(rig.num_bones):
        length = 0.0
        if rig.tails is not None:
            length = float(np.linalg.norm(rig.tails[j] - heads[j]))
        if length < floor:
            kids = rig.children(j)
            if kids:
                length = float(np.linalg.norm(heads[kids[0]] - heads[j]))
        if length < floor:
            p = rig.parents[j]
            length = 0.5 * out[p] if p >= 0 else (0.1 * extent or 0.05)
        out[j] = max(length, floor)
    return out


def _roll_errors(data: Any, names: tuple[str, ...], want: np.ndarray) -> np.ndarray:
    """``(J,)`` angle about each bone's y axis from its ``matrix_local`` x axis to ``want``'s."""
    have = np.stack([_np(data.bones[n].matrix_local)[:3, :3] for n in names])
    x, y, wx = have[:, :, 0], have[:, :, 1], want[:, :3, 0]
    return np.arctan2(np.sum(np.cross(x, wx) * y, axis=-1), np.sum(x * wx, axis=-1))


def build_armature(rig: Rig, name: str | None = None) -> Any:
    """Create ``rig`` as an armature object (and its skinned mesh) in the current scene.

    Edit bones are placed with ``edit_bone.matrix = C^-1 @ rest[j]`` (head, direction and roll),
    so the bones' ``matrix_local`` reproduces ``rig.rest``: ``rig_from_armature`` of the result
    gives the same rest matrices (within 1e-5; Blender's bone math is float32). One exception:
    Blender snaps a bone within 2.5e-4 rad of its -Y axis (pointing straight forward, world +Z)
    onto -Y, so such a bone's rest is off by up to that angle and its descendants' heads by
    that angle times its length. Bone lengths come from ``rig.tails``
    when given, else the distance to the first child's head, else half the parent's length
    (a lone root: a tenth of the rig's extent). No bone is connected, so heads stay exact.

    With ``rig.mesh``, a mesh object parented to the armature gets one vertex group per bone it
    uses and an Armature modifier. Objects go into the active collection.

    Returns:
        The armature object (active and selected, in object mode).
    """
    bpy = _bpy()
    name = name or rig.name
    _ensure_object_mode(bpy)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.collection.objects.link(obj)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    lengths = _bone_lengths(rig)
    blender_rest = _C4_INV @ rig.rest
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit: list[Any] = []  # bpy's EditBones (bpy has no type information)
        for j, bone_name in enumerate(rig.bone_names):
            eb = data.edit_bones.new(bone_name)
            if eb.name != bone_name:
                raise Pose2RigError(
                    f"bone name {bone_name!r} cannot be kept in Blender (it became {eb.name!r}; "
                    "Blender names are at most 63 bytes)"
                )
            eb.head = (0.0, 0.0, 0.0)
            eb.tail = (0.0, float(lengths[j]), 0.0)
            eb.matrix = _matrix(blender_rest[j])
            eb.use_connect = False
            if rig.parents[j] >= 0:
                eb.parent = edit[rig.parents[j]]
            edit.append(eb)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    # Blender recomputes matrix_local from head, tail and roll in float32 (matrix -> roll ->
    # matrix is off by up to ~1e-5 rad); nudging each roll by what is left about the bone's y
    # axis takes a random 200-bone rig's worst rest error from 1.4e-5 to 9e-6.
    for _ in range(3):
        err = _roll_errors(data, rig.bone_names, blender_rest)
        if np.abs(err).max() < 2e-7:
            break
        bpy.ops.object.mode_set(mode="EDIT")
        for n, e in zip(rig.bone_names, err):
            data.edit_bones[n].roll += float(e)
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    if rig.mesh is not None:
        _build_mesh(bpy, rig, obj)
    return obj


def _build_mesh(bpy: Any, rig: Rig, arm: Any) -> Any:
    m = rig.mesh
    assert m is not None
    me = bpy.data.meshes.new(m.name)
    v = (m.vertices.astype(np.float64) @ BLENDER_TO_WORLD).astype(np.float32)  # C^T p, row form
    f = m.faces.astype(np.int32)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.ravel())
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", f.ravel())
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    me.update()
    me.validate()
    ob = bpy.data.objects.new(m.name, me)
    bpy.context.collection.objects.link(ob)
    ob.parent = arm
    mod = ob.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    used = m.weights > 0
    for b in np.unique(m.joints[used]):
        group = ob.vertex_groups.new(name=rig.bone_names[b])
        sel = used & (m.joints == b)
        verts = np.nonzero(sel)[0]
        w = m.weights[sel]
        # one call per distinct weight: rigid regions (weight 1) go in at once
        order = np.argsort(w, kind="stable")
        w, verts = w[order], verts[order]
        cuts = np.flatnonzero(np.diff(w)) + 1
        for vs, ws in zip(np.split(verts, cuts), np.split(w, cuts)):
            group.add(vs.tolist(), float(ws[0]), "REPLACE")
    ob.select_set(True)
    return ob


def _axis_angle(q: np.ndarray) -> np.ndarray:
    """Sign-continuous quaternions ``(T, 4)`` -> ``(T, 4)`` Blender axis-angle ``(angle, x, y, z)``.

    The axis keeps its direction from frame to frame (flipping it flips the angle's sign), is
    held through frames with no rotation (no axis of their own; ``(0, 1, 0)``, Blender's
    default, when no frame has one), and the angle is unwrapped.

    The angle is ``2 atan2(|xyz|, w)`` in ``[0, 2 pi]``, keeping the sign the continuity gave
    ``q``; scipy's ``Rotation.as_rotvec`` folds it into ``[0, pi]`` (flipping the axis) and was
    10x slower on 300 frames, so this conversion stays hand-written.
    """
    s = np.linalg.norm(q[:, 1:], axis=-1)
    angle = 2.0 * np.arctan2(s, q[:, 0])
    has = s > 1e-9
    axis = np.tile([0.0, 1.0, 0.0], (len(q), 1))
    if has.any():
        idx = np.maximum.accumulate(np.where(has, np.arange(len(q)), -1))  # the last frame with one
        idx = np.where(idx < 0, np.argmax(has), idx)  # before the first: the first
        axis = q[idx, 1:] / s[idx, None]
    flipped = continuous_quat(axis)
    angle = np.unwrap(angle * np.sum(flipped * axis, axis=-1))
    return np.concatenate([angle[:, None], flipped], axis=-1)


def _rotation_channel(mode: str, q: np.ndarray) -> tuple[str, np.ndarray]:
    """A pose bone's rotation channel in rotation mode ``mode`` and its ``(T, C)`` values for
    the sign-continuous quaternions ``q (T, 4)``, continuous from frame to frame."""
    if mode == "QUATERNION":
        return "rotation_quaternion", q
    if mode == "AXIS_ANGLE":
        return "rotation_axis_angle", _axis_angle(q)
    from mathutils import Quaternion

    # Blender's own Euler from quaternion, each frame nearest the previous (the angles unwrapped
    # and the equivalent triple picked): one call per frame, only for Euler-mode bones.
    out = np.empty((len(q), 3))
    e = None
    for t, v in enumerate(q.tolist()):
        e = Quaternion(v).to_euler(mode) if e is None else Quaternion(v).to_euler(mode, e)
        out[t] = e
    return "rotation_euler", out


_STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 72.0, 96.0, 100.0, 120.0,
                   24 / 1.001, 30 / 1.001, 60 / 1.001, 120 / 1.001)
"""Frame rates that FBX names (its TimeMode), NTSC's among them."""


def scene_rate(fps: float) -> float:
    """The frame rate a scene (and an FBX file) states for an animation of ``fps``: the standard
    rate within 0.02% of it (a BVH's ``Frame Time: 0.008333`` is 120.0048 fps: 120), else the
    whole number within 0.02%, else ``fps`` itself. Keys one per frame then sit on whole frames
    of the stated rate; the motion's speed changes by at most 0.02%."""
    for rate in _STANDARD_RATES:
        if abs(fps - rate) <= 2e-4 * rate:
            return rate
    whole = float(round(fps))
    return whole if whole >= 1 and abs(fps - whole) <= 2e-4 * whole else float(fps)


def _set_fps(scene: Any, fps: float) -> None:
    rate = scene_rate(fps)
    whole = max(1, int(round(rate)))
    scene.render.fps = whole
    scene.render.fps_base = whole / rate


def _add_curve(bag: Any, path: str, i: int, group: str, frames: np.ndarray, values: np.ndarray, linear: int) -> None:
    fc = bag.fcurves.new(path, index=i, group_name=group)
    kp = fc.keyframe_points
    kp.add(len(frames))
    co = np.empty((len(frames), 2), dtype=np.float32)
    co[:, 0] = frames
    co[:, 1] = values
    kp.foreach_set("co", co.ravel())
    kp.foreach_set("interpolation", np.full(len(frames), linear, dtype=np.int32))
    fc.update()


def key_action(
    obj: Any,
    animation: RigAnimation,
    *,
    name: str = "pose2rig",
    frame_start: int = 1,
    set_scene_fps: bool = False,
    set_frame_range: bool = False,
) -> Any:
    """Key ``animation`` onto the armature object ``obj`` as a new action, one key per frame.

    Bones are matched by name: every bone of ``animation.rig`` must exist in ``obj`` with the
    same parent (``rig_from_armature(obj)`` gives a matching rig); the armature's other bones
    are not keyed. Each animated bone keeps its rotation mode and is keyed on that mode's
    channel, continuous from frame to frame: ``rotation_quaternion`` (signs made continuous),
    ``rotation_axis_angle`` (angle, x, y, z; the axis never flips, the angle is unwrapped) or
    ``rotation_euler`` in the bone's Euler order (each frame the Euler angles nearest the
    previous frame's, Blender's ``Quaternion.to_euler(order, compat)``); the posed armature is
    the same in every mode. Root bones also get ``location`` keys, their world head positions
    expressed in the bone's rest frame under the object's current transform (any object
    rotation or scale is honoured). Non-root bones that the animation translates
    (:attr:`~pose2rig.rig.RigAnimation.locations`: a root on the floor, IK controls) get
    ``location`` keys too; the others' pose location is reset to zero, and every animated bone's
    scale to one. Keys are LINEAR, at frames ``frame_start + i``, written with
    ``foreach_set`` into the channelbag of a new action slot for ``obj``; the action is
    assigned to ``obj`` and its frame range set to the keys'.

    The scene is left alone unless asked, as Blender's own importers do: keys are one per
    animation frame whatever the scene's frame rate (resample the motion to the scene's rate
    first to play it at its own speed).

    Args:
        obj: a ``bpy.types.Object`` of type ``'ARMATURE'``.
        animation: the motion; its rig's bones are keyed.
        name: the new action's name (Blender adds ``.001`` on a clash).
        frame_start: the frame of the first key.
        set_scene_fps: set the scene's frame rate (``fps``/``fps_base``) to the animation's.
        set_frame_range: set the scene's frame range to the keys' and move it to
            ``frame_start``.

    Returns:
        The new ``bpy.types.Action``.
    """
    bpy = _bpy()
    from bpy_extras import anim_utils

    if getattr(obj, "type", None) != "ARMATURE":
        raise Pose2RigError(f"{getattr(obj, 'name', obj)!r} is not an armature object")
    rig = animation.rig
    pose = obj.pose.bones
    missing = [b for b in rig.bone_names if b not in pose]
    if missing:
        raise Pose2RigError(
            f"armature {obj.name!r} has no bone {missing[0]!r}"
            + (f" (and {len(missing) - 1} more of the animation's bones)" if len(missing) > 1 else "")
        )
    for j, b in enumerate(rig.bone_names):
        want = rig.bone_names[rig.parents[j]] if rig.parents[j] >= 0 else None
        have = pose[b].parent.name if pose[b].parent else None
        if want != have:
            raise Pose2RigError(
                f"bone {b!r}: parent {want!r} in the animation's rig but {have!r} in armature {obj.name!r}"
            )
    t = animation.num_frames
    frames = frame_start + np.arange(t, dtype=np.float64)
    q = continuous_quat(animation.rotations)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    inv_world = np.linalg.inv(_np(obj.matrix_world))
    heads_blender = animation.root_positions @ BLENDER_TO_WORLD  # C^T p, row form: (T, R, 3)
    moved = set(animation.moved_bones)
    linear = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value

    action = bpy.data.actions.new(name)
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    adt.action_slot = slot
    bag = anim_utils.action_ensure_channelbag_for_slot(action, slot)
    for j, b in enumerate(rig.bone_names):
        pb = pose[b]
        pb.scale = (1.0, 1.0, 1.0)
        path = f'pose.bones["{bpy.utils.escape_identifier(b)}"]'
        channel, values = _rotation_channel(pb.rotation_mode, q[:, j])
        for i in range(values.shape[1]):
            _add_curve(bag, f"{path}.{channel}", i, b, frames, values[:, i], linear)
        if j in roots:
            local = _np(pb.bone.matrix_local)
            head_arm = heads_blender[:, roots.index(j)] @ inv_world[:3, :3].T + inv_world[:3, 3]
            loc = (head_arm - local[:3, 3]) @ local[:3, :3]  # R^T (h - h0), row form
            for i in range(3):
                _add_curve(bag, f"{path}.location", i, b, frames, loc[:, i], linear)
        elif j in moved:  # a translation in the bone's rest axes: armature units under the object's scale
            assert animation.locations is not None  # bones move only by locations
            loc = animation.locations[:, j] * float(np.cbrt(np.linalg.det(inv_world[:3, :3])))
            for i in range(3):
                _add_curve(bag, f"{path}.location", i, b, frames, loc[:, i], linear)
        else:
            pb.location = (0.0, 0.0, 0.0)
    action.use_frame_range = True
    action.frame_start = float(frames[0])
    action.frame_end = float(frames[-1])
    scene = bpy.context.scene
    if set_scene_fps:
        _set_fps(scene, animation.fps)
    if set_frame_range:
        scene.frame_start = int(frames[0])
        scene.frame_end = int(frames[-1])
        scene.frame_set(int(frames[0]))
    return action


# --------------------------------------------------------------------------------------------
# exporting


def _scaled(animation: RigAnimation, k: float) -> RigAnimation:
    """The same animation with every length multiplied by ``k``."""
    rig = animation.rig
    rest = rig.rest.copy()
    rest[:, :3, 3] *= k
    mesh = rig.mesh
    if mesh is not None:
        mesh = replace(mesh, vertices=mesh.vertices * k)
    tails = None if rig.tails is None else rig.tails * k
    return replace(animation, rig=replace(rig, rest=rest, tails=tails, mesh=mesh),
                   root_positions=animation.root_positions * k,
                   locations=None if animation.locations is None else animation.locations * k)


def _stage(animation: RigAnimation, armature_name: str) -> Any:
    """Empty scene with the rig built and keyed from frame 0; returns the armature object."""
    _empty_scene()
    obj = build_armature(animation.rig, armature_name)
    key_action(obj, animation, name=animation.rig.name, frame_start=0, set_scene_fps=True, set_frame_range=True)
    for child in obj.children:
        child.select_set(True)
    obj.select_set(True)
    return obj


def _source_file(rig: Rig) -> Path | None:
    """The file ``rig`` was read from, when Blender can import it and it is still there."""
    if rig.source is None:
        return None
    p = Path(rig.source)
    if p.suffix.lower() not in _READERS:
        return None
    if not p.is_file():
        log.warning("%s, the file of rig %r, is gone; the character is built from the rig instead", p, rig.name)
        return None
    return p


def _armature_holding(scene: Any, rig: Rig) -> Any | None:
    """The armature object of ``scene`` whose bones are ``rig``'s, with the same parents; the rig
    may have root bones more (a root for root motion), each above armature roots only."""
    for o in scene.objects:
        if o.type != "ARMATURE":
            continue
        bones = o.data.bones
        absent = {j for j, b in enumerate(rig.bone_names) if b not in bones}
        if len(absent) == rig.num_bones or any(rig.parents[j] >= 0 for j in absent):
            continue
        if all(
            (bones[b].parent.name if bones[b].parent else None)
            == (rig.bone_names[p] if p >= 0 and p not in absent else None)
            for j, (b, p) in enumerate(zip(rig.bone_names, rig.parents)) if j not in absent
        ):
            return o
    return None


def _add_root_bones(bpy: Any, obj: Any, rig: Rig) -> None:
    """Give armature ``obj`` the root bones of ``rig`` that it lacks, at the rig's rest pose, as
    parents of their children (see :func:`_armature_holding`)."""
    data = obj.data
    absent = [j for j, b in enumerate(rig.bone_names) if b not in data.bones]
    if not absent:
        return
    mw = _np(obj.matrix_world)
    scale = float(np.cbrt(abs(np.linalg.det(mw[:3, :3]))))
    lengths = _bone_lengths(rig)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for j in absent:
            m = np.linalg.inv(mw) @ _C4_INV @ rig.rest[j]  # armature space, scaled by the object's
            m[:3, :3] = polar(m[:3, :3])[0]
            eb = data.edit_bones.new(rig.bone_names[j])
            eb.head = (0.0, 0.0, 0.0)
            eb.tail = (0.0, float(lengths[j]) / scale, 0.0)
            eb.matrix = _matrix(m)
            eb.use_connect = False
            for c in rig.children(j):
                data.edit_bones[rig.bone_names[c]].parent = eb
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for j in absent:
        obj.pose.bones[rig.bone_names[j]].rotation_mode = "QUATERNION"
    log.info("armature %r: added root bone(s) %s", obj.name, ", ".join(rig.bone_names[j] for j in absent))


def _from_world(rig: Rig, world: np.ndarray, fps: float) -> RigAnimation:
    """The animation of ``rig`` whose bones have the world matrices ``world`` ``(T, J, 4, 4)``
    (:meth:`RigAnimation.from_world`; a non-root bone's translation of under a 100,000th of the
    rig's size is Blender's float32 rest pose, not motion), quaternions sign-continuous."""
    size = max(float(np.ptp(rig.heads, axis=0).max()), 1e-9)
    out = RigAnimation.from_world(rig, world, fps, tolerance=1e-5 * size)
    return replace(out, rotations=continuous_quat(out.rotations))


def _posed_world(obj: Any, names: tuple[str, ...]) -> np.ndarray:
    """``(J, 4, 4)`` the posed bones' world matrices in pose2rig's world, without scale."""
    local = np.stack([_np(obj.pose.bones[n].matrix) for n in names])
    return _rigid_world(_np(obj.matrix_world), local, f"armature {obj.name!r}")[0]


def _import_gltf_character(p: Path, animation: RigAnimation) -> tuple[Any, RigAnimation] | None:
    """A glTF character through Blender's importer, and ``animation`` on its armature.

    What Blender is given is the file's document with its scene in the bind pose and one
    animation of one frame, the rig's rest pose (:func:`pose2rig.io.gltf.write_glb` with
    ``pose_scene``), imported without guessing a bind pose: the armature's rest pose is then the
    file's bind pose. Blender gives bones axes of its own: the extra frame poses bone ``j`` at
    ``rest_j @ D_j``, and each frame's ``W_j @ D_j`` is the animation on Blender's bones.
    Blender's importer misplaces objects parented to joints in some files (RobotExpressive's
    parts, under joints scaled x100, land up to 65 cm off their bones, also with the file's own
    clips): each object that is not a skinned mesh and has a parent is put back where the
    file's scene has its node (matched by name; a name that two nodes share is left alone)."""
    import tempfile

    from pose2rig.io.gltf import scene_placements, write_glb

    bpy = _bpy()
    rig = animation.rig
    with tempfile.TemporaryDirectory(prefix="pose2rig-") as folder:
        calibration = Path(folder) / f"{p.stem}.glb"
        write_glb(RigAnimation.rest_pose(rig), calibration, name="pose2rig bind pose", keep_animations=False,
                  pose_scene=True)
        placements = scene_placements(calibration)
        scene = _empty_scene()
        _operator(bpy.ops.import_scene.gltf, f"cannot read {p}", filepath=str(calibration), disable_bone_shape=True,
                  guess_original_bind_pose=False)
    obj = _armature_holding(scene, rig)
    if obj is None:
        return None
    adt = obj.animation_data
    action = adt.action if adt is not None else None
    if action is not None:
        scene.frame_set(int(round(action.frame_range[0])))
    # glTF data is converted to Z up on import: an object's matrix is C^-1 M C
    placed = [o for o in scene.objects if o.parent is not None and o.name in placements
              and not any(m.type == "ARMATURE" for m in getattr(o, "modifiers", ()))]
    def depth(o: Any) -> int:
        return 0 if o.parent is None else 1 + depth(o.parent)

    for o in sorted(placed, key=depth):  # parents first: a child is placed under its placed parent
        o.matrix_world = _matrix(_C4_INV @ placements[o.name] @ _C4)
    bpy.context.view_layer.update()
    bind = _posed_world(obj, rig.bone_names)
    correction = np.linalg.inv(rig.rest) @ bind  # D_j
    target = rig_from_armature(obj, with_mesh=False)
    index = {n: i for i, n in enumerate(rig.bone_names)}
    posed = _posed_world(obj, target.bone_names)
    w = animation.world_matrices()
    # a joint's bone is placed where the animation puts it (a root of the FK graph); a bone
    # Blender made of a node between joints follows its parent as posed
    graph = list(target.parents)
    local = np.broadcast_to(posed, (animation.num_frames, target.num_bones, 4, 4)).copy()
    for b, (name, parent) in enumerate(zip(target.bone_names, target.parents)):
        if name in index:
            graph[b] = -1
            local[:, b] = w[:, index[name]] @ correction[index[name]]
        elif parent >= 0:
            local[:, b] = np.linalg.inv(posed[parent]) @ posed[b]
    world = forward_kinematics(local, graph)
    if action is not None:
        adt.action = None
        bpy.data.actions.remove(action)
    for pb in obj.pose.bones:
        pb.location, pb.scale = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        pb.rotation_quaternion, pb.rotation_euler = (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    return obj, _from_world(target, world, animation.fps)


def _character_objects(scene: Any, obj: Any) -> list[Any]:
    """What makes up the character of armature ``obj``: the armature, the objects above it, every
    object below it (meshes skinned or parented to it or to a bone, empties) and meshes deformed
    by it from elsewhere with what hangs below them; not its bones' display shapes."""
    shapes = {pb.custom_shape for pb in obj.pose.bones if pb.custom_shape is not None}
    out = [obj]
    parent = obj.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    stack = list(obj.children)
    stack += [o for o in scene.objects if o not in obj.children_recursive and o is not obj and o.type == "MESH"
              and any(m.type == "ARMATURE" and m.object == obj for m in o.modifiers)]
    while stack:
        o = stack.pop()
        if o in out or o in shapes:
            continue
        out.append(o)
        stack.extend(o.children)
    return out


def _stage_source(animation: RigAnimation, p: Path, *, centimetres: bool = False,
                  armature_name: str | None = None) -> list[Any] | None:
    """The character file ``p`` imported (a ``.blend`` opened) with ``animation`` keyed on its
    armature from frame 0; returns the character's objects (:func:`_character_objects`), selected,
    or None when the file does not hold the animation's rig any more (logged).

    Nothing else of the character changes: its meshes, materials, shape keys, modifiers and
    object transforms stay as the importer made them. Other animation (the file's own actions,
    shape-key actions) is unassigned, so only the new action is exported. ``armature_name``:
    the armature object is renamed so and leaves any parent object (keeping its place), so that
    it tops the file; ``centimetres``: everything is scaled 100 about the origin with the scale
    applied to the objects and the scene unit set to the centimetre (both: the Unreal preset)."""
    bpy = _bpy()
    rig = animation.rig
    if p.suffix.lower() in (".glb", ".gltf"):
        found = _import_gltf_character(p, animation)
        if found is None:
            log.warning("%s: Blender's glTF importer made no armature with the rig's bones; the character "
                        "is built from the rig instead", p)
            return None
        obj, animation = found
        scene = bpy.context.scene
    else:
        scene = _import_file(p)
        obj = _armature_holding(scene, rig)
        why = "it has no armature with the rig's bones" if obj is None else _rest_mismatch(obj, rig)
        if why is not None:
            log.warning("%s: %s; the character is built from the rig instead (the file's materials and "
                        "other meshes are not kept)", p, why)
            return None
        _ensure_object_mode(bpy)
        _add_root_bones(bpy, obj, rig)
    _ensure_object_mode(bpy)
    if armature_name is not None and obj.parent is not None:  # the armature tops the file (Unreal)
        world = obj.matrix_world.copy()
        obj.parent = None
        obj.matrix_world = world
    objects = _character_objects(scene, obj)
    for o in scene.objects:
        for holder in (o, getattr(getattr(o, "data", None), "shape_keys", None)):
            adt = getattr(holder, "animation_data", None)
            if adt is not None and holder is not obj:
                adt.action = None
    if armature_name is not None and obj.name != armature_name:
        clash = bpy.data.objects.get(armature_name)
        if clash is not None:
            clash.name = f"{armature_name}.source"
        obj.name = armature_name
    if centimetres:
        _scale_character(bpy, scene, objects, _UNREAL_CM)
        scene.unit_settings.scale_length = 1.0 / _UNREAL_CM
        animation = _scaled(animation, _UNREAL_CM)
    key_action(obj, animation, name=rig.name, frame_start=0, set_scene_fps=True, set_frame_range=True)
    for o in scene.objects:
        o.select_set(False)
    for o in objects:
        o.select_set(True)
    bpy.context.view_layer.objects.active = obj
    return objects


def _rest_mismatch(obj: Any, rig: Rig) -> str | None:
    """Why armature ``obj`` does not have ``rig``'s rest pose (None when it does). Root bones may
    stand elsewhere (a rig moved onto the floor), turned as in the file; every other bone must
    sit on its parent as in the file. Bones the armature lacks are not compared."""
    have = rig_from_armature(obj, with_mesh=False)
    a, b = have.rest_local, rig.rest_local
    size = max(float(np.ptp(rig.heads, axis=0).max()), 1e-9)
    for i, name in enumerate(have.bone_names):
        if name not in rig.bone_names:
            continue
        j = rig.index(name)
        if have.parents[i] < 0:  # a root: turned as in the file
            bad = np.abs(have.rest[i, :3, :3] - rig.rest[j, :3, :3]).max() > 1e-4
        else:
            bad = (np.abs(a[i, :3, :3] - b[j, :3, :3]).max() > 1e-4
                   or np.abs(a[i, :3, 3] - b[j, :3, 3]).max() > 1e-4 * size)
        if bad:
            return f"armature {obj.name!r} no longer has the rig's rest pose (bone {name!r})"
    return None


def _scale_character(bpy: Any, scene: Any, objects: list[Any], k: float) -> None:
    """Scale ``objects`` by ``k`` about the world origin and apply the scale to each, so that no
    object keeps a scale (what the Unreal preset promises)."""
    top = [o for o in objects if o.parent not in objects]
    s = np.diag([k, k, k, 1.0])
    for o in top:
        o.matrix_world = _matrix(s @ _np(o.matrix_world))
    bpy.context.view_layer.update()
    scaled = {o.name: _np(o.matrix_world) for o in objects}
    for o in scene.objects:
        o.select_set(o in objects)
    bpy.context.view_layer.objects.active = objects[0]
    _operator(bpy.ops.object.transform_apply, "cannot scale the character to centimetres",
              location=False, rotation=False, scale=True, isolate_users=True)
    # Applying the scale lengthens the armature's bones, and an object parented to a bone hangs
    # from the bone's tail: put every object back where the scaling put it (its data now holds
    # the scale, so its own matrix keeps only the rotation and the position), parents first.
    for o in sorted(objects, key=lambda o: len(list(_ancestors(o)))):
        w = scaled[o.name]
        rot = w[:3, :3] / np.linalg.norm(w[:3, :3], axis=0)
        o.matrix_world = _matrix(np.block([[rot, w[:3, 3:]], [np.zeros((1, 3)), np.ones((1, 1))]]))
        bpy.context.view_layer.update()


def _ancestors(obj: Any) -> Any:
    while obj.parent is not None:
        obj = obj.parent
        yield obj


def _check_output(path: str | os.PathLike[str], suffix: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise Pose2RigError(f"{p}: expected a {suffix} file name, got {p.suffix or 'no extension'!r}")
    return check_writable(p)


def _write(op: Any, target: Path, **kwargs: Any) -> Path:
    with atomic_path(target) as tmp:
        tmp.unlink()  # the exporter creates it; an empty leftover must not look like success
        _operator(op, f"cannot write {target}", filepath=str(tmp), **kwargs)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise Pose2RigError(f"cannot write {target}: Blender's exporter wrote nothing")
    return target


def export_fbx(animation: RigAnimation, path: str | os.PathLike[str], *, preset: str = "blender",
               from_source: bool = True) -> Path:
    """Write ``animation`` on its character (armature, meshes, one baked take) as a binary FBX file.

    The session's data is discarded. The character comes from the rig's source file
    (``animation.rig.source``, as the loaders set it; ``from_source=False`` skips this): an FBX
    is imported and a ``.blend`` opened, their armature keyed with :func:`key_action`; a glTF
    file goes through Blender's glTF importer (see :func:`_import_gltf_character` for how the
    motion meets the bones Blender makes). Every object of the character is exported as the
    importer made it: the armature, the objects above it, meshes skinned or parented to it or
    to its bones with their materials, textures, UVs, vertex colours and shape keys, and empties
    (:func:`_character_objects`). A rig without a file, or whose file no longer holds it (a
    warning says so), is built with :func:`build_armature`: bones and the skinned mesh, no
    materials. Either way the one action is keyed from frame 0 (frame ``i`` at time
    ``i / fps``, the scene at :func:`scene_rate`, so that keys land on whole frames of the rate
    the file states) and Blender's FBX exporter runs on the character only: the action baked at
    every frame with no simplification, no leaf bones, bone axes as in Blender (primary Y,
    secondary X), written beside ``path`` and renamed onto it at the end.

    Presets (:data:`FBX_PRESETS`) set the file's axes and units for its consumer:

    - ``"blender"`` (default): Blender's exporter defaults, -Z forward / Y up, the file in
      centimetres (UnitScaleFactor 1) with a x100 scale on the root nodes.
    - ``"unity"``: -Z forward / Y up (the character faces +Z, Unity's forward), "FBX All"
      scaling: metre values, UnitScaleFactor 100, every node at scale 1.
    - ``"unreal"``: Blender's axes (Z up, front -Y: Unreal's own FBX import axes), centimetre
      values with no node scaled (rig built, or the imported character scaled and its scale
      applied, at 100x; scene unit scale 0.01), armature node named ``Armature`` so Unreal does
      not add it as an extra root bone.

    Every preset declares its axes and units in the file's GlobalSettings, so Blender's own
    importer (and :func:`read_fbx_animation`) gets the same metres and world back from each.

    Returns:
        ``path`` as a Path.
    """
    if preset not in FBX_PRESETS:
        raise Pose2RigError(f"unknown FBX preset {preset!r}; expected one of {', '.join(FBX_PRESETS)}")
    target = _check_output(path, ".fbx")
    bpy = _bpy()
    unreal = preset == "unreal"
    source = _source_file(animation.rig) if from_source else None
    staged = source is not None and _stage_source(
        animation, source, centimetres=unreal, armature_name="Armature" if unreal else None) is not None
    if not staged:
        if unreal:
            _stage(_scaled(animation, _UNREAL_CM), "Armature")
            bpy.context.scene.unit_settings.scale_length = 1.0 / _UNREAL_CM
        else:
            _stage(animation, animation.rig.name)
    return _write(
        bpy.ops.export_scene.fbx, target,
        use_selection=True, object_types={"ARMATURE", "MESH", "EMPTY"},
        global_scale=1.0, apply_unit_scale=True, use_space_transform=True, bake_space_transform=False,
        add_leaf_bones=False, primary_bone_axis="Y", secondary_bone_axis="X",
        use_armature_deform_only=False, armature_nodetype="NULL",
        bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
        bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True,
        bake_anim_step=1.0, bake_anim_simplify_factor=0.0,
        **FBX_PRESETS[preset],
    )


def export_glb(animation: RigAnimation, path: str | os.PathLike[str], *, from_source: bool = True,
               name: str = "pose2rig") -> Path:
    """Write ``animation`` as a binary glTF (``.glb``) with Blender's glTF exporter.

    Same staging as :func:`export_fbx` (the character from its source file with its materials,
    or else built from the rig without materials; one action from frame 0, exported as one
    animation called ``name``); glTF's own convention (Y up, metres, facing +Z) is pose2rig's,
    and the exporter's Z-up to Y-up change is this module's ``C``. Every frame is sampled and
    kept (no key optimisation), at time ``i / fps``; skins keep the 4 strongest influences per
    vertex, renormalised (what glTF viewers and engines read). A glTF character is better
    written by :func:`pose2rig.io.gltf.write_glb`, which keeps its document as it is.

    Returns:
        ``path`` as a Path.
    """
    target = _check_output(path, ".glb")
    bpy = _bpy()
    source = _source_file(animation.rig) if from_source else None
    staged = source is not None and _stage_source(animation, source) is not None
    if not staged:
        _stage(animation, animation.rig.name)
    return _write(
        bpy.ops.export_scene.gltf, target,
        export_format="GLB", use_selection=True, export_yup=True, export_apply=False,
        export_animations=True, export_animation_mode="ACTIVE_ACTIONS", export_force_sampling=True,
        export_frame_range=True, export_frame_step=1, export_optimize_animation_size=False,
        export_anim_slide_to_zero=True, export_skins=True, export_influence_nb=4,
        export_def_bones=False, export_leaf_bone=False, export_materials="EXPORT" if staged else "NONE",
        export_nla_strips_merged_animation_name=name,
    )


# --------------------------------------------------------------------------------------------
# reading animation back


def _blender_euler_matrix(angles: np.ndarray, mode: str) -> np.ndarray:
    """Blender Euler ``(T, 3)`` (x, y, z values) in rotation mode ``mode`` -> ``(T, 3, 3)``.

    Blender's ``'XYZ'`` applies x first: ``Rz @ Ry @ Rx``.
    """
    order = mode[::-1]
    ordered = np.stack([angles[:, "XYZ".index(c)] for c in order], axis=-1)
    return euler_to_matrix(ordered, order)


def _sample_frames(keyed: np.ndarray, fps_base: float) -> np.ndarray:
    """Blender frames holding the file's frames 0, 1, ... from the first key to the last.

    Blender 5.0's FBX importer converts key times with the scene's whole ``fps`` rather than
    ``fps / fps_base``, so a 29.97 fps file has its keys every ``fps_base`` (1.001) frames;
    when every key sits on that grid and not on whole frames, sample on it.
    """
    rel = keyed - keyed[0]
    step = 1.0
    if abs(fps_base - 1.0) > 1e-6:
        on_grid = np.allclose(rel / fps_base, np.round(rel / fps_base), atol=1e-3)
        on_whole = np.allclose(rel, np.round(rel), atol=1e-3)
        if on_grid and not on_whole:
            step = fps_base
    count = int(round(rel[-1] / step)) + 1
    return keyed[0] + step * np.arange(count)


def _warn_dropped(p: Path, obj: Any, curves: dict[tuple[str, int], Any]) -> None:
    """Log what the file animates that a RigAnimation cannot hold."""
    object_level = []
    for (path, _), fc in curves.items():
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        values = co[1::2]
        if not path.startswith("pose.bones["):
            if len(values) and np.ptp(values) > 1e-6:  # exporters key the object's still transform
                object_level.append(path)
    if object_level:
        log.warning("%s: the armature object itself moves (%s); ignored, its transform at the scene's "
                    "current frame is used", p, ", ".join(sorted(set(object_level))))


def read_fbx_animation(path: str | os.PathLike[str], *, armature: str | None = None) -> RigAnimation:
    """Read an FBX file's armature and its animation (Blender's importer, no frame offset).

    The rig is :func:`rig_from_armature` of the imported armature (see :func:`load_rig` for the
    choice among several). The action is sampled at every whole frame from its first key to its
    last: pose-bone rotations (quaternion, axis-angle or Euler, as the importer made them),
    root-bone locations, taken back to world head positions, and other bones' locations (in
    metres, as :attr:`~pose2rig.rig.RigAnimation.locations`) where they move by more than a
    millionth of the rig's size; fps is the scene's after import (the file's). Pose scale is not
    part of a RigAnimation and is dropped.

    Raises:
        Pose2RigError: as :func:`load_rig`, and when the armature has no animation.
    """
    p = _check_input(path, (".fbx",))
    bpy = _bpy()
    scene = _import_file(p)
    obj = _pick_armature(scene, p, armature)
    rig = replace(rig_from_armature(obj, name=p.stem), source=p)
    adt = obj.animation_data
    action = adt.action if adt is not None else None
    if action is None:
        raise Pose2RigError(f"{p}: armature {obj.name!r} has no animation")
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, adt.action_slot)
    curves = {(fc.data_path, fc.array_index): fc for fc in (bag.fcurves if bag is not None else ())}
    keyed = np.unique(np.round([kp.co[0] for fc in curves.values() for kp in fc.keyframe_points], 4))
    if not len(keyed):
        raise Pose2RigError(f"{p}: armature {obj.name!r} has no animation")
    frames = _sample_frames(keyed, scene.render.fps_base)
    _warn_dropped(p, obj, curves)

    def channel(path: str, default: Any) -> np.ndarray:
        out = np.empty((len(frames), len(default)))
        for i, d in enumerate(default):
            fc = curves.get((path, i))
            out[:, i] = [fc.evaluate(f) for f in frames] if fc is not None else d
        return out

    mw = _np(obj.matrix_world)
    q = np.empty((len(frames), rig.num_bones, 4))
    roots = []
    moved = np.zeros((len(frames), rig.num_bones, 3))
    metres = float(np.cbrt(abs(np.linalg.det(mw[:3, :3]))))  # armature units -> metres
    for j, b in enumerate(rig.bone_names):
        pb = obj.pose.bones[b]
        base = f'pose.bones["{bpy.utils.escape_identifier(b)}"]'
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            r = channel(f"{base}.rotation_quaternion", pb.rotation_quaternion)
            q[:, j] = r / np.linalg.norm(r, axis=-1, keepdims=True)
        elif mode == "AXIS_ANGLE":
            aa = channel(f"{base}.rotation_axis_angle", pb.rotation_axis_angle)
            axis = aa[:, 1:] / np.maximum(np.linalg.norm(aa[:, 1:], axis=-1, keepdims=True), 1e-12)
            q[:, j, 0] = np.cos(aa[:, 0] / 2)
            q[:, j, 1:] = axis * np.sin(aa[:, 0] / 2)[:, None]
        else:
            e = channel(f"{base}.rotation_euler", pb.rotation_euler)
            q[:, j] = matrix_to_quat(_blender_euler_matrix(e, mode))
        if rig.parents[j] < 0:
            loc = channel(f"{base}.location", pb.location)
            local = _np(pb.bone.matrix_local)
            head = loc @ local[:3, :3].T + local[:3, 3]
            roots.append(((_C4 @ mw)[:3, :3] @ head.T).T + (_C4 @ mw)[:3, 3])
        elif (f"{base}.location", 0) in curves:
            moved[:, j] = channel(f"{base}.location", pb.location) * metres
    fps = scene.render.fps / scene.render.fps_base
    size = max(float(np.ptp(rig.heads, axis=0).max()), 1e-9)
    moved[np.abs(moved) <= 1e-6 * size] = 0.0
    return RigAnimation(rig, continuous_quat(q), np.stack(roots, axis=1), fps,
                        locations=moved if np.any(moved) else None)
