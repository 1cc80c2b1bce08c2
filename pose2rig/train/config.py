"""Training configuration: one dataclass, every field a CLI option of ``pose2rig train``.

Presets: ``preset`` picks a column of :data:`PRESETS` (``default``: the shipped lifter;
``paper``: Drover et al. 2018 as published). Fields listed there default to ``None``, meaning
"take the preset's value"; ``__post_init__`` fills them in, so an explicit value (keyword or CLI
option) always wins over the preset, and a built config holds only resolved values (its
``to_plain`` is what a checkpoint stores and what ``from_plain`` gives back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from pose2rig.errors import ArgumentError

_T = TypeVar("_T")

PRESETS: dict[str, dict[str, object]] = {
    # the shipped lifter (models/README.md): small, no BatchNorm, D with KCS, tuned for a CPU
    "default": {
        "joints": "h36m17", "batch": 256, "lr_g": 5e-4, "lr_d": 1e-3, "beta1": 0.5,
        "width": 256, "blocks": 2, "d_width": 256, "d_blocks": 2, "norm": "none",
        "activation": "leaky_relu", "d_norm": "none", "d_kcs": "on", "d_output": "logit",
        "symmetry_weight": 0.1, "real_label": 0.9, "ema": 0.0,
    },
    # Drover et al. (ECCV-W 2018) as published: 14 joints, 1024 x 4 residual G with BatchNorm,
    # 1024 x 3 D with a 2-class output, standard GAN loss, Adam 2e-4 (betas not given: Adam's
    # defaults), batch 32,768, no extra losses
    "paper": {
        "joints": "paper14", "batch": 32768, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.9,
        "width": 1024, "blocks": 4, "d_width": 1024, "d_blocks": 3, "norm": "batch",
        "activation": "relu", "d_norm": "batch", "d_kcs": "off", "d_output": "two_class",
        "symmetry_weight": 0.0, "real_label": 1.0, "ema": 0.0,
    },
}


def filled(value: _T | None) -> _T:
    """An option of a built :class:`TrainConfig` that its ``__post_init__`` fills in (from the
    preset, or ``out`` from ``run_dir``): typed ``X | None`` for the constructor, never None after."""
    if value is None:
        raise AssertionError("TrainConfig.__post_init__ fills in every preset option and out")
    return value


@dataclass(frozen=True)
class TrainConfig:
    """Lifter training (Drover et al. 2018): adversarial from 2D alone, or supervised.

    Paths are relative to the working directory. Options whose help ends in "from the preset"
    take the value of the preset unless given. Nothing is written over the shipped lifter
    (:func:`pose2rig.lift.infer.default_checkpoint`) unless :func:`pose2rig.train.train` is told
    to (``force``).

    Attributes:
        preset: "default" (the shipped lifter) or "paper" (Drover et al. 2018 as published);
            fills every option marked "from the preset" that is not given explicitly.
        objective: "adversarial" (2D only, the method) or "supervised" (L2 on the depth offsets
            against 3D ground truth: the upper bound; needs a 3D source: mocap or Human3.6M).
        source: Where the training 2D poses come from: "mocap" (the data BVH files filmed by
            virtual cameras), "h36m" (Human3.6M files) or "keypoints" (keypoint sets from
            pose2rig detect).
        data: Mocap BVH files or folders of them (*.bvh). Required for source mocap; for every
            source, the validation poses (the held-out subject) come from it, and without it
            there is no validation and the last step is written.
        val_subject: CMU subject number whose clips are held out for validation (read from file
            names such as 007_03.bvh, scaled_131_01.bvh, fairmotion_01_01.bvh); the data must
            hold some, or training stops before it starts.
        h36m_3d: Human3.6M 3D poses (data_3d_h36m.npz) for source h36m.
        h36m_2d: Human3.6M 2D keypoints (data_2d_h36m_*.npz) for source h36m; without them, the
            2D comes from projecting the 3D poses through the Human3.6M cameras.
        h36m_cameras: Human3.6M camera parameters (JSON) for source h36m.
        h36m_subjects: Human3.6M subjects to train on.
        keypoints: 2D keypoint sets (.npz from pose2rig detect, or convert's caches) for source
            keypoints.
        out: The lifter checkpoint written at the end (the best validation step); default:
            lifter.pt in the run folder. Never the shipped lifter unless forced.
        run_dir: Folder of the resumable state, the curves (CSV, PNG) and the mocap cache.
        steps: Generator/discriminator update pairs.
        batch: Poses per step over all processes (generator inputs and real samples drawn
            independently); from the preset.
        lr_g: The generator's Adam learning rate; from the preset.
        lr_d: The discriminator's Adam learning rate; from the preset.
        beta1: Adam's first-moment decay, for both networks; from the preset.
        lr_final: Both learning rates at the last step, as a fraction of their start; they fall
            exponentially in between (set from the step number, so a resumed run continues
            exactly); 1 keeps them constant.
        joints: Training joint set, "h36m17" or "paper14" (h36m17 without pelvis, spine and
            neck/nose; root the mid-hip point); from the preset.
        width: Width of the generator's residual MLP (units per layer); from the preset.
        blocks: Residual blocks of the generator; from the preset.
        d_width: Width of the discriminator's residual MLP (units per layer); from the preset.
        d_blocks: Residual blocks of the discriminator; from the preset.
        norm: Normalisation in the generator's blocks: "none", or "batch"
            (Linear-BatchNorm-activation); from the preset.
        d_norm: Normalisation in the discriminator's blocks: "none", or "batch"
            (Linear-BatchNorm-activation); from the preset.
        activation: "leaky_relu" or "relu", in both networks; from the preset.
        d_kcs: "on" feeds the discriminator the KCS bone Gram matrix too; from the preset.
        d_output: The discriminator's output: "logit" (one output) or "two_class" (the paper's
            2-way softmax); from the preset.
        symmetry_weight: Weight of the left/right bone-length symmetry loss on the generator (0
            is off); from the preset.
        bone_ratio_weight: Weight of the bone-length-ratio loss of Zhou et al. 2017 (arm and leg
            bone ratios kept constant across the batch; 0 is off).
        ema: The generator that is validated and written is an exponential moving average of the
            trained one's weights with this decay per step (0 is off: the trained weights
            themselves); from the preset.
        real_label: Target for real samples in the discriminator's loss (one-sided smoothing; 1
            is the standard GAN loss); from the preset.
        elevation_max: The random camera's elevation is drawn from 0 to this many degrees.
        target_fps: Mocap is subsampled to about this frame rate.
        balance_cm: Thin the mocap pose bank so that kept poses differ by at least this mean
            per-joint distance (cm, root-centred and heading-normalised), so repeated poses (CMU
            is mostly walking) are not drawn more often than rare ones; 0 keeps every pose.
        seed: Seeds every random draw (one torch generator per process).
        device: "cpu" or "cuda" (under torchrun, each process its local GPU).
        precision: "auto" (mixed on cuda, fp32 on cpu), "fp32" or "mixed" (autocast float16
            with gradient scaling on cuda, bfloat16 on cpu).
        threads: Torch CPU threads.
        checkpoint_every: Steps between resumable checkpoints (and validations).
        val_poses: At most this many held-out poses (fixed cameras) are used for validation.
        max_minutes: Stop cleanly (with a checkpoint) after this wall time; 0 means no limit.
    """

    preset: Literal["default", "paper"] = "default"
    objective: Literal["adversarial", "supervised"] = "adversarial"
    source: Literal["mocap", "h36m", "keypoints"] = "mocap"
    data: tuple[Path, ...] = ()
    val_subject: int = 7
    h36m_3d: Path | None = None
    h36m_2d: Path | None = None
    h36m_cameras: Path | None = None
    h36m_subjects: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
    keypoints: tuple[Path, ...] = ()
    out: Path | None = None
    run_dir: Path = Path("runs/lifter")
    steps: int = 40000
    batch: int | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    lr_final: float = 1.0
    joints: Literal["h36m17", "paper14"] | None = None
    width: int | None = None
    blocks: int | None = None
    d_width: int | None = None
    d_blocks: int | None = None
    norm: Literal["none", "batch"] | None = None
    d_norm: Literal["none", "batch"] | None = None
    activation: Literal["leaky_relu", "relu"] | None = None
    d_kcs: Literal["on", "off"] | None = None
    d_output: Literal["logit", "two_class"] | None = None
    symmetry_weight: float | None = None
    bone_ratio_weight: float = 0.0
    real_label: float | None = None
    ema: float | None = None
    elevation_max: float = 20.0
    target_fps: float = 30.0
    balance_cm: float = 0.0
    seed: int = 0
    device: str = "cpu"
    precision: Literal["auto", "fp32", "mixed"] = "auto"
    threads: int = 2
    checkpoint_every: int = 2000
    val_poses: int = 4000
    max_minutes: float = 0.0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ArgumentError(f"{{preset}} must be one of {', '.join(PRESETS)}, got {self.preset!r}", "preset")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "data", tuple(Path(p) for p in self.data))
        object.__setattr__(self, "keypoints", tuple(Path(p) for p in self.keypoints))
        object.__setattr__(self, "h36m_subjects", tuple(str(s) for s in self.h36m_subjects))
        for name in ("out", "run_dir", "h36m_3d", "h36m_2d", "h36m_cameras"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.out is None:
            object.__setattr__(self, "out", self.run_dir / "lifter.pt")
        choices = {
            "objective": ("adversarial", "supervised"), "source": ("mocap", "h36m", "keypoints"),
            "joints": ("h36m17", "paper14"), "norm": ("none", "batch"), "d_norm": ("none", "batch"),
            "activation": ("leaky_relu", "relu"), "d_kcs": ("on", "off"),
            "d_output": ("logit", "two_class"), "device": ("cpu", "cuda"),
            "precision": ("auto", "fp32", "mixed"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ArgumentError(
                    f"{{{name}}} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}", name
                )
        for name in ("steps", "batch", "width", "blocks", "d_width", "d_blocks", "checkpoint_every",
                     "threads", "val_poses"):
            if int(getattr(self, name)) < (0 if name in ("blocks", "d_blocks") else 1):
                raise ArgumentError(f"{{{name}}} must be positive, got {getattr(self, name)}", name)
        if not 0.0 < filled(self.real_label) <= 1.0:
            raise ArgumentError(f"{{real_label}} must be in (0, 1], got {self.real_label}", "real_label")
        for name in ("symmetry_weight", "bone_ratio_weight", "lr_g", "lr_d"):
            if not float(getattr(self, name)) >= 0.0:
                raise ArgumentError(f"{{{name}}} must be >= 0, got {getattr(self, name)}", name)
        if not 0.0 <= filled(self.ema) < 1.0:
            raise ArgumentError(f"{{ema}} must be in [0, 1), got {self.ema}", "ema")
        if not 0.0 < self.lr_final <= 1.0:
            raise ArgumentError(f"{{lr_final}} must be in (0, 1], got {self.lr_final}", "lr_final")
        if self.source == "keypoints" and self.objective == "supervised":
            raise ArgumentError("{objective} supervised needs 3D ground truth: {source} mocap or h36m", "objective", "source")
        if self.source == "keypoints" and not self.keypoints:
            raise ArgumentError("{source} keypoints needs at least one {keypoints} file", "source", "keypoints")
        if self.source == "h36m" and self.h36m_3d is None and self.h36m_2d is None:
            raise ArgumentError("{source} h36m needs {h36m_3d} (and {h36m_cameras}) or {h36m_2d}", "source", "h36m_3d",
                                "h36m_cameras", "h36m_2d")

    def to_plain(self) -> dict[str, object]:
        """Plain values (paths as str, tuples as lists) for a ``weights_only`` checkpoint."""
        out: dict[str, object] = {}
        for k, v in asdict(self).items():
            if isinstance(v, tuple):
                v = [str(x) for x in v]
            elif isinstance(v, Path):
                v = str(v)
            out[k] = v
        return out

    @classmethod
    def from_plain(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_plain`; fields missing (older checkpoints) take their defaults."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in values.items() if k in known}
        return cls(**kw)
