"""The one torch <-> TensorRT dtype table, and the dtype names of the saved format.

Used by the tracer (network inputs, casts), the network records (which store TensorRT type names), the replay
and the runtime (engine outputs, saved specs). It imports only the backend.
"""

from __future__ import annotations

from typing import Any

import torch

from .backend import trt

# (torch dtype, TensorRT DataType member name, `trt` attribute). The first eight are the types a network's inputs,
# outputs and converters use ("plain"); the others appear only inside networks (quantization).
_PLAIN = [
    (torch.float32, "FLOAT", "float32"), (torch.float16, "HALF", "float16"), (torch.bfloat16, "BF16", "bfloat16"),
    (torch.int8, "INT8", "int8"), (torch.uint8, "UINT8", "uint8"), (torch.int32, "INT32", "int32"),
    (torch.int64, "INT64", "int64"), (torch.bool, "BOOL", "bool"),
]
_QUANTIZED = [(torch.float8_e4m3fn, "FP8", "fp8")] + [
    (getattr(torch, t), member, attr) for t, member, attr in (("float4_e2m1fn_x2", "FP4", "fp4"),
                                                              ("float8_e8m0fnu", "E8M0", "e8m0"))
    if hasattr(torch, t)]
PLAIN_DTYPES: tuple[torch.dtype, ...] = tuple(d for d, _, _ in _PLAIN)

_TO_ATTR = {d: attr for d, _, attr in _PLAIN + _QUANTIZED}
# TensorRT types torch cannot hold natively are read into the closest torch type that holds every value:
# INT4 as int8 (values in [-8, 7]); FP4/E8M0 as their torch "shell" types where torch has them.
_FROM_MEMBER = {member: d for d, member, _ in _PLAIN + _QUANTIZED} | {"INT4": torch.int8}
_BY_NAME = {str(d).replace("torch.", ""): d for d in PLAIN_DTYPES}


def to_trt(dtype: torch.dtype, *, quantized: bool = False):
    """torch dtype -> trt.DataType; `quantized=True` also allows the types only quantized layers use (FP8, ...)."""
    attr = _TO_ATTR.get(dtype)
    if attr is None or (not quantized and dtype not in PLAIN_DTYPES) or not hasattr(trt, attr):
        allowed = PLAIN_DTYPES + (tuple(_TO_ATTR) if quantized else ())
        raise TypeError(f"TensorRT has no type for {dtype}; supported: "
                        f"{', '.join(str(d) for d in dict.fromkeys(allowed))}")
    return getattr(trt, attr)


def from_trt(trt_dtype: Any) -> torch.dtype:
    """trt.DataType (or its member name, as network records store it) -> torch dtype."""
    member = trt_dtype if isinstance(trt_dtype, str) else getattr(trt_dtype, "name", str(trt_dtype))
    try:
        return _FROM_MEMBER[member]
    except KeyError:
        raise TypeError(f"no torch dtype for TensorRT type {trt_dtype}") from None


def name(dtype: torch.dtype) -> str:
    """The saved format's name of a dtype: "float32", "int64", ..."""
    return str(dtype).replace("torch.", "")


def from_name(dtype_name: Any) -> torch.dtype:
    """The plain dtype named `dtype_name` (see `name`); KeyError naming the known ones otherwise."""
    try:
        return _BY_NAME[dtype_name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown dtype {dtype_name!r}; expected one of {sorted(_BY_NAME)}") from None


__all__ = ["PLAIN_DTYPES", "to_trt", "from_trt", "name", "from_name"]
