"""The exception types that the CLI turns into a single clear line."""

from __future__ import annotations

from collections.abc import Mapping


class Pose2RigError(ValueError):
    """Bad input or an impossible request: the message names what was expected and what came.

    Subclasses ``ValueError`` so that library users catching ``ValueError`` keep working.
    """


class ArgumentError(Pose2RigError):
    """A bad argument value or combination, naming the arguments as the library spells them.

    ``message`` writes each argument it names as ``{name}`` (``"{fov} must be between 1 and 179
    degrees, got 200"``); ``str(error)`` shows the bare names (``fov must be ...``), and a face
    shows its own spelling with :meth:`render` (the CLI: ``--fov must be ...``).
    """

    def __init__(self, message: str, *arguments: str) -> None:
        self.template = message
        self.arguments = arguments
        super().__init__(self.render({}))

    def render(self, names: Mapping[str, str]) -> str:
        """The message with each argument written as ``names[argument]`` (default: itself)."""
        out = self.template
        for a in self.arguments:
            out = out.replace("{" + a + "}", names.get(a, a))
        return out
