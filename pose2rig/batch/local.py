"""The local backend: a process pool on this machine, whose workers die with their parent.

:func:`run_units` calls ``fn(unit)`` in ``workers`` spawned processes and yields each result as
it completes. Each worker runs one thread for torch (``OMP_NUM_THREADS=1``, set before anything
imports torch) but keeps its decode-ahead thread (:func:`pose2rig.video.prefetch`): workers kept
to one core each were measured 8% slower with two workers on two cores (docs/BENCHMARKS.md). It
keeps native libraries' start-up chatter off the terminal and asks Linux to SIGKILL it when the
batch process dies (``prctl(PR_SET_PDEATHSIG)``): no orphan keeps writing
into the next run. At most ``workers`` units are in flight, so when a worker process dies (a
crash in a native library, the OOM killer) the units it may have held are known:
:class:`WorkerLost` names them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from pose2rig.batch.work import WorkerLost

__all__ = ["PID_DIR_ENV", "WorkerLost", "run_units"]

U = TypeVar("U")
R = TypeVar("R")

PID_DIR_ENV = "POSE2RIG_BATCH_PID_DIR"
"""Tests: a folder where each worker writes a file named after its pid."""
_PR_SET_PDEATHSIG = 1
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _init_worker(parent: int, quiet: bool) -> None:
    """Pool initializer: die with the parent, one thread for torch, quiet native stderr."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    pid_dir = os.environ.get(PID_DIR_ENV)
    if pid_dir:
        open(os.path.join(pid_dir, str(os.getpid())), "w").close()
    if quiet:  # MediaPipe's C++ start-up lines; a clip's errors come back in its result
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def run_units(fn: Callable[[U], R], units: Sequence[U], *, workers: int) -> Iterator[R]:
    """``fn(unit)`` for every unit in ``workers`` worker processes, yielding each result as it
    completes (completion order).

    ``fn`` is a top-level (picklable) function that returns the clip's errors in its result. A
    worker that dies raises :class:`WorkerLost` naming the units in flight (the pool is shut
    down; the caller may call again with the rest). Closing the generator early shuts the pool
    down: pending units are cancelled and the workers stopped.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        from pose2rig.errors import ArgumentError

        raise ArgumentError(f"{{workers}} must be a whole number >= 1, got {workers!r}", "workers")
    todo = list(units)
    if not todo:
        return
    quiet = not os.environ.get("POSE2RIG_DEBUG")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), quiet))
    running: dict[Future[R], U] = {}
    clean_exit = False
    try:
        nxt = 0
        while nxt < len(todo) or running:
            while nxt < len(todo) and len(running) < workers:
                running[pool.submit(fn, todo[nxt])] = todo[nxt]
                nxt += 1
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                unit = running.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    lost = [unit, *running.values()]
                    running.clear()
                    raise WorkerLost(f"a worker process died while {len(lost)} clip(s) were in flight",
                                     lost) from None
                yield result
        clean_exit = True
    finally:
        if clean_exit:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers now (the driver is going away)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=5)
