"""The route users take instead of torch2trt: torch.onnx.export -> TensorRT's ONNX parser. Used to compare
network size and conversion time, and (in tests) to validate the reference executor on networks NVIDIA's
parser built. Requires `onnx` and `onnxscript`.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import torch

from . import backend
from .backend import trt


class OnnxRouteError(RuntimeError):
    pass


@dataclass
class OnnxNetwork:
    network: Any
    parser: Any        # owns the weight memory the network points at: keep it alive while using network
    builder: Any
    export_seconds: float
    parse_seconds: float
    export_cpu_seconds: float = 0.0   # process CPU time (all threads) of the export and of the parse
    parse_cpu_seconds: float = 0.0

    @property
    def num_layers(self) -> int:
        return self.network.num_layers


def export_and_parse(model: torch.nn.Module, inputs: list[torch.Tensor], *, opset: int = 18,
                     dynamic_axes: dict | None = None, input_names: list[str] | None = None) -> OnnxNetwork:
    """Export `model` with torch.onnx.export (TorchScript exporter, constant folding on, as trtexec users
    do) and parse it with the backend's OnnxParser into a strongly typed network."""
    names = input_names or [f"input_{i}" for i in range(len(inputs))]
    buf = io.BytesIO()
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.no_grad():
        torch.onnx.export(model, tuple(inputs), buf, opset_version=opset, input_names=names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True, dynamo=False)
    exported, cpu_exported = time.perf_counter(), time.process_time()
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = backend.create_network(builder)
    parser = trt.OnnxParser(network, trt.Logger(trt.Logger.ERROR))
    if not parser.parse(buf.getvalue()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise OnnxRouteError("ONNX parser failed: " + "; ".join(errors))
    parsed, cpu_parsed = time.perf_counter(), time.process_time()
    return OnnxNetwork(network, parser, builder, exported - start, parsed - exported, cpu_exported - cpu_start,
                       cpu_parsed - cpu_exported)
