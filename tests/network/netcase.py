"""Helpers for network tests: build small networks with the TensorRT API, require the real builder to accept them,
then run them through the reference executor (from the network and from its saved-and-loaded record)."""

from __future__ import annotations

import io

import numpy as np
import torch

from torch2trt.backend import create_network, trt
from torch2trt.network import reference
from torch2trt.network.inspect import NetworkRecord, read_network

NP_TO_TRT = {np.dtype(np.float32): trt.float32, np.dtype(np.float16): trt.float16, np.dtype(np.int32): trt.int32,
             np.dtype(np.int64): trt.int64, np.dtype(np.bool_): trt.bool, np.dtype(np.int8): trt.int8}
TORCH_TO_TRT = {torch.float32: trt.float32, torch.float16: trt.float16, torch.bfloat16: trt.bfloat16,
                torch.int32: trt.int32, torch.int64: trt.int64, torch.bool: trt.bool, torch.int8: trt.int8,
                torch.uint8: trt.uint8}


class Net:
    """A strongly typed network under construction plus the builder that must accept it."""

    def __init__(self):
        self.logger = trt.Logger(trt.Logger.ERROR)
        self.builder = trt.Builder(self.logger)
        self.network = create_network(self.builder)
        self.config = self.builder.create_builder_config()
        self.profile = None
        self._keep = []                       # numpy arrays the network's weights point at

    def input(self, name: str, dtype: torch.dtype, shape, min=None, opt=None, max=None):
        t = self.network.add_input(name, TORCH_TO_TRT[dtype], tuple(shape))
        if any(d == -1 for d in shape):
            if self.profile is None:
                self.profile = self.builder.create_optimization_profile()
            self.profile.set_shape(name, tuple(min), tuple(opt), tuple(max))
        return t

    def shape_input(self, name: str, n: int, min, opt, max):
        """A 1-D int64 input whose *values* are a shape (a shape tensor)."""
        t = self.network.add_input(name, trt.int64, (n,))
        if self.profile is None:
            self.profile = self.builder.create_optimization_profile()
        self.profile.set_shape_input(name, tuple(min), tuple(opt), tuple(max))
        return t

    def weights(self, value) -> trt.Weights:
        arr = np.array(value.numpy() if isinstance(value, torch.Tensor) else value, order="C")   # keeps 0-d arrays 0-d
        self._keep.append(arr)
        return trt.Weights(arr)

    def const(self, value):
        arr = np.array(value.numpy() if isinstance(value, torch.Tensor) else value, order="C")   # keeps 0-d arrays 0-d
        self._keep.append(arr)
        return self.network.add_constant(arr.shape, trt.Weights(arr)).get_output(0)

    def build(self, *outputs, require_engine: bool = True) -> NetworkRecord:
        for i, t in enumerate(outputs):
            t.name = f"out{i}" if not t.is_network_input else t.name
            self.network.mark_output(t)
        if self.profile is not None:
            self.config.add_optimization_profile(self.profile)
        engine = self.builder.build_serialized_network(self.network, self.config)
        if require_engine:
            assert engine is not None, "TensorRT's builder rejected the network"
        return read_network(self.network)


def run(record: NetworkRecord, feeds: dict, **kwargs) -> list[torch.Tensor]:
    """Outputs in order; also checks that the record survives torch.save(weights_only=True) unchanged."""
    got = reference.run(record, feeds, **kwargs)
    buf = io.BytesIO()
    torch.save(record.to_state(), buf)
    buf.seek(0)
    again = reference.run(NetworkRecord.from_state(torch.load(buf, weights_only=True)), feeds, **kwargs)
    for name in record.outputs:
        assert torch.equal(got[name], again[name]) or (got[name].is_floating_point() and torch.allclose(
            got[name], again[name], equal_nan=True, rtol=0, atol=0)), f"saved record differs on {name}"
    return [got[name] for name in record.outputs]


def assert_same(got: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-6):
    assert got.shape == expected.shape, f"shape {tuple(got.shape)} != {tuple(expected.shape)}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    if got.is_floating_point():
        torch.testing.assert_close(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        assert torch.equal(got, expected), f"values differ:\n{got}\n{expected}"
