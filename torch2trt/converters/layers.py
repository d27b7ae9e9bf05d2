"""Layer-building helpers shared by every converter family (the one place for them): dtype rules, elementwise /
unary / select layers, reductions, reshape / transpose / concat / broadcast / slice, and the dims of network tensors.

Converter files say what maps to what (registration, argument checks); these functions build layers. They must
not register converters nor read the traced call's arguments."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..backend import trt
from ..tracing.context import _LazyDim, get_trt, torch_dtype_from_trt, torch_dtype_to_trt, trt_dims
from ..tracing.shapes import DynDim

U = trt.UnaryOperation
E = trt.ElementWiseOperation

# ---- dtype rules ------------------------------------------------------------------------------------------------
# dtypes TensorRT computes with plain arithmetic (int8 is a quantized type there; uint8/float64 have no arithmetic)
ARITHMETIC_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool)
REDUCED_FLOATS = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a composition of several layers computes in: float32 for float16/bfloat16 (rounded once at the
    end, as PyTorch's opmath computes reduced-precision math in float32), else `dtype` itself."""
    return torch.float32 if dtype in REDUCED_FLOATS else dtype


def require_arithmetic_dtype(ctx, dtype: torch.dtype) -> None:
    """Refuse a computation in a dtype TensorRT has no exact arithmetic for (float64, int8, uint8, ...)."""
    if dtype == torch.float64:
        raise ctx.unsupported(f"{ctx.method_name} in float64: TensorRT has no float64; run the model in float32")
    if dtype not in ARITHMETIC_DTYPES:
        raise ctx.unsupported(f"{ctx.method_name} on {dtype}: TensorRT has no plain {dtype} arithmetic "
                              "(int8 is quantized, uint8 has none); cast to int32 first")


def require_tensorrt_dtype(ctx, dtype: torch.dtype) -> None:
    """Refuse a result dtype TensorRT cannot hold at all (float64, int16, complex, ...); moving data is fine."""
    try:
        torch_dtype_to_trt(dtype)
    except TypeError:
        hint = "; keep float32 (TensorRT has no float64)" if dtype == torch.float64 else ""
        raise ctx.unsupported(f"{ctx.method_name} to {dtype}: TensorRT has no such type{hint}") from None


def float_input(ctx, x, out_dtype: torch.dtype):
    """(x in its compute dtype, that dtype) for a floating-point op whose result has `out_dtype`: x is rounded to
    `out_dtype` first (as PyTorch promotes), then held in compute_dtype(out_dtype). Integers are refused."""
    require_arithmetic_dtype(ctx, out_dtype)
    if not out_dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out_dtype}")
    compute = compute_dtype(out_dtype)
    return ctx.cast(ctx.trt(x, out_dtype), compute), compute


def set_output_in_result_dtype(ctx, itensor) -> None:
    """The call's output is `itensor` cast to the real result's dtype (the single rounding of a composition)."""
    ctx.set_output(ctx.method_return, ctx.cast(itensor, ctx.method_return.dtype))


def dtype_of(itensor) -> torch.dtype:
    return torch_dtype_from_trt(itensor.dtype)


# ---- elementwise ------------------------------------------------------------------------------------------------
def unary(ctx, itensor, op, name: str | None = None):
    """One UNARY layer."""
    layer = ctx.network.add_unary(itensor, op)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def elementwise(ctx, a, b, op, dtype: torch.dtype | None = None, name: str | None = None):
    """One ELEMENTWISE layer on ITensors / traced tensors / constants, brought to one rank; values become
    constants of `dtype` (default: a's dtype when a is an ITensor, else the call's result dtype)."""
    if dtype is None:
        dtype = dtype_of(a) if isinstance(a, trt.ITensor) else ctx.method_return.dtype
    ta, tb = ctx.operands(a, b, dtype=dtype)
    layer = ctx.network.add_elementwise(ta, tb, op)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def clamp(ctx, itensor, lo, hi, dtype: torch.dtype):
    """min(max(x, lo), hi) (MAX then MIN, as PyTorch: lo > hi gives hi); a None bound is left out."""
    if lo is not None:
        itensor = elementwise(ctx, itensor, lo, E.MAX, dtype)
    if hi is not None:
        itensor = elementwise(ctx, itensor, hi, E.MIN, dtype)
    return itensor


def select(ctx, cond, a, b):
    """cond ? a : b (one SELECT; the three are brought to one rank)."""
    ta, tb = ctx.broadcast(a, b)
    tc, ta = ctx.broadcast(cond, ta)
    tc, tb = ctx.broadcast(tc, tb)
    layer = ctx.network.add_select(tc, ta, tb)
    ctx.name_layer(layer, "select")
    return layer.get_output(0)


def trunc(ctx, x, dtype: torch.dtype):
    """x < 0 ? ceil(x) : floor(x) (TensorRT has no TRUNC; keeps -0.0 and NaN as PyTorch does)."""
    return select(ctx, elementwise(ctx, x, 0.0, E.LESS, dtype), unary(ctx, x, U.CEIL), unary(ctx, x, U.FLOOR))


def log1p(ctx, x, dtype: torch.dtype):
    """log1p(x) = x                      where u = 1 + x rounds to 1 (and at x = inf),
                  log(u) * (x / (u - 1))  elsewhere (Goldberg: the ratio cancels the rounding of 1 + x, so
                  small x keep full relative precision; log(1 + x) alone loses all of it)."""
    u = elementwise(ctx, x, 1.0, E.SUM, dtype)
    d = elementwise(ctx, u, 1.0, E.SUB, dtype)
    y = elementwise(ctx, unary(ctx, u, U.LOG), elementwise(ctx, x, d, E.DIV, dtype), E.PROD, dtype)
    plain = elementwise(ctx, elementwise(ctx, u, 1.0, E.EQUAL, dtype), elementwise(ctx, u, math.inf, E.EQUAL, dtype),
                        E.OR, torch.bool)
    return select(ctx, plain, x, y)


# ---- reductions ---------------------------------------------------------------------------------------------------
def reduce(ctx, itensor, op, axes: list[int], keepdim: bool, name: str | None = None):
    """One REDUCE layer over `axes` (nothing to do for no axes or a 0-d tensor)."""
    if not axes or len(itensor.shape) == 0:
        return itensor
    layer = ctx.network.add_reduce(itensor, op, sum(1 << a for a in axes), bool(keepdim))
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def reduce_axis(ctx, itensor, op, axis: int, keepdim: bool = False, name: str | None = None):
    """One REDUCE layer over the single (non-negative) `axis`."""
    layer = ctx.network.add_reduce(itensor, op, 1 << axis, keepdim)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


# ---- dims of network tensors --------------------------------------------------------------------------------------
def is_static(v) -> bool:
    """A size known at conversion (an int, not a DynDim)."""
    return isinstance(v, int) and not isinstance(v, DynDim)


def input_dims(ctx, itensor, sample_shape=None) -> list:
    """Per axis: the int where static in the network, else a lazily read dimension (a DynDim carrying the
    sample's value when `sample_shape` is given, so that it supports arithmetic)."""

    def dyn(i):
        if sample_shape is None:
            return _LazyDim(ctx, itensor, i)
        return DynDim(int(sample_shape[i]), lambda: ctx.dim_tensor(itensor, i), ctx, ("dim", id(itensor), i),
                      expr=("dim", itensor, i))

    return [d if d >= 0 else dyn(i) for i, d in enumerate(trt_dims(itensor))]


def sample_dims(ctx, itensor, sample_shape) -> list:
    """input_dims with DynDims (sample value + network value) for the dynamic axes, for size arithmetic."""
    return input_dims(ctx, itensor, sample_shape)


def _dim_op(ctx, a, b, pyop, op):
    """min/max/... of two sizes (ints or DynDims): a plain int when both are, else a DynDim (one layer)."""
    if is_static(a) and is_static(b):
        return pyop(a, b)

    def make():
        layer = ctx.network.add_elementwise(ctx.dim_value(a), ctx.dim_value(b), op)
        ctx.name_layer(layer, "dim_" + pyop.__name__)
        return layer.get_output(0)

    return DynDim(pyop(int(a), int(b)), make, ctx, expr=("op", pyop, a, b))


def dim_min(ctx, a, b):
    return _dim_op(ctx, a, b, min, E.MIN)


def dim_max(ctx, a, b):
    return _dim_op(ctx, a, b, max, E.MAX)


_BIG = 1 << 40  # larger than any size or index: v // _BIG is -1 for negative v and 0 otherwise


def wrap_index(v, n):
    """v < 0 ? v + n : v, also when the sign of a dynamic v is known only at run time."""
    if is_static(v):
        return v + n if v < 0 else v
    return v - (v // _BIG) * n


def slice_bounds(ctx, start, stop, step: int, n):
    """(start, size) of Python's slice(start, stop, step) (step > 0) on an axis of size n, as PyTorch clamps them:
    negative bounds count from the end, everything is clamped to [0, n]. Exact when bounds or n are dynamic."""
    if all(is_static(v) for v in (start, stop, n) if v is not None):
        start, stop, step = slice(start, stop, step).indices(n)
        return start, max(0, -(-(stop - start) // step))
    start = 0 if start is None else dim_min(ctx, dim_max(ctx, wrap_index(start, n), 0), n)
    stop = n if stop is None else dim_min(ctx, dim_max(ctx, wrap_index(stop, n), 0), n)
    size = stop - start if step == 1 else (stop - start + (step - 1)) // step
    return start, dim_max(ctx, size, 0)


def assert_dims(ctx, holds: bool, cond, message: str) -> None:
    """A run-time check of a shape condition the conversion relies on (an ASSERTION layer on a shape tensor: the
    builder checks it over the profile, the engine at run time). `holds` is its value at the sample."""
    if not holds:
        raise ctx.unsupported(message)
    layer = ctx.network.add_assertion(cond(), message)
    ctx.name_layer(layer, "assert_shape")


# ---- shuffles -----------------------------------------------------------------------------------------------------
def reshape(ctx, itensor, shape: Sequence, name: str = "reshape"):
    """Reshape to `shape`: ints (a 0 is an empty axis, as in torch; -1 once), DynDims or dims read from the
    network (input_dims). To keep an axis of the input as it is, pass input_dims(ctx, itensor)[axis]."""
    layer = ctx.network.add_shuffle(itensor)
    layer.zero_is_placeholder = False
    st = ctx.shape_tensor(list(shape))
    if st is None:
        layer.reshape_dims = tuple(int(s) for s in shape)
    else:
        layer.set_input(1, st)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def transpose(ctx, itensor, perm: Sequence[int]):
    """Permute the axes (output axis i is input axis perm[i]); no layer for the identity."""
    perm = [int(p) for p in perm]
    if perm == list(range(len(perm))):
        return itensor
    layer = ctx.network.add_shuffle(itensor)
    layer.first_transpose = trt.Permutation(perm)
    ctx.name_layer(layer, "permute")
    return layer.get_output(0)


def concat(ctx, itensors, axis: int):
    """One CONCATENATION along `axis` (no layer for a single tensor)."""
    if len(itensors) == 1:
        return itensors[0]
    layer = ctx.network.add_concatenation(list(itensors))
    layer.axis = axis
    ctx.name_layer(layer, "cat")
    return layer.get_output(0)


# ---- slices -------------------------------------------------------------------------------------------------------
def broadcast_to(ctx, itensor, sizes: Sequence, name: str | None = "expand"):
    """Repeat the size-1 axes of `itensor` (already of len(sizes) dims) to `sizes` (ints / DynDims / lazily read
    dims): one SLICE with stride 0 on those axes. An axis whose size is dynamic in the network may be 1 at one
    shape and the full size at another, so its stride is computed at run time: min(max(d - 1, 0), 1)."""
    rank = len(sizes)
    in_dims = trt_dims(itensor)
    st = ctx.shape_tensor(list(sizes))
    if st is None and -1 not in in_dims:
        stride = [0 if d == 1 and int(s) != 1 else 1 for d, s in zip(in_dims, sizes)]
        layer = ctx.network.add_slice(itensor, [0] * rank, [int(s) for s in sizes], stride)
        ctx.name_layer(layer, name)
        return layer.get_output(0)
    layer = ctx.network.add_slice(itensor, [0] * rank, [1] * rank, [1] * rank)
    layer.set_input(2, st if st is not None else ctx.constant(torch.tensor([int(s) for s in sizes])))
    if -1 in in_dims:
        d = elementwise(ctx, ctx.shape_of(itensor), 1, E.SUB, torch.int64)
        layer.set_input(3, elementwise(ctx, elementwise(ctx, d, 0, E.MAX, torch.int64), 1, E.MIN, torch.int64))
    else:
        layer.stride = [0 if d == 1 and not (is_static(s) and s == 1) else 1 for d, s in zip(in_dims, sizes)]
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def slice_layer(ctx, itensor, starts, sizes, strides, name: str, mode=None, fill=None):
    """One SLICE; each of starts / sizes / strides may hold DynDims or lazily read dims (then a shape tensor)."""
    rank = len(sizes)
    dyn = [not all(is_static(v) for v in values) for values in (starts, sizes, strides)]
    layer = ctx.network.add_slice(itensor, *[[int(v) for v in values] if not d else [0] * rank
                                             for values, d in zip((starts, sizes, strides), dyn)])
    for i, (values, d) in enumerate(zip((starts, sizes, strides), dyn)):
        if d:
            layer.set_input(i + 1, ctx.shape_tensor(values))
    if mode is not None:
        layer.mode = mode
    if fill is not None:
        layer.set_input(4, fill)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def slice_axis(ctx, itensor, axis: int, start, size, step: int = 1, name: str = "slice"):
    """Elements start, start + step, ... (size of them) along `axis`, every other axis whole (dynamic or not)."""
    dims = trt_dims(itensor)
    starts, sizes, strides = [0] * len(dims), input_dims(ctx, itensor), [1] * len(dims)
    starts[axis], sizes[axis], strides[axis] = start, size, step
    return slice_layer(ctx, itensor, starts, sizes, strides, name)


def filled(ctx, value, dtype: torch.dtype, sizes):
    """A tensor of `sizes` (ints or dynamic dims) holding `value` (a number or a traced 0-d tensor): a one-element
    constant repeated by a stride-0 slice, so that large or dynamic shapes cost no weights."""
    rank = len(sizes)
    if get_trt(value) is None:
        v = ctx.trt(torch.as_tensor(value).to(dtype).reshape((1,) * rank))
    else:
        v = ctx.trt(value, dtype)
        if tuple(v.shape) != (1,) * rank:
            v = reshape(ctx, v, (1,) * rank)
    if all(is_static(s) and s == 1 for s in sizes):  # also rank 0
        return v
    return broadcast_to(ctx, v, sizes, name="fill")
