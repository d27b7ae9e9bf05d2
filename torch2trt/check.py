"""`torch2trt.check(model, inputs)`: convert, run PyTorch and the CPU reference executor on the converted
network, and report per-output errors. It is how conversions are verified on a machine with no GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .compare import OutputError, compare  # noqa: F401  (importable from here, as before)
from .convert import torch2trt
from .runtime.module import TRTModule
from .runtime.saved import profile_of
from .verify import compare_runs, fresh_inputs


class FunctionModule(torch.nn.Module):
    """Wraps a plain function so that it can be converted like a model."""

    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


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


def run_reference(model_trt: TRTModule, inputs: list, dtype: torch.dtype | None = None) -> Any:
    """Run a converted module's network on the CPU (`TRTModule.run_reference`); outputs in the model's structure."""
    return model_trt.run_reference(*inputs, dtype=dtype)


def check(model: torch.nn.Module | Callable, inputs: list, *, verbose: bool = True,
          verify_inputs: list | None = None, model_trt: TRTModule | None = None,
          **convert_kwargs: Any) -> CheckReport:
    """Convert `model` (or take the converted `model_trt`, e.g. one loaded from a file, even without an engine),
    then compare PyTorch's outputs with the converted network (the engine where it runs, else the CPU reference
    executor) on the sample and on fresh inputs drawn like it — at the profile's min, opt and max shapes when it
    is dynamic (the rule of torch2trt's verification, torch2trt/verify.py) — or on `verify_inputs` (argument
    lists) instead of the fresh ones. `report.outputs` holds, per output, the worst run; `report.runs` every run.
    Nothing is raised on a mismatch: the report says it."""
    if not isinstance(model, torch.nn.Module):
        model = FunctionModule(model).eval()
    convert_kwargs.pop("verify", None)
    if model_trt is None:
        model_trt = torch2trt(model, inputs, verify=False, **convert_kwargs)
    elif convert_kwargs:
        raise TypeError(f"check(..., model_trt=...) compares a converted module; conversion arguments "
                        f"({', '.join(sorted(convert_kwargs))}) do not apply to it")
    profile = profile_of(model_trt.input_specs)
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
