"""The torch2trt() entry point: check arguments, trace the model into a strongly typed network, build the
engine, return a TRTModule. Nothing the caller owns is changed (inputs are cloned, model state restored).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch

from . import backend, quantization
from .network.inspect import read_network
from .runtime.build import build_engine, new_builder
from .runtime.module import TRTModule, dtype_name
from .tracing import structure
from .tracing.context import ConversionContext, ConversionError, get_trt, torch_dtype_to_trt
from .tracing.mode import tracing

# Arguments of the original torch2trt that we accept only at their default (they select features that
# do not exist in strongly typed TensorRT or are not implemented): name -> default.
# (int8_mode, int8_calib_dataset, int8_calib_algorithm and our other quantization arguments: quantization.ARGUMENTS)
_ORIGINAL_DEFAULTS = {"strict_type_constraints": False,
                      "use_onnx": False, "dla_core": 0, "gpu_fallback": True, "device_types": None,
                      "default_device_type": None, "onnx_opset": None,
                      "avg_timing_iterations": None, "max_batch_size": None}


def _check_model(module: torch.nn.Module) -> None:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"torch2trt converts an nn.Module, got {type(module).__name__}")
    training = [n or type(module).__name__ for n, m in module.named_modules() if m.training]
    if training:
        raise ValueError(f"the model is in training mode ({training[0]} and {len(training) - 1} more): dropout "
                         "and batch norm would differ from inference. Call model.eval() before torch2trt().")


def _input_names(n: int, names: Sequence[str] | None, kind: str) -> list[str]:
    if names is None:
        return [f"{kind}_{i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"{kind}_names must be {n} distinct names (one per {kind} tensor), got {names}")
    return names


def torch2trt(module: torch.nn.Module, inputs: Any, input_names: Sequence[str] | None = None,
              output_names: Sequence[str] | None = None, log_level: Any = None, fp16_mode: bool = False,
              max_workspace_size: int | None = None, keep_network: bool = True,
              dtype: torch.dtype | None = None, min_shapes: Any = None, opt_shapes: Any = None,
              max_shapes: Any = None, portable: bool = True, **kwargs: Any) -> TRTModule:
    """Convert `module` into a TensorRT engine traced with the sample `inputs`.

    `inputs` is a list/tuple of the model's positional arguments (tensors or nested lists/tuples/dicts
    of tensors). The returned TRTModule takes and returns the same structures.

    `dtype` (float32, float16 or bfloat16; `fp16_mode=True` means float16) sets the precision of the
    weights and activations inside the network; its inputs and outputs keep the dtypes of the sample
    inputs and of the model's outputs (cast at the boundaries). Without it the model's own dtypes are kept.

    `min_shapes`, `opt_shapes`, `max_shapes` (nested like `inputs`, None where static) define one
    optimization profile; dimensions whose min and max differ are dynamic (-1) in the network.

    `portable=True` keeps the network as plain records in the module (and its state_dict), so the engine
    can be rebuilt where the stored one cannot run and the CPU reference executor works after loading.
    """
    quant_args = {k: kwargs.pop(k) for k in list(kwargs) if k in quantization.ARGUMENTS}
    for key, value in kwargs.items():
        if key not in _ORIGINAL_DEFAULTS:
            raise TypeError(f"torch2trt() got an unexpected keyword argument {key!r}")
        if value != _ORIGINAL_DEFAULTS[key] and value is not None:
            raise ValueError(f"torch2trt(..., {key}={value!r}) is not supported by this torch2trt "
                             f"(strongly typed TensorRT); leave it at its default")
    if fp16_mode:
        if dtype not in (None, torch.float16):
            raise ValueError(f"fp16_mode=True contradicts dtype={dtype}")
        dtype = torch.float16
    if dtype not in (None, torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float32, torch.float16 or torch.bfloat16, got {dtype}")
    _check_model(module)
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"inputs must be a list or tuple of the model's arguments, got {type(inputs).__name__}")
    flat_in, in_schema = structure.flatten(list(inputs))
    names_in = _input_names(len(flat_in), input_names, "input")
    for name, t in zip(names_in, flat_in):
        if t.dtype == torch.float64:
            raise TypeError(f"input {name!r} is float64, which TensorRT does not support; pass float32")
        torch_dtype_to_trt(t.dtype)

    profile = _profile(flat_in, in_schema, names_in, min_shapes, opt_shapes, max_shapes)
    builder, logger = new_builder(log_level)
    network = backend.create_network(builder)
    ctx = ConversionContext(network, builder)
    model, out_dtypes = _in_precision(module, inputs, dtype)
    ctx.quantization = quantization.prepare(model, inputs, dtype, **quant_args)   # calibrates; None when not quantizing
    # in-place ops in forward must not touch the caller's tensors: trace with copies
    clones = [t.detach().to(dtype if dtype and t.is_floating_point() else t.dtype, copy=True) for t in flat_in]
    saved_state = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()
                   if isinstance(v, torch.Tensor)}
    try:
        with torch.no_grad(), tracing(ctx, model) as tracer:
            for name, t, given in zip(names_in, clones, flat_in):
                lo, _, hi = profile[name]
                dims = tuple(-1 if a != b else a for a, b in zip(lo, hi))
                itensor = network.add_input(name, torch_dtype_to_trt(given.dtype), dims)
                t._trt = ctx.cast(itensor, t.dtype)  # no layer unless the precision differs
                tracer.track(t)
            outputs = model(*structure.unflatten(in_schema, clones))
            tracer.raise_if_problems()
            flat_out, out_schema = structure.flatten(outputs)
            names_out = _input_names(len(flat_out), output_names, "output")
            out_dtypes = out_dtypes or [t.dtype for t in flat_out]
            _mark_outputs(ctx, flat_out, names_out, set(map(id, clones)), out_dtypes)
    finally:
        _restore_state(model, saved_state)

    dynamic = any(p[0] != p[2] for p in profile.values())
    engine = build_engine(builder, network, logger, max_workspace_size=max_workspace_size,
                          profile=profile if dynamic else None)
    input_specs = [{"name": n, "dtype": dtype_name(t.dtype), "min": list(p[0]), "opt": list(p[1]),
                    "max": list(p[2])} for (n, p), t in zip(profile.items(), flat_in)]
    output_specs = [{"name": n, "dtype": dtype_name(d), "shape": [int(v) for v in network.get_output(i).shape]}
                    for i, (n, d) in enumerate(zip(names_out, out_dtypes))]
    trt_module = TRTModule(engine, names_in, names_out, in_schema, out_schema, input_specs, output_specs,
                           network=network if keep_network else None,
                           build_settings={"max_workspace_size": max_workspace_size,
                                           "dtype": dtype_name(dtype) if dtype else None},
                           network_record=read_network(network) if portable else None)
    if keep_network:
        trt_module._network_keepalive = (builder, ctx._keepalive)
    return trt_module


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
            if not (a <= s <= b and a <= o <= b and a >= 0):
                raise ValueError(f"input {name!r} axis {axis}: need min <= sample <= max and min <= opt <= max; "
                                 f"got min {a}, opt {o}, max {b}, sample {s}")
        profile[name] = (lo, opt, hi)
    return profile


def _in_precision(module: torch.nn.Module, inputs: list, dtype: torch.dtype | None):
    """The model to trace in the requested precision (a copy when its weights must change) and the
    output dtypes the network must keep (those of the model as given; None when nothing changes)."""
    if dtype is None:
        return module, None
    tensors = list(module.parameters()) + list(module.buffers())
    if all(t.dtype == dtype for t in tensors if t.is_floating_point()) and all(
            t.dtype == dtype for t in structure.flatten(list(inputs))[0] if t.is_floating_point()):
        return module, None
    flat, schema = structure.flatten(list(inputs))
    with torch.no_grad():  # the model as given fixes the output dtypes
        reference_out = module(*structure.unflatten(schema, [t.clone() for t in flat]))
    out_dtypes = [t.dtype for t in structure.flatten(reference_out)[0]]
    return copy.deepcopy(module).to(dtype), out_dtypes


def _mark_outputs(ctx: ConversionContext, flat_out: list[torch.Tensor], names: list[str],
                  input_ids: set[int], dtypes: list[torch.dtype]) -> None:
    for name, t, dtype in zip(names, flat_out, dtypes):
        itensor = get_trt(t)
        if itensor is None:  # an output that does not depend on the inputs
            itensor = ctx.constant(t)
        if t.dtype != dtype:
            itensor = ctx.cast(itensor, dtype)
        if itensor.is_network_output or id(t) in input_ids or itensor.is_network_input:
            # TensorRT cannot mark one tensor twice or an input as an output: give it its own copy.
            layer = ctx.network.add_identity(itensor)
            ctx.name_layer(layer, "output_copy")
            itensor = layer.get_output(0)
        itensor.name = name
        ctx.network.mark_output(itensor)


def _restore_state(module: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Undo any in-place change the traced forward made to parameters or buffers."""
    with torch.no_grad():
        for key, value in module.state_dict(keep_vars=True).items():
            old = saved.get(key)
            if old is not None and (value.shape != old.shape or not torch.equal(value, old)):
                value.copy_(old)


__all__ = ["torch2trt", "ConversionError"]
