"""A user's own keypoint files as 2D-only training data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pose2rig.errors import Pose2RigError
from pose2rig.io.npz import save_keypoints
from pose2rig.lift import codec
from pose2rig.skeletons import H36M17
from pose2rig.train.keypoint_sets import KeypointSetSource, usable_frames
from pose2rig.types import Keypoints2D


def _pose(t: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([[500, 500], [470, 500], [470, 600], [470, 700], [530, 500], [530, 600],
                     [530, 700], [500, 450], [500, 400], [500, 380], [500, 350], [540, 400],
                     [560, 450], [570, 500], [460, 400], [440, 450], [430, 500]], dtype=np.float32)
    return base[None] + rng.normal(0, 5, (t, 17, 2)).astype(np.float32)


def _write(path: Path, kp: np.ndarray, conf: np.ndarray) -> Path:
    t = len(kp)
    save_keypoints(path, Keypoints2D(kp, conf, H36M17, (1000, 1000), 30.0, np.arange(t) / 30.0))
    return path


def test_frames_with_missing_or_unsure_joints_are_dropped(tmp_path: Path):
    rng = np.random.default_rng(0)
    kp, conf = _pose(10, rng), np.full((10, 17), 0.9, np.float32)
    kp[2, 5] = np.nan          # a missing joint
    conf[4, 13] = 0.3          # one unsure wrist
    conf[6] = 0.6              # all joints fairly sure
    _write(tmp_path / "a.npz", kp, conf)
    src = KeypointSetSource(paths=[tmp_path / "a.npz"], min_confidence=0.5, mirror=False)
    keep = [i for i in range(10) if i not in (2, 4)]
    assert len(src) == 8 and src.frames_total == 10
    assert np.allclose(src.poses, codec.normalise(kp[keep])[0], atol=1e-6)
    assert len(KeypointSetSource(paths=[tmp_path / "a.npz"], min_confidence=0.7)) == 7
    assert usable_frames(kp, conf, min_confidence=0.0).sum() == 9


def test_folders_are_searched_and_draws_are_codec_normalised(tmp_path: Path):
    rng = np.random.default_rng(1)
    for name, t in (("one.npz", 5), ("two.npz", 7)):
        _write(tmp_path / name, _pose(t, rng), np.ones((t, 17), np.float32))
    src = KeypointSetSource(paths=[tmp_path])
    assert len(src) == 12 and [f.name for f in src.files] == ["one.npz", "two.npz"]
    x = src.sample(32, torch.Generator().manual_seed(0))
    assert x.shape == (32, 17, 2)
    assert torch.allclose(x[:, codec.ROOT], torch.zeros(32, 2))
    assert torch.allclose(torch.linalg.norm(x[:, codec.HEAD], dim=-1), torch.full((32,), 1 / codec.DEPTH), atol=1e-5)


def test_nothing_usable_is_an_error_naming_the_threshold(tmp_path: Path):
    rng = np.random.default_rng(2)
    _write(tmp_path / "low.npz", _pose(4, rng), np.full((4, 17), 0.2, np.float32))
    with pytest.raises(Pose2RigError, match="confidence >= 0.5"):
        KeypointSetSource(paths=[tmp_path / "low.npz"])
    with pytest.raises(Pose2RigError, match="not found"):
        KeypointSetSource(paths=[tmp_path / "missing.npz"])
    with pytest.raises(Pose2RigError, match="min_confidence"):
        KeypointSetSource(paths=[tmp_path / "low.npz"], min_confidence=2.0)
