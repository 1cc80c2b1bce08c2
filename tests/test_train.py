"""Adversarial training: losses move, checkpoints load, resume continues exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.io.mocap import subject_of
from pose2rig.lift import codec, load_lifter
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.projection import back_project, random_projection
from pose2rig.skeletons import H36M17
from pose2rig.train import TrainConfig, train
from pose2rig.train.data import PoseViews, mirror_poses
from pose2rig.train.loop import Trainer
from pose2rig.train.losses import discriminator_loss, symmetry_loss

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
def test_written_generator_is_the_moving_average_of_the_trained_one(tmp_path):
    """--ema: best.pt holds the averaged weights (not the trained ones); --ema 0 the trained ones."""
    cfg = _config(tmp_path, "ema", steps=6, checkpoint_every=6, ema=0.5)
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    trained = trainer.gen.state_dict()["net.out.weight"]
    averaged = trainer.gen_ema.module.state_dict()["net.out.weight"]
    assert not torch.equal(trained, averaged)
    written = torch.load(cfg.out, weights_only=True)["generator_state"]["net.out.weight"]
    assert torch.equal(written, averaged)
    off = _config(tmp_path, "plain", steps=6, checkpoint_every=6, ema=0.0)
    trainer = Trainer(off, progress=False)
    trainer.run()
    assert trainer.gen_ema is None
    assert torch.equal(torch.load(off.out, weights_only=True)["generator_state"]["net.out.weight"],
                       trainer.gen.state_dict()["net.out.weight"])
    with pytest.raises(Pose2RigError, match=r"^ema must be in \[0, 1\)"):  # the argument, not a flag
        _config(tmp_path, "bad", ema=1.0)


@pytest.mark.slow
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    whole = _config(tmp_path, "whole", ema=0.5)  # the moving average must resume exactly too
    train(whole, progress=False)
    part = _config(tmp_path, "part", steps=6, ema=0.5)
    train(part, progress=False)
    train(_config(tmp_path, "part", ema=0.5), progress=False)  # same run_dir, 12 steps: resumes at 6
    a = torch.load(whole.run_dir / "checkpoint.pt", weights_only=True)
    b = torch.load(part.run_dir / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    for key in ("generator_state", "discriminator_state", "generator_ema_state"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"
    assert [r["loss_d"] for r in a["rows"]] == [r["loss_d"] for r in b["rows"]]
    # and a fresh start (resume=False) from the same seed gives the same weights again
    train(_config(tmp_path, "part", ema=0.5), resume=False, progress=False)
    c = torch.load(part.run_dir / "checkpoint.pt", weights_only=True)
    assert torch.equal(c["generator_state"]["net.out.weight"], a["generator_state"]["net.out.weight"])


def test_train_rejects_missing_data(tmp_path):
    with pytest.raises(Pose2RigError, match="not found"):
        train(_config(tmp_path, "x", data=(tmp_path / "none",)), progress=False)


# ---------------------------------------------------------------- presets, sources, objectives

def test_presets_fill_only_what_is_not_given():
    d, p = TrainConfig(), TrainConfig(preset="paper")
    assert (d.width, d.blocks, d.batch, d.lr_g, d.lr_d, d.norm, d.d_kcs, d.joints) == (
        256, 2, 256, 5e-4, 1e-3, "none", "on", "h36m17")
    assert (p.width, p.blocks, p.d_width, p.d_blocks, p.batch, p.lr_g, p.lr_d) == (1024, 4, 1024, 3, 32768, 2e-4, 2e-4)
    assert (p.norm, p.activation, p.d_output, p.joints, p.symmetry_weight, p.real_label) == (
        "batch", "relu", "two_class", "paper14", 0.0, 1.0)
    o = TrainConfig(preset="paper", width=64, symmetry_weight=0.1, bone_ratio_weight=0.5)
    assert (o.width, o.blocks, o.symmetry_weight, o.bone_ratio_weight) == (64, 4, 0.1, 0.5)
    assert TrainConfig.from_plain(o.to_plain()) == o
    with pytest.raises(Pose2RigError, match="preset"):
        TrainConfig(preset="huge")  # type: ignore[arg-type]
    with pytest.raises(Pose2RigError, match="supervised needs 3D"):
        TrainConfig(objective="supervised", source="keypoints", keypoints=(Path("k.npz"),))


def test_shipped_checkpoint_config_and_models_still_load():
    ck = torch.load(Path(__file__).resolve().parents[1] / "models" / "lifter_h36m17.pt", weights_only=True)
    cfg = TrainConfig.from_plain(ck["config"])  # written before presets existed
    assert cfg.preset == "default" and cfg.width == ck["generator"]["width"] and cfg.joints == "h36m17"
    gen = Generator.from_spec(ck["generator"])
    gen.load_state_dict(ck["generator_state"])
    disc = Discriminator.from_spec(ck["discriminator"])
    disc.load_state_dict(ck["discriminator_state"])
    assert gen.hold_root and disc.use_kcs and not disc.two_class


def test_cli_preset_with_explicit_override(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import pose2rig.train.loop as loop
    from pose2rig.cli import cli

    seen = {}

    def fake_train(config, **kw):
        seen["config"] = config
        return config.out

    monkeypatch.setattr(loop, "train", fake_train)
    res = CliRunner().invoke(cli, ["train", "--preset", "paper", "--width", "64", "--bone-ratio-weight", "0.3",
                                   "--out", str(tmp_path / "x.pt"), "--quiet"])
    assert res.exit_code == 0, res.output
    c = seen["config"]
    assert (c.preset, c.width, c.blocks, c.batch, c.norm, c.bone_ratio_weight) == ("paper", 64, 4, 32768, "batch", 0.3)


@pytest.mark.parametrize("name", ["h36m17", "paper14"])
def test_supervised_depth_targets_rebuild_the_true_pose(name):
    """Back-projecting the ground-truth offsets gives the filmed pose to a few mm (the model's
    own perspective approximation); the constant-depth pose is ~100 mm off."""
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.lift.joints import joint_set
    from pose2rig.train.loop import evaluate_generator
    from pose2rig.train.sources import depth_targets

    js = joint_set(name)
    views = PoseViews(load_bvh_as_h36m17(CLIPS[0]).joints[::4], joint_set=js)
    px, cam = views.sample_3d(300, torch.Generator().manual_seed(1))
    xy, target = depth_targets(px, cam, js)
    assert torch.allclose(xy, js.normalise(px))
    if js.root_is_joint:
        assert target[:, 0].abs().max() < 1e-4

    class Oracle(torch.nn.Module):  # a "generator" that knows the answer
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return target[: len(x)] + 0 * self.w

    full = torch.zeros(300, 17, 2)  # evaluate_generator takes h36m17 pixels: rebuild them
    full[:, list(js.indices)] = px
    full_cam = torch.ones(300, 17, 3)
    full_cam[:, list(js.indices)] = cam
    m = evaluate_generator(Oracle(), js, full.numpy(), full_cam.numpy(), mirror=False, rolls=(0.0,))
    assert m["p_mpjpe"] < 0.012
    zero = evaluate_generator(Generator(n_joints=js.n_joints, width=8, blocks=0, hold_root=js.root_is_joint),
                              js, full.numpy(), full_cam.numpy())
    assert zero["p_mpjpe"] > 0.06


@pytest.mark.slow
def test_paper_preset_builds_full_size_and_steps(tmp_path):
    cfg = _config(tmp_path, "paper", preset="paper", batch=48, steps=2, checkpoint_every=2,
                  width=None, blocks=None, d_width=None, d_blocks=None)
    out = train(cfg, progress=False)
    ck = torch.load(out, weights_only=True)
    assert ck["skeleton"] == "paper14" and len(ck["joint_names"]) == 14
    assert ck["generator"]["width"] == 1024 and ck["generator"]["blocks"] == 4
    assert ck["discriminator"]["blocks"] == 3 and ck["discriminator"]["two_class"]
    gen = Generator.from_spec(ck["generator"])
    gen.load_state_dict(ck["generator_state"])
    assert not gen.hold_root and any("bn" in k for k in ck["generator_state"])
    assert np.isfinite(ck["metrics"]["p_mpjpe"])


@pytest.mark.slow
def test_supervised_training_beats_constant_depth(tmp_path):
    cfg = _config(tmp_path, "sup", objective="supervised", steps=150, batch=64, width=64, blocks=1,
                  checkpoint_every=150, val_poses=300, lr_g=2e-3)
    train(cfg, progress=False)
    rows = list(csv.DictReader(open(cfg.run_dir / "curves.csv")))
    ck = torch.load(cfg.out, weights_only=True)
    from pose2rig.evaluate import evaluate_lifter, synthetic_views
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.lift.infer import Lifter

    val = synthetic_views([load_bvh_as_h36m17(CLIPS[1]).joints], seed=1234, max_poses=300)
    const = evaluate_lifter(Lifter.constant_depth(), *val)["p_mpjpe"]
    assert float(rows[-1]["val_p_mpjpe_mm"]) < 0.8 * 1000 * const
    assert np.isfinite(float(rows[-1]["loss_g"])) and rows[-1]["loss_d"] == "nan"
    assert ck["step"] == 150


@pytest.mark.slow
def test_keypoint_sets_and_h36m_plug_in_as_sources(tmp_path):
    """B's sources through build_source: keypoint sets (adversarial, in paper14) and Human3.6M
    (supervised, needs 3D), mixed precision on cpu (bfloat16), bone-ratio loss on."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from _h36m_fake import write_fake_h36m

    from pose2rig.evaluate import synthetic_views
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.io.npz import save_keypoints
    from pose2rig.types import Keypoints2D

    px, _ = synthetic_views([load_bvh_as_h36m17(CLIPS[0]).joints[::4]], seed=0)
    px = px + 500.0
    kp = Keypoints2D(keypoints=px, confidence=np.ones(px.shape[:2], np.float32), skeleton=H36M17,
                     image_size=(1000, 1000), fps=30.0, timestamps=np.arange(len(px)) / 30.0)
    save_keypoints(tmp_path / "clip.npz", kp)
    cfg = _config(tmp_path, "kp", source="keypoints", keypoints=(tmp_path / "clip.npz",), joints="paper14",
                  steps=3, checkpoint_every=3, precision="mixed", bone_ratio_weight=1.0)
    train(cfg, progress=False)
    rows = list(csv.DictReader(open(cfg.run_dir / "curves.csv")))
    assert all(np.isfinite(float(rows[-1][k])) for k in ("loss_d", "loss_g", "loss_ratio", "val_p_mpjpe_mm"))

    h = write_fake_h36m(tmp_path / "h36m", frames=20)
    cfg = _config(tmp_path, "h36m", source="h36m", objective="supervised", h36m_3d=h["3d"],
                  h36m_cameras=h["cameras"], h36m_subjects=("S1", "S5"), steps=3, checkpoint_every=3)
    train(cfg, progress=False)
    assert torch.load(cfg.out, weights_only=True)["config"]["source"] == "h36m"


def test_learning_rates_decay_exponentially_to_lr_final(tmp_path):
    c = _config(tmp_path, "decay", lr_final=0.01)
    train(c, progress=False)
    ck = torch.load(c.run_dir / "checkpoint.pt", weights_only=True)
    factor = 0.01 ** (11 / 12)  # the last of 12 steps ran at step index 11
    assert ck["opt_g"]["param_groups"][0]["lr"] == pytest.approx(c.lr_g * factor)
    assert ck["opt_d"]["param_groups"][0]["lr"] == pytest.approx(c.lr_d * factor)
    flat = _config(tmp_path, "flat")
    train(flat, progress=False)
    ck = torch.load(flat.run_dir / "checkpoint.pt", weights_only=True)
    assert ck["opt_g"]["param_groups"][0]["lr"] == pytest.approx(flat.lr_g)
    with pytest.raises(Pose2RigError, match="lr_final"):
        _config(tmp_path, "bad", lr_final=0.0)


@pytest.mark.slow
def test_paper14_checkpoints_load_and_evaluate_on_their_14_joints(tmp_path):
    """A paper-preset (14-joint, mid-hip root) checkpoint loads for evaluation: pose2rig eval
    scores it and the constant-depth baseline on the 14 joints; lifting a video refuses it."""
    from pose2rig.evaluate import evaluate_checkpoints, evaluate_lifter, synthetic_views
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.lift import Lifter, lift
    from pose2rig.types import Keypoints2D

    cfg = _config(tmp_path, "p14", preset="paper", batch=48, steps=4, checkpoint_every=4, width=32, blocks=1,
                  d_width=32, d_blocks=1)
    out = train(cfg, progress=False)
    lifter = load_lifter(out)
    assert lifter.joint_set_name == "paper14" and lifter.joints.n_joints == 14
    px, gt = synthetic_views([load_bvh_as_h36m17(CLIPS[1]).joints], seed=1, max_poses=200)
    shapes = lifter.shapes_from_pixels(px)
    assert shapes.shape == (len(px), 14, 3) and np.all(np.isfinite(shapes))
    js = lifter.joints
    assert np.allclose(shapes[:, list(js.root)].mean(axis=1), 0.0, atol=1e-9)  # mid-hip at the origin
    m = evaluate_lifter(lifter, px, gt)
    base = evaluate_lifter(Lifter.constant_depth(joints="paper14"), px, gt)
    assert np.isfinite(m["p_mpjpe"]) and base["p_mpjpe"] > 0.01
    report = evaluate_checkpoints(checkpoint=out, data=(CLIPS[1],), frame_step=20)
    assert report["joints"]["set"] == "paper14" and report["joints"]["root"] == ["right_hip", "left_hip"]
    row = report["rows"][-1]
    assert set(row["metrics"]) == {"lifter", "constant_depth"}
    assert all(np.isfinite(v) for v in row["metrics"]["lifter"].values())
    with pytest.raises(Pose2RigError, match="compare lifters of one joint set"):
        evaluate_checkpoints(checkpoint=out, reference=Path(__file__).parents[1]
                             / "models" / "lifter_h36m17.pt", data=(CLIPS[1],), frame_step=20)
    kp = Keypoints2D(keypoints=px[:3].astype(np.float32), confidence=np.ones((3, 17), np.float32),
                     skeleton=H36M17, image_size=(1000, 1000), fps=30.0, timestamps=np.arange(3) / 30.0)
    with pytest.raises(Pose2RigError, match="paper14"):
        lift(kp, lifter=lifter)


def test_balance_poses_drops_repeats_whatever_the_heading_and_keeps_order():
    from pose2rig.geometry import euler_to_matrix
    from pose2rig.testing import TPOSE_H36M17
    from pose2rig.train.data import balance_poses

    base = TPOSE_H36M17
    bent = base.copy()
    bent[H36M17.index("left_elbow")] += [0.0, 0.25, 0.0]  # a different pose: the arm up,
    bent[H36M17.index("left_wrist")] += [0.0, 0.55, 0.0]  # 4.7 cm per joint on average
    turned = base @ euler_to_matrix(np.array([0.0, 1.1, 0.0]), "XYZ").T + [2.0, 0.0, 1.0]
    near = base + 0.002  # a few mm off: a repeat
    bank = np.stack([base, turned, bent, near, base]).astype(np.float32)
    kept = balance_poses(bank, threshold=0.03)
    assert len(kept) == 2
    np.testing.assert_array_equal(kept[0], bank[0])
    np.testing.assert_array_equal(kept[1], bank[2])
    assert len(balance_poses(bank, threshold=0.0)) == 5


# ---------------------------------------------------------------- the shipped lifter stays; runs say what they lack

def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_defaults_into_the_run_folder_and_data_has_no_default(tmp_path):
    assert TrainConfig().out == Path("runs/lifter/lifter.pt") and TrainConfig().data == ()
    assert TrainConfig(run_dir=tmp_path / "r").out == tmp_path / "r" / "lifter.pt"
    assert TrainConfig(out=tmp_path / "x.pt").out == tmp_path / "x.pt"


def test_mocap_training_without_data_stops_before_any_work(tmp_path):
    from pose2rig.errors import ArgumentError

    with pytest.raises(ArgumentError, match="source mocap needs data"):
        train(TrainConfig(run_dir=tmp_path / "run", steps=2), progress=False)
    assert not (tmp_path / "run").exists()


def test_no_validation_poses_is_an_error_before_training(tmp_path):
    from pose2rig.errors import ArgumentError

    cfg = _config(tmp_path, "noval", data=(DATA / "cmu" / "scaled_131_01.bvh", CLIPS[0]), val_subject=7)
    with pytest.raises(ArgumentError, match=r"no validation poses: data holds no clip of subject 7 \(val_subject\); "
                                            r"subjects found: 2, 131"):
        train(cfg, progress=False)
    assert not cfg.run_dir.exists()


def test_the_shipped_lifter_is_replaced_only_when_forced(tmp_path, monkeypatch):
    from pose2rig.errors import ArgumentError
    from pose2rig.lift import infer

    shipped = infer.default_checkpoint()
    before = _tree_bytes(shipped.parent)
    with pytest.raises(ArgumentError, match="is the shipped lifter; training would replace it.*force"):
        train(_config(tmp_path, "ship", out=shipped), progress=False)
    assert _tree_bytes(shipped.parent) == before and not (tmp_path / "ship").exists()

    fake = tmp_path / "models" / "lifter_h36m17.pt"  # a stand-in for the shipped file, reached by another path
    fake.parent.mkdir()
    fake.write_bytes(b"shipped")
    monkeypatch.setattr(infer, "default_checkpoint", lambda: fake)
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, "forced", out=Path("models") / ".." / "models" / "lifter_h36m17.pt", steps=2,
                  checkpoint_every=2)
    with pytest.raises(ArgumentError, match="shipped lifter"):
        train(cfg, progress=False)
    assert fake.read_bytes() == b"shipped"
    train(cfg, progress=False, force=True)
    assert load_lifter(fake).meta["step"] == 2


def test_without_data_other_sources_train_unvalidated_and_say_so(tmp_path, caplog):
    from pose2rig.evaluate import synthetic_views
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.io.npz import save_keypoints
    from pose2rig.types import Keypoints2D

    px, _ = synthetic_views([load_bvh_as_h36m17(CLIPS[0]).joints[::4]], seed=0)
    px = px + 500.0
    kp = Keypoints2D(keypoints=px, confidence=np.ones(px.shape[:2], np.float32), skeleton=H36M17,
                     image_size=(1000, 1000), fps=30.0, timestamps=np.arange(len(px)) / 30.0)
    save_keypoints(tmp_path / "clip.npz", kp)
    cfg = _config(tmp_path, "kp", source="keypoints", keypoints=(tmp_path / "clip.npz",), data=(), steps=4,
                  checkpoint_every=2)
    with caplog.at_level("WARNING"):
        out = train(cfg, progress=False)
    assert "training without validation; the last step is written" in caplog.text
    assert load_lifter(out).meta["step"] == 4  # no validation: the last step, not the first


def test_every_train_option_has_its_own_help():
    import click

    from pose2rig.cli import cli

    options = [p for p in cli.commands["train"].params if isinstance(p, click.Option)]
    helps = {p.name: (p.help or "").strip() for p in options}
    assert len(options) > 40 and all(helps.values()), [n for n, h in helps.items() if not h]
    assert len(set(helps.values())) == len(helps), "options sharing one help text"


def test_train_without_out_in_the_repository_root_leaves_models_byte_identical(tmp_path):
    """`pose2rig train` run from the repository root with no --out: the lifter goes into the run
    folder, and models/ (the shipped lifter and its card) is left byte for byte."""
    import subprocess
    import sys

    from pose2rig.lift.infer import default_checkpoint

    repo = Path(__file__).resolve().parents[1]
    models = default_checkpoint().parent
    before = _tree_bytes(models)
    proc = subprocess.run(
        [sys.executable, "-m", "pose2rig.cli", "train", "--data", str(DATA / "cmu" / "scaled_131_01.bvh"),
         "--data", str(CLIPS[1]), "--val-subject", "7", "--steps", "2", "--batch", "32", "--width", "16",
         "--blocks", "1", "--d-width", "16", "--d-blocks", "1", "--checkpoint-every", "2", "--val-poses", "50",
         "--threads", "1", "--run-dir", str(tmp_path / "run"), "--quiet"],
        cwd=repo, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert _tree_bytes(models) == before
    assert f"wrote checkpoint: {tmp_path / 'run' / 'lifter.pt'}" in proc.stdout
    assert load_lifter(tmp_path / "run" / "lifter.pt").meta["step"] == 2
