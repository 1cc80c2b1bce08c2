"""Tests for pose2rig.video: clips with odd properties are built here with PyAV, in tmp_path."""

from __future__ import annotations

import gc
import os
import warnings
import weakref
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.video import Frame, VideoInfo, VideoWriter, h264_available, open_video, probe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"

RED = (0, 0, 255)  # BGR


def level(i: int) -> int:
    """Gray level that marks frame ``i`` in the clips built here."""
    return 10 + 20 * (i % 12)


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i``: flat gray ``level(i)`` with a red block in the top-left corner."""
    img = np.full((height, width, 3), level(i), np.uint8)
    img[: height // 4, : width // 4] = RED
    return img


def make_clip(
    path: Path,
    *,
    n: int = 20,
    width: int = 64,
    height: int = 48,
    rate: int = 25,
    pts_ms: list[int] | None = None,
    rotation_ccw: float | None = None,
    faststart: bool = False,
    codec: str = "mpeg4",
) -> Path:
    """Write a clip with PyAV directly (independent of VideoWriter); MPEG-4 Part 2 by default.

    ``pts_ms`` gives each frame's timestamp in milliseconds (variable frame rate);
    ``rotation_ccw`` stores a display matrix as phones do (-90 is a ``rotate=90`` portrait clip).
    """
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.bit_rate = 4_000_000
        if codec == "libx264":
            s.options = {"crf": "12", "bf": "3"}  # B-frames: decode order differs from display
        if pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation_ccw is not None:
            s.set_display_rotation(rotation_ccw)
        for i in range(n if pts_ms is None else len(pts_ms)):
            f = av.VideoFrame.from_ndarray(pattern(i, width, height), format="bgr24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def gray(image: np.ndarray) -> float:
    """Median gray of the frame (the red block is a sixteenth of it): the frame's marker level."""
    return float(np.median(image.mean(axis=2)))


def index_of(image: np.ndarray) -> int:
    return int(round((gray(image) - 10) / 20))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", n=20, rate=25)


# --- probing ------------------------------------------------------------------------------------


def test_probe_constant_rate_clip(clip: Path) -> None:
    info = probe(clip)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height) == (64, 48)
    assert info.frame_count == 20
    assert info.fps == pytest.approx(25.0, rel=1e-6)
    assert info.duration == pytest.approx(20 / 25, rel=1e-6)
    assert info.rotation == 0
    assert info.codec == "mpeg4"
    assert not info.variable_frame_rate


def test_frames_carry_index_time_and_content(clip: Path) -> None:
    with open_video(clip) as reader:
        assert len(reader) == 20
        frames = list(reader)
    assert [f.index for f in frames] == list(range(20))
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(20)])
    assert all(isinstance(f, Frame) for f in frames)
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [index_of(f.image) for f in frames] == [i % 12 for i in range(20)]
    # BGR order: the red block is red in channel 2.
    assert frames[0].image[2, 2, 2] > 200 and frames[0].image[2, 2, 0] < 60


def test_closing_reader_stops_iteration(clip: Path) -> None:
    with open_video(clip) as reader:
        it = iter(reader)
        assert next(it).index == 0
    assert list(it) == []  # the context closed the file under the running iteration


def test_reader_iterates_again_from_the_start(clip: Path) -> None:
    reader = open_video(clip, start=0.2)
    first = [f.index for f in reader]
    second = [f.index for f in reader]
    assert first == second == list(range(5, 20))


# --- variable frame rate ------------------------------------------------------------------------


def test_variable_frame_rate_times_are_true_pts(tmp_path: Path) -> None:
    pts_ms = [0, 33, 66, 120, 150, 200, 233, 300, 340, 400]
    path = make_clip(tmp_path / "vfr.mp4", pts_ms=pts_ms)
    info = probe(path)
    assert info.variable_frame_rate
    assert info.frame_count == len(pts_ms)
    assert info.fps == pytest.approx((len(pts_ms) - 1) / 0.400, rel=1e-3)
    # The last frame lasts as its packet says (or a median interval), not the longest interval.
    assert 0.400 < info.duration <= 0.400 + 0.040
    frames = list(open_video(path))
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts_ms], abs=1e-6)
    assert [index_of(f.image) for f in frames] == list(range(len(pts_ms)))


def test_small_timestamp_jitter_is_not_variable(tmp_path: Path) -> None:
    # 30 fps in millisecond ticks alternates 33 and 34 ms: constant rate, rounded.
    pts_ms = [round(i * 1000 / 30) for i in range(30)]
    info = probe(make_clip(tmp_path / "cfr.mp4", pts_ms=pts_ms))
    assert not info.variable_frame_rate
    assert info.fps == pytest.approx(30.0, rel=2e-3)


def test_vfr_select_by_time_uses_pts(tmp_path: Path) -> None:
    pts_ms = [0, 33, 66, 120, 150, 200, 233, 300, 340, 400]
    path = make_clip(tmp_path / "vfr.mp4", pts_ms=pts_ms)
    frames = list(open_video(path, start=0.12, end=0.3))
    assert [f.index for f in frames] == [3, 4, 5, 6]


def test_phone_like_clip_h264_bframes_vfr_portrait(tmp_path: Path) -> None:
    """H.264 with B-frames, irregular timestamps and a rotate=90 display matrix, as phones write."""
    pts_ms = [0, 33, 67, 100, 150, 183, 250, 283, 317, 350, 400, 433]
    path = make_clip(
        tmp_path / "phone.mp4", pts_ms=pts_ms, width=64, height=48, rotation_ccw=-90,
        codec="libx264",
    )
    info = probe(path)
    assert (info.codec, info.rotation, info.width, info.height) == ("h264", 90, 48, 64)
    assert info.variable_frame_rate and info.frame_count == len(pts_ms)
    frames = list(open_video(path, start=0.1))
    assert [f.index for f in frames] == list(range(3, len(pts_ms)))
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts_ms[3:]], abs=1e-6)
    assert [index_of(f.image) for f in frames] == list(range(3, len(pts_ms)))
    assert all(f.image.shape == (64, 48, 3) for f in frames)


# --- rotation and mirror ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ccw", "cw", "corner"),
    [(-90, 90, "top_right"), (90, 270, "bottom_left"), (180, 180, "bottom_right")],
)
def test_rotated_clip_comes_out_upright(tmp_path: Path, ccw: int, cw: int, corner: str) -> None:
    # Stored landscape 64x32 with a display matrix, as a phone stores a portrait clip.
    path = make_clip(tmp_path / "rot.mp4", n=3, width=64, height=32, rotation_ccw=ccw)
    info = probe(path)
    assert info.rotation == cw
    expected_size = (32, 64) if cw in (90, 270) else (64, 32)
    assert (info.width, info.height) == expected_size
    frames = list(open_video(path))
    img = frames[0].image
    assert img.shape == (info.height, info.width, 3)
    h, w = img.shape[:2]
    corners = {
        "top_left": img[2, 2],
        "top_right": img[2, w - 3],
        "bottom_left": img[h - 3, 2],
        "bottom_right": img[h - 3, w - 3],
    }
    red = {k for k, px in corners.items() if px[2] > 200 and px[0] < 60}
    assert red == {corner}


def test_rotation_agrees_with_opencv_autorotate(tmp_path: Path) -> None:
    """Independent check of the direction: OpenCV's FFmpeg backend turns the same clip."""
    path = make_clip(tmp_path / "rot.mp4", n=2, width=64, height=32, rotation_ccw=-90)
    cap = cv2.VideoCapture(str(path))
    assert cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    ok, theirs = cap.read()
    cap.release()
    assert ok and theirs.shape == (64, 32, 3)
    ours = next(iter(open_video(path))).image
    assert ours.shape == theirs.shape
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 3.0


def test_mirror_flips_left_right_after_rotation(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "rot.mp4", n=2, width=64, height=32, rotation_ccw=-90)
    plain = next(iter(open_video(path))).image
    mirrored = next(iter(open_video(path, mirror=True))).image
    np.testing.assert_array_equal(mirrored, plain[:, ::-1])
    assert mirrored[2, 2, 2] > 200  # red block moved from top-right to top-left


# --- start / end --------------------------------------------------------------------------------


def test_start_end_select_half_open_interval(clip: Path) -> None:
    with open_video(clip, start=0.2, end=0.4) as reader:
        assert len(reader) == 5
        frames = list(reader)
    assert [f.index for f in frames] == [5, 6, 7, 8, 9]
    assert frames[0].time == pytest.approx(0.2)
    assert all(0.2 <= f.time < 0.4 for f in frames)
    assert [index_of(f.image) for f in frames] == [5, 6, 7, 8, 9]


def test_late_start_seeks_and_keeps_file_indices(tmp_path: Path) -> None:
    # Keyframes every 12 frames: a seek lands before the wanted frame and must skip forward.
    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt, s.gop_size = 64, 48, "yuv420p", 12
        s.bit_rate = 4_000_000
        for i in range(100):
            for p in s.encode(av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    reader = open_video(path, start=3.0, end=3.2)
    frames = list(reader)
    assert [f.index for f in frames] == [75, 76, 77, 78, 79]
    # Seeking to the keyframe at 72 decodes 72..80, not the 75 frames before the start.
    assert reader._decoded <= 12 + 5 + 1
    assert [index_of(f.image) for f in frames] == [i % 12 for i in range(75, 80)]
    assert frames[0].time == pytest.approx(3.0)


def test_end_past_clip_is_clipped(clip: Path) -> None:
    assert [f.index for f in open_video(clip, start=0.6, end=99.0)] == [15, 16, 17, 18, 19]


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (0.5, 0.5, "start < end"),
        (0.6, 0.2, "start < end"),
        (5.0, None, "beyond its last frame"),
        (-1.0, None, "start >= 0"),
    ],
)
def test_bad_ranges_raise(clip: Path, start: float, end: float | None, match: str) -> None:
    with pytest.raises(Pose2RigError, match=match):
        open_video(clip, start=start, end=end)


# --- memory -------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; the CI runs on Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_memory_stays_flat_on_long_clip(tmp_path: Path) -> None:
    width, height, n = 160, 120, 1500
    path = make_clip(tmp_path / "long.mp4", n=n, width=width, height=height, rate=50)
    held = n * width * height * 3  # 86 MB: what a reader that kept its frames would hold
    gc.collect()
    base = _rss_bytes()
    peak = base
    alive: list[weakref.ref] = []
    count = 0
    with open_video(path) as reader:
        for frame in reader:
            count += 1
            assert frame.image.shape == (height, width, 3)
            alive.append(weakref.ref(frame.image))
            del frame
            if count % 100 == 0:
                peak = max(peak, _rss_bytes())
                # Nothing keeps earlier images alive: the reader holds no frame list.
                assert sum(r() is not None for r in alive) <= 2
    assert count == n
    assert peak - base < held / 4, f"resident memory grew {(peak - base) / 1e6:.1f} MB"


# --- bad input ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Pose2RigError, match="does not exist"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(Pose2RigError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(Pose2RigError, match="folder"):
        probe(tmp_path)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(Pose2RigError, match="cannot read"):
        probe(path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.mp4"
    path.write_bytes(b"")
    with pytest.raises(Pose2RigError, match="empty"):
        open_video(path)


def test_png_renamed_mp4_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "picture.mp4"
    ok, buf = cv2.imencode(".png", pattern(0, 64, 48))
    assert ok
    path.write_bytes(buf.tobytes())
    with pytest.raises(Pose2RigError, match="still image"):
        probe(path)


def test_video_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height = 64, 48
        c.start_encoding()
    assert path.stat().st_size > 0
    with pytest.raises(Pose2RigError, match="no video stream|empty"):
        probe(path)


def test_truncated_mp4_without_index_errors_clearly(tmp_path: Path) -> None:
    # Default mp4 keeps its index (moov) at the end: cutting the file loses it.
    path = make_clip(tmp_path / "full.mp4", n=40)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(Pose2RigError, match="cannot read"):
        open_video(cut)


def test_truncated_faststart_mp4_decodes_what_is_there(tmp_path: Path) -> None:
    # With the index first (faststart), the frames before the cut still decode.
    path = make_clip(tmp_path / "full.mp4", n=40, faststart=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        reader = open_video(cut)
    assert 0 < reader.info.frame_count < 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = list(reader)
    assert 0 < len(frames) <= reader.info.frame_count
    assert [index_of(f.image) for f in frames[:5]] == [0, 1, 2, 3, 4]


def test_header_only_mp4_errors_clearly(tmp_path: Path) -> None:
    # Cut right after the index: the header lists frames but no frame data is left.
    path = make_clip(tmp_path / "full.mp4", n=40, faststart=True)
    data = path.read_bytes()
    mdat = data.find(b"mdat")
    assert mdat > 0
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: mdat + 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Pose2RigError, match="empty or undecodable"):
            open_video(cut)


# --- writer -------------------------------------------------------------------------------------


def test_writer_uses_h264_when_pyav_has_libx264(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "a.mp4", fps=30.0, size=(64, 48)) as w:
        w.write(pattern(0, 64, 48))
    assert w.codec == ("h264" if h264_available() else "mp4v")
    assert h264_available(), "the pinned av wheel bundles libx264; browsers need H.264"
    info = probe(tmp_path / "a.mp4")
    assert info.codec == "h264"
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    # faststart: the index (moov) comes before the frame data (mdat), so browsers stream it.
    data = (tmp_path / "a.mp4").read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    # A second, independent decoder (OpenCV's own FFmpeg) plays it too.
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    ok, image = cap.read()
    cap.release()
    assert ok and image.shape == (48, 64, 3)


def test_writer_falls_back_to_mp4v_without_h264(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pose2rig.video as video

    monkeypatch.setattr(video, "h264_available", lambda: False)
    with VideoWriter(tmp_path / "b.mp4", fps=10.0, size=(64, 48)) as w:
        w.write(pattern(0, 64, 48))
        w.write(pattern(1, 64, 48))
    assert w.codec == "mp4v"
    info = probe(tmp_path / "b.mp4")
    assert (info.codec, info.frame_count) == ("mpeg4", 2)


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
def test_writer_round_trip(tmp_path: Path, codec: str) -> None:
    width, height, n, fps = 96, 64, 24, 12.0
    path = tmp_path / "round.mp4"
    images = []
    for i in range(n):
        img = pattern(i, width, height)
        cv2.circle(img, (20 + 2 * i, 40), 8, (0, 255, 0), -1)
        images.append(img)
    with VideoWriter(path, fps=fps, size=(width, height), codec=codec) as w:
        assert w.codec == codec
        for img in images:
            w.write(img)
    info = probe(path)
    assert info.frame_count == n
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert (info.width, info.height) == (width, height)
    frames = list(open_video(path))
    assert len(frames) == n
    assert [f.time for f in frames] == pytest.approx([i / fps for i in range(n)], abs=1e-3)
    for f, img in zip(frames, images, strict=True):
        err = np.abs(f.image.astype(int) - img.astype(int)).mean()
        assert err < 6.0, f"frame {f.index}: mean abs error {err:.1f}"


def test_writer_odd_size_is_padded_for_h264(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with pytest.warns(UserWarning, match="even"):
        with VideoWriter(path, fps=10, size=(33, 21), codec="h264") as w:
            for i in range(3):
                w.write(pattern(i, 33, 21))
    info = probe(path)
    assert (info.width, info.height) == (34, 22)
    assert info.frame_count == 3


def test_writer_is_atomic_on_error(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous good file")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with VideoWriter(path, fps=10, size=(32, 32)) as w:
            w.write(pattern(0, 32, 32))
            raise Boom
    assert path.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_writer_without_frames_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "none.mp4"
    with pytest.raises(Pose2RigError, match="at least one frame"):
        with VideoWriter(path, fps=10, size=(32, 32)):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": 0.0, "size": (32, 32)}, "fps"),
        ({"fps": float("nan"), "size": (32, 32)}, "fps"),
        ({"fps": 10.0, "size": (0, 32)}, "width, height"),
        ({"fps": 10.0, "size": (32, 32), "codec": "vp9"}, "codec"),
    ],
)
def test_writer_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(Pose2RigError, match=match):
        VideoWriter(tmp_path / "x.mp4", **kwargs)


def test_writer_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(Pose2RigError, match="ending in"):
        VideoWriter(tmp_path / "x.png", fps=10, size=(32, 32))


def test_writer_rejects_wrong_image(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "x.mp4", fps=10, size=(32, 24)) as w:
        w.write(pattern(0, 32, 24))
        with pytest.raises(Pose2RigError, match=r"\(24, 32, 3\) uint8"):
            w.write(np.zeros((32, 24, 3), np.uint8))
        with pytest.raises(Pose2RigError, match="uint8"):
            w.write(np.zeros((24, 32, 3), np.float32))


# --- real clips ---------------------------------------------------------------------------------


def test_real_clip_sports2d() -> None:
    info = probe(DATA / "sports2d_demo.mp4")
    assert info.frame_count == 230
    assert info.fps == pytest.approx(30.0, rel=1e-6)
    assert (info.width, info.height) == (1768, 994)
    assert info.duration == pytest.approx(230 / 30, rel=1e-6)
    assert not info.variable_frame_rate


@pytest.mark.slow
def test_real_clip_squats_decodes_every_frame() -> None:
    with open_video(DATA / "tfjs_pose_squats.mp4") as reader:
        info = reader.info
        assert (info.frame_count, info.fps) == (65, pytest.approx(5.0, rel=1e-6))
        assert (info.width, info.height) == (720, 1280)
        count = 0
        for frame in reader:
            assert frame.index == count
            assert frame.time == pytest.approx(count / 5.0)
            assert frame.image.shape == (1280, 720, 3)
            count += 1
    assert count == 65


# --- prefetching --------------------------------------------------------------------------------


def test_prefetch_yields_the_same_frames_in_order(clip: Path) -> None:
    from pose2rig.video import prefetch

    with open_video(clip) as v:
        direct = [(f.index, f.time, f.image.copy()) for f in v]
    with open_video(clip) as v:
        ahead = [(f.index, f.time, f.image) for f in prefetch(v, depth=2)]
    assert [a[:2] for a in ahead] == [d[:2] for d in direct]
    assert all(np.array_equal(a[2], d[2]) for a, d in zip(ahead, direct))


def test_prefetch_raises_decoder_errors_in_the_caller_and_stops_early() -> None:
    import threading

    from pose2rig.video import prefetch

    def broken():
        yield 1
        yield 2
        raise Pose2RigError("decoder broke at frame 2")

    got = []
    with pytest.raises(Pose2RigError, match="frame 2"):
        for x in prefetch(broken(), depth=1):
            got.append(x)
    assert got == [1, 2]

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for x in prefetch(endless(), depth=3):
        if x == 5:
            break
    n = len(produced)
    assert not any(t.name == "pose2rig-decode" and t.is_alive() for t in threading.enumerate())
    assert n <= 5 + 3 + 2  # bounded read-ahead, then the thread stopped
