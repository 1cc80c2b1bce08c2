"""Human3.6M as a training source (the files are read by :mod:`pose2rig.io.h36m`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.geometry import quat_to_matrix
from pose2rig.io.h36m import (
    TRAIN_SUBJECTS,
    PathLike,
    _cameras_for,
    load_cameras,
    load_positions_3d,
    training_pixels,
)
from pose2rig.skeletons import H36M17
from pose2rig.train.keypoint_sets import Poses2DBank

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class H36MSource(Poses2DBank):
    """Real Human3.6M 2D poses for adversarial training (a ``TwoDSource``), and 2D views with
    3D truth for supervised training (a ``ThreeDSource``) when the 3D and cameras are given.

    With ``positions_2d`` the adversarial poses are that file's keypoints (ground truth or
    detected) and nothing else: true 2D-only training, no 3D read. Without it,
    ``positions_3d`` is filmed by the real ``cameras`` (ground-truth 2D). See
    :func:`training_pixels`.

    Args:
        positions_3d, positions_2d, cameras: paths of the files (module doc).
        subjects: the training subjects (default S1, S5, S6, S7, S8).
        n_joints: must be 17.
        frame_step: keep every ``frame_step``-th frame (Human3.6M runs at 50 fps).
        mirror: mirror half of each draw (:class:`pose2rig.train.keypoint_sets.Poses2DBank`).

    ``sample(batch, generator)`` -> ``(batch, 17, 2)`` float32, normalised with the codec.
    ``sample_3d(batch, generator)`` -> undistorted pixels relative to the principal point
    ``(batch, 17, 2)`` and camera-frame joints ``(batch, 17, 3)`` metres, each pose seen by one
    of its subject's cameras drawn at random (needs ``positions_3d`` and ``cameras``).
    """

    def __init__(
        self,
        *,
        positions_3d: PathLike | None = None,
        positions_2d: PathLike | None = None,
        cameras: PathLike | None = None,
        subjects: Iterable[str] = TRAIN_SUBJECTS,
        n_joints: int = 17,
        frame_step: int = 1,
        mirror: bool = True,
    ) -> None:
        if n_joints != 17:
            raise Pose2RigError(f"Human3.6M source: only the 17-joint set is supported, got n_joints={n_joints}")
        pixels, what = training_pixels(
            positions_3d=positions_3d, positions_2d=positions_2d, cameras=cameras,
            subjects=subjects, frame_step=frame_step,
        )
        self.subjects = tuple(subjects)
        self.two_d_only = positions_2d is not None
        self._paths_3d = (positions_3d, cameras, frame_step)
        self._bank3d: dict[str, torch.Tensor] | None = None
        super().__init__(pixels, mirror=mirror, name=f"Human3.6M {what}")
        log.info("Human3.6M: %d training poses from %s", len(self), what)

    def _load_3d(self) -> dict[str, torch.Tensor]:
        import torch

        positions_3d, cameras, frame_step = self._paths_3d
        if positions_3d is None or cameras is None:
            raise ArgumentError("Human3.6M supervised training needs {h36m_3d} and {h36m_cameras} (3D truth)", "h36m_3d",
                                "h36m_cameras")
        cams = load_cameras(cameras)
        worlds, owner, rot, trans, focal = [], [], [], [], []
        for k, (s, actions) in enumerate(load_positions_3d(positions_3d, subjects=self.subjects).items()):
            cs = _cameras_for(cams, s, cameras)
            rot.append(np.stack([quat_to_matrix(c.orientation) for c in cs]))
            trans.append(np.stack([c.translation for c in cs]))
            focal.append(np.stack([c.focal_length for c in cs]))
            for world in actions.values():
                w = world[::frame_step]
                worlds.append(w)
                owner.append(np.full(len(w), k))
        if len({len(r) for r in rot}) != 1:
            raise Pose2RigError(f"{cameras}: every subject needs the same number of cameras")

        def t(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float32)

        return {"world": t(np.concatenate(worlds)), "owner": torch.as_tensor(np.concatenate(owner)),
                "rot": t(np.stack(rot)), "trans": t(np.stack(trans)), "focal": t(np.stack(focal))}

    def sample_3d(self, batch: int, generator):
        """See the class doc: ``(B, 17, 2)`` pixels about the principal point, ``(B, 17, 3)`` metres."""
        import torch

        dev = generator.device
        if self._bank3d is None or self._bank3d["world"].device != dev:
            bank = self._bank3d if self._bank3d is not None else self._load_3d()
            self._bank3d = {k: v.to(dev) for k, v in bank.items()}
        b = self._bank3d
        idx = torch.randint(len(b["world"]), (batch,), generator=generator, device=dev)
        cam = torch.randint(b["rot"].shape[1], (batch,), generator=generator, device=dev)
        s = b["owner"][idx]
        r, t, f = b["rot"][s, cam], b["trans"][s, cam], b["focal"][s, cam]
        joints = (b["world"][idx] - t[:, None]) @ r  # R^T (X - t), row vectors
        if self.mirror:
            flip = torch.rand(batch, generator=generator, device=dev) < 0.5
            m = joints[:, list(H36M17.mirror)].clone()
            m[..., 0] = -m[..., 0]
            joints = torch.where(flip[:, None, None], m, joints)
        pixels = f[:, None] * joints[..., :2] / joints[..., 2:3].clamp_min(1e-6)
        return pixels, joints
