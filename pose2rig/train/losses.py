"""Losses of the adversarial lifter."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pose2rig.skeletons import H36M17

# (parent, child) bones with their left/right twin, h36m17
_LEFT = [(0, 4), (4, 5), (5, 6), (8, 11), (11, 12), (12, 13)]
_RIGHT = [(H36M17.mirror[a], H36M17.mirror[b]) for a, b in _LEFT]


def symmetry_loss(points: torch.Tensor) -> torch.Tensor:
    """Mean squared relative difference of left and right bone lengths of ``(B, J, 3)`` poses.

    ``((l - r) / ((l + r) / 2))^2`` averaged over the six bone pairs (hip, thigh, shin, clavicle,
    upper arm, forearm): scale-free, zero for a symmetric skeleton.
    """
    def lengths(pairs: list[tuple[int, int]]) -> torch.Tensor:
        a = torch.tensor([p for p, _ in pairs], device=points.device)
        b = torch.tensor([c for _, c in pairs], device=points.device)
        return torch.linalg.norm(points[:, b] - points[:, a], dim=-1)

    left, right = lengths(_LEFT), lengths(_RIGHT)
    return torch.mean(((left - right) / ((left + right) / 2).clamp_min(1e-6)) ** 2)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, real_label: float = 0.9) -> torch.Tensor:
    """Standard GAN loss for D, with one-sided label smoothing on real samples."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.full_like(real_logits, real_label)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss for G: ``-log D(fake)``."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
