"""Convolution converters: conv1d/2d/3d (1d runs as 2d on an inserted axis)."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * n


@tensorrt_converter([torch.conv1d, torch.conv2d, torch.conv3d])
def convert_conv(ctx):
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    stride, padding = ctx.get_arg("stride", 3, 1), ctx.get_arg("padding", 4, 0)
    dilation, groups = ctx.get_arg("dilation", 5, 1), ctx.get_arg("groups", 6, 1)
    out = ctx.method_return
    if hasattr(weight, "_trt") or hasattr(bias, "_trt"):
        raise ctx.unsupported(f"{ctx.method_name}: weight/bias computed inside the model are not supported")
    if x.dim() != weight.dim():
        raise ctx.unsupported(f"{ctx.method_name}: unbatched input of shape {tuple(x.shape)}")
    nd = weight.dim() - 2
    stride, dilation = _tuple(stride, nd), _tuple(dilation, nd)
    kernel = tuple(weight.shape[2:])
    if padding == "valid":
        pre = post = (0,) * nd
    elif padding == "same":
        # PyTorch puts the odd extra padding at the end.
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        pre = tuple(t // 2 for t in total)
        post = tuple(t - t // 2 for t in total)
    else:
        pre = post = _tuple(padding, nd)
    xt = ctx.trt(x, out.dtype)
    if nd == 1:  # TensorRT convolves 2d/3d: (N, C, L) -> (N, C, L, 1)
        xt = ctx.reshape(xt, tuple(x.shape) + (1,))
        weight = weight.unsqueeze(-1)
        kernel, stride, dilation, pre, post = kernel + (1,), stride + (1,), dilation + (1,), pre + (0,), post + (0,)

    def add_conv(kernel_w, bias_w):
        layer = ctx.network.add_convolution_nd(
            xt, weight.shape[0], kernel, ctx.weights(kernel_w, out.dtype),
            ctx.weights(bias_w, out.dtype) if bias_w is not None else trt.Weights(ctx.trt_dtype(out.dtype)))
        layer.stride_nd, layer.dilation_nd, layer.num_groups = stride, dilation, groups
        layer.pre_padding, layer.post_padding = pre, post
        ctx.name_layer(layer, ctx.method_name.rsplit(".", 1)[-1])
        return layer

    layer = add_conv(weight, bias)
    y = layer.get_output(0)
    if nd == 1:
        y = ctx.reshape(y, tuple(out.shape))
    ctx.set_output(out, y)
    if nd > 1:  # a batch norm right after may fold into the weights
        ctx.offer_fold(out, layer, weight, bias, lambda: add_conv(weight, bias).get_output(0))
