"""Q/DQ pairs for the converters: the quantized-dequantized network tensor of a quantizable call's data input
(per-tensor scale from calibration) and of its weights (per-output-channel abs-max scales).

Strongly typed explicit quantization: QUANTIZE (to int8 / fp8) then DEQUANTIZE (back to the data's float type) are
plain layers; everything else in the network stays in the model's float dtype and TensorRT fuses the pairs into the
layer they feed. Converters call these helpers and nothing else; without a plan on the context they change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..backend import trt
from ..tracing.registry import register
from .calibrate import QMAX, Calibration, call_key, channels_of, family_of, quantizable, weight_amax
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


def quantized_input(ctx, x: torch.Tensor, itensor):
    """`itensor` (the network value of the data input `x` of the call being converted) through a Q/DQ pair with the
    calibrated per-tensor scale; `itensor` itself when nothing is quantized."""
    plan = plan_of(ctx)
    family = family_of(ctx.method)
    if plan is None or family is None or not quantizable(family, ctx.get_arg("weight", 1, None)):
        return itensor
    path = ctx.module_path
    index = plan.counts.get((path, family), 0)
    plan.counts[(path, family)] = index + 1
    if plan.weight_only or plan.mode == "modelopt":     # ModelOpt: its input quantizer made the pair already
        return itensor
    key = call_key(path, family, index)
    calib = plan.calibration
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


__all__ = ["QuantizationPlan", "quantized_input", "quantized_weights", "add_qdq", "plan_of", "QMAX",
           "convert_tensor_quantizer", "register_tensor_quantizers"]


# layers TensorRT runs in INT8/FP8 when Q/DQ pairs feed them (the rest of the network stays float)
_QUANTIZABLE_LAYERS = ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY")


def quantized_layers(record) -> dict[str, list[str]]:
    """Which convolution / deconvolution / matrix-multiply layers of a network record (TRTModule.network_record)
    have every data input from a DEQUANTIZE layer ("quantized") and which do not ("float"), by layer name."""
    made_by = {t: layer for layer in record.layers for t in layer.outputs}
    result: dict[str, list[str]] = {"quantized": [], "float": []}
    for layer in record.layers:
        if layer.type not in _QUANTIZABLE_LAYERS:
            continue
        ins = [t for t in layer.inputs[:2] if t is not None]
        fed = all(made_by.get(t) is not None and made_by[t].type == "DEQUANTIZE" for t in ins)
        result["quantized" if fed else "float"].append(layer.name)
    return result
