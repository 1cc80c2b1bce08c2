"""The 2D detector's error as a small model that training can sample (numpy only).

:meth:`DetectorNoise.fit` measures, from exact 2D truth and a detector's keypoints on the same
frames (rendered mocap: ``bench/detector_noise.py``), how the detector errs, and
:meth:`DetectorNoise.sample` puts the same kind of error on clean 2D poses (projected mocap) so
that a lifter, temporal ones above all, is trained on what MediaPipe gives rather than on exact
or white-noise keypoints.

What is modelled, per joint (Human3.6M-17 by default):

- **Confidence**: its distribution over the frames where the joint is found (quantiles), and its
  lag-1 autocorrelation (of its normal scores): :meth:`sample` draws an AR(1) Gaussian and maps
  it through the quantiles (a Gaussian copula), so confidence drifts as it does on video.
- **2D error** per confidence bin (``bin_edges`` over ``(0, 1]``), in units of the body's scale
  (:func:`body_scale`: the truth's per-frame 2D bounding-box diagonal), after the left/right
  confusions below are undone: a median ``bias (x, y)``, a shape ``chol`` (Cholesky factor of
  the covariance of the central 75% of the errors) and the quantiles of the Mahalanobis radius
  ``|chol^-1 (e - bias)|``, so heavy tails are kept. A bin with fewer than ``min_count`` samples
  takes the joint's pooled values. The error's lag-1 autocorrelation ``error_rho`` is measured on
  the Gaussian scores that :meth:`sample` would have drawn (the exact inverse of its mapping);
  :meth:`sample` draws AR(1) scores with it.
- **Dropped joints**: two-state Markov chains, one for whole frames (no person found:
  ``frame_drop``) and one per joint within found frames (``joint_drop``): ``[P(drop | kept
  before), P(drop | dropped before)]``, so runs of drops have their measured lengths. A drop is a
  NaN keypoint (confidence 0); a low confidence is not a drop but part of the confidence
  distribution (a consumer thresholds it as the pipeline does).
- **Left/right confusions**: per frame, the arms (shoulder, elbow, wrist pairs) are swapped when
  the detections fit the mirrored truth better (summed distance over the group's pairs whose true
  2D twins are at least ``min_separation`` body scales apart), the legs (hip, knee, ankle)
  likewise. The state (0 none, 1 arms, 2 legs, 3 both: a whole-body flip) follows a Markov chain
  ``swap_transition (B, 4, 4)``: leaving state 0 depends on the confidence bin of the frame's
  mean limb-joint confidence, the other rows are pooled. ``pair_swap_rate (P, B)`` keeps the
  measured per-pair rates (by the pair's lower confidence) for reports.

Convention:
    - ``truth_2d``, ``detected_2d``: ``(T, J, 2)`` pixels (x right, y down), NaN where missing
      (truth must be finite); ``confidence``: ``(T, J)`` in [0, 1], 0 where missing.
    - Errors are ``detected - truth`` divided by :func:`body_scale` of the truth, per frame.
    - The file (:meth:`DetectorNoise.save`) is an ``.npz`` of plain arrays (no pickles).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.skeletons import H36M17

FORMAT_VERSION = 1
DEFAULT_BIN_EDGES = (0.0, 0.3, 0.6, 0.8, 0.9, 0.97, 0.99, 1.0)
"""Confidence bins (MediaPipe's ``visibility * presence`` gathers near 1 on visible joints)."""
RADIUS_LEVELS = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 1.0])
"""Cumulative levels at which the error radius's quantiles are kept."""
CONFIDENCE_LEVELS = np.linspace(0.0, 1.0, 21)
"""Cumulative levels at which each joint's confidence quantiles are kept."""
MIN_COUNT = 30
MIN_SEPARATION = 0.05
MAX_OFFSET = 0.1
"""Body scales between the detected and true centroids beyond which a frame shows someone else."""
CENTRAL = 0.75
PRIOR_WEIGHT = 20.0
"""Pseudo-frames of the pooled swap chain added to each confidence bin's row 0."""
ARM_WORDS, LEG_WORDS = ("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle")


def body_scale(truth_2d: np.ndarray) -> np.ndarray:
    """``(T,)`` the diagonal (pixels) of each frame's 2D bounding box of ``truth_2d (T, J, 2)``."""
    t = np.asarray(truth_2d, dtype=np.float64)
    return np.linalg.norm(np.ptp(t, axis=1), axis=-1)


def limb_pairs(joint_names: Sequence[str], mirror: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``pairs (P, 2)`` (left, right) joint indices of the limbs and ``group (P,)`` (0 arms, 1 legs)."""
    pairs, group = [], []
    for i, name in enumerate(joint_names):
        j = int(mirror[i])
        if j == i or not name.startswith("left"):
            continue
        for g, words in enumerate((ARM_WORDS, LEG_WORDS)):
            if any(w in name for w in words):
                pairs.append((i, j))
                group.append(g)
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(group, dtype=np.int64)


@dataclass(frozen=True)
class DetectorNoise:
    """A detector's 2D error model; see the module's docstring for what each field means.

    Attributes (J joints, B confidence bins, P limb pairs, R radius levels, C confidence levels):
        joint_names: ``(J,)`` str.
        pairs, pair_group: ``(P, 2)`` left/right indices, ``(P,)`` 0 arms, 1 legs.
        bin_edges: ``(B + 1,)`` confidence bin edges, 0 to 1.
        confidence_quantiles: ``(J, C)`` at :data:`CONFIDENCE_LEVELS`, found joints only.
        confidence_rho: ``(J,)`` lag-1 autocorrelation of the confidence's normal scores.
        bias: ``(J, B, 2)`` median error (body scales); chol: ``(J, B, 2, 2)`` lower triangular.
        radius_quantiles: ``(J, B, R)`` of the Mahalanobis radius at :data:`RADIUS_LEVELS`.
        error_rho: ``(J,)`` lag-1 autocorrelation of the error's Gaussian scores.
        counts: ``(J, B)`` samples measured per bin (before pooling).
        frame_drop: ``(2,)``; joint_drop: ``(J, 2)``: P(drop | kept before), P(drop | dropped before).
        swap_transition: ``(B, 4, 4)`` row-stochastic; pair_swap_rate: ``(P, B)`` (NaN: no sample).
        min_separation: body scales between true twins for a pair to count in a swap decision.
    """

    joint_names: np.ndarray
    pairs: np.ndarray
    pair_group: np.ndarray
    bin_edges: np.ndarray
    confidence_quantiles: np.ndarray
    confidence_rho: np.ndarray
    bias: np.ndarray
    chol: np.ndarray
    radius_quantiles: np.ndarray
    error_rho: np.ndarray
    counts: np.ndarray
    frame_drop: np.ndarray
    joint_drop: np.ndarray
    swap_transition: np.ndarray
    pair_swap_rate: np.ndarray
    min_separation: float = MIN_SEPARATION

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_bins(self) -> int:
        return len(self.bin_edges) - 1

    def confidence_bin(self, confidence: np.ndarray) -> np.ndarray:
        """Bin index of each confidence (0 for 0; the last bin holds 1)."""
        c = np.asarray(confidence, dtype=np.float64)
        return np.clip(np.searchsorted(self.bin_edges, c, side="left") - 1, 0, self.num_bins - 1)

    # -----------------------------------------------------------------------------------------
    # measuring

    @classmethod
    def fit(
        cls,
        truth_2d: np.ndarray | Sequence[np.ndarray],
        detected_2d: np.ndarray | Sequence[np.ndarray],
        confidence: np.ndarray | Sequence[np.ndarray],
        *,
        joint_names: Sequence[str] = H36M17.joint_names,
        mirror: Sequence[int] = H36M17.mirror,
        bin_edges: Sequence[float] = DEFAULT_BIN_EDGES,
        min_count: int = MIN_COUNT,
        min_separation: float = MIN_SEPARATION,
        max_offset: float = MAX_OFFSET,
    ) -> DetectorNoise:
        """Measure the model from clips: each argument one ``(T, J, ...)`` array or a list of them
        (one per clip, so that nothing temporal is measured across a cut). A frame whose detected
        joints' centroid lies more than ``max_offset`` body scales from the truth's followed
        something else (a person in the background): it counts as a dropped frame, as the
        pipeline's tracker leaves such frames out."""
        truths, dets, confs = _clips(truth_2d, detected_2d, confidence, len(joint_names))
        edges = np.asarray(bin_edges, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
            raise ArgumentError(f"{{bin_edges}} must rise from 0 to 1, got {edges.tolist()}", "bin_edges")
        if min_count < 2:
            raise ArgumentError(f"{{min_count}} must be at least 2, got {min_count}", "min_count")
        pairs, group = limb_pairs(joint_names, mirror)
        j, b = len(joint_names), len(edges) - 1
        empty = np.zeros(0)
        shell = cls(np.array(joint_names), pairs, group, edges, confidence_quantiles=empty, confidence_rho=empty,
                    bias=empty, chol=empty, radius_quantiles=empty, error_rho=empty, counts=empty, frame_drop=empty,
                    joint_drop=empty, swap_transition=empty, pair_swap_rate=empty, min_separation=float(min_separation))

        cvals: list[list[np.ndarray]] = [[] for _ in range(j)]
        found_j, crho_num = [], []
        err_all, bins_all = [], []
        frame_dt, joint_dt = np.zeros((2, 2)), np.zeros((j, 2, 2))
        swap_counts = np.zeros((b, 4, 4))
        pair_hits = np.zeros((len(pairs), b, 2))
        for tr, de, co in zip(truths, dets, confs, strict=True):
            scale = body_scale(tr)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
                offset = np.linalg.norm(np.nanmean(de, axis=1) - tr.mean(axis=1), axis=-1) / np.maximum(scale, 1e-9)
            elsewhere = offset > max_offset
            de = np.where(elsewhere[:, None, None], np.nan, de)
            co = np.where(elsewhere[:, None], 0.0, co)
            ok = np.all(np.isfinite(de), axis=-1)
            frame = ok.any(axis=1)
            _count_transitions(frame_dt, ~frame)
            states, pair_sw, eligible = shell._swap_states(tr, de, scale)
            limb_conf = co[:, pairs.ravel()].mean(axis=1)
            fb = shell.confidence_bin(limb_conf)
            for t in range(1, len(tr)):
                if states[t - 1] >= 0 and states[t] >= 0:
                    swap_counts[fb[t], states[t - 1], states[t]] += 1
            pb = shell.confidence_bin(np.minimum(co[:, pairs[:, 0]], co[:, pairs[:, 1]]))
            for p in range(len(pairs)):
                m = eligible[:, p]
                np.add.at(pair_hits[p], (pb[m, p], np.zeros(m.sum(), dtype=np.int64)), pair_sw[m, p])
                np.add.at(pair_hits[p], (pb[m, p], np.ones(m.sum(), dtype=np.int64)), 1)
            # the detections (and their confidences) put back onto the joints they belong to
            undo = np.maximum(states, 0)
            unswapped = shell._apply_swaps(de, undo)
            co = shell._apply_swaps(co[..., None].repeat(2, axis=-1), undo)[..., 0]
            ok = np.all(np.isfinite(unswapped), axis=-1)
            for jj in range(j):
                _count_transitions(joint_dt[jj], ~ok[frame, jj])
                cvals[jj].append(co[ok[:, jj], jj])
            err = (unswapped - tr) / np.maximum(scale, 1e-9)[:, None, None]
            err_all.append(err)
            bins_all.append(shell.confidence_bin(co))
            found_j.append(ok)
            crho_num.append(co)

        cq = np.zeros((j, len(CONFIDENCE_LEVELS)))
        for jj in range(j):
            v = np.concatenate(cvals[jj])
            cq[jj] = np.quantile(v, CONFIDENCE_LEVELS) if v.size else np.linspace(0.0, 1.0, len(CONFIDENCE_LEVELS))
        shell = _replace(shell, confidence_quantiles=cq)
        crho = np.zeros(j)
        for jj in range(j):
            scores = _normal_scores(np.concatenate([c[:, jj] for c in crho_num]), np.concatenate([o[:, jj] for o in found_j]))
            crho[jj] = _lag1(np.split(scores, np.cumsum([len(c) for c in crho_num])[:-1]), [o[:, jj] for o in found_j])

        err = np.concatenate(err_all)
        bins = np.concatenate(bins_all)
        ok = np.all(np.isfinite(err), axis=-1)
        bias, chol = np.zeros((j, b, 2)), np.tile(np.eye(2), (j, b, 1, 1))
        rq, counts = np.zeros((j, b, len(RADIUS_LEVELS))), np.zeros((j, b), dtype=np.int64)
        everything = err[ok]
        for jj in range(j):
            pooled = err[ok[:, jj], jj]
            if len(pooled) < min_count:
                pooled = everything
            joint_fit = _error_fit(pooled)
            for bb in range(b):
                sel = err[ok[:, jj] & (bins[:, jj] == bb), jj]
                counts[jj, bb] = len(sel)
                bias[jj, bb], chol[jj, bb], rq[jj, bb] = _error_fit(sel) if len(sel) >= min_count else joint_fit
        shell = _replace(shell, bias=bias, chol=chol, radius_quantiles=rq, counts=counts)
        starts = np.cumsum([0, *[len(e) for e in err_all]])
        erho = np.zeros(j)
        for jj in range(j):
            z = shell._error_scores(err[:, jj], bins[:, jj], jj)
            erho[jj] = _lag1([z[s:e, 0] for s, e in zip(starts[:-1], starts[1:], strict=True)]
                             + [z[s:e, 1] for s, e in zip(starts[:-1], starts[1:], strict=True)],
                             [ok[s:e, jj] for s, e in zip(starts[:-1], starts[1:], strict=True)] * 2)

        pooled_sw = swap_counts.sum(axis=0)
        pooled_rows = _rows(pooled_sw, np.eye(4)[[0, 0, 0, 0]])  # unseen states: back to none
        trans = np.empty((b, 4, 4))
        for bb in range(b):
            trans[bb] = pooled_rows
            n0 = swap_counts[bb, 0].sum()
            trans[bb, 0] = (swap_counts[bb, 0] + PRIOR_WEIGHT * pooled_rows[0]) / (n0 + PRIOR_WEIGHT)
        with np.errstate(invalid="ignore", divide="ignore"):
            pair_rate = pair_hits[..., 0] / pair_hits[..., 1]
        return _replace(
            shell, confidence_rho=crho, error_rho=erho, frame_drop=_drop_rates(frame_dt),
            joint_drop=np.array([_drop_rates(d) for d in joint_dt]), swap_transition=trans, pair_swap_rate=pair_rate,
        )

    def _swap_states(self, truth: np.ndarray, detected: np.ndarray, scale: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: ``state (T,)`` (-1 where undecided), ``pair_swapped (T, P)`` bool and
        ``eligible (T, P)``: the pair's true twins apart enough and both detected."""
        l_, r_ = self.pairs[:, 0], self.pairs[:, 1]
        straight = np.linalg.norm(detected[:, l_] - truth[:, l_], axis=-1) + np.linalg.norm(detected[:, r_] - truth[:, r_], axis=-1)
        crossed = np.linalg.norm(detected[:, l_] - truth[:, r_], axis=-1) + np.linalg.norm(detected[:, r_] - truth[:, l_], axis=-1)
        apart = np.linalg.norm(truth[:, l_] - truth[:, r_], axis=-1) >= self.min_separation * scale[:, None]
        eligible = apart & np.isfinite(straight) & np.isfinite(crossed)
        swapped = eligible & (crossed < straight)
        state = np.zeros(len(truth), dtype=np.int64)
        decided = np.ones(len(truth), dtype=bool)
        for g in (0, 1):
            m = self.pair_group == g
            e = eligible[:, m]
            s = np.where(e, straight[:, m], 0.0).sum(axis=1)
            c = np.where(e, crossed[:, m], 0.0).sum(axis=1)
            decided &= e.any(axis=1)
            state += (1 << g) * (c < s)
        state[~decided] = -1
        return state, swapped, eligible

    def _apply_swaps(self, points: np.ndarray, states: np.ndarray) -> np.ndarray:
        """``points (T, J, 2)`` with the arms' and/or legs' left and right exchanged per ``states``."""
        out = np.array(points, dtype=np.float64, copy=True)
        for g in (0, 1):
            rows = (states & (1 << g)) > 0
            for l_, r_ in self.pairs[self.pair_group == g]:
                out[rows, l_], out[rows, r_] = points[rows, r_], points[rows, l_]
        return out

    def _error_scores(self, err: np.ndarray, bins: np.ndarray, j: int) -> np.ndarray:
        """``(N, 2)`` the Gaussian scores that :meth:`sample` maps onto the errors ``err (N, 2)``."""
        out = np.full(err.shape, np.nan)
        for bb in range(self.num_bins):
            m = (bins == bb) & np.all(np.isfinite(err), axis=-1)
            if not m.any():
                continue
            w = np.linalg.solve(self.chol[j, bb], (err[m] - self.bias[j, bb]).T).T
            radius = np.linalg.norm(w, axis=-1)
            u = np.clip(_radius_cdf(radius, self.radius_quantiles[j, bb]), 1e-6, 1 - 1e-6)
            g = np.sqrt(-2.0 * np.log1p(-u))  # the Rayleigh radius with that cumulative level
            out[m] = w / np.maximum(radius, 1e-12)[:, None] * g[:, None]
        return out

    # -----------------------------------------------------------------------------------------
    # sampling

    def sample(self, truth_2d: np.ndarray, rng: np.random.Generator, *, drops: bool = True, swaps: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
        """Detector-like keypoints for one clip.

        Args:
            truth_2d: ``(T, J, 2)`` exact pixels, finite, consecutive frames of one clip.
            rng: the random generator (the result depends on it alone).
            drops, swaps: draw dropped frames/joints and left/right confusions (noise always).

        Returns:
            ``noisy (T, J, 2)`` float32 pixels, NaN where dropped; ``confidence (T, J)`` float32,
            0 where dropped.
        """
        truth = _check_points("truth_2d", truth_2d, self.num_joints)
        if not np.all(np.isfinite(truth)):
            raise ArgumentError("{truth_2d} must be finite (exact 2D truth has no missing joints)", "truth_2d")
        if not isinstance(rng, np.random.Generator):
            raise ArgumentError(f"{{rng}} must be a numpy Generator, got {type(rng).__name__}", "rng")
        t, j = truth.shape[:2]
        scale = body_scale(truth)

        # confidences of the detections of each true joint (a Gaussian copula, AR(1) in time)
        u = ndtr(_ar1(rng, (t, j), self.confidence_rho))
        conf = np.stack([np.interp(u[:, k], CONFIDENCE_LEVELS, self.confidence_quantiles[k]) for k in range(j)], axis=1)
        bins = self.confidence_bin(conf)

        state = np.zeros(t, dtype=np.int64)
        if swaps and len(self.pairs):
            limb = self.confidence_bin(conf[:, self.pairs.ravel()].mean(axis=1))
            cum = np.cumsum(self.swap_transition, axis=-1)
            draw = rng.random(t)
            s = _stationary_draw(rng, self.swap_transition[limb[0]])
            for i in range(t):
                if i:
                    s = min(int(np.searchsorted(cum[limb[i], s], draw[i], side="right")), 3)
                state[i] = s

        z = _ar1(rng, (t, j, 2), np.repeat(self.error_rho[:, None], 2, axis=1))
        radius = np.linalg.norm(z, axis=-1)
        u = -np.expm1(-0.5 * radius**2)  # the Rayleigh cumulative level of each draw
        err = np.empty((t, j, 2))
        for k in range(j):
            for bb in range(self.num_bins):
                m = bins[:, k] == bb
                if not m.any():
                    continue
                r = np.interp(u[m, k], RADIUS_LEVELS, self.radius_quantiles[k, bb])
                d = z[m, k] / np.maximum(radius[m, k], 1e-12)[:, None]
                err[m, k] = self.bias[k, bb] + (d * r[:, None]) @ self.chol[k, bb].T
        # each joint's detection, then the confused ones handed to their twins
        noisy = self._apply_swaps(truth + err * scale[:, None, None], state)
        conf = self._apply_swaps(conf[..., None].repeat(2, axis=-1), state)[..., 0]

        if drops:
            dropped = _markov(rng, t, self.frame_drop)[:, None] | np.stack(
                [_markov(rng, t, self.joint_drop[k]) for k in range(j)], axis=1)
            noisy[dropped] = np.nan
            conf[dropped] = 0.0
        return noisy.astype(np.float32), conf.astype(np.float32)

    # -----------------------------------------------------------------------------------------
    # files

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as an ``.npz`` of plain arrays (atomically)."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        for k, v in arrays.items():  # float32 halves the file; float64 again on load
            if v.dtype == np.float64 and v.ndim and k not in ("bin_edges", "swap_transition", "frame_drop", "joint_drop"):
                arrays[k] = v.astype(np.float32)
        arrays["format_version"] = np.asarray(FORMAT_VERSION, dtype=np.int64)
        write_arrays(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DetectorNoise:
        """Read a model written by :meth:`save` (``np.load(allow_pickle=False)``)."""
        a = read_arrays(path)
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in a]
        if missing or int(a.get("format_version", -1)) != FORMAT_VERSION:
            raise Pose2RigError(f"{path}: not a detector noise model (version {FORMAT_VERSION}); "
                                f"missing {', '.join(missing) or 'nothing'}")
        kw = {n: a[n].astype(np.float64) if a[n].dtype.kind == "f" else a[n] for n in names if n != "min_separation"}
        model = cls(**kw, min_separation=float(a["min_separation"]))
        j, b = model.num_joints, model.num_bins
        if model.bias.shape != (j, b, 2) or model.radius_quantiles.shape != (j, b, len(RADIUS_LEVELS)) \
                or model.swap_transition.shape != (b, 4, 4) or model.confidence_quantiles.shape != (j, len(CONFIDENCE_LEVELS)):
            raise Pose2RigError(f"{path}: inconsistent detector noise model shapes")
        return model


# ---------------------------------------------------------------------------------------------
# helpers


def _replace(model: DetectorNoise, **kw: Any) -> DetectorNoise:
    from dataclasses import replace

    return replace(model, **kw)


def _check_points(name: str, x: object, joints: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != (joints, 2) or a.shape[0] < 1:
        raise ArgumentError(f"{{{name}}} must be (T, {joints}, 2), got {a.shape}", name)
    return a


def _clips(truth: np.ndarray | Sequence[np.ndarray], detected: np.ndarray | Sequence[np.ndarray],
           confidence: np.ndarray | Sequence[np.ndarray], joints: int
           ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    def listed(x: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        return [x] if isinstance(x, np.ndarray) and x.ndim in (2, 3) else list(x)

    tl, dl, cl = listed(truth), listed(detected), listed(confidence)
    if not (len(tl) == len(dl) == len(cl)) or not tl:
        raise ArgumentError("{truth_2d}, {detected_2d} and {confidence} must hold the same number of clips (at least one)",
                            "truth_2d", "detected_2d", "confidence")
    out_t, out_d, out_c = [], [], []
    for tr, de, co in zip(tl, dl, cl, strict=True):
        tr = _check_points("truth_2d", tr, joints)
        de = _check_points("detected_2d", de, joints)
        co = np.asarray(co, dtype=np.float64)
        if de.shape != tr.shape or co.shape != tr.shape[:2]:
            raise ArgumentError(f"{{detected_2d}} {de.shape} and {{confidence}} {co.shape} must match "
                                f"{{truth_2d}} {tr.shape}", "detected_2d", "confidence", "truth_2d")
        if not np.all(np.isfinite(tr)):
            raise ArgumentError("{truth_2d} must be finite (exact 2D truth has no missing joints)", "truth_2d")
        co = np.where(np.all(np.isfinite(de), axis=-1), np.clip(np.nan_to_num(co), 0.0, 1.0), 0.0)
        out_t.append(tr)
        out_d.append(de)
        out_c.append(co)
    return out_t, out_d, out_c


def _count_transitions(counts: np.ndarray, dropped: np.ndarray) -> None:
    d = np.asarray(dropped, dtype=np.int64)
    if len(d) > 1:
        np.add.at(counts, (d[:-1], d[1:]), 1)
    elif len(d) == 1:
        counts[0, d[0]] += 1


def _drop_rates(counts: np.ndarray) -> np.ndarray:
    """``[P(drop | kept), P(drop | dropped)]`` from transition counts (2, 2); unseen rows: 0, 0.5."""
    kept, dropped = counts.sum(axis=1)
    return np.array([counts[0, 1] / kept if kept else 0.0, counts[1, 1] / dropped if dropped else 0.5])


def _rows(counts: np.ndarray, default: np.ndarray) -> np.ndarray:
    n = counts.sum(axis=1, keepdims=True)
    return np.where(n > 0, counts / np.maximum(n, 1), default)


def _error_fit(e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias, Cholesky shape and Mahalanobis-radius quantiles of errors ``(N, 2)``."""
    bias = np.median(e, axis=0)
    d = e - bias
    r = np.linalg.norm(d, axis=-1)
    core = d[r <= np.quantile(r, CENTRAL)]
    cov = np.cov(core.T) if len(core) > 2 else np.eye(2) * max(float(np.mean(r**2)), 1e-12)
    cov = cov + np.eye(2) * max(1e-4 * np.trace(cov), 1e-12)
    chol = np.linalg.cholesky(cov)
    radius = np.linalg.norm(np.linalg.solve(chol, d.T), axis=0)
    return bias, chol, np.quantile(radius, RADIUS_LEVELS)


def _normal_scores(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Normal scores (mid-ranks) of ``values`` where ``valid``; NaN elsewhere."""
    out = np.full(len(values), np.nan)
    if valid.any():
        _, inverse, counts = np.unique(values[valid], return_inverse=True, return_counts=True)
        mid_rank = np.cumsum(counts) - 0.5 * (counts - 1)  # ties share their mean rank (1-based)
        out[valid] = ndtri(mid_rank[inverse] / (valid.sum() + 1.0))
    return out


def _radius_cdf(radius: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    q = np.maximum.accumulate(quantiles + np.arange(len(quantiles)) * 1e-12)  # strictly rising
    return np.interp(radius, q, RADIUS_LEVELS)


def _lag1(series: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Pooled lag-1 autocorrelation over clips, on consecutive frames both valid (0 if none)."""
    a, b = [], []
    for s, m in zip(series, masks, strict=True):
        s = np.asarray(s, dtype=np.float64)
        ok = m[:-1] & m[1:] & np.isfinite(s[:-1]) & np.isfinite(s[1:])
        a.append(s[:-1][ok])
        b.append(s[1:][ok])
    x, y = np.concatenate(a), np.concatenate(b)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.clip(np.corrcoef(x, y)[0, 1], 0.0, 0.999))


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: np.ndarray) -> np.ndarray:
    """Standard-normal AR(1) series along axis 0 with lag-1 correlation ``rho`` (broadcast to shape[1:])."""
    rho = np.broadcast_to(np.asarray(rho, dtype=np.float64), shape[1:])
    w = rng.standard_normal(shape)
    out = np.empty(shape)
    out[0] = w[0]
    keep = np.sqrt(1.0 - rho**2)
    for i in range(1, shape[0]):
        out[i] = rho * out[i - 1] + keep * w[i]
    return out


def _markov(rng: np.random.Generator, t: int, rates: np.ndarray) -> np.ndarray:
    """``(t,)`` bool two-state chain: P(on | off) = rates[0], P(on | on) = rates[1], started stationary."""
    p01, p11 = float(rates[0]), float(rates[1])
    on = p01 / max(p01 + 1.0 - p11, 1e-12)
    u = rng.random(t)
    out = np.empty(t, dtype=bool)
    state = bool(u[0] < on)
    out[0] = state
    for i in range(1, t):
        state = bool(u[i] < (p11 if state else p01))
        out[i] = state
    return out


def _stationary_draw(rng: np.random.Generator, transition: np.ndarray) -> int:
    p = np.full(4, 0.25)
    for _ in range(200):
        p = p @ transition
    p = np.clip(p, 0.0, None)
    return int(rng.choice(4, p=p / p.sum()))
