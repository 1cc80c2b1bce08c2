"""Lifter throughput: one training step (G and D) and generator inference, beside a bare chain of
matrix multiplies of the same shapes measured in the same run.

    .venv/bin/python bench/lifter_speed.py --checkpoint models/lifter_h36m17.pt --threads 2

Sizes (G and D width and blocks, training batch) are read from the checkpoint.

Training: samples/s of one step as ``pose2rig.train.loop`` takes it: G forward, back-projection,
random projection, normalisation, D on real and fake, D loss backward and Adam step, D on fake
again, G loss (adversarial + symmetry) backward and Adam step. Batches are drawn beforehand (the
step alone); the data draw (``PoseViews.sample``: mirror, film, normalise; two per step) is timed
separately and reported with it.

Inference: poses/s of the generator on ``--batch`` poses under ``torch.inference_mode``, eager
(``Generator.forward``, whole and in chunks of ``--chunk``, 1,024 rows: ``infer.CHUNK``, as
``Lifter`` runs a torch generator), in numpy (:mod:`pose2rig.lift.numpy_infer`, as ``convert``
runs the bundled lifter) and through oneDNN's fused kernels (the forward that
``pose2rig/lift/fused.py`` ran until issue 17 measured it no faster than eager chunks: kept here
as :func:`onednn_fused` for the record, in chunks of 2,048 and of ``--chunk``; ``--threads 1``
prints eager chunks' time over the fused path's, per interleaved round), against bare chains on
the same input sizes:

- ``mm``: the Linear shapes only, ``h = h @ W^T`` (34->256, 256->256 x 2 per block, 256->17),
  whole and in chunks of ``--chunk``;
- ``oneDNN mm``: the same chain through oneDNN's linear kernel without bias (what the fused
  generator calls, minus its epilogues), whole and in chunks of 2,048;
- ``addmm+act``: with bias adds fused (``torch.addmm``) and a LeakyReLU after every layer that has
  one in the model (no residual adds, no input scaling, no root subtraction).

The issue's bar: the generator within 80 % of the bare chain's throughput; the roofline taken is
the fastest of the four bare chains in each interleaved round. For scale, the whole
``Lifter.shapes_from_pixels`` (normalisation and its default averaging over 6 views per pose
included) is timed too. Every figure is the median of ``--repeats`` timed repeats after warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pose2rig.lift import codec  # noqa: E402  # after sys.path setup
from pose2rig.lift.model import Discriminator, Generator  # noqa: E402  # after sys.path setup
from pose2rig.lift.projection import (  # noqa: E402  # after sys.path setup
    back_project,
    random_projection,
)

BEGIN = "<!-- lifter-speed:begin -->"
END = "<!-- lifter-speed:end -->"
DOCS = REPO / "docs" / "BENCHMARKS.md"
SECTION_TITLE = "## Lifter throughput (issue 3)"


def timed(fn: Callable[[], object], *, iters: int, repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn``: ``repeats`` values, each the mean over ``iters`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        out.append((time.perf_counter() - t0) / iters)
    return out


def load_models(path: Path) -> tuple[Generator, Discriminator, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=True)
    g, d = ck["generator"], ck["discriminator"]
    if hasattr(Generator, "from_spec"):  # the model's full spec (norm, activation) when stored
        gen, disc = Generator.from_spec(g), Discriminator.from_spec(d)
    else:
        gen = Generator(n_joints=g["n_joints"], width=g["width"], blocks=g["blocks"])
        disc = Discriminator(n_joints=d["n_joints"], width=d["width"], blocks=d["blocks"])
    gen.load_state_dict(ck["generator_state"])
    disc.load_state_dict(ck["discriminator_state"])
    return gen, disc, dict(ck.get("config") or {})


def pose_bank(n: int = 20000) -> torch.Tensor:
    """World-frame h36m17 poses from the Bandai-1 cache of bench/lifter_eval.py (any mocap
    would do for timing)."""
    import numpy as np
    from lifter_eval import load_clips

    from pose2rig.io.mocap import bvh_files

    data = REPO.parent / "shared" / "data" / "mocap" / "bandai1"
    clips = load_clips(bvh_files((data,)), REPO / "runs" / "bench_cache" / f"{data.name}.npz")
    j = np.concatenate(clips)[::3][:n]
    return torch.from_numpy(np.ascontiguousarray(j, dtype=np.float32))


def training_step(gen: Generator, disc: Discriminator, config: dict) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One step of ``pose2rig.train.loop.train`` (without its logging), as a closure."""
    from pose2rig.train.losses import discriminator_loss, generator_loss, symmetry_loss

    beta1 = float(config.get("beta1", 0.5))
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(config.get("lr_g", 5e-4)), betas=(beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(config.get("lr_d", 1e-3)), betas=(beta1, 0.999))
    rng = torch.Generator().manual_seed(0)
    el_max = float(config.get("elevation_max", 20.0))
    real_label = float(config.get("real_label", 0.9))
    w_sym = float(config.get("symmetry_weight", 0.1))

    def step(x: torch.Tensor, real: torch.Tensor) -> None:
        offsets = gen(x)
        points = back_project(x, offsets, d=codec.DEPTH)
        fake, _ = random_projection(points, elevation=(0.0, el_max), generator=rng)
        fake = codec.normalise_torch(fake)
        loss_d = discriminator_loss(disc(real), disc(fake.detach()), real_label=real_label)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss(disc(fake)) + w_sym * symmetry_loss(points)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    return step


def linears(gen: Generator) -> list[torch.nn.Linear]:
    """The generator's Linear layers in the order its forward runs them."""
    net = gen.net
    out = [net.inp]
    for b in net.blocks:
        out += [b.fc1, b.fc2]
    return out + [net.out]


def bare_chains(gen: Generator) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Chains of the generator's Linear shapes: ``mm`` only, and ``addmm`` + LeakyReLU."""
    layers = linears(gen)
    wt = [lin.weight.detach().t() for lin in layers]  # the (in, out) views F.linear uses
    bias = [lin.bias.detach() for lin in layers]
    act = gen.net.act  # the model's activation module

    def mm(x: torch.Tensor) -> torch.Tensor:
        h = x
        for w in wt:
            h = torch.mm(h, w)
        return h

    def addmm_act(x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (w, b) in enumerate(zip(wt, bias, strict=True)):
            if i > 0:
                h = act(h)
            h = torch.addmm(b, h, w)
        return h

    chains = {"mm": mm, "addmm+act": addmm_act}
    ops = _ops()
    if ops is not None:
        w_mk = [lin.weight.detach().contiguous() for lin in layers]
        linear = ops[0]

        def onednn(x: torch.Tensor) -> torch.Tensor:
            h = x
            for w in w_mk:
                h = linear(h, w, None, "none", [], "")
            return h

        chains["oneDNN mm"] = onednn
    return chains


def _ops():
    """oneDNN's linear kernels in this torch build (plain, and with a fused binary op), or None."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise.default, torch.ops.mkldnn._linear_pointwise.binary
    except (AttributeError, RuntimeError):
        return None


def onednn_fused(gen: Generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The generator's forward through oneDNN's fused kernels (bias + LeakyReLU fused into ``fc1``,
    bias + residual add into ``fc2``, the input scaling folded into the first layer), as
    ``pose2rig/lift/fused.py`` ran it before issue 17; None where the ops are missing."""
    ops = _ops()
    if ops is None or gen.norm != "none" or gen.activation != "leaky_relu":
        return None
    linear, linear_add = ops
    net, slope = gen.net, 0.2
    with torch.no_grad():
        w_in, b_in = (net.inp.weight * codec.DEPTH).contiguous(), net.inp.bias.detach().clone()
        blocks = [(b.fc1.weight.detach().clone(), b.fc1.bias.detach().clone(),
                   b.fc2.weight.detach().clone(), b.fc2.bias.detach().clone()) for b in net.blocks]
        w_out, b_out = net.out.weight.detach().clone(), net.out.bias.detach().clone()
    leaky = torch.nn.functional.leaky_relu

    def forward(xy: torch.Tensor) -> torch.Tensor:
        h = linear(xy.reshape(xy.shape[0], -1).contiguous(), w_in, b_in, "none", [], "")
        for w1, b1, w2, b2 in blocks:
            t = linear(leaky(h, slope), w1, b1, "leaky_relu", [slope], "")
            h = linear_add(t, h, w2, b2, "add")
        o = linear(leaky(h, slope), w_out, b_out, "none", [], "")
        return o - o[:, :1] if gen.hold_root else o

    return forward


def machine() -> str:
    from lifter_table import machine as describe  # one description of the machine for all benches

    return describe(threads=False)


def measure(
    checkpoint: Path, *, batch: int = 4096, repeats: int = 7, train_iters: int = 10, infer_iters: int = 10,
    chunk_rows: int = 1024, verbose: bool = True, poses: torch.Tensor | None = None,
) -> SimpleNamespace:
    """Time training and inference at ``checkpoint``'s sizes with the current torch threads.

    Returns the figures (seconds per call, medians): ``t_step``, ``t_data``, ``t_full``, ``res``
    (inference case -> s per batch), ``faults``, ``t_lifter``, the ratios to the fastest bare
    chain (``ratio_fused``, ``ratio_eager``, ``ratio_eager_chunk``, ``ratio_torch_mm``), eager chunks'
    time over the fused path's (``fused_gain``, ``fused_gain_same``) and the numpy path's
    (``numpy_gain``), and the sizes.
    ``poses``: world-frame h36m17 poses to draw batches from (default: :func:`pose_bank`).
    """
    say = print if verbose else (lambda *a, **k: None)
    torch.manual_seed(0)
    gen, disc, config = load_models(checkpoint)
    tb = int(config.get("batch", 256))
    say(f"{machine()}; torch threads {torch.get_num_threads()} (inter-op {torch.get_num_interop_threads()}), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}")
    say(f"G {gen.width}x{gen.blocks} blocks, D {disc.net.inp.out_features}x{len(disc.net.blocks)} blocks, "
          f"training batch {tb}, inference batch {batch}")
    lines: dict[str, str] = {}

    # --- training --------------------------------------------------------------------------
    from pose2rig.train.data import PoseViews

    views = PoseViews((pose_bank() if poses is None else poses).numpy())
    rng = torch.Generator().manual_seed(0)
    pool = [(views.sample(tb, rng), views.sample(tb, rng)) for _ in range(8)]
    gen.train()
    disc.train()
    step = training_step(gen, disc, config)
    k = iter(range(10**9))

    def one_step() -> None:
        x, real = pool[next(k) % len(pool)]
        step(x, real)

    t_step = statistics.median(timed(one_step, iters=train_iters, repeats=repeats, warmup=5))
    t_data = statistics.median(timed(lambda: views.sample(tb, rng), iters=train_iters,
                                     repeats=repeats, warmup=3))
    lines["train_step"] = (f"G+D step alone: {1000 * t_step:.2f} ms/step, {tb / t_step:,.0f} samples/s "
                           f"({1 / t_step:.1f} steps/s)")
    t_full = t_step + 2 * t_data
    lines["train_data"] = (f"with the data draw (2 x PoseViews.sample, {1000 * t_data:.2f} ms each): "
                           f"{1000 * t_full:.2f} ms/step, {tb / t_full:,.0f} samples/s ({1 / t_full:.1f} steps/s)")
    for v in lines.values():
        say(v)

    # --- inference ---------------------------------------------------------------------------
    gen.eval()
    x = views.sample(batch, rng).contiguous()
    flat = (x.flatten(1) * codec.DEPTH).contiguous()  # what the first Linear sees
    chains = bare_chains(gen)
    chunk = chunk_rows

    from pose2rig.lift import Lifter

    CHUNK = 2048  # the fused path's chunk (pose2rig/lift/fused.py's CHUNK)

    def chunked(fn: Callable[[torch.Tensor], torch.Tensor], inp: torch.Tensor, n: int) -> Callable[[], object]:
        return lambda: [fn(inp[i : i + n]) for i in range(0, len(inp), n)]

    fast = onednn_fused(gen)
    fused_name = f"generator, oneDNN fused, chunks of {CHUNK} (removed from the library)"
    fused_chunk_name = f"generator, oneDNN fused, chunks of {chunk}"
    numpy_name = f"generator, numpy (pose2rig.lift.numpy_infer), chunks of {chunk}"
    from pose2rig.lift.numpy_infer import NumpyGenerator

    np_gen = NumpyGenerator(gen.spec(), {k: v.detach().numpy() for k, v in gen.state_dict().items()})
    x_np = x.numpy()
    cases: dict[str, Callable[[], object]] = {
        "generator (eager)": lambda: gen(x),
        f"generator (eager), chunks of {chunk} (as Lifter runs it)": chunked(gen, x, chunk),
        **({fused_name: chunked(fast, x, CHUNK)} if fast is not None else {}),
        **({fused_chunk_name: chunked(fast, x, chunk)} if fast is not None and chunk != CHUNK else {}),
        numpy_name: lambda: [np_gen(x_np[i : i + chunk]) for i in range(0, len(x_np), chunk)],
        **{f"{name} chain": (lambda fn=fn: fn(flat)) for name, fn in chains.items()},
        f"mm chain, chunks of {chunk}": chunked(chains["mm"], flat, chunk),
    }
    if "oneDNN mm" in chains:
        cases[f"oneDNN mm chain, chunks of {CHUNK}"] = chunked(chains["oneDNN mm"], flat, CHUNK)
    bare = [k for k in cases if k.startswith(("mm chain", "oneDNN mm chain"))]
    pixels = (x.numpy().astype("float64") * 200.0 + 500.0)  # any pixel frame: normalise() undoes it
    lifter = Lifter(gen)
    n_views = len(lifter.rolls) * (2 if lifter.mirror else 1)
    lifter_name = f"Lifter.shapes_from_pixels ({n_views} views per pose)"
    # interleaved rounds: each round times every case once, so drift on a shared machine hits
    # all of them alike; ratios are taken within a round, then the median over rounds
    rounds: dict[str, list[float]] = {k: [] for k in cases}
    with torch.inference_mode():
        if fast is not None:
            torch.testing.assert_close(fast(x), gen(x), rtol=1e-5, atol=1e-5)
        for fn in cases.values():
            timed(fn, iters=1, repeats=1, warmup=3)
        faults: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(repeats):
            for name, fn in cases.items():
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                rounds[name] += timed(fn, iters=infer_iters, repeats=1, warmup=0)
                faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / infer_iters)
    res = {k: statistics.median(v) for k, v in rounds.items()}
    t_lifter = statistics.median(timed(lambda: lifter.shapes_from_pixels(pixels), iters=2,
                                       repeats=repeats, warmup=1))
    rounds["fastest bare chain"] = [min(ts) for ts in zip(*(rounds[k] for k in bare), strict=True)]

    def ratio(a: str, b: str) -> float:
        return statistics.median(tb_ / ta_ for ta_, tb_ in zip(rounds[a], rounds[b], strict=True))

    flops = 2 * batch * sum(lin.in_features * lin.out_features for lin in linears(gen))
    for name, t in res.items():
        say(f"inference {name:26s} {1000 * t:7.2f} ms/batch  {batch / t:12,.0f} poses/s  "
              f"{flops / t / 1e9:6.1f} GFLOP/s  {statistics.median(faults[name]):7.0f} page faults/call")
    say(f"inference {lifter_name:26s} {1000 * t_lifter:7.2f} ms/batch  {batch / t_lifter:12,.0f} poses/s")
    eager_chunk = f"generator (eager), chunks of {chunk} (as Lifter runs it)"
    ratio_fused = ratio(fused_name, "fastest bare chain") if fast is not None else float("nan")
    ratio_eager = ratio("generator (eager)", "fastest bare chain")
    ratio_eager_chunk = ratio(eager_chunk, "fastest bare chain")
    ratio_torch_mm = ratio("mm chain", "fastest bare chain")
    # the fused path's worth: eager chunks' time over the fused path's, per interleaved round
    fused_gain = ratio(fused_name, eager_chunk) if fast is not None else float("nan")
    fused_gain_same = ratio(fused_chunk_name, eager_chunk) if fused_chunk_name in rounds else fused_gain
    numpy_gain = ratio(numpy_name, eager_chunk)
    say(f"eager chunks of {chunk} / oneDNN fused in chunks of {CHUNK}: {fused_gain:.3f} "
        f"(fused in chunks of {chunk}: {fused_gain_same:.3f}; keep the fused path only at >= 1.05); "
        f"eager chunks / numpy chunks: {numpy_gain:.3f}")
    summary = (f"generator as Lifter runs it (eager, chunks of {chunk}) / fastest bare chain: "
               f"{ratio_eager_chunk:.3f} (bar >= 0.8); oneDNN fused: {ratio_fused:.3f}; "
               f"eager generator on the whole batch: {ratio_eager:.3f}; "
               f"torch.mm chain on the whole batch: {ratio_torch_mm:.3f}")
    say(summary)

    return SimpleNamespace(
        gen=gen, disc=disc, tb=tb, batch=batch, repeats=repeats, chunk=chunk, fused_chunk=CHUNK,
        t_step=t_step, t_data=t_data, t_full=t_full, res=res,
        faults={k: statistics.median(v) for k, v in faults.items()}, lifter_name=lifter_name,
        t_lifter=t_lifter, fastest_bare=statistics.median(rounds["fastest bare chain"]), ratio_fused=ratio_fused, ratio_eager=ratio_eager,
        ratio_eager_chunk=ratio_eager_chunk, ratio_torch_mm=ratio_torch_mm, fused_gain=fused_gain,
        fused_gain_same=fused_gain_same, numpy_gain=numpy_gain,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=REPO / "models" / "lifter_h36m17.pt")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--batch", type=int, default=4096, help="inference batch")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--train-iters", type=int, default=10, help="training steps per timed repeat")
    ap.add_argument("--infer-iters", type=int, default=10, help="forward passes per timed repeat")
    ap.add_argument("--chunk", type=int, default=1024, help="also time the eager generator and mm chain in chunks")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    m = measure(args.checkpoint, batch=args.batch, repeats=args.repeats, train_iters=args.train_iters,
                infer_iters=args.infer_iters, chunk_rows=args.chunk)
    if args.write_docs:
        from lifter_table import write_docs

        env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ)
        cmd = (env + " " if env else "") + ".venv/bin/python bench/lifter_speed.py " + " ".join(
            a for a in (argv or sys.argv[1:]) if a != "--write-docs")
        rows = ["| measurement | ms | throughput | page faults/call |", "| --- | ---: | ---: | ---: |",
                f"| training: G+D step alone (batch {m.tb}) | {1000 * m.t_step:.2f} | {m.tb / m.t_step:,.0f} samples/s | |",
                f"| training: step + data draw | {1000 * m.t_full:.2f} | {m.tb / m.t_full:,.0f} samples/s | |"]
        for name, t in m.res.items():
            rows.append(f"| inference: {name} (batch {m.batch}) | {1000 * t:.2f} | {m.batch / t:,.0f} poses/s "
                        f"| {m.faults[name]:.0f} |")
        rows.append(f"| inference: {m.lifter_name}, from pixels (batch {m.batch}) | {1000 * m.t_lifter:.2f} "
                    f"| {m.batch / m.t_lifter:,.0f} poses/s | |")
        body = "\n".join([
            f"{datetime.date.today().isoformat()}, {machine()}, {torch.get_num_threads()} torch thread(s), "
            f"load average {os.getloadavg()[0]:.1f} at the end"
            f"{' (other work on the machine)' if os.getloadavg()[0] > 1.5 * torch.get_num_threads() else ' (a quiet machine)'}:",
            "",
            f"    {cmd.strip()}",
            "",
            f"G {m.gen.width} wide x {m.gen.blocks} blocks, D {m.disc.net.inp.out_features} x {len(m.disc.net.blocks)} "
            f"(from the checkpoint). Medians of {args.repeats} repeats after warm-up.",
            "",
            *rows,
            "",
            f"Generator inference as `Lifter` runs it (eager, chunks of {m.chunk}) against the "
            f"fastest bare chain of its Linear shapes in each round (`torch.mm` or oneDNN's linear "
            f"without bias, whole batch or chunked): **{m.ratio_eager_chunk:.2f}** (bar 0.8); the eager "
            f"generator on the whole batch: {m.ratio_eager:.2f}; oneDNN's fused kernels (chunks of "
            f"{m.fused_chunk}): {m.ratio_fused:.2f}; the plain `torch.mm` chain on the whole batch: "
            f"{m.ratio_torch_mm:.2f} (ratios: medians over interleaved rounds).",
        ])
        begin, end = (mark.replace("lifter-speed", f"lifter-speed-t{args.threads}") for mark in (BEGIN, END))
        write_docs(body, DOCS, begin=begin, end=end, title=f"{SECTION_TITLE}, {args.threads} torch thread(s)")
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
