"""Explicit INT8 / FP8 quantization: calibration in PyTorch (calibrate.py) and Q/DQ pairs placed by the converters
of convolutions, transposed convolutions and linear layers, and in INT8 also of residual adds and max/avg pooling
(qdq.py, after TensorRT's Q/DQ placement recommendations). `prepare` turns torch2trt()'s quantization arguments into
the plan the converters read from `ctx.quantization`.

    torch2trt(model, [x], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="entropy")

- `int8_calib_dataset`: a sequence or iterable whose items are the model's positional inputs (a list/tuple of
  tensors, batch included); it is read twice for "percentile" and "entropy" (a one-shot iterator is kept in memory).
  Without it the sample inputs are the calibration data (as in the original torch2trt).
- `int8_calib_algorithm`: "entropy" (default, as the original's ENTROPY_CALIBRATION_2), "max", "percentile", or a
  trt.CalibrationAlgoType name; `int8_calib_percentile` (default 99.99).
- `int8_weight_only=True`: only the weights of linear layers are quantized (no calibration data needed); what
  TensorRT-RTX runs ("INT8 WoQ GEMM"), and so what int8_mode=True means there (with a warning).
- `quantize="fp8"`: FP8 e4m3 instead of INT8 (activations and weights), compute capability 8.9 or later.
- `quantize_target`: the backend the engine is for ("tensorrt" / "tensorrt_rtx"; default: the installed one). With
  TensorRT-RTX installed, "tensorrt" builds the full-INT8 network here (TensorRT-RTX's builder accepts it) for
  checking on the reference executor; the portable network is rebuilt by TensorRT where it is deployed.

`quantized_layers(model_trt.network_record)` says which convolution / matrix-multiply / add / pooling layers run
quantized and which stay float (e.g. attention's matrix multiplies, converted inside their own converter, or an add
of two activations in FP8).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend
from . import modelopt
from .calibrate import ALGORITHMS, DEFAULT_PERCENTILE, Calibration, calibrate
from .qdq import QuantizationPlan, quantized_input, quantized_layers, quantized_weights, register_tensor_quantizers

# torch2trt() keyword arguments this package owns
ARGUMENTS = ("int8_mode", "int8_calib_dataset", "int8_calib_algorithm", "int8_calib_percentile",
             "int8_weight_only", "quantize", "quantize_target")


def prepare(model: torch.nn.Module, inputs: list, dtype: torch.dtype | None = None, *, int8_mode: bool = False,
            int8_calib_dataset: Any = None, int8_calib_algorithm: Any = None,
            int8_calib_percentile: float = DEFAULT_PERCENTILE, int8_weight_only: bool = False,
            quantize: str | None = None, quantize_target: str | None = None,
            progress: bool | None = None, free_axes: list | None = None) -> QuantizationPlan | None:
    """The quantization plan for one conversion (None when nothing is quantized); runs calibration on items checked
    against the sample `inputs` (sizes may differ on `free_axes`, per input tensor: see calibrate)."""
    if modelopt.tensor_quantizers(model):
        return _modelopt_plan(model, int8_mode, quantize, quantize_target)
    mode = quantize.lower() if isinstance(quantize, str) else quantize
    if mode is None:
        if not int8_mode:
            given = [k for k, v in (("int8_calib_dataset", int8_calib_dataset),
                                    ("int8_calib_algorithm", int8_calib_algorithm),
                                    ("int8_weight_only", int8_weight_only)) if v not in (None, False)]
            if given:
                raise ValueError(f"{', '.join(given)} given without int8_mode=True (or quantize='int8'/'fp8')")
            return None
        mode = "int8"
    elif int8_mode and mode != "int8":
        raise ValueError(f"int8_mode=True contradicts quantize={quantize!r}")
    if mode not in ("int8", "fp8"):
        raise ValueError(f"quantize={quantize!r}: use 'int8' or 'fp8'")
    target = quantize_target or backend.NAME
    if mode == "int8" and not int8_weight_only and target in backend.QUANTIZE_TARGETS \
            and not backend.int8_activations_run_on(target):
        # the documented weight-only mode: what this target runs of int8_mode=True
        warnings.warn(f"int8_mode=True for {target}: it runs INT8 only as weight-only quantization of matrix "
                      "multiplies, so only linear weights are quantized and activations stay float. For full INT8 "
                      "(activations too) for TensorRT, pass quantize_target='tensorrt'", stacklevel=3)
        int8_weight_only, int8_calib_dataset = True, None
    # the GPU here decides only when the engine is for this backend (a different target runs elsewhere)
    cc = backend.gpu_compute_capability() if target == backend.NAME else None
    problem = backend.quantization_problem(mode, bool(int8_weight_only), target, cc)
    if problem:
        asked = "int8_mode=True" if int8_mode else f"quantize={quantize!r}"
        raise ValueError(f"{asked}: cannot quantize ({mode}{', weight-only' if int8_weight_only else ''}) for "
                         f"{target}: {problem}")
    if int8_weight_only:
        if int8_calib_dataset is not None:
            raise ValueError("int8_weight_only=True quantizes weights only and takes no int8_calib_dataset")
        return QuantizationPlan(mode, None, weight_only=True)
    if int8_calib_dataset is None:       # as the original: calibrate on the sample inputs
        int8_calib_dataset = [list(inputs)]
    if mode == "fp8" and int8_calib_algorithm is None:
        int8_calib_algorithm = "max"        # entropy's 128 levels model INT8; FP8 calibrates with abs-max
    calibration = calibrate(model, int8_calib_dataset, int8_calib_algorithm, percentile=int8_calib_percentile,
                            dtype=dtype, progress=progress, sample=list(inputs), free_axes=free_axes)
    return QuantizationPlan(mode, calibration)


def _modelopt_plan(model: torch.nn.Module, int8_mode: bool, quantize: Any, target: str | None) -> QuantizationPlan:
    """A model quantized with NVIDIA ModelOpt: its own quantizers decide (see quantization/modelopt.py)."""
    if int8_mode or quantize:
        raise ValueError("the model is already quantized with NVIDIA ModelOpt (it has TensorQuantizer modules): "
                         "convert it without int8_mode/quantize; its own quantizers and ranges are used")
    quantizers = modelopt.tensor_quantizers(model)
    modes = {}
    for name, q in quantizers:
        try:
            mode = modelopt.quantizer_mode(q)
        except ValueError as e:
            raise ValueError(f"ModelOpt quantizer {name}: {e}") from None
        if mode is not None:
            modes.setdefault((mode, name.endswith("weight_quantizer")), name)
    target = target or backend.NAME
    cc = backend.gpu_compute_capability() if target == backend.NAME else None
    for (mode, weights), name in modes.items():
        weight_only = weights and (mode, False) not in modes
        problem = backend.quantization_problem(mode, weight_only, target, cc)
        if problem:
            raise ValueError(f"ModelOpt-quantized model ({mode}, e.g. {name}) for {target}: {problem}")
    register_tensor_quantizers(model)
    weight_quantizers = {name.rpartition(".")[0]: q for name, q in quantizers if name.endswith(".weight_quantizer")}
    return QuantizationPlan("modelopt", None, weight_quantizers=weight_quantizers)


__all__ = ["prepare", "calibrate", "quantized_layers", "Calibration", "QuantizationPlan", "quantized_input",
           "quantized_weights", "ARGUMENTS", "ALGORITHMS"]
