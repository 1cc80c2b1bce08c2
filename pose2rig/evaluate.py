"""3D pose metrics and the lifter's evaluation on mocap seen by virtual cameras.

Metrics take ``pred`` and ``gt`` ``(..., J, 3)`` in metres and return one float (the mean over
every joint of every pose; poses with a NaN joint in either are left out).

- ``mpjpe``: mean per-joint position error after moving both roots to the origin.
- ``p_mpjpe``: after the best similarity transform per pose (rotation, translation, scale;
  :func:`pose2rig.geometry.procrustes_align`).
- ``n_mpjpe``: root-centred, then ``pred`` scaled by the least-squares factor per pose
  (Rhodin et al. 2018); the natural metric for a scale-free lifter.
- ``pck3d``: fraction of joints within ``threshold`` metres (150 mm), on the poses as given; pass
  scale-aligned predictions (:func:`scale_align`) for a scale-free lifter.

The evaluation command (``pose2rig eval``, :func:`evaluate_checkpoints`) puts a lifter beside
the constant-depth baseline and an optional reference checkpoint on the same inputs (BVH mocap
filmed by fixed-seed virtual cameras, or Human3.6M), per action, with the alignment of every
metric stated in the report (:data:`ALIGNMENT`): MPJPE after scaling the prediction to the
truth's standing height, P-MPJPE after Procrustes, N-MPJPE after least-squares scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.lift.codec import DEFAULT_ROLLS, parse_rolls

if TYPE_CHECKING:
    from pose2rig.lift.infer import Lifter

__all__ = ["ALIGNMENT", "all_metrics", "evaluate_checkpoints", "evaluate_lifter", "evaluation_report", "format_report",
           "mpjpe", "n_mpjpe", "p_mpjpe", "parse_rolls", "pck3d", "protocol_metrics", "scale_align", "synthetic_views"]


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise Pose2RigError(f"metrics: expected pred and gt of one shape (..., J, 3), got {p.shape} and {g.shape}")
    p = p.reshape(-1, *p.shape[-2:])
    g = g.reshape(-1, *g.shape[-2:])
    keep = np.all(np.isfinite(p), axis=(1, 2)) & np.all(np.isfinite(g), axis=(1, 2))
    if not keep.any():
        raise Pose2RigError("metrics: no pose where both pred and gt are finite")
    return p[keep], g[keep]


Root = int | tuple[int, ...]
"""A joint index, or several whose mean is the root (``paper14``'s mid-hip point)."""


def _root_of(x: np.ndarray, root: Root) -> np.ndarray:
    idx = [root] if isinstance(root, (int, np.integer)) else list(root)
    return x[:, idx].mean(axis=1, keepdims=True)


def _root_centre(x: np.ndarray, root: Root) -> np.ndarray:
    return x - _root_of(x, root)


def mpjpe(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0) -> float:
    """Mean per-joint error (metres) after root alignment."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(_root_centre(p, root) - _root_centre(g, root), axis=-1)))


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error (metres) after Procrustes alignment with scale, per pose."""
    from pose2rig.geometry import (
        procrustes_align,  # scipy.spatial: not on `pose2rig eval --help`'s path
    )

    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(procrustes_align(p, g, scale=True) - g, axis=-1)))


def scale_align(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0) -> np.ndarray:
    """Root-centre both and scale ``pred`` by the least-squares factor per pose; ``(N, J, 3)``.

    Returns the aligned prediction, root-centred and translated onto ``gt``'s root.
    """
    p, g = _pair(pred, gt)
    p0, g0 = _root_centre(p, root), _root_centre(g, root)
    k = np.sum(p0 * g0, axis=(1, 2)) / np.maximum(np.sum(p0 * p0, axis=(1, 2)), 1e-12)
    return k[:, None, None] * p0 + _root_of(g, root)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0) -> float:
    """Mean per-joint error (metres) after root alignment and the best uniform scale per pose."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(scale_align(p, g, root=root) - g, axis=-1)))


def pck3d(pred: np.ndarray, gt: np.ndarray, *, threshold: float = 0.150) -> float:
    """Fraction of joints within ``threshold`` metres of the truth (poses as given)."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.linalg.norm(p - g, axis=-1) <= threshold))


def all_metrics(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0) -> dict[str, float]:
    """P-MPJPE, N-MPJPE (metres) and PCK3D at 150 mm on scale-aligned predictions."""
    p, g = _pair(pred, gt)
    return {
        "p_mpjpe": p_mpjpe(p, g),
        "n_mpjpe": n_mpjpe(p, g, root=root),
        "pck3d": pck3d(scale_align(p, g, root=root), g),
    }


def synthetic_views(
    sequences: Iterable[np.ndarray],
    *,
    seed: int = 0,
    frame_step: int = 1,
    max_poses: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Film world-frame mocap ``[(T, 17, 3), ...]`` with fixed-seed random virtual cameras.

    The cameras follow :func:`pose2rig.lift.projection.virtual_camera_views` (the training
    distribution). Returns ``(N, 17, 2)`` pixels and ``(N, 17, 3)`` camera-frame ground truth.
    """
    import torch

    from pose2rig.lift.projection import virtual_camera_views

    joints = np.concatenate([np.asarray(s, dtype=np.float32)[::frame_step] for s in sequences])
    joints = joints[np.all(np.isfinite(joints), axis=(1, 2))]
    g = torch.Generator().manual_seed(seed)
    if max_poses is not None and len(joints) > max_poses:
        pick = torch.randperm(len(joints), generator=g)[:max_poses].sort().values.numpy()
        joints = joints[pick]
    with torch.no_grad():
        px, cam = virtual_camera_views(torch.from_numpy(joints).double(), generator=g)
    return px.float().numpy(), cam.float().numpy()


def evaluate_lifter(lifter, pixels: np.ndarray, gt_camera: np.ndarray) -> dict[str, float]:
    """Metrics of ``lifter`` (a :class:`pose2rig.lift.Lifter`; its constant-depth baseline
    through the same path) on h36m17 2D poses ``(N, 17, 2)`` against camera-frame truth
    ``(N, 17, 3)``, on the lifter's joint set (all 17, or the paper's 14 with the mid-hip root).

    The lifter's scale-free shape is compared after scale (N-MPJPE, PCK3D) or similarity
    (P-MPJPE) alignment; metrics in metres.
    """
    shapes, gt = camera_frame_shapes(lifter, pixels, gt_camera)
    ok = np.all(np.isfinite(shapes), axis=(1, 2))
    return all_metrics(shapes[ok], gt[ok], root=lifter.joints.root)


# --- the evaluation command: three models side by side, per action, with stated alignments ---

REPORT_FORMAT = "pose2rig-eval"
REPORT_VERSION = 1
PCK_THRESHOLD = 0.150
METRICS = ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150mm")
ALIGNMENT = {
    "orientation": (
        "every model predicts a scale-free, root-relative shape as seen with the root on the "
        "optical axis; it is turned onto the ground-truth root's camera ray (as pose2rig lift "
        "places it on the pixel's ray) and compared in each camera's frame (OpenCV axes)"
    ),
    "mpjpe_mm": (
        "protocol 1: both poses root-centred (the joint set's root: the pelvis for h36m17, the "
        "mid-hip point for paper14; no rotation); a 2D-only lifter cannot know scale, so the "
        "prediction is scaled per pose to the ground truth's standing height from bone lengths "
        "(pose2rig.lift.skeleton_height; for paper14 the summed bone lengths), as pose2rig lift "
        "--height does with the subject's true height"
    ),
    "p_mpjpe_mm": (
        "protocol 2: per pose, the best similarity transform (rotation, translation, uniform "
        "scale; Procrustes) of the prediction onto the ground truth"
    ),
    "n_mpjpe_mm": (
        "root-centred, prediction scaled per pose by the least-squares uniform factor onto the "
        "ground truth (Rhodin et al. 2018), no rotation"
    ),
    "pck3d_150mm": (
        "fraction of joints within 150 mm after the n_mpjpe alignment (root-centred, "
        "least-squares scale, no rotation)"
    ),
}


def camera_frame_shapes(lifter, pixels: np.ndarray, gt_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lifter's shapes for ``(N, 17, 2)`` pixels, turned onto the truth's root rays, and the
    truth in the lifter's joint set.

    Returns ``(N, J, 3)`` float64 shapes in normalised units (no metric scale), root at the origin
    (NaN rows where the 2D pose cannot be normalised), and the truth ``(N, J, 3)``.
    """
    from pose2rig.geometry import rotation_between

    js = lifter.joints
    gt = np.asarray(gt_camera, dtype=np.float64)[:, list(js.indices)]
    shapes = lifter.shapes_from_pixels(pixels)
    root = _root_of(gt, js.root)[:, 0]
    ray = root / np.linalg.norm(root, axis=-1, keepdims=True)
    align = rotation_between(np.broadcast_to([0.0, 0.0, 1.0], ray.shape), ray)
    return np.einsum("nij,nkj->nki", align, shapes), gt


def height_align(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0,
                 parents: tuple[int, ...] | None = None) -> np.ndarray:
    """Root-centre both and scale ``pred`` per pose to ``gt``'s size: :func:`skeleton_height` for
    h36m17 (``parents`` None), else the summed bone lengths of the tree ``parents``.

    ``(N, J, 3)`` each -> the aligned prediction ``(N, J, 3)`` on ``gt``'s root.
    """
    from pose2rig.lift.infer import skeleton_height

    p, g = _pair(pred, gt)
    p0 = _root_centre(p, root)
    size: Callable[[np.ndarray], np.ndarray]
    if parents is None:
        size = skeleton_height
    else:
        kids = [c for c, q in enumerate(parents) if q >= 0]

        def tree_size(x: np.ndarray) -> np.ndarray:
            return np.linalg.norm(x[:, kids] - x[:, [parents[c] for c in kids]], axis=-1).sum(axis=1)

        size = tree_size

    k = size(g) / np.maximum(size(p0), 1e-12)
    return k[:, None, None] * p0 + _root_of(g, root)


def protocol_metrics(pred: np.ndarray, gt: np.ndarray, *, root: Root = 0,
                     parents: tuple[int, ...] | None = None) -> dict[str, float]:
    """The four metrics of the report (see :data:`ALIGNMENT`): errors in mm, PCK3D a fraction.
    ``root``/``parents``: the joint set's root and bone tree when it is not h36m17."""
    p, g = _pair(pred, gt)
    return {
        "mpjpe_mm": 1000 * mpjpe(height_align(p, g, root=root, parents=parents), g, root=root),
        "p_mpjpe_mm": 1000 * p_mpjpe(p, g),
        "n_mpjpe_mm": 1000 * n_mpjpe(p, g, root=root),
        "pck3d_150mm": pck3d(scale_align(p, g, root=root), g, threshold=PCK_THRESHOLD),
    }


class _Row(TypedDict):
    """One row of the report: an action (or ``"average"``, ``"all poses"``), its pose count and
    ``{model: {metric: value}}``."""

    action: str
    poses: int
    metrics: dict[str, dict[str, float]]


def evaluation_report(
    models: dict[str, Lifter],
    pixels: np.ndarray,
    gt_camera: np.ndarray,
    *,
    actions: np.ndarray | None = None,
    data: dict[str, object] | None = None,
) -> dict[str, object]:
    """Metrics of several lifters on the same inputs, per action and overall.

    Args:
        models: ``{name: Lifter}`` (e.g. ``lifter``, ``constant_depth``, ``reference``).
        pixels: ``(N, 17, 2)`` 2D input; gt_camera: ``(N, 17, 3)`` metres, camera frame.
        actions: ``(N,)`` str groups; one row per action, then ``"average"`` (the mean of the
            action rows, the papers' "Avg") and ``"all poses"`` (every pose pooled).
        data: a description of the inputs, stored as given.

    Returns:
        A JSON-ready dict: ``format``, ``version``, ``data``, ``alignment`` (how each metric
        aligns), ``models`` (their names and facts), ``rows`` (``{"action", "poses", "metrics":
        {model: {metric: value}}}``). Poses where any model's or the truth's joints are not
        finite are left out of every model's numbers.
    """
    gt = np.asarray(gt_camera, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[1:] != (17, 3) or np.shape(pixels) != gt.shape[:2] + (2,):
        raise Pose2RigError(f"evaluation: expected pixels (N, 17, 2) and truth (N, 17, 3), got "
                            f"{np.shape(pixels)} and {gt.shape}")
    sets = {m.joint_set_name for m in models.values()}
    if len(sets) != 1:
        raise Pose2RigError(f"evaluation: the models predict different joint sets ({', '.join(sorted(sets))})")
    js = next(iter(models.values())).joints
    preds = {name: camera_frame_shapes(m, pixels, gt)[0] for name, m in models.items()}
    gt = gt[:, list(js.indices)]
    root, parents = js.root, (None if js.name == "h36m17" else js.skeleton.parents)
    keep = np.all(np.isfinite(gt), axis=(1, 2))
    for p in preds.values():
        keep &= np.all(np.isfinite(p), axis=(1, 2))
    if not keep.any():
        raise Pose2RigError("evaluation: no pose with finite 2D input and ground truth")
    groups = np.asarray(actions, dtype=str) if actions is not None else np.full(len(gt), "all poses")
    if groups.shape != (len(gt),):
        raise Pose2RigError(f"evaluation: expected {len(gt)} action labels, got {groups.shape}")

    def row(label: str, mask: np.ndarray) -> _Row:
        m = mask & keep
        return {"action": label, "poses": int(m.sum()),
                "metrics": {name: protocol_metrics(p[m], gt[m], root=root, parents=parents)
                            for name, p in preds.items()}}

    names = sorted(set(groups[keep].tolist()))
    rows: list[_Row] = [row(a, groups == a) for a in names if a != "all poses"]
    if len(rows) > 1:
        rows.append({"action": "average", "poses": int(sum(r["poses"] for r in rows)), "metrics": {
            name: {k: float(np.mean([r["metrics"][name][k] for r in rows])) for k in METRICS}
            for name in preds}})
    rows.append(row("all poses", np.ones(len(gt), bool)))
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "data": dict(data or {}),
        "alignment": dict(ALIGNMENT),
        "joints": {"set": js.name, "names": list(js.skeleton.joint_names),
                   "root": [js.skeleton.joint_names[i] for i in js.root]},
        "models": {name: _model_facts(m) for name, m in models.items()},
        "left_out": int((~keep).sum()),
        "rows": rows,
    }


def _model_facts(lifter) -> dict[str, object]:
    meta = getattr(lifter, "meta", {}) or {}
    facts: dict[str, object] = {}
    for k in ("name", "checkpoint", "step"):
        if meta.get(k) is not None:
            facts[k] = meta[k]
    if getattr(lifter, "generator", None) is not None:
        facts["mirror_averaged"] = bool(lifter.mirror)
        facts["roll_averaged_deg"] = [float(a) for a in lifter.rolls]
    cfg = meta.get("config") or {}
    for k in ("preset", "objective", "source", "joints", "width", "blocks", "steps"):
        if k in cfg:
            facts[k] = cfg[k]
    return facts


def format_report(report: Mapping[str, Any]) -> str:
    """The report as a plain-text table (mm; PCK3D in %), with the alignment notes below."""
    rows = report["rows"]
    models = list(report["models"])
    short = {"lifter": "lifter", "constant_depth": "const", "reference": "ref"}
    heads = {"mpjpe_mm": "MPJPE mm", "p_mpjpe_mm": "P-MPJPE mm", "n_mpjpe_mm": "N-MPJPE mm",
             "pck3d_150mm": "PCK3D@150 %"}
    w = 8
    block = w * len(models)
    lines = [f"{'':14s}{'':>8s}" + "".join(f"  {heads[k]:^{block}s}" for k in METRICS),
             f"{'action':14s}{'poses':>8s}" + "".join(
                 "  " + "".join(f"{short.get(n, n)[:w - 1]:>{w}s}" for n in models) for _ in METRICS)]
    for r in rows:
        if r["action"] in ("average", "all poses"):
            lines.append("-" * len(lines[1]))
        cells = []
        for k in METRICS:
            vals = [r["metrics"][n][k] * (100 if k == "pck3d_150mm" else 1) for n in models]
            cells.append("  " + "".join(f"{v:{w}.1f}" for v in vals))
        lines.append(f"{str(r['action'])[:14]:14s}{r['poses']:8d}" + "".join(cells))
    lines.append("")
    for n in models:
        facts = report["models"][n]
        tta = ""
        if "roll_averaged_deg" in facts:
            rolls = ", ".join(f"{a:g}" for a in facts["roll_averaged_deg"])
            tta = f"; averaged over camera rolls {rolls} deg{' and mirror images' if facts.get('mirror_averaged') else ''}"
        lines.append(f"{short.get(n, n)}: {n}" + (f" ({facts['checkpoint']})" if "checkpoint" in facts else "") + tta)
    lines += [f"{k}: {v}" for k, v in report["alignment"].items()]
    return "\n".join(lines)


def evaluate_checkpoints(
    *,
    checkpoint: Path | None = None,
    reference: Path | None = None,
    data: Iterable[Path] = (),
    h36m_3d: Path | None = None,
    h36m_2d: Path | None = None,
    h36m_cameras: Path | None = None,
    subjects: tuple[str, ...] = ("S9", "S11"),
    frame_step: int = 1,
    seed: int = 0,
    max_poses: int | None = None,
    mirror: bool = True,
    rolls: tuple[float, ...] = DEFAULT_ROLLS,
    json_out: Path | None = None,
) -> dict[str, object]:
    """Evaluate a lifter checkpoint beside the constant-depth baseline (and a reference).

    Args:
        checkpoint: the lifter (default: the bundled one).
        reference: optionally a second checkpoint (e.g. a supervised lifter) on the same inputs.
        data: BVH files or folders: mocap filmed by fixed-seed virtual cameras
            (:func:`synthetic_views` with ``seed``, ``frame_step``, ``max_poses``).
        h36m_3d, h36m_cameras, h36m_2d: Human3.6M files instead
            (:func:`pose2rig.io.h36m.h36m_eval_data` of ``subjects`` every ``frame_step``-th
            frame; 2D from ``h36m_2d`` when given, else ground truth projected).
        mirror: mirror-average the lifters (:attr:`pose2rig.lift.Lifter.mirror`, as ``lift``).
        rolls: average over these camera rolls in degrees (:attr:`pose2rig.lift.Lifter.rolls`,
            as ``lift``; ``(0,)`` for none).
        json_out: write the report here (atomically).

    Returns:
        The report of :func:`evaluation_report`.
    """
    from pose2rig.extras import require

    require("torch", "train")  # a missing extra in one line, before the lifter imports torch
    from pose2rig.lift import Lifter, load_lifter

    data = tuple(Path(p) for p in data)
    if bool(data) == (h36m_3d is not None):
        raise ArgumentError("evaluate: give either {data} (BVH mocap) or {h36m_3d} with {h36m_cameras}", "data", "h36m_3d",
                            "h36m_cameras")
    if frame_step < 1:
        raise ArgumentError(f"{{frame_step}} must be at least 1, got {frame_step}", "frame_step")
    if json_out is not None:
        from pose2rig.io.atomic import check_writable

        check_writable(json_out)
    def load(path: Path | None) -> Lifter:
        m = load_lifter(path, mirror=mirror, rolls=rolls)
        m.meta = {**m.meta, "checkpoint": str(path if path is not None else "bundled")}
        return m

    lifter = load(checkpoint)
    models: dict[str, Lifter] = {
        "lifter": lifter, "constant_depth": Lifter.constant_depth(joints=lifter.joint_set_name),
    }
    if reference is not None:
        models["reference"] = load(reference)
        if models["reference"].joint_set_name != lifter.joint_set_name:
            raise ArgumentError(
                f"evaluate: {{reference}} predicts {models['reference'].joint_set_name!r} joints, "
                f"the checkpoint {lifter.joint_set_name!r}; compare lifters of one joint set", "reference"
            )
    actions = None
    if h36m_3d is not None:
        from pose2rig.io.h36m import h36m_eval_data

        if h36m_cameras is None:
            raise ArgumentError("evaluate: {h36m_3d} needs {h36m_cameras} (the camera parameters)", "h36m_3d", "h36m_cameras")
        ev = h36m_eval_data(positions_3d=h36m_3d, cameras=h36m_cameras, positions_2d=h36m_2d,
                            subjects=tuple(subjects), frame_step=frame_step)
        pixels, gt, actions = ev.pixels, ev.gt_camera, ev.actions
        desc = {"kind": "human36m", "h36m_3d": str(h36m_3d), "h36m_cameras": str(h36m_cameras),
                "h36m_2d": str(h36m_2d) if h36m_2d is not None else "ground truth projected",
                "subjects": list(subjects), "frame_step": frame_step}
    else:
        from pose2rig.io.mocap import bvh_files, load_bvh_as_h36m17

        files = bvh_files(data)
        clips = [load_bvh_as_h36m17(f).joints for f in files]
        pixels, gt = synthetic_views(clips, seed=seed, frame_step=frame_step, max_poses=max_poses)
        desc = {"kind": "bvh", "data": [str(p) for p in data], "clips": len(files), "seed": seed,
                "frame_step": frame_step, "max_poses": max_poses,
                "cameras": "pose2rig.lift.projection.virtual_camera_views, fixed seed"}
    report = evaluation_report(models, pixels, gt, actions=actions, data=desc)
    if json_out is not None:
        import json

        from pose2rig.io.atomic import atomic_path

        with atomic_path(json_out) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    return report
