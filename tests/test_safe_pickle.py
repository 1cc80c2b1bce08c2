"""The restricted unpickler reads the community's pickled .npz files and runs none of their code."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.safe_pickle import load_npz, load_npz_object, loads


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _npz_with_object_payload(path: Path, key: str, payload: bytes) -> None:
    """An .npz whose member is an object-dtype .npy header followed by ``payload`` (a pickle)."""
    buf = bytearray()
    import io

    fh = io.BytesIO()
    np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": ()})
    buf += fh.getvalue() + payload
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{key}.npy", bytes(buf))


def test_round_trip_of_nested_dicts_of_arrays_as_videopose3d_writes_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = {"S1": {"Walking 1": rng.random((4, 32, 3), dtype=np.float32)},
            "S9": {"Eating": [rng.random((3, 17, 2)).astype(np.float32) for _ in range(4)]}}
    meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6], [1, 2, 3]], "name": "gt"}
    path = tmp_path / "d.npz"
    np.savez_compressed(path, positions=data, metadata=meta, plain=np.arange(6).reshape(2, 3))
    got = load_npz_object(path, "positions")
    assert np.array_equal(got["S1"]["Walking 1"], data["S1"]["Walking 1"])
    assert got["S1"]["Walking 1"].dtype == np.float32
    assert all(np.array_equal(a, b) for a, b in zip(got["S9"]["Eating"], data["S9"]["Eating"]))
    assert load_npz_object(path, "metadata") == meta
    assert np.array_equal(load_npz(path, keys=("plain",))["plain"], np.arange(6).reshape(2, 3))


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = pickle.dumps(np.array({"S1": _Evil(marker)}, dtype=object), protocol=3)
    path = tmp_path / "data_3d_h36m.npz"
    _npz_with_object_payload(path, "positions_3d", payload)
    with pytest.raises(Pose2RigError, match=r"posix\.system|nt\.system"):
        load_npz_object(path, "positions_3d")
    assert not marker.exists()
    # the payload is live: the ordinary unpickler would have run it
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("obj", [{1, 2}, pytest.param(Path("x"), id="pathlib"), bytearray(b"x"),
                                 pytest.param(eval, id="builtins.eval")])
def test_any_global_outside_the_allow_list_is_refused_by_name(obj: object) -> None:
    with pytest.raises(Pose2RigError, match="refusing to unpickle global"):
        loads(pickle.dumps(obj, protocol=2))


def test_numpy_1_and_2_names_and_protocol_2_bytes_are_admitted() -> None:
    arr = np.arange(5, dtype=np.float32)
    p2 = pickle.dumps({"a": arr, "s": np.float64(2.5)}, protocol=2)
    assert b"_codecs" in p2  # array bytes travel through _codecs.encode(..., "latin1")
    for old, new in ((b"numpy.core.", b"numpy._core."), (b"numpy._core.", b"numpy.core.")):
        got = loads(p2.replace(old, new))
        assert np.array_equal(got["a"], arr) and got["s"] == 2.5


def test_codecs_encode_is_limited_to_latin1() -> None:
    bad = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x06\x00\x00\x00rot_13\x86R."
    with pytest.raises(Pose2RigError, match="only latin1"):
        loads(bad)


def test_not_a_zip_and_missing_keys_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(Pose2RigError, match="not a readable .npz"):
        load_npz(tmp_path / "t.npz")
    np.savez(tmp_path / "k.npz", other=np.zeros(2))
    with pytest.raises(Pose2RigError, match="missing key.*positions_2d.*found other"):
        load_npz(tmp_path / "k.npz", keys=("positions_2d",))
