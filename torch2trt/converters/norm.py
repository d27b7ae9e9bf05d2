"""Normalization converters: batch_norm (running statistics: one SCALE layer or folded into the convolution
before it; batch statistics — no running statistics, or training=True —: one NORMALIZATION layer), instance_norm,
group_norm, layer_norm (NORMALIZATION layers: biased variance, eps inside the square root, as PyTorch), rms_norm,
local_response_norm, F.normalize.

Statistics of reduced-precision inputs are computed in float32 (PyTorch's kernels accumulate in float32 too).
Must not touch the statistics buffers: the network only reads them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import (
    E,
    U,
    compute_dtype,
    elementwise,
    input_dims,
    lrn,
    normalization,
    pooling,
    reduce,
    require_float_dtype,
    reshape,
    scale_channel,
    unary,
)
from .reduce import reduce_axes, vector_norm

R = trt.ReduceOperation


_FLOAT_ONLY = "floating-point inputs only"


def _constant_params(ctx, **params) -> None:
    """Affine parameters and running statistics must be model constants: the fold into SCALE weights (and
    the NORMALIZATION scale/bias shapes) are computed from their values."""
    traced = [name for name, value in params.items() if get_trt(value) is not None]
    if traced:
        raise ctx.unsupported(f"{ctx.method_name}: {', '.join(traced)} computed inside the model; they must be "
                              "parameters or buffers")


def _scalar(ctx, value: float, dtype, rank: int):
    return ctx.trt(torch.tensor(float(value), dtype=torch.float64), dtype, rank)


# ---- per-channel affine from running statistics ------------------------------------------------------------------
def channel_affine(ctx, x, scale: torch.Tensor, shift: torch.Tensor, out):
    """y = x * scale[c] + shift[c] on channel axis 1: folded into the convolution producing x when that is
    exact, else one SCALE layer (computed in `out.dtype`)."""
    folded = ctx.fold_channel_affine(x, scale, shift, out.dtype) if x.dim() > 2 else None
    if folded is not None:  # absorbed by the convolution that produced x (x has no other consumer)
        return folded
    xt = ctx.trt(x, out.dtype)
    if x.dim() == 2:  # (N, C): SCALE needs spatial axes after the channel
        xt = reshape(ctx, xt, [*input_dims(ctx, xt), 1])
    y = scale_channel(ctx, xt, ctx.weights(shift, out.dtype), ctx.weights(scale, out.dtype),
                      trt.Weights(ctx.trt_dtype(out.dtype)))
    return reshape(ctx, y, input_dims(ctx, y)[:2]) if x.dim() == 2 else y


def _running_affine(mean, var, weight, bias, eps: float):
    """(scale, shift) of (x - mean) / sqrt(var + eps) * weight + bias, in float64 so the fold adds no rounding."""
    scale = torch.rsqrt(var.detach().double() + eps)
    if weight is not None:
        scale = scale * weight.detach().double()
    shift = -mean.detach().double() * scale
    if bias is not None:
        shift = shift + bias.detach().double()
    return scale, shift


# ---- NORMALIZATION layer ------------------------------------------------------------------------------------------
def _param_const(ctx, value, shape, dtype, fill: float):
    t = torch.full(shape, fill, dtype=torch.float64) if value is None else value.detach().reshape(shape)
    return ctx.trt(t, dtype)


def _channel_shape(rank: int, c: int) -> tuple[int, ...]:
    return (1, c) + (1,) * (rank - 2)


def _with_spatial_axis(ctx, xt, x):
    """(N, C) -> (N, C, 1): NORMALIZATION and SCALE layers work on channels followed by spatial axes."""
    return reshape(ctx, xt, [*input_dims(ctx, xt), 1]) if x.dim() == 2 else xt


def _batch_statistics(ctx, x, weight, bias, eps: float, out):
    """Batch norm with the batch's own statistics: normalize over every axis but the channels."""
    dtype = compute_dtype(out.dtype)
    xt = _with_spatial_axis(ctx, ctx.trt(x, dtype), x)
    rank = len(trt_dims(xt))
    shape = _channel_shape(rank, x.shape[1])
    y = normalization(ctx, xt, [0] + list(range(2, rank)), _param_const(ctx, weight, shape, dtype, 1.0),
                      _param_const(ctx, bias, shape, dtype, 0.0), eps)
    if x.dim() == 2:
        y = reshape(ctx, y, input_dims(ctx, y)[:2])
    return ctx.cast(y, out.dtype)


def _batch_norm_args(ctx):
    """(x, running_mean, running_var, weight, bias, training, eps) of F.batch_norm or torch.batch_norm."""
    x = ctx.get_arg("input", 0)
    if ctx.method is F.batch_norm:
        names = (("running_mean", 1), ("running_var", 2), ("weight", 3), ("bias", 4), ("training", 5), ("eps", 7))
    else:  # torch.batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
        names = (("running_mean", 3), ("running_var", 4), ("weight", 1), ("bias", 2), ("training", 5), ("eps", 7))
    defaults = {"running_mean": None, "running_var": None, "weight": None, "bias": None, "training": False,
                "eps": 1e-5}
    return (x, *(ctx.get_arg(n, p, defaults[n]) for n, p in names))


@tensorrt_converter([F.batch_norm, torch.batch_norm])
def convert_batch_norm(ctx):
    x, mean, var, weight, bias, training, eps = _batch_norm_args(ctx)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    _constant_params(ctx, running_mean=mean, running_var=var, weight=weight, bias=bias)
    if (mean is None) != (var is None):
        raise ctx.unsupported(f"{ctx.method_name}: only one of running_mean/running_var given")
    if mean is None or training:
        # no running statistics (track_running_stats=False), or training=True: PyTorch normalizes with the batch's
        # statistics. In training it also updates the running statistics inside ATen; the network does not (it
        # keeps no state): the trace restores them and refuses later reads of the updated values (tracing/mode.py)
        ctx.set_output(out, _batch_statistics(ctx, x, weight, bias, eps, out))
        return
    scale, shift = _running_affine(mean, var, weight, bias, eps)
    ctx.set_output(out, channel_affine(ctx, x, scale, shift, out))


@tensorrt_converter([F.instance_norm, torch.instance_norm])
def convert_instance_norm(ctx):
    x = ctx.get_arg("input", 0)
    if ctx.method is F.instance_norm:
        mean, var = ctx.get_arg("running_mean", 1, None), ctx.get_arg("running_var", 2, None)
        weight, bias = ctx.get_arg("weight", 3, None), ctx.get_arg("bias", 4, None)
    else:  # torch.instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, ..)
        weight, bias = ctx.get_arg("weight", 1, None), ctx.get_arg("bias", 2, None)
        mean, var = ctx.get_arg("running_mean", 3, None), ctx.get_arg("running_var", 4, None)
    use_input_stats, eps = ctx.get_arg("use_input_stats", 5, True), ctx.get_arg("eps", 7, 1e-5)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    _constant_params(ctx, running_mean=mean, running_var=var, weight=weight, bias=bias)
    if not use_input_stats:  # eval with track_running_stats=True: the running statistics, per channel
        if mean is None or var is None:
            raise ctx.unsupported(f"{ctx.method_name}(use_input_stats=False) without running statistics")
        scale, shift = _running_affine(mean, var, weight, bias, eps)
        ctx.set_output(out, channel_affine(ctx, x, scale, shift, out))
        return
    if x.dim() < 3:
        raise ctx.unsupported(f"{ctx.method_name} on a rank-{x.dim()} input: PyTorch needs (N, C, *spatial)")
    # (running statistics given with use_input_stats=True are only updated, not used: nothing to convert)
    dtype = compute_dtype(out.dtype)
    rank = x.dim()
    shape = _channel_shape(rank, x.shape[1])
    y = normalization(ctx, ctx.trt(x, dtype), list(range(2, rank)), _param_const(ctx, weight, shape, dtype, 1.0),
                      _param_const(ctx, bias, shape, dtype, 0.0), eps)
    ctx.set_output(out, ctx.cast(y, out.dtype))


@tensorrt_converter([F.layer_norm, torch.layer_norm])
def convert_layer_norm(ctx):
    x, shape = ctx.get_arg("input", 0), ctx.get_arg("normalized_shape", 1)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    weight, bias, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("bias", 3, None), ctx.get_arg("eps", 4, 1e-5)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    _constant_params(ctx, weight=weight, bias=bias)
    dtype = compute_dtype(out.dtype)
    k, rank = len(shape), x.dim()
    affine_shape = (1,) * (rank - k) + shape
    y = normalization(ctx, ctx.trt(x, dtype), list(range(rank - k, rank)),
                      _param_const(ctx, weight, affine_shape, dtype, 1.0),
                      _param_const(ctx, bias, affine_shape, dtype, 0.0), eps)
    ctx.set_output(out, ctx.cast(y, out.dtype))


@tensorrt_converter([F.group_norm, torch.group_norm])
def convert_group_norm(ctx):
    x, groups = ctx.get_arg("input", 0), int(ctx.get_arg("num_groups", 1))
    weight, bias, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("bias", 3, None), ctx.get_arg("eps", 4, 1e-5)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    _constant_params(ctx, weight=weight, bias=bias)
    dtype = compute_dtype(out.dtype)
    xt = _with_spatial_axis(ctx, ctx.trt(x, dtype), x)
    rank = len(trt_dims(xt))
    c = x.shape[1]
    if groups == c:  # one channel per group: per-channel statistics, the affine fits in the layer
        shape = _channel_shape(rank, c)
        y = normalization(ctx, xt, list(range(2, rank)), _param_const(ctx, weight, shape, dtype, 1.0),
                          _param_const(ctx, bias, shape, dtype, 0.0), eps)
    elif groups == 1:  # statistics over (C, *spatial), then the per-channel affine
        y = normalization(ctx, xt, list(range(1, rank)), ctx.trt(torch.ones((1,) * rank), dtype),
                          ctx.trt(torch.zeros((1,) * rank), dtype), eps)
        y = _affine(ctx, y, weight, bias, rank, dtype)
    else:
        # per-group statistics (the layer's scale/bias are per group: 1 and 0), then PyTorch's per-channel affine
        ones = _channel_shape(rank, groups)
        y = normalization(ctx, xt, list(range(2, rank)), ctx.trt(torch.ones(ones), dtype),
                          ctx.trt(torch.zeros(ones), dtype), eps, num_groups=groups)
        y = _affine(ctx, y, weight, bias, rank, dtype)
    if x.dim() == 2:
        y = reshape(ctx, y, input_dims(ctx, y)[:2])
    ctx.set_output(out, ctx.cast(y, out.dtype))


def _affine(ctx, y, weight, bias, rank: int, dtype):
    shape = (1, -1) + (1,) * (rank - 2)
    if weight is not None:
        y = elementwise(ctx, y, ctx.trt(weight.detach().reshape(shape), dtype), E.PROD, name="weight")
    if bias is not None:
        y = elementwise(ctx, y, ctx.trt(bias.detach().reshape(shape), dtype), E.SUM, name="bias")
    return y


@tensorrt_converter([F.rms_norm, torch.rms_norm])
def convert_rms_norm(ctx):
    """x / sqrt(mean(x^2) + eps) * weight; eps=None means finfo(x.dtype).eps (PyTorch's default)."""
    x, shape = ctx.get_arg("input", 0), ctx.get_arg("normalized_shape", 1)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    weight, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("eps", 3, None)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    dtype = compute_dtype(out.dtype)
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    k, rank = len(shape), x.dim()
    xt = ctx.trt(x, dtype)
    ms = reduce(ctx, elementwise(ctx, xt, xt, E.PROD, name="square"), R.AVG, list(range(rank - k, rank)), True,
                "mean_square")
    d = elementwise(ctx, ms, _scalar(ctx, eps, dtype, rank), E.SUM, name="eps")
    r = unary(ctx, unary(ctx, d, U.SQRT, name="sqrt"), U.RECIP, name="rsqrt")
    y = elementwise(ctx, xt, r, E.PROD, name="rms_norm")
    if weight is not None:
        y = elementwise(ctx, y, ctx.trt(weight, dtype, rank), E.PROD, name="weight")
    ctx.set_output(out, ctx.cast(y, out.dtype))


@tensorrt_converter([F.normalize])
def convert_normalize(ctx):
    """x / max(||x||_p, eps) along dim (PyTorch: x / norm.clamp_min(eps))."""
    x, p = ctx.get_arg("input", 0), ctx.get_arg("p", 1, 2.0)
    dim, eps = ctx.get_arg("dim", 2, 1), ctx.get_arg("eps", 3, 1e-12)
    if ctx.get_arg("out", 4, None) is not None:
        raise ctx.unsupported(f"{ctx.method_name}(out=...): write the result to a new tensor instead")
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    dtype = compute_dtype(out.dtype)
    p = float(p)
    if p < 0 and not math.isinf(p):
        raise ctx.unsupported(f"{ctx.method_name}(p={p}): negative p is not supported")
    axes = reduce_axes(ctx, x, dim)
    xt = ctx.trt(x, dtype)
    n = vector_norm(ctx, xt, p, axes, True, dtype)
    n = elementwise(ctx, n, _scalar(ctx, eps, dtype, x.dim()), E.MAX, name="clamp_min")
    ctx.set_output(out, ctx.cast(elementwise(ctx, xt, n, E.DIV, name="normalize"), out.dtype))


# ---- local response normalization -------------------------------------------------------------------------------
@tensorrt_converter([F.local_response_norm])
def convert_local_response_norm(ctx):
    """x / (k + alpha / size * sum of x^2 over channels [c - size // 2, c + (size - 1) // 2]) ^ beta."""
    x, size = ctx.get_arg("input", 0), int(ctx.get_arg("size", 1))
    alpha, beta, k = (float(ctx.get_arg("alpha", 2, 1e-4)), float(ctx.get_arg("beta", 3, 0.75)),
                      float(ctx.get_arg("k", 4, 1.0)))
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    if x.dim() < 3:
        raise ctx.unsupported(f"{ctx.method_name} on a rank-{x.dim()} input: PyTorch needs (N, C, *spatial)")
    ctx.require_static(x)
    # the LRN layer's channels are axis 1 of a 4-d input; other ranks are viewed as (N, C, rest, 1)
    xt = ctx.trt(x, torch.float32)
    x4 = xt if x.dim() == 4 else reshape(ctx, xt, (x.shape[0], x.shape[1], -1, 1))
    if size % 2 == 1 and size <= 15 and 0.01 <= beta <= 1e5 and 1e-5 <= k <= 1e10 and abs(alpha) <= 1e20:
        y = lrn(ctx, x4, size, alpha, beta, k, "local_response_norm")
    else:
        y = _lrn_composed(ctx, x4, size, alpha, beta, k)
    if x.dim() != 4:
        y = reshape(ctx, y, tuple(out.shape))
    ctx.set_output(out, ctx.cast(y, out.dtype))


def _lrn_composed(ctx, x4, size: int, alpha: float, beta: float, k: float):
    """PyTorch's own construction: average pooling of x^2 over a (size, 1) channel window with zero padding."""
    dims = trt_dims(x4)
    n, c, m = dims[0], dims[1], math.prod(dims[2:])
    sq = reshape(ctx, elementwise(ctx, x4, x4, E.PROD, name="square"), (n, 1, c, m))
    pool = pooling(ctx, sq, trt.PoolingType.AVERAGE, (size, 1), "channel_window", pre_padding=(size // 2, 0),
                   post_padding=((size - 1) // 2, 0), average_count_excludes_padding=False)
    div = reshape(ctx, pool, dims)
    div = elementwise(ctx, div, _scalar(ctx, alpha, torch.float32, 4), E.PROD, name="alpha")
    div = elementwise(ctx, div, _scalar(ctx, k, torch.float32, 4), E.SUM, name="k")
    div = elementwise(ctx, div, _scalar(ctx, beta, torch.float32, 4), E.POW, name="beta")
    return elementwise(ctx, x4, div, E.DIV, name="local_response_norm")
