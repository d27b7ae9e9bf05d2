"""Checks and optimization profiles shared by a whole conversion (convert.py) and a partial one (fallback.py):
the model in eval mode with data in its parameters and buffers, sample tensors an engine can take, and (min, opt,
max) shapes per input from the min/opt/max arguments or max_batch_size."""

from __future__ import annotations

from typing import Any

import torch

from . import structure
from .errors import ConversionError, InputError


def _check_model(module: torch.nn.Module) -> None:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"torch2trt converts an nn.Module, got {type(module).__name__}")
    training = [n or type(module).__name__ for n, m in module.named_modules() if m.training]
    if training:
        raise ValueError(f"the model is in training mode ({training[0]} and {len(training) - 1} more): dropout "
                         "and batch norm would differ from inference. Call model.eval() before torch2trt().")
    meta = [(kind, name) for kind, named in (("parameter", module.named_parameters()),
                                             ("buffer", module.named_buffers()))
            for name, t in named if t.device.type == "meta"]
    if meta:
        kind, name = meta[0]
        raise ConversionError(f"the model's {kind} {name!r} is on the meta device (it holds no values)"
                              f"{f' (and {len(meta) - 1} more)' if len(meta) > 1 else ''}: load its weights (for "
                              "example model.to_empty(device='cpu') and load_state_dict) before converting")


def _check_sample_tensors(flat_in: list[torch.Tensor], schema: dict, names: list[str]) -> None:
    """Every sample tensor can be an engine input: dense, with data (not meta, sparse, quantized or nested)."""
    for name, path, t in zip(names, structure.tensor_paths(schema), flat_in):
        problem = structure.tensor_problem(t)
        if problem:
            raise InputError(f"input {name!r} ({path}) {problem}")


def _batch_profile(flat_in: list[torch.Tensor], schema: dict, max_batch_size: int, min_shapes, opt_shapes,
                   max_shapes):
    """max_batch_size=N: axis 0 of every input from 1 to N, the sample as opt (the original's meaning)."""
    if any(v is not None for v in (min_shapes, opt_shapes, max_shapes)):
        raise ValueError("max_batch_size cannot be combined with min_shapes/opt_shapes/max_shapes")
    if not isinstance(max_batch_size, int) or isinstance(max_batch_size, bool) or max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a positive int, got {max_batch_size!r}")
    for i, t in enumerate(flat_in):
        if t.dim() == 0 or not 1 <= t.shape[0] <= max_batch_size:
            raise ValueError(f"max_batch_size={max_batch_size}: input {i} (shape {tuple(t.shape)}) needs a batch "
                             f"axis 0 of size 1..{max_batch_size}")
    lows = [(1,) + tuple(t.shape[1:]) for t in flat_in]
    highs = [(max_batch_size,) + tuple(t.shape[1:]) for t in flat_in]
    return (structure.unflatten(schema, lows), None, structure.unflatten(schema, highs))


def _shapes_per_input(schema: dict, value: Any, what: str) -> list:
    """Walk `value` (shapes nested like the inputs; None anywhere means 'static there') along `schema`."""
    if value is None:
        return [None] * structure.num_tensors(schema)
    kind = schema["kind"]
    if kind == "tensor":
        if not isinstance(value, (list, tuple, torch.Size)) or not all(isinstance(v, int) for v in value):
            raise ValueError(f"{what}: expected a shape (a tuple of ints) for an input tensor, got {value!r}")
        return [tuple(value)]
    if kind in ("list", "tuple"):
        if not isinstance(value, (list, tuple)) or len(value) != len(schema["items"]):
            raise ValueError(f"{what} must be nested like the inputs ({len(schema['items'])} items here)")
        return [s for sub, v in zip(schema["items"], value) for s in _shapes_per_input(sub, v, what)]
    if kind == "dict":
        if not isinstance(value, dict):
            raise ValueError(f"{what} must be nested like the inputs (a dict here)")
        return [s for k, sub in zip(schema["keys"], schema["items"])
                for s in _shapes_per_input(sub, value.get(k), what)]
    return []


def _profile(flat_in: list[torch.Tensor], schema: dict, names: list[str], min_shapes: Any, opt_shapes: Any,
             max_shapes: Any) -> dict[str, tuple[tuple, tuple, tuple]]:
    """input name -> (min, opt, max) shape; the sample shape fills in what is not given."""
    lows, opts, highs = (_shapes_per_input(schema, v, w) for v, w in
                         ((min_shapes, "min_shapes"), (opt_shapes, "opt_shapes"), (max_shapes, "max_shapes")))
    profile = {}
    for name, t, lo, opt, hi in zip(names, flat_in, lows, opts, highs):
        sample = tuple(t.shape)
        lo, opt, hi = lo or sample, opt or sample, hi or sample
        for shape, what in ((lo, "min"), (opt, "opt"), (hi, "max")):
            if len(shape) != len(sample):
                raise ValueError(f"input {name!r}: {what} shape {shape} has rank {len(shape)}, the sample "
                                 f"{sample} has rank {len(sample)}")
        for axis, (a, o, b, s) in enumerate(zip(lo, opt, hi, sample)):
            if not (a <= s <= b and a <= o <= b):
                raise ValueError(f"input {name!r} axis {axis}: need min <= sample <= max and min <= opt <= max; "
                                 f"got min {a}, opt {o}, max {b}, sample {s}")
            if a < 1 and a != b:
                raise ValueError(f"input {name!r} axis {axis}: a dynamic axis needs min at least 1 (got min {a}); "
                                 "size-0 axes are not supported in a profile")
        profile[name] = (lo, opt, hi)
    return profile
