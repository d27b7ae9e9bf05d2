"""TRTModule: a converted model that is called like the original.

Holds the serialized engine, the I/O names, nested I/O structure and input profile. On a GPU that can
run the engine it executes it on torch's current stream; elsewhere it runs the network on the CPU
with the reference executor (when the network is available) or raises an error that says why.
Its state_dict holds only tensors and plain Python values.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend
from ..backend import trt
from ..tracing import structure

FORMAT_VERSION = 1
_DTYPES = {str(d).replace("torch.", ""): d for d in (
    torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool)}


class TRTModuleError(RuntimeError):
    """The module cannot run here, or its state is unusable."""


class InputError(ValueError):
    """A call's inputs do not match what the engine was built for."""


class StateError(TRTModuleError):
    """A saved state cannot be loaded; the message says which key and what is wrong."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except (KeyError, TypeError):
        raise StateError(f"unknown dtype {name!r} in saved state; expected one of {sorted(_DTYPES)}") from None


def _engine_bytes(engine: Any) -> bytes:
    if engine is None:
        return b""
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
                 output_schema: dict | None = None, input_specs: list[dict] | None = None,
                 output_specs: list[dict] | None = None, network: Any = None,
                 build_settings: dict | None = None, network_record: Any = None):
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
        self.network = network           # the live INetworkDefinition (keep_network=True), not saved
        self.network_record = network_record  # plain records of the network (portable): saved, replayable
        self._network_keepalive: Any = None
        self.backend_name, self.backend_version = backend.NAME, backend.VERSION
        self._engine = None
        self._context = None
        self._device: torch.device | None = None
        self._warned_reference = False

    # ---- calling ---------------------------------------------------------------------------------
    def forward(self, *args: Any) -> Any:
        flat = self._flatten_inputs(args)
        self._check_inputs(flat)
        runnable, why = self._engine_runnable()
        if runnable:
            outputs = self._run_engine(flat)
        elif self.network is not None or self.network_record is not None:
            outputs = self._run_reference(flat, why)
        else:
            raise TRTModuleError(f"this TensorRT engine cannot run here: {why}; and the module holds no network "
                                 "for the CPU reference path (convert with portable=True or keep_network=True).")
        return structure.unflatten(self.output_schema, outputs)

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

    def _check_inputs(self, flat: list[torch.Tensor]) -> None:
        runnable, _ = self._engine_runnable()
        for t, name, spec in zip(flat, self.input_names, self.input_specs):
            want = dtype_from_name(spec["dtype"])
            if t.dtype != want:
                raise InputError(f"input {name!r} has dtype {t.dtype}; the engine expects {want}")
            lo, hi = spec["min"], spec["max"]
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

    def _engine_runnable(self) -> tuple[bool, str]:
        runnable, why = backend.engine_runnable_here()
        if not runnable:
            return False, why
        if self.engine_bytes and self.backend_name == backend.NAME:
            return True, ""
        other = "holds no engine" if not self.engine_bytes else \
            f"was built by {self.backend_name}, this process uses {backend.NAME}"
        if self.network_record is None:
            return False, f"the module {other} and holds no network to rebuild it from"
        warnings.warn(f"TRTModule: the module {other}; rebuilding the engine from the saved network", stacklevel=4)
        self.rebuild()
        return True, ""

    # ---- the GPU path ----------------------------------------------------------------------------
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
        from ..network.portable import rebuild_engine

        dynamic = any(spec["min"] != spec["max"] for spec in self.input_specs)
        profile = {spec["name"]: (spec["min"], spec["opt"], spec["max"]) for spec in self.input_specs}
        self.engine_bytes = rebuild_engine(self.network_record, profile=profile if dynamic else None,
                                           max_workspace_size=self.build_settings.get("max_workspace_size"))
        self.backend_name, self.backend_version = backend.NAME, backend.VERSION
        self._engine = self._context = None

    def _run_engine(self, flat: list[torch.Tensor]) -> list[torch.Tensor]:
        if self._context is None:
            self._load_engine(flat[0].device if flat else torch.device("cuda", torch.cuda.current_device()))
        stream = torch.cuda.current_stream(self._device)
        return self._execute(flat, self._device, stream.cuda_stream)

    def _execute(self, flat: list[torch.Tensor], device: torch.device, stream_handle: int) -> list[torch.Tensor]:
        """Bind inputs and freshly allocated outputs by name, then enqueue the engine on `stream_handle`."""
        from ..tracing.context import torch_dtype_from_trt

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
            out = torch.empty(shape, dtype=torch_dtype_from_trt(engine.get_tensor_dtype(name)), device=device)
            ctx.set_tensor_address(name, out.data_ptr())
            outputs.append(out)
        if not ctx.execute_async_v3(stream_handle):
            raise TRTModuleError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        self._inflight = keep
        return outputs

    # ---- the CPU reference path ------------------------------------------------------------------
    def _run_reference(self, flat: list[torch.Tensor], why: str) -> list[torch.Tensor]:
        from ..network import reference

        if not self._warned_reference:
            warnings.warn(f"TRTModule: running the network with the CPU reference executor, not TensorRT "
                          f"({why}). Results are TensorRT's semantics computed by PyTorch; speed is not.",
                          stacklevel=3)
            self._warned_reference = True
        device = flat[0].device if flat else torch.device("cpu")
        feeds = {n: t.detach().cpu() for n, t in zip(self.input_names, flat)}
        if self.network_record is None:
            from ..network.inspect import read_network

            self.network_record = read_network(self.network)
        results = reference.run(self.network_record, feeds)
        return [results[n].to(device) for n in self.output_names]

    # ---- state -----------------------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "format_version"] = FORMAT_VERSION
        destination[prefix + "backend"] = self.backend_name
        destination[prefix + "backend_version"] = self.backend_version
        destination[prefix + "engine"] = torch.frombuffer(bytearray(self.engine_bytes), dtype=torch.uint8) \
            if self.engine_bytes else torch.zeros(0, dtype=torch.uint8)
        destination[prefix + "input_names"] = list(self.input_names)
        destination[prefix + "output_names"] = list(self.output_names)
        destination[prefix + "input_schema"] = self.input_schema
        destination[prefix + "output_schema"] = self.output_schema
        destination[prefix + "input_specs"] = self.input_specs
        destination[prefix + "output_specs"] = self.output_specs
        destination[prefix + "build_settings"] = self.build_settings
        if self.network_record is not None:
            destination[prefix + "network"] = self.network_record.to_state()
        from .state import state_digest

        own = {k[len(prefix):]: v for k, v in destination.items() if k.startswith(prefix)
               and k[len(prefix):] in self._STATE_KEYS}
        destination[prefix + "state_sha256"] = state_digest(own)

    _STATE_KEYS = ("format_version", "backend", "backend_version", "engine", "input_names", "output_names",
                   "input_schema", "output_schema", "input_specs", "output_specs", "build_settings",
                   "state_sha256", "network")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        from .state import read_state

        own = {k[len(prefix):]: v for k, v in state_dict.items()
               if isinstance(k, str) and k.startswith(prefix) and "." not in k[len(prefix):]}
        state = read_state(own, where=prefix.rstrip(".") or "TRTModule")
        self.engine_bytes = state["engine"]
        for key in ("input_names", "output_names", "input_schema", "output_schema", "input_specs",
                    "output_specs", "build_settings"):
            setattr(self, key, state[key])
        self.backend_name, self.backend_version = state["backend"], state["backend_version"]
        self._engine = self._context = self._device = None
        self.network = None
        self.network_record = state["network"]
        for k in own:
            if k not in self._STATE_KEYS and strict:
                unexpected_keys.append(prefix + k)
