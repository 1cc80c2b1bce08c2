"""SMPLify's Gaussian-mixture pose prior (issue 14), when the user supplies the mixture.

The prior is the file ``gmm_08.pkl`` of SMPLify's download (also shipped by SPIN and others;
non-commercial license, never shipped with pose2rig): a Python 2 pickle of a dict with
``means (K, D)``, ``covars (K, D, D)`` and ``weights (K,)`` numpy arrays, a mixture of ``K = 8``
Gaussians over SMPL's body pose (``D = 69``: the 23 non-root joints' axis-angle, the global
orientation excluded). An ``.npz`` with the same keys is read too.

The negative log-likelihood is SMPLify's max-mixture approximation, as smplify-x writes it
(github.com/vchoutas/smplify-x, ``smplifyx/prior.py``, ``MaxMixturePrior.__init__`` and
``merged_log_likelihood``; SPIN's ``smplify/prior.py`` is the same code)::

    nll(x) = min_k  0.5 (x - mu_k)^T P_k (x - mu_k) - log(nll_weight_k)
    nll_weight_k = w_k / ((2 pi)^(D/2) * sqrt(det C_k) / min_j sqrt(det C_j))

with ``P_k = C_k^-1``; so the constant of component ``k`` is ``-log w_k + D/2 log(2 pi) +
0.5 log det C_k - 0.5 min_j log det C_j`` (the last term is SMPLify's normalisation: it shifts
every component alike, and the minimum over components does not change). Log-determinants are
taken with ``slogdet`` (``log(det)`` of a 69 x 69 covariance of small variances underflows in
float32, which smplify-x guards with an epsilon).

Convention:
    - ``pose_body``: ``(B, D)`` or ``(B, D / 3, 3)`` axis-angle radians, joints ``1 .. D / 3`` of
      a body model whose joints are SMPL's in SMPL's order (local rotations in world-aligned
      rest axes, pose2rig's and SMPL's convention: no axis change), the root's excluded.
    - Output ``(B,)`` the negative log-likelihood (nats, up to SMPLify's constant), differentiable.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.safe_pickle import RestrictedUnpickler

__all__ = ["GMM_KEYS", "GmmPrior", "GmmUnpickler", "load_gmm_prior"]

GMM_KEYS = ("means", "covars", "weights")
"""The arrays of a pose-prior file."""

OBTAIN_GMM = ("SMPLify's pose prior gmm_08.pkl comes with SMPLify's download (smplify.is.tue.mpg.de, "
              "non-commercial license); pose2rig does not ship it")


class GmmPrior(torch.nn.Module):
    """SMPLify's max-mixture pose prior (see the module doc).

    Args:
        means: ``(K, D)`` component means.
        covars: ``(K, D, D)`` component covariances, symmetric positive definite.
        weights: ``(K,)`` mixture weights, positive, summing to 1.

    Attributes (buffers, float32): ``means (K, D)``, ``precisions (K, D, D)``, ``constants (K,)``
    (``-log(nll_weight_k)``, SMPLify's); ``dim`` = D, ``num_joints`` = D / 3.

    Raises:
        Pose2RigError: shapes, symmetry, definiteness or weights that a mixture does not have.
    """

    means: torch.Tensor  # buffers (registered in __init__)
    precisions: torch.Tensor
    constants: torch.Tensor

    def __init__(self, means: np.ndarray, covars: np.ndarray, weights: np.ndarray, *, source: str = "GMM") -> None:
        super().__init__()
        mu, cov, w = _checked(means, covars, weights, source)
        d = mu.shape[1]
        logdet = np.linalg.slogdet(cov)[1]
        const = -np.log(w) + 0.5 * d * np.log(2 * np.pi) + 0.5 * (logdet - logdet.min())
        self.dim = d
        self.num_joints = d // 3
        self.register_buffer("means", torch.as_tensor(mu, dtype=torch.float32))
        self.register_buffer("precisions", torch.as_tensor(np.linalg.inv(cov), dtype=torch.float32))
        self.register_buffer("constants", torch.as_tensor(const, dtype=torch.float32))

    def forward(self, pose_body: torch.Tensor) -> torch.Tensor:
        """``(B,)`` negative log-likelihood of ``pose_body (B, D)`` or ``(B, D / 3, 3)``."""
        x = pose_body.reshape(pose_body.shape[0], -1) if pose_body.ndim == 3 else pose_body
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ArgumentError(f"{{pose_body}} must be (B, {self.dim}) or (B, {self.num_joints}, 3), got "
                                f"{tuple(pose_body.shape)}", "pose_body")
        diff = x[:, None, :] - self.means.to(x.dtype)  # (B, K, D)
        quad = torch.einsum("bki,kij,bkj->bk", diff, self.precisions.to(x.dtype), diff)
        return (0.5 * quad + self.constants.to(x.dtype)).min(dim=1).values

    def check_model(self, model: Any) -> None:
        """Raise unless ``model``'s pose is what the prior covers: ``J = D / 3 + 1`` joints, the
        root first, the others SMPL's in SMPL's order (an SMPL model for SMPLify's 69)."""
        from pose2rig.body.smpl_file import SMPL_JOINT_NAMES

        names = tuple(model.joint_names)
        j = self.num_joints + 1
        parents = np.asarray(model.parents)
        if len(names) != j or parents[0] >= 0 or names[1:] != SMPL_JOINT_NAMES[1:j]:
            raise ArgumentError(
                f"{{pose_prior}} is a mixture over the {self.num_joints} non-root joints of SMPL ({self.dim} "
                f"values); the {model.kind} model's pose has {len(names) - 1} non-root joints"
                + ("" if len(names) != j else " in another order"), "pose_prior")


def _checked(means: Any, covars: Any, weights: Any, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    want = "means (K, D), covars (K, D, D) symmetric positive definite, weights (K,) summing to 1"
    try:
        mu = np.asarray(means, dtype=np.float64)
        cov = np.asarray(covars, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise Pose2RigError(f"{source}: a pose prior needs numeric arrays {want}") from None
    if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1:
        raise Pose2RigError(f"{source}: means must be (K, D), got {mu.shape}; a pose prior holds {want}")
    k, d = mu.shape
    if cov.shape != (k, d, d) or w.shape != (k,):
        raise Pose2RigError(f"{source}: with means {mu.shape}, covars must be {(k, d, d)} and weights {(k,)}, "
                            f"got {cov.shape} and {w.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(cov).all() and np.isfinite(w).all()):
        raise Pose2RigError(f"{source}: the mixture holds NaN or infinite values")
    if (w <= 0).any() or abs(w.sum() - 1.0) > 1e-3:
        raise Pose2RigError(f"{source}: weights must be positive and sum to 1, got sum {w.sum():.6g}")
    scale = np.abs(cov).max(axis=(1, 2), keepdims=True)
    if (np.abs(cov - np.swapaxes(cov, 1, 2)) > 1e-6 * scale + 1e-12).any():
        raise Pose2RigError(f"{source}: covars must be symmetric")
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise Pose2RigError(f"{source}: covars must be positive definite") from None
    return mu, cov, w


class GmmUnpickler(RestrictedUnpickler):
    """:class:`~pose2rig.safe_pickle.RestrictedUnpickler` narrowed to what ``gmm_08.pkl`` holds:
    numpy arrays (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``;
    numpy 2 spells the first ``numpy._core``), ``_codecs.encode`` for latin1 bytes (a Python 3
    protocol-2 re-save writes them so), and builtins that name no global."""

    ALLOWED = frozenset({
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise Pose2RigError(f"{self.source}: refusing to unpickle global {module}.{name}; a pose prior "
                                "holds numpy arrays in a dict only")
        return super().find_class(module, name)


def load_gmm_prior(path: str | os.PathLike[str]) -> GmmPrior:
    """Read a pose prior: SMPLify's ``gmm_08.pkl`` (a Python 2 pickle, read with
    :class:`GmmUnpickler`, latin1) or an ``.npz`` of the same arrays (``allow_pickle=False``).

    Raises:
        Pose2RigError: a missing file, another extension, a pickle naming anything but numpy
            arrays (nothing in it runs), missing keys, arrays a mixture does not have; one line
            saying what was expected.
    """
    p = Path(path)
    if not p.is_file():
        raise ArgumentError(f"{{pose_prior}} {p} does not exist; {OBTAIN_GMM}", "pose_prior")
    suffix = p.suffix.lower()
    if suffix == ".pkl":
        try:
            data: Any = GmmUnpickler(io.BytesIO(p.read_bytes()), source=str(p)).load()
        except Pose2RigError:
            raise
        except Exception as e:
            raise Pose2RigError(f"{p}: not a readable pose-prior pickle ({type(e).__name__}: {e})") from None
        if not isinstance(data, dict):
            raise Pose2RigError(f"{p}: a pose prior is a dict with {', '.join(GMM_KEYS)}, got a {type(data).__name__}")
        data = {str(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in data.items()}
    elif suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files if k in GMM_KEYS}
        except (ValueError, OSError, EOFError) as e:
            raise Pose2RigError(f"{p}: not a readable .npz of {', '.join(GMM_KEYS)} ({e})") from None
    else:
        raise ArgumentError(f"{{pose_prior}} {p} must be a .pkl (SMPLify's gmm_08.pkl) or an .npz, got "
                            f"{suffix or 'no extension'!r}", "pose_prior")
    missing = [k for k in GMM_KEYS if k not in data]
    if missing:
        raise Pose2RigError(f"{p}: a pose prior needs {', '.join(GMM_KEYS)}; missing {', '.join(missing)}")
    for k in GMM_KEYS:
        if not isinstance(data[k], np.ndarray) or data[k].dtype.hasobject:
            raise Pose2RigError(f"{p}: {k} must be a numeric array, got {type(data[k]).__name__}")
    return GmmPrior(data["means"], data["covars"], data["weights"], source=str(p))
