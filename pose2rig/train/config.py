"""Training configuration: one dataclass, every field a CLI option of ``pose2rig train``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pose2rig.errors import Pose2RigError


@dataclass(frozen=True)
class TrainConfig:
    """Adversarial lifter training (Drover et al. 2018) on 2D views of mocap.

    Paths are relative to the working directory (the repository root in the docs).

    Attributes:
        data: mocap BVH files or folders (searched for ``*.bvh``); the shipped model uses the CMU
            folders only.
        val_subject: CMU subject number held out for validation (from file names such as
            ``007_03.bvh``, ``scaled_131_01.bvh``, ``fairmotion_01_01.bvh``).
        out: the lifter checkpoint written at the end (best validation step).
        run_dir: resumable state, curves (CSV, PNG) and the mocap cache.
        steps: generator/discriminator update pairs.
        batch: poses per batch (generator inputs and real samples drawn independently).
        lr_g, lr_d: Adam learning rates; beta1: Adam's first-moment decay for both.
        width, blocks: generator residual MLP size; d_width, d_blocks: the discriminator's.
        symmetry_weight: weight of the left/right bone-length symmetry loss on the generator.
        real_label: target for real samples in the discriminator's loss (one-sided smoothing).
        elevation_max: the random projection's elevation range is [0, elevation_max] degrees.
        target_fps: mocap is subsampled to about this rate.
        seed: seeds every random draw (one torch generator).
        device: "cpu" or "cuda".
        threads: torch CPU threads.
        checkpoint_every: steps between resumable checkpoints (and validations).
        val_poses: held-out poses (fixed cameras) used for validation.
        max_minutes: stop cleanly (with a checkpoint) after this wall time; 0 means no limit.
    """

    data: tuple[Path, ...] = (Path("../shared/data/mocap/cmu"), Path("../shared/data/mocap/cmu_iclone"))
    val_subject: int = 7
    out: Path = Path("models/lifter_h36m17.pt")
    run_dir: Path = Path("runs/lifter")
    steps: int = 40000
    batch: int = 256
    lr_g: float = 5e-4
    lr_d: float = 1e-3
    beta1: float = 0.5
    width: int = 256
    blocks: int = 2
    d_width: int = 256
    d_blocks: int = 2
    symmetry_weight: float = 0.1
    real_label: float = 0.9
    elevation_max: float = 20.0
    target_fps: float = 30.0
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    checkpoint_every: int = 2000
    val_poses: int = 4000
    max_minutes: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", tuple(Path(p) for p in self.data))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if self.device not in ("cpu", "cuda"):
            raise Pose2RigError(f"--device must be 'cpu' or 'cuda', got {self.device!r}")
        for name in ("steps", "batch", "width", "blocks", "d_width", "d_blocks", "checkpoint_every",
                     "threads", "val_poses"):
            if int(getattr(self, name)) < (0 if name == "blocks" or name == "d_blocks" else 1):
                raise Pose2RigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.real_label <= 1.0:
            raise Pose2RigError(f"--real-label must be in (0, 1], got {self.real_label}")

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
    def from_plain(cls, values: dict[str, object]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in values.items() if k in known}
        if "data" in kw:
            kw["data"] = tuple(Path(p) for p in kw["data"])  # type: ignore[union-attr]
        return cls(**kw)  # type: ignore[arg-type]
