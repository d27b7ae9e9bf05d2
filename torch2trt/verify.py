"""Verified by default: after the engine is built, the network is compared with PyTorch on inputs that are not
the sample, so that a conversion which is right only at the sample run is caught before it is returned.

Owns the fresh-input rule (also used by `torch2trt.check` and the CLI's `check`), the per-precision tolerances,
the comparison on the engine (where it runs) or the CPU reference executor, and the error that names the first
diverging call (found with `torch2trt.layerwise.first_divergence`).

Fresh inputs are drawn like the sample, with a fixed seed (the check is reproducible): floating tensors with the
sample's mean and standard deviation (over its finite values; 1 where it has none), integer tensors uniformly
within the sample's range, booleans at random; at the sample's shape when the profile is static, else at the
profile's min, opt and max shapes. Non-tensor arguments are the sample's (a call with others is refused anyway).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from . import structure
from .compare import INT_MISMATCH, OutputError, compare, diverges  # noqa: F401  (importable from here, as before)
from .errors import ConversionError
from .layerwise import first_divergence
from .tracing.preserve import run_preserved

# Relative error (Frobenius, over each output) allowed by precision: above what a correct conversion shows on the
# models we test (float32 <= 1.3e-5, float16 <= 1.6e-3, bfloat16 <= 1.3e-2) and far below what a value frozen from
# the sample gives (order 1).
DEFAULT_RTOL = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}
# INT8/FP8 networks (int8_mode, quantize=...) are approximate on purpose: the check only catches gross errors (a value
# frozen from the sample is order 1); their accuracy is measured with torch2trt.check on the user's data.
QUANTIZED_RTOL = 0.25
SEED = 20261201


@dataclass
class VerificationRun:
    inputs: list                       # the positional arguments of this run
    outputs: list[OutputError] = field(default_factory=list)
    executor: str = "reference"        # "engine" | "reference"
    skipped: str = ""                  # why this run was not compared (PyTorch raised on these inputs, ...)


@dataclass
class Verification:
    """The comparison of a converted module with PyTorch on fresh inputs (`TRTModule.verification`)."""
    runs: list[VerificationRun]
    rtol: float

    @property
    def inputs(self) -> list[list]:
        return [r.inputs for r in self.runs]

    @property
    def max_rel(self) -> float:
        return max((o.rel for r in self.runs for o in r.outputs), default=0.0)

    @property
    def compared(self) -> int:
        return sum(1 for r in self.runs if not r.skipped)

    def table(self) -> str:
        rows = ["| run | input shapes | executor | output | relative error | max abs error |",
                "|---|---|---|---|---|---|"]
        for i, r in enumerate(self.runs):
            shapes = ", ".join(str(tuple(t.shape)) for t in structure.flatten(r.inputs)[0])
            if r.skipped:
                rows.append(f"| {i} | {shapes} | - | - | skipped: {r.skipped} | - |")
            for o in r.outputs:
                rows.append(f"| {i} | {shapes} | {r.executor} | {o.name} | {o.rel:.3g} | {o.max_abs:.3g} |")
        return "\n".join(rows)


def default_rtol(model: torch.nn.Module, flat_in: list[torch.Tensor], dtype: torch.dtype | None) -> float:
    """The tolerance for the lowest floating precision the conversion computes in."""
    dtypes = {dtype} if dtype is not None else set()
    dtypes |= {t.dtype for t in flat_in if t.is_floating_point()}
    dtypes |= {p.dtype for p in model.parameters() if p.is_floating_point()}
    return max((DEFAULT_RTOL.get(d, DEFAULT_RTOL[torch.float32]) for d in dtypes), default=DEFAULT_RTOL[torch.float32])


def fresh_like(t: torch.Tensor, shape: Sequence[int], g: torch.Generator) -> torch.Tensor:
    """A new tensor of `shape` drawn like `t` (see the module docstring)."""
    shape = tuple(shape)
    src = t.detach().cpu()
    if t.dtype == torch.bool:
        out = torch.rand(shape, generator=g) < 0.5
    elif t.is_floating_point() or t.is_complex():
        finite = src[torch.isfinite(src)].double() if src.numel() else src.double()
        mean = float(finite.mean()) if finite.numel() else 0.0
        std = float(finite.std()) if finite.numel() > 1 else 0.0
        if not math.isfinite(std) or std == 0.0:
            std = abs(mean) or 1.0
        out = (torch.randn(shape, generator=g, dtype=torch.float64) * std + mean).to(t.dtype)
    else:
        lo, hi = (int(src.min()), int(src.max())) if src.numel() else (0, 0)
        out = torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int64).to(t.dtype)
    return out.to(t.device)


def fresh_inputs(inputs: Sequence[Any], profile: dict[str, tuple], names: list[str],
                 seed: int = SEED) -> list[list]:
    """Argument lists to verify with: one at the sample's shapes when the profile is static, else one at each
    of the profile's min, opt and max shapes."""
    flat, schema = structure.flatten(list(inputs))
    g = torch.Generator().manual_seed(seed)
    corners = [2] if all(p[0] == p[2] for p in profile.values()) else [0, 1, 2]
    runs = []
    for corner in corners:
        shapes = [tuple(t.shape) if profile[n][0] == profile[n][2] else tuple(profile[n][corner])
                  for n, t in zip(names, flat)]
        runs.append(structure.unflatten(schema, [fresh_like(t, s, g) for t, s in zip(flat, shapes)]))
    return runs


def _clone_args(args: Sequence[Any]) -> list:
    flat, schema = structure.flatten(list(args))
    return structure.unflatten(schema, [t.clone() for t in flat])


def run_converted(trt_module, args: Sequence[Any]) -> tuple[list[torch.Tensor], str]:
    """The converted module's flat outputs for `args`: on the engine where it runs, else the reference executor
    (without the one-time warning a user's call gives)."""
    runnable, _ = trt_module._engine_runnable()
    if runnable:
        flat, schema = structure.flatten(list(args))
        dev = torch.device("cuda")
        moved = structure.unflatten(schema, [t.to(dev) if t.device.type != "cuda" else t for t in flat])
        return structure.flatten(trt_module(*moved))[0], "engine"
    flat = trt_module._flatten_inputs(tuple(args))
    trt_module._check_inputs(flat, runnable=False)
    return trt_module._run_reference(flat), "reference"  # flat, in the output schema's order


def _runs_at(trt_module, args: Sequence[Any] | None) -> bool:
    if args is None:
        return True
    try:
        run_converted(trt_module, args)
    except Exception:  # noqa: BLE001
        return False
    return True


def compare_runs(model: torch.nn.Module, trt_module, arg_lists: Sequence[Sequence[Any]], names_out: list[str],
                 rtol: float, sample_args: Sequence[Any] | None = None
                 ) -> tuple[list[VerificationRun], list[tuple[int, OutputError]]]:
    """Run PyTorch (the model restored after each run) and the converted module on each argument list. Where the
    converted module raises, it is a conversion error if it runs at `sample_args`, else a skipped run."""
    runs, failures = [], []
    for args in arg_lists:
        run = VerificationRun(list(args))
        runs.append(run)
        try:
            expected = structure.flatten(run_preserved(model, *_clone_args(args)))[0]
        except Exception as e:  # noqa: BLE001  (the model itself rejects these inputs: nothing to compare)
            run.skipped = f"PyTorch raised {type(e).__name__}: {e}"
            continue
        try:
            got, run.executor = run_converted(trt_module, args)
        except Exception as e:  # noqa: BLE001
            if not _runs_at(trt_module, sample_args):
                # the executor cannot run this network at all (a layer it has no semantics for): not a mismatch
                run.skipped = f"the converted network cannot be run here ({type(e).__name__}: {e})"
                continue
            raise ConversionError(
                f"torch2trt: the converted network runs at the sample's shapes but fails on fresh inputs of shapes "
                f"{[tuple(t.shape) for t in structure.flatten(list(args))[0]]}: {type(e).__name__}: {e}\n"
                "A converter took a shape from the sample run that differs at these inputs (for example a size "
                "frozen where PyTorch's is dynamic). Report it with this message, or convert with static shapes."
            ) from None
        if len(got) != len(expected):
            raise ConversionError(f"the converted network returns {len(got)} tensors on fresh inputs, PyTorch "
                                  f"{len(expected)}")
        for g, e, n in zip(got, expected, names_out):
            err = compare(g, e.detach(), n)
            run.outputs.append(err)
            if diverges(err, rtol, g, e):
                failures.append((len(runs) - 1, err))
    return runs, failures


def verify_conversion(model: torch.nn.Module, trt_module, traced, inputs: Sequence[Any], *,
                      verify_inputs: Sequence[Sequence[Any]] | None = None, rtol: float | None = None,
                      trace: Callable[..., Any] | None = None, convert_kwargs: dict | None = None,
                      raise_on_mismatch: bool = True) -> Verification:
    """Compare `trt_module` with `model` on fresh inputs (or `verify_inputs`); raise a ConversionError naming
    the first diverging call on a mismatch beyond `rtol` (found by tracing again with `trace(model, inputs,
    **convert_kwargs)`, convert.py's `_trace`; without it, no call is named)."""
    if rtol is None:
        rtol = default_rtol(model, traced.flat_in, traced.dtype)
        if getattr(traced.ctx, "quantization", None) is not None:
            rtol = max(rtol, QUANTIZED_RTOL)
    if verify_inputs is None:
        arg_lists = fresh_inputs(inputs, traced.profile, traced.names_in)
    else:
        if isinstance(verify_inputs, (torch.Tensor, dict)) or not all(
                isinstance(a, (list, tuple)) for a in verify_inputs):
            raise TypeError("verify_inputs must be a list of argument lists, e.g. [[x1], [x2]]")
        arg_lists = [list(a) for a in verify_inputs]
    runs, failures = compare_runs(model, trt_module, arg_lists, traced.names_out, rtol, sample_args=list(inputs))
    result = Verification(runs, rtol)
    if not result.compared:
        warnings.warn("torch2trt: the conversion could not be verified on fresh inputs: "
                      + "; ".join(r.skipped for r in runs) + ". Pass verify_inputs=[[...]] the model accepts.",
                      stacklevel=3)
    if failures and raise_on_mismatch:
        raise ConversionError(_mismatch_message(model, inputs, runs, failures, rtol, trace, convert_kwargs or {}))
    return result


def _mismatch_message(model, inputs, runs, failures, rtol, trace, convert_kwargs) -> str:
    run_index, err = failures[0]
    run = runs[run_index]
    shapes = [tuple(t.shape) for t in structure.flatten(run.inputs)[0]]
    what = (f"shape {err.shape} {err.dtype} where PyTorch gives {err.expected_shape} {err.expected_dtype}"
            if not err.same_layout else f"relative error {err.rel:.3g} (max abs {err.max_abs:.3g}, tolerance {rtol:g})")
    lines = [f"torch2trt: the converted network differs from PyTorch on fresh inputs (drawn like the sample, input "
             f"shapes {shapes}), although it was built from the sample: output {err.name!r} {what}."]
    try:
        if trace is None:
            raise ValueError("no tracer given")
        first = first_divergence(model, inputs, run.inputs, rtol, trace=trace, **convert_kwargs)
    except Exception as e:  # noqa: BLE001  (the diagnosis must not hide the mismatch itself)
        first, why = None, f"({type(e).__name__}: {e})"
    else:
        why = ""
    if first is not None:
        lines.append(f"First diverging call: #{first.index} {first.function} in module {first.module_path or '<model>'}"
                     f" at {first.location}: {first.status}"
                     + (f", relative error {first.rel:.3g}" if first.status == "diverged" else "") + ".")
    else:
        lines.append(f"No single converted call could be named {why}".rstrip() + ".")
    lines.append("A converter took something from the sample run (a value, a shape or a Python argument) that differs "
                 "at other inputs. Report it with this message; pass verify_inputs=[[...]] to verify with your own "
                 "inputs, or verify=False to skip this check.")
    return "\n".join(lines)


__all__ = ["Verification", "VerificationRun", "verify_conversion", "fresh_inputs", "default_rtol"]
