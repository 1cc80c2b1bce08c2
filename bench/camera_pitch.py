"""How level the world comes out when the camera looks down: CMU mocap filmed by pitched cameras.

Each clip (Human3.6M-17 world joints, :func:`pose2rig.io.mocap.load_bvh_as_h36m17`, resampled to
about 30 fps by taking every n-th frame, cut to ``--seconds``) is filmed by a pinhole camera per
pitch: seeded azimuth around the subject, horizontal distance ``--distance`` (uniform) beyond the
farthest the pelvis travels from its mean, field of view uniform in [50, 70] deg on 1280 x 720,
no roll, optical axis through the mean pelvis pitched by the given angle (positive looking down,
the lifter's elevation convention), so the camera's height follows from the pitch. Exact 2D
(no detector noise) goes through the bundled lifter (:func:`pose2rig.lift.lift`, default height
and the true field of view) and :func:`pose2rig.pipeline.clean_world` three ways:

- ``level``: ``camera_pitch=0``, the camera assumed level (the floor only lifted to y = 0);
- ``floor``: the default, the world levelled on the floor that the clean-up fits;
- ``given``: ``camera_pitch`` set to the truth.

Figures per pitch (mean and max over clips):

- ``floor tilt``: the angle between the result's world +Y and the true floor's normal (the
  mocap's +Y, carried into the camera frame by the true camera and out by the result's
  rotation), degrees. On ground-truth feet this is the tilt of the plane through the true
  ankles at their contacts mapped through the result's world transform; that plane fit
  (``feet``, ``y = a x + b z + c`` by least squares, ``atan(hypot(a, b))``; contacts: within 3 cm
  of the clip's lowest ankle height and slower than 0.3 m/s) is printed per clip with
  ``--per-clip``, but it is ill-posed where the contacts cluster (a clip standing in place), so
  the table uses the exact angle.
- ``pitch err``: recovered pitch (:func:`pose2rig.world.camera_pitch` of the rotation) minus the
  truth, degrees.
- ``WA-MPJPE``: world joints against the mocap's over 100-frame chunks after a similarity
  alignment on the whole chunk (the world-grounded papers' definition), mm. A constant tilt of
  the whole world is aligned away here, so only what the clean-up does differently shows.
- ``GA-MPJPE``: the same with an alignment that keeps +Y up (scale, a turn about +Y, a
  translation): what a tilted world costs.
- ``lifted body's pitch error``: the pitch shown by the lifted body's mean up direction (mid-ankles
  to head over the clip, camera frame) minus the same on the true camera-frame joints: how far the
  lifter's shapes lean towards a level camera.

    .venv/bin/python bench/camera_pitch.py [--clips N] [--seconds S] [--seed 0]

CMU only (the tuning set); never Bandai-1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.motion_metrics import ga_mpjpe, wa_mpjpe
from pose2rig.options import ConvertOptions
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, Keypoints2D, PoseSequence
from pose2rig.world import camera_pitch

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mocap"
CLIPS = ("cmu/scaled_131_01.bvh", "cmu/scaled_131_02.bvh", "cmu/scaled_131_03.bvh", "cmu/fairmotion_01_01.bvh",
         "cmu_iclone/002_01.bvh", "cmu_iclone/005_01.bvh", "cmu_iclone/006_01.bvh", "cmu_iclone/007_01.bvh")
PITCHES = (-10.0, 0.0, 10.0, 20.0, 30.0)
IMAGE = (1280, 720)
METHODS = ("level", "floor", "given")


def load_clip(path: Path, seconds: float) -> PoseSequence:
    """The clip at about 30 fps (every n-th frame), its first ``seconds``."""
    seq = load_bvh_as_h36m17(path)
    step = max(1, int(round(seq.fps / 30.0)))
    n = int(seconds * seq.fps / step)
    j = seq.joints[::step][:n]
    return PoseSequence(j, H36M17, seq.fps / step, np.arange(len(j)) * step / seq.fps, space="world")


def pitched_camera(pitch_deg: float, azimuth: float) -> np.ndarray:
    """``(3, 3)`` world (Y up) -> OpenCV camera rotation for a camera facing horizontal direction
    ``(sin az, 0, cos az)`` and pitched ``pitch_deg`` down, no roll."""
    th = np.radians(pitch_deg)
    f = np.array([np.sin(azimuth), 0.0, np.cos(azimuth)])
    up = np.array([0.0, 1.0, 0.0])
    z = np.cos(th) * f - np.sin(th) * up
    y = -(np.cos(th) * up + np.sin(th) * f)
    x = np.cross(y, z)
    return np.stack([x, y, z])


@dataclass(frozen=True)
class Filmed:
    keypoints: Keypoints2D
    rotation: np.ndarray  # world -> camera
    centre: np.ndarray  # camera centre in the world
    fov: float


def film(world: PoseSequence, pitch_deg: float, rng: np.random.Generator, distance: tuple[float, float]) -> Filmed:
    j = world.joints.astype(np.float64)
    pelvis = j[:, 0]
    mean = pelvis.mean(axis=0)
    reach = float(np.max(np.linalg.norm((pelvis - mean)[:, [0, 2]], axis=-1)))
    az = rng.uniform(0, 2 * np.pi)
    d = reach + rng.uniform(*distance)
    fov = rng.uniform(50.0, 70.0)
    r = pitched_camera(pitch_deg, az)
    forward = r[2]
    # the optical axis passes through the mean pelvis, d away horizontally
    centre = mean - forward * d / np.cos(np.radians(pitch_deg))
    cam = (j - centre) @ r.T
    camera = Camera.from_fov(IMAGE, fov)
    px = camera.project(cam)
    kp = Keypoints2D(px, np.ones(px.shape[:2], np.float32), H36M17, IMAGE, world.fps, world.timestamps)
    return Filmed(kp, r, centre, fov)


def contacts(world: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 2)`` bool: the true ankles at rest on the floor."""
    ankles = world[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")]]
    h = ankles[..., 1]
    speed = np.zeros(h.shape)
    speed[1:] = np.linalg.norm(np.diff(ankles, axis=0), axis=-1) * fps
    speed[0] = speed[1]
    return (h < np.percentile(h, 2) + 0.03) & (speed < 0.3)


def floor_tilt(points: np.ndarray) -> float:
    """Degrees: the tilt of the least-squares plane ``y = a x + b z + c`` through ``points (N, 3)``."""
    a = np.stack([points[:, 0], points[:, 2], np.ones(len(points))], axis=1)
    coef = np.linalg.lstsq(a, points[:, 1], rcond=None)[0]
    return float(np.degrees(np.arctan(np.hypot(coef[0], coef[1]))))


def chunked(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """WA-MPJPE (:func:`pose2rig.motion_metrics.wa_mpjpe`: a similarity alignment per 100-frame
    chunk) and GA-MPJPE (:func:`pose2rig.motion_metrics.ga_mpjpe`: the same with +Y kept up),
    which a tilted world cannot hide from; mm."""
    return wa_mpjpe(pred, gt), ga_mpjpe(pred, gt)


def body_pitch(camera_joints: np.ndarray) -> float:
    """Degrees: the camera's pitch that the body's mean up direction (mid-ankles to head over the
    clip, in the camera frame) shows, taking the body as upright."""
    i = H36M17.index
    v = camera_joints[:, i("head")] - 0.5 * (camera_joints[:, i("left_ankle")] + camera_joints[:, i("right_ankle")])
    m = (v / np.linalg.norm(v, axis=-1, keepdims=True)).mean(axis=0)
    return float(np.degrees(np.arctan2(-m[2], -m[1])))


def run_one(world: PoseSequence, filmed: Filmed, pitch_deg: float, lifter) -> dict[str, dict[str, float]]:
    from pose2rig.lift import lift
    from pose2rig.pipeline import clean_world

    cam = lift(filmed.keypoints, lifter=lifter, fov=filmed.fov)
    gt = world.joints.astype(np.float64)
    gt_cam = (gt - filmed.centre) @ filmed.rotation.T
    on = contacts(gt, world.fps)
    ankles = gt_cam[:, [H36M17.index("left_ankle"), H36M17.index("right_ankle")]][on]
    out = {"body": {"bias": body_pitch(cam.joints.astype(np.float64)) - body_pitch(gt_cam)}}
    for method, pitch in zip(METHODS, (0.0, None, pitch_deg), strict=True):
        o = ConvertOptions.from_flat(camera_pitch=pitch, root_motion="on")
        _, wp, rot, trans, _ = clean_world(cam, o, lifter)
        wa, ga = chunked(wp.joints.astype(np.float64), gt)
        true_up = rot @ filmed.rotation @ np.array([0.0, 1.0, 0.0])
        out[method] = {
            "tilt": float(np.degrees(np.arccos(np.clip(true_up[1], -1.0, 1.0)))),
            "feet": floor_tilt(ankles @ rot.T + trans),
            "pitch_err": float(np.degrees(camera_pitch(rot))) - pitch_deg,
            "wa": wa, "ga": ga,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=len(CLIPS), help="how many of the CMU clips (in CLIPS order)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--distance", type=float, nargs=2, default=(3.0, 6.0))
    ap.add_argument("--pitches", type=float, nargs="+", default=PITCHES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-clip", action="store_true", help="print a row per clip and pitch too")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    from pose2rig.lift import load_lifter

    lifter = load_lifter()
    clips = [(p, load_clip(DATA / p, args.seconds)) for p in CLIPS[:args.clips]]
    rows: dict[float, list[dict[str, dict[str, float]]]] = {}
    for pitch in args.pitches:
        for n, (name, world) in enumerate(clips):
            rng = np.random.default_rng([args.seed, n, int(round(10 * pitch)) % 10000])
            r = run_one(world, film(world, pitch, rng, tuple(args.distance)), pitch, lifter)
            rows.setdefault(pitch, []).append(r)
            if args.per_clip:
                print(f"{pitch:+5.0f} {name:28s} body {r['body']['bias']:+5.1f} " + "  ".join(
                    f"{m}: tilt {r[m]['tilt']:5.2f} feet {r[m]['feet']:5.2f} pitch {r[m]['pitch_err']:+6.2f} WA {r[m]['wa']:4.0f} "
                    f"GA {r[m]['ga']:4.0f}" for m in METHODS), flush=True)
    print(f"\n{len(clips)} CMU clips, {args.seconds:g} s each at ~30 fps, seed {args.seed}. Angles in degrees "
          "(mean / largest over clips), WA- and GA-MPJPE in mm (mean over clips)\n")
    print("| pitch in (+ down) | lifted body's pitch error | floor tilt: level / floor / given "
          "| pitch error: floor | WA-MPJPE: level / floor / given | GA-MPJPE: level / floor / given |")
    print("|---|---|---|---|---|---|")
    def stat(rs: list, m: str, k: str, signed: bool = False) -> str:
        v = np.array([r[m][k] for r in rs])
        return f"{v.mean():+.1f} / {np.abs(v).max():.1f}" if signed else f"{v.mean():.1f} / {v.max():.1f}"

    def mean(rs: list, k: str) -> str:
        return " / ".join(f"{np.mean([r[m][k] for r in rs]):.0f}" for m in METHODS)

    for pitch, rs in rows.items():
        tilt = " ; ".join(stat(rs, m, "tilt") for m in METHODS)
        print(f"| {pitch:+.0f} | {stat(rs, 'body', 'bias', True)} | {tilt} | {stat(rs, 'floor', 'pitch_err', True)} "
              f"| {mean(rs, 'wa')} | {mean(rs, 'ga')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
