"""Anny (``anny``, Apache-2.0 code, CC0 MakeHuman data) as a :class:`BodyModel`: the default
body model, which needs no file.

Anny is a MakeHuman body in torch: 13,718 vertices, a 104-bone rig (``rig="anny"``), six
phenotype sliders. This backend is the only module that imports ``anny`` (lazily, in
:class:`AnnyBody`); it reads Anny's rest mesh, rest bone heads, phenotype blend shapes and
skinning weights, and does its own forward kinematics on the 22 joints below, so a forward without
vertices costs only the joints, and the pose means what the :mod:`pose2rig.body.model`
Convention says (each local rotation in the rest pose's world axes, as SMPL's).

Convention:
    - Axes: Anny is Z up, facing -Y (Blender's); every array here is turned once, at load, to
      pose2rig's Y up, facing +Z (``(x, y, z) -> (x, z, -y)``). Metres. The subject's left is +X.
      The root joint (the pelvis' centre) sits at ``translation`` for every shape and pose, as
      in Anny's own forward; for the mean body the soles are at ``y = -0.99`` and the mesh is
      1.84 m tall (:attr:`AnnyBody.rest_joints`, :attr:`AnnyBody.rest_vertices`). At shape 0
      the output equals Anny's own ``local-ref`` forward turned to these axes (to 1e-5 m); for
      other shapes Anny's zero pose is its shape-independent reference pose, this one the
      shape's own rest pose (the SMPL way), about a centimetre apart at the hands and feet.
    - Joints (``J = 22``), each the head of the Anny bone of the same name, with parents among
      themselves (:data:`JOINTS`): ``root``; the spine ``spine05`` (lumbar), ``spine03``,
      ``spine01`` (upper thoracic); ``neck01``, ``head``; per side ``clavicle``,
      ``upperarm01`` (shoulder joint), ``lowerarm01`` (elbow), ``wrist``, ``upperleg01`` (hip
      joint), ``lowerleg01`` (knee), ``foot`` (ankle) and ``toes`` (the mean of the five toes' first
      bones' heads; the five turn together, each about its own head). Every other Anny bone (the twist
      halves ``upperarm02``/``lowerarm02``/``upperleg02``/``lowerleg02``, ``spine04``,
      ``spine02``, ``neck02``/``neck03``, ``shoulder01``, ``pelvis``, fingers, toe segments,
      face) is held at rest, moving rigidly with its nearest driven ancestor; forearm and thigh
      twist therefore happen at the elbow and hip.
    - Pose ``(B, 22, 3)`` axis-angle radians, each joint's rotation relative to its parent in
      the rest pose's (world) axes; joint 0 turns the body about the root bone's head. World
      rotation ``G_j = G_parent(j) @ R(pose_j)``; posed joint
      ``p_j = p_parent + G_parent (rest_j - rest_parent)``; then ``+ translation``.
    - Shape ``(B, 6)`` or ``(1, 6)``: offsets of Anny's phenotype sliders from a mean adult,
      in Anny's order :data:`SHAPE_NAMES` (gender, age, muscle, weight, height, proportions).
      Shape 0 is gender 0.5 (between Anny's male and female), age 2/3 (Anny's "young" adult),
      muscle, weight, height and proportions 0.5. Anny clamps each slider to its range, so the
      useful offsets are -0.5..0.5, age -1..1/3 (-1: newborn, -1/3: child); beyond them the value
      and its gradient saturate.
    - Skinning: linear blend skinning with Anny's weights, each bone that is held at rest given
      to its driven ancestor, through Anny's warp kernel (CPU or CUDA, differentiable).
    - Human3.6M-17 (:attr:`AnnyBody.h36m_weights`, the rules of
      ``pose2rig.skeletons.MEDIAPIPE33_TO_H36M17`` on Anny's points): hips = the
      ``upperleg01`` heads (the thigh bones' heads), knees ``lowerleg01``, ankles ``foot``,
      shoulders the ``upperarm01`` heads (MediaPipe's shoulder is the joint, not the clavicle),
      elbows ``lowerarm01``, wrists ``wrist``; pelvis = mid-hips, thorax = mid-shoulders,
      spine = mid pelvis-thorax; neck (nose) = Anny's own COCO nose regressor over vertices;
      head = mid-ears + 0.5 (mid-ears - thorax) with Anny's COCO ear regressors, as the 2D
      keypoints' rule makes it.
    - MediaPipe points (:attr:`AnnyBody.point_vertices`), picked on the mean body's rest mesh:
      ``*_heel``: the foot's vertices (skinned mostly to ``foot``/``toes``) in the lower half
      below the ankle within 1 cm of the rearmost; ``*_foot_index``: the foot's vertices within
      1 cm of the foremost (the toe tips); ``*_index`` / ``*_pinky``: the 12 vertices nearest
      the head of ``finger2-1`` / ``finger5-1`` (the knuckles, BlazePose's points).

The first :class:`AnnyBody` on a machine builds Anny's cache (about 790 MB, about 2 minutes;
:func:`anny_cache_dir`); ``python -m pose2rig.body.anny --build-cache`` builds it ahead (``make``
does).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from pose2rig.body.model import BodyModel, BodyOutput, forward_kinematics
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.extras import require

__all__ = ["JOINTS", "SHAPE_BASE", "SHAPE_NAMES", "AnnyBody", "anny_cache_dir", "anny_cache_ready", "build_cache"]

logger = logging.getLogger(__name__)

#: ``(joint, parent)`` of the driven joints; each joint is the head of the Anny bone of its name
#: (``toes.L``/``toes.R``: the toes' first bones, as one block).
JOINTS: tuple[tuple[str, str | None], ...] = (
    ("root", None),
    ("spine05", "root"),
    ("spine03", "spine05"),
    ("spine01", "spine03"),
    ("neck01", "spine01"),
    ("head", "neck01"),
    ("clavicle.L", "spine01"),
    ("upperarm01.L", "clavicle.L"),
    ("lowerarm01.L", "upperarm01.L"),
    ("wrist.L", "lowerarm01.L"),
    ("clavicle.R", "spine01"),
    ("upperarm01.R", "clavicle.R"),
    ("lowerarm01.R", "upperarm01.R"),
    ("wrist.R", "lowerarm01.R"),
    ("upperleg01.L", "root"),
    ("lowerleg01.L", "upperleg01.L"),
    ("foot.L", "lowerleg01.L"),
    ("toes.L", "foot.L"),
    ("upperleg01.R", "root"),
    ("lowerleg01.R", "upperleg01.R"),
    ("foot.R", "lowerleg01.R"),
    ("toes.R", "foot.R"),
)

#: Anny's phenotype sliders that :class:`AnnyBody`'s shape offsets, in order.
SHAPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
#: The slider values at shape 0 (a mean adult; Anny's "young" age anchor is 2/3).
SHAPE_BASE: tuple[float, ...] = (0.5, 2.0 / 3.0, 0.5, 0.5, 0.5, 0.5)

# Anny (Z up, facing -Y) -> pose2rig (Y up, facing +Z): (x, y, z) -> (x, z, -y).
_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# The build's peak on disk and its time (about 2 minutes on an idle 2-core CPU, 5 under load),
# and what pose2rig's own folder keeps of it (the intermediates pruned, :func:`_prune_cache`).
_CACHE_MB, _CACHE_KEPT_MB, _CACHE_MINUTES = 790, 51, 2


def anny_cache_dir() -> Path:
    """Where Anny's model cache lives: ``$ANNY_CACHE_DIR`` where set, else
    ``$XDG_CACHE_HOME/pose2rig/anny`` (``~/.cache/pose2rig/anny``)."""
    env = os.environ.get("ANNY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pose2rig" / "anny"


def anny_cache_ready(cache_dir: Path | None = None) -> bool:
    """Whether the cache that :class:`AnnyBody` needs is built (its compacted model data for the
    installed Anny's data version)."""
    from anny.models.model_data import CURRENT_DATA_VERSION

    folder = (cache_dir or anny_cache_dir()) / f"v{CURRENT_DATA_VERSION}"
    return any(folder.glob("build_compact_model_data_*.safetensors"))


def _load_anny(cache_dir: Path | None = None):
    """Anny's default model, its cache at ``cache_dir`` (built, with a message, when absent)."""
    anny = require("anny", "body")  # or the one line naming the extra
    require("anny.paths", "body")
    try:  # Warp prints its start-up banner on stdout at info level: it would mix with a command's output
        import warp

        warp.config.log_level = max(warp.config.log_level, warp.LOG_WARNING)
    except (ImportError, AttributeError):  # pragma: no cover - another warp version
        pass
    folder = cache_dir or anny_cache_dir()
    anny.paths.set_anny_cache_path(folder)
    ready = anny_cache_ready(folder)
    own = "ANNY_CACHE_DIR" not in os.environ and folder == anny_cache_dir()
    if not ready:
        logger.warning(
            "building Anny's body model cache in %s (about %d MB, about %d minutes), once",
            folder, _CACHE_KEPT_MB if own else _CACHE_MB, _CACHE_MINUTES,
        )
    try:
        model = anny.Anny(rig="anny", topology="anny", phenotypes="default", local_changes="none",
                          facial_actions="none", skinning_method="warp_lbs").to(dtype=torch.float32)
    except OSError as e:
        raise Pose2RigError(f"cannot build Anny's model cache in {folder} ({e}); set ANNY_CACHE_DIR "
                            "to a writable folder") from e
    if not ready and own:
        _prune_cache(folder)
    return model


def _prune_cache(folder: Path) -> None:
    """Remove Anny's intermediate cache files from pose2rig's own cache folder: the model loads
    from the compacted data alone (51 MB), the intermediates (about 740 MB) only speed up a
    rebuild. A folder named by ``ANNY_CACHE_DIR`` may be shared with other Anny users: kept."""
    for pattern in ("v*/load_data_*.safetensors", "v*/build_model_data_*.safetensors"):
        for f in folder.glob(pattern):
            f.unlink(missing_ok=True)


def build_cache(cache_dir: Path | None = None) -> Path:
    """Build Anny's cache (no-op where built); returns its folder."""
    folder = cache_dir or anny_cache_dir()
    _load_anny(folder)
    return folder


def _bone_heads(model, coeffs: torch.Tensor) -> torch.Tensor:
    """``(B, K, 3)`` Anny's rest bone heads (Anny's axes) for blend-shape coefficients."""
    return model.template_bone_heads[None] + torch.einsum("ckd,bc->bkd", model.bone_heads_blendshapes, coeffs)


class AnnyBody(BodyModel):
    """Anny behind :class:`BodyModel` (see the module's Convention).

    Args:
        device: torch device of the model's tensors.
        cache_dir: Anny's cache folder (default :func:`anny_cache_dir`); built there when absent.

    Attributes (besides :class:`BodyModel`'s):
        shape_names: :data:`SHAPE_NAMES`.
        rest_joints: ``(J, 3)`` float32 the joints at zero pose and shape, metres, Y up.
        rest_vertices: ``(V, 3)`` float32 the mesh at zero pose and shape.
        anny_bone_joint: ``(K,)`` int: each of Anny's 104 bones -> the joint that moves it.
    """

    kind = "anny"
    _to_y_up: torch.Tensor  # buffers (registered in __init__)
    _head_avg: torch.Tensor
    _shape_base: torch.Tensor
    _skin_weights: torch.Tensor
    _skin_units: torch.Tensor
    _unit_bone: torch.Tensor
    _unit_joint: torch.Tensor
    _unit_parent: torch.Tensor

    def __init__(self, *, device: str | torch.device = "cpu", cache_dir: Path | None = None) -> None:
        super().__init__()
        model = _load_anny(cache_dir)
        self._anny = model  # Anny's module: phenotype -> blend-shape coefficients
        labels = list(model.bone_labels)
        parents_k = [int(p) for p in model.bone_parents]
        index = {name: i for i, name in enumerate(labels)}

        self.joint_names = tuple(name for name, _ in JOINTS)
        jindex = {name: j for j, name in enumerate(self.joint_names)}
        self.parents = np.array([-1 if p is None else jindex[p] for _, p in JOINTS], dtype=np.int64)
        self._root = int(np.flatnonzero(self.parents < 0)[0])
        self.num_shape = len(SHAPE_NAMES)
        self.shape_names = SHAPE_NAMES

        # Each Anny bone -> the joint that moves it (its nearest driven ancestor); the joints'
        # rest positions as an average of bone heads (one head each, the toes the mean of five).
        heads_of: dict[str, list[int]] = {}
        for name in self.joint_names:
            if name.startswith("toes."):
                side = name[-1]
                toes = [i for i, b in enumerate(labels)
                        if b.startswith("toe") and b.endswith(f"-1.{side}") and labels[parents_k[i]] == f"foot.{side}"]
                if not toes:
                    raise Pose2RigError(f"Anny's rig has no toe bones under foot.{side}")
                heads_of[name] = toes
            else:
                if name not in index:
                    raise Pose2RigError(f"Anny's rig has no bone {name!r} (anny 0.6.2 expected)")
                heads_of[name] = [index[name]]
        # Skinning units: one per driven Anny bone (a joint's bone, or each of its toes), each
        # turning with its joint about its own head, as in Anny's own forward.
        unit_joint = np.array([jindex[n] for n, ks in heads_of.items() for _ in ks], dtype=np.int64)
        unit_bone = np.array([k for ks in heads_of.values() for k in ks], dtype=np.int64)
        driver = {int(k): u for u, k in enumerate(unit_bone)}
        bone_unit = np.empty(len(labels), dtype=np.int64)
        for k in range(len(labels)):  # bones come parents first in Anny's rig
            bone_unit[k] = driver[k] if k in driver else bone_unit[parents_k[k]]
        bone_joint = unit_joint[bone_unit]
        head_avg = np.zeros((len(self.joint_names), len(labels)), dtype=np.float32)
        for j, name in enumerate(self.joint_names):
            head_avg[j, heads_of[name]] = 1.0 / len(heads_of[name])

        dtype = model.template_vertices.dtype
        c = torch.as_tensor(_TO_Y_UP, dtype=dtype)
        self.register_buffer("_to_y_up", c, persistent=False)
        self.register_buffer("_head_avg", torch.as_tensor(head_avg, dtype=dtype), persistent=False)
        self.register_buffer("_shape_base", torch.tensor(SHAPE_BASE, dtype=dtype), persistent=False)
        self.register_buffer("_skin_weights", model.vertex_bone_weights.detach().clone(), persistent=False)
        self.register_buffer(
            "_skin_units",
            torch.as_tensor(bone_unit, dtype=model.vertex_bone_indices.dtype)[model.vertex_bone_indices.long()],
            persistent=False,
        )
        self.register_buffer("_unit_bone", torch.as_tensor(unit_bone), persistent=False)
        self.register_buffer("_unit_joint", torch.as_tensor(unit_joint), persistent=False)
        # each unit's parent joint + 1; 0: a fixed frame at the root (for the root's own units)
        self.register_buffer("_unit_parent", torch.as_tensor(self.parents[unit_joint] + 1), persistent=False)
        self.faces = model.faces.detach().cpu().numpy().astype(np.int64)
        self.num_vertices = int(model.template_vertices.shape[0])
        self.anny_bone_joint = bone_joint  # Anny bone k -> the joint that moves it

        with torch.no_grad():
            coeffs = self._coefficients(torch.zeros(1, self.num_shape, dtype=dtype))
            heads = _bone_heads(model, coeffs)[0] @ c.T  # (K, 3) Y up
            verts = model.get_rest_vertices(coeffs)[0] @ c.T
        root = (self._head_avg[0] @ heads).numpy()
        self.rest_joints = (self._head_avg @ heads).numpy().astype(np.float32) - root.astype(np.float32)
        self.rest_vertices = (verts.numpy() - root).astype(np.float32)
        heads = heads - torch.as_tensor(root)
        self.h36m_weights = self._h36m_weights(model)
        skin_joints = bone_joint[model.vertex_bone_indices.long().cpu().numpy()]
        per_joint = np.zeros((self.num_vertices, len(self.joint_names)))
        np.add.at(per_joint, (np.arange(self.num_vertices)[:, None], skin_joints),
                  model.vertex_bone_weights.detach().cpu().numpy())
        self.vertex_joint = per_joint.argmax(axis=1)
        self.point_vertices = self._point_vertices(heads.numpy(), index, skin_joints)
        self.to(device)

    # -- the model -------------------------------------------------------------------------

    def _coefficients(self, shape: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` Anny's blend-shape coefficients for shape offsets ``(B, S)``."""
        pheno = shape + self._shape_base.to(shape)
        empty = pheno.new_zeros(pheno.shape[0], 0)
        return self._anny._get_phenotype_blendshape_coefficients(pheno, empty, empty)

    def skin_weights(self) -> np.ndarray:
        """``(V, J)`` Anny's own skinning weights over its 104 bones, each bone's weight summed
        onto the driven joint that moves it (:attr:`anny_bone_joint`), as :meth:`forward` skins."""
        bones = self._anny.vertex_bone_indices.long().cpu().numpy()
        w = np.zeros((self.num_vertices, self.num_joints))
        np.add.at(w, (np.arange(self.num_vertices)[:, None], np.asarray(self.anny_bone_joint, dtype=np.int64)[bones]),
                  self._anny.vertex_bone_weights.detach().cpu().numpy().astype(np.float64))
        return w

    def rest(self, shape: torch.Tensor, vertex_index: np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rest pose of ``shape (B, S)``: joints ``(B, J, 3)`` (the root at the origin) and
        vertices ``(B, V', 3)`` (only ``vertex_index`` when given), differentiable in ``shape``;
        what :meth:`forward` gives at zero pose and translation."""
        if shape.ndim != 2 or shape.shape[1] != self.num_shape:
            raise ArgumentError(f"{{shape}} must be (B, {self.num_shape}), got {tuple(shape.shape)}", "shape")
        c = self._to_y_up
        coeffs = self._coefficients(shape)
        heads = _bone_heads(self._anny, coeffs) @ c.T
        joints = torch.einsum("jk,bkd->bjd", self._head_avg, heads)
        anny = self._anny
        if vertex_index is None:
            verts = anny.get_rest_vertices(coeffs)
        else:
            idx = torch.as_tensor(np.asarray(vertex_index, dtype=np.int64), device=coeffs.device)
            verts = anny.template_vertices[idx][None] + torch.einsum("cvd,bc->bvd", anny.blendshapes[:, idx], coeffs)
        root = joints[:, :1]
        return joints - root, verts @ c.T - root

    def forward(self, pose: torch.Tensor, shape: torch.Tensor, translation: torch.Tensor, *,
                vertices: bool = True) -> BodyOutput:
        """Pose ``(B, J, 3)``, shape ``(B, S)`` or ``(1, S)``, translation ``(B, 3)`` ->
        :class:`BodyOutput` (see the module's Convention)."""
        import roma

        j_count, s_count = self.num_joints, self.num_shape
        if pose.ndim != 3 or pose.shape[1:] != (j_count, 3):
            raise ArgumentError(f"{{pose}} must be (B, {j_count}, 3) axis-angle, got {tuple(pose.shape)}", "pose")
        b = pose.shape[0]
        if shape.ndim != 2 or shape.shape[1] != s_count or shape.shape[0] not in (1, b):
            raise ArgumentError(f"{{shape}} must be ({b}, {s_count}) or (1, {s_count}), got {tuple(shape.shape)}",
                                "shape")
        if translation.shape != (b, 3):
            raise ArgumentError(f"{{translation}} must be ({b}, 3), got {tuple(translation.shape)}", "translation")

        c = self._to_y_up
        coeffs = self._coefficients(shape)  # (Bs, C)
        heads = _bone_heads(self._anny, coeffs) @ c.T  # (Bs, K, 3) Anny's rest heads, Y up
        rest = torch.einsum("jk,bkd->bjd", self._head_avg, heads).expand(b, -1, -1)  # (B, J, 3)

        local = roma.rotvec_to_rotmat(pose)  # (B, J, 3, 3)
        world, joints = forward_kinematics(local, rest, self.parents)  # (B, J, 3, 3), (B, J, 3)
        joints = joints - rest[:, self._root : self._root + 1]  # the root at the origin
        out_vertices = None
        if vertices:
            from anny.skinning.warp_skinning import linear_blend_skinning

            rest_v = self._anny.get_rest_vertices(coeffs) @ c.T  # (Bs, V, 3)
            # each unit's head, posed by its joint's parent (a fixed frame for the root's units);
            # its transform turns the rest mesh about that head by its joint's world rotation
            head = heads[:, self._unit_bone].expand(b, -1, -1)  # (B, U, 3)
            par = self._unit_parent
            g_par = torch.cat([torch.eye(3, dtype=world.dtype, device=world.device).expand(b, 1, 3, 3), world], 1)[:, par]
            p_par = torch.cat([torch.zeros_like(joints[:, :1]), joints], 1)[:, par]
            r_par = torch.cat([rest[:, :1], rest], 1)[:, par]
            posed_head = p_par + (g_par @ (head - r_par)[..., None])[..., 0]
            g = world[:, self._unit_joint]
            transforms = torch.zeros(b, g.shape[1], 4, 4, dtype=pose.dtype, device=pose.device)
            transforms[..., :3, :3] = g
            transforms[..., :3, 3] = posed_head - (g @ head[..., None])[..., 0]
            transforms[..., 3, 3] = 1.0
            out_vertices = linear_blend_skinning(rest_v.expand(b, -1, -1), self._skin_weights,
                                                 self._skin_units, transforms)
            out_vertices = out_vertices + translation[:, None]
        return BodyOutput(joints=joints + translation[:, None], rotations=world, vertices=out_vertices)

    # -- mappings --------------------------------------------------------------------------

    def _h36m_weights(self, model) -> np.ndarray:
        """``(17, J + V)``: the rules in the module's Convention."""
        from anny.keypoints import KeypointsRegressor

        j_count = self.num_joints
        coco = KeypointsRegressor.coco(model, labels=["nose", "left_ear", "right_ear"])
        reg = coco.regression_weights.detach().cpu().numpy().astype(np.float64)
        reg /= reg.sum(axis=1, keepdims=True)
        nose, lear, rear = (np.concatenate([np.zeros(j_count), r]) for r in reg)

        def joint(name: str) -> np.ndarray:
            row = np.zeros(j_count + self.num_vertices)
            row[self.joint_names.index(name)] = 1.0
            return row

        lh, rh = joint("upperleg01.L"), joint("upperleg01.R")
        ls, rs = joint("upperarm01.L"), joint("upperarm01.R")
        rows = [
            0.5 * (lh + rh),
            rh, joint("lowerleg01.R"), joint("foot.R"),
            lh, joint("lowerleg01.L"), joint("foot.L"),
            0.25 * (lh + rh + ls + rs),
            0.5 * (ls + rs),
            nose,
            0.75 * (lear + rear) - 0.25 * (ls + rs),
            ls, joint("lowerarm01.L"), joint("wrist.L"),
            rs, joint("lowerarm01.R"), joint("wrist.R"),
        ]
        return np.stack(rows).astype(np.float32)

    def _point_vertices(self, heads: np.ndarray, index: dict[str, int],
                        skin_joints: np.ndarray) -> dict[str, np.ndarray]:
        """MediaPipe's heel, toe, index and pinky points as vertex sets of the rest mesh."""
        v = self.rest_vertices
        w = self._skin_weights.cpu().numpy()
        jt = skin_joints
        out: dict[str, np.ndarray] = {}
        for side, name in (("L", "left"), ("R", "right")):
            foot_j = (self.joint_names.index(f"foot.{side}"), self.joint_names.index(f"toes.{side}"))
            on_foot = np.where(np.isin(jt, foot_j), w, 0.0).sum(axis=1) > 0.5
            ankle_y = self.rest_joints[foot_j[0], 1]
            sole = v[:, 1].min()
            foot = np.flatnonzero(on_foot & (v[:, 1] < ankle_y))
            low = foot[v[foot, 1] < 0.5 * (ankle_y + sole)]
            out[f"{name}_heel"] = low[v[low, 2] <= v[low, 2].min() + 0.01]
            out[f"{name}_foot_index"] = foot[v[foot, 2] >= v[foot, 2].max() - 0.01]
            for finger, point in (("finger2-1", "index"), ("finger5-1", "pinky")):
                head = heads[index[f"{finger}.{side}"]]
                out[f"{name}_{point}"] = np.sort(np.argsort(np.linalg.norm(v - head, axis=1))[:12])
        return {k: np.asarray(i, dtype=np.int64) for k, i in out.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m pose2rig.body.anny --build-cache``: build Anny's cache ahead (``make``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pose2rig.body.anny", description=__doc__.splitlines()[0])
    parser.add_argument("--build-cache", action="store_true", help="build Anny's model cache (no-op where built)")
    args = parser.parse_args(argv)
    if not args.build_cache:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = anny_cache_dir()
    if anny_cache_ready(folder):
        print(f"Anny's body model cache is ready in {folder}")
        return 0
    build_cache(folder)
    print(f"Anny's body model cache is ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
