"""Losses of the lifter: GAN losses, the optional bone terms on the generator, the supervised L2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pose2rig.skeletons import H36M17

# (parent, child) bones with their left/right twin, h36m17
_LEFT = [(0, 4), (4, 5), (5, 6), (8, 11), (11, 12), (12, 13)]
_RIGHT = [(H36M17.mirror[a], H36M17.mirror[b]) for a, b in _LEFT]


def bone_lengths(points: torch.Tensor, bones: list[tuple[int, int]]) -> torch.Tensor:
    """Lengths ``(B, K)`` of the ``(parent, child)`` bones of poses ``(B, J, 3)``."""
    a = torch.tensor([p for p, _ in bones], device=points.device)
    b = torch.tensor([c for _, c in bones], device=points.device)
    return torch.linalg.norm(points[:, b] - points[:, a], dim=-1)


def symmetry_loss(
    points: torch.Tensor,
    left: list[tuple[int, int]] | None = None,
    right: list[tuple[int, int]] | None = None,
) -> torch.Tensor:
    """Mean squared relative difference of left and right bone lengths of ``(B, J, 3)`` poses.

    ``((l - r) / ((l + r) / 2))^2`` averaged over the bone pairs (default: h36m17's hip, thigh,
    shin, clavicle, upper arm, forearm; :meth:`pose2rig.lift.joints.JointSet.symmetric_bones`
    for others): scale-free, zero for a symmetric skeleton.
    """
    lb = bone_lengths(points, _LEFT if left is None else left)
    rb = bone_lengths(points, _RIGHT if right is None else right)
    return torch.mean(((lb - rb) / ((lb + rb) / 2).clamp_min(1e-6)) ** 2)


def bone_ratio_loss(points: torch.Tensor, groups: list[list[tuple[int, int]]]) -> torch.Tensor:
    """Bone-length-ratio loss after Zhou et al. (2017), scale-free: ``(B, J, 3)`` -> scalar.

    Zhou et al. keep the ratios of bone lengths within a group (e.g. upper arms and forearms)
    constant. Here each bone's length is divided by its group's mean length in the same pose,
    ``r_bk = l_bk / mean_k' l_bk'``, and the loss is the variance of ``r_bk`` over the batch,
    averaged over the bones of every group: zero when every pose has the same proportions
    (whatever its size), positive when proportions vary from pose to pose. (Zhou et al. compare
    to the training set's mean bone lengths in metric units; a lifter that knows no scale can
    only ask for constancy.)
    """
    terms = []
    for g in groups:
        lengths = bone_lengths(points, g)  # (B, K)
        ratio = lengths / lengths.mean(dim=1, keepdim=True).clamp_min(1e-6)
        terms.append(ratio.var(dim=0, unbiased=False).mean())
    return torch.stack(terms).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, real_label: float = 0.9) -> torch.Tensor:
    """Standard GAN loss for D, with one-sided label smoothing on real samples (1 for none)."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.full_like(real_logits, real_label)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss for G: ``-log D(fake)``."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def supervised_loss(offsets: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of depth offsets ``(B, J)`` against the ground truth ``(B, J)``."""
    return torch.mean((offsets - target) ** 2)
