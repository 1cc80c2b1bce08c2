"""How plausible each 3D pose looks to the lifter's discriminator: one score per frame.

The discriminator was trained to tell 2D views of real people (mocap filmed by virtual cameras)
from the random projection layer's views of the generator's 3D poses. A 3D pose is scored here the
way the training scored the generator's poses: put in the lifter's frame, viewed by the random
projection layer's camera model (:func:`pose2rig.lift.projection.project` with
:func:`~pose2rig.lift.projection.rotation_matrices`), normalised by the training's own code
(:meth:`pose2rig.lift.joints.JointSet.from_h36m17`, i.e. :func:`pose2rig.lift.codec.normalise_torch`
for h36m17), and given to the discriminator; only the cameras are fixed instead of random.

Convention:
    - Input ``(T, 17, 3)`` Human3.6M-17 joints in metres; ``space="world"`` (default): Y up (the
      world frame of :mod:`pose2rig.types`); ``space="camera"``: OpenCV axes (y down), as
      :func:`pose2rig.lift.lift` returns them, viewed about the camera's own vertical axis.
    - The lifter's frame (:mod:`pose2rig.lift.projection`): camera axes (x right, y down, z
      forward), the root (pelvis) at ``T = [0, 0, d]`` (``d`` the codec's depth, 10), the pose
      scaled so its head lies one unit from the root, as the generator's back-projected poses do
      (their head is ``1/d`` from the root in the normalised image at depth ``d``; the codec's
      robust floor applies, in 3D: the unit is never under ``MIN_HEAD_RATIO`` of the pose's RMS
      radius). The scale only sets how strong the perspective is; the 2D normalisation after the
      projection removes it. A world pose
      enters it turned by pi about X (Y up -> y down, facing the camera at azimuth 0), as
      :func:`~pose2rig.lift.projection.virtual_camera_views` films the real samples.
    - Views: ``R = R_x(elevation) @ R_y(azimuth)`` about ``T`` for every pair of ``views``
      azimuths evenly spaced over 360 degrees from 0 and the given ``elevations`` (degrees,
      positive: the camera above, looking down; training drew them from 0 to 20).
    - The score is the discriminator's logit (before the sigmoid; higher: more like a real
      person), averaged over the views. It is comparable between frames and clips scored with one
      lifter, not between lifters.
"""

from __future__ import annotations

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.lift import codec
from pose2rig.skeletons import H36M17

VIEWS = 8
"""Azimuths of the fixed virtual cameras, evenly spaced over 360 degrees."""
ELEVATIONS: tuple[float, ...] = (20.0, 30.0)
"""Elevations (degrees) of the fixed virtual cameras, inside the training's ranges (the random
projection layer's 0 to 20, the real samples' -10 to 30). Chosen on the CMU tuning set
(``bench/cleanup.py --plausibility``): the views from above separate spiked and swapped frames
from jitter-only ones best (ROC AUC 0.905 against 0.72 at 0 degrees alone)."""


def _world_to_camera(p: np.ndarray) -> np.ndarray:
    """Y up -> y down by a proper rotation: pi about X (flip y and z)."""
    return p * np.array([1.0, -1.0, -1.0])


def plausibility(
    joints: np.ndarray,
    lifter,
    *,
    views: int = VIEWS,
    elevations: tuple[float, ...] = ELEVATIONS,
    space: str = "world",
    batch: int = 8192,
) -> np.ndarray:
    """The mean discriminator logit of each frame over fixed virtual cameras.

    Args:
        joints: ``(T, 17, 3)`` Human3.6M-17 joints in metres (see the module's Convention).
        lifter: a :class:`pose2rig.lift.Lifter` that carries its discriminator
            (:func:`pose2rig.lift.load_lifter` of a checkpoint written by ``pose2rig train``).
        views: azimuths per elevation, evenly spaced over 360 degrees from 0.
        elevations: camera elevations in degrees.
        space: ``"world"`` (Y up) or ``"camera"`` (OpenCV axes, y down).
        batch: discriminator rows per forward pass.

    Returns:
        ``(T,)`` float64 scores: the logit averaged over the ``views x len(elevations)`` cameras
        (higher: more plausible); NaN for frames with a non-finite joint.
    """
    disc = getattr(lifter, "discriminator", None)
    if disc is None:
        raise Pose2RigError(
            "plausibility: this lifter has no discriminator (its checkpoint lacks 'discriminator' and "
            "'discriminator_state'); use a checkpoint written by pose2rig train, such as the bundled one"
        )
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (H36M17.num_joints, 3):
        raise Pose2RigError(f"plausibility: expected Human3.6M-17 joints (T, 17, 3), got {x.shape}")
    if space not in ("world", "camera"):
        raise ArgumentError(f"{{space}} must be 'world' or 'camera', got {space!r}", "space")
    if int(views) < 1:
        raise ArgumentError(f"{{views}} must be at least 1, got {views}", "views")
    el = np.asarray(tuple(elevations), dtype=np.float64)
    if el.ndim != 1 or el.size == 0 or not np.all(np.isfinite(el)) or np.any(np.abs(el) >= 90.0):
        raise ArgumentError(f"{{elevations}} must be one or more angles within +-90 degrees, got {elevations!r}",
                            "elevations")
    numpy_nets = bool(getattr(lifter, "runs_without_torch", False))
    js = None if numpy_nets else lifter.joints
    name, n_joints = (H36M17.name, H36M17.num_joints) if js is None else (js.name, js.n_joints)
    if disc.n_joints != n_joints:
        raise Pose2RigError(
            f"plausibility: the discriminator takes {disc.n_joints} joints, the lifter's joint set "
            f"{name!r} has {n_joints}"
        )

    out = np.full(x.shape[0], np.nan)
    ok = np.all(np.isfinite(x), axis=(1, 2))
    if not ok.any():
        return out
    p = x[ok] if space == "camera" else _world_to_camera(x[ok])
    rel = p - p[:, codec.ROOT : codec.ROOT + 1]
    head = np.linalg.norm(rel[:, codec.HEAD], axis=-1)
    rms = np.sqrt(np.mean(np.sum(rel**2, axis=-1), axis=-1))
    scale = np.maximum(head, codec.MIN_HEAD_RATIO * rms)  # the codec's robust floor, in 3D
    good = scale > 0
    d = float(getattr(lifter, "d", codec.DEPTH))
    units = rel[good] / scale[good, None, None] + np.array([0.0, 0.0, d])

    az = np.arange(int(views)) * (2.0 * np.pi / int(views))
    ee, aa = np.meshgrid(np.radians(el), az, indexing="ij")
    scores = np.full(int(ok.sum()), np.nan)
    if numpy_nets:
        scores[good] = _scores_numpy(units, ee.ravel(), aa.ravel(), disc, d, batch=int(batch))
        out[ok] = scores
        return out
    import torch

    from pose2rig.lift.projection import project, rotation_matrices

    js = lifter.joints
    rot = rotation_matrices(torch.from_numpy(ee.ravel()), torch.from_numpy(aa.ravel())).float()  # (V, 3, 3)
    n_views = rot.shape[0]
    pts = torch.from_numpy(units.astype(np.float32))  # (N, 17, 3)
    dev = next(disc.parameters()).device
    was_training = disc.training
    disc.eval()
    total = torch.zeros(pts.shape[0], dtype=torch.float64)
    per = max(int(batch) // n_views, 1)
    try:
        with torch.no_grad():
            for i in range(0, pts.shape[0], per):
                chunk = pts[i : i + per]  # (n, 17, 3)
                n = chunk.shape[0]
                rows = chunk[None].expand(n_views, -1, -1, -1).reshape(n_views * n, -1, 3)
                r = rot[:, None].expand(-1, n, -1, -1).reshape(n_views * n, 3, 3)
                xy = js.from_h36m17(project(rows, r, d))
                logits = disc(xy.to(dev)).float().cpu().double().view(n_views, n)
                total[i : i + n] = logits.mean(dim=0)
    finally:
        disc.train(was_training)
    scores[good] = total.numpy()
    out[ok] = scores
    return out


def _scores_numpy(units: np.ndarray, elevation: np.ndarray, azimuth: np.ndarray, disc, d: float, *,
                  batch: int) -> np.ndarray:
    """The torch branch of :func:`plausibility` in float32 numpy, for the numpy discriminator of
    :mod:`pose2rig.lift.numpy_infer`: ``units (N, 17, 3)`` in the lifter's frame, the views'
    angles ``(V,)`` in radians -> ``(N,)`` float64 mean logits."""
    from pose2rig.lift.numpy_infer import normalise_h36m17

    ce, se, ca, sa = np.cos(elevation), np.sin(elevation), np.cos(azimuth), np.sin(azimuth)
    zero, one = np.zeros_like(ce), np.ones_like(ce)
    rx = np.stack([one, zero, zero, zero, ce, -se, zero, se, ce], axis=-1).reshape(-1, 3, 3)
    ry = np.stack([ca, zero, sa, zero, one, zero, -sa, zero, ca], axis=-1).reshape(-1, 3, 3)
    rot_t = (rx @ ry).astype(np.float32).transpose(0, 2, 1)  # (V, 3, 3): rows times R^T
    n_views = rot_t.shape[0]
    pts = units.astype(np.float32)
    t = np.array([0.0, 0.0, d], dtype=np.float32)
    total = np.zeros(pts.shape[0])
    per = max(batch // n_views, 1)
    for i in range(0, pts.shape[0], per):
        chunk = pts[i : i + per]  # (n, 17, 3)
        n = chunk.shape[0]
        p = (chunk[None] - t) @ rot_t[:, None] + t  # (V, n, 17, 3): projection.project
        xy = p[..., :2] / np.maximum(p[..., 2:3], np.float32(1.0))
        logits = disc(normalise_h36m17(xy.reshape(n_views * n, -1, 2)))
        total[i : i + n] = logits.astype(np.float64).reshape(n_views, n).mean(axis=0)
    return total


__all__ = ["ELEVATIONS", "VIEWS", "plausibility"]
