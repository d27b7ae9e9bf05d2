"""Models quantized with NVIDIA Model Optimizer (`nvidia-modelopt`, `mtq.quantize`): its TensorQuantizer modules
become the same Q/DQ pairs our own calibration produces.

- A TensorQuantizer on a traced tensor (an activation) is converted by a module converter (qdq.py's
  `convert_tensor_quantizer`, registered for the model's TensorQuantizer class): QUANTIZE / DEQUANTIZE with
  scale = amax / maxbound (INT8: 127, FP8 e4m3: 448), per tensor or per channel along its `axis`.
- A TensorQuantizer on a weight runs in PyTorch (its input is a parameter, not traced), so the converter of the
  layer receives fake-quantized weights w = q * s. The plan keeps that quantizer by module path and qdq.py puts
  Q/DQ with the same s on those weights: round(w / s) gives q back exactly, so the network computes the same.

Only what TensorRT's Q/DQ layers express is accepted (signed, symmetric, not narrow-range INT8; FP8 e4m3; no
block sizes, pre-quant scales, rotations or biases); anything else is refused with its reason. This module
only recognizes quantizers and reads their scales (it adds no layers); modelopt is never imported here: models are
recognized by their quantizer class.
"""

from __future__ import annotations

from typing import Any

import torch

from .calibrate import QMAX


def is_tensor_quantizer(module: torch.nn.Module) -> bool:
    cls = type(module)
    return cls.__name__ == "TensorQuantizer" and cls.__module__.startswith("modelopt.")


def tensor_quantizers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if is_tensor_quantizer(m)]


def quantizer_mode(q: Any) -> str | None:
    """"int8" / "fp8" for a quantizer TensorRT's Q/DQ can express, None for a disabled one; raises otherwise."""
    if not q.is_enabled or not getattr(q, "_if_quant", True):
        return None
    problems = []
    if not q.fake_quant:
        problems.append("real (not fake) quantization")
    if q.block_sizes:
        problems.append(f"block sizes {q.block_sizes}")
    if q.pre_quant_scale is not None:
        problems.append("a pre-quantization scale (SmoothQuant)")
    if q.rotate_is_enabled:
        problems.append("input rotation")
    if getattr(q, "bias", None) is not None:
        problems.append("a quantization bias (asymmetric)")
    if q.amax is None:
        problems.append("no amax (not calibrated)")
    bits = q.num_bits
    if bits == 8:
        if q.unsigned:
            problems.append("unsigned INT8 (TensorRT quantizes symmetric signed INT8)")
        if q.narrow_range:
            problems.append("narrow-range INT8 [-127, 127] (TensorRT clamps to [-128, 127])")
        mode = "int8"
    elif isinstance(bits, (list, tuple)) and tuple(bits) == (4, 3):
        mode = "fp8"
    else:
        problems.append(f"num_bits={bits} (TensorRT Q/DQ here: 8 = INT8, (4, 3) = FP8 e4m3)")
        mode = None
    if problems:
        raise ValueError("ModelOpt TensorQuantizer with " + ", ".join(problems) + " has no TensorRT Q/DQ form")
    if float(q.maxbound) != QMAX[mode]:
        raise ValueError(f"ModelOpt TensorQuantizer maxbound {q.maxbound} differs from {mode}'s {QMAX[mode]}")
    return mode


def scale_and_axis(q: Any, rank: int) -> tuple[torch.Tensor, int | None]:
    """Q/DQ scale (amax / maxbound, float32; 1-D per channel) and axis (None per tensor) for a tensor of `rank`."""
    amax = q.amax.detach().float()
    mode = quantizer_mode(q)
    scale = amax / QMAX[mode]
    if amax.numel() == 1:
        return scale.reshape(()), None
    axis = q.axis if isinstance(q.axis, int) else None
    if axis is None:
        raise ValueError(f"ModelOpt TensorQuantizer with per-channel amax of shape {tuple(amax.shape)} and "
                         f"axis {q.axis!r}: TensorRT quantizes per tensor or along one axis")
    return scale.reshape(-1), axis % rank


__all__ = ["is_tensor_quantizer", "tensor_quantizers", "quantizer_mode", "scale_and_axis"]
