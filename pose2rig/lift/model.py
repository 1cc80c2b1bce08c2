"""Generator and discriminator of the adversarial lifter (Drover et al. 2018).

Both are residual MLPs without normalisation layers: a batch-normalised discriminator mixes real
and fake batch statistics and overpowers the generator within a few hundred steps.

Shapes: the generator maps normalised 2D poses ``(B, J, 2)`` to depth offsets ``(B, J)``; the
discriminator maps normalised 2D poses ``(B, J, 2)`` to one logit per pose ``(B,)``. The
discriminator also sees the KCS feature (Wandt & Rosenhahn 2019): the Gram matrix of the 2D bone
vectors, whose entries are squared projected bone lengths and the angles between bones.
"""

from __future__ import annotations

import torch
from torch import nn

from pose2rig.lift.codec import DEPTH
from pose2rig.skeletons import H36M17


class ResidualBlock(nn.Module):
    """``x + W2 act(W1 act(x))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.act(x))))


class _ResMLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, width: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.act = nn.LeakyReLU(0.2)
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.blocks(self.inp(x))))


class Generator(nn.Module):
    """Normalised 2D pose ``(B, J, 2)`` -> depth offsets ``(B, J)``, the root's held at 0.

    The root (joint 0) is the centre of the random rotation, so its offset is fixed to zero and
    the others are relative to it.
    """

    def __init__(self, n_joints: int = 17, width: int = 256, blocks: int = 2) -> None:
        super().__init__()
        self.n_joints, self.width, self.blocks = n_joints, width, blocks
        self.net = _ResMLP(2 * n_joints, n_joints, width, blocks)
        nn.init.zeros_(self.net.out.weight)  # start from the constant-depth pose
        nn.init.zeros_(self.net.out.bias)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        o = self.net(xy.flatten(1) * DEPTH)  # inputs of order 1: the head at distance 1
        return o - o[:, :1]


def bone_pairs(parents: tuple[int, ...] = H36M17.parents) -> tuple[list[int], list[int]]:
    """``(parent indices, child indices)`` of every bone."""
    child = [i for i, p in enumerate(parents) if p >= 0]
    return [parents[i] for i in child], child


def kcs(xy: torch.Tensor, parents: tuple[int, ...] = H36M17.parents) -> torch.Tensor:
    """KCS feature: upper triangle of the bone Gram matrix ``B B^T``; ``(B, J, 2)`` -> ``(B, K)``."""
    par, child = bone_pairs(parents)
    bones = xy[:, child] - xy[:, par]  # (B, nb, 2)
    gram = bones @ bones.transpose(-1, -2)
    iu = torch.triu_indices(len(child), len(child), device=xy.device)
    return gram[:, iu[0], iu[1]]


class Discriminator(nn.Module):
    """Normalised 2D pose ``(B, J, 2)`` -> real/fake logit ``(B,)``; input: pose and its KCS."""

    def __init__(
        self, n_joints: int = 17, width: int = 256, blocks: int = 2,
        parents: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.parents = tuple(parents) if parents is not None else H36M17.parents
        if len(self.parents) != n_joints:
            raise ValueError(f"Discriminator: {n_joints} joints but {len(self.parents)} parents")
        nb = n_joints - 1
        self.kcs_scale = 100.0  # bones are ~0.05 long in normalised units: lift Gram entries to ~0.25
        self.net = _ResMLP(2 * n_joints + nb * (nb + 1) // 2, 1, width, blocks)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        x = torch.cat([xy.flatten(1) * DEPTH, kcs(xy, self.parents) * self.kcs_scale], dim=-1)
        return self.net(x).squeeze(-1)
