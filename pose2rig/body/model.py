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

__all__ = ["BodyModel", "BodyOutput"]


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
