"""The SMPL backend of :class:`~pose2rig.body.model.BodyModel`, through smplx (the ``smpl`` extra).

smplx is imported here only, when a model is built: pose2rig works without it (its code license
is for non-commercial research only; the fit then uses Anny). The model's arrays come from
:func:`pose2rig.body.smpl_file.read_smpl_model` and reach smplx as its ``data_struct``, so smplx
never unpickles a file itself.

Convention:
    - pose ``(B, J, 3)`` axis-angle radians, each joint relative to its parent in the rest pose
      (joint 0: the global orientation); ``J`` = 24 for SMPL (52 SMPL-H, 55 SMPL-X).
    - shape ``(B, S)`` or ``(1, S)``: betas, ``S <= num_shape``; fewer columns mean zeros after.
    - float32 tensors on the model's device (smplx keeps its arrays float32).
    - translation ``(B, 3)`` metres, added to every joint and vertex (SMPL's ``transl``: the
      body rotates about its root joint, then moves).
    - Output: Y up, metres, facing +Z at zero pose: SMPL's own axes, pose2rig's world axes;
      no axis change.
    - ``BodyOutput.joints`` are the model's ``J`` joints only (not smplx's extra landmark
      joints); ``rotations`` each joint's world rotation, the product of the local rotations
      from the root down.

Human3.6M-17 from SMPL (:attr:`SmplBody.h36m_weights`): the same rules that turn MediaPipe's
landmarks into the lifter's joints (``pose2rig.skeletons.MEDIAPIPE33_TO_H36M17``), applied to
SMPL's points for those landmarks, so the fit compares like with like:

=================  ====================================================================
MediaPipe point    SMPL point
=================  ====================================================================
hips               SMPL's hip joints (1 left, 2 right)
knees, ankles      joints 4/5, 7/8
shoulders          SMPL's shoulder joints 16/17 (MediaPipe's shoulders are the joints,
                   not the collars 13/14)
elbows, wrists     joints 18/19, 20/21
nose               the nose vertex (smplx's ``vertex_ids['nose']``)
ears               the ear vertices (``lear``, ``rear``)
=================  ====================================================================

so pelvis = mid-hips, spine = mean of hips and shoulders, thorax = mid-shoulders, neck (nose)
= the nose vertex, head = mid-ears + half of (mid-ears - thorax).

MediaPipe's extra points (:attr:`SmplBody.point_vertices`): ``left_heel`` = ``LHeel``,
``left_foot_index`` = ``LBigToe``, ``left_index`` = ``lindex``, ``left_pinky`` = ``lpinky``
(and the right twins), smplx's vertex ids for SMPL/SMPL-H (6,890 vertices) and SMPL-X (10,475);
a model file with its own ``vertex_id_names`` (pose2rig's synthetic one) uses those. smplx's
finger vertices are finger tips; MediaPipe's ``index``/``pinky`` points sit nearer the knuckles,
a few centimetres back: weight them accordingly in a fit.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

import numpy as np
import torch

from pose2rig.body.model import BodyModel, BodyOutput, forward_kinematics
from pose2rig.body.smpl_file import SMPL_JOINT_NAMES, SmplArrays, read_smpl_model
from pose2rig.errors import ArgumentError, Pose2RigError

__all__ = ["POINT_VERTEX_NAMES", "SmplBody", "load_smpl_body"]

log = logging.getLogger(__name__)

POINT_VERTEX_NAMES = {
    "left_heel": "LHeel", "left_foot_index": "LBigToe", "left_index": "lindex", "left_pinky": "lpinky",
    "right_heel": "RHeel", "right_foot_index": "RBigToe", "right_index": "rindex", "right_pinky": "rpinky",
}
"""MediaPipe landmark -> the smplx ``vertex_ids`` name of its vertex."""

# MediaPipe landmark -> ("joint", SMPL joint index) or ("vertex", smplx vertex_ids name).
_MEDIAPIPE_SOURCES: dict[str, tuple[str, int | str]] = {  # ("joint", SMPL joint) or ("vertex", name)
    "left_hip": ("joint", 1), "right_hip": ("joint", 2), "left_knee": ("joint", 4),
    "right_knee": ("joint", 5), "left_ankle": ("joint", 7), "right_ankle": ("joint", 8),
    "left_shoulder": ("joint", 16), "right_shoulder": ("joint", 17), "left_elbow": ("joint", 18),
    "right_elbow": ("joint", 19), "left_wrist": ("joint", 20), "right_wrist": ("joint", 21),
    "nose": ("vertex", "nose"), "left_ear": ("vertex", "lear"), "right_ear": ("vertex", "rear"),
}


def _smplx():
    try:
        import smplx
        import smplx.joint_names
        import smplx.lbs
        import smplx.utils
        import smplx.vertex_ids
    except ImportError:
        raise Pose2RigError(
            "the SMPL body model needs smplx: install pose2rig[smpl] (pip install 'pose2rig[smpl]'; "
            "smplx's code is for non-commercial research only), or fit with Anny (no --smpl-model)"
        ) from None
    return smplx


def h36m_weights_for(num_joints: int, num_vertices: int, vertex_ids: dict[str, int]) -> np.ndarray:
    """``(17, J + V)`` Human3.6M-17 as weighted sums of SMPL joints and vertices (see the
    module's table): ``MEDIAPIPE33_TO_H36M17``'s matrix times SMPL's MediaPipe points."""
    from pose2rig.skeletons import MEDIAPIPE33, MEDIAPIPE33_TO_H36M17

    m = MEDIAPIPE33_TO_H36M17.matrix()  # (17, 33)
    src = np.zeros((MEDIAPIPE33.num_joints, num_joints + num_vertices))
    for k in np.flatnonzero(np.any(m != 0, axis=0)):
        name = MEDIAPIPE33.joint_names[k]
        if name not in _MEDIAPIPE_SOURCES:  # pragma: no cover - guards a change of the mapping
            raise Pose2RigError(f"no SMPL point for MediaPipe's {name}, which the H36M-17 mapping uses")
        _, which = _MEDIAPIPE_SOURCES[name]
        src[k, which if isinstance(which, int) else num_joints + vertex_ids[which]] = 1.0
    return m @ src


class SmplBody(BodyModel):
    """An SMPL (SMPL-H, SMPL-X: their body, no hand PCA or expression) body model.

    Args:
        arrays: the model (:func:`~pose2rig.body.smpl_file.read_smpl_model`).
        num_shape: betas to use (at most the file's; SMPL 1.0 has 10, 1.1 has 300).
    """

    joint_template: torch.Tensor  # buffers (registered in __init__)
    joint_shapedirs: torch.Tensor

    def __init__(self, arrays: SmplArrays, *, num_shape: int = 10) -> None:
        super().__init__()
        smplx = _smplx()
        if num_shape < 1:
            raise ArgumentError(f"{{num_shape}} must be at least 1, got {num_shape}", "num_shape")
        num_shape = min(num_shape, arrays.num_shape)
        if arrays.vertex_ids is not None:
            vertex_ids = dict(arrays.vertex_ids)
        elif arrays.num_vertices == 6890:
            vertex_ids = dict(smplx.vertex_ids.vertex_ids["smplh"])
        elif arrays.num_vertices == 10475:
            vertex_ids = dict(smplx.vertex_ids.vertex_ids["smplx"])
        else:
            raise Pose2RigError(
                f"{arrays.source}: {arrays.num_vertices} vertices, not SMPL's 6890 or SMPL-X's 10475, "
                "and no vertex_id_names in the file"
            )
        need = sorted((set(POINT_VERTEX_NAMES.values()) | {"nose", "lear", "rear"}) - set(vertex_ids))
        if need:
            raise Pose2RigError(f"{arrays.source}: the model's vertex ids lack {', '.join(need)}")
        struct = smplx.utils.Struct(
            v_template=arrays.v_template, shapedirs=arrays.shapedirs, posedirs=arrays.posedirs,
            J_regressor=arrays.J_regressor, weights=arrays.weights, kintree_table=arrays.kintree_table,
            f=arrays.f,
        )
        said = io.StringIO()
        with contextlib.redirect_stdout(said):  # smplx prints a warning for 10-beta files
            self.smpl = smplx.SMPL(
                model_path=arrays.source or "", data_struct=struct, num_betas=num_shape,
                create_betas=False, create_global_orient=False, create_body_pose=False,
                create_transl=False, vertex_ids=vertex_ids, dtype=torch.float32,
            )
        if said.getvalue().strip():
            log.debug("smplx: %s", said.getvalue().strip())
        # Rest joints as a linear function of the betas, for the joints-only forward.
        jr = arrays.J_regressor
        self.register_buffer("joint_template", torch.as_tensor(jr @ arrays.v_template, dtype=torch.float32))
        self.register_buffer("joint_shapedirs", torch.as_tensor(
            np.einsum("jv,vcs->jcs", jr, arrays.shapedirs[:, :, :num_shape]), dtype=torch.float32))
        self.kind = arrays.kind
        if arrays.kind == "smpl":
            self.joint_names = SMPL_JOINT_NAMES
        else:
            names = smplx.joint_names.JOINT_NAMES
            self.joint_names = tuple(names[:22] + (names[25:55] if arrays.kind == "smplh" else names[22:55]))
        self.parents = arrays.parents
        self.num_shape = num_shape
        self.faces = arrays.f
        self.num_vertices = arrays.num_vertices
        self.vertex_ids = vertex_ids
        self.h36m_weights = h36m_weights_for(arrays.num_joints, arrays.num_vertices, vertex_ids)
        self.point_vertices = {k: np.array([vertex_ids[v]]) for k, v in POINT_VERTEX_NAMES.items()}
        self.vertex_joint = np.argmax(arrays.weights, axis=1).astype(np.int64)

    def _check(self, pose: torch.Tensor, shape: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
        j = self.num_joints
        if pose.ndim != 3 or pose.shape[1:] != (j, 3):
            raise ArgumentError(f"{{pose}} must be (B, {j}, 3) axis-angle, got {tuple(pose.shape)}", "pose")
        b = pose.shape[0]
        if shape.ndim != 2 or shape.shape[0] not in (1, b) or shape.shape[1] > self.num_shape:
            raise ArgumentError(
                f"{{shape}} must be (B, S) or (1, S) with S <= {self.num_shape}, got {tuple(shape.shape)}", "shape")
        if translation.shape != (b, 3):
            raise ArgumentError(f"{{translation}} must be ({b}, 3), got {tuple(translation.shape)}", "translation")
        if shape.shape[1] < self.num_shape:
            shape = torch.nn.functional.pad(shape, (0, self.num_shape - shape.shape[1]))
        return shape.expand(b, -1)

    def forward(self, pose: torch.Tensor, shape: torch.Tensor, translation: torch.Tensor, *,
                vertices: bool = True) -> BodyOutput:
        """Pose the model (see the module's Convention). ``vertices=False`` skips the skinning
        (joints and rotations only, from the rest joints' linear shape model)."""
        from smplx import lbs as smplx_lbs  # imported at construction; a dict lookup here

        betas = self._check(pose, shape, translation)
        b, j = pose.shape[:2]
        local = smplx_lbs.batch_rodrigues(pose.reshape(-1, 3)).view(b, j, 3, 3)
        rest = self.joint_template + torch.einsum("bs,jcs->bjc", betas, self.joint_shapedirs)
        rotations, joints = forward_kinematics(local, rest, self.parents)
        s = self.smpl
        if vertices:
            verts, joints = smplx_lbs.lbs(betas, pose.reshape(b, -1), s.v_template, s.shapedirs,
                                          s.posedirs, s.J_regressor, s.parents, s.lbs_weights)
            verts = verts + translation[:, None]
        else:
            verts = None
        return BodyOutput(joints=joints + translation[:, None], rotations=rotations, vertices=verts)


    def skin_weights(self) -> np.ndarray:
        """``(V, J)`` SMPL's own linear-blend-skinning weights (smplx's ``lbs_weights``)."""
        return self.smpl.lbs_weights.detach().cpu().numpy().astype(np.float64)

    def rest(self, shape: torch.Tensor, vertex_index: np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints ``(B, 24, 3)`` and vertices ``(B, V', 3)`` (``vertex_index`` only) of
        ``shape (B, S)``: SMPL's shaped template (pose correctives are zero at rest)."""
        if shape.ndim != 2 or shape.shape[1] > self.num_shape:
            raise ArgumentError(f"{{shape}} must be (B, S) with S <= {self.num_shape}, got {tuple(shape.shape)}",
                                "shape")
        if shape.shape[1] < self.num_shape:
            shape = torch.nn.functional.pad(shape, (0, self.num_shape - shape.shape[1]))
        joints = self.joint_template + torch.einsum("bs,jcs->bjc", shape, self.joint_shapedirs)
        s = self.smpl
        template, dirs = s.v_template, s.shapedirs[..., : self.num_shape]
        if vertex_index is not None:
            idx = torch.as_tensor(np.asarray(vertex_index), dtype=torch.long, device=template.device)
            template, dirs = template[idx], dirs[idx]
        verts = template + torch.einsum("bs,vcs->bvc", shape, dirs)
        return joints, verts


def load_smpl_body(path: str | os.PathLike[str], *, gender: str = "neutral", model_type: str = "smpl",
                   num_shape: int = 10) -> SmplBody:
    """:class:`SmplBody` from a model file or folder (:func:`read_smpl_model`)."""
    _smplx()  # the extra's message before any file is read
    return SmplBody(read_smpl_model(path, gender=gender, model_type=model_type), num_shape=num_shape)
