"""Memory and time of a conversion: what `torch2trt()` adds to a process's peak memory, what the returned module
keeps, the saved file, and the CPU time against the ONNX route — per model, each in a child process.

    python benchmarks/memory.py --out docs/benchmarks                  # resnet50, vgg16, vit_b_16, llama-0.33b
    python benchmarks/memory.py llama-1b --out /tmp/mem                # the 1 B-parameter Llama-style model

Peak memory is the process's resident-set high-water mark (Linux VmHWM, reset through /proc/self/clear_refs
after the model has run once), minus the resident memory just before `torch2trt()`; freed memory is handed back
to the system (malloc_trim) before every reading. Columns, as multiples of the model's weight bytes:
- *peak added*: the whole `torch2trt(model, [x])` call (default verification included);
- *builder alone*: the peak of the TensorRT builder's `build_serialized_network` over what the process held when
  it started — TensorRT's own working memory, which no change of ours reduces;
- *kept*: resident memory the returned module still holds (engine, network records);
- *saved*: the size of `torch.save(model_trt.state_dict())`.
Times are CPU seconds (process time), the best of 3 runs (`--repeat`) after a warm-up conversion of a small model
(the machine is shared: the best run is the one least disturbed by other load): *to network* is
tracing plus network construction (Torch-TensorRT's counterpart), *convert* adds the engine build;
*ONNX route* is `torch.onnx.export` + TensorRT's ONNX parser + the same engine build.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["resnet50", "vgg16", "vit_b_16", "llama-0.33b"]
NO_FOLD = "-nofold"   # e.g. resnet50-nofold: converted with fold_batchnorm=False (TensorRT fuses the batch norms)
LLAMA = {  # transformers LlamaConfig fields (random weights); 0.33 B and 0.95 B parameters
    "llama-0.33b": dict(hidden_size=1024, num_hidden_layers=16, intermediate_size=4096, num_attention_heads=16,
                        num_key_value_heads=16, vocab_size=32000),
    "llama-1b": dict(hidden_size=2048, num_hidden_layers=16, intermediate_size=5632, num_attention_heads=32,
                     num_key_value_heads=32, vocab_size=32000),
}


# ---- the child: one model ------------------------------------------------------------------------------
_libc = ctypes.CDLL("libc.so.6")


def _rss() -> int:
    gc.collect()
    _libc.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _model(name: str):
    import torch

    torch.manual_seed(0)
    if name in LLAMA:
        from transformers import LlamaConfig, LlamaForCausalLM

        class Logits(torch.nn.Module):  # input_ids -> logits, the way the model is served without a cache
            def __init__(self):
                super().__init__()
                self.lm = LlamaForCausalLM(LlamaConfig(**LLAMA[name], use_cache=False))

            def forward(self, ids):
                return self.lm(input_ids=ids, use_cache=False).logits

        return Logits().eval(), [torch.randint(0, 32000, (1, 32))]
    from torch2trt.models import load_model

    loaded = load_model(f"torchvision:{name.removesuffix(NO_FOLD)}", batch=2)
    return loaded.module, loaded.inputs


def child(name: str, onnx: bool, repeat: int = 3) -> dict:
    import torch

    import torch2trt.convert as convert
    from torch2trt import torch2trt

    torch.set_num_threads(1)
    model, inputs = _model(name)
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    torch2trt(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval(), [torch.randn(1, 3, 8, 8)],
              verify=False)                                     # one-time costs (imports, first build)
    with torch.no_grad():
        model(*inputs)
    row = {"model": name, "weights_mb": weights / 1e6}

    # attribution only: the builder's own peak, over what the process held when the build started
    build, builder = convert.build_engine, {}

    def build_measured(*args, **kwargs):
        before = _rss()
        _reset_peak()
        out = build(*args, **kwargs)
        builder["peak"] = _peak() - before
        return out

    convert.build_engine = build_measured
    base = _rss()
    _reset_peak()
    start = time.process_time()
    options = {"fold_batchnorm": False} if name.endswith(NO_FOLD) else {}
    m = torch2trt(model, inputs, **options)
    row["convert_cpu_s"] = time.process_time() - start
    peak = _peak()
    convert.build_engine = build
    row["peak_added_mb"] = (max(peak, builder.get("peak", 0) + base) - base) / 1e6
    row["builder_mb"] = builder["peak"] / 1e6
    row["kept_mb"] = (_rss() - base) / 1e6
    row["engine_mb"] = len(m.engine_bytes) / 1e6
    row["timings_s"] = dict(m.timings)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.pth"
        torch.save(m.state_dict(), path)
        row["saved_mb"] = path.stat().st_size / 1e6
    del m

    times, trace = [], []
    for _ in range(repeat):                                    # CPU time without verification: best of `repeat`
        start = time.process_time()
        m = torch2trt(model, inputs, verify=False, **options)
        times.append(time.process_time() - start)
        trace.append(m.timings["trace"])
        del m
    row["convert_noverify_cpu_s"], row["to_network_s"] = min(times), min(trace)
    if onnx:
        from torch2trt import backend
        from torch2trt.onnx_route import export_and_parse

        torch.backends.mha.set_fastpath_enabled(False)   # the exporter has no symbolic for the fused MHA op
        times = []
        try:
            for _ in range(repeat):
                start = time.process_time()
                net = export_and_parse(model, list(inputs))
                config = net.builder.create_builder_config()
                backend.configure_build_target(config)
                if net.builder.build_serialized_network(net.network, config) is None:
                    raise RuntimeError("the ONNX route's network did not build")
                times.append(time.process_time() - start)
                del net, config
            row["onnx_cpu_s"] = min(times)
        except Exception as e:  # noqa: BLE001  (the ONNX route fails on some models: say so in the table)
            row["onnx_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    row["repeat"] = repeat
    return row


# ---- the parent: a table -------------------------------------------------------------------------------
def _run_child(name: str, onnx: bool, repeat: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--repeat", str(repeat)]
                          + ([] if onnx else ["--no-onnx"]),
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"model": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _x(row: dict, key: str) -> str:
    return f"{row[key] / row['weights_mb']:.2f}x" if key in row else "—"


def table(rows: list[dict]) -> str:
    lines = ["| model | weights (MB) | peak added | builder alone | kept by the module | engine (MB) | saved (MB) "
             "| to network (s, wall) | CPU convert (s) | CPU ONNX route (s) | convert / ONNX |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error']} |")
            continue
        onnx = r.get("onnx_cpu_s")
        ratio = f"{r['convert_noverify_cpu_s'] / onnx:.2f}" if onnx else "—"
        lines.append(f"| {r['model']} | {r['weights_mb']:.0f} | {_x(r, 'peak_added_mb')} | {_x(r, 'builder_mb')} "
                     f"| {_x(r, 'kept_mb')} | {r['engine_mb']:.0f} | {r['saved_mb']:.0f} | {r['to_network_s']:.2f} "
                     f"| {r['convert_noverify_cpu_s']:.2f} | {f'{onnx:.2f}' if onnx else '—'} "
                     f"| {ratio} |")
    notes = [f"- {r['model']}: the ONNX route failed ({r['onnx_error']})" for r in rows if "onnx_error" in r]
    return "\n".join(lines + ([""] + notes if notes else []))


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    w = [r["weights_mb"] for r in ok]
    for key, label, marker in (("peak_added_mb", "peak added by torch2trt()", "o"),
                               ("builder_mb", "TensorRT builder alone", "s"),
                               ("kept_mb", "kept by the returned module", "^")):
        ax.plot(w, [r[key] for r in ok], marker, label=label, markersize=8)
    top = max(w) * 1.1
    for k, style in ((1, ":"), (2, "--")):
        ax.plot([0, top], [0, k * top], style, color="gray", linewidth=1)
        ax.text(top, k * top, f" {k}x", va="center", color="gray")
    for r in ok:
        ax.annotate(r["model"], (r["weights_mb"], r["peak_added_mb"]), textcoords="offset points", xytext=(5, 5),
                    fontsize=8)
    ax.set_xlabel("model weights (MB)")
    ax.set_ylabel("memory (MB)")
    ax.set_title("torch2trt conversion memory against weight size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", help=f"models (default {' '.join(MODELS)}; also llama-1b, "
                   f"and any torchvision model + {NO_FOLD!r})")
    p.add_argument("--out", help="folder for memory.md, memory.json and memory.png")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX route column")
    p.add_argument("--repeat", type=int, default=3, help="times each route is timed; the best is reported (3)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, not args.no_onnx, args.repeat)))
        return 0
    rows = []
    for name in args.models or MODELS:
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        rows.append(_run_child(name, not args.no_onnx, args.repeat))
    text = table(rows)
    print(text)
    if args.out:
        import torch

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "memory.json").write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                                     "torch": torch.__version__, "rows": rows}, indent=1) + "\n")
        (out / "memory.md").write_text(f"# Conversion memory and time\n\nGenerated by `benchmarks/memory.py` on "
                                       f"{datetime.date.today().isoformat()} (batch 2 for the torchvision models, "
                                       "32 tokens for the Llama-style models; float32; one torch thread).\n\n"
                                       + text + "\n\n" + __doc__.split("\n\n", 2)[2])
        chart(rows, out / "memory.png")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
