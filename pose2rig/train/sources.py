"""Where training poses come from: one small protocol, any data behind it.

The loop draws the generator's inputs and the discriminator's real samples with two independent
``sample`` calls on one :class:`TwoDSource`; supervised training draws 2D views with their 3D
truth from a :class:`ThreeDSource`. Sources: mocap seen by virtual cameras
(:class:`pose2rig.train.data.PoseViews`, both protocols), Human3.6M
(``pose2rig.train.h36m.H36MSource``) and 2D keypoint sets from ``pose2rig detect``
(``pose2rig.train.keypoint_sets.KeypointSetSource``); the last two are imported only when used.

A source may deliver h36m17 poses whatever the training joint set: :class:`InJointSet` converts
them exactly (normalisation is invariant to translation and uniform scale).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.lift.joints import JointSet
from pose2rig.skeletons import H36M17

if TYPE_CHECKING:
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.data import PoseViews

log = logging.getLogger(__name__)


@runtime_checkable
class TwoDSource(Protocol):
    """Normalised 2D poses for training.

    Attributes:
        n_joints: joints per pose (17 for h36m17, or the training joint set's count).
    """

    n_joints: int

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch, n_joints, 2)`` float32 on ``generator.device``, normalised by
        :mod:`pose2rig.lift.codec` (root at the origin, head-root distance ``1/d``); draws only
        from ``generator``."""
        ...


@runtime_checkable
class ThreeDSource(Protocol):
    """2D views with their 3D ground truth, for supervised training."""

    n_joints: int

    def sample_3d(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, n_joints, 2)`` pixels relative to the principal point (x right, y down) and
        ``(batch, n_joints, 3)`` camera-frame joints (OpenCV axes, metres) of the same poses."""
        ...


class InJointSet:
    """A source in h36m17 (or already in ``joint_set``) seen in ``joint_set``."""

    def __init__(self, source: TwoDSource, joint_set: JointSet) -> None:
        n = int(getattr(source, "n_joints", -1))
        if n not in (H36M17.num_joints, joint_set.n_joints):
            raise Pose2RigError(
                f"{type(source).__name__} gives {n} joints; training in {joint_set.name} needs "
                f"{H36M17.num_joints} (h36m17) or {joint_set.n_joints}"
            )
        self.source, self.joint_set, self.n_joints = source, joint_set, joint_set.n_joints
        self._convert = n != joint_set.n_joints

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        x = self.source.sample(batch, generator).to(generator.device)
        return self.joint_set.from_h36m17(x) if self._convert else x

    def sample_3d(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if not hasattr(self.source, "sample_3d"):
            raise Pose2RigError(f"{type(self.source).__name__} has no 3D ground truth for supervised training")
        px, cam = self.source.sample_3d(batch, generator)
        px, cam = px.to(generator.device), cam.to(generator.device)
        if self._convert:
            px, cam = self.joint_set.select(px), self.joint_set.select(cam)
        return px, cam


def depth_targets(
    pixels: torch.Tensor, camera_joints: torch.Tensor, joint_set: JointSet
) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's input and ground-truth depth offsets for 2D views with known 3D.

    Args:
        pixels: ``(B, J, 2)`` pixels relative to the principal point.
        camera_joints: ``(B, J, 3)`` the same joints in the camera frame (OpenCV axes).
        joint_set: the training joint set (root and head of the normalisation).

    Returns:
        normalised 2D ``(B, J, 2)`` and offsets ``(B, J)``: ``o_i = k (P_i . r - |R|)``, the
        joint's depth along the root's ray ``r`` relative to the root ``R``, in the units of the
        normalised pose (``k = f / (|R| s)``: a metre at the root's depth is ``k`` units once the
        2D pose is scaled by the codec's ``1 / (d s)`` and back-projected at depth ``d``; ``f``
        is the focal length, recovered per pose by least squares from pixels and 3D). This is
        the shape the lifter compares after rotating onto the root's ray
        (:func:`pose2rig.evaluate.evaluate_lifter`). Root joints get 0 exactly.
    """
    p = camera_joints.float()
    q = p[..., :2] / p[..., 2:3].clamp_min(1e-6)
    f = (pixels * q).sum(dim=(1, 2)) / (q * q).sum(dim=(1, 2)).clamp_min(1e-12)  # (B,)
    root = joint_set.root_of(p)  # (B, 1, 3)
    dist = torch.linalg.norm(root, dim=-1)  # (B, 1)
    ray = root / dist[..., None]
    along = (p * ray).sum(dim=-1)  # (B, J)
    k = f[:, None] / (dist * joint_set.scale_of(pixels)[:, None])
    return joint_set.normalise(pixels), k * (along - dist)


def build_source(config: TrainConfig, joint_set: JointSet, *, mocap: PoseViews | None) -> TwoDSource:
    """The training source named by ``config.source`` (a :class:`TwoDSource`, and a
    :class:`ThreeDSource` when it has 3D), in ``joint_set``.

    ``mocap`` is the :class:`pose2rig.train.data.PoseViews` of the training mocap (source
    ``mocap``). Human3.6M and keypoint-set sources are imported here, only when asked for.
    """
    name = config.source
    if name == "mocap":
        if mocap is None:
            raise ArgumentError("{source} mocap needs mocap {data}", "source", "data")
        return mocap
    if name == "h36m":
        try:
            from pose2rig.train.h36m import H36MSource
        except ImportError as e:
            raise ArgumentError(f"{{source}} h36m is not available in this version ({e})", "source") from None
        h36m = H36MSource(
            positions_3d=config.h36m_3d, positions_2d=config.h36m_2d,
            cameras=config.h36m_cameras, subjects=config.h36m_subjects,
            n_joints=H36M17.num_joints,
        )
        return InJointSet(h36m, joint_set)
    if name == "keypoints":
        try:
            from pose2rig.train.keypoint_sets import KeypointSetSource
        except ImportError as e:
            raise ArgumentError(f"{{source}} keypoints is not available in this version ({e})", "source") from None
        keypoints = KeypointSetSource(paths=config.keypoints, n_joints=H36M17.num_joints)
        return InJointSet(keypoints, joint_set)
    raise Pose2RigError(f"unknown training source {name!r}; expected mocap, h36m or keypoints")


__all__ = ["InJointSet", "ThreeDSource", "TwoDSource", "build_source", "depth_targets"]
