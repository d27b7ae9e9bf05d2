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
