"""Body models and the SMPLify-style fit (issue 14): :class:`~pose2rig.body.model.BodyModel`
with an SMPL backend (smplx, the ``smpl`` extra) and an Anny backend (the default, no file)."""

from pose2rig.body.model import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput"]
