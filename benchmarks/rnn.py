"""Network size and build time of a recurrent model in its two forms: unrolled (static sequence) and TensorRT loop.

2-layer bidirectional nn.LSTM, input 32, hidden 64, batch 4, sequence 64 (by default). Forms: "unrolled" forces
unrolling (torch2trt.converters.rnn.UNROLL_MAX_STEPS raised for the run); "static_default" is what a static
sequence gets by default (unrolled up to UNROLL_MAX_STEPS steps, else a loop with a constant trip count);
"loop_dynamic" has a dynamic sequence axis (1..2 x steps). Prints a markdown table; wall and process CPU
seconds of torch2trt() (trace + TensorRT build), and of one reference-executor run.

    python benchmarks/rnn.py [--steps 64] [--forms unrolled,static_default,loop_dynamic]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn as nn

from torch2trt import structure, torch2trt
from torch2trt.check import compare, run_reference
from torch2trt.converters import rnn


def _measure(model: nn.Module, x: torch.Tensor, form: str) -> dict:
    steps = x.shape[0]
    kwargs = {}
    saved = rnn.UNROLL_MAX_STEPS
    if form == "unrolled":
        rnn.UNROLL_MAX_STEPS = steps
    elif form == "loop_dynamic":
        kwargs = dict(min_shapes=[(1,) + tuple(x.shape[1:])], opt_shapes=[tuple(x.shape)],
                      max_shapes=[(2 * steps,) + tuple(x.shape[1:])])
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        model_trt = torch2trt(model, [x], **kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        rnn.UNROLL_MAX_STEPS = saved
    counts = model_trt.network_record.layer_counts()
    ref_wall = time.perf_counter()
    got, _ = structure.flatten(run_reference(model_trt, [x]))
    ref_wall = time.perf_counter() - ref_wall
    with torch.no_grad():
        expected, _ = structure.flatten(model(x))
    return {"form": form, "layers": sum(counts.values()),
            "loop_layers": sum(counts.get(k, 0) for k in ("TRIP_LIMIT", "ITERATOR", "RECURRENCE", "LOOP_OUTPUT")),
            "wall": wall, "cpu": cpu, "reference": ref_wall,
            "rel": max(compare(g, e).rel for g, e in zip(got, expected))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--forms", default="unrolled,static_default,loop_dynamic")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = nn.LSTM(32, 64, num_layers=2, bidirectional=True).eval()
    x = torch.randn(args.steps, 4, 32)
    with torch.no_grad():
        model(x)                                  # PyTorch's first LSTM call is slow; keep it out of the timing
    print(f"2-layer bidirectional LSTM (32 -> 64), batch 4, sequence {args.steps}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| form | layers | of which loop boundary | torch2trt() wall s | torch2trt() CPU s | reference run s | "
          "max rel. error |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for form in args.forms.split(","):
        r = _measure(model, x, form)
        print(f"| {r['form']} | {r['layers']} | {r['loop_layers']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
              f"{r['reference']:.2f} | {r['rel']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
