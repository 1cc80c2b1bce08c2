"""A batch's report: a thumbnail per clip and the summary page over the manifest.

- :func:`thumbnail`: a small JPEG of a clip: the video's middle frame with its 2D skeleton
  drawn over it (:func:`pose2rig.render.draw_skeleton_2d`, as the previews draw it), or for a
  BVH a stick figure of the middle frame seen from the front. It never raises: a clip whose
  thumbnail cannot be made still converts.
- :func:`latest_records`: the manifest's latest record of each clip, failures first.
- :func:`write_summary`: ``summary.md`` and ``summary.html`` beside the manifest, a row per clip,
  failures first.

Convention:
    - ``world_joints``: ``(T, J, 3)`` metres, world axes (right-handed, Y up, the subject facing
      +Z). The stick figure is seen from the front (from +Z, looking along -Z): the picture's x
      is world X (the subject's left on the picture's right), its y is world -Y.
    - ``keypoints``: a :class:`~pose2rig.types.Keypoints2D` in the video's pixels (x right,
      y down), matched to the drawn frame by timestamp (nearest, within half a frame interval).
    - Images are BGR ``uint8``, written as JPEG, :data:`THUMB_HEIGHT` pixels tall.
    - A record is a :class:`pose2rig.batch.work.UnitResult`'s fields as a plain dict, plus
      ``"time"`` (ISO UTC) and ``"kind"`` (``"video"`` or ``"bvh"``); its paths (``outputs``,
      ``thumbnail``) are relative to the output folder, POSIX separators, and the summary links
      them as they are (percent-encoded), so the page works wherever the folder is moved.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.io.atomic import atomic_path

if TYPE_CHECKING:
    from pose2rig.types import Keypoints2D, Skeleton

__all__ = ["THUMB_HEIGHT", "latest_records", "thumbnail", "write_summary"]

log = logging.getLogger(__name__)

THUMB_HEIGHT = 240
"""Height of a thumbnail in pixels (its width follows the video's aspect; a BVH's is square)."""
_JPEG_QUALITY = 85
_BACKGROUND = (38, 34, 32)  # BGR, the previews' panel colour
_FLOOR = (92, 88, 84)
_ERROR_CHARS = 300  # an error longer than this is cut in the table
_FORMAT_ORDER = ("bvh", "fbx", "glb", "npz")


# ---------------------------------------------------------------------------------------------
# thumbnails


def thumbnail(
    source: Path,
    kind: str,
    world_joints: np.ndarray | None,
    out: Path,
    *,
    keypoints: Keypoints2D | None = None,
) -> Path | None:
    """Write a small JPEG of one clip to ``out``; None, with one logged warning, on any failure.

    Args:
        source: the clip (a video, or a ``.bvh`` for ``kind="bvh"``).
        kind: ``"video"``: the video's middle frame (the middle keypoints frame's, when
            ``keypoints`` are given), :data:`THUMB_HEIGHT` pixels tall, with the 2D skeleton of
            ``keypoints`` drawn over it. ``"bvh"``: a stick figure of the middle frame of
            ``world_joints`` on a plain square background, the joints' parents read from
            ``source`` (:func:`pose2rig.io.bvh.read_bvh`); without ``world_joints``, or with a
            joint count other than the file's, the file's own forward kinematics is drawn.
        world_joints: ``(T, J, 3)`` metres, Y up (see the module's convention); used for BVHs.
        out: the JPEG to write (atomically; its folder is created).
        keypoints: the clip's 2D keypoints, for videos.

    Returns:
        ``out``, or None when the picture could not be made (a broken file, no frame, OpenCV
        missing: the ``[video]`` or ``[preview]`` extra).
    """
    try:
        with warnings.catch_warnings():  # the clip's conversion has warned of its damage already
            warnings.simplefilter("ignore")
            if kind == "video":
                image = _video_thumbnail(Path(source), keypoints)
            elif kind == "bvh":
                image = _bvh_thumbnail(Path(source), world_joints)
            else:
                raise Pose2RigError(f"kind must be 'video' or 'bvh', got {kind!r}")
        cv2 = _cv2("video" if kind == "video" else "preview")
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise Pose2RigError("OpenCV could not encode the JPEG")
        with atomic_path(out) as tmp:
            tmp.write_bytes(data.tobytes())
        return Path(out)
    except Exception as e:  # never raises: a missing thumbnail must not fail a clip
        detail = " ".join(str(e).split()) or type(e).__name__
        log.warning("no thumbnail for %s: %s", source, detail)
        return None


def _cv2(extra: str) -> Any:
    from pose2rig.extras import require

    return require("cv2", extra)


def _video_thumbnail(source: Path, keypoints: Keypoints2D | None) -> np.ndarray:
    cv2 = _cv2("video")
    from pose2rig.extras import require

    require("av", "video")
    from pose2rig.render import draw_skeleton_2d
    from pose2rig.video import open_video, probe

    kp = keypoints if keypoints is not None and keypoints.num_frames else None
    if kp is not None:
        times = np.asarray(kp.timestamps, dtype=np.float64)
        middle = float(times[len(times) // 2])
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / kp.fps
    else:
        info = probe(source)
        step = 1.0 / max(info.fps, 1e-3)
        middle = 0.5 * info.duration
    with open_video(source, start=max(0.0, middle - 0.5 * step)) as video:
        frame = next(iter(video), None)
    if frame is None:
        raise Pose2RigError(f"{source}: no frame decoded")
    image = np.asarray(frame.image)
    h, w = image.shape[:2]
    height = THUMB_HEIGHT
    width = max(2, int(round(w * height / h)))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    small = cv2.resize(image, (width, height), interpolation=interp)
    if kp is not None:
        k = int(np.argmin(np.abs(times - frame.time)))
        if abs(times[k] - frame.time) <= 0.5 * step + 1e-6:
            scale = np.array([width / kp.image_size[0], height / kp.image_size[1]])
            small = draw_skeleton_2d(
                small, kp.keypoints[k] * scale, kp.confidence[k], kp.skeleton, thickness=2
            )
    return np.asarray(small, dtype=np.uint8)


def _bvh_thumbnail(source: Path, world_joints: np.ndarray | None) -> np.ndarray:
    cv2 = _cv2("preview")
    from pose2rig.io.bvh import bvh_skeleton, detect_unit_scale, read_bvh
    from pose2rig.render import draw_skeleton_2d

    motion = read_bvh(source)
    skeleton = bvh_skeleton(motion)
    joints = None if world_joints is None else np.asarray(world_joints, dtype=np.float64)
    if joints is None or joints.ndim != 3 or joints.shape[1:] != (motion.num_joints, 3) or not len(joints):
        mid = motion.num_frames // 2  # the file's own middle frame, alone: no need for the rest
        one = dataclasses.replace(motion, motion=motion.motion[mid : mid + 1])
        joints = one.forward_kinematics(scale=detect_unit_scale(motion))[0]
    finite = np.all(np.isfinite(joints), axis=-1)  # (T, J)
    seen = finite.any(axis=1)
    if not seen.any():
        raise Pose2RigError(f"{source}: no frame has a finite joint")
    middle = len(joints) // 2
    frames = np.flatnonzero(seen)
    pose = joints[frames[np.argmin(np.abs(frames - middle))]]  # the seen frame nearest the middle
    ok = np.all(np.isfinite(pose), axis=-1)

    size = THUMB_HEIGHT
    xy = np.stack([pose[:, 0], -pose[:, 1]], axis=-1)  # from the front: x right, y down
    lo, hi = xy[ok].min(axis=0), xy[ok].max(axis=0)
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
    scale = 0.85 * size / extent
    centre = 0.5 * (lo + hi)
    px = (xy - centre) * scale + 0.5 * size
    image = np.empty((size, size, 3), np.uint8)
    image[:] = _BACKGROUND
    floor_y = int(round(float(px[ok, 1].max()))) + 2
    cv2.line(image, (size // 10, floor_y), (size - size // 10, floor_y), _FLOOR, 1, cv2.LINE_AA)
    conf = np.ones(len(pose), np.float32)
    return np.asarray(
        draw_skeleton_2d(image, px, conf, _sided(skeleton), thickness=2), dtype=np.uint8
    )


def _sided(skeleton: Skeleton) -> Skeleton:
    """``skeleton`` with its joints renamed ``left:<j>``, ``right:<j>`` or ``mid:<j>``, so that
    the previews' colouring by side (which looks for ``left``/``right`` in a name) finds every
    BVH naming (``LeftArm``, ``Hand_L``, ``lhand``): a joint with a twin is on the side of the
    letter where its name and its twin's first differ."""
    from pose2rig.types import Skeleton

    names = skeleton.joint_names
    sides = []
    for j, m in enumerate(skeleton.mirror):
        side = "mid"
        if m != j:
            a, b = names[j], names[m]
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
            if k is not None and a[k] in "Ll" and b[k] in "Rr":
                side = "left"
            elif k is not None and a[k] in "Rr" and b[k] in "Ll":
                side = "right"
        sides.append(f"{side}:{j}")
    return Skeleton(skeleton.name, tuple(sides), skeleton.parents, skeleton.mirror)


# ---------------------------------------------------------------------------------------------
# the manifest's records


def _order(record: dict[str, Any]) -> tuple[bool, str]:
    """Failures first, then by the clip's path."""
    return (record.get("status") != "failed", str(record.get("rel", "")))


def latest_records(manifest: Path) -> list[dict[str, Any]]:
    """The latest record of each clip (``rel``) in a manifest, failures first, then by path.

    Blank lines are skipped, and so is a line that does not parse or is not a clip's record:
    the last line when the driver was killed while writing it, or such a line before the last
    when a later run appended after it (the driver starts its records on a new line). A missing
    manifest has no records.
    """
    path = Path(manifest)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise Pose2RigError(f"cannot read the manifest {path}: {e.strerror}") from None
    lines = [(n, line) for n, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
    latest: dict[str, dict[str, Any]] = {}
    for number, line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("rel"), str):
            log.debug("%s: line %d is not a clip's record (torn by a killed run?); skipped", path, number)
            continue
        latest[record["rel"]] = record
    return sorted(latest.values(), key=_order)


# ---------------------------------------------------------------------------------------------
# the summary page

_COLUMNS = (
    "thumbnail", "clip", "status", "frames", "detection", "plausibility",
    "foot sliding (m/s)", "seconds", "outputs", "error",
)


def write_summary(records: list[dict[str, Any]], out_dir: Path, *,
                  this_run: tuple[int, int, int] | None = None) -> list[Path]:
    """Write ``summary.md`` and ``summary.html`` (atomically) in ``out_dir``; returns both paths.

    Each page holds a header (clips done, failed and skipped, the clips' total seconds, the
    date) and a table, a row per record, failures first, then by path: the thumbnail, the clip,
    its status, frame count, detection rate, plausibility, foot sliding (m/s), seconds, links to
    its outputs and its error on one line. Paths are the records' own (relative to
    ``out_dir``), so the pages' links work wherever the folder is moved.

    Args:
        records: a record per clip (:func:`latest_records`), fields as the module's convention
            says; a missing field shows as ``-``.
        out_dir: the batch's output folder.
        this_run: what the run that writes the pages did, ``(converted, failed, skipped)``
            (skipped: finished before with the same key); a header line says it. The table
            holds each clip's latest attempt, whichever run made it.
    """
    folder = Path(out_dir)
    rows = sorted(records, key=_order)
    header = _header(rows, folder)
    if this_run is not None:
        done, failed, skipped = this_run
        header.insert(1, f"this run: {done} converted, {failed} failed, {skipped} skipped (finished before)")
    cells = [_cells(r, folder) for r in rows]
    md_path, html_path = folder / "summary.md", folder / "summary.html"
    with atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(header, cells), encoding="utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_text(_html(header, cells, rows), encoding="utf-8")
    return [md_path, html_path]


def _header(rows: list[dict[str, Any]], folder: Path) -> list[str]:
    counts: dict[str, int] = {"done": 0, "failed": 0, "skipped": 0}
    for r in rows:
        status = str(r.get("status") or "unknown")
        counts[status] = counts.get(status, 0) + 1
    seconds = sum(v for v in (_number(r.get("seconds")) for r in rows) if v is not None)
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    tally = ", ".join(f"{n} {status}" for status, n in counts.items())
    return [
        f"{len(rows)} clips: {tally}",
        f"total time {_duration(seconds)} (the clips' seconds added up)",
        f"written {now}",
    ]


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _fmt(v: object, spec: str, *, percent: bool = False) -> str:
    f = _number(v)
    if f is None:
        return "-"
    return f"{100 * f:{spec}} %" if percent else f"{f:{spec}}"


def _link(path: object, folder: Path) -> str | None:
    """A record's path as a relative, percent-encoded link (POSIX separators); None if none."""
    if not isinstance(path, str) or not path:
        return None
    p = path.replace(os.sep, "/") if os.sep != "/" else path
    if PurePosixPath(p).is_absolute():  # records hold relative paths; an absolute one is made so
        try:
            p = Path(p).resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            p = os.path.relpath(p, folder).replace(os.sep, "/")
    return quote(p, safe="/")


def _one_line(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "\u2026"


def _cells(r: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A record's cells as plain text and links (not yet escaped)."""
    given = r.get("outputs")
    outputs: dict[Any, Any] = given if isinstance(given, dict) else {}
    known = [f for f in _FORMAT_ORDER if f in outputs]
    fmts = known + sorted(str(f) for f in outputs if f not in _FORMAT_ORDER)
    links = [(str(f), link) for f in fmts if (link := _link(outputs[f], folder)) is not None]
    frames = r.get("frames")
    return {
        "thumbnail": _link(r.get("thumbnail"), folder),
        "clip": str(r.get("rel", "")),
        "status": str(r.get("status") or "unknown"),
        "frames": str(frames) if isinstance(frames, int) and not isinstance(frames, bool) else "-",
        "detection": _fmt(r.get("detection_rate"), ".0f", percent=True),
        "plausibility": _fmt(r.get("plausibility"), ".2f"),
        "foot sliding (m/s)": _fmt(r.get("foot_sliding"), ".3f"),
        "seconds": _fmt(r.get("seconds"), ".1f"),
        "outputs": links,
        "error": _one_line(r["error"]) if r.get("error") else "",
    }


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _md_text(text: str) -> str:
    """Text for a Markdown table cell: HTML's specials as entities, Markdown's (pipes, emphasis,
    brackets, backslashes) escaped, so that a name or an error can neither end the cell nor
    become markup."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _markdown(header: list[str], cells: list[dict[str, Any]]) -> str:
    lines = ["# pose2rig batch summary", ""]
    lines += [f"- {_md_text(h)}" for h in header]
    lines += ["", "| " + " | ".join(_COLUMNS) + " |", "|" + " --- |" * len(_COLUMNS)]
    for c in cells:
        row = []
        for col in _COLUMNS:
            v = c[col]
            if col == "thumbnail":
                row.append(f"![thumbnail]({v})" if v else "")
            elif col == "outputs":
                row.append(" ".join(f"[{_md_text(f)}]({link})" for f, link in v))
            elif col == "status" and v == "failed":
                row.append("**failed**")
            else:
                row.append(_md_text(v))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
tr.failed { background: #fde8e8; }
td.error { max-width: 40em; font-family: monospace; font-size: 90%; }
img { height: 120px; }
"""


def _html(header: list[str], cells: list[dict[str, Any]], rows: Iterable[dict[str, Any]]) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>pose2rig batch summary</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>pose2rig batch summary</h1>",
        "<ul>",
        *(f"<li>{e(h)}</li>" for h in header),
        "</ul>",
        "<table>",
        "<thead><tr>" + "".join(f"<th>{e(col)}</th>" for col in _COLUMNS) + "</tr></thead>",
        "<tbody>",
    ]
    for c, r in zip(cells, rows):
        cls = e(str(r.get("status") or "unknown"))
        tds = []
        for col in _COLUMNS:
            v = c[col]
            if col == "thumbnail":
                img = f'<a href="{e(v)}"><img src="{e(v)}" alt="thumbnail"></a>' if v else ""
                tds.append(f"<td>{img}</td>")
            elif col == "outputs":
                links = " ".join(f'<a href="{e(link)}">{e(f)}</a>' for f, link in v)
                tds.append(f"<td>{links}</td>")
            else:
                tds.append(f'<td class="{e(col.split()[0])}">{e(v)}</td>')
        out.append(f'<tr class="{cls}">' + "".join(tds) + "</tr>")
    out += ["</tbody>", "</table>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
