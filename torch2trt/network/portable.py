"""Replay network records (network/inspect.py) into a new TensorRT network with this process's backend (building
an engine from it is runtime/build.py's `rebuild_engine`). It knows the TensorRT API for adding layers, nothing
about PyTorch models or engines.

    network, builder, keepalive = replay(record)            # keepalive: weight memory, keep until the build

A layer is re-created with the add_* call of its type (the arguments that call needs), then every recorded
attribute is set (`setattr` by TensorRT property name, enums from their member names), then the inputs the add_*
call did not take are wired with `set_input` (after the attributes: setting e.g. ISliceLayer.start or
IShuffleLayer.reshape_dims resets a tensor given for it). Layers are added in the recorded order where that order
is topological (a network's need not be: a shape input may be set after the layer that reads it); the back edges
of loops (IRecurrenceLayer input 1) are wired last.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .. import backend, dtypes
from ..backend import trt
from ..errors import ReplayError
from .inspect import _LAYER_CLASSES, LayerRecord, NetworkRecord, _plain, dependency_order, torch_dtype

__all__ = ["ReplayError", "replay", "replayable_layer_types"]


def _trt_dtype(dtype: torch.dtype):
    try:
        return dtypes.to_trt(dtype, quantized=True)
    except TypeError:
        raise ReplayError(f"no TensorRT data type for {dtype} in {backend.NAME} {backend.VERSION}") from None


# ---- values -------------------------------------------------------------------------------------------------

class _Weights:
    """trt.Weights made from recorded tensors; the arrays they point at are kept in `keep` (until the build)."""

    def __init__(self):
        self.keep: list[Any] = []

    def __call__(self, t: torch.Tensor | None, dtype) -> Any:
        """`dtype` (a trt.DataType) is used for absent (empty) weights, which the records leave out."""
        if t is None or t.numel() == 0:
            return trt.Weights(dtype)
        t = t.detach().cpu().contiguous()
        if t.dtype in (torch.float32, torch.float16, torch.int8, torch.int32, torch.int64, torch.bool,
                       torch.uint8):
            arr = np.array(t.numpy(), copy=True, order="C").reshape(-1)
            self.keep.append(arr)
            return trt.Weights(arr)
        # numpy has no bfloat16/fp8: hand TensorRT the raw bytes with the type
        raw = t.reshape(-1).view(torch.uint8).numpy().copy()
        self.keep.append(raw)
        return trt.Weights(_trt_dtype(t.dtype), raw.ctypes.data, t.numel())


def _enum(rec: LayerRecord, key: str, value: Any = None):
    value = rec.attrs[key] if value is None else value
    cls = rec.enums.get(key)
    if cls is None:
        return value
    try:
        return getattr(trt, cls).__members__[value]
    except (AttributeError, KeyError):
        raise ReplayError(f"{rec.type} layer {rec.name!r}: {key}={value!r} is not a member of trt.{cls} in "
                          f"{backend.NAME} {backend.VERSION}") from None


def _attr(rec: LayerRecord, key: str):
    if key not in rec.attrs or rec.attrs[key] is None:
        raise ReplayError(f"{rec.type} layer {rec.name!r}: the record has no {key!r}, which creating the layer "
                          "needs")
    return _enum(rec, key)


def _dims(value) -> tuple:
    return tuple(int(v) for v in value)


# ---- creating layers ----------------------------------------------------------------------------------------
# LayerType name -> (add(replay, record, input tensors) -> layer, number of leading inputs the add_* call takes;
# None = all). Inputs after those are wired with set_input once the attributes are set.

def _conv(r: _Replay, rec: LayerRecord, ins: list):
    add = r.net.add_convolution_nd if rec.type == "CONVOLUTION" else r.net.add_deconvolution_nd
    dt = ins[0].dtype
    return add(ins[0], _attr(rec, "num_output_maps"), _dims(_attr(rec, "kernel_size_nd")),
               r.weights(rec.weights.get("kernel"), dt), r.weights(rec.weights.get("bias"), dt))


def _scale(r: _Replay, rec: LayerRecord, ins: list):
    dt = ins[0].dtype
    w = {k: r.weights(rec.weights.get(k), dt) for k in ("shift", "scale", "power")}
    return r.net.add_scale_nd(ins[0], _attr(rec, "mode"), w["shift"], w["scale"], w["power"],
                              rec.attrs.get("channel_axis", 1))


def _constant(r: _Replay, rec: LayerRecord, ins: list):
    return r.net.add_constant(_dims(_attr(rec, "shape")),
                              r.weights(rec.weights.get("weights"), _trt_dtype(rec.output_dtypes[0])))


def _slice(r: _Replay, rec: LayerRecord, ins: list):
    rank = len(rec.output_shapes[0])
    # a start/shape/stride given as a tensor is not recorded as an attribute; set_input replaces the placeholder
    start, shape, stride = (_dims(rec.attrs[k]) if rec.attrs.get(k) is not None else (0,) * rank
                            for k in ("start", "shape", "stride"))
    return r.net.add_slice(ins[0], start, shape, stride)


def _fill(r: _Replay, rec: LayerRecord, ins: list):
    shape = rec.attrs.get("shape")
    shape = _dims(shape) if shape is not None else (0,) * max(len(rec.output_shapes[0]), 1)
    to_type = _enum(rec, "to_type") if rec.attrs.get("to_type") else _trt_dtype(rec.output_dtypes[0])
    return r.net.add_fill(shape, _attr(rec, "operation"), to_type)


def _topk(r: _Replay, rec: LayerRecord, ins: list):
    # with k given as a tensor (input 1) the layer reads back k=-1, which add_topk refuses: 1 is a placeholder
    k = 1 if _replaced_by_input(rec, "k") else _attr(rec, "k")
    if rec.attrs.get("indices_type"):
        return r.net.add_topk(ins[0], _attr(rec, "op"), k, _attr(rec, "axes"), _enum(rec, "indices_type"))
    return r.net.add_topk(ins[0], _attr(rec, "op"), k, _attr(rec, "axes"))


def _with_indices_type(add: str, n_inputs: int):
    def make(r: _Replay, rec: LayerRecord, ins: list):
        fn = getattr(r.net, add)
        if rec.attrs.get("indices_type"):
            return fn(*ins[:n_inputs], _enum(rec, "indices_type"))
        return fn(*ins[:n_inputs])
    return make


def _normalization(r: _Replay, rec: LayerRecord, ins: list):
    add = r.net.add_normalization_v2 if rec.attrs.get("is_v2") else r.net.add_normalization
    return add(ins[0], ins[1], ins[2], _attr(rec, "axes"))


def _dynamic_quantize(r: _Replay, rec: LayerRecord, ins: list):
    a = rec.attrs
    if a.get("block_shape") is not None:
        return r.net.add_dynamic_quantize_v2(ins[0], _dims(a["block_shape"]), _attr(rec, "to_type"),
                                             _attr(rec, "scale_type"))
    return r.net.add_dynamic_quantize(ins[0], _attr(rec, "axis"), _attr(rec, "block_size"), _attr(rec, "to_type"),
                                      _attr(rec, "scale_type"))


_ADD: dict[str, tuple[Callable, int | None]] = {
    "ACTIVATION": (lambda r, rec, i: r.net.add_activation(i[0], _attr(rec, "type")), 1),
    "ASSERTION": (lambda r, rec, i: r.net.add_assertion(i[0], rec.attrs.get("message") or ""), 1),
    "CAST": (lambda r, rec, i: r.net.add_cast(i[0], _attr(rec, "to_type")), 1),
    "CONCATENATION": (lambda r, rec, i: r.net.add_concatenation(i), None),
    "CONSTANT": (_constant, 0),
    "CONVOLUTION": (_conv, 1),
    "CUMULATIVE": (lambda r, rec, i: r.net.add_cumulative(i[0], i[1], _attr(rec, "op"), _attr(rec, "exclusive"),
                                                          _attr(rec, "reverse")), 2),
    "DECONVOLUTION": (_conv, 1),
    "DEQUANTIZE": (lambda r, rec, i: r.net.add_dequantize(i[0], i[1], _attr(rec, "to_type")), 2),
    "DYNAMIC_QUANTIZE": (_dynamic_quantize, 1),
    "EINSUM": (lambda r, rec, i: r.net.add_einsum(i, _attr(rec, "equation")), None),
    "ELEMENTWISE": (lambda r, rec, i: r.net.add_elementwise(i[0], i[1], _attr(rec, "op")), 2),
    "FILL": (_fill, 0),
    "GATHER": (lambda r, rec, i: r.net.add_gather_v2(i[0], i[1], _attr(rec, "mode")), 2),
    "GRID_SAMPLE": (lambda r, rec, i: r.net.add_grid_sample(i[0], i[1]), 2),
    "IDENTITY": (lambda r, rec, i: r.net.add_identity(i[0]), 1),
    "LRN": (lambda r, rec, i: r.net.add_lrn(i[0], _attr(rec, "window_size"), _attr(rec, "alpha"),
                                            _attr(rec, "beta"), _attr(rec, "k")), 1),
    "MATRIX_MULTIPLY": (lambda r, rec, i: r.net.add_matrix_multiply(i[0], _attr(rec, "op0"), i[1],
                                                                    _attr(rec, "op1")), 2),
    "NMS": (_with_indices_type("add_nms", 3), 3),
    "NON_ZERO": (_with_indices_type("add_non_zero", 1), 1),
    "NORMALIZATION": (_normalization, 3),
    "ONE_HOT": (lambda r, rec, i: r.net.add_one_hot(i[0], i[1], i[2], _attr(rec, "axis")), 3),
    "PADDING": (lambda r, rec, i: r.net.add_padding_nd(i[0], _dims(_attr(rec, "pre_padding_nd")),
                                                       _dims(_attr(rec, "post_padding_nd"))), 1),
    "PARAMETRIC_RELU": (lambda r, rec, i: r.net.add_parametric_relu(i[0], i[1]), 2),
    "POOLING": (lambda r, rec, i: r.net.add_pooling_nd(i[0], _attr(rec, "type"),
                                                       _dims(_attr(rec, "window_size_nd"))), 1),
    "QUANTIZE": (lambda r, rec, i: r.net.add_quantize(i[0], i[1], _attr(rec, "to_type")), 2),
    "RAGGED_SOFTMAX": (lambda r, rec, i: r.net.add_ragged_softmax(i[0], i[1]), 2),
    "REDUCE": (lambda r, rec, i: r.net.add_reduce(i[0], _attr(rec, "op"), _attr(rec, "axes"),
                                                  _attr(rec, "keep_dims")), 1),
    "RESIZE": (lambda r, rec, i: r.net.add_resize(i[0]), 1),
    "REVERSE_SEQUENCE": (lambda r, rec, i: r.net.add_reverse_sequence(i[0], i[1]), 2),
    "SCALE": (_scale, 1),
    "SCATTER": (lambda r, rec, i: r.net.add_scatter(i[0], i[1], i[2], _attr(rec, "mode")), 3),
    "SELECT": (lambda r, rec, i: r.net.add_select(i[0], i[1], i[2]), 3),
    "SHAPE": (lambda r, rec, i: r.net.add_shape(i[0]), 1),
    "SHUFFLE": (lambda r, rec, i: r.net.add_shuffle(i[0]), 1),
    "SLICE": (_slice, 1),
    "SOFTMAX": (lambda r, rec, i: r.net.add_softmax(i[0]), 1),
    "SQUEEZE": (lambda r, rec, i: r.net.add_squeeze(i[0], i[1]), 2),
    "TOPK": (_topk, 1),
    "UNARY": (lambda r, rec, i: r.net.add_unary(i[0], _attr(rec, "op")), 1),
    "UNSQUEEZE": (lambda r, rec, i: r.net.add_unsqueeze(i[0], i[1]), 2),
}

# Structural layers, created through their IIfConditional / ILoop (see _Replay._structural)
_CONDITIONAL = {"CONDITION", "CONDITIONAL_INPUT", "CONDITIONAL_OUTPUT"}
_LOOP = {"RECURRENCE", "TRIP_LIMIT", "ITERATOR", "LOOP_OUTPUT"}

# LayerType name -> the ILayer subclass whose properties the attributes are
_CLASSES = _LAYER_CLASSES  # LayerType name -> the ILayer subclass exposing its attributes

# Attributes an input tensor replaces (input index -> property): not set when that input is given (setting some
# of them would reset the input; the records leave most out, TOPK keeps k=-1)
_INPUT_REPLACES = {"SLICE": {1: "start", 2: "shape", 3: "stride"}, "SHUFFLE": {1: "reshape_dims"},
                   "RESIZE": {1: "shape"}, "FILL": {0: "shape", 1: "alpha", 2: "beta"}, "TOPK": {1: "k"}}


def _replaced_by_input(rec: LayerRecord, key: str) -> bool:
    return any(name == key and index < len(rec.inputs) and rec.inputs[index] is not None
               for index, name in _INPUT_REPLACES.get(rec.type, {}).items())


# Recorded attributes that are not properties to set: owners of structural layers, a method's result
_NOT_SET = {"conditional", "loop", "attention", "is_alpha_beta_int64", "is_v2"}


def replayable_layer_types() -> list[str]:
    return sorted(set(_ADD) | _CONDITIONAL | _LOOP)


# ---- attributes ---------------------------------------------------------------------------------------------

def _value(rec: LayerRecord, key: str, value: Any) -> Any:
    """Plain recorded value -> what the property setter takes."""
    if key in rec.enums:
        return _enum(rec, key, value)
    if key in ("first_transpose", "second_transpose"):
        return trt.Permutation(_dims(value))
    if rec.type == "FILL" and key in ("alpha", "beta"):
        # the Python binding stores a Python int as an int64 alpha/beta, a float as a double
        return int(value) if rec.attrs.get("is_alpha_beta_int64") else float(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _skip(rec: LayerRecord, key: str, value: Any) -> bool:
    if key in _NOT_SET or value is None or _replaced_by_input(rec, key):
        return True
    # IResizeLayer reads back scales=[] when an output shape was set (and shape=None when scales were)
    return rec.type == "RESIZE" and key == "scales" and len(value) == 0


def _set_attributes(layer: Any, rec: LayerRecord) -> None:
    cls = type(layer)
    for key, value in rec.attrs.items():
        if _skip(rec, key, value):
            continue
        prop = getattr(cls, key, None)
        if not isinstance(prop, property):
            raise ReplayError(f"{rec.type} layer {rec.name!r}: {cls.__name__} has no property {key!r} in "
                              f"{backend.NAME} {backend.VERSION}")
        if prop.fset is not None:         # (read-only ones were given to the add_* call)
            try:
                setattr(layer, key, _value(rec, key, value))
            except (TypeError, ValueError, RuntimeError) as e:
                raise ReplayError(f"{rec.type} layer {rec.name!r}: cannot set {key}={value!r} ({e})") from None
        # TensorRT logs a refused value and keeps the old one: read it back
        current = _plain(getattr(layer, key))[0]
        if current != value:
            raise ReplayError(f"{rec.type} layer {rec.name!r}: {key} is {current!r} in the replayed layer, the "
                              f"record says {value!r} (TensorRT's log may say why)")


# ---- ordering -----------------------------------------------------------------------------------------------

def _dependencies(rec: LayerRecord) -> list[str | None]:
    """Tensor ids that must exist before `rec` is added: its inputs, except a loop's back edge (recurrence input 1
    is the value of the next iteration, computed from the recurrence itself)."""
    return rec.inputs[:1] if rec.type == "RECURRENCE" else rec.inputs


def _order(record: NetworkRecord) -> list[int]:
    """Layer indices in recorded order wherever possible, every input before its reader, each if-conditional's
    CONDITION before its other boundary layers."""
    layers = record.layers
    producer = {t: i for i, layer in enumerate(layers) for t in layer.outputs}
    available = {name for name, _, _ in record.inputs}
    condition = {layer.attrs.get("conditional"): i for i, layer in enumerate(layers) if layer.type == "CONDITION"}
    deps: list[set[int]] = []
    missing: list[str] = []
    for i, layer in enumerate(layers):
        d = set()
        for t in _dependencies(layer):
            if t is None or t in available:
                continue
            if t not in producer:
                missing.append(t)
            else:
                d.add(producer[t])
        if layer.type in ("CONDITIONAL_INPUT", "CONDITIONAL_OUTPUT") and layer.attrs.get("conditional") in condition:
            d.add(condition[layer.attrs["conditional"]])
        d.discard(i)
        deps.append(d)
    if missing:
        raise ReplayError(f"layers read tensors no layer produces: {sorted(set(missing))[:5]}")
    order, stuck = dependency_order(dict(enumerate(deps)))
    if stuck:
        names = [layers[i].name for i in stuck][:5]
        raise ReplayError(f"the layers' inputs form a cycle outside a loop's recurrence; layers involved: {names}")
    return order


# ---- replay -------------------------------------------------------------------------------------------------

class _Replay:
    def __init__(self, record: NetworkRecord, builder: Any):
        self.record = record
        self.net = backend.create_network(builder)
        if record.name:
            self.net.name = record.name
        self.weights = _Weights()
        self.tensors: dict[str, Any] = {}
        self.conditionals: dict[str, Any] = {}
        self.loops: dict[str, Any] = {}
        self.back_edges: list[tuple[Any, LayerRecord]] = []

    def tensor(self, rec: LayerRecord, tid: str | None) -> Any:
        if tid is None:
            return None
        try:
            return self.tensors[tid]
        except KeyError:
            raise ReplayError(f"{rec.type} layer {rec.name!r}: input {tid!r} does not exist yet") from None

    def run(self) -> Any:
        for name, dtype, shape in self.record.inputs:
            self.tensors[name] = self.net.add_input(name, _trt_dtype(dtype), _dims(shape))
        for i in _order(self.record):
            self.add(self.record.layers[i])
        for layer, rec in self.back_edges:
            layer.set_input(1, self.tensor(rec, rec.inputs[1]))
        for name in self.record.outputs:
            if name not in self.tensors:
                raise ReplayError(f"network output {name!r} is produced by no layer")
            self.net.mark_output(self.tensors[name])
        return self.net

    def add(self, rec: LayerRecord) -> None:
        ins = [self.tensor(rec, t) for t in _dependencies(rec)]
        if rec.type in _CONDITIONAL or rec.type in _LOOP:
            layer, taken = self._structural(rec, ins)
        elif rec.type in _ADD:
            add, taken = _ADD[rec.type]
            if taken is None:                      # CONCATENATION, EINSUM: every input goes to the add_* call
                taken = len(ins)
            if any(t is None for t in ins[:taken]):
                raise ReplayError(f"{rec.type} layer {rec.name!r}: a required input is absent in the record "
                                  f"(inputs {rec.inputs})")
            layer = add(self, rec, ins)
        else:
            raise ReplayError(f"{rec.type} layer {rec.name!r}: replaying {rec.type} layers is not supported "
                              f"(replayable: {', '.join(replayable_layer_types())})")
        if layer is None:
            raise ReplayError(f"{rec.type} layer {rec.name!r}: TensorRT refused to create the layer")
        cls = _CLASSES.get(rec.type)
        if cls is not None and hasattr(trt, cls):
            layer.__class__ = getattr(trt, cls)
        _set_attributes(layer, rec)
        for index in range(taken, len(ins)):       # inputs the add_* call had no parameter for
            if ins[index] is not None:
                layer.set_input(index, ins[index])
        layer.name = rec.name
        if layer.num_outputs != len(rec.outputs):
            raise ReplayError(f"{rec.type} layer {rec.name!r}: the new layer has {layer.num_outputs} outputs, the "
                              f"record {len(rec.outputs)}")
        for index, (tid, dtype) in enumerate(zip(rec.outputs, rec.output_dtypes)):
            out = layer.get_output(index)
            out.name = tid
            self.tensors[tid] = out
            if torch_dtype(out.dtype) != dtype:          # compared as recorded (INT4 is recorded as int8)
                raise ReplayError(f"{rec.type} layer {rec.name!r}: output {tid!r} is {out.dtype.name} in the "
                                  f"replayed network, {dtype} in the record")

    def _structural(self, rec: LayerRecord, ins: list) -> tuple[Any, int]:
        """if-conditional and loop boundary layers: made by their IIfConditional / ILoop."""
        if rec.type in _CONDITIONAL:
            owner = rec.attrs.get("conditional")
            cond = self.conditionals.get(owner)
            if cond is None:
                cond = self.conditionals[owner] = self.net.add_if_conditional()
                if owner:
                    cond.name = owner
            if rec.type == "CONDITION":
                return cond.set_condition(ins[0]), 1
            if rec.type == "CONDITIONAL_INPUT":
                return cond.add_input(ins[0]), 1
            return cond.add_output(ins[0], ins[1]), 2
        owner = rec.attrs.get("loop")
        loop = self.loops.get(owner)
        if loop is None:
            loop = self.loops[owner] = self.net.add_loop()
            if owner:
                loop.name = owner
        if rec.type == "RECURRENCE":
            layer = loop.add_recurrence(ins[0])
            if len(rec.inputs) > 1 and rec.inputs[1] is not None:
                self.back_edges.append((layer, rec))
            return layer, 1
        if rec.type == "TRIP_LIMIT":
            return loop.add_trip_limit(ins[0], _attr(rec, "kind")), 1
        if rec.type == "ITERATOR":
            return loop.add_iterator(ins[0], rec.attrs.get("axis", 0), bool(rec.attrs.get("reverse"))), 1
        return loop.add_loop_output(ins[0], _attr(rec, "kind"), rec.attrs.get("axis", 0)), 1


def replay(record: NetworkRecord, builder: Any = None) -> tuple[Any, Any, list]:
    """(network, builder, keepalive): a new strongly typed network of `builder` (a new one if None) with the
    recorded layers, attributes, weights, layer and tensor names, inputs and outputs (in recorded order).
    `keepalive` holds the memory the network's weights point at: keep it until the engine is built."""
    if builder is None:
        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    r = _Replay(record, builder)
    network = r.run()
    return network, builder, r.weights.keep
