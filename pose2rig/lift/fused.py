"""Generator inference through oneDNN's fused linear kernels on the CPU.

Eager torch runs the shipped generator (:class:`pose2rig.lift.model.Generator` without
normalisation, LeakyReLU 0.2) as a matrix multiply per layer plus separate passes over
``(B, width)`` buffers for every bias add, activation and residual add; on a CPU those passes
cost about a quarter of the time (bench/lifter_speed.py). oneDNN, which torch's CPU build
carries, applies them inside the matrix multiply's epilogue instead:

- ``fc1`` of each block: bias and LeakyReLU fused (``mkldnn::_linear_pointwise``);
- ``fc2`` of each block: bias and the residual add fused (``mkldnn::_linear_pointwise.binary``);
- the input scaling by ``DEPTH`` folded into the first layer's weights.

Only the activations before each block and before the output layer remain separate passes (their
inputs are also needed unactivated, for the residual). The result equals the eager forward to
float32 rounding; :func:`fused_generator` checks that on a fixed batch before handing it out and
returns ``None`` (the caller uses the eager module) when the ops are missing, the model is of
another kind, or the check fails. Inference only: no autograd, weights copied when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pose2rig.lift.codec import DEPTH

log = logging.getLogger(__name__)

CHUNK = 2048
"""Rows per fused forward in :meth:`pose2rig.lift.Lifter.shapes_from_pixels`: smaller chunks lose
to per-call overhead with 2 threads, larger ones to page faults on 4 MB buffers
(bench/lifter_speed.py)."""

_SLOPE = 0.2


def _ops():
    import torch

    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise.default, torch.ops.mkldnn._linear_pointwise.binary
    except (AttributeError, RuntimeError):
        return None


def fused_generator(gen) -> Callable | None:
    """A function ``(B, J, 2)`` float32 CPU tensor -> ``(B, J)`` depth offsets that computes
    ``gen(xy)`` with fused kernels, or ``None`` where that is not possible (then use ``gen``).

    ``gen`` must be a :class:`pose2rig.lift.model.Generator` with ``norm="none"`` and LeakyReLU
    activations, on the CPU in float32. Its weights are copied now: rebuild after training steps.
    """
    import torch

    from pose2rig.lift.model import Generator, ResidualBlock

    if type(gen) is not Generator or gen.norm != "none" or gen.activation != "leaky_relu":
        return None
    net = gen.net
    res_blocks = [b for b in net.blocks if isinstance(b, ResidualBlock)]
    if len(res_blocks) != len(net.blocks):  # norm "none" builds only these
        return None
    params = list(gen.parameters())
    if not params or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
        return None
    ops = _ops()
    if ops is None:
        return None
    linear, linear_add = ops
    with torch.no_grad():
        w_in = (net.inp.weight * DEPTH).contiguous()
        b_in = net.inp.bias.detach().clone()
        blocks = [
            (b.fc1.weight.detach().clone(), b.fc1.bias.detach().clone(),
             b.fc2.weight.detach().clone(), b.fc2.bias.detach().clone())
            for b in res_blocks
        ]
        w_out, b_out = net.out.weight.detach().clone(), net.out.bias.detach().clone()
    hold_root = gen.hold_root
    leaky = torch.nn.functional.leaky_relu

    def forward(xy: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            h = linear(xy.reshape(xy.shape[0], -1).contiguous(), w_in, b_in, "none", [], "")
            for w1, b1, w2, b2 in blocks:
                t = linear(leaky(h, _SLOPE), w1, b1, "leaky_relu", [_SLOPE], "")
                h = linear_add(t, h, w2, b2, "add")  # h + fc2(t)
            o = linear(leaky(h, _SLOPE), w_out, b_out, "none", [], "")
            return o - o[:, :1] if hold_root else o

    probe = torch.Generator().manual_seed(0)
    xy = torch.randn(64, gen.n_joints, 2, generator=probe) * 0.05
    try:
        with torch.no_grad():
            was_training = gen.training
            gen.eval()
            want = gen(xy)
            gen.train(was_training)
            got = forward(xy)
    except RuntimeError as e:  # an op this torch build lacks at run time
        log.debug("fused generator unavailable (%s); using eager torch", e)
        return None
    tol = 1e-4 * (1.0 + float(want.abs().max()))
    if got.shape != want.shape or not bool(torch.all(torch.abs(got - want) <= tol)):
        log.debug("fused generator disagrees with eager torch; using eager torch")
        return None
    return forward
