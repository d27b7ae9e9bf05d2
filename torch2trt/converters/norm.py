"""Normalization converters: batch_norm (inference) as one SCALE layer per channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter


@tensorrt_converter(F.batch_norm)
def convert_batch_norm(ctx):
    x = ctx.get_arg("input", 0)
    mean, var = ctx.get_arg("running_mean", 1), ctx.get_arg("running_var", 2)
    weight, bias = ctx.get_arg("weight", 3, None), ctx.get_arg("bias", 4, None)
    training, eps = ctx.get_arg("training", 5, False), ctx.get_arg("eps", 7, 1e-5)
    out = ctx.method_return
    if training or mean is None or var is None:
        raise ctx.unsupported("batch_norm with batch statistics (training=True or no running stats); "
                              "call model.eval() and keep track_running_stats=True")
    if any(hasattr(t, "_trt") for t in (mean, var, weight, bias)):
        raise ctx.unsupported("batch_norm statistics computed inside the model are not supported")
    # y = x * scale + shift, computed in float64 so the fold adds no rounding of its own.
    scale = torch.rsqrt(var.double() + eps)
    if weight is not None:
        scale = scale * weight.double()
    shift = -mean.double() * scale
    if bias is not None:
        shift = shift + bias.double()
    folded = ctx.fold_channel_affine(x, scale, shift, out.dtype) if x.dim() > 2 else None
    if folded is not None:  # absorbed by the convolution that produced x (x has no other consumer)
        ctx.set_output(out, folded)
        return
    xt = ctx.trt(x)
    if x.dim() == 2:  # (N, C): scale needs a channel axis followed by spatial axes
        xt = ctx.reshape(xt, tuple(x.shape) + (1,))
    layer = ctx.network.add_scale_nd(xt, trt.ScaleMode.CHANNEL, ctx.weights(shift, out.dtype),
                                     ctx.weights(scale, out.dtype), trt.Weights(ctx.trt_dtype(out.dtype)), 1)
    ctx.name_layer(layer, "batch_norm")
    y = layer.get_output(0)
    if x.dim() == 2:
        y = ctx.reshape(y, tuple(out.shape))
    ctx.set_output(out, y)


def _float32_for(dtype: torch.dtype) -> torch.dtype:
    """Normalization statistics in reduced precision are computed in float32."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def normalization(ctx, xt, axes: list[int], scale, bias, eps: float, dtype, num_groups: int = 1):
    """One NORMALIZATION layer: (x - mean) / sqrt(var + eps) * scale + bias over `axes` (biased var)."""
    layer = ctx.network.add_normalization(xt, scale, bias, sum(1 << a for a in axes))
    layer.epsilon = float(eps)
    if num_groups > 1:
        layer.num_groups = num_groups
    ctx.name_layer(layer)
    return layer.get_output(0)


def _affine_const(ctx, value, shape, dtype, fill: float):
    t = torch.full(shape, fill, dtype=torch.float64) if value is None else value.detach().reshape(shape)
    return ctx.trt(t, dtype)


@tensorrt_converter(F.layer_norm)
def convert_layer_norm(ctx):
    x, shape = ctx.get_arg("input", 0), tuple(ctx.get_arg("normalized_shape", 1))
    weight, bias, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("bias", 3, None), ctx.get_arg("eps", 4, 1e-5)
    out = ctx.method_return
    if any(hasattr(t, "_trt") for t in (weight, bias)):
        raise ctx.unsupported("layer_norm with weight/bias computed in the model")
    dtype = _float32_for(out.dtype)
    k, rank = len(shape), x.dim()
    affine_shape = (1,) * (rank - k) + shape
    y = normalization(ctx, ctx.trt(x, dtype), list(range(rank - k, rank)),
                      _affine_const(ctx, weight, affine_shape, dtype, 1.0),
                      _affine_const(ctx, bias, affine_shape, dtype, 0.0), eps, dtype)
    ctx.set_output(out, ctx.cast(y, out.dtype))


def _channel_affine(ctx, y, weight, bias, rank, dtype):
    shape = (1, -1) + (1,) * (rank - 2)
    if weight is not None:
        y = ctx.network.add_elementwise(y, ctx.trt(weight.detach().reshape(shape), dtype),
                                        trt.ElementWiseOperation.PROD).get_output(0)
    if bias is not None:
        y = ctx.network.add_elementwise(y, ctx.trt(bias.detach().reshape(shape), dtype),
                                        trt.ElementWiseOperation.SUM).get_output(0)
    return y


@tensorrt_converter(F.group_norm)
def convert_group_norm(ctx):
    x, groups = ctx.get_arg("input", 0), ctx.get_arg("num_groups", 1)
    weight, bias, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("bias", 3, None), ctx.get_arg("eps", 4, 1e-5)
    out = ctx.method_return
    if x.dim() < 3:
        raise ctx.unsupported("group_norm on inputs without spatial dims")
    dtype = _float32_for(out.dtype)
    rank = x.dim()
    ones = (1, groups) + (1,) * (rank - 2)
    # per-group normalization (scale 1, bias 0 per group), then PyTorch's per-channel affine
    y = normalization(ctx, ctx.trt(x, dtype), list(range(2, rank)), ctx.trt(torch.ones(ones), dtype),
                      ctx.trt(torch.zeros(ones), dtype), eps, dtype, num_groups=groups)
    ctx.set_output(out, ctx.cast(_channel_affine(ctx, y, weight, bias, rank, dtype), out.dtype))


@tensorrt_converter(F.instance_norm)
def convert_instance_norm(ctx):
    x = ctx.get_arg("input", 0)
    weight, bias = ctx.get_arg("weight", 3, None), ctx.get_arg("bias", 4, None)
    use_input_stats, eps = ctx.get_arg("use_input_stats", 5, True), ctx.get_arg("eps", 7, 1e-5)
    out = ctx.method_return
    if not use_input_stats:
        raise ctx.unsupported("instance_norm(use_input_stats=False): use batch_norm semantics via track_running_stats "
                              "in eval is not supported")
    dtype = _float32_for(out.dtype)
    rank = x.dim()
    c = x.shape[1]
    shape = (1, c) + (1,) * (rank - 2)
    y = normalization(ctx, ctx.trt(x, dtype), list(range(2, rank)), _affine_const(ctx, weight, shape, dtype, 1.0),
                      _affine_const(ctx, bias, shape, dtype, 0.0), eps, dtype)
    ctx.set_output(out, ctx.cast(y, out.dtype))


@tensorrt_converter([F.rms_norm] if hasattr(F, "rms_norm") else [])
def convert_rms_norm(ctx):
    x, shape = ctx.get_arg("input", 0), tuple(ctx.get_arg("normalized_shape", 1))
    weight, eps = ctx.get_arg("weight", 2, None), ctx.get_arg("eps", 3, None)
    out = ctx.method_return
    dtype = _float32_for(out.dtype)
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    E = trt.ElementWiseOperation
    k, rank = len(shape), x.dim()
    xt = ctx.trt(x, dtype)
    sq = ctx.network.add_elementwise(xt, xt, E.PROD).get_output(0)
    ms = ctx.network.add_reduce(sq, trt.ReduceOperation.AVG, sum(1 << a for a in range(rank - k, rank)), True)
    ctx.name_layer(ms, "rms_norm")
    d = ctx.network.add_elementwise(ms.get_output(0), ctx.trt(torch.tensor(eps), dtype, rank), E.SUM).get_output(0)
    r = ctx.network.add_unary(ctx.network.add_unary(d, trt.UnaryOperation.SQRT).get_output(0),
                              trt.UnaryOperation.RECIP).get_output(0)
    y = ctx.network.add_elementwise(xt, r, E.PROD).get_output(0)
    if weight is not None:
        y = ctx.network.add_elementwise(y, ctx.trt(weight, dtype, rank), E.PROD).get_output(0)
    ctx.set_output(out, ctx.cast(y, out.dtype))


@tensorrt_converter(F.normalize)
def convert_normalize(ctx):
    """x / max(||x||_p, eps) along dim."""
    x, p = ctx.get_arg("input", 0), ctx.get_arg("p", 1, 2.0)
    dim, eps = ctx.get_arg("dim", 2, 1), ctx.get_arg("eps", 3, 1e-12)
    out = ctx.method_return
    E, U = trt.ElementWiseOperation, trt.UnaryOperation
    dtype = _float32_for(out.dtype)
    rank = x.dim()
    axis = 1 << (dim % rank)
    xt = ctx.trt(x, dtype)
    if p == 2:
        s = ctx.network.add_reduce(ctx.network.add_elementwise(xt, xt, E.PROD).get_output(0),
                                   trt.ReduceOperation.SUM, axis, True)
        n = ctx.network.add_unary(s.get_output(0), U.SQRT).get_output(0)
    elif p == 1:
        n = ctx.network.add_reduce(ctx.network.add_unary(xt, U.ABS).get_output(0), trt.ReduceOperation.SUM, axis,
                                   True).get_output(0)
    else:
        raise ctx.unsupported(f"normalize(p={p}): only p=1 and p=2")
    n = ctx.network.add_elementwise(n, ctx.trt(torch.tensor(eps), dtype, rank), E.MAX).get_output(0)
    ctx.set_output(out, ctx.cast(ctx.network.add_elementwise(xt, n, E.DIV).get_output(0), out.dtype))
