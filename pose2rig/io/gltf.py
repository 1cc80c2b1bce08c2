"""glTF 2.0 characters: a skinned armature -> :class:`Rig`, a :class:`RigAnimation` -> a GLB.

Pure Python on top of pygltflib (the JSON model) and numpy (every buffer); no Blender needed.

Convention:
    - glTF's world is pose2rig's: right-handed, Y up, metres. No axis change happens here.
    - glTF quaternions are ``(x, y, z, w)``; pose2rig's are ``(w, x, y, z)``. Converted only here.
    - Skinning follows the glTF 2.0 spec: a skinned vertex is ``sum_k w_k G_jk IBM_jk v``, with
      ``G_j`` the joint node's world matrix; the skinned mesh node's own transform is ignored.
      So ``inverse(IBM_j)`` is joint ``j``'s bind matrix in the space of the mesh's vertices
      (the *bind space*), and the spec says nothing more about where that space is in the world.
    - Placing the bind space in the world: Blender's exporter writes it as the world (identity);
      FBX2GLTF and glTF-1.0-style files write it as the skinned mesh node's local space (the
      mesh node's world matrix places it). The loader takes, of these two placements, the one
      under which most joints of the bind skeleton sit where the file's scene (the joints' node
      transforms) has them, within 5% of the skeleton's size; ties go to the closer one, then to
      the spec's identity. Posed vertices never depend on this choice,
      only where the rest pose stands.
    - Scale: bind matrices may carry scale (armatures scaled 100 or 0.01). ``Rig.rest`` keeps the
      rotation of their polar decomposition and their translation (the joint's world position);
      vertices keep their world positions, so skinning is unchanged.
    - Meshes: every triangle primitive of every mesh node skinned to the first skin (or to a skin
      with the same joints and inverse bind matrices), merged; ``JOINTS_n``/``WEIGHTS_n`` sets all
      kept, weights renormalised. Morph targets are ignored (base shape). With
      ``rigid_parts=True`` (default), meshes that hang *unskinned* below a joint node (robots,
      props in a hand: RobotExpressive is built this way) join the mesh weighted 1.0 to that
      joint, placed where the bind pose puts them.
    - Written files (:func:`write_glb`): a rig read from a glTF file is written as that file's
      document with one animation added (first) and nothing else changed; its joint nodes get
      LINEAR channels that give each joint node the world matrix ``G_j = W_j @ [K_j | 0]``
      (``W_j`` the bone's world matrix, ``K_j`` the scale of its bind matrix), which skins the
      file's meshes as the rig's mesh is skinned. Other rigs are built: one node per bone, its
      local rest as translation and rotation, a skin with ``IBM_j = inverse(rest_j)``, the mesh
      node at the scene root without a transform, and one animation with a LINEAR rotation
      channel per bone and a translation channel per root bone. Both key once per frame at
      ``frame / fps`` seconds.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import struct
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from pose2rig import __version__
from pose2rig.errors import Pose2RigError
from pose2rig.geometry import continuous_quat, matrix_to_quat, polar, quat_to_matrix, slerp
from pose2rig.io.atomic import atomic_path
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh, forward_kinematics

__all__ = ["load_gltf_rig", "read_glb_animation", "scene_placements", "write_glb"]

log = logging.getLogger(__name__)

_GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_DTYPES: dict[int, np.dtype[Any]] = {
    5120: np.dtype("<i1"),
    5121: np.dtype("<u1"),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
# extensions that change how buffers are laid out; without a decoder the data would be garbage
_UNDECODABLE = frozenset({"KHR_draco_mesh_compression", "EXT_meshopt_compression"})
_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN = 4, 5, 6
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


# ----------------------------------------------------------------------------------------------
# reading: the container, accessors, the node graph


@dataclass
class _Document:
    """A parsed glTF file: pygltflib's JSON model, the raw buffers, the node tree."""

    path: Path
    gltf: pygltflib.GLTF2
    buffers: list[bytes]
    parent: np.ndarray  # (N,) parent node index, -1 for scene roots
    raw: dict  # the JSON as written in the file (what the animated copy is made from)

    def fail(self, what: str) -> Pose2RigError:
        return Pose2RigError(f"{self.path}: {what}")

    def accessor(self, index: int | None, what: str) -> np.ndarray:
        """Accessor ``index`` as ``(count, components)``: float64 for floats and normalized
        integers, int64 otherwise; sparse accessors applied."""
        gltf = self.gltf
        if index is None or not 0 <= index < len(gltf.accessors):
            raise self.fail(f"{what} refers to accessor {index}, which does not exist")
        acc = gltf.accessors[index]
        if acc.type not in _COMPONENTS or acc.componentType not in _DTYPES:
            raise self.fail(f"accessor {index} ({what}) has type {acc.type}/{acc.componentType}")
        n, dt = _COMPONENTS[acc.type], _DTYPES[acc.componentType]
        count = int(acc.count or 0)
        if acc.type in ("MAT2", "MAT3") and dt.itemsize < 4:
            raise self.fail(f"accessor {index} ({what}): padded small-integer matrices are not supported")
        if acc.bufferView is None:
            out = np.zeros((count, n), dtype=dt)
        else:
            out = self._view(acc.bufferView, acc.byteOffset or 0, count, n, dt, f"accessor {index} ({what})")
        if acc.sparse is not None and acc.sparse.count:
            sp = acc.sparse
            idt = _DTYPES.get(sp.indices.componentType)
            if idt is None:
                raise self.fail(f"accessor {index} ({what}): bad sparse index type {sp.indices.componentType}")
            idx = self._view(sp.indices.bufferView, sp.indices.byteOffset or 0, sp.count, 1, idt, what)[:, 0]
            vals = self._view(sp.values.bufferView, sp.values.byteOffset or 0, sp.count, n, dt, what)
            if idx.size and int(idx.max()) >= count:
                raise self.fail(f"accessor {index} ({what}): sparse index {int(idx.max())} >= count {count}")
            out = out.copy()
            out[idx.astype(np.int64)] = vals
        if dt.kind == "f":
            return out.astype(np.float64)
        if acc.normalized:
            top = float(np.iinfo(dt).max)
            return np.maximum(out.astype(np.float64) / top, -1.0)
        return out.astype(np.int64)

    def _view(self, view: int, offset: int, count: int, n: int, dt: np.dtype, what: str) -> np.ndarray:
        gltf = self.gltf
        if view is None or not 0 <= view < len(gltf.bufferViews):
            raise self.fail(f"{what} refers to bufferView {view}, which does not exist")
        bv = gltf.bufferViews[view]
        if not 0 <= bv.buffer < len(self.buffers):
            raise self.fail(f"bufferView {view} refers to buffer {bv.buffer}, which does not exist")
        data = self.buffers[bv.buffer]
        item = dt.itemsize * n
        stride = bv.byteStride or item
        start = (bv.byteOffset or 0) + offset
        end = start + (stride * (count - 1) + item if count else 0)
        if end > (bv.byteOffset or 0) + bv.byteLength or end > len(data):
            raise self.fail(f"{what} reads past the end of its data (the file is truncated or corrupt)")
        if count == 0:
            return np.zeros((0, n), dtype=dt)
        return np.ndarray((count, n), dtype=dt, buffer=data, offset=start, strides=(stride, dt.itemsize)).copy()

    # nodes ------------------------------------------------------------------------------------

    def trs(self, node: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node ``node``'s rest translation ``(3,)``, rotation ``(4,)`` xyzw and scale ``(3,)``."""
        n = self.gltf.nodes[node]
        if n.matrix is not None and list(n.matrix) != list(np.eye(4).ravel()):
            m = np.asarray(n.matrix, dtype=np.float64).reshape(4, 4).T
            a = m[:3, :3]
            s = np.linalg.norm(a, axis=0)
            if np.linalg.det(a) < 0:
                s[0] = -s[0]
            r = a / np.where(s == 0, 1.0, s)
            q = matrix_to_quat(polar(r)[0])
            return m[:3, 3].copy(), np.r_[q[1:], q[0]], s
        t = np.asarray(n.translation if n.translation is not None else (0.0, 0.0, 0.0), dtype=np.float64)
        r = np.asarray(n.rotation if n.rotation is not None else (0.0, 0.0, 0.0, 1.0), dtype=np.float64)
        s = np.asarray(n.scale if n.scale is not None else (1.0, 1.0, 1.0), dtype=np.float64)
        return t, r, s

    def local(self, node: int) -> np.ndarray:
        """``(4, 4)`` node ``node``'s local matrix in its parent."""
        n = self.gltf.nodes[node]
        if n.matrix is not None:
            return np.asarray(n.matrix, dtype=np.float64).reshape(4, 4).T
        t, r, s = self.trs(node)
        return _compose(t[None], r[None], s[None])[0]

    def world(self, locals_: np.ndarray) -> np.ndarray:
        """``(..., N, 4, 4)`` world matrices of every node from their local ones ``(..., N, 4, 4)``."""
        return forward_kinematics(locals_, self.parent)

    def scene_world(self) -> np.ndarray:
        """``(N, 4, 4)`` every node's world matrix in the file's scene (no animation)."""
        return self.world(np.stack([self.local(i) for i in range(len(self.gltf.nodes))]))


def _read_document(path: str | os.PathLike[str]) -> _Document:
    p = Path(path)
    if not p.is_file():
        raise Pose2RigError(f"{p}: no such file")
    data = p.read_bytes()
    bin_chunk: bytes | None = None
    if data[:4] == _GLB_MAGIC:
        text, bin_chunk = _split_glb(p, data)
    else:
        try:
            text = data.decode("utf-8-sig")
            first = text.lstrip()[:1]
        except UnicodeDecodeError:
            first = ""
        if first != "{":
            raise Pose2RigError(f"{p} is not a glTF file: expected a GLB (starting with 'glTF') or glTF JSON")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Pose2RigError(f"{p}: the glTF JSON is malformed ({e.msg} at line {e.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("asset"), dict):
        raise Pose2RigError(f"{p} is not a glTF file: its JSON has no 'asset' object")
    version = str(raw["asset"].get("version", ""))
    if not version.startswith("2."):
        raise Pose2RigError(f"{p} is glTF version {version or '?'}; only glTF 2.0 is supported")
    bad = sorted(set(raw.get("extensionsRequired") or ()) & _UNDECODABLE)
    if bad:
        raise Pose2RigError(f"{p} needs {', '.join(bad)} to decode its meshes, which pose2rig cannot read")
    try:
        gltf = pygltflib.GLTF2.from_json(text, infer_missing=True)
    except Exception as e:  # pygltflib raises whatever its decoder meets
        raise Pose2RigError(f"{p}: the glTF JSON does not follow the glTF 2.0 schema ({e})") from None

    buffers = []
    for i, b in enumerate(gltf.buffers):
        if b.uri is None:
            if i != 0 or bin_chunk is None:
                raise Pose2RigError(f"{p}: buffer {i} has no uri and there is no GLB binary chunk for it")
            blob = bin_chunk
        elif b.uri.startswith("data:"):
            head, _, body = b.uri.partition(",")
            if not head.endswith(";base64"):
                raise Pose2RigError(f"{p}: buffer {i} is a data URI that is not base64")
            blob = base64.b64decode(body)
        else:
            ext = p.parent / urllib.parse.unquote(b.uri)
            if not ext.is_file():
                raise Pose2RigError(f"{p}: buffer {i} file {ext} is missing")
            blob = ext.read_bytes()
        if len(blob) < (b.byteLength or 0):
            raise Pose2RigError(
                f"{p}: buffer {i} holds {len(blob)} bytes but declares {b.byteLength} (the file is truncated)"
            )
        buffers.append(blob)

    n = len(gltf.nodes)
    parent = np.full(n, -1, dtype=np.int64)
    for i, node in enumerate(gltf.nodes):
        for c in node.children or ():
            if not 0 <= c < n or parent[c] >= 0 or c == i:
                raise Pose2RigError(f"{p}: the node hierarchy is not a tree (node {c} under node {i})")
            parent[c] = i
    seen: set[int] = set()
    for i in range(n):
        chain = []
        j = i
        while j >= 0 and j not in seen:
            chain.append(j)
            j = int(parent[j])
            if len(chain) > n:
                raise Pose2RigError(f"{p}: the node hierarchy has a cycle through node {i}")
        seen.update(chain)
    return _Document(p, gltf, buffers, parent, raw)


def _split_glb(p: Path, data: bytes) -> tuple[str, bytes | None]:
    """The JSON text and the BIN chunk of a GLB; every length checked against the file."""
    if len(data) < 20:
        raise Pose2RigError(f"{p} is a truncated GLB: {len(data)} bytes, shorter than the GLB header")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise Pose2RigError(f"{p} is a GLB of version {version}; only glTF 2.0 (GLB version 2) is supported")
    if length > len(data):
        raise Pose2RigError(f"{p} is a truncated GLB: its header says {length} bytes, the file has {len(data)}")
    text, blob, offset = None, None, 12
    while offset < length:
        if offset + 8 > length:
            raise Pose2RigError(f"{p} is a truncated GLB: a chunk header is cut at byte {offset}")
        size, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + size > length:
            raise Pose2RigError(f"{p} is a truncated GLB: a chunk of {size} bytes runs past the end")
        body = data[offset + 8 : offset + 8 + size]
        if text is None:
            if kind != _CHUNK_JSON:
                raise Pose2RigError(f"{p}: the first GLB chunk is not JSON")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Pose2RigError(f"{p}: the GLB's JSON chunk is not UTF-8 text") from None
        elif kind == _CHUNK_BIN and blob is None:
            blob = body
        offset += 8 + size
    if text is None:
        raise Pose2RigError(f"{p} is a GLB without a JSON chunk")
    return text, blob


# ----------------------------------------------------------------------------------------------
# matrices


def _compose(t: np.ndarray, r_xyzw: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(..., 4, 4)`` ``T @ R @ S`` from translations ``(..., 3)``, xyzw quaternions, scales."""
    q = np.asarray(r_xyzw, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    q = q / np.where(norm == 0, 1.0, norm)
    m = np.zeros(q.shape[:-1] + (4, 4))
    m[..., :3, :3] = quat_to_matrix(np.concatenate([q[..., 3:], q[..., :3]], axis=-1)) * s[..., None, :]
    m[..., :3, 3] = t
    m[..., 3, 3] = 1.0
    return m


def _xyzw(q_wxyz: np.ndarray) -> np.ndarray:
    return np.concatenate([q_wxyz[..., 1:], q_wxyz[..., :1]], axis=-1)


# ----------------------------------------------------------------------------------------------
# the rig


@dataclass(frozen=True)
class _Binding:
    """How a loaded :class:`Rig` sits on its file: what reading an animation needs."""

    joints: np.ndarray  # (J,) node index of each rig bone
    scale: np.ndarray  # (J, 3, 3) K_j of each bind matrix = rest_j-rotation @ K_j


def load_gltf_rig(path: str | os.PathLike[str], *, rigid_parts: bool = True) -> Rig:
    """Read the first skin of a ``.glb``/``.gltf`` file, with its mesh, as a :class:`Rig`.

    Args:
        path: the file.
        rigid_parts: also take meshes that hang unskinned below a joint node, weighted 1.0 to
            that joint (see the module's Convention).

    Returns:
        The rig: bones named as the skin's joint nodes (unnamed ones ``joint_<node index>``),
        parents before children, ``rest`` ``(J, 4, 4)`` world bind matrices without scale, and the
        merged mesh in world bind-pose positions (None when nothing is skinned to the joints).
    """
    return _load(path, rigid_parts=rigid_parts)[1]


def _load(path: str | os.PathLike[str], *, rigid_parts: bool = True) -> tuple[_Document, Rig, _Binding]:
    doc = _read_document(path)
    gltf = doc.gltf
    if not gltf.skins:
        raise Pose2RigError(f"{doc.path} has no skinned armature (no glTF skin)")
    skin = gltf.skins[0]
    joints = [int(j) for j in skin.joints or ()]
    if not joints:
        raise doc.fail("its first skin has no joints")
    if len(set(joints)) != len(joints) or not all(0 <= j < len(gltf.nodes) for j in joints):
        raise doc.fail("its first skin lists a joint twice or a node that does not exist")
    ibm = _inverse_binds(doc, skin, len(joints))

    # hierarchy: each joint's nearest joint ancestor; parents before children (depth-first)
    slot = {node: k for k, node in enumerate(joints)}
    skin_parent = []
    for node in joints:
        p = int(doc.parent[node])
        while p >= 0 and p not in slot:
            p = int(doc.parent[p])
        skin_parent.append(slot[p] if p >= 0 else -1)
    children: dict[int, list[int]] = {}
    for k, p in enumerate(skin_parent):
        children.setdefault(p, []).append(k)
    perm: list[int] = []
    stack = list(reversed(children.get(-1, [])))
    while stack:
        k = stack.pop()
        perm.append(k)
        stack.extend(reversed(children.get(k, [])))
    rank = {k: i for i, k in enumerate(perm)}
    parents = tuple(rank[skin_parent[k]] if skin_parent[k] >= 0 else -1 for k in perm)
    names = _bone_names(doc, [joints[k] for k in perm])

    bind_space = np.linalg.inv(ibm)[perm]  # (J, 4, 4) bind matrices in the mesh's space
    scene = doc.scene_world()
    skinned = _skinned_mesh_nodes(doc, ibm)
    placement = _placement(doc, scene, [joints[k] for k in perm], bind_space, skinned)
    bind = placement @ bind_space  # (J, 4, 4) world bind matrices, possibly scaled
    rot, scale = polar(bind[:, :3, :3])
    if np.any(np.linalg.det(rot) < 0) or np.any(np.linalg.det(bind[:, :3, :3]) <= 0):
        raise doc.fail("a joint's bind matrix is mirrored (negative scale), which a rig cannot represent")
    sv = np.linalg.svd(bind[:, :3, :3], compute_uv=False)
    if np.abs(sv - 1.0).max() > 1e-3:
        log.info(
            "%s: bind matrices carry scale %.4g..%.4g; kept as rotation + translation, vertices in world units",
            doc.path.name, sv.min(), sv.max(),
        )
    rest = np.zeros_like(bind)
    rest[:, :3, :3] = rot
    rest[:, :3, 3] = bind[:, :3, 3]
    rest[:, 3, 3] = 1.0

    mesh = _gather_mesh(doc, scene, skinned, placement, perm, joints, bind, rigid_parts)
    rig = Rig(doc.path.stem, names, parents, rest, mesh=mesh, source=doc.path)
    return doc, rig, _Binding(np.array([joints[k] for k in perm], dtype=np.int64), scale)


def scene_placements(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Where the file's scene (without animation) puts its other nodes: ``(4, 4)`` world
    matrices by node name, for every node that is not a joint of the first skin and holds no
    skinned mesh (meshes parented to joints, empties, their parents), and whose name no other
    such node has."""
    doc, _, binding = _load(path, rigid_parts=False)
    joints = {int(j) for j in binding.joints}
    world = doc.scene_world()
    found: dict[str, list[int]] = {}
    for i, node in enumerate(doc.gltf.nodes):
        if i not in joints and node.skin is None and node.name:
            found.setdefault(node.name, []).append(i)
    return {name: world[nodes[0]] for name, nodes in found.items() if len(nodes) == 1}


def _inverse_binds(doc: _Document, skin: pygltflib.Skin, count: int) -> np.ndarray:
    if skin.inverseBindMatrices is None:
        return np.broadcast_to(np.eye(4), (count, 4, 4)).copy()  # the spec's default
    raw = doc.accessor(skin.inverseBindMatrices, "the skin's inverseBindMatrices")
    if raw.shape != (count, 16):
        raise doc.fail(
            f"the skin has {count} joints but {raw.shape[0]} inverse bind matrices of {raw.shape[1]} numbers"
        )
    ibm = raw.reshape(count, 4, 4).transpose(0, 2, 1)
    if not np.all(np.isfinite(ibm)) or np.any(np.abs(np.linalg.det(ibm[:, :3, :3])) < 1e-12):
        raise doc.fail("an inverse bind matrix is singular or not finite")
    return ibm


def _bone_names(doc: _Document, nodes: list[int]) -> tuple[str, ...]:
    out, seen = [], set()
    for node in nodes:
        name = doc.gltf.nodes[node].name or f"joint_{node}"
        if name in seen:
            log.warning("%s: two joints are named %r; the one of node %d becomes %r",
                        doc.path.name, name, node, f"{name}_{node}")
            name = f"{name}_{node}"
        seen.add(name)
        out.append(name)
    return tuple(out)


def _skinned_mesh_nodes(doc: _Document, ibm: np.ndarray) -> list[int]:
    """Mesh nodes skinned to skin 0, or to a skin with the same joints and inverse bind matrices."""
    gltf = doc.gltf
    same = {0}
    for s, skin in enumerate(gltf.skins[1:], start=1):
        if list(skin.joints or ()) != list(gltf.skins[0].joints):
            continue
        other = _inverse_binds(doc, skin, len(skin.joints))
        if np.allclose(other, ibm, atol=1e-6 * max(1.0, float(np.abs(ibm).max()))):
            same.add(s)
    nodes = [i for i, n in enumerate(gltf.nodes) if n.mesh is not None and n.skin in same]
    others = [i for i, n in enumerate(gltf.nodes) if n.mesh is not None and n.skin is not None and n.skin not in same]
    if others:
        log.warning("%s: %d mesh nodes use other skeletons and are left out", doc.path.name, len(others))
    return nodes


def _placement(doc: _Document, scene: np.ndarray, joint_nodes: list[int], bind_space: np.ndarray,
               skinned: list[int]) -> np.ndarray:
    """``(4, 4)`` where the bind space sits in the world (see the module's Convention)."""
    candidates = [("identity (glTF 2.0)", np.eye(4))]
    if skinned:
        candidates.append((f"mesh node {doc.gltf.nodes[skinned[0]].name or skinned[0]!r}", scene[skinned[0]]))
        for node in skinned[1:]:
            if not np.allclose(scene[node], scene[skinned[0]], atol=1e-6):
                log.warning("%s: skinned mesh nodes have different transforms; the first one's is used", doc.path.name)
                break
    target = scene[joint_nodes, :3, 3]
    tolerance = 0.05 * max(float(np.ptp(target, axis=0).max()), 1e-9)
    scores = []
    for _, m in candidates:
        d = np.linalg.norm((m @ bind_space)[:, :3, 3] - target, axis=1)
        scores.append((-int(np.sum(d <= tolerance)), round(float(np.median(d)) / tolerance, 6)))
    best = min(range(len(candidates)), key=lambda i: (scores[i], i))
    log.debug("%s: bind space placed by the %s (%d of %d joints where the scene has them)",
              doc.path.name, candidates[best][0], -scores[best][0], len(joint_nodes))
    return candidates[best][1]


def _gather_mesh(doc: _Document, scene: np.ndarray, skinned: list[int], placement: np.ndarray,
                 perm: list[int], joints: list[int], bind: np.ndarray, rigid_parts: bool) -> SkinnedMesh | None:
    gltf = doc.gltf
    to_bone = np.empty(len(perm), dtype=np.int64)
    to_bone[perm] = np.arange(len(perm))  # skin joint index -> rig bone index
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for node in skinned:
        for prim_index, prim in enumerate(gltf.meshes[gltf.nodes[node].mesh].primitives):
            where = f"mesh {gltf.nodes[node].mesh} primitive {prim_index}"
            geo = _primitive(doc, prim, where)
            if geo is None:
                continue
            v, f = geo
            j, w = _influences(doc, prim, len(v), len(joints), where)
            parts.append((v @ placement[:3, :3].T + placement[:3, 3], f, to_bone[j], w))
    if rigid_parts:
        slot = {n: b for b, n in enumerate(joints[k] for k in perm)}
        for node, n in enumerate(gltf.nodes):
            if n.mesh is None or n.skin is not None:
                continue
            p = int(doc.parent[node])
            while p >= 0 and p not in slot:
                p = int(doc.parent[p])
            if p < 0:
                log.debug("%s: mesh node %d is not under the skeleton; left out", doc.path.name, node)
                continue
            b = slot[p]
            m = bind[b] @ np.linalg.inv(scene[p]) @ scene[node]  # the part where the bind pose puts it
            for prim_index, prim in enumerate(gltf.meshes[n.mesh].primitives):
                geo = _primitive(doc, prim, f"mesh {n.mesh} primitive {prim_index}")
                if geo is None:
                    continue
                v, f = geo
                parts.append((v @ m[:3, :3].T + m[:3, 3], f, np.full((len(v), 1), b), np.ones((len(v), 1))))
    if not parts:
        return None
    k = max(p[2].shape[1] for p in parts)
    verts, faces, js, ws, base = [], [], [], [], 0
    for v, f, j, w in parts:
        pad = k - j.shape[1]
        verts.append(v)
        faces.append(f + base)
        js.append(np.pad(j, ((0, 0), (0, pad))))
        ws.append(np.pad(w, ((0, 0), (0, pad))))
        base += len(v)
    first = skinned[0] if skinned else None
    name = (gltf.meshes[gltf.nodes[first].mesh].name if first is not None else None) or "body"
    return SkinnedMesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(js), np.concatenate(ws), name=name)


def _primitive(doc: _Document, prim: pygltflib.Primitive, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions ``(V, 3)`` and triangles ``(F, 3)`` of a primitive, None for points and lines."""
    mode = _TRIANGLES if prim.mode is None else prim.mode
    if mode not in (_TRIANGLES, _TRIANGLE_STRIP, _TRIANGLE_FAN):
        log.warning("%s: %s draws points or lines (mode %d); left out of the mesh", doc.path.name, where, mode)
        return None
    if prim.attributes.POSITION is None:
        raise doc.fail(f"{where} has no POSITION attribute")
    v = doc.accessor(prim.attributes.POSITION, f"{where} POSITION")
    if v.shape[1] != 3 or not np.all(np.isfinite(v)):
        raise doc.fail(f"{where} POSITION must be finite VEC3")
    idx = np.arange(len(v)) if prim.indices is None else doc.accessor(prim.indices, f"{where} indices")[:, 0]
    if idx.size and (idx.min() < 0 or idx.max() >= len(v)):
        raise doc.fail(f"{where} indexes vertex {int(idx.max())} of {len(v)}")
    if mode == _TRIANGLES:
        if len(idx) % 3:
            raise doc.fail(f"{where} has {len(idx)} triangle indices, not a multiple of 3")
        tri = idx.reshape(-1, 3)
    elif len(idx) < 3:
        tri = np.zeros((0, 3), dtype=np.int64)
    elif mode == _TRIANGLE_STRIP:  # spec: {v_i, v_(i + 1 + i%2), v_(i + 2 - i%2)}
        i = np.arange(len(idx) - 2)
        tri = np.stack([idx[i], idx[i + 1 + i % 2], idx[i + 2 - i % 2]], axis=1)
    else:  # fan: {v_(i+1), v_(i+2), v_0}
        i = np.arange(len(idx) - 2)
        tri = np.stack([idx[i + 1], idx[i + 2], np.full(len(i), idx[0])], axis=1)
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    return v, tri[keep]


def _influences(doc: _Document, prim: pygltflib.Primitive, count: int, num_joints: int,
                where: str) -> tuple[np.ndarray, np.ndarray]:
    """Skin-joint indices ``(V, K)`` and renormalised weights ``(V, K)`` from every JOINTS_n/WEIGHTS_n."""
    attrs = vars(prim.attributes)
    js, ws, n = [], [], 0
    while attrs.get(f"JOINTS_{n}") is not None and attrs.get(f"WEIGHTS_{n}") is not None:
        j = doc.accessor(attrs[f"JOINTS_{n}"], f"{where} JOINTS_{n}")
        w = doc.accessor(attrs[f"WEIGHTS_{n}"], f"{where} WEIGHTS_{n}")
        if j.shape != (count, 4) or w.shape != (count, 4):
            raise doc.fail(f"{where}: JOINTS_{n}/WEIGHTS_{n} must be VEC4 for each of its {count} vertices")
        js.append(j)
        ws.append(w.astype(np.float64))
        n += 1
    if not js:
        raise doc.fail(f"{where} is on a skinned mesh node but has no JOINTS_0/WEIGHTS_0")
    j = np.concatenate(js, axis=1)
    w = np.concatenate(ws, axis=1)
    if not np.all(np.isfinite(w)) or np.any(w < -1e-6):
        raise doc.fail(f"{where} has negative or non-finite skin weights")
    w = np.clip(w, 0.0, None)
    used = w > 0
    if np.any(used & ((j < 0) | (j >= num_joints))):
        raise doc.fail(f"{where} is weighted to joint {int(j[used].max())} of a {num_joints}-joint skin")
    j = np.where(used, j, 0)
    total = w.sum(axis=1)
    empty = total <= 0
    if np.any(empty):
        log.warning("%s: %s has %d vertices with no weight; bound to the first joint",
                    doc.path.name, where, int(empty.sum()))
        w[empty, 0], j[empty, 0], total[empty] = 1.0, 0, 1.0
    return j, w / total[:, None]


# ----------------------------------------------------------------------------------------------
# animation: reading


def read_glb_animation(path: str | os.PathLike[str], *, animation: int | str = 0,
                       fps: float | None = None) -> RigAnimation:
    """One animation of a skinned ``.glb``/``.gltf`` file as a :class:`RigAnimation` of its rig.

    Args:
        path: the file (any writer; needs a skin and an animation).
        animation: the animation's index or name.
        fps: None samples at the animation's keyframes, which must be evenly spaced (files from
            :func:`write_glb` are; a single key gives one frame at 30 fps); a rate resamples the
            animation from its first to its last key.

    Returns:
        The animation on :func:`load_gltf_rig`'s rig: bone rotations relative to the rest pose,
        the root bones' world positions, and ``locations`` for non-root joints that the file
        moves away from their bind-pose offsets (by more than a millionth of the rig's size).
        Scale keyed on joints cannot be represented and is dropped, with a warning.
    """
    doc, rig, binding = _load(path)
    gltf = doc.gltf
    if not gltf.animations:
        raise doc.fail("has no animation")
    names = [a.name or f"#{i}" for i, a in enumerate(gltf.animations)]
    if isinstance(animation, str):
        if animation not in names:
            raise doc.fail(f"has no animation {animation!r} (it has {', '.join(names)})")
        animation = names.index(animation)
    if not 0 <= animation < len(gltf.animations):
        raise doc.fail(f"has no animation {animation} (it has {len(gltf.animations)})")
    anim = gltf.animations[animation]

    # nodes that move the skeleton: the joints and their ancestors
    relevant = set()
    for node in binding.joints:
        while node >= 0 and node not in relevant:
            relevant.add(int(node))
            node = int(doc.parent[node])
    channels = []
    for c in anim.channels:
        if c.target is None or c.target.node not in relevant:
            continue
        if c.target.path not in ("translation", "rotation", "scale"):
            continue  # morph weights
        s = anim.samplers[c.sampler]
        times = doc.accessor(s.input, f"animation {names[animation]!r} input")[:, 0]
        values = doc.accessor(s.output, f"animation {names[animation]!r} output")
        channels.append((c.target.node, c.target.path, s.interpolation or "LINEAR", times, values))
    if not channels:
        raise doc.fail(f"animation {names[animation]!r} does not move the skeleton")
    keys = np.unique(np.concatenate([c[3] for c in channels]))
    if fps is None:
        if len(keys) == 1:
            frame_times, fps = keys, 30.0
        else:
            step = np.diff(keys)
            if np.abs(step - np.median(step)).max() > 1e-3 * np.median(step) + 1e-6:
                raise doc.fail(
                    f"the keyframes of animation {names[animation]!r} are not evenly spaced; pass fps= to resample"
                )
            frame_times, fps = keys, float((len(keys) - 1) / (keys[-1] - keys[0]))
            if abs(fps - round(fps, 3)) <= 1e-5 * fps:
                fps = round(fps, 3)  # float32 key times: 30.0000018 was written as 30
    else:
        if not (np.isfinite(fps) and fps > 0):
            raise Pose2RigError(f"fps must be positive, got {fps}")
        count = int(np.floor((keys[-1] - keys[0]) * fps + 1e-6)) + 1
        frame_times = keys[0] + np.arange(count) / fps

    n = len(gltf.nodes)
    t = np.zeros((len(frame_times), n, 3))
    r = np.zeros((len(frame_times), n, 4))
    s = np.ones((len(frame_times), n, 3))
    fixed = np.zeros(n, dtype=bool)
    for i in range(n):
        if gltf.nodes[i].matrix is not None and i in relevant:
            fixed[i] = True
        t[:, i], r[:, i], s[:, i] = doc.trs(i)
    out = {"translation": t, "rotation": r, "scale": s}
    for node, what, interp, times, values in channels:
        out[what][:, node] = _sample(times, values, frame_times, interp, rotation=what == "rotation",
                                     where=f"{doc.path}: animation {names[animation]!r}")
    local = _compose(t, r, s)
    for i in np.flatnonzero(fixed):
        local[:, i] = doc.local(i)  # matrix nodes cannot be animated (spec), keep them exact
    world = doc.world(local)[:, binding.joints]  # (T, J, 4, 4)

    # W_j = [G_R K_j^-1 | G_t] makes W_j rest_j^-1 (placed vertex) = G_j IBM_j v for every vertex
    rot, stretch = polar(world[..., :3, :3] @ np.linalg.inv(binding.scale)[None])
    rigid = world.copy()
    rigid[..., :3, :3] = rot
    size = max(float(np.ptp(rig.heads, axis=0).max()), 1e-9)
    result = RigAnimation.from_world(rig, rigid, fps, tolerance=1e-6 * size)
    result = replace(result, rotations=continuous_quat(result.rotations))
    scaled = float(np.abs(stretch - np.eye(3)).max())
    if scaled > 1e-4:
        log.warning("%s: animation %r scales joints (by up to %.3g); a RigAnimation holds no scale, dropped",
                    doc.path.name, names[animation], scaled)
    return result


def _sample(times: np.ndarray, values: np.ndarray, at: np.ndarray, interp: str, *, rotation: bool,
            where: str) -> np.ndarray:
    """One channel ``values`` keyed at ``times`` sampled at ``at``: ``(len(at), C)``."""
    cubic = interp == "CUBICSPLINE"
    n = len(times)
    if n == 0 or len(values) != (3 * n if cubic else n) or np.any(np.diff(times) <= 0):
        raise Pose2RigError(f"{where}: a sampler has {n} strictly increasing times for {len(values)} values")
    if cubic:
        tangent_in, v, tangent_out = values[0::3], values[1::3], values[2::3]
    else:
        v = values
    if n == 1 or interp == "STEP":
        k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, n - 1)
        out = v[k].copy()
    else:
        k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, n - 2)
        dt = times[k + 1] - times[k]
        u = np.clip((at - times[k]) / dt, 0.0, 1.0)[:, None]
        if cubic:
            u2, u3 = u * u, u * u * u
            out = ((2 * u3 - 3 * u2 + 1) * v[k] + (u3 - 2 * u2 + u) * dt[:, None] * tangent_out[k]
                   + (-2 * u3 + 3 * u2) * v[k + 1] + (u3 - u2) * dt[:, None] * tangent_in[k + 1])
        elif rotation:
            q = v / np.linalg.norm(v, axis=1, keepdims=True)
            a, b = q[k], q[k + 1]
            out = slerp(a, np.where(np.sum(a * b, axis=1, keepdims=True) < 0, -b, b), u[:, 0])  # shorter arc
        else:
            out = (1 - u) * v[k] + u * v[k + 1]
    if rotation:
        out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out


# ----------------------------------------------------------------------------------------------
# writing


class _Packer:
    """Builds the one binary buffer, its bufferViews and accessors."""

    def __init__(self, gltf: pygltflib.GLTF2) -> None:
        self.gltf = gltf
        self.blob = bytearray()

    def add(self, data: np.ndarray, kind: str, component: int, *, target: int | None = None,
            bounds: bool = False, normalized: bool = False) -> int:
        arr = np.ascontiguousarray(data, dtype=_DTYPES[component])
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        view = pygltflib.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=arr.nbytes, target=target)
        self.blob.extend(arr.tobytes())
        self.gltf.bufferViews.append(view)
        flat = arr.reshape(len(arr), -1)
        acc = pygltflib.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1,
            componentType=component,
            count=len(arr),
            type=kind,
            normalized=True if normalized else None,
        )
        if bounds:
            py = float if arr.dtype.kind == "f" else int
            acc.min = [py(x) for x in flat.min(axis=0)]
            acc.max = [py(x) for x in flat.max(axis=0)]
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def write_glb(animation: RigAnimation, path: str | os.PathLike[str], *, include_mesh: bool = True,
              name: str = "pose2rig", from_source: bool = True, keep_animations: bool = True,
              pose_scene: bool = False) -> Path:
    """Write ``animation`` on its character as a self-contained GLB, atomically.

    A rig read from a glTF file (``animation.rig.source``, as :func:`load_gltf_rig` sets it) is
    written as that file's document with the animation added and nothing else rebuilt: every
    node, mesh, material, texture, morph target and skin as the file has them, its own
    animations after the new one (an animation of the same ``name`` is replaced), external
    buffers and images embedded. The joint nodes get LINEAR rotation channels, and translation
    or scale channels where the motion moves them from the file's values, keyed once per frame
    at ``frame / fps`` seconds, that put each joint where the animation has its bone:
    ``G_j = W_j @ [K_j | 0]`` (``W_j`` the bone's world matrix, ``K_j`` the scale of its bind
    matrix), so :func:`read_glb_animation` reads the same animation back. When the file no
    longer holds the rig (other bones or another rest pose), a warning says so and the file is
    built from the rig instead.

    Any other rig (MPFB2, built in memory), ``include_mesh=False`` or ``from_source=False``: the
    file is built from the rig (see the module's Convention): its bones, and its mesh skinned
    with the 8 largest influences per vertex (:data:`MAX_INFLUENCES`), without materials.

    Args:
        animation: the animation and, through its rig, the character.
        path: the ``.glb`` to write; an existing file is replaced only once the new one is whole.
        include_mesh: write the rig's mesh; without it the file holds the armature and the
            animation only (always built from the rig).
        name: the animation's name in the file.
        from_source: animate the rig's source glTF document when it has one.
        keep_animations: keep the source document's own animations (after the new one).
        pose_scene: also set the source document's joint nodes to the first frame (the scene as
            it stands without animation): with the rest pose, a file whose scene is posed away
            from its bind pose gets its scene in the bind pose, which is what Blender's glTF
            importer needs to place meshes parented to joints where the spec has them.

    Returns:
        ``path``.
    """
    data = None
    if from_source and include_mesh and _is_gltf(animation.rig.source):
        data = _animated_source(animation, name=name, keep_animations=keep_animations, pose_scene=pose_scene)
    if data is None:
        data = _glb_bytes(animation, include_mesh=include_mesh, name=name)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    log.debug("wrote %s: %d bones, %d frames", path, animation.rig.num_bones, animation.num_frames)
    return Path(path)


# ----------------------------------------------------------------------------------------------
# writing: the character's own document, animated


_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".ktx2": "image/ktx2"}


def _is_gltf(source: Path | None) -> bool:
    return source is not None and Path(source).suffix.lower() in (".glb", ".gltf")


def _fit(file_rig: Rig, rig: Rig) -> tuple[str | None, list[int], list[int]]:
    """How ``rig`` sits on the rig of its file: (why it does not, or None; the rig's bone of each
    file bone; the rig's bones that the file lacks). The rig may add root bones above the
    file's (a root for root motion) and its roots may stand elsewhere (a rig moved onto the
    floor); every other bone must sit on its parent as in the file."""
    index = {n: i for i, n in enumerate(rig.bone_names)}
    lacking = [n for n in file_rig.bone_names if n not in index]
    if lacking:
        return f"the rig being animated has no bone {lacking[0]!r} of the file's skin", [], []
    order = [index[n] for n in file_rig.bone_names]
    taken = set(order)
    added = [j for j in range(rig.num_bones) if j not in taken]
    for j in added:
        if rig.parents[j] >= 0 and rig.parents[j] not in added:
            return f"the rig's bone {rig.bone_names[j]!r} is not in the file and hangs below its bones", [], []
    for k, j in enumerate(order):
        fp, rp = file_rig.parents[k], rig.parents[j]
        if not (rp == order[fp] if fp >= 0 else (rp < 0 or rp in added)):
            return f"bone {file_rig.bone_names[k]!r} has another parent in the file", [], []
    a, b = file_rig.rest_local, rig.rest_local[order]
    size = max(float(np.ptp(file_rig.heads, axis=0).max()), 1e-9)
    kids = [k for k, p in enumerate(file_rig.parents) if p >= 0]
    if not (np.allclose(a[kids, :3, :3], b[kids, :3, :3], atol=1e-5)
            and np.allclose(a[kids, :3, 3], b[kids, :3, 3], atol=1e-5 * size)):
        return "the file's rest pose is not the rig's", [], []
    return None, order, added


def _animated_source(animation: RigAnimation, *, name: str, keep_animations: bool,
                     pose_scene: bool = False) -> bytes | None:
    """The GLB of ``animation.rig.source`` with ``animation`` added (see :func:`write_glb`), or
    None when that file no longer holds the rig."""
    if animation.rig.source is None:
        return None
    source = Path(animation.rig.source)
    doc, file_rig, binding = _load(source)
    rig = animation.rig
    why, order, added = _fit(file_rig, rig)
    if why is not None:
        log.warning("%s: %s; the GLB is built from the rig instead (the file's materials and other "
                    "meshes are not kept)", source.name, why)
        return None
    raw = json.loads(json.dumps(doc.raw))  # a deep copy of the file's JSON
    blob = _one_buffer(doc, raw)

    def add(data: np.ndarray, kind: str, *, bounds: bool = False) -> int:
        arr = np.ascontiguousarray(data, dtype=np.float32)
        blob.extend(b"\0" * (-len(blob) % 4))
        raw.setdefault("bufferViews", []).append({"buffer": 0, "byteOffset": len(blob), "byteLength": arr.nbytes})
        blob.extend(arr.tobytes())
        acc = {"bufferView": len(raw["bufferViews"]) - 1, "componentType": 5126, "count": len(arr), "type": kind}
        if bounds:
            flat = arr.reshape(len(arr), -1)
            acc["min"] = [float(x) for x in flat.min(axis=0)]
            acc["max"] = [float(x) for x in flat.max(axis=0)]
        raw.setdefault("accessors", []).append(acc)
        return len(raw["accessors"]) - 1

    # every joint node's world matrix in every frame: W_j @ [K_j | 0]
    world = animation.world_matrices()
    k4 = np.zeros((len(order), 4, 4))
    k4[:, :3, :3] = binding.scale
    k4[:, 3, 3] = 1.0
    joints = [int(n) for n in binding.joints]
    targets = {joints[k]: world[:, j] @ k4[k] for k, j in enumerate(order)}
    parent = {i: int(p) for i, p in enumerate(doc.parent)}
    new_nodes = _add_root_joints(doc, raw, rig, file_rig, order, added, joints, k4, world, targets, parent, add)
    tracks = _joint_tracks(doc, targets, parent, animation.num_frames)

    frames = animation.num_frames
    times = add(np.arange(frames, dtype=np.float64)[:, None] / animation.fps, "SCALAR", bounds=True)
    anim: dict = {"name": name, "channels": [], "samplers": []}

    def channel(node: int, path: str, values: np.ndarray, kind: str) -> None:
        anim["samplers"].append({"input": times, "output": add(values, kind), "interpolation": "LINEAR"})
        anim["channels"].append({"sampler": len(anim["samplers"]) - 1, "target": {"node": node, "path": path}})

    for node, (t, r, s) in tracks.items():
        entry = raw["nodes"][node]
        t0, r0, s0 = (t[0], r[0], s[0]) if pose_scene else new_nodes.get(node) or doc.trs(node)
        if "matrix" in entry or pose_scene or node in new_nodes:  # animated nodes carry TRS (the spec)
            entry.pop("matrix", None)
            entry.update(translation=[float(x) for x in t0], rotation=[float(x) for x in r0],
                         scale=[float(x) for x in s0])
        channel(node, "rotation", r, "VEC4")
        if np.abs(t - t0).max() > 1e-6 * max(float(np.abs(t0).max()), float(np.abs(t).max()), 1e-9):
            channel(node, "translation", t, "VEC3")
        if np.abs(s - s0).max() > 1e-6 * float(np.abs(s0).max()):
            channel(node, "scale", s, "VEC3")
    kept = [a for a in raw.get("animations", ()) if a.get("name") != name] if keep_animations else []
    raw["animations"] = [anim, *kept]
    first = dict(raw["buffers"][0]) if raw.get("buffers") else {}
    first.pop("uri", None)
    first["byteLength"] = len(blob)
    raw["buffers"] = [first]
    return _glb_container(raw, bytes(blob))


def _add_root_joints(doc: _Document, raw: dict, rig: Rig, file_rig: Rig, order: list[int], added: list[int],
                     joints: list[int], k4: np.ndarray, world: np.ndarray, targets: dict[int, np.ndarray],
                     parent: dict[int, int], add: Any) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Nodes for the rig's bones that the file lacks (new roots above its joints, as root motion
    on the floor adds): each goes between the file's root joints below it and their parent
    node, joins every skin that has those joints (with an inverse bind matrix that places it as
    the rig's rest pose does, relative to them) and gets its target world matrix. ``raw``,
    ``targets`` and ``parent`` are updated; returns new node -> its rest translation, rotation
    (xyzw) and scale in its parent."""
    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    node_of: dict[int, int] = {}
    bind_of: dict[int, np.ndarray] = {}
    scene_world = doc.scene_world()
    for e in added:
        n = len(raw["nodes"])
        node_of[e] = n
        kids = [k for k, p in enumerate(file_rig.parents) if p < 0 and rig.parents[order[k]] == e]
        kid_nodes = [joints[k] for k in kids]
        scale = k4[kids[0]] if kids else np.eye(4)  # the scale of the joints below it
        bind_of[e] = rig.rest[e] @ scale
        if rig.parents[e] >= 0:
            above = node_of[rig.parents[e]]
            frame = bind_of[rig.parents[e]]
        else:
            tops = {parent[c] for c in kid_nodes}
            above = tops.pop() if len(tops) == 1 else -1
            frame = scene_world[above] if above >= 0 else np.eye(4)
        parent[n] = above
        for c in kid_nodes:
            parent[c] = n
        t, r, s, _ = _decompose(np.linalg.solve(frame, bind_of[e])[None])
        out[n] = (t[0], r[0], s[0])
        targets[n] = world[:, e] @ scale
        raw["nodes"].append({"name": rig.bone_names[e], "children": kid_nodes})
        if above >= 0:
            entry = raw["nodes"][above]
            entry["children"] = [c for c in entry.get("children", ()) if c not in kid_nodes] + [n]
        else:
            for scene in raw.get("scenes", ()):
                if any(c in scene.get("nodes", ()) for c in kid_nodes):
                    scene["nodes"] = [c for c in scene["nodes"] if c not in kid_nodes] + [n]
        for index, skin in enumerate(raw.get("skins", ())):
            listed = list(skin.get("joints", ()))
            below = [c for c in kid_nodes if c in listed]
            if not below:
                continue
            count = len(listed)
            if "inverseBindMatrices" in skin:
                ibm = doc.accessor(skin["inverseBindMatrices"], f"skin {index}'s inverseBindMatrices")
                ibm = ibm.reshape(count, 4, 4).transpose(0, 2, 1)
            else:
                ibm = np.broadcast_to(np.eye(4), (count, 4, 4))
            k = kids[kid_nodes.index(below[0])]
            # this skin's bind space: where the joint below sits in it, and the new one relative to that
            mine = np.linalg.inv(np.linalg.inv(ibm[listed.index(below[0])])
                                 @ np.linalg.solve(file_rig.rest[k] @ k4[k], bind_of[e]))
            mine[3] = (0.0, 0.0, 0.0, 1.0)
            skin["joints"] = [*listed, n]
            column_major = np.concatenate([ibm, mine[None]]).transpose(0, 2, 1).reshape(-1, 16)
            skin["inverseBindMatrices"] = add(column_major, "MAT4")
            if skin.get("skeleton") in below:
                skin["skeleton"] = n
    return out


def _joint_tracks(doc: _Document, targets: dict[int, np.ndarray], parent: dict[int, int],
                  frames: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Joint node -> its local translation ``(T, 3)``, rotation ``(T, 4)`` xyzw and scale
    ``(T, 3)`` in every frame, such that the node's world matrix is its target ``(T, 4, 4)``
    (``W_j @ [K_j | 0]``: the inverse of :func:`read_glb_animation`'s step). ``parent`` maps
    every node, new ones included, to its parent (-1: a scene root). Nodes between joints
    keep their own transforms (they are not animated)."""
    above: set[int] = set()
    for node in targets:
        p = parent[node]
        while p >= 0 and p not in above:
            above.add(p)
            p = parent[p]

    def depth(i: int) -> int:
        return 0 if parent[i] < 0 else 1 + depth(parent[i])

    # world matrices of the joints and the nodes above them: a joint is placed at its target (a
    # root of the FK graph), a node between joints follows its parent with its own transform
    nodes = sorted(set(targets) | above, key=depth)
    slot = {node: k for k, node in enumerate(nodes)}
    graph = [-1 if node in targets or parent[node] < 0 else slot[parent[node]] for node in nodes]
    local = np.empty((frames, len(nodes), 4, 4))
    for k, node in enumerate(nodes):
        local[:, k] = targets[node] if node in targets else doc.local(node)
    world = forward_kinematics(local, graph)
    out = {}
    worst = 0.0
    for node in nodes:
        if node in targets:
            p = parent[node]
            m = targets[node] if p < 0 else np.linalg.solve(world[:, slot[p]], targets[node])
            t, r, s, err = _decompose(m)
            worst = max(worst, err / max(float(np.abs(s).max()), 1e-12))
            out[node] = (t, r, s)
    if worst > 1e-4:
        log.warning("%s: a joint's scale shears under the animation; its rotation is approximated (%.2g)",
                    doc.path.name, worst)
    return out


def _one_buffer(doc: _Document, raw: dict) -> bytearray:
    """Every buffer of the file in one (a GLB holds one binary chunk), and images that the file
    refers to by a relative path embedded in it; ``raw``'s bufferViews and images follow."""
    blob = bytearray()
    base = []
    for i, data in enumerate(doc.buffers):
        blob.extend(b"\0" * (-len(blob) % 8))
        base.append(len(blob))
        blob.extend(data[: int(raw["buffers"][i].get("byteLength", len(data)))])
    for view in raw.get("bufferViews", ()):
        if base[view["buffer"]]:
            view["byteOffset"] = int(view.get("byteOffset", 0)) + base[view["buffer"]]
        view["buffer"] = 0
    for k, image in enumerate(raw.get("images", ())):
        uri = image.get("uri")
        if uri is None or uri.startswith("data:"):
            continue
        path = doc.path.parent / urllib.parse.unquote(uri)
        mime = image.get("mimeType") or _IMAGE_TYPES.get(path.suffix.lower())
        if not path.is_file() or mime is None:
            log.warning("%s: image %d (%s) is %s; the GLB refers to it by its path", doc.path.name, k, uri,
                        "missing" if not path.is_file() else "of an unknown type")
            continue
        blob.extend(b"\0" * (-len(blob) % 4))
        raw.setdefault("bufferViews", []).append(
            {"buffer": 0, "byteOffset": len(blob), "byteLength": path.stat().st_size})
        blob.extend(path.read_bytes())
        del image["uri"]
        image.update(bufferView=len(raw["bufferViews"]) - 1, mimeType=mime)
    return blob


def _decompose(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(T, 4, 4)`` -> translations ``(T, 3)``, sign-continuous xyzw rotations ``(T, 4)``, scales
    ``(T, 3)`` with ``m ~ T @ R @ S``, and the largest entry of what ``T R S`` leaves of ``m``."""
    a = m[:, :3, :3]
    s = np.linalg.norm(a, axis=1)  # column lengths
    s[np.linalg.det(a) < 0, 0] *= -1.0
    r = polar(a / np.where(s == 0, 1.0, s)[:, None, :])[0]
    err = float(np.abs(r * s[:, None, :] - a).max())
    return m[:, :3, 3].copy(), _xyzw(continuous_quat(matrix_to_quat(r))), s, err


def _glb_container(document: dict, blob: bytes) -> bytes:
    """A GLB file: the JSON chunk (space-padded) and the binary chunk (zero-padded)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), _CHUNK_JSON) + text
    if blob:
        blob += b"\0" * (-len(blob) % 4)
        body += struct.pack("<II", len(blob), _CHUNK_BIN) + blob
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(body)) + body


def _glb_bytes(animation: RigAnimation, *, include_mesh: bool, name: str) -> bytes:
    rig = animation.rig
    local = rig.rest_local
    q_local = matrix_to_quat(local[:, :3, :3])  # (J, 4) wxyz
    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(version="2.0", generator=f"pose2rig {__version__}"))
    pack = _Packer(gltf)
    roots = [j for j, p in enumerate(rig.parents) if p < 0]
    for j, bone in enumerate(rig.bone_names):
        gltf.nodes.append(pygltflib.Node(
            name=bone,
            translation=[float(x) for x in local[j, :3, 3]],
            rotation=[float(x) for x in _xyzw(q_local[j])],
            children=list(rig.children(j)) or None,
        ))
    ibm = np.linalg.inv(rig.rest).transpose(0, 2, 1).reshape(-1, 16)  # column-major
    ibm[:, [3, 7, 11]] = 0.0  # exact affine bottom row (the validator checks it)
    ibm[:, 15] = 1.0
    gltf.skins.append(pygltflib.Skin(
        name=rig.name,
        joints=list(range(rig.num_bones)),
        inverseBindMatrices=pack.add(ibm, "MAT4", 5126),
        skeleton=roots[0] if len(roots) == 1 else None,
    ))
    scene_nodes = list(roots)
    mesh = rig.mesh
    if include_mesh and mesh is not None and len(mesh.faces):
        gltf.meshes.append(_mesh(pack, mesh, rig.num_bones))
        gltf.nodes.append(pygltflib.Node(name=mesh.name, mesh=0, skin=0))
        scene_nodes.append(len(gltf.nodes) - 1)
    gltf.scenes.append(pygltflib.Scene(name=rig.name, nodes=scene_nodes))
    gltf.scene = 0

    frames = animation.num_frames
    times = pack.add(np.arange(frames, dtype=np.float64)[:, None] / animation.fps, "SCALAR", 5126, bounds=True)
    basis = quat_to_matrix(animation.rotations)  # (T, J, 3, 3)
    q = continuous_quat(matrix_to_quat(local[None, :, :3, :3] @ basis))  # (T, J, 4) local rotations, wxyz
    anim = pygltflib.Animation(name=name)
    for j in range(rig.num_bones):
        out = pack.add(_xyzw(q[:, j]), "VEC4", 5126)
        anim.samplers.append(pygltflib.AnimationSampler(input=times, output=out, interpolation="LINEAR"))
        anim.channels.append(pygltflib.AnimationChannel(
            sampler=len(anim.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=j, path="rotation")))
    for r, j in enumerate(roots):
        out = pack.add(animation.root_positions[:, r], "VEC3", 5126)
        anim.samplers.append(pygltflib.AnimationSampler(input=times, output=out, interpolation="LINEAR"))
        anim.channels.append(pygltflib.AnimationChannel(
            sampler=len(anim.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=j, path="translation")))
    for j in animation.moved_bones:  # non-root bones that move (a root on the floor, IK controls)
        assert animation.locations is not None  # bones move only by locations
        t = local[j, :3, 3] + animation.locations[:, j] @ local[j, :3, :3].T
        out = pack.add(t, "VEC3", 5126)
        anim.samplers.append(pygltflib.AnimationSampler(input=times, output=out, interpolation="LINEAR"))
        anim.channels.append(pygltflib.AnimationChannel(
            sampler=len(anim.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=j, path="translation")))
    gltf.animations.append(anim)

    pack.blob.extend(b"\0" * (-len(pack.blob) % 4))
    gltf.buffers.append(pygltflib.Buffer(byteLength=len(pack.blob)))
    gltf.set_binary_blob(bytes(pack.blob))
    return b"".join(gltf.save_to_bytes())


def _mesh(pack: _Packer, mesh: SkinnedMesh, num_bones: int) -> pygltflib.Mesh:
    v = mesh.vertices.astype(np.float32)
    f = mesh.faces.astype(np.int64)
    joints, weights = _top_influences(mesh.joints, mesh.weights)
    attrs = pygltflib.Attributes(
        POSITION=pack.add(v, "VEC3", 5126, target=_ARRAY_BUFFER, bounds=True),
        NORMAL=pack.add(_vertex_normals(v, f), "VEC3", 5126, target=_ARRAY_BUFFER),
    )
    for n in range(joints.shape[1] // 4):  # JOINTS_0/WEIGHTS_0, and JOINTS_1/WEIGHTS_1 past 4 influences
        setattr(attrs, f"JOINTS_{n}", pack.add(np.ascontiguousarray(joints[:, 4 * n: 4 * n + 4]), "VEC4",
                                               5121 if num_bones <= 256 else 5123, target=_ARRAY_BUFFER))
        setattr(attrs, f"WEIGHTS_{n}", pack.add(np.ascontiguousarray(weights[:, 4 * n: 4 * n + 4]), "VEC4", 5126,
                                                target=_ARRAY_BUFFER))
    if num_bones > 65536:
        raise Pose2RigError(f"glTF joints are at most 16-bit: {num_bones} bones is too many")
    index_type = 5123 if len(v) < 65535 else 5125  # 65535 is the primitive restart value
    indices = pack.add(f.reshape(-1, 1), "SCALAR", index_type, target=_ELEMENT_ARRAY_BUFFER, bounds=True)
    primitive = pygltflib.Primitive(attributes=attrs, indices=indices, mode=_TRIANGLES)
    return pygltflib.Mesh(name=mesh.name, primitives=[primitive])


MAX_INFLUENCES = 8
"""Influences per vertex a written file keeps at most (two ``JOINTS_n``/``WEIGHTS_n`` sets: glTF
requires loaders to read one set and allows more; Blender's importer reads them all)."""


def _top_influences(joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest influences per vertex, ``(V, 4n)`` joints and renormalised float32 weights:
    ``n`` = 1 where no vertex has more than 4 non-zero influences, else as many sets of 4 as the
    most influenced vertex needs, up to :data:`MAX_INFLUENCES`.

    A bone listed twice on one vertex counts once with the summed weight; unused slots get joint 0
    and weight 0."""
    j = joints.astype(np.int64).copy()
    w = weights.astype(np.float64).copy()
    k = j.shape[1]
    for a in range(k):
        for b in range(a + 1, k):
            dup = (j[:, a] == j[:, b]) & (w[:, b] > 0)
            w[dup, a] += w[dup, b]
            w[dup, b] = 0.0
    used = int((w > 0).sum(axis=1).max()) if len(w) else 0
    slots = 4 * min(max(-(-used // 4), 1), MAX_INFLUENCES // 4)
    if k < slots:
        j = np.pad(j, ((0, 0), (0, slots - k)))
        w = np.pad(w, ((0, 0), (0, slots - k)))
    order = np.argsort(-w, axis=1, kind="stable")[:, :slots]
    j = np.take_along_axis(j, order, axis=1)
    w = np.take_along_axis(w, order, axis=1)
    w /= w.sum(axis=1, keepdims=True)
    j[w <= 0] = 0
    return j, w.astype(np.float32)


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``(V, 3)`` float32 unit normals: area-weighted face normals; +Y where a vertex has none.

    Area weighting is what three.js's ``computeVertexNormals`` gives; trimesh's ``vertex_normals``
    weights by corner angle (as Blender does), 2x slower here and a ``[preview]`` extra that the
    core install, which writes GLBs, lacks: so numpy, not trimesh."""
    p = v.astype(np.float64)
    face = np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]])
    n = np.zeros_like(p)
    for c in range(3):
        np.add.at(n, f[:, c], face)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-20, n / np.where(length > 0, length, 1.0), np.array([0.0, 1.0, 0.0]))
    return n.astype(np.float32)
