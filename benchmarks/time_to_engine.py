"""Time to engine: CPU seconds per stage of `torch2trt(model, [x])` (verified, the default), of
`torch2trt(model, [x], verify=False)` and of the ONNX route (torch.onnx.export + TensorRT's ONNX parser + the same
engine build), for 10 models at batch 2, float32, random weights — one child process per model and route.

    python benchmarks/time_to_engine.py --out docs/benchmarks                # the 10 models (a rerun: this line)
    python benchmarks/time_to_engine.py --quick                              # resnet18 and mobilenet_v2, no files
    python benchmarks/time_to_engine.py --models resnet50 vit_b_16 --repeat 1 --out /tmp/tte

It measures the torch2trt of the checkout it is in (run it from the repository root). Every (model, route) runs in
its own child process (no caches or warm-ups leak between models or routes), with one torch thread
(OMP_NUM_THREADS=1). A child builds the model, runs it once, converts a small model the same way (the one-time
costs: imports, the first build), then times the route `--repeat` times and keeps the run with the least CPU time
(the machine is shared: the best run is the one least disturbed by other load). CPU time is the child
process's `time.process_time()` (all its threads). Stages of our call, each timed around the function in
torch2trt/convert.py that does it:
- *trace + network*: `_trace` — the model runs once, for real, and the converters build the network while it runs,
  so tracing and network construction are one stage (reported merged); *PyTorch forward* is the model's own
  forward alone, for scale (part of that stage, measured separately);
- *build*: `build_engine` (the TensorRT builder); *records*: `read_network` (the portable network records);
- *verify*: `verify_conversion` (fresh inputs on the CPU reference executor, compared with PyTorch); of which, for
  attribution, *reference executor* (verify.py's `run_converted`) and *PyTorch runs* (its `run_preserved`: the
  model at the fresh inputs, and in float64 where a second look needs it);
- *other*: the rest of the call (argument checks, the TRTModule).
The ONNX route's stages: *export* (`torch.onnx.export`, TorchScript exporter, opset 18, constant folding), *parse*
(TensorRT's OnnxParser), *build* (the same `build_engine`); it builds an unverified engine.

Targets (issue #29): CPU time to a verified engine (our default call) at most 0.7x the ONNX route's time to an
unverified engine; verification at most 15% of our default call.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                   # measure the torch2trt of this checkout, not an installed one

MODELS = ["resnet18", "resnet50", "densenet121", "vgg16", "mobilenet_v2", "efficientnet_b0", "vit_b_16", "swin_t",
          "convnext_tiny", "transformer_encoder"]
QUICK = ["resnet18", "mobilenet_v2"]
ROUTES = ["default", "noverify", "onnx"]      # torch2trt(model, [x]); verify=False; the ONNX route
BATCH = 2
# nn.TransformerEncoder: d_model 512, 8 heads, feed-forward 2048, 6 layers, batch_first, input (2, 128, 512)
ENCODER = dict(d_model=512, nhead=8, dim_feedforward=2048, num_layers=6, seq=128)
TINY = "tiny_cnn"                               # conv, relu, pool, linear at 2x3x32x32: the smoke test's model
SPEED_TARGET = 0.7                              # our verified engine / the ONNX route's unverified engine
VERIFY_TARGET = 0.15                            # verification / our whole call
STAGES = {"default": ["trace", "build", "records", "verify", "other"],
          "noverify": ["trace", "build", "records", "other"],
          "onnx": ["export", "parse", "build"]}
STAGE_LABELS = {"trace": "trace + network", "build": "build", "records": "records", "verify": "verify",
                "other": "other", "export": "export", "parse": "parse"}


# ---- the child: one model, one route -------------------------------------------------------------------
def _model(name: str):
    """(model in eval mode, inputs): random weights and batch-norm statistics, fixed seed, batch 2."""
    import torch

    torch.manual_seed(0)
    if name == "transformer_encoder":
        c = ENCODER
        layer = torch.nn.TransformerEncoderLayer(c["d_model"], c["nhead"], c["dim_feedforward"], batch_first=True)
        model = torch.nn.TransformerEncoder(layer, c["num_layers"], enable_nested_tensor=False)
        return model.eval(), [torch.randn(BATCH, c["seq"], c["d_model"])]
    if name == TINY:
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                    torch.nn.Flatten(), torch.nn.Linear(8, 10))
        return model.eval(), [torch.randn(BATCH, 3, 32, 32)]
    from torch2trt.models import load_model

    loaded = load_model(f"torchvision:{name}", batch=BATCH)
    with torch.no_grad():  # torchvision zero-initializes some heads (vit): an all-zero output would verify nothing
        for m in loaded.module.modules():
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.normal_(0, 0.02)
    return loaded.module, loaded.inputs


class _Stages:
    """CPU seconds of the outermost call of each wrapped function (a trace inside verification is verification)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.depth = 0

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            self.depth += 1
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - start
        return timed


# inside verification, for attribution only (torch2trt/verify.py's helpers; a name it no longer has is not timed)
VERIFY_PARTS = {"run_converted": "reference executor", "run_preserved": "PyTorch runs"}


def _ours(model, inputs, verify: bool) -> dict:
    import torch2trt.convert as convert
    import torch2trt.verify as verify_module

    stages, parts = _Stages(), _Stages()
    wrapped = [(convert, name, stages.wrap(stage, getattr(convert, name))) for name, stage in
               (("_trace", "trace"), ("build_engine", "build"), ("read_network", "records"),
                ("verify_conversion", "verify"))]
    wrapped += [(verify_module, name, parts.wrap(part, getattr(verify_module, name)))
                for name, part in VERIFY_PARTS.items() if hasattr(verify_module, name)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]
    for owner, name, fn in wrapped:
        setattr(owner, name, fn)
    try:
        wall, start = time.perf_counter(), time.process_time()
        m = convert.torch2trt(model, inputs, verify=verify)
        total, wall = time.process_time() - start, time.perf_counter() - wall
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    run = {"total": total, "wall": wall, "stages": dict(stages.seconds)}
    if verify:
        run["verify_parts"] = dict(parts.seconds)
    run["stages"]["other"] = total - sum(stages.seconds.values())
    run["layers"] = len(m.network_record.layers)
    if verify:
        run["verify_runs"], run["verify_max_rel"] = len(m.verification.runs), m.verification.max_rel
    return run


def _onnx(model, inputs) -> dict:
    from torch2trt.onnx_route import export_and_parse
    from torch2trt.runtime.build import CapturingLogger, build_engine

    wall, start = time.perf_counter(), time.process_time()
    net = export_and_parse(model, list(inputs))
    built = time.process_time()
    build_engine(net.builder, net.network, CapturingLogger())    # the build our call makes (static shapes)
    end = time.process_time()
    run = {"total": end - start, "wall": time.perf_counter() - wall, "layers": net.num_layers,
           "stages": {"export": net.export_cpu_seconds, "parse": net.parse_cpu_seconds, "build": end - built}}
    del net
    return run


def child(name: str, route: str, repeat: int) -> dict:
    import torch

    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    threads, fastpath = torch.get_num_threads(), torch.backends.mha.get_fastpath_enabled()
    torch.set_num_threads(1)
    try:
        model, inputs = _model(name)
        if route == "onnx":
            torch.backends.mha.set_fastpath_enabled(False)   # the exporter has no symbolic for the fused MHA op
        measure = (lambda m, x: _onnx(m, x)) if route == "onnx" else (
            lambda m, x: _ours(m, x, verify=route == "default"))
        warm_model, warm_inputs = _model(TINY)
        measure(warm_model, warm_inputs)                                # one-time costs: imports, first build
        start = time.process_time()
        with torch.no_grad():
            model(*inputs)
        forward = time.process_time() - start
        runs = [measure(model, inputs) for _ in range(repeat)]
    finally:  # --in-process: leave the calling process as it was
        torch.set_num_threads(threads)
        torch.backends.mha.set_fastpath_enabled(fastpath)
    best = min(runs, key=lambda r: r["total"])
    return {"model": name, "route": route, **best, "forward": forward, "repeat": repeat,
            "totals": [r["total"] for r in runs]}


def _run_child(name: str, route: str, repeat: int, in_process: bool) -> dict:
    if in_process:
        return child(name, route, repeat)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, __file__, "--child", name, route, "--repeat", str(repeat)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"model": name, "route": route, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child_main(name: str, route: str, repeat: int) -> int:
    try:
        print(json.dumps(child(name, route, repeat)))
    except Exception as e:  # noqa: BLE001  (a route that fails on a model is a row of the table, with its reason)
        text = str(e).strip()
        print(json.dumps({"model": name, "route": route,
                          "error": f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"}))
    return 0


# ---- the parent: verdicts, table, chart ----------------------------------------------------------------
def verdicts(model: str, runs: dict[str, dict]) -> dict:
    """The targets for one model from its routes' runs; None where a route needed for a target failed."""
    ours, bare, onnx = (runs.get(r, {}) for r in ROUTES)
    row = {"model": model}
    if "total" in ours and "total" in onnx:
        row["speed_ratio"] = ours["total"] / onnx["total"]
        row["speed_met"] = row["speed_ratio"] <= SPEED_TARGET
    else:
        row["speed_ratio"] = row["speed_met"] = None
    if "total" in ours:
        row["verify_share"] = ours["stages"]["verify"] / ours["total"]
        row["verify_met"] = row["verify_share"] <= VERIFY_TARGET
    else:
        row["verify_share"] = row["verify_met"] = None
    row["noverify_ratio"] = bare["total"] / onnx["total"] if "total" in bare and "total" in onnx else None
    return row


def _s(run: dict, stage: str | None = None) -> str:
    if "total" not in run:
        return "—"
    return f"{run['total'] if stage is None else run['stages'][stage]:.2f}"


def _met(value: float | None, met: bool | None, fmt: str) -> str:
    return "—" if value is None else f"{value:{fmt}} {'met' if met else '**not met**'}"


def table(models: list[str], results: dict[str, dict[str, dict]]) -> str:
    lines = ["| model | trace + network | (PyTorch forward) | build | records | verify | (reference executor) "
             "| (PyTorch runs) | other | **default call** | verify=False | ONNX export | ONNX parse | ONNX build "
             f"| **ONNX route** | default / ONNX (≤ {SPEED_TARGET}) | verify share (≤ {VERIFY_TARGET:.0%}) "
             "| verify=False / ONNX |",
             "|---|" + "---:|" * 17]
    notes = []
    for name in models:
        runs = results[name]
        ours, bare, onnx = (runs[r] for r in ROUTES)
        v = verdicts(name, runs)
        forward = f"({ours['forward']:.2f})" if "forward" in ours else "—"
        sub = [f"({ours['verify_parts'][p]:.2f})" if p in ours.get("verify_parts", {}) else "—"
               for p in VERIFY_PARTS.values()]
        ratio = "—" if v["noverify_ratio"] is None else f"{v['noverify_ratio']:.2f}"
        lines.append(f"| {name} | {_s(ours, 'trace')} | {forward} | {_s(ours, 'build')} | {_s(ours, 'records')} "
                     f"| {_s(ours, 'verify')} | {sub[0]} | {sub[1]} | {_s(ours, 'other')} | **{_s(ours)}** "
                     f"| {_s(bare)} | {_s(onnx, 'export')} | {_s(onnx, 'parse')} | {_s(onnx, 'build')} "
                     f"| **{_s(onnx)}** | {_met(v['speed_ratio'], v['speed_met'], '.3f')} "
                     f"| {_met(v['verify_share'], v['verify_met'], '.1%')} | {ratio} |")
        notes += [f"- {name}, {route}: failed ({runs[route]['error']})" for route in ROUTES if "error" in runs[route]]
    return "\n".join(lines + ([""] + notes if notes else []))


def summary(models: list[str], results: dict[str, dict[str, dict]]) -> str:
    rows = [verdicts(n, results[n]) for n in models]
    speed = [r["model"] for r in rows if r["speed_met"]]
    share = [r["model"] for r in rows if r["verify_met"]]
    unknown = [r["model"] for r in rows if r["speed_met"] is None or r["verify_met"] is None]
    lines = [f"- Default call at most {SPEED_TARGET}x the ONNX route: met on {len(speed)} of {len(rows)} models"
             + (f" ({', '.join(speed)})" if speed else "") + ".",
             f"- Verification at most {VERIFY_TARGET:.0%} of the default call: met on {len(share)} of {len(rows)} "
             "models" + (f" ({', '.join(share)})" if share else "") + "."]
    if unknown:
        lines.append(f"- Not judged (a route failed): {', '.join(unknown)}.")
    return "\n".join(lines)


def chart(models: list[str], results: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"trace": "#4c72b0", "build": "#a1c9f4", "records": "#8c8c8c", "verify": "#c44e52", "other": "#dddddd",
              "export": "#dd8452", "parse": "#f5b87a"}
    onnx_build = "#fbe0c4"
    y = list(range(len(models)))
    h = 0.38
    height = 0.55 * len(models) + 2.8
    fig, ax = plt.subplots(figsize=(10, height))
    labelled = set()
    for route, dy in (("default", -h / 2), ("onnx", h / 2)):
        left = [0.0] * len(models)
        for stage in STAGES[route]:
            widths = [results[n][route]["stages"].get(stage, 0.0) if "stages" in results[n][route] else 0.0
                      for n in models]
            key = (route == "onnx", stage)
            label = ("ONNX route: " if route == "onnx" else "torch2trt: ") + STAGE_LABELS[stage]
            ax.barh([i + dy for i in y], widths, h, left=left, label=label if key not in labelled else None,
                    color=onnx_build if (route, stage) == ("onnx", "build") else colors[stage],
                    edgecolor="white", linewidth=0.5)
            labelled.add(key)
            left = [a + b for a, b in zip(left, widths)]
        for i, (n, total) in enumerate(zip(models, left)):
            run = results[n][route]
            text = f"{total:.1f} s" if "total" in run else "failed"
            ax.text(total, i + dy, " " + text, va="center", fontsize=7)
    for i, n in enumerate(models):                  # the target: 0.7x the ONNX route, on our bar
        if "total" in results[n]["onnx"]:
            x = SPEED_TARGET * results[n]["onnx"]["total"]
            ax.plot([x, x], [i - h, i], color="black", linewidth=1.5,
                    label=f"target: {SPEED_TARGET}x the ONNX route" if i == 0 else None)
    ax.set_yticks(y, models)
    ax.invert_yaxis()
    ax.set_xlabel("CPU seconds (one torch thread)")
    ax.set_title(f"Time to engine, batch {BATCH}, float32: torch2trt (verified, upper bar) vs the ONNX route "
                 "(unverified, lower bar)", fontsize=10)
    fig.legend(loc="lower center", fontsize=7, ncol=4)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, 0.8 / height, 1, 1))             # the legend below, 0.8 inch
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", help=f"models (default: {' '.join(MODELS)}; also any torchvision model, "
                   f"and {TINY!r}, a tiny CNN)")
    p.add_argument("--quick", action="store_true", help=f"only {' and '.join(QUICK)}")
    p.add_argument("--out", help="folder for time_to_engine.md, .json and .png")
    p.add_argument("--repeat", type=int, default=3, help="times each route is timed; the best is reported (3)")
    p.add_argument("--in-process", action="store_true",
                   help="run every route in this process (tests only: caches and warm-ups leak between routes)")
    p.add_argument("--child", nargs=2, metavar=("MODEL", "ROUTE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.child:
        return _child_main(*args.child, args.repeat)
    if args.quick and args.models:
        p.error("--quick and --models both choose the models; give one of them")
    models = QUICK if args.quick else (args.models or MODELS)
    load = [os.getloadavg()[0]]
    results: dict[str, dict[str, dict]] = {}
    for name in models:
        results[name] = {}
        for route in ROUTES:
            print(f"[{name}] {route} ...", file=sys.stderr, flush=True)
            results[name][route] = _run_child(name, route, args.repeat, args.in_process)
    load.append(os.getloadavg()[0])
    text = table(models, results) + "\n\n" + summary(models, results)
    print(text)
    if args.out:
        import torch

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        today = datetime.date.today().isoformat()
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "unknown"
        (out / "time_to_engine.json").write_text(json.dumps(
            {"date": today, "commit": commit, "torch": torch.__version__, "cpus": os.cpu_count(),
             "load_average": load, "batch": BATCH, "repeat": args.repeat, "encoder": ENCODER,
             "targets": {"speed": SPEED_TARGET, "verify_share": VERIFY_TARGET}, "results": results,
             "verdicts": [verdicts(n, results[n]) for n in models]}, indent=1) + "\n")
        c = ENCODER
        (out / "time_to_engine.md").write_text(
            f"# Time to engine\n\nGenerated by `python benchmarks/time_to_engine.py --out {args.out}"
            + (f" --models {' '.join(models)}" if models != MODELS else "")
            + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
            + (" --in-process" if args.in_process else "")
            + f"` on {today} at commit {commit} (batch {BATCH}, float32, random weights, one torch thread, best of "
            f"{args.repeat}; {os.cpu_count()} CPUs, shared: load average {load[0]:.1f} at the start, {load[1]:.1f} "
            "at the end). "
            f"CPU seconds; transformer_encoder is `nn.TransformerEncoder` with d_model {c['d_model']}, "
            f"{c['nhead']} heads, feed-forward {c['dim_feedforward']}, {c['num_layers']} layers, batch_first, "
            f"sequence {c['seq']}.\n\n![time to engine](time_to_engine.png)\n\n" + text + "\n\n"
            + __doc__.split("\n\n", 2)[2])
        chart(models, results, out / "time_to_engine.png")
    return 0 if all("error" not in r for runs in results.values() for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
