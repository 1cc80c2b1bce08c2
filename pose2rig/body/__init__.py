"""Body models and the SMPLify-style fit (issue 14): :class:`~pose2rig.body.model.BodyModel`
with an SMPL backend (smplx, the ``smpl`` extra) and an Anny backend (the default, no file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pose2rig.body.model import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput"]


def __getattr__(name: str) -> Any:
    """``BodyModel``, ``BodyOutput`` on first use: importing the package (for
    :mod:`pose2rig.body.io`, numpy only) does not import torch."""
    if name in __all__:
        from pose2rig.body import model

        return getattr(model, name)
    raise AttributeError(f"module 'pose2rig.body' has no attribute {name!r}")
