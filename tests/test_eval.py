"""The evaluation protocol: stated alignments, per-action rows, three models, the eval command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _h36m_fake import write_fake_h36m
from click.testing import CliRunner

from pose2rig.cli import cli
from pose2rig.errors import Pose2RigError
from pose2rig.evaluate import (
    ALIGNMENT,
    METRICS,
    evaluate_lifter,
    evaluation_report,
    height_align,
    protocol_metrics,
    synthetic_views,
)
from pose2rig.geometry import euler_to_matrix
from pose2rig.io.h36m import TEST_SUBJECTS, h36m_eval_data
from pose2rig.lift import Lifter, skeleton_height

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIP = MOCAP / "cmu_iclone" / "001_01.bvh"


def _poses(n: int = 40) -> np.ndarray:
    from pose2rig.io.mocap import load_bvh_as_h36m17

    j = load_bvh_as_h36m17(CLIP).joints[: 10 * n : 10].astype(np.float64)
    return j + np.array([0.0, 0.0, 4.0])  # in front of a camera at the origin


def test_metrics_state_their_alignment_scale_rotation():
    gt = _poses()
    half = 0.5 * (gt - gt[:, :1]) + gt[:, :1]
    m = protocol_metrics(half, gt)  # a half-size person: no metric sees the scale
    assert m["mpjpe_mm"] < 1e-6 and m["n_mpjpe_mm"] < 1e-6 and m["p_mpjpe_mm"] < 1e-6
    assert m["pck3d_150mm"] == 1.0
    r = euler_to_matrix(np.array([0.0, np.radians(30), 0.0]), "XYZ")
    turned = (half - half[:, :1]) @ r.T + gt[:, :1]
    m = protocol_metrics(turned, gt)  # only Procrustes forgives the rotation
    assert m["p_mpjpe_mm"] < 1e-6 and m["mpjpe_mm"] > 20 and m["n_mpjpe_mm"] > 20
    assert set(ALIGNMENT) == {"orientation", *METRICS}


def test_mpjpe_scales_to_the_true_height_not_the_best_fit():
    gt = _poses()
    aligned = height_align(0.3 * gt, gt)
    assert np.allclose(skeleton_height(aligned), skeleton_height(gt))
    assert np.allclose(aligned[:, 0], gt[:, 0])
    # long arms: height-scaling keeps the legs and spine right; least squares shrinks all
    long_arms = gt.copy()
    arms = [11, 12, 13, 14, 15, 16]
    long_arms[:, arms] = gt[:, 8:9] + 1.5 * (gt[:, arms] - gt[:, 8:9])
    legs = [1, 2, 3, 4, 5, 6]
    h = height_align(long_arms, gt)
    assert np.allclose(h[:, legs], gt[:, legs], atol=1e-9)
    from pose2rig.evaluate import scale_align

    assert not np.allclose(scale_align(long_arms, gt)[:, legs], gt[:, legs], atol=1e-3)


def test_report_rows_per_action_average_and_pooled_and_constant_depth_as_before():
    px, gt = synthetic_views([_poses(60) - np.array([0, 0, 4.0])], seed=3)
    actions = np.array(["Walking"] * 40 + ["Eating"] * 20)
    base = Lifter.constant_depth()
    rep = evaluation_report({"constant_depth": base}, px, gt, actions=actions)
    rows = {r["action"]: r for r in rep["rows"]}
    assert list(rows) == ["Eating", "Walking", "average", "all poses"]
    assert rows["Eating"]["poses"] == 20 and rows["all poses"]["poses"] == 60
    for k in METRICS:
        mean = (rows["Eating"]["metrics"]["constant_depth"][k] + rows["Walking"]["metrics"]["constant_depth"][k]) / 2
        assert rows["average"]["metrics"]["constant_depth"][k] == pytest.approx(mean)
    old = evaluate_lifter(base, px, gt)  # the training loop's validation: same numbers
    assert rows["all poses"]["metrics"]["constant_depth"]["p_mpjpe_mm"] == pytest.approx(1000 * old["p_mpjpe"])
    assert rows["all poses"]["metrics"]["constant_depth"]["n_mpjpe_mm"] == pytest.approx(1000 * old["n_mpjpe"])
    with pytest.raises(Pose2RigError, match="action labels"):
        evaluation_report({"c": base}, px, gt, actions=actions[:5])


def test_eval_command_fails_cleanly_and_keeps_an_existing_report(tmp_path: Path):
    out = tmp_path / "report.json"
    out.write_text("{}\n")
    res = CliRunner().invoke(cli, ["eval", "--json", str(out)])
    assert res.exit_code == 1 and "give either --data" in res.output
    res = CliRunner().invoke(cli, ["eval", "--h36m-3d", str(out), "--json", str(out)])
    assert res.exit_code == 1 and "--h36m-cameras" in res.output
    assert out.read_text() == "{}\n"


def _train_tiny_lifter(paths: dict[str, Path], run: Path, *, seed: int = 0) -> Path:
    """A few adversarial steps on S1, S5's 2D keypoints alone (the 3D file and cameras are
    passed but a 2D file makes the source 2D-only; CLIP only validates)."""
    from pose2rig.train import TrainConfig, train

    cfg = TrainConfig(
        source="h36m", h36m_2d=paths["2d"], h36m_3d=paths["3d"], h36m_cameras=paths["cameras"], h36m_subjects=("S1", "S5"),
        data=(CLIP, MOCAP / "cmu_iclone" / "002_03.bvh"), val_subject=2, out=run / "lifter.pt", run_dir=run, steps=6, batch=32,
        width=16, blocks=1, d_width=16, d_blocks=1, checkpoint_every=3, val_poses=40, seed=seed,
        threads=1,
    )
    return train(cfg, progress=False)


@pytest.mark.slow
def test_human36m_protocol_end_to_end_on_fake_files(tmp_path: Path):
    """Fake Human3.6M files -> a lifter trained on S1, S5 2D alone -> pose2rig eval on S9, S11."""
    paths = write_fake_h36m(tmp_path / "h36m", subjects=("S1", "S5", "S9", "S11"), frames=20)
    lifter = _train_tiny_lifter(paths, tmp_path / "run")
    # the reference slot takes any checkpoint; a supervised one is the intended use, but
    # TrainConfig(objective="supervised") stops at its first checkpoint for now (a NaN loss_d
    # placeholder trips the divergence check), so a second adversarial run stands in
    reference = _train_tiny_lifter(paths, tmp_path / "ref", seed=1)
    out = tmp_path / "eval" / "report.json"
    res = CliRunner().invoke(cli, [
        "eval", "--checkpoint", str(lifter), "--reference", str(reference),
        "--h36m-3d", str(paths["3d"]), "--h36m-2d", str(paths["2d"]),
        "--h36m-cameras", str(paths["cameras"]), "--json", str(out), "-q",
    ])
    assert res.exit_code == 0, res.output
    assert "P-MPJPE mm" in res.output and "Walking" in res.output
    assert "wrote report" not in res.output  # -q: the report only
    rep = json.loads(out.read_text())
    assert rep["format"] == "pose2rig-eval" and rep["data"]["subjects"] == list(TEST_SUBJECTS)
    assert list(rep["models"]) == ["lifter", "constant_depth", "reference"]
    assert rep["models"]["lifter"]["checkpoint"] == str(lifter)
    assert [r["action"] for r in rep["rows"]] == ["Photo", "Walking", "average", "all poses"]
    n = len(h36m_eval_data(positions_3d=paths["3d"], cameras=paths["cameras"]).pixels)
    assert rep["rows"][-1]["poses"] == n == 2 * 2 * 4 * 20
    for r in rep["rows"]:
        for model in rep["models"]:
            m = r["metrics"][model]
            assert set(m) == set(METRICS) and all(np.isfinite(v) for v in m.values())
            assert 0 <= m["pck3d_150mm"] <= 1 and m["p_mpjpe_mm"] <= m["n_mpjpe_mm"] + 1e-6
    assert "scaled per pose to the ground truth's standing height" in rep["alignment"]["mpjpe_mm"]


def test_mirror_averaging_is_stated_and_can_be_turned_off():
    from pose2rig.evaluate import evaluate_checkpoints

    bvh = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "cmu" / "scaled_131_01.bvh"
    on = evaluate_checkpoints(data=(bvh,), frame_step=20)
    off = evaluate_checkpoints(data=(bvh,), frame_step=20, mirror=False)
    assert on["models"]["lifter"]["mirror_averaged"] is True
    assert off["models"]["lifter"]["mirror_averaged"] is False
    a, b = on["rows"][-1]["metrics"], off["rows"][-1]["metrics"]
    assert a["lifter"]["p_mpjpe_mm"] != b["lifter"]["p_mpjpe_mm"]
    assert a["constant_depth"] == b["constant_depth"]  # no generator, nothing to average


def test_roll_averaging_is_stated_and_can_be_turned_off(tmp_path: Path):
    from pose2rig.evaluate import evaluate_checkpoints, format_report

    bvh = MOCAP / "cmu" / "scaled_131_01.bvh"
    on = evaluate_checkpoints(data=(bvh,), frame_step=20)
    off = evaluate_checkpoints(data=(bvh,), frame_step=20, rolls=(0.0,))
    assert on["models"]["lifter"]["roll_averaged_deg"] == [-15.0, 0.0, 15.0]
    assert off["models"]["lifter"]["roll_averaged_deg"] == [0.0]
    assert "averaged over camera rolls -15, 0, 15 deg and mirror images" in format_report(on)
    a, b = on["rows"][-1]["metrics"], off["rows"][-1]["metrics"]
    assert a["lifter"]["p_mpjpe_mm"] != b["lifter"]["p_mpjpe_mm"]
    assert a["constant_depth"] == b["constant_depth"]
    # the command takes the same choice, and refuses a malformed one in one line
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["eval", "--data", str(bvh), "--frame-step", "20", "--rolls", "0",
                                   "--json", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["models"]["lifter"]["roll_averaged_deg"] == [0.0]
    assert "wrote report" not in res.output  # -q: the report only
    res = CliRunner().invoke(cli, ["eval", "--data", str(bvh), "--frame-step", "20", "--rolls", "0",
                                   "--json", str(out)])
    assert res.exit_code == 0 and f"wrote report: {out}" in res.output
    for bad in ("abc", "", "100", "nan"):
        res = CliRunner().invoke(cli, ["eval", "--data", str(bvh), "--rolls", bad])
        assert res.exit_code == 2 and "--rolls" in res.output and "Traceback" not in res.output, bad
