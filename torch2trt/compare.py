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
    # the second look at an output beyond the tolerance (verify.py): the converted output's relative error against
    # a higher-precision PyTorch reference, PyTorch's own error at the converted precision against the same
    # reference, the error allowed from those, and how the output was judged
    ref_rel: float | None = None
    torch_rel: float | None = None
    allowed: float | None = None
    verdict: str = ""   # "" (within the tolerance) | "tie" | "same set" | "PyTorch's own error" | "diverged"

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
        return mismatch(got, expected) > INT_MISMATCH
    return not err.rel <= rtol  # NaN counts as diverged


def mismatch(got: torch.Tensor, expected: torch.Tensor) -> float:
    """The share of elements that differ (integer and boolean outputs)."""
    if got.numel() == 0:
        return 0.0
    return float((got.cpu() != expected.cpu()).double().mean())


def ties(values: torch.Tensor, got_index: torch.Tensor, expected_index: torch.Tensor, axis: int, rtol: float) -> bool:
    """Whether two index tensors into `values` along `axis` (argmax, topk, sort) select the same values within
    `rtol` of the largest magnitude along that axis: the indices then differ only where the values tie."""
    got_index, expected_index = got_index.long().cpu(), expected_index.long().cpu()
    values = values.detach().cpu()
    n = values.shape[axis] if values.dim() else 1
    if got_index.shape != expected_index.shape or expected_index.numel() == 0:
        return got_index.shape == expected_index.shape
    if bool(((expected_index < 0) | (expected_index >= n)).any()):
        return False
    if got_index.dim() != values.dim():
        return False
    # gather needs the index's shape to fit values except along axis
    if any(g > v for i, (g, v) in enumerate(zip(got_index.shape, values.shape)) if i != axis % values.dim()):
        return False
    v = values.double()
    picked_got, picked_expected = v.gather(axis, got_index), v.gather(axis, expected_index)
    if not values.is_floating_point():
        return bool((picked_got == picked_expected).all())
    finite = torch.where(torch.isfinite(v), v, torch.zeros_like(v))
    scale = finite.abs().amax(dim=axis, keepdim=True)
    scale = scale.narrow(axis, 0, 1).expand_as(picked_got) if scale.shape != picked_got.shape else scale
    same = (picked_got == picked_expected) | (torch.isnan(picked_got) & torch.isnan(picked_expected))
    return bool((same | ((picked_got - picked_expected).abs() <= rtol * scale)).all())


def same_set(got: list[torch.Tensor], expected: list[torch.Tensor], keys: list[torch.Tensor], rtol: float
             ) -> list[int] | None:
    """Rows (axis 0) of several outputs of the same length, as a model orders them by scores that tie (detections:
    boxes, scores, labels): the permutation of the converted rows that makes every output match PyTorch's within
    `rtol`, when one exists and moves rows only among rows whose score (one of `keys`, PyTorch's 1-d float outputs
    of that length) ties within `rtol` of the largest score; else None."""
    n = expected[0].shape[0]
    if n < 2 or not keys:
        return None

    def rows(ts):
        return torch.cat([t.detach().cpu().double().reshape(n, -1) for t in ts], dim=1)

    a, b = rows(expected), rows(got)
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return None
    dist = torch.cdist(a, b)
    match = dist.argmin(dim=1)
    if len(set(match.tolist())) != n:
        return None
    moved = torch.nonzero(match != torch.arange(n)).flatten()
    if moved.numel() == 0:
        return None
    tied = False
    for key in keys:
        k = key.detach().cpu().double()
        scale = float(k.abs().max()) or 1.0
        if bool(((k[moved] - k[match[moved]]).abs() <= rtol * scale).all()):
            tied = True
            break
    if not tied:
        return None
    for g, e in zip(got, expected):
        if diverges(compare(g[match], e), rtol, g[match], e):
            return None
    return match.tolist()


__all__ = ["OutputError", "compare", "diverges", "mismatch", "ties", "same_set", "INT_MISMATCH"]
