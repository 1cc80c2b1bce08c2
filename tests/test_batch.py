"""The batch engine: pose2rig/batch/work.py, local.py, driver.py and ``pose2rig batch``.

Inputs are short cuts of real clips: CMU mocap from ../shared/data/mocap (written with
pose2rig.io.bvh) and the first second of samples/sports2d_demo.mp4; the broken ones are made
here (empty, not a video, a truncated BVH, a BVH with a syntax error).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pose2rig.batch import driver as batch_driver
from pose2rig.batch import run_batch
from pose2rig.batch.driver import MANIFEST, discover, read_manifest
from pose2rig.batch.local import PID_DIR_ENV
from pose2rig.batch.work import CRASH_ENV, CRASH_POINTS, TMP_DIR
from pose2rig.io.bvh import read_bvh, write_bvh
from pose2rig.options import ConvertOptions
from pose2rig.testing import cut_video

REPO = Path(__file__).resolve().parents[1]
MOCAP = REPO.parent / "shared" / "data" / "mocap" / "cmu"
DEMO = REPO / "samples" / "sports2d_demo.mp4"
# what a run writes besides the clips' folders, and the clip files that hold run times
_BOOKKEEPING = {MANIFEST, "summary.md", "summary.html", ".pose2rig-hashes.json", ".pose2rig-lock"}


def _cut(src: Path, dst: Path, start: int, frames: int) -> Path:
    m = read_bvh(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_bvh(dst, dataclasses.replace(m, motion=m.motion[start:start + frames]))
    return dst


def _good_bvhs(folder: Path) -> list[str]:
    """Four short cuts of CMU clips (two skeletons), in a small tree; their paths relative to ``folder``."""
    _cut(MOCAP / "scaled_131_01.bvh", folder / "walk.bvh", 0, 48)
    _cut(MOCAP / "scaled_131_03.bvh", folder / "takes" / "hop.bvh", 100, 60)
    _cut(MOCAP / "scaled_131_02.bvh", folder / "takes" / "day2" / "walk2.BVH", 200, 40)
    _cut(MOCAP / "fairmotion_01_01.bvh", folder / "takes" / "jump.bvh", 500, 50)
    return ["takes/day2/walk2.BVH", "takes/hop.bvh", "takes/jump.bvh", "walk.bvh"]


def _broken(folder: Path) -> list[str]:
    good = (folder / "walk.bvh").read_text()
    (folder / "takes").mkdir(parents=True, exist_ok=True)
    (folder / "takes" / "empty.mp4").write_bytes(b"")
    (folder / "takes" / "notes.MP4").write_text("not a video\n")
    (folder / "cut_off.bvh").write_text(good[: len(good) // 2])
    (folder / "syntax.bvh").write_text(good.replace("ROOT", "ROOTS", 1))
    return ["cut_off.bvh", "syntax.bvh", "takes/empty.mp4", "takes/notes.MP4"]


def _clip_files(out: Path) -> dict[str, bytes | None]:
    """Every file under ``out`` but the run's bookkeeping: the comparable outputs' bytes (BVH,
    npz, key), None for the files that hold run times (result.json) or pictures."""
    files: dict[str, bytes | None] = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_dir() or rel in _BOOKKEEPING:
            continue
        files[rel] = p.read_bytes() if p.suffix.lower() in (".bvh", ".npz", ".txt") else None
    return files


def _latest(out: Path) -> dict[str, dict]:
    return {r["rel"]: r for r in read_manifest(out / MANIFEST)}


def _cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pose2rig.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


@pytest.fixture(scope="module")
def bvh_tree(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("bvh_in")
    return folder, _good_bvhs(folder)


@pytest.fixture(scope="module")
def reference(bvh_tree, tmp_path_factory) -> Path:
    """An uninterrupted run over the BVH tree, one worker."""
    out = tmp_path_factory.mktemp("reference")
    report = run_batch(bvh_tree[0], out, workers=1, progress=False)
    assert report.ok and len(report.done) == len(bvh_tree[1])
    return out


# ---------------------------------------------------------------------------------------------
# discovery, keys, manifest


def test_discover_finds_videos_and_bvhs_sorted_skipping_hidden_folders_and_the_output(tmp_path):
    for rel in ("b.MOV", "a/x.bvh", "a/y.webm", "a/z.txt", ".hidden/c.mp4", "a/.d.mp4", "out/old.bvh",
                "k.Mkv", "v.avi", "n.mp4.part"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = discover(tmp_path, tmp_path / "out")
    assert [(p.relative_to(tmp_path).as_posix(), k) for p, k in found] == [
        ("a/x.bvh", "bvh"), ("a/y.webm", "video"), ("b.MOV", "video"), ("k.Mkv", "video"), ("v.avi", "video")]


def test_a_torn_manifest_line_is_ignored_and_the_next_record_starts_its_own_line(tmp_path):
    path = tmp_path / MANIFEST
    path.write_bytes(b'{"rel": "a.bvh", "status": "done"}\n{"rel": "b.bvh", "sta')
    m = batch_driver._Manifest(path)
    m.append({"rel": "c.bvh", "status": "failed"})
    m.close()
    assert [r["rel"] for r in read_manifest(path)] == ["a.bvh", "c.bvh"]


def test_key_changes_with_input_options_formats_and_checkpoint(tmp_path):
    a, b = tmp_path / "a.bvh", tmp_path / "b.pt"
    a.write_text("x")
    b.write_text("weights")
    hashes = batch_driver._Hashes(tmp_path)
    flat = batch_driver.plain_options(ConvertOptions())

    def key(options=flat, formats=("bvh",), content="x"):
        a.write_text(content)
        return batch_driver.clip_key(hashes(a), batch_driver._settings_key(options, formats, hashes))

    base = key()
    assert key() == base
    assert key(content="y") != base
    assert key(formats=("bvh", "npz")) != base
    assert key(options={**flat, "smooth": "none"}) != base
    assert key(options={**flat, "cache": False}) == base  # where detections are cached is not the output
    assert key(options={**flat, "checkpoint": str(b)}) != base


# ---------------------------------------------------------------------------------------------
# a folder of good and bad takes


@pytest.fixture(scope="module")
def demo_cut(tmp_path_factory) -> Path:
    """The first second of the demo clip (30 frames, 1768x994), written with PyAV."""
    return cut_video(DEMO, tmp_path_factory.mktemp("cut") / "demo_1s.mp4", end=1.0)


@pytest.mark.slow
def test_bad_clips_fail_alone_good_ones_convert_and_the_tree_is_mirrored(tmp_path, demo_cut):
    src, out = tmp_path / "in", tmp_path / "out"
    good = _good_bvhs(src)
    bad = _broken(src)
    (src / "takes" / "video").mkdir()
    (src / "takes" / "video" / "demo.mp4").write_bytes(demo_cut.read_bytes())
    good.append("takes/video/demo.mp4")
    run = _cli("batch", str(src), "-o", str(out), "--workers", "2")
    assert run.returncode == 1, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"{len(good)} done, {len(bad)} failed, 0 skipped; manifest: " \
                                                   f"{out.resolve() / MANIFEST}"
    assert "Traceback" not in run.stderr
    latest = _latest(out)
    assert sorted(latest) == sorted(good + bad)
    for rel in bad:
        r = latest[rel]
        assert r["status"] == "failed" and r["outputs"] == {}
        assert r["error"] and "\n" not in r["error"] and not r["error"].startswith("internal error"), r["error"]
        assert str(tmp_path) not in r["error"], r["error"]  # inputs named relative to INPUT_DIR
    assert "truncated" in latest["cut_off.bvh"]["error"]
    assert "ROOTS" in latest["syntax.bvh"]["error"]
    assert latest["takes/empty.mp4"]["error"].endswith("empty (0-byte) file: takes/empty.mp4")
    for rel in good:
        r = latest[rel]
        assert r["status"] == "done" and r["error"] is None and r["kind"] == ("video" if rel.endswith("mp4") else "bvh")
        folder = rel.rsplit(".", 1)[0]
        stem = folder.rsplit("/", 1)[-1]
        assert r["outputs"] == {"bvh": f"{folder}/{stem}.bvh", "npz": f"{folder}/{stem}.npz"}
        assert (out / folder / "key.txt").read_text().strip() == r["key"]
        bvh = read_bvh(out / r["outputs"]["bvh"])
        assert bvh.num_frames == r["frames"]
        with np.load(out / r["outputs"]["npz"], allow_pickle=False) as z:
            assert z["joints3d_world"].shape[0] == r["frames"]
        if rel.endswith(".bvh"):
            assert bvh.names == read_bvh(src / rel).names and bvh.num_frames == read_bvh(src / rel).num_frames
            assert r["foot_sliding"] is not None and 0 <= r["foot_sliding"] < 1.0
    video = latest["takes/video/demo.mp4"]
    assert video["frames"] == 30 and np.isfinite(video["plausibility"])
    from pose2rig.io.npz import load_keypoints

    kp = load_keypoints(out / "takes" / "video" / "demo" / "demo.keypoints.npz")  # convert's detection cache
    seen = np.isfinite(kp.keypoints).all(axis=-1).any(axis=-1)
    assert video["detection_rate"] == pytest.approx(seen.mean()) and video["detection_rate"] > 0.5
    # nothing of the broken ones, no staging left; the summary lists failures first
    assert not any((out / rel.rsplit(".", 1)[0]).exists() for rel in bad)
    assert not (out / TMP_DIR).exists()
    summary = (out / "summary.md").read_text()
    assert summary.index("takes/notes.MP4") < summary.index("takes/day2/walk2.BVH")


# ---------------------------------------------------------------------------------------------
# resume


def test_rerun_skips_finished_clips_without_reading_inputs_and_a_changed_option_redoes_them(
        bvh_tree, reference, tmp_path, monkeypatch):
    src, rels = bvh_tree
    out = tmp_path / "out"
    first = run_batch(src, out, workers=1, progress=False)
    assert sorted(r.rel for r in first.done) == sorted(rels)
    before = _clip_files(out)
    lines = (out / MANIFEST).read_bytes()

    def no_reading(path):
        raise AssertionError(f"{path} hashed again")

    with monkeypatch.context() as m:  # unchanged inputs: their hashes come from the cache
        m.setattr(batch_driver, "_sha256", no_reading)
        t0 = time.perf_counter()
        again = run_batch(src, out, workers=1, progress=False)
        seconds = time.perf_counter() - t0
    print(f"rerun over {len(rels)} finished clips: {seconds:.3f} s")
    assert again.done == [] and again.failed == [] and sorted(again.skipped) == sorted(rels)
    assert (out / MANIFEST).read_bytes() == lines
    assert _clip_files(out) == before
    assert [r["status"] for r in again.records] == ["done"] * len(rels)
    assert f"this run: 0 converted, 0 failed, {len(rels)} skipped (finished before)" in (out / "summary.md").read_text()

    redo = run_batch(src, out, ConvertOptions.from_flat(smooth="none"), workers=1, progress=False)
    assert sorted(r.rel for r in redo.done) == sorted(rels) and redo.skipped == []
    after = _clip_files(out)
    assert sorted(after) == sorted(before)
    for rel, data in after.items():
        if rel.endswith((".bvh", "key.txt")):
            assert data != before[rel], rel  # unsmoothed motion, a new key
    assert not (out / TMP_DIR).exists()
    assert [r["attempt"] for r in _latest(out).values()] == [2] * len(rels)


def test_two_workers_write_what_one_does(bvh_tree, reference, tmp_path):
    report = run_batch(bvh_tree[0], tmp_path / "out", workers=2, progress=False)
    assert report.ok
    assert _clip_files(tmp_path / "out") == _clip_files(reference)


# ---------------------------------------------------------------------------------------------
# kill-safety


def _check_completes_like(reference: Path, src: Path, out: Path) -> None:
    """A rerun finishes the batch: the reference's clip files, byte for byte, nothing more, no
    staging left, every clip's latest record done."""
    rerun = _cli("batch", str(src), "-o", str(out), "--workers", "1")
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert _clip_files(out) == _clip_files(reference)
    assert not (out / TMP_DIR).exists()
    assert {r: v["status"] for r, v in _latest(out).items()} == {r: "done" for r in _latest(reference)}


@pytest.mark.parametrize("point", [pytest.param(p, marks=pytest.mark.slow) if p in ("mid-write", "before-publish")
                                   else p for p in CRASH_POINTS])  # a worker's point: a fresh pool per clip
def test_a_crash_at_each_point_loses_nothing_after_a_rerun(point, bvh_tree, reference, tmp_path):
    src, rels = bvh_tree
    out = tmp_path / "out"
    crashed = _cli("batch", str(src), "-o", str(out), "--workers", "1", env={CRASH_ENV: point})
    if point in ("after-publish", "mid-manifest"):  # the driver dies
        assert crashed.returncode == 77, crashed.stderr
        assert len(list((out / rels[0].rsplit(".", 1)[0]).glob("*.bvh"))) == 1  # the first clip was published
    else:  # each worker dies at that point: its clip fails, the batch goes on
        assert crashed.returncode == 1, crashed.stderr
        latest = _latest(out)
        assert sorted(latest) == sorted(rels)
        assert all("worker process died" in r["error"] for r in latest.values())
        assert not any((out / rel.rsplit(".", 1)[0]).exists() for rel in rels)
    _check_completes_like(reference, src, out)
    if point == "after-publish":  # published but unrecorded: the rerun records it from the clip's folder
        first = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines() if line.strip()]
        assert first[0]["rel"] == rels[0] and first[0]["status"] == "done" and first[0]["attempt"] == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie writes nothing


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_a_random_moment_leaves_no_orphan_and_a_rerun_completes(seed, bvh_tree, reference, tmp_path):
    src, rels = bvh_tree
    out, pids = tmp_path / "out", tmp_path / "pids"
    pids.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pose2rig.cli", "batch", str(src), "-o", str(out),
                             "--workers", "2"], env={**os.environ, PID_DIR_ENV: str(pids)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(pids.iterdir()) and time.monotonic() < deadline:  # the pool is up
        time.sleep(0.05)
    # a random moment while clips are left: after k of the n clips are recorded (k < n - 1, so at
    # least two are still to come), then a random fraction of a second more
    rng = random.Random(seed)
    k = rng.randrange(0, len(rels) - 1)
    manifest = out / MANIFEST
    while time.monotonic() < deadline and proc.poll() is None:
        if (manifest.read_bytes().count(b"\n") if manifest.is_file() else 0) >= k:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    workers = [int(p.name) for p in pids.iterdir()]
    assert workers
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a worker outlived the batch"
    assert still_running  # killed mid-batch, not after
    _check_completes_like(reference, src, out)


def test_a_second_batch_into_the_same_folder_stops_with_one_line_and_touches_nothing(bvh_tree, tmp_path):
    """The driver holds flock on OUTPUT_DIR/.pose2rig-lock; a second batch meets it and stops
    (exit 1, one line); once released, the folder works again. (After SIGKILL the kernel drops
    the lock: the kill-safety tests' reruns show a killed run never blocks the next.)"""
    import fcntl

    from pose2rig.batch.driver import LOCK_FILE

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        blocked = _cli("batch", str(bvh_tree[0]), "-o", str(out), "--workers", "1")
    finally:
        os.close(fd)
    assert blocked.returncode != 0
    lines = [ln for ln in blocked.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another pose2rig batch (pid 4242)" in lines[0] and "Traceback" not in blocked.stderr
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # no manifest, no clip, no staging
    again = _cli("batch", str(bvh_tree[0]), "-o", str(out), "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in _latest(out).values()} == {"done"}
