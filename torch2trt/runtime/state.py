"""Validation of a TRTModule's saved state: every key, its type and its consistency, with errors that say
what is wrong. Only tensors and plain Python values are accepted; nothing is executed or unpickled here.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from .. import backend
from ..tracing import structure
from .module import FORMAT_VERSION, StateError, dtype_from_name


def _require(state: dict, key: str, types: type | tuple, where: str) -> Any:
    if key not in state:
        raise StateError(f"{where}: saved state has no {key!r} entry (keys found: {sorted(state)}); "
                         "is this a TRTModule state_dict?")
    value = state[key]
    if not isinstance(value, types):
        raise StateError(f"{where}: {key!r} should be {getattr(types, '__name__', types)}, "
                         f"got {type(value).__name__}")
    return value


def _str_list(state: dict, key: str, where: str) -> list[str]:
    value = _require(state, key, list, where)
    if not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
        raise StateError(f"{where}: {key!r} must be a list of distinct names")
    return value


def _shape(value: Any, what: str, where: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and v >= -1 for v in value):
        raise StateError(f"{where}: {what} must be a list of ints, got {value!r}")
    return list(value)


def _specs(state: dict, key: str, count: int, where: str, check) -> list[dict]:
    """A list of `count` spec dicts, each with a known dtype and passing `check(spec, name)`."""
    specs = _require(state, key, list, where)
    if len(specs) != count:
        raise StateError(f"{where}: {len(specs)} {key} for {count} tensors")
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise StateError(f"{where}: {key}[{i}] must be a dict")
        dtype_from_name(spec.get("dtype"))
        check(spec, f"{key}[{i}]")
    return specs


def _check_input_spec(spec: dict, what: str) -> None:
    lo, opt, hi = (_shape(spec.get(k), f"{what}.{k}", "saved state") for k in ("min", "opt", "max"))
    if not len(lo) == len(opt) == len(hi) or any(not a <= b <= c for a, b, c in zip(lo, opt, hi)):
        raise StateError(f"{what} needs min <= opt <= max of one rank")


def state_digest(state: dict) -> str:
    """sha256 over every entry but the digest itself (tensor bytes and canonical JSON of plain values):
    torch.save files carry no checksum, so a flipped byte would otherwise load as a different module."""
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            h.update(f"D{len(value)}:".encode())
            for k in sorted(value, key=repr):
                feed(k)
                feed(value[k])
        elif isinstance(value, (list, tuple)):
            h.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}:".encode())
            for v in value:
                feed(v)
        else:
            h.update(f"V{type(value).__name__}:{value!r};".encode())

    feed({k: v for k, v in state.items() if k != "state_sha256"})
    return h.hexdigest()


def read_state(state: dict, where: str = "TRTModule") -> dict:
    """Check a TRTModule state (keys without prefix) and return it normalized (engine as bytes)."""
    version = _require(state, "format_version", int, where)
    if version > FORMAT_VERSION:
        raise StateError(f"{where}: saved with format version {version}; this torch2trt reads up to "
                         f"{FORMAT_VERSION}. Upgrade torch2trt to load it.")
    if version < 1:
        raise StateError(f"{where}: invalid format version {version}")
    engine = _require(state, "engine", torch.Tensor, where)
    if engine.dtype != torch.uint8 or engine.dim() != 1:
        raise StateError(f"{where}: 'engine' must be a 1-d uint8 tensor, got {engine.dtype} {tuple(engine.shape)}")
    out = {
        "engine": engine.numpy().tobytes(),
        "backend": _require(state, "backend", str, where),
        "backend_version": _require(state, "backend_version", str, where),
        "input_names": _str_list(state, "input_names", where),
        "output_names": _str_list(state, "output_names", where),
        "build_settings": _require(state, "build_settings", dict, where),
    }
    for key in ("input_schema", "output_schema"):
        schema = _require(state, key, dict, where)
        try:
            structure.validate(schema, key)
        except ValueError as e:
            raise StateError(f"{where}: {e}") from None
        out[key] = schema
    if structure.num_tensors(out["input_schema"]) != len(out["input_names"]):
        raise StateError(f"{where}: input_schema holds {structure.num_tensors(out['input_schema'])} tensors "
                         f"but there are {len(out['input_names'])} input names")
    out["input_specs"] = _specs(state, "input_specs", len(out["input_names"]), where, _check_input_spec)
    out["output_specs"] = _specs(state, "output_specs", len(out["output_names"]), where,
                                 lambda spec, what: _shape(spec.get("shape"), f"{what}.shape", where))
    out["network"] = None
    if "network" in state:
        from ..network.inspect import NetworkRecord

        try:
            out["network"] = NetworkRecord.from_state(state["network"])
        except Exception as e:  # any malformed record: say so, never half-load
            raise StateError(f"{where}: the saved 'network' is malformed ({type(e).__name__}: {e})") from None
    problem = backend.engine_blob_problem(out["engine"], out["backend"]) if out["engine"] else None
    if problem:
        raise StateError(f"{where}: 'engine' is not a serialized {out['backend']} engine: {problem}")
    digest = _require(state, "state_sha256", str, where)
    if digest != state_digest(state):
        raise StateError(f"{where}: the saved state is corrupt (its sha256 does not match its contents)")
    return out


def load(f: Any, map_location: Any = "cpu"):
    """Load a TRTModule saved with `torch.save(model_trt.state_dict(), f)`; only tensors and plain
    values are unpickled (weights_only). Any unreadable or inconsistent file raises StateError."""
    from .module import TRTModule

    name = f if isinstance(f, str) else getattr(f, "name", "<file>")
    try:
        state = torch.load(f, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch.load reports corrupt zips/pickles with many exception types
        raise StateError(f"cannot read {name} as a saved TRTModule: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state, dict):
        raise StateError(f"{name} holds a {type(state).__name__}, not a TRTModule state_dict")
    module = TRTModule()
    module.load_state_dict(state)
    return module
