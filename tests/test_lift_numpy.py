"""The lifter in numpy (pose2rig/lift/numpy_infer.py): read without torch, equal to torch's to
float32 rounding, used by convert's path, and torch only where a model needs it."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.lift import Lifter, lift, load_lifter
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.numpy_infer import (
    NumpyDiscriminator,
    NumpyGenerator,
    load_lifter_numpy,
    normalise_h36m17,
    read_checkpoint,
)
from pose2rig.lift.plausibility import plausibility
from pose2rig.skeletons import MEDIAPIPE33, MEDIAPIPE33_TO_H36M17, map_points
from pose2rig.types import Keypoints2D

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "models" / "lifter_h36m17.pt"
VIDEO = REPO.parent / "shared" / "data" / "video"


def _close(got: np.ndarray, want: np.ndarray, rel: float = 1e-5) -> None:
    """Equal to float32 rounding: within ``rel`` of the values' scale (float32's epsilon is 1.2e-7;
    a 256-wide sum rounds at most a few hundred times that)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.max(np.abs(got[ok] - want[ok])) <= rel * (1.0 + np.max(np.abs(want[ok])))


@pytest.fixture(scope="module")
def squats() -> Keypoints2D:
    """BlazePose's own 2D landmarks of the real tfjs squats clip (720 x 1280, 5 fps)."""
    k2 = np.array(json.loads((VIDEO / "tfjs_pose_squats.full.json").read_text()), np.float32)
    t = len(k2)
    return Keypoints2D(k2[..., :2], np.ones((t, 33), np.float32), MEDIAPIPE33, (720, 1280), 5.0,
                       np.arange(t) / 5.0)


@pytest.fixture(scope="module")
def lifters() -> tuple[Lifter, Lifter]:
    fast = load_lifter_numpy(CHECKPOINT)
    assert fast is not None and fast.runs_without_torch
    return fast, load_lifter(CHECKPOINT)


def test_read_checkpoint_gives_torch_loads_values_exactly():
    ck = read_checkpoint(CHECKPOINT)
    ref = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert ck is not None and set(ck) == set(ref)

    def same(a, b) -> None:
        if isinstance(b, torch.Tensor):
            assert isinstance(a, np.ndarray) and a.dtype == b.numpy().dtype
            assert np.array_equal(a, b.numpy())
        elif isinstance(b, dict):
            assert isinstance(a, dict) and list(a) == list(b)
            for k in b:
                same(a[k], b[k])
        else:
            assert a == b and type(a) is type(b)

    for k in ref:
        same(ck[k], ref[k])


def test_read_checkpoint_maps_strided_and_offset_tensors(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    values = {"t": base.t(), "row": base[2], "col": base[:, 3], "scalar": base[1, 1], "i": torch.arange(5)}
    torch.save(values, tmp_path / "v.pt")
    got = read_checkpoint(tmp_path / "v.pt")
    assert got is not None
    for k, v in values.items():
        assert got[k].shape == tuple(v.shape) and np.array_equal(got[k], v.numpy())


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_read_checkpoint_runs_no_code_of_the_file(tmp_path):
    marker = tmp_path / "ran"
    p = tmp_path / "evil.pt"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"format": _Evil(marker)}, protocol=2))
        zf.writestr("archive/byteorder", "little")
    assert read_checkpoint(p) is None
    assert not marker.exists()
    assert load_lifter_numpy(p) is None  # left to torch.load(weights_only=True), which refuses it too
    with pytest.raises(Pose2RigError, match="corrupt or not a torch file"):
        load_lifter(p)


def test_foreign_files_get_load_lifters_errors(tmp_path):
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    assert load_lifter_numpy(text) is None and load_lifter_numpy(tmp_path / "missing.pt") is None
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something else", "w": torch.ones(3)}, foreign)
    with pytest.raises(Pose2RigError) as numpy_error:
        load_lifter_numpy(foreign)
    with pytest.raises(Pose2RigError) as torch_error:
        load_lifter(foreign)
    assert str(numpy_error.value) == str(torch_error.value) and "not a pose2rig lifter" in str(numpy_error.value)


def test_shipped_networks_equal_torchs_on_real_keypoints(lifters, squats):
    fast, ref = lifters
    kp, _ = map_points(squats.keypoints, squats.confidence, MEDIAPIPE33_TO_H36M17)
    xy_t = ref.joints.from_h36m17(torch.from_numpy(kp.astype(np.float32)))
    xy = normalise_h36m17(kp)
    _close(xy, xy_t.numpy(), rel=1e-6)
    with torch.no_grad():
        _close(fast.generator(xy), ref.generator(xy_t).numpy())
        _close(fast.discriminator(xy), ref.discriminator(xy_t).numpy())
    assert np.abs(ref.generator(xy_t).detach().numpy()).max() > 0.1  # a trained model, not zeros


def test_numpy_lifter_lifts_and_scores_as_torchs(lifters, squats):
    fast, ref = lifters
    ours, theirs = lift(squats, lifter=fast, height=1.7), lift(squats, lifter=ref, height=1.7)
    _close(ours.joints, theirs.joints)
    assert np.array_equal(ours.confidence, theirs.confidence)
    kp, _ = map_points(squats.keypoints, squats.confidence, MEDIAPIPE33_TO_H36M17)
    kp[3, 5] = np.nan  # a missing joint: a NaN row in both
    _close(fast.shapes_from_pixels(kp), ref.shapes_from_pixels(kp))
    for space in ("camera", "world"):
        _close(plausibility(ours.joints, fast, space=space), plausibility(ours.joints, ref, space=space), rel=1e-4)


@pytest.mark.parametrize("hold_root,two_class,use_kcs", [(True, False, True), (False, True, False)])
def test_model_variants_map_exactly(tmp_path, hold_root, two_class, use_kcs):
    """Random weights everywhere (the output layer too): a transposed or swapped layer shows."""
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.loop import lifter_checkpoint

    torch.manual_seed(0)
    gen = Generator(width=16, blocks=2, hold_root=hold_root)
    disc = Discriminator(width=16, blocks=1, two_class=two_class, use_kcs=use_kcs)
    with torch.no_grad():
        for p in (*gen.parameters(), *disc.parameters()):
            p.normal_(0.0, 0.3)
    p = tmp_path / "small.pt"
    torch.save(lifter_checkpoint(gen, disc, TrainConfig(width=16, blocks=2, d_width=16, d_blocks=1), step=0,
                                 metrics={}), p)
    fast = load_lifter_numpy(p)
    assert fast is not None and isinstance(fast.generator, NumpyGenerator)
    assert isinstance(fast.discriminator, NumpyDiscriminator)
    xy = torch.randn(40, 17, 2) * 0.05
    with torch.no_grad():
        _close(fast.generator(xy.numpy()), gen.eval()(xy).numpy())
        _close(fast.discriminator(xy.numpy()), disc.eval()(xy).numpy())
    px = xy.numpy() * 300.0 + 400.0
    _close(fast.shapes_from_pixels(px), load_lifter(p).shapes_from_pixels(px))


def test_other_models_fall_back_to_torch(tmp_path):
    from pose2rig.pipeline import cached_lifter
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.loop import lifter_checkpoint

    ck = lifter_checkpoint(Generator(width=16, blocks=1, norm="batch"), Discriminator(width=16, blocks=1),
                           TrainConfig(width=16, blocks=1, d_width=16, d_blocks=1), step=0, metrics={})
    p = tmp_path / "paper_norm.pt"
    torch.save(ck, p)
    assert load_lifter_numpy(p) is None
    lf = cached_lifter(p)
    assert isinstance(lf.generator, Generator) and not lf.runs_without_torch
    assert cached_lifter(CHECKPOINT).runs_without_torch


def test_convert_imports_no_torch(tmp_path):
    """convert on a second of the sample clip, in a fresh process: torch never imported, and the
    clean-up still scored every frame with the discriminator."""
    code = f"""
import sys
import numpy as np
from pose2rig.options import ConvertOptions, DetectOptions, Outputs
from pose2rig.pipeline import convert
r = convert({str(REPO / "samples" / "sports2d_demo.mp4")!r}, Outputs(bvh={str(tmp_path / "a.bvh")!r}),
            ConvertOptions(detect=DetectOptions(end=1.0, cache=False)), progress=False)
scores = r.cleanup.scores
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
print(int(np.isfinite(scores).sum()), len(scores))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    mods, counts = p.stdout.strip().splitlines()[-2:]
    assert mods == "[]"
    finite, total = (int(v) for v in counts.split())
    assert total >= 25 and finite >= 20  # the frames with someone in them (26 of 30)
    assert (tmp_path / "a.bvh").read_text().startswith("HIERARCHY")


_LIFT_DIGEST = """
import hashlib, json, sys
import numpy as np
from pose2rig.lift import lift
from pose2rig.lift.numpy_infer import load_lifter_numpy
from pose2rig.types import Keypoints2D
k2 = np.array(json.loads(open(sys.argv[1]).read()), np.float32)
from pose2rig.skeletons import MEDIAPIPE33
t = len(k2)
kp = Keypoints2D(k2[..., :2], np.ones((t, 33), np.float32), MEDIAPIPE33, (720, 1280), 5.0, np.arange(t) / 5.0)
seq = lift(kp, lifter=load_lifter_numpy(), height=1.7)
print(hashlib.sha256(np.ascontiguousarray(seq.joints).tobytes()).hexdigest())
"""


def test_the_numpy_lifter_writes_the_same_bits_on_one_blas_thread_as_on_two():
    """A batch worker (one BLAS thread) and convert (as many as cores) must write the same BVH:
    OpenBLAS's float32 products differ in their last bits between thread counts."""
    digests = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        run = subprocess.run([sys.executable, "-c", _LIFT_DIGEST, str(VIDEO / "tfjs_pose_squats.full.json")],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout.strip().splitlines()[-1])
    assert len(digests) == 1
