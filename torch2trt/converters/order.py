"""Order statistics by stable rank: kthvalue and median (with dim, or over all elements). Element i's rank along the
axis is #{j: x_j < x_i} + #{j < i: x_j == x_i}, NaN ranking above every number (as PyTorch sorts); the element of
rank k - 1 is gathered. Values are exact; among equal values the index is the first in index order, which PyTorch
does not specify (it points at an equal value). median returns NaN, at the first NaN, for a row holding one. The
ranked axis must be static (the comparison is n x n per row)."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import E, U, elementwise, gather, input_dims, reduce_axis, reshape, select, transpose, unary

R = trt.ReduceOperation


def _and(ctx, a, b):
    return elementwise(ctx, a, b, E.AND, torch.bool)


def _or(ctx, a, b):
    return elementwise(ctx, a, b, E.OR, torch.bool)


def _kth(ctx, xt, x_rank: int, k_of_n, dim, keepdim: bool, nan_wins: bool, values, indices=None):
    """Set `values` (and int64 `indices`) to the element of rank k_of_n(n) - 1 along dim of xt (rank x_rank)."""
    if values.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64):
        raise ctx.unsupported(f"{ctx.method_name} on {values.dtype}")
    if not isinstance(dim, int) or isinstance(dim, (bool, DynDim)):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): only a constant int")
    rank = max(x_rank, 1)
    if x_rank == 0:
        xt = reshape(ctx, xt, [1])
    axis = ctx.normalize_dim(dim, rank)
    n = trt_dims(xt)[axis]
    if n < 0:
        raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {axis}: only a static size there")
    k = k_of_n(n)
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = transpose(ctx, xt, perm)                                  # (..., n)
    dims = input_dims(ctx, moved)
    xi = reshape(ctx, moved, dims + [1])                             # (..., i, 1)
    xj = reshape(ctx, moved, dims[:-1] + [1, n])                     # (..., 1, j)
    dt = values.dtype
    before = ctx.trt(torch.arange(n)[None, :] < torch.arange(n)[:, None], rank=rank + 1)  # [i, j]: j < i
    below = _or(ctx, elementwise(ctx, xj, xi, E.LESS, dt), _and(ctx, elementwise(ctx, xj, xi, E.EQUAL, dt), before))
    if dt.is_floating_point:
        nan_i, nan_j = unary(ctx, xi, U.ISNAN), unary(ctx, xj, U.ISNAN)
        nan_below = _or(ctx, _and(ctx, nan_i, unary(ctx, nan_j, U.NOT)), _and(ctx, _and(ctx, nan_i, nan_j), before))
        below = _or(ctx, below, nan_below)
    ranks = reduce_axis(ctx, ctx.cast(below, torch.int32), R.SUM, rank)  # (..., n)
    i = ctx.trt(torch.arange(n, dtype=torch.int32), rank=rank)
    none = ctx.trt(torch.tensor(-1, dtype=torch.int32), rank=rank)
    hit = elementwise(ctx, ranks, k - 1, E.EQUAL, torch.int32)
    idx = reduce_axis(ctx, select(ctx, hit, i, none), R.MAX, rank - 1, True)
    if nan_wins and dt.is_floating_point:
        nan = unary(ctx, moved, U.ISNAN)
        first_nan = reduce_axis(ctx, select(ctx, nan, i, ctx.trt(torch.tensor(n, dtype=torch.int32), rank=rank)), R.MIN,
                            rank - 1, True)
        idx = select(ctx, elementwise(ctx, first_nan, n, E.LESS, torch.int32), first_nan, idx)
    v = gather(ctx, moved, idx, rank - 1, "kth", trt.GatherMode.ELEMENT)  # (..., 1)
    inv = [0] * rank
    for a, p in enumerate(perm):
        inv[p] = a

    def finish(t):
        t = transpose(ctx, t, inv)                                   # the kept axis back at `axis`, size 1
        if x_rank == 0 or not keepdim:
            t = reshape(ctx, t, [d for a, d in enumerate(input_dims(ctx, t)) if a != axis] if x_rank else [])
        return t

    ctx.set_output(values, finish(v))
    if indices is not None:
        ctx.set_output(indices, finish(ctx.cast(idx, torch.int64)))
        if x_rank:
            ctx.mark_selection(indices, xt, axis, keepdim)


@tensorrt_converter([torch.kthvalue, torch.Tensor.kthvalue])
def convert_kthvalue(ctx):
    x, k = ctx.get_arg("input", 0), ctx.get_arg("k", 1)
    dim, keepdim = ctx.get_arg("dim", 2, -1), bool(ctx.get_arg("keepdim", 3, False))
    if not isinstance(k, int) or isinstance(k, (bool, DynDim)):
        raise ctx.unsupported(f"{ctx.method_name}(k={k!r}): only a constant int")
    _kth(ctx, ctx.trt(x), x.dim(), lambda n: k, dim, keepdim, False, *ctx.method_return)


@tensorrt_converter([torch.median, torch.Tensor.median])
def convert_median(ctx):
    """The lower median (element (n - 1) // 2 in order); over all elements when no dim is given."""
    x, dim = ctx.get_arg("input", 0), ctx.get_arg("dim", 1, None)
    lower = lambda n: (n - 1) // 2 + 1  # noqa: E731
    if dim is None:
        xt = ctx.trt(x)
        if -1 in trt_dims(xt):
            raise ctx.unsupported(f"{ctx.method_name}() over all elements with dynamic shapes")
        _kth(ctx, reshape(ctx, xt, [x.numel()]), 1, lower, 0, False, True, ctx.method_return)
        return
    _kth(ctx, ctx.trt(x), x.dim(), lower, dim, bool(ctx.get_arg("keepdim", 2, False)), True, *ctx.method_return)
