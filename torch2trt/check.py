"""`torch2trt.check(model, inputs)`: convert, run PyTorch and the CPU reference executor on the converted
network, and report per-output errors. It is how conversions are verified on a machine with no GPU.
"""

from __future__ import annotations

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
          **convert_kwargs: Any) -> CheckReport:
    """Convert `model`, then compare PyTorch's outputs with the reference execution of the network."""
    if not isinstance(model, torch.nn.Module):
        model = FunctionModule(model).eval()
    model_trt = torch2trt(model, inputs, **convert_kwargs)
    flat_in, schema = structure.flatten(list(inputs))
    with torch.no_grad():
        expected = model(*structure.unflatten(schema, [t.clone() for t in flat_in]))
    got = run_reference(model_trt, inputs)
    flat_got, _ = structure.flatten(got)
    flat_exp, _ = structure.flatten(expected)
    report = CheckReport(model_trt, [compare(g, e, n) for g, e, n in
                                     zip(flat_got, flat_exp, model_trt.output_names)])
    if verbose:
        print(report.table())
    return report
