"""Shape converters (flatten, ...): output shapes are read from the real op's result."""

from __future__ import annotations

import torch

from ..tracing.registry import tensorrt_converter


@tensorrt_converter([torch.flatten, torch.Tensor.flatten])
def convert_flatten(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    ctx.set_output(out, ctx.reshape(ctx.trt(x), out.shape))
