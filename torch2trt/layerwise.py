"""Call by call: each converted call's PyTorch output recorded next to the network tensor it produced (through
`tracing.mode.observe`), and `first_divergence`, the first call whose network tensor differs at other inputs than
the sample. The layer-wise debugger (debug.py) and the verification's error message (verify.py) use it; it neither
converts models nor builds engines.
"""

from __future__ import annotations

import math
import os
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import structure
from .backend import trt
from .compare import compare, diverges
from .network import reference
from .tracing.mode import Call, observe

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclass
class CallError:
    """One output tensor of one converted call, PyTorch vs the reference run of its network tensor."""
    index: int              # the call's position among converted calls (0-based)
    function: str           # the converter target, e.g. torch.conv2d, torch.nn.functional.relu
    module_path: str        # the module that made the call, e.g. layer3.1.conv2 ('' at the top level)
    location: str           # the user's source line, file:line (code)
    tensor: str             # network tensor name
    shape: tuple
    dtype: torch.dtype
    max_abs: float = math.nan
    rel: float = math.nan
    status: str = "ok"      # ok | diverged | not computed

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def where(self) -> str:
        return f"{self.function} in {self.module_path or '<model>'} at {self.location}"


def _user_location() -> str:
    """file:line (code) of the innermost frame outside torch and torch2trt: the model's own source.
    (Paths are compared with a trailing separator so that torchvision's files count as the model's.)"""
    for frame in reversed(traceback.extract_stack()):
        f = os.path.abspath(frame.filename)
        if f.startswith((_TORCH_DIR, _PKG_DIR)) or frame.filename.startswith("<"):
            continue
        return f"{frame.filename}:{frame.lineno} ({frame.line})" if frame.line else f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


@dataclass
class _Recorded:
    index: int
    call_name: str
    module_path: str
    location: str
    suffix: str
    itensor: Any
    value: torch.Tensor


def _recorder(records: list[_Recorded]) -> Callable[[Call], None]:
    counter = [0]

    def record(call: Call) -> None:
        index = counter[0]
        counter[0] += 1
        location = _user_location()
        outputs = [t for t in _tensors(call.result)]
        for i, t in enumerate(outputs):
            itensor = t.__dict__.get("_trt")
            if not isinstance(itensor, trt.ITensor):
                continue  # not (yet) a network tensor: nothing to compare
            suffix = f"[{i}]" if len(outputs) > 1 else ""
            # later in-place ops change the PyTorch tensor: keep its value as of this call
            records.append(_Recorded(index, call.name, call.module_path, location, suffix, itensor,
                                     t.detach().clone()))

    return record


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def first_divergence(model: torch.nn.Module, sample: list, fresh: list, rtol: float = 1e-5, *,
                     trace: Callable[..., Any], **convert_kwargs: Any) -> CallError | None:
    """The first converted call whose network tensor, run at the `fresh` inputs, differs from what PyTorch
    computes for that call at those inputs — for a network traced at `sample`. Two traces align call by call
    (the sample's gives the network and its tensors, the fresh one PyTorch's values); a call where the sequences
    part means Python control flow took another path at the fresh inputs. `trace(model, inputs, **kwargs)` traces
    a network as torch2trt does (convert.py's `_trace`, passed in: the conversion itself verifies with this)."""
    convert_kwargs = {k: v for k, v in convert_kwargs.items() if k in _TRACE_ARGS}
    at_sample: list[_Recorded] = []
    at_fresh: list[_Recorded] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with observe(_recorder(at_sample)):
            traced = trace(model, sample, **convert_kwargs)
        with observe(_recorder(at_fresh)):
            trace(model, fresh, **convert_kwargs)
    flat, _ = structure.flatten(list(fresh))
    values = reference.run(traced.network, {n: t.detach().cpu() for n, t in zip(traced.names_in, flat)},
                           intermediates=True)
    for a, b in zip(at_sample, at_fresh):
        row = CallError(a.index, a.call_name + a.suffix, a.module_path, a.location, a.itensor.name,
                        tuple(b.value.shape), b.value.dtype)
        if (a.index, a.call_name, a.suffix) != (b.index, b.call_name, b.suffix):
            row.status = "Python control flow took another path at the fresh inputs (the trace is one run)"
            return row
        got = values.get(row.tensor)
        if got is None:
            continue
        err = compare(got, b.value, row.tensor)
        row.max_abs, row.rel = err.max_abs, err.rel
        if diverges(err, rtol):
            row.status = "diverged"
            return row
    return None


_TRACE_ARGS = ("input_names", "output_names", "fp16_mode", "dtype", "min_shapes", "opt_shapes", "max_shapes",
               "max_batch_size")


__all__ = ["CallError", "first_divergence"]
