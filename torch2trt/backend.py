"""Which TensorRT this process uses: `tensorrt` (>= 10) or `tensorrt_rtx`.

This is the ONE module that knows how the two backends differ; everything else imports `trt` from here
and calls the helpers below instead of branching on the backend itself.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

ENV_VAR = "TORCH2TRT_BACKEND"
BACKENDS = ("tensorrt", "tensorrt_rtx")
_PIP = {"tensorrt": "pip install 'torch2trt[tensorrt]'  (or: pip install tensorrt)",
        "tensorrt_rtx": "pip install 'torch2trt[rtx]'  (or: pip install tensorrt-rtx)"}

# TensorRT-RTX runs on these compute capabilities only (not on 9.0 / 10.x, e.g. H100, H200, B200).
_RTX_COMPUTE_CAPABILITIES = {(7, 5), (8, 0), (8, 6), (8, 9), (12, 0), (12, 1)}


class BackendNotFoundError(ImportError):
    """Neither TensorRT backend can be imported (or the forced one cannot)."""


def _load() -> ModuleType:
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        if forced not in BACKENDS:
            raise BackendNotFoundError(
                f"{ENV_VAR}={forced!r} is not a backend; use one of {', '.join(BACKENDS)} or unset it")
        try:
            return importlib.import_module(forced)
        except ImportError as e:
            raise BackendNotFoundError(
                f"{ENV_VAR}={forced} but `import {forced}` failed ({e}). Fix: {_PIP[forced]}") from e
    errors = []
    for name in BACKENDS:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            errors.append(f"import {name}: {e}")
    raise BackendNotFoundError(
        "torch2trt needs TensorRT and neither backend imports (" + "; ".join(errors) + "). Fix: "
        + _PIP["tensorrt_rtx"] + "  — or, on a machine that can download it: " + _PIP["tensorrt"])


trt = _load()
NAME: str = trt.__name__
VERSION: str = trt.__version__
IS_RTX: bool = NAME == "tensorrt_rtx"


def version_tuple(version: str = VERSION) -> tuple[int, ...]:
    """'10.3.0.26' -> (10, 3, 0, 26); compared as numbers, never as strings."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def network_flags() -> int:
    """Creation flags for a strongly typed network (the only kind TensorRT 11 and TensorRT-RTX build)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def create_network(builder):
    return builder.create_network(network_flags())


def set_workspace(config, max_workspace_size: int | None) -> None:
    if max_workspace_size is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(max_workspace_size))


def gpu_compute_capability() -> tuple[int, int] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return tuple(torch.cuda.get_device_capability())  # type: ignore[return-value]


def configure_build_target(config) -> None:
    """TensorRT-RTX without a GPU builds ahead of time on the CPU; it needs no target then (it keeps a
    portable engine that is JIT-compiled on the GPU that runs it). `tensorrt` always builds for the GPU
    it runs on and needs no setting here."""
    return None


def engine_runnable_here() -> tuple[bool, str]:
    """Can an engine built by this backend run in this process? (answer, reason when it cannot)"""
    cc = gpu_compute_capability()
    if cc is None:
        return False, "no CUDA device is available (torch.cuda.is_available() is False)"
    if IS_RTX and cc not in _RTX_COMPUTE_CAPABILITIES:
        return False, (f"TensorRT-RTX cannot run on this GPU (compute capability {cc[0]}.{cc[1]}); "
                       f"it supports {sorted(_RTX_COMPUTE_CAPABILITIES)}. Use the `tensorrt` backend here.")
    return True, ""


def add_attention(network, query, key, value, causal: bool):
    """TensorRT's fused attention (IAttention, softmax normalization, top-left causal mask if `causal`), or None
    where this backend has none (TensorRT < 10.14). `add_attention_v2` (causal_kind) supersedes `add_attention`."""
    norm = getattr(getattr(trt, "AttentionNormalizationOp", None), "SOFTMAX", None)
    if norm is None:
        return None
    if hasattr(network, "add_attention_v2"):
        kind = trt.CausalMaskKind.UPPER_LEFT if causal else trt.CausalMaskKind.NONE
        return network.add_attention_v2(query, key, value, norm, kind)
    if hasattr(network, "add_attention"):
        return network.add_attention(query, key, value, norm, causal)
    return None


def has_attention_layer() -> bool:
    return hasattr(trt, "AttentionNormalizationOp") and (hasattr(trt.INetworkDefinition, "add_attention_v2") or
                                                         hasattr(trt.INetworkDefinition, "add_attention"))


def tensor_shape(itensor) -> tuple[int, ...]:
    return tuple(int(d) for d in itensor.shape)


# TensorRT-RTX engines start with the tag "vtrt" and record the blob's total size as a little-endian uint64
# at offset 16 (read off engines built here). `tensorrt` engines could not be inspected here (no wheels), so
# only their length is checked; the state's sha256 still catches corruption.
_ENGINE_MAGIC = {"tensorrt": None, "tensorrt_rtx": b"vtrt"}


def engine_blob_problem(blob: bytes, backend_name: str) -> str | None:
    """Why `blob` cannot be a serialized engine of `backend_name`, or None if it looks like one."""
    if backend_name not in _ENGINE_MAGIC:
        return f"unknown backend {backend_name!r}"
    magic = _ENGINE_MAGIC[backend_name]
    if len(blob) < 64:
        return f"it is {len(blob)} bytes, shorter than any engine header"
    if magic is not None and blob[:4] != magic:
        return f"it does not start with the {backend_name} engine tag {magic!r}"
    if backend_name == "tensorrt_rtx" and int.from_bytes(blob[16:24], "little") != len(blob):
        return "its recorded size does not match its length (truncated or padded)"
    return None


# ---- quantized precisions ------------------------------------------------------------------------------------------
# What each backend runs, as NVIDIA documents it:
# - TensorRT: explicit quantization (Q/DQ layers, symmetric scales) in INT8, FP8 E4M3, INT4 and FP4 ("Working with
#   Quantized Types", docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html);
#   INT8 Q/DQ runs on every GPU TensorRT supports; FP8 needs compute capability 8.9 or later (Ada, Hopper, Blackwell;
#   NVIDIA Model Optimizer support matrix, nvidia.github.io/Model-Optimizer/guides/0_support_matrix.html:
#   "FP8 ... GPUs: Ada and Later").
# - TensorRT-RTX: its support matrix (docs.nvidia.com/deeplearning/tensorrt-rtx/latest/getting-started/
#   support-matrix.html, tables for 1.0-1.5) lists INT8 only as "INT8 WoQ GEMM" (weight-only quantized matrix
#   multiplies, compute capability 8.6 and later, not 7.5) and no INT8 activation precision; "FP8 is only supported
#   ... on Ada and later architectures (compute capability 8.9 or above)" (tensorrt-rtx/latest/inference-library/
#   work-quantized-types.html).
FP8_MIN_COMPUTE_CAPABILITY = (8, 9)
RTX_INT8_WEIGHT_ONLY_MIN_COMPUTE_CAPABILITY = (8, 6)
QUANTIZE_TARGETS = BACKENDS


def int8_activations_run_on(target: str | None = None) -> bool:
    """Does `target` run INT8 activations (Q/DQ on data inputs)? TensorRT-RTX runs INT8 weight-only GEMMs only."""
    return (target or NAME) != "tensorrt_rtx"


def quantization_problem(mode: str, weight_only: bool, target: str | None = None,
                         compute_capability: tuple[int, int] | None = None) -> str | None:
    """Why an engine built for `target` (a backend name; default: this process's backend) cannot run `mode`
    ("int8" / "fp8") quantization on a GPU of `compute_capability` (None: not known here), or None if it can."""
    target = target or NAME
    if target not in QUANTIZE_TARGETS:
        return f"unknown quantization target {target!r}; use one of {', '.join(QUANTIZE_TARGETS)}"
    cc = compute_capability
    if mode == "fp8":
        if weight_only:
            return "weight-only quantization is INT8 only; FP8 quantizes activations and weights"
        if cc is not None and tuple(cc) < FP8_MIN_COMPUTE_CAPABILITY:
            return (f"{target} runs FP8 only on GPUs of compute capability 8.9 or later (Ada, Hopper, Blackwell); "
                    f"this GPU is {cc[0]}.{cc[1]}. Use int8_mode=True instead")
        return None
    if mode != "int8":
        return f"unknown quantization mode {mode!r}; use 'int8' or 'fp8'"
    if not int8_activations_run_on(target):
        if not weight_only:
            return ("TensorRT-RTX runs INT8 only as weight-only quantization of matrix multiplies ('INT8 WoQ GEMM' "
                    "in its support matrix), not INT8 activations. Use int8_weight_only=True (linear layers get "
                    "INT8 weights, activations stay float), or quantize for full TensorRT with "
                    "quantize_target='tensorrt' (the network is built here for checking and rebuilt by TensorRT "
                    "on the deployment machine from the portable network)")
        if cc is not None and tuple(cc) < RTX_INT8_WEIGHT_ONLY_MIN_COMPUTE_CAPABILITY:
            return (f"TensorRT-RTX runs INT8 weight-only GEMMs from compute capability 8.6; this GPU is "
                    f"{cc[0]}.{cc[1]}")
    return None
