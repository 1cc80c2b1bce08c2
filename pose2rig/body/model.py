"""One small interface to the body models the fit drives (issue 14): SMPL and Anny.

The fitting code (:mod:`pose2rig.body.fit`) is written once against :class:`BodyModel`; each
backend (``pose2rig.body.smpl`` through smplx, ``pose2rig.body.anny`` through Anny) subclasses it
and is the only module that imports its library.

Convention:
    - Torch tensors, float32, on the model's device; a batch ``B`` of frames.
    - Pose: ``(B, J, 3)`` axis-angle, each joint's rotation relative to its parent in the
      model's rest pose (joint 0: the global orientation), radians.
    - Shape: ``(B, S)`` (one shape per clip is ``(1, S)`` broadcast over frames): SMPL's betas,
      Anny's phenotype offsets; 0 is the model's mean body.
    - Translation: ``(B, 3)`` metres, added to every output point.
    - Output frame: Y up, metres, the body facing +Z at zero pose (SMPL's and Anny's own,
      Anny's turned from Z up where it is); the same axes as pose2rig's world frame.
    - Human3.6M-17 from a model: :attr:`BodyModel.h36m_weights` ``(17, J + V)``: each H36M-17
      joint a fixed weighted sum of the model's joints and vertices (rows sum to 1), so the
      mapping is data and is documented per backend.
    - Extra points (MediaPipe's ``left_heel``, ``left_foot_index`` (toe), ``left_index``,
      ``left_pinky`` and their right twins): :attr:`BodyModel.point_vertices`, name -> vertex
      indices whose mean is that point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose2rig.errors import Pose2RigError

__all__ = ["BodyModel", "BodyOutput", "axis_angle_to_matrix", "forward_kinematics"]


@dataclass
class BodyOutput:
    """What a body model gives for a batch.

    Attributes:
        joints: ``(B, J, 3)`` the model's joints, metres.
        rotations: ``(B, J, 3, 3)`` each joint's world rotation (rest pose to posed).
        vertices: ``(B, V, 3)`` or None when not asked for.
    """

    joints: torch.Tensor
    rotations: torch.Tensor
    vertices: torch.Tensor | None = None


class BodyModel(torch.nn.Module):
    """A differentiable body model (see the module's Convention).

    Attributes (set by each backend):
        kind: ``"smpl"``, ``"smplh"``, ``"smplx"`` or ``"anny"``.
        joint_names: the model's joints, in order (``J``).
        parents: ``(J,)`` int, -1 for the root.
        num_shape: ``S``.
        faces: ``(F, 3)`` int triangles of the mesh.
        num_vertices: ``V``.
        h36m_weights: ``(17, J + V)`` float: Human3.6M-17 joints as weighted sums of the
            model's joints then vertices (see :meth:`h36m17`).
        point_vertices: MediaPipe landmark name -> vertex indices (their mean).
        vertex_joint: ``(V,)`` int: the joint (of the ``J``) whose transform moves each
            vertex most (its largest skinning weight, summed onto the ``J`` joints): the fit
            carries the few vertices it needs (nose, head top, heels, toes, fingers) rigidly
            with that joint.

    Pose convention shared by the backends (SMPL's): each joint's local rotation is expressed
    in world-aligned axes at rest (not along its bone), so the fit's priors can name anatomical
    axes once: +X the body's left, +Y up, +Z forward, at zero pose. A backend whose library
    uses bone-aligned frames converts.
    """

    kind: str
    joint_names: tuple[str, ...]
    parents: np.ndarray
    num_shape: int
    faces: np.ndarray
    num_vertices: int
    h36m_weights: np.ndarray
    point_vertices: dict[str, np.ndarray]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    vertex_joint: np.ndarray

    def forward(self, pose: torch.Tensor, shape: torch.Tensor, translation: torch.Tensor, *,
                vertices: bool = True) -> BodyOutput:  # pragma: no cover - each backend's
        raise NotImplementedError

    def rest(self, shape: torch.Tensor, vertex_index: np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - each backend's
        """The rest pose of ``shape (B, S)``: joints ``(B, J, 3)`` and vertices ``(B, V', 3)``
        (only ``vertex_index`` when given), differentiable in ``shape``; zero pose, zero
        translation. ``forward`` at zero pose gives the same joints."""
        raise NotImplementedError

    def skin_weights(self) -> np.ndarray:
        """``(V, J)`` linear-blend-skinning weights of the vertices over the model's joints (rows
        need not be normalised; :func:`pose2rig.body.mesh.skin_weights` normalises them). This
        default binds each vertex wholly to its :attr:`vertex_joint`; the backends give their
        own."""
        w = np.zeros((int(self.num_vertices), self.num_joints))
        w[np.arange(w.shape[0]), np.asarray(self.vertex_joint, dtype=np.int64)] = 1.0
        return w

    def h36m17(self, out: BodyOutput) -> torch.Tensor:
        """``(B, 17, 3)`` Human3.6M-17 joints of ``out`` (vertices needed where the weights
        use them)."""
        w = torch.as_tensor(self.h36m_weights, dtype=out.joints.dtype, device=out.joints.device)
        j = out.joints.shape[1]
        h = torch.einsum("kj,bjc->bkc", w[:, :j], out.joints)
        if torch.any(w[:, j:] != 0):
            if out.vertices is None:
                raise ValueError("this model's Human3.6M-17 joints need its vertices: call with vertices=True")
            h = h + torch.einsum("kv,bvc->bkc", w[:, j:], out.vertices)
        return h

    def points(self, out: BodyOutput) -> dict[str, torch.Tensor]:
        """MediaPipe's extra points ``name -> (B, 3)`` (vertices needed)."""
        if out.vertices is None:
            raise ValueError("the extra points need the vertices: call with vertices=True")
        return {k: out.vertices[:, torch.as_tensor(v, device=out.vertices.device)].mean(dim=1)
                for k, v in self.point_vertices.items()}


# ---------------------------------------------------------------------------------------------
# kinematics shared by the backends and the fit


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` axis-angle -> ``(..., 3, 3)`` rotation matrices (Rodrigues; smooth at 0)."""
    theta2 = (v * v).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand(k.shape)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def _levels(parents: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Joints grouped by depth in the tree: ``[(joints, their parents), ...]`` from the root's
    children down (the root alone is depth 0)."""
    parents = np.asarray(parents)
    depth = np.zeros(len(parents), dtype=np.int64)
    for j, p in enumerate(parents):
        if p >= j and p >= 0:
            raise Pose2RigError("a body model's joints must come after their parents")
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [(np.flatnonzero(depth == d), parents[depth == d]) for d in range(1, int(depth.max()) + 1)]


def forward_kinematics(local: torch.Tensor, rest_joints: torch.Tensor, parents: np.ndarray
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations ``(B, J, 3, 3)`` and joint positions ``(B, J, 3)`` (no translation) from
    local rotations ``(B, J, 3, 3)`` in world-aligned rest axes and rest joints ``(B or 1, J, 3)``
    (SMPL's kinematics; parents before children; one batched step per depth of the tree)."""
    b, j = local.shape[:2]
    parents = np.asarray(parents)
    rest_joints = rest_joints.expand(b, j, 3)
    bones = rest_joints - rest_joints[:, np.maximum(parents, 0)]
    root = np.flatnonzero(parents < 0)
    rots_list = [None] * j
    pos_list = [None] * j
    for r in root:
        rots_list[r] = local[:, r]
        pos_list[r] = rest_joints[:, r]
    for joints, pars in _levels(parents):
        pr = torch.stack([rots_list[p] for p in pars], dim=1)  # (B, n, 3, 3)
        pp = torch.stack([pos_list[p] for p in pars], dim=1)
        r = pr @ local[:, joints]
        x = pp + (pr @ bones[:, joints, :, None])[..., 0]
        for k, jj in enumerate(joints):
            rots_list[jj] = r[:, k]
            pos_list[jj] = x[:, k]
    return torch.stack(rots_list, dim=1), torch.stack(pos_list, dim=1)  # type: ignore[arg-type]  # all set: parents first
