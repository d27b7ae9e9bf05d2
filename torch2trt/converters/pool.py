"""Pooling converters: max_pool2d, adaptive_avg_pool2d."""

from __future__ import annotations

import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter


def _pair(value, n: int = 2) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (int(value),) * n


@tensorrt_converter(F.max_pool2d)
def convert_max_pool2d(ctx):
    x = ctx.get_arg("input", 0)
    kernel = _pair(ctx.get_arg("kernel_size", 1))
    stride = ctx.get_arg("stride", 2, None)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(stride)
    padding, dilation = _pair(ctx.get_arg("padding", 3, 0)), _pair(ctx.get_arg("dilation", 4, 1))
    ceil_mode, return_indices = ctx.get_arg("ceil_mode", 5, False), ctx.get_arg("return_indices", 6, False)
    if return_indices:
        raise ctx.unsupported("max_pool2d(return_indices=True): TensorRT pooling gives no indices")
    if dilation != (1, 1):
        raise ctx.unsupported(f"max_pool2d(dilation={dilation}): TensorRT pooling has no dilation")
    out = ctx.method_return
    layer = ctx.network.add_pooling_nd(ctx.trt(x), trt.PoolingType.MAX, kernel)
    layer.stride_nd, layer.padding_nd = stride, padding
    if ceil_mode:
        layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    ctx.name_layer(layer, "max_pool2d")
    y = layer.get_output(0)
    if tuple(y.shape) != tuple(out.shape):
        raise ctx.unsupported(f"max_pool2d(ceil_mode={ceil_mode}) gives {tuple(out.shape)} in PyTorch but "
                              f"{tuple(y.shape)} in TensorRT")
    ctx.set_output(out, y)


@tensorrt_converter(F.adaptive_avg_pool2d)
def convert_adaptive_avg_pool2d(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    in_hw, out_hw = tuple(x.shape[-2:]), tuple(out.shape[-2:])
    if out_hw == (1, 1):  # global average: one reduce over the two spatial axes
        rank = x.dim()
        layer = ctx.network.add_reduce(ctx.trt(x), trt.ReduceOperation.AVG, (1 << (rank - 1)) | (1 << (rank - 2)),
                                       True)
    elif all(i % o == 0 for i, o in zip(in_hw, out_hw)):
        k = tuple(i // o for i, o in zip(in_hw, out_hw))
        layer = ctx.network.add_pooling_nd(ctx.trt(x), trt.PoolingType.AVERAGE, k)
        layer.stride_nd = k
    else:
        raise ctx.unsupported(f"adaptive_avg_pool2d from {in_hw} to {out_hw}: sizes that do not divide")
    ctx.name_layer(layer, "adaptive_avg_pool2d")
    ctx.set_output(out, layer.get_output(0))
