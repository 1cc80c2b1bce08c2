"""Generator and discriminator of the adversarial lifter (Drover et al. 2018).

The shipped lifter's are residual MLPs without normalisation layers (a batch-normalised
discriminator overpowered its generator within a few hundred steps); ``norm="batch"`` builds the
paper's Linear-BatchNorm-ReLU residual blocks (Drover et al. 2018, after Martinez et al. 2017).

Shapes: the generator maps normalised 2D poses ``(B, J, 2)`` to depth offsets ``(B, J)``; the
discriminator maps normalised 2D poses ``(B, J, 2)`` to one logit per pose ``(B,)``. The
discriminator also sees the KCS feature (Wandt & Rosenhahn 2019): the Gram matrix of the 2D bone
vectors, whose entries are squared projected bone lengths and the angles between bones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pose2rig.lift.codec import DEPTH
from pose2rig.skeletons import H36M17


class ResidualBlock(nn.Module):
    """``x + W2 act(W1 act(x))`` (pre-activation, no normalisation: the shipped lifter)."""

    def __init__(self, width: int, act: Callable[[], nn.Module] | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = act() if act is not None else nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.act(x))))


class NormResidualBlock(nn.Module):
    """``x + act(BN(W2 act(BN(W1 x))))``: two Linear-BatchNorm-activation layers with a skip
    (Martinez et al. 2017, as used by Drover et al. 2018)."""

    def __init__(self, width: int, act: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(width, width), nn.BatchNorm1d(width)
        self.fc2, self.bn2 = nn.Linear(width, width), nn.BatchNorm1d(width)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.fc1(x)))
        return x + self.act(self.bn2(self.fc2(y)))


NORMS = ("none", "batch")
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}


class _ResMLP(nn.Module):
    """Residual MLP ``n_in -> width -> blocks -> n_out``.

    ``norm="none"``: pre-activation blocks without normalisation (the shipped lifter; its state
    dict keys are unchanged). ``norm="batch"``: input Linear-BatchNorm-activation, then
    :class:`NormResidualBlock` s (the paper's generator and discriminator).
    """

    def __init__(
        self, n_in: int, n_out: int, width: int, blocks: int, *, norm: str = "none",
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        act = ACTIVATIONS[activation]
        self.inp = nn.Linear(n_in, width)
        if norm == "batch":
            self.inp_bn = nn.BatchNorm1d(width)
            self.blocks = nn.Sequential(*[NormResidualBlock(width, act) for _ in range(blocks)])
        else:
            self.blocks = nn.Sequential(*[ResidualBlock(width, act) for _ in range(blocks)])
        self.norm = norm
        self.act = act()
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "batch":
            return self.out(self.blocks(self.act(self.inp_bn(self.inp(x)))))
        return self.out(self.act(self.blocks(self.inp(x))))


class Generator(nn.Module):
    """Normalised 2D pose ``(B, J, 2)`` -> depth offsets ``(B, J)``.

    With ``hold_root`` (the shipped lifter) joint 0 is the root and the centre of the random
    rotation: its offset is fixed to zero and the others are relative to it. Without it (the
    paper, whose 14 joints have no root joint) every offset is free: ``z_i = d + o_i``.
    The output layer starts at zero, i.e. from the constant-depth pose.
    """

    def __init__(
        self, n_joints: int = 17, width: int = 256, blocks: int = 2, *, norm: str = "none",
        activation: str = "leaky_relu", hold_root: bool = True,
    ) -> None:
        super().__init__()
        self.n_joints, self.width, self.blocks = n_joints, width, blocks
        self.norm, self.activation, self.hold_root = norm, activation, bool(hold_root)
        self.net = _ResMLP(2 * n_joints, n_joints, width, blocks, norm=norm, activation=activation)
        nn.init.zeros_(self.net.out.weight)  # start from the constant-depth pose
        nn.init.zeros_(self.net.out.bias)

    def spec(self) -> dict[str, object]:
        """Constructor arguments as plain values (the checkpoint's ``generator`` entry)."""
        return {"n_joints": self.n_joints, "width": self.width, "blocks": self.blocks,
                "norm": self.norm, "activation": self.activation, "hold_root": self.hold_root}

    @classmethod
    def from_spec(cls, spec: dict) -> Generator:
        """Inverse of :meth:`spec`; keys missing from older checkpoints take the shipped values."""
        return cls(
            n_joints=int(spec["n_joints"]), width=int(spec["width"]), blocks=int(spec["blocks"]),
            norm=str(spec.get("norm", "none")), activation=str(spec.get("activation", "leaky_relu")),
            hold_root=bool(spec.get("hold_root", True)),
        )

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        o = self.net(xy.flatten(1) * DEPTH)  # inputs of order 1: the head at distance 1
        return o - o[:, :1] if self.hold_root else o


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
    """Normalised 2D pose ``(B, J, 2)`` -> real/fake logit ``(B,)``.

    Input: the pose and, with ``use_kcs`` (the shipped lifter), its KCS feature. With
    ``two_class`` the last layer has two outputs (fake, real) as in the paper, and the logit is
    their difference: softmax cross-entropy over the two equals the binary loss on that logit.
    """

    def __init__(
        self, n_joints: int = 17, width: int = 256, blocks: int = 2,
        parents: tuple[int, ...] | None = None, *, norm: str = "none",
        activation: str = "leaky_relu", use_kcs: bool = True, two_class: bool = False,
    ) -> None:
        super().__init__()
        self.parents = tuple(parents) if parents is not None else H36M17.parents
        if len(self.parents) != n_joints:
            raise ValueError(f"Discriminator: {n_joints} joints but {len(self.parents)} parents")
        self.n_joints, self.width, self.blocks = n_joints, width, blocks
        self.norm, self.activation = norm, activation
        self.use_kcs, self.two_class = bool(use_kcs), bool(two_class)
        nb = n_joints - 1
        self.kcs_scale = 100.0  # bones are ~0.05 long in normalised units: lift Gram entries to ~0.25
        n_in = 2 * n_joints + (nb * (nb + 1) // 2 if use_kcs else 0)
        self.net = _ResMLP(n_in, 2 if two_class else 1, width, blocks, norm=norm, activation=activation)

    def spec(self) -> dict[str, object]:
        """Constructor arguments as plain values (the checkpoint's ``discriminator`` entry)."""
        return {"n_joints": self.n_joints, "width": self.width, "blocks": self.blocks,
                "parents": list(self.parents), "norm": self.norm, "activation": self.activation,
                "use_kcs": self.use_kcs, "two_class": self.two_class}

    @classmethod
    def from_spec(cls, spec: dict) -> Discriminator:
        """Inverse of :meth:`spec`; keys missing from older checkpoints take the shipped values."""
        parents = spec.get("parents")
        return cls(
            n_joints=int(spec["n_joints"]), width=int(spec["width"]), blocks=int(spec["blocks"]),
            parents=tuple(int(p) for p in parents) if parents is not None else None,
            norm=str(spec.get("norm", "none")), activation=str(spec.get("activation", "leaky_relu")),
            use_kcs=bool(spec.get("use_kcs", True)), two_class=bool(spec.get("two_class", False)),
        )

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        x = xy.flatten(1) * DEPTH
        if self.use_kcs:
            x = torch.cat([x, kcs(xy, self.parents) * self.kcs_scale], dim=-1)
        y = self.net(x)
        return y[:, 1] - y[:, 0] if self.two_class else y.squeeze(-1)
