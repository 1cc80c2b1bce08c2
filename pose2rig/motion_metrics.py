"""Motion-quality metrics, numpy only: jitter, acceleration error, foot sliding, ground contacts,
contact precision/recall/F1 and ROC AUC.

The definitions are the world-grounded papers' own, as WHAM and GVHMR publish them in their
evaluation code (``lib/eval/eval_utils.py`` of github.com/yohanshin/WHAM at 2b54f77 and
``hmr4d/utils/eval/eval_utils.py`` of github.com/zju3dv/GVHMR at 44fbc19: ``compute_jitter``,
``compute_error_accel``, ``compute_foot_sliding``), with pose2rig's contact rule (issue 12):

- :func:`jitter`: the norm of the third finite difference of joint positions times ``fps**3``,
  averaged over joints and frames, in units of 10 m/s^3 (the papers divide by 10).
- :func:`accel_error`: the norm of the difference of the second finite differences of ``pred``
  and ``gt`` times ``fps**2``, averaged over joints and frames, in m/s^2 (GVHMR's ``fps``
  variant; WHAM reports the same per frame**2).
- :func:`foot_sliding`: the mean horizontal displacement per frame of the foot points over the
  steps where the ground truth is in contact, in mm, at 30 fps. The papers take the 3D norm and
  SMPL foot vertices with a 1 cm/frame contact threshold; here the displacement is horizontal
  (X, Z) and the contacts come from :func:`ground_contacts`.
- :func:`ground_contacts`: a foot point (ankle; toe where the skeleton has one) is in contact
  when it is within 5 cm of the clip's floor, taken as the 5th percentile of that point's height,
  and moves less than 20 cm/s horizontally.
- :func:`contact_scores`: precision, recall and F1 of predicted contacts against true ones.
- :func:`roc_auc`: the area under the ROC curve of a score against binary labels (ties count
  one half, as the Mann-Whitney statistic counts them).
- :func:`world_mpjpe`: mean per-joint position error in the world frame, with no alignment.
- :func:`wa_mpjpe` and :func:`w_mpjpe`: the world-grounded papers' world-frame errors, as
  ``compute_global_metrics`` of GVHMR (``hmr4d/utils/eval/eval_utils.py`` at cb702cd) and
  ``lib/eval/evaluate_emdb.py`` of WHAM (at 1d19c0c) compute them, with ``global_align_joints``,
  ``first_align_joints`` and ``align_pcl`` (Umeyama, from SLAHMR): the frames missing in either
  array are dropped first (WHAM's ``good_frames_mask``), the rest cut into chunks of
  :data:`WORLD_CHUNK` = 100 frames from the first (the last chunk keeps what is left, however
  short); in each chunk the prediction is mapped onto the truth by one similarity transform
  (rotation, translation and scale: ``fixed_scale=False`` in both) fitted on all the chunk's
  joints of all its frames (WA) or on those of its first two frames only (W), and applied to
  the whole chunk. The errors are in mm, averaged over joints, then over all the frames of all
  the chunks together (the papers concatenate per-frame errors, so a short last chunk weighs by
  its frames, not as a whole chunk).
- :func:`root_translation_error`: GVHMR's and WHAM's ``compute_rte``: the root trajectory
  rigidly aligned onto the truth's (rotation and translation, no scale) over the whole clip,
  the error per frame divided by the truth's path length, in percent, averaged over frames.

Convention:
    Positions ``(T, J, 3)`` (or ``(T, K, 3)`` for foot points) in metres, world frame, Y up, so
    "horizontal" means X and Z. Frames are uniformly spaced at ``fps``.

Missing data (NaN): a finite difference is left out of the mean when any frame it touches is
missing for that joint (a NaN coordinate in that joint at that frame, in either array for the
paired metrics); a frame missing for a foot point is never a contact. A metric with nothing left
to average raises :class:`~pose2rig.errors.Pose2RigError`.
"""

from __future__ import annotations

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import similarity_transform

__all__ = [
    "accel_error",
    "contact_scores",
    "foot_sliding",
    "ga_mpjpe",
    "ground_contacts",
    "jitter",
    "roc_auc",
    "root_translation_error",
    "w_mpjpe",
    "wa_mpjpe",
    "world_mpjpe",
    "yaw_similarity",
]

CONTACT_HEIGHT = 0.05
"""metres above the clip's floor under which a foot point may be in contact"""
CONTACT_SPEED = 0.20
"""metres per second of horizontal speed under which a foot point may be in contact"""
FLOOR_PERCENTILE = 5.0
"""the floor under a foot point: this percentile of its height over the clip"""
SLIDING_FPS = 30.0
"""frame rate at which foot sliding is reported (mm per frame at this rate)"""
WORLD_CHUNK = 100
"""frames per chunk of W-MPJPE and WA-MPJPE (WHAM's and GVHMR's ``chunk_length``)"""


def _points(x: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise Pose2RigError(f"{what}: expected positions (T, J, 3), got shape {a.shape}")
    return a


def _fps(fps: float, what: str) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise Pose2RigError(f"{what}: fps must be a positive number, got {fps}")
    return float(fps)


def _mean(values: np.ndarray, what: str) -> float:
    v = values[np.isfinite(values)]
    if v.size == 0:
        raise Pose2RigError(f"{what}: no finite difference to average (too few frames, or all missing)")
    return float(v.mean())


def _difference(x: np.ndarray, order: int) -> np.ndarray:
    """``(T - order, J, 3)`` finite difference; NaN wherever a touched frame is NaN (any axis)."""
    d = np.diff(x, n=order, axis=0)
    bad = ~np.all(np.isfinite(d), axis=-1, keepdims=True)
    return np.where(bad, np.nan, d)


def jitter(joints: np.ndarray, fps: float) -> float:
    """Jitter of ``joints (T, J, 3)`` metres at ``fps``: mean over joints and frames of
    ``|x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t]| * fps**3``, in 10 m/s^3 (WHAM's, GVHMR's
    ``compute_jitter``). Needs 4 frames."""
    x = _points(joints, "jitter")
    fps = _fps(fps, "jitter")
    norms = np.linalg.norm(_difference(x, 3), axis=-1) * fps**3
    return _mean(norms, "jitter") / 10.0


def accel_error(pred: np.ndarray, gt: np.ndarray, fps: float) -> float:
    """Acceleration error of ``pred`` against ``gt`` (both ``(T, J, 3)`` metres at ``fps``): mean
    over joints and frames of ``|a_pred - a_gt| * fps**2`` with ``a = x[t-1] - 2 x[t] + x[t+1]``,
    in m/s^2 (GVHMR's ``compute_error_accel`` with ``fps``). Needs 3 frames."""
    p = _points(pred, "accel_error")
    g = _points(gt, "accel_error")
    if p.shape != g.shape:
        raise Pose2RigError(f"accel_error: expected pred and gt of one shape, got {p.shape} and {g.shape}")
    fps = _fps(fps, "accel_error")
    norms = np.linalg.norm(_difference(p, 2) - _difference(g, 2), axis=-1) * fps**2
    return _mean(norms, "accel_error")


def _horizontal_step(x: np.ndarray) -> np.ndarray:
    """``(T - 1, K)`` horizontal (X, Z) distance between consecutive frames; NaN where missing."""
    d = _difference(x, 1)
    return np.hypot(d[..., 0], d[..., 2])


def ground_contacts(
    feet: np.ndarray,
    fps: float,
    *,
    height: float = CONTACT_HEIGHT,
    speed: float = CONTACT_SPEED,
    floor_percentile: float = FLOOR_PERCENTILE,
) -> np.ndarray:
    """Ground contacts of foot points ``feet (T, K, 3)`` metres at ``fps`` (the ground-truth rule).

    Point ``k`` is in contact at frame ``t`` when its height ``y`` is less than ``height`` above
    its floor (the ``floor_percentile`` of its height over the clip's present frames) and its
    horizontal speed is under ``speed`` m/s. The speed at ``t`` is the central difference
    ``|x[t+1] - x[t-1]|_xz * fps / 2`` (one-sided at the ends and next to a missing frame).
    Missing frames are never contacts. Returns ``(T, K)`` bool.
    """
    x = _points(feet, "ground_contacts")
    fps = _fps(fps, "ground_contacts")
    t = x.shape[0]
    present = np.all(np.isfinite(x), axis=-1)
    out = np.zeros(present.shape, dtype=bool)
    if t < 2:
        return out
    y = x[..., 1]
    floor = np.array([np.percentile(y[present[:, k], k], floor_percentile) if present[:, k].any() else np.nan
                      for k in range(x.shape[1])])
    step = _horizontal_step(x) * fps  # (T-1, K) speed over each step
    before = np.vstack([np.full((1, x.shape[1]), np.nan), step])  # step into frame t
    after = np.vstack([step, np.full((1, x.shape[1]), np.nan)])  # step out of frame t
    both = np.isfinite(before) & np.isfinite(after)
    spd = np.where(both, 0.5 * (before + after), np.where(np.isfinite(before), before, after))
    with np.errstate(invalid="ignore"):
        out = present & (y - floor < height) & (spd < speed)
    return out


def foot_sliding(feet: np.ndarray, contacts: np.ndarray, fps: float) -> float:
    """Foot sliding of ``feet (T, K, 3)`` metres at ``fps`` during ``contacts (T, K)`` bool (the
    ground truth's, from :func:`ground_contacts` on the true motion): the mean horizontal
    displacement per frame over the steps ``t -> t+1`` where the point is in contact at both
    ends, in mm per frame at 30 fps (a displacement at another ``fps`` is scaled by
    ``fps / 30``, the same speed's step at 30 fps)."""
    x = _points(feet, "foot_sliding")
    c = np.asarray(contacts, dtype=bool)
    if c.shape != x.shape[:2]:
        raise Pose2RigError(f"foot_sliding: expected contacts {x.shape[:2]} (T, K), got {c.shape}")
    fps = _fps(fps, "foot_sliding")
    steps = _horizontal_step(x)[c[1:] & c[:-1]] * (fps / SLIDING_FPS) * 1000.0
    if steps.size == 0:
        raise Pose2RigError("foot_sliding: no step in contact to measure")
    return _mean(steps, "foot_sliding")


def contact_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of ``predicted`` contacts against ``truth`` (bool arrays of one
    shape, e.g. ``(T, K)``), over all entries. A ratio whose denominator is 0 is NaN (no
    predicted contact: precision; no true contact: recall; neither: F1).
    Returns ``{"precision", "recall", "f1"}``."""
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise Pose2RigError(f"contact_scores: expected arrays of one shape, got {p.shape} and {t.shape}")
    tp = float(np.sum(p & t))
    fp = float(np.sum(p & ~t))
    fn = float(np.sum(~p & t))

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else float("nan")

    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher: more likely positive) against ``labels``
    (bool or 0/1, one shape): the probability that a random positive scores above a random
    negative, ties counting one half (the Mann-Whitney U statistic over n_pos * n_neg, from
    mid-ranks). Entries with a non-finite score are left out; raises when a class is empty."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    lab = np.asarray(labels).ravel()
    if s.shape != lab.shape:
        raise Pose2RigError(f"roc_auc: expected scores and labels of one size, got {s.size} and {lab.size}")
    keep = np.isfinite(s)
    s, y = s[keep], lab[keep].astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise Pose2RigError(f"roc_auc: needs positives and negatives, got {n_pos} and {n_neg}")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size)
    # mid-ranks: each run of equal scores gets the mean of its 1-based positions
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    mid = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mid, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def world_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error in mm of ``pred`` against ``gt`` (``(T, J, 3)`` metres) as
    given, with no alignment (unlike :func:`pose2rig.evaluate.mpjpe`, which centres the roots):
    the world-frame error of motion that should match in place. Poses with a NaN joint in either
    are left out."""
    p = _points(pred, "world_mpjpe")
    g = _points(gt, "world_mpjpe")
    if p.shape != g.shape:
        raise Pose2RigError(f"world_mpjpe: expected pred and gt of one shape, got {p.shape} and {g.shape}")
    keep = np.all(np.isfinite(p), axis=(1, 2)) & np.all(np.isfinite(g), axis=(1, 2))
    if not keep.any():
        raise Pose2RigError("world_mpjpe: no pose where both pred and gt are finite")
    return float(np.linalg.norm(p[keep] - g[keep], axis=-1).mean() * 1000.0)


def _paired_frames(pred: np.ndarray, gt: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``gt`` of one shape with the frames where either has a NaN joint dropped."""
    p = _points(pred, what)
    g = _points(gt, what)
    if p.shape != g.shape:
        raise Pose2RigError(f"{what}: expected pred and gt of one shape, got {p.shape} and {g.shape}")
    keep = np.all(np.isfinite(p), axis=(1, 2)) & np.all(np.isfinite(g), axis=(1, 2))
    if not keep.any():
        raise Pose2RigError(f"{what}: no frame where both pred and gt are finite")
    return p[keep], g[keep]


def yaw_similarity(p: np.ndarray, g: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``(k, R, t)`` minimising ``|k R p + t - g|`` over points ``(N, 3)`` with ``R`` a turn
    about +Y only (up kept up): scale, heading and translation, least squares."""
    p = np.asarray(p, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    mp, mg = p.mean(0), g.mean(0)
    x, y = p - mp, g - mg
    h = x[:, [0, 2]].T @ y[:, [0, 2]]
    a = np.arctan2(h[0, 1] - h[1, 0], h[0, 0] + h[1, 1])
    c, s = np.cos(a), np.sin(a)
    r = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    den = float((x * x).sum())
    k = float(((x @ r.T) * y).sum() / den) if den > 0 else 1.0
    return k, r, mg - k * (r @ mp)


def _chunk_errors(pred: np.ndarray, gt: np.ndarray, chunk: int, fit_frames: int | None, what: str,
                  *, upright: bool = False) -> float:
    """Mean over joints and frames (mm) of ``pred`` mapped onto ``gt`` chunk by chunk by the
    similarity transform fitted on each chunk's first ``fit_frames`` frames (all when None);
    ``upright``: the rotation only about +Y (:func:`yaw_similarity`)."""
    if int(chunk) != chunk or chunk < 1:
        raise Pose2RigError(f"{what}: chunk must be a positive number of frames, got {chunk}")
    p, g = _paired_frames(pred, gt, what)
    errors = []
    for start in range(0, p.shape[0], int(chunk)):
        pc, gc = p[start:start + int(chunk)], g[start:start + int(chunk)]
        fit = slice(None) if fit_frames is None else slice(0, fit_frames)
        k: float | np.ndarray  # the scale: a float from yaw_similarity, a 0-d array otherwise
        if upright:
            k, r, t = yaw_similarity(pc[fit].reshape(-1, 3), gc[fit].reshape(-1, 3))
        else:
            k, r, t = similarity_transform(pc[fit].reshape(-1, 3), gc[fit].reshape(-1, 3), scale=True)
        aligned = k * (pc @ r.T) + t
        errors.append(np.linalg.norm(aligned - gc, axis=-1).mean(axis=-1))  # (frames,)
    return float(np.concatenate(errors).mean() * 1000.0)


def wa_mpjpe(pred: np.ndarray, gt: np.ndarray, *, chunk: int = WORLD_CHUNK) -> float:
    """WA-MPJPE in mm of world-frame ``pred`` against ``gt`` (``(T, J, 3)`` metres): per chunk of
    ``chunk`` frames, ``pred`` mapped onto ``gt`` by the similarity transform (rotation,
    translation, scale) fitted on the whole chunk; the mean over joints and all frames (see the
    module's doc: GVHMR's and WHAM's ``global_align_joints``). Frames with a NaN joint in either
    are dropped before chunking."""
    return _chunk_errors(pred, gt, chunk, None, "wa_mpjpe")


def ga_mpjpe(pred: np.ndarray, gt: np.ndarray, *, chunk: int = WORLD_CHUNK) -> float:
    """Gravity-aligned WA-MPJPE in mm: as :func:`wa_mpjpe` (whole 100-frame chunks) but the
    alignment keeps +Y up (scale, a turn about +Y, a translation: :func:`yaw_similarity`), so a
    tilted world -- a camera's pitch not undone -- counts, as it does for a user whose character
    leans. pose2rig's own measure, not the papers'."""
    return _chunk_errors(pred, gt, chunk, None, "ga_mpjpe", upright=True)


def w_mpjpe(pred: np.ndarray, gt: np.ndarray, *, chunk: int = WORLD_CHUNK) -> float:
    """W-MPJPE in mm of world-frame ``pred`` against ``gt`` (``(T, J, 3)`` metres): per chunk of
    ``chunk`` frames, ``pred`` mapped onto ``gt`` by the similarity transform (scale fitted too,
    as the papers do) fitted on the chunk's first two frames only and applied to the whole
    chunk, so drift after them counts; the mean over joints and all frames (GVHMR's and WHAM's
    ``first_align_joints``). Frames with a NaN joint in either are dropped before chunking."""
    return _chunk_errors(pred, gt, chunk, 2, "w_mpjpe")


def root_translation_error(pred_root: np.ndarray, gt_root: np.ndarray) -> float:
    """Root translation error (RTE) in percent of ``pred_root`` against ``gt_root`` (``(T, 3)``
    metres, world frame): ``pred_root`` rigidly aligned onto ``gt_root`` over the whole clip
    (rotation and translation, no scale), the distance per frame divided by the length of the
    truth's path, times 100, averaged over frames (GVHMR's and WHAM's ``compute_rte``). Frames
    missing in either are dropped first; raises when the truth does not move."""
    p = np.asarray(pred_root, dtype=np.float64)
    g = np.asarray(gt_root, dtype=np.float64)
    if p.ndim != 2 or p.shape[-1] != 3 or p.shape != g.shape:
        raise Pose2RigError(
            f"root_translation_error: expected pred_root and gt_root (T, 3) of one shape, got {p.shape} and {g.shape}"
        )
    keep = np.all(np.isfinite(p), axis=-1) & np.all(np.isfinite(g), axis=-1)
    p, g = p[keep], g[keep]
    path = float(np.linalg.norm(np.diff(g, axis=0), axis=-1).sum()) if len(g) > 1 else 0.0
    if not path > 0:
        raise Pose2RigError("root_translation_error: the true root does not move (path length 0)")
    _, r, t = similarity_transform(p, g, scale=False)
    aligned = p @ r.T + t
    return float(np.mean(np.linalg.norm(aligned - g, axis=-1) / path) * 100.0)
