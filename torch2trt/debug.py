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
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import layerwise, structure
from .check import FunctionModule
from .compare import OutputError, diverges
from .compare import compare as compare_tensors
from .convert import _trace, torch2trt
from .layerwise import CallError, _Recorded, _recorder
from .network import reference
from .runtime.module import TRTModule
from .tracing.mode import observe
from .tracing.preserve import run_preserved


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


def compare(model: torch.nn.Module | Callable, inputs: list, rtol: float = 1e-5, *, verbose: bool = False,
            **convert_kwargs: Any) -> LayerwiseReport:
    """Convert `model` while recording every converted call, run the network once with the reference
    executor returning every tensor, and compare each call's PyTorch output with its network tensor.

    Returns a LayerwiseReport: `rows` (one per call output, in call order), `first_divergence` (the
    first row beyond `rtol`, with the torch function, module path and source line) and the model's
    `outputs` errors. Conv + batch-norm folding is off while recording (each call keeps its own tensor),
    so the network differs slightly from a plain conversion. `convert_kwargs` go to torch2trt().
    """
    if not isinstance(model, torch.nn.Module):
        model = FunctionModule(model).eval()
    records: list[_Recorded] = []
    convert_kwargs.setdefault("verify", False)  # this is the tool that looks closer; it reports, never raises
    convert_kwargs["keep_network"] = True       # the recorded calls hold tensors of that network
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
    """The first converted call whose network tensor, run at the `fresh` inputs, differs from what PyTorch computes
    for that call at those inputs, for a network traced at `sample` (see torch2trt/layerwise.py)."""
    return layerwise.first_divergence(model, sample, fresh, rtol, trace=_trace, **convert_kwargs)


__all__ = ["compare", "first_divergence", "LayerwiseReport", "CallError"]
