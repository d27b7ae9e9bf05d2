"""Binary elementwise converters (add, ...): operands are cast to PyTorch's result dtype (read from the
real output) and broadcast to one rank."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter

E = trt.ElementWiseOperation


def elementwise(ctx, a, b, op, dtype: torch.dtype):
    """One elementwise layer on `a` and `b` (traced tensors, ITensors, tensors or numbers) in `dtype`."""
    ta, tb = ctx.operands(a, b, dtype=dtype)
    layer = ctx.network.add_elementwise(ta, tb, op)
    ctx.name_layer(layer)
    return layer.get_output(0)


@tensorrt_converter([torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__,
                     torch.Tensor.__iadd__, torch.Tensor.__radd__])
def convert_add(ctx):
    a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
    alpha = ctx.get_arg("alpha", 2, 1)
    out = ctx.method_return
    if alpha != 1:
        b = elementwise(ctx, b, alpha, E.PROD, out.dtype)
    ctx.set_output(out, elementwise(ctx, a, b, E.SUM, out.dtype))
