"""Linear algebra converters: linear (matmul with the weight as a constant, plus bias)."""

from __future__ import annotations

import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter


@tensorrt_converter(F.linear)
def convert_linear(ctx):
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    out = ctx.method_return
    rank = max(x.dim(), 2)
    # weight (out, in) as a rank-matched constant; TRANSPOSE lets TensorRT read it as (in, out).
    w = ctx.trt(weight, out.dtype, rank)
    op_x = trt.MatrixOperation.VECTOR if x.dim() == 1 else trt.MatrixOperation.NONE
    layer = ctx.network.add_matrix_multiply(ctx.trt(x, out.dtype), op_x, w, trt.MatrixOperation.TRANSPOSE)
    ctx.name_layer(layer, "linear")
    y = layer.get_output(0)
    if bias is not None:
        b = ctx.trt(bias, out.dtype, out.dim())
        add = ctx.network.add_elementwise(y, b, trt.ElementWiseOperation.SUM)
        ctx.name_layer(add, "linear_bias")
        y = add.get_output(0)
    ctx.set_output(out, y)
