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


def randomize_norm_statistics(model: torch.nn.Module, seed: int = 0) -> None:
    """Give batch norms random running statistics and affine parameters: with a fresh model's (mean 0,
    variance 1, weight 1, bias 0) normalization is nearly the identity and checks would not exercise it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def assert_converts_dynamic_batch(fn: torch.nn.Module | Callable, sample: torch.Tensor, other: torch.Tensor,
                                  rtol: float = 1e-5) -> None:
    """Converted with a dynamic batch axis (1..4), the network matches PyTorch at another batch size too."""
    from .check import compare, run_reference
    from .convert import torch2trt
    from .tracing import structure

    module = _as_module(fn)
    shape = tuple(sample.shape)
    model_trt = torch2trt(module, [sample], min_shapes=[(1,) + shape[1:]], max_shapes=[(4,) + shape[1:]])
    assert tuple(model_trt.network.get_input(0).shape)[0] == -1
    got, _ = structure.flatten(run_reference(model_trt, [other]))
    with torch.no_grad():
        expected, _ = structure.flatten(module(other))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        err = compare(g, e)
        assert err.same_layout and err.rel <= rtol, err
