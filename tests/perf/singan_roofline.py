"""Where a SinGAN training iteration's time can go: its convolution work, the machine's speed
for exactly those convolutions, and a profile of the rest.

**Work.** One iteration at scale ``n`` (``d`` critic steps, ``g`` generator steps, ``L`` conv
layers per network; an "image" is one batch element through one layer) runs these
convolutions, each at the shape of the layer it belongs to:

========================  ========================================================================
generators ``G_k, k < n``  forward, ``d`` images (the critic steps' coarser-scale samples)
generator ``G_n``          forward: ``d`` images (critic fakes; 1 at scale 0, where they are
                           identical) + ``g`` (reconstructions); weight gradients, all layers, and
                           input gradients, layers 2…L: ``2g`` images (per generator step the
                           adversarial gradient through the last fake's graph and the
                           reconstruction's)
critic ``D``               forward ``2d + 1`` images (real and fake per critic step, the fake of
                           the generator steps); weight gradients ``2d``, input gradients of
                           layers 2…L ``2d`` and of all layers 1 (the generator steps' ∂D/∂fake)
gradient penalty           per critic step, 1 image: forward; input gradients (∇ₓD); and the
                           backward of both w.r.t. the critic's weights — forward-type
                           convolutions for layers 1…L−1 (PyTorch computes the tail's too, for
                           nothing: its incoming gradient is a constant), weight-gradient-type
                           for 1…L (the input-gradient convolutions' weights and incoming
                           gradients), weight gradients 1…L−1 and input gradients 2…L−1 (the
                           activations ∇ₓD reuses)
========================  ========================================================================

plus the snapshot forward every 500 iterations (negligible, not counted). A forward, an
input-gradient and a weight-gradient convolution of one layer cost the same
``2·C_in·C_out·k²·H_out·W_out`` flops per image. :func:`count` lists this work per layer and
kind; :func:`record_convolutions` records the convolutions an iteration really runs (a dispatch
mode), so that a test checks the list against the code.

**Limit.** :func:`measure_throughput` times each (layer, kind, batch) in isolation — the fastest of
several repeats of ``F.conv2d`` / ``aten.convolution_backward`` on random tensors of that shape,
in the faster memory layout, in this process with its thread count — and :func:`limit_seconds` adds
``count × time``: the time an iteration would take if it did nothing but this arithmetic at the
speed this machine reaches for these shapes.

**The rest.** :func:`profile_table` is the PyTorch profiler's breakdown by operator (self CPU
time) of a few iterations.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FORWARD, INPUT_GRAD, WEIGHT_GRAD = "forward", "input grad", "weight grad"
KINDS = (FORWARD, INPUT_GRAD, WEIGHT_GRAD)


@dataclass(frozen=True)
class Layer:
    """One convolution layer: ``C_in → C_out``, ``k×k``, input ``H × W`` (no padding)."""

    network: str
    index: int  # 1-based
    c_in: int
    c_out: int
    height: int
    width: int
    kernel: int = 3

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.height - self.kernel + 1, self.width - self.kernel + 1

    @property
    def flops_per_image(self) -> int:
        h, w = self.out_shape
        return 2 * self.c_in * self.c_out * self.kernel * self.kernel * h * w


def network_layers(name: str, widths: list[int], out_channels: int, shape: tuple[int, int], kernel: int = 3) -> list[Layer]:
    """The layers of a SinGAN network (head, body, tail) on an input of ``shape``."""
    channels = [3, *widths, out_channels]
    layers = []
    h, w = shape
    for i in range(len(channels) - 1):
        layers.append(Layer(name, i + 1, channels[i], channels[i + 1], h, w, kernel))
        h, w = h - kernel + 1, w - kernel + 1
    return layers


Work = Counter  # (Layer, kind, batch) -> calls per iteration


def count(settings, geometry, scale: int) -> Work:
    """The convolutions of one iteration at ``scale`` (see the module docstring)."""
    from restorebench.models.singan.networks import body_widths

    d, g, p = settings.d_steps, settings.g_steps, settings.padding

    def layers(name: str, n: int, out: int, padded: bool) -> list[Layer]:
        h, w = geometry.shapes[n]
        widths = body_widths(*settings.widths(n), settings.num_layer)
        return network_layers(name, widths, out, (h + 2 * p, w + 2 * p) if padded else (h, w), settings.kernel_size)

    work: Work = Counter()
    for n in range(scale):
        for layer in layers(f"G{n}", n, 3, True):
            work[(layer, FORWARD, d)] += 1
    gen = layers(f"G{scale}", scale, 3, True)
    for layer in gen:
        work[(layer, FORWARD, 1)] += (1 if scale == 0 else d) + g
        work[(layer, WEIGHT_GRAD, 1)] += 2 * g
        if layer.index > 1:
            work[(layer, INPUT_GRAD, 1)] += 2 * g
    critic = layers("D", scale, 1, False)
    last = len(critic)
    for layer in critic:
        i = layer.index
        work[(layer, FORWARD, 2)] += d
        work[(layer, WEIGHT_GRAD, 2)] += d
        if i > 1:
            work[(layer, INPUT_GRAD, 2)] += d
        # the generator steps' fake; the penalty's forward and forward-type term (PyTorch
        # computes that term for the tail too, though the tail's incoming gradient is a constant)
        work[(layer, FORWARD, 1)] += 1 + 2 * d
        work[(layer, INPUT_GRAD, 1)] += 1 + d * (1 + (1 < i < last))
        work[(layer, WEIGHT_GRAD, 1)] += d * (1 + (i < last))
    return work


def flops(work: Work) -> int:
    return sum(layer.flops_per_image * batch * calls for (layer, _, batch), calls in work.items())


def flops_by_layer(work: Work) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = Counter()
    for (layer, _, batch), calls in work.items():
        out[(layer.network[0], layer.index)] += layer.flops_per_image * batch * calls
    return dict(out)


# -- the convolutions that really run --------------------------------------------------------------

def conv_flops(input_shape, weight_shape, output_shape, transposed: bool = False) -> int:
    """Flops of a convolution, ``2 · N · C_out · H_out · W_out · C_in/groups · kh · kw``
    (for a transposed one, the same with input and output exchanged)."""
    if transposed:
        input_shape, output_shape = output_shape, input_shape
    batch, out_channels = output_shape[0], output_shape[1]
    kernel = weight_shape[1] * weight_shape[2] * weight_shape[3]  # C_in/groups · kh · kw
    return 2 * batch * out_channels * output_shape[2] * output_shape[3] * kernel


def record_convolutions(run) -> int:
    """Run ``run()`` and return the flops of every convolution it dispatched (forward, backward,
    and the convolutions a double backward is made of)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten

    class Recorder(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            packet = func.overloadpacket
            if packet in (aten.convolution, aten._convolution):
                Recorder.total += conv_flops(args[0].shape, args[1].shape, out.shape, transposed=bool(args[6]))
            elif packet is aten.convolution_backward:
                grad_output, inputs, weight = args[0], args[1], args[2]
                mask = args[-1]
                per = conv_flops(inputs.shape, weight.shape, grad_output.shape, transposed=bool(args[7]))
                Recorder.total += per * (int(mask[0]) + int(mask[1]))
            return out

    with Recorder():
        run()
    return Recorder.total


# -- the machine's speed for these convolutions ------------------------------------------------------

def _tensors(layer: Layer, batch: int, device: torch.device, memory_format: torch.memory_format):
    x = torch.randn(batch, layer.c_in, layer.height, layer.width, device=device).contiguous(memory_format=memory_format)
    weight = torch.randn(layer.c_out, layer.c_in, layer.kernel, layer.kernel, device=device).contiguous(memory_format=memory_format)
    bias = torch.randn(layer.c_out, device=device)
    grad = torch.randn(batch, layer.c_out, *layer.out_shape, device=device).contiguous(memory_format=memory_format)
    return x, weight, bias, grad


def time_kind(layer: Layer, kind: str, batch: int, *, device: torch.device, repeats: int = 7, clock=time.perf_counter) -> float:
    """Fastest time of one convolution of ``kind`` at ``layer``'s shape (seconds, by ``clock``),
    in the faster of the two memory layouts (contiguous, channels-last)."""
    aten = torch.ops.aten
    best = float("inf")
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x, weight, bias, grad = _tensors(layer, batch, device, memory_format)
        if kind == FORWARD:
            def call():
                return F.conv2d(x, weight, bias)
        else:
            mask = [True, False, False] if kind == INPUT_GRAD else [False, True, True]

            def call():
                return aten.convolution_backward(grad, x, weight, [layer.c_out], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)
        call()
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = clock()
            call()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, clock() - start)
    return best


def measure_throughput(work: Work, *, device: torch.device, repeats: int = 7, clock=time.perf_counter) -> dict[tuple[Layer, str, int], float]:
    """Seconds per call for every (layer, kind, batch) of ``work``."""
    with torch.no_grad():
        return {key: time_kind(key[0], key[1], key[2], device=device, repeats=repeats, clock=clock) for key in work}


def limit_seconds(work: Work, seconds: dict[tuple[Layer, str, int], float]) -> float:
    return sum(calls * seconds[key] for key, calls in work.items())


# -- the profile ------------------------------------------------------------------------------------

def profile_table(run, *, top: int = 14) -> str:
    """A Markdown table of the operators that took the most self CPU time during ``run()``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    lines = ["| operator | calls | self CPU ms | share |", "|---|---|---|---|"]
    for e in events[:top]:
        lines.append(f"| {e.key} | {e.count} | {e.self_cpu_time_total / 1e3:.1f} | {100 * e.self_cpu_time_total / total:.1f} % |")
    rest = sum(e.self_cpu_time_total for e in events[top:])
    lines.append(f"| (other {len(events) - top} operators) | | {rest / 1e3:.1f} | {100 * rest / total:.1f} % |")
    return "\n".join(lines)
