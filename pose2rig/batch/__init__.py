"""Many clips at once: a folder tree of videos and BVHs converted into a mirrored tree,
resumable, kill-safe, on a local process pool or a Ray cluster.

:func:`run_batch` is the entry point (``pose2rig batch``); :mod:`pose2rig.batch.work` converts
one clip (:class:`~pose2rig.batch.work.WorkUnit` -> :class:`~pose2rig.batch.work.UnitResult`),
:mod:`pose2rig.batch.local` and :mod:`pose2rig.batch.ray_backend` run the units,
:mod:`pose2rig.batch.report` writes thumbnails and the summary page.
"""

from __future__ import annotations

from pose2rig.batch.driver import BatchReport, run_batch

__all__ = ["BatchReport", "run_batch"]
