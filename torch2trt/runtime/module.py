"""TRTModule: a converted model that is called like the original, and `load()` of a saved one.

Holds the serialized engine, the I/O names, nested I/O structure and input specs (runtime/saved.py, which also
owns its state_dict's format: only tensors and plain Python values). On a GPU that can run the engine it executes
it on torch's current stream; elsewhere it runs the network on the CPU with the reference executor
(`run_reference`, when the network is available) or raises an error that says why.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend, dtypes, structure
from ..backend import trt
from ..errors import InputError, StateError, TRTModuleError  # noqa: F401  (raised here; importable from here)
from ..network import reference
from ..network.inspect import read_network
from . import saved
from .build import rebuild_engine
from .saved import InputSpec, OutputSpec


def _engine_bytes(engine: Any) -> bytes:
    if engine is None:
        return b""
    if isinstance(engine, bytes):  # as it is: a copy would double the engine's memory while both live
        return engine
    if isinstance(engine, torch.Tensor):
        return engine.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
    if hasattr(engine, "serialize"):  # an ICudaEngine
        engine = engine.serialize()
    return bytes(memoryview(engine))


class TRTModule(torch.nn.Module):
    """A TensorRT engine as a torch module.

    Created by `torch2trt(...)`, or empty (`TRTModule()`) and filled by `load_state_dict`.
    """

    def __init__(self, engine: Any = None, input_names: list[str] | None = None,
                 output_names: list[str] | None = None, input_schema: dict | None = None,
                 output_schema: dict | None = None, input_specs: list[InputSpec] | None = None,
                 output_specs: list[OutputSpec] | None = None, network: Any = None,
                 build_settings: dict | None = None, network_record: Any = None, network_keepalive: Any = None):
        super().__init__()
        self.engine_bytes = _engine_bytes(engine)
        self.input_names = list(input_names or [])
        self.output_names = list(output_names or [])
        n_in, n_out = len(self.input_names), len(self.output_names)
        self.input_schema = input_schema or {"kind": "list", "items": [
            {"kind": "tensor", "index": i} for i in range(n_in)]}
        self.output_schema = output_schema or (
            {"kind": "tensor", "index": 0} if n_out == 1 else
            {"kind": "tuple", "items": [{"kind": "tensor", "index": i} for i in range(n_out)]})
        self.input_specs = list(input_specs or [])
        self.output_specs = list(output_specs or [])
        self.build_settings = dict(build_settings or {})
        self._network = network          # the live INetworkDefinition (keep_network=True), not saved
        self.network_record = network_record  # plain records of the network (portable): saved, replayable
        self._network_keepalive = network_keepalive  # what the live network's weights point at
        self._network_read: Any = None   # records read from the live network for the reference executor, not saved
        self.backend_name, self.backend_version = backend.NAME, backend.VERSION
        self.verification: Any = None    # torch2trt(verify=True): the comparison with PyTorch (verify.py)
        self.capture: str | None = None  # how torch2trt() captured the model: "eager" | "dynamo" (None: loaded)
        self.timings: dict[str, float] = {}  # torch2trt(): seconds spent tracing, building and verifying
        self._engine = None
        self._context = None
        self._device: torch.device | None = None
        self._warned_reference = False

    def drop_network(self) -> None:
        """Let the live TensorRT network go (torch2trt(keep_network=False)); saved records stay."""
        self._network = self._network_keepalive = self._network_read = None

    @property
    def network(self) -> Any:
        """The TensorRT INetworkDefinition: the one the conversion built if it was kept (keep_network=True), else
        one replayed from the network records when first asked for (None without records). The module holds
        no network until then."""
        if self._network is None and self.network_record is not None:
            from ..network.portable import replay

            network, builder, keepalive = replay(self.network_record)
            self._network, self._network_keepalive = network, (builder, keepalive)
        return self._network

    @network.setter
    def network(self, value: Any) -> None:
        self._network = value

    # ---- calling ---------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = self._bind_keywords(args, kwargs)
        flat = self._flatten_inputs(args)
        runnable, why = self._engine_runnable()
        self._check_inputs(flat, runnable)
        if runnable:
            outputs = self._run_engine(flat)
        elif self._network is not None or self.network_record is not None:
            if not self._warned_reference:
                warnings.warn(f"TRTModule: running the network with the CPU reference executor, not TensorRT "
                              f"({why}). Results are TensorRT's semantics computed by PyTorch; speed is not.",
                              stacklevel=2)
                self._warned_reference = True
            outputs = self._run_reference(flat)
        else:
            raise TRTModuleError(f"this TensorRT engine cannot run here: {why}; and the module holds no network "
                                 "for the CPU reference path (convert with portable=True or keep_network=True).")
        return structure.unflatten(self.output_schema, outputs)

    def _bind_keywords(self, args: tuple, kwargs: dict) -> tuple:
        """`m(input_ids=x)`: keyword arguments are the engine's input names (torch2trt.dynamo.convert names them
        after the dict it was given), for a model converted with one tensor per argument."""
        items = self.input_schema.get("items", ())
        if self.input_schema.get("kind") != "list" or any(i.get("kind") != "tensor" for i in items):
            raise InputError("keyword arguments need a model converted with one tensor per argument; this one was "
                             "converted with nested inputs: pass them positionally, in the converted structure")
        names = list(self.input_names)
        bound: list = list(args) + [None] * (len(names) - len(args))
        for key, value in kwargs.items():
            if key not in names:
                raise InputError(f"unknown keyword argument {key!r}; the engine's inputs are {names}")
            k = names.index(key)
            if k < len(args):
                raise InputError(f"input {key!r} given both positionally and as a keyword")
            bound[k] = value
        missing = [n for n, v in zip(names, bound) if v is None]
        if missing or len(args) > len(names):
            raise InputError(f"expected the inputs {names}; missing {missing}" if missing else
                             f"expected {len(names)} inputs {names}, got {len(args)} positional arguments")
        return tuple(bound)

    def _flatten_inputs(self, args: tuple) -> list[torch.Tensor]:
        """The call's tensors in the engine's input order: bound by the structure the model was converted with
        (dicts by key); any other structure or non-tensor value is an InputError naming the difference."""
        top = self.input_schema
        if top.get("kind") == "list" and len(args) != len(top.get("items", ())):
            raise InputError(f"expected {len(self.input_names)} input tensor(s) ({', '.join(self.input_names)}) in "
                             f"{len(top['items'])} argument(s), as converted; got {len(args)} argument(s)")
        try:
            flat = structure.bind(self.input_schema, list(args))
        except structure.StructureError as e:
            raise InputError(f"inputs do not match the structure the model was converted with: {e}") from None
        if len(flat) != len(self.input_names):
            raise InputError(f"expected {len(self.input_names)} input tensor(s) ({', '.join(self.input_names)}); "
                             f"the saved structure holds {len(flat)}")
        return flat

    def _check_inputs(self, flat: list[torch.Tensor], runnable: bool) -> None:
        """Dense tensors with data (not meta, sparse, quantized or nested), dtypes and shapes as the specs say; on
        CUDA (and the loaded device) when the engine runs."""
        for t, name, spec in zip(flat, self.input_names, self.input_specs):
            problem = structure.tensor_problem(t)
            if problem:
                raise InputError(f"input {name!r} {problem}")
            want = spec.dtype
            if t.dtype != want:
                raise InputError(f"input {name!r} has dtype {t.dtype}; the engine expects {want}")
            lo, hi = spec.min, spec.max
            if t.dim() != len(lo):
                raise InputError(f"input {name!r} has rank {t.dim()} (shape {tuple(t.shape)}); the engine "
                                 f"expects rank {len(lo)} (shape between {tuple(lo)} and {tuple(hi)})")
            for axis, (s, a, b) in enumerate(zip(t.shape, lo, hi)):
                if not a <= s <= b:
                    allowed = f"exactly {a}" if a == b else f"between {a} and {b}"
                    raise InputError(f"input {name!r} has size {s} on axis {axis} (shape {tuple(t.shape)}); "
                                     f"the engine's profile allows {allowed}")
            if runnable and t.device.type != "cuda":
                raise InputError(f"input {name!r} is on {t.device}; the engine runs on CUDA — move it "
                                 f"with .cuda()")
            if runnable and self._device is not None and t.device != self._device:
                raise InputError(f"input {name!r} is on {t.device}; the engine was loaded on {self._device}")

    def _stale_engine(self) -> str:
        """Why the stored engine cannot serve this process ("" when it can)."""
        if self.engine_bytes and self.backend_name == backend.NAME:
            return ""
        return "holds no engine" if not self.engine_bytes else \
            f"was built by {self.backend_name}, this process uses {backend.NAME}"

    def _engine_runnable(self) -> tuple[bool, str]:
        """Can the engine path run here (its engine, or one rebuilt from the saved network when first needed)?
        A query: it changes nothing."""
        runnable, why = backend.engine_runnable_here()
        if not runnable:
            return False, why
        stale = self._stale_engine()
        if stale and self.network_record is None:
            return False, f"the module {stale} and holds no network to rebuild it from"
        return True, ""

    def _ensure_engine(self) -> None:
        """Rebuild the engine from the saved network when the stored one cannot serve this process."""
        stale = self._stale_engine()
        if stale:
            warnings.warn(f"TRTModule: the module {stale}; rebuilding the engine from the saved network",
                          stacklevel=4)
            self.rebuild()

    # ---- the GPU path ----------------------------------------------------------------------------
    @property
    def engine(self):
        """The deserialized TensorRT engine (ICudaEngine), as the original torch2trt's `TRTModule.engine`: loaded
        on the current CUDA device when first asked for where the engine can run; None where it cannot (no GPU the
        backend supports: `engine_bytes` holds the serialized plan)."""
        if self._engine is None and self._engine_runnable()[0]:
            self._ensure_engine()
            self._load_engine(torch.device("cuda", torch.cuda.current_device()))
        return self._engine

    @property
    def context(self):
        """The engine's execution context (the original's `TRTModule.context`), or None where no engine runs."""
        return self._context if self.engine is not None else None

    def _load_engine(self, device: torch.device) -> None:
        with torch.cuda.device(device):
            runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
            engine = runtime.deserialize_cuda_engine(self.engine_bytes)
            if engine is None and self.network_record is not None:
                warnings.warn(f"TRTModule: the stored engine (built by {self.backend_name} {self.backend_version}) "
                              f"cannot be deserialized by {backend.NAME} {backend.VERSION} on this GPU; rebuilding "
                              "it from the saved network", stacklevel=4)
                self.rebuild()
                engine = runtime.deserialize_cuda_engine(self.engine_bytes)
            if engine is None:
                raise TRTModuleError(
                    f"TensorRT ({backend.NAME} {backend.VERSION}) could not deserialize the engine on {device} "
                    f"(built by {self.backend_name} {self.backend_version}); it must be rebuilt for this "
                    "TensorRT version and GPU")
            self._engine, self._context = engine, engine.create_execution_context()
            self._runtime = runtime
        self._device = device

    def rebuild(self) -> None:
        """Build the engine again from the saved network with this process's TensorRT (other version,
        backend or GPU than the one that built the stored engine)."""
        if self.network_record is None:
            raise TRTModuleError("this module holds no network to rebuild from (converted with portable=False)")
        dynamic = any(spec.dynamic for spec in self.input_specs)
        profile = saved.profile_of(self.input_specs)
        self.engine_bytes = rebuild_engine(self.network_record, profile=profile if dynamic else None,
                                           max_workspace_size=self.build_settings.get("max_workspace_size"))
        self.backend_name, self.backend_version = backend.NAME, backend.VERSION
        self._engine = self._context = None

    def _run_engine(self, flat: list[torch.Tensor]) -> list[torch.Tensor]:
        if self._context is None:
            self._ensure_engine()
            self._load_engine(flat[0].device if flat else torch.device("cuda", torch.cuda.current_device()))
        stream = torch.cuda.current_stream(self._device)
        return self._execute(flat, self._device, stream.cuda_stream)

    def _execute(self, flat: list[torch.Tensor], device: torch.device, stream_handle: int) -> list[torch.Tensor]:
        """Bind inputs and freshly allocated outputs by name, then enqueue the engine on `stream_handle`."""
        ctx, engine = self._context, self._engine
        keep = []  # contiguous copies must live until the engine has read them
        for name, t in zip(self.input_names, flat):
            t = t.contiguous()
            keep.append(t)
            if not ctx.set_input_shape(name, tuple(t.shape)):
                raise InputError(f"TensorRT rejected shape {tuple(t.shape)} for input {name!r}")
            ctx.set_tensor_address(name, t.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(ctx.get_tensor_shape(name))
            out = torch.empty(shape, dtype=dtypes.from_trt(engine.get_tensor_dtype(name)), device=device)
            ctx.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        if not ctx.execute_async_v3(stream_handle):
            raise TRTModuleError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        self._inflight = keep
        return outputs

    # ---- the CPU reference path ------------------------------------------------------------------
    def run_reference(self, *inputs: Any, dtype: torch.dtype | None = None) -> Any:
        """Run the network on the CPU with the reference executor (torch2trt/network/reference.py): TensorRT's
        layer semantics computed by PyTorch, on any machine, from the kept network or the saved records alone
        (no engine needed). Takes and returns what `forward` does (inputs checked against the specs; outputs on
        the first input's device). `dtype=torch.float64` computes every float tensor in float64 instead."""
        flat = self._flatten_inputs(inputs)
        self._check_inputs(flat, runnable=False)
        return structure.unflatten(self.output_schema, self._run_reference(flat, dtype))

    def _run_reference(self, flat: list[torch.Tensor], dtype: torch.dtype | None = None) -> list[torch.Tensor]:
        """The flat outputs (in output_names order) of the reference executor on checked flat inputs."""
        record = self.network_record
        if record is None:
            if self._network is None:
                raise TRTModuleError("the module holds no network for the CPU reference executor (convert with "
                                     "portable=True or keep_network=True)")
            if self._network_read is None:
                self._network_read = read_network(self._network)
            record = self._network_read
        device = flat[0].device if flat else torch.device("cpu")
        feeds = {n: t.detach().cpu() for n, t in zip(self.input_names, flat)}
        results = reference.run(record, feeds, dtype=dtype)
        return [results[n].to(device) for n in self.output_names]

    # ---- state (the format: runtime/saved.py) ----------------------------------------------------
    def _saved(self) -> saved.Saved:
        return saved.Saved(self.engine_bytes, self.backend_name, self.backend_version, list(self.input_names),
                           list(self.output_names), self.input_schema, self.output_schema, list(self.input_specs),
                           list(self.output_specs), self.build_settings, self.network_record)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for key, value in saved.write(self._saved()).items():
            destination[prefix + key] = value

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        own = {k[len(prefix):]: v for k, v in state_dict.items()
               if isinstance(k, str) and k.startswith(prefix) and "." not in k[len(prefix):]}
        s = saved.read(own, where=prefix.rstrip(".") or "TRTModule")
        self.engine_bytes = s.engine
        self.input_names, self.output_names = s.input_names, s.output_names
        self.input_schema, self.output_schema = s.input_schema, s.output_schema
        self.input_specs, self.output_specs = s.input_specs, s.output_specs
        self.build_settings = s.build_settings
        self.backend_name, self.backend_version = s.backend, s.backend_version
        self._engine = self._context = self._device = None
        self._network = self._network_keepalive = self._network_read = None
        self.network_record = s.network
        for k in own:
            if k not in saved.KEYS and strict:
                unexpected_keys.append(prefix + k)


def load(f: Any, map_location: Any = "cpu") -> TRTModule:
    """Load a TRTModule saved with `torch.save(model_trt.state_dict(), f)`; only tensors and plain
    values are unpickled (weights_only). Any unreadable or inconsistent file raises StateError."""
    module = TRTModule()
    module.load_state_dict(saved.read_file(f, map_location))
    return module


__all__ = ["TRTModule", "load", "TRTModuleError", "InputError", "StateError"]
