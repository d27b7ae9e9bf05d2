"""Layer-building helpers shared by every converter family (the one place for them): dtype rules, elementwise /
unary / select layers, reductions, reshape / transpose / concat / broadcast / slice, gather / scatter, matrix
products, fills, the layers of one kind each (activation, softmax, pooling, convolution, ...), and the dims of
network tensors.

Converter files say what maps to what (registration, argument checks); these functions build layers. They must
not register converters nor read the traced call's arguments. No converter module calls `network.add_*` itself
(tests/test_layering.py enforces it, with its list of exceptions)."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..backend import trt
from ..tracing.context import _LazyDim, get_trt, torch_dtype_from_trt, torch_dtype_to_trt, trt_dims
from ..tracing.shapes import DynDim

U = trt.UnaryOperation
E = trt.ElementWiseOperation
M = trt.MatrixOperation


def as_tuple(value, n: int) -> tuple[int, ...]:
    """An int-or-sequence argument (kernel_size=3, stride=(2, 1), padding=[1]) as `n` ints; a sequence of another
    length is its first element repeated, as PyTorch's one-element forms are."""
    if isinstance(value, (list, tuple, torch.Size)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return (int(value),) * n

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


def require_float_dtype(ctx, dtype: torch.dtype, reason: str | None = None) -> None:
    """Refuse a floating-point-only op on any dtype but float32 / float16 / bfloat16 (integers, bool, and float64,
    which TensorRT does not have); `reason` ends the message."""
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ctx.unsupported(f"{ctx.method_name} on {dtype}" + (f": {reason}" if reason else ""))


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


def cumulative(ctx, itensor, axis: int, op=trt.CumulativeOperation.SUM, exclusive: bool = False,
               reverse: bool = False, name: str | None = None):
    """One CUMULATIVE layer along the (non-negative) `axis`."""
    layer = ctx.network.add_cumulative(itensor, ctx.trt(torch.tensor(axis, dtype=torch.int32)), op, exclusive,
                                       reverse)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def topk(ctx, itensor, op, k, axis: int, name: str | None = None):
    """(values, int32 indices) of one TOPK over `axis` (rank >= 2); k an int or a DynDim (then read from the
    network as a 0-d int32 shape tensor)."""
    layer = ctx.network.add_topk(itensor, op, int(k) if is_static(k) else 1, 1 << axis)
    if not is_static(k):
        layer.set_input(1, reshape(ctx, ctx.cast(k._trt, torch.int32), ()))
    ctx.name_layer(layer, name)
    return layer.get_output(0), layer.get_output(1)


# ---- gather / scatter -------------------------------------------------------------------------------------------
def gather(ctx, itensor, indices, axis: int, name: str | None = None, mode=None):
    """One GATHER of `indices` (an ITensor) along `axis`; `mode` a trt.GatherMode (default: DEFAULT)."""
    layer = ctx.network.add_gather(itensor, indices, axis)
    if mode is not None:
        layer.mode = mode
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def scatter(ctx, itensor, indices, updates, mode, axis: int | None = None, name: str | None = None):
    """One SCATTER of `updates` at `indices` into `itensor` (a trt.ScatterMode; `axis` for ELEMENT mode)."""
    layer = ctx.network.add_scatter(itensor, indices, updates, mode)
    if axis is not None:
        layer.axis = axis
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def one_hot(ctx, indices, values, depth, axis: int, name: str | None = None):
    """One ONE_HOT layer: `values` is (off, on), `depth` a 0-d ITensor."""
    layer = ctx.network.add_one_hot(indices, values, depth, axis)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


# ---- matrix products --------------------------------------------------------------------------------------------
def matrix_multiply(ctx, a, b, op_a=M.NONE, op_b=M.NONE, name: str | None = "matmul"):
    """One MATRIX_MULTIPLY of ITensors a and b (op_a / op_b: trt.MatrixOperation NONE, TRANSPOSE or VECTOR)."""
    layer = ctx.network.add_matrix_multiply(a, op_a, b, op_b)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def einsum_layer(ctx, itensors, equation: str, name: str | None = "einsum"):
    """One EINSUM layer; an equation TensorRT rejects is a refusal naming it."""
    layer = ctx.network.add_einsum(list(itensors), equation)
    if layer is None:
        raise ctx.unsupported(f"{ctx.method_name}({equation!r}): TensorRT rejects this equation")
    ctx.name_layer(layer, name)
    return layer.get_output(0)


# ---- fills ------------------------------------------------------------------------------------------------------
def linspace(ctx, sizes: Sequence, dtype: torch.dtype, start, delta, name: str | None = None):
    """One LINSPACE FILL of `sizes` (ints, DynDims or lazily read dims): start + sum over axes i of index_i *
    delta[i]. `start` (0-d) and `delta` (1-d, one per axis) are ITensors or tensors of `dtype` (then constants)."""
    layer = ctx.network.add_fill(tuple(int(s) if is_static(s) else 1 for s in sizes), trt.FillOperation.LINSPACE,
                                 ctx.trt_dtype(dtype))
    shape = ctx.shape_tensor(list(sizes))
    if shape is not None:
        layer.set_input(0, shape)
    layer.set_input(1, ctx.trt(start))
    layer.set_input(2, ctx.trt(delta))
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def iota(ctx, n, dtype: torch.dtype = torch.int32, name: str = "iota"):
    """0, 1, ..., n - 1 in `dtype` (n an int, a DynDim or a lazily read dim): a constant where n is static, else a
    LINSPACE fill."""
    if is_static(n):
        return ctx.trt(torch.arange(int(n), dtype=dtype))
    return linspace(ctx, [n], dtype, torch.tensor(0, dtype=dtype), torch.tensor([1], dtype=dtype), name)


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


def concat(ctx, itensors, axis: int, name: str = "cat"):
    """One CONCATENATION along `axis` (no layer for a single tensor)."""
    if len(itensors) == 1:
        return itensors[0]
    layer = ctx.network.add_concatenation(list(itensors))
    layer.axis = axis
    ctx.name_layer(layer, name)
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
    """One SLICE; each of starts / sizes / strides may hold DynDims or lazily read dims (then a shape tensor), or
    be a 1-d int64 ITensor itself (a shape tensor computed by the caller)."""
    rank = len(trt_dims(itensor))
    given = [isinstance(values, trt.ITensor) for values in (starts, sizes, strides)]
    dyn = [g or not all(is_static(v) for v in values) for values, g in zip((starts, sizes, strides), given)]
    layer = ctx.network.add_slice(itensor, *[[int(v) for v in values] if not d else [0] * rank
                                             for values, d in zip((starts, sizes, strides), dyn)])
    for i, (values, d, g) in enumerate(zip((starts, sizes, strides), dyn, given)):
        if d:
            layer.set_input(i + 1, values if g else ctx.shape_tensor(values))
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


# ---- layers of one kind each ------------------------------------------------------------------------------------
def _configured(ctx, layer, name: str | None, attributes: dict):
    for key, value in attributes.items():
        setattr(layer, key, value)
    ctx.name_layer(layer, name)
    return layer


def activation(ctx, itensor, kind, alpha: float | None = None, beta: float | None = None, name: str | None = None):
    """One ACTIVATION layer of trt.ActivationType `kind` (alpha / beta where it takes them)."""
    layer = ctx.network.add_activation(itensor, kind)
    if alpha is not None:
        layer.alpha = alpha
    if beta is not None:
        layer.beta = beta
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def parametric_relu(ctx, itensor, slope, name: str | None = "prelu"):
    """One PARAMETRIC_RELU layer (slope an ITensor broadcastable to itensor)."""
    layer = ctx.network.add_parametric_relu(itensor, slope)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def softmax_layer(ctx, itensor, axis: int, name: str | None = "softmax"):
    """One SOFTMAX layer over the single (non-negative) `axis` (TensorRT needs rank >= 2)."""
    layer = ctx.network.add_softmax(itensor)
    layer.axes = 1 << axis
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def pooling(ctx, itensor, kind, window, name: str | None = None, **attributes):
    """One POOLING layer of trt.PoolingType `kind` and `window`; `attributes` are set on it (stride_nd=...)."""
    return _configured(ctx, ctx.network.add_pooling_nd(itensor, kind, tuple(window)), name, attributes).get_output(0)


def convolution(ctx, itensor, maps: int, kernel, kernel_weights, bias_weights, transposed: bool = False,
                name: str | None = None):
    """One CONVOLUTION (DECONVOLUTION when `transposed`) layer with `maps` output maps; returns the layer, whose
    window (stride_nd, padding, groups, a Q/DQ kernel input) the caller sets."""
    add = ctx.network.add_deconvolution_nd if transposed else ctx.network.add_convolution_nd
    layer = add(itensor, maps, kernel, kernel_weights, bias_weights)
    ctx.name_layer(layer, name)
    return layer


def scale_channel(ctx, itensor, shift, scale, power, name: str | None = None):
    """One SCALE layer in CHANNEL mode on axis 1: (x * scale + shift) ** power, the three trt.Weights."""
    layer = ctx.network.add_scale_nd(itensor, trt.ScaleMode.CHANNEL, shift, scale, power, 1)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def normalization(ctx, itensor, axes: list[int], scale, bias, eps: float, num_groups: int = 1,
                  name: str | None = None):
    """One NORMALIZATION layer: (x - mean) / sqrt(var + eps) * scale + bias over `axes` (biased var)."""
    layer = ctx.network.add_normalization(itensor, scale, bias, sum(1 << a for a in axes))
    layer.epsilon = float(eps)
    if num_groups > 1:
        layer.num_groups = num_groups
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def lrn(ctx, itensor, size: int, alpha: float, beta: float, k: float, name: str | None = None):
    """One LRN layer (cross-channel local response normalization over `size` channels)."""
    layer = ctx.network.add_lrn(itensor, size, alpha, beta, k)
    ctx.name_layer(layer, name)
    return layer.get_output(0)


def resize_layer(ctx, itensor, shape=None, scales=None, name: str | None = None, **attributes):
    """One RESIZE layer to `shape` (ints, or a 1-d int64 ITensor) or by `scales` (floats); `attributes` are set
    on it (resize_mode=..., coordinate_transformation=...)."""
    layer = ctx.network.add_resize(itensor)
    if scales is not None:
        layer.scales = [float(s) for s in scales]
    elif isinstance(shape, trt.ITensor):
        layer.set_input(1, shape)
    else:
        layer.shape = tuple(int(s) for s in shape)
    return _configured(ctx, layer, name, attributes).get_output(0)


def grid_sample(ctx, itensor, grid, name: str | None = None, **attributes):
    """One GRID_SAMPLE layer; `attributes` are set on it (interpolation_mode=..., align_corners=...)."""
    return _configured(ctx, ctx.network.add_grid_sample(itensor, grid), name, attributes).get_output(0)
