"""pose2rig.batch.report: thumbnails, the manifest's latest records and the summary page."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import pytest

from pose2rig.batch.report import THUMB_HEIGHT, latest_records, thumbnail, write_summary
from pose2rig.io.bvh import bvh_skeleton, read_bvh, write_bvh
from pose2rig.skeletons import H36M17
from pose2rig.testing import cut_video
from pose2rig.types import Keypoints2D

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "samples" / "sports2d_demo.mp4"  # 1768x994, 30 fps
MOCAP = REPO.parent / "shared" / "data" / "mocap"


def record(rel: str, status: str, *, seconds: float = 10.0, error: str | None = None,
           outputs: dict[str, str] | None = None, thumb: bool = True, **fields) -> dict:
    """A manifest record as the driver writes it: UnitResult's fields, "time" and "kind"."""
    stem = rel.rsplit(".", 1)[0]
    name = stem.rsplit("/", 1)[-1]
    base = {
        "rel": rel, "key": "ab" * 32, "attempt": 1, "status": status, "seconds": seconds,
        "frames": 120, "detection_rate": 0.975, "plausibility": 0.8123, "foot_sliding": 0.0314,
        "outputs": {"bvh": f"{stem}/{name}.bvh", "npz": f"{stem}/{name}.npz"}
        if outputs is None else outputs,
        "thumbnail": f"{stem}/thumb.jpg" if thumb else None, "error": error, "timings": {},
        "time": "2026-12-07T21:00:00+00:00", "kind": "bvh" if rel.endswith(".bvh") else "video",
    }
    base.update(fields)
    return base


ERROR = "ValueError: bad | pipe <script>alert(1)</script>\n  on a second line"


@pytest.fixture
def records() -> list[dict]:
    return [
        record("takes/b.mp4", "done", seconds=61.5),
        record("takes/my clip.mp4", "done", seconds=20.0),
        record("mocap/z_bad.bvh", "failed", seconds=0.5, error=ERROR, outputs={}, thumb=False,
               frames=None, detection_rate=None, plausibility=None, foot_sliding=None),
        record("a.bvh", "skipped", seconds=10.0, detection_rate=None),
        record("takes/a_broken.mp4", "failed", seconds=2.0, error="no person found", outputs={},
               thumb=False, frames=30, detection_rate=0.0),
    ]


def make_outputs(out: Path, records: list[dict]) -> None:
    """The files a batch would have left for the records (so that the links can be followed)."""
    for r in records:
        for rel in [*r["outputs"].values(), *([r["thumbnail"]] if r["thumbnail"] else [])]:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(b"x")


def md_rows(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    return lines[2:]  # the header row and its rule left out


def unescaped_pipes(line: str) -> int:
    return sum(1 for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\"))


def test_markdown_summary_failures_first_counts_and_escaping(tmp_path, records):
    make_outputs(tmp_path, records)
    paths = write_summary(records, tmp_path)
    assert paths == [tmp_path / "summary.md", tmp_path / "summary.html"]
    text = paths[0].read_text(encoding="utf-8")
    assert "5 clips: 2 done, 2 failed, 1 skipped" in text
    assert "total time 1:34" in text  # 61.5 + 20 + 0.5 + 10 + 2 = 94 s
    rows = md_rows(text)
    clips = [r.split(" | ")[1] for r in rows]
    # (Markdown's specials escaped: a name's underscores stay underscores)
    assert clips == ["mocap/z\\_bad.bvh", "takes/a\\_broken.mp4", "a.bvh", "takes/b.mp4", "takes/my clip.mp4"]
    assert [("**failed**" in r) for r in rows] == [True, True, False, False, False]
    # every row has its 10 cells: the error's pipe is escaped, its markup shown as text
    assert all(unescaped_pipes(r) == 11 for r in rows)
    bad = rows[0]
    assert "bad \\| pipe &lt;script&gt;alert(1)&lt;/script&gt; on a second line" in bad
    assert "<script>" not in text
    assert "| 120 | 98 % | 0.81 | 0.031 | 61.5 |" in rows[3]
    assert "| - | - | - | - | 0.5 |" in bad
    # links are the records' relative paths, percent-encoded, and lead to the files
    assert "![thumbnail](takes/b/thumb.jpg)" in rows[3]
    assert "[bvh](takes/my%20clip/my%20clip.bvh) [npz](takes/my%20clip/my%20clip.npz)" in rows[4]
    targets = [part.split(")", 1)[0] for part in text.split("](")[1:]]
    assert len(targets) == 3 * 3  # 3 good clips, each with a thumbnail and 2 outputs
    for t in targets:
        assert not t.startswith("/") and (tmp_path / unquote(t)).is_file(), t
    # written atomically: nothing but the two pages and the outputs in the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "summary.html", "summary.md", "takes"]


class _Tree(HTMLParser):
    """Checks that every element is closed in order, and collects the table's rows and links."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._in_body_row = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.links += [a[k] for k in ("href", "src") if k in a and tag in ("a", "img")]
        if tag == "tr" and "tbody" in self.stack:
            self.rows.append((a.get("class", ""), []))
        if tag == "td":
            self._cell = []
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_summary_is_well_formed_with_failures_first(tmp_path, records):
    make_outputs(tmp_path, records)
    write_summary(records, tmp_path)
    tree = _Tree()
    tree.feed((tmp_path / "summary.html").read_text(encoding="utf-8"))
    tree.close()
    assert tree.errors == [] and tree.stack == []
    assert tree.tags[0] == "html" and "script" not in tree.tags
    assert [cls for cls, _ in tree.rows] == ["failed", "failed", "skipped", "done", "done"]
    cells = {row[1]: row for _, row in tree.rows}
    assert len(cells) == 5 and all(len(row) == 10 for row in cells.values())
    assert cells["mocap/z_bad.bvh"][9] == "ValueError: bad | pipe <script>alert(1)</script> on a second line"
    assert cells["takes/b.mp4"][2:8] == ["done", "120", "98 %", "0.81", "0.031", "61.5"]
    assert cells["takes/my clip.mp4"][8] == "bvh npz"
    assert len(tree.links) == 3 * 4  # thumbnail (link and image) and two outputs per good clip
    for link in tree.links:
        assert not link.startswith("/") and (tmp_path / unquote(link)).is_file(), link
    text = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert "2 done, 2 failed, 1 skipped" in text


def test_summary_replaces_the_previous_one(tmp_path, records):
    write_summary(records, tmp_path)
    write_summary(records[:1], tmp_path)
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert len(md_rows(text)) == 1 and "1 clips: 1 done, 0 failed, 0 skipped" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.html", "summary.md"]


def test_latest_records_keeps_each_clips_last_and_ignores_a_torn_line(tmp_path, caplog):
    manifest = tmp_path / "manifest.jsonl"
    lines = [
        json.dumps(record("b.mp4", "failed", error="boom", attempt=1)),
        json.dumps(record("a.mp4", "done", attempt=1)),
        "",
        json.dumps(record("b.mp4", "done", attempt=2)),
        "   ",
        json.dumps(record("a.mp4", "failed", error="disk full", attempt=2)),
        json.dumps(record("c.bvh", "done")),
    ]
    torn = json.dumps(record("c.bvh", "failed", error="caf\u00e9 exploded"), ensure_ascii=False).encode()
    cut = torn.index("\u00e9".encode()) + 1  # mid-way through a two-byte character
    manifest.write_bytes("\n".join(lines).encode() + b"\n" + torn[:cut])
    with caplog.at_level(logging.WARNING, logger="pose2rig.batch.report"):
        got = latest_records(manifest)
    assert [(r["rel"], r["status"], r["attempt"]) for r in got] == [
        ("a.mp4", "failed", 2), ("b.mp4", "done", 2), ("c.bvh", "done", 1)]
    assert caplog.records == []  # a torn last line is expected after a kill: no warning

    # a torn line that a later run appended after (on a new line, as the driver does) is
    # skipped too, as is a line that parses but is not a clip's record
    torn_then_more = [lines[0], torn[:40].decode(), lines[1], "[1, 2]", json.dumps({"rel": 3})]
    manifest.write_text("\n".join(torn_then_more) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pose2rig.batch.report"):
        got = latest_records(manifest)
    assert [(r["rel"], r["status"]) for r in got] == [("b.mp4", "failed"), ("a.mp4", "done")]
    assert caplog.records == []
    assert latest_records(tmp_path / "none.jsonl") == []


# ---------------------------------------------------------------------------------------------
# thumbnails


@pytest.fixture(scope="module")
def demo_cut(tmp_path_factory) -> Path:
    """The first second of the demo clip (30 frames, 1768x994)."""
    return cut_video(DEMO, tmp_path_factory.mktemp("cut") / "demo_1s.mp4", end=1.0)


def walking_keypoints(video: Path, *, step: float) -> Keypoints2D:
    """A Human3.6M-17 figure over the clip's frames, moving ``step`` pixels right a frame."""
    from pose2rig.video import open_video

    with open_video(video) as v:
        times = np.array([f.time for f in v])
        size = (v.info.width, v.info.height)
    base = {  # pixels in the 1768x994 frame, the subject facing the camera
        "pelvis": (300, 600), "right_hip": (260, 600), "right_knee": (260, 720),
        "right_ankle": (260, 840), "left_hip": (340, 600), "left_knee": (340, 720),
        "left_ankle": (340, 840), "spine": (300, 520), "thorax": (300, 440), "neck": (300, 400),
        "head": (300, 350), "left_shoulder": (360, 440), "left_elbow": (420, 500),
        "left_wrist": (460, 560), "right_shoulder": (240, 440), "right_elbow": (180, 500),
        "right_wrist": (140, 560),
    }
    pts = np.array([base[n] for n in H36M17.joint_names], np.float32)
    kp = pts[None] + np.arange(len(times))[:, None, None] * np.array([step, 0], np.float32)
    return Keypoints2D(kp, np.ones(kp.shape[:2], np.float32), H36M17, size, 30.0, times)


def test_video_thumbnail_is_the_middle_frame_with_its_skeleton(tmp_path, demo_cut):
    scale = THUMB_HEIGHT / 994
    kp = walking_keypoints(demo_cut, step=8 / scale)  # 8 thumbnail pixels a frame
    assert kp.num_frames == 30
    out = thumbnail(demo_cut, "video", None, tmp_path / "clip" / "thumb.jpg", keypoints=kp)
    plain = thumbnail(demo_cut, "video", None, tmp_path / "plain.jpg")
    assert out == tmp_path / "clip" / "thumb.jpg" and plain == tmp_path / "plain.jpg"
    img, bare = cv2.imread(str(out)), cv2.imread(str(plain))
    assert img.shape == bare.shape == (THUMB_HEIGHT, round(1768 * scale), 3)
    assert bare.std() > 20  # a picture, not a blank
    hip = H36M17.index("left_hip")
    x15, y = (kp.keypoints[15, hip] * scale).round().astype(int)
    x0, _ = (kp.keypoints[0, hip] * scale).round().astype(int)
    b, g, r = (int(v) for v in img[y, x15])
    assert b > r + 50  # the subject's left hip in blue, where the middle frame has it
    assert np.abs(img[y, x15].astype(int) - bare[y, x15]).max() > 40
    assert np.abs(img[y, x0].astype(int) - bare[y, x0]).max() < 25  # not where frame 0 has it


@pytest.fixture(scope="module")
def bvh_cut(tmp_path_factory) -> Path:
    """Six frames of a real CMU walk (metres, LeftHip/RightHip naming)."""
    motion = read_bvh(MOCAP / "cmu" / "scaled_131_01.bvh")
    path = tmp_path_factory.mktemp("bvh") / "walk_cut.bvh"
    write_bvh(path, dataclasses.replace(motion, motion=motion.motion[200:206]))
    return path


def side_columns(img: np.ndarray) -> tuple[float, float]:
    """Mean column of the blue (subject's left) and of the orange (right) pixels."""
    b, g, r = (img[..., i].astype(int) for i in range(3))
    blue = np.argwhere((b > 150) & (b > r + 80))
    orange = np.argwhere((r > 150) & (r > b + 80))
    assert len(blue) > 30 and len(orange) > 30
    return float(blue[:, 1].mean()), float(orange[:, 1].mean())


@pytest.mark.parametrize("facing", [1.0, -1.0])
def test_bvh_thumbnail_stick_figure_seen_from_the_front(tmp_path, bvh_cut, facing):
    motion = read_bvh(bvh_cut)
    joints = motion.forward_kinematics()[0] * [facing, 1.0, facing]  # turned half a turn
    joints[[0, 1, 2, 4, 5]] = np.nan  # only the middle frame (3 of 6) is there to draw
    out = thumbnail(bvh_cut, "bvh", joints, tmp_path / "thumb.jpg")
    assert out == tmp_path / "thumb.jpg"
    img = cv2.imread(str(out))
    assert img.shape == (THUMB_HEIGHT, THUMB_HEIGHT, 3)
    assert img.std() > 10  # a figure on the plain background
    # from the front: world X is the picture's x, so the subject's left side (blue) lies to
    # the right when its left joints have the larger X
    names = bvh_skeleton(motion).joint_names
    left = [i for i, n in enumerate(names) if n.startswith("Left")]
    right = [i for i, n in enumerate(names) if n.startswith("Right")]
    left_x, right_x = joints[3, left, 0].mean(), joints[3, right, 0].mean()
    blue_col, orange_col = side_columns(img)
    assert (blue_col > orange_col) == (left_x > right_x)


def test_bvh_thumbnail_without_matching_joints_draws_the_file(tmp_path, bvh_cut):
    a = thumbnail(bvh_cut, "bvh", None, tmp_path / "none.jpg")
    b = thumbnail(bvh_cut, "bvh", np.zeros((6, 17, 3)), tmp_path / "h36m.jpg")  # not its joints
    assert a is not None and b is not None
    ia, ib = cv2.imread(str(a)), cv2.imread(str(b))
    assert ia.shape == (THUMB_HEIGHT, THUMB_HEIGHT, 3) and np.array_equal(ia, ib)
    side_columns(ia)  # both sides drawn


def test_broken_inputs_give_none_and_one_warning(tmp_path, caplog, bvh_cut):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(DEMO.read_bytes()[:3000])
    bad_bvh = tmp_path / "bad.bvh"
    bad_bvh.write_text(bvh_cut.read_text().replace("MOTION", "MOTON"))
    cases = [(junk, "video"), (truncated, "video"), (tmp_path / "missing.mp4", "video"),
             (bad_bvh, "bvh"), (bvh_cut, "audio")]
    for source, kind in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pose2rig.batch.report"), \
                warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            out = tmp_path / f"{source.stem}-{kind}.jpg"
            assert thumbnail(source, kind, None, out) is None
        assert len(caplog.records) == 1 and str(source) in caplog.text
        assert warned == []  # the one line is the logged one
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bvh", "junk.mp4", "truncated.mp4"]

    # a video cut short that still has frames (13 of 230) gives their middle one, and the
    # reader's warnings about the damage (the conversion's to give) stay quiet here
    partial = tmp_path / "partial.mp4"
    partial.write_bytes(DEMO.read_bytes()[:400_000])
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        out = thumbnail(partial, "video", None, tmp_path / "partial.jpg")
    assert out is not None and cv2.imread(str(out)).shape[0] == THUMB_HEIGHT
    assert warned == []


def test_thumbnail_without_opencv_gives_none(tmp_path, bvh_cut, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` fails as when not installed
    with caplog.at_level(logging.WARNING, logger="pose2rig.batch.report"):
        assert thumbnail(bvh_cut, "bvh", None, tmp_path / "thumb.jpg") is None
    assert "pip install 'pose2rig[preview]'" in caplog.text
