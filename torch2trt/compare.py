"""Comparing a converted network's output with PyTorch's: the errors (`compare` -> OutputError) and when they count
as a divergence (`diverges`). Used by verification, `torch2trt.check` and the layer-wise debugger alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# integer and boolean outputs: the share of elements allowed to differ (ties decided by float rounding)
INT_MISMATCH = 1e-3


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


def diverges(err: OutputError, rtol: float, got: torch.Tensor | None = None,
             expected: torch.Tensor | None = None) -> bool:
    if not err.same_layout:
        return True
    if not (err.dtype.is_floating_point or err.expected_dtype.is_floating_point):
        if got is None or expected is None or expected.numel() == 0:
            return err.max_abs != 0
        return float((got.cpu() != expected.cpu()).double().mean()) > INT_MISMATCH
    return not err.rel <= rtol  # NaN counts as diverged


__all__ = ["OutputError", "compare", "diverges", "INT_MISMATCH"]
