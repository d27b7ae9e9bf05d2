"""Replay network records (network/inspect.py) into a new TensorRT network with this process's backend,
and rebuild an engine from them. It knows the TensorRT API for adding layers, nothing about PyTorch models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import backend
from ..backend import trt
from .inspect import LayerRecord, NetworkRecord


class ReplayError(RuntimeError):
    """A record cannot be turned back into a layer."""


def _enum(rec: LayerRecord, key: str):
    value = rec.attrs[key]
    cls = rec.enums.get(key)
    return getattr(trt, cls).__members__[value] if cls else value


def _trt_dtype(dtype: torch.dtype):
    from ..tracing.context import torch_dtype_to_trt

    return torch_dtype_to_trt(dtype)


class _Weights:
    """trt.Weights from recorded tensors, kept alive until the engine is built."""

    def __init__(self):
        self.keep: list[Any] = []

    def __call__(self, t: torch.Tensor | None, dtype: torch.dtype | None = None):
        if t is None or t.numel() == 0:
            return trt.Weights(_trt_dtype(dtype or torch.float32))
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            arr = t.view(torch.int16).numpy().copy()
            self.keep.append(arr)
            return trt.Weights(trt.bfloat16, arr.ctypes.data, arr.size)
        arr = np.array(t.numpy(), copy=True, order="C")
        self.keep.append(arr)
        return trt.Weights(arr)


def _add(net, rec: LayerRecord, ins: list, w: _Weights):
    """Create the layer with the arguments its add_* method needs; other attributes are set afterwards."""
    t, a, wt = rec.type, rec.attrs, rec.weights
    x = ins[0] if ins else None
    if t == "ACTIVATION":
        return net.add_activation(x, _enum(rec, "type"))
    if t == "CAST":
        return net.add_cast(x, _enum(rec, "to_type"))
    if t == "CONCATENATION":
        return net.add_concatenation(ins)
    if t == "CONSTANT":
        return net.add_constant(tuple(a["shape"]), w(wt.get("weights"), rec.output_dtypes[0]))
    if t in ("CONVOLUTION", "DECONVOLUTION"):
        add = net.add_convolution_nd if t == "CONVOLUTION" else net.add_deconvolution_nd
        dt = rec.output_dtypes[0]
        return add(x, a["num_output_maps"], tuple(a["kernel_size_nd"]), w(wt.get("kernel"), dt), w(wt.get("bias"), dt))
    if t == "ELEMENTWISE":
        return net.add_elementwise(ins[0], ins[1], _enum(rec, "op"))
    if t == "GATHER":
        return net.add_gather(ins[0], ins[1], a["axis"])
    if t == "IDENTITY":
        return net.add_identity(x)
    if t == "MATRIX_MULTIPLY":
        return net.add_matrix_multiply(ins[0], _enum(rec, "op0"), ins[1], _enum(rec, "op1"))
    if t == "NORMALIZATION":
        if a.get("is_v2"):
            return net.add_normalization_v2(ins[0], ins[1], ins[2], a["axes"])
        return net.add_normalization(ins[0], ins[1], ins[2], a["axes"])
    if t == "PADDING":
        return net.add_padding_nd(x, tuple(a["pre_padding_nd"]), tuple(a["post_padding_nd"]))
    if t == "PARAMETRIC_RELU":
        return net.add_parametric_relu(ins[0], ins[1])
    if t == "POOLING":
        return net.add_pooling_nd(x, _enum(rec, "type"), tuple(a["window_size_nd"]))
    if t == "REDUCE":
        return net.add_reduce(x, _enum(rec, "op"), a["axes"], a["keep_dims"])
    if t == "RESIZE":
        return net.add_resize(x)
    if t == "SCALE":
        dt = rec.output_dtypes[0]
        return net.add_scale_nd(x, _enum(rec, "mode"), w(wt.get("shift"), dt), w(wt.get("scale"), dt),
                                w(wt.get("power"), dt), a.get("channel_axis", 1))
    if t == "SELECT":
        return net.add_select(ins[0], ins[1], ins[2])
    if t == "SHAPE":
        return net.add_shape(x)
    if t == "SHUFFLE":
        return net.add_shuffle(x)
    if t == "SLICE":
        start, shape, stride = (tuple(a[k]) if a.get(k) is not None else (0,) * len(rec.output_shapes[0])
                                for k in ("start", "shape", "stride"))
        return net.add_slice(x, start, shape, stride)
    if t == "SOFTMAX":
        return net.add_softmax(x)
    if t == "TOPK":
        return net.add_topk(x, _enum(rec, "op"), a["k"], a["axes"])
    if t == "UNARY":
        return net.add_unary(x, _enum(rec, "op"))
    if t == "CUMULATIVE":
        return net.add_cumulative(ins[0], ins[1], _enum(rec, "op"), a["exclusive"], a["reverse"])
    if t == "EINSUM":
        return net.add_einsum(ins, a["equation"])
    if t == "GRID_SAMPLE":
        return net.add_grid_sample(ins[0], ins[1])
    if t == "ONE_HOT":
        return net.add_one_hot(ins[0], ins[1], ins[2], a["axis"])
    if t == "SCATTER":
        return net.add_scatter(ins[0], ins[1], ins[2], _enum(rec, "mode"))
    if t == "LRN":
        return net.add_lrn(x, a["window_size"], a["alpha"], a["beta"], a["k"])
    if t == "SQUEEZE":
        return net.add_squeeze(ins[0], ins[1])
    if t == "UNSQUEEZE":
        return net.add_unsqueeze(ins[0], ins[1])
    if t == "NON_ZERO":
        return net.add_non_zero(x)
    if t == "FILL":
        layer = net.add_fill(tuple(rec.output_shapes[0]) if -1 not in rec.output_shapes[0] else (0,),
                             _enum(rec, "operation"), _trt_dtype(rec.output_dtypes[0]))
        return layer
    if t == "REVERSE_SEQUENCE":
        return net.add_reverse_sequence(ins[0], ins[1])
    if t == "ASSERTION":
        return net.add_assertion(x, a.get("message", ""))
    raise ReplayError(f"layer {rec.name!r}: replaying {t} layers is not supported")


# attributes consumed by the add_* call (or structural), not set again
_CONSTRUCTOR = {"type", "to_type", "num_output_maps", "kernel_size_nd", "op", "op0", "op1", "shape", "axis",
                "window_size_nd", "keep_dims", "exclusive", "reverse", "equation", "k", "is_v2", "operation",
                "pre_padding_nd", "post_padding_nd", "window_size", "message"}
_KEEP_FOR = {"SLICE": {"mode", "axes"}, "RESIZE": {"shape"}, "GATHER": {"mode", "num_elementwise_dims"},
             "REDUCE": set(), "CONCATENATION": {"axis"}, "SOFTMAX": {"axes"}, "NORMALIZATION": {"epsilon",
                                                                                              "num_groups"}}


def _set_attrs(layer, rec: LayerRecord) -> None:
    keep = _KEEP_FOR.get(rec.type, set())
    for key, value in rec.attrs.items():
        if (key in _CONSTRUCTOR and key not in keep) or value is None or key in ("conditional", "loop"):
            continue
        if key in rec.enums:
            value = _enum(rec, key)
        elif key in ("first_transpose", "second_transpose"):
            value = trt.Permutation(tuple(value))
        elif isinstance(value, list):
            value = tuple(value)
        try:
            setattr(layer, key, value)
        except (AttributeError, TypeError) as e:
            if not _is_read_only(layer, key):
                raise ReplayError(f"layer {rec.name!r}: cannot set {key}={value!r} ({e})") from None


def _is_read_only(layer, key: str) -> bool:
    prop = getattr(type(layer), key, None)
    return isinstance(prop, property) and prop.fset is None


_CLASSES = {"ACTIVATION": "IActivationLayer", "CAST": "ICastLayer", "CONCATENATION": "IConcatenationLayer",
            "CONSTANT": "IConstantLayer", "CONVOLUTION": "IConvolutionLayer",
            "DECONVOLUTION": "IDeconvolutionLayer", "ELEMENTWISE": "IElementWiseLayer", "GATHER": "IGatherLayer",
            "MATRIX_MULTIPLY": "IMatrixMultiplyLayer", "NORMALIZATION": "INormalizationLayer",
            "PADDING": "IPaddingLayer", "POOLING": "IPoolingLayer", "REDUCE": "IReduceLayer", "RESIZE": "IResizeLayer",
            "SCALE": "IScaleLayer", "SHUFFLE": "IShuffleLayer", "SLICE": "ISliceLayer", "SOFTMAX": "ISoftMaxLayer",
            "TOPK": "ITopKLayer", "UNARY": "IUnaryLayer", "CUMULATIVE": "ICumulativeLayer", "EINSUM": "IEinsumLayer",
            "GRID_SAMPLE": "IGridSampleLayer", "ONE_HOT": "IOneHotLayer", "SCATTER": "IScatterLayer",
            "LRN": "ILRNLayer", "FILL": "IFillLayer"}


def _topological(layers: list[LayerRecord], available: set[str]) -> list[LayerRecord]:
    """Layers in an order where every input exists before it is read (a network's layer order need not be:
    a layer's shape input may be added after the layer)."""
    ordered, pending, available = [], list(layers), set(available)
    while pending:
        ready = [r for r in pending if all(i is None or i in available for i in r.inputs)]
        if not ready:
            missing = sorted({i for r in pending for i in r.inputs if i is not None and i not in available})
            raise ReplayError(f"layers read tensors no layer produces: {missing[:5]}")
        ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ids]
        ordered += ready
        for r in ready:
            available.update(r.outputs)
    return ordered


def replay(record: NetworkRecord, builder=None):
    """(network, builder, keepalive): a new strongly typed network with the recorded layers, tensor names,
    inputs and outputs. `keepalive` must outlive the engine build (it holds the weights' memory)."""
    if builder is None:
        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = backend.create_network(builder)
    tensors: dict[str, Any] = {}
    for name, dtype, shape in record.inputs:
        tensors[name] = net.add_input(name, _trt_dtype(dtype), tuple(shape))
    w = _Weights()
    for rec in _topological(record.layers, set(tensors)):
        if rec.attrs.get("conditional") or rec.attrs.get("loop"):
            raise ReplayError(f"layer {rec.name!r}: if-conditionals and loops are not replayed")
        ins = [tensors[i] if i is not None else None for i in rec.inputs]
        first = [i for i in ins[:1] if i is not None] + [i for i in ins[1:] if i is not None]
        layer = _add(net, rec, first if rec.type in ("CONCATENATION", "EINSUM") else ins, w)
        cls = _CLASSES.get(rec.type)
        if cls:
            layer.__class__ = getattr(trt, cls)
        # optional / shape-tensor inputs that the add_* call did not take
        taken = {"ELEMENTWISE": 2, "GATHER": 2, "MATRIX_MULTIPLY": 2, "NORMALIZATION": 3, "PARAMETRIC_RELU": 2,
                 "SELECT": 3, "CUMULATIVE": 2, "GRID_SAMPLE": 2, "ONE_HOT": 3, "SCATTER": 3, "SQUEEZE": 2,
                 "UNSQUEEZE": 2, "REVERSE_SEQUENCE": 2}.get(rec.type, 1)
        if rec.type not in ("CONCATENATION", "EINSUM", "CONSTANT", "FILL"):
            for i, t in enumerate(ins[taken:], start=taken):
                if t is not None:
                    layer.set_input(i, t)
        elif rec.type == "FILL":
            for i, t in enumerate(ins):
                if t is not None:
                    layer.set_input(i, t)
        _set_attrs(layer, rec)
        layer.name = rec.name
        for i, out_name in enumerate(rec.outputs):
            out = layer.get_output(i)
            out.name = out_name
            tensors[out_name] = out
    for name in record.outputs:
        net.mark_output(tensors[name])
    return net, builder, w.keep


def rebuild_engine(record: NetworkRecord, *, profile: dict | None = None, max_workspace_size: int | None = None,
                   log_level=None) -> bytes:
    """Replay `record` with this process's TensorRT and build a serialized engine from it."""
    from ..runtime.build import build_engine, new_builder

    builder, logger = new_builder(log_level)
    network, builder, keep = replay(record, builder)
    engine = build_engine(builder, network, logger, profile=profile, max_workspace_size=max_workspace_size)
    del keep
    return engine
