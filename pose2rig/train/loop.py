"""The adversarial training loop: resumable, checkpointed, with curves as CSV and PNG."""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path

import torch

from pose2rig.evaluate import evaluate_lifter, synthetic_views
from pose2rig.io.atomic import atomic_path
from pose2rig.lift import codec
from pose2rig.lift.infer import FORMAT, VERSION, Lifter
from pose2rig.lift.model import Discriminator, Generator
from pose2rig.lift.projection import back_project, random_projection
from pose2rig.skeletons import H36M17
from pose2rig.train.config import TrainConfig
from pose2rig.train.data import PoseViews, load_poses
from pose2rig.train.losses import discriminator_loss, generator_loss, symmetry_loss

log = logging.getLogger(__name__)

COLUMNS = ["step", "seconds", "loss_d", "loss_g", "loss_sym", "d_real", "d_fake",
           "val_p_mpjpe_mm", "val_n_mpjpe_mm"]
VAL_SEED = 1234


def lifter_checkpoint(
    gen: Generator, disc: Discriminator, config: TrainConfig, *, step: int, metrics: dict[str, float]
) -> dict[str, object]:
    """The shipped-model dict (see :mod:`pose2rig.lift.infer` for the format)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "skeleton": H36M17.name,
        "joint_names": list(H36M17.joint_names),
        "codec": codec.constants(),
        "generator": {"n_joints": gen.n_joints, "width": gen.width, "blocks": gen.blocks},
        "generator_state": {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()},
        "discriminator": {"n_joints": gen.n_joints, "width": config.d_width, "blocks": config.d_blocks},
        "discriminator_state": {k: v.detach().cpu().clone() for k, v in disc.state_dict().items()},
        "config": config.to_plain(),
        "step": int(step),
        "metrics": {k: float(v) for k, v in metrics.items()},
    }


def _save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    s = [r["step"] for r in rows]
    for k in ("loss_d", "loss_g", "loss_sym"):
        ax[0].plot(s, [r[k] for r in rows], label=k)
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
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
    try:
        _plot(rows, run_dir / "curves.png")
    except Exception as e:  # noqa: BLE001 (a plot must never stop training)
        log.warning("could not plot training curves: %s", e)


def train(config: TrainConfig, *, resume: bool = True, progress: bool = True) -> Path:
    """Train the lifter; returns ``config.out``.

    Every ``checkpoint_every`` steps: validation on the held-out subject (fixed cameras), a
    resumable checkpoint ``run_dir/checkpoint.pt`` (models, optimisers, step, RNG, curves) and
    the curves ``run_dir/curves.csv``/``.png``. With ``resume`` an existing checkpoint is
    continued exactly. At the end the step with the lowest validation P-MPJPE (the last step
    when there is no validation subject) is written to ``config.out``.
    """
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    dev = torch.device(config.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from pose2rig.errors import Pose2RigError

        raise Pose2RigError("--device cuda asked for, but torch sees no CUDA device")
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    train_poses, val_poses = load_poses(
        config.data, val_subject=config.val_subject, target_fps=config.target_fps, cache_dir=run_dir
    )
    log.info("training on %d poses, validating on %d", len(train_poses), len(val_poses))
    views = PoseViews(train_poses, device=config.device)
    val = None
    if len(val_poses):
        val = synthetic_views([val_poses], seed=VAL_SEED, max_poses=config.val_poses)

    torch.manual_seed(config.seed)
    gen = Generator(width=config.width, blocks=config.blocks).to(dev)
    disc = Discriminator(width=config.d_width, blocks=config.d_blocks).to(dev)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(config.beta1, 0.999))
    rng = torch.Generator(device=dev).manual_seed(config.seed)
    step, rows, best, elapsed = 0, [], None, 0.0
    ck_path = run_dir / "checkpoint.pt"
    if resume and ck_path.is_file():
        ck = torch.load(ck_path, map_location=dev, weights_only=True)
        gen.load_state_dict(ck["generator_state"])
        disc.load_state_dict(ck["discriminator_state"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        rng.set_state(ck["rng"].cpu() if dev.type == "cpu" else ck["rng"])
        step, rows, best, elapsed = int(ck["step"]), list(ck["rows"]), ck["best"], float(ck["seconds"])
        log.info("resumed from %s at step %d", ck_path, step)

    def validate() -> dict[str, float]:
        if val is None:
            return {}
        gen.eval()
        m = evaluate_lifter(Lifter(gen.cpu() if dev.type != "cpu" else gen), *val)
        gen.to(dev).train()
        return m

    acc = {"loss_d": 0.0, "loss_g": 0.0, "loss_sym": 0.0, "d_real": 0.0, "d_fake": 0.0}
    n_acc = 0
    t0 = time.monotonic() - elapsed
    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc="train lifter")
    stop_early = False
    while step < config.steps and not stop_early:
        gen.train()
        x = views.sample(config.batch, rng)
        real = views.sample(config.batch, rng)
        offsets = gen(x)
        points = back_project(x, offsets, d=codec.DEPTH)
        fake, _ = random_projection(points, elevation=(0.0, config.elevation_max), generator=rng)
        fake = codec.normalise_torch(fake)

        d_real, d_fake = disc(real), disc(fake.detach())
        loss_d = discriminator_loss(d_real, d_fake, real_label=config.real_label)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_adv = generator_loss(disc(fake))
        loss_sym = symmetry_loss(points)
        loss_g = loss_adv + config.symmetry_weight * loss_sym
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1
        bar.update(1)
        if not torch.isfinite(loss_g) or not torch.isfinite(loss_d):
            from pose2rig.errors import Pose2RigError

            raise Pose2RigError(f"training diverged at step {step}: loss_d {loss_d.item()}, loss_g {loss_g.item()}")
        acc["loss_d"] += loss_d.item()
        acc["loss_g"] += loss_adv.item()
        acc["loss_sym"] += loss_sym.item()
        acc["d_real"] += torch.sigmoid(d_real).mean().item()
        acc["d_fake"] += torch.sigmoid(d_fake).mean().item()
        n_acc += 1
        seconds = time.monotonic() - t0
        stop_early = config.max_minutes > 0 and seconds > 60 * config.max_minutes
        if step % config.checkpoint_every == 0 or step == config.steps or stop_early:
            m = validate()
            row = {"step": step, "seconds": round(seconds, 2)}
            row.update({k: v / max(n_acc, 1) for k, v in acc.items()})
            row["val_p_mpjpe_mm"] = 1000 * m.get("p_mpjpe", math.nan)
            row["val_n_mpjpe_mm"] = 1000 * m.get("n_mpjpe", math.nan)
            rows.append(row)
            acc = dict.fromkeys(acc, 0.0)
            n_acc = 0
            score = m.get("p_mpjpe", -float(step))  # no validation: the latest step wins
            if best is None or score < best["score"]:
                best = {"score": score, "step": step}
                _save(lifter_checkpoint(gen, disc, config, step=step, metrics=m), run_dir / "best.pt")
            _save(
                {
                    "generator_state": gen.state_dict(),
                    "discriminator_state": disc.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                    "rng": rng.get_state(),
                    "step": step,
                    "rows": rows,
                    "best": best,
                    "seconds": seconds,
                    "config": config.to_plain(),
                },
                ck_path,
            )
            _write_curves(rows, run_dir)
            bar.set_postfix(d=f"{row['loss_d']:.3f}", g=f"{row['loss_g']:.3f}",
                            val=f"{row['val_p_mpjpe_mm']:.1f}mm")
            log.info("step %d: %s", step, row)
    bar.close()
    final = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True)
    final["config"] = config.to_plain()
    _save(final, config.out)
    log.info("wrote %s (step %s, %s)", config.out, final["step"], final["metrics"])
    return config.out


__all__ = ["TrainConfig", "lifter_checkpoint", "train"]
