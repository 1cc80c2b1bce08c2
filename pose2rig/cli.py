"""The ``pose2rig`` command: parses options and calls the library, with no logic of its own.

Every failure the user can cause ends in one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import types
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

# torch's OpenMP threads spin while they wait; on a shared 2-core machine that made a training
# step 40x slower (1,129 ms against 26 ms, bench/lifter_speed.py). Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pose2rig import __version__
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.options import (
    GROUPS,
    BodyOptions,
    CleanOptions,
    ConvertOptions,
    DetectOptions,
    ExportOptions,
    LiftOptions,
    Outputs,
    WorldOptions,
    attribute_docs,
)

log = logging.getLogger("pose2rig")

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3


def _silence_native_stderr() -> None:
    """Send what C++ libraries write to file descriptor 2 to /dev/null; keep Python's stderr.

    MediaPipe's TensorFlow Lite and absl cores print start-up lines ("Created TensorFlow Lite
    XNNPACK delegate", "Feedback manager requires ...") from their own threads; they mean
    nothing to a user and bury the progress bar. Python's ``sys.stderr`` moves to a duplicate of
    the terminal's descriptor, so progress bars, warnings and errors still show. ``--debug``
    (or ``POSE2RIG_DEBUG``) leaves everything as it is.
    """
    if os.environ.get("POSE2RIG_DEBUG") or os.environ.get("_POSE2RIG_STDERR_SWAPPED"):
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a real file: leave it
        return
    sys.stderr.flush()
    python_err = os.fdopen(os.dup(fd), "w", buffering=1, encoding=sys.stderr.encoding,
                           errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    sys.stderr = python_err
    os.environ["_POSE2RIG_STDERR_SWAPPED"] = "1"


class _OneLineFormatter(logging.Formatter):
    """Info as plain lines; warnings and worse prefixed with their level, in lower case."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().strip()
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


class _Once(logging.Filter):
    """Drop a message already shown (several stages may warn about the same damaged file)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = record.getMessage().strip()
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


_VERBOSE_KEY = "pose2rig.verbose"


def _remember_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_VERBOSE_KEY] = True
    return value


_VERBOSE = click.option("--verbose", "-v", is_flag=True, expose_value=False, callback=_remember_verbose,
                        help="Also show what each stage found and did (information lines).")


def _setup_logging(quiet: bool, *, level: int | None = None) -> None:
    """Log lines on stderr, one line each. A normal run shows warnings and errors only (the
    command then prints one "wrote" line per file); ``--verbose`` adds the information lines;
    ``level`` overrides both (``train`` reports its steps at information level). ``quiet`` (no
    bars, no "wrote" lines: the command's business) leaves the level alone: warnings still show."""
    _silence_native_stderr()
    if level is None:
        ctx = click.get_current_context(silent=True)
        level = logging.INFO if ctx is not None and ctx.meta.get(_VERBOSE_KEY) else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    handler.addFilter(_Once())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    warnings.formatwarning = lambda msg, *a, **k: str(msg)  # the message only, no source line
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _flags(group: click.Group, ctx: click.Context) -> dict[str, str]:
    """Argument name -> the flag of the invoked command that sets it (``rig_map`` -> ``--map``)."""
    command = group.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    out: dict[str, str] = {}
    for param in command.params if command is not None else ():
        if isinstance(param, click.Option) and param.name:
            out[param.name] = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        elif isinstance(param, click.Argument) and param.name:
            out[param.name] = param.name.upper()
    return out


class _Group(click.Group):
    """Turns library errors into one line and an exit status instead of a traceback, and builds a
    command whose options come from a heavy module (``eval``'s defaults live in
    :func:`pose2rig.evaluate.evaluate_checkpoints`) only when that command is run or asked for
    help: ``pose2rig --help`` imports nothing heavy (no numpy, scipy, torch, MediaPipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Callable[[], click.Command]] = {}

    def add_lazy_command(self, build: Callable[[], click.Command], name: str, help: str) -> None:
        """Add the command that ``build()`` makes, under ``name``, built on first use; until then a
        stand-in with the same ``help`` lists it in ``pose2rig --help``."""
        self.add_command(click.Command(name, help=help))
        self.lazy[name] = build

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        build = self.lazy.pop(cmd_name, None)
        if build is not None:
            self.add_command(build(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        lazy, self.lazy = self.lazy, {}  # the listing shows the stand-ins' help: nothing is built
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.lazy = lazy

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArgumentError as e:  # the library names its arguments; the user typed flags
            click.echo(f"error: {e.render(_flags(self, ctx))}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except Pose2RigError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as e:
            click.echo(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
            ctx.exit(EXIT_USER_ERROR)
        except Exception as e:  # a bug of ours: say so in one line; --debug shows the traceback
            if ctx.params.get("debug") or os.environ.get("POSE2RIG_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pose2rig")
@click.option("--debug", is_flag=True, help="Show full tracebacks for internal errors.")
@click.option("--progress", "progress_format", type=click.Choice(["bar", "json"]), default="bar",
              show_default=True,
              help='Progress as bars on stderr, or as JSON lines on stdout ({"stage", "done", "total"}) '
                   "for programs that run pose2rig.")
def cli(debug: bool, progress_format: str) -> None:
    """Turn a video of a person into animation for a 3D character.

    \b
    Quick start:
      pose2rig convert clip.mp4 --bvh clip.bvh --preview clip_preview.mp4
      pose2rig convert clip.mp4 --fbx clip.fbx --rig character.glb
      pose2rig retarget mocap.bvh --rig character.fbx --fbx out.fbx

    Run "pose2rig COMMAND --help" for a command's options.
    """
    if debug:
        os.environ["POSE2RIG_DEBUG"] = "1"
    if progress_format == "json":
        os.environ["POSE2RIG_PROGRESS"] = "json"


def _progress(quiet: bool) -> Any:
    """What the library's ``progress`` argument gets: a JSON-lines reporter under
    ``--progress json``, else bars unless ``--quiet``."""
    if os.environ.get("POSE2RIG_PROGRESS") == "json":
        from pose2rig.progress import json_reporter

        return json_reporter()
    return not quiet


def _option_type(annotation: Any) -> tuple[Any, bool]:
    """click type and 'multiple' flag for a dataclass field annotation."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _option_type(args[0])
    if origin in (tuple, list):
        inner, _ = _option_type(args[0])
        return inner, True
    if annotation is bool:
        return bool, False
    if annotation in (int, float, str):
        return annotation, False
    if annotation is Path or annotation == "Path":
        return click.Path(path_type=Path), False
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)]), False
    return str, False


def _options_from_dataclass(
    *classes: type,
    only: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    flags: dict[str, str] | None = None,
    helps: dict[str, str] | None = None,
) -> Any:
    """Decorator adding one option per dataclass field: ``--field-name`` (or the field's
    ``metadata["flag"]``, or ``flags[name]``), the dataclass's default, the help from the class's
    ``Attributes:`` block (or ``helps[name]``). The option's value arrives under the field's name.
    Booleans are ``--name/--no-name`` flags."""
    specs = []
    for cls in classes:
        hints = typing.get_type_hints(cls)
        docs = attribute_docs(cls)
        for fld in dataclasses.fields(cls):
            if (only is not None and fld.name not in only) or fld.name in exclude:
                continue
            specs.append((fld, hints[fld.name], docs.get(fld.name, "")))
    if only is not None and len(specs) != len(only):
        raise RuntimeError(f"no field(s) {sorted(set(only) - {f.name for f, _, _ in specs})} in {classes}")

    def decorate(f: Any) -> Any:
        for fld, hint, doc in reversed(specs):
            kind, multiple = _option_type(hint)
            default: Any = fld.default
            factory: Any = fld.default_factory
            if factory is not dataclasses.MISSING:
                default = factory()
            elif default is dataclasses.MISSING:
                default = None
            flag = (flags or {}).get(fld.name) or fld.metadata.get("flag") or "--" + fld.name.replace("_", "-")
            text = (helps or {}).get(fld.name, doc)
            if kind is bool:
                opt = click.option(f"{flag}/--no-{flag[2:]}", fld.name, default=bool(default), show_default=True,
                                   help=text)
            else:
                if isinstance(default, (tuple, list)):
                    default = tuple(str(d) for d in default)
                opt = click.option(flag, fld.name, type=kind, multiple=multiple, default=default,
                                   show_default=default is not None, help=text)
            f = opt(f)
        return f

    return decorate


_existing_file = click.Path(exists=False, dir_okay=False, path_type=Path)
_QUIET = click.option("--quiet", "-q", is_flag=True,
                      help='No progress bars and no "wrote" lines; warnings and errors still show.')
_CONVERT_OUTPUTS = ("bvh", "npz", "preview", "fbx", "glb", "character_preview", "blend_action", "body")
_RETARGET_OUTPUTS = ("fbx", "glb", "bvh", "character_preview", "blend_action")


def _outputs(values: dict[str, Any], names: tuple[str, ...]) -> Outputs:
    """Pop the output paths out of a command's values; at least one must be given."""
    outputs = Outputs(**{n: values.pop(n) for n in names})
    if not outputs.items():
        raise ArgumentError("nothing to write: give at least one of " + ", ".join(f"{{{n}}}" for n in names), *names)
    return outputs


def _echo_outputs(outputs: dict[str, Path]) -> None:
    for kind, path in outputs.items():
        click.echo(f"wrote {kind.replace('_', ' ')}: {path}")


@cli.command()
@click.argument("video", type=_existing_file)
@_options_from_dataclass(Outputs, only=_CONVERT_OUTPUTS)
@_options_from_dataclass(*(cls for _, cls in GROUPS))
@_QUIET
@_VERBOSE
def convert(video: Path, quiet: bool, **values: Any) -> None:
    """Convert VIDEO into animation: BVH, or FBX/GLB on a character (and optionally an npz and
    previews). With --rig, --bvh holds the character's skeleton."""
    from pose2rig.pipeline import convert as run

    _setup_logging(quiet)
    outputs = _outputs(values, _CONVERT_OUTPUTS)
    result = run(video, outputs, ConvertOptions.from_flat(**values), progress=_progress(quiet))
    if not quiet:
        _echo_outputs(result.outputs)


_dir = click.Path(file_okay=False, path_type=Path)


@cli.command()
@click.argument("input_dir", type=_dir)
@click.option("-o", "--output", "out_dir", type=_dir, required=True,
              help="Output folder: INPUT_DIR's tree mirrored, a folder per clip, manifest.jsonl, summary.md/.html.")
@click.option("--formats", default="bvh,npz", show_default=True,
              help="Files per clip, comma-separated: some of bvh, fbx, glb, npz (fbx and glb: on --rig).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: the machine's cores; with --ray, the cluster's CPUs).")
@click.option("--ray", default=None, metavar="auto|ADDRESS",
              help="Run the clips as Ray tasks on this cluster (auto: the one running here; needs pose2rig[ray]); "
                   "INPUT_DIR and the output on storage every node sees.")
@_options_from_dataclass(*(cls for _, cls in GROUPS))
@_QUIET
@_VERBOSE
def batch(input_dir: Path, out_dir: Path, formats: str, workers: int | None, ray: str | None, quiet: bool,
          **values: Any) -> None:
    """Convert every video (.mp4 .mov .avi .mkv .webm) and BVH under INPUT_DIR, the tree mirrored
    in the output. Resumable: a rerun skips the clips finished with the same input and options.
    Exit status 1 when a clip failed (its error is in the manifest)."""
    from pose2rig.batch import run_batch

    _setup_logging(quiet)
    report = run_batch(input_dir, out_dir, ConvertOptions.from_flat(**values), formats=formats.split(","),
                       workers=workers, ray=ray, progress=_progress(quiet))
    click.echo(f"{len(report.done)} done, {len(report.failed)} failed, {len(report.skipped)} skipped; "
               f"manifest: {report.manifest}")
    if not report.ok:
        sys.exit(EXIT_USER_ERROR)


@cli.command()
@click.argument("source", type=_existing_file)
@_options_from_dataclass(ExportOptions, only=("rig",))
@_options_from_dataclass(Outputs, only=("fbx", "glb", "bvh"),
                         helps={"fbx": "Write the animation as FBX (through bpy).",
                               "glb": "Write the animation as GLB (glTF binary).",
                               "bvh": "Write the character's skeleton and motion as BVH."})
@_options_from_dataclass(ExportOptions, only=("rig_map", "preset"))
@_options_from_dataclass(WorldOptions)
@_options_from_dataclass(ExportOptions, only=("units",))
@_options_from_dataclass(DetectOptions, only=("start", "end"),
                         helps={"start": "Start time in seconds, on SOURCE's clock (a BVH starts at 0).",
                                "end": "End time in seconds, on SOURCE's clock."})
@_options_from_dataclass(ExportOptions, only=("fps",),
                         helps={"fps": "Resample the motion to this frame rate (default: SOURCE's)."})
@_options_from_dataclass(LiftOptions,
                         helps={"height": "Keypoints SOURCE: the subject's standing height (m).",
                                "fov": "Keypoints SOURCE: the camera's horizontal field of view (deg).",
                                "checkpoint": "Keypoints SOURCE: lifter checkpoint (default: bundled)."})
@_options_from_dataclass(Outputs, only=("character_preview", "blend_action"), flags={"character_preview": "--preview"},
                         helps={"character_preview": "Write a video of the skinned character (.mp4)."})
@_QUIET
@_VERBOSE
def retarget(source: Path, quiet: bool, **values: Any) -> None:
    """Move the motion in SOURCE onto a character: any .npz that pose2rig writes (convert's,
    lift's, detect's, convert's keypoints cache: 2D keypoints are lifted first; a body file of
    fit's or convert --body's: the fitted joints, with the limbs' twist and the feet's heading
    from the fitted bones) or any BVH."""
    from pose2rig.pipeline import retarget_file

    _setup_logging(quiet)
    outputs = _outputs(values, _RETARGET_OUTPUTS)
    anim = retarget_file(source, outputs, ConvertOptions.from_flat(**values), progress=_progress(quiet))
    log.info("retargeted %d frames onto %s (%d bones)", anim.num_frames, anim.rig.name, anim.rig.num_bones)
    if not quiet:
        _echo_outputs(outputs.items())


@cli.command()
@click.argument("video", type=_existing_file)
@click.option("-o", "--output", type=_existing_file, required=True, help="Keypoints .npz to write.")
@_options_from_dataclass(DetectOptions, exclude=("cache",))
@_QUIET
@_VERBOSE
def detect(video: Path, output: Path, quiet: bool, **values: Any) -> None:
    """Detect 2D keypoints in VIDEO (Human3.6M-17 order, plus MediaPipe's 33 landmarks)."""
    from pose2rig.pipeline import detect_keypoints

    _setup_logging(quiet)
    kp = detect_keypoints(video, output, DetectOptions(**values), progress=_progress(quiet))
    if not quiet:
        click.echo(f"wrote keypoints: {output} ({kp.num_frames} frames)")


@cli.command()
@click.argument("keypoints", type=_existing_file)
@click.option("-o", "--output", type=_existing_file, required=True, help="Pose .npz to write.")
@_options_from_dataclass(LiftOptions)
@click.option("--quiet", "-q", is_flag=True, help='No "wrote" line; warnings and errors still show.')
@_VERBOSE
def lift(keypoints: Path, output: Path, quiet: bool, **values: Any) -> None:
    """Lift a keypoints .npz (from `pose2rig detect`, convert's <clip>.keypoints.npz cache, or
    another tool) to 3D camera coordinates."""
    from pose2rig.pipeline import lift_keypoints

    _setup_logging(quiet)
    pose = lift_keypoints(keypoints, output, LiftOptions(**values))
    if not quiet:
        click.echo(f"wrote pose: {output} ({pose.num_frames} frames)")


@cli.command()
@click.argument("source", type=_existing_file)
@click.option("-o", "--output", type=_existing_file, required=True,
              help="Cleaned file to write, in SOURCE's format (.bvh or .npz).")
@_options_from_dataclass(CleanOptions)
@_options_from_dataclass(LiftOptions, only=("checkpoint",),
                         helps={"checkpoint": "Lifter whose discriminator scores each frame of an .npz "
                                              "(default: bundled)."})
@_QUIET
@_VERBOSE
def clean(source: Path, output: Path, quiet: bool, **values: Any) -> None:
    """Clean up the 3D motion in SOURCE: a BVH from any source (the output keeps its skeleton,
    joint names, units and frame rate) or a pose2rig .npz (its world joints)."""
    from pose2rig.pipeline import clean_file

    _setup_logging(quiet)
    result = clean_file(source, output, ConvertOptions.from_flat(**values), progress=_progress(quiet))
    if not quiet:
        click.echo(f"wrote clean motion: {output} ({len(result.joints)} frames)")


@cli.command()
@click.argument("source", type=_existing_file)
@click.option("-o", "--output", type=_existing_file, required=True,
              help="Body file to write (.npz: AMASS-style for SMPL, Anny's parameters otherwise).")
@click.option("--mesh", type=_existing_file, default=None,
              help="Also write the fitted body as an animated skinned mesh (.glb; SMPL's pose correctives "
                   "are left out: glTF has linear blend skinning only).")
@click.option("--video", type=_existing_file, default=None,
              help="The clip SOURCE was made from, for --preview.")
@click.option("--preview", type=_existing_file, default=None,
              help="Also render the posed body over --video (.mp4), through the pose file's camera "
                   "(beside the clip where the file has none).")
@_options_from_dataclass(BodyOptions, exclude=("fit_body",))
@_QUIET
@_VERBOSE
def fit(source: Path, output: Path, mesh: Path | None, video: Path | None, preview: Path | None, quiet: bool,
        **values: Any) -> None:
    """Fit a body model (Anny, or SMPL with --smpl-model) to the 3D motion in SOURCE: a pose
    .npz from convert --npz, clean or lift (camera-frame joints are cleaned and put in the
    world first), or a BVH."""
    from pose2rig.pipeline import fit_file

    _setup_logging(quiet)
    result = fit_file(source, output, ConvertOptions.from_flat(**values), progress=_progress(quiet), mesh=mesh,
                      video=video, preview=preview)
    if not quiet:
        err = [e for e in result.error.tolist() if e == e]  # NaN: frames without joints
        mean = f", mean joint error {1000 * sum(err) / len(err):.1f} mm" if err else ""
        click.echo(f"wrote body ({result.kind}): {output} ({len(result.error)} frames{mean})")
        if mesh is not None:
            click.echo(f"wrote mesh: {mesh}")
        if preview is not None:
            click.echo(f"wrote preview: {preview}")


def _train_command() -> click.Command:
    from pose2rig.train import TrainConfig

    @click.command(name="train")
    @_options_from_dataclass(TrainConfig)
    @click.option("--fresh", is_flag=True, help="Start over instead of resuming from the last checkpoint.")
    @click.option("--force", is_flag=True, help="Allow --out to replace the shipped lifter.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
    def train(fresh: bool, force: bool, quiet: bool, **fields: Any) -> None:
        """Train the 2D-to-3D lifter adversarially from 2D projections (Drover et al. 2018).

        Every option maps onto a field of pose2rig.train.TrainConfig.
        """
        from pose2rig.train import train as run

        _setup_logging(quiet, level=logging.WARNING if quiet else logging.INFO)  # its steps are its report
        hints = typing.get_type_hints(TrainConfig)
        for name, value in list(fields.items()):
            if isinstance(value, tuple):
                inner = typing.get_args(hints[name])
                fields[name] = tuple(Path(v) if Path in inner else v for v in value)
        path = run(TrainConfig(**fields), resume=not fresh, progress=not quiet, force=force)
        click.echo(f"wrote checkpoint: {path}")

    return train


cli.add_command(_train_command())


def _parse_rolls(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    from pose2rig.evaluate import parse_rolls

    try:
        return parse_rolls(value)
    except Pose2RigError:
        raise click.BadParameter(
            f"expected one or more angles in degrees within +-90, such as -15,0,15; got {value!r}"
        ) from None


def _signature_defaults(func: Any) -> dict[str, Any]:
    """Keyword defaults of a library function: defaults live once, in its signature."""
    import inspect

    return {k: p.default for k, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty}


_EVAL_HELP = "Score a lifter beside the constant-depth baseline: MPJPE, P-MPJPE, N-MPJPE, PCK3D."


def _eval_command() -> click.Command:
    from pose2rig.evaluate import evaluate_checkpoints

    d = _signature_defaults(evaluate_checkpoints)

    @click.command(name="eval", help=_EVAL_HELP)
    @click.option("--checkpoint", type=_existing_file, help="Lifter checkpoint (default: bundled).")
    @click.option("--reference", type=_existing_file,
                  help="A second checkpoint (e.g. a supervised lifter) scored on the same inputs.")
    @click.option("--data", type=click.Path(path_type=Path), multiple=True,
                  help="BVH files or folders: mocap filmed by fixed-seed virtual cameras.")
    @click.option("--h36m-3d", type=_existing_file, help="Human3.6M 3D poses (data_3d_h36m.npz).")
    @click.option("--h36m-2d", type=_existing_file,
                  help="Human3.6M 2D keypoints (data_2d_h36m_*.npz); default: 3D projected (ground truth).")
    @click.option("--h36m-cameras", type=_existing_file, help="Human3.6M cameras JSON (docs/HUMAN36M.md).")
    @click.option("--subjects", multiple=True, default=d["subjects"], show_default=True,
                  help="Human3.6M subjects to evaluate.")
    @click.option("--frame-step", type=int, default=d["frame_step"], show_default=True,
                  help="Use every n-th frame.")
    @click.option("--seed", type=int, default=d["seed"], show_default=True, help="Virtual cameras' seed (BVH).")
    @click.option("--max-poses", type=int, help="At most this many BVH poses (a fixed-seed draw).")
    @click.option("--mirror/--no-mirror", default=d["mirror"], show_default=True,
                  help="Average each pose's lifted depths with its mirror image's, as pose2rig lift does.")
    @click.option("--rolls", type=str, callback=_parse_rolls, show_default=True,
                  default=",".join(f"{a:g}" for a in d["rolls"]),
                  help="Also average over these camera rolls (degrees, comma-separated), as pose2rig "
                       "lift does; 0 for none.")
    @click.option("--json", "json_out", type=_existing_file, help="Write the report as JSON.")
    @click.option("--quiet", "-q", is_flag=True, help='The report only: no "wrote" line.')
    @_VERBOSE
    def eval_(quiet: bool, **kwargs: Any) -> None:
        from pose2rig.evaluate import format_report

        _setup_logging(quiet)
        report = evaluate_checkpoints(**kwargs)
        click.echo(format_report(report))
        if kwargs["json_out"] is not None and not quiet:
            click.echo(f"wrote report: {kwargs['json_out']}")

    return eval_


cli.add_lazy_command(_eval_command, "eval", _EVAL_HELP)  # evaluate imports numpy: built when used


def main() -> None:
    cli(prog_name="pose2rig")


if __name__ == "__main__":
    main()
    sys.exit(0)
