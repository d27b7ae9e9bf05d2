"""Speed and memory of the CPU reference executor against PyTorch eager on the same CPU.

The network comes from the ONNX route (torch.onnx.export -> TensorRT's ONNX parser), read once into a record; the
reference then runs the record. Times are CPU seconds of this process (`time.process_time`, best of --repeat runs
after one warm-up run), so other work on a shared machine does not count; with the default single intra-op
thread, CPU time is the time of one core. Memory is the peak growth of the bytes malloc holds in use during one
run (after a warm-up run), sampled after every aten op: the activations alive at once, not the weights. Prints a
markdown table (and writes reference_speed.md under --out).

    python benchmarks/reference_speed.py [--repeat 5] [--threads N] [--models ...] [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import ctypes
import time
from pathlib import Path

import torch
import torchvision
from torch.utils._python_dispatch import TorchDispatchMode

from torch2trt.network import reference
from torch2trt.network.inspect import read_network
from torch2trt.onnx_route import export_and_parse

CASES = {
    "resnet50": (lambda: torchvision.models.resnet50(), (8, 3, 224, 224)),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(), (1, 3, 224, 224)),
    "densenet121": (lambda: torchvision.models.densenet121(), (1, 3, 224, 224)),
    "swin_t": (lambda: torchvision.models.swin_t(), (1, 3, 224, 224)),
}


def _best_cpu_seconds(fn, repeat: int) -> float:
    fn()                                    # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2


def _in_use() -> int:
    info = _libc.mallinfo2()
    return info.uordblks + info.hblkhd     # small blocks in use + mmap'd (large) blocks


class _PeakMemory(TorchDispatchMode):
    """The most bytes malloc held in use after any aten op, relative to the start."""

    def __enter__(self):
        self.base = self.peak = _in_use()
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, _in_use())
        return out


def _peak_bytes(fn) -> int:
    fn()
    with _PeakMemory() as p:
        fn()
    return p.peak - p.base


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    parser.add_argument("--models", nargs="*", default=list(CASES))
    parser.add_argument("--out", default=None, help="directory to write reference_speed.md to")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    for name in args.models:
        build, shape = CASES[name]
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
            eager = _best_cpu_seconds(lambda m=model, x=x: m(x), args.repeat)
            eager_mem = _peak_bytes(lambda m=model, x=x: m(x))
        got = reference.run(record, feeds)[record.outputs[0]]
        rel = float((got.double() - expected.double()).norm() / expected.double().norm())
        ref = _best_cpu_seconds(lambda r=record, f=feeds: reference.run(r, f), args.repeat)
        ref_mem = _peak_bytes(lambda r=record, f=feeds: reference.run(r, f))
        rows.append((name, tuple(shape), len(record.layers), eager, ref, eager_mem, ref_mem, rel))
        print(name, "done", flush=True)

    head = (f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), CPU seconds "
            f"(`time.process_time`), best of {args.repeat} after a warm-up run; peak memory: growth of malloc's "
            "in-use bytes during one run, sampled after every aten op.")
    lines = ["| model | input | layers | PyTorch eager (ms) | reference (ms) | reference / eager | eager peak (MiB) | "
             "reference peak (MiB) | reference / eager memory | rel. error |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, shape, layers, eager, ref, eager_mem, ref_mem, rel in rows:
        lines.append(f"| {name} | {'x'.join(map(str, shape))} | {layers} | {eager * 1e3:.1f} | {ref * 1e3:.1f} | "
                     f"{ref / eager:.2f} | {eager_mem / 2**20:.1f} | {ref_mem / 2**20:.1f} | "
                     f"{ref_mem / max(eager_mem, 1):.2f} | {rel:.1e} |")
    text = head + "\n\n" + "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "reference_speed.md").write_text(
            "# Speed of the CPU reference executor\n\n`python benchmarks/reference_speed.py --out docs/benchmarks` "
            "(ONNX route: torch.onnx.export -> TensorRT's ONNX parser -> network record -> reference executor).\n\n"
            + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
