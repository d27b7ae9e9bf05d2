"""`torch2trt.check(model, inputs)`: convert, run PyTorch and the CPU reference executor on the converted
network, and report per-output errors. It is how conversions are verified on a machine with no GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .convert import torch2trt
from .runtime.module import TRTModule
from .tracing import structure


class FunctionModule(torch.nn.Module):
    """Wraps a plain function so that it can be converted like a model."""

    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


@dataclass
class OutputError:
    name: str
    shape: tuple
    dtype: torch.dtype
    expected_shape: tuple
    expected_dtype: torch.dtype
    max_abs: float
    rel: float          # ||out - ref|| / ||ref|| (Frobenius), 0 when both are zero

    @property
    def same_layout(self) -> bool:
        return self.shape == self.expected_shape and self.dtype == self.expected_dtype


@dataclass
class CheckReport:
    model_trt: TRTModule
    outputs: list[OutputError] = field(default_factory=list)
    runs: list = field(default_factory=list)   # verify.VerificationRun per argument list (the sample first)

    @property
    def max_rel(self) -> float:
        return max((o.rel for o in self.outputs), default=0.0)

    def table(self) -> str:
        rows = ["| output | shape | dtype | max abs error | relative error |", "|---|---|---|---|---|"]
        for o in self.outputs:
            shape = str(o.shape) if o.shape == o.expected_shape else f"{o.shape} (PyTorch {o.expected_shape})"
            dtype = str(o.dtype) if o.dtype == o.expected_dtype else f"{o.dtype} (PyTorch {o.expected_dtype})"
            rows.append(f"| {o.name} | {shape} | {dtype} | {o.max_abs:.3g} | {o.rel:.3g} |")
        return "\n".join(rows)


def compare(out: torch.Tensor, ref: torch.Tensor, name: str = "output") -> OutputError:
    """Errors of `out` against `ref` (computed in float64)."""
    out, ref = out.detach(), ref.detach()
    layout_ok = tuple(out.shape) == tuple(ref.shape)
    if layout_ok and out.numel():
        diff = out.double() - ref.double()
        if out.dtype == torch.bool or ref.dtype == torch.bool:
            diff = (out != ref).double()
        both_inf = torch.isinf(out.double()) & torch.isinf(ref.double()) & (out.double() == ref.double())
        both_nan = torch.isnan(out.double()) & torch.isnan(ref.double())
        diff = torch.where(both_inf | both_nan, torch.zeros_like(diff), diff)
        max_abs = float(diff.abs().max())
        ref_norm = float(torch.where(torch.isfinite(ref.double()), ref.double(), 0).norm())
        err_norm = float(diff.norm())
        rel = 0.0 if err_norm == 0 else (err_norm / ref_norm if ref_norm else float("inf"))
    else:
        max_abs = rel = 0.0 if layout_ok else float("inf")
    return OutputError(name, tuple(out.shape), out.dtype, tuple(ref.shape), ref.dtype, max_abs, rel)


def run_reference(model_trt: TRTModule, inputs: list, dtype: torch.dtype | None = None) -> Any:
    """Run a converted module's kept network on the CPU; returns outputs in the model's structure."""
    from .network import reference

    if model_trt.network is None:
        raise ValueError("the module keeps no network (converted with keep_network=False)")
    flat, _ = structure.flatten(list(inputs))
    results = reference.run(model_trt.network, {n: t.detach().cpu() for n, t in
                                                zip(model_trt.input_names, flat)}, dtype=dtype)
    return structure.unflatten(model_trt.output_schema, [results[n] for n in model_trt.output_names])


def check(model: torch.nn.Module | Callable, inputs: list, *, verbose: bool = True,
          verify_inputs: list | None = None, **convert_kwargs: Any) -> CheckReport:
    """Convert `model`, then compare PyTorch's outputs with the converted network (the engine where it runs,
    else the CPU reference executor) on the sample and on fresh inputs drawn like it — at the profile's min, opt
    and max shapes when it is dynamic (the rule of torch2trt's verification, torch2trt/verify.py) — or on
    `verify_inputs` (argument lists) instead of the fresh ones. `report.outputs` holds, per output, the worst run;
    `report.runs` every run. Nothing is raised on a mismatch: the report says it."""
    from .verify import compare_runs, fresh_inputs

    if not isinstance(model, torch.nn.Module):
        model = FunctionModule(model).eval()
    convert_kwargs.pop("verify", None)
    model_trt = torch2trt(model, inputs, verify=False, **convert_kwargs)
    profile = {s["name"]: (s["min"], s["opt"], s["max"]) for s in model_trt.input_specs}
    others = fresh_inputs(inputs, profile, model_trt.input_names) if verify_inputs is None else list(verify_inputs)
    runs, _ = compare_runs(model, model_trt, [list(inputs)] + [list(a) for a in others], model_trt.output_names,
                           sample_args=list(inputs),
                           rtol=math.inf)
    worst: dict[str, OutputError] = {}
    for run in runs:
        for o in run.outputs:
            if o.name not in worst or not (o.same_layout and o.rel <= worst[o.name].rel):
                worst[o.name] = o
    report = CheckReport(model_trt, [worst[n] for n in model_trt.output_names if n in worst], runs)
    if verbose:
        print(report.table())
    return report
