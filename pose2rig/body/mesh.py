"""The fitted body as a skinned character: a core :class:`~pose2rig.rig.Rig` with the body model's
mesh, animated by the fit (``pose2rig fit --mesh``, ``--preview``).

:func:`body_rig` gives the body file's skeleton (:meth:`pose2rig.body.io.BodyFile.rig`: one bone
per model joint, rest matrices ``[I | bone_rest]``) with the model's rest mesh for the fitted
shape; :func:`body_animation` puts the fit's motion (:meth:`~pose2rig.body.io.BodyFile.animation`)
on it. Every pose2rig exporter and previewer takes the result as it takes a retargeted character
(:func:`pose2rig.io.gltf.write_glb`, :mod:`pose2rig.render_character`).

Skinning weights (:func:`skin_weights`: the model's own :meth:`~pose2rig.body.model.BodyModel.skin_weights`),
each vertex's 8 largest kept and renormalised (what the written glTF file holds in two
``JOINTS_n``/``WEIGHTS_n`` sets, so the preview shows what the file does; SMPL's vertices have at
most 5, Anny's at most 6 (399 of its 13,718 vertices have 5 or 6), so nothing is dropped):

- SMPL (SMPL-H, SMPL-X): the model's own linear-blend-skinning weights (the model file's
  ``weights``, smplx's ``lbs_weights``) over its joints.
- Anny: Anny's own weights over its 104 bones, each bone's weight summed onto the driven joint
  that moves it (:attr:`pose2rig.body.anny.AnnyBody.anny_bone_joint`), as the fit's own forward
  skins. Anny's five toe bones turn about their own heads; here the one ``toes`` bone turns them
  about their mean head (a millimetre or two at the toe tips for a bent toe).
- Any other :class:`~pose2rig.body.model.BodyModel`: each vertex bound wholly to its
  :attr:`~pose2rig.body.model.BodyModel.vertex_joint`.

Not representable in a linear-blend-skinned glTF file: SMPL's pose correctives (``posedirs``, the
pose-dependent blend shapes that keep elbows and knees from collapsing): the written body is
SMPL's shaped template skinned without them (exact where they are zero, as on pose2rig's
synthetic model; a few millimetres to a centimetre or two at bent joints of a real SMPL file).

Convention:
    - pose2rig's world: Y up, metres, right-handed, the body facing +Z at rest (the body file's
      arrays); no axis change here.
    - Vertices ``(V, 3)`` float32 at rest for the fitted shape (zero pose, zero translation, the
      model's :meth:`~pose2rig.body.model.BodyModel.rest`); weights ``(V, J)`` over the model's
      ``J`` joints, rows summing to 1.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh

if TYPE_CHECKING:
    from pose2rig.body.io import BodyFile
    from pose2rig.body.model import BodyModel

__all__ = ["INFLUENCES", "body_animation", "body_rig", "skin_weights"]

log = logging.getLogger(__name__)

INFLUENCES = 8
"""Joints per vertex kept (:data:`pose2rig.io.gltf.MAX_INFLUENCES`: glTF's ``JOINTS_0``/``WEIGHTS_0``
and ``JOINTS_1``/``WEIGHTS_1``)."""

_REST_TOLERANCE = 0.005
"""Metres: the body file's rest joints and the model's for its shape may differ by at most this."""


def skin_weights(model: BodyModel) -> np.ndarray:
    """``(V, J)`` float64 skinning weights of ``model``'s vertices over its joints, rows summing to
    1 (see the module doc: SMPL's own, Anny's summed onto the driven joints, else
    ``vertex_joint``)."""
    v, j = int(model.num_vertices), int(model.num_joints)
    w = np.asarray(model.skin_weights(), dtype=np.float64)
    if w.shape != (v, j):
        raise Pose2RigError(f"{model.kind}: skinning weights are {w.shape}, expected ({v}, {j})")
    total = w.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise Pose2RigError(f"{model.kind}: {int((total <= 0).sum())} vertices have no skinning weight")
    return w / total


def _top(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(V, k)`` joint indices and renormalised weights of each row's ``k`` largest weights."""
    k = min(k, weights.shape[1])
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(weights, order, axis=1)
    w /= w.sum(axis=1, keepdims=True)
    order[w <= 0] = 0
    return order.astype(np.int32), w.astype(np.float32)


def _check_model(body: BodyFile, model: BodyModel) -> None:
    if body.kind != model.kind or tuple(body.bone_names) != tuple(model.joint_names):
        raise Pose2RigError(f"the body was fitted with a {body.kind} model ({len(body.bone_names)} joints) "
                            f"but the model given is {model.kind} ({model.num_joints} joints)")
    if body.shape.size > model.num_shape or (model.kind == "anny" and body.shape.size != model.num_shape):
        raise Pose2RigError(f"the body's shape has {body.shape.size} values; the {model.kind} model takes "
                            f"{model.num_shape}")


def body_rig(body: BodyFile, model: BodyModel, *, name: str | None = None) -> Rig:
    """The fitted body as a :class:`~pose2rig.rig.Rig` with its skinned mesh.

    Args:
        body: the body fit (:func:`pose2rig.body.io.read_body_npz`).
        model: the body model it was fitted with (its mesh, faces and weights).
        name: the rig's name (default the model's kind).

    Returns:
        :meth:`BodyFile.rig` with a :class:`~pose2rig.rig.SkinnedMesh`: ``model.rest(shape)``'s
        vertices, the model's faces, :func:`skin_weights`' :data:`INFLUENCES` largest per vertex.

    Raises:
        Pose2RigError: a model of another kind or joints than the body's, or one whose rest
            skeleton for the body's shape is not the body file's (another SMPL model file).
    """
    import torch

    _check_model(body, model)
    device = next((b.device for b in model.buffers()), torch.device("cpu"))
    shape = torch.as_tensor(body.shape[None], dtype=torch.float32, device=device)
    with torch.no_grad():
        rest_joints, vertices = model.rest(shape)
    joints = rest_joints[0].cpu().numpy().astype(np.float64)
    off = float(np.linalg.norm(joints - body.bone_rest, axis=1).max())
    if off > _REST_TOLERANCE:
        raise Pose2RigError(f"the {model.kind} model's rest skeleton for this body's shape is {1000 * off:.0f} mm "
                            "from the body file's: not the model it was fitted with")
    idx, w = _top(skin_weights(model), INFLUENCES)
    mesh = SkinnedMesh(vertices=vertices[0].cpu().numpy(), faces=np.asarray(model.faces, dtype=np.int64),
                       joints=idx, weights=w, name=f"{model.kind}_body")
    return replace(body.rig(), name=name or model.kind, mesh=mesh)


def body_animation(body: BodyFile, model: BodyModel, *, name: str | None = None) -> RigAnimation:
    """The fit's motion (:meth:`BodyFile.animation`) on :func:`body_rig`: the body posed by linear
    blend skinning, frame ``t`` at ``t / body.fps`` seconds."""
    return replace(body.animation(), rig=body_rig(body, model, name=name))
