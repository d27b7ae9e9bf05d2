"""Reduction converters: sum/mean/prod/nansum/nanmean/amax/amin/aminmax/max/min (values and indices),
argmax/argmin, std/var, logsumexp, norm, any/all, cumsum/cumprod and their inverse diff. Axes come from the call;
with no dim every axis is reduced (the original torch2trt reduced only axes 1..n). Reduced-precision floats
accumulate in float32, as PyTorch's."""

from __future__ import annotations

import math

import torch

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import spellings, tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    E,
    U,
    compute_dtype,
    concat,
    cumulative,
    dim_max,
    dim_min,
    elementwise,
    input_dims,
    iota,
    is_static,
    reduce,
    require_tensorrt_dtype,
    reshape,
    sample_dims,
    select,
    slice_axis,
    slice_layer,
    unary,
)

R = trt.ReduceOperation


# ---- helpers -------------------------------------------------------------------------------------------
def reduce_axes(ctx, x: torch.Tensor, dim, empty_means_all: bool = True) -> list[int]:
    """The sorted, non-negative axes a call reduces. `dim=None` reduces all; an empty list reduces all
    for sum-like ops and none for any/all (PyTorch's rules)."""
    rank = x.dim()
    if dim is None:
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not all(isinstance(d, int) for d in dims):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): named dimensions are not supported")
    if not dims:
        return list(range(rank)) if empty_means_all else []
    if rank == 0:
        return []
    return sorted({ctx.normalize_dim(d, rank) for d in dims})


def _keepdim(ctx, pos: int) -> bool:
    return bool(ctx.get_arg("keepdim", pos, False))


def _count(ctx, x: torch.Tensor, xt, axes: list[int]):
    """Number of elements the reduction over `axes` combines: an int, or a DynDim where an axis is dynamic."""
    dims = sample_dims(ctx, xt, x.shape)
    n = 1
    for a in axes:
        n = n * dims[a]
    return n


# ---- sum, mean, prod, nansum -----------------------------------------------------------------------------
def _not_nan(ctx, xt, acc, rank: int):
    """xt with its NaNs replaced by 0 (as nansum counts them), and the 0/1 flags of the other elements, in `acc`."""
    nan = unary(ctx, xt, U.ISNAN)
    return select(ctx, nan, ctx.trt(0.0, acc, rank), xt), ctx.cast(unary(ctx, nan, U.NOT), acc)


def _convert_accumulate(op, empty_means_all=True):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1, None), empty_means_all)
        keepdim = _keepdim(ctx, 2)
        require_tensorrt_dtype(ctx, out.dtype)
        acc = compute_dtype(out.dtype)
        if op == R.AVG and not acc.is_floating_point:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
        xt = ctx.trt(x, acc)
        if ctx.method_name.endswith("nansum") and acc.is_floating_point:
            xt, _ = _not_nan(ctx, xt, acc, x.dim())
        ctx.set_output(out, ctx.cast(reduce(ctx, xt, op, axes, keepdim), out.dtype))

    return convert


tensorrt_converter(spellings("sum"))(_convert_accumulate(R.SUM))
tensorrt_converter(spellings("nansum"))(_convert_accumulate(R.SUM))
tensorrt_converter(spellings("mean"))(_convert_accumulate(R.AVG))
tensorrt_converter(spellings("prod"))(_convert_accumulate(R.PROD))


@tensorrt_converter(spellings("nanmean"))
def convert_nanmean(ctx):
    """PyTorch's nansum(x, dim, keepdim, dtype) / (number of non-NaN elements): the sum rounded to the result dtype,
    then divided (an all-NaN slice is 0 / 0 = NaN)."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1, None), True)
    keepdim = _keepdim(ctx, 2)
    require_tensorrt_dtype(ctx, out.dtype)
    acc = compute_dtype(out.dtype)
    values, flags = _not_nan(ctx, ctx.cast(ctx.trt(x, out.dtype), acc), acc, x.dim())
    total = ctx.cast(ctx.cast(reduce(ctx, values, R.SUM, axes, keepdim, "nansum"), out.dtype), acc)
    count = reduce(ctx, flags, R.SUM, axes, keepdim, "count")
    ctx.set_output(out, ctx.cast(elementwise(ctx, total, count, E.DIV, acc), out.dtype))


# ---- amax, amin, max, min, argmax, argmin -----------------------------------------------------------------
def _extremum(ctx, xt, dtype, op, axes, keepdim):
    """MAX/MIN reduce; bool runs as int32 (TensorRT reduces numbers)."""
    if dtype == torch.bool:
        return ctx.cast(reduce(ctx, ctx.cast(xt, torch.int32), op, axes, keepdim), torch.bool)
    return reduce(ctx, xt, op, axes, keepdim)


def _nan_rows(ctx, xt, axis: int, keepdim: bool):
    """Bool: does the row along `axis` hold a NaN (PyTorch's max/min/argmax/argmin then answer NaN / its first
    index, whatever TensorRT's MAX/MIN reduce does with NaN)."""
    flags = ctx.cast(unary(ctx, xt, U.ISNAN), torch.int32)
    return ctx.cast(reduce(ctx, flags, R.MAX, [axis], keepdim, "has_nan"), torch.bool)


def _extremum_along(ctx, x, xt, op, axis: int, keepdim: bool):
    """max/min values along one axis, NaN where the row holds a NaN (as PyTorch)."""
    v = _extremum(ctx, xt, x.dtype, op, [axis], keepdim)
    if not x.dtype.is_floating_point:
        return v
    nan = ctx.trt(torch.tensor(float("nan"), dtype=x.dtype), rank=len(v.shape))
    return select(ctx, _nan_rows(ctx, xt, axis, keepdim), nan, v)


def axis_iota(ctx, xt, axis: int):
    """int32 0, 1, ..., n - 1 along `axis` of `xt` (size 1 elsewhere); a LINSPACE fill where n is dynamic."""
    rank, n = len(xt.shape), trt_dims(xt)[axis]
    shape = [1] * rank
    if n >= 0:
        shape[axis] = n
        return ctx.trt(torch.arange(n, dtype=torch.int32).reshape(shape))
    i = iota(ctx, input_dims(ctx, xt)[axis])
    if rank == 1:
        return i
    shape[axis] = -1
    return reshape(ctx, i, shape)


def _first_index(ctx, x, xt, op, axis: int, keepdim: bool):
    """Index of the first maximum (MAX) / minimum (MIN) along `axis`, int64, as PyTorch's: ties pick the first
    occurrence, and NaN counts as both the maximum and the minimum (the first NaN of a row wins):
    min over { i : x_i == extreme } of i, or over { i : x_i is NaN } in rows holding a NaN."""
    dtype = x.dtype
    if dtype == torch.bool:
        xt, dtype = ctx.cast(xt, torch.int32), torch.int32
    extreme = reduce(ctx, xt, op, [axis], True)
    hit = elementwise(ctx, xt, extreme, E.EQUAL, dtype)
    if dtype.is_floating_point:
        hit = select(ctx, _nan_rows(ctx, xt, axis, True), unary(ctx, xt, U.ISNAN), hit)
    none = ctx.trt(torch.tensor(2 ** 31 - 1, dtype=torch.int32), rank=x.dim())  # every row has a hit
    candidates = select(ctx, hit, axis_iota(ctx, xt, axis), none)
    return ctx.cast(reduce(ctx, candidates, R.MIN, [axis], keepdim, "first_index"), torch.int64)


def _convert_amax(op):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1, ()), True)
        ctx.set_output(out, _extremum(ctx, ctx.trt(x), x.dtype, op, axes, _keepdim(ctx, 2)))

    return convert


tensorrt_converter(spellings("amax"))(_convert_amax(R.MAX))
tensorrt_converter(spellings("amin"))(_convert_amax(R.MIN))


@tensorrt_converter(spellings("aminmax"))
def convert_aminmax(ctx):
    """(amin, amax) over all elements (dim=None) or one int dim, as amin/amax compute them (NaN propagates)."""
    x, (lo, hi) = ctx.get_arg("input", 0), ctx.method_return
    dim, keepdim = ctx.method_kwargs.get("dim"), bool(ctx.method_kwargs.get("keepdim", False))
    axes = reduce_axes(ctx, x, dim, True)
    xt = ctx.trt(x)
    ctx.set_output(lo, _extremum(ctx, xt, x.dtype, R.MIN, axes, keepdim))
    ctx.set_output(hi, _extremum(ctx, xt, x.dtype, R.MAX, axes, keepdim))


def _convert_max(op, elementwise_op):
    """torch.max(x) -> 0-d; torch.max(x, dim, keepdim) -> (values, indices); torch.max(x, other) -> elementwise."""
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        other = ctx.method_kwargs.get("other", ctx.method_args[1] if len(ctx.method_args) > 1 else None)
        if isinstance(other, torch.Tensor):
            dtype = out.dtype if out.dtype != torch.bool else torch.int32
            ctx.set_output(out, ctx.cast(elementwise(ctx, x, other, elementwise_op, dtype), out.dtype))
            return
        dim = ctx.get_arg("dim", 1, None)
        xt = ctx.trt(x)
        if dim is None:
            ctx.set_output(out, _extremum(ctx, xt, x.dtype, op, list(range(x.dim())), False))
            return
        if not isinstance(dim, int):
            raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): only an int dim")
        keepdim = _keepdim(ctx, 2)
        values, indices = out
        if x.dim() == 0:
            ctx.set_output(values, xt)
            ctx.set_output(indices, ctx.trt(torch.zeros((), dtype=torch.int64)))
            return
        axis = ctx.normalize_dim(dim, x.dim())
        ctx.set_output(values, _extremum_along(ctx, x, xt, op, axis, keepdim))
        ctx.set_output(indices, _first_index(ctx, x, xt, op, axis, keepdim))
        ctx.mark_selection(indices, xt, axis, keepdim)

    return convert


tensorrt_converter(spellings("max"))(_convert_max(R.MAX, E.MAX))
tensorrt_converter(spellings("min"))(_convert_max(R.MIN, E.MIN))


def _convert_argmax(op):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        dim = ctx.get_arg("dim", 1, None)
        keepdim = _keepdim(ctx, 2)
        xt = ctx.trt(x)
        if x.dim() == 0:
            ctx.set_output(out, ctx.trt(torch.zeros((), dtype=torch.int64)))
            return
        if dim is None:  # the index into the flattened tensor
            flat = torch.empty(x.numel(), dtype=x.dtype, device="meta")
            y = _first_index(ctx, flat, reshape(ctx, xt, (-1,)), op, 0, False)
            ctx.set_output(out, reshape(ctx, y, tuple(out.shape)) if keepdim else y)
            ctx.mark_selection(out, xt, None)
            return
        ctx.set_output(out, _first_index(ctx, x, xt, op, ctx.normalize_dim(dim, x.dim()), keepdim))
        ctx.mark_selection(out, xt, ctx.normalize_dim(dim, x.dim()), keepdim)

    return convert


tensorrt_converter(spellings("argmax"))(_convert_argmax(R.MAX))
tensorrt_converter(spellings("argmin"))(_convert_argmax(R.MIN))


# ---- var, std (and their _mean forms) ---------------------------------------------------------------------
def _var_args(ctx, x):
    """(axes, correction, keepdim) from every calling form: (x, unbiased), (x, dim, unbiased, keepdim),
    (x, dim, *, correction, keepdim)."""
    args = list(ctx.method_args[1:])
    dim, unbiased = ctx.method_kwargs.get("dim"), ctx.method_kwargs.get("unbiased")
    keepdim = ctx.method_kwargs.get("keepdim", False)
    if args and isinstance(args[0], bool):
        unbiased = args.pop(0)
    elif args:
        dim = args.pop(0)
        if args:
            unbiased = args.pop(0)
        if args:
            keepdim = args.pop(0)
    correction = ctx.method_kwargs.get("correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return reduce_axes(ctx, x, dim, True), correction, bool(keepdim)


def _variance(ctx, x, out_dtype):
    """(variance, mean) ITensors in the accumulate dtype: sum((x - mean)^2) / (N - correction)."""
    axes, correction, keepdim = _var_args(ctx, x)
    if not out_dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out_dtype}")
    acc = compute_dtype(out_dtype)
    xt = ctx.trt(x, acc)
    mean = reduce(ctx, xt, R.AVG, axes, True, "mean")
    d = elementwise(ctx, xt, mean, E.SUB, acc)
    ss = reduce(ctx, elementwise(ctx, d, d, E.PROD, acc), R.SUM, axes, keepdim, "sum_squares")
    count = _count(ctx, x, xt, axes)
    if isinstance(count, DynDim):  # a dynamic reduced axis: N - correction computed in the network
        n = ctx.trt(count, acc, len(ss.shape))
        divisor = elementwise(ctx, elementwise(ctx, n, float(correction), E.SUB, acc), 0.0, E.MAX, acc)
    else:
        divisor = float(max(count - correction, 0))
    var = elementwise(ctx, ss, divisor, E.DIV, acc)
    if not keepdim and axes and x.dim():
        mean = reduce(ctx, mean, R.MAX, axes, False, "squeeze")  # drops the size-1 axes, also dynamic ones
    return var, mean


def _convert_var(std: bool, with_mean: bool):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        first = out[0] if with_mean else out
        var, mean = _variance(ctx, x, first.dtype)
        y = unary(ctx, var, U.SQRT) if std else var
        ctx.set_output(first, ctx.cast(y, first.dtype))
        if with_mean:
            ctx.set_output(out[1], ctx.cast(mean, out[1].dtype))

    return convert


tensorrt_converter(spellings("var"))(_convert_var(False, False))
tensorrt_converter(spellings("std"))(_convert_var(True, False))
tensorrt_converter([torch.var_mean])(_convert_var(False, True))
tensorrt_converter([torch.std_mean])(_convert_var(True, True))


# ---- logsumexp ---------------------------------------------------------------------------------------------
def logsumexp(ctx, xt, axes: list[int], keepdim: bool, dtype):
    """m + log(sum(exp(x - m))) with m = max (0 where infinite), PyTorch's stable form."""
    m = reduce(ctx, xt, R.MAX, axes, True, "max")
    m = select(ctx, unary(ctx, m, U.ISINF), ctx.trt(0.0, dtype, len(m.shape)), m)
    s = reduce(ctx, unary(ctx, elementwise(ctx, xt, m, E.SUB, dtype), U.EXP), R.SUM, axes, keepdim, "sum")
    if not keepdim:
        m = reduce(ctx, m, R.MAX, axes, False, "squeeze")  # the size-1 axes go away, values unchanged
    return elementwise(ctx, unary(ctx, s, U.LOG), m, E.SUM, dtype)


@tensorrt_converter(spellings("logsumexp") + [torch.special.logsumexp])
def convert_logsumexp(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1), True)
    acc = compute_dtype(out.dtype)
    y = logsumexp(ctx, ctx.trt(x, acc), axes, _keepdim(ctx, 2), acc)
    ctx.set_output(out, ctx.cast(y, out.dtype))


# ---- norm --------------------------------------------------------------------------------------------------
def vector_norm(ctx, xt, p, axes: list[int], keepdim: bool, dtype):
    """||x||_p over `axes` for p in {inf, -inf, 0, positive numbers}."""
    a = unary(ctx, xt, U.ABS)
    if p == math.inf:
        return reduce(ctx, a, R.MAX, axes, keepdim, "norm")
    if p == -math.inf:
        return reduce(ctx, a, R.MIN, axes, keepdim, "norm")
    if p == 0:
        nz = ctx.cast(unary(ctx, elementwise(ctx, xt, 0.0, E.EQUAL, dtype), U.NOT), dtype)
        return reduce(ctx, nz, R.SUM, axes, keepdim, "norm")
    if p == 1:
        return reduce(ctx, a, R.SUM, axes, keepdim, "norm")
    if p == 2:
        return unary(ctx, reduce(ctx, elementwise(ctx, xt, xt, E.PROD, dtype), R.SUM, axes, keepdim, "norm"), U.SQRT)
    s = reduce(ctx, elementwise(ctx, a, float(p), E.POW, dtype), R.SUM, axes, keepdim, "norm")
    return elementwise(ctx, s, 1.0 / p, E.POW, dtype)


def _norm_call(ctx):
    """(input, p, dim, keepdim, dtype) of torch.norm / Tensor.norm / torch.linalg.vector_norm."""
    x = ctx.get_arg("input", 0)
    if ctx.method_name.endswith("vector_norm"):
        p = ctx.get_arg("ord", 1, 2)
    else:
        p = ctx.get_arg("p", 1, "fro")
    return x, p, ctx.get_arg("dim", 2, None), _keepdim(ctx, 3)


def vector_norm_p(ctx, p) -> float:
    """The p of a vector norm vector_norm computes: 'fro' / None are 2; strings (matrix norms), tensors and negative
    p other than -inf are refused."""
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ctx.unsupported(f"{ctx.method_name}(p={p!r}): only vector norms (numbers, inf, 'fro')")
    if not isinstance(p, (int, float)) or isinstance(p, DynDim):
        raise ctx.unsupported(f"{ctx.method_name}(p={p!r}): only a constant number")
    if p < 0 and p != -math.inf:
        raise ctx.unsupported(f"{ctx.method_name}(p={p}): negative p other than -inf")
    return float(p)


@tensorrt_converter([torch.norm, torch.Tensor.norm, torch.linalg.vector_norm])
def convert_norm(ctx):
    x, p, dim, keepdim = _norm_call(ctx)
    out = ctx.method_return
    p = vector_norm_p(ctx, p)
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    acc = compute_dtype(out.dtype)
    axes = reduce_axes(ctx, x, dim, True)
    ctx.set_output(out, ctx.cast(vector_norm(ctx, ctx.trt(x, acc), p, axes, keepdim, acc), out.dtype))


# ---- any, all, count_nonzero ------------------------------------------------------------------------------
def _convert_any(op):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1, None), False)
        keepdim = _keepdim(ctx, 2)
        flags = ctx.cast(ctx.cast(ctx.trt(x), torch.bool), torch.int32)
        ctx.set_output(out, ctx.cast(ctx.cast(reduce(ctx, flags, op, axes, keepdim), torch.bool), out.dtype))

    return convert


tensorrt_converter(spellings("any"))(_convert_any(R.MAX))
tensorrt_converter(spellings("all"))(_convert_any(R.MIN))


@tensorrt_converter(spellings("count_nonzero"))
def convert_count_nonzero(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    axes = reduce_axes(ctx, x, ctx.get_arg("dim", 1, None), True)
    flags = ctx.cast(ctx.cast(ctx.trt(x), torch.bool), torch.int64)
    ctx.set_output(out, reduce(ctx, flags, R.SUM, axes, False))


# ---- cumsum, cumprod -----------------------------------------------------------------------------------------
def cumulative_sum(ctx, xt, axis: int):
    return cumulative(ctx, xt, axis, name="cumsum")


def cumulative_prod(ctx, xt, axis: int, n: int, dtype):
    """Inclusive product scan (Hillis-Steele): y_i *= y_{i-s} for s = 1, 2, 4, ... — log2(n) slice+multiply
    pairs; the slice reads s places back and FILLs 1 before the start."""
    rank = len(xt.shape)
    one = ctx.trt(torch.tensor(1, dtype=dtype))
    s = 1
    while s < n:
        start = [0] * rank
        start[axis] = -s
        # dynamic axes other than `axis`: the size is xt's shape
        size = ctx.shape_of(xt) if -1 in trt_dims(xt) else tuple(int(d) for d in xt.shape)
        shifted = slice_layer(ctx, xt, start, size, [1] * rank, "cumprod_shift", mode=trt.SampleMode.FILL, fill=one)
        xt = elementwise(ctx, xt, shifted, E.PROD, dtype)
        s *= 2
    return xt


def _convert_cumulative(prod: bool):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        dim = ctx.get_arg("dim", 1)
        require_tensorrt_dtype(ctx, out.dtype)
        acc = compute_dtype(out.dtype)
        xt = ctx.trt(x, acc)
        if x.dim() == 0:
            ctx.set_output(out, ctx.cast(xt, out.dtype))
            return
        axis = ctx.normalize_dim(dim, x.dim())
        if prod:
            if trt_dims(xt)[axis] == -1:
                raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {axis}: the number of scan steps "
                                      "(log2 of the axis size) is fixed at conversion")
            y = cumulative_prod(ctx, xt, axis, int(x.shape[axis]), acc)
        else:
            y = cumulative_sum(ctx, xt, axis)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


tensorrt_converter(spellings("cumsum"))(_convert_cumulative(False))
tensorrt_converter(spellings("cumprod"))(_convert_cumulative(True))


@tensorrt_converter(spellings("diff"))
def convert_diff(ctx):
    """n-th forward difference along dim of cat(prepend, input, append): out[i] = t[i + 1] - t[i] (XOR for bool, as
    PyTorch), n times; each pass is two SLICEs of the (possibly dynamic) axis and one layer."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    n, dim = ctx.get_arg("n", 1, 1), ctx.get_arg("dim", 2, -1)
    prepend, append = ctx.get_arg("prepend", 3, None), ctx.get_arg("append", 4, None)
    if not isinstance(n, int) or isinstance(n, DynDim) or not isinstance(dim, int):
        raise ctx.unsupported(f"{ctx.method_name}(n={n!r}, dim={dim!r}): only constant ints")
    require_tensorrt_dtype(ctx, out.dtype)
    axis = ctx.normalize_dim(dim, x.dim())
    parts = [p for p in (prepend, x, append) if p is not None]
    if any(not isinstance(p, torch.Tensor) or p.dim() != x.dim() for p in parts):
        raise ctx.unsupported(f"{ctx.method_name}: prepend/append must be tensors of the input's rank")
    t = concat(ctx, [ctx.trt(p, x.dtype) for p in parts], axis)
    length = 0
    for p in parts:
        length = length + sample_dims(ctx, ctx.trt(p, x.dtype), p.shape)[axis]
    op = E.XOR if x.dtype == torch.bool else E.SUB
    for _ in range(n):
        if is_static(length) and length <= 1:     # nothing left to difference: empty along the axis
            t = slice_axis(ctx, t, axis, 0, 0, name="diff")
            break
        start = 1 if is_static(length) else dim_min(ctx, length, 1)   # a SLICE may not start past the end
        length = dim_max(ctx, length - 1, 0)
        t = elementwise(ctx, slice_axis(ctx, t, axis, start, length), slice_axis(ctx, t, axis, 0, length), op,
                        out.dtype, "diff")
    ctx.set_output(out, t)
