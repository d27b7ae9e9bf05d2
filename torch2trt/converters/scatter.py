"""Scatter with accumulation and the index-write family: scatter_add, scatter_reduce (sum, prod, mean, amax, amin,
include_self both ways), index_add (alpha), index_copy, index_fill, slice_scatter, select_scatter,
diagonal_scatter, masked_scatter (constant mask) and index_put(accumulate=True) on one index tensor.

TensorRT's SCATTER has no accumulation and leaves duplicate indices unspecified, so the accumulating ops are a
reduction over a comparison mask: for every target position j along the scattered axis and every source element i,
(index[i] == j) selects src[i] (SELECT, not a product, so inf/NaN elsewhere do not leak), and one REDUCE over i
combines what reached j. Indices may be traced; their range checks are PyTorch's (out-of-range indices raise there,
and match no position here). Plain scatter and index_put without accumulation live in index.py.
"""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .shape import _static, input_dims, reshape, sample_dims, slice_layer, transpose
from .unary import COMPUTABLE, E, binary, select

R = trt.ReduceOperation


# ---- helpers -------------------------------------------------------------------------------------------
def _iota(ctx, n, dtype=torch.int32):
    """0 .. n - 1 along one axis (n an int or a DynDim)."""
    if _static(n):
        return ctx.trt(torch.arange(int(n), dtype=dtype))
    layer = ctx.network.add_fill((1,), trt.FillOperation.LINSPACE, ctx.trt_dtype(dtype))
    layer.set_input(0, ctx.trt(n, torch.int64, 1))
    layer.set_input(1, ctx.trt(torch.tensor(0, dtype=dtype)))
    layer.set_input(2, ctx.trt(torch.tensor([1], dtype=dtype)))
    ctx.name_layer(layer, "iota")
    return layer.get_output(0)


def _along(ctx, itensor, axis: int, rank: int):
    """A 1-d tensor laid along `axis` of a rank-`rank` tensor (size-1 elsewhere)."""
    shape = [1] * rank
    shape[axis] = -1
    return reshape(ctx, itensor, shape)


def _unsqueeze_last(ctx, itensor):
    return reshape(ctx, itensor, input_dims(ctx, itensor) + [1])


def _reduce(ctx, itensor, op, axis: int):
    layer = ctx.network.add_reduce(itensor, op, 1 << axis, False)
    ctx.name_layer(layer, "scatter_reduce")
    return layer.get_output(0)


def _check_dtype(ctx, dtype: torch.dtype) -> None:
    if dtype not in COMPUTABLE or dtype == torch.bool:
        raise ctx.unsupported(f"{ctx.method_name} on {dtype}: only float32/float16/bfloat16/int32/int64")


_IDENTITY = {"sum": 0, "mean": 0, "prod": 1}


def _lowest(dtype: torch.dtype, highest: bool):
    if dtype.is_floating_point:
        return float("inf") if highest else float("-inf")
    info = torch.iinfo(dtype)
    return info.max if highest else info.min


def accumulate_last(ctx, x_t, index_t, src_t, reduce: str, include_self: bool, dtype: torch.dtype):
    """The scatter-reduce of the last axis: x_t (..., n), index_t and src_t (..., k) (index_t broadcastable to
    src_t, int32 or int64): out[..., j] = reduce(x[..., j] if include_self, src[..., i] for index[..., i] == j);
    positions no index reaches keep x."""
    n = input_dims(ctx, x_t)[-1]
    rank = len(x_t.shape)
    cols = _along(ctx, _iota(ctx, n, torch.int64), rank, rank + 1)  # (1, ..., 1, n)
    hits = binary(ctx, _unsqueeze_last(ctx, ctx.cast(index_t, torch.int64)), cols, E.EQUAL, torch.int64)
    s = _unsqueeze_last(ctx, src_t)  # (..., k, 1)
    count = _reduce(ctx, ctx.cast(hits, torch.int32), R.SUM, rank - 1)  # (..., n)
    touched = binary(ctx, count, 0, E.GREATER, torch.int32)
    if reduce in ("sum", "mean", "prod"):
        neutral = ctx.trt(torch.tensor(_IDENTITY[reduce], dtype=dtype), rank=rank + 1)
        c = _reduce(ctx, select(ctx, hits, s, neutral), R.PROD if reduce == "prod" else R.SUM, rank - 1)
    else:
        highest = reduce == "amin"
        neutral = ctx.trt(torch.tensor(_lowest(dtype, highest), dtype=dtype), rank=rank + 1)
        c = _reduce(ctx, select(ctx, hits, s, neutral), R.MIN if highest else R.MAX, rank - 1)
    if reduce == "sum":
        combined = binary(ctx, x_t, c, E.SUM, dtype) if include_self else c
    elif reduce == "prod":
        combined = binary(ctx, x_t, c, E.PROD, dtype) if include_self else c
    elif reduce in ("amax", "amin"):
        combined = binary(ctx, x_t, c, E.MIN if reduce == "amin" else E.MAX, dtype) if include_self else c
    else:  # mean: integer division floors, as PyTorch's
        total = binary(ctx, x_t, c, E.SUM, dtype) if include_self else c
        if include_self:
            count = binary(ctx, count, 1, E.SUM, torch.int32)
        denominator = ctx.cast(binary(ctx, count, 1, E.MAX, torch.int32), dtype)
        combined = binary(ctx, total, denominator, E.DIV if dtype.is_floating_point else E.FLOOR_DIV, dtype)
    return select(ctx, touched, combined, x_t)


def last_writer(ctx, n, index_t, rank: int):
    """For a 1-d index (k,) and an axis of n positions: (n,) int32 the last i with index[i] == j (-1: none) —
    PyTorch's CPU loop writes in order, so the last duplicate wins."""
    hits = binary(ctx, _unsqueeze_last(ctx, ctx.cast(index_t, torch.int64)),
                  reshape(ctx, _iota(ctx, n, torch.int64), [1, -1]), E.EQUAL, torch.int64)  # (k, n)
    k = input_dims(ctx, index_t)[0]
    rows = reshape(ctx, _iota(ctx, k), [-1, 1])
    none = ctx.trt(torch.tensor([[-1]], dtype=torch.int32))
    return _reduce(ctx, select(ctx, hits, rows, none), R.MAX, 0)


def _perm_last(rank: int, axis: int) -> list:
    return [a for a in range(rank) if a != axis] + [axis]


def _inverse(perm: list) -> list:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _fit(ctx, itensor, sample_shape, target: list, fill):
    """Slice (start 0) to `target` dims, padding with `fill` where the tensor is smaller (a FILL-mode slice);
    nothing when the static shapes already agree."""
    if all(_static(t) for t in target) and -1 not in tuple(itensor.shape) and \
            [int(t) for t in target] == [int(s) for s in itensor.shape]:
        return itensor
    rank = len(target)
    fill_t = None if fill is None else ctx.trt(torch.tensor(fill, dtype=_torch_dtype(itensor)))
    return slice_layer(ctx, itensor, [0] * rank, target, [1] * rank, "scatter_fit",
                       mode=trt.SampleMode.FILL if fill is not None else None, fill=fill_t)


def _torch_dtype(itensor) -> torch.dtype:
    from ..tracing.context import torch_dtype_from_trt

    return torch_dtype_from_trt(itensor.dtype)


def _index_tensor(ctx, index):
    if not isinstance(index, torch.Tensor) or index.dtype not in (torch.int64, torch.int32):
        raise ctx.unsupported(f"{ctx.method_name}: index must be an int64 tensor")
    return ctx.trt(index)


def _scatter_reduce(ctx, x, dim: int, index, src, reduce: str, include_self: bool):
    out = ctx.method_return
    _check_dtype(ctx, out.dtype)
    if not isinstance(dim, int) or isinstance(dim, DynDim):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): only a constant dim")
    if x.dim() == 0:
        raise ctx.unsupported(f"{ctx.method_name} of a 0-d tensor")
    if index.dim() != x.dim():
        raise ctx.unsupported(f"{ctx.method_name}: index of rank {index.dim()} for input of rank {x.dim()}")
    rank = x.dim()
    axis = ctx.normalize_dim(dim, rank)
    xt = ctx.trt(x, out.dtype)
    it = _index_tensor(ctx, index)
    st = ctx.trt(src, out.dtype, rank)
    xdims, idims = sample_dims(ctx, xt, x.shape), sample_dims(ctx, it, index.shape)
    # index covers a corner of x on the other axes: pad it with -1 (matches no position) to x's extent, and cut
    # src to the same region (what src holds beyond index's extent is never read)
    region = [xdims[a] if a != axis else idims[a] for a in range(rank)]
    it = _fit(ctx, it, index.shape, region, -1)
    st = _fit(ctx, st, src.shape, region, 0)
    perm = _perm_last(rank, axis)
    res = accumulate_last(ctx, transpose(ctx, xt, perm), transpose(ctx, it, perm), transpose(ctx, st, perm), reduce,
                          include_self, out.dtype)
    return transpose(ctx, res, _inverse(perm))


def _src_arg(ctx, pos: int):
    return ctx.get_arg("src", pos)


@tensorrt_converter([torch.scatter_add, torch.Tensor.scatter_add, torch.Tensor.scatter_add_])
def convert_scatter_add(ctx):
    x, dim, index, src = ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2), _src_arg(ctx, 3)
    ctx.set_output(ctx.method_return, _scatter_reduce(ctx, x, dim, index, src, "sum", True))


@tensorrt_converter([torch.scatter_reduce, torch.Tensor.scatter_reduce, torch.Tensor.scatter_reduce_])
def convert_scatter_reduce(ctx):
    x, dim, index, src = ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2), _src_arg(ctx, 3)
    reduce, include_self = ctx.get_arg("reduce", 4), ctx.get_arg("include_self", 5, True)
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ctx.unsupported(f"{ctx.method_name}(reduce={reduce!r})")
    ctx.set_output(ctx.method_return, _scatter_reduce(ctx, x, dim, index, src, reduce, bool(include_self)))


# ---- index_* : a 1-d index along one axis -------------------------------------------------------------------
def _index_axis(ctx, x, dim, index):
    out = ctx.method_return
    if not isinstance(dim, int) or isinstance(dim, DynDim):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): only a constant dim")
    if index.dim() > 1:
        raise ctx.unsupported(f"{ctx.method_name}: index of rank {index.dim()} (PyTorch takes 0-d or 1-d)")
    rank = max(x.dim(), 1)
    axis = ctx.normalize_dim(dim, rank)
    xt = ctx.trt(x, out.dtype, rank) if x.dim() else reshape(ctx, ctx.trt(x, out.dtype), [1])
    it = _index_tensor(ctx, index)
    if index.dim() == 0:
        it = reshape(ctx, it, [1])
    return xt, it, rank, axis


def _restore_rank(ctx, itensor, x):
    return reshape(ctx, itensor, []) if x.dim() == 0 else itensor


def _source_like(ctx, source, rank: int, dtype):
    st = ctx.trt(source, dtype)
    return reshape(ctx, st, [1]) if len(st.shape) < rank else st


@tensorrt_converter([torch.index_add, torch.Tensor.index_add, torch.Tensor.index_add_])
def convert_index_add(ctx):
    """x.index_add(dim, index, source, alpha): alpha * source[i] is added in at index[i] (duplicates accumulate)."""
    x, dim, index, source = (ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2),
                             ctx.get_arg("source", 3))
    alpha = ctx.get_arg("alpha", 4, 1)
    out = ctx.method_return
    _check_dtype(ctx, out.dtype)
    xt, it, rank, axis = _index_axis(ctx, x, dim, index)
    st = _source_like(ctx, source, rank, out.dtype)
    if isinstance(alpha, torch.Tensor) or (not isinstance(alpha, (int, float)) or isinstance(alpha, DynDim)):
        raise ctx.unsupported(f"{ctx.method_name}(alpha={alpha!r}): only a constant number")
    if alpha != 1:
        st = binary(ctx, st, alpha, E.PROD, out.dtype)
    perm = _perm_last(rank, axis)
    lay = _along(ctx, it, rank - 1, rank)
    res = accumulate_last(ctx, transpose(ctx, xt, perm), lay, transpose(ctx, st, perm), "sum", True, out.dtype)
    ctx.set_output(out, _restore_rank(ctx, transpose(ctx, res, _inverse(perm)), x))


@tensorrt_converter([torch.index_copy, torch.Tensor.index_copy, torch.Tensor.index_copy_])
def convert_index_copy(ctx):
    """x.index_copy(dim, index, source): source[i] is written at index[i]; of duplicates the last wins (PyTorch's
    CPU order; PyTorch documents duplicates as unspecified)."""
    x, dim, index, source = (ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2),
                             ctx.get_arg("source", 3))
    out = ctx.method_return
    _check_dtype(ctx, out.dtype)
    xt, it, rank, axis = _index_axis(ctx, x, dim, index)
    st = _source_like(ctx, source, rank, out.dtype)
    n = sample_dims(ctx, xt, x.shape if x.dim() else (1,))[axis]
    writer = last_writer(ctx, n, it, rank)  # (n,)
    touched = _along(ctx, binary(ctx, writer, -1, E.GREATER, torch.int32), axis, rank)
    layer = ctx.network.add_gather(st, binary(ctx, writer, 0, E.MAX, torch.int32), axis)
    ctx.name_layer(layer, "index_copy")
    ctx.set_output(out, _restore_rank(ctx, select(ctx, touched, layer.get_output(0), xt), x))


@tensorrt_converter([torch.index_fill, torch.Tensor.index_fill, torch.Tensor.index_fill_])
def convert_index_fill(ctx):
    """x.index_fill(dim, index, value): positions index[i] (negative ones count from the end) become value."""
    x, dim, index, value = (ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2),
                            ctx.get_arg("value", 3))
    out = ctx.method_return
    if out.dtype != torch.bool:
        _check_dtype(ctx, out.dtype)
    xt, it, rank, axis = _index_axis(ctx, x, dim, index)
    n = sample_dims(ctx, xt, x.shape if x.dim() else (1,))[axis]
    it = ctx.cast(it, torch.int64)
    wrapped = select(ctx, binary(ctx, it, 0, E.LESS, torch.int64), binary(ctx, it, ctx.trt(n, torch.int64, 1), E.SUM,
                                                                          torch.int64), it)
    hits = binary(ctx, _unsqueeze_last(ctx, wrapped), reshape(ctx, _iota(ctx, n, torch.int64), [1, -1]), E.EQUAL,
                  torch.int64)
    filled = binary(ctx, _reduce(ctx, ctx.cast(hits, torch.int32), R.SUM, 0), 0, E.GREATER, torch.int32)
    v = ctx.trt(value, out.dtype, rank) if isinstance(value, torch.Tensor) else \
        ctx.trt(torch.tensor(value, dtype=out.dtype), rank=rank)
    ctx.set_output(out, _restore_rank(ctx, select(ctx, _along(ctx, filled, axis, rank), v, xt), x))
