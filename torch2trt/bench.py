"""The model table of the original torch2trt README, measured here: per model, conversion time (tracing +
network construction) and engine build time, network layers (ours vs the ONNX route), engine size, the
reference executor's relative error vs PyTorch, and — where a supported GPU runs the engine — PyTorch
and TensorRT throughput and latency. Writes model_table.md, model_table.json and model_table.png.

    torch2trt bench --out docs/benchmarks                             # the 20 models, batch 1, 224x224
    torch2trt bench resnet18 tests/my_models.py:tiny --size 64 --out /tmp/bench
    python benchmarks/model_table.py ...                              # the same, from a source checkout
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MODELS = ["alexnet", "squeezenet1_0", "squeezenet1_1", "resnet18", "resnet34", "resnet50", "resnet101",
          "resnet152", "densenet121", "densenet169", "densenet201", "densenet161", "vgg11", "vgg13", "vgg16",
          "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
NOT_MEASURABLE = "not measurable here"


@dataclass
class Row:
    model: str
    status: str = "ok"                      # "ok" or why the model did not convert / build / run
    convert_s: float | None = None          # tracing + network construction (torch2trt() minus the build)
    build_s: float | None = None            # engine build (TensorRT builder)
    layers: int | None = None               # our network's layers
    onnx_layers: int | None = None          # torch.onnx.export + TensorRT OnnxParser
    onnx_s: float | None = None             # ONNX route: export + parse (its counterpart of convert_s)
    onnx_status: str = ""
    engine_mb: float | None = None
    rel_error: float | None = None          # reference executor vs PyTorch, ||out-ref||/||ref||
    gpu: dict = field(default_factory=dict)  # pytorch_fps, trt_fps, trt_median_ms, trt_p99_ms (or reason)


def _first_problems(message: str, limit: int = 3) -> str:
    """A ConversionError's problem list in one line: 'torch.cat: no converter; ...'."""
    items = [m.group(1) for m in re.finditer(r"^\s+- (.+?)(?:; called \d+ time\(s\).*)?$", message, re.M)]
    if not items:
        return message.strip().splitlines()[0] if message.strip() else "failed"
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _gpu_reason() -> str | None:
    """None when the GPU columns can be measured, else why not."""
    from . import backend

    ok, why = backend.engine_runnable_here()
    return None if ok else why


def _cuda_timing(fn, x, warmup: int, iterations: int) -> dict:
    """Latencies (ms) of fn(x) with CUDA events after warm-up, on torch's current stream."""
    import torch

    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        torch.cuda.synchronize()
        times = []
        for _ in range(iterations):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    times.sort()
    median = times[len(times) // 2]
    p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]
    return {"mean_ms": sum(times) / len(times), "median_ms": median, "p99_ms": p99}


def measure_gpu(model, model_trt, inputs, warmup: int, iterations: int) -> dict:

    batch = inputs[0].shape[0]
    x = [t.cuda() for t in inputs]
    model = model.cuda()
    torch_t = _cuda_timing(lambda a: model(*a), x, warmup, iterations)
    trt_t = _cuda_timing(lambda a: model_trt(*a), x, warmup, iterations)
    model.cpu()
    return {"pytorch_fps": 1000 * batch / torch_t["mean_ms"], "trt_fps": 1000 * batch / trt_t["mean_ms"],
            "pytorch_median_ms": torch_t["median_ms"], "trt_median_ms": trt_t["median_ms"],
            "trt_p99_ms": trt_t["p99_ms"]}


def warm_up(no_onnx: bool) -> None:
    import torch

    from .convert import torch2trt
    from .onnx_route import export_and_parse

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    torch2trt(model, [x], verify=False)
    if not no_onnx:
        export_and_parse(model, [x])


def bench_model(spec: str, args, progress) -> Row:
    import torch

    from . import structure
    from .compare import compare
    from .convert import torch2trt
    from .models import load_model
    from .onnx_route import export_and_parse

    shapes = args.input_shape or ([f"3x{args.size}x{args.size}"] if ":" not in spec or
                                  spec.startswith("torchvision:") else None)
    loaded = load_model(spec, args.batch if shapes else None, shapes)
    row = Row(loaded.name)
    model, inputs = loaded.module, loaded.inputs
    with torch.no_grad():
        flat, schema = structure.flatten(list(inputs))
        expected = model(*structure.unflatten(schema, [t.clone() for t in flat]))

    if not args.no_onnx:
        try:
            with progress.stage(f"  {loaded.name}: ONNX route (export + parse) x{args.repeat}"):
                for _ in range(args.repeat):
                    onnx = export_and_parse(model, list(inputs))
                    seconds = onnx.export_seconds + onnx.parse_seconds
                    row.onnx_layers, row.onnx_s = onnx.num_layers, min(seconds, row.onnx_s or math.inf)
                    del onnx
        except Exception as e:
            row.onnx_status = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"

    try:
        with progress.stage(f"  {loaded.name}: torch2trt (trace, network, build) x{args.repeat}"):
            convert_s = build_s = math.inf
            dtype = getattr(torch, args.dtype) if args.dtype else None
            for _ in range(args.repeat):
                m = None  # free the previous engine and network first
                m = torch2trt(model, inputs, dtype=dtype, verify=False)
                t = m.timings
                convert_s, build_s = min(convert_s, t["trace"] + t["records"]), min(build_s, t["build"])
    except Exception as e:
        from .errors import ConversionError

        if isinstance(e, ConversionError):
            row.status = "not converted: " + _first_problems(str(e))
        else:
            row.status = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        return row
    row.convert_s, row.build_s = convert_s, build_s
    row.layers, row.engine_mb = len(m.network_record.layers), len(m.engine_bytes) / 1e6

    if not args.no_reference:
        try:
            with progress.stage(f"  {loaded.name}: reference executor"):
                got = m.run_reference(*inputs)
            errs = [compare(g, e) for g, e in zip(structure.flatten(got)[0], structure.flatten(expected)[0])]
            row.rel_error = max(e.rel if e.same_layout else math.inf for e in errs)
        except Exception as e:
            row.status = f"reference run failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}"

    reason = _gpu_reason()
    if reason is None:
        with progress.stage(f"  {loaded.name}: GPU timing"):
            row.gpu = measure_gpu(model, m, inputs, args.warmup, args.iterations)
    else:
        row.gpu = {"reason": reason}
    return row


# ---- output ------------------------------------------------------------------------------------------
def _num(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def _gpu_cell(row: Row, key: str, fmt: str) -> str:
    if "reason" in row.gpu:
        return NOT_MEASURABLE
    return _num(row.gpu.get(key), fmt)


def _environment(args) -> dict:
    import torch
    import torchvision

    from . import backend

    return {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "backend": f"{backend.NAME} {backend.VERSION}", "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
            "batch": args.batch, "input": args.input_shape or f"3x{args.size}x{args.size}",
            "dtype": args.dtype or "float32 (the models' own)", "repeat": args.repeat, "threads": args.threads}


def write_markdown(rows: list[Row], env: dict, path: Path, gpu_reason: str | None) -> None:
    lines = ["# Model table", "",
             f"Generated by `torch2trt bench` on {env['date']}: batch {env['batch']}, input "
             f"{env['input']}, precision {env['dtype']}; torch {env['torch']}, torchvision {env['torchvision']}, "
             f"{env['backend']}, CPU {env['cpu']}, GPU {env['gpu']}. Random weights and batch-norm statistics "
             "(seed 0).", "",
             "| model | convert (s) | build (s) | ONNX route export+parse (s) | layers | ONNX route layers "
             "| engine (MB) | ref. rel. error | PyTorch FPS | TensorRT FPS | TRT median (ms) | TRT p99 (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.model} | {_num(r.convert_s, '.2f')} | {_num(r.build_s, '.2f')} | {_num(r.onnx_s, '.2f')} "
                     f"| {_num(r.layers, 'd')} | {_num(r.onnx_layers, 'd')} | {_num(r.engine_mb, '.1f')} "
                     f"| {_num(r.rel_error, '.2g')} | {_gpu_cell(r, 'pytorch_fps', '.1f')} "
                     f"| {_gpu_cell(r, 'trt_fps', '.1f')} | {_gpu_cell(r, 'trt_median_ms', '.2f')} "
                     f"| {_gpu_cell(r, 'trt_p99_ms', '.2f')} |")
    failed = [r for r in rows if r.status != "ok" or r.onnx_status]
    if failed:
        lines += ["", "## Models that did not convert (or did not run)", ""]
        for r in failed:
            if r.status != "ok":
                lines.append(f"- **{r.model}**: {r.status}")
            if r.onnx_status:
                lines.append(f"- **{r.model}** (ONNX route): {r.onnx_status}")
    lines += ["", "## How it is measured", "",
              "- *convert*: tracing the model once on the CPU and building the TensorRT network; *build*: the "
              "TensorRT builder's `build_serialized_network` — both as `torch2trt()` reports them in "
              "`model_trt.timings` (verification off). *convert* includes reading "
              "the network back into portable records (`portable=True`, the default). Times are the fastest "
              f"of {env['repeat']} runs with {env['threads']} torch CPU thread(s) (the ONNX export too) on a shared "
              "2-core machine.",
              "- *ONNX route*: `torch.onnx.export` (TorchScript exporter, constant folding) + TensorRT's "
              "`OnnxParser` into a network — the counterpart of *convert*; *ONNX route layers*: that network's "
              "layer count (same input, same precision).",
              "- *ref. rel. error*: ||reference − PyTorch|| / ||PyTorch|| of the output, the network run on the "
              "CPU by torch2trt's reference executor (TensorRT layer semantics computed with PyTorch).",
              "- GPU columns: mean FPS and median/p99 latency with CUDA events after warm-up, on torch's "
              "current stream."
              + (f" Not measurable here: {gpu_reason}." if gpu_reason else ""),
              "- Engines were built ahead of time on the CPU (TensorRT-RTX); build times on a GPU differ."
              if "rtx" in env["backend"] else "- Engines were built for the GPU above."]
    path.write_text("\n".join(lines) + "\n")


def _chart_reason(status: str) -> str:
    """'not converted: torch.cat: no converter; ...' -> 'not converted: cat, dropout' (the ops at fault)."""
    ops = list(dict.fromkeys(m.rsplit(".", 1)[-1] for m in re.findall(r"(torch(?:\.\w+)+):", status)))
    if status.startswith("not converted") and ops:
        return "not converted: " + ", ".join(ops)
    return status if len(status) <= 60 else status[:57] + "..."


def write_chart(rows: list[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = [r.model for r in rows]
    y = list(range(len(rows)))
    gpu = any("reason" not in r.gpu and r.gpu for r in rows)
    ncols = 3 if gpu else 2
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 0.45 * len(rows) + 2.2), sharey=True)
    h = 0.38

    ax = axes[0]
    conv = [r.convert_s or 0 for r in rows]
    build = [r.build_s or 0 for r in rows]
    onnx = [r.onnx_s or 0 for r in rows]
    ax.barh([i - h / 2 for i in y], conv, h, label="torch2trt: trace + network", color="#4c72b0")
    ax.barh([i - h / 2 for i in y], build, h, left=conv, label="torch2trt: engine build", color="#a1c9f4")
    ax.barh([i + h / 2 for i in y], onnx, h, label="ONNX route: export + parse", color="#dd8452")
    ax.set_xlabel("seconds (CPU)")
    ax.set_title("Conversion time")

    ax = axes[1]
    ax.barh([i - h / 2 for i in y], [r.layers or 0 for r in rows], h, label="torch2trt", color="#4c72b0")
    ax.barh([i + h / 2 for i in y], [r.onnx_layers or 0 for r in rows], h, label="ONNX route", color="#dd8452")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 3.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    for i, r in enumerate(rows):
        for value, dy in ((r.layers, -h / 2), (r.onnx_layers, h / 2)):
            if value:
                ax.text(value * 1.03, i + dy, str(value), va="center", fontsize=7)
    most = max([r.layers or 0 for r in rows] + [r.onnx_layers or 0 for r in rows] + [1])
    ax.set_xlim(left=min([v for r in rows for v in (r.layers, r.onnx_layers) if v] + [10]) / 1.5, right=most * 1.6)
    ax.set_xlabel("network layers (log scale)")
    ax.set_title("Network size")

    if gpu:
        ax = axes[2]
        ax.barh([i - h / 2 for i in y], [r.gpu.get("pytorch_fps", 0) for r in rows], h, label="PyTorch",
                color="#8c8c8c")
        ax.barh([i + h / 2 for i in y], [r.gpu.get("trt_fps", 0) for r in rows], h, label="TensorRT",
                color="#55a868")
        ax.set_xlabel("images / s")
        ax.set_title("Throughput (GPU)")

    for ax in axes:
        ax.legend(loc="best", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    for i, r in enumerate(rows):
        if r.layers is None:  # where our bars would be, say why they are missing
            for ax in axes[:2]:
                ax.text(0.01, i - h / 2, _chart_reason(r.status), transform=ax.get_yaxis_transform(),
                        va="center", fontsize=7, color="#b00000")
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torch2trt bench", description="The model-table benchmark: conversion and "
                                "build time, layers (ours vs ONNX route), engine size, reference error, and GPU "
                                "throughput/latency where measurable. Writes model_table.md/.json/.png.")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="torchvision names (resnet18 or torchvision:resnet18) or path/to/file.py:factory; "
                        "default: the 20 models of the original torch2trt README")
    p.add_argument("--out", default="docs/benchmarks", help="output folder (default docs/benchmarks)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224, help="image size for torchvision models (default 224)")
    p.add_argument("--input-shape", action="append", metavar="CxHxW", help="input shape without batch (repeat "
                   "for several inputs); overrides --size")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), help="precision inside the network")
    p.add_argument("--repeat", type=int, default=3, help="conversions (and ONNX exports) per model; the "
                   "fastest is reported, which discounts other load on the machine (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: with more, other load "
                   "on the machine makes the CPU timings swing tenfold)")
    p.add_argument("--warmup", type=int, default=10, help="GPU warm-up iterations")
    p.add_argument("--iterations", type=int, default=100, help="GPU timed iterations")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX route columns")
    p.add_argument("--no-reference", action="store_true", help="skip the reference-executor error column")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .models import ModelSpecError, validate_spec
    from .progress import Progress

    if args.batch <= 0 or args.repeat <= 0:
        raise ValueError(f"--batch and --repeat must be positive, got {args.batch} and {args.repeat}")
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(args.quiet)
    models = args.models or MODELS
    for spec in models:  # fail fast on a misspelt name or a missing file, before the long run
        validate_spec(spec)
    with progress.stage("warm-up (first conversion and ONNX export pay one-time costs; not recorded)"):
        warm_up(args.no_onnx)
    rows = []
    for i, spec in enumerate(models, 1):
        progress.note(f"[{i}/{len(models)}] {spec}")
        start = time.perf_counter()
        try:
            row = bench_model(spec, args, progress)
        except ModelSpecError as e:  # unknown model, bad file: a row that says so, the others still run
            row = Row(spec, status=f"not loaded: {e}")
        rows.append(row)
        progress.note(f"[{i}/{len(models)}] {row.model}: {row.status} ({time.perf_counter() - start:.1f} s)")
    env = _environment(args)
    gpu_reason = _gpu_reason()
    write_markdown(rows, env, out / "model_table.md", gpu_reason)
    (out / "model_table.json").write_text(json.dumps({"environment": env, "rows": [asdict(r) for r in rows]},
                                                     indent=1) + "\n")
    title = (f"torch2trt model table — batch {args.batch}, {env['input']}, {env['backend']}"
             + (f", GPU {env['gpu']}" if gpu_reason is None else " (CPU only: GPU columns not measurable here)"))
    write_chart(rows, out / "model_table.png", title)
    print((out / "model_table.md").read_text())
    progress.note(f"wrote {out / 'model_table.md'}, {out / 'model_table.json'}, {out / 'model_table.png'}")
    if all(r.status.startswith("not loaded") for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
