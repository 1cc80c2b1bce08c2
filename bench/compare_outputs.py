"""Compare two folders of pose2rig outputs: positions in mm, rotations in degrees, per file.

Issue 10 (a restructuring) asks that the demo's outputs, made from the same keypoint cache on one
machine, match the previous commit's within 0.1 mm and 0.01 degrees. This reads every file found
under the same relative path in both folders with pose2rig's own readers and reports, per file,
the frame counts and the largest differences:

- BVH (``read_bvh``): joint names, hierarchy, end sites, frame count, frame time and length units
  (``detect_unit_scale``, so a cm file never matches an m file) must agree; positions are the
  forward-kinematics joints, end sites and rest pose, each file scaled to metres by its own unit;
  rotations the angle between the two rotation matrices of every joint in every frame, local
  and world, whichever is larger.
- npz (``.npz``, detection caches ``.keypoints.npz`` too): the same keys, shapes and dtypes; NaN
  in the same places; non-float arrays equal. Float arrays by name: ``joints3d*`` and 3D
  ``keypoints*`` are metres, reported in mm (distance per point); 2D ``keypoints*``, the x, y of
  ``landmarks*`` and ``camera_matrix`` are pixels (px); anything else (confidence, visibility,
  timestamps, fps) is compared value by value against ``--tol``.
- FBX (``read_fbx_animation``, through bpy) and glTF (``read_glb_animation``): bone names and
  hierarchy, frame count and fps; every bone's world matrix in every frame
  (``RigAnimation.world_matrices``): translation in mm, rotation angle in degrees; the rest
  matrices and bone tails alike; and, where both files have a skinned mesh, its faces, vertex
  positions (mm) and skin weights (``--tol``).
- Videos are listed as skipped, and so is any other kind of file; a file of OLD_DIR missing from
  NEW_DIR fails, one only in NEW_DIR is listed.

Exit status 0 when every compared file passes and nothing of OLD_DIR is missing from NEW_DIR,
1 otherwise.

    .venv/bin/python bench/compare_outputs.py OLD_DIR NEW_DIR [--mm 0.1] [--deg 0.01] [--px 0.01]
        [--tol 1e-6] [--skip-key NAME ...] [--json report.json]
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pose2rig.errors import Pose2RigError  # noqa: E402  # after sys.path setup
from pose2rig.io.atomic import atomic_path  # noqa: E402  # after sys.path setup
from pose2rig.io.bvh import (  # noqa: E402  # after sys.path setup
    BvhMotion,
    detect_unit_scale,
    read_bvh,
)
from pose2rig.io.npz import check_npz_file  # noqa: E402  # after sys.path setup

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
FRAME_TIME_TOL_S = 1e-9
FPS_TOL = 1e-6


@dataclass(frozen=True)
class Bounds:
    """What a file may differ by and still pass."""

    mm: float = 0.1
    deg: float = 0.01
    px: float = 0.01
    tol: float = 1e-6


@dataclass
class Comparison:
    """One file's comparison: frame counts, largest differences (None: not measured) and what
    failed outright (``problems``: names, shapes, NaN patterns, a missing file)."""

    file: str
    kind: str
    frames: tuple[int | None, int | None] = (None, None)
    mm: float | None = None
    deg: float | None = None
    px: float | None = None
    other: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False

    def measure(self, what: str, value: float) -> None:
        """Keep the largest ``value`` seen for ``what`` (``mm``, ``deg``, ``px`` or ``other``);
        NaN stays NaN, so that it fails."""
        old = getattr(self, what)
        setattr(self, what, value if old is None or math.isnan(value) else max(old, value))

    def failures(self, bounds: Bounds) -> list[str]:
        out = list(self.problems)
        for what in ("mm", "deg", "px", "other"):
            value = getattr(self, what)
            bound = bounds.tol if what == "other" else getattr(bounds, what)
            if value is not None and not value <= bound:  # NaN fails too
                out.append(f"{what} {value:.4g} > {bound:g}")
        return out

    def result(self, bounds: Bounds) -> str:
        if self.skipped:
            return "SKIP"
        return "FAIL" if self.failures(bounds) else "PASS"


# ------------------------------------------------------------------------------------ measures


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest Euclidean distance between points ``(..., D)`` of ``a`` and ``b`` (0 when empty)."""
    if a.size == 0:
        return 0.0
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1).max())


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between rotations ``(..., 3, 3)`` ``a`` and ``b``, accurate near zero.

    ``||a - b||_F = sqrt(8) sin(angle / 2)`` for rotations, where ``arccos`` of the trace would
    lose the small angles this is for (1e-8 rad of rounding in the trace is 1e-4 rad of angle).
    """
    d = np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=(-2, -1))
    return np.degrees(2.0 * np.arcsin(np.clip(d / math.sqrt(8.0), 0.0, 1.0)))


def _max(values: np.ndarray) -> float:
    return float(values.max()) if values.size else 0.0


# ------------------------------------------------------------------------------------ BVH


def _first_frames(motion: BvhMotion, count: int) -> BvhMotion:
    return dataclasses.replace(motion, motion=motion.motion[:count])


def _bvh_points(motion: BvhMotion, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Metres: joints ``(T, J, 3)``, end sites ``(T, E, 3)``, rest joints and end sites ``(J + E, 3)``;
    and the world rotations ``(T, J, 3, 3)``."""
    pos, world = motion.forward_kinematics(scale=scale)
    ends = motion.end_site_positions(scale=scale, fk=(pos, world))
    end_pos = np.stack([ends[j] for j in sorted(ends)], axis=1) if ends else pos[:, :0]
    rest = motion.rest_positions(scale=scale)
    rest_ends = [rest[j] + motion.end_sites[j] * scale for j in sorted(motion.end_sites)]
    return pos, end_pos, np.concatenate([rest, np.reshape(rest_ends, (-1, 3))]), world


def compare_bvh_motions(old: BvhMotion, new: BvhMotion, c: Comparison) -> Comparison:
    """Fill ``c`` from two BVH motions (see the module docstring)."""
    c.frames = (old.num_frames, new.num_frames)
    if old.names != new.names or old.parents != new.parents:
        c.problems.append("joint names or hierarchy differ")
        return c
    if sorted(old.end_sites) != sorted(new.end_sites):
        c.problems.append("end sites differ")
        return c
    if old.num_frames != new.num_frames:
        c.problems.append(f"frame counts differ ({old.num_frames} vs {new.num_frames})")
    if abs(old.frame_time - new.frame_time) > FRAME_TIME_TOL_S:
        c.problems.append(f"frame time {old.frame_time!r} vs {new.frame_time!r}")
    unit_old, unit_new = detect_unit_scale(old), detect_unit_scale(new)
    if not math.isclose(unit_old, unit_new, rel_tol=1e-9):
        c.problems.append(f"units differ ({unit_old:g} vs {unit_new:g} m per file unit)")
    common = min(old.num_frames, new.num_frames)
    old, new = _first_frames(old, common), _first_frames(new, common)
    *points_old, world_old = _bvh_points(old, unit_old)
    *points_new, world_new = _bvh_points(new, unit_new)
    for a, b in zip(points_old, points_new):
        c.measure("mm", 1000.0 * distance(a, b))
    c.measure("deg", _max(rotation_angle_deg(world_old, world_new)))
    c.measure("deg", _max(rotation_angle_deg(old.local_transforms()[1], new.local_transforms()[1])))
    return c


def compare_bvh(old_path: Path, new_path: Path, name: str = "") -> Comparison:
    c = Comparison(name or new_path.name, "bvh")
    return compare_bvh_motions(read_bvh(old_path), read_bvh(new_path), c)


# ------------------------------------------------------------------------------------ npz


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickles), as pose2rig reads them."""
    with np.load(check_npz_file(path), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _pieces(key: str, a: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``a`` as ``(measure, points (..., D))`` pieces: a piece's difference is the largest
    Euclidean distance between its points, in the measure's unit."""
    a = np.asarray(a, dtype=np.float64)
    last = a.shape[-1] if a.ndim else 0
    if key.startswith(("joints3d", "keypoints")) and last == 3:
        return [("mm", a * 1000.0)]
    if key.startswith(("joints3d", "keypoints")) and last == 2:
        return [("px", a)]
    if key.startswith("landmarks") and last == 3:  # x, y pixels and a visibility
        return [("px", a[..., :2]), ("other", a[..., 2:])]
    if key == "camera_matrix":
        return [("px", a[..., None])]
    return [("other", a[..., None])]


def _same_dtype(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind != b.dtype.kind:
        return False
    return a.dtype.kind not in "fc" or a.dtype.itemsize == b.dtype.itemsize


def compare_array(key: str, a: np.ndarray, b: np.ndarray, c: Comparison) -> None:
    """One npz key: shape, dtype, NaN pattern, then the difference in its measure."""
    if a.shape != b.shape:
        c.problems.append(f"{key}: shape {a.shape} vs {b.shape}")
        return
    if not _same_dtype(a, b):
        c.problems.append(f"{key}: dtype {a.dtype} vs {b.dtype}")
        return
    if a.dtype.kind not in "fc":
        if not np.array_equal(a, b):
            c.problems.append(f"{key}: values differ")
        return
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        c.problems.append(f"{key}: NaN pattern differs ({int(nan_a.sum())} vs {int(nan_b.sum())} NaN)")
    for (what, pa), (_, pb) in zip(_pieces(key, a), _pieces(key, b)):
        both = np.isfinite(pa).all(axis=-1) & np.isfinite(pb).all(axis=-1)
        c.measure(what, distance(pa[both], pb[both]))


def _frame_count(arrays: dict[str, np.ndarray]) -> int | None:
    if "timestamps" in arrays:
        return int(arrays["timestamps"].shape[0])
    return next((int(a.shape[0]) for a in arrays.values() if a.ndim >= 2), None)


def compare_npz_arrays(old: dict[str, np.ndarray], new: dict[str, np.ndarray], c: Comparison,
                       *, skip_keys: tuple[str, ...] = ()) -> Comparison:
    """Fill ``c`` from two npz files' arrays (see the module docstring)."""
    c.frames = (_frame_count(old), _frame_count(new))
    for key in sorted(set(old) ^ set(new)):
        c.problems.append(f"{key}: only in {'old' if key in old else 'new'}")
    for key in sorted(set(old) & set(new)):
        if key in skip_keys:
            c.notes.append(f"{key} not compared")
        else:
            compare_array(key, old[key], new[key], c)
    return c


def compare_npz(old_path: Path, new_path: Path, name: str = "", *, kind: str = "npz",
                skip_keys: tuple[str, ...] = ()) -> Comparison:
    c = Comparison(name or new_path.name, kind)
    return compare_npz_arrays(load_arrays(old_path), load_arrays(new_path), c, skip_keys=skip_keys)


# ------------------------------------------------------------------------------------ FBX, glTF


def _compare_matrices(old: np.ndarray, new: np.ndarray, c: Comparison) -> None:
    """Rigid ``(..., 4, 4)`` matrices: translations in mm, rotation angles in degrees."""
    c.measure("mm", 1000.0 * distance(old[..., :3, 3], new[..., :3, 3]))
    c.measure("deg", _max(rotation_angle_deg(old[..., :3, :3], new[..., :3, :3])))


def _dense_weights(mesh: Any, bones: int) -> np.ndarray:
    dense = np.zeros((len(mesh.vertices), bones))
    rows = np.repeat(np.arange(len(mesh.vertices)), mesh.joints.shape[1])
    np.add.at(dense, (rows, mesh.joints.reshape(-1)), mesh.weights.reshape(-1))
    return dense


def compare_meshes(old: Any, new: Any, bones: int, c: Comparison) -> None:
    """Two rigs' skinned meshes (either may be None): faces, vertices in mm, skin weights."""
    if old is None or new is None:
        if old is not new:
            c.problems.append(f"mesh only in {'old' if new is None else 'new'}")
        return
    if old.vertices.shape != new.vertices.shape or not np.array_equal(old.faces, new.faces):
        c.problems.append(f"mesh topology differs ({len(old.vertices)} vs {len(new.vertices)} vertices, "
                          f"{len(old.faces)} vs {len(new.faces)} faces)")
        return
    c.measure("mm", 1000.0 * distance(old.vertices, new.vertices))
    c.measure("other", float(np.abs(_dense_weights(old, bones) - _dense_weights(new, bones)).max(initial=0.0)))


def compare_animations(old: Any, new: Any, c: Comparison) -> Comparison:
    """Fill ``c`` from two :class:`RigAnimation` (see the module docstring)."""
    c.frames = (old.num_frames, new.num_frames)
    a, b = old.rig, new.rig
    if a.bone_names != b.bone_names or a.parents != b.parents:
        c.problems.append("bone names or hierarchy differ")
        return c
    if old.num_frames != new.num_frames:
        c.problems.append(f"frame counts differ ({old.num_frames} vs {new.num_frames})")
    if abs(old.fps - new.fps) > FPS_TOL:
        c.problems.append(f"fps {old.fps:g} vs {new.fps:g}")
    common = min(old.num_frames, new.num_frames)
    _compare_matrices(old.world_matrices()[:common], new.world_matrices()[:common], c)
    _compare_matrices(a.rest, b.rest, c)
    if (a.tails is None) != (b.tails is None):
        c.problems.append(f"bone tails only in {'old' if b.tails is None else 'new'}")
    elif a.tails is not None:
        c.measure("mm", 1000.0 * distance(a.tails, b.tails))
    compare_meshes(a.mesh, b.mesh, a.num_bones, c)
    return c


def blender_user_folder() -> None:
    """Point bpy's user folder at a temporary one before bpy is first imported (``import bpy``
    writes there; see tests/conftest.py). A folder the caller set is kept."""
    if "bpy" in sys.modules or os.environ.get("BLENDER_USER_RESOURCES"):
        return
    folder = tempfile.mkdtemp(prefix="blender_user")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["BLENDER_USER_RESOURCES"] = folder


def compare_fbx(old_path: Path, new_path: Path, name: str = "") -> Comparison:
    blender_user_folder()
    from pose2rig.io.blender import read_fbx_animation

    c = Comparison(name or new_path.name, "fbx")
    return compare_animations(read_fbx_animation(old_path), read_fbx_animation(new_path), c)


def compare_glb(old_path: Path, new_path: Path, name: str = "") -> Comparison:
    from pose2rig.io.gltf import read_glb_animation

    c = Comparison(name or new_path.name, "glb")
    return compare_animations(read_glb_animation(old_path), read_glb_animation(new_path), c)


# ------------------------------------------------------------------------------------ folders


def kind_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".keypoints.npz"):
        return "keypoints"
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return {".bvh": "bvh", ".npz": "npz", ".fbx": "fbx", ".glb": "glb", ".gltf": "glb"}.get(suffix, "other")


def compare_file(old: Path, new: Path, name: str, *, skip_keys: tuple[str, ...] = ()) -> Comparison:
    """One file present in both folders; a file that cannot be read fails with the reader's message."""
    kind = kind_of(old)
    try:
        if kind == "bvh":
            return compare_bvh(old, new, name)
        if kind in ("npz", "keypoints"):
            return compare_npz(old, new, name, kind=kind, skip_keys=skip_keys)
        if kind == "fbx":
            return compare_fbx(old, new, name)
        if kind == "glb":
            return compare_glb(old, new, name)
    except (Pose2RigError, OSError, ValueError) as e:
        return Comparison(name, kind, problems=[f"cannot read: {e}"])
    return Comparison(name, kind, skipped=True, notes=["not compared"])


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def compare_dirs(old_dir: Path, new_dir: Path, *, skip_keys: tuple[str, ...] = ()) -> list[Comparison]:
    """Every file of either folder, by relative path: compared, missing from ``new_dir`` or extra."""
    old_files, new_files = _files(old_dir), _files(new_dir)
    out = []
    for name in sorted(old_files | new_files):
        kind = kind_of(Path(name))
        if name not in new_files:
            out.append(Comparison(name, kind, problems=["missing from NEW_DIR"]))
        elif name not in old_files:
            out.append(Comparison(name, kind, skipped=True, notes=["only in NEW_DIR"]))
        else:
            out.append(compare_file(old_dir / name, new_dir / name, name, skip_keys=skip_keys))
    return out


# ------------------------------------------------------------------------------------ report


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _frames_cell(frames: tuple[int | None, int | None]) -> str:
    a, b = frames
    return "-" if a is None and b is None else f"{a if a is not None else '-'}/{b if b is not None else '-'}"


def table(rows: list[Comparison], bounds: Bounds) -> str:
    head = ("file", "kind", "frames", "pos mm", "rot deg", "px", "other", "result", "notes")
    body = [
        (c.file, c.kind, _frames_cell(c.frames), _cell(c.mm), _cell(c.deg), _cell(c.px), _cell(c.other),
         c.result(bounds), "; ".join(c.failures(bounds) + c.notes))
        for c in rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head) - 1)]
    lines = []
    for r in [head, *body]:
        lines.append("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
                     + "  " + r[-1])
    return "\n".join(line.rstrip() for line in lines)


def passed(rows: list[Comparison], bounds: Bounds) -> bool:
    return all(c.result(bounds) != "FAIL" for c in rows)


def report(rows: list[Comparison], bounds: Bounds, old_dir: Path, new_dir: Path) -> dict[str, Any]:
    return {
        "old": str(old_dir),
        "new": str(new_dir),
        "bounds": dataclasses.asdict(bounds),
        "passed": passed(rows, bounds),
        "files": [
            {"file": c.file, "kind": c.kind, "frames_old": c.frames[0], "frames_new": c.frames[1],
             "mm": c.mm, "deg": c.deg, "px": c.px, "other": c.other, "result": c.result(bounds),
             "failures": c.failures(bounds), "notes": c.notes}
            for c in rows
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_dir", type=Path, metavar="OLD_DIR", help="outputs of the previous commit")
    ap.add_argument("new_dir", type=Path, metavar="NEW_DIR", help="outputs of the commit under test")
    d = Bounds()
    ap.add_argument("--mm", type=float, default=d.mm, help="largest position difference, mm")
    ap.add_argument("--deg", type=float, default=d.deg, help="largest rotation difference, degrees")
    ap.add_argument("--px", type=float, default=d.px, help="largest 2D (image) difference, pixels")
    ap.add_argument("--tol", type=float, default=d.tol,
                    help="largest difference of other float values (confidence, timestamps, skin weights)")
    ap.add_argument("--skip-key", action="append", default=[], metavar="NAME",
                    help="an npz key not to compare (repeatable), e.g. the detection cache's 'key'")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    for folder in (args.old_dir, args.new_dir):
        if not folder.is_dir():
            ap.error(f"{folder} is not a folder")
    bounds = Bounds(mm=args.mm, deg=args.deg, px=args.px, tol=args.tol)
    rows = compare_dirs(args.old_dir, args.new_dir, skip_keys=tuple(args.skip_key))
    print(table(rows, bounds))
    ok = passed(rows, bounds)
    print(f"{'PASS' if ok else 'FAIL'}: bounds {bounds.mm:g} mm, {bounds.deg:g} deg, {bounds.px:g} px, "
          f"other {bounds.tol:g}")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report(rows, bounds, args.old_dir, args.new_dir), indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
