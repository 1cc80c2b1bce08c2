"""Streaming video reader and browser-playable writer.

Reading goes through PyAV (FFmpeg bundled in its wheel): frames are decoded one at a time, so memory
stays flat however long the clip. Writing uses PyAV's libx264 (H.264, yuv420p, ``+faststart``: what
browsers play) and falls back to OpenCV's ``mp4v`` when H.264 cannot be encoded.

Convention:
    - Images are ``(H, W, 3) uint8`` BGR (OpenCV order), already turned upright.
    - ``Frame.time`` is the frame's true presentation time in seconds, counted from the file's first
      frame; it is never ``index / fps`` (phone clips have a variable frame rate).
    - ``VideoInfo.rotation`` is the clockwise angle, in degrees, applied to decoded frames to show
      them upright: a phone clip tagged ``rotate=90`` (display matrix of -90 degrees
      counter-clockwise) is turned 90 degrees clockwise, as FFmpeg and OpenCV do.
    - ``mirror`` flips left and right after the rotation, as seen upright.
    - ``size`` for the writer is ``(width, height)``, OpenCV's order.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import warnings
import weakref
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path

__all__ = [
    "Frame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "h264_available",
    "open_video",
    "probe",
]

log = logging.getLogger(__name__)

# Frame intervals that differ from the median by more than this make a clip variable-rate.
_VFR_TOLERANCE = 0.10
# FFmpeg formats that hold one still image, not a video.
_IMAGE_FORMATS = {"image2", "image2pipe", "apng", "gif_pipe", "webp_pipe"}
_WRITER_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv"}

@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, measured from its timestamps.

    Attributes:
        path: the file.
        width, height: display size in pixels, after the rotation is applied.
        fps: average frame rate, ``(frame_count - 1) / (last time - first time)``.
        frame_count: frames present in the file (packets counted, not the header's claim).
        duration: seconds from the first frame's start to the last frame's end.
        rotation: clockwise degrees (0, 90, 180, 270) applied to decoded frames.
        codec: FFmpeg's codec name, e.g. ``"h264"``.
        variable_frame_rate: True when some frame interval differs from the median by more than
            10 %.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    rotation: int
    codec: str
    variable_frame_rate: bool


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based index of the frame within the file (also after seeking).
        time: presentation time in seconds from the file's first frame.
        image: ``(H, W, 3) uint8`` BGR, upright, mirrored if asked.
    """

    index: int
    time: float
    image: np.ndarray


@dataclass(frozen=True)
class _Timeline:
    """Presentation timestamps of every frame in the file, sorted, in stream time-base units."""

    pts: np.ndarray  # (N,) int64, sorted
    origin: int  # pts of the first frame
    time_base: Fraction

    def seconds(self, pts: np.ndarray | int) -> np.ndarray | float:
        # Multiply then divide: exact integer ticks give correctly rounded seconds (5.6, not
        # 5.6000000000000005).
        ticks = np.asarray(pts, dtype=np.float64) - self.origin
        return ticks * self.time_base.numerator / self.time_base.denominator


# ---------------------------------------------------------------------------------------------
# probing


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise Pose2RigError(f"expected a video file, got a path that does not exist: {p}")
    if not p.is_file():
        raise Pose2RigError(f"expected a video file, got a folder or special file: {p}")
    if p.stat().st_size == 0:
        raise Pose2RigError(f"expected a video file, got an empty (0-byte) file: {p}")
    return p


def _open_input(p: Path) -> Any:
    """Open ``p`` with PyAV and return ``(container, video stream)``; errors become one line."""
    try:
        container = av.open(str(p), "r")
    except av.FFmpegError as e:
        raise Pose2RigError(
            f"expected a video file, got one that FFmpeg cannot read: {p} "
            f"({_reason(e)}; a cut-off mp4 loses its index and cannot be opened)"
        ) from None
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
        container.close()
        raise Pose2RigError(f"expected a video file, got a still image ({fmt}): {p}")
    if not container.streams.video:
        container.close()
        raise Pose2RigError(f"expected a video with frames, got a file with no video stream: {p}")
    return container, container.streams.video[0]


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _rotation_cw(ccw: float, p: Path) -> int:
    """Clockwise quarter turns (in degrees) from FFmpeg's counter-clockwise display rotation."""
    cw = (-float(ccw)) % 360.0
    snapped = int(round(cw / 90.0)) * 90 % 360
    if abs(((cw - snapped) + 180.0) % 360.0 - 180.0) > 1.0:
        warnings.warn(
            f"{p}: display rotation of {cw:.1f} degrees is not a quarter turn; "
            f"using {snapped} degrees",
            stacklevel=3,
        )
    return snapped


def _scan(p: Path) -> tuple[VideoInfo, _Timeline]:
    """Demux every packet (no decoding) for exact timestamps; decode the first frame only."""
    container, stream = _open_input(p)
    try:
        tb = stream.time_base or Fraction(1, 90000)
        claimed = int(stream.frames or 0)
        pts: list[int] = []
        last_pts, last_duration = -(2**62), 0
        no_pts = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    no_pts += 1
                    continue
                pts.append(int(ts))
                if ts >= last_pts:  # the duration of the frame shown last ends the clip
                    last_pts, last_duration = ts, int(packet.duration or 0)
        except av.FFmpegError as e:
            warnings.warn(
                f"{p}: stopped reading after {len(pts)} frames ({_reason(e)}); the file looks "
                "truncated or damaged",
                stacklevel=3,
            )
        codec = stream.codec_context.name
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    finally:
        container.close()

    first = _first_frame(p)
    if first is None or (not pts and not no_pts):
        raise Pose2RigError(f"expected a video with frames, got an empty or undecodable one: {p}")
    if no_pts:
        # Streams without timestamps (raw elementary streams): fall back to the nominal rate.
        if not rate:
            raise Pose2RigError(f"expected timestamps or a frame rate in {p}, found neither")
        n = len(pts) + no_pts
        step = 1.0 / float(rate) / float(tb)
        pts = [int(round(i * step)) for i in range(n)]
        last_duration = int(round(step))
        warnings.warn(f"{p}: frames carry no timestamps; assuming {float(rate):.3f} fps", stacklevel=3)

    arr = np.unique(np.asarray(pts, dtype=np.int64))
    if len(arr) < len(pts):
        warnings.warn(f"{p}: {len(pts) - len(arr)} frames repeat a timestamp; keeping one of each", stacklevel=3)
    n = len(arr)
    if claimed and claimed > n:
        warnings.warn(
            f"{p}: the header lists {claimed} frames but only {n} are present; the file looks "
            "truncated",
            stacklevel=3,
        )
    timeline = _Timeline(pts=arr, origin=int(arr[0]), time_base=Fraction(tb))
    times = np.asarray(timeline.seconds(arr))
    intervals = np.diff(times)
    if n >= 2:
        span = float(times[-1])
        median = float(np.median(intervals))
        fps = (n - 1) / span
        variable = bool(np.max(np.abs(intervals - median)) > _VFR_TOLERANCE * median)
        tail = last_duration * float(tb) if last_duration > 0 else median
    else:
        fps = float(rate) if rate else 0.0
        variable = False
        tail = last_duration * float(tb) if last_duration > 0 else (1.0 / fps if fps else 0.0)
        span = 0.0

    rotation, height, width = first
    if rotation in (90, 270):
        width, height = height, width
    info = VideoInfo(
        path=p,
        width=width,
        height=height,
        fps=float(fps),
        frame_count=n,
        duration=span + tail,
        rotation=rotation,
        codec=codec,
        variable_frame_rate=variable,
    )
    return info, timeline


def _first_frame(p: Path) -> tuple[int, int, int] | None:
    """``(clockwise rotation, coded height, coded width)`` of the first decodable frame."""
    container, stream = _open_input(p)
    try:
        for frame in container.decode(stream):
            return _rotation_cw(frame.rotation, p), frame.height, frame.width
    except av.FFmpegError:
        return None
    finally:
        container.close()
    return None


def probe(path: str | Path) -> VideoInfo:
    """Measure a video: display size, true frame rate, frame count, rotation.

    Reads every packet header (fast: nothing is decoded but the first frame).

    Raises:
        Pose2RigError: the file is missing, not a video, a still image, empty, or undecodable.
    """
    return _scan(_check_file(path))[0]


# ---------------------------------------------------------------------------------------------
# reading


def _upright(image: np.ndarray, rotation: int, mirror: bool) -> np.ndarray:
    if rotation == 90:
        image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    elif rotation == 180:
        image = cv2.rotate(image, cv2.ROTATE_180)
    elif rotation == 270:
        image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if mirror:
        image = cv2.flip(image, 1)
    return np.ascontiguousarray(image)


class VideoReader:
    """Frames of one video, decoded lazily; iterate it (again and again) to get :class:`Frame`.

    Made by :func:`open_video`. ``len(reader)`` is the number of frames that iterating yields
    (for a progress bar). Holds no frames: memory does not grow with the clip's length.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        start: float | None = None,
        end: float | None = None,
        mirror: bool = False,
    ) -> None:
        p = _check_file(path)
        if start is not None and not (math.isfinite(start) and start >= 0):
            raise Pose2RigError(f"expected start >= 0 seconds, got {start}")
        if end is not None and math.isnan(end):
            raise Pose2RigError("expected end in seconds, got NaN")
        if start is not None and end is not None and start >= end:
            raise Pose2RigError(f"expected start < end, got start={start} s, end={end} s")
        self.info, self._timeline = _scan(p)
        self.mirror = bool(mirror)
        self.start = start
        self.end = end
        times = np.asarray(self._timeline.seconds(self._timeline.pts))
        lo = 0.0 if start is None else start
        hi = math.inf if end is None else end
        chosen = np.flatnonzero((times >= lo) & (times < hi))
        if len(chosen) == 0:
            if lo > times[-1]:
                raise Pose2RigError(
                    f"expected start before the clip's end, got start={lo} s, beyond its last "
                    f"frame at {times[-1]:.3f} s (duration {self.info.duration:.3f} s): {p}"
                )
            raise Pose2RigError(
                f"expected at least one frame between start={lo} s and end={hi} s, found none "
                f"(frames every ~{1.0 / max(self.info.fps, 1e-9):.3f} s): {p}"
            )
        self._first = int(chosen[0])
        self._count = len(chosen)
        # Iterations in progress; weak, so an abandoned one is collected and closes its file.
        self._live: weakref.WeakSet[Generator[Frame, None, None]] = weakref.WeakSet()
        self._decoded = 0  # frames decoded by the latest iteration (shows that seeking works)

    def __len__(self) -> int:
        return self._count

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop any iteration in progress and release its file."""
        for gen in list(self._live):
            gen.close()
        self._live.clear()

    def __iter__(self) -> Iterator[Frame]:
        gen = self._frames()
        self._live.add(gen)
        return gen

    def _frames(self) -> Generator[Frame, None, None]:
        tl = self._timeline
        target = int(tl.pts[self._first])
        end_pts = tl.pts[self._first + self._count - 1]
        seek = self._first > 0
        emitted = 0
        self._decoded = 0
        while True:
            restart = False
            container, stream = _open_input(self.info.path)
            try:
                stream.thread_type = "AUTO"
                if seek:
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                counter = 0 if not seek else self._first
                first_seen = False
                while True:
                    try:
                        frame = next(frames)
                    except StopIteration:
                        break
                    except av.FFmpegError as e:
                        warnings.warn(
                            f"{self.info.path}: decoding stopped after {emitted} frames "
                            f"({_reason(e)}); the file looks truncated or damaged",
                            stacklevel=2,
                        )
                        break
                    self._decoded += 1
                    index, pts = self._locate(frame.pts, counter)
                    counter = index + 1
                    if seek and not first_seen and pts > target:
                        # The seek landed past the first wanted frame: decode from the start.
                        log.debug("seek overshot in %s; decoding from the start", self.info.path)
                        seek, restart = False, True
                        break
                    first_seen = True
                    if pts < target:
                        continue
                    if pts > end_pts:
                        break
                    image = frame.to_ndarray(format="bgr24")
                    yield Frame(
                        index=index,
                        time=float(tl.seconds(pts)),
                        image=_upright(image, self.info.rotation, self.mirror),
                    )
                    emitted += 1
            finally:
                container.close()
            if not restart:
                break
        if emitted < self._count:
            warnings.warn(
                f"{self.info.path}: expected {self._count} frames, decoded {emitted}; "
                "the file looks truncated or damaged",
                stacklevel=2,
            )

    def _locate(self, pts: int | None, counter: int) -> tuple[int, int]:
        """``(index in file, pts)`` of a decoded frame, from its pts or, lacking one, its order."""
        tl = self._timeline
        if pts is not None:
            i = int(np.searchsorted(tl.pts, pts))
            if i < len(tl.pts) and tl.pts[i] == pts:
                return i, int(pts)
        i = min(counter, len(tl.pts) - 1)
        return counter, int(tl.pts[i])


def open_video(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    mirror: bool = False,
) -> VideoReader:
    """Open a video for streaming reads.

    Args:
        path: the video file.
        start, end: seconds; yields frames whose time ``t`` satisfies ``start <= t < end``.
            A late start seeks to the keyframe before it instead of decoding from the beginning.
        mirror: flip every image left-right (after turning it upright).

    Returns:
        A :class:`VideoReader`: a context manager; iterating yields :class:`Frame`; ``.info`` is
        the :class:`VideoInfo`.

    Raises:
        Pose2RigError: missing or unreadable file, no frames, ``start >= end``, or ``start``
            past the last frame.
    """
    return VideoReader(path, start=start, end=end, mirror=mirror)


def prefetch(frames: Iterable[Frame], *, depth: int = 4) -> Iterator[Frame]:
    """Decode ahead in a background thread, so decoding overlaps the caller's per-frame work.

    Yields the same frames in the same order, holding at most ``depth`` decoded frames (memory
    stays flat). FFmpeg decodes with the GIL released, so on two cores the detector and the
    decoder run side by side. An error in the decoder is raised in the caller at the frame where
    it happened; leaving the loop early stops the thread.
    """
    if depth < 1:
        raise Pose2RigError(f"prefetch depth must be at least 1, got {depth}")
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not put(("frame", frame)):
                    return
            put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            put(("error", e))

    thread = threading.Thread(target=work, name="pose2rig-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "frame":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# writing


@lru_cache(maxsize=1)
def h264_available() -> bool:
    """True when the bundled FFmpeg can encode H.264 (libx264)."""
    try:
        av.codec.Codec("libx264", "w")
    except Exception:
        return False
    return True


class VideoWriter:
    """Write BGR frames to a video that browsers play; atomic (temp file, then rename).

    Use as a context manager::

        with VideoWriter("out.mp4", fps=30.0, size=(width, height)) as w:
            for image in images:
                w.write(image)

    Attributes:
        codec: ``"h264"`` (libx264, yuv420p, faststart) when PyAV can encode H.264, else
            ``"mp4v"`` through OpenCV (plays in desktop players, not in every browser).

    H.264 in yuv420p needs an even width and height: an odd size is padded by one edge pixel
    (with a warning). If the block raises, or no frame was written, no file is left behind.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        size: tuple[int, int],
        codec: str = "auto",
        crf: int = 20,
    ) -> None:
        p = Path(path)
        if p.suffix.lower() not in _WRITER_SUFFIXES:
            raise Pose2RigError(
                f"expected a video file name ending in {sorted(_WRITER_SUFFIXES)}, got {p.name}"
            )
        try:
            fps_f = float(fps)
        except (TypeError, ValueError):
            raise Pose2RigError(f"expected fps as a positive number, got {fps!r}") from None
        if not (math.isfinite(fps_f) and fps_f > 0):
            raise Pose2RigError(f"expected fps as a positive number, got {fps!r}")
        try:
            width, height = (int(v) for v in size)
        except (TypeError, ValueError):
            raise Pose2RigError(f"expected size as (width, height), got {size!r}") from None
        if width <= 0 or height <= 0:
            raise Pose2RigError(f"expected a positive (width, height), got {size!r}")
        if codec == "auto":
            codec = "h264" if h264_available() else "mp4v"
        if codec not in ("h264", "mp4v"):
            raise Pose2RigError(f"expected codec 'auto', 'h264' or 'mp4v', got {codec!r}")
        if codec == "h264" and not h264_available():
            raise Pose2RigError("expected PyAV with libx264 for codec='h264'; it has none")
        self.path = p
        self.fps = fps_f
        self.size = (width, height)
        self.codec = codec
        self.crf = int(crf)
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._container: Any = None
        self._stream: Any = None
        self._cv: Any = None
        self._pad = (height % 2, width % 2) if codec == "h264" else (0, 0)

    def __enter__(self) -> VideoWriter:
        stack = contextlib.ExitStack()
        tmp = stack.enter_context(atomic_path(self.path))
        try:
            self._open(tmp)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _open(self, tmp: Path) -> None:
        width, height = self.size
        if self.codec == "h264":
            if any(self._pad):
                warnings.warn(
                    f"H.264 needs an even size; padding {width}x{height} to "
                    f"{width + self._pad[1]}x{height + self._pad[0]}",
                    stacklevel=3,
                )
            options = {"movflags": "+faststart"} if tmp.suffix.lower() != ".mkv" else {}
            try:
                self._container = av.open(str(tmp), "w", options=options)
                rate = Fraction(self.fps).limit_denominator(1001)
                stream = self._container.add_stream("libx264", rate=rate)
                stream.width = width + self._pad[1]
                stream.height = height + self._pad[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(self.crf), "preset": "veryfast"}
                self._stream = stream
            except av.FFmpegError as e:
                self._close_container()
                raise Pose2RigError(f"cannot write video {self.path}: {_reason(e)}") from None
        else:
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._cv = cv2.VideoWriter(str(tmp), fourcc, self.fps, (width, height))
            if not self._cv.isOpened():
                self._cv = None
                raise Pose2RigError(f"cannot write video {self.path}: OpenCV could not open it")

    def write(self, image_bgr: np.ndarray) -> None:
        """Append one frame.

        Args:
            image_bgr: ``(height, width, 3) uint8`` BGR, matching ``size``.
        """
        if self._stack is None:
            raise Pose2RigError("expected VideoWriter used as a context manager (with ...)")
        width, height = self.size
        img = np.asarray(image_bgr)
        if img.shape != (height, width, 3) or img.dtype != np.uint8:
            raise Pose2RigError(
                f"expected a ({height}, {width}, 3) uint8 BGR image, "
                f"got {img.shape} {img.dtype}"
            )
        if self._cv is not None:
            self._cv.write(np.ascontiguousarray(img))
        else:
            if any(self._pad):
                img = np.pad(img, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            frame.pts = self.frames_written
            try:
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            except av.FFmpegError as e:
                raise Pose2RigError(f"cannot write video {self.path}: {_reason(e)}") from None
        self.frames_written += 1

    def _close_container(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def _finish(self) -> None:
        if self._cv is not None:
            self._cv.release()
            self._cv = None
        elif self._container is not None:
            try:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                self._container.close()
            except av.FFmpegError as e:
                raise Pose2RigError(f"cannot write video {self.path}: {_reason(e)}") from None
            finally:
                self._container = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc_type is not None:
            if self._cv is not None:
                self._cv.release()
                self._cv = None
            self._close_container()
            stack.__exit__(exc_type, exc, tb)
            return
        try:
            if self.frames_written == 0:
                raise Pose2RigError(f"expected at least one frame for {self.path}, got none")
            self._finish()
        except BaseException as e:
            self._close_container()
            stack.__exit__(type(e), e, e.__traceback__)
            raise
        stack.close()
