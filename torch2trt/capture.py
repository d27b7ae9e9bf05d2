"""The package's `torch2trt()`: the one call. It picks how to capture the model, then converts with the same
converters, verification, profiles and output classes either way:

- `capture="auto"` (the default): the eager trace first (torch2trt/convert.py). Where it stops only on Python
  control flow over tensor data (transformers' `padding_mask.all()`), or on sizes that flip inside the profile,
  and the inputs are positional tensors, the model is captured as one TorchDynamo graph (torch2trt/dynamo.py's
  `convert`) and that graph is converted. When both fail, the error gives both reasons.
- `capture="eager"` or `capture="dynamo"`: that capture only.

`model_trt.capture` says which was used, and `model_trt.timings["capture"]` the seconds of a dynamo capture. Every
other argument is convert.torch2trt's.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
import warnings
from typing import Any

import torch

from . import convert
from .dataset import Dataset
from .errors import ConversionError

# what a TorchDynamo capture passes on to the conversion of its graph
_DYNAMO_ARGS = ("input_names", "output_names", "log_level", "fp16_mode", "max_workspace_size", "keep_network", "dtype",
                "min_shapes", "opt_shapes", "max_shapes", "portable", "verify", "verify_inputs", "verify_rtol",
                "fold_batchnorm")
_PARAMS = list(inspect.signature(convert.torch2trt).parameters)
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@functools.wraps(convert.torch2trt)
def torch2trt(module: torch.nn.Module, inputs: Any, *args: Any, capture: str = "auto", **kwargs: Any):
    # the conversion's warnings point at the caller's line (this wrapper adds frames between them)
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return _torch2trt(module, inputs, *args, capture=capture, **kwargs)
    finally:   # outside the recording block: re-emitted under the caller's filters
        for w in caught:
            if w.filename.startswith(_PKG_DIR):
                warnings.warn(w.message, w.category, stacklevel=2)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _torch2trt(module: torch.nn.Module, inputs: Any, *args: Any, capture: str = "auto", **kwargs: Any):
    if capture not in ("auto", "eager", "dynamo"):
        raise ValueError(f"capture must be 'auto', 'eager' or 'dynamo', got {capture!r}")
    if capture == "eager" or kwargs.get("fallback"):
        if capture == "dynamo":
            raise ValueError("capture='dynamo' with fallback=True: the hybrid splits the eager model; use "
                             "torch.compile(model, backend='torch2trt') for graph breaks in PyTorch")
        return convert.torch2trt(module, inputs, *args, **kwargs)
    eager_error = None
    if capture == "auto":
        try:
            return convert.torch2trt(module, inputs, *args, **kwargs)
        except ConversionError as e:
            if not _dynamo_may_help(e) or isinstance(inputs, Dataset):
                raise
            eager_error = e
    named = dict(zip(_PARAMS[2:], args))      # positional arguments after the inputs, by name
    if set(named) & set(kwargs):
        raise TypeError(f"torch2trt() got multiple values for {sorted(set(named) & set(kwargs))}")
    options = {**named, **kwargs}
    why = _dynamo_refuses(inputs, options)
    if not why:
        from . import dynamo

        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        t0 = time.perf_counter()
        try:
            m = dynamo.convert(module, flat, **{k: v for k, v in options.items() if k in _DYNAMO_ARGS})
        except Exception as e:  # noqa: BLE001  (both reasons are the user's information)
            why = f"{type(e).__name__}: {e}"
        else:
            m.capture = "dynamo"
            m.timings["capture"] = time.perf_counter() - t0
            return m
    if eager_error is None:
        raise ConversionError(f"torch2trt(capture='dynamo'): {why}")
    raise ConversionError(f"{eager_error}\n\nThe TorchDynamo capture (tried because the eager trace stops on Python "
                          f"control flow over tensor data) failed too: {why}") from None


torch2trt.__signature__ = inspect.signature(convert.torch2trt).replace(parameters=[
    p.replace(default="auto") if name == "capture" else p
    for name, p in inspect.signature(convert.torch2trt).parameters.items()])


def _dynamo_refuses(inputs: Any, options: dict) -> str:
    """Why these inputs and arguments cannot go through a TorchDynamo capture ("" when they can); a max_batch_size
    becomes the profile (min/max shapes) in `options`."""
    flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    unknown = [k for k in options if k not in _PARAMS]
    if unknown:
        return f"unknown argument {unknown[0]!r}"
    if isinstance(inputs, Dataset) or not all(isinstance(t, torch.Tensor) for t in flat):
        return "TorchDynamo capture takes the model's positional arguments as tensors only"
    if options.get("int8_mode") or options.get("quantize") or options.get("int8_calib_dataset") is not None:
        return "TorchDynamo capture is not combined with quantization here"
    taken = [k for k, v in options.items() if k not in _DYNAMO_ARGS and k != "max_batch_size"
             and v != inspect.signature(convert.torch2trt).parameters[k].default]
    if taken:
        return f"{', '.join(taken)} do not apply to a TorchDynamo capture"
    n = options.pop("max_batch_size", None)
    if n is not None:
        if options.get("min_shapes") is not None or options.get("max_shapes") is not None:
            return "max_batch_size with min_shapes/max_shapes"
        options["min_shapes"] = [(1, *t.shape[1:]) for t in flat]
        options["max_shapes"] = [(n, *t.shape[1:]) for t in flat]
    return ""


def _dynamo_may_help(error: ConversionError) -> bool:
    """The eager trace stopped on Python control flow over tensor data, or on sizes that flip inside the profile:
    what a TorchDynamo graph can hold (data-dependent branches under dynamo's rules, sizes kept symbolic)."""
    from .tracing.mode import DATA_DEPENDENT_ADVICE

    text = str(error)
    return DATA_DEPENDENT_ADVICE[:60] in text or " at the sample, " in text


__all__ = ["torch2trt"]
