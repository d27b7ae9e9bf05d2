"""The original torch2trt's own module tests, run against this torch2trt on the CPU reference path.

The original registered its converter tests with `@add_module_test(dtype, device, input_shapes, **torch2trt_kwargs)`
next to each converter (torch2trt/converters/*.py up to v0.4, torch2trt/converters_old/*.py until they were removed
in 2024). This script reads those files from a checkout you provide (nothing is downloaded, nothing is copied): it
keeps their module definitions and test registrations, drops their converters and TensorRT imports, and runs each
case as the original's `torch2trt/test.py` did — convert on zeros of the test's shapes, then compare PyTorch and the
engine (here: the reference executor) on fresh random inputs, the model on the CPU.

    git clone https://github.com/NVIDIA-AI-IOT/torch2trt /tmp/t2t-original
    git -C /tmp/t2t-original checkout 5345e68~1            # the last commit with converters_old/
    python benchmarks/original_module_tests.py /tmp/t2t-original/torch2trt/converters_old --out docs/benchmarks \
        --label "NVIDIA-AI-IOT/torch2trt 5fd2f95 (5345e68~1), torch2trt/converters_old"

Outcome per case: *exact* (float32 within 1e-4 relative to the output's scale, float16 within 1e-2, integers and
bools equal), *wrong* (converted, outside that), *refused* (ConversionError: the op cannot be converted exactly),
*needs a GPU* (the test's own module creates CUDA tensors), *error* (anything else).
The original's harness also passed `max_workspace_size=1 << 20`; it is left out here, because TensorRT-RTX's CPU
builder finds no tactics for convolutions and matrix products within 1 MB (a build error naming the limit).
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import datetime
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

_DROP_MODULES = ("torch2trt", "tensorrt", "ctypes", "pytest", "termcolor")


class _Case:
    def __init__(self, source: str, fn, dtype, device, shapes, kwargs):
        self.source, self.fn, self.dtype, self.shapes, self.kwargs = source, fn, dtype, list(shapes), kwargs
        self.name = f"{source}:{fn.__name__}"


def _keep(node: ast.stmt) -> bool:
    """Module definitions and test registrations stay; converters and TensorRT or torch2trt imports go."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        return not (getattr(node, "level", 0) or (mod or "").split(".")[0] in _DROP_MODULES)
    if isinstance(node, ast.FunctionDef):
        names = [ast.unparse(d) for d in node.decorator_list]
        return not any("tensorrt_converter" in n for n in names)
    return True


def collect(folder: Path) -> list[_Case]:
    cases: dict[tuple, _Case] = {}
    namespace: dict = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "np": np, "math": math,
                       "collections": collections, "__name__": "original_module_tests",
                       # the original gates tests on `trt_version() >= '7.0'` (a string comparison, which
                       # TensorRT 10's "10.x" fails): report the last TensorRT 8 so that they all run
                       "trt_version": lambda: "8.6.1"}

    def add_module_test(dtype, device, input_shapes, enabled=True, **kwargs):
        def register(fn):
            key = (source, fn.__name__, len([k for k in cases if k[:2] == (source, fn.__name__)]))
            if enabled:
                cases[key] = _Case(source, fn, dtype, device, input_shapes, kwargs)
            return fn
        return register

    namespace["add_module_test"] = add_module_test
    pending = sorted(folder.glob("*.py"))
    for _ in range(3):                         # files that use another file's names go again after it
        failed = []
        for path in pending:
            source = path.stem
            tree = ast.parse(path.read_text())
            body = [n for n in tree.body if _keep(n)]
            before = dict(cases)
            try:
                exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
            except NameError:
                cases.clear()
                cases.update(before)
                failed.append(path)
        pending = failed
        if not pending:
            break
    return list(cases.values())


def _within(expected: torch.Tensor, got: torch.Tensor, dtype) -> tuple[bool, float]:
    if expected.dtype in (torch.bool,) or not expected.dtype.is_floating_point:
        err = float((expected != got).sum())
        return err == 0, err
    e, g = expected.float(), got.float()
    finite = torch.isfinite(e)
    same_nonfinite = torch.equal(e[~finite].nan_to_num(0.0), g[~finite].nan_to_num(0.0))
    if not torch.equal(finite, torch.isfinite(g)) or not same_nonfinite:
        return False, math.inf                  # NaN where PyTorch has NaN, the same infinities
    err = float((e[finite] - g[finite]).abs().max()) if finite.any() else 0.0
    scale = max(1.0, float(e[finite].abs().max())) if finite.any() else 1.0
    return err <= (1e-2 if dtype == torch.float16 else 1e-4) * scale, err


@contextlib.contextmanager
def _cuda_on_cpu():
    """The tests' own modules call `.cuda()` and `torch.tensor(..., device='cuda')`: on the CPU here."""
    cuda, tensor = torch.Tensor.cuda, torch.tensor

    def cpu_tensor(*args, device=None, **kwargs):
        return tensor(*args, device=None if device is not None and torch.device(device).type == "cuda" else device,
                      **kwargs)

    torch.Tensor.cuda, torch.tensor = (lambda self, *a, **k: self), cpu_tensor
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.tensor = cuda, tensor


def run_case(case: _Case) -> dict:
    from torch2trt import ConversionError

    row = {"case": case.name, "dtype": str(case.dtype).replace("torch.", ""), "shapes": case.shapes,
           "kwargs": {k: repr(v) for k, v in case.kwargs.items()}}
    torch.manual_seed(0)
    try:
        with _cuda_on_cpu(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, got = _run(case, row)
    except ConversionError as e:
        lines = str(e).strip().splitlines()
        row["outcome"], row["reason"] = "refused", (lines[1] if len(lines) > 1 else lines[0]).strip()[:300]
        return row
    except Exception as e:  # noqa: BLE001 - reported per case
        text = f"{type(e).__name__}: {str(e).strip()[:300]}"
        row["outcome"], row["reason"] = ("needs a GPU" if "NVIDIA driver" in text else "error"), text
        return row
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    ok, worst = len(expected) == len(got), 0.0
    for e, g in zip(expected, got):
        same, err = (e.shape == g.shape and e.dtype == g.dtype), math.inf
        if same:
            same, err = _within(e, g, torch.float16 if case.kwargs.get("fp16_mode") else case.dtype)
        ok, worst = ok and same, max(worst, err)
    row["outcome"], row["max_abs_error"] = ("exact" if ok else "wrong"), worst
    return row


def _run(case: _Case, row: dict):
    """As the original's test.py: convert on zeros, then PyTorch and the engine on the same random inputs."""
    from torch2trt import torch2trt

    module = case.fn().type(case.dtype).eval()
    sample = [torch.zeros(s).type(case.dtype) for s in case.shapes]
    start = time.perf_counter()
    module_trt = torch2trt(module, sample, verify=False, **case.kwargs)
    row["convert_s"] = round(time.perf_counter() - start, 3)
    inputs = [torch.randn(s).type(case.dtype) for s in case.shapes]
    with torch.no_grad():
        expected = module(*[x.clone() for x in inputs])
    return expected, module_trt(*[x.clone() for x in inputs])


def table(rows: list[dict], source: str) -> str:
    counts = collections.Counter(r["outcome"] for r in rows)
    lines = ["# The original torch2trt's module tests\n",
             f"Generated by `benchmarks/original_module_tests.py` on {datetime.date.today().isoformat()} from "
             f"`{source}`: torch {torch.__version__}, CPU reference executor (TensorRT semantics), real TensorRT-RTX "
             "builder. Each case converted on zeros of its shapes and compared on fresh random inputs, as the "
             "original's `torch2trt/test.py` did.\n",
             f"**{len(rows)} cases: {counts['exact']} exact, {counts['wrong']} wrong, {counts['refused']} refused, "
             f"{counts['needs a GPU']} need a GPU, {counts['error']} errors.**\n"]
    files = collections.defaultdict(collections.Counter)
    for r in rows:
        files[r["case"].split(":")[0]][r["outcome"]] += 1
    lines += ["| original file | cases | exact | other |", "|---|---:|---:|---|"]
    lines += [f"| {f} | {sum(c.values())} | {c['exact']} | "
              f"{', '.join(f'{n} {o}' for o, n in c.items() if o != 'exact')} |" for f, c in sorted(files.items())]
    lines.append("")
    for outcome in ("wrong", "refused", "needs a GPU", "error"):
        chosen = [r for r in rows if r["outcome"] == outcome]
        if not chosen:
            continue
        lines += [f"## {outcome} ({len(chosen)})\n", "| case | dtype | shapes | arguments | reason |",
                  "|---|---|---|---|---|"]
        for r in chosen:
            reason = r.get("reason", f"max abs error {r.get('max_abs_error')}").replace("|", "\\|")
            lines.append(f"| {r['case']} | {r['dtype']} | {r['shapes']} | {r['kwargs'] or ''} | {reason} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="the original's converters folder (converters_old/ or converters/)")
    p.add_argument("--out", type=Path, help="folder for original_module_tests.md and .json")
    p.add_argument("-k", help="only cases whose name contains this")
    p.add_argument("--label", help="how the table names the source (default: the folder)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cases = [c for c in collect(args.folder) if not args.k or args.k in c.name]
    rows = []
    for i, case in enumerate(cases, 1):
        rows.append(run_case(case))
        print(f"[{i}/{len(cases)}] {case.name}: {rows[-1]['outcome']}", file=sys.stderr, flush=True)
    text = table(rows, args.label or args.folder.as_posix())
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "original_module_tests.md").write_text(text + "\n")
        (args.out / "original_module_tests.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
