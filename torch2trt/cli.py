"""The `torch2trt` command: convert | check | bench | info.

Owns argument parsing, model loading from a command-line spec, progress lines on stderr and turning
torch2trt's errors into one clear message and a non-zero exit. The work itself is done by the library
(torch2trt(), check, debug, models.load_model, bench); nothing here converts or runs layers.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from . import models
from .models import LoadedModel
from .progress import Progress

DTYPES = ("float32", "float16", "bfloat16")


class CliError(Exception):
    """A problem the user can fix (bad argument, unknown model, missing file): printed as one line."""


# ---- models --------------------------------------------------------------------------------------------
def load_model(spec: str, batch: int | None = None, input_shapes: Sequence[str] | None = None) -> LoadedModel:
    """torch2trt.models.load_model with the CLI's option names in its messages."""
    try:
        return models.load_model(spec, batch, input_shapes)
    except models.ModelSpecError as e:
        raise CliError(str(e).replace("batch must", "--batch must").replace("bad input shape",
                                                                             "bad --input-shape")) from None


def torch_dtype(args: argparse.Namespace):
    import torch

    name = "float16" if getattr(args, "fp16", False) else getattr(args, "dtype", None)
    if getattr(args, "fp16", False) and args.dtype not in (None, "float16"):
        raise CliError(f"--fp16 contradicts --dtype {args.dtype}")
    return getattr(torch, name) if name else None


# ---- conversion ----------------------------------------------------------------------------------------
def layer_counts(network) -> Counter:
    return Counter(network.get_layer(i).type.name for i in range(network.num_layers))


def format_counts(counts: Counter, limit: int = 12) -> str:
    items = counts.most_common()
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (f", ... ({len(items) - limit} more types)" if len(items) > limit else "")


def megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


# ---- subcommands -------------------------------------------------------------------------------------
def cmd_convert(args: argparse.Namespace) -> int:
    import torch

    from .convert import torch2trt

    progress = Progress(args.quiet)
    out = Path(args.output)
    if out.parent and not out.parent.exists():
        raise CliError(f"output folder does not exist: {out.parent}")
    dtype = torch_dtype(args)
    with progress.stage(f"[{args.model}] loading"):
        loaded = load_model(args.model, args.batch, args.input_shape)
    if getattr(args, "fallback", False):
        return convert_fallback(args, loaded, progress, out, dtype)
    with progress.stage(f"[{loaded.name}] tracing, building the network and the engine"):
        m = torch2trt(loaded.module, loaded.inputs, dtype=dtype, portable=not args.no_network,
                      keep_network=args.no_network)   # without records, the live network gives the layer counts
    with progress.stage(f"[{loaded.name}] saving {out}"):
        torch.save(m.state_dict(), out)
    t = m.timings
    counts = (Counter(m.network_record.layer_counts()) if m.network_record is not None
              else layer_counts(m.network))
    from .dtypes import name as dtype_name

    shapes = ", ".join(f"{s.name} {tuple(s.opt)} {dtype_name(s.dtype)}" for s in m.input_specs)
    print(f"converted {loaded.name} ({shapes}; precision {args.dtype or ('float16' if args.fp16 else 'as model')})")
    print(f"  conversion (tracing + network): {t['trace'] + t['records']:.2f} s")
    print(f"  engine build:                   {t['build']:.2f} s")
    if "verify" in t:
        print(f"  verification (fresh inputs):    {t['verify']:.2f} s")
    print(f"  network layers:                 {sum(counts.values())} ({format_counts(counts)})")
    print(f"  engine size:                    {megabytes(len(m.engine_bytes))}")
    print(f"  saved:                          {out} ({megabytes(out.stat().st_size)})")
    return 0


# ---- convert --fallback (torch2trt.fallback): a hybrid of TensorRT parts and PyTorch -------------------
def convert_fallback(args: argparse.Namespace, loaded: LoadedModel, progress: Progress, out: Path, dtype) -> int:
    import time

    import torch

    from .convert import torch2trt

    with progress.stage(f"[{loaded.name}] converting what converts, the rest left to PyTorch"):
        t0 = time.perf_counter()
        hybrid = torch2trt(loaded.module, loaded.inputs, fallback=True, dtype=dtype, portable=not args.no_network)
        seconds = time.perf_counter() - t0
    with progress.stage(f"[{loaded.name}] saving {out}"):
        torch.save(hybrid.state_dict(), out)
    print(f"converted {loaded.name} with fallback in {seconds:.2f} s")
    print(hybrid.fallback_report())
    print(f"saved: {out} ({megabytes(out.stat().st_size)}); load it with "
          "torch2trt.load_fallback(<a fresh model>, FILE)")
    return 0


def _default_rtol(dtype, int8: bool = False) -> float:
    import torch

    if int8:
        from .verify import QUANTIZED_RTOL

        return QUANTIZED_RTOL
    return 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-5


def _int8_arguments(args: argparse.Namespace, loaded: LoadedModel) -> tuple[dict, list]:
    """check --int8 --calib DIR: the conversion arguments and the items to compare on (the folder's data)."""
    from .quantization.calibrate import load_dataset_dir

    if not (args.int8 and args.calib):
        raise CliError("--int8 and --calib DIR go together: INT8 needs calibration data, and the data is for INT8")
    items = load_dataset_dir(args.calib)
    expected = [tuple(t.shape) for t in loaded.inputs]
    for i, item in enumerate(items):
        if [tuple(t.shape) for t in item] != expected:
            raise CliError(f"{args.calib}: item {i} has input shapes {[tuple(t.shape) for t in item]}; the model's "
                           f"sample has {expected} (give --batch/--input-shape to match the data)")
    quant = {"int8_mode": True, "int8_calib_dataset": items, "int8_calib_algorithm": args.calib_algorithm}
    if args.int8_target:
        quant["quantize_target"] = args.int8_target
    return quant, items


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check

    progress = Progress(args.quiet)
    dtype = torch_dtype(args)
    rtol = args.rtol if args.rtol is not None else _default_rtol(dtype, args.int8)
    with progress.stage(f"[{args.model}] loading"):
        loaded = load_model(args.model, args.batch, args.input_shape)
    quant, others = {}, None
    if args.int8 or args.calib:
        quant, others = _int8_arguments(args, loaded)
    if args.layerwise:
        from . import debug

        with progress.stage(f"[{loaded.name}] converting with every call recorded, reference run of all tensors"):
            report = debug.compare(loaded.module, loaded.inputs, rtol=rtol, dtype=dtype, **quant)
        print(report.table())
        print()
        print(report.summary())
        return 0 if report.ok else 1
    what = f"the {len(others)} item(s) of {args.calib}" if others else "fresh inputs"
    with progress.stage(f"[{loaded.name}] converting{' to INT8 (calibrating)' if quant else ''}, then comparing "
                        f"on the sample and on {what}"):
        report = check(loaded.module, loaded.inputs, verbose=False, dtype=dtype, verify_inputs=others, **quant)
    compared = f"item(s) of {args.calib}" if others else "fresh input set(s) drawn like it"
    print(f"{'INT8 network' if quant else 'network'} against the float model, compared on the sample and "
          f"{len(report.runs) - 1} {compared} (worst run per output):")
    print("| output | shape | dtype | max abs error | relative error | within rtol |")
    print("|---|---|---|---|---|---|")
    bad = []
    for r in report.outputs:
        ok = r.same_layout and r.rel <= rtol
        if not ok:
            bad.append(r)
        shape = str(r.shape) if r.shape == r.expected_shape else f"{r.shape} (PyTorch {r.expected_shape})"
        print(f"| {r.name} | {shape} | {str(r.dtype).replace('torch.', '')} | {r.max_abs:.3g} | {r.rel:.3g} | "
              f"{'yes' if ok else 'NO'} |")
    skipped = [run.skipped for run in report.runs if run.skipped]
    if skipped:
        print(f"not compared: {'; '.join(skipped)}", file=sys.stderr)
    if bad:
        worst = max(bad, key=lambda r: r.rel)
        print(f"FAILED: {len(bad)} output(s) differ from PyTorch beyond rtol {rtol:g} (worst: {worst.name}, "
              f"relative error {worst.rel:.3g}); run with --layerwise to find the first diverging call",
              file=sys.stderr)
        return 1
    print(f"OK: every output matches PyTorch within rtol {rtol:g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.main(args.bench_args)


def read_saved_state(path: str):
    """(what a TRTModule saves (runtime/saved.py's Saved), the raw entries) of a file saved with
    torch.save(m.state_dict())."""
    import pickle
    import zipfile

    import torch

    from .errors import StateError
    from .runtime import saved

    file = Path(path)
    if not file.is_file():
        raise CliError(f"file not found: {path}")
    with open(file, "rb") as f:
        if f.read(2) != b"PK":  # torch.save writes a zip archive
            raise CliError(f"{path} is not a torch.save file (not a zip archive)")
    try:
        raw = torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise CliError(f"{path} holds objects other than tensors and plain values: not a TRTModule "
                       "state_dict (arbitrary objects are not unpickled)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first = str(e).strip().split(". ")[0] if str(e).strip() else type(e).__name__
        raise CliError(f"{path} is not a readable torch.save file (corrupt or truncated: {first})") from None
    if not isinstance(raw, dict):
        raise StateError(f"{path} holds a {type(raw).__name__}, not a TRTModule state_dict")
    prefix = ""
    if "engine" not in raw:  # a TRTModule saved inside a bigger model: one prefix
        prefixes = {k[: -len("engine")] for k in raw if isinstance(k, str) and k.endswith(".engine")}
        if len(prefixes) == 1:
            prefix = prefixes.pop()
    own = {k[len(prefix):]: v for k, v in raw.items() if isinstance(k, str) and k.startswith(prefix)}
    return saved.read(own, where=f"{path}{' (' + prefix.rstrip('.') + ')' if prefix else ''}"), own


def cmd_info(args: argparse.Namespace) -> int:
    from .dtypes import name as dtype_name

    state, raw = read_saved_state(args.file)
    size = Path(args.file).stat().st_size
    print(f"file:     {args.file} ({megabytes(size)})")
    print(f"backend:  {state.backend} {state.backend_version} (format version {raw['format_version']})")
    print(f"engine:   {megabytes(len(state.engine))}")
    settings = ", ".join(f"{k}={v}" for k, v in state.build_settings.items()) or "(none recorded)"
    print(f"build:    {settings}")
    print("inputs:")
    for spec in state.input_specs:
        lo, opt, hi = tuple(spec.min), tuple(spec.opt), tuple(spec.max)
        profile = f"shape {opt}" if lo == hi else f"min {lo}, opt {opt}, max {hi}"
        print(f"  {spec.name}: {dtype_name(spec.dtype)}, {profile}")
    print("outputs:")
    for spec in state.output_specs:
        print(f"  {spec.name}: {dtype_name(spec.dtype)}, shape {tuple(spec.shape)}")
    record = state.network
    if record is None:
        print("network:  not stored (this file holds the engine only: no rebuild or CPU reference run after "
              "loading)")
    else:
        counts = Counter(record.layer_counts())
        print(f"network:  {sum(counts.values())} layers ({format_counts(counts, limit=100)})")
    return 0


# ---- parser and entry point ---------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage dump
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="torchvision:NAME (random weights and batch-norm statistics, seed 0) or "
                                 "path/to/file.py:factory (factory() returns a module or (module, example_inputs))")
    p.add_argument("--batch", type=int, help="batch size prepended to --input-shape (default 1)")
    p.add_argument("--input-shape", action="append", metavar="CxHxW",
                   help="shape of one input without the batch, e.g. 3x224x224 (repeat for several inputs; "
                        "default 3x224x224 for torchvision models)")
    p.add_argument("--dtype", choices=DTYPES, help="precision inside the network (default: the model's)")
    p.add_argument("--fp16", action="store_true", help="same as --dtype float16")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="torch2trt", description="Convert PyTorch models into TensorRT engines, check them "
                                                  "against PyTorch, benchmark them, inspect saved engines.")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("convert", help="convert a model and save the TRTModule state_dict",
                       description="Convert a model and save its TRTModule state_dict (load it with "
                                   "TRTModule().load_state_dict(torch.load(FILE, weights_only=True))).")
    _add_model_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to save the state_dict (.pth)")
    p.add_argument("--no-network", action="store_true",
                   help="save the engine only, without the portable network (a smaller file, but no rebuild "
                        "for another GPU or TensorRT version and no CPU reference run after loading)")
    p.add_argument("--fallback", action="store_true",
                   help="convert what converts; the rest runs in PyTorch (prints which part runs where and why; "
                        "load the file with torch2trt.load_fallback)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("check", help="compare PyTorch with the converted network (CPU reference executor)",
                       description="Convert the model, run PyTorch and the network (with the CPU reference "
                                   "executor) and print each output's error. Exits 1 if an error is above "
                                   "--rtol.")
    _add_model_args(p)
    p.add_argument("--rtol", type=float, help="relative error allowed (||out-ref||/||ref||); default 1e-5, "
                                              "1e-2 with float16/bfloat16")
    p.add_argument("--layerwise", action="store_true",
                   help="compare every converted call's output and report the first that diverges")
    p.add_argument("--int8", action="store_true",
                   help="convert with INT8 quantization (calibrated on --calib) and report its error against the "
                        "float model on that data (default --rtol 0.25)")
    p.add_argument("--calib", metavar="DIR", help="folder of *.pt files, each a tensor or a list of tensors of model "
                                                  "inputs (torch.save): the calibration data, and what is compared")
    p.add_argument("--calib-algorithm", default="entropy", choices=("entropy", "max", "percentile"),
                   help="how activation ranges are calibrated (default entropy)")
    p.add_argument("--int8-target", choices=("tensorrt", "tensorrt_rtx"),
                   help="the backend the INT8 network is for (default: this one; TensorRT-RTX runs weight-only INT8, "
                        "full TensorRT quantizes activations too)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("bench", help="the model-table benchmark (torch2trt.bench)", add_help=False,
                       description="Run the model-table benchmark; all arguments are passed on to it.")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of the benchmark (see bench --help)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="describe a saved TRTModule state_dict",
                       description="Inputs, outputs, profile, backend and versions, build settings and size of "
                                   "a file saved with torch.save(model_trt.state_dict(), FILE).")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_info)
    return parser


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `bench` forwards everything (including --help) to the benchmark's own parser
    show_traceback = bool(argv) and argv[0] == "--traceback"
    rest = argv[1:] if show_traceback else argv
    if rest and rest[0] == "bench":
        args = argparse.Namespace(func=cmd_bench, bench_args=rest[1:], traceback=show_traceback, command="bench")
    else:
        args = parser.parse_args(argv)
    prog = f"torch2trt {args.command}"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.traceback:
            raise
        print(f"{prog}: error: {_describe(e)}", file=sys.stderr)
        return 1


def _describe(e: BaseException) -> str:
    """The message of an expected error as is; a type name first for anything else."""
    from .convert import ConversionError
    from .errors import InputError, TRTModuleError
    from .runtime.build import EngineBuildError

    if isinstance(e, (CliError, ConversionError, EngineBuildError, InputError, TRTModuleError)):
        return _one_line(e)
    if isinstance(e, (ValueError, TypeError, FileNotFoundError)):
        return _one_line(e)
    return f"{type(e).__name__}: {_one_line(e)} (run with --traceback for details)"


if __name__ == "__main__":
    sys.exit(main())
