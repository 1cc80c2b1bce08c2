"""Preview videos and pictures: the video with its 2D skeleton beside the 3D skeleton.

Each output frame holds, side by side and ``height`` pixels tall:

- left: the video frame with the 2D keypoints drawn over it (bones coloured by side, joints of
  low confidence faded);
- right: the 3D skeleton seen by a virtual camera 45 degrees to the subject's left of its start
  facing and 20 degrees above, over a ground grid with the joints' shadows. The camera keeps its
  direction and distance (the whole body in view, at the same size however far the subject
  travels) and follows the body's middle, smoothed over a second and never more than a quarter
  of the body's size behind it (:func:`follow_path`); the grid is fixed to the floor, so the
  travel shows as the floor passing by.

Convention:
    - Colours are BGR. The subject's left is blue (:data:`LEFT_COLOR`), its right orange
      (:data:`RIGHT_COLOR`), the mid-line light grey, in both panels.
    - A ``space="world"`` pose is drawn as it is (Y up, floor at y = 0); a ``space="camera"``
      pose is turned Y up with :data:`~pose2rig.geometry.CAMERA_TO_YUP` and the grid is put under
      its lowest joints.
    - Video frames, keypoints and pose frames are matched by timestamp (nearest sample, within
      half a frame interval), so a pose resampled to another rate still lines up.
    - Frames whose pose is missing show the floor only; :func:`pose2rig.pipeline.convert` passes
      the pose with long gaps holding the nearest seen pose, drawn faded (its confidence is 0).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sized
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import CAMERA_TO_YUP, nearest_valid
from pose2rig.progress import Progress, progress_bar
from pose2rig.types import Keypoints2D, PoseSequence, Skeleton

if TYPE_CHECKING:
    from pose2rig.video import Frame

__all__ = [
    "LEFT_COLOR", "MID_COLOR", "RIGHT_COLOR", "downscale_interpolation", "draw_skeleton_2d", "follow_path",
    "render_preview",
    "render_still",
]

log = logging.getLogger(__name__)

LEFT_COLOR = (235, 140, 30)
RIGHT_COLOR = (30, 120, 245)
MID_COLOR = (215, 215, 215)
MIN_CONFIDENCE = 0.5
"""Joints and bones below this confidence are drawn faded (a filled gap has at most 0.5)."""
_FADE = 0.35  # opacity of faded elements
_PANEL_BG = (38, 34, 32)
_GRID = (92, 88, 84)
_SHADOW = (20, 18, 17)


def _side_colors(skeleton: Skeleton) -> list[tuple[int, int, int]]:
    """Colour of each joint, and of the bone that ends in it, from the joint's name."""
    out = []
    for name in skeleton.joint_names:
        if "left" in name:
            out.append(LEFT_COLOR)
        elif "right" in name:
            out.append(RIGHT_COLOR)
        else:
            out.append(MID_COLOR)
    return out


def downscale_interpolation(src_height: int, dst_height: int) -> int:
    """OpenCV's interpolation for resizing a video frame from ``src_height`` to ``dst_height``:
    area averaging only below half size, where bilinear would alias; bilinear above it, 7x faster
    on a 1768x994 frame to 720 rows (1.9 vs 13.9 ms) and within 0.6 grey levels on average of area
    averaging (bench in docs/BENCHMARKS.md, issue 17)."""
    return cv2.INTER_AREA if dst_height * 2 < src_height else cv2.INTER_LINEAR


def _even(n: float) -> int:
    return max(2, int(round(n / 2.0)) * 2)


def _nearest(times: np.ndarray, t: float, tolerance: float) -> int | None:
    """Index of the sample of ``times`` nearest ``t``; None when none is within ``tolerance``."""
    if times.size == 0:
        return None
    i = int(np.searchsorted(times, t))
    best = min((j for j in (i - 1, i) if 0 <= j < times.size), key=lambda j: abs(times[j] - t))
    return best if abs(times[best] - t) <= tolerance else None


def _tolerance(times: np.ndarray, fps: float) -> float:
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0 / fps
    return 0.5 * step + 1e-6


def draw_skeleton_2d(
    image: np.ndarray,
    points: np.ndarray,
    confidence: np.ndarray,
    skeleton: Skeleton,
    *,
    min_confidence: float = MIN_CONFIDENCE,
    thickness: int = 3,
) -> np.ndarray:
    """Draw one frame's skeleton onto a copy of ``image``.

    Args:
        image: ``(H, W, 3) uint8`` BGR.
        points: ``(J, 2)`` pixels in ``image``; NaN joints and the bones touching them are
            skipped.
        confidence: ``(J,)``; joints and bones (the lower confidence of their two ends) below
            ``min_confidence`` are drawn faded.

    Returns:
        ``(H, W, 3) uint8`` BGR.
    """
    colors = _side_colors(skeleton)
    pts = np.asarray(points, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.all(np.isfinite(pts), axis=-1)
    radius = max(2, thickness + 1)
    strong: list[tuple[str, int, int]] = []
    faint: list[tuple[str, int, int]] = []
    for p, c in skeleton.bones:
        if ok[p] and ok[c]:
            (strong if min(conf[p], conf[c]) >= min_confidence else faint).append(("bone", p, c))
    for j in range(skeleton.num_joints):
        if ok[j]:
            (strong if conf[j] >= min_confidence else faint).append(("joint", j, j))

    def draw(canvas: np.ndarray, items: list[tuple[str, int, int]]) -> None:
        for kind, a, b in items:
            if kind == "bone":
                pa = tuple(int(round(v)) for v in pts[a])
                pb = tuple(int(round(v)) for v in pts[b])
                cv2.line(canvas, pa, pb, colors[b], thickness, cv2.LINE_AA)
        for kind, a, _ in items:
            if kind == "joint":
                centre = tuple(int(round(v)) for v in pts[a])
                cv2.circle(canvas, centre, radius, colors[a], -1, cv2.LINE_AA)
                cv2.circle(canvas, centre, radius, (20, 20, 20), 1, cv2.LINE_AA)

    out: np.ndarray = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if faint:
        layer = out.copy()
        draw(layer, faint)
        out = cv2.addWeighted(layer, _FADE, out, 1.0 - _FADE, 0.0)
    draw(out, strong)
    return out


def follow_path(points: np.ndarray, fps: float, *, max_offset: float, seconds: float = 1.0) -> np.ndarray:
    """Where a camera following ``points`` looks: smooth, yet never far from them.

    A centred moving average over ``seconds`` keeps the camera from shaking with every step;
    then each frame's target is pulled back to within ``max_offset`` (metres) of its point, so a
    sudden jump (where a long detection gap's held pose gives way to the next seen one, say)
    never leaves the subject out of the picture.

    Args:
        points: ``(T, 3)``; rows with NaN take the nearest finite row.
        fps: frames per second of ``points``.
        max_offset: the largest distance between a target and its point.
        seconds: length of the moving average.

    Returns:
        ``(T, 3)`` float64 targets.
    """
    p = np.array(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise Pose2RigError(f"follow_path: expected points (T, 3) with T >= 1, got {p.shape}")
    ok = np.all(np.isfinite(p), axis=1)
    if not ok.any():
        raise Pose2RigError("follow_path: no frame has a finite point")
    if not ok.all():
        p = p[nearest_valid(ok)]
    k = max(0, int(round(0.5 * seconds * fps)))
    if k:
        pad = np.pad(p, ((k, k), (0, 0)), mode="edge")
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        smooth = np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(3)], axis=1)
    else:
        smooth = p.copy()
    off = smooth - p
    dist = np.linalg.norm(off, axis=1, keepdims=True)
    scale = np.minimum(1.0, max_offset / np.maximum(dist, 1e-12))
    return p + off * scale


class _View3D:
    """A virtual camera that follows the subject, from a fixed direction and distance.

    The distance keeps the whole body in view, so the skeleton has the same size however far
    the subject travels; the camera's target follows the body's middle through
    :func:`follow_path`.

    Args:
        joints: ``(T, J, 3)`` Y-up metres; frames without every joint are left out of the
            framing (their target is the nearest framed one).
        floor: height of the floor.
        size: panel ``(width, height)`` pixels.
        fps: frames per second of ``joints``.
        azimuth, elevation: radians; the camera sits in the direction ``azimuth`` from +Z
            towards +X (the subject's left at the start), ``elevation`` above the horizon.
    """

    def __init__(
        self,
        joints: np.ndarray,
        floor: float,
        size: tuple[int, int],
        fps: float,
        *,
        azimuth: float = np.radians(45.0),
        elevation: float = np.radians(20.0),
        fov: float = np.radians(40.0),
    ) -> None:
        ok = np.all(np.isfinite(joints), axis=(1, 2))
        if ok.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                middle = 0.5 * (joints.min(axis=1) + joints.max(axis=1))  # NaN where not ok
                reach = np.linalg.norm(joints - middle[:, None], axis=-1).max(axis=1)
            body = float(np.percentile(reach[ok], 98))
        else:
            middle = np.tile([0.0, floor + 0.85, 0.0], (max(1, len(joints)), 1))
            body = 0.9
        body = max(body, 0.5)
        slack = 0.25 * body  # how far the smoothed target may stray from the body's middle
        self.target = follow_path(middle, fps, max_offset=slack)
        radius = body + slack  # every joint lies within this of the target
        ce = np.cos(elevation)
        d = np.array([np.sin(azimuth) * ce, np.sin(elevation), np.cos(azimuth) * ce])
        self.offset = radius / np.sin(fov / 2.0) * d  # eye = target + offset
        f = -d
        right = np.cross(f, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(f, right)
        self.rot = np.stack([right, down, f])  # rows: camera x, y, z in world
        w, h = size
        self.size = size
        self.focal = 0.5 * min(w, h) / np.tan(fov / 2.0)
        self.centre_px = np.array([w / 2.0, h / 2.0])
        self.floor = floor
        self.grid_reach = 2.5 * radius
        self.blank = np.empty((h, w, 3), np.uint8)
        self.blank[:] = _PANEL_BG  # filled once: a tuple fill costs 5 ms a frame, a copy 0.06

    def to_camera(self, points: np.ndarray, t: int) -> np.ndarray:
        eye = self.target[int(np.clip(t, 0, len(self.target) - 1))] + self.offset
        return (np.asarray(points, dtype=np.float64) - eye) @ self.rot.T

    def project(self, points: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(..., 3)`` world -> ``(..., 2)`` pixels and ``(...,)`` depth (<= 0.05 is behind),
        seen from the camera of frame ``t``."""
        c = self.to_camera(points, t)
        z = c[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            px = self.focal * c[..., :2] / z[..., None] + self.centre_px
        return px, z

    def background(self, t: int) -> np.ndarray:
        """The panel of frame ``t``: the floor's grid (fixed to the floor, 0.5 m squares) around
        the camera's target."""
        w, h = self.size
        img = self.blank.copy()
        step = 0.5
        centre = self.target[int(np.clip(t, 0, len(self.target) - 1))]
        lo = np.floor((centre - self.grid_reach) / step) * step
        hi = np.ceil((centre + self.grid_reach) / step) * step
        ends = []
        for x in np.arange(lo[0], hi[0] + 1e-9, step):
            ends.append(((x, self.floor, lo[2]), (x, self.floor, hi[2])))
        for z in np.arange(lo[2], hi[2] + 1e-9, step):
            ends.append(((lo[0], self.floor, z), (hi[0], self.floor, z)))
        near = 0.05
        for a, b in ends:
            ca, cb = self.to_camera(np.array([a, b]), t)
            if ca[2] < near and cb[2] < near:
                continue
            if ca[2] < near or cb[2] < near:  # clip the part behind the camera
                s = (near - ca[2]) / (cb[2] - ca[2])
                cut = ca + s * (cb - ca)
                ca, cb = (cut, cb) if ca[2] < near else (ca, cut)
            pa = self.focal * ca[:2] / ca[2] + self.centre_px
            pb = self.focal * cb[:2] / cb[2] + self.centre_px
            ok, pa_i, pb_i = cv2.clipLine((0, 0, w, h), _pt(pa), _pt(pb))
            if ok:
                cv2.line(img, pa_i, pb_i, _GRID, 1, cv2.LINE_AA)
        return img

    def draw(
        self,
        background: np.ndarray,
        joints: np.ndarray,
        confidence: np.ndarray,
        skeleton: Skeleton,
        t: int,
    ) -> np.ndarray:
        """Draw one ``(J, 3)`` Y-up pose (shadow, then bones far to near) on a copy, seen from
        the camera of frame ``t``."""
        img = background.copy()
        ok = np.all(np.isfinite(joints), axis=-1)
        if not ok.any():
            return img
        scale = self.size[1] / 720.0
        thick = max(2, int(round(6 * scale)))
        shadow = joints.copy()
        shadow[:, 1] = self.floor
        spx, sz = self.project(shadow, t)
        for p, c in skeleton.bones:
            if ok[p] and ok[c] and sz[p] > 0.05 and sz[c] > 0.05:
                cv2.line(img, _pt(spx[p]), _pt(spx[c]), _SHADOW, thick, cv2.LINE_AA)
        px, z = self.project(joints, t)
        colors = _side_colors(skeleton)
        visible = ok & (z > 0.05)
        order = sorted(
            (b for b in skeleton.bones if visible[b[0]] and visible[b[1]]),
            key=lambda b: -(z[b[0]] + z[b[1]]),
        )
        strong = img
        faint = img.copy()
        any_faint = False
        for p, c in order:
            weak = min(confidence[p], confidence[c]) < MIN_CONFIDENCE
            any_faint |= weak
            canvas = faint if weak else strong
            cv2.line(canvas, _pt(px[p]), _pt(px[c]), colors[c], thick, cv2.LINE_AA)
            for j in (p, c):
                cv2.circle(canvas, _pt(px[j]), thick, colors[j], -1, cv2.LINE_AA)
        if any_faint:
            img = cv2.addWeighted(faint, _FADE, strong, 1.0 - _FADE, 0.0)
        return img


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


class _Compositor:
    """Everything fixed over a clip: sizes, the 3D view and its background."""

    def __init__(
        self,
        frame_size: tuple[int, int],
        keypoints: Keypoints2D,
        pose: PoseSequence,
        *,
        height: int,
        azimuth: float,
        elevation: float,
    ) -> None:
        if not isinstance(keypoints, Keypoints2D):
            raise Pose2RigError(f"render: expected Keypoints2D, got {type(keypoints).__name__}")
        if not isinstance(pose, PoseSequence):
            raise Pose2RigError(f"render: expected a PoseSequence, got {type(pose).__name__}")
        if int(height) < 16:
            raise Pose2RigError(f"render: height must be at least 16 pixels, got {height}")
        w, h = frame_size
        self.height = _even(height)
        self.left_w = _even(w * self.height / h)
        self.right_w = self.height
        self.size = (self.left_w + self.right_w, self.height)
        self.kp_scale = np.array(
            [self.left_w / keypoints.image_size[0], self.height / keypoints.image_size[1]]
        )
        self.keypoints = keypoints
        self.kp_tol = _tolerance(keypoints.timestamps, keypoints.fps)
        joints = pose.joints.astype(np.float64)
        if pose.space == "camera":
            joints = joints @ CAMERA_TO_YUP.T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                low = np.nanmin(joints[..., 1], axis=1)
            low = low[np.isfinite(low)]
            floor = float(np.percentile(low, 5)) if low.size else 0.0
        else:
            floor = 0.0
        assert pose.confidence is not None  # PoseSequence fills it in
        self.joints = joints
        self.confidence = pose.confidence
        self.pose = pose
        self.pose_tol = _tolerance(pose.timestamps, pose.fps)
        self.view = _View3D(
            joints, floor, (self.right_w, self.height), pose.fps, azimuth=azimuth, elevation=elevation
        )

    def compose(self, image: np.ndarray | None, time: float) -> np.ndarray:
        """One ``(height, width, 3) uint8`` BGR output frame for the video frame at ``time``."""
        left: np.ndarray
        if image is None:
            left = np.zeros((self.height, self.left_w, 3), np.uint8)
        else:
            img = np.asarray(image)
            if img.ndim != 3 or img.shape[2] != 3:
                raise Pose2RigError(
                    f"render: expected an (H, W, 3) BGR image, got shape {img.shape}"
                )
            interp = downscale_interpolation(img.shape[0], self.height)
            left = cv2.resize(
                img.astype(np.uint8, copy=False), (self.left_w, self.height), interpolation=interp
            )
        k = _nearest(self.keypoints.timestamps, time, self.kp_tol)
        if k is not None:
            left = draw_skeleton_2d(
                left,
                self.keypoints.keypoints[k] * self.kp_scale,
                self.keypoints.confidence[k],
                self.keypoints.skeleton,
                thickness=max(2, int(round(4 * self.height / 720))),
            )
        i = _nearest(self.pose.timestamps, time, self.pose_tol)
        if i is None:  # no pose at this time: the floor where the camera is nearest in time
            near = _nearest(self.pose.timestamps, time, np.inf)
            right = self.view.background(0 if near is None else near)
        else:
            right = self.view.draw(
                self.view.background(i), self.joints[i], self.confidence[i], self.pose.skeleton, i
            )
        scale = self.height / 720.0
        cv2.putText(
            right,
            f"{time:6.2f} s",
            (int(12 * scale), int(self.height - 14 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * scale,
            (200, 200, 200),
            max(1, int(round(scale * 1.5))),
            cv2.LINE_AA,
        )
        return np.concatenate([left, right], axis=1)


def render_still(
    image: np.ndarray | None,
    keypoints: Keypoints2D,
    pose: PoseSequence,
    *,
    time: float | None = None,
    height: int = 720,
    azimuth: float = np.radians(45.0),
    elevation: float = np.radians(20.0),
) -> np.ndarray:
    """One preview frame as a picture (for a README or a test).

    Args:
        image: ``(H, W, 3) uint8`` BGR video frame at ``time``; None draws on black at
            ``keypoints.image_size``.
        keypoints: the clip's 2D keypoints (the frame nearest ``time`` is drawn).
        pose: the clip's 3D joints; the framing of the 3D panel uses the whole clip, as in
            :func:`render_preview`.
        time: seconds; defaults to the first keypoints frame.
        height: output height in pixels (rounded to even).
        azimuth, elevation: direction of the 3D view, radians (see the module docstring).

    Returns:
        ``(height, width, 3) uint8`` BGR, width = the scaled frame's plus ``height``.
    """
    size = keypoints.image_size if image is None else (image.shape[1], image.shape[0])
    comp = _Compositor(size, keypoints, pose, height=height, azimuth=azimuth, elevation=elevation)
    t = float(keypoints.timestamps[0]) if time is None else float(time)
    return comp.compose(image, t)


def render_preview(
    path: str | Path,
    frames: Iterable[Frame],
    keypoints: Keypoints2D,
    pose: PoseSequence,
    *,
    fps: float,
    progress: Progress = True,
    height: int = 720,
    azimuth: float = np.radians(45.0),
    elevation: float = np.radians(20.0),
) -> str:
    """Write the side-by-side preview video (see the module docstring).

    Args:
        path: output ``.mp4`` (written atomically through :class:`pose2rig.video.VideoWriter`).
        frames: the clip's :class:`pose2rig.video.Frame` objects (``.time``, ``.image``), e.g.
            :func:`pose2rig.video.open_video`; one output frame per input frame.
        keypoints: 2D keypoints of the clip, in the frames' pixel coordinates.
        pose: 3D joints of the clip (world space preferred), at any frame rate.
        fps: output frame rate.
        progress: a progress bar (True), silence (False) or a callback (:mod:`pose2rig.progress`).
        height: output height in pixels.

    Returns:
        The codec used, ``"h264"`` or ``"mp4v"``.
    """
    from pose2rig.video import VideoWriter

    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise Pose2RigError("render_preview: expected at least one video frame, got none") from None
    image = np.asarray(first.image)
    comp = _Compositor(
        (image.shape[1], image.shape[0]),
        keypoints,
        pose,
        height=height,
        azimuth=azimuth,
        elevation=elevation,
    )
    total = len(frames) if isinstance(frames, Sized) else keypoints.num_frames
    with progress_bar(total=total, desc="preview", progress=progress) as bar, VideoWriter(
        path, fps=fps, size=comp.size
    ) as writer:
        frame: Frame | None = first
        while frame is not None:
            writer.write(comp.compose(frame.image, float(frame.time)))
            bar.update(1)
            frame = next(it, None)
    log.debug("wrote preview %s (%d frames, %s)", path, writer.frames_written, writer.codec)
    return writer.codec
