"""The training loop: adversarial or supervised, resumable, one process or many (``torchrun``).

One step (adversarial): draw the generator's input and the discriminator's real samples (two
independent draws from the source), lift, back-project, view from a random camera (all on the
device, batched), normalise; update D on real and fake together (one forward), then G through D.
Supervised: L2 of G's depth offsets against the ground truth (:func:`sources.depth_targets`).
On cuda the networks run under autocast (float16) with gradient scaling; geometry and losses stay
in float32.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.evaluate import synthetic_views
from pose2rig.io.atomic import atomic_path
from pose2rig.lift import codec
from pose2rig.lift.codec import DEFAULT_ROLLS
from pose2rig.lift.infer import FORMAT, VERSION
from pose2rig.lift.joints import JointSet, joint_set
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.projection import back_project, random_projection
from pose2rig.train import distributed as ddp
from pose2rig.train.config import TrainConfig, filled
from pose2rig.train.data import PoseViews, balance_poses, load_poses
from pose2rig.train.losses import (
    bone_ratio_loss,
    discriminator_loss,
    generator_loss,
    supervised_loss,
    symmetry_loss,
)
from pose2rig.train.sources import build_source, depth_targets

log = logging.getLogger(__name__)

COLUMNS = ["step", "seconds", "loss_d", "loss_g", "loss_sym", "loss_ratio", "d_real", "d_fake",
           "val_p_mpjpe_mm", "val_n_mpjpe_mm"]
_ACC = COLUMNS[2:8]
VAL_SEED = 1234


def lifter_checkpoint(
    gen: Generator, disc: Discriminator, config: TrainConfig, *, step: int, metrics: dict[str, float],
    joints: JointSet | None = None, seconds: float | None = None,
) -> dict[str, object]:
    """The shipped-model dict (see :mod:`pose2rig.lift.infer` for the format).

    ``generator``/``discriminator`` hold the models' :meth:`spec` (the shipped lifter's keys plus
    norm, activation and friends; loaders of version 1 read the first three and ignore the rest).
    ``skeleton``/``joint_names`` name the training joint set, ``joint_indices`` its h36m17 joints
    and ``root_joints`` the joints averaged to its root.
    """
    js = joints if joints is not None else joint_set(str(config.joints))
    return {
        "format": FORMAT,
        "version": VERSION,
        "skeleton": js.name,
        "joint_names": list(js.skeleton.joint_names),
        "joint_indices": list(js.indices),
        "root_joints": list(js.root),
        "codec": codec.constants(),
        "generator": gen.spec(),
        "generator_state": {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()},
        "discriminator": disc.spec(),
        "discriminator_state": {k: v.detach().cpu().clone() for k, v in disc.state_dict().items()},
        "config": config.to_plain(),
        "step": int(step),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "train_seconds": float(seconds) if seconds is not None else float("nan"),
    }


def _save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    log.info("saved %s", path)


def _plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    s = [r["step"] for r in rows]
    for k in ("loss_d", "loss_g", "loss_sym", "loss_ratio"):
        ax[0].plot(s, [r.get(k, math.nan) for r in rows], label=k)
    ax[0].set_xlabel("step")
    ax[0].legend()
    v = [r for r in rows if not math.isnan(r["val_p_mpjpe_mm"])]
    ax[1].plot([r["step"] for r in v], [r["val_p_mpjpe_mm"] for r in v], "o-", label="val P-MPJPE")
    ax[1].plot([r["step"] for r in v], [r["val_n_mpjpe_mm"] for r in v], "o-", label="val N-MPJPE")
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("mm")
    ax[1].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def _write_curves(rows: list[dict[str, float]], run_dir: Path) -> None:
    with atomic_path(run_dir / "curves.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, restval=math.nan)
            w.writeheader()
            w.writerows(rows)
    try:
        _plot(rows, run_dir / "curves.png")
    except Exception as e:
        log.warning("could not plot training curves: %s", e)


def evaluate_generator(
    gen: Generator, js: JointSet, pixels: np.ndarray, gt_camera: np.ndarray, *, mirror: bool = True,
    rolls: tuple[float, ...] = DEFAULT_ROLLS,
) -> dict[str, float]:
    """Metrics (metres) of ``gen`` on h36m17 views ``(N, 17, 2)`` against camera-frame truth
    ``(N, 17, 3)``, in joint set ``js``: :func:`pose2rig.evaluate.evaluate_lifter` of the
    generator as the shipped lifter runs it (averaged over rolls and mirror images), on the
    generator's device."""
    from pose2rig.evaluate import evaluate_lifter
    from pose2rig.lift.infer import Lifter

    return evaluate_lifter(Lifter(gen, mirror=mirror, rolls=rolls, joints=js.name), pixels, gt_camera)


def _ema_update(decay: float):
    """``multi_avg_fn`` for :class:`torch.optim.swa_utils.AveragedModel`: an exponential moving
    average whose decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as
    TensorFlow's ExponentialMovingAverage), so short runs are not stuck near the initial weights."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor | int) -> None:
        n = int(n)
        rate = min(decay, (1.0 + n) / (10.0 + n))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - rate)
            else:  # BatchNorm's batch counter
                a.copy_(c)

    return update


class Trainer:
    """One training run (one process of it under ``torchrun``); :meth:`run` trains.

    Attributes after construction: ``gen``, ``disc`` (the plain modules), ``step``, ``info``
    (:class:`pose2rig.train.distributed.DistInfo`), ``joints`` (the :class:`JointSet`).
    """

    def __init__(self, config: TrainConfig, *, resume: bool = True, progress: bool = True, force: bool = False) -> None:
        check_run(config, force=force)
        self.config, self.resume, self.progress = config, resume, progress
        torch.set_num_threads(config.threads)
        self.info = info = ddp.setup(config.device)
        try:
            self._build()
        except BaseException:
            ddp.teardown(info)
            raise

    def _build(self) -> None:
        c, info = self.config, self.info
        dev = info.device
        if filled(c.batch) % info.world_size:
            raise ArgumentError(f"{{batch}} {c.batch} must divide among {info.world_size} processes", "batch")
        self.per_batch = int(filled(c.batch)) // info.world_size
        self.joints = js = joint_set(str(c.joints))
        self.run_dir = c.run_dir
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        ddp.barrier(info)

        # mocap: the mocap source and the validation poses (rank 0 first: it fills the cache)
        train_poses = val_poses = None
        if c.data:
            for turn in (True, False):
                if info.is_main == turn:
                    train_poses, val_poses = load_poses(
                        c.data, val_subject=c.val_subject, target_fps=c.target_fps, cache_dir=self.run_dir
                    )
                ddp.barrier(info)
        if train_poses is not None and c.balance_cm > 0:
            train_poses = balance_poses(train_poses, threshold=c.balance_cm / 100.0)
        mocap = PoseViews(train_poses, device=dev, joint_set=js) if train_poses is not None else None
        self.source = build_source(c, js, mocap=mocap)
        if c.data and (val_poses is None or not len(val_poses)):  # every rank: all of them stop
            raise ArgumentError(
                f"no validation poses: the clips of subject {c.val_subject} in {{data}} have no complete pose; "
                "choose another {val_subject}", "data", "val_subject",
            )
        if not c.data:
            log.warning("no mocap data given: training without validation; the last step is written to %s", c.out)
        self.val = None
        if info.is_main and val_poses is not None:
            self.val = synthetic_views([val_poses], seed=VAL_SEED, max_poses=c.val_poses)
        log.info("training on %s (%s), %d joints, validating on %d poses", c.source, c.objective,
                 js.n_joints, 0 if self.val is None else len(self.val[0]))

        torch.manual_seed(c.seed)
        self.gen = Generator(
            n_joints=js.n_joints, width=int(filled(c.width)), blocks=int(filled(c.blocks)), norm=str(c.norm),
            activation=str(c.activation), hold_root=js.root_is_joint,
        ).to(dev)
        self.disc = Discriminator(
            n_joints=js.n_joints, width=int(filled(c.d_width)), blocks=int(filled(c.d_blocks)),
            parents=js.skeleton.parents, norm=str(c.d_norm), activation=str(c.activation),
            use_kcs=c.d_kcs == "on", two_class=c.d_output == "two_class",
        ).to(dev)
        # the shipped generator: an exponential moving average of the trained weights (torch's own
        # AveragedModel), or the trained generator itself with --ema 0
        self.gen_ema = (
            torch.optim.swa_utils.AveragedModel(self.gen, multi_avg_fn=_ema_update(float(filled(c.ema))),
                                              use_buffers=True)
            if c.ema else None
        )
        self.gen_m = ddp.wrap(self.gen, info)
        self.disc_m = ddp.wrap(self.disc, info) if c.objective == "adversarial" else self.disc
        betas = (float(filled(c.beta1)), 0.999)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=filled(c.lr_g), betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=filled(c.lr_d), betas=betas)
        mixed = c.precision == "mixed" or (c.precision == "auto" and dev.type == "cuda")
        self.amp_dtype = (torch.float16 if dev.type == "cuda" else torch.bfloat16) if mixed else None
        scale = mixed and dev.type == "cuda"  # bfloat16 needs no loss scaling
        self.scaler_g = torch.amp.GradScaler(dev.type, enabled=scale)
        self.scaler_d = torch.amp.GradScaler(dev.type, enabled=scale)
        self.rng = torch.Generator(device=dev).manual_seed(c.seed + ddp.RANK_STRIDE * info.rank)
        self.step, self.elapsed = 0, 0.0
        self.rows: list[dict[str, float]] = []  # the learning curve: one row a checkpoint
        self.best: dict[str, float] | None = None  # the best validation score and its step
        self.ck_path = self.run_dir / "checkpoint.pt"
        if self.resume and self.ck_path.is_file():
            self._load(self.ck_path)
        left, right = js.symmetric_bones()
        self.sym_bones, self.ratio_groups = (left, right), js.bone_groups()

    @property
    def shipped(self) -> Generator:
        """The generator that is validated and written: the moving average, or the trained one."""
        return self.gen_ema.module if self.gen_ema is not None else self.gen  # type: ignore[return-value]  # AveragedModel.module is typed Module

    # ---------------------------------------------------------------- checkpoints
    def _load(self, path: Path) -> None:
        c, info, dev = self.config, self.info, self.info.device
        ck = torch.load(path, map_location=dev, weights_only=True)
        self.gen.load_state_dict(ck["generator_state"])
        self.disc.load_state_dict(ck["discriminator_state"])
        if self.gen_ema is not None:
            if "generator_ema_state" in ck:
                self.gen_ema.load_state_dict(ck["generator_ema_state"])
            else:
                log.warning("checkpoint %s has no moving average: it restarts from the trained weights", path)
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        for name in ("scaler_g", "scaler_d"):
            if name in ck and getattr(self, name).is_enabled():
                getattr(self, name).load_state_dict(ck[name])
        states = ck.get("rng_ranks") or [ck["rng"]]
        step = int(ck["step"])
        if len(states) == info.world_size:
            self.rng.set_state(states[info.rank].cpu())
        else:
            log.warning("checkpoint from %d processes, now %d: new random streams from step %d",
                        len(states), info.world_size, step)
            self.rng.manual_seed(c.seed + ddp.RANK_STRIDE * info.rank + step)
        self.step, self.rows, self.best = step, list(ck["rows"]), ck["best"]
        self.elapsed = float(ck["seconds"])
        log.info("resumed from %s at step %d", path, self.step)

    def _checkpoint(self, seconds: float, acc: torch.Tensor, n_acc: int) -> dict[str, float]:
        """Validate, log a curve row, write checkpoints (rank 0); collective: every rank calls it."""
        c, info = self.config, self.info
        mean = ddp.mean_over_ranks(acc / max(n_acc, 1), info).tolist()
        ddp.average_buffers(self.gen, info)
        ddp.average_buffers(self.disc, info)
        rng_states = ddp.gather(self.rng.get_state(), info)
        watched = mean[:2] if c.objective == "adversarial" else mean[1:2]  # supervised: no D
        if not all(math.isfinite(v) for v in watched):
            raise Pose2RigError(f"training diverged by step {self.step}: loss_d {mean[0]}, loss_g {mean[1]}")
        row: dict[str, float] = {"step": self.step, "seconds": round(seconds, 2)}
        row.update(dict(zip(_ACC, mean)))
        if info.is_main:
            m = evaluate_generator(self.shipped, self.joints, *self.val) if self.val is not None else {}
            row["val_p_mpjpe_mm"] = 1000 * m.get("p_mpjpe", math.nan)
            row["val_n_mpjpe_mm"] = 1000 * m.get("n_mpjpe", math.nan)
            self.rows.append(row)
            score = m.get("p_mpjpe", -float(self.step))  # no validation: the latest step wins
            if self.best is None or score < self.best["score"]:
                self.best = {"score": score, "step": self.step}
                _save(lifter_checkpoint(self.shipped, self.disc, c, step=self.step, metrics=m, joints=self.joints,
                                        seconds=seconds),
                      self.run_dir / "best.pt")
            state = {
                "generator_state": self.gen.state_dict(),
                "discriminator_state": self.disc.state_dict(),
                **({"generator_ema_state": self.gen_ema.state_dict()} if self.gen_ema is not None else {}),
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "scaler_g": self.scaler_g.state_dict(),
                "scaler_d": self.scaler_d.state_dict(),
                "rng": rng_states[0],
                "rng_ranks": rng_states,
                "world_size": info.world_size,
                "step": self.step,
                "rows": self.rows,
                "best": self.best,
                "seconds": seconds,
                "config": c.to_plain(),
            }
            _save(state, self.ck_path)
            _write_curves(self.rows, self.run_dir)
            log.info("step %d: %s", self.step, row)
        ddp.barrier(info)
        return row

    # ---------------------------------------------------------------- steps
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.info.device.type, dtype=self.amp_dtype)

    def _adversarial_step(self) -> torch.Tensor:
        c, js, b = self.config, self.joints, self.per_batch
        x = self.source.sample(b, self.rng)
        real = self.source.sample(b, self.rng)
        with self._autocast():
            offsets = self.gen_m(x)
        points = back_project(x, offsets.float(), d=codec.DEPTH)
        fake, _ = random_projection(points, elevation=(0.0, c.elevation_max), generator=self.rng)
        fake = js.normalise(fake)

        with self._autocast():
            logits = self.disc_m(torch.cat([real, fake.detach()]))
        d_real, d_fake = logits.float().split(b)
        loss_d = discriminator_loss(d_real, d_fake, real_label=float(filled(c.real_label)))
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss_d).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()

        with self._autocast():  # through the plain D: its gradients are not G's to average
            g_logits = self.disc(fake)
        loss_adv = generator_loss(g_logits.float())
        loss_sym = symmetry_loss(points, *self.sym_bones)
        loss_ratio = bone_ratio_loss(points, self.ratio_groups)
        loss_g = loss_adv + float(filled(c.symmetry_weight)) * loss_sym + c.bone_ratio_weight * loss_ratio
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return torch.stack([loss_d, loss_adv, loss_sym, loss_ratio,
                            torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()]).detach()

    def _supervised_step(self) -> torch.Tensor:
        src = self.source
        if not hasattr(src, "sample_3d"):
            raise ArgumentError(f"{{objective}} supervised: {{source}} {self.config.source} has no 3D ground truth",
                                "objective", "source")
        px, cam = src.sample_3d(self.per_batch, self.rng)
        x, target = depth_targets(px, cam, self.joints)
        with self._autocast():
            offsets = self.gen_m(x)
        loss = supervised_loss(offsets.float(), target)
        points = back_project(x, offsets.float().detach(), d=codec.DEPTH)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        nan = torch.tensor(math.nan, device=loss.device)
        return torch.stack([nan, loss.detach(), symmetry_loss(points, *self.sym_bones),
                            bone_ratio_loss(points, self.ratio_groups), nan, nan])

    def _set_learning_rates(self) -> None:
        """Exponential decay from the configured rates to ``lr_final`` of them at the last step."""
        c = self.config
        if c.lr_final == 1.0:
            return
        factor = float(c.lr_final) ** (self.step / max(c.steps, 1))
        for opt, lr in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"] = float(filled(lr)) * factor

    # ---------------------------------------------------------------- run
    def run(self) -> Path:
        """Train to ``config.steps`` (or ``max_minutes``); returns ``config.out`` (rank 0 wrote it)."""
        from tqdm import tqdm

        c, info = self.config, self.info
        try:
            step_fn = self._adversarial_step if c.objective == "adversarial" else self._supervised_step
            acc = torch.zeros(len(_ACC), device=info.device)
            n_acc = 0
            t0 = time.monotonic() - self.elapsed
            bar = tqdm(total=c.steps, initial=self.step, disable=not (self.progress and info.is_main),
                       desc="train lifter")
            stop_early = False
            self.gen.train()
            self.disc.train()
            while self.step < c.steps and not stop_early:
                self._set_learning_rates()
                acc += step_fn()
                if self.gen_ema is not None:
                    self.gen_ema.update_parameters(self.gen)
                n_acc += 1
                self.step += 1
                bar.update(1)
                seconds = time.monotonic() - t0
                if c.max_minutes > 0 and (not info.distributed or self.step % 10 == 0):
                    stop_early = ddp.any_rank(seconds > 60 * c.max_minutes, info)
                if self.step % c.checkpoint_every == 0 or self.step == c.steps or stop_early:
                    row = self._checkpoint(seconds, acc, n_acc)
                    acc.zero_()
                    n_acc = 0
                    shown = {"d": f"{row['loss_d']:.3f}", "g": f"{row['loss_g']:.3f}"}
                    if math.isfinite(row.get("val_p_mpjpe_mm", math.nan)):
                        shown["val"] = f"{row['val_p_mpjpe_mm']:.1f}mm"
                    bar.set_postfix(shown)
            bar.close()
            if info.is_main:
                final = torch.load(self.run_dir / "best.pt", map_location="cpu", weights_only=True)
                final["config"] = c.to_plain()
                _save(final, filled(c.out))
                log.info("kept step %s, the best on validation (%s)", final["step"], final["metrics"])
            ddp.barrier(info)
            return filled(c.out)
        finally:
            ddp.teardown(info)


def check_run(config: TrainConfig, *, force: bool = False) -> None:
    """Refuse, before any work, a run that cannot train or would do harm.

    Mocap training needs ``data``; when ``data`` is given it must hold clips of ``val_subject``
    (the validation poses); ``out`` must be writable and is never the shipped lifter
    (:func:`pose2rig.lift.infer.default_checkpoint`) unless ``force``.

    Raises:
        ArgumentError: naming the arguments at fault.
    """
    from pose2rig.io.atomic import check_writable
    from pose2rig.io.mocap import bvh_files, subject_of
    from pose2rig.lift.infer import default_checkpoint

    c = config
    if c.source == "mocap" and not c.data:
        raise ArgumentError("{source} mocap needs {data}: mocap BVH files or folders of them", "source", "data")
    if c.data:
        files = bvh_files(c.data)
        subjects = sorted({s for s in map(subject_of, files) if s is not None})
        if c.val_subject not in subjects:
            found = ", ".join(map(str, subjects)) if subjects else "none (no subject number in the file names)"
            raise ArgumentError(
                f"no validation poses: {{data}} holds no clip of subject {c.val_subject} ({{val_subject}}); "
                f"subjects found: {found}", "data", "val_subject",
            )
    assert c.out is not None  # set in TrainConfig.__post_init__
    try:
        shipped: Path | None = default_checkpoint()
    except Pose2RigError:  # an install without the bundled lifter: nothing to protect
        shipped = None
    if shipped is not None and _same_file(c.out, shipped) and not force:
        raise ArgumentError(
            f"{{out}} {c.out} is the shipped lifter; training would replace it. Give another {{out}} (the default "
            "is lifter.pt in {run_dir}), or {force} to replace it", "out", "run_dir", "force",
        )
    check_writable(c.out)


def _same_file(a: Path, b: Path) -> bool:
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def train(config: TrainConfig, *, resume: bool = True, progress: bool = True, force: bool = False) -> Path:
    """Train the lifter; returns ``config.out``.

    Every ``checkpoint_every`` steps: validation on the held-out subject (fixed cameras), a
    resumable checkpoint ``run_dir/checkpoint.pt`` (models, optimisers, gradient scalers, step,
    every process's RNG, curves) and the curves ``run_dir/curves.csv``/``.png``. With ``resume``
    an existing checkpoint is continued exactly. At the end the step with the lowest validation
    P-MPJPE (the last step when there is no validation subject) is written to ``config.out``.
    Under ``torchrun`` each process calls this; only rank 0 writes files. Before any work,
    :func:`check_run` refuses a run without the data it needs, without validation poses where
    mocap is given, or one whose ``out`` is the shipped lifter (unless ``force``).
    """
    return Trainer(config, resume=resume, progress=progress, force=force).run()


__all__ = ["COLUMNS", "Trainer", "TrainConfig", "check_run", "evaluate_generator", "lifter_checkpoint", "train"]
