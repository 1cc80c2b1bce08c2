"""The one normalisation of 2D poses, shared by training and inference.

A 2D pose in the image's pixel axes (x right, y down) is made root-relative and scale-free:

    normalised = (kp2d - root) / (d * scale)

where ``root`` is the pelvis and ``scale`` is the 2D head-to-root distance, so that the head lies
at distance ``1/d`` from the origin (Drover et al. 2018, with ``d = DEPTH = 10``).

Robust variant: when the head-to-root distance is degenerate (the torso points at the camera,
as when a person bows towards it), dividing by it would blow the pose up. The scale is therefore
``max(|head - root|, MIN_HEAD_RATIO * rms)``, with ``rms`` the root-mean-square 2D distance of all
joints from the root. For upright poses ``|head - root|`` is about 1.3 x ``rms`` and the floor is
never reached; it only holds the scale when the head-root distance collapses.

Convention:
    - Joint set: Human3.6M 17 (:data:`pose2rig.skeletons.H36M17`), root 0 (pelvis), head 10.
    - Axes: the image's pixel axes, x right, y down; no flip.
"""

from __future__ import annotations

import numpy as np

from pose2rig.errors import Pose2RigError

DEPTH = 10.0
"""``d``: the distance of the normalised pose from the camera, in head-to-root units x d."""
ROOT = 0
HEAD = 10
MIN_HEAD_RATIO = 0.5
"""The scale never drops below this fraction of the pose's 2D RMS radius."""


def constants() -> dict[str, float | int]:
    """The normalisation constants, as stored in a checkpoint (plain ints and floats)."""
    return {"depth": DEPTH, "root": ROOT, "head": HEAD, "min_head_ratio": MIN_HEAD_RATIO}


def _check(kp2d: np.ndarray) -> np.ndarray:
    kp = np.asarray(kp2d, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 2 or kp.shape[-2] <= HEAD:
        raise Pose2RigError(
            f"normalise: expected 2D poses (..., 17, 2) in the h36m17 joint set, got {kp.shape}"
        )
    return kp


def normalise(kp2d: np.ndarray, *, d: float = DEPTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root-centre and scale 2D poses.

    Args:
        kp2d: ``(..., J, 2)`` pixel coordinates (x right, y down), h36m17 order.
        d: the paper's depth constant; the head lands at distance ``1/d`` from the origin.

    Returns:
        normalised ``(..., J, 2)`` float32, root ``(..., 2)`` float32 pixels and scale ``(...,)``
        float32 pixels (head-to-root distance, or its robust floor). Poses with NaN joints give
        NaN outputs.
    """
    kp = _check(kp2d)
    root = kp[..., ROOT, :]
    rel = kp - root[..., None, :]
    head = np.linalg.norm(rel[..., HEAD, :], axis=-1)
    rms = np.sqrt(np.mean(np.sum(rel**2, axis=-1), axis=-1))
    scale = np.maximum(head, MIN_HEAD_RATIO * rms)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(scale > 0, scale, np.nan)
        out = rel / (d * scale[..., None, None])
    return out.astype(np.float32), root.astype(np.float32), scale.astype(np.float32)


def denormalise(
    normalised: np.ndarray, root: np.ndarray, scale: np.ndarray, *, d: float = DEPTH
) -> np.ndarray:
    """Inverse of :func:`normalise`: ``(..., J, 2)`` normalised -> ``(..., J, 2)`` pixels."""
    n = np.asarray(normalised, dtype=np.float64)
    root = np.asarray(root, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    return (n * (d * scale[..., None, None]) + root[..., None, :]).astype(np.float32)


def normalise_torch(kp2d, *, d: float = DEPTH):
    """:func:`normalise` for a torch tensor ``(B, J, 2)`` -> normalised ``(B, J, 2)`` only.

    Differentiable; used on the discriminator's fake samples so that real and fake 2D poses go
    through the same normalisation.
    """
    import torch

    rel = kp2d - kp2d[..., ROOT : ROOT + 1, :]
    head = torch.linalg.norm(rel[..., HEAD, :], dim=-1)
    rms = torch.sqrt(torch.mean(torch.sum(rel**2, dim=-1), dim=-1))
    scale = torch.maximum(head, MIN_HEAD_RATIO * rms).clamp_min(1e-8)
    return rel / (d * scale[..., None, None])


DEFAULT_ROLLS: tuple[float, ...] = (-15.0, 0.0, 15.0)
"""Camera rolls (degrees) that :class:`pose2rig.lift.Lifter` averages over by default: chosen on
the held-out CMU validation subject (bench/lifter_roll.py); Bandai-1 only scored the choice."""


def check_rolls(rolls) -> tuple[float, ...]:
    """``rolls`` as a non-empty tuple of finite angles in degrees, each within +-90."""
    try:
        out = tuple(float(a) for a in rolls)
    except (TypeError, ValueError):
        raise Pose2RigError(f"rolls must be angles in degrees, got {rolls!r}") from None
    if not out or not all(np.isfinite(a) and abs(a) <= 90.0 for a in out):
        raise Pose2RigError(f"rolls must be one or more angles in degrees within +-90, got {rolls!r}")
    return out


def parse_rolls(text: str) -> tuple[float, ...]:
    """Comma-separated angles in degrees (``"-15,0,15"``) as :func:`check_rolls` gives them."""
    try:
        return check_rolls([float(v) for v in str(text).split(",") if v.strip()])
    except ValueError:
        raise Pose2RigError(f"rolls must be angles in degrees such as -15,0,15, got {text!r}") from None


def view_averaged(offsets_fn, xy, perm: list[int], *, mirror: bool = True, rolls=(0.0,)):
    """Test-time averaging of a depth predictor over views that share every joint's depth (numpy
    or torch, ``(N, J, 2)`` root-centred normalised poses -> ``(N, J)``); ``perm``: each joint's
    left/right twin (:attr:`pose2rig.types.Skeleton.mirror`).

    - ``rolls`` (degrees): the lifter's frame puts the root on the optical axis, where rolling the
      camera about that axis turns the normalised 2D pose about the origin and leaves every depth
      unchanged; the predictor sees each turned copy.
    - ``mirror``: a pose and its mirror image (``x -> -x``, left and right swapped) have the same
      joint depths; the mirrored answers are swapped back.

    All ``len(rolls) x (2 if mirror else 1)`` views run as one batch and their answers are
    averaged: the predictor's left/right and orientation biases cancel.
    """
    n = xy.shape[0]
    is_np = isinstance(xy, np.ndarray)
    if is_np:
        flip = np.array([-1.0, 1.0], dtype=xy.dtype)
    else:
        import torch

        flip = xy.new_tensor([-1.0, 1.0])
    sources = [xy, xy[:, perm] * flip] if mirror else [xy]
    views = []
    for a in check_rolls(rolls):
        if a == 0.0:
            views.extend(sources)
            continue
        c, s = float(np.cos(np.radians(a))), float(np.sin(np.radians(a)))
        rot_t = np.array([[c, s], [-s, c]], dtype=np.float64)  # x' = R x for row vectors: x @ R^T
        rot_t = rot_t.astype(xy.dtype) if is_np else xy.new_tensor(rot_t)
        views.extend(v @ rot_t for v in sources)
    out = offsets_fn(np.concatenate(views) if is_np else torch.cat(views))
    total = 0.0
    for k in range(len(views)):
        o = out[k * n : (k + 1) * n]
        total = total + (o[:, perm] if mirror and k % 2 == 1 else o)
    return total / len(views)


def mirror_averaged(offsets_fn, xy, perm: list[int]):
    """:func:`view_averaged` over the pose and its mirror image only (no rolls)."""
    return view_averaged(offsets_fn, xy, perm, mirror=True, rolls=(0.0,))
