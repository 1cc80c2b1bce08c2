"""bench/lifter_table.py: the marked docs section, checkpoint names, and one small real run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _bench_module import bench_module

from pose2rig.errors import Pose2RigError

REPO = Path(__file__).resolve().parents[1]
BANDAI = REPO.parent / "shared" / "data" / "mocap" / "bandai1"




@pytest.fixture(scope="module")
def table():
    return bench_module("lifter_table")


def test_replace_section_keeps_everything_outside_the_markers(table):
    doc = f"# B\n\nintro\n\n## x\n\n{table.BEGIN}\nold table\n{table.END}\n\n## after\n\ntail\n"
    new = table.replace_section(doc, "new table")
    assert new == doc.replace("old table", "new table")
    assert table.replace_section(new, "third") == doc.replace("old table", "third")


def test_replace_section_appends_a_section_once_and_rejects_broken_markers(table):
    doc = "# B\n\n## existing\n\ntext\n"
    once = table.replace_section(doc, "t1")
    assert once.startswith(doc.rstrip("\n")) and once.count(table.BEGIN) == 1
    assert table.replace_section(once, "t2") == once.replace("t1", "t2")
    with pytest.raises(Pose2RigError, match="expected one"):
        table.replace_section(f"{table.END}\n{table.BEGIN}\n", "x")
    with pytest.raises(Pose2RigError, match="expected one"):
        table.replace_section(f"{table.BEGIN}\n", "x")


def test_checkpoint_names(table):
    assert table.parse_checkpoint("supervised=runs/a.pt") == ("supervised", Path("runs/a.pt"))
    assert table.parse_checkpoint("runs/best.pt") == ("best", Path("runs/best.pt"))
    with pytest.raises(Pose2RigError, match="always added"):
        table.parse_checkpoint("constant depth=x.pt")


def test_table_scores_checkpoints_against_constant_depth_and_supervised(table, tmp_path):
    """Two clips, 300 poses: the shipped lifter named 'supervised' and an untrained generator
    (all offsets 0, i.e. constant depth through the checkpoint path)."""
    from pose2rig.lift.model import Discriminator, Generator
    from pose2rig.train.config import TrainConfig
    from pose2rig.train.loop import lifter_checkpoint

    data = tmp_path / "bandai_two"
    data.mkdir()
    for f in sorted(BANDAI.glob("*.bvh"))[:2]:
        (data / f.name).symlink_to(f)
    flat = tmp_path / "flat.pt"
    cfg = TrainConfig(width=16, blocks=1, d_width=16, d_blocks=1, steps=5)
    torch.save(lifter_checkpoint(Generator(width=16, blocks=1), Discriminator(width=16, blocks=1),
                                 cfg, step=5, metrics={}), flat)
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\n## kept\n\nuntouched\n")
    shipped = REPO / "models" / "lifter_h36m17.pt"
    argv = ["--checkpoint", f"supervised={shipped}", "--checkpoint", f"flat={flat}", "--data", str(data),
            "--max-poses", "300", "--write-docs", "--docs", str(docs), "--cache-dir", str(tmp_path)]
    assert table.main(argv) == 0
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\n## kept\n\nuntouched\n")
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "mm" in ln]
    assert [r.split(" | ")[0] for r in rows] == ["| constant depth", "| supervised (`models/lifter_h36m17.pt`)",
                                                "| flat (`" + str(flat) + "`)"]
    const, sup, fl = ([c.strip() for c in r.strip("|").split("|")] for r in rows)
    assert const[4] == "1.000" and sup[5] == "1.000"
    assert fl[1:4] == const[1:4]  # an all-zero generator is the constant-depth pose
    assert float(sup[4]) < 0.9 < float(const[5])  # the shipped lifter beats constant depth
    assert "--checkpoint supervised=models/lifter_h36m17.pt" in text
    assert "step 5 of 5" in text and "`width=16`" in text
    assert "camera rolls of -15, 0, 15 degrees" in text
    assert table.main(argv) == 0  # a second run replaces the section, it does not add one
    assert docs.read_text().count(table.BEGIN) == 1
    # without roll averaging: stated, in the command, and a different score for the trained lifter
    assert table.main([*argv, "--rolls", "0"]) == 0
    text0 = docs.read_text()
    assert "without roll averaging" in text0 and "--rolls 0" in text0 and text0.count(table.BEGIN) == 1
    sup0 = next(ln for ln in text0.splitlines() if ln.startswith("| supervised"))
    assert sup0.split("|")[2].strip() != sup[1]
    assert table.main([*argv, "--rolls", "x"]) == 2
    # --speed adds one paragraph of throughput at the shipped checkpoint's size beside the roofline
    assert table.main([*argv, "--speed", "--speed-repeats", "1"]) == 0
    text = docs.read_text()
    para = next(ln for ln in text.splitlines() if ln.startswith("Throughput at the size of"))
    # no checkpoint is named "shipped" here, so the last one is timed
    assert f"`{flat}`" in para and "G 16 x 1 blocks" in para and "--speed" in text
    import re

    sps, pps, roof = (float(v.replace(",", "")) for v in
                      re.findall(r"\*\*([\d,.]+)(?: samples/s| poses/s)?\*\*", para))
    assert sps > 0 and pps > 0 and 0 < roof < 5


def test_the_default_rolls_are_among_the_measured_candidates():
    roll = bench_module("lifter_roll")
    from pose2rig.lift.codec import DEFAULT_ROLLS

    assert DEFAULT_ROLLS in roll.CANDIDATES and (0.0,) in roll.CANDIDATES
    assert roll.label((0.0,)) == "none" and roll.label(DEFAULT_ROLLS) == "-15, 0, 15"
