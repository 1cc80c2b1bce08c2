"""The lifter's joint sets for training: the shipped ``h36m17`` and the paper's 14 joints.

Every training source delivers (or is converted to) poses in a :class:`JointSet`: a selection of
Human3.6M-17 joints with a root (one joint, or the mean of several) and a head joint that fix the
normalisation of :mod:`pose2rig.lift.codec`: root at the origin, head-to-root 2D distance ``1/d``,
robust floor ``MIN_HEAD_RATIO x`` the 2D RMS radius.

Convention:
    - ``h36m17``: all 17 joints, root = pelvis (joint 0), head = joint 10; normalisation is
      exactly :func:`pose2rig.lift.codec.normalise_torch`.
    - ``paper14``: the 14 joints of Drover et al. (2018), i.e. h36m17 without pelvis, spine and
      neck/nose: hips, knees, ankles, thorax (the paper's "neck"), head, shoulders, elbows,
      wrists. Root = the mid-hip point (mean of the two hips), derived, not a joint; head = head.
      Bones (for KCS and bone losses) hang off the thorax: thorax-hips, thorax-head,
      thorax-shoulders and the limbs.
    - Normalisation is invariant to translating and uniformly scaling the input, so a pose
      normalised in h36m17 converts to any joint set exactly (:meth:`JointSet.from_h36m17`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pose2rig.errors import Pose2RigError
from pose2rig.lift import codec
from pose2rig.skeletons import H36M17
from pose2rig.skeletons.joint_sets import skeleton_from_pairs
from pose2rig.types import Skeleton


@dataclass(frozen=True)
class JointSet:
    """A selection of h36m17 joints with its normalisation root and head.

    Attributes:
        skeleton: names, parents (a tree for bones) and left/right mirrors of the selected joints.
        indices: each joint's index in h36m17.
        root: indices (in this set) averaged to the normalisation root.
        head: index (in this set) of the head joint.
    """

    skeleton: Skeleton
    indices: tuple[int, ...]
    root: tuple[int, ...]
    head: int

    @property
    def name(self) -> str:
        return self.skeleton.name

    @property
    def n_joints(self) -> int:
        return len(self.indices)

    @property
    def root_is_joint(self) -> bool:
        """Whether the root is one of the joints (then the generator holds its depth offset at 0)."""
        return len(self.root) == 1

    def root_of(self, x: torch.Tensor) -> torch.Tensor:
        """Root ``(B, 1, C)`` of poses ``(B, J, C)``."""
        return x[:, list(self.root)].mean(dim=1, keepdim=True)

    def normalise(self, kp2d: torch.Tensor, *, d: float = codec.DEPTH) -> torch.Tensor:
        """Normalised ``(B, J, 2)`` from 2D poses ``(B, J, 2)`` in this set (any pixel scale)."""
        if kp2d.ndim != 3 or kp2d.shape[1:] != (self.n_joints, 2):
            raise Pose2RigError(
                f"{self.name}: expected 2D poses (B, {self.n_joints}, 2), got {tuple(kp2d.shape)}"
            )
        if self.root == (codec.ROOT,) and self.head == codec.HEAD:
            return codec.normalise_torch(kp2d, d=d)
        rel = kp2d - self.root_of(kp2d)
        head = torch.linalg.norm(rel[:, self.head], dim=-1)
        rms = torch.sqrt(torch.mean(torch.sum(rel**2, dim=-1), dim=-1))
        scale = torch.maximum(head, codec.MIN_HEAD_RATIO * rms).clamp_min(1e-8)
        return rel / (d * scale[:, None, None])

    def scale_of(self, kp2d: torch.Tensor) -> torch.Tensor:
        """The normalisation's 2D scale ``(B,)`` (head-root distance or its robust floor)."""
        rel = kp2d - self.root_of(kp2d)
        head = torch.linalg.norm(rel[:, self.head], dim=-1)
        rms = torch.sqrt(torch.mean(torch.sum(rel**2, dim=-1), dim=-1))
        return torch.maximum(head, codec.MIN_HEAD_RATIO * rms)

    def select(self, h36m17: torch.Tensor) -> torch.Tensor:
        """This set's joints ``(B, J, C)`` from h36m17 ``(B, 17, C)``."""
        if h36m17.shape[1] != H36M17.num_joints:
            raise Pose2RigError(f"expected h36m17 poses (B, 17, C), got {tuple(h36m17.shape)}")
        return h36m17 if self.n_joints == H36M17.num_joints else h36m17[:, list(self.indices)]

    def from_h36m17(self, xy: torch.Tensor) -> torch.Tensor:
        """Normalised poses in this set ``(B, J, 2)`` from h36m17 2D poses ``(B, 17, 2)``
        (pixels or already normalised: the result is the same)."""
        return self.normalise(self.select(xy))

    def bones(self) -> tuple[list[int], list[int]]:
        """``(parents, children)`` of every bone."""
        child = [i for i, p in enumerate(self.skeleton.parents) if p >= 0]
        return [self.skeleton.parents[i] for i in child], child

    def symmetric_bones(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Left bones ``[(parent, child)]`` and their right twins, in the same order."""
        names, par, mir = self.skeleton.joint_names, self.skeleton.parents, self.skeleton.mirror
        left = [(par[c], c) for c in range(len(names)) if par[c] >= 0 and names[c].startswith("left_")]
        return left, [(mir[a], mir[b]) for a, b in left]

    def bone_groups(self) -> list[list[tuple[int, int]]]:
        """Zhou et al. (2017) groups of bones whose length ratios stay constant across people:
        arms (upper arms and forearms, both sides) and legs (thighs and shins, both sides)."""
        names, par = self.skeleton.joint_names, self.skeleton.parents

        def group(children: tuple[str, ...]) -> list[tuple[int, int]]:
            return [(par[names.index(c)], names.index(c)) for c in children]

        return [
            group(("left_elbow", "left_wrist", "right_elbow", "right_wrist")),
            group(("left_knee", "left_ankle", "right_knee", "right_ankle")),
        ]


H36M17_SET = JointSet(skeleton=H36M17, indices=tuple(range(17)), root=(0,), head=10)

_PAPER14 = skeleton_from_pairs(
    "paper14",
    [
        ("thorax", None),
        ("head", "thorax"),
        ("right_hip", "thorax"),
        ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"),
        ("left_hip", "thorax"),
        ("left_knee", "left_hip"),
        ("left_ankle", "left_knee"),
        ("left_shoulder", "thorax"),
        ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_shoulder", "thorax"),
        ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"),
    ],
)
PAPER14_SET = JointSet(
    skeleton=_PAPER14,
    indices=tuple(H36M17.index(n) for n in _PAPER14.joint_names),
    root=(_PAPER14.index("right_hip"), _PAPER14.index("left_hip")),
    head=_PAPER14.index("head"),
)

JOINT_SETS = {s.name: s for s in (H36M17_SET, PAPER14_SET)}


def joint_set(name: str) -> JointSet:
    """The training joint set called ``name`` (``h36m17`` or ``paper14``)."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise Pose2RigError(f"unknown training joint set {name!r}; known: {', '.join(JOINT_SETS)}") from None


__all__ = ["H36M17_SET", "JOINT_SETS", "PAPER14_SET", "JointSet", "joint_set"]
