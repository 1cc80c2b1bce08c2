"""bench/cleanup.py: the seeded corruption (rates, reproducibility, labels) on real Bandai-1 walks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _bench_module import bench_module

from pose2rig.motion_metrics import ground_contacts

REPO = Path(__file__).resolve().parents[1]
BANDAI = REPO.parent / "shared" / "data" / "mocap" / "bandai1"
WALKS = [BANDAI / f"dataset-1_walk_{style}_001.bvh" for style in ("active", "normal", "tired", "childish")]




@pytest.fixture(scope="module")
def bench():
    return bench_module("cleanup")


@pytest.fixture(scope="module")
def walks(bench) -> np.ndarray:
    """Four Bandai-1 walks back to back, each twice (about 1,000 frames at 30 fps)."""
    clips = [bench.load_clip(p) for p in WALKS]
    return np.concatenate(clips + clips)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def test_rates_and_run_lengths(bench, walks):
    t = walks.shape[0]
    c = bench.corrupt(walks, 30.0, seed=3)
    spec = bench.SPEC
    assert c.dropped.sum() == round(0.05 * t) and (c.swapped > 0).sum() == round(0.02 * t)
    assert c.spiked.sum() == round(0.01 * t)
    for mask, hi in ((c.dropped, 10), (c.swapped > 0, 5)):
        lengths = [e - s for s, e in _runs(mask)]
        assert 1 <= min(lengths) and max(lengths) <= hi
    assert len(_runs(c.dropped)) > 5  # runs, not one block
    # every kind of swap is used, and a run has one kind
    assert {int(k) for k in np.unique(c.swapped)} == {0, 1, 2, 3}
    for s, e in _runs(c.swapped > 0):
        assert len(set(c.swapped[s:e].tolist())) == 1
    # the kinds never share a frame
    assert not (c.dropped & (c.swapped > 0)).any() and not (c.spiked & (c.dropped | (c.swapped > 0))).any()
    # 30% of the contact runs slide, over many seeds; whole runs
    runs = slid = 0
    for seed in range(10):
        cs = bench.corrupt(walks, 30.0, seed=seed)
        for foot in range(2):
            for s, e in _runs(cs.contacts[:, foot]):
                runs += 1
                slid += bool(cs.slid[s, foot])
                assert cs.slid[s:e, foot].all() == cs.slid[s, foot] and cs.slid[s:e, foot].any() == cs.slid[s, foot]
    assert runs > 200 and abs(slid / runs - spec.slide_fraction) < 0.06
    # jitter: sigma 15 mm per axis
    assert np.std(c.noise) == pytest.approx(0.015, rel=0.03)


def test_the_same_seed_gives_the_same_corruption(bench, walks):
    a = bench.corrupt(walks, 30.0, seed=7)
    b = bench.corrupt(walks, 30.0, seed=7)
    other = bench.corrupt(walks, 30.0, seed=8)
    np.testing.assert_array_equal(a.joints, b.joints)
    for field in ("slid", "dropped", "swapped", "spiked", "spike_joint"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.dropped, other.dropped)
    assert bench.clip_seed(WALKS[0], 0) != bench.clip_seed(WALKS[1], 0)


def test_labels_rebuild_the_corrupted_joints(bench, walks):
    c = bench.corrupt(walks, 30.0, seed=11)
    # the contacts are the ground-truth rule's on the clean ankles
    np.testing.assert_array_equal(c.contacts, ground_contacts(walks[:, bench.FEET], 30.0))
    assert not (c.slid & ~c.contacts).any() and c.slid.any()
    # sliding: horizontal, 20 cm/s between sliding frames of one run, back to zero afterwards
    assert np.all(c.slide_offset[..., 1] == 0)
    for foot in range(2):
        for s, e in _runs(c.slid[:, foot]):
            steps = np.linalg.norm(np.diff(c.slide_offset[s:e, foot], axis=0), axis=-1)
            np.testing.assert_allclose(steps, 0.2 / 30, rtol=1e-9)
            assert np.all(c.slide_offset[s, foot] == 0)
    # the return ends before the foot's next contact: unslid contacts carry no offset
    assert np.all(c.slide_offset[c.contacts & ~c.slid] == 0)
    assert np.any(c.slide_offset[~c.contacts] != 0)
    # rebuild from the labels
    x = walks.copy()
    x[:, bench.FEET] += c.slide_offset
    x[:, bench.KNEES] += 0.5 * c.slide_offset
    for t in np.flatnonzero(c.swapped):
        for left, right in bench.SWAP_KINDS[int(c.swapped[t])][1]:
            x[t, [left, right]] = x[t, [right, left]]
    spiked = np.flatnonzero(c.spiked)
    np.testing.assert_allclose(np.linalg.norm(c.spike[spiked], axis=1), 0.1)
    assert np.all(c.spike_joint[~c.spiked] == -1) and np.all(c.spike[~c.spiked] == 0)
    x[spiked, c.spike_joint[spiked]] += c.spike[spiked]
    x += c.noise
    x[c.dropped] = np.nan
    np.testing.assert_allclose(c.joints, x, atol=1e-12)
    assert np.isnan(c.joints[c.dropped]).all() and np.isfinite(c.joints[~c.dropped]).all()
    # a swapped frame is far from the truth where it swapped and near it elsewhere
    t = int(np.flatnonzero(c.swapped == 3)[0])  # legs
    near = c.joints[t] - walks[t] - c.noise[t]
    assert np.abs(near[[bench._J["left_wrist"], bench._J["right_wrist"]]]).max() < 1e-9


def test_score_rows_for_the_corrupted_input(bench):
    result = bench.run(WALKS[:2], seed=0)
    rows = result["rows"]
    assert set(rows) == {"clean mocap", *bench.METHODS, *bench.CLEANUPS}
    assert rows["clean mocap"]["mpjpe_mm"] == 0 and rows["clean mocap"]["accel"] == 0
    corrupted = rows["corrupted"]
    assert corrupted["mpjpe_mm"] > 15 and corrupted["jitter"] > 10 * rows["clean mocap"]["jitter"]
    assert corrupted["sliding_mm"] > 5 * rows["clean mocap"]["sliding_mm"]
    for name in ("foot locking, root follows each planted foot (root_follow=1)", "foot locking (+floor) alone"):
        assert rows[name]["sliding_mm"] < 0.3 * corrupted["sliding_mm"]
    full = rows["full clean-up"]
    assert full["sliding_mm"] < 0.2 * corrupted["sliding_mm"]
    assert full["mpjpe_mm"] <= corrupted["mpjpe_mm"] and full["jitter"] < 0.3 * corrupted["jitter"]
    assert full["contact_f1"] > 0.8 and full["swaps_repaired"] >= 0.9
    assert np.isnan(rows["smoothing alone"]["contact_f1"])  # no contacts without foot locking
    table = bench.format_table(result)
    assert table.count("\n") == 1 + len(rows) and "| corrupted |" in table
