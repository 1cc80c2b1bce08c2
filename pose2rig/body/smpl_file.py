"""Read an SMPL-family model file (SMPL, SMPL-H, SMPL-X) into numpy arrays, without chumpy,
without smplx and without running the file's code.

The model files cannot ship with pose2rig (their license): users register at
https://smpl.is.tue.mpg.de and pass the file or its folder. Three layouts are read:

- the official ``.pkl`` (``SMPL_NEUTRAL.pkl``, ``basicmodel_m_lbs_10_207_0_v1.1.0.pkl``, ...):
  a Python 2 pickle (protocol 2, byte strings that only decode as latin1) of a dict whose
  ``shapedirs`` (and in some files other arrays) is a ``chumpy.ch.Ch`` object and whose
  ``J_regressor`` is a ``scipy.sparse.csc_matrix``. chumpy no longer imports on current Python,
  and a pickle may name any function, so it is read with :class:`SmplUnpickler`: pose2rig's
  :class:`~pose2rig.safe_pickle.RestrictedUnpickler` (numpy arrays and plain containers) plus
  exactly the globals these files hold, each resolved to a stand-in that only stores its
  pickled state: ``chumpy.ch.Ch`` (its value ``x`` becomes a numpy array), ``scipy.sparse``'s
  ``csc_matrix`` / ``csr_matrix`` (rebuilt dense with numpy after checking its indices), and
  ``set`` (chumpy's ``_dirty_vars``). Any other global is refused before it is called.
- an ``.npz`` of the same arrays (``np.load(allow_pickle=False)``; ``J_regressor`` dense);
- a folder laid out as smplx expects: ``FOLDER/smpl/SMPL_NEUTRAL.pkl`` (or ``FOLDER/SMPL_...``),
  ``.pkl`` before ``.npz``, the file picked by ``gender`` and ``model_type``.

Convention:
    ``V`` vertices, ``J`` joints (24 SMPL, 52 SMPL-H, 55 SMPL-X), ``S`` shape directions,
    ``P = 9 (J - 1)`` pose-corrective directions. Metres, the model's own axes (Y up, the body
    facing +Z). Float arrays come back float64, index arrays int64. ``J_regressor`` is dense.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.safe_pickle import RestrictedUnpickler

__all__ = [
    "OBTAIN_SMPL",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SmplArrays",
    "SmplUnpickler",
    "find_smpl_file",
    "read_smpl_model",
]

OBTAIN_SMPL = (
    "SMPL model files do not ship with pose2rig: register at https://smpl.is.tue.mpg.de, download "
    "SMPL_NEUTRAL.pkl (or SMPL_MALE / SMPL_FEMALE) and pass its path or its folder"
)
"""The sentence every error about a missing or wrong model file ends with."""

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
"""SMPL's 24 joints in its own order (the subject's left)."""

SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64
)
"""``(24,)`` SMPL's kinematic tree (``kintree_table[0]`` with -1 for the root)."""

REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
KINDS = {24: "smpl", 52: "smplh", 55: "smplx"}
GENDERS = ("neutral", "male", "female")
FILE_PREFIX = {"smpl": "SMPL", "smplh": "SMPLH", "smplx": "SMPLX"}


@dataclass(frozen=True)
class SmplArrays:
    """An SMPL-family model as numpy arrays (see the module's Convention).

    Attributes:
        v_template: ``(V, 3)`` rest vertices.
        shapedirs: ``(V, 3, S)`` shape blend directions (SMPL-X: betas then expression).
        posedirs: ``(V, 3, P)`` pose-corrective directions.
        J_regressor: ``(J, V)`` dense: rest joints = ``J_regressor @ vertices``.
        weights: ``(V, J)`` skinning weights.
        kintree_table: ``(2, J)`` int: row 0 the parents (entry 0 is the root's, unused), row 1
            the joint ids.
        f: ``(F, 3)`` int triangles.
        kind: ``"smpl"``, ``"smplh"`` or ``"smplx"`` (from ``J``).
        source: where the arrays came from (for messages).
        vertex_ids: landmark name -> vertex index in smplx's ``vertex_ids`` vocabulary
            (``nose``, ``lear``, ``LHeel``, ``lindex``, ...) when the file carries its own
            (``vertex_id_names`` / ``vertex_id_indices``; pose2rig's synthetic test model
            does), else None: the real models' ids are smplx's.
        extras: the file's other numeric arrays (SMPL-H/X: ``hands_componentsl``,
            ``hands_meanl``, ``lmk_faces_idx``, ``lmk_bary_coords``, ...).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    kintree_table: np.ndarray
    f: np.ndarray
    kind: str = "smpl"
    source: str = ""
    vertex_ids: dict[str, int] | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def parents(self) -> np.ndarray:
        """``(J,)`` int64, -1 for the root."""
        p = self.kintree_table[0].astype(np.int64).copy()
        p[0] = -1
        return p

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.J_regressor.shape[0])

    @property
    def num_shape(self) -> int:
        return int(self.shapedirs.shape[2])

    def arrays(self) -> dict[str, np.ndarray]:
        """The model as ``{name: array}`` in the files' vocabulary (what an ``.npz`` holds)."""
        out = {k: getattr(self, k) for k in REQUIRED}
        out.update(self.extras)
        if self.vertex_ids is not None:
            names = sorted(self.vertex_ids)
            out["vertex_id_names"] = np.array(names)
            out["vertex_id_indices"] = np.array([self.vertex_ids[n] for n in names], dtype=np.int64)
        return out


# --- the stand-ins the restricted unpickler hands out -------------------------------------

class _ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch``: keeps the value ``x`` of its pickled state, nothing else.

    chumpy pickles a ``Ch`` as ``NEWOBJ(Ch)`` then ``BUILD`` with its ``__dict__`` less the
    weak references: ``{'x': ndarray, '_dirty_vars': set, '_itr': None, '_depends_on_deps':
    {}, '_make_dense': False, '_make_sparse': False}``.
    """

    __slots__ = ("value",)

    def __setstate__(self, state: Any) -> None:
        x = state.get("x") if isinstance(state, dict) else None
        if not isinstance(x, np.ndarray) or x.dtype.hasobject:
            raise Pose2RigError("a chumpy object in the pickle holds no numeric array 'x'")
        self.value = x


class _SparseMatrix:
    """Stand-in for ``scipy.sparse``'s compressed matrices: keeps the pickled state (``data``,
    ``indices``, ``indptr`` and the shape: old scipy ``_shape``, very old ``shape``) and rebuilds
    the matrix dense with numpy after checking every index."""

    __slots__ = ("state",)
    compressed_columns = True

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise Pose2RigError("a sparse matrix in the pickle has no state dict")
        self.state = state

    def toarray(self) -> np.ndarray:
        s = self.state
        shape = s.get("_shape", s.get("shape"))
        data, indices, indptr = s.get("data"), s.get("indices"), s.get("indptr")
        if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape)
                and isinstance(data, np.ndarray) and isinstance(indices, np.ndarray) and isinstance(indptr, np.ndarray)
                and all(a.ndim == 1 and a.dtype.kind in "biuf" for a in (data, indices, indptr))):
            raise Pose2RigError("a sparse matrix in the pickle lacks its shape, data, indices or indptr")
        rows, cols = int(shape[0]), int(shape[1])
        n_outer, n_inner = (cols, rows) if self.compressed_columns else (rows, cols)
        indptr = indptr.astype(np.int64)
        indices = indices.astype(np.int64)
        if (indptr.shape[0] != n_outer + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
                or indptr[-1] != indices.shape[0] or data.shape[0] != indices.shape[0]
                or (indices.size and (indices.min() < 0 or indices.max() >= n_inner))):
            raise Pose2RigError(f"a sparse {rows}x{cols} matrix in the pickle has inconsistent indices")
        dense = np.zeros((n_outer, n_inner), dtype=np.float64)
        outer = np.repeat(np.arange(n_outer), np.diff(indptr))
        np.add.at(dense, (outer, indices), data.astype(np.float64))
        return dense.T.copy() if self.compressed_columns else dense


class _CscMatrix(_SparseMatrix):
    __slots__ = ()
    compressed_columns = True


class _CsrMatrix(_SparseMatrix):
    __slots__ = ()
    compressed_columns = False


# Exactly the globals the official files hold beyond numpy's: chumpy's array (and ``set``, which
# its state contains: Python 2 names the module ``__builtin__``, which a find_class override sees
# untranslated), and scipy.sparse's matrix under its Python 2 module path and the current one
# (files re-saved by the community's clean-up scripts).
_SMPL_GLOBALS: dict[tuple[str, str], Any] = {
    ("chumpy.ch", "Ch"): _ChumpyArray,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("scipy.sparse.csc", "csc_matrix"): _CscMatrix,
    ("scipy.sparse._csc", "csc_matrix"): _CscMatrix,
    ("scipy.sparse.csr", "csr_matrix"): _CsrMatrix,
    ("scipy.sparse._csr", "csr_matrix"): _CsrMatrix,
}


class SmplUnpickler(RestrictedUnpickler):
    """:class:`~pose2rig.safe_pickle.RestrictedUnpickler` (latin1) that also admits the
    globals of an official SMPL ``.pkl``, each as a stand-in that only stores state."""

    def find_class(self, module: str, name: str) -> Any:
        obj = _SMPL_GLOBALS.get((module, name))
        if obj is not None:
            return obj
        try:
            return super().find_class(module, name)
        except Pose2RigError:
            raise Pose2RigError(
                f"{self.source}: refusing to unpickle global {module}.{name}: an SMPL model file "
                "holds only numpy arrays, chumpy arrays and a scipy.sparse regressor"
            ) from None


def _plain(value: Any) -> Any:
    """Stand-ins -> numpy arrays."""
    if isinstance(value, _ChumpyArray):
        return value.value
    if isinstance(value, _SparseMatrix):
        return value.toarray()
    return value


def _read_pkl(p: Path) -> dict[str, Any]:
    try:
        with open(p, "rb") as fh:
            obj = SmplUnpickler(fh, source=str(p)).load()
    except Pose2RigError:
        raise
    except Exception as e:
        raise Pose2RigError(f"{p}: not an SMPL model file (unreadable pickle: {type(e).__name__}); {OBTAIN_SMPL}") from None
    if not isinstance(obj, dict):
        raise Pose2RigError(f"{p}: not an SMPL model file (the pickle holds a {type(obj).__name__}, not a dict); {OBTAIN_SMPL}")
    return {str(k): _plain(v) for k, v in obj.items()}


def _read_npz(p: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with np.load(p, allow_pickle=False) as data:
            for k in data.files:
                try:
                    out[k] = data[k]
                except ValueError:  # an object member (SMPL-X's joint2num): not needed, not read
                    if k in REQUIRED:
                        raise Pose2RigError(f"{p}: '{k}' is a pickled object, not a numeric array; {OBTAIN_SMPL}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise Pose2RigError(f"{p}: not a readable .npz file ({e}); {OBTAIN_SMPL}") from None
    return out


def _as(a: Any, name: str, src: str, ndim: int, dtype: type) -> np.ndarray:
    arr: np.ndarray | None
    try:
        arr = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != ndim or (dtype is np.float64 and not np.all(np.isfinite(arr))):
        raise Pose2RigError(f"{src}: not an SMPL model file ('{name}' is not a finite {ndim}-d numeric array); {OBTAIN_SMPL}")
    return arr


def _to_arrays(d: dict[str, Any], src: str) -> SmplArrays:
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise Pose2RigError(f"{src}: not an SMPL model file (missing {', '.join(missing)}); {OBTAIN_SMPL}")
    v = _as(d["v_template"], "v_template", src, 2, np.float64)
    sd = _as(d["shapedirs"], "shapedirs", src, 3, np.float64)
    pd = _as(d["posedirs"], "posedirs", src, 3, np.float64)
    jr = _as(d["J_regressor"], "J_regressor", src, 2, np.float64)
    w = _as(d["weights"], "weights", src, 2, np.float64)
    kt = _as(d["kintree_table"], "kintree_table", src, 2, np.int64)
    f = _as(d["f"], "f", src, 2, np.int64)
    nv, nj = v.shape[0], jr.shape[0]
    problems = []
    if v.shape[1] != 3:
        problems.append(f"v_template {v.shape}, expected (V, 3)")
    if sd.shape[:2] != (nv, 3):
        problems.append(f"shapedirs {sd.shape}, expected ({nv}, 3, S)")
    if pd.shape != (nv, 3, 9 * (nj - 1)):
        problems.append(f"posedirs {pd.shape}, expected ({nv}, 3, {9 * (nj - 1)})")
    if jr.shape[1] != nv:
        problems.append(f"J_regressor {jr.shape}, expected (J, {nv})")
    if w.shape != (nv, nj):
        problems.append(f"weights {w.shape}, expected ({nv}, {nj})")
    if kt.shape != (2, nj):
        problems.append(f"kintree_table {kt.shape}, expected (2, {nj})")
    if f.shape[1:] != (3,) or (f.size and (f.min() < 0 or f.max() >= nv)):
        problems.append(f"f {f.shape} with indices up to {f.max() if f.size else '-'}, expected (F, 3) below {nv}")
    if nj not in KINDS:
        problems.append(f"{nj} joints, expected 24 (SMPL), 52 (SMPL-H) or 55 (SMPL-X)")
    if not problems:
        parents = kt[0, 1:]
        if np.any(parents < 0) or np.any(parents >= np.arange(1, nj)):
            problems.append("kintree_table: each joint's parent must come before it")
    if problems:
        raise Pose2RigError(f"{src}: not an SMPL model file ({'; '.join(problems)}); {OBTAIN_SMPL}")
    vertex_ids = None
    if "vertex_id_names" in d and "vertex_id_indices" in d:
        names = np.asarray(d["vertex_id_names"]).astype(str)
        idx = _as(d["vertex_id_indices"], "vertex_id_indices", src, 1, np.int64)
        if names.shape != idx.shape or (idx.size and (idx.min() < 0 or idx.max() >= nv)):
            raise Pose2RigError(f"{src}: vertex_id_names / vertex_id_indices do not match; {OBTAIN_SMPL}")
        vertex_ids = {str(n): int(i) for n, i in zip(names, idx)}
    skip = set(REQUIRED) | {"vertex_id_names", "vertex_id_indices"}
    extras = {k: np.asarray(a) for k, a in d.items()
              if k not in skip and isinstance(a, np.ndarray) and a.dtype.kind in "biuf"}
    return SmplArrays(v, sd, pd, jr, w, kt, f, kind=KINDS[nj], source=src, vertex_ids=vertex_ids,
                      extras=extras)


def find_smpl_file(path: str | os.PathLike[str], *, gender: str = "neutral", model_type: str = "smpl") -> Path:
    """The model file that ``path`` names: itself when a file, else in a folder laid out as
    smplx expects (``path/smpl/SMPL_NEUTRAL.pkl``, ``path/SMPL_NEUTRAL.pkl``, then ``.npz``)."""
    if gender not in GENDERS:
        raise ArgumentError(f"{{gender}} must be one of {', '.join(GENDERS)}, got {gender!r}", "gender")
    if model_type not in FILE_PREFIX:
        raise ArgumentError(f"{{model_type}} must be one of {', '.join(FILE_PREFIX)}, got {model_type!r}", "model_type")
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        name = f"{FILE_PREFIX[model_type]}_{gender.upper()}"
        tried = [p / sub / f"{name}.{ext}" for ext in ("pkl", "npz") for sub in (model_type, ".")]
        for c in tried:
            if c.is_file():
                return c
        raise Pose2RigError(f"{p}: no {name}.pkl or {name}.npz in it or in {p / model_type}; {OBTAIN_SMPL}")
    raise Pose2RigError(f"{p}: no such SMPL model file or folder; {OBTAIN_SMPL}")


def read_smpl_model(path: str | os.PathLike[str], *, gender: str = "neutral", model_type: str = "smpl") -> SmplArrays:
    """Read an SMPL-family model from an official ``.pkl``, an ``.npz`` or a folder.

    Args:
        path: the file, or a folder laid out as smplx expects (see :func:`find_smpl_file`).
        gender: ``"neutral"``, ``"male"`` or ``"female"``: which file of a folder.
        model_type: ``"smpl"``, ``"smplh"`` or ``"smplx"``: which file of a folder.

    Returns:
        :class:`SmplArrays`. Raises :class:`~pose2rig.errors.Pose2RigError` in one line saying
        where to obtain the model when the file is missing or not an SMPL model; a pickle that
        names any global outside the SMPL files' own is refused before anything is called.
    """
    p = find_smpl_file(path, gender=gender, model_type=model_type)
    with open(p, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        d = _read_npz(p)
    elif head[:1] == pickle.PROTO or head[:1] in (b"(", b"}", b"c"):
        d = _read_pkl(p)
    else:
        raise Pose2RigError(f"{p}: not an SMPL model file (neither a pickle nor an .npz); {OBTAIN_SMPL}")
    return _to_arrays(d, str(p))
