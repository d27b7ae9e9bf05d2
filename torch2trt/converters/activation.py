"""Activation converters. Activations that are one ActivationType are table entries (with how their
alpha/beta come from the call); the others are short exact compositions. Softmax family included.

NaN inputs: PyTorch's relu/hardtanh/clamp-like activations return NaN for NaN; TensorRT documents no NaN rule for
RELU/CLIP and its GPU kernels are reported to return a bound instead (NVIDIA/TensorRT#4773). Not guarded here
(it would cost layers on every activation); minimum/maximum in elementwise.py are."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import spellings, tensorrt_converter
from .layers import (
    U,
    activation,
    clamp,
    elementwise,
    float_input,
    parametric_relu,
    reduce_axis,
    require_arithmetic_dtype,
    reshape,
    select,
    slice_layer,
    softmax_layer,
    unary,
)

A = trt.ActivationType
E = trt.ElementWiseOperation


def _x(ctx):
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    return ctx.trt(ctx.get_arg("input", 0), out.dtype)


def _clamp_integers(ctx, lo, hi) -> bool:
    """relu/relu6/hardtanh of an integer tensor: MAX/MIN with the bounds (TensorRT activations take floats only)."""
    out = ctx.method_return
    if out.dtype.is_floating_point:
        return False
    require_arithmetic_dtype(ctx, out.dtype)
    ctx.set_output(out, clamp(ctx, ctx.trt(ctx.get_arg("input", 0), out.dtype), lo, hi, out.dtype))
    return True


# name -> (ActivationType, targets, (alpha, beta) from the call)
ACTIVATIONS = {
    "relu": (A.RELU, spellings("relu") + [F.relu, F.relu_], lambda ctx: (None, None)),
    "sigmoid": (A.SIGMOID, spellings("sigmoid") + [F.sigmoid, torch.special.expit], lambda ctx: (None, None)),
    "tanh": (A.TANH, spellings("tanh") + [F.tanh], lambda ctx: (None, None)),
    "softsign": (A.SOFTSIGN, [F.softsign], lambda ctx: (None, None)),
    "leaky_relu": (A.LEAKY_RELU, [F.leaky_relu, F.leaky_relu_, torch._C._nn.leaky_relu_],
                   lambda ctx: (float(ctx.get_arg("negative_slope", 1, 0.01)), None)),
    "rrelu": (A.LEAKY_RELU, [F.rrelu, F.rrelu_, torch.rrelu, torch.rrelu_], lambda ctx: _rrelu_slope(ctx)),
    "elu": (A.ELU, [F.elu, F.elu_], lambda ctx: (float(ctx.get_arg("alpha", 1, 1.0)), None)),
    "selu": (A.SELU, [F.selu, F.selu_, torch.selu, torch.selu_],
             lambda ctx: (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)),
    "hardtanh": (A.CLIP, [F.hardtanh, F.hardtanh_],
                 lambda ctx: (float(ctx.get_arg("min_val", 1, -1.0)), float(ctx.get_arg("max_val", 2, 1.0)))),
    "relu6": (A.CLIP, [F.relu6], lambda ctx: (0.0, 6.0)),
    "hardsigmoid": (A.HARD_SIGMOID, [F.hardsigmoid], lambda ctx: (1.0 / 6.0, 0.5)),
}


def _rrelu_slope(ctx):
    lower, upper = float(ctx.get_arg("lower", 1, 1.0 / 8)), float(ctx.get_arg("upper", 2, 1.0 / 3))
    if ctx.get_arg("training", 3, False):
        raise ctx.unsupported(f"{ctx.method_name}(training=True): random slopes; use the model in eval mode")
    return (lower + upper) / 2, None


# integer inputs of these are clamps: name -> (lower, upper) bounds from the call
_INTEGER_CLAMPS = {
    "relu": lambda ctx: (0, None), "relu6": lambda ctx: (0, 6),
    "hardtanh": lambda ctx: (ctx.get_arg("min_val", 1, -1.0), ctx.get_arg("max_val", 2, 1.0)),
}


def _convert_activation(name, kind, params):
    def convert(ctx):
        if name in _INTEGER_CLAMPS and _clamp_integers(ctx, *_INTEGER_CLAMPS[name](ctx)):
            return
        alpha, beta = params(ctx)
        ctx.set_output(ctx.method_return, activation(ctx, _x(ctx), kind, alpha, beta))

    return convert


for _name, (_kind, _targets, _params) in ACTIVATIONS.items():
    tensorrt_converter(_targets)(_convert_activation(_name, _kind, _params))


@tensorrt_converter([F.gelu])
def convert_gelu(ctx):
    approximate = ctx.get_arg("approximate", 1, "none")
    kind = {"none": A.GELU_ERF, "tanh": A.GELU_TANH}.get(approximate)
    if kind is None:
        raise ctx.unsupported(f"gelu(approximate={approximate!r})")
    ctx.set_output(ctx.method_return, activation(ctx, _x(ctx), kind))


def softplus(ctx, x, beta: float, threshold: float, dtype):
    """PyTorch: x where beta * x > threshold, else log(1 + exp(beta * x)) / beta."""
    y = activation(ctx, x, A.SOFTPLUS, 1.0 / beta, beta)
    bx = x if beta == 1 else elementwise(ctx, x, beta, E.PROD, dtype)
    return select(ctx, elementwise(ctx, bx, threshold, E.GREATER, dtype), x, y)


@tensorrt_converter([F.softplus])
def convert_softplus(ctx):
    out = ctx.method_return
    beta, threshold = float(ctx.get_arg("beta", 1, 1.0)), float(ctx.get_arg("threshold", 2, 20.0))
    ctx.set_output(out, softplus(ctx, _x(ctx), beta, threshold, out.dtype))


@tensorrt_converter([F.silu])
def convert_silu(ctx):
    out = ctx.method_return
    x = _x(ctx)
    ctx.set_output(out, elementwise(ctx, x, activation(ctx, x, A.SIGMOID), E.PROD, out.dtype))


@tensorrt_converter([F.hardswish])
def convert_hardswish(ctx):
    out = ctx.method_return
    x = _x(ctx)
    ctx.set_output(out, elementwise(ctx, x, activation(ctx, x, A.HARD_SIGMOID, 1.0 / 6.0, 0.5), E.PROD, out.dtype))


@tensorrt_converter([F.mish])
def convert_mish(ctx):
    out = ctx.method_return
    x = _x(ctx)
    sp = softplus(ctx, x, 1.0, 20.0, out.dtype)
    ctx.set_output(out, elementwise(ctx, x, activation(ctx, sp, A.TANH), E.PROD, out.dtype))


@tensorrt_converter([F.logsigmoid])
def convert_logsigmoid(ctx):
    out = ctx.method_return
    x = _x(ctx)
    neg = unary(ctx, x, U.NEG)
    ctx.set_output(out, unary(ctx, softplus(ctx, neg, 1.0, 20.0, out.dtype), U.NEG))


@tensorrt_converter([F.celu, F.celu_, torch.celu, torch.celu_])
def convert_celu(ctx):
    """alpha * elu(x / alpha)."""
    out = ctx.method_return
    alpha = float(ctx.get_arg("alpha", 1, 1.0))
    x = _x(ctx)
    if alpha == 1.0:
        ctx.set_output(out, activation(ctx, x, A.ELU, 1.0))
        return
    y = activation(ctx, elementwise(ctx, x, alpha, E.DIV, out.dtype), A.ELU, 1.0)
    ctx.set_output(out, elementwise(ctx, y, alpha, E.PROD, out.dtype))


@tensorrt_converter([F.threshold, F.threshold_, torch.threshold, torch.threshold_])
def convert_threshold(ctx):
    """PyTorch: x <= threshold ? value : x (so NaN stays NaN); both numbers are cast to the input's dtype."""
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    threshold, value = ctx.get_arg("threshold", 1), ctx.get_arg("value", 2)
    x = ctx.trt(ctx.get_arg("input", 0), out.dtype)
    if out.dtype.is_floating_point:
        le = elementwise(ctx, elementwise(ctx, x, threshold, E.LESS, out.dtype),
                         elementwise(ctx, x, threshold, E.EQUAL, out.dtype), E.OR, torch.bool)
        ctx.set_output(out, select(ctx, le, ctx.trt(value, out.dtype, out.dim()), x))
        return
    cond = elementwise(ctx, x, threshold, E.GREATER, out.dtype)
    ctx.set_output(out, select(ctx, cond, x, ctx.trt(value, out.dtype, out.dim())))


@tensorrt_converter([F.hardshrink, torch.hardshrink, torch.Tensor.hardshrink])
def convert_hardshrink(ctx):
    """PyTorch: |x| <= lambd ? 0 : x. The zero is x * 0, so NaN stays NaN."""
    out = ctx.method_return
    lambd = float(ctx.get_arg("lambd", 1, 0.5))
    x = _x(ctx)
    keep = elementwise(ctx, unary(ctx, x, U.ABS), lambd, E.GREATER, out.dtype)
    ctx.set_output(out, select(ctx, keep, x, elementwise(ctx, x, 0.0, E.PROD, out.dtype)))


@tensorrt_converter([F.softshrink, torch._C._nn.softshrink])
def convert_softshrink(ctx):
    """PyTorch: x > lambd ? x - lambd : x < -lambd ? x + lambd : 0 (NaN stays NaN: the zero is x * 0)."""
    out = ctx.method_return
    lambd = float(ctx.get_arg("lambd", 1, 0.5))
    x = _x(ctx)
    dt = out.dtype
    inner = select(ctx, elementwise(ctx, x, -lambd, E.LESS, dt), elementwise(ctx, x, lambd, E.SUM, dt),
                   elementwise(ctx, x, 0.0, E.PROD, dt))
    ctx.set_output(out, select(ctx, elementwise(ctx, x, lambd, E.GREATER, dt), elementwise(ctx, x, lambd, E.SUB, dt),
                               inner))


@tensorrt_converter([F.tanhshrink])
def convert_tanhshrink(ctx):
    out = ctx.method_return
    x = _x(ctx)
    ctx.set_output(out, elementwise(ctx, x, activation(ctx, x, A.TANH), E.SUB, out.dtype))


@tensorrt_converter([F.prelu, torch.prelu, torch.Tensor.prelu])
def convert_prelu(ctx):
    out = ctx.method_return
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    shape = [1] * out.dim()
    if weight.numel() > 1:
        shape[1 if out.dim() > 1 else 0] = weight.numel()
    slope = ctx.trt(weight.reshape(shape) if not hasattr(weight, "_trt") else weight, out.dtype, out.dim())
    if len(slope.shape) != out.dim():
        raise ctx.unsupported("prelu with a computed weight of another rank")
    ctx.set_output(out, parametric_relu(ctx, ctx.trt(x, out.dtype), slope))


@tensorrt_converter([F.glu])
def convert_glu(ctx):
    x = ctx.get_arg("input", 0)
    dim = ctx.get_arg("dim", 1, -1) % x.dim()
    out = ctx.method_return
    ctx.require_static(x)
    half = x.shape[dim] // 2
    xt = ctx.trt(x)
    start = [0] * x.dim()
    size = list(out.shape)
    a = slice_layer(ctx, xt, list(start), size, [1] * x.dim(), "glu_a")
    start[dim] = half
    b = slice_layer(ctx, xt, start, size, [1] * x.dim(), "glu_b")
    gate = activation(ctx, b, A.SIGMOID)
    ctx.set_output(out, elementwise(ctx, a, gate, E.PROD, out.dtype))


# ---- softmax family --------------------------------------------------------------------------------
def _softmax_dim(ctx, x) -> int:
    dim = ctx.get_arg("dim", 1, None)
    if dim is None:  # PyTorch's legacy implicit dim
        dim = 0 if x.dim() in (0, 1, 3) else 1
    return dim % max(x.dim(), 1)


def _softmax_input(ctx):
    """(input in the compute dtype, axis, compute dtype, output). With dtype=, PyTorch casts the input to it
    first; float16/bfloat16 are then computed in float32 and rounded once, as PyTorch does."""
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    xt, compute = float_input(ctx, x, out.dtype)
    return xt, _softmax_dim(ctx, x), compute, out


def _as_matrix(ctx, xt, dim: int):
    """TensorRT's softmax needs rank >= 2: a 0-d or 1-d input is viewed as one row. Returns (tensor, axis, undo)."""
    rank = len(xt.shape)
    if rank >= 2:
        return xt, dim, lambda y: y
    shape = tuple(int(d) for d in xt.shape)
    return reshape(ctx, xt, (1, -1)), 1, lambda y: reshape(ctx, y, shape if -1 not in shape else (-1,))


def softmax(ctx, xt, dim: int):
    xt, axis, undo = _as_matrix(ctx, xt, dim)
    return undo(softmax_layer(ctx, xt, axis))


@tensorrt_converter([F.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax])
def convert_softmax(ctx):
    xt, dim, compute, out = _softmax_input(ctx)
    ctx.set_output(out, ctx.cast(softmax(ctx, xt, dim), out.dtype))


@tensorrt_converter([F.softmin])
def convert_softmin(ctx):
    xt, dim, compute, out = _softmax_input(ctx)
    ctx.set_output(out, ctx.cast(softmax(ctx, unary(ctx, xt, U.NEG), dim), out.dtype))


def log_softmax(ctx, xt, dim: int, dtype):
    """x - max - log(sum(exp(x - max))), stable like PyTorch's."""
    xt, dim, undo = _as_matrix(ctx, xt, dim)
    mx = reduce_axis(ctx, xt, trt.ReduceOperation.MAX, dim, True, "max")
    shifted = elementwise(ctx, xt, mx, E.SUB, dtype)
    s = reduce_axis(ctx, unary(ctx, shifted, U.EXP), trt.ReduceOperation.SUM, dim, True, "sum")
    return undo(elementwise(ctx, shifted, unary(ctx, s, U.LOG), E.SUB, dtype))


@tensorrt_converter([F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax, torch.special.log_softmax])
def convert_log_softmax(ctx):
    xt, dim, compute, out = _softmax_input(ctx)
    ctx.set_output(out, ctx.cast(log_softmax(ctx, xt, dim, compute), out.dtype))
