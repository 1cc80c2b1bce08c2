"""Lifting 2D keypoints to absolute 3D camera coordinates with a trained generator.

The lifter predicts a scale-free, root-relative 3D shape from each normalised 2D pose. :func:`lift`
gives it metric size from the subject's standing height and places every joint on its own camera
ray, so the result reprojects exactly onto the input keypoints.

Checkpoint format (one file, loadable with ``torch.load(weights_only=True)``; plain dicts, lists,
str, int, float and tensors only)::

    format: "pose2rig-lifter", version: 1, skeleton: "h36m17", joint_names: [17 str]
    codec: {depth, root, head, min_head_ratio}        # pose2rig.lift.codec.constants()
    generator: {n_joints, width, blocks}, generator_state: state_dict
    discriminator: {n_joints, width, blocks}, discriminator_state: state_dict
    config: {TrainConfig fields as plain values}, step: int, metrics: {name: float}
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pose2rig.assets import bundled
from pose2rig.errors import Pose2RigError
from pose2rig.geometry import rotation_between
from pose2rig.lift import codec
from pose2rig.options import LiftOptions, check_height
from pose2rig.skeletons import (
    H36M17,
    map_points,
    mapping_to_h36m17,
)
from pose2rig.types import Camera, Keypoints2D, PoseSequence

log = logging.getLogger(__name__)

FORMAT = "pose2rig-lifter"
VERSION = 1

CHUNK = 1024
"""Generator rows per forward pass in :meth:`Lifter.shapes_from_pixels` (bench/lifter_speed.py)."""

# Standing height from the skeleton: (mean leg hip-knee-ankle + pelvis-spine-thorax-neck-head
# chain) x HEIGHT_PER_CHAIN. The factor (head top over the floor / chain, median over upright
# frames of the CMU training clips: 1.008) covers the ankle height above the floor.
HEIGHT_PER_CHAIN = 1.01
_LEG = ((1, 2), (2, 3), (4, 5), (5, 6))
_SPINE = ((0, 7), (7, 8), (8, 9), (9, 10))


def default_checkpoint() -> Path:
    """The bundled lifter, ``lifter_h36m17.pt`` (kept in ``models/`` with its model card, shipped as
    package data); raises :class:`Pose2RigError` when the install lacks it."""
    return bundled("models", "lifter_h36m17.pt")


def skeleton_height(joints: np.ndarray) -> np.ndarray:
    """Standing height implied by h36m17 bone lengths: ``(..., 17, 3)`` -> ``(...,)`` metres."""
    j = np.asarray(joints, dtype=np.float64)

    def length(pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
        return sum(np.linalg.norm(j[..., b, :] - j[..., a, :], axis=-1) for a, b in pairs)

    return (0.5 * length(_LEG) + length(_SPINE)) * HEIGHT_PER_CHAIN


class Lifter:
    """A trained generator with its normalisation; ``generator=None`` is the constant-depth
    baseline (every depth offset zero), evaluated through the same code path."""

    def __init__(
        self, generator=None, *, d: float = codec.DEPTH, meta: dict | None = None, mirror: bool = True,
        joints: str = "h36m17", rolls: tuple[float, ...] = codec.DEFAULT_ROLLS, discriminator=None,
    ) -> None:
        self.generator = generator
        self.discriminator = discriminator
        """The checkpoint's discriminator (eval mode) or None: scores 3D poses by their projections
        (:func:`pose2rig.lift.plausibility.plausibility`)."""
        self.d = float(d)
        self.meta = dict(meta or {})
        self.mirror = bool(mirror)
        """Average each pose's depths with its mirror image's (:func:`codec.view_averaged`)."""
        self.rolls = codec.check_rolls(rolls)
        """Camera rolls (degrees) whose views' depths are averaged (:func:`codec.view_averaged`);
        ``(0.0,)`` turns roll averaging off."""
        self.joint_set_name = str(joints)
        """The joints it predicts: ``h36m17`` (what :func:`lift` needs) or ``paper14``."""

    @classmethod
    def constant_depth(cls, joints: str = "h36m17") -> Lifter:
        return cls(None, meta={"name": "constant depth"}, joints=joints)

    @property
    def joints(self):
        from pose2rig.lift.joints import joint_set

        return joint_set(self.joint_set_name)

    def shapes_from_pixels(self, pixels: np.ndarray, *, batch: int | None = None) -> np.ndarray:
        """Root-relative shapes ``(N, J, 3)`` float64 (normalised units, camera axes, the root on
        the optical axis) of this lifter's joint set from h36m17 2D poses ``(N, 17, 2)``; the root
        is the set's (the pelvis, or the mid-hip point for ``paper14``). NaN rows where a pose
        cannot be normalised. Runs on the generator's device (numpy networks of
        :mod:`pose2rig.lift.numpy_infer` in numpy), averaged over ``rolls`` and, when ``mirror``,
        mirror images (:func:`codec.view_averaged`: all views of a pose in one batch), in chunks
        of ``batch`` generator rows (default 1,024): larger chunks make glibc hand 4 MB buffers
        back to the OS and fault them in again on every call (bench/lifter_speed.py).
        """
        px = np.asarray(pixels, dtype=np.float32)
        if px.ndim != 3 or px.shape[1:] != (H36M17.num_joints, 2):
            raise Pose2RigError(f"lifter: expected h36m17 2D poses (N, 17, 2), got {px.shape}")
        if self.runs_without_torch:
            return self._shapes_numpy(px, batch=batch)
        import torch

        js = self.joints
        xy = js.from_h36m17(torch.from_numpy(px)).double().numpy()
        out = np.full(xy.shape[:-1] + (3,), np.nan)
        ok = np.all(np.isfinite(xy), axis=(1, 2))
        if not ok.any():
            return out
        offsets = np.zeros(xy[ok].shape[:-1])
        if self.generator is not None:
            gen = self.generator
            dev = next(gen.parameters()).device
            perm = list(js.skeleton.mirror)
            rows = batch if batch is not None else CHUNK
            batch = max(rows // (len(self.rolls) * (2 if self.mirror else 1)), 1)
            was_training = gen.training
            gen.eval()
            chunks = []
            with torch.no_grad():
                valid = xy[ok].astype(np.float32)
                for i in range(0, len(valid), batch):
                    chunk = torch.from_numpy(valid[i : i + batch]).to(dev)
                    o = codec.view_averaged(gen, chunk, perm, mirror=self.mirror, rolls=self.rolls)
                    chunks.append(o.float().cpu().double().numpy())
            gen.train(was_training)
            offsets = np.concatenate(chunks)
        z = np.maximum(self.d + offsets, 1.0)
        x3 = np.concatenate([xy[ok] * z[..., None], z[..., None]], axis=-1)
        out[ok] = x3 - x3[:, list(js.root)].mean(axis=1, keepdims=True)
        return out

    @property
    def runs_without_torch(self) -> bool:
        """Whether its networks are numpy ones (:mod:`pose2rig.lift.numpy_infer`): lifting and
        scoring then import no torch."""
        from pose2rig.lift.numpy_infer import NumpyGenerator

        return isinstance(self.generator, NumpyGenerator) and self.joint_set_name == H36M17.name

    def _shapes_numpy(self, px: np.ndarray, *, batch: int | None) -> np.ndarray:
        """:meth:`shapes_from_pixels` through numpy networks: the same steps in float32."""
        from pose2rig.lift.numpy_infer import normalise_h36m17

        xy = normalise_h36m17(px).astype(np.float64)
        out = np.full(xy.shape[:-1] + (3,), np.nan)
        ok = np.all(np.isfinite(xy), axis=(1, 2))
        if not ok.any():
            return out
        valid = xy[ok].astype(np.float32)
        views = len(self.rolls) * (2 if self.mirror else 1)
        rows = max((batch if batch is not None else CHUNK) // views, 1)
        perm = list(H36M17.mirror)
        offsets = np.concatenate([
            codec.view_averaged(self.generator, valid[i : i + rows], perm, mirror=self.mirror, rolls=self.rolls)
            for i in range(0, len(valid), rows)
        ]).astype(np.float64)
        z = np.maximum(self.d + offsets, 1.0)
        x3 = np.concatenate([xy[ok] * z[..., None], z[..., None]], axis=-1)
        out[ok] = x3 - x3[:, codec.ROOT : codec.ROOT + 1]
        return out


def check_checkpoint(ck: object, path: Path) -> None:
    """Raise :class:`Pose2RigError` naming ``path`` unless ``ck`` (a loaded checkpoint) is a pose2rig
    lifter of this version, for a known joint set, with this version's normalisation."""
    p = path
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise Pose2RigError(f"{p} is not a pose2rig lifter checkpoint (format {FORMAT!r} expected)")
    if ck.get("version") != VERSION:
        raise Pose2RigError(f"{p}: lifter checkpoint version {ck.get('version')}, expected {VERSION}")
    names = list(ck.get("joint_names", []))
    if not (ck.get("skeleton") == H36M17.name and names == list(H36M17.joint_names)):
        # imports torch: not on the bundled lifter's path
        from pose2rig.lift.joints import JOINT_SETS

        js = JOINT_SETS.get(str(ck.get("skeleton")))
        if js is None or names != list(js.skeleton.joint_names):
            raise Pose2RigError(
                f"{p}: lifter for joint set {ck.get('skeleton')!r}, expected one of {', '.join(JOINT_SETS)}"
            )
    cc = ck.get("codec", {})
    if cc.get("root") != codec.ROOT or cc.get("head") != codec.HEAD or cc.get(
        "min_head_ratio"
    ) != codec.MIN_HEAD_RATIO:
        raise Pose2RigError(f"{p}: normalisation {cc} differs from this version's {codec.constants()}")


def load_lifter(
    path: Path | None = None, *, mirror: bool = True, rolls: tuple[float, ...] = codec.DEFAULT_ROLLS,
) -> Lifter:
    """Load a lifter checkpoint (default: :func:`default_checkpoint`); ``mirror`` and ``rolls``:
    see :class:`Lifter`.

    Uses ``torch.load(weights_only=True)`` only. Raises :class:`Pose2RigError` naming the file
    when it is missing, unreadable, not a pose2rig lifter or made for another model shape.
    """
    import torch

    from pose2rig.lift.model import Discriminator, Generator

    p = Path(path) if path is not None else default_checkpoint()
    if not p.is_file():
        raise Pose2RigError(f"lifter checkpoint {p} not found; expected a file written by pose2rig train")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise Pose2RigError(
            f"lifter checkpoint {p} is corrupt or not a torch file ({type(e).__name__}); "
            "expected a pose2rig lifter checkpoint"
        ) from None
    check_checkpoint(ck, p)
    from pose2rig.lift.joints import JOINT_SETS

    js = JOINT_SETS[str(ck.get("skeleton"))]
    cc = ck.get("codec", {})
    try:
        g = ck["generator"]
        gen = Generator.from_spec(g)
        gen.load_state_dict(ck["generator_state"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise Pose2RigError(f"{p}: generator weights do not fit the stored model shape ({e})") from None
    gen.eval()
    disc = None
    if "discriminator" in ck and "discriminator_state" in ck:
        try:
            disc = Discriminator.from_spec(ck["discriminator"])
            disc.load_state_dict(ck["discriminator_state"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise Pose2RigError(f"{p}: discriminator weights do not fit the stored model shape ({e})") from None
        disc.eval()
    meta = {k: ck.get(k) for k in ("config", "step", "metrics", "train_seconds")}
    return Lifter(gen, d=float(cc.get("depth", codec.DEPTH)), meta=meta, mirror=mirror, joints=js.name, rolls=rolls,
                  discriminator=disc)


def _to_h36m17(keypoints: Keypoints2D) -> tuple[np.ndarray, np.ndarray]:
    mapping = mapping_to_h36m17(keypoints.skeleton, what="lift")
    if mapping is None:
        return keypoints.keypoints, keypoints.confidence
    return map_points(keypoints.keypoints, keypoints.confidence, mapping)


def place_on_rays(shape: np.ndarray, pixels: np.ndarray, camera: Camera) -> np.ndarray:
    """Absolute camera-frame joints from a metric root-relative shape and the pixels it came from.

    Args:
        shape: ``(N, J, 3)`` metric, root-relative, camera axes, as seen with the root on the
            optical axis (the lifter's frame).
        pixels: ``(N, J, 2)`` the 2D keypoints.
        camera: intrinsics of the image.

    Returns:
        ``(N, J, 3)`` joints ``P_i = lambda_i K^-1 [u_i, v_i, 1]``: each exactly on its pixel's
        ray. The shape is first turned so its axis points along the root's ray, then the root's
        distance ``s`` is the least-squares fit of the rays' spread to the shape's x, y extent
        (the ratio of 3D size to 2D size), and each joint's depth is the root's depth plus the
        shape's relative depth.
    """
    n = shape.shape[0]
    uv1 = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1).astype(np.float64)
    rays = uv1 @ np.linalg.inv(camera.matrix).T  # (N, J, 3), z = 1
    root_dir = rays[:, codec.ROOT] / np.linalg.norm(rays[:, codec.ROOT], axis=-1, keepdims=True)
    align = rotation_between(np.broadcast_to([0.0, 0.0, 1.0], (n, 3)), root_dir)
    m = np.einsum("nij,nkj->nki", align, shape.astype(np.float64))
    a = root_dir[:, None, 2:3] * rays[..., :2] - root_dir[:, None, :2]
    b = m[..., :2] - m[..., 2:3] * rays[..., :2]
    s = np.sum(a * b, axis=(1, 2)) / np.maximum(np.sum(a * a, axis=(1, 2)), 1e-12)
    # keep every joint in front of the camera (10 cm at least)
    s_min = (0.1 - np.min(m[..., 2], axis=-1)) / root_dir[:, 2]
    s = np.maximum(s, s_min)
    depth = s[:, None] * root_dir[:, None, 2] + m[..., 2]
    return (depth[..., None] * rays).astype(np.float32)


def lift(
    keypoints: Keypoints2D,
    *,
    lifter: Lifter | None = None,
    height: float = LiftOptions.height,
    fov: float = LiftOptions.fov,
) -> PoseSequence:
    """Lift 2D keypoints to absolute 3D joints in the camera frame.

    Args:
        keypoints: ``(T, 17, 2)`` h36m17 keypoints (mediapipe33 and coco17 are mapped first).
        lifter: a loaded lifter; default :func:`load_lifter` ``()``.
        height: the subject's standing height in metres; sets the metric size (per frame, from
            the lifted bone lengths, see :func:`skeleton_height`) and thereby the root depth.
        fov: the camera's horizontal field of view in degrees.

    Returns:
        ``PoseSequence`` with ``space="camera"``, ``camera=Camera.from_fov(image_size, fov)``,
        skeleton h36m17, joints ``(T, 17, 3)`` metres that reproject onto the keypoints. Frames
        with any missing joint are NaN with confidence 0.
    """
    check_height(height)
    if not isinstance(keypoints, Keypoints2D):
        raise Pose2RigError(f"lift: expected Keypoints2D, got {type(keypoints).__name__}")
    camera = Camera.from_fov(keypoints.image_size, fov)
    lifter = lifter if lifter is not None else load_lifter()
    if lifter.joint_set_name != H36M17.name:
        raise Pose2RigError(
            f"lift: this lifter predicts the {lifter.joint_set_name!r} joint set (for evaluating the "
            "paper's protocol); lifting videos needs an 'h36m17' lifter such as the bundled one"
        )
    kp, conf = _to_h36m17(keypoints)
    t = kp.shape[0]
    ok = np.all(np.isfinite(kp), axis=(1, 2))
    joints = np.full((t, H36M17.num_joints, 3), np.nan, dtype=np.float32)
    if ok.any():
        shapes = lifter.shapes_from_pixels(kp[ok])
        good = np.all(np.isfinite(shapes), axis=(1, 2))
        idx = np.flatnonzero(ok)[good]
        ok[:] = False
        ok[idx] = True
        if len(idx):
            shape = shapes[good]
            alpha = height / np.maximum(skeleton_height(shape), 1e-9)
            joints[idx] = place_on_rays(shape * alpha[:, None, None], kp[idx], camera)
    conf = np.where(ok[:, None], conf, 0.0).astype(np.float32)
    if not ok.all():
        log.info("lift: %d of %d frames had missing joints and were left empty", (~ok).sum(), t)
    return PoseSequence(
        joints=joints,
        skeleton=H36M17,
        fps=keypoints.fps,
        timestamps=keypoints.timestamps,
        space="camera",
        confidence=conf,
        camera=camera,
        landmarks33=keypoints.landmarks33,
    )
