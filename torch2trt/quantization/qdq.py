"""Q/DQ pairs for the converters: the quantized-dequantized network tensor of a quantizable call's data input
(per-tensor scale from calibration) and of its weights (per-output-channel abs-max scales).

Where the pairs go follows TensorRT's "Q/DQ Layer-Placement Recommendations" (section of "Explicit Quantization",
docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html):
- the data and weight inputs of convolutions, transposed convolutions and matrix multiplies (linear);
- the residual input of an add that joins two activations ("Quantize the residual input in skip connections":
  TensorRT fuses the add into the quantized convolution that produces its other input, and a Q/DQ pair on that
  convolution's output would keep them apart); an add without such a convolution gets the pair on both inputs,
  which TensorRT fuses into an INT8 add (see quantized_add_operands);
- the input of max and average pooling, which TensorRT runs in INT8 when its input is quantized (the guide's
  quantizable AveragePool fused with its DQ and Q; max pooling commutes with Q/DQ).
FP8 places pairs on the weighted layers only and leaves adds and pools float: what is documented to run in FP8 is
matrix multiplies and convolutions (TensorRT-RTX's "Working with Quantized Types": "FP8 is only supported for matrix
multiplications (GEMM)"), and the residual-add and pooling fusions above are the guide's INT8 examples.

Strongly typed explicit quantization: QUANTIZE (to int8 / fp8) then DEQUANTIZE (back to the data's float type) are
plain layers; everything else in the network stays in the model's float dtype and TensorRT fuses the pairs into the
layer they feed. Converters call these helpers and nothing else; without a plan on the context they change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..backend import trt
from ..tracing.context import get_trt
from ..tracing.registry import register
from .calibrate import (
    ACTIVATION_FAMILIES,
    ADD_OPERANDS,
    QMAX,
    Calibration,
    add_operands,
    call_key,
    channels_of,
    family_of,
    quantizable,
    weight_amax,
)
from .modelopt import quantizer_mode, scale_and_axis, tensor_quantizers

_TRT_TYPE = {"int8": "int8", "fp8": "fp8"}
# op families whose weights TensorRT-RTX's weight-only INT8 covers ("INT8 WoQ GEMM": matrix multiplies only)
_WEIGHT_ONLY_FAMILIES = {"linear"}


@dataclass
class QuantizationPlan:
    """What the converters quantize in one conversion (ctx.quantization)."""
    mode: str                                   # "int8", "fp8", or "modelopt" (the model's own quantizers)
    calibration: Calibration | None             # activation ranges; None in weight-only and ModelOpt modes
    weight_only: bool = False
    weight_quantizers: dict = field(default_factory=dict)   # ModelOpt: module path -> its weight TensorQuantizer
    counts: dict = field(default_factory=dict)  # (module path, family) -> calls seen so far in this conversion
    quantized: list = field(default_factory=list)   # (call key, "input" | "weights") in network order
    producers: dict = field(default_factory=dict)   # network tensor name -> the layer that makes it (read lazily)
    scanned: int = 0                                # layers of the network read into `producers` so far

    @property
    def qmax(self) -> float:
        return QMAX[self.mode]

    def summary(self) -> dict:
        return {"mode": self.mode, "weight_only": self.weight_only,
                "calibration": self.calibration.to_state() if self.calibration else None,
                "quantized": [list(q) for q in self.quantized]}


def plan_of(ctx) -> QuantizationPlan | None:
    return getattr(ctx, "quantization", None)


def add_qdq(ctx, itensor, mode: str, scale: torch.Tensor, axis: int | None, what: str):
    """QUANTIZE (to `mode`'s type) then DEQUANTIZE (back to itensor's type) with `scale` (0-d: per tensor; 1-D:
    per channel along `axis`)."""
    s = ctx.constant(scale.detach().float().reshape(scale.shape))
    q = ctx.network.add_quantize(itensor, s, getattr(trt, _TRT_TYPE[mode]))
    dq = ctx.network.add_dequantize(q.get_output(0), s, itensor.dtype)
    if axis is not None:
        q.axis = dq.axis = axis
    ctx.name_layer(q, f"{what}_quantize")
    ctx.name_layer(dq, f"{what}_dequantize")
    return dq.get_output(0)


def _next_key(ctx, plan: QuantizationPlan, family: str) -> str:
    path = ctx.module_path
    index = plan.counts.get((path, family), 0)
    plan.counts[(path, family)] = index + 1
    return call_key(path, family, index)


def _activations_quantized(plan: QuantizationPlan | None, family: str) -> bool:
    """Whether this plan places activation Q/DQ pairs for `family` (the call is counted either way). Not in
    weight-only mode; not for ModelOpt (its input quantizers made the pairs already); in FP8 for the weighted
    families only."""
    return plan is not None and not plan.weight_only and plan.mode != "modelopt" \
        and not (plan.mode == "fp8" and family in ACTIVATION_FAMILIES)


def _activation_qdq(ctx, plan: QuantizationPlan, key: str, family: str, x: torch.Tensor, itensor):
    """`itensor` through a Q/DQ pair with the calibrated per-tensor scale of `key` (itself when calibration left
    that input float)."""
    calib = plan.calibration
    if key in calib.unquantized:
        return itensor
    amax = calib.amax.get(key)
    if amax is None:
        seen = ", ".join(list(calib.amax)[:6]) or "none"
        raise ctx.unsupported(f"{ctx.method_name}: calibration measured no range for this call ({key}); it saw "
                              f"{len(calib.amax)} quantizable call(s): {seen}. The model's forward must take the "
                              "same path for the calibration data as for the sample inputs")
    channels = channels_of(family, x)
    if calib.channels.get(key) != channels:
        raise ctx.unsupported(f"{ctx.method_name}: the calibration range of {key} was measured on an input with "
                              f"{calib.channels.get(key)} channels, this call's input has {channels}; the model's "
                              "forward took a different path during calibration")
    plan.quantized.append((key, "input"))
    scale = amax / plan.qmax if amax > 0 else 1.0      # TensorRT requires strictly positive scales
    return add_qdq(ctx, itensor, plan.mode, torch.tensor(scale), None, "input")


def quantized_input(ctx, x: torch.Tensor, itensor):
    """`itensor` (the network value of the data input `x` of the call being converted: a convolution, linear or
    pooling) through a Q/DQ pair with the calibrated per-tensor scale; `itensor` itself when nothing is
    quantized."""
    plan = plan_of(ctx)
    family = family_of(ctx.method)
    if plan is None or family is None or family == "add" or not quantizable(family, ctx.get_arg("weight", 1, None)):
        return itensor
    key = _next_key(ctx, plan, family)
    if not _activations_quantized(plan, family):
        return itensor
    return _activation_qdq(ctx, plan, key, family, x, itensor)


def quantized_add_operands(ctx):
    """The operands of the add being converted (PyTorch's `input` and `other`, in that order) as network tensors,
    the residual one(s) through Q/DQ pairs, when the add joins two activations (calibrate.add_operands) in int8
    mode; None otherwise (the converter reads its operands itself). Of the operands that a quantized convolution /
    matrix multiply produces (directly or through the batch norm / bias TensorRT fuses into it), the first stays
    float, for TensorRT to fuse that layer with the add; every other operand gets its pair. When neither comes from
    such a layer, both get one (an INT8 add)."""
    plan = plan_of(ctx)
    if plan is None or family_of(ctx.method) != "add":
        return None
    pair = add_operands(ctx.method_args, ctx.method_kwargs, lambda t: get_trt(t) is not None)
    if pair is None:
        return None
    key = _next_key(ctx, plan, "add")
    if not _activations_quantized(plan, "add"):
        return None
    values = [ctx.trt(v, ctx.method_return.dtype) for v in pair]
    fused = next((i for i, t in enumerate(values) if _from_quantized_weighted(ctx, plan, t)), None)
    return tuple(v if i == fused else _activation_qdq(ctx, plan, f"{key}.{name}", "add", x, v)
                 for i, (name, x, v) in enumerate(zip(ADD_OPERANDS, pair, values)))


# layers TensorRT fuses into the convolution / matrix multiply before them (batch norm is a SCALE layer, a linear
# bias an ELEMENTWISE SUM with a constant) and reshapes that keep the values
_FUSED_AFTER_WEIGHTED = ("SCALE", "ELEMENTWISE", "SHUFFLE")
_WEIGHTED_LAYERS = ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY")


def _producer(ctx, plan: QuantizationPlan, itensor):
    network = ctx.network
    for i in range(plan.scanned, network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            plan.producers[layer.get_output(j).name] = layer
    plan.scanned = network.num_layers
    return plan.producers.get(itensor.name)


def _from_quantized_weighted(ctx, plan: QuantizationPlan, itensor) -> bool:
    """Whether `itensor` is the output of a convolution / matrix multiply whose data input is dequantized, directly
    or through up to three layers TensorRT fuses into it (batch norm's SCALE, a bias add of a constant, reshapes)."""
    for _ in range(4):
        layer = _producer(ctx, plan, itensor)
        if layer is None:
            return False
        kind = layer.type.name
        if kind in _WEIGHTED_LAYERS:
            source = _producer(ctx, plan, layer.get_input(0))
            return source is not None and source.type.name == "DEQUANTIZE"
        if kind not in _FUSED_AFTER_WEIGHTED:
            return False
        if kind == "ELEMENTWISE":
            layer.__class__ = trt.IElementWiseLayer     # get_layer gives the base class
            ins = [layer.get_input(k) for k in range(layer.num_inputs)]
            kinds = [getattr(_producer(ctx, plan, t), "type", None) for t in ins]
            computed = [t for t, k in zip(ins, kinds) if k is None or k.name != "CONSTANT"]
            if layer.op.name != "SUM" or len(computed) != 1:
                return False
            itensor = computed[0]
        else:
            itensor = layer.get_input(0)
    return False


def quantized_weights(ctx, weight: torch.Tensor, axis: int, dtype: torch.dtype, rank: int | None = None):
    """The network tensor of constant `weight` (cast to `dtype`, size-1 axes prepended up to `rank`) through a Q/DQ
    pair with per-channel scales along `axis` (the output channels: abs-max / qmax); None when the weights of this
    call are not quantized (the converter then uses its plain weights)."""
    plan = plan_of(ctx)
    family = family_of(ctx.method)
    if plan is None or family is None or (plan.weight_only and family not in _WEIGHT_ONLY_FAMILIES):
        return None
    w = weight.detach().to(dtype)
    path = ctx.module_path
    mode = plan.mode
    if mode == "modelopt":
        # the layer got weights the model's quantizer fake-quantized (q * s): Q/DQ with the same s is exact
        wq = plan.weight_quantizers.get(path)
        try:
            mode = quantizer_mode(wq) if wq is not None else None
            if mode is None:
                return None
            scale, q_axis = scale_and_axis(wq, weight.dim())
        except ValueError as e:
            raise ctx.unsupported(f"{ctx.method_name} in {path}: {e}") from None
        if q_axis is not None and q_axis != axis % weight.dim():
            raise ctx.unsupported(f"{ctx.method_name} in {path}: ModelOpt quantized the weights along axis "
                                  f"{q_axis}; TensorRT's per-channel weight scales are along the output channels "
                                  f"(axis {axis})")
    else:
        amax = weight_amax(w, axis)
        scale = torch.where(amax > 0, amax / plan.qmax, torch.ones_like(amax))
    if rank is not None and w.dim() < rank:
        axis = axis % w.dim() + rank - w.dim()
        w = w.reshape((1,) * (rank - w.dim()) + tuple(w.shape))
    plan.quantized.append((call_key(path, family, plan.counts.get((path, family), 1) - 1), "weights"))
    return add_qdq(ctx, ctx.constant(w), mode, scale, axis if scale.dim() else None, "weight")


# ---- ModelOpt's TensorQuantizer modules (modelopt.py recognizes them): their converter ----------------------
_REGISTERED: set[type] = set()


def convert_tensor_quantizer(ctx) -> None:
    q, x = ctx.method_args[0], ctx.method_args[1]
    out = ctx.method_return
    itensor = ctx.trt(x)
    try:
        mode = quantizer_mode(q)
        if mode is not None:
            scale, axis = scale_and_axis(q, x.dim())
    except ValueError as e:
        raise ctx.unsupported(f"{ctx.module_path}: {e}") from None
    if mode is None:
        ctx.set_output(out, itensor)
        return
    ctx.set_output(out, add_qdq(ctx, itensor, mode, scale, axis, "input"))


def register_tensor_quantizers(model: torch.nn.Module) -> None:
    """Register the TensorQuantizer converter for the quantizer class(es) this model uses (once per class)."""
    for _, q in tensor_quantizers(model):
        cls = type(q)
        if cls not in _REGISTERED:
            register(cls, convert_tensor_quantizer)
            _REGISTERED.add(cls)


__all__ = ["QuantizationPlan", "quantized_input", "quantized_add_operands", "quantized_weights", "add_qdq", "plan_of",
           "QMAX", "convert_tensor_quantizer", "register_tensor_quantizers", "quantized_layers"]


# layers TensorRT runs in INT8/FP8 when Q/DQ pairs feed them (the rest of the network stays float)
_QUANTIZABLE_LAYERS = ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY", "ELEMENTWISE", "POOLING")


def quantized_layers(record, types=None) -> dict[str, list[str]]:
    """Which layers of a network record (TRTModule.network_record) run quantized ("quantized") and which stay float
    ("float"), by layer name, in network order. `types` limits the report to some of these layer types:
    - CONVOLUTION / DECONVOLUTION / MATRIX_MULTIPLY: quantized when every data input comes from a DEQUANTIZE layer;
    - ELEMENTWISE: the additions of two computed tensors (adds of a constant, like biases, are not listed):
      quantized when every input comes from a DEQUANTIZE layer but at most one, which is the output of a quantized
      convolution / matrix multiply that TensorRT fuses with the add (directly or through its batch norm or bias);
    - POOLING: quantized when its input comes from a DEQUANTIZE layer."""
    wanted = _QUANTIZABLE_LAYERS if types is None else tuple(types)
    made_by = {t: layer for layer in record.layers for t in layer.outputs}

    def kind(t):
        return made_by[t].type if t in made_by else None

    def dequantized(t):
        return kind(t) == "DEQUANTIZE"

    def weighted_fed(layer):
        return all(dequantized(t) for t in layer.inputs[:2] if t is not None)

    def from_quantized_weighted(t):
        for _ in range(4):
            layer = made_by.get(t)
            if layer is None:
                return False
            if layer.type in _WEIGHTED_LAYERS:
                return weighted_fed(layer)
            computed = [u for u in layer.inputs if u is not None and kind(u) != "CONSTANT"]
            if layer.type not in _FUSED_AFTER_WEIGHTED or len(computed) != 1 \
                    or (layer.type == "ELEMENTWISE" and layer.attrs.get("op") != "SUM"):
                return False
            t = computed[0]
        return False

    result: dict[str, list[str]] = {"quantized": [], "float": []}
    for layer in record.layers:
        if layer.type not in wanted:
            continue
        if layer.type == "ELEMENTWISE":
            ins = [t for t in layer.inputs if t is not None]
            if layer.attrs.get("op") != "SUM" or any(kind(t) == "CONSTANT" for t in ins):
                continue
            fused = [t for t in ins if not dequantized(t)]
            fed = len(fused) <= 1 and all(from_quantized_weighted(t) for t in fused)
        elif layer.type == "POOLING":
            fed = dequantized(layer.inputs[0])
        else:
            fed = weighted_fed(layer)
        result["quantized" if fed else "float"].append(layer.name)
    return result
