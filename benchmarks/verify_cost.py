"""Cost of torch2trt()'s default verification (fresh inputs compared on the CPU reference executor) against the
rest of a conversion, for resnet50 and vit_b_16 (random weights, batch 1, 224x224, float32).

    python benchmarks/verify_cost.py [--out docs/benchmarks] [--models ...] [--threads N] [--repeat N]

Prints a markdown table (and writes verify_cost.md under --out): trace, build and verify seconds and the
verification's share of the whole call. Seconds are CPU seconds of this process (`time.process_time`: all its
threads, TensorRT's builder included), so other work on a shared machine does not count; torch runs with one
intra-op thread by default. Each model is converted --repeat times; each column is its smallest value (best of N).
The wall-clock seconds of `model_trt.timings` (of the conversion with the smallest total) are printed alongside.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision

from torch2trt import convert, torch2trt

_STAGES = {"trace": "_trace", "build": "build_engine", "verify": "verify_conversion"}


def _timed(cpu: dict, stage: str, fn):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - start
    return wrapper


def measure(name: str, batch: int = 1) -> dict:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    with torch.no_grad():  # torchvision zero-initializes some heads (vit): an all-zero output would verify nothing
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.normal_(0, 0.02)
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        model(x)  # warm up PyTorch
        eager = []
        for _ in range(3):
            start = time.process_time()
            model(x)
            eager.append(time.process_time() - start)
    cpu: dict = {}
    originals = {attr: getattr(convert, attr) for attr in _STAGES.values()}
    for stage, attr in _STAGES.items():      # CPU time of each stage (the stages themselves are unchanged)
        setattr(convert, attr, _timed(cpu, stage, originals[attr]))
    try:
        start = time.process_time()
        m = torch2trt(model, [x])
        total = time.process_time() - start
    finally:
        for attr, fn in originals.items():
            setattr(convert, attr, fn)
    return {"model": name, **cpu, "total": total, "eager": min(eager), "wall": m.timings,
            "max_rel": m.verification.max_rel, "runs": len(m.verification.runs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    p.add_argument("--models", nargs="*", default=["resnet50", "vit_b_16"])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    p.add_argument("--repeat", type=int, default=3, help="conversions per model; the best of them is reported")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.models:
        runs = [measure(n) for _ in range(max(1, args.repeat))]
        best = dict(min(runs, key=lambda r: r["total"]))
        best.update({k: min(r[k] for r in runs) for k in (*_STAGES, "total", "eager")})
        rows.append(best)
    lines = ["| model | trace s | build s | verify s | total s | verify share | fresh runs | one eager forward s | "
             "verified rel. error | wall s: trace / build / verify |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = r["wall"]
        lines.append(f"| {r['model']} | {r['trace']:.2f} | {r['build']:.2f} | {r['verify']:.2f} | {r['total']:.2f} | "
                     f"{r['verify'] / r['total']:.0%} | {r['runs']} | {r['eager']:.2f} | {r['max_rel']:.2g} | "
                     f"{w['trace']:.2f} / {w['build']:.2f} / {w['verify']:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "verify_cost.md").write_text(
            "# Cost of the default verification\n\n`python benchmarks/verify_cost.py --out docs/benchmarks` "
            f"(torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), CPU reference executor, "
            "batch 1, 224x224, float32). Seconds are CPU seconds of the process (`time.process_time`, all its "
            "threads: TensorRT's builder included), so other work on the shared machine does not count; best of "
            f"{args.repeat} conversions per column; the share is verify / total CPU seconds of the `torch2trt()` "
            "call. The last column is wall-clock (`model_trt.timings`). A verification on fresh inputs is one "
            "PyTorch forward and one run of the reference executor (about as fast as eager PyTorch on these "
            "networks: reference_speed.md) per input set, so it costs about two eager forwards.\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
