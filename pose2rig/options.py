"""What a conversion does and writes: the one source of its defaults, checks and help text.

:class:`ConvertOptions` groups the options by stage (:class:`DetectOptions`,
:class:`LiftOptions`, :class:`CleanOptions`, :class:`WorldOptions`, :class:`BodyOptions`,
:class:`ExportOptions`);
:class:`Outputs` names the files to write. :func:`pose2rig.pipeline.convert` takes both; the
``pose2rig convert`` command is generated from these classes (one flag per field, help from the
``Attributes:`` blocks below); ``blender_addon/build.py`` writes the add-on panel's defaults from
them; the stage functions take their keyword defaults from them.

Convention:
    - Standard library only: the add-on's build script reads this module without numpy.
    - Every field name is unique over the groups, so ``ConvertOptions.from_flat(height=1.8)``
      routes each name to its group (a test and an import-time check say so).
    - ``field(metadata=...)`` may give ``"flag"``, the command-line flag where it is not
      ``--field-name`` (``rig_map`` is ``--map``).
    - A default that depends on another option is None in its field and resolved by
      :class:`ConvertOptions` (``root_motion``: per ``preset``, :attr:`ConvertOptions.root_motion`).
    - Checks raise :class:`~pose2rig.errors.ArgumentError`, naming arguments as the library
      spells them; the CLI shows its flags instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pose2rig.errors import ArgumentError

__all__ = [
    "BodyOptions",
    "CleanOptions",
    "ConvertOptions",
    "DetectOptions",
    "ExportOptions",
    "LiftOptions",
    "Outputs",
    "WorldOptions",
    "attribute_docs",
    "check_fov",
    "check_height",
    "root_motion_mode",
]

SMOOTHING = ("one_euro", "savgol", "none")
SMPL_GENDERS = ("neutral", "male", "female")
FIT_DEVICES = ("auto", "cpu", "cuda")
HEIGHT_RANGE = (0.3, 3.0)
"""Standing heights (metres) that :func:`check_height` accepts."""
UNITS = ("cm", "m")
PRESETS = ("blender", "unity", "unreal")
ROOT_MOTIONS = ("on", "ground", "off")
PRESET_ROOT_MOTION = {"blender": "on", "unity": "ground", "unreal": "ground"}
"""Each FBX preset's root motion: game engines' root-motion setups want the root on the floor."""


def check_height(height: float) -> None:
    """A standing height in metres, 0.3 to 3 (else :class:`ArgumentError` naming ``height``)."""
    lo, hi = HEIGHT_RANGE
    if not (isinstance(height, numbers.Real) and math.isfinite(height) and lo <= height <= hi):
        raise ArgumentError(f"{{height}} must be a standing height in metres ({lo:g} to {hi:g}), got {height}", "height")


def check_fov(fov: float) -> None:
    """A horizontal field of view in degrees, 1 to 179 (else :class:`ArgumentError`)."""
    if not (isinstance(fov, numbers.Real) and math.isfinite(fov) and 1.0 <= fov <= 179.0):
        raise ArgumentError(f"{{fov}} must be between 1 and 179 degrees, got {fov}", "fov")


def root_motion_mode(value: object) -> str:
    """``"on"``, ``"ground"`` or ``"off"`` from a root-motion setting (``True``/``False`` are
    ``"on"``/``"off"``, as before ``ground`` existed); else :class:`ArgumentError`."""
    if isinstance(value, bool):
        return "on" if value else "off"
    _choice("root_motion", value, ROOT_MOTIONS)
    return str(value)


def attribute_docs(cls: type) -> dict[str, str]:
    """Field help from the class docstring's ``Attributes:`` block (``a, b: text`` lines, the
    text's continuation lines indented below), one line per field, double backquotes removed:
    the CLI's option help and the Blender add-on's tooltips."""
    docs: dict[str, str] = {}
    doc = inspect.getdoc(cls) or ""
    block = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    current: list[str] = []
    for line in block.splitlines():
        m = re.match(r"^\s{0,8}([a-z_][a-z0-9_]*(?:,\s*[a-z_][a-z0-9_]*)*):\s*(.*)$", line)
        if m:
            current = [n.strip() for n in m.group(1).split(",")]
            for n in current:
                docs[n] = m.group(2).strip().replace("``", "")
        elif line.strip() and current:
            for n in current:
                docs[n] += " " + line.strip().replace("``", "")
        elif not line.strip():
            current = []
    return docs


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ArgumentError(f"{{{name}}} must be one of {', '.join(allowed)}, got {value!r}", name)


def _positive(name: str, value: object, *, zero: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and math.isfinite(v := float(value)) and (v >= 0 if zero else v > 0)
    if not ok:
        raise ArgumentError(f"{{{name}}} must be {'>= 0' if zero else 'positive'}, got {value}", name)


def _path(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if value is not None and not isinstance(value, Path):
        object.__setattr__(obj, name, Path(value))


@dataclass(frozen=True)
class DetectOptions:
    """Which frames are read and how the 2D keypoints are found.

    Attributes:
        start: Start time in seconds.
        end: End time in seconds.
        mirror: Flip the video horizontally (selfie footage).
        cache: Reuse (and write) detections cached beside the outputs (<clip>.keypoints.npz).
        min_detection_confidence: Person detector score (0 to 1) needed to find the subject;
            lower it (e.g. 0.3) for a small or distant person.
    """

    start: float | None = None
    end: float | None = None
    mirror: bool = False
    cache: bool = True
    min_detection_confidence: float = 0.5

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                _positive(name, value, zero=True)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ArgumentError(f"{{end}} ({self.end} s) must come after {{start}} ({self.start} s)", "end", "start")
        c = self.min_detection_confidence
        if not (isinstance(c, numbers.Real) and math.isfinite(c) and 0.0 <= c <= 1.0):
            raise ArgumentError(f"{{min_detection_confidence}} must be between 0 and 1, got {c}", "min_detection_confidence")


@dataclass(frozen=True)
class LiftOptions:
    """2D -> 3D: the lifter, and what a single camera cannot see.

    Attributes:
        height: Subject's standing height (m); sets the motion's scale and distance.
        fov: Horizontal field of view (deg) of the camera (phones: about 60-70).
        checkpoint: Lifter checkpoint (default: bundled).
    """

    height: float = 1.70
    fov: float = 60.0
    checkpoint: Path | None = None

    def __post_init__(self) -> None:
        check_height(self.height)
        check_fov(self.fov)
        _path(self, "checkpoint")


@dataclass(frozen=True)
class CleanOptions:
    """Clean-up of the motion: swaps, gaps, outliers, bone lengths, jitter, the floor, the feet.

    The steps run in this order (:func:`pose2rig.clean.clean_motion`); each can be switched off.

    Attributes:
        swaps: Repair left/right swaps (2D before lifting, 3D after).
        fill_gaps: Fill missing frames in rotation space; the root is interpolated across gaps
            of any length.
        max_gap: Frames in gaps longer than this (s) are filled but marked unseen (confidence 0).
        outliers: Repair short runs of implausible frames (the lifter's discriminator) and
            root jumps faster than max_root_speed.
        max_root_speed: Fastest a person's root moves between frames (m/s).
        bone_lengths: Keep each bone's length constant over the clip (BVH and the character
            have fixed bones anyway).
        smooth: Temporal filter against jitter, on the bones' rotations and the root separately.
        min_cutoff: One-Euro minimum cutoff (Hz): lower is smoother when still.
        beta: One-Euro speed coefficient: higher lags less on fast moves.
        window: Savitzky-Golay window (s).
        floor: Fit the floor plane under the feet and level the world on it.
        foot_lock: Pin planted feet where they rest: two-bone IK of each leg holds them.
        root_follow: How far the body follows its planted feet (0 to 1); 0: each leg's IK
            absorbs its foot's slide.
    """

    swaps: bool = True
    fill_gaps: bool = True
    max_gap: float = 0.5
    outliers: bool = True
    max_root_speed: float = 10.0
    bone_lengths: bool = False
    smooth: Literal["one_euro", "savgol", "none"] = "one_euro"
    min_cutoff: float = 3.0
    beta: float = 3.0
    window: float = 0.2
    floor: bool = True
    foot_lock: bool = True
    root_follow: float = 0.0

    def __post_init__(self) -> None:
        _positive("max_gap", self.max_gap, zero=True)
        _choice("smooth", self.smooth, SMOOTHING)
        _positive("min_cutoff", self.min_cutoff)
        _positive("beta", self.beta, zero=True)
        _positive("window", self.window)
        _positive("max_root_speed", self.max_root_speed)
        if not (isinstance(self.root_follow, numbers.Real) and 0.0 <= self.root_follow <= 1.0):
            raise ArgumentError(f"{{root_follow}} must be between 0 and 1, got {self.root_follow!r}", "root_follow")


@dataclass(frozen=True)
class WorldOptions:
    """Camera space -> the world: the floor, the facing, the root's travel.

    Attributes:
        root_motion: Where the subject's travel goes. on: the root bones carry it; ground: a
            root bone on the floor under the pelvis carries the travel and heading, the pelvis
            its height (game engines' root motion; a rig without a root bone gets one where the
            file is rebuilt); off: the character stays in place. Default per preset (ground for
            unreal and unity, on for blender).
        camera_pitch: The camera's pitch in degrees, positive looking down (0: level). Default:
            read from MediaPipe's 3D legs (the floor under the feet where there are none); given,
            the floor is only lifted to height 0.
    """

    root_motion: Literal["on", "ground", "off"] | None = None
    camera_pitch: float | None = None

    def __post_init__(self) -> None:
        if self.root_motion is not None:
            object.__setattr__(self, "root_motion", root_motion_mode(self.root_motion))
        p = self.camera_pitch
        if p is not None and not (isinstance(p, numbers.Real) and not isinstance(p, bool) and math.isfinite(p)
                                  and abs(p) < 90):
            raise ArgumentError(f"{{camera_pitch}} must be between -90 and 90 degrees (exclusive), got {p!r}",
                                "camera_pitch")


@dataclass(frozen=True)
class BodyOptions:
    """The body fit (SMPLify-style, :func:`pose2rig.body.fit.fit_body`): a body model's shape,
    joint rotations and translation from the cleaned world joints.

    Attributes:
        fit_body: Fit a body model to the cleaned 3D joints (the free Anny model unless
            smpl_model is given); the body output writes it to a file.
        smpl_model: Fit SMPL instead of Anny: an SMPL model file (SMPL_NEUTRAL.pkl, male,
            female, or an .npz of the same arrays) or a folder laid out as smplx expects;
            needs the smpl extra (pip install pose2rig[smpl]; its license is for
            non-commercial research only).
        smpl_gender: Which SMPL model file of a folder (and the gender written in the body
            file).
        pose_prior: SMPLify's Gaussian-mixture pose prior for the SMPL fit (gmm_08.pkl from
            SMPLify's download, non-commercial license, or an .npz of its means, covars and
            weights); it replaces the L2 pose prior. Needs smpl_model.
        fit_device: Where the fit runs (auto: cuda where present, else cpu).
    """

    fit_body: bool = False
    smpl_model: Path | None = None
    smpl_gender: Literal["neutral", "male", "female"] = "neutral"
    pose_prior: Path | None = None
    fit_device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        _path(self, "smpl_model")
        _path(self, "pose_prior")
        if self.pose_prior is not None and self.smpl_model is None:
            raise ArgumentError("{pose_prior} is a mixture over SMPL's body pose: give {smpl_model} too "
                                "(the default Anny model has its own joints)", "pose_prior", "smpl_model")
        _choice("smpl_gender", self.smpl_gender, SMPL_GENDERS)
        if self.smpl_gender != "neutral" and self.smpl_model is None:
            raise ArgumentError("{smpl_gender} picks an SMPL model file: give {smpl_model} too (the default "
                                "Anny model takes no gender)", "smpl_gender", "smpl_model")
        _choice("fit_device", self.fit_device, FIT_DEVICES)


@dataclass(frozen=True)
class ExportOptions:
    """The character and the files' conventions.

    Attributes:
        fps: Resample the output to this frame rate (default: the clip's).
        units: BVH length units.
        rig: Character to animate (.glb/.gltf/.fbx/.blend, MPFB2 rig.*.json); default: the bundled one.
        rig_map: JSON of role -> bone name overriding the bone mapping.
        preset: FBX axis and scale conventions.
    """

    fps: float | None = None
    units: Literal["cm", "m"] = "cm"
    rig: Path | None = None
    rig_map: Path | None = field(default=None, metadata={"flag": "--map"})
    preset: Literal["blender", "unity", "unreal"] = "blender"

    def __post_init__(self) -> None:
        if self.fps is not None and not (isinstance(self.fps, numbers.Real) and 0 < self.fps <= 240):
            raise ArgumentError(f"{{fps}} must be in (0, 240], got {self.fps}", "fps")
        _choice("units", self.units, UNITS)
        _choice("preset", self.preset, PRESETS)
        _path(self, "rig")
        _path(self, "rig_map")


GROUPS: tuple[tuple[str, type], ...] = (
    ("detect", DetectOptions),
    ("lift", LiftOptions),
    ("clean", CleanOptions),
    ("world", WorldOptions),
    ("body", BodyOptions),
    ("export", ExportOptions),
)
"""(attribute of :class:`ConvertOptions`, its class), in the order of the pipeline."""


def _field_groups() -> dict[str, str]:
    where: dict[str, str] = {}
    for group, cls in GROUPS:
        for f in dataclasses.fields(cls):
            if f.name in where:
                raise RuntimeError(f"option {f.name!r} is in both {where[f.name]} and {group}")
            where[f.name] = group
    return where


FIELD_GROUP: dict[str, str] = _field_groups()
"""Each option's name -> the :class:`ConvertOptions` attribute of its group."""


@dataclass(frozen=True)
class ConvertOptions:
    """Every option of a conversion, by stage; each group checks its values when built.

    ``ConvertOptions()`` is the defaults; :meth:`from_flat` and :meth:`replace` take options by
    name (``height=1.8, smooth="none"``) without naming their groups.
    """

    detect: DetectOptions = field(default_factory=DetectOptions)
    lift: LiftOptions = field(default_factory=LiftOptions)
    clean: CleanOptions = field(default_factory=CleanOptions)
    world: WorldOptions = field(default_factory=WorldOptions)
    body: BodyOptions = field(default_factory=BodyOptions)
    export: ExportOptions = field(default_factory=ExportOptions)

    def __post_init__(self) -> None:
        for group, cls in GROUPS:
            if not isinstance(getattr(self, group), cls):
                raise ArgumentError(
                    f"{{{group}}} must be a {cls.__name__}, got {type(getattr(self, group)).__name__}", group
                )

    @classmethod
    def from_flat(cls, **values: Any) -> ConvertOptions:
        """The defaults with ``values`` (option name -> value) put in their groups."""
        return cls().replace(**values)

    def replace(self, **values: Any) -> ConvertOptions:
        """A copy with ``values`` (option name -> value) changed; unknown names are an error."""
        unknown = sorted(set(values) - set(FIELD_GROUP))
        if unknown:
            raise ArgumentError(
                f"unknown option(s) {', '.join(unknown)}; known: {', '.join(FIELD_GROUP)}"
            )
        by_group: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            by_group.setdefault(FIELD_GROUP[name], {})[name] = value
        return dataclasses.replace(
            self, **{g: dataclasses.replace(getattr(self, g), **v) for g, v in by_group.items()}
        )

    @property
    def root_motion(self) -> str:
        """``world.root_motion``, or where that is None the ``export.preset``'s
        (:data:`PRESET_ROOT_MOTION`)."""
        return self.world.root_motion or PRESET_ROOT_MOTION[self.export.preset]

    def flat(self) -> dict[str, Any]:
        """Every option by name, as :meth:`from_flat` takes them."""
        out: dict[str, Any] = {}
        for group, _ in GROUPS:
            obj = getattr(self, group)
            out.update({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
        return out


@dataclass(frozen=True)
class Outputs:
    """The files a conversion writes; each is written atomically, or not at all on failure.

    Attributes:
        bvh: Write the animation as BVH (with a rig: the character's skeleton).
        npz: Write 2D/3D joints and camera as .npz.
        preview: Write a side-by-side preview video (.mp4).
        fbx: Write the character's animation as FBX (through bpy).
        glb: Write the character's animation as GLB (glTF binary).
        character_preview: Write a video of the skinned character beside the clip (.mp4).
        blend_action: Write the animation as one Blender action in a .blend file, keyed for the
            rig's armature.
        body: Write the body fit as .npz (AMASS-style for SMPL, Anny's own parameters
            otherwise; the fitted joints and bone rotations for both); fits the body even
            without fit_body.
    """

    bvh: Path | None = None
    npz: Path | None = None
    preview: Path | None = None
    fbx: Path | None = None
    glb: Path | None = None
    character_preview: Path | None = None
    blend_action: Path | None = None
    body: Path | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _path(self, f.name)

    def items(self) -> dict[str, Path]:
        """The outputs asked for: name -> path, in field order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    @property
    def character(self) -> bool:
        """Whether an output shows the character (FBX, GLB, its preview or a Blender action)."""
        return any(getattr(self, n) is not None for n in ("fbx", "glb", "character_preview", "blend_action"))


DEFAULT_ROOT_MOTION: str = PRESET_ROOT_MOTION[ExportOptions.preset]
"""The root motion of the default preset: the stages' default."""
