"""Adversarial training of the lifter on 2D views of mocap (Drover et al. 2018).

``config`` holds :class:`TrainConfig`, ``data`` the mocap poses and virtual cameras, ``losses``
the GAN and symmetry losses, ``loop`` the resumable :func:`train`.
"""

from __future__ import annotations

from pose2rig.train.config import TrainConfig


def __getattr__(name: str) -> object:
    # `train` pulls in torch; load it on first use so `pose2rig --help` stays fast
    if name == "train":
        from pose2rig.train.loop import train

        return train
    raise AttributeError(name)

__all__ = ["TrainConfig", "train"]
