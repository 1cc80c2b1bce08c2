"""The work behind the "Lift from video" button, as a job the UI polls.

:func:`start` checks the request, then starts the work in the background and returns a
:class:`Job`; the caller calls :meth:`Job.step` now and then on Blender's main thread (the
modal operator does it on a timer, :meth:`Job.wait` in a loop) until it returns True, and may
call :meth:`Job.cancel` at any time. :func:`lift_from_video` does all of it in one blocking call
for scripts and background mode.

Two backends, one result: a new action on the armature, one key per scene frame (the motion
resampled to the scene's frame rate) or, with ``set_scene_fps``, one per video frame. Each bone
is keyed in its own rotation mode. The scene's frame rate and frame range change only when asked
(``set_scene_fps``, ``set_frame_range``), as with Blender's own importers.

- library: the ``pose2rig`` package is importable in Blender's Python. A worker thread runs
  :func:`pose2rig.pipeline.convert` (its progress callback raises ``Cancelled`` when asked to
  stop); the main thread then animates the armature with one call,
  :func:`pose2rig.armature.animate_armature`.
- executable: a ``pose2rig`` command (the add-on's preferences, else found on PATH) in two
  subprocesses: ``pose2rig --progress json convert VIDEO --npz poses.npz ...``
  (:func:`convert_arguments`; progress read from its JSON lines), then ``pose2rig retarget
  poses.npz --rig armature.blend --blend-action action.blend``, where ``armature.blend`` holds
  the target armature as it was when the job started; the action is then appended and
  assigned. Cancelling interrupts the subprocess.

The clean-up's switches (:data:`CLEAN_SWITCHES`: the boolean fields of
``pose2rig.options.CleanOptions``, written into ``defaults.py`` by the build) reach the library as
``ConvertOptions.from_flat(swaps=False, ...)`` and the executable as ``--no-swaps ...``; the
camera's pitch (None: found from the video) as ``from_flat(camera_pitch=...)`` and
``--camera-pitch DEG``.

Only the main thread touches ``bpy`` data: reader and worker threads handle plain Python values.
Nothing here retargets: that is the library's work, in this process or the subprocess.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import bpy

__all__ = ["CAMERA_PITCH_HELP", "CAMERA_PITCH_LIMIT", "CLEAN_HELP", "CLEAN_SWITCHES", "Job", "LiftError",
           "checked_camera_pitch", "clean_switches", "convert_arguments", "find_executable", "library_available",
           "lift_from_video", "start"]

log = logging.getLogger(__name__)

BACKENDS = ("AUTO", "LIBRARY", "EXECUTABLE")
try:  # written into the add-on's zip by blender_addon/build.py, from pose2rig.options
    from .defaults import DEFAULTS
except ImportError:  # pragma: no cover - a source folder that was not built
    raise ImportError("pose2rig add-on: defaults.py is missing; install the zip that blender_addon/build.py makes") from None

SMOOTHING = tuple(DEFAULTS["smoothing"])
ROOT_MOTIONS = tuple(DEFAULTS["root_motions"])
CLEAN_SWITCHES: dict[str, bool] = dict(DEFAULTS["clean_switches"])
"""The clean-up steps that can be switched off (``CleanOptions``' boolean fields, in the steps'
order) -> their defaults."""
CLEAN_HELP: dict[str, str] = dict(DEFAULTS["clean_help"])
"""Each switch's help, as ``pose2rig convert --help`` shows it."""
CAMERA_PITCH_HELP: str = DEFAULTS["camera_pitch_help"]
"""The camera pitch's help, as ``pose2rig convert --help`` shows it."""
CAMERA_PITCH_LIMIT = 89.0
"""The largest pitch the panel takes, in degrees either way (the library takes less than 90)."""
ROOT_MOTION_HELP = {
    "on": "Move the character through space as the person moves, on the armature's root bones",
    "ground": "The root bone under the hips stays on the floor with the travel and heading, the hips keep "
              "their height (game-engine root motion; an armature whose hips are its root acts as On)",
    "off": "Keep the character in place (vertical motion stays)",
}
FPS_PROPERTY = "pose2rig_fps"  # as pose2rig.io.blender_scene.FPS_PROPERTY (the library may be absent)
_KILL_AFTER_S = 5.0


class LiftError(Exception):
    """A request the add-on cannot carry out; the message is one line for a Blender report."""


def library_available() -> bool:
    """Whether Blender's Python can import the pose2rig library (its pipeline, not this add-on)."""
    try:
        return importlib.util.find_spec("pose2rig.pipeline") is not None
    except (ImportError, ValueError):
        return False


def find_executable(path: str = "") -> str | None:
    """The ``pose2rig`` command: ``path`` (a file, ``//`` relative to the .blend) when given,
    else the first ``pose2rig`` on PATH; None when there is none."""
    if path:
        p = bpy.path.abspath(path)
        return p if os.path.isfile(p) and os.access(p, os.X_OK) else None
    return shutil.which("pose2rig")


def clean_switches(clean: Mapping[str, bool] | None) -> dict[str, bool]:
    """Every clean-up switch: :data:`CLEAN_SWITCHES`' defaults with ``clean`` (name -> on/off)
    put in; an unknown name or a value that is not a bool is a :class:`LiftError`."""
    switches = dict(CLEAN_SWITCHES)
    if clean is None:
        return switches
    if not isinstance(clean, Mapping):
        raise LiftError(f"Clean-up switches must be a mapping of name to True/False, got {type(clean).__name__}")
    unknown = sorted(str(k) for k in clean if k not in CLEAN_SWITCHES)
    if unknown:
        raise LiftError(f"Unknown clean-up switch(es) {', '.join(unknown)}; known: {', '.join(CLEAN_SWITCHES)}")
    for name, value in clean.items():
        if not isinstance(value, bool):
            raise LiftError(f"Clean-up switch {name} must be True or False, got {value!r}")
        switches[name] = value
    return switches


def checked_camera_pitch(pitch: float | None) -> float | None:
    """The camera's pitch in degrees (positive looking down) as a float, or None (found from the
    floor); not a number or past :data:`CAMERA_PITCH_LIMIT` either way is a :class:`LiftError`."""
    if pitch is None:
        return None
    if isinstance(pitch, bool) or not isinstance(pitch, (int, float)) or not math.isfinite(pitch) \
            or abs(pitch) > CAMERA_PITCH_LIMIT:
        raise LiftError(f"Camera pitch must be a number of degrees from {-CAMERA_PITCH_LIMIT:g} to "
                        f"{CAMERA_PITCH_LIMIT:g} (positive looking down), or None to find it from the video; "
                        f"got {pitch!r}")
    return float(pitch)


def _clip_info(path: str) -> tuple[float, int]:
    """(fps, frame count) of a video, read by Blender's own movie reader."""
    clips = bpy.data.movieclips
    before = {c.as_pointer() for c in clips}
    try:
        clip = clips.load(path, check_existing=True)
    except RuntimeError as e:
        raise LiftError(f"Cannot read the video {path}: {str(e).strip().removeprefix('Error: ')}") from None
    try:
        fps, frames = float(clip.fps), int(clip.frame_duration)
    finally:
        if clip.as_pointer() not in before:
            clips.remove(clip)
    if fps <= 0 or frames <= 0:
        raise LiftError(f"Cannot read the video {path}: Blender finds no frames in it")
    return fps, frames


def _seconds(start_frame: int, end_frame: int, fps: float, frames: int) -> tuple[float | None, float | None]:
    """Clip frames (1 = the first; 0 = from the start / to the end) -> the library's
    ``start <= t < end`` seconds, half a frame outside the wanted frames' times."""
    if start_frame > frames:
        raise LiftError(f"Start frame {start_frame} is past the clip's last frame ({frames})")
    if end_frame > frames:
        raise LiftError(f"End frame {end_frame} is past the clip's last frame ({frames})")
    if start_frame and end_frame and start_frame > end_frame:
        raise LiftError(f"Start frame {start_frame} comes after end frame {end_frame}")
    start = (start_frame - 1.5) / fps if start_frame > 1 else None
    end = (end_frame - 0.5) / fps if end_frame else None
    return start, end


@dataclass(frozen=True)
class Request:
    """What the job does, in plain values (threads may read it)."""

    video: str
    armature: str  # the object's name: bpy objects are looked up again on the main thread
    action_name: str
    start: float | None
    end: float | None
    fps: float | None  # resample to this rate (None: the clip's own)
    height: float
    smooth: str
    root_motion: str  # one of ROOT_MOTIONS
    set_scene_fps: bool  # the scene takes the animation's frame rate
    set_frame_range: bool  # the scene takes the animation's frame range
    clean: dict[str, bool]  # every clean-up switch (CLEAN_SWITCHES) -> on/off
    camera_pitch: float | None = None  # degrees, positive looking down; None: found from the video


def convert_arguments(request: Request, npz: str | os.PathLike[str]) -> list[str]:
    """The ``pose2rig convert`` arguments for ``request``, writing the poses to ``npz``: the
    flags ``pose2rig.cli`` generates from ``pose2rig.options`` (``--root-motion``; a clean-up
    switch ``fill_gaps`` that is off is ``--no-fill-gaps``; a pitch given is ``--camera-pitch``)."""
    r = request
    args = ["convert", r.video, "--npz", str(npz), "--height", repr(r.height), "--smooth", r.smooth,
            "--root-motion", r.root_motion, "--no-cache"]
    for name, value in (("--start", r.start), ("--end", r.end), ("--fps", r.fps), ("--camera-pitch", r.camera_pitch)):
        if value is not None:
            args += [name, repr(float(value))]
    args += ["--no-" + name.replace("_", "-") for name, on in r.clean.items() if not on]
    return args


class Job:
    """One lift in progress. ``state``: RUNNING, then FINISHED, FAILED or CANCELLED.

    ``stage``, ``done`` and ``total`` describe the progress; ``error`` is the failure's one
    line; ``warnings`` what the library warned about; ``action`` the new action once FINISHED.
    """

    def __init__(self, request: Request, tmpdir: Path) -> None:
        self.request = request
        self.tmpdir = tmpdir
        self.state = "RUNNING"
        self.stage, self.done, self.total = "starting", 0, None
        self.error: str | None = None
        self.warnings: list[str] = []
        self.action_name: str | None = None
        self._cancel = threading.Event()

    # ---- for the UI
    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set() and self.running

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def action(self):
        return bpy.data.actions.get(self.action_name) if self.action_name else None

    def describe(self) -> str:
        if self.cancelling:
            return "Cancelling..."
        count = f" {self.done}/{self.total}" if self.total else ""
        return f"{self.stage}{count}"

    def cancel(self) -> None:
        """Ask the work to stop; :meth:`step` says when it has."""
        self._cancel.set()

    def step(self) -> bool:
        """Advance on the main thread; True once the job is over (any state but RUNNING)."""
        if not self.running:
            return True
        try:
            over = self._step()
        except LiftError as e:
            self._end("FAILED", str(e))
            return True
        except Exception as e:
            log.exception("pose2rig: lift from video failed")
            self._end("FAILED", f"Internal error: {type(e).__name__}: {e}")
            return True
        if over and self.running:
            self._end("FINISHED")
        return over

    def wait(self, poll_s: float = 0.05) -> Job:
        """Step until the job is over (blocking)."""
        while not self.step():
            time.sleep(poll_s)
        return self

    # ---- for the backends
    def _step(self) -> bool:
        raise NotImplementedError

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self.stage, self.done, self.total = stage, int(done), total

    def _end(self, state: str, error: str | None = None) -> None:
        self.state, self.error = state, error
        self._cleanup()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _cleanup(self) -> None:
        pass


class _WarningsTo(logging.Handler):
    def __init__(self, out: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append(record.getMessage())


class LibraryJob(Job):
    """The library in this process: convert in a worker thread, animate on the main thread."""

    def __init__(self, request: Request, tmpdir: Path) -> None:
        super().__init__(request, tmpdir)
        self._poses = None
        self._feet = None
        self._outcome: tuple[str, str | None] | None = None
        self._handler = _WarningsTo(self.warnings)
        logging.getLogger("pose2rig").addHandler(self._handler)
        self._thread = threading.Thread(target=self._work, name="pose2rig lift", daemon=True)
        self._thread.start()

    def _report(self, stage: str, done: int, total: int | None) -> None:  # worker thread
        if self._cancel.is_set():
            from pose2rig.progress import Cancelled

            raise Cancelled("cancelled")
        self._progress(stage, done, total)

    def _work(self) -> None:  # worker thread: no bpy here
        r = self.request
        try:
            from pose2rig.errors import Pose2RigError
            from pose2rig.progress import Cancelled
        except Exception as e:
            self._outcome = ("FAILED", f"Cannot import the pose2rig library: {type(e).__name__}: {e}")
            return
        try:
            self._progress("loading pose2rig", 0, None)
            from pose2rig.options import ConvertOptions
            from pose2rig.pipeline import convert

            options = ConvertOptions.from_flat(start=r.start, end=r.end, fps=r.fps, height=r.height, smooth=r.smooth,
                                               root_motion=r.root_motion, camera_pitch=r.camera_pitch, cache=False,
                                               **r.clean)
            result = convert(r.video, options=options, progress=self._report)  # nothing to write: the poses
            self._poses = result.world_pose
            self._feet = result.extremities
        except Cancelled:
            self._outcome = ("CANCELLED", None)
        except Pose2RigError as e:
            self._outcome = ("FAILED", str(e))
        except Exception as e:
            log.exception("pose2rig: lift from video failed")
            self._outcome = ("FAILED", f"Internal error: {type(e).__name__}: {e}")

    def _step(self) -> bool:
        if self._thread.is_alive():
            return False
        self._thread.join()
        if self._cancel.is_set():
            self._end("CANCELLED")
            return True
        if self._outcome is not None:
            self._end(*self._outcome)
            return True
        from pose2rig.armature import animate_armature
        from pose2rig.errors import Pose2RigError

        r = self.request
        obj = _armature(r.armature)
        self._progress("animating", 0, None)
        try:
            action = animate_armature(obj, self._poses, root_motion=r.root_motion, action_name=r.action_name,
                                      extremities=self._feet, set_scene_fps=r.set_scene_fps,
                                      set_frame_range=r.set_frame_range)
        except Pose2RigError as e:
            raise LiftError(str(e)) from None
        self.action_name = action.name
        return True

    def _cleanup(self) -> None:
        logging.getLogger("pose2rig").removeHandler(self._handler)


class ExecutableJob(Job):
    """A ``pose2rig`` executable in subprocesses: convert, then retarget to an action .blend."""

    def __init__(self, request: Request, tmpdir: Path, executable: str) -> None:
        super().__init__(request, tmpdir)
        self.executable = executable
        self._npz = tmpdir / f"{request.action_name}.npz"
        # named after the armature: the library's messages name the rig after its file
        self._armature_blend = tmpdir / "rig" / (re.sub(r"[^\w.-]+", "_", request.armature) + ".blend")
        self._action_blend = tmpdir / "action.blend"
        self._armature_blend.parent.mkdir()
        _write_armature(_armature(request.armature), self._armature_blend)
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._proc: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._phase = "convert"
        self._interrupted_at: float | None = None
        self._spawn(convert_arguments(request, self._npz))

    def _spawn(self, args: list[str]) -> None:
        cmd = [self.executable, "--progress", "json", *args, "--quiet"]
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                encoding="utf-8", errors="replace", bufsize=1, creationflags=flags,
            )
        except OSError as e:
            raise LiftError(f"Cannot run {self.executable}: {e.strerror or e}") from None
        self._stderr.clear()
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stdout(self, stream) -> None:
        for line in stream:
            try:
                msg = json.loads(line)
                self._progress(str(msg["stage"]), int(msg["done"]), msg.get("total"))
            except (ValueError, KeyError, TypeError):
                continue  # not a progress line

    def _read_stderr(self, stream) -> None:
        for line in stream:
            line = line.strip()
            if line:
                self._stderr.append(line)

    def _failure(self, rc: int) -> str:
        lines = list(self._stderr)
        for line in reversed(lines):
            for prefix in ("error: ", "internal error: "):
                if line.startswith(prefix):
                    return line.removeprefix("error: ")
        return lines[-1] if lines else f"{Path(self.executable).name} {self._phase} exited with status {rc}"

    def _step(self) -> bool:
        proc = self._proc
        assert proc is not None
        if proc.poll() is None:
            if self._cancel.is_set():
                self._interrupt(proc)
            return False
        for t in self._readers:
            t.join(timeout=1.0)
        if self._cancel.is_set():
            self._end("CANCELLED")
            return True
        self.warnings.extend(s.removeprefix("warning: ") for s in self._stderr if s.startswith("warning: "))
        if proc.returncode != 0:
            raise LiftError(self._failure(proc.returncode))
        if self._phase == "convert":
            self._phase = "retarget"
            self._progress("retarget", 0, None)
            self._spawn(["retarget", str(self._npz), "--rig", str(self._armature_blend),
                         "--blend-action", str(self._action_blend),
                         "--root-motion", self.request.root_motion])
            return False
        self._progress("animating", 0, None)
        action = _append_action(self._action_blend)
        _assign_action(_armature(self.request.armature), action, set_scene_fps=self.request.set_scene_fps,
                       set_frame_range=self.request.set_frame_range)
        self.action_name = action.name
        return True

    def _interrupt(self, proc: subprocess.Popen[str]) -> None:
        """Ctrl-C first (the CLI cleans up and exits), the hard way if it lingers."""
        now = time.monotonic()
        if self._interrupted_at is None:
            self._interrupted_at = now
            if os.name == "nt":
                proc.terminate()
            else:
                proc.send_signal(signal.SIGINT)
        elif now - self._interrupted_at > _KILL_AFTER_S:
            proc.kill()

    def _cleanup(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:  # a failure on our side: do not leave it running
            proc.kill()
            proc.wait()


def _armature(name: str):
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise LiftError(f"The armature {name!r} is gone")
    return obj


def _write_armature(obj, path: Path) -> None:
    """The armature as it is now, alone in a scene of its own in a new .blend file, for the
    retarget subprocess to read (in a scene, so that opening the file evaluates its transform)."""
    scene = bpy.data.scenes.new("pose2rig rig")
    try:
        scene.collection.objects.link(obj)
        bpy.data.libraries.write(str(path), {scene}, fake_user=True)
    finally:
        bpy.data.scenes.remove(scene)


def _append_action(path: Path):
    with bpy.data.libraries.load(str(path), link=False) as (src, dst):
        if len(src.actions) != 1:
            raise LiftError(f"pose2rig wrote {len(src.actions)} actions into {path.name}; expected one")
        dst.actions = list(src.actions)
    action = dst.actions[0]
    action.use_fake_user = False
    return action


_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(\w+)$')


def _assign_action(obj, action, *, set_scene_fps: bool = False, set_frame_range: bool = False) -> None:
    """Assign an appended pose2rig action (its one slot) to ``obj`` and set the pose channels and
    the scene as :func:`pose2rig.io.blender.key_action` does in the library's own process: keyed
    bones at unit scale, unkeyed locations of keyed bones at zero; rotation modes are left as they
    are (the subprocess keyed each bone in the mode it had in the armature written by
    :func:`_write_armature`); only when asked, the scene's fps and frame range from the action."""
    from bpy_extras import anim_utils

    if len(action.slots) != 1:
        raise LiftError(f"Action {action.name!r} has {len(action.slots)} slots; expected one")
    slot = action.slots[0]
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    adt.action_slot = slot
    bag = anim_utils.action_get_channelbag_for_slot(action, slot)
    keyed: dict[str, set[str]] = {}
    for fc in bag.fcurves if bag is not None else ():
        m = _BONE_PATH.match(fc.data_path)
        if m:
            name = re.sub(r"\\(.)", r"\1", m.group(1))
            keyed.setdefault(name, set()).add(m.group(2))
    for name, channels in keyed.items():
        pb = obj.pose.bones.get(name)
        if pb is None:
            raise LiftError(f"Armature {obj.name!r} has no bone {name!r}, which the action keys")
        pb.scale = (1.0, 1.0, 1.0)
        if "location" not in channels:
            pb.location = (0.0, 0.0, 0.0)
    scene = bpy.context.scene
    fps = action.get(FPS_PROPERTY)
    if set_scene_fps and fps:
        whole = max(1, round(fps))
        scene.render.fps = whole
        scene.render.fps_base = whole / fps
    if set_frame_range:
        first, last = (int(round(f)) for f in action.frame_range)
        scene.frame_start, scene.frame_end = first, last
        scene.frame_set(first)


def start(
    context,
    filepath: str,
    *,
    armature=None,
    start_frame: int = 0,
    end_frame: int = 0,
    height: float = DEFAULTS["height"],
    smooth: str = DEFAULTS["smooth"],
    root_motion: str = DEFAULTS["root_motion"],
    set_scene_fps: bool = False,
    set_frame_range: bool = False,
    clean: Mapping[str, bool] | None = None,
    camera_pitch: float | None = DEFAULTS["camera_pitch"],
    backend: str = "AUTO",
    executable: str = "",
) -> Job:
    """Check the request and start the work; returns the running :class:`Job`.

    Args:
        context: Blender's context (the scene, and the active object when ``armature`` is None).
        filepath: the video (``//`` paths are relative to the .blend file).
        armature: the armature object to animate; default the active object.
        start_frame, end_frame: the clip's frames to use, 1 = its first; 0 = from its start /
            to its end.
        height: the subject's standing height in metres.
        smooth: ``"one_euro"``, ``"savgol"`` or ``"none"``.
        root_motion: ``"on"`` (the subject's travel on the armature's root bones), ``"ground"``
            (the root bone under the hips on the floor with the travel and heading, the hips
            with their height) or ``"off"`` (in place); ``True``/``False`` are ``"on"``/``"off"``.
        set_scene_fps: one key per video frame, and the scene takes the clip's frame rate;
            off (default), the motion is resampled to the scene's frame rate, which stays.
        set_frame_range: the scene's frame range becomes the animation's (default: unchanged).
        clean: clean-up steps to switch on or off, by name (:data:`CLEAN_SWITCHES`, e.g.
            ``{"foot_lock": False}``); those not named keep their defaults.
        camera_pitch: the camera's pitch in degrees, positive looking down (0: level), at most
            :data:`CAMERA_PITCH_LIMIT` either way; None (default): found from the video
            (MediaPipe's 3D legs).
        backend: ``"AUTO"`` (the library when importable, else the executable), ``"LIBRARY"``
            or ``"EXECUTABLE"``.
        executable: the ``pose2rig`` command for the executable backend; default: on PATH.

    Raises:
        LiftError: no armature, unreadable video, frames out of range, no backend, an unknown
            option or clean-up switch, a camera pitch out of range.
    """
    if isinstance(root_motion, bool):
        root_motion = "on" if root_motion else "off"
    if backend not in BACKENDS or smooth not in SMOOTHING or root_motion not in ROOT_MOTIONS:
        raise LiftError(f"Unknown option: backend={backend!r}, smooth={smooth!r}, root_motion={root_motion!r}")
    switches = clean_switches(clean)
    pitch = checked_camera_pitch(camera_pitch)
    obj = armature if armature is not None else context.active_object
    if obj is None or obj.type != "ARMATURE":
        what = "no active object" if obj is None else f"the active object {obj.name!r} is a {obj.type.lower()}"
        raise LiftError(f"No armature to animate: pick a target armature or make one active ({what})")
    if obj.library is not None:
        raise LiftError(f"Armature {obj.name!r} is linked from a library; make it local first")
    if not filepath:
        raise LiftError("No video: choose a video file")
    video = bpy.path.abspath(filepath)
    if not os.path.isfile(video):
        raise LiftError(f"Video {video} not found")
    if not height > 0:
        raise LiftError(f"Subject height must be positive, got {height} m")
    fps, frames = _clip_info(video)
    start_s, end_s = _seconds(start_frame, end_frame, fps, frames)
    scene = context.scene
    request = Request(
        video=video, armature=obj.name, action_name=Path(video).stem or "pose2rig",
        start=start_s, end=end_s, fps=None if set_scene_fps else scene.render.fps / scene.render.fps_base,
        height=float(height), smooth=smooth, root_motion=str(root_motion),
        set_scene_fps=bool(set_scene_fps), set_frame_range=bool(set_frame_range), clean=switches,
        camera_pitch=pitch,
    )
    if obj.mode == "EDIT":
        obj.update_from_editmode()
    use_library = backend == "LIBRARY" or (backend == "AUTO" and library_available())
    if use_library and not library_available():
        raise LiftError("The pose2rig library is not importable in Blender's Python; choose the executable backend")
    exe = None
    if not use_library:
        exe = find_executable(executable)
        if exe is None:
            where = f"{executable} is not an executable file" if executable else "none found on PATH"
            raise LiftError(
                f"No pose2rig: Blender's Python cannot import it and {where}; set the pose2rig executable "
                "in the add-on's preferences"
            )
    tmpdir = Path(tempfile.mkdtemp(prefix="pose2rig-lift-"))
    try:
        return LibraryJob(request, tmpdir) if use_library else ExecutableJob(request, tmpdir, exe)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise


def lift_from_video(context, filepath: str, **options) -> Job:
    """:func:`start` and wait until done (blocking); returns the finished job, whose ``state``
    and ``error`` say how it went and ``action`` holds the new action."""
    return start(context, filepath, **options).wait()
