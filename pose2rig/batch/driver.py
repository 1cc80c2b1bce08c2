"""A batch over a folder tree: discovery, keys, resume, the manifest, progress.

:func:`run_batch` finds every video and BVH under ``INPUT_DIR``, gives each a key, skips the
clips whose folder already holds that key, runs the rest through a backend (the local pool of
:mod:`pose2rig.batch.local`, or Ray), appends one manifest line per attempt, and writes the
summary page (:func:`pose2rig.batch.report.write_summary`).

Convention:
    - Key = sha256 of the JSON of: the input's content sha256, the options that affect the
      output (sorted by name; a path option by its file's content sha256), the formats, the
      rig's content sha256, ``pose2rig.__version__`` and the lifter checkpoint's sha256.
    - Content hashes are cached in ``OUTPUT_DIR/.pose2rig-hashes.json`` by (path, size,
      mtime_ns): a rerun over unchanged inputs reads no input.
    - ``OUTPUT_DIR/manifest.jsonl``: one JSON line per clip attempt (the
      :class:`~pose2rig.batch.work.UnitResult`'s fields plus ``time``, ISO UTC, and ``kind``),
      appended by this process only, flushed and fsynced per line. A torn last line (the
      batch killed while writing it) is ignored on reading and the next line starts afresh.
    - One batch at a time per ``OUTPUT_DIR``: the driver holds ``flock`` on
      ``OUTPUT_DIR/.pose2rig-lock`` (a second one stops with one line; the kernel releases it
      when the driver dies). On network filesystems ``flock`` is only as good as the mount's
      lock support.
    - Only the driver and :func:`pose2rig.batch.work.run_unit` write into ``OUTPUT_DIR``;
      ``OUTPUT_DIR/.pose2rig-tmp/`` is removed at the start of every run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pose2rig.batch.work import (
    FORMATS,
    TMP_DIR,
    VIDEO_SUFFIXES,
    UnitResult,
    WorkerLost,
    WorkUnit,
    clip_dir,
    crash_point,
    run_unit,
)
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.options import ConvertOptions
from pose2rig.progress import Progress

__all__ = ["DEFAULT_FORMATS", "BatchReport", "discover", "run_batch"]

log = logging.getLogger(__name__)

DEFAULT_FORMATS = ("bvh", "npz")
MANIFEST = "manifest.jsonl"
LOCK_FILE = ".pose2rig-lock"
HASHES = ".pose2rig-hashes.json"
_KEY_VERSION = 1
_NOT_OUTPUT = ("cache",)
"""Options that change where work is cached, not what is written: left out of the key."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BatchReport:
    """What a batch did.

    Attributes:
        done, failed: this run's results (:class:`~pose2rig.batch.work.UnitResult`), by status.
        skipped: the clips (``rel``) already finished with the same key.
        records: the manifest's latest record of every clip of the input folder (the summary's rows).
        manifest: the manifest's path.
        summary: the summary pages written.
    """

    done: list[UnitResult] = field(default_factory=list)
    failed: list[UnitResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    manifest: Path = Path(MANIFEST)
    summary: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No clip failed."""
        return not self.failed


# ---------------------------------------------------------------------------------------------
# discovery and keys


def discover(input_dir: Path, out_dir: Path | None = None) -> list[tuple[Path, str]]:
    """Every video (:data:`~pose2rig.batch.work.VIDEO_SUFFIXES`, any case) and ``.bvh`` under
    ``input_dir``, recursively, as ``(path, kind)`` sorted by relative path; hidden folders and
    files, and ``out_dir`` (where it lies inside), are skipped."""
    root = Path(input_dir)
    skip = Path(out_dir).resolve() if out_dir is not None else None
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and (skip is None or (here / d).resolve() != skip))
        for name in filenames:
            if name.startswith("."):
                continue
            suffix = os.path.splitext(name)[1].lower()
            kind = "video" if suffix in VIDEO_SUFFIXES else "bvh" if suffix == ".bvh" else None
            if kind is not None:
                found.append((here / name, kind))
    return sorted(found, key=lambda pk: pk[0].relative_to(root).as_posix())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Hashes:
    """Content hashes cached by (path, size, mtime_ns) in ``OUTPUT_DIR/.pose2rig-hashes.json``."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / HASHES
        self.tmp_dir = out_dir / TMP_DIR
        try:
            data = json.loads(self.path.read_text())
            self.entries: dict[str, list[Any]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def __call__(self, path: Path) -> str:
        p = Path(path).resolve()
        st = p.stat()
        hit = self.entries.get(str(p))
        if isinstance(hit, list) and len(hit) == 3 and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        digest = _sha256(p)
        self.entries[str(p)] = [st.st_size, st.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f"hashes-{os.getpid()}.json"
        tmp.write_text(json.dumps(self.entries, sort_keys=True))
        os.replace(tmp, self.path)
        self.changed = False


def plain_options(options: ConvertOptions) -> dict[str, Any]:
    """:meth:`ConvertOptions.flat` with paths as strings: picklable and JSON-able."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in options.flat().items()}


def _checkpoint(options: dict[str, Any]) -> Path | None:
    if options.get("checkpoint"):
        return Path(options["checkpoint"])
    from pose2rig.assets import bundled

    try:
        return bundled("models", "lifter_h36m17.pt")
    except Pose2RigError:
        return None


def _settings_key(options: dict[str, Any], formats: tuple[str, ...], hashes: _Hashes) -> dict[str, Any]:
    """Everything of the key but the input's own hash."""
    affecting: dict[str, Any] = {}
    for name in sorted(options):
        if name in _NOT_OUTPUT:
            continue
        value = options[name]
        if isinstance(value, str) and name in _PATH_OPTIONS and Path(value).is_file():
            value = {"sha256": hashes(Path(value))}
        affecting[name] = value
    ck = _checkpoint(options)
    rig = options.get("rig")
    from pose2rig import __version__

    return {
        "v": _KEY_VERSION,
        "options": affecting,
        "formats": sorted(formats),
        "rig": hashes(Path(rig)) if rig and Path(rig).is_file() else rig,
        "version": __version__,
        "checkpoint": hashes(ck) if ck is not None and ck.is_file() else None,
    }


_PATH_OPTIONS = ("checkpoint", "smpl_model", "pose_prior", "rig", "rig_map")


def clip_key(content_sha256: str, settings: dict[str, Any]) -> str:
    """The clip's key: sha256 of the JSON of its input's hash and the settings."""
    blob = json.dumps({"input": content_sha256, **settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# manifest


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Every record of the manifest, in order; lines that do not parse (a torn last line) are skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("rel"), str):
            out.append(rec)
    return out


class _Manifest:
    """Appends one record a line, flushed and fsynced; the driver is its only writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f = open(path, "ab")
        if self.f.tell() > 0:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":  # a torn last line: the next record starts on its own line
                    self._write(b"\n")

    def _write(self, data: bytes) -> None:
        self.f.write(data)
        self.f.flush()
        os.fsync(self.f.fileno())

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        if os.environ.get("POSE2RIG_BATCH_CRASH") == "mid-manifest":
            self._write(line[: len(line) // 2])
            crash_point("mid-manifest")
        self._write(line)

    def close(self) -> None:
        self.f.close()


def _record(result: UnitResult, kind: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {**result.as_dict(), "time": now, "kind": kind}


# ---------------------------------------------------------------------------------------------
# progress


class _Progress:
    """One bar for the batch on a terminal (done, failed, left, ETA); a line per clip otherwise;
    or ``report("batch", done, total)`` for a callable ``progress``."""

    def __init__(self, progress: Progress, total: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.skipped = total, 0, 0, skipped
        self.callback = progress if callable(progress) else None
        self.lines = progress is True and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
        self.bar = None
        if progress is True and not self.lines and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="clip", dynamic_ncols=True)
            self._postfix()
        elif self.callback is not None:
            self.callback("batch", 0, total)

    def _postfix(self) -> None:
        if self.bar is not None:
            left = self.total - self.done - self.failed
            self.bar.set_postfix_str(f"done {self.done}, failed {self.failed}, left {left}")

    def update(self, result: UnitResult) -> None:
        if result.status == "done":
            self.done += 1
        else:
            self.failed += 1
        n = self.done + self.failed
        if self.bar is not None:
            self._postfix()
            self.bar.update(1)
        elif self.lines:
            tail = f"done ({result.seconds:.1f} s)" if result.status == "done" else f"failed: {result.error}"
            sys.stderr.write(f"[{n}/{self.total}] {result.rel}: {tail}\n")
            sys.stderr.flush()
        elif self.callback is not None:
            self.callback("batch", n, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# the batch


Backend = Callable[..., Iterator[UnitResult]]


@contextlib.contextmanager
def _output_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``OUTPUT_DIR/.pose2rig-lock`` (``flock``) for the run: a second batch into the same
    folder stops with one line instead of interleaving its manifest lines and clip folders.
    The kernel drops the lock when the process dies, SIGKILL included, so a killed run never
    blocks the next one; the file itself stays and means nothing unlocked."""
    path = out_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise Pose2RigError(f"another pose2rig batch (pid {holder}) is writing into {out_dir}; "
                                "wait for it to finish or choose another output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _clean_leftovers(out_dir: Path) -> None:
    """Remove what a killed run left: the staging folder, half-written summary pages."""
    shutil.rmtree(out_dir / TMP_DIR, ignore_errors=True)
    for p in out_dir.glob(".summary.*.part.*"):
        p.unlink(missing_ok=True)


def _folders(found: list[tuple[Path, str]], root: Path) -> dict[str, str]:
    """Each input's clip folder: ``rel`` without suffix, or with the suffix's letters added
    (``a_mp4``) where two inputs of one folder share a name."""
    rels = [p.relative_to(root).as_posix() for p, _ in found]
    stems: dict[str, int] = {}
    for r in rels:
        stems[clip_dir(r)] = stems.get(clip_dir(r), 0) + 1
    out = {}
    for r in rels:
        d = clip_dir(r)
        out[r] = d if stems[d] == 1 else f"{d}_{r.rsplit('.', 1)[-1].lower()}"
    return out


def run_batch(
    input_dir: str | Path,
    out_dir: str | Path,
    options: ConvertOptions | None = None,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    workers: int | None = None,
    ray: str | None = None,
    progress: Progress = True,
    backend: Backend | None = None,
) -> BatchReport:
    """Convert every video and BVH under ``input_dir`` into ``out_dir`` (the tree mirrored),
    skipping clips already finished with the same key.

    Args:
        input_dir: the folder of takes.
        out_dir: the output folder (made if missing; may lie inside ``input_dir``).
        options: the conversion's options (default: the defaults); ``options.export.rig``
            is the character for the ``fbx`` and ``glb`` formats.
        formats: some of ``bvh``, ``fbx``, ``glb``, ``npz``.
        workers: worker processes (default: the machine's cores; with ``ray``, the cluster's
            CPUs).
        ray: ``"auto"`` or a Ray cluster's address: run the clips as Ray tasks
            (:mod:`pose2rig.batch.ray_backend`) instead of the local pool.
        progress: True (a bar on a terminal, a line per clip otherwise), False, or a callback
            ``report("batch", done, total)`` (:mod:`pose2rig.progress`).
        backend: a ``run_units(fn, units, *, workers)`` to use instead (tests, other engines).

    Raises:
        Pose2RigError: a missing input folder, bad formats or workers; a clip's own errors
            are recorded in the manifest instead.
    """
    src, out = Path(input_dir), Path(out_dir)
    if not src.is_dir():
        raise ArgumentError(f"{{input_dir}} {src} is not a folder", "input_dir")
    fmts = tuple(dict.fromkeys(str(f).strip().lower() for f in formats if str(f).strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise ArgumentError(f"{{formats}} must be some of {', '.join(FORMATS)}, got {', '.join(fmts) or 'none'}",
                            "formats")
    n_workers = workers if workers is not None else None if ray is not None and backend is None else (
        os.cpu_count() or 1)
    if n_workers is not None and (not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1):
        raise ArgumentError(f"{{workers}} must be a whole number >= 1, got {workers!r}", "workers")
    o = options if options is not None else ConvertOptions()
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    with _output_lock(out):
        _clean_leftovers(out)

        found = discover(src, out)
        folders = _folders(found, src)
        hashes = _Hashes(out)
        flat = plain_options(o)
        settings = _settings_key(flat, fmts, hashes)
        manifest_path = out / MANIFEST
        history = read_manifest(manifest_path)
        attempts: dict[str, int] = {}
        latest: dict[str, dict[str, Any]] = {}
        for rec in history:
            attempts[rec["rel"]] = attempts.get(rec["rel"], 0) + 1
            latest[rec["rel"]] = rec

        units: list[WorkUnit] = []
        skipped: list[str] = []
        kinds: dict[str, str] = {}
        recovered: list[dict[str, Any]] = []
        failed: list[UnitResult] = []
        for path, kind in found:
            rel = path.relative_to(src).as_posix()
            kinds[rel] = kind
            attempt = attempts.get(rel, 0) + 1
            try:
                key = clip_key(hashes(path), settings)
            except OSError as e:
                failed.append(UnitResult(rel=rel, key="", attempt=attempt, status="failed", seconds=0.0,
                                         error=f"cannot read the input: {e.strerror or e}"))
                continue
            folder = folders[rel]
            if _finished(out / folder, key):
                skipped.append(rel)
                if not (latest.get(rel, {}).get("key") == key and latest[rel].get("status") == "done"):
                    found_rec = _published_record(out / folder, rel, key, kind)  # published, killed before its line
                    if found_rec is not None:
                        recovered.append(found_rec)
                continue
            units.append(WorkUnit(source=str(path.resolve()), rel=rel, kind=kind, out_dir=str(out), key=key,
                                  formats=fmts, options=flat, rig=flat.get("rig"), attempt=attempt, clip=folder))
        hashes.save()

        manifest = _Manifest(manifest_path)
        done: list[UnitResult] = []
        bar = _Progress(progress, len(units) + len(failed), len(skipped))
        try:
            for rec in recovered:
                manifest.append(rec)
                latest[rec["rel"]] = rec
            for r in failed:
                rec = _record(r, kinds[r.rel])
                manifest.append(rec)
                latest[r.rel] = rec
                bar.update(r)
            run = _backend(backend, ray)
            for result in _results(run, units, n_workers):
                if result.status == "done":
                    crash_point("after-publish")
                rec = _record(result, kinds[result.rel])
                manifest.append(rec)
                latest[result.rel] = rec
                (done if result.status == "done" else failed).append(result)
                bar.update(result)
        finally:
            bar.close()
            manifest.close()
        try:
            (out / TMP_DIR).rmdir()  # empty after a whole run; a killed run's is removed by the next
        except OSError:
            pass

        from pose2rig.batch.report import write_summary

        records = [latest[r] for r in sorted(kinds) if r in latest]
        summary = write_summary(records, out, this_run=(len(done), len(failed), len(skipped)))
        return BatchReport(done=done, failed=failed, skipped=skipped, records=records, manifest=manifest_path,
                           summary=summary)


def _finished(folder: Path, key: str) -> bool:
    try:
        return (folder / "key.txt").read_text().strip() == key
    except OSError:
        return False


def _published_record(folder: Path, rel: str, key: str, kind: str) -> dict[str, Any] | None:
    """The record of a clip published by a run killed before its manifest line
    (the clip folder's ``result.json``)."""
    try:
        result = UnitResult.from_dict(json.loads((folder / "result.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if result.rel != rel or result.key != key:
        return None
    return _record(result, kind)


def _backend(backend: Backend | None, ray: str | None) -> Backend:
    if backend is not None:
        return backend
    if ray is not None:
        from pose2rig.batch import ray_backend

        def run(fn: Callable[[WorkUnit], UnitResult], units: Sequence[WorkUnit], *, workers: int | None
                ) -> Iterator[UnitResult]:
            return ray_backend.run_units(fn, units, workers=workers, address=ray, on_lost=_lost_on_ray)

        return run
    from pose2rig.batch.local import run_units

    return run_units


def _lost_on_ray(unit: WorkUnit, message: str) -> UnitResult:
    """A clip whose Ray task was lost (its worker or node died) or raised: failed, one line."""
    return UnitResult(rel=unit.rel, key=unit.key, attempt=unit.attempt, status="failed", seconds=0.0,
                      error=f"{message}; rerun to retry it")


def _results(run: Backend, units: list[WorkUnit], workers: int | None) -> Iterator[UnitResult]:
    """The backend's results; a worker process that dies fails the clips it may have held
    (one line each) and the rest go on in a fresh pool."""
    left = {u.rel: u for u in units}
    while left:
        try:
            for result in run(run_unit, list(left.values()), workers=workers):
                left.pop(result.rel, None)
                yield result
        except WorkerLost as e:
            lost = [u for u in e.units if getattr(u, "rel", None) in left]
            if not lost:
                raise
            for u in lost:
                left.pop(u.rel)
                yield UnitResult(rel=u.rel, key=u.key, attempt=u.attempt, status="failed", seconds=0.0,
                                 error=f"the worker process died while this clip was in flight "
                                       f"({len(e.units)} in flight); rerun to retry it")
