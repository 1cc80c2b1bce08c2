"""The Ray backend of a batch (pose2rig/batch/ray_backend.py) on a local Ray instance with 2 CPUs,
as CI has (2 cores, no GPU): every result comes back, at most ``workers`` tasks in flight, a
crashed worker fails its unit only, closing the generator early cancels the rest; and a small
batch (``run_batch(ray="auto")``) over cuts of real CMU clips writes what a serial run does."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import pytest
import ray

from pose2rig.batch.ray_backend import run_units
from pose2rig.errors import ArgumentError, Pose2RigError

CRASH = -1.0  # the unit's worker process exits at once, as a worker killed under it
RAISE = -2.0  # fn raises (a bug of fn's: it should return the error inside its result)
MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap" / "cmu"
TESTS = str(Path(__file__).resolve().parent)


def _importable(mp: pytest.MonkeyPatch) -> None:
    """Workers import ``fn`` by its module, as every node imports pose2rig.batch's from its
    install: this module's folder on the PYTHONPATH that a local instance's workers inherit."""
    mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])))
    mp.delenv("MKL_NUM_THREADS", raising=False)  # Ray sets OMP_NUM_THREADS itself, not MKL's


def _work(unit: tuple[int, float, str]) -> dict:
    """A stand-in for run_unit: squares ``i`` after ``sleep`` seconds, and leaves ``i.start``
    (holding the worker's pid) and ``i.done`` files in ``folder``."""
    i, sleep, folder = unit
    start = time.time()
    Path(folder, f"{i}.start").write_text(str(os.getpid()))
    if sleep == CRASH:
        os._exit(1)
    if sleep == RAISE:
        raise ValueError(f"unit {i} is broken")
    time.sleep(sleep)
    Path(folder, f"{i}.done").write_text("")
    return {"i": i, "square": i * i, "start": start, "end": time.time(), "pid": os.getpid(),
            "threads": (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS"))}


def _lost(unit: tuple[int, float, str], message: str) -> dict:
    return {"i": unit[0], "lost": message}


def _units(folder: Path, sleeps: list[float]) -> list[tuple[int, float, str]]:
    return [(i, s, str(folder)) for i, s in enumerate(sleeps)]


def _most_at_once(results: list[dict]) -> int:
    """The largest number of units whose [start, end] intervals overlap at one moment."""
    events = sorted([(r["start"], 1) for r in results] + [(r["end"], -1) for r in results])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_auto_without_a_cluster_starts_a_local_instance_and_shuts_it_down(tmp_path, monkeypatch, caplog) -> None:
    # First in the module: before the fixture below connects this process to an instance.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    _importable(monkeypatch)
    assert not ray.is_initialized()
    caplog.set_level(logging.INFO, logger="pose2rig.batch.ray_backend")
    results = list(run_units(_work, _units(tmp_path, [0.0] * 4), workers=2, address="auto"))
    assert sorted(r["square"] for r in results) == [0, 1, 4, 9]
    assert {r["threads"] for r in results} == {("1", "1")}
    assert "no Ray cluster running; started a local Ray instance with 2 CPUs" in caplog.text
    assert not ray.is_initialized()  # started by the call, so shut down by it


def test_bad_arguments_are_one_line_before_ray_starts(tmp_path) -> None:
    with pytest.raises(ArgumentError, match="^workers must be a whole number >= 1, got 0$"):
        next(run_units(_work, _units(tmp_path, [0.0]), workers=0))
    with pytest.raises(ArgumentError, match="^address must be 'auto'"):
        next(run_units(_work, _units(tmp_path, [0.0]), workers=1, address=""))
    assert list(run_units(_work, [], workers=2)) == []
    with pytest.raises(Pose2RigError, match=r"^could not connect to the Ray cluster at 127.0.0.1:1: "):
        next(run_units(_work, _units(tmp_path, [0.0]), workers=1, address="127.0.0.1:1"))  # a closed port
    assert not ray.is_initialized()


def test_without_the_ray_extra_the_error_is_one_line_naming_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(Pose2RigError) as e:
        next(run_units(_work, _units(tmp_path, [0.0]), workers=1))
    assert str(e.value) == ("running a batch on a Ray cluster needs the [ray] extra (ray is not "
                            "installed): pip install 'pose2rig[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance with 2 CPUs for the module's other tests (its start takes seconds)."""
    with pytest.MonkeyPatch.context() as mp:
        _importable(mp)
        ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def folders(tmp_path):
    for name in ("one", "two", "crash", "raise", "close"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_results_come_back_as_they_complete_and_ray_stays_up(local_ray, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pose2rig.batch.ray_backend")
    list(run_units(_work, _units(tmp_path, [0.5, 0.5]), workers=2))  # both workers up, so ...
    sleeps = [1.5] + [0.0] * 7  # ... while unit 0 sleeps, the other worker runs 1..7
    results = list(run_units(_work, _units(tmp_path, sleeps), workers=2))
    assert sorted(r["square"] for r in results) == [i * i for i in range(8)]
    assert results[0]["i"] != 0 and results[-1]["i"] == 0
    assert {r["threads"] for r in results} == {("1", "1")}  # the tasks' own environment
    assert "using the Ray instance this process is connected to (2 CPUs)" in caplog.text
    assert ray.is_initialized()  # the call did not start it, so it leaves it running


def test_without_workers_as_many_tasks_as_the_cluster_has_cpus_are_in_flight(local_ray, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pose2rig.batch.ray_backend")
    sleeps = [1.0] + [0.0] * 5  # one worker holds unit 0 while the cluster's other CPU runs the rest
    results = list(run_units(_work, _units(tmp_path, sleeps)))
    assert sorted(r["square"] for r in results) == [i * i for i in range(6)]
    assert results[-1]["i"] == 0  # a second task ran beside it: more than one in flight
    assert "at most 2 task(s) in flight (the cluster's CPUs)" in caplog.text


def test_at_most_workers_tasks_in_flight(local_ray, folders) -> None:
    one = list(run_units(_work, _units(folders / "one", [0.3] * 4), workers=1))
    two = list(run_units(_work, _units(folders / "two", [0.8] * 4), workers=2))
    assert _most_at_once(one) == 1  # though the instance has 2 CPUs
    assert _most_at_once(two) == 2


def test_a_crashed_worker_fails_its_unit_only(local_ray, folders) -> None:
    sleeps = [0.0, 0.0, CRASH, 0.0, 0.0, RAISE, 0.0]
    results = {r["i"]: r for r in run_units(_work, _units(folders / "crash", sleeps), workers=2,
                                             on_lost=_lost)}
    assert sorted(results) == list(range(7))
    assert {i for i, r in results.items() if "lost" in r} == {2, 5}
    assert all(results[i]["square"] == i * i for i in (0, 1, 3, 4, 6))
    assert results[2]["lost"].startswith("the unit's Ray task was lost (WorkerCrashedError): ")
    assert results[5]["lost"] == "the unit's task raised ValueError: unit 5 is broken"
    assert not any("\n" in r["lost"] for r in (results[2], results[5]))
    # Without on_lost, Ray's error ends the batch.
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        list(run_units(_work, _units(folders / "raise", [CRASH]), workers=1))


def _serial(fn, units, *, workers):
    return map(fn, units)  # the units in this process, one after another: the reference


def test_a_small_batch_through_ray_writes_what_a_serial_run_does(local_ray, tmp_path) -> None:
    from pose2rig.batch import run_batch
    from pose2rig.io.bvh import read_bvh, write_bvh

    src = tmp_path / "in"
    (src / "takes").mkdir(parents=True)
    for name, out, start in [("scaled_131_01", "walk.bvh", 0), ("scaled_131_03", "takes/hop.bvh", 100)]:
        m = read_bvh(MOCAP / f"{name}.bvh")  # short cuts of real CMU clips
        write_bvh(src / out, dataclasses.replace(m, motion=m.motion[start:start + 40]))
    report = run_batch(src, tmp_path / "ray", workers=2, ray="auto", progress=False)
    reference = run_batch(src, tmp_path / "serial", workers=1, backend=_serial, progress=False)
    assert report.ok and sorted(r.rel for r in report.done) == ["takes/hop.bvh", "walk.bvh"]

    def outputs(out: Path) -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.suffix in (".bvh", ".npz")}

    assert set(outputs(tmp_path / "ray")) == {"takes/hop/hop.bvh", "takes/hop/hop.npz", "walk/walk.bvh", "walk/walk.npz"}
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "serial") and reference.ok
    assert ray.is_initialized()


def test_closing_early_cancels_the_units_in_flight_and_submits_no_more(local_ray, folders) -> None:
    folder = folders / "close"
    t0 = time.monotonic()
    batch = run_units(_work, _units(folder, [0.0] + [30.0] * 7), workers=2)
    assert next(batch)["i"] == 0  # units 1 and 2 are now in flight, each for 30 s
    batch.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # force-cancelled: their worker processes are killed
        pids = [int(f.read_text()) for f in folder.glob("*.start") if f.stem != "0"]
        if not any(_alive(p) for p in pids):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert not any(_alive(p) for p in pids)
    assert {f.stem for f in folder.glob("*.start")} <= {"0", "1", "2"}
    assert {f.stem for f in folder.glob("*.done")} == {"0"}
    assert time.monotonic() - t0 < 20
