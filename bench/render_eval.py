"""Rendered footage with exact truth: real mocap on a character, filmed by a seeded random camera.

The rendering half of the whole-pipeline benchmark (issue 13): a BVH clip is moved onto a
character (:func:`pose2rig.retarget.retarget`), skinned per frame
(:func:`pose2rig.retarget.lbs.skin_frame`), rendered offscreen with pyrender over a background
and written as an mp4 beside an npz of its Human3.6M-17 ground truth and camera, in a cache
(:func:`render_clip`). :func:`score_clip` runs MediaPipe on a render once (cached beside it),
then ``convert`` on its keypoints, and scores constant depth, MediaPipe's own world landmarks and
the shipped lifter on the same frames against the truth (:func:`score_table`).

Data sets: Bandai-1 (``mocap/bandai1``) is the REPORT set; tune anything on CMU (``mocap/cmu``).

Usage::

    python bench/render_eval.py render --set bandai1 --clips 4 --frames 300
    python bench/render_eval.py render path/to/clip.bvh --character mannequin --seed 3
    python bench/render_eval.py score --set bandai1 --clips 4 --seed 0 --character bundled

Convention:
    - World: Y up, metres, floor at y = 0, the subject facing +Z in the first frame with its
      pelvis over the origin (:func:`pose2rig.io.mocap.load_bvh_as_h36m17`); its left is +X.
    - Camera frame: OpenCV (x right, y down, z forward); ``x_cam = R @ x_world + t``; pixels
      ``K @ x_cam``, ``K`` from the horizontal field of view
      (:meth:`pose2rig.types.Camera.from_fov`, principal point at the image centre, square
      pixels). Images ``(H, W, 3)`` uint8 BGR; ``size`` is ``(width, height)``.
    - The camera (one per clip, static): it looks at an aim point above the middle of the
      subject's path (the centre of the box around the pelvis's floor points), at a seeded
      fraction 0.35-0.65 of the character's standing height, from ``distance`` metres along the
      direction given by:

        * ``yaw`` (degrees, uniform [-180, 180)): the camera's bearing around the subject: 0 in
          front of it (on its +Z side), +90 on its left (+X);
        * ``pitch`` (degrees, uniform [-10, 30]): **positive looks down** (the camera above its
          aim point, its optical axis ``sin(pitch)`` below the horizontal), negative looks up.
          This is the sign of the lifter's training ``elevation`` (models/README.md: "elevation
          uniform in [-10, 30] deg (camera above the pelvis looking down for positive)"), so a
          pitch here and an elevation there mean the same view; the range is the same too.
        * no roll: the image's x axis stays horizontal.

      The horizontal field of view is uniform [40, 70] degrees and ``distance`` makes the body
      at rest (``height`` tall) span a fraction uniform [0.45, 0.85] of the image's height at the
      aim point's distance, as a phone user frames a subject (kept within [1.8, 8] m, and short
      enough that a camera looking up stays 0.2 m or more above the floor). When some of the skinned
      body leaves the image (with a 3% margin) in some frame, the camera moves back along its
      optical axis until none does: yaw and pitch are unchanged, the camera's height is not.
    - Ground truth (``joints_world``, ``joints_camera``, ``joints_2d``), Human3.6M-17 as the
      detector sees them (:data:`pose2rig.skeletons.mapping.MEDIAPIPE33_TO_H36M17` maps
      MediaPipe's landmarks onto the same definitions), from the posed, scaled character:

        ==============  =====================================================================
        h36m17          from the rendered character
        ==============  =====================================================================
        hips            the head of the mapped thigh bone (the hip joint's centre)
        knees, ankles   the heads of the shin and foot bones
        shoulders,      the heads of the upper-arm, forearm and hand bones (the joints'
        elbows, wrists  centres; MediaPipe's shoulder is the joint, not the clavicle)
        pelvis          mid-point of the hips (MediaPipe: of its hip landmarks)
        thorax          mid-point of the shoulders (MediaPipe: the same)
        spine           mid-point of pelvis and thorax (MediaPipe and the mocap: the same)
        neck (nose)     the nose: the skinned vertices of the head (head bone weight >= 0.5)
                        within 1 cm of the front-most one at rest, their centroid per frame
        head            the head top: the head's vertices within 1 cm of its top at rest,
                        their centroid per frame (Human3.6M's head joint; the mocap's end site)
        ==============  =====================================================================
    - Characters: each rendered at a uniform scale that makes its rest mesh ``height`` metres
      tall (seeded per clip in [1.5, 1.95] m unless given). The motion moves at the character's
      own size (the root motion scales with its legs), 30 fps (``pose2rig.clean.resample``).
    - Backgrounds: a still crop of a frame of a clip in ``../shared/data/video`` in which
      MediaPipe finds no person, away from everyone it finds in that frame and in the frames 10
      before and after it (it misses people cut in half by a crop, and some whole ones: crops
      can still show a distant or partial person); after 8 tries, a vertical gradient.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.rig import Rig, RigAnimation, SkinnedMesh
from pose2rig.skeletons import H36M17
from pose2rig.types import Camera, PoseSequence

log = logging.getLogger("render_eval")

RENDER_VERSION = 3
"""Bump when a change alters the renders or the truth: every cached clip is made again."""

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():  # a checkout elsewhere: the team's shared folder
    DATA = Path("/work/shared/data")
MOCAP = {"bandai1": DATA / "mocap" / "bandai1", "cmu": DATA / "mocap" / "cmu"}
CHARACTERS: dict[str, Path | None] = {
    "bundled": None,
    "mannequin": DATA / "characters" / "mannequiny-0.3.0.glb",
}
VIDEOS = DATA / "video"
DEFAULT_CACHE = Path("~/.cache/pose2rig-bench/render").expanduser()
FPS = 30.0
SIZE = (480, 640)  # portrait (width, height), like a phone held upright

YAW_RANGE = (-180.0, 180.0)
PITCH_RANGE = (-10.0, 30.0)
FILL_RANGE = (0.45, 0.85)
DISTANCE_RANGE = (1.8, 8.0)
HFOV_RANGE = (40.0, 70.0)
AIM_RANGE = (0.35, 0.65)
HEIGHT_RANGE = (1.5, 1.95)
MIN_CAMERA_HEIGHT = 0.2
FRAME_MARGIN = 0.03
BACKGROUND_TRIES = 8

BODY_COLOURS = ((0.72, 0.55, 0.45), (0.45, 0.47, 0.55), (0.80, 0.78, 0.72), (0.35, 0.30, 0.28), (0.55, 0.62, 0.50))


# ---------------------------------------------------------------------------------------------
# seeds and the cache key


def clip_seed(name: str, seed: int = 0) -> int:
    """The seed of one clip: a hash of its name and the global ``seed`` (stable across runs)."""
    digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "bundled"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cache_key(
    bvh: str | os.PathLike[str],
    character: str | os.PathLike[str] | None,
    height: float,
    seed: int,
    *,
    size: tuple[int, int] = SIZE,
    frames: int | None = None,
    start: int = 0,
) -> str:
    """Hex key of one rendered clip: the BVH's bytes, the character's bytes (``"bundled"`` for
    None), its standing ``height`` (the scale), the camera ``seed``, the image ``size``, the
    window (``start``, ``frames``) and :data:`RENDER_VERSION`. Anything else equal gives the same key."""
    parts = [
        f"v{RENDER_VERSION}",
        _file_digest(Path(bvh)),
        _file_digest(None if character is None else Path(character)),
        f"h{float(height):.6f}",
        f"s{int(seed)}",
        f"{int(size[0])}x{int(size[1])}",
        f"f{frames}@{int(start)}",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# cameras


@dataclass(frozen=True)
class RenderCamera:
    """A static pinhole camera placed in the world (see the module's Convention).

    Attributes:
        intrinsics: ``K`` and the image size.
        rotation: ``(3, 3)`` world -> camera (OpenCV axes).
        position: ``(3,)`` the camera's centre in the world, metres.
        yaw, pitch: degrees (pitch positive looking down).
        hfov: horizontal field of view, degrees.
    """

    intrinsics: Camera
    rotation: np.ndarray
    position: np.ndarray
    yaw: float
    pitch: float
    hfov: float

    @classmethod
    def at(cls, position: np.ndarray, *, yaw: float, pitch: float, hfov: float, size: tuple[int, int]) -> RenderCamera:
        """The camera at ``position`` looking along bearing ``yaw`` (it looks toward
        ``-(sin yaw, 0, cos yaw)``: from the subject's front toward it for yaw 0), pitched
        ``pitch`` degrees down."""
        y, p = np.radians(yaw), np.radians(pitch)
        forward = -np.array([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)])
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rot = np.stack([right, down, forward])  # rows: the camera's axes in the world
        return cls(Camera.from_fov(size, hfov), rot, np.asarray(position, dtype=np.float64), float(yaw),
                   float(pitch), float(hfov))

    @classmethod
    def looking_at(cls, aim: np.ndarray, *, yaw: float, pitch: float, distance: float, hfov: float,
                   size: tuple[int, int]) -> RenderCamera:
        """The camera ``distance`` metres from ``aim`` along bearing ``yaw`` and ``pitch``,
        looking at it."""
        y, p = np.radians(yaw), np.radians(pitch)
        back = np.array([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)])
        return cls.at(np.asarray(aim, dtype=np.float64) + distance * back, yaw=yaw, pitch=pitch, hfov=hfov, size=size)

    @property
    def translation(self) -> np.ndarray:
        """``t`` of ``x_cam = R @ x_world + t``."""
        return -self.rotation @ self.position

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> camera frame ``(..., 3)`` (OpenCV)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> pixels ``(..., 2)`` float64."""
        c = self.to_camera(points)
        uvw = c @ self.intrinsics.matrix.T
        return uvw[..., :2] / uvw[..., 2:3]

    def gl_pose(self) -> np.ndarray:
        """``(4, 4)`` camera -> world pose in OpenGL's axes (x right, y up, looking down -z),
        as pyrender takes it."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation.T @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = self.position
        return pose

    def moved_back(self, metres: float) -> RenderCamera:
        """The same camera ``metres`` further back along its optical axis."""
        return replace(self, position=self.position - metres * self.rotation[2])

    def in_frame(self, points: np.ndarray, margin: float = FRAME_MARGIN) -> bool:
        """Whether every world point ``(..., 3)`` is in front of the camera and inside the image
        less ``margin`` (a fraction of each side)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if np.any(self.to_camera(p)[:, 2] <= 0.05):
            return False
        uv = self.project(p)
        w, h = self.intrinsics.image_size
        return bool(np.all((uv[:, 0] >= margin * w) & (uv[:, 0] <= (1 - margin) * w)
                           & (uv[:, 1] >= margin * h) & (uv[:, 1] <= (1 - margin) * h)))


def sample_camera(rng: np.random.Generator, start: np.ndarray, stature: float, *, size: tuple[int, int] = SIZE
                  ) -> tuple[RenderCamera, dict[str, float]]:
    """A random camera aimed above ``start`` (the middle of the subject's floor path) for a body
    ``stature`` metres tall; returns it and the values drawn (see the module's Convention)."""
    yaw = float(rng.uniform(*YAW_RANGE))
    pitch = float(rng.uniform(*PITCH_RANGE))
    hfov = float(rng.uniform(*HFOV_RANGE))
    fill = float(rng.uniform(*FILL_RANGE))
    aim_fraction = float(rng.uniform(*AIM_RANGE))
    focal = 0.5 * size[0] / np.tan(np.radians(hfov) / 2)
    distance = float(np.clip(stature * focal / (fill * size[1]), *DISTANCE_RANGE))
    aim = np.array([start[0], aim_fraction * stature, start[2]], dtype=np.float64)
    rise = np.sin(np.radians(pitch))
    if aim[1] + distance * rise < MIN_CAMERA_HEIGHT:  # looking up: never from under the floor
        distance = (aim[1] - MIN_CAMERA_HEIGHT) / -rise
    camera = RenderCamera.looking_at(aim, yaw=yaw, pitch=pitch, distance=distance, hfov=hfov, size=size)
    drawn = {"yaw": yaw, "pitch": pitch, "distance": distance, "hfov": hfov, "fill": fill, "aim_fraction": aim_fraction}
    return camera, drawn


def fit_in_frame(camera: RenderCamera, points: np.ndarray, *, margin: float = FRAME_MARGIN,
                 step: float = 0.25, limit: float = 60.0) -> RenderCamera:
    """``camera`` moved back along its optical axis, ``step`` metres at a time, until every
    point ``(..., 3)`` is in frame (:meth:`RenderCamera.in_frame`); at most ``limit`` metres."""
    moved = 0.0
    while not camera.in_frame(points, margin) and moved < limit:
        camera = camera.moved_back(step)
        moved += step
    return camera


# ---------------------------------------------------------------------------------------------
# motion onto a character, and the truth


def scaled_rig(rig: Rig, height: float) -> tuple[Rig, float]:
    """``rig`` scaled uniformly about the origin so its rest mesh is ``height`` metres tall;
    returns the rig and the scale."""
    assert rig.mesh is not None
    v = rig.mesh.vertices.astype(np.float64)
    scale = float(height) / float(np.ptp(v[:, 1]))
    rest = rig.rest.copy()
    rest[:, :3, 3] *= scale
    mesh = SkinnedMesh(v * scale, rig.mesh.faces, rig.mesh.joints, rig.mesh.weights, rig.mesh.name)
    tails = None if rig.tails is None else rig.tails * scale
    return replace(rig, rest=rest, tails=tails, mesh=mesh), scale


def load_motion(bvh: str | os.PathLike[str], *, fps: float = FPS, frames: int | None = None, start: int = 0
                ) -> tuple[PoseSequence, dict[str, np.ndarray]]:
    """A BVH as world Human3.6M-17 poses at ``fps`` (``frames`` frames from frame ``start`` only;
    all from ``start`` for None) and its feet's
    headings (``extremities`` for :func:`pose2rig.retarget.retarget`), as ``retarget_file``
    reads a BVH."""
    from pose2rig.clean import resample
    from pose2rig.clean.resample import interpolate_at
    from pose2rig.io.bvh import read_bvh
    from pose2rig.io.mocap import bvh_foot_headings, load_bvh_as_h36m17

    poses = load_bvh_as_h36m17(bvh)
    ends = bvh_foot_headings(read_bvh(bvh), poses.joints)
    times = poses.timestamps
    poses = resample(poses, fps=fps)
    ends = {k: interpolate_at(v, times, poses.timestamps) for k, v in ends.items()}
    ends = {k: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12) for k, v in ends.items()}
    if start or (frames is not None and frames < poses.num_frames):
        if not 0 <= start < poses.num_frames:
            raise ValueError(f"{bvh}: window start {start} outside its {poses.num_frames} frames at {fps:g} fps")
        keep = slice(int(start), None if frames is None else int(start) + int(frames))
        poses = replace(poses, joints=poses.joints[keep], timestamps=poses.timestamps[keep],
                        confidence=None if poses.confidence is None else poses.confidence[keep])
        ends = {k: v[keep] for k, v in ends.items()}
    return poses, ends


@dataclass(frozen=True)
class TruthPoints:
    """Where each Human3.6M-17 joint is taken on one character (see the module's Convention).

    Attributes:
        bones: joint name -> bone index whose head it is (hips, knees, ankles, shoulders,
            elbows, wrists).
        nose, top: vertex indices whose centroid is the nose, the head top.
    """

    bones: dict[str, int]
    nose: np.ndarray
    top: np.ndarray

    @classmethod
    def of(cls, rig: Rig, roles: dict[str, int]) -> TruthPoints:
        assert rig.mesh is not None
        bones = {}
        for side in ("left", "right"):
            for joint, role in (("hip", "thigh"), ("knee", "shin"), ("ankle", "foot"),
                                ("shoulder", "upper_arm"), ("elbow", "forearm"), ("wrist", "hand")):
                bones[f"{side}_{joint}"] = roles[f"{side}_{role}"]
        mesh = rig.mesh
        on_head = np.sum(np.where(mesh.joints == roles["head"], mesh.weights, 0.0), axis=1) >= 0.5
        idx = np.flatnonzero(on_head)
        if idx.size == 0:
            raise ValueError(f"rig {rig.name!r}: no vertex is weighted mostly to its head bone")
        v = mesh.vertices[idx].astype(np.float64)
        nose = idx[v[:, 2] >= v[:, 2].max() - 0.01]
        top = idx[v[:, 1] >= v[:, 1].max() - 0.01]
        return cls(bones, nose, top)

    def joints(self, bone_heads: np.ndarray, vertices: np.ndarray) -> np.ndarray:
        """``(17, 3)`` joints from one frame's bone heads ``(J, 3)`` and skinned vertices ``(V, 3)``."""
        out = np.empty((H36M17.num_joints, 3))
        for name, bone in self.bones.items():
            out[H36M17.index(name)] = bone_heads[bone]
        ix = H36M17.index
        out[ix("pelvis")] = 0.5 * (out[ix("left_hip")] + out[ix("right_hip")])
        out[ix("thorax")] = 0.5 * (out[ix("left_shoulder")] + out[ix("right_shoulder")])
        out[ix("spine")] = 0.5 * (out[ix("pelvis")] + out[ix("thorax")])
        out[ix("neck")] = vertices[self.nose].mean(axis=0)
        out[ix("head")] = vertices[self.top].mean(axis=0)
        return out


@dataclass
class Posed:
    """A clip on a character: per frame skinned vertices and Human3.6M-17 truth (world)."""

    animation: RigAnimation
    vertices: np.ndarray  # (T, V, 3) float32
    joints: np.ndarray  # (T, 17, 3) float64
    scale: float


def pose_character(poses: PoseSequence, ends: dict[str, np.ndarray], character: str | os.PathLike[str] | None,
                   height: float) -> Posed:
    """Move ``poses`` onto ``character`` (None: the bundled one) scaled to ``height`` metres,
    with the root moving (``root_motion="on"``); skin every frame and take the truth."""
    from pose2rig.pipeline import hold_missing_frames, load_character
    from pose2rig.retarget import retarget
    from pose2rig.retarget.lbs import skin_frame

    rig, mapping = load_character(None if character is None else Path(character))
    rig, scale = scaled_rig(rig, height)
    anim = retarget(hold_missing_frames(poses), rig, mapping=mapping, root_motion="on", extremities=ends or None)
    assert anim.rig.mesh is not None
    truth = TruthPoints.of(anim.rig, mapping.roles)
    heads = anim.world_matrices()[..., :3, 3]
    skinning = anim.skinning_matrices()
    verts = np.empty((anim.num_frames, len(anim.rig.mesh.vertices), 3), dtype=np.float32)
    joints = np.empty((anim.num_frames, H36M17.num_joints, 3))
    for t in range(anim.num_frames):
        v = skin_frame(anim.rig.mesh, skinning[t])
        verts[t] = v
        joints[t] = truth.joints(heads[t], v)
    return Posed(anim, verts, joints, scale)


# ---------------------------------------------------------------------------------------------
# backgrounds


def gradient(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A vertical gradient ``(H, W, 3)`` uint8 BGR between two random muted colours."""
    w, h = size
    top, bottom = rng.uniform(40, 230, 3), rng.uniform(40, 230, 3)
    f = np.linspace(0.0, 1.0, h)[:, None, None]
    return np.broadcast_to((1 - f) * top + f * bottom, (h, w, 3)).astype(np.uint8).copy()


@functools.lru_cache(maxsize=32)
def _video_frame(path: Path, index: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Frame ``index`` of ``path`` and :func:`person_box` of it (kept: clips share frames)."""
    from pose2rig.video import open_video

    with open_video(path) as reader:
        for k, frame in enumerate(reader):
            if k == index:
                image = np.asarray(frame.image)
                return image, person_boxes(image)
    return None


def person_boxes(image: np.ndarray, most: int = 4) -> np.ndarray:
    """``(N, 4)`` boxes around everyone MediaPipe finds in ``image``. BlazePose follows one
    person and misses small ones in a wide frame, so the frame is searched in overlapping
    squares (side: its shorter side, half a side apart), and in each, every person found is
    greyed out and the square searched again (``most`` times)."""
    h, w = image.shape[:2]
    side = min(h, w)
    boxes = []
    for y in sorted({*range(0, h - side + 1, max(side // 2, 1)), h - side}):
        for x in sorted({*range(0, w - side + 1, max(side // 2, 1)), w - side}):
            work = np.array(image[y:y + side, x:x + side], copy=True)
            for _ in range(most):
                box = person_box(work)
                if box is None:
                    break
                boxes.append(box + [x, y, x, y])
                x0, y0 = (int(max(v, 0)) for v in box[:2])
                work[y0:int(min(box[3], side)), x0:int(min(box[2], side))] = 128
    return np.array(boxes).reshape(-1, 4)


def person_box(image: np.ndarray) -> np.ndarray | None:
    """The box ``(x0, y0, x1, y1)`` in pixels around the person MediaPipe's pose model finds in
    ``image`` (BGR), run as on a first frame (its person detector, then the landmarks), grown by
    a fifth of its size on each side; None when it finds no one."""
    from pose2rig.detect.mediapipe import MediaPipePoseDetector

    with MediaPipePoseDetector() as detector:
        found = detector(image, 0.0)
    if found is None:
        return None
    p = np.asarray(found.points, dtype=np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    grow = 0.2 * (hi - lo)
    return np.concatenate([lo - grow, hi + grow])


def background(rng: np.random.Generator, size: tuple[int, int], *, videos: Path | None = VIDEOS,
               tries: int = BACKGROUND_TRIES) -> tuple[np.ndarray, str]:
    """A background ``(H, W, 3)`` uint8 BGR and where it came from: a random crop (the image's
    aspect, 40-100% of the frame's height or width) of a random frame of a random clip in
    ``videos`` in which MediaPipe finds no one (:func:`person_box`) and which stays clear of the
    people it finds in the whole frame and in the frames 10 before and after it
    (:func:`person_boxes`: BlazePose misses a person cut in half), or after
    ``tries`` crops with someone in them (or without videos) a :func:`gradient`."""
    import cv2

    from pose2rig.video import probe

    w, h = size
    clips = sorted(videos.glob("*.mp4")) if videos is not None and videos.is_dir() else []
    for _ in range(tries if clips else 0):
        clip = clips[int(rng.integers(len(clips)))]
        info = probe(clip)
        index = int(rng.integers(max(info.frame_count, 1) // 10 + 1)) * 10  # every 10th: the cache hits
        found = _video_frame(clip, index)
        if found is None:
            continue
        frame, seen = found
        # a person MediaPipe misses in this frame (cut off, upside down) is often found 10 frames away
        near = [_video_frame(clip, i) for i in (index - 10, index + 10) if 0 <= i < info.frame_count]
        seen = np.concatenate([seen, *(n[1] for n in near if n is not None)])
        fh, fw = frame.shape[:2]
        full = min(fh, fw * h / w)  # the tallest crop of the image's aspect
        ch = int(full * rng.uniform(0.4, 1.0))
        cw = max(int(round(ch * w / h)), 1)
        y0, x0 = int(rng.integers(fh - ch + 1)), int(rng.integers(fw - cw + 1))
        if np.any((seen[:, 0] < x0 + cw) & (seen[:, 2] > x0) & (seen[:, 1] < y0 + ch) & (seen[:, 3] > y0)):
            continue
        crop = cv2.resize(frame[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
        if person_box(crop) is None:
            return crop, f"{clip.name} frame {index} crop x={x0} y={y0} {cw}x{ch}"
    return gradient(rng, size), "gradient"


# ---------------------------------------------------------------------------------------------
# rendering


class Renderer:
    """Offscreen pyrender of one posed character from one camera, over a background; set up as
    :class:`pose2rig.render_character.CharacterRenderer` (EGL, a directional light, ambient)."""

    def __init__(self, faces: np.ndarray, camera: RenderCamera, *, colour: tuple[float, float, float] = BODY_COLOURS[0]) -> None:
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        logging.getLogger("OpenGL").setLevel(logging.WARNING)
        import pyrender

        self.pyrender = pyrender
        self.faces = np.asarray(faces)
        w, h = camera.intrinsics.image_size
        k = camera.intrinsics.matrix
        self.scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.35, 0.35, 0.35])
        cam = pyrender.IntrinsicsCamera(fx=k[0, 0], fy=k[1, 1], cx=k[0, 2], cy=k[1, 2], znear=0.05, zfar=200.0)
        pose = camera.gl_pose()
        self.scene.add(cam, pose=pose)
        # a key light from above and behind the camera, so the body is lit where it is seen
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0),
                       pose=_light_pose(camera.position, camera.rotation))
        self.material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[*colour, 1.0], metallicFactor=0.0, roughnessFactor=0.7)
        self.body = None
        self.renderer = pyrender.OffscreenRenderer(w, h)

    def render(self, vertices: np.ndarray, background_bgr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The body with ``vertices (V, 3)``: ``(H, W, 3)`` uint8 BGR over ``background_bgr``
        (black without one) and its silhouette ``(H, W)`` bool."""
        import trimesh

        mesh = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), self.faces, process=False)
        if self.body is not None:
            self.scene.remove_node(self.body)
        self.body = self.scene.add(self.pyrender.Mesh.from_trimesh(mesh, material=self.material, smooth=True))
        rgba, _ = self.renderer.render(self.scene, flags=self.pyrender.RenderFlags.RGBA)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        bgr = rgba[..., 2::-1].astype(np.float32)
        back = np.zeros_like(bgr) if background_bgr is None else background_bgr.astype(np.float32)
        out = bgr * alpha + back * (1.0 - alpha)  # pyrender's RGBA is not premultiplied
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), rgba[..., 3] > 0

    def close(self) -> None:
        self.renderer.delete()


def _light_pose(eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """A directional light's pose shining along the camera's view, tilted 35 degrees down."""
    from pose2rig.render_character import _look_at

    forward = rotation[2]
    flat = np.array([forward[0], 0.0, forward[2]])
    flat /= max(np.linalg.norm(flat), 1e-9)
    direction = flat * np.cos(np.radians(35.0)) - np.array([0.0, np.sin(np.radians(35.0)), 0.0])
    return _look_at(np.asarray(eye, dtype=np.float64), np.asarray(eye, dtype=np.float64) + direction)


# ---------------------------------------------------------------------------------------------
# one clip, cached


@dataclass(frozen=True)
class RenderedClip:
    """A rendered clip in the cache: ``video`` (mp4) and ``truth`` (npz: see :func:`render_clip`);
    ``rendered`` is False when both were found there."""

    key: str
    video: Path
    truth: Path
    rendered: bool
    seconds: float = 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        return read_arrays(self.truth)


def clip_height(name: str, seed: int = 0) -> float:
    """The standing height (metres) a clip's character is scaled to, seeded by its name."""
    rng = np.random.default_rng(clip_seed(name, seed) ^ 0x5EED)
    return float(rng.uniform(*HEIGHT_RANGE))


def render_clip(
    bvh: str | os.PathLike[str],
    character: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    height: float | None = None,
    size: tuple[int, int] = SIZE,
    frames: int | None = None,
    start: int = 0,
    cache: str | os.PathLike[str] = DEFAULT_CACHE,
    videos: Path | None = VIDEOS,
    camera_seed: int | None = None,
) -> RenderedClip:
    """Render ``bvh`` on ``character`` (None: the bundled one) into ``cache``, or find it there.

    Args:
        bvh: the motion.
        character: a character file (``.glb``, ...), or None for the bundled character.
        seed: the global seed; the clip's own (camera, background, colour, height) is
            :func:`clip_seed` of ``<bvh stem>/<character>`` and it.
        height: standing height in metres (default :func:`clip_height`).
        size: ``(width, height)`` in pixels.
        frames: render ``frames`` frames (at 30 fps) only, from frame ``start``.
        start: the window's first frame (at 30 fps).
        cache: the cache folder; an entry is ``<key>.mp4`` and ``<key>.npz`` (written last).
        videos: where the backgrounds come from (None: gradients only).
        camera_seed: the clip's seed, overriding the one from ``seed`` and the names.

    Returns:
        :class:`RenderedClip`. The npz holds ``joints_world (T, 17, 3)``, ``joints_camera
        (T, 17, 3)``, ``joints_2d (T, 17, 2)`` (pixels), ``joint_names``, ``K (3, 3)``, ``R (3, 3)``,
        ``t (3,)``, ``camera_position (3,)``, ``image_size (2,)`` (width, height), ``fps``,
        ``timestamps (T,)``, ``yaw``, ``pitch``, ``hfov``, ``distance`` (camera to the aim point
        after any move back), ``camera_height``, ``height``, ``scale``, ``background`` (where it
        came from), ``bvh``, ``character``, ``key``, ``render_version``.
    """
    from pose2rig.video import VideoWriter

    bvh = Path(bvh)
    char_path = None if character is None else Path(character)
    char_name = "bundled" if char_path is None else char_path.stem
    name = f"{bvh.stem}/{char_name}"
    cseed = clip_seed(name, seed) if camera_seed is None else int(camera_seed)
    h = clip_height(name, seed) if height is None else float(height)
    key = cache_key(bvh, char_path, h, cseed, size=size, frames=frames, start=start)
    folder = Path(cache).expanduser()
    video, truth = folder / f"{key}.mp4", folder / f"{key}.npz"
    if video.is_file() and truth.is_file():
        return RenderedClip(key, video, truth, rendered=False)
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()

    poses, ends = load_motion(bvh, frames=frames, start=start)
    posed = pose_character(poses, ends, char_path, h)
    rng = np.random.default_rng(cseed)
    path = posed.joints[:, H36M17.index("pelvis")]
    centre = 0.5 * (path.min(axis=0) + path.max(axis=0))  # the middle of the floor path's box
    camera, drawn = sample_camera(rng, np.array([centre[0], 0.0, centre[2]]), h, size=size)
    aim = camera.position - drawn["distance"] * (-camera.rotation[2])
    camera = fit_in_frame(camera, posed.vertices[::3, ::7])
    image, where = background(rng, size, videos=videos)
    colour = BODY_COLOURS[int(rng.integers(len(BODY_COLOURS)))]

    renderer = Renderer(posed.animation.rig.mesh.faces, camera, colour=colour)  # type: ignore[union-attr]
    try:
        with VideoWriter(video, fps=FPS, size=size) as writer:
            for v in posed.vertices:
                writer.write(renderer.render(v, image)[0])
    finally:
        renderer.close()
    cam_joints = camera.to_camera(posed.joints)
    write_arrays(truth, {
        "joints_world": posed.joints.astype(np.float32),
        "joints_camera": cam_joints.astype(np.float32),
        "joints_2d": camera.project(posed.joints).astype(np.float32),
        "joint_names": np.array(H36M17.joint_names),
        "K": camera.intrinsics.matrix, "R": camera.rotation, "t": camera.translation,
        "camera_position": camera.position, "image_size": np.array(size),
        "fps": np.float64(FPS), "timestamps": np.asarray(poses.timestamps, dtype=np.float64),
        "yaw": np.float64(camera.yaw), "pitch": np.float64(camera.pitch), "hfov": np.float64(camera.hfov),
        "distance": np.float64(np.linalg.norm(camera.position - aim)),
        "camera_height": np.float64(camera.position[1]), "height": np.float64(h), "scale": np.float64(posed.scale),
        "background": np.array(where), "bvh": np.array(bvh.name), "character": np.array(char_name),
        "start": np.int64(start),
        "key": np.array(key), "render_version": np.int64(RENDER_VERSION),
    })
    return RenderedClip(key, video, truth, rendered=True, seconds=time.perf_counter() - began)


BENCH_CLIPS = 40
BENCH_FRAMES = 100
MAX_TRAVEL = 2.5
"""The benchmark (:func:`benchmark_set`): 40 windows of 100 frames (4,000 at 30 fps), each moving
the pelvis over a floor box of at most 2.5 m diagonal, so one static camera frames the whole
window with a body MediaPipe can find (a longer walk puts the camera 10-17 m away)."""


@dataclass(frozen=True)
class BenchClip:
    """One benchmark entry: ``frames`` frames of ``bvh`` from ``start`` (30 fps) on ``character``
    (a key of :data:`CHARACTERS`)."""

    bvh: Path
    start: int
    frames: int
    character: str

    @property
    def name(self) -> str:
        return f"{self.bvh.stem}@{self.start}/{self.character}"


def travel(path: np.ndarray) -> float:
    """The diagonal (m) of the floor box ``(x, z)`` around a pelvis path ``(T, 3)``."""
    p = np.asarray(path, dtype=np.float64)[:, [0, 2]]
    return float(np.linalg.norm(np.ptp(p, axis=0)))


def benchmark_set(name: str = "bandai1", count: int = BENCH_CLIPS, *, frames: int = BENCH_FRAMES,
                  max_travel: float = MAX_TRAVEL, seed: int = 0, step: int = 10) -> list[BenchClip]:
    """The fixed seeded benchmark: the clips of set ``name`` in a seeded order; for each, a
    seeded window of ``frames`` frames (starts every ``step``) among those whose pelvis travels
    at most ``max_travel`` m (:func:`travel`); a clip with no such window (or shorter than
    ``frames``) is passed over; characters alternate (the first seeded) until ``count``."""
    from pose2rig.clean import resample
    from pose2rig.io.mocap import load_bvh_as_h36m17

    files = sorted(MOCAP[name].glob("*.bvh"))
    rng = np.random.default_rng(clip_seed(f"bench:{name}:{frames}:{max_travel:g}", seed))
    order = rng.permutation(len(files))
    chars = list(CHARACTERS)
    first = int(rng.integers(len(chars)))
    out: list[BenchClip] = []
    pelvis = H36M17.index("pelvis")
    for i in order:
        if len(out) >= count:
            break
        poses = resample(load_bvh_as_h36m17(files[i]), fps=FPS)
        path = poses.joints[:, pelvis]
        starts = [s for s in range(0, poses.num_frames - frames + 1, step)
                  if travel(path[s:s + frames]) <= max_travel]
        if not starts:
            continue
        start = int(starts[int(rng.integers(len(starts)))])
        out.append(BenchClip(files[i], start, frames, chars[(first + len(out)) % len(chars)]))
    return out


def clip_set(name: str, count: int, seed: int = 0) -> list[Path]:
    """``count`` BVH files of the set ``name`` (``bandai1``: report; ``cmu``: tuning), a seeded
    choice, sorted."""
    files = sorted(MOCAP[name].glob("*.bvh"))
    rng = np.random.default_rng(clip_seed(f"set:{name}", seed))
    pick = rng.choice(len(files), size=min(count, len(files)), replace=False)
    return sorted(files[i] for i in pick)


# ---------------------------------------------------------------------------------------------
# scoring: the whole convert path on a rendered clip, three methods on the same frames

METHODS = ("constant depth", "mediapipe world", "lifter", "lifter, level camera")
"""The methods scored, in table order: the constant-depth baseline lifted from the same
keypoints, MediaPipe's own world landmarks (Human3.6M-17, hip-centred), ``convert``'s output,
and ``convert`` told the camera is level (``camera_pitch=0``; scored with ``level``)."""

CAMERA_METRICS = ("p_mpjpe", "n_mpjpe", "pck3d", "accel", "jitter")
WORLD_METRICS = ("wa_mpjpe", "ga_mpjpe", "w_mpjpe")
METRIC_HEADERS = {
    "p_mpjpe": "P-MPJPE mm", "n_mpjpe": "N-MPJPE mm", "pck3d": "PCK3D %", "accel": "accel m/s²",
    "jitter": "jitter 10m/s³", "wa_mpjpe": "WA-MPJPE mm", "ga_mpjpe": "GA-MPJPE mm", "w_mpjpe": "W-MPJPE mm",
}


def detect_rendered(rendered: RenderedClip, *, cache: str | os.PathLike[str] | None = None):
    """MediaPipe's keypoints of a rendered clip (:func:`pose2rig.detect.detect_video`), cached as
    ``<key>.keypoints.npz`` beside the render (``cache``: another folder)."""
    from pose2rig.detect import detect_video

    folder = rendered.video.parent if cache is None else Path(cache).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return detect_video(rendered.video, cache=folder / f"{rendered.key}.keypoints.npz", progress=False)


def _relative(x: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` minus its pelvis, float64."""
    x = np.asarray(x, dtype=np.float64)
    return x - x[:, H36M17.index("pelvis")][:, None]


def score_clip(
    rendered: RenderedClip,
    *,
    lifter_checkpoint: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    level: bool = True,
) -> dict[str, object]:
    """Score ``convert`` on one rendered clip beside constant depth and MediaPipe's world landmarks.

    Detection runs once per render (cached as ``<key>.keypoints.npz`` in ``cache``, default the
    render's folder); ``convert`` then runs on those keypoints with the clip's true standing
    height and the render's horizontal field of view (the lifter of ``lifter_checkpoint``,
    default the shipped one). The three :data:`METHODS` are scored on the SAME frames: those
    where every method has a whole pose (the truth has every frame).

    Camera frame, all three, root-relative (the pelvis subtracted from each pose): P-MPJPE,
    N-MPJPE (mm), PCK3D at 150 mm on the scale-aligned poses (%) (:mod:`pose2rig.evaluate`),
    the acceleration error (m/s², :func:`pose2rig.motion_metrics.accel_error`) and jitter
    (10 m/s³, :func:`pose2rig.motion_metrics.jitter`); the frames left out are NaN there, so no
    finite difference spans them. Constant depth is lifted from the keypoints as detected
    (no 2D swap repair, no clean-up); MediaPipe's world landmarks are as MediaPipe gives them.

    World frame (``wa_mpjpe``, ``w_mpjpe`` in mm against the truth's world joints, 100-frame
    chunks, :func:`pose2rig.motion_metrics.wa_mpjpe`): the lifter's ``world_pose``; constant
    depth and MediaPipe have no world placement of their own, so their root-relative poses are
    rotated into the lifter's world (``result.world_rotation``) and placed at the LIFTER's
    pelvis: their world figures share the lifter's root trajectory and differ in the body only.

    With ``level`` ``convert`` runs a second time with ``camera_pitch=0`` (a level camera
    assumed, no floor tilt fitted): method ``"lifter, level camera"``, every metric.

    The floor's tilt (``floor_tilt``, degrees): the angle between the world's up that ``convert``
    found (``world_rotation``'s +Y, in the camera frame) and the truth's (``R``'s +Y): the tilt of
    the ground-truth floor in ``convert``'s world frame (``level_tilt``: the level camera's).

    Returns:
        ``{"name", "key", "frames" (truth frames), "scored" (frames scored), "seconds" (detect +
        convert), "pitch", "hfov", "height", "camera_pitch" (found), "floor_tilt",
        "level_tilt", "methods": {method: {metric: value}}, "per_frame": {method: (T,) mm
        N-MPJPE per frame, NaN where not scored}}``.
    """
    from pose2rig.evaluate import n_mpjpe, p_mpjpe, pck3d, scale_align
    from pose2rig.lift import Lifter, lift
    from pose2rig.motion_metrics import accel_error, ga_mpjpe, jitter, w_mpjpe, wa_mpjpe
    from pose2rig.options import ConvertOptions
    from pose2rig.pipeline import convert
    from pose2rig.skeletons import world_landmarks_to_h36m17

    a = rendered.arrays()
    truth_cam = np.asarray(a["joints_camera"], dtype=np.float64)
    truth_world = np.asarray(a["joints_world"], dtype=np.float64)
    t = truth_cam.shape[0]
    fps = float(a["fps"])
    height, hfov = float(a["height"]), float(a["hfov"])
    began = time.perf_counter()
    kp = detect_rendered(rendered, cache=cache)
    if kp.keypoints.shape[0] != t:
        raise RuntimeError(f"{rendered.video}: {kp.keypoints.shape[0]} frames detected, {t} in the truth")
    if abs(kp.fps - fps) > 1e-3 or (t > 1 and not np.allclose(np.diff(kp.timestamps), 1.0 / fps, atol=1e-3)):
        raise RuntimeError(f"{rendered.video}: not {fps} fps constant (fps {kp.fps})")
    options = ConvertOptions.from_flat(height=height, fov=hfov, checkpoint=lifter_checkpoint, root_motion="on")
    result = convert(rendered.video, options=options, keypoints=kp, progress=False)
    seconds = time.perf_counter() - began
    for what, pose in (("camera_pose", result.camera_pose), ("world_pose", result.world_pose)):
        if pose.joints.shape[0] != t:  # one to one with the mp4's frames, no resampling
            raise RuntimeError(f"{rendered.video}: convert's {what} has {pose.joints.shape[0]} frames, the video {t}")
    const = lift(kp, lifter=Lifter.constant_depth(), height=height, fov=hfov).joints
    if kp.world33 is None:
        raise RuntimeError(f"{rendered.video}: the detector gave no world landmarks")
    cams = {
        "constant depth": _relative(const),
        "mediapipe world": _relative(world_landmarks_to_h36m17(kp.world33)),
        "lifter": _relative(result.camera_pose.joints),
    }
    worlds = {"lifter": np.asarray(result.world_pose.joints, dtype=np.float64)}
    level_result = None
    if level:
        flat = ConvertOptions.from_flat(height=height, fov=hfov, checkpoint=lifter_checkpoint, root_motion="on",
                                        camera_pitch=0.0)
        level_result = convert(rendered.video, options=flat, keypoints=kp, progress=False)
        cams["lifter, level camera"] = _relative(level_result.camera_pose.joints)
        worlds["lifter, level camera"] = np.asarray(level_result.world_pose.joints, dtype=np.float64)
    truth_rel = _relative(truth_cam)
    lifter_world = worlds["lifter"]
    same = np.all(np.isfinite(truth_rel), axis=(1, 2))
    for x in (*cams.values(), *worlds.values()):
        same &= np.all(np.isfinite(x), axis=(1, 2))
    if not same.any():
        raise RuntimeError(f"{rendered.video}: no frame where every method has a pose")
    rot = np.asarray(result.world_rotation, dtype=np.float64)
    root = lifter_world[:, H36M17.index("pelvis")][:, None]
    methods: dict[str, dict[str, float]] = {}
    per_frame: dict[str, np.ndarray] = {}
    for name, rel in cams.items():
        p, g = rel[same], truth_rel[same]
        masked = np.where(same[:, None, None], rel, np.nan)
        truth_masked = np.where(same[:, None, None], truth_rel, np.nan)
        world = worlds[name] if name in worlds else rel @ rot.T + root
        world = np.where(same[:, None, None], world, np.nan)
        frame_err = np.full(t, np.nan)
        frame_err[same] = [1000.0 * n_mpjpe(p[i:i + 1], g[i:i + 1]) for i in range(len(p))]
        per_frame[name] = frame_err
        methods[name] = {
            "p_mpjpe": 1000.0 * p_mpjpe(p, g),
            "n_mpjpe": 1000.0 * n_mpjpe(p, g),
            "pck3d": 100.0 * pck3d(scale_align(p, g), g),
            "accel": accel_error(masked, truth_masked, fps) if t >= 3 else float("nan"),
            "jitter": jitter(masked, fps) if t >= 4 else float("nan"),
            "wa_mpjpe": wa_mpjpe(world, truth_world),
            "ga_mpjpe": ga_mpjpe(world, truth_world),
            "w_mpjpe": w_mpjpe(world, truth_world),
        }
    return {
        "name": f"{a['bvh']}/{a['character']}", "key": rendered.key, "frames": t, "scored": int(same.sum()),
        "seconds": seconds, "pitch": float(a["pitch"]), "hfov": hfov, "height": height,
        "truth_jitter": jitter(np.where(same[:, None, None], truth_rel, np.nan), fps) if t >= 4 else float("nan"),
        "camera_pitch": result.camera_pitch,
        "body_pitch": {"truth": body_pitch(truth_cam[same]),
                       **{name: body_pitch(cams[name][same]) for name in ("mediapipe world", "lifter")}},
        "floor_tilt": floor_tilt(result.world_rotation, a["R"]),
        "level_tilt": floor_tilt(level_result.world_rotation, a["R"]) if level_result is not None else float("nan"),
        "methods": methods, "per_frame": per_frame,
    }


def body_pitch(joints_camera: np.ndarray) -> float:
    """The camera pitch (degrees, positive looking down) that a body's legs show: the mean over
    frames of the unit direction from mid-ankles to pelvis in the camera frame ``(T, 17, 3)``
    (OpenCV axes), read as world up (``(0, -cos p, -sin p)`` for a camera pitched ``p`` with no
    roll). On the truth it is the true pitch plus the legs' own lean; on a method's 3D it shows
    how much of the camera's pitch the method sees."""
    j = np.asarray(joints_camera, dtype=np.float64)
    ix = H36M17.index
    legs = j[:, ix("pelvis")] - 0.5 * (j[:, ix("left_ankle")] + j[:, ix("right_ankle")])
    legs /= np.linalg.norm(legs, axis=-1, keepdims=True)
    u = np.nanmean(legs, axis=0)
    return float(np.degrees(np.arctan2(-u[2], -u[1])))


def floor_tilt(world_rotation: np.ndarray, truth_rotation: np.ndarray) -> float:
    """Degrees between the up that ``world_rotation`` (camera -> world) gives and the truth's
    (``truth_rotation``: world -> camera), both in the camera frame: the tilt of the true floor
    in the estimated world."""
    up = np.asarray(world_rotation, dtype=np.float64).T @ np.array([0.0, 1.0, 0.0])
    true_up = np.asarray(truth_rotation, dtype=np.float64) @ np.array([0.0, 1.0, 0.0])
    c = float(np.dot(up, true_up) / (np.linalg.norm(up) * np.linalg.norm(true_up)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def score_table(scores: list[dict[str, object]]) -> str:
    """Markdown tables of :func:`score_clip` results: per method, the mean over clips and the
    pooled figure (each clip's metric weighted by its frames scored: exact for the per-frame
    means P-MPJPE, N-MPJPE, PCK3D, WA- and W-MPJPE; for acceleration and jitter the weight is
    the frames, not the finite differences)."""
    metrics = (*CAMERA_METRICS, *WORLD_METRICS)
    weights = np.array([float(s["scored"]) for s in scores])
    lines = [
        "| method | " + " | ".join(METRIC_HEADERS[m] for m in metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for label, pooled in (("mean over clips", False), ("pooled frames", True)):
        for method in METHODS:
            if not all(method in s["methods"] for s in scores):  # type: ignore[operator]
                continue
            cells = []
            for m in metrics:
                v = np.array([s["methods"][method][m] for s in scores], dtype=np.float64)  # type: ignore[index]
                ok = np.isfinite(v)
                if not ok.any():
                    cells.append("–")
                    continue
                value = np.average(v[ok], weights=weights[ok]) if pooled else v[ok].mean()
                cells.append(f"{value:.1f}")
            lines.append(f"| {method} ({label}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jobs(args: argparse.Namespace) -> list[BenchClip]:
    """The clips a command works on: ``--benchmark`` (the fixed set), the BVH files given, or
    ``--clips`` of ``--set``; each on ``--character`` (``both``: every one; ``mixed``: alternating)."""
    if args.benchmark:
        clips = benchmark_set(args.set, args.clips, frames=args.frames or BENCH_FRAMES, max_travel=args.max_travel,
                              seed=args.seed)
        if args.character in CHARACTERS:
            clips = [replace(c, character=args.character) for c in clips]
        elif args.character == "both":
            clips = [replace(c, character=k) for c in clips for k in CHARACTERS]
        return clips
    files = args.bvh or clip_set(args.set, args.clips, args.seed)
    chars = list(CHARACTERS) if args.character in ("both", "mixed") else [args.character]
    if args.character == "mixed":
        return [BenchClip(f, 0, args.frames, chars[i % len(chars)]) for i, f in enumerate(files)]
    return [BenchClip(f, 0, args.frames, c) for f in files for c in chars]


def _render(job: BenchClip, args: argparse.Namespace) -> RenderedClip:
    return render_clip(job.bvh, CHARACTERS[job.character], seed=args.seed, size=tuple(args.size), frames=job.frames,
                       start=job.start, cache=args.cache, videos=None if args.no_backgrounds else VIDEOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="render (cached), detect (cached), convert and score the methods")
    r = sub.add_parser("render", help="render clips into the cache (skips those already there)")
    for p, default_set in ((s, "bandai1"), (r, "cmu")):
        p.add_argument("bvh", nargs="*", type=Path, help="BVH files (default: --clips of --set)")
        p.add_argument("--set", choices=sorted(MOCAP), default=default_set, help="mocap set when no BVH is given")
        p.add_argument("--benchmark", action="store_true",
                       help=f"the fixed benchmark: --clips windows of --frames (default {BENCH_FRAMES}) frames of "
                            f"--set, each travelling at most --max-travel m (benchmark_set)")
        p.add_argument("--clips", type=int, default=None, help=f"how many clips (default 4; {BENCH_CLIPS} with --benchmark)")
        p.add_argument("--max-travel", type=float, default=MAX_TRAVEL, help="--benchmark: most pelvis travel in a window (m)")
        p.add_argument("--character", choices=[*CHARACTERS, "both", "mixed"], default=None,
                       help="default: both; mixed (alternating) with --benchmark")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--frames", type=int, default=None, help="N frames of each clip (30 fps)")
        p.add_argument("--size", type=int, nargs=2, default=SIZE, metavar=("W", "H"))
        p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
        p.add_argument("--no-backgrounds", action="store_true", help="gradients only")
    s.add_argument("--checkpoint", type=Path, default=None, help="lifter checkpoint (default: the shipped one)")
    s.add_argument("--no-level", action="store_true", help="skip the second convert with a level camera assumed")
    s.add_argument("--save", type=Path, default=None, help="write every clip's scores (and per-frame errors) to this npz")
    args = parser.parse_args(argv)
    if args.clips is None:
        args.clips = BENCH_CLIPS if args.benchmark else 4
    if args.character is None:
        args.character = "mixed" if args.benchmark else "both"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jobs = _jobs(args)
    if args.command == "score":
        return _score_command(args, jobs)
    total_frames, total_s = 0, 0.0
    for job in jobs:
        clip = _render(job, args)
        a = clip.arrays()
        n = len(a["timestamps"])
        total_frames += n
        total_s += clip.seconds
        print(f"{job.name:50s} {n:4d} frames  yaw {float(a['yaw']):7.1f}  pitch {float(a['pitch']):5.1f}  "
              f"hfov {float(a['hfov']):4.1f}  dist {float(a['distance']):4.1f} m  h {float(a['height']):.2f} m  "
              f"{f'rendered in {clip.seconds:.1f} s' if clip.rendered else 'cached'}  {clip.video}", flush=True)
    if total_s:
        print(f"rendered {total_frames} frames in {total_s:.1f} s ({1000 * total_s / max(total_frames, 1):.0f} ms/frame "
              "including retargeting, skinning, background search and encoding)")
    return 0


def _score_command(args: argparse.Namespace, jobs: list[BenchClip]) -> int:
    from pose2rig.errors import Pose2RigError

    began = time.perf_counter()
    scores, failed = [], []
    render_s = 0.0
    for job in jobs:
        clip = _render(job, args)
        render_s += clip.seconds
        try:
            sc = score_clip(clip, lifter_checkpoint=args.checkpoint, cache=args.cache, level=not args.no_level)
        except (Pose2RigError, RuntimeError) as e:  # nobody detected, or no frame every method has
            failed.append(f"{job.name}: {e}")
            print(f"{job.name:50s} NOT SCORED: {e}", flush=True)
            continue
        sc["job"] = job.name
        scores.append(sc)
        m = sc["methods"]
        print(f"{job.name:50s} {sc['scored']:4d}/{sc['frames']:4d}  pitch {sc['pitch']:5.1f} (found "
              f"{sc['camera_pitch']:5.1f}, floor tilt {sc['floor_tilt']:4.1f})  N-MPJPE const "
              f"{m['constant depth']['n_mpjpe']:4.0f} mp {m['mediapipe world']['n_mpjpe']:4.0f} lifter "
              f"{m['lifter']['n_mpjpe']:4.0f} mm  {f'rendered {clip.seconds:.0f} s, ' if clip.rendered else ''}"
              f"scored in {sc['seconds']:.1f} s", flush=True)
    frames = sum(int(s["scored"]) for s in scores)
    total = sum(int(s["frames"]) for s in scores)
    print(f"\n{len(scores)} clips, {frames} of their {total} frames scored (the same frames for every method); "
          f"{len(failed)} clips not scored\n")
    if scores:
        print(score_table(scores))
        print()
        print(tilt_table(scores))
    for line in failed:
        print(f"not scored: {line}")
    if args.save is not None and scores:
        save_scores(args.save, scores)
    print(f"\ntotal {time.perf_counter() - began:.1f} s (rendering {render_s:.1f} s)")
    return 0


def tilt_table(scores: list[dict[str, object]], bands: tuple[tuple[float, float], ...] = (
        (-10.0, 0.0), (0.0, 10.0), (10.0, 20.0), (20.0, 30.0))) -> str:
    """Markdown: per band of true pitch, the clips, the pitch ``convert`` found, the floor's
    tilt in its world (median, max) and with a level camera assumed, the pitch the legs show
    (:func:`body_pitch`) on the truth, MediaPipe's world landmarks and the lifter, and the
    pooled WA- and GA-MPJPE of ``convert`` and of the level camera."""
    lines = ["| true pitch (deg, + down) | clips | pitch found (mean) | floor tilt, convert (median, max) | floor tilt, "
             "level camera (median) | pitch the legs show: truth / MediaPipe / lifter (mean) | "
             "WA-MPJPE convert / level (mm, pooled) | GA-MPJPE convert / level (mm, pooled) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lo, hi in bands:
        band = [s for s in scores if lo <= float(s["pitch"]) < hi]  # type: ignore[arg-type]
        if not band:
            continue
        tilt = np.array([float(s["floor_tilt"]) for s in band])  # type: ignore[arg-type]
        lvl = np.array([float(s["level_tilt"]) for s in band])  # type: ignore[arg-type]
        w = np.array([float(s["scored"]) for s in band])  # type: ignore[arg-type]
        wa, ga = ([np.average([s["methods"][m][metric] for s in band], weights=w)  # type: ignore[index]
                   if all(m in s["methods"] for s in band) else float("nan")  # type: ignore[operator]
                   for m in ("lifter", "lifter, level camera")] for metric in ("wa_mpjpe", "ga_mpjpe"))
        found = np.mean([float(s["camera_pitch"]) for s in band])  # type: ignore[arg-type]
        legs = [np.mean([float(s["body_pitch"][k]) for s in band if "body_pitch" in s]  # type: ignore[index]
                        or [np.nan]) for k in ("truth", "mediapipe world", "lifter")]
        lines.append(f"| {lo:g} to {hi:g} | {len(band)} | {found:.1f} | {np.median(tilt):.1f}, {tilt.max():.1f} | "
                     f"{np.nanmedian(lvl) if np.isfinite(lvl).any() else float('nan'):.1f} | "
                     f"{legs[0]:.1f} / {legs[1]:.1f} / {legs[2]:.1f} | {wa[0]:.1f} / {wa[1]:.1f} | {ga[0]:.1f} / {ga[1]:.1f} |")
    return "\n".join(lines)


def save_scores(path: Path, scores: list[dict[str, object]]) -> None:
    """Every clip's scores in one npz: scalars per clip as arrays, ``<method>/<metric>``, and
    per-frame N-MPJPE as ``per_frame/<clip index>/<method>``."""
    out: dict[str, np.ndarray] = {}
    for k in ("job", "key", "frames", "scored", "pitch", "camera_pitch", "floor_tilt", "level_tilt", "hfov", "height",
              "seconds"):
        out[k] = np.array([s[k] for s in scores])
    for who in ("truth", "mediapipe world", "lifter"):
        out[f"body_pitch/{who}"] = np.array([s["body_pitch"][who] for s in scores])  # type: ignore[index]
    for method in METHODS:
        for metric in (*CAMERA_METRICS, *WORLD_METRICS):
            out[f"{method}/{metric}"] = np.array([s["methods"].get(method, {}).get(metric, np.nan)  # type: ignore[attr-defined]
                                                  for s in scores], dtype=np.float64)
    for i, s in enumerate(scores):
        for method, err in s["per_frame"].items():  # type: ignore[attr-defined]
            out[f"per_frame/{i}/{method}"] = np.asarray(err, dtype=np.float64)
    write_arrays(path, out)


if __name__ == "__main__":
    sys.exit(main())
