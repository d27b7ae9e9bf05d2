"""Read a built TensorRT `INetworkDefinition` back into plain records (layer type, attributes, weights, tensor ids).

Owns the translation TensorRT object -> plain Python/torch data; it must not interpret what a layer computes
(that is network/reference.py) and keeps no TensorRT object in its output.

Record format (all plain data; `NetworkRecord.to_state()` gives a dict that `torch.save(weights_only=True)` accepts):

- `NetworkRecord.inputs`: list of `(name, torch.dtype, shape)`; -1 marks a dynamic dimension.
- `NetworkRecord.outputs`: list of tensor ids (network output names, in network order).
- `NetworkRecord.layers`: list of `LayerRecord` in network order:
  - `type`: `trt.LayerType` member name (e.g. "CONVOLUTION"); `name`: the layer name.
  - `attrs`: the layer's TensorRT Python properties by their exact property names (so a replay can do
    `setattr(layer, key, value)`), converted to plain values: enums by member name, Dims as tuples of ints. For
    POOLING and ACTIVATION the kind is under "type" (PoolingType / ActivationType, as the cast layer's `.type`).
    Structural layers carry "conditional" (CONDITION, CONDITIONAL_INPUT, CONDITIONAL_OUTPUT) or "loop" (loop
    layers): the name of the IIfConditional / ILoop they belong to.
  - `enums`: attr name -> `trt` enum class name, for every attr stored as an enum member name
    (`getattr(trt, rec.enums[k])[rec.attrs[k]]` gives the enum back).
  - `weights`: weight-valued properties (kernel, bias, weights of CONSTANT, shift/scale/power of SCALE), as
    torch tensors of the weights' own dtype, shaped as the layer uses them; absent when empty.
  - `inputs`: tensor ids, None for an absent optional input; `outputs`: tensor ids.
  - `output_dtypes` (torch.dtype) and `output_shapes` (tuples, -1 dynamic) as the network declares them.
- Tensor ids are the ITensor names (TensorRT keeps them unique; a duplicate would get a "#k" suffix).
"""

from __future__ import annotations

import ctypes
import heapq
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from .. import dtypes
from ..backend import trt

# ---- DataType <-> torch.dtype ---------------------------------------------------------------------------

def torch_dtype(trt_dtype: Any) -> torch.dtype:
    """`trt.DataType` (or its member name) -> torch.dtype (the table: torch2trt/dtypes.py)."""
    return dtypes.from_trt(trt_dtype)


# ---- records --------------------------------------------------------------------------------------------

@dataclass
class LayerRecord:
    type: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    inputs: list[str | None] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_dtypes: list[torch.dtype] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    enums: dict[str, str] = field(default_factory=dict)

    _FIELDS = ("type", "name", "attrs", "weights", "inputs", "outputs", "output_dtypes", "output_shapes", "enums")

    def to_state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._FIELDS}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LayerRecord:
        """A record from saved plain data, every field checked for its type (ValueError says which)."""
        if not isinstance(state, dict):
            raise ValueError(f"a layer record must be a dict, got {type(state).__name__}")
        kind, name = state.get("type"), state.get("name")
        if not isinstance(name, str):
            raise ValueError(f"a layer record has no str 'name' (got {type(name).__name__})")
        if kind not in _LAYER_TYPES:
            raise ValueError(f"layer {name!r} has unknown type {_short(kind)}; expected a trt.LayerType member name")
        where = f"{kind} layer {name!r}"
        fields = {k: state[k] for k in cls._FIELDS if k in state}
        for key, check, what in _LAYER_FIELD_CHECKS:
            if key in fields and not check(fields[key]):
                raise ValueError(f"{where}: {key!r} must be {what}, got {_short(fields[key])}")
        for key, w in fields.get("weights", {}).items():
            if not isinstance(w, torch.Tensor):
                raise ValueError(f"{where}: weights[{key!r}] must be a tensor, got {type(w).__name__}")
        outputs = fields.get("outputs", [])
        for key in ("output_dtypes", "output_shapes"):
            if len(fields.get(key, [])) != len(outputs):
                raise ValueError(f"{where}: {len(outputs)} outputs, {len(fields.get(key, []))} {key}")
        if "output_shapes" in fields:
            fields["output_shapes"] = [tuple(s) for s in fields["output_shapes"]]
        return cls(**fields)


@dataclass
class NetworkRecord:
    inputs: list[tuple[str, torch.dtype, tuple[int, ...]]]
    outputs: list[str]
    layers: list[LayerRecord]
    name: str = ""
    # run-time caches of the reference executor (execution plan, prepared weights); never saved
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def to_state(self) -> dict[str, Any]:
        """Plain nested dicts/lists/tuples/tensors/dtypes: loadable with torch.load(weights_only=True)."""
        return {"format": 1, "name": self.name, "inputs": [tuple(i) for i in self.inputs],
                "outputs": list(self.outputs), "layers": [layer.to_state() for layer in self.layers]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NetworkRecord:
        """A record from saved plain data (`to_state`), checked so that a replay or the reference executor cannot
        fail on its structure later: field types, every tensor produced once and read only where produced, no
        cycle outside a loop's back edge, if-conditional layers with their condition. ValueError says what."""
        if not isinstance(state, dict) or state.get("format") != 1:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"unknown network record format {_short(got)} (this version reads 1)")
        inputs, outputs, layers = state.get("inputs"), state.get("outputs"), state.get("layers")
        name = state.get("name", "")
        if not isinstance(inputs, (list, tuple)) or not all(
                isinstance(i, (list, tuple)) and len(i) == 3 and isinstance(i[0], str) and isinstance(i[1], torch.dtype)
                and _is_dims(i[2]) for i in inputs):
            raise ValueError(f"'inputs' must be a list of (name, torch.dtype, shape) entries, got {_short(inputs)}")
        if not _is_names(outputs) or len(set(outputs)) != len(outputs):
            raise ValueError(f"'outputs' must be a list of distinct tensor names, got {_short(outputs)}")
        if not isinstance(layers, (list, tuple)) or not isinstance(name, str):
            raise ValueError("'layers' must be a list and 'name' a str")
        record = cls([(n, d, tuple(s)) for n, d, s in inputs], list(outputs),
                     [LayerRecord.from_state(s) for s in layers], name)
        record._check_wiring()
        return record

    def _check_wiring(self) -> None:
        producer: dict[str, str | None] = {}          # tensor id -> name of the layer making it (None: an input)
        for name, _, _ in self.inputs:
            if name in producer:
                raise ValueError(f"network input {name!r} is declared twice")
            producer[name] = None
        for layer in self.layers:
            for t in layer.outputs:
                if t in producer:
                    first = "the network input and layer" if producer[t] is None else f"layers {producer[t]!r} and"
                    raise ValueError(f"tensor {t!r} is produced by {first} {layer.name!r}")
                producer[t] = layer.name
        for layer in self.layers:
            for t in layer.inputs:
                if t is not None and t not in producer:
                    raise ValueError(f"{layer.type} layer {layer.name!r} reads tensor {t!r}, which no layer produces")
        for t in self.outputs:
            if producer.get(t) is None:
                raise ValueError(f"network output {t!r} is produced by no layer")
        conditionals = {layer.attrs.get("conditional") for layer in self.layers if layer.type == "CONDITION"}
        for layer in self.layers:
            arity = _MIN_INPUTS.get(layer.type, 0)
            if len(layer.inputs) < arity or any(t is None for t in layer.inputs[:arity]):
                raise ValueError(f"{layer.type} layer {layer.name!r} needs {arity} inputs, the record has "
                                 f"{layer.inputs}")
            owner = layer.attrs.get("conditional")
            if layer.type in _CONDITIONAL_TYPES and (not isinstance(owner, str) or owner not in conditionals):
                raise ValueError(f"{layer.type} layer {layer.name!r} belongs to conditional {owner!r}, which has no "
                                 "CONDITION layer")
        index = {t: i for i, layer in enumerate(self.layers) for t in layer.outputs}
        deps = {i: {index[t] for t in (layer.inputs[:1] if layer.type == "RECURRENCE" else layer.inputs)
                    if t in index} for i, layer in enumerate(self.layers)}
        _, stuck = dependency_order(deps)
        if stuck:
            names = [self.layers[i].name for i in sorted(stuck)][:5]
            raise ValueError(f"the layers' inputs form a cycle outside a loop's recurrence; layers involved: {names}")

    def weight_bytes(self) -> int:
        return sum(w.numel() * w.element_size() for layer in self.layers for w in layer.weights.values())

    def layer_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.type] = counts.get(layer.type, 0) + 1
        return counts


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_dims(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= MAX_DIMS and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in value)


def _is_names(value: Any, optional: bool = False) -> bool:
    return isinstance(value, list) and all(isinstance(t, str) or (optional and t is None) for t in value)


def _is_str_dict(value: Any, values: type | tuple = object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, values) for k, v in value.items())


MAX_DIMS = 8                                   # TensorRT's Dims::MAX_DIMS
_LAYER_TYPES = set(trt.LayerType.__members__)
_CONDITIONAL_TYPES = {"CONDITION", "CONDITIONAL_INPUT", "CONDITIONAL_OUTPUT"}
_MIN_INPUTS = {"CONDITION": 1, "CONDITIONAL_INPUT": 1, "CONDITIONAL_OUTPUT": 2}
_LAYER_FIELD_CHECKS = (
    ("attrs", _is_str_dict, "a dict with str keys"),
    ("weights", _is_str_dict, "a dict with str keys"),
    ("inputs", lambda v: _is_names(v, optional=True), "a list of tensor names (or None)"),
    ("outputs", _is_names, "a list of tensor names"),
    ("output_dtypes", lambda v: isinstance(v, list) and all(isinstance(d, torch.dtype) for d in v),
     "a list of torch dtypes"),
    ("output_shapes", lambda v: isinstance(v, list) and all(_is_dims(s) for s in v),
     f"a list of shapes (at most {MAX_DIMS} ints >= -1 each)"),
    ("enums", lambda v: _is_str_dict(v, str), "a dict of str to str"),
)

# The largest tensor a saved network may declare or have computed, in elements: what its data can justify
# (runtime/saved.py checks declared sizes at load, network/reference.py computed ones before allocating).
MIN_ELEMENT_BOUND = 2 ** 26
ELEMENTS_PER_BYTE = 64


def element_bound(carried_bytes: int) -> int:
    """max(2**26, 64 x `carried_bytes`): no legitimate tensor is more than 64 elements per byte of the data the
    network (weights, engine, inputs) carries, apart from small networks, which get 2**26 elements."""
    return max(MIN_ELEMENT_BOUND, ELEMENTS_PER_BYTE * carried_bytes)


# ---- reading layers -------------------------------------------------------------------------------------

# LayerType name -> the ILayer subclass that exposes its attributes
_LAYER_CLASSES: dict[str, str] = {
    "ACTIVATION": "IActivationLayer", "ASSERTION": "IAssertionLayer", "CAST": "ICastLayer",
    "CONCATENATION": "IConcatenationLayer", "CONDITION": "IConditionLayer",
    "CONDITIONAL_INPUT": "IIfConditionalInputLayer", "CONDITIONAL_OUTPUT": "IIfConditionalOutputLayer",
    "CONSTANT": "IConstantLayer", "CONVOLUTION": "IConvolutionLayer", "CUMULATIVE": "ICumulativeLayer",
    "DECONVOLUTION": "IDeconvolutionLayer", "DEQUANTIZE": "IDequantizeLayer",
    "DYNAMIC_QUANTIZE": "IDynamicQuantizeLayer", "EINSUM": "IEinsumLayer", "ELEMENTWISE": "IElementWiseLayer",
    "FILL": "IFillLayer", "GATHER": "IGatherLayer", "GRID_SAMPLE": "IGridSampleLayer",
    "IDENTITY": "IIdentityLayer", "ITERATOR": "IIteratorLayer", "LOOP_OUTPUT": "ILoopOutputLayer",
    "LRN": "ILRNLayer", "MATRIX_MULTIPLY": "IMatrixMultiplyLayer", "NMS": "INMSLayer",
    "NON_ZERO": "INonZeroLayer", "NORMALIZATION": "INormalizationLayer", "ONE_HOT": "IOneHotLayer",
    "PADDING": "IPaddingLayer", "PARAMETRIC_RELU": "IParametricReLULayer", "POOLING": "IPoolingLayer",
    "QUANTIZE": "IQuantizeLayer", "RAGGED_SOFTMAX": "IRaggedSoftMaxLayer", "RECURRENCE": "IRecurrenceLayer",
    "REDUCE": "IReduceLayer", "RESIZE": "IResizeLayer", "REVERSE_SEQUENCE": "IReverseSequenceLayer",
    "SCALE": "IScaleLayer", "SCATTER": "IScatterLayer", "SELECT": "ISelectLayer", "SHAPE": "IShapeLayer",
    "SHUFFLE": "IShuffleLayer", "SLICE": "ISliceLayer", "SOFTMAX": "ISoftMaxLayer", "SQUEEZE": "ISqueezeLayer",
    "TOPK": "ITopKLayer", "TRIP_LIMIT": "ITripLimitLayer", "UNARY": "IUnaryLayer", "UNSQUEEZE": "IUnsqueezeLayer",
    "KV_CACHE_UPDATE": "IKVCacheUpdateLayer", "ROTARY_EMBEDDING": "IRotaryEmbeddingLayer",
    "ATTENTION_INPUT": "IAttentionInputLayer", "ATTENTION_OUTPUT": "IAttentionOutputLayer",
}
# IAttention (the helper behind an ATTENTION_INPUT / ATTENTION_OUTPUT pair) properties recorded on ATTENTION_INPUT
_ATTENTION_ATTRS = ("norm_op", "causal_kind", "causal", "decomposable", "query_form", "key_value_form")
# Layer types whose cast class reuses `.type` for their kind (PoolingType, ActivationType)
_KIND_IN_TYPE = {"POOLING", "ACTIVATION"}
# Properties that are redundant views of others (padding_nd is pre_padding when pre != post) or not data
_SKIP_ATTRS = {"padding_nd"}
# Properties that name the structure a layer belongs to
_OWNER_ATTRS = ("conditional", "loop", "attention")
_ILAYER_ATTRS = set(dir(trt.ILayer))


def _plain(value: Any) -> tuple[Any, str | None]:
    """A TensorRT property value -> (plain value, enum class name or None)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value, None
    if hasattr(type(value), "__members__"):
        return value.name, type(value).__name__
    if isinstance(value, trt.Permutation):
        return tuple(int(v) for v in value), None
    if isinstance(value, trt.Dims) or isinstance(value, (tuple, list)):
        items = [_plain(v)[0] for v in value]
        return (list(items) if isinstance(value, list) else tuple(items)), None
    if isinstance(value, np.generic):
        return value.item(), None
    raise TypeError(f"cannot turn {type(value).__name__} into a plain value")


# ---------------------------------------------------------------------------------------------------------
# BACKEND DIFFERENCE (marked): the Python bindings return `trt.Weights` instead of a numpy array for weight
# types numpy lacks (BF16, FP8, INT4, ...) and expose no data pointer. The pybind11 instance holds a pointer to
# the C++ `nvinfer1::Weights {DataType type; void const* values; int64_t count;}` right after the PyObject
# header; we read the bytes through it and check type and count against what the binding reports.
# ---------------------------------------------------------------------------------------------------------
def _weights_bytes(w: Any) -> bytes:
    header = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)     # ob_refcnt + ob_type
    cpp = ctypes.c_void_p.from_address(id(w) + header).value
    if not cpp:
        raise RuntimeError("cannot locate the data of a trt.Weights object")
    wtype = ctypes.c_int32.from_address(cpp).value
    values = ctypes.c_void_p.from_address(cpp + 8).value
    count = ctypes.c_int64.from_address(cpp + 16).value
    if wtype != int(w.dtype) or count != w.size:
        raise RuntimeError(f"trt.Weights layout check failed (type {wtype} vs {int(w.dtype)}, "
                           f"count {count} vs {w.size}); this TensorRT build lays Weights out differently")
    if not values or not w.nbytes:
        return b""
    return ctypes.string_at(values, w.nbytes)


def weights_to_tensor(w: Any) -> torch.Tensor:
    """Weights (numpy view or trt.Weights) -> a flat torch tensor that owns a copy of the data."""
    if isinstance(w, np.ndarray):
        return torch.from_numpy(np.array(w, copy=True).reshape(-1))
    dtype = torch_dtype(w.dtype)
    if w.dtype.name == "INT4":                      # two values per byte, low nibble first
        raw = torch.frombuffer(bytearray(_weights_bytes(w)), dtype=torch.uint8)
        lo, hi = (raw & 0xF).to(torch.int8), (raw >> 4).to(torch.int8)
        vals = torch.stack([lo, hi], -1).reshape(-1)[: w.size]
        return torch.where(vals > 7, vals - 16, vals)
    data = _weights_bytes(w)
    return torch.frombuffer(bytearray(data), dtype=dtype).clone() if data else torch.empty(0, dtype=dtype)


def _shape_weights(kind: str, key: str, t: torch.Tensor, layer: Any, attrs: dict, in_shape: tuple) -> torch.Tensor:
    """Give flat weights the shape the layer uses them in."""
    if kind == "CONSTANT":
        return t.reshape(attrs["shape"])
    if kind in ("CONVOLUTION", "DECONVOLUTION") and key == "kernel":
        k = tuple(attrs["kernel_size_nd"])
        if kind == "CONVOLUTION":                  # (out maps, in channels / groups, *kernel)
            return t.reshape(attrs["num_output_maps"], -1, *k)
        return t.reshape(-1, attrs["num_output_maps"] // attrs["num_groups"], *k)  # (in, out / groups, *k)
    if kind == "SCALE" and t.numel() > 1:
        mode, axis = attrs["mode"], attrs["channel_axis"]
        if mode == "CHANNEL":
            return t.reshape(-1)
        if mode == "ELEMENTWISE" and all(d >= 0 for d in in_shape[axis:]):
            return t.reshape(in_shape[axis:])
    return t


class _TensorIds:
    """ITensor -> id (its name; unique within a network). Keeps the wrappers alive so identity stays valid."""

    def __init__(self):
        self._ids: dict[Any, str] = {}
        self._used: set[str] = set()
        self._keep: list[Any] = []

    def __call__(self, tensor: Any) -> str:
        if tensor in self._ids:
            return self._ids[tensor]
        name = tensor.name
        if name in self._used:
            k = 1
            while f"{name}#{k}" in self._used:
                k += 1
            name = f"{name}#{k}"
        self._ids[tensor] = name
        self._used.add(name)
        self._keep.append(tensor)
        return name


def _dynamic_attrs(kind: str, inputs: list) -> set[str]:
    """Properties that an input tensor replaces (TensorRT logs an error when they are read then)."""
    given = {i for i, t in enumerate(inputs) if t is not None}
    if kind == "RESIZE" and 1 in given:
        return {"shape", "scales"}
    if kind == "SLICE":
        return {name for i, name in ((1, "start"), (2, "shape"), (3, "stride")) if i in given}
    if kind == "FILL" and 0 in given:
        return {"shape"}
    return set()


def _read_layer(layer: Any, tensor_id: _TensorIds, owned: Mapping[int, torch.Tensor],
                meta_above: int | None = None) -> LayerRecord:
    """One layer as a record. `meta_above`: weights with more elements are read as `meta` tensors (shape and
    dtype, no copy) — for shape-only evaluation (network/profile_eval.py)."""
    kind = layer.type.name                       # LayerType: read BEFORE the cast below changes `.type`
    rec = LayerRecord(type=kind, name=layer.name)
    inputs = [layer.get_input(i) for i in range(layer.num_inputs)]
    rec.inputs = [None if t is None else tensor_id(t) for t in inputs]
    outs = [layer.get_output(i) for i in range(layer.num_outputs)]
    rec.outputs = [tensor_id(t) for t in outs]
    rec.output_dtypes = [torch_dtype(t.dtype) for t in outs]
    rec.output_shapes = [tuple(int(d) for d in t.shape) for t in outs]
    in_shape = tuple(int(d) for d in inputs[0].shape) if inputs and inputs[0] is not None else ()

    cls_name = _LAYER_CLASSES.get(kind)
    if cls_name is None or not hasattr(trt, cls_name):
        return rec                                # e.g. PLUGIN: type and wiring only; the executor refuses it
    cls = getattr(trt, cls_name)
    layer.__class__ = cls
    raw: dict[str, Any] = {}
    skip = _SKIP_ATTRS | _dynamic_attrs(kind, inputs)
    if kind in _KIND_IN_TYPE:
        raw["type"] = layer.type
    for attr in sorted(a for a in dir(cls) if not a.startswith("_") and a not in _ILAYER_ATTRS):
        if attr in skip or callable(getattr(cls, attr)):
            continue
        try:
            raw[attr] = getattr(layer, attr)
        except (RuntimeError, ValueError, TypeError):
            continue                              # property not set on this layer (e.g. block_shape)
    if kind == "FILL":
        raw["is_alpha_beta_int64"] = bool(layer.is_alpha_beta_int64())

    weights = {}
    if kind == "ATTENTION_INPUT" and raw.get("attention") is not None:
        for attr in _ATTENTION_ATTRS:
            if hasattr(raw["attention"], attr):
                raw[attr] = getattr(raw["attention"], attr)
    for attr, value in raw.items():
        if attr in _OWNER_ATTRS:
            rec.attrs[attr] = value.name if value is not None else None
        elif isinstance(value, (np.ndarray, trt.Weights)):
            weights[attr] = value
        else:
            rec.attrs[attr], enum = _plain(value)
            if enum is not None:
                rec.enums[attr] = enum
    for attr, value in weights.items():
        mine = owned.get(value.ctypes.data) if isinstance(value, np.ndarray) and value.size else None
        if mine is not None and mine.numel() == value.size and mine.dtype == torch.from_numpy(value[:0]).dtype:
            t = mine.reshape(-1)                  # memory of the conversion's own: shared, not copied
        elif meta_above is not None and value.size > meta_above and (
                isinstance(value, np.ndarray) or value.dtype.name != "INT4"):
            dtype = torch.from_numpy(value[:0]).dtype if isinstance(value, np.ndarray) else torch_dtype(value.dtype)
            t = torch.empty(value.size, dtype=dtype, device="meta")
        else:
            t = weights_to_tensor(value)
        if t.numel():
            rec.weights[attr] = _shape_weights(kind, attr, t, layer, rec.attrs, in_shape)
    return rec


def read_network(network: Any, owned: Mapping[int, torch.Tensor] | None = None) -> NetworkRecord:
    """Read every layer, input and output of `network` into a plain `NetworkRecord`.

    The record holds copies of the weights, except those in `owned` (data pointer -> contiguous tensor whose
    memory the caller hands over, e.g. a conversion's folded weights), which it shares. Networks built by the
    ONNX parser point at weight memory the parser owns: keep the parser alive until this returns."""
    owned = owned or {}
    tensor_id = _TensorIds()
    inputs = []
    for i in range(network.num_inputs):
        t = network.get_input(i)
        inputs.append((tensor_id(t), torch_dtype(t.dtype), tuple(int(d) for d in t.shape)))
    layers = [_read_layer(network.get_layer(i), tensor_id, owned) for i in range(network.num_layers)]
    outputs = [tensor_id(network.get_output(i)) for i in range(network.num_outputs)]
    return NetworkRecord(inputs, outputs, layers, name=network.name or "")


def dependency_order(deps: dict[int, set[int]]) -> tuple[list[int], list[int]]:
    """Nodes ordered so that each comes after the nodes it depends on, the smallest index first whenever
    several are ready (so a network's recorded order is kept where it already is topological).
    Returns (order, nodes left waiting on a cycle)."""
    users: dict[int, list[int]] = {i: [] for i in deps}
    for i, d in deps.items():
        for j in d:
            users[j].append(i)
    waiting = {i: len(d) for i, d in deps.items()}
    ready = [i for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    return order, [i for i, n in waiting.items() if n]
