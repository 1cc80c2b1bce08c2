"""The one exception type that the CLI turns into a single clear line."""

from __future__ import annotations


class Pose2RigError(ValueError):
    """Bad input or an impossible request: the message names what was expected and what came.

    Subclasses ``ValueError`` so that library users catching ``ValueError`` keep working.
    """
