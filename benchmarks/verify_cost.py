"""Cost of torch2trt()'s default verification (fresh inputs compared on the CPU reference executor) against the
rest of a conversion, for resnet50 and vit_b_16 (random weights, batch 1, 224x224, float32).

    python benchmarks/verify_cost.py [--out docs/benchmarks]

Prints a markdown table (and writes verify_cost.md under --out): trace, build and verify seconds as reported in
`model_trt.timings`, and the verification's share of the whole call. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision

from torch2trt import torch2trt


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
    start = time.perf_counter()
    m = torch2trt(model, [x])
    total = time.perf_counter() - start
    t = m.timings
    return {"model": name, "trace": t["trace"], "build": t["build"], "verify": t["verify"], "total": total,
            "max_rel": m.verification.max_rel, "runs": len(m.verification.runs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    p.add_argument("--models", nargs="*", default=["resnet50", "vit_b_16"])
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = [measure(n) for n in args.models]
    lines = ["| model | trace s | build s | verify s | verify share | fresh runs | verified rel. error |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['trace']:.2f} | {r['build']:.2f} | {r['verify']:.2f} | "
                     f"{r['verify'] / r['total']:.0%} | {r['runs']} | {r['max_rel']:.2g} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "verify_cost.md").write_text(
            "# Cost of the default verification\n\n`python benchmarks/verify_cost.py --out docs/benchmarks` "
            f"({torch.get_num_threads()} threads, CPU reference executor, batch 1, 224x224, float32).\n\n"
            + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
