"""Linear blend skinning: a rig's mesh posed by an animation.

``v' = sum_k w_k (W_jk @ rest_jk^-1) v`` with the skinning matrices of
:meth:`pose2rig.rig.RigAnimation.skinning_matrices`; numpy, one frame at a time so a
long clip never holds ``T x V x 4 x 4`` in memory.
"""

from __future__ import annotations

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.rig import RigAnimation, SkinnedMesh

__all__ = ["skin", "skin_frame"]


def skin_frame(mesh: SkinnedMesh, matrices: np.ndarray) -> np.ndarray:
    """Posed vertices ``(V, 3)`` float64 from skinning matrices ``(J, 4, 4)`` of one frame."""
    m = np.asarray(matrices, dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] != (4, 4) or m.shape[0] <= mesh.joints.max(initial=0):
        raise Pose2RigError(f"skin: expected (J, 4, 4) matrices for the mesh's bones, got {m.shape}")
    blended = np.einsum("vk,vkij->vij", mesh.weights.astype(np.float64), m[mesh.joints][:, :, :3, :])
    v = mesh.vertices.astype(np.float64)
    return np.einsum("vij,vj->vi", blended[:, :, :3], v) + blended[:, :, 3]


def skin(animation: RigAnimation, frames: np.ndarray | slice | None = None) -> np.ndarray:
    """Posed mesh vertices ``(T, V, 3)`` float64 for ``frames`` (default all) of ``animation``."""
    mesh = animation.rig.mesh
    if mesh is None:
        raise Pose2RigError(f"rig {animation.rig.name!r} has no skinned mesh to deform")
    sel = np.arange(animation.num_frames)[frames if frames is not None else slice(None)]
    mats = animation.skinning_matrices()[sel]
    return np.stack([skin_frame(mesh, m) for m in mats]) if len(sel) else np.zeros((0, len(mesh.vertices), 3))
