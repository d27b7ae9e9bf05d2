"""Layer-wise accuracy debugging: `torch2trt.debug.compare(model, inputs)` finds the first converted call
whose network tensor differs from what PyTorch computed for it.

Owns recording each converted call's PyTorch output next to the network tensor it produced (through
`tracing.mode.observe`), one reference run that returns all those tensors, and the per-call report. It
neither converts nor executes layers itself.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .backend import trt
from .check import FunctionModule, OutputError
from .check import compare as compare_tensors
from .runtime.module import TRTModule
from .tracing import structure
from .tracing.mode import Call, observe
from .tracing.preserve import run_preserved
from .verify import diverges

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclass
class CallError:
    """One output tensor of one converted call, PyTorch vs the reference run of its network tensor."""
    index: int              # the call's position among converted calls (0-based)
    function: str           # the converter target, e.g. torch.conv2d, torch.nn.functional.relu
    module_path: str        # the module that made the call, e.g. layer3.1.conv2 ('' at the top level)
    location: str           # the user's source line, file:line (code)
    tensor: str             # network tensor name
    shape: tuple
    dtype: torch.dtype
    max_abs: float = math.nan
    rel: float = math.nan
    status: str = "ok"      # ok | diverged | not computed

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def where(self) -> str:
        return f"{self.function} in {self.module_path or '<model>'} at {self.location}"


@dataclass
class LayerwiseReport:
    rows: list[CallError]
    outputs: list[OutputError]
    rtol: float
    model_trt: TRTModule | None = field(default=None, repr=False)

    @property
    def first_divergence(self) -> CallError | None:
        return next((r for r in self.rows if r.diverged), None)

    @property
    def ok(self) -> bool:
        return self.first_divergence is None and all(_within(o, self.rtol) for o in self.outputs)

    def table(self, only_diverged: bool = False) -> str:
        """Markdown: one row per converted call output."""
        lines = ["| # | function | module | source | shape | max abs error | relative error | status |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if only_diverged and not r.diverged:
                continue
            lines.append(f"| {r.index} | {r.function} | {r.module_path or '<model>'} | {_short_location(r.location)} "
                         f"| {tuple(r.shape)} | {_fmt(r.max_abs)} | {_fmt(r.rel)} | {r.status} |")
        return "\n".join(lines)

    def summary(self) -> str:
        first = self.first_divergence
        n_calls = len({r.index for r in self.rows})
        lines = [f"{n_calls} converted calls compared (rtol {self.rtol:g})."]
        if first is None:
            lines.append("No call diverges from PyTorch beyond the tolerance.")
        else:
            n_bad = sum(r.diverged for r in self.rows)
            lines.append(f"First divergence: call #{first.index} {first.function} in module "
                         f"{first.module_path or '<model>'}")
            lines.append(f"  at {first.location}")
            lines.append(f"  relative error {_fmt(first.rel)} (max abs {_fmt(first.max_abs)}), tensor "
                         f"{first.tensor!r} {tuple(first.shape)}; {n_bad} call output(s) diverge in all")
        missing = sum(r.status == "not computed" for r in self.rows)
        if missing:
            lines.append(f"{missing} tensor(s) were not returned by the reference executor.")
        for o in self.outputs:
            lines.append(f"Model output {o.name}: relative error {_fmt(o.rel)}"
                         f"{'' if _within(o, self.rtol) else ' (beyond tolerance)'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary() + "\n\n" + self.table()

    def print(self, file=None, only_diverged: bool = False) -> None:
        file = file or sys.stdout
        print(self.summary(), file=file)
        print(file=file)
        print(self.table(only_diverged), file=file)


def _within(o: OutputError, rtol: float) -> bool:
    return o.same_layout and o.rel <= rtol


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def _short_location(location: str) -> str:
    """'path/to/file.py:12 (code)' -> 'file.py:12' for the table (the summary keeps it whole)."""
    head = location.split(" (", 1)[0]
    path, _, line = head.rpartition(":")
    return f"{os.path.basename(path)}:{line}" if path else head


def _user_location() -> str:
    """file:line (code) of the innermost frame outside torch and torch2trt: the model's own source.
    (Paths are compared with a trailing separator so that torchvision's files count as the model's.)"""
    for frame in reversed(traceback.extract_stack()):
        f = os.path.abspath(frame.filename)
        if f.startswith((_TORCH_DIR, _PKG_DIR)) or frame.filename.startswith("<"):
            continue
        return f"{frame.filename}:{frame.lineno} ({frame.line})" if frame.line else f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


@dataclass
class _Recorded:
    index: int
    call_name: str
    module_path: str
    location: str
    suffix: str
    itensor: Any
    value: torch.Tensor


def _recorder(records: list[_Recorded]) -> Callable[[Call], None]:
    counter = [0]

    def record(call: Call) -> None:
        index = counter[0]
        counter[0] += 1
        location = _user_location()
        outputs = [t for t in _tensors(call.result)]
        for i, t in enumerate(outputs):
            itensor = t.__dict__.get("_trt")
            if not isinstance(itensor, trt.ITensor):
                continue  # not (yet) a network tensor: nothing to compare
            suffix = f"[{i}]" if len(outputs) > 1 else ""
            # later in-place ops change the PyTorch tensor: keep its value as of this call
            records.append(_Recorded(index, call.name, call.module_path, location, suffix, itensor,
                                     t.detach().clone()))

    return record


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def compare(model: torch.nn.Module | Callable, inputs: list, rtol: float = 1e-5, *, verbose: bool = False,
            **convert_kwargs: Any) -> LayerwiseReport:
    """Convert `model` while recording every converted call, run the network once with the reference
    executor returning every tensor, and compare each call's PyTorch output with its network tensor.

    Returns a LayerwiseReport: `rows` (one per call output, in call order), `first_divergence` (the
    first row beyond `rtol`, with the torch function, module path and source line) and the model's
    `outputs` errors. Conv + batch-norm folding is off while recording (each call keeps its own tensor),
    so the network differs slightly from a plain conversion. `convert_kwargs` go to torch2trt().
    """
    from .convert import torch2trt
    from .network import reference

    if not isinstance(model, torch.nn.Module):
        model = FunctionModule(model).eval()
    records: list[_Recorded] = []
    convert_kwargs.setdefault("verify", False)  # this is the tool that looks closer; it reports, never raises
    with observe(_recorder(records)):
        model_trt = torch2trt(model, inputs, **convert_kwargs)
    flat_in, schema = structure.flatten(list(inputs))
    feeds = {n: t.detach().cpu() for n, t in zip(model_trt.input_names, flat_in)}
    values = reference.run(model_trt.network, feeds, intermediates=True)

    rows = []
    for rec in records:
        name = rec.itensor.name  # read now: marking outputs renames tensors after the call
        row = CallError(rec.index, rec.call_name + rec.suffix, rec.module_path, rec.location, name,
                        tuple(rec.value.shape), rec.value.dtype)
        got = values.get(name)
        if got is None:
            row.status = "not computed"
        else:
            err = compare_tensors(got, rec.value, name)
            row.max_abs, row.rel = err.max_abs, err.rel
            row.status = "diverged" if diverges(err, rtol) else "ok"
        rows.append(row)

    expected = run_preserved(model, *structure.unflatten(schema, [t.clone() for t in flat_in]))
    outputs = [compare_tensors(values[n], e, n) if n in values else
               OutputError(n, (), e.dtype, tuple(e.shape), e.dtype, math.inf, math.inf)
               for n, e in zip(model_trt.output_names, structure.flatten(expected)[0])]
    report = LayerwiseReport(rows, outputs, rtol, model_trt)
    if verbose:
        report.print()
    return report


def first_divergence(model: torch.nn.Module, sample: list, fresh: list, rtol: float = 1e-5,
                     **convert_kwargs: Any) -> CallError | None:
    """The first converted call whose network tensor, run at the `fresh` inputs, differs from what PyTorch
    computes for that call at those inputs — for a network traced at `sample`. Two traces align call by call
    (the sample's gives the network and its tensors, the fresh one PyTorch's values); a call where the sequences
    part means Python control flow took another path at the fresh inputs."""
    import warnings

    from .convert import _trace
    from .network import reference

    convert_kwargs = {k: v for k, v in convert_kwargs.items() if k in _TRACE_ARGS}
    at_sample: list[_Recorded] = []
    at_fresh: list[_Recorded] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with observe(_recorder(at_sample)):
            traced = _trace(model, sample, **convert_kwargs)
        with observe(_recorder(at_fresh)):
            _trace(model, fresh, **convert_kwargs)
    flat, _ = structure.flatten(list(fresh))
    values = reference.run(traced.network, {n: t.detach().cpu() for n, t in zip(traced.names_in, flat)},
                           intermediates=True)
    for a, b in zip(at_sample, at_fresh):
        row = CallError(a.index, a.call_name + a.suffix, a.module_path, a.location, a.itensor.name,
                        tuple(b.value.shape), b.value.dtype)
        if (a.index, a.call_name, a.suffix) != (b.index, b.call_name, b.suffix):
            row.status = "Python control flow took another path at the fresh inputs (the trace is one run)"
            return row
        got = values.get(row.tensor)
        if got is None:
            continue
        err = compare_tensors(got, b.value, row.tensor)
        row.max_abs, row.rel = err.max_abs, err.rel
        if diverges(err, rtol):
            row.status = "diverged"
            return row
    return None


_TRACE_ARGS = ("input_names", "output_names", "fp16_mode", "dtype", "min_shapes", "opt_shapes", "max_shapes",
               "max_batch_size")

__all__ = ["compare", "first_divergence", "LayerwiseReport", "CallError"]
