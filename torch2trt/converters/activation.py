"""Activation converters: uniform activations are one table entry each."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter

# name -> (ActivationType, spellings that reach the converter)
ACTIVATIONS = {
    "relu": (trt.ActivationType.RELU, (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_,
                                       F.relu_)),
}


def _convert_activation(kind):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        layer = ctx.network.add_activation(ctx.trt(x), kind)
        ctx.name_layer(layer)
        ctx.set_output(ctx.method_return, layer.get_output(0))

    return convert


for _name, (_kind, _targets) in ACTIVATIONS.items():
    tensorrt_converter(list(_targets))(_convert_activation(_kind))
