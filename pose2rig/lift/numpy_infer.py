"""The shipped lifter's inference in numpy: no torch import on ``convert``'s path.

The bundled lifter (:class:`pose2rig.lift.model.Generator` and
:class:`~pose2rig.lift.model.Discriminator` with ``norm="none"`` and LeakyReLU 0.2: residual MLPs
256 wide) is a handful of matrix multiplies; importing torch to run them cost about 4 s of a 18 s
``convert`` (bench/convert_speed.py). This module reads the checkpoint's tensors without torch and
runs the same forward passes in float32 numpy:

- :func:`read_checkpoint`: torch's zip checkpoint format (``archive/data.pkl``, a pickle whose
  tensors are persistent ids of raw little-endian storages ``archive/data/<key>``) through a
  restricted unpickler that admits only ``collections.OrderedDict``,
  ``torch._utils._rebuild_tensor_v2`` (mapped to a numpy view of the storage) and the storage
  types of plain number dtypes; any other global, a big-endian file or a legacy (non-zip) file
  gives ``None``, and the caller loads the file with torch instead.
- :class:`NumpyGenerator`, :class:`NumpyDiscriminator`: the forward passes of ``model.py`` for
  ``norm="none"``, LeakyReLU; :func:`load_lifter_numpy` builds a :class:`pose2rig.lift.Lifter`
  around them, or returns ``None`` for a model of another kind (batch-normalised, ReLU, the
  paper's 14 joints), which then runs through torch.

The results equal torch's to float32 rounding (tests/test_lift_numpy.py): the same operations in
the same order, in float32, with only the matrix multiplies' summation order left to the BLAS.

Convention:
    - Generator: normalised h36m17 2D poses ``(B, 17, 2)`` float32 -> depth offsets ``(B, 17)``
      float32, the root's held at 0 (``hold_root``).
    - Discriminator: normalised 2D poses ``(B, 17, 2)`` float32 -> logits ``(B,)`` float32.
    - Normalisation (:func:`normalise_h36m17`): :func:`pose2rig.lift.codec.normalise_torch` in
      float32, pixel axes (x right, y down), root = pelvis (0), head = joint 10.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pose2rig.lift import codec
from pose2rig.skeletons import H36M17

if TYPE_CHECKING:
    from pose2rig.lift.infer import Lifter

log = logging.getLogger(__name__)

_SLOPE = np.float32(0.2)
_KCS_SCALE = np.float32(100.0)  # Discriminator.kcs_scale

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _Unsupported(Exception):
    """The file holds something this reader does not map: load it with torch."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` as a numpy copy of the storage's elements."""
    if not isinstance(storage, np.ndarray) or not all(
        isinstance(v, int) for v in (offset, *size, *stride)
    ):
        raise _Unsupported("tensor arguments")
    shape, strides = tuple(size), tuple(stride)
    if len(shape) != len(strides) or offset < 0 or any(s < 0 for s in (*shape, *strides)):
        raise _Unsupported("tensor shape")
    if 0 not in shape:  # the last element it reads lies inside the storage
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= storage.size:
            raise _Unsupported("tensor outside its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=shape, strides=tuple(s * storage.itemsize for s in strides), writeable=False,
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


class _CheckpointUnpickler(pickle.Unpickler):
    """Resolves only the globals a state-dict checkpoint of plain values names."""

    def __init__(self, data: bytes, storages: Any) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise _Unsupported(f"global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)):
            raise _Unsupported(f"persistent id {pid!r:.60}")
        return self._storages(pid[2], pid[1].dtype, pid[4])


def read_checkpoint(path: str | Path) -> dict | None:
    """The checkpoint at ``path`` as plain values with numpy arrays for its tensors, read without
    torch; ``None`` where the file is not a zip-format torch file of plain values and number
    tensors (then ``torch.load(weights_only=True)`` reads it, or says why not)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkl) != 1:
                return None
            prefix = pkl[0][: -len("data.pkl")]
            if f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder").strip() != b"little":
                return None
            cache: dict[str, np.ndarray] = {}

            def storage(key: str, dtype: np.dtype, numel: Any) -> np.ndarray:
                if key not in cache:
                    raw = zf.read(f"{prefix}data/{key}")
                    arr = np.frombuffer(raw, dtype=dtype)
                    if not isinstance(numel, int) or arr.size != numel:
                        raise _Unsupported(f"storage {key} size")
                    cache[key] = arr
                return cache[key]

            ck = _CheckpointUnpickler(zf.read(pkl[0]), storage).load()
    except (_Unsupported, OSError, zipfile.BadZipFile, KeyError, pickle.UnpicklingError, ValueError,
            TypeError, EOFError, AttributeError, IndexError) as e:
        log.debug("%s: not readable without torch (%s)", path, e)
        return None
    return ck if isinstance(ck, dict) else None


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x * _SLOPE)  # LeakyReLU(0.2): x for x >= 0, 0.2 x below


class _NumpyResMLP:
    """``_ResMLP(norm="none", activation="leaky_relu")``'s forward from its state-dict arrays.

    Computed in float64 and returned in float32: OpenBLAS's float32 products change in their last
    bits with its thread count (a convert run on 2 threads and a batch worker on one wrote BVHs
    that differed), while float64 products rounded to float32 came out the same on 1 and 2
    threads; within float32 rounding of torch's forward either way."""

    def __init__(self, state: dict[str, np.ndarray], prefix: str, n_in: int, width: int, blocks: int,
                 n_out: int, *, in_scale: float = 1.0) -> None:
        def linear(name: str, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
            w, b = state.get(f"{prefix}{name}.weight"), state.get(f"{prefix}{name}.bias")
            if not isinstance(w, np.ndarray) or not isinstance(b, np.ndarray) or w.shape != (fan_out, fan_in) \
                    or b.shape != (fan_out,):
                raise _Unsupported(f"{prefix}{name} shape")
            return np.ascontiguousarray(w.T, dtype=np.float64), b.astype(np.float64)

        expected = {f"{prefix}inp.weight", f"{prefix}inp.bias", f"{prefix}out.weight", f"{prefix}out.bias"}
        expected |= {f"{prefix}blocks.{i}.fc{k}.{p}" for i in range(blocks) for k in (1, 2)
                     for p in ("weight", "bias")}
        if {k for k in state if k.startswith(prefix)} != expected:
            raise _Unsupported("state dict keys")
        self.inp = linear("inp", n_in, width)
        self.blocks = [(linear(f"blocks.{i}.fc1", width, width), linear(f"blocks.{i}.fc2", width, width))
                       for i in range(blocks)]
        self.out = linear("out", width, n_out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w, b = self.inp
        h = np.asarray(x, dtype=np.float64) @ w + b
        for (w1, b1), (w2, b2) in self.blocks:
            h = h + ((_leaky(_leaky(h) @ w1 + b1)) @ w2 + b2)
        w, b = self.out
        return (_leaky(h) @ w + b).astype(np.float32)


def _supported(spec: Any, joints: int) -> bool:
    return (isinstance(spec, dict) and spec.get("norm", "none") == "none"
            and spec.get("activation", "leaky_relu") == "leaky_relu" and spec.get("n_joints") == joints
            and isinstance(spec.get("width"), int) and isinstance(spec.get("blocks"), int))


class NumpyGenerator:
    """:class:`pose2rig.lift.model.Generator` (``norm="none"``, LeakyReLU) in numpy, inference only:
    normalised 2D poses ``(B, J, 2)`` float32 -> depth offsets ``(B, J)`` float32."""

    def __init__(self, spec: dict, state: dict[str, np.ndarray]) -> None:
        if not _supported(spec, H36M17.num_joints):
            raise _Unsupported("generator kind")
        self.n_joints, self.width, self.blocks = int(spec["n_joints"]), int(spec["width"]), int(spec["blocks"])
        self.hold_root = bool(spec.get("hold_root", True))
        self.net = _NumpyResMLP(state, "net.", 2 * self.n_joints, self.width, self.blocks, self.n_joints)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        x = np.asarray(xy, dtype=np.float32).reshape(len(xy), -1) * np.float32(codec.DEPTH)
        o = self.net(x)
        return o - o[:, :1] if self.hold_root else o


class NumpyDiscriminator:
    """:class:`pose2rig.lift.model.Discriminator` (``norm="none"``, LeakyReLU) in numpy, inference
    only: normalised 2D poses ``(B, J, 2)`` float32 -> logits ``(B,)`` float32."""

    def __init__(self, spec: dict, state: dict[str, np.ndarray]) -> None:
        if not _supported(spec, H36M17.num_joints):
            raise _Unsupported("discriminator kind")
        parents = spec.get("parents")
        self.parents = tuple(int(p) for p in parents) if parents is not None else H36M17.parents
        if len(self.parents) != spec["n_joints"]:
            raise _Unsupported("discriminator parents")
        self.n_joints, self.width, self.blocks = int(spec["n_joints"]), int(spec["width"]), int(spec["blocks"])
        self.use_kcs, self.two_class = bool(spec.get("use_kcs", True)), bool(spec.get("two_class", False))
        self._child = [i for i, p in enumerate(self.parents) if p >= 0]
        self._par = [self.parents[i] for i in self._child]
        nb = len(self._child)
        self._iu = np.triu_indices(nb)  # row by row, as torch.triu_indices
        n_in = 2 * self.n_joints + (len(self._iu[0]) if self.use_kcs else 0)
        self.net = _NumpyResMLP(state, "net.", n_in, self.width, self.blocks, 2 if self.two_class else 1)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float32)
        x = xy.reshape(len(xy), -1) * np.float32(codec.DEPTH)
        if self.use_kcs:
            bones = xy[:, self._child] - xy[:, self._par]
            gram = bones @ bones.transpose(0, 2, 1)
            x = np.concatenate([x, gram[:, self._iu[0], self._iu[1]] * _KCS_SCALE], axis=-1)
        y = self.net(x)
        return y[:, 1] - y[:, 0] if self.two_class else y[:, 0]


def normalise_h36m17(kp2d: np.ndarray, *, d: float = codec.DEPTH) -> np.ndarray:
    """:func:`pose2rig.lift.codec.normalise_torch` in float32 numpy: h36m17 2D poses ``(B, 17, 2)``
    -> normalised ``(B, 17, 2)`` float32 (the scale clamped at 1e-8 as there, NaN stays NaN)."""
    kp = np.asarray(kp2d, dtype=np.float32)
    rel = kp - kp[..., codec.ROOT : codec.ROOT + 1, :]
    head = np.linalg.norm(rel[..., codec.HEAD, :], axis=-1)
    rms = np.sqrt(np.mean(np.sum(rel**2, axis=-1), axis=-1))
    scale = np.maximum(np.maximum(head, np.float32(codec.MIN_HEAD_RATIO) * rms), np.float32(1e-8))
    return rel / (np.float32(d) * scale[..., None, None])


def load_lifter_numpy(
    path: str | Path | None = None, *, mirror: bool = True, rolls: tuple[float, ...] = codec.DEFAULT_ROLLS,
) -> Lifter | None:
    """:func:`pose2rig.lift.load_lifter`'s lifter with numpy networks (:class:`NumpyGenerator`,
    :class:`NumpyDiscriminator`), read without importing torch; ``None`` where the checkpoint is
    not one that this module runs exactly (another model kind or joint set, a file torch must read):
    then call :func:`~pose2rig.lift.load_lifter`, which also gives the one-line errors of a missing,
    corrupt or foreign file.
    """
    from pose2rig.lift.infer import Lifter, check_checkpoint, default_checkpoint

    p = Path(path) if path is not None else default_checkpoint()
    if not p.is_file():
        return None
    ck = read_checkpoint(p)
    if ck is None:
        return None
    check_checkpoint(ck, p)  # the same errors as load_lifter for a foreign or mismatched file
    if ck.get("skeleton") != H36M17.name:
        return None
    try:
        gen = NumpyGenerator(ck["generator"], ck["generator_state"])
        disc = None
        if "discriminator" in ck and "discriminator_state" in ck:
            disc = NumpyDiscriminator(ck["discriminator"], ck["discriminator_state"])
    except (_Unsupported, KeyError, TypeError, ValueError) as e:
        log.debug("%s: lifter runs through torch (%s)", p, e)
        return None
    cc = ck.get("codec", {})
    meta = {k: ck.get(k) for k in ("config", "step", "metrics", "train_seconds")}
    return Lifter(gen, d=float(cc.get("depth", codec.DEPTH)), meta=meta, mirror=mirror, joints=H36M17.name,
                  rolls=rolls, discriminator=disc)


__all__ = ["NumpyDiscriminator", "NumpyGenerator", "load_lifter_numpy", "normalise_h36m17", "read_checkpoint"]
