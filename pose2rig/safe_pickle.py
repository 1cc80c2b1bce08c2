"""Read pickled ``.npz`` files (the community's Human3.6M files) without running their code.

``np.load(allow_pickle=True)`` would hand the file's pickle to Python's full unpickler, which can
call any function a file names (``os.system`` through ``__reduce__``). This module opens the zip
itself, reads each ``.npy`` member's header with numpy's header parser (a literal, no code), and
unpickles object payloads with :class:`RestrictedUnpickler`, which admits only:

- plain containers and scalars (dict, list, tuple, str, bytes, int, float, bool, None: pickle
  opcodes that name no global),
- the globals numpy needs to rebuild arrays, dtypes and scalars (``numpy.ndarray``,
  ``numpy.dtype``, ``numpy.core.multiarray._reconstruct`` / ``scalar``,
  ``numpy.core.numeric._frombuffer``; also under their numpy 2 names ``numpy._core.*``),
- ``_codecs.encode`` with the ``latin1`` encoding only (protocol-2 pickles store bytes that way).

Any other global (a class, a function) raises :class:`Pose2RigError` naming it, before it is
called. Only a path the caller passes is read.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from pose2rig.errors import Pose2RigError

MAX_HEADER = 10_000


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to the one use protocol-2 pickles make of it."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise Pose2RigError(
            f"refusing _codecs.encode({type(obj).__name__}, {encoding!r}): only latin1 text is allowed"
        )
    return obj.encode("latin1")


def _allowed() -> dict[tuple[str, str], Any]:
    try:  # numpy 2
        from numpy._core import multiarray, numeric  # type: ignore[attr-defined]  # numpy 2 only
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]  # numpy 1 fallback
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy.core", "numpy._core"):
        table[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct  # type: ignore[attr-defined]  # private, not in numpy's stubs
        table[(f"{mod}.multiarray", "scalar")] = multiarray.scalar  # type: ignore[attr-defined]  # private, not in numpy's stubs
        if hasattr(numeric, "_frombuffer"):
            table[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


_ALLOWED = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in this module's allow-list.

    ``source`` names the file in error messages.
    """

    def __init__(self, file: io.BufferedIOBase, *, source: str = "pickle") -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise Pose2RigError(
                f"{self.source}: refusing to unpickle global {module}.{name}; only numpy arrays and "
                "plain containers (dict, list, tuple, str, numbers) are allowed"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise Pose2RigError(f"{self.source}: refusing a pickle with persistent ids")


def loads(data: bytes, *, source: str = "pickle") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`."""
    return _load(io.BytesIO(data), source)


def _load(fh: Any, source: str) -> Any:
    try:
        return RestrictedUnpickler(fh, source=source).load()
    except Pose2RigError:
        raise
    except Exception as e:
        raise Pose2RigError(f"{source}: damaged pickle ({type(e).__name__}: {e})") from None


def _read_member(zf: zipfile.ZipFile, member: str, source: str) -> np.ndarray:
    with zf.open(member) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=MAX_HEADER)  # type: ignore[call-arg]  # numpy's stubs lack it
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=MAX_HEADER)  # type: ignore[call-arg]  # numpy's stubs lack it
        except ValueError as e:
            raise Pose2RigError(f"{source}: not a .npy array ({e})") from None
        if dtype.hasobject:
            arr = _load(fh, source)
            if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
                raise Pose2RigError(f"{source}: pickled payload is not the {shape} array its header announces")
            return arr
    with zf.open(member) as fh:
        try:
            return np.lib.format.read_array(fh, allow_pickle=False)
        except ValueError as e:
            raise Pose2RigError(f"{source}: unreadable array ({e})") from None


def load_npz(path: str | os.PathLike[str], *, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` file, unpickling object arrays safely.

    Args:
        path: the file (a zip of ``.npy`` members, as ``np.savez`` writes).
        keys: read only these members (all when None); a missing one raises naming those there.

    Returns:
        ``{key: array}``; an object array holding one pickled dict comes back as a 0-d object
        array (``arr.item()`` is the dict), exactly as ``np.load`` would give it.
    """
    from pose2rig.io.npz import check_npz_file

    p = check_npz_file(path)
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
            wanted = tuple(members) if keys is None else keys
            missing = [k for k in wanted if k not in members]
            if missing:
                raise Pose2RigError(
                    f"{p}: missing key(s) {', '.join(missing)}; found {', '.join(sorted(members)) or 'none'}"
                )
            return {k: _read_member(zf, members[k], f"{p}[{k}]") for k in wanted}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise Pose2RigError(f"{p}: not a readable .npz file ({e})") from None


def load_npz_object(path: str | os.PathLike[str], key: str) -> Any:
    """The one Python object stored under ``key`` (a 0-d object array, e.g. a dict)."""
    arr = load_npz(path, keys=(key,))[key]
    if arr.dtype.hasobject and arr.shape == ():
        return arr.item()
    return arr
