"""Speed of the CPU reference executor against PyTorch eager on the same CPU.

The network comes from the ONNX route (torch.onnx.export -> TensorRT's ONNX parser), read once into a record; the
reference then runs the record. Prints median times and their ratio as a markdown table.

    python benchmarks/reference_speed.py [--repeat 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from torch2trt.network import reference
from torch2trt.network.inspect import read_network
from torch2trt.onnx_route import export_and_parse

CASES = {
    "resnet50": (lambda: torchvision.models.resnet50(), (8, 3, 224, 224)),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(), (1, 3, 224, 224)),
}


def _median_seconds(fn, repeat: int) -> float:
    fn()                                    # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for name, (build, shape) in CASES.items():
        model = build().eval()
        for m in model.modules():                 # ViT's classifier head starts at zero: give it weights
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                torch.nn.init.normal_(m.weight, 0, m.in_features ** -0.5)
        x = torch.randn(shape)
        previous = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)       # the fused attention path has no ONNX export
        try:
            onnx_net = export_and_parse(model, [x], opset=17)
        finally:
            torch.backends.mha.set_fastpath_enabled(previous)
        record = read_network(onnx_net.network)
        feeds = {record.inputs[0][0]: x}
        with torch.no_grad():
            expected = model(x)
            eager = _median_seconds(lambda m=model, x=x: m(x), args.repeat)
        got = reference.run(record, feeds)[record.outputs[0]]
        rel = float((got.double() - expected.double()).norm() / expected.double().norm())
        ref = _median_seconds(lambda r=record, f=feeds: reference.run(r, f), args.repeat)
        rows.append((name, tuple(shape), len(record.layers), eager, ref, rel))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeat}\n")
    print("| model | input | layers | PyTorch eager (ms) | reference (ms) | reference / eager | rel. error |")
    print("|---|---|---|---|---|---|---|")
    for name, shape, layers, eager, ref, rel in rows:
        print(f"| {name} | {'x'.join(map(str, shape))} | {layers} | {eager * 1e3:.1f} | {ref * 1e3:.1f} | "
              f"{ref / eager:.2f} | {rel:.1e} |")


if __name__ == "__main__":
    main()
