"""Training of the lifter (Drover et al. 2018): adversarial from 2D alone, or supervised.

``config`` holds :class:`TrainConfig` and its presets (``default``, ``paper``), ``joints`` the
training joint sets, ``sources`` the 2D/3D source protocols, ``data`` the mocap poses and virtual
cameras, ``losses`` the GAN, bone and supervised losses, ``distributed`` the ``torchrun`` glue and
``loop`` the resumable :func:`train`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pose2rig.train.config import TrainConfig

if TYPE_CHECKING:  # for the type checker only: at run time __getattr__ loads it on first use
    from pose2rig.train.loop import train


def __getattr__(name: str) -> object:
    # `train` pulls in torch; load it on first use so `pose2rig --help` stays fast
    if name == "train":
        from pose2rig.extras import require_extra

        require_extra("train")  # a missing extra in one line, before the loop imports torch
        from pose2rig.train.loop import train

        return train
    raise AttributeError(name)

__all__ = ["TrainConfig", "train"]
