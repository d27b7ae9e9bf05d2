"""Scatter with accumulation and the index-write family: scatter_add, scatter_reduce (sum, prod, mean, amax, amin,
include_self both ways), index_add (alpha), index_copy, index_fill, slice_scatter, select_scatter,
diagonal_scatter, masked_scatter (constant mask) and index_put(accumulate=True) on one index tensor.

TensorRT's SCATTER has no accumulation and leaves duplicate indices unspecified, so the accumulating ops are a
reduction over a comparison mask: for every target position j along the scattered axis and every source element i,
(index[i] == j) selects src[i] (SELECT, not a product, so inf/NaN elsewhere do not leak), and one REDUCE over i
combines what reached j. Indices may be traced; their range checks are PyTorch's (out-of-range indices raise there,
and match no position here). Plain scatter and index_put live in index.py, which calls index_put_accumulate
for one integer index tensor.
"""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    ARITHMETIC_DTYPES,
    E,
    broadcast_to,
    cumulative,
    elementwise,
    gather,
    input_dims,
    iota,
    is_static,
    reduce_axis,
    reshape,
    sample_dims,
    select,
    slice_layer,
    transpose,
)

R = trt.ReduceOperation


# ---- helpers -------------------------------------------------------------------------------------------
def _along(ctx, itensor, axis: int, rank: int):
    """A 1-d tensor laid along `axis` of a rank-`rank` tensor (size-1 elsewhere)."""
    shape = [1] * rank
    shape[axis] = -1
    return reshape(ctx, itensor, shape)


def _unsqueeze_last(ctx, itensor):
    return reshape(ctx, itensor, input_dims(ctx, itensor) + [1])


def _check_dtype(ctx, dtype: torch.dtype) -> None:
    if dtype not in ARITHMETIC_DTYPES or dtype == torch.bool:
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
    cols = _along(ctx, iota(ctx, n, torch.int64), rank, rank + 1)  # (1, ..., 1, n)
    hits = elementwise(ctx, _unsqueeze_last(ctx, ctx.cast(index_t, torch.int64)), cols, E.EQUAL, torch.int64)
    s = _unsqueeze_last(ctx, src_t)  # (..., k, 1)
    count = reduce_axis(ctx, ctx.cast(hits, torch.int32), R.SUM, rank - 1, name="scatter_reduce")  # (..., n)
    touched = elementwise(ctx, count, 0, E.GREATER, torch.int32)
    if reduce in ("sum", "mean", "prod"):
        neutral = ctx.trt(torch.tensor(_IDENTITY[reduce], dtype=dtype), rank=rank + 1)
        c = reduce_axis(ctx, select(ctx, hits, s, neutral), R.PROD if reduce == "prod" else R.SUM, rank - 1,
                        name="scatter_reduce")
    else:
        highest = reduce == "amin"
        neutral = ctx.trt(torch.tensor(_lowest(dtype, highest), dtype=dtype), rank=rank + 1)
        c = reduce_axis(ctx, select(ctx, hits, s, neutral), R.MIN if highest else R.MAX, rank - 1,
                        name="scatter_reduce")
    if reduce == "sum":
        combined = elementwise(ctx, x_t, c, E.SUM, dtype) if include_self else c
    elif reduce == "prod":
        combined = elementwise(ctx, x_t, c, E.PROD, dtype) if include_self else c
    elif reduce in ("amax", "amin"):
        combined = elementwise(ctx, x_t, c, E.MIN if reduce == "amin" else E.MAX, dtype) if include_self else c
    else:  # mean: integer division floors, as PyTorch's
        total = elementwise(ctx, x_t, c, E.SUM, dtype) if include_self else c
        if include_self:
            count = elementwise(ctx, count, 1, E.SUM, torch.int32)
        denominator = ctx.cast(elementwise(ctx, count, 1, E.MAX, torch.int32), dtype)
        combined = elementwise(ctx, total, denominator, E.DIV if dtype.is_floating_point else E.FLOOR_DIV, dtype)
    return select(ctx, touched, combined, x_t)


def last_writer(ctx, n, index_t, rank: int):
    """For a 1-d index (k,) and an axis of n positions: (n,) int32 the last i with index[i] == j (-1: none) —
    PyTorch's CPU loop writes in order, so the last duplicate wins."""
    hits = elementwise(ctx, _unsqueeze_last(ctx, ctx.cast(index_t, torch.int64)),
                       reshape(ctx, iota(ctx, n, torch.int64), [1, -1]), E.EQUAL, torch.int64)  # (k, n)
    k = input_dims(ctx, index_t)[0]
    rows = reshape(ctx, iota(ctx, k), [-1, 1])
    none = ctx.trt(torch.tensor([[-1]], dtype=torch.int32))
    return reduce_axis(ctx, select(ctx, hits, rows, none), R.MAX, 0, name="scatter_reduce")


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
    if all(is_static(t) for t in target) and -1 not in tuple(itensor.shape) and \
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
        st = elementwise(ctx, st, alpha, E.PROD, out.dtype)
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
    touched = _along(ctx, elementwise(ctx, writer, -1, E.GREATER, torch.int32), axis, rank)
    copied = gather(ctx, st, elementwise(ctx, writer, 0, E.MAX, torch.int32), axis, "index_copy")
    ctx.set_output(out, _restore_rank(ctx, select(ctx, touched, copied, xt), x))


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
    wrapped = select(ctx, elementwise(ctx, it, 0, E.LESS, torch.int64),
                     elementwise(ctx, it, ctx.trt(n, torch.int64, 1), E.SUM, torch.int64), it)
    hits = elementwise(ctx, _unsqueeze_last(ctx, wrapped), reshape(ctx, iota(ctx, n, torch.int64), [1, -1]), E.EQUAL,
                       torch.int64)
    count = reduce_axis(ctx, ctx.cast(hits, torch.int32), R.SUM, 0, name="scatter_reduce")
    filled = elementwise(ctx, count, 0, E.GREATER, torch.int32)
    v = ctx.trt(value, out.dtype, rank) if isinstance(value, torch.Tensor) else \
        ctx.trt(torch.tensor(value, dtype=out.dtype), rank=rank)
    ctx.set_output(out, _restore_rank(ctx, select(ctx, _along(ctx, filled, axis, rank), v, xt), x))


# ---- embedding a src: slice_scatter, select_scatter, diagonal_scatter -----------------------------------------
def _static_axis(ctx, xt, x, axis: int) -> int:
    n = trt_dims(xt)[axis]
    if n < 0:
        raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {axis}: only a static size there")
    return n


def _constant_int(ctx, name: str, value, allow_none: bool = True):
    if (value is None and allow_none) or (isinstance(value, int) and not isinstance(value, (bool, DynDim))):
        return value
    raise ctx.unsupported(f"{ctx.method_name}({name}={value!r}): only a constant int")


@tensorrt_converter([torch.slice_scatter, torch.Tensor.slice_scatter])
def convert_slice_scatter(ctx):
    """x with x[start:end:step] (along dim) replaced by src: src gathered along dim into x's positions and SELECTed
    where the slice lies (constant positions: dim's size must be static, the other axes may be dynamic)."""
    x, src, out = ctx.get_arg("input", 0), ctx.get_arg("src", 1), ctx.method_return
    dim = _constant_int(ctx, "dim", ctx.get_arg("dim", 2, 0), False)
    start = _constant_int(ctx, "start", ctx.get_arg("start", 3, None))
    end = _constant_int(ctx, "end", ctx.get_arg("end", 4, None))
    step = _constant_int(ctx, "step", ctx.get_arg("step", 5, 1), False)
    if out.dtype != torch.bool:
        _check_dtype(ctx, out.dtype)
    xt = ctx.trt(x, out.dtype)
    axis = ctx.normalize_dim(dim, x.dim())
    n = _static_axis(ctx, xt, x, axis)
    positions = range(*slice(start, end, step).indices(n))
    if len(positions) == 0:
        ctx.set_output(out, xt)
        return
    where = torch.zeros(n, dtype=torch.bool)
    where[list(positions)] = True
    source = ((torch.arange(n) - positions.start) // step).clamp(0, len(positions) - 1).to(torch.int32)
    spread = gather(ctx, ctx.trt(src, out.dtype), ctx.trt(source), axis, "slice_scatter")
    mask = _along(ctx, ctx.trt(where), axis, x.dim())
    ctx.set_output(out, select(ctx, mask, spread, xt))


@tensorrt_converter([torch.select_scatter, torch.Tensor.select_scatter])
def convert_select_scatter(ctx):
    """x with x.select(dim, index) replaced by src (src broadcast along dim, SELECTed at one position)."""
    x, src, out = ctx.get_arg("input", 0), ctx.get_arg("src", 1), ctx.method_return
    dim = _constant_int(ctx, "dim", ctx.get_arg("dim", 2), False)
    index = _constant_int(ctx, "index", ctx.get_arg("index", 3), False)
    if out.dtype != torch.bool:
        _check_dtype(ctx, out.dtype)
    xt = ctx.trt(x, out.dtype)
    axis = ctx.normalize_dim(dim, x.dim())
    n = _static_axis(ctx, xt, x, axis)
    st = ctx.trt(src, out.dtype)
    sdims = input_dims(ctx, st)
    st = reshape(ctx, st, sdims[:axis] + [1] + sdims[axis:])
    mask = _along(ctx, ctx.trt(torch.arange(n) == index % n), axis, x.dim())
    ctx.set_output(out, select(ctx, mask, st, xt))


@tensorrt_converter([torch.diagonal_scatter, torch.Tensor.diagonal_scatter])
def convert_diagonal_scatter(ctx):
    """x with x.diagonal(offset, dim1, dim2) replaced by src: src's last axis gathered onto the (dim1, dim2) plane
    (both sizes static) and SELECTed on the diagonal."""
    x, src, out = ctx.get_arg("input", 0), ctx.get_arg("src", 1), ctx.method_return
    offset = _constant_int(ctx, "offset", ctx.get_arg("offset", 2, 0), False)
    dim1 = _constant_int(ctx, "dim1", ctx.get_arg("dim1", 3, 0), False)
    dim2 = _constant_int(ctx, "dim2", ctx.get_arg("dim2", 4, 1), False)
    if out.dtype != torch.bool:
        _check_dtype(ctx, out.dtype)
    rank = x.dim()
    a1, a2 = ctx.normalize_dim(dim1, rank), ctx.normalize_dim(dim2, rank)
    xt = ctx.trt(x, out.dtype)
    n1, n2 = _static_axis(ctx, xt, x, a1), _static_axis(ctx, xt, x, a2)
    length = src.shape[-1]
    if length == 0:
        ctx.set_output(out, xt)
        return
    i, j = torch.arange(n1)[:, None], torch.arange(n2)[None, :]
    on_diagonal = (j - i) == offset
    k = (i if offset >= 0 else j).expand(n1, n2).clamp(0, length - 1).to(torch.int32)
    spread = gather(ctx, ctx.trt(src, out.dtype), ctx.trt(k), len(src.shape) - 1, "diagonal_scatter")  # (.., n1, n2)
    perm = [a for a in range(rank) if a not in (a1, a2)] + [a1, a2]
    placed = select(ctx, ctx.trt(on_diagonal, rank=rank), spread, transpose(ctx, xt, perm))
    ctx.set_output(out, transpose(ctx, placed, _inverse(perm)))


# ---- masked_scatter -------------------------------------------------------------------------------------------
@tensorrt_converter([torch.masked_scatter, torch.Tensor.masked_scatter, torch.Tensor.masked_scatter_])
def convert_masked_scatter(ctx):
    """x with the positions where mask holds (row-major order) taking source's elements one after another. The
    source position of each element is the count of true mask entries before it: computed here for a constant
    mask, an exclusive running sum (CUMULATIVE) for a traced one. Static shapes: the order runs over all axes."""
    x, mask, source, out = (ctx.get_arg("input", 0), ctx.get_arg("mask", 1), ctx.get_arg("source", 2),
                            ctx.method_return)
    if out.dtype != torch.bool:
        _check_dtype(ctx, out.dtype)
    ctx.require_static(x, mask, source)
    shape = tuple(out.shape)
    numel = out.numel()
    if numel == 0 or source.numel() == 0:
        ctx.set_output(out, ctx.trt(x, out.dtype))
        return
    xt = ctx.trt(x, out.dtype, len(shape))
    if tuple(x.shape) != shape:
        xt = select(ctx, ctx.trt(torch.ones(shape, dtype=torch.bool)), xt, ctx.trt(torch.zeros((), dtype=out.dtype),
                                                                                   rank=len(shape)))
    if get_trt(mask) is None:
        m = mask.expand(shape).reshape(-1)
        src_pos = ctx.trt((torch.cumsum(m.to(torch.int64), 0) - m.to(torch.int64)).clamp(max=source.numel() - 1)
                          .to(torch.int32))
        mask_t = ctx.trt(mask.expand(shape).contiguous())
    else:
        mask_t = ctx.trt(mask, rank=len(shape))
        if tuple(mask.shape) != shape:
            mask_t = select(ctx, mask_t, ctx.trt(torch.ones(shape, dtype=torch.bool)),
                            ctx.trt(torch.zeros(shape, dtype=torch.bool)))
        counts = reshape(ctx, ctx.cast(mask_t, torch.int32), [numel])
        positions = cumulative(ctx, counts, 0, exclusive=True, name="masked_scatter_positions")
        src_pos = elementwise(ctx, positions, source.numel() - 1, E.MIN, torch.int32)
    spread = gather(ctx, reshape(ctx, ctx.trt(source, out.dtype), [source.numel()]), src_pos, 0, "masked_scatter")
    ctx.set_output(out, select(ctx, mask_t, reshape(ctx, spread, list(shape)), xt))


# ---- index_put(accumulate=True) ---------------------------------------------------------------------------------
def index_put_accumulate(ctx, x, indices, values):
    """x.index_put((index,), values, accumulate=True): values (broadcast to index.shape + x.shape[1:]) added in at
    index along axis 0, duplicates accumulating, negative indices counting from the end. One integer index tensor
    only (several, or a bool mask, are refused)."""

    out = ctx.method_return
    _check_dtype(ctx, out.dtype)
    indices = tuple(indices)
    if len(indices) != 1 or not isinstance(indices[0], torch.Tensor) or indices[0].dtype not in (torch.int64,
                                                                                                   torch.int32):
        raise ctx.unsupported(f"{ctx.method_name}(accumulate=True): only one integer index tensor (for axis 0); "
                              "bool masks and several index tensors are not supported")
    index = indices[0]
    if x.dim() == 0:
        raise ctx.unsupported(f"{ctx.method_name}(accumulate=True) on a 0-d tensor")
    xt = ctx.trt(x, out.dtype)
    xdims = sample_dims(ctx, xt, x.shape)
    it = ctx.cast(ctx.trt(index), torch.int64)
    idims = sample_dims(ctx, it, index.shape)
    k = 1
    for d in idims:
        k = k * d
    it = reshape(ctx, it, [k])
    n = xdims[0]
    it = select(ctx, elementwise(ctx, it, 0, E.LESS, torch.int64),
                elementwise(ctx, it, ctx.trt(n, torch.int64, 1), E.SUM, torch.int64), it)
    target = idims + xdims[1:]
    vt = ctx.trt(values, out.dtype, len(target))
    vt = broadcast_to(ctx, vt, target)
    vt = reshape(ctx, vt, [k] + xdims[1:])
    rank = x.dim()
    perm = _perm_last(rank, 0)
    res = accumulate_last(ctx, transpose(ctx, xt, perm), _along(ctx, it, rank - 1, rank), transpose(ctx, vt, perm),
                          "sum", True, out.dtype)
    return transpose(ctx, res, _inverse(perm))
