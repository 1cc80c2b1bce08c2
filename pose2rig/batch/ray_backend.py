"""Run a batch's work units as Ray tasks, on a Ray cluster or a local Ray instance.

The same executor interface as :mod:`pose2rig.batch.local` (see :func:`run_units`): the driver
process hands each unit to ``fn`` in a Ray task and sees every result come back, in completion
order; only it writes the manifest, so a node that is lost costs only its units in flight. Inputs
and outputs must lie on a filesystem that every node sees at the same path (docs/BATCH.md).

Ray is the optional ``[ray]`` extra, imported through :func:`pose2rig.extras.require` when a
batch runs on it. No scheduling of our own beyond keeping at most ``workers`` tasks in flight:
placement, worker reuse and node failures are Ray's.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, TypeVar

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.extras import require

__all__ = ["THREAD_ENV", "run_units"]

log = logging.getLogger(__name__)

U = TypeVar("U")
R = TypeVar("R")

THREAD_ENV: dict[str, str] = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The environment of every Ray worker that runs a unit: one thread each for torch's and MKL's
pools (a task holds one CPU of the cluster; more threads would only contend with its neighbours).
Set before the worker imports torch, through the task's ``runtime_env``."""

_LOST = ("WorkerCrashedError", "NodeDiedError", "RayTaskError", "ObjectLostError", "OutOfMemoryError")
"""Ray's errors (names in ``ray.exceptions``) that end one task and no other: its worker process
died, its node died or was cut off, ``fn`` raised, its result was lost with its node, or Ray's
memory monitor killed it. Any other Ray error (the driver lost the cluster) ends the batch."""


def run_units(
    fn: Callable[[U], R],
    units: Sequence[U],
    *,
    workers: int | None = None,
    address: str = "auto",
    on_lost: Callable[[U, str], R] | None = None,
) -> Iterator[R]:
    """``fn(unit)`` for every unit, each in a Ray task, yielded as each completes.

    Args:
        fn: a top-level (picklable) function; it catches every error of its unit and returns it
            inside its result, and every node imports it from the same pose2rig install.
        units: picklable arguments of ``fn``, one task each.
        workers: at most this many tasks in flight (each holds one CPU of the cluster); also the
            CPUs of the local instance started when no cluster runs. None (default): the
            cluster's CPUs, read once connected (a local instance gets this machine's cores).
        address: ``"auto"``: the Ray instance this process is already connected to, else the
            cluster running on this machine (``ray start``, or ``RAY_ADDRESS``), else a new local
            instance with ``workers`` CPUs, shut down when the last result is out (a log line says
            which). Any other value is a cluster's address (``HOST:6379``) to connect to.
        on_lost: builds the result of a unit whose task was lost: its worker or node died, or
            ``fn`` raised (``on_lost(unit, message)``, the message one line naming Ray's error).
            None (default): Ray's error is raised and the units still in flight are cancelled.

    Yields:
        ``fn``'s results (or ``on_lost``'s) in the order the tasks complete, in this process.
        Closing the generator early (the driver interrupted) cancels the tasks in flight (their
        worker processes are killed) and submits no more.

    Raises:
        ArgumentError: ``workers`` is not a whole number >= 1, or ``address`` is empty.
        Pose2RigError: Ray is not installed (the ``[ray]`` extra), or the cluster at ``address``
            cannot be reached.
    """
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ArgumentError(f"{{workers}} must be a whole number >= 1, got {workers!r}", "workers")
    if not address:
        raise ArgumentError("{address} must be 'auto' or a Ray cluster's address (HOST:PORT), got ''", "address")
    if not units:
        return
    ray = require("ray", "ray")
    started = _connect(ray, address, workers if workers is not None else os.cpu_count() or 1)
    try:
        cap = workers if workers is not None else max(1, int(ray.cluster_resources().get("CPU", 1)))
        log.info("ray: at most %d task(s) in flight%s", cap, "" if workers is not None else " (the cluster's CPUs)")
        yield from _run(ray, fn, units, cap, on_lost)
    finally:
        if started:
            ray.shutdown()


def _run(ray: ModuleType, fn: Callable[[U], R], units: Sequence[U], workers: int,
         on_lost: Callable[[U, str], R] | None) -> Iterator[R]:
    # max_retries=0: a unit whose worker died is reported, not run again behind the driver's back;
    # the driver records the attempt and a rerun of the batch redoes it. (A clip that kills its
    # worker would otherwise kill three more.)
    task = ray.remote(num_cpus=1, max_retries=0, runtime_env={"env_vars": dict(THREAD_ENV)})(fn)
    lost = tuple(getattr(ray.exceptions, name) for name in _LOST)
    pending: dict[Any, U] = {}  # ObjectRef -> its unit
    queue = iter(units)
    try:
        while True:
            while len(pending) < workers:
                unit = next(queue, _END)
                if unit is _END:
                    break
                pending[task.remote(unit)] = unit
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            unit = pending.pop(ref)
            try:
                result = ray.get(ref)
            except lost as e:
                if on_lost is None:
                    raise
                message = _describe(e, ray)
                log.warning("ray: a unit was lost: %s", message)
                result = on_lost(unit, message)
            yield result
    finally:
        for ref in pending:  # closed early or an error: nothing left running for this batch
            ray.cancel(ref, force=True)


_END: Any = object()


def _connect(ray: ModuleType, address: str, workers: int) -> bool:
    """Connect this process to Ray as :func:`run_units` says; True when it started the instance."""
    if ray.is_initialized():
        log.info("ray: using the Ray instance this process is connected to (%s)", _cpus(ray))
        return False
    if address == "auto" and not os.environ.get("RAY_ADDRESS"):
        try:
            ray.init(address="auto")
        except ConnectionError:  # no cluster runs on this machine
            # The job's environment is the tasks' own, so the workers Ray starts with the
            # instance serve them (a task whose runtime_env differs waits for workers of its own).
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env={"env_vars": dict(THREAD_ENV)})
            log.info("ray: no Ray cluster running; started a local Ray instance with %d CPUs", workers)
            return True
    else:
        _reachable(address)
        try:
            ray.init(address=address)
        except (ConnectionError, ValueError, RuntimeError, ray.exceptions.AuthenticationError) as e:
            detail = " ".join(str(e).split())
            raise Pose2RigError(f"could not connect to the Ray cluster at {address}: {detail}") from None
    log.info("ray: connected to the Ray cluster at %s (%s)", ray.get_runtime_context().gcs_address, _cpus(ray))
    return False


def _reachable(address: str) -> None:
    """Raise a one-line Pose2RigError where nothing answers at ``HOST:PORT`` (``ray.init`` would
    retry for minutes). Other forms (``ray://...``, ``auto`` through ``RAY_ADDRESS``) go to Ray as
    they are."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise Pose2RigError(f"could not connect to the Ray cluster at {address}: "
                            f"{e.strerror or type(e).__name__} (is `ray start --head` running there?)") from None


def _cpus(ray: ModuleType) -> str:
    return f"{ray.cluster_resources().get('CPU', 0):g} CPUs"


def _describe(e: BaseException, ray: ModuleType) -> str:
    """Ray's error of a lost task as one line: the error's name and its first line."""
    cause = e.cause if isinstance(e, ray.exceptions.RayTaskError) else e  # what fn raised
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if isinstance(e, ray.exceptions.RayTaskError):
        return f"the unit's task raised {type(cause).__name__}: {first}"[:500]
    return f"the unit's Ray task was lost ({type(e).__name__}): {first}"[:500]
