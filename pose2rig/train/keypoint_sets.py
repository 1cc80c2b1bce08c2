"""Real 2D poses as training data: a user's own keypoint files (``pose2rig detect`` output).

:class:`KeypointSetSource` lets a lifter be trained (2D only, no 3D anywhere) for the footage a
user cares about. :class:`Poses2DBank` is the shared sampler behind it and behind
:class:`pose2rig.train.h36m.H36MSource`.

Both follow the ``TwoDSource`` protocol of the training loop: ``n_joints`` and
``sample(batch, generator) -> (B, J, 2)`` normalised with :mod:`pose2rig.lift.codec`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.lift import codec
from pose2rig.skeletons import H36M17

log = logging.getLogger(__name__)

_MIRROR = list(H36M17.mirror)


class Poses2DBank:
    """Random draws from a fixed set of real 2D poses, normalised once with the codec.

    Args:
        pixels: ``(N, 17, 2)`` pixel poses (x right, y down), h36m17 order; poses with a NaN
            joint or a degenerate scale are dropped.
        mirror: mirror half of each draw (negate x, swap left/right joints): the 2D view of the
            mirrored person, a valid pose that doubles the variety.
        name: what the poses are, for messages.

    Attributes:
        poses: ``(M, 17, 2)`` float32 normalised poses, ``M <= N``
            (:func:`pose2rig.lift.codec.normalise`, the same as ``normalise_torch``).
        n_joints: 17.
    """

    n_joints: int = H36M17.num_joints

    def __init__(self, pixels: np.ndarray, *, mirror: bool = True, name: str = "2D poses") -> None:
        px = np.asarray(pixels, dtype=np.float64)
        if px.ndim != 3 or px.shape[1:] != (self.n_joints, 2):
            raise Pose2RigError(f"{name}: expected 2D poses (N, 17, 2), got {px.shape}")
        norm, _, _ = codec.normalise(px)
        keep = np.all(np.isfinite(norm), axis=(1, 2))
        if not keep.any():
            raise Pose2RigError(f"{name}: no usable 2D pose (all have missing joints or zero size)")
        if (~keep).any():
            log.info("%s: dropped %d of %d poses with missing joints or zero size", name, (~keep).sum(), len(px))
        self.poses = np.ascontiguousarray(norm[keep], dtype=np.float32)
        self.mirror = bool(mirror)
        self.name = name
        self._tensor: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.poses)

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch, 17, 2)`` float32 normalised poses, drawn uniformly with ``generator`` (on its device)."""
        dev = generator.device
        if self._tensor is None or self._tensor.device != dev:
            self._tensor = torch.from_numpy(self.poses).to(dev)
        idx = torch.randint(len(self._tensor), (batch,), generator=generator, device=dev)
        x = self._tensor[idx]
        if self.mirror:
            flip = torch.rand(batch, generator=generator, device=dev) < 0.5
            m = x[:, _MIRROR].clone()
            m[..., 0] = -m[..., 0]
            x = torch.where(flip[:, None, None], m, x)
        return x


def keypoint_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Keypoint ``.npz`` files from files and folders (searched for ``*.npz``, sorted)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.npz"))
        elif p.is_file():
            files.append(p)
        else:
            raise Pose2RigError(f"keypoints {p} not found; expected a .npz from pose2rig detect or a folder of them")
    if not files:
        raise Pose2RigError(f"no keypoint .npz files in {', '.join(map(str, paths))}")
    return files


def usable_frames(keypoints: np.ndarray, confidence: np.ndarray, *, min_confidence: float) -> np.ndarray:
    """``(T,)`` bool: every joint finite and at least ``min_confidence`` confident.

    Args:
        keypoints: ``(T, 17, 2)`` pixels, NaN where missing.
        confidence: ``(T, 17)`` in [0, 1].
    """
    return np.all(np.isfinite(keypoints), axis=(1, 2)) & np.all(confidence >= min_confidence, axis=1)


class KeypointSetSource(Poses2DBank):
    """2D poses from keypoint files written by ``pose2rig detect`` (a user's own videos).

    Args:
        paths: keypoint ``.npz`` files or folders of them (read with
            :func:`pose2rig.io.npz.load_keypoints`).
        min_confidence: a frame is kept only when every joint is present with at least this
            confidence (MediaPipe's visibility); the others are dropped.
        mirror: see :class:`Poses2DBank`.
        n_joints: must be 17 (the files hold h36m17).

    Raises :class:`Pose2RigError` naming the files when no frame is left.
    """

    def __init__(
        self,
        *,
        paths: Iterable[str | os.PathLike[str]],
        min_confidence: float = 0.5,
        mirror: bool = True,
        n_joints: int = 17,
    ) -> None:
        from pose2rig.io.npz import load_keypoints

        if n_joints != self.n_joints:
            raise Pose2RigError(f"keypoint sets hold h36m17 poses (17 joints), not n_joints={n_joints}")
        if not 0.0 <= min_confidence <= 1.0:
            raise Pose2RigError(f"min_confidence must be in [0, 1], got {min_confidence}")
        paths = tuple(paths)
        files = keypoint_files(paths)
        kept, total = [], 0
        for f in files:
            kp = load_keypoints(f)
            ok = usable_frames(kp.keypoints, kp.confidence, min_confidence=min_confidence)
            kept.append(kp.keypoints[ok])
            total += kp.num_frames
            log.info("%s: %d of %d frames usable", f.name, ok.sum(), kp.num_frames)
        pixels = np.concatenate(kept)
        if len(pixels) == 0:
            raise Pose2RigError(
                f"no frame of {len(files)} keypoint file(s) ({total} frames) has all 17 joints with "
                f"confidence >= {min_confidence}; lower min_confidence or add footage"
            )
        self.files = files
        self.frames_total = total
        super().__init__(pixels, mirror=mirror, name=f"keypoints ({len(files)} files)")
