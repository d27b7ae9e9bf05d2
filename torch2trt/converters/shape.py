"""Shape converters (flatten, ...): output shapes are read from the real op's result."""

from __future__ import annotations

import torch

from ..tracing.registry import tensorrt_converter


@tensorrt_converter([torch.flatten, torch.Tensor.flatten])
def convert_flatten(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    ctx.set_output(out, ctx.reshape(ctx.trt(x), out.shape))


@tensorrt_converter([torch.cat, torch.concat, torch.concatenate])
def convert_cat(ctx):
    tensors = ctx.get_arg("tensors", 0)
    dim = ctx.method_kwargs.get("dim", ctx.method_kwargs.get("axis", ctx.method_args[1] if len(ctx.method_args) > 1
                                                             else 0))
    out = ctx.method_return
    if not isinstance(dim, int):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): named dimensions are not supported")
    # PyTorch skips legacy empty 1-d tensors (shape (0,)) in cat
    parts = [t for t in tensors if not (t.dim() == 1 and t.numel() == 0 and out.dim() != 1)]
    itensors = [ctx.trt(t, out.dtype) for t in parts]
    if len(itensors) == 1:
        ctx.set_output(out, itensors[0])
        return
    layer = ctx.network.add_concatenation(itensors)
    layer.axis = dim % out.dim()
    ctx.name_layer(layer, "cat")
    ctx.set_output(out, layer.get_output(0))
