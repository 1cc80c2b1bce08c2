"""Data-parallel training: two gloo processes under torchrun agree and write once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pose2rig.train import distributed as ddp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIP = DATA / "cmu_iclone" / "007_12.bvh"
CLIP_TRAIN = DATA / "cmu_iclone" / "002_03.bvh"

SCRIPT = """
import logging, sys
from pathlib import Path
import torch
from pose2rig.train import TrainConfig
from pose2rig.train.loop import Trainer

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
out, preset = Path(sys.argv[1]), sys.argv[2]
cfg = TrainConfig(preset=preset, data=(Path(sys.argv[3]), Path(sys.argv[4])), val_subject=7,
                  out=out / "lifter.pt", run_dir=out / "run", steps=4, batch=16, width=16,
                  blocks=1, d_width=16, d_blocks=1, checkpoint_every=2, val_poses=30, seed=5,
                  threads=1)
t = Trainer(cfg, resume=False, progress=False)
rank = t.info.rank
world = t.info.world_size
t.run()
torch.save({"gen": t.gen.state_dict(), "disc": t.disc.state_dict(), "world": world,
            "x": t.source.sample(4, t.rng)}, out / f"rank{rank}.pt")
"""


def test_single_process_needs_no_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = ddp.setup("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    t = torch.ones(3)
    assert ddp.mean_over_ranks(t, info) is t and ddp.gather("a", info) == ["a"]
    assert ddp.any_rank(True, info) and not ddp.any_rank(False, info)
    m = torch.nn.Linear(2, 2)
    assert ddp.wrap(m, info) is m


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["paper"])  # BatchNorm, two-class D, paper14: the harder case
def test_two_gloo_processes_end_identical_and_write_once(tmp_path, preset):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script), str(tmp_path), preset, str(CLIP_TRAIN), str(CLIP)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a["world"] == b["world"] == 2
    for key in ("gen", "disc"):  # DDP kept the replicas identical (BatchNorm buffers included)
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs between ranks"
    # ...while each process drew its own data
    assert not torch.allclose(a["x"], b["x"])
    # checkpoints at steps 2 and 4, written by rank 0 only: two saves of checkpoint.pt in the log
    saves = [ln for ln in res.stderr.splitlines() if ln.endswith(str(tmp_path / "run" / "checkpoint.pt"))]
    assert len(saves) == 2, res.stderr[-3000:]
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 4 and ck["world_size"] == 2 and len(ck["rng_ranks"]) == 2
    assert not torch.equal(ck["rng_ranks"][0], ck["rng_ranks"][1])
    assert torch.equal(ck["generator_state"]["net.out.weight"], a["gen"]["net.out.weight"])
    lifter = torch.load(tmp_path / "lifter.pt", weights_only=True)
    assert lifter["config"]["preset"] == preset and lifter["step"] in (2, 4)
