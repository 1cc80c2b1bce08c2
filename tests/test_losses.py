"""Losses: the bone terms see what they should, GAN losses are the standard ones."""

from __future__ import annotations

import math

import pytest
import torch

from pose2rig.lift.joints import H36M17_SET, PAPER14_SET
from pose2rig.train.data import mirror_poses
from pose2rig.train.losses import (
    bone_lengths,
    bone_ratio_loss,
    discriminator_loss,
    generator_loss,
    supervised_loss,
    symmetry_loss,
)


def _poses(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 17, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("js", [H36M17_SET, PAPER14_SET], ids=lambda s: s.name)
def test_bone_ratio_loss_ignores_scale_but_sees_changed_proportions(js):
    groups = js.bone_groups()
    one = js.select(_poses(1))
    scaled = one * torch.tensor([0.5, 1.0, 2.0, 3.7])[:, None, None]  # one person at four sizes
    assert bone_ratio_loss(scaled, groups).item() == pytest.approx(0.0, abs=1e-10)
    # stretch the forearms of half the batch: proportions now vary across the batch
    wrists = [js.skeleton.index("left_wrist"), js.skeleton.index("right_wrist")]
    elbows = [js.skeleton.index("left_elbow"), js.skeleton.index("right_elbow")]
    odd = scaled.clone()
    odd[::2, wrists] = odd[::2, elbows] + 1.8 * (odd[::2, wrists] - odd[::2, elbows])
    assert bone_ratio_loss(odd, groups).item() > 1e-3


def test_bone_ratio_groups_follow_zhou_arms_and_legs():
    names = H36M17_SET.skeleton.joint_names
    arms, legs = H36M17_SET.bone_groups()
    assert sorted(names[c] for _, c in arms) == ["left_elbow", "left_wrist", "right_elbow", "right_wrist"]
    assert sorted(names[c] for _, c in legs) == ["left_ankle", "left_knee", "right_ankle", "right_knee"]
    # paper14 has the same bones (the thigh hangs from the hip in both)
    p = PAPER14_SET
    j = _poses(3)
    for (a, b), (pa, pb) in zip(sum(H36M17_SET.bone_groups(), []), sum(p.bone_groups(), [])):
        assert torch.allclose(bone_lengths(j, [(a, b)]), bone_lengths(p.select(j), [(pa, pb)]))


def test_symmetry_loss_in_paper14_matches_mirrored_twins():
    j = _poses(4)
    sym = 0.5 * (j + mirror_poses(j))
    left, right = PAPER14_SET.symmetric_bones()
    assert len(left) == 6
    assert symmetry_loss(PAPER14_SET.select(sym), left, right).item() == pytest.approx(0.0, abs=1e-10)
    assert symmetry_loss(PAPER14_SET.select(j), left, right).item() > 0.01
    # the h36m17 default pairs are what JointSet derives
    assert H36M17_SET.symmetric_bones()[0] == [(0, 4), (4, 5), (5, 6), (8, 11), (11, 12), (12, 13)]


def test_gan_losses_are_the_standard_ones():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    expect_d = sp(-real).mean() + sp(fake).mean()  # -log D(real) - log(1 - D(fake))
    assert discriminator_loss(real, fake, real_label=1.0).item() == pytest.approx(expect_d.item(), rel=1e-6)
    assert generator_loss(fake).item() == pytest.approx(sp(-fake).mean().item(), rel=1e-6)
    smooth = discriminator_loss(real, fake, real_label=0.9).item()
    assert smooth > discriminator_loss(real, fake, real_label=1.0).item()  # confident reals cost more
    assert supervised_loss(torch.ones(2, 3), torch.zeros(2, 3)).item() == 1.0


def test_two_class_discriminator_equals_binary_loss_on_the_logit_difference():
    from pose2rig.lift.model import Discriminator

    torch.manual_seed(0)
    d = Discriminator(n_joints=14, width=8, blocks=1, parents=PAPER14_SET.skeleton.parents,
                      use_kcs=False, two_class=True)
    x = torch.randn(5, 14, 2) * 0.05
    two = d.net(x.flatten(1) * 10.0)
    ce = torch.nn.functional.cross_entropy(two, torch.ones(5, dtype=torch.long))
    assert generator_loss(d(x)).item() == pytest.approx(ce.item(), rel=1e-5)
    assert not math.isnan(ce.item())
