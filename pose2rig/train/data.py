"""Training data: mocap poses (world frame, metres) and their 2D views by virtual cameras.

Only 2D poses reach the adversarial training; the 3D mocap makes the 2D views and validates.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path
from pose2rig.io.mocap import bvh_files, subject_of
from pose2rig.lift.joints import H36M17_SET, JointSet
from pose2rig.lift.projection import virtual_camera_views
from pose2rig.skeletons import H36M17

log = logging.getLogger(__name__)


def load_poses(
    data: tuple[Path, ...], *, val_subject: int, target_fps: float = 30.0, cache_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """World-frame h36m17 poses from mocap, split by subject.

    Returns ``(N, 17, 3)`` training and ``(M, 17, 3)`` validation poses (float32 metres), each clip
    subsampled to about ``target_fps``. Cached in ``cache_dir`` (keyed by file names and sizes).
    """
    from pose2rig.io.mocap import load_bvh_as_h36m17

    files = bvh_files(data)
    key = hashlib.sha1(
        repr([(str(f.resolve()), f.stat().st_size) for f in files] + [val_subject, target_fps]).encode()
    ).hexdigest()[:16]
    cache = Path(cache_dir) / f"mocap_{key}.p2rcache.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return z["train"], z["val"]
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for f in files:
        seq = load_bvh_as_h36m17(f)
        step = max(1, round(seq.fps / target_fps))
        j = seq.joints[::step]
        j = j[np.all(np.isfinite(j), axis=(1, 2))]
        (val if subject_of(f) == val_subject else train).append(j)
        log.info("%s: %d poses (%s)", f.name, len(j), "val" if subject_of(f) == val_subject else "train")
    if not train:
        raise Pose2RigError(f"no training clips left after holding out subject {val_subject}")
    tr = np.concatenate(train).astype(np.float32)
    va = np.concatenate(val).astype(np.float32) if val else np.zeros((0, 17, 3), np.float32)
    if cache is not None:
        with atomic_path(cache) as tmp:
            np.savez(tmp, train=tr, val=va)
    return tr, va


def balance_poses(poses: np.ndarray, *, threshold: float) -> np.ndarray:
    """Thin out repeated poses: keep a pose only if its mean per-joint distance to every pose kept
    so far exceeds ``threshold`` metres, comparing root-centred, heading-normalised poses (the
    hips' line turned onto +X about the vertical); input order is kept.

    Mocap repeats itself (CMU's clips are mostly walking and standing); a pose bank thinned this
    way draws each kind of pose about as often as each other. ``threshold <= 0`` keeps all.
    """
    p = np.asarray(poses, dtype=np.float64)
    if threshold <= 0 or len(p) == 0:
        return np.asarray(poses)
    rel = p - p[:, :1]
    hips = rel[:, H36M17.index("left_hip")] - rel[:, H36M17.index("right_hip")]
    yaw = np.arctan2(hips[:, 2], hips[:, 0])  # turn the hip line onto +X about +Y
    c, s = np.cos(yaw), np.sin(yaw)
    x = c[:, None] * rel[..., 0] + s[:, None] * rel[..., 2]
    z = -s[:, None] * rel[..., 0] + c[:, None] * rel[..., 2]
    canon = np.stack([x, rel[..., 1], z], axis=-1).astype(np.float32)  # (N, J, 3)
    kept = np.empty_like(canon)
    keep = []
    n = 0
    for i in range(len(canon)):
        if n == 0 or np.min(np.linalg.norm(kept[:n] - canon[i], axis=-1).mean(axis=1)) > threshold:
            kept[n] = canon[i]
            n += 1
            keep.append(i)
    log.info("balanced the pose bank: %d of %d poses kept (%.0f mm apart at least)", n, len(p), 1000 * threshold)
    return np.asarray(poses)[np.asarray(keep)]


def mirror_poses(joints: torch.Tensor) -> torch.Tensor:
    """Left/right mirror of world poses ``(B, J, 3)``: negate X and swap twin joints."""
    m = joints[:, list(H36M17.mirror)].clone()
    m[..., 0] = -m[..., 0]
    return m


class PoseViews:
    """Random 2D views of a pose bank, drawn with one torch generator: the mocap source.

    Each draw picks poses uniformly, mirrors half of them and films each with its own virtual
    camera (:func:`pose2rig.lift.projection.virtual_camera_views`). A
    :class:`pose2rig.train.sources.TwoDSource` (:meth:`sample`) and, since the 3D is known, a
    :class:`pose2rig.train.sources.ThreeDSource` (:meth:`sample_3d`), in ``joint_set``.
    """

    def __init__(self, poses: np.ndarray, *, device: str | torch.device = "cpu", joint_set: JointSet = H36M17_SET) -> None:
        if len(poses) == 0:
            raise Pose2RigError("no training poses")
        self.poses = torch.as_tensor(np.asarray(poses, dtype=np.float32), device=device)
        if self.poses.ndim != 3 or self.poses.shape[1:] != (H36M17.num_joints, 3):
            raise Pose2RigError(f"mocap poses: expected (N, 17, 3) h36m17, got {tuple(self.poses.shape)}")
        self.joint_set = joint_set
        self.n_joints = joint_set.n_joints

    def _film(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.poses), (batch,), generator=generator, device=self.poses.device)
        j = self.poses[idx]
        flip = torch.rand(batch, generator=generator, device=j.device) < 0.5
        j = torch.where(flip[:, None, None], mirror_poses(j), j)
        return virtual_camera_views(j, generator=generator)

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch, J, 2)`` normalised 2D poses."""
        px, _ = self._film(batch, generator)
        return self.joint_set.from_h36m17(px)

    def sample_3d(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, J, 2)`` pixels (principal point at the origin) and ``(batch, J, 3)``
        camera-frame joints (OpenCV axes, metres) of the same views."""
        px, cam = self._film(batch, generator)
        return self.joint_set.select(px), self.joint_set.select(cam)
