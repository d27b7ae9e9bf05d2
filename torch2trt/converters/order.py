"""Order statistics. topk, sort and argsort are TopK layers (stable=True: ties in index order, exactly; see
stable_sort_indices). kthvalue and median (with dim, or over all elements) are by stable rank: element i's rank
along the axis is #{j: x_j < x_i} + #{j < i: x_j == x_i}, NaN ranking above every number (as PyTorch sorts); the
element of rank k - 1 is gathered. Values are exact; among equal values the index is the first in index order,
which PyTorch does not specify (it points at an equal value). median returns NaN, at the first NaN, for a row
holding one. The ranked axis must be static (the comparison is n x n per row)."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import torch_dtype_from_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    E,
    U,
    elementwise,
    gather,
    input_dims,
    reduce_axis,
    reshape,
    sample_dims,
    scatter,
    select,
    slice_layer,
    topk,
    transpose,
    unary,
)

R = trt.ReduceOperation


# ---- topk, sort, argsort ---------------------------------------------------------------------------------------
@tensorrt_converter([torch.topk, torch.Tensor.topk])
def convert_topk(ctx):
    """TopK; among equal values the order (and which of them make the cut) is TensorRT's, which PyTorch does not
    specify either: values are exact, indices point at them."""
    x, k = ctx.get_arg("input", 0), ctx.get_arg("k", 1)
    dim, largest = ctx.get_arg("dim", 2, -1), ctx.get_arg("largest", 3, True)
    values, indices = ctx.method_return
    if x.dim() == 0:
        raise ctx.unsupported("topk of a 0-d tensor")
    if not ctx.get_arg("sorted", 4, True):
        raise ctx.unsupported("topk(sorted=False): the order PyTorch returns is unspecified")
    if isinstance(k, DynDim) or not isinstance(k, int):
        raise ctx.unsupported(f"topk(k={k!r}): only a constant k")
    xt, axis = ctx.trt(x), ctx.normalize_dim(dim, x.dim())
    v, i = _topk(ctx, xt, largest, k, axis, "topk")
    ctx.set_output(values, v)
    ctx.set_output(indices, ctx.cast(i, torch.int64))
    ctx.mark_selection(indices, xt, axis)


MAX_TOPK_K = 3840  # TensorRT: "Valid range of TopK K is [0, 3841)"


def _topk(ctx, xt, largest: bool, k: int, axis: int, name: str):
    """(values, int32 indices) of a TopK over `axis`. Among equal values TensorRT promises no order."""
    if int(k) > MAX_TOPK_K:
        raise ctx.unsupported(f"{ctx.method_name}: {int(k)} elements along axis {axis}; TensorRT's TopK takes at "
                              f"most {MAX_TOPK_K}")
    op = trt.TopKOperation.MAX if largest else trt.TopKOperation.MIN
    one_d = len(xt.shape) == 1   # TensorRT's TopK needs 2 dimensions or more: a 1-d input is one row
    if one_d:
        xt, axis = reshape(ctx, xt, [1] + input_dims(ctx, xt)), 1
    values, indices = topk(ctx, xt, op, k, axis, name)  # a dynamic k is read from the network
    if one_d:
        values, indices = (reshape(ctx, t, input_dims(ctx, t)[1:]) for t in (values, indices))
    return values, indices


def stable_sort_indices(ctx, xt, n, axis: int, descending: bool):
    """Indices that sort `xt` along `axis` keeping equal values in index order (torch.sort(stable=True)), exact for
    every dtype: one TopK orders the values (its tie order does not matter), the sorted run of equal values gets a
    group number g (0, 1, ...; NaNs form one group, -0.0 ties with 0.0), g goes back to each element's place, and a
    second TopK sorts the distinct integer keys g * n + i. Keys are < n * (n + 1) < 2**31 (n <= MAX_TOPK_K): exact
    int32, no collisions, and the order of distinct values is the first TopK's."""
    from .reduce import axis_iota, cumulative_sum

    rank = len(xt.shape)
    dtype = torch_dtype_from_trt(xt.dtype)
    values, order = _topk(ctx, xt, descending, n, axis, "sort_values")
    starts = [0] * rank
    starts[axis] = -1
    # values shifted one place along axis; place 0 sees itself (CLAMP): it starts a group anyway
    prev = slice_layer(ctx, values, starts, ctx.shape_of(values), [1] * rank, "sort_previous",
                       mode=trt.SampleMode.CLAMP)
    same = elementwise(ctx, values, prev, E.EQUAL, dtype)
    if dtype.is_floating_point:
        both_nan = elementwise(ctx, unary(ctx, values, U.ISNAN), unary(ctx, prev, U.ISNAN), E.AND, torch.bool)
        same = elementwise(ctx, same, both_nan, E.OR, torch.bool)
    iota = axis_iota(ctx, xt, axis)
    first = elementwise(ctx, iota, 0, E.EQUAL, torch.int32)
    new_group = ctx.cast(elementwise(ctx, unary(ctx, same, U.NOT), first, E.OR, torch.bool), torch.int32)
    group = cumulative_sum(ctx, new_group, axis)  # 1, 1, 2, 2, 2, 3, ... along the sorted axis
    back = scatter(ctx, order, order, group, trt.ScatterMode.ELEMENT, axis, "sort_groups")  # group of each element
    keys = elementwise(ctx, elementwise(ctx, back, n, E.PROD, torch.int32), iota, E.SUM, torch.int32)
    return _topk(ctx, keys, False, n, axis, "sort_stable")[1]


def _sort_args(ctx):
    """(input, axis, descending, stable) of torch.sort / Tensor.sort / argsort in every calling form."""
    x = ctx.get_arg("input", 0)
    dim, descending = ctx.get_arg("dim", 1, -1), ctx.get_arg("descending", 2, False)
    stable = ctx.method_kwargs.get("stable")
    if not isinstance(dim, int) or not isinstance(descending, bool):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}, descending={descending!r}): named dimensions "
                              "are not supported")
    if x.dim() == 0:
        raise ctx.unsupported(f"{ctx.method_name} of a 0-d tensor")
    return x, ctx.normalize_dim(dim, x.dim()), descending, bool(stable)


def _sorted(ctx, values_out, indices_out):
    x, axis, descending, stable = _sort_args(ctx)
    xt = ctx.trt(x)
    n = sample_dims(ctx, xt, x.shape)[axis]  # a DynDim along a dynamic axis: TopK's k from the network
    if stable:  # PyTorch's order among ties, exactly
        order = stable_sort_indices(ctx, xt, n, axis, descending)
        if values_out is not None:
            ctx.set_output(values_out, gather(ctx, xt, order, axis, "sort_gather", trt.GatherMode.ELEMENT))
    else:  # ties in TopK's order: PyTorch promises none; values sorted, indices consistent with them
        values, order = _topk(ctx, xt, descending, n, axis, "sort")
        if values_out is not None:
            ctx.set_output(values_out, values)
    ctx.set_output(indices_out, ctx.cast(order, torch.int64))
    ctx.mark_selection(indices_out, xt, axis)


@tensorrt_converter([torch.sort, torch.Tensor.sort])
def convert_sort(ctx):
    """sort as a TopK over the whole axis; stable=True breaks ties by index (see stable_sort_indices)."""
    values, indices = ctx.method_return
    _sorted(ctx, values, indices)


@tensorrt_converter([torch.argsort, torch.Tensor.argsort])
def convert_argsort(ctx):
    _sorted(ctx, None, ctx.method_return)


# ---- kthvalue, median by stable rank -------------------------------------------------------------------------
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
