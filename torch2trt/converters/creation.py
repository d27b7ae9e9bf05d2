"""Identity-like ops at inference: dropout variants (eval), detach, contiguous, clone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tracing.registry import tensorrt_converter


@tensorrt_converter([F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
                     torch.dropout, torch.Tensor.detach, torch.detach, torch.Tensor.contiguous, torch.clone,
                     torch.Tensor.clone])
def convert_identity(ctx):
    x = ctx.get_arg("input", 0)
    training = ctx.method_kwargs.get("training", ctx.method_kwargs.get("train"))
    if training is None and "dropout" in ctx.method_name:
        training = ctx.method_args[2] if len(ctx.method_args) > 2 else (
            ctx.method_name.startswith("torch.nn.functional"))  # F.dropout defaults to training=True
    if training and ctx.get_arg("p", 1, 0.5) != 0:
        raise ctx.unsupported(f"{ctx.method_name}(training=True): random dropout at inference; call model.eval()")
    ctx.set_output(ctx.method_return, ctx.trt(x))
