"""3D pose metrics and the lifter's evaluation on mocap seen by virtual cameras.

Metrics take ``pred`` and ``gt`` ``(..., J, 3)`` in metres and return one float (the mean over
every joint of every pose; poses with a NaN joint in either are left out).

- ``mpjpe``: mean per-joint position error after moving both roots to the origin.
- ``p_mpjpe``: after the best similarity transform per pose (rotation, translation, scale;
  :func:`pose2rig.geometry.procrustes_align`).
- ``n_mpjpe``: root-centred, then ``pred`` scaled by the least-squares factor per pose
  (Rhodin et al. 2018); the natural metric for a scale-free lifter.
- ``pck3d``: fraction of joints within ``threshold`` metres (150 mm), on the poses as given; pass
  scale-aligned predictions (:func:`scale_align`) for a scale-free lifter.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import procrustes_align


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise Pose2RigError(f"metrics: expected pred and gt of one shape (..., J, 3), got {p.shape} and {g.shape}")
    p = p.reshape(-1, *p.shape[-2:])
    g = g.reshape(-1, *g.shape[-2:])
    keep = np.all(np.isfinite(p), axis=(1, 2)) & np.all(np.isfinite(g), axis=(1, 2))
    if not keep.any():
        raise Pose2RigError("metrics: no pose where both pred and gt are finite")
    return p[keep], g[keep]


def _root_centre(x: np.ndarray, root: int) -> np.ndarray:
    return x - x[:, root : root + 1]


def mpjpe(pred: np.ndarray, gt: np.ndarray, *, root: int = 0) -> float:
    """Mean per-joint error (metres) after root alignment."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(_root_centre(p, root) - _root_centre(g, root), axis=-1)))


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error (metres) after Procrustes alignment with scale, per pose."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(procrustes_align(p, g, scale=True) - g, axis=-1)))


def scale_align(pred: np.ndarray, gt: np.ndarray, *, root: int = 0) -> np.ndarray:
    """Root-centre both and scale ``pred`` by the least-squares factor per pose; ``(N, J, 3)``.

    Returns the aligned prediction, root-centred and translated onto ``gt``'s root.
    """
    p, g = _pair(pred, gt)
    p0, g0 = _root_centre(p, root), _root_centre(g, root)
    k = np.sum(p0 * g0, axis=(1, 2)) / np.maximum(np.sum(p0 * p0, axis=(1, 2)), 1e-12)
    return k[:, None, None] * p0 + g[:, root : root + 1]


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, *, root: int = 0) -> float:
    """Mean per-joint error (metres) after root alignment and the best uniform scale per pose."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(scale_align(p, g, root=root) - g, axis=-1)))


def pck3d(pred: np.ndarray, gt: np.ndarray, *, threshold: float = 0.150) -> float:
    """Fraction of joints within ``threshold`` metres of the truth (poses as given)."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(p - g, axis=-1) <= threshold))


def all_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """P-MPJPE, N-MPJPE (metres) and PCK3D at 150 mm on scale-aligned predictions."""
    p, g = _pair(pred, gt)
    return {
        "p_mpjpe": p_mpjpe(p, g),
        "n_mpjpe": n_mpjpe(p, g),
        "pck3d": pck3d(scale_align(p, g), g),
    }


def synthetic_views(
    sequences: Iterable[np.ndarray],
    *,
    seed: int = 0,
    frame_step: int = 1,
    max_poses: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Film world-frame mocap ``[(T, 17, 3), ...]`` with fixed-seed random virtual cameras.

    The cameras follow :func:`pose2rig.lift.projection.virtual_camera_views` (the training
    distribution). Returns ``(N, 17, 2)`` pixels and ``(N, 17, 3)`` camera-frame ground truth.
    """
    import torch

    from pose2rig.lift.projection import virtual_camera_views

    joints = np.concatenate([np.asarray(s, dtype=np.float32)[::frame_step] for s in sequences])
    joints = joints[np.all(np.isfinite(joints), axis=(1, 2))]
    g = torch.Generator().manual_seed(seed)
    if max_poses is not None and len(joints) > max_poses:
        pick = torch.randperm(len(joints), generator=g)[:max_poses].sort().values.numpy()
        joints = joints[pick]
    with torch.no_grad():
        px, cam = virtual_camera_views(torch.from_numpy(joints).double(), generator=g)
    return px.float().numpy(), cam.float().numpy()


def evaluate_lifter(lifter, pixels: np.ndarray, gt_camera: np.ndarray) -> dict[str, float]:  # noqa: ANN001
    """Metrics of ``lifter`` (a :class:`pose2rig.lift.Lifter`; its constant-depth baseline
    through the same path) on 2D poses ``(N, 17, 2)`` against camera-frame truth ``(N, 17, 3)``.

    The lifter's scale-free shape is compared after scale (N-MPJPE, PCK3D) or similarity
    (P-MPJPE) alignment; metrics in metres.
    """
    from pose2rig.geometry import rotation_between
    from pose2rig.lift import codec

    norm, _, _ = codec.normalise(pixels, d=lifter.d)
    shape = lifter.shape(norm).astype(np.float64)
    # the lifter sees the root on the optical axis; turn its shape onto the root's actual ray
    gt = np.asarray(gt_camera, dtype=np.float64)
    ray = gt[:, codec.ROOT] / np.linalg.norm(gt[:, codec.ROOT], axis=-1, keepdims=True)
    align = rotation_between(np.broadcast_to([0.0, 0.0, 1.0], ray.shape), ray)
    return all_metrics(np.einsum("nij,nkj->nki", align, shape), gt)
