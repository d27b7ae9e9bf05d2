"""The torch2trt() entry point: check arguments, trace the model into a strongly typed network, build the
engine, return a TRTModule. Nothing the caller owns is changed (inputs are cloned, model state restored).
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from . import backend, quantization, structure
from .dataset import Dataset
from .dataset import profile_from as dataset_profile
from .dtypes import name as dtype_name
from .errors import ConversionError
from .network.inspect import read_network
from .profiles import _batch_profile, _check_model, _check_sample_tensors, _profile
from .quantization.calibrate import DEFAULT_PERCENTILE
from .runtime.build import build_engine, new_builder
from .runtime.module import TRTModule
from .runtime.saved import InputSpec, OutputSpec
from .tracing.context import ConversionContext, get_trt, torch_dtype_to_trt
from .tracing.mode import _Broken, refuse_nested, tracing
from .tracing.preserve import ModelSnapshot, run_preserved
from .tracing.shapes import DynDim
from .verify import verify_conversion

# Arguments of the original torch2trt that we accept only at their default (they select features that
# do not exist in strongly typed TensorRT or are not implemented): name -> default.
# (int8_mode, int8_calib_dataset, int8_calib_algorithm and our other quantization arguments: quantization.ARGUMENTS)
_ORIGINAL_DEFAULTS = {"strict_type_constraints": False,
                      "use_onnx": False, "dla_core": 0, "gpu_fallback": True, "device_types": None,
                      "default_device_type": None, "onnx_opset": None,
                      "avg_timing_iterations": None}


def _input_names(n: int, names: Sequence[str] | None, kind: str) -> list[str]:
    if names is None:
        return [f"{kind}_{i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"{kind}_names must be {n} distinct names (one per {kind} tensor), got {names}")
    return names


def torch2trt(module: torch.nn.Module, inputs: Any, input_names: Sequence[str] | None = None,
              output_names: Sequence[str] | None = None, log_level: Any = None, fp16_mode: bool = False,
              max_workspace_size: int | None = None, keep_network: bool = False,
              dtype: torch.dtype | None = None, min_shapes: Any = None, opt_shapes: Any = None,
              max_shapes: Any = None, portable: bool = True, max_batch_size: int | None = None,
              verify: bool = True, verify_inputs: Sequence[Sequence[Any]] | None = None,
              verify_rtol: float | None = None, fallback: bool = False, min_block_size: int | None = None,
              torch_executed_modules: Sequence | None = None, *,
              int8_mode: bool = False, int8_calib_dataset: Any = None, int8_calib_algorithm: Any = None,
              int8_calib_percentile: float = DEFAULT_PERCENTILE, int8_weight_only: bool = False,
              quantize: str | None = None, quantize_target: str | None = None, fold_batchnorm: bool = True,
              data_dependent_max: int | dict | None = None, keep_torch_modules: bool = False,
              strict_type_constraints: bool = False, use_onnx: bool = False, dla_core: int = 0,
              gpu_fallback: bool = True, device_types: Any = None, default_device_type: Any = None,
              onnx_opset: int | None = None, avg_timing_iterations: int | None = None, capture: str = "eager",
              **unknown: Any) -> TRTModule:
    """Convert `module` into a TensorRT engine traced with the sample `inputs`.

    `inputs` is a list/tuple of the model's positional arguments (tensors or nested lists/tuples/dicts
    of tensors, and plain values), or a torch2trt.dataset.Dataset of such tuples (the original's form: traced with
    the first, the profile from all of them, verified on up to 8 of them). The returned TRTModule takes and
    returns the same structures; dicts are bound by key, and a call whose structure or non-tensor values differ
    from the sample's is an InputError.

    `dtype` (float32, float16 or bfloat16; `fp16_mode=True` means float16) sets the precision of the
    weights and activations inside the network; its inputs and outputs keep the dtypes of the sample
    inputs and of the model's outputs (cast at the boundaries). Without it the model's own dtypes are kept.

    `min_shapes`, `opt_shapes`, `max_shapes` (nested like `inputs`, None where static) define one
    optimization profile; dimensions whose min and max differ are dynamic (-1) in the network.
    `max_batch_size=N` (the original torch2trt's argument) means axis 0 of every input from 1 to N.

    `portable=True` keeps the network as plain records in the module (and its state_dict), so the engine
    can be rebuilt where the stored one cannot run and the CPU reference executor works after loading.
    `keep_network=True` keeps the TensorRT network the conversion built (and the memory its weights point at,
    which includes the model's own parameters) on the module as `.network`; by default it is let go after the
    build, and `.network` replays the records into a new one when first asked for.

    `verify=True` (the default) compares the built network with PyTorch on the user's data where there is any
    (`verify_inputs`, a list of argument lists; a dataset's items; `int8_calib_dataset`'s items), else on fresh
    inputs drawn like the sample (its sortedness, sign, 0/1 values kept; constant masks get padding patterns), at
    the profile's min, opt and max shapes when it is dynamic, with the engine where it runs, else the CPU
    reference executor. An output beyond `verify_rtol` (default by precision: float32 1e-4, float16 1e-2, bfloat16
    5e-2) is right if it is no worse than PyTorch itself: indices that select tied values, detections in another
    order of tied scores, or an error against the model run in float64 within 4x PyTorch's own error at the
    converted precision (torch2trt/verify.py); otherwise a ConversionError names the likely cause. The results are
    on the returned module as `.verification`.

    `fold_batchnorm=False` keeps batch norms after convolutions as SCALE layers for TensorRT to fuse, instead of
    folding them into new convolution weights: the engine is the same, the network has more layers, and the
    conversion holds no folded copy of those weights (peak memory of resnet50: 3.3x its weights instead of 4.0x,
    docs/benchmarks/memory.md).

    `fallback=True` returns a hybrid instead (torch2trt.fallback): the largest submodules that convert exactly become
    TRTModules, the rest runs in PyTorch; `min_block_size` (parameters), `torch_executed_modules` (paths, class
    names or classes) and `data_dependent_max` select the parts; `hybrid.fallback_report()` says what runs where.

    `capture`: this function traces eagerly ("eager"); the package's `torch2trt` (torch2trt/capture.py, the same
    arguments) defaults to "auto": eager first, else one TorchDynamo graph where the eager trace stops on Python
    control flow over tensor data; "dynamo" chooses that. `model_trt.capture` says which was used.
    """
    if unknown:
        raise _unknown_argument(next(iter(unknown)))
    if capture != "eager":
        raise ValueError(f"capture={capture!r}: torch2trt.convert.torch2trt traces eagerly; the package's "
                         "torch2trt (torch2trt.capture) chooses the capture")
    # the keyword arguments that reach the trace (quantization, folding, the original's) and, with fallback=True,
    # the parts' selection
    kwargs: dict[str, Any] = dict(
        int8_mode=int8_mode, int8_calib_dataset=int8_calib_dataset, int8_calib_algorithm=int8_calib_algorithm,
        int8_calib_percentile=int8_calib_percentile, int8_weight_only=int8_weight_only, quantize=quantize,
        quantize_target=quantize_target, fold_batchnorm=fold_batchnorm, strict_type_constraints=strict_type_constraints,
        use_onnx=use_onnx, dla_core=dla_core, gpu_fallback=gpu_fallback, device_types=device_types,
        default_device_type=default_device_type, onnx_opset=onnx_opset, avg_timing_iterations=avg_timing_iterations)
    verify_source = "verify_inputs"
    if isinstance(inputs, Dataset):   # the original's torch2trt(model, dataset): profile and checks from its items
        if max_batch_size is not None:
            raise ValueError("max_batch_size with a dataset: the dataset's items give the profile; pass one of them")
        inputs, min_shapes, opt_shapes, max_shapes, items = dataset_profile(inputs, min_shapes, opt_shapes,
                                                                            max_shapes, verify_inputs)
        if verify_inputs is None:
            verify_source = "dataset"
        verify_inputs = items if verify else verify_inputs
    if fallback:
        from .fallback import convert_fallback

        return convert_fallback(module, inputs, convert=torch2trt, input_names=input_names, output_names=output_names,
                                log_level=log_level, fp16_mode=fp16_mode, max_workspace_size=max_workspace_size,
                                keep_network=keep_network, dtype=dtype, min_shapes=min_shapes, opt_shapes=opt_shapes,
                                max_shapes=max_shapes, portable=portable, max_batch_size=max_batch_size,
                                verify=verify, verify_inputs=verify_inputs, verify_rtol=verify_rtol,
                                min_block_size=1 if min_block_size is None else min_block_size,
                                torch_executed_modules=torch_executed_modules or (),
                                data_dependent_max=data_dependent_max, keep_torch_modules=keep_torch_modules, **kwargs)
    if min_block_size is not None or torch_executed_modules is not None or data_dependent_max is not None \
            or keep_torch_modules:
        raise ValueError("min_block_size, torch_executed_modules, data_dependent_max and keep_torch_modules select "
                         "the parts of fallback=True; pass fallback=True or leave them out")
    if verify_inputs is not None and not verify:
        raise ValueError("verify_inputs were given with verify=False")
    calibration = kwargs.get("int8_calib_dataset")
    if calibration is not None and not isinstance(calibration, torch.Tensor) and _one_shot(calibration):
        kwargs["int8_calib_dataset"] = calibration = list(calibration)   # read by calibration and verification
    traced = _trace(module, inputs, input_names=input_names, output_names=output_names, log_level=log_level,
                    fp16_mode=fp16_mode, dtype=dtype, min_shapes=min_shapes, opt_shapes=opt_shapes,
                    max_shapes=max_shapes, max_batch_size=max_batch_size, **kwargs)
    t0 = time.perf_counter()
    dynamic = any(p[0] != p[2] for p in traced.profile.values())
    engine = build_engine(traced.builder, traced.network, traced.logger, max_workspace_size=max_workspace_size,
                          profile=traced.profile if dynamic else None)
    timings = {"trace": traced.seconds, "build": time.perf_counter() - t0}
    t0 = time.perf_counter()
    record = read_network(traced.network, traced.ctx.owned_weights()) if portable else None
    timings["records"] = time.perf_counter() - t0
    network, dtype = traced.network, traced.dtype
    input_specs = [InputSpec(n, t.dtype, list(p[0]), list(p[1]), list(p[2]))
                   for (n, p), t in zip(traced.profile.items(), traced.flat_in)]
    output_specs = [OutputSpec(n, d, [int(v) for v in network.get_output(i).shape])
                    for i, (n, d) in enumerate(zip(traced.names_out, traced.out_dtypes))]
    trt_module = TRTModule(engine, traced.names_in, traced.names_out, traced.in_schema, traced.out_schema,
                           input_specs, output_specs, network=network,
                           build_settings={"max_workspace_size": max_workspace_size,
                                           "dtype": dtype_name(dtype) if dtype else None},
                           network_record=record,
                           network_keepalive=(traced.builder, traced.ctx._keepalive))
    if verify:
        t0 = time.perf_counter()
        trt_module.verification = verify_conversion(
            module, trt_module, traced, inputs, verify_inputs=verify_inputs, rtol=verify_rtol, trace=_trace,
            verify_source=verify_source, real_items=calibration,
            convert_kwargs=dict(input_names=input_names, output_names=output_names, fp16_mode=fp16_mode,
                                dtype=dtype, min_shapes=min_shapes, opt_shapes=opt_shapes, max_shapes=max_shapes,
                                max_batch_size=max_batch_size, **kwargs))
        timings["verify"] = time.perf_counter() - t0
    trt_module.timings = timings
    trt_module.capture = "eager"
    if not keep_network:
        trt_module.drop_network()
    return trt_module


def _unknown_argument(name: str) -> TypeError:
    """torch2trt() got a keyword it does not take: say which known one it is likely a misspelling of."""
    import difflib
    import inspect

    known = [p for p, v in inspect.signature(torch2trt).parameters.items() if v.kind != v.VAR_KEYWORD]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; it takes {', '.join(known[2:])}"
    return TypeError(f"torch2trt() got an unexpected keyword argument {name!r}{hint}")


class CacheLeftOut(UserWarning):
    """A model output that is a transformers KV cache object was left out of the engine's outputs."""


def _one_shot(items: Any) -> bool:
    """An iterator (read once) rather than a sequence or a re-iterable loader."""
    try:
        return iter(items) is items
    except TypeError:
        return False


@dataclass
class Traced:
    """A traced network, before the engine is built."""
    network: Any
    builder: Any
    logger: Any
    ctx: ConversionContext
    flat_in: list[torch.Tensor]
    in_schema: dict
    names_in: list[str]
    names_out: list[str]
    out_schema: dict
    out_dtypes: list[torch.dtype]
    profile: dict[str, tuple[tuple, tuple, tuple]]
    dtype: torch.dtype | None
    seconds: float
    # index outputs: output name -> (network tensor of the values it selects from, axis or None, keepdim)
    selections: dict = field(default_factory=dict)


def _trace(module: torch.nn.Module, inputs: Any, *, input_names=None, output_names=None, log_level=None,
           fp16_mode: bool = False, dtype: torch.dtype | None = None, min_shapes: Any = None,
           opt_shapes: Any = None, max_shapes: Any = None, max_batch_size: int | None = None,
           **kwargs: Any) -> Traced:
    """Check the arguments and trace `module` with the sample `inputs` into a network (no engine yet)."""
    t_start = time.perf_counter()
    refuse_nested()  # early: before the inner conversion's own ops run under the outer trace
    quant_args = {k: kwargs.pop(k) for k in list(kwargs) if k in quantization.ARGUMENTS}
    fold_batchnorm = kwargs.pop("fold_batchnorm", True)
    if not isinstance(fold_batchnorm, bool):
        raise TypeError(f"fold_batchnorm must be True or False, got {fold_batchnorm!r}")
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
    _check_sample_tensors(flat_in, in_schema, names_in)
    for name, t in zip(names_in, flat_in):
        if t.dtype == torch.float64:
            raise TypeError(f"input {name!r} is float64, which TensorRT does not support; pass float32")
        torch_dtype_to_trt(t.dtype)
    if max_batch_size is not None:
        min_shapes, opt_shapes, max_shapes = _batch_profile(flat_in, in_schema, max_batch_size, min_shapes,
                                                            opt_shapes, max_shapes)

    profile = _profile(flat_in, in_schema, names_in, min_shapes, opt_shapes, max_shapes)
    builder, logger = new_builder(log_level)
    network = backend.create_network(builder)
    ctx = ConversionContext(network, builder)
    ctx.fold_batchnorm = fold_batchnorm
    model, out_dtypes = _in_precision(module, inputs, dtype)
    # calibrates (items like the sample but on axis 0 and the profile's dynamic axes); None when not quantizing
    free_axes = [{0} | {a for a, (lo, hi) in enumerate(zip(p[0], p[2])) if lo != hi} for p in profile.values()]
    ctx.quantization = quantization.prepare(model, inputs, dtype, free_axes=free_axes, **quant_args)
    # in-place ops in forward must not touch the caller's tensors: trace with copies
    clones = [t.detach().to(dtype if dtype and t.is_floating_point() else t.dtype, copy=True) for t in flat_in]
    snapshot = ctx.snapshot = ModelSnapshot(model)
    try:
        with torch.no_grad(), tracing(ctx, model, snapshot) as tracer:
            for name, t, given in zip(names_in, clones, flat_in):
                lo, _, hi = profile[name]
                dims = tuple(-1 if a != b else a for a, b in zip(lo, hi))
                itensor = network.add_input(name, torch_dtype_to_trt(given.dtype), dims)
                t._trt = ctx.cast(itensor, t.dtype)  # no layer unless the precision differs
                ctx.set_input_dim_bounds(t._trt, lo, hi, name, tuple(t.shape))
                tracer.track(t)
            outputs, caches = structure.drop_caches(model(*structure.unflatten(in_schema, clones)))
            if caches:
                where = ", ".join(f"output{c}" for c in caches)
                warnings.warn(CacheLeftOut(f"torch2trt: the model returns a KV cache ({where}), which "
                                           "the engine leaves out (it keeps no state between calls): call the model "
                                           "with use_cache=False (or set model.config.use_cache = False) to convert "
                                           "without building it"), stacklevel=3)
            flat_out, out_schema = structure.flatten(outputs)
            _check_outputs(tracer, flat_out, out_schema)
            tracer.raise_if_problems()
            names_out = _input_names(len(flat_out), output_names, "output")
            out_dtypes = out_dtypes or [t.dtype for t in flat_out]
            _mark_outputs(ctx, flat_out, names_out, set(map(id, clones)), out_dtypes)
            selections = {name: (entry[1].name, entry[2], entry[3]) for name, t in zip(names_out, flat_out)
                          if (entry := ctx.selections.get(id(t))) is not None and entry[0] is t}
            ctx.selections.clear()
            written = snapshot.written()
    finally:
        snapshot.restore()
    ctx.check_weight_views()
    if written:
        warnings.warn(f"torch2trt: the model's forward changes {', '.join(written[:5])}"
                      f"{' ...' if len(written) > 5 else ''} in place; the engine computes every call from the "
                      "values they had at conversion (it keeps no state between calls), and the model was "
                      "restored", stacklevel=3)
    return Traced(network, builder, logger, ctx, flat_in, in_schema, names_in, names_out, out_schema, out_dtypes,
                  profile, dtype, time.perf_counter() - t_start, selections)


def _check_outputs(tracer, flat_out: list[torch.Tensor], out_schema: dict) -> None:
    """Outputs whose network value is unknown or stale, and dynamic sizes returned as Python ints."""
    for i, t in enumerate(flat_out):
        mark = t.__dict__.get("_trt")
        reason = tracer.stale_reason(t)
        if reason is None and isinstance(mark, _Broken) and mark.root:
            reason = mark.reason
        if reason is not None:
            tracer.report(f"model output {i}", reason)

    def walk(schema: dict) -> None:
        if schema["kind"] == "const" and isinstance(schema["value"], DynDim):
            tracer.report("model output", f"returns the dynamic size {int(schema['value'])} as a Python int, "
                                          "which would be frozen at the sample's value; return a tensor")
            schema["value"] = int(schema["value"])
        for sub in schema.get("items", ()):
            walk(sub)

    walk(out_schema)


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
    # the model as given fixes the output dtypes (run with its state restored afterwards)
    reference_out = run_preserved(module, *structure.unflatten(schema, [t.clone() for t in flat]))
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


__all__ = ["torch2trt", "ConversionError"]
