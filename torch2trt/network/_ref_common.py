"""Shared pieces of the reference executor's layer semantics: the per-run context, errors, small helpers.

Layer handlers live in _ref_tensor.py (data movement, elementwise, shape arithmetic) and _ref_nn.py
(convolution, pooling, resize, normalization, quantization); reference.py runs them.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..errors import ReferenceError
from .inspect import LayerRecord

# TensorRT operator documentation (the semantics every handler follows)
DOCS = "https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/"

Handler = Callable[[LayerRecord, list, "Ctx"], list]

_REDUCED = (torch.float16, torch.bfloat16)


class Ctx:
    """Per-run state handed to every handler: the float dtype computations use and cached prepared weights."""

    __slots__ = ("float_dtype", "override", "_weights", "max_elements")

    def __init__(self, float_dtype: torch.dtype, override: bool, weight_cache: dict, max_elements: int | None = None):
        self.float_dtype = float_dtype      # float32, or the dtype the caller asked for (float64)
        self.override = override            # True: every float tensor is held in float_dtype (no rounding)
        self._weights = weight_cache
        self.max_elements = max_elements    # no tensor may be larger (reference.run sets the bound)

    def check_size(self, layer: LayerRecord, shape: Any) -> None:
        """Refuse, before allocating it, an output whose shape comes from tensor values or attributes (FILL, SLICE,
        RESIZE, PADDING, ONE_HOT) and exceeds the run's bound: a saved network could ask for any size."""
        n = math.prod(int(d) for d in shape)
        if self.max_elements is not None and n > self.max_elements:
            raise fail(layer, f"would allocate an output of shape {tuple(int(d) for d in shape)}: {n} elements, "
                              f"above the bound of {self.max_elements} (max(2**26, 64 x the bytes of the network's "
                              "weights and of this call's inputs)); the network is corrupt or hostile (if you "
                              "trust it, raise torch2trt.network.inspect.MIN_ELEMENT_BOUND)")

    def storage(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype a tensor the network declares as `dtype` is held in between layers."""
        if self.override and dtype in (torch.float32, torch.float16, torch.bfloat16):
            return self.float_dtype
        return dtype

    def weight(self, layer: LayerRecord, key: str, *, storage: torch.dtype | None = None) -> torch.Tensor | None:
        """A layer's weights, converted once per run configuration: floats to the compute dtype (or to
        `storage`), other types unchanged. None when the layer has no such weights."""
        w = layer.weights.get(key)
        if w is None:
            return None
        target = storage if storage is not None else (self.float_dtype if w.is_floating_point() else w.dtype)
        cache_key = (id(layer), key, target)
        hit = self._weights.get(cache_key)
        if hit is None or hit[0] is not w:
            hit = (w, w.to(target))
            self._weights[cache_key] = hit
        return hit[1]

    def compute(self, t: torch.Tensor) -> torch.Tensor:
        """Reduced-precision floats are computed in float32 and rounded at the layer's output, as TensorRT
        rounds at layer boundaries."""
        return t.to(self.float_dtype) if t.dtype in _REDUCED or t.dtype.is_floating_point and \
            t.dtype.itemsize == 1 else t


def fail(layer: LayerRecord, message: str) -> ReferenceError:
    return ReferenceError(f"{layer.type} layer {layer.name!r}: {message}")


def bitmask_axes(mask: int, rank: int) -> list[int]:
    return [i for i in range(rank) if mask >> i & 1]


def ints(t: torch.Tensor | Any) -> list[int]:
    """A shape tensor (or a Dims-like tuple) as a list of Python ints."""
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.reshape(-1).tolist()]
    return [int(v) for v in t]


def scalar(t: torch.Tensor | Any) -> Any:
    return t.reshape(-1)[0].item() if isinstance(t, torch.Tensor) else t


def optional(ins: list, i: int) -> torch.Tensor | None:
    return ins[i] if i < len(ins) else None


def handler_registry() -> tuple[dict, Callable]:
    """(HANDLERS, handles): a layer-type -> handler table and the decorator that fills it."""
    table: dict = {}

    def handles(*types: str):
        def register(fn):
            for t in types:
                table[t] = fn
            return fn
        return register

    return table, handles
