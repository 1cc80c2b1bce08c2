"""A target character: bone hierarchy, rest pose and (optionally) a skinned mesh; and its animation.

Every loader (MPFB2 JSON, glTF, FBX/.blend through bpy) returns a :class:`Rig`; every exporter
takes a :class:`RigAnimation`. Retargeting and skinning work on these two types only.

Convention:
    - World frame as everywhere in pose2rig: right-handed, Y up, metres; a character facing +Z
      in its rest pose is usual but not required (retargeting works in world deltas).
    - ``rest[j]`` is bone ``j``'s rest (bind) matrix in the world: a rotation (the bone's own axes,
      for Blender bones y along head -> tail with the roll about it) and a translation (the
      bone's head). Rolls and axis conventions are whatever the file says; retargeting never
      depends on them.
    - An animation stores, per frame and bone, the rotation relative to the rest pose in the
      bone's own axes (Blender's pose-bone ``rotation_quaternion``, ``(w, x, y, z)``), for the
      root bones the head's world position, and optionally for other bones a translation away
      from the rest head in the bone's own rest axes (Blender's pose-bone ``location``; used by
      a root bone on the floor and by IK controls that follow a limb). Bone ``j``'s world matrix
      is then ``W_j = W_parent @ (rest_parent^-1 @ rest_j) @ [B_j | t_j]`` (roots: ``rest_j``
      with its translation replaced, ``t_j = 0``), and a mesh follows by linear blend skinning
      with ``W_j @ rest_j^-1`` (:mod:`pose2rig.retarget.lbs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import matrix_to_quat, quat_to_matrix

__all__ = ["Rig", "RigAnimation", "SkinnedMesh", "forward_kinematics"]


def forward_kinematics(local: np.ndarray, parents: Sequence[int] | np.ndarray) -> np.ndarray:
    """World transforms of a joint hierarchy from its local ones, over all frames at once.

    ``W_j = W_parent(j) @ L_j``, and ``W_j = L_j`` for a root: one pass over the joints, parents
    first, each step one batched matrix product over every leading axis. The one forward
    kinematics of pose2rig: rigs, BVH, glTF node trees and retargeting all call it.

    Args:
        local: ``(..., J, D, D)`` each joint's transform in its parent's frame (a root's: in the
            world); ``D = 4`` homogeneous matrices, or ``D = 3`` rotations alone. Leading axes
            (frames, batches) are carried through.
        parents: ``(J,)`` each joint's parent index, ``-1`` for roots. Any order that makes a
            forest (parents need not precede their children; glTF nodes often do not).

    Returns:
        ``(..., J, D, D)`` world transforms, float (``local``'s float dtype; float64 for other
        dtypes).

    Raises:
        Pose2RigError: ``local`` is not ``(..., J, D, D)``, or ``parents`` has another length,
            an index out of range, a joint its own parent, or a cycle.
    """
    m = np.asarray(local)
    if not np.issubdtype(m.dtype, np.floating):
        m = m.astype(np.float64)
    par = [int(p) for p in np.asarray(parents, dtype=np.int64).reshape(-1)]
    if m.ndim < 3 or m.shape[-1] != m.shape[-2] or m.shape[-3] != len(par):
        raise Pose2RigError(
            f"forward kinematics: local transforms must be (..., J={len(par)}, D, D), got {m.shape}"
        )
    out = np.empty_like(m)
    for j in _parents_first(par):  # (a joint-major copy, or matmul's out=, measured slower)
        p = par[j]
        if p < 0:
            out[..., j, :, :] = m[..., j, :, :]
        else:
            out[..., j, :, :] = out[..., p, :, :] @ m[..., j, :, :]
    return out


def _parents_first(parents: list[int]) -> list[int]:
    """Joint indices with every parent before its children; ``parents`` validated."""
    n = len(parents)
    for j, p in enumerate(parents):
        if not -1 <= p < n or p == j:
            raise Pose2RigError(
                f"forward kinematics: joint {j} has parent {p}; parents must be -1 or another of the {n} joints"
            )
    if all(p < j for j, p in enumerate(parents)):
        return list(range(n))
    depth = [-1] * n
    for i in range(n):
        chain: list[int] = []
        j = i
        while j >= 0 and depth[j] < 0:
            chain.append(j)
            j = parents[j]
            if len(chain) > n:
                raise Pose2RigError(f"forward kinematics: the parents {tuple(parents)} have a cycle through joint {i}")
        base = depth[j] if j >= 0 else -1
        for k, joint in enumerate(reversed(chain)):
            depth[joint] = base + 1 + k
    return sorted(range(n), key=depth.__getitem__)


@dataclass(frozen=True)
class SkinnedMesh:
    """A triangle mesh bound to a rig's bones.

    Attributes:
        vertices: ``(V, 3)`` float32, world rest positions (metres, Y up).
        faces: ``(F, 3)`` int32 vertex indices.
        joints: ``(V, K)`` int32 bone indices into the rig's bones.
        weights: ``(V, K)`` float32, each row summing to 1 (unused slots weight 0).
        name: the mesh object's name in its file.
    """

    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    name: str = "body"

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=np.float32)
        f = np.asarray(self.faces, dtype=np.int32)
        j = np.asarray(self.joints, dtype=np.int32)
        w = np.asarray(self.weights, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != 3 or not np.all(np.isfinite(v)):
            raise Pose2RigError(f"mesh {self.name!r}: vertices must be finite (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
            raise Pose2RigError(f"mesh {self.name!r}: faces must be (F, 3) indices below {len(v)}")
        if j.shape != w.shape or j.ndim != 2 or len(j) != len(v):
            raise Pose2RigError(
                f"mesh {self.name!r}: joints {j.shape} and weights {w.shape} must both be (V={len(v)}, K)"
            )
        total = w.sum(axis=1)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(np.abs(total - 1.0) > 1e-3):
            raise Pose2RigError(f"mesh {self.name!r}: skin weights must be >= 0 and sum to 1 per vertex")
        for name, value in (("vertices", v), ("faces", f), ("joints", j), ("weights", w)):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Rig:
    """A bone hierarchy with its rest pose, and optionally the mesh skinned to it.

    Attributes:
        name: a label (usually the file's stem).
        bone_names: one unique name per bone.
        parents: each bone's parent index, ``-1`` for roots; parents precede children.
        rest: ``(J, 4, 4)`` float64 rest (bind) matrices in the world (see the module docstring).
        tails: ``(J, 3)`` float64 bone tails (Blender bones) in the world, or None when the file
            has joints only (glTF, FBX from other tools).
        mesh: the skinned mesh, or None for a bare armature.
        source: the file it came from, if any.
    """

    name: str
    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest: np.ndarray
    tails: np.ndarray | None = None
    mesh: SkinnedMesh | None = None
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        n = len(self.bone_names)
        if n == 0:
            raise Pose2RigError(f"rig {self.name!r} has no bones")
        if len(set(self.bone_names)) != n:
            dup = sorted({b for b in self.bone_names if self.bone_names.count(b) > 1})
            raise Pose2RigError(f"rig {self.name!r}: bone names are not unique ({', '.join(dup)})")
        if len(self.parents) != n:
            raise Pose2RigError(f"rig {self.name!r}: {n} bones but {len(self.parents)} parents")
        for i, p in enumerate(self.parents):
            if not -1 <= p < i:
                raise Pose2RigError(
                    f"rig {self.name!r}: parent of bone {self.bone_names[i]!r} is {p}; parents must "
                    "precede their children"
                )
        rest = np.asarray(self.rest, dtype=np.float64)
        if rest.shape != (n, 4, 4) or not np.all(np.isfinite(rest)):
            raise Pose2RigError(f"rig {self.name!r}: rest must be finite ({n}, 4, 4), got {rest.shape}")
        r = rest[:, :3, :3]
        if not np.allclose(r @ np.swapaxes(r, 1, 2), np.eye(3), atol=1e-4) or np.any(np.linalg.det(r) < 0):
            raise Pose2RigError(f"rig {self.name!r}: rest matrices must be rotations plus a translation")
        object.__setattr__(self, "rest", rest)
        object.__setattr__(self, "bone_names", tuple(str(b) for b in self.bone_names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        if self.tails is not None:
            tails = np.asarray(self.tails, dtype=np.float64)
            if tails.shape != (n, 3):
                raise Pose2RigError(f"rig {self.name!r}: tails must be ({n}, 3), got {tails.shape}")
            object.__setattr__(self, "tails", tails)
        if self.mesh is not None and self.mesh.joints.size and self.mesh.joints.max() >= n:
            raise Pose2RigError(f"rig {self.name!r}: the mesh is weighted to bone {self.mesh.joints.max()} of {n}")

    @property
    def num_bones(self) -> int:
        return len(self.bone_names)

    @property
    def heads(self) -> np.ndarray:
        """``(J, 3)`` rest head positions."""
        return self.rest[:, :3, 3]

    def index(self, name: str) -> int:
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise Pose2RigError(f"rig {self.name!r} has no bone {name!r}") from None

    def children(self, bone: int) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(self.parents) if p == bone)

    @property
    def rest_local(self) -> np.ndarray:
        """``(J, 4, 4)`` each bone's rest matrix in its parent's frame (roots: in the world)."""
        out = self.rest.copy()
        for j, p in enumerate(self.parents):
            if p >= 0:
                out[j] = np.linalg.inv(self.rest[p]) @ self.rest[j]
        return out

    def with_mesh(self, mesh: SkinnedMesh | None) -> Rig:
        return replace(self, mesh=mesh)


@dataclass(frozen=True)
class RigAnimation:
    """Per-frame pose of a :class:`Rig`.

    Attributes:
        rig: the character.
        rotations: ``(T, J, 4)`` float64 unit quaternions ``(w, x, y, z)``, each bone's rotation
            relative to its rest pose in its own axes (identity = rest).
        root_positions: ``(T, R, 3)`` float64 world positions of the heads of the rig's root bones
            (``R`` = number of bones with parent -1, in bone order).
        fps: frames per second.
        locations: ``(T, J, 3)`` float64 translations of the non-root bones away from their rest
            heads, in each bone's own rest axes (Blender's pose-bone ``location``), or None when
            no bone but the roots moves (the usual case). Root bones' rows are 0: their
            ``root_positions`` place them.
    """

    rig: Rig
    rotations: np.ndarray
    root_positions: np.ndarray
    fps: float
    locations: np.ndarray | None = None

    def __post_init__(self) -> None:
        q = np.asarray(self.rotations, dtype=np.float64)
        n = self.rig.num_bones
        if q.ndim != 3 or q.shape[1:] != (n, 4):
            raise Pose2RigError(f"animation of {self.rig.name!r}: rotations must be (T, {n}, 4), got {q.shape}")
        roots = sum(p < 0 for p in self.rig.parents)
        t = np.asarray(self.root_positions, dtype=np.float64)
        if t.shape != (q.shape[0], roots, 3):
            raise Pose2RigError(
                f"animation of {self.rig.name!r}: root_positions must be ({q.shape[0]}, {roots}, 3), got {t.shape}"
            )
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(t))):
            raise Pose2RigError(f"animation of {self.rig.name!r} has NaN or infinite values")
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
        if np.any(np.abs(norm - 1.0) > 1e-3):
            raise Pose2RigError(f"animation of {self.rig.name!r}: rotations are not unit quaternions")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise Pose2RigError(f"animation of {self.rig.name!r}: fps must be positive, got {self.fps}")
        object.__setattr__(self, "rotations", q / norm)
        object.__setattr__(self, "root_positions", t)
        object.__setattr__(self, "fps", float(self.fps))
        if self.locations is not None:
            loc = np.asarray(self.locations, dtype=np.float64)
            if loc.shape != q.shape[:2] + (3,) or not np.all(np.isfinite(loc)):
                raise Pose2RigError(
                    f"animation of {self.rig.name!r}: locations must be finite ({q.shape[0]}, {n}, 3), got {loc.shape}"
                )
            roots_at = [j for j, p in enumerate(self.rig.parents) if p < 0]
            if np.any(loc[:, roots_at] != 0.0):
                raise Pose2RigError(
                    f"animation of {self.rig.name!r}: root bones move by root_positions; their locations must be 0"
                )
            object.__setattr__(self, "locations", loc)

    @property
    def moved_bones(self) -> tuple[int, ...]:
        """Non-root bones with a non-zero location in some frame (their files need translation
        keys), in bone order."""
        if self.locations is None:
            return ()
        return tuple(int(j) for j in np.flatnonzero(np.any(self.locations != 0.0, axis=(0, 2))))

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @classmethod
    def rest_pose(cls, rig: Rig, frames: int = 1, fps: float = 30.0) -> RigAnimation:
        """Every frame at rest."""
        q = np.zeros((frames, rig.num_bones, 4))
        q[..., 0] = 1.0
        roots = [j for j, p in enumerate(rig.parents) if p < 0]
        return cls(rig, q, np.repeat(rig.heads[roots][None], frames, axis=0), fps)

    @classmethod
    def from_world(cls, rig: Rig, world: np.ndarray, fps: float, *, tolerance: float = 1e-9) -> RigAnimation:
        """The animation whose :meth:`world_matrices` are ``world``.

        Args:
            rig: the character.
            world: ``(T, J, 4, 4)`` rigid world matrices of every bone in every frame.
            fps: frames per second.
            tolerance: translations of non-root bones (metres) at or below this are rounding
                and kept at 0; without any larger one the result has no ``locations``.

        Returns:
            A :class:`RigAnimation` (quaternion signs as :func:`~pose2rig.geometry.matrix_to_quat`
            gives them: make them continuous in time where that matters).
        """
        w = np.asarray(world, dtype=np.float64)
        if w.ndim != 4 or w.shape[1:] != (rig.num_bones, 4, 4):
            raise Pose2RigError(f"world matrices of {rig.name!r} must be (T, {rig.num_bones}, 4, 4), got {w.shape}")
        local = rig.rest_local
        basis = np.empty_like(w)
        for j, p in enumerate(rig.parents):
            frame = local[j] if p < 0 else w[:, p] @ local[j]
            basis[:, j] = np.linalg.inv(frame) @ w[:, j]
        roots = [j for j, p in enumerate(rig.parents) if p < 0]
        loc = basis[..., :3, 3].copy()
        loc[:, roots] = 0.0
        loc[np.abs(loc) <= tolerance] = 0.0
        return cls(rig, matrix_to_quat(basis[..., :3, :3]), w[:, roots][..., :3, 3], fps,
                   locations=loc if np.any(loc) else None)

    def world_matrices(self) -> np.ndarray:
        """``(T, J, 4, 4)`` every bone's world matrix in every frame (forward kinematics)."""
        rig = self.rig
        basis = np.zeros((self.num_frames, rig.num_bones, 4, 4))
        basis[..., :3, :3] = quat_to_matrix(self.rotations)
        basis[..., 3, 3] = 1.0
        if self.locations is not None:
            basis[..., :3, 3] = self.locations
        local = rig.rest_local[None] @ basis
        # roots: the rest matrix with its translation replaced (their basis moves nothing)
        local[..., :3, 3][:, [j for j, p in enumerate(rig.parents) if p < 0]] = self.root_positions
        return forward_kinematics(local, rig.parents)

    def skinning_matrices(self) -> np.ndarray:
        """``(T, J, 4, 4)`` ``W_j @ rest_j^-1``: maps rest-pose world points to posed ones."""
        return self.world_matrices() @ np.linalg.inv(self.rig.rest)[None]
