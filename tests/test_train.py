"""Adversarial training: losses move, checkpoints load, resume continues exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.lift import codec, load_lifter
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.projection import back_project, random_projection
from pose2rig.train import TrainConfig, train
from pose2rig.train.data import PoseViews, mirror_poses, subject_of
from pose2rig.train.losses import discriminator_loss, symmetry_loss
from pose2rig.skeletons import H36M17

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIPS = (DATA / "cmu_iclone" / "002_03.bvh", DATA / "cmu_iclone" / "007_12.bvh")


def _config(tmp_path: Path, name: str, **kw) -> TrainConfig:
    base = dict(
        data=CLIPS, val_subject=7, out=tmp_path / name / "lifter.pt", run_dir=tmp_path / name,
        steps=12, batch=32, width=16, blocks=1, d_width=16, d_blocks=1, checkpoint_every=6,
        val_poses=60, seed=3, threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_subject_from_file_names():
    assert subject_of(Path("007_03.bvh")) == 7
    assert subject_of(Path("scaled_131_01.bvh")) == 131
    assert subject_of(Path("fairmotion_01_01.bvh")) == 1
    assert subject_of(Path("walk.bvh")) is None


def test_config_round_trips_through_plain_values_and_checks_device():
    c = TrainConfig(steps=5, width=64)
    plain = c.to_plain()
    assert all(v is None or isinstance(v, (str, int, float, list)) for v in plain.values())
    assert TrainConfig.from_plain(plain) == c
    with pytest.raises(Pose2RigError, match="device"):
        TrainConfig(device="tpu")


def test_mirror_swaps_sides_and_twice_is_identity():
    j = torch.randn(3, 17, 3)
    m = mirror_poses(j)
    assert torch.allclose(m[:, H36M17.index("left_knee"), 0], -j[:, H36M17.index("right_knee"), 0])
    assert torch.equal(mirror_poses(m), j)


def test_symmetry_loss_is_zero_for_mirror_symmetric_bones():
    j = torch.randn(2, 17, 3)
    sym = 0.5 * (j + mirror_poses(j))  # a left/right symmetric pose
    assert symmetry_loss(sym).item() == pytest.approx(0.0, abs=1e-10)
    assert symmetry_loss(j).item() > 0.01


@pytest.mark.slow
def test_discriminator_learns_to_reject_flat_poses():
    """With the generator at its flat start, a few D steps lower D's loss."""
    from pose2rig.io.mocap import load_bvh_as_h36m17

    torch.manual_seed(0)
    views = PoseViews(load_bvh_as_h36m17(CLIPS[0]).joints[::4])
    g = torch.Generator().manual_seed(0)
    gen, disc = Generator(width=16, blocks=1), Discriminator(width=32, blocks=1)
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(100):
        x, real = views.sample(64, g), views.sample(64, g)
        with torch.no_grad():
            fake, _ = random_projection(back_project(x, gen(x)), generator=g)
            fake = codec.normalise_torch(fake)
        loss = discriminator_loss(disc(real), disc(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        assert np.isfinite(losses[-1])
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.05


@pytest.mark.slow
def test_train_writes_curves_and_a_loadable_lifter(tmp_path):
    cfg = _config(tmp_path, "run")
    out = train(cfg, progress=False)
    assert out == cfg.out
    lifter = load_lifter(out)
    assert lifter.generator.width == 16 and lifter.meta["step"] in (6, 12)
    assert np.isfinite(lifter.meta["metrics"]["p_mpjpe"])
    ck = torch.load(out, weights_only=True)
    assert set(ck["discriminator_state"]) and ck["codec"] == codec.constants()
    rows = list(csv.DictReader(open(cfg.run_dir / "curves.csv")))
    assert [int(r["step"]) for r in rows] == [6, 12]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss_d", "loss_g", "val_p_mpjpe_mm"))
    assert (cfg.run_dir / "curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    whole = _config(tmp_path, "whole")
    train(whole, progress=False)
    part = _config(tmp_path, "part", steps=6)
    train(part, progress=False)
    train(_config(tmp_path, "part"), progress=False)  # same run_dir, 12 steps: resumes at 6
    a = torch.load(whole.run_dir / "checkpoint.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    for key in ("generator_state", "discriminator_state"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"
    assert [r["loss_d"] for r in a["rows"]] == [r["loss_d"] for r in b["rows"]]
    # and a fresh start (resume=False) from the same seed gives the same weights again
    train(_config(tmp_path, "part"), resume=False, progress=False)
    c = torch.load(part.run_dir / "checkpoint.pt", weights_only=True)
    assert torch.equal(c["generator_state"]["net.out.weight"], a["generator_state"]["net.out.weight"])


def test_train_rejects_missing_data(tmp_path):
    with pytest.raises(Pose2RigError, match="not found"):
        train(_config(tmp_path, "x", data=(tmp_path / "none",)), progress=False)
