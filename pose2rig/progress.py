"""Progress of long work: a tqdm bar in a terminal, or a callback for programs that drive
pose2rig (the Blender add-on, batch runners).

Every stage that loops over frames takes ``progress``: ``True`` (a tqdm bar on stderr), ``False``
(silent) or a callable ``report(stage, done, total)`` called at most every 0.1 s and once at the
end of each stage. A callback may raise (for example :class:`Cancelled`) to stop the work: the
exception propagates out of the stage, and outputs are written atomically, so nothing is left
half-written.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pose2rig.errors import Pose2RigError

__all__ = ["Cancelled", "Progress", "json_reporter", "progress_bar"]

T = TypeVar("T")
Progress = bool | Callable[[str, int, int | None], None]


class Cancelled(Pose2RigError):
    """Raised by a progress callback to stop the work (the user pressed cancel)."""


class _CallbackBar:
    """The part of tqdm's interface that pose2rig uses, reporting to a callback."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str,
                 report: Callable[[str, int, int | None], None], initial: int = 0) -> None:
        self.iterable, self.total, self.desc, self.report = iterable, total, desc, report
        self.n = int(initial)
        self._last = 0.0
        self.report(self.desc, self.n, self.total)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            self.report(self.desc, self.n, self.total)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        self.report(self.desc, self.n, self.total)

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> _CallbackBar:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "frame",
    progress: Progress = True,
    initial: int = 0,
) -> Any:
    """A tqdm bar (``progress`` True/False) or a callback reporter (``progress`` callable)."""
    if callable(progress):
        return _CallbackBar(iterable, total, desc, progress, initial=initial)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not progress, initial=initial)


def json_reporter(stream: Any = None) -> Callable[[str, int, int | None], None]:
    """A callback printing one JSON object per report to ``stream`` (default stdout):
    ``{"stage": "detect 2D", "done": 12, "total": 230}``; for programs that run the CLI."""

    def report(stage: str, done: int, total: int | None) -> None:
        out = stream if stream is not None else sys.stdout
        out.write(json.dumps({"stage": stage, "done": int(done), "total": total}) + "\n")
        out.flush()

    return report
