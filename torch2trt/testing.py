"""Assertions for converter tests (ours and users'): convert with the real builder, run the network with
the reference executor, and compare with PyTorch — exact shapes and dtypes, tight tolerances."""

from __future__ import annotations

import re
from typing import Any, Callable

import torch

from .check import CheckReport, FunctionModule, check
from .tracing.context import ConversionError


def _as_module(fn: torch.nn.Module | Callable) -> torch.nn.Module:
    return (fn if isinstance(fn, torch.nn.Module) else FunctionModule(fn)).eval()


def assert_converts(fn: torch.nn.Module | Callable, inputs: list, *, rtol: float = 1e-5,
                    **convert_kwargs: Any) -> CheckReport:
    """Convert `fn` with sample `inputs` (engine built), then require every output of the reference run
    to have PyTorch's exact shape and dtype and ||out - ref|| / ||ref|| <= rtol (exact for int/bool)."""
    report = check(_as_module(fn), inputs, verbose=False, **convert_kwargs)
    assert report.outputs, "the model produced no outputs"
    for o in report.outputs:
        assert o.same_layout, (f"{o.name}: network gives {o.shape} {o.dtype}, PyTorch "
                               f"{o.expected_shape} {o.expected_dtype}")
        exact = not o.expected_dtype.is_floating_point
        bound = 0.0 if exact else rtol
        assert o.rel <= bound, f"{o.name}: relative error {o.rel:.3g} > {bound} (max abs {o.max_abs:.3g})\n" \
                               + report.table()
    return report


def assert_refuses(fn: torch.nn.Module | Callable, inputs: list, match: str, **convert_kwargs: Any) -> str:
    """Conversion must fail with a ConversionError whose message matches `match` (a regex)."""
    from .convert import torch2trt

    try:
        torch2trt(_as_module(fn), inputs, **convert_kwargs)
    except ConversionError as e:
        msg = str(e)
        assert re.search(match, msg), f"error message does not match {match!r}:\n{msg}"
        return msg
    raise AssertionError(f"conversion succeeded; expected a ConversionError matching {match!r}")
