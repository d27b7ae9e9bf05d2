"""Sorted-sequence lookups: bucketize and searchsorted, as counts of the boundaries below each value (a comparison
over a new last axis and one REDUCE): the boundary axis must be static; NaN values land past the end, as in PyTorch.
The result equals PyTorch's binary search whenever the boundaries are sorted, which both require."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import E, U, elementwise, input_dims, reduce_axis, reshape, select, unary


def _count_below(ctx, values, boundaries, right: bool, out_dtype, seq_nd: bool):
    """values (...,) against boundaries (m,) or (..., m) when seq_nd (then values is (..., k))."""
    dt = torch.promote_types(values.dtype, boundaries.dtype)
    if get_trt(boundaries) is not None:
        ctx.preconditions.append(f"{ctx.method_name}: the boundaries are sorted along their last axis")
    if dt not in (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64):
        raise ctx.unsupported(f"{ctx.method_name} on {dt}")
    vt, bt = ctx.trt(values, dt), ctx.trt(boundaries, dt)
    m = trt_dims(bt)[-1]
    if m < 0:
        raise ctx.unsupported(f"{ctx.method_name} with a dynamic number of boundaries")
    vrank = len(vt.shape)
    if vrank == 0:
        vt = reshape(ctx, vt, [1])
    v = reshape(ctx, vt, input_dims(ctx, vt) + [1])  # (..., k, 1)
    if seq_nd:
        b = reshape(ctx, bt, input_dims(ctx, bt)[:-1] + [1, m])  # (..., 1, m)
    else:
        b = ctx.trt(bt, rank=len(v.shape))
    below = elementwise(ctx, b, v, E.LESS, dt)
    if right:
        below = elementwise(ctx, below, elementwise(ctx, b, v, E.EQUAL, dt), E.OR, torch.bool)
    count = reduce_axis(ctx, ctx.cast(below, torch.int32), trt.ReduceOperation.SUM, len(v.shape) - 1, False)
    if dt.is_floating_point:
        count = select(ctx, unary(ctx, vt, U.ISNAN), ctx.trt(torch.tensor(m, dtype=torch.int32), rank=len(count.shape)),
                       count)
    if vrank == 0:
        count = reshape(ctx, count, [])
    return ctx.cast(count, out_dtype)


@tensorrt_converter([torch.bucketize])
def convert_bucketize(ctx):
    x, boundaries, out = ctx.get_arg("input", 0), ctx.get_arg("boundaries", 1), ctx.method_return
    right = bool(ctx.method_kwargs.get("right", False))
    if not isinstance(x, torch.Tensor) or boundaries.dim() != 1:
        raise ctx.unsupported(f"{ctx.method_name}: a tensor input and 1-d boundaries only")
    ctx.set_output(out, _count_below(ctx, x, boundaries, right, out.dtype, False))


@tensorrt_converter([torch.searchsorted])
def convert_searchsorted(ctx):
    seq, values, out = ctx.get_arg("sorted_sequence", 0), ctx.get_arg("input", 1), ctx.method_return
    kw = ctx.method_kwargs
    if kw.get("sorter") is not None:
        raise ctx.unsupported(f"{ctx.method_name}(sorter=...): sort the sequence first")
    side = kw.get("side")
    right = bool(kw.get("right", False)) or side == "right"
    if not isinstance(values, torch.Tensor):
        raise ctx.unsupported(f"{ctx.method_name} of a Python number")
    ctx.set_output(out, _count_below(ctx, values, seq, right, out.dtype, seq.dim() > 1))
