"""The saved format of a TRTModule, owned here: its version, keys and dtype names, the I/O spec types, the digest,
writing a state (`write`) and reading one back with every check (`read`, `read_file`). TRTModule (module.py) only
calls `write` and `read`; nothing else builds or parses a state.

A state is a flat dict (the keys of KEYS; "network" only when the network records are kept) of tensors and plain
Python values, so that `torch.load(weights_only=True)` reads it. Format 2 (format 1 is read too; it lacks the pairing
digest):
- format_version (int), backend / backend_version (str), engine (1-d uint8 tensor; empty when none),
- input_names / output_names (lists of str), input_schema / output_schema (torch2trt/structure.py),
- input_specs: [{"name", "dtype", "min", "opt", "max"}], output_specs: [{"name", "dtype", "shape"}] (dtype names:
  torch2trt/dtypes.py), build_settings (dict), network (NetworkRecord.to_state()),
- engine_network_sha256 (str, `pairing_digest`): format 2, whenever the state holds both an engine and a network: the
  engine and the records it was saved with, digested together. state_sha256 covers the whole state, so a state put
  together from two saves and re-digested (state_digest is public) still passes it; this one does not, unless it is
  recomputed as well: it catches mixed-up files, it is no signature against a deliberate forger,
- state_sha256 (`state_digest`).

A state is refused (StateError) unless, in this order:
- every entry is tensors and plain values (None, bool, int, float, str, torch.dtype) in dicts with str/int keys,
  lists and tuples, nested at most MAX_DEPTH levels (checked without recursion, before anything else reads it);
- each key has its type; the sha256 digest matches;
- its parts agree: specs named like input_names/output_names, schemas whose tensor indices cover the names
  exactly once (inputs in flattening order), specs with the network's input/output names, dtypes, ranks and
  static dimensions, an engine that holds every I/O name (TensorRT-RTX engines store them in plain text);
- no size is declared beyond what the file carries: see `check_sizes`;
- (last) format 2: the engine and the network are those saved together (engine_network_sha256).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import backend, dtypes, structure
from ..errors import StateError
from ..network.inspect import NetworkRecord, element_bound

FORMAT_VERSION = 2   # 2: engine_network_sha256 (format 1 files load, paired by their engine's I/O names only)
_BACKEND_NAME, _BACKEND_VERSION = backend.NAME, backend.VERSION  # defaults of Saved, whose field `backend` is a str
# the entries of a state, in the order they are written ("network" only when the module keeps the records)
KEYS = ("format_version", "backend", "backend_version", "engine", "input_names", "output_names", "input_schema",
        "output_schema", "input_specs", "output_specs", "build_settings", "network", "engine_network_sha256",
        "state_sha256")
_PAIRING_KEY = "engine_network_sha256"


def dtype_name(dtype: torch.dtype) -> str:
    return dtypes.name(dtype)


def dtype_from_name(name: Any) -> torch.dtype:
    try:
        return dtypes.from_name(name)
    except KeyError:
        raise StateError(f"unknown dtype {name!r} in saved state; expected one of "
                         f"{sorted(dtypes.name(d) for d in dtypes.PLAIN_DTYPES)}") from None


@dataclass
class InputSpec:
    """One engine input: its name, dtype and the optimization profile's (min, opt, max) shape."""
    name: str
    dtype: torch.dtype
    min: list[int]
    opt: list[int]
    max: list[int]

    @property
    def dynamic(self) -> bool:
        return self.min != self.max

    def to_state(self) -> dict:
        return {"name": self.name, "dtype": dtype_name(self.dtype), "min": list(self.min), "opt": list(self.opt),
                "max": list(self.max)}


@dataclass
class OutputSpec:
    """One engine output: its name, dtype and the network's shape (-1 where dynamic)."""
    name: str
    dtype: torch.dtype
    shape: list[int]

    def to_state(self) -> dict:
        return {"name": self.name, "dtype": dtype_name(self.dtype), "shape": list(self.shape)}


def profile_of(specs: list[InputSpec]) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """input name -> (min, opt, max), as runtime/build.py takes an optimization profile."""
    return {s.name: (s.min, s.opt, s.max) for s in specs}


@dataclass
class Saved:
    """What a TRTModule saves, as Python values (`write` turns it into a state, `read` back)."""
    engine: bytes = b""
    backend: str = _BACKEND_NAME
    backend_version: str = _BACKEND_VERSION
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    input_schema: dict = field(default_factory=dict)
    output_schema: dict = field(default_factory=dict)
    input_specs: list[InputSpec] = field(default_factory=list)
    output_specs: list[OutputSpec] = field(default_factory=list)
    build_settings: dict = field(default_factory=dict)
    network: NetworkRecord | None = None


def write(saved: Saved) -> dict:
    """The state of `saved`: the entries of KEYS (plain values and tensors), with its digest."""
    state = {
        "format_version": FORMAT_VERSION,
        "backend": saved.backend,
        "backend_version": saved.backend_version,
        "engine": torch.frombuffer(bytearray(saved.engine), dtype=torch.uint8) if saved.engine
        else torch.zeros(0, dtype=torch.uint8),
        "input_names": list(saved.input_names),
        "output_names": list(saved.output_names),
        "input_schema": saved.input_schema,
        "output_schema": saved.output_schema,
        "input_specs": [s.to_state() for s in saved.input_specs],
        "output_specs": [s.to_state() for s in saved.output_specs],
        "build_settings": saved.build_settings,
    }
    if saved.network is not None:
        state["network"] = saved.network.to_state()
        if saved.engine:
            state[_PAIRING_KEY] = pairing_digest(state["engine"], state["network"])
    state["state_sha256"] = state_digest(state)
    return state


def pairing_digest(engine: torch.Tensor, network: Any) -> str:
    """sha256 of an engine (its state tensor) and the network records saved with it (their state), together."""
    return state_digest({"engine": engine, "network": network})


MAX_DEPTH = 100
_LEAVES = (type(None), bool, int, float, str, torch.dtype)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_plain(state: dict, where: str) -> None:
    """Every entry holds only tensors and plain values, nested at most MAX_DEPTH levels deep (a loop with an explicit
    stack: a 20,000-deep list would overflow Python's recursion in validation, in the digest or in a repr)."""
    for key, value in state.items():
        stack = [(value, 0)]
        while stack:
            v, depth = stack.pop()
            if isinstance(v, (dict, list, tuple)):
                if depth >= MAX_DEPTH:
                    raise StateError(f"{where}: {key!r} is nested deeper than {MAX_DEPTH} levels, which no TRTModule "
                                     "state is; the file is corrupt or hostile")
                if isinstance(v, dict):
                    for k in v:
                        if not isinstance(k, (str, int)):
                            raise StateError(f"{where}: {key!r} holds a dict key of type {type(k).__name__}; "
                                             "only str and int keys are allowed")
                    v = v.values()
                stack.extend((item, depth + 1) for item in v)
            elif isinstance(v, torch.Tensor):
                if v.layout != torch.strided or v.is_quantized:
                    raise StateError(f"{where}: {key!r} holds a sparse or quantized tensor; only dense tensors are "
                                     "allowed")
            elif not isinstance(v, _LEAVES):
                raise StateError(f"{where}: {key!r} holds a {type(v).__name__}; only tensors, dtypes and plain values "
                                 "(None, bool, int, float, str) in dicts, lists and tuples are allowed")


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


def _shape(value: Any, what: str, where: str, lowest: int = -1) -> list[int]:
    if not isinstance(value, (list, tuple)) or len(value) > 8 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= lowest for v in value):
        raise StateError(f"{where}: {what} must be a list of at most 8 ints >= {lowest}, got {_short(value)}")
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
    lo, opt, hi = (_shape(spec.get(k), f"{what}.{k}", "saved state", lowest=0) for k in ("min", "opt", "max"))
    if not len(lo) == len(opt) == len(hi) or any(not a <= b <= c for a, b, c in zip(lo, opt, hi)):
        raise StateError(f"{what} needs min <= opt <= max of one rank")


def state_digest(state: dict) -> str:
    """sha256 over every entry but the digest itself (tensor bytes and canonical JSON of plain values):
    torch.save files carry no checksum, so a flipped byte would otherwise load as a different module.
    Walks with an explicit stack (depth-first, keys sorted by repr), so any nesting depth is digested."""
    h = hashlib.sha256()
    stack: list[Any] = [{k: v for k, v in state.items() if k != "state_sha256"}]
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            h.update(f"D{len(value)}:".encode())
            for k in sorted(value, key=repr, reverse=True):
                stack.append(value[k])
                stack.append(k)
        elif isinstance(value, (list, tuple)):
            h.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}:".encode())
            stack.extend(reversed(value))
        else:
            h.update(f"V{type(value).__name__}:{value!r};".encode())
    return h.hexdigest()


def read(state: dict, where: str = "TRTModule") -> Saved:
    """Check a TRTModule state (keys without prefix) and return what it saves; StateError says what is wrong."""
    _check_plain(state, where)
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
        "engine": engine.cpu().numpy().tobytes(),
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
    digest = _require(state, "state_sha256", str, where)
    if digest != state_digest(state):
        raise StateError(f"{where}: the saved state is corrupt (its sha256 does not match its contents)")
    out["network"] = None
    if "network" in state:
        try:
            out["network"] = NetworkRecord.from_state(state["network"])
        except ValueError as e:
            raise StateError(f"{where}: the saved 'network' is malformed: {e}") from None
        except Exception as e:  # any malformed record: say so, never half-load
            raise StateError(f"{where}: the saved 'network' is malformed ({type(e).__name__}: {e})") from None
    problem = backend.engine_blob_problem(out["engine"], out["backend"]) if out["engine"] else None
    if problem:
        raise StateError(f"{where}: 'engine' is not a serialized {out['backend']} engine: {problem}")
    _check_names_and_schemas(out, where)
    check_sizes(out, where)
    if out["network"] is not None:
        _check_against_network(out, out["network"], where)
    _check_engine_names(out, where)
    _check_pairing(state, version, where)    # last: a record or engine that is wrong in itself is named above
    return Saved(
        engine=out["engine"], backend=out["backend"], backend_version=out["backend_version"],
        input_names=out["input_names"], output_names=out["output_names"], input_schema=out["input_schema"],
        output_schema=out["output_schema"], build_settings=out["build_settings"], network=out["network"],
        input_specs=[InputSpec(s["name"], dtype_from_name(s["dtype"]), list(s["min"]), list(s["opt"]),
                               list(s["max"])) for s in out["input_specs"]],
        output_specs=[OutputSpec(s["name"], dtype_from_name(s["dtype"]), list(s["shape"]))
                      for s in out["output_specs"]])


# ---- the parts of a state must agree ------------------------------------------------------------------------

def _check_pairing(state: dict, version: int, where: str) -> None:
    """The engine and the network records are those saved together: engine_network_sha256 matches them. Format 2
    writes it whenever both are present; a format 1 file has none (its engine is paired by I/O names only)."""
    has_engine, has_network = state["engine"].numel() > 0, "network" in state
    if _PAIRING_KEY not in state:
        if version >= 2 and has_engine and has_network:
            raise StateError(f"{where}: a format {version} state with an engine and a network has no "
                             f"{_PAIRING_KEY!r} entry (it pairs them); the file was edited")
        return
    pairing = _require(state, _PAIRING_KEY, str, where)
    if not has_network:
        raise StateError(f"{where}: the state has {_PAIRING_KEY!r} but no 'network' (it pairs the engine with "
                         "the network records saved with it)")
    if not has_engine:
        raise StateError(f"{where}: the state has {_PAIRING_KEY!r} but no engine (it pairs the engine with the "
                         "network records saved with it)")
    if pairing != pairing_digest(state["engine"], state["network"]):
        raise StateError(f"{where}: 'engine' and 'network' come from different conversions (their {_PAIRING_KEY} "
                         "does not match): an engine built from one model cannot run with the records of another "
                         "(or one of them was edited)")


def _schema_tensors(schema: dict, key: str, where: str) -> list[int]:
    """Tensor indices of a (validated, depth-bounded) schema in flattening order; dict keys must be str or int."""
    found: list[int] = []

    def walk(node: dict) -> None:
        kind = node["kind"]
        if kind == "tensor":
            found.append(node["index"])
        elif kind in ("list", "tuple", "dict"):
            if kind == "dict" and not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in node["keys"]):
                raise StateError(f"{where}: {key}: dict keys must be str or int, got {_short(node['keys'])}")
            for item in node["items"]:
                walk(item)

    walk(schema)
    return found


def _check_names_and_schemas(out: dict, where: str) -> None:
    for kind in ("input", "output"):
        names = out[f"{kind}_names"]
        for i, (name, spec) in enumerate(zip(names, out[f"{kind}_specs"])):
            if spec.get("name") != name:
                raise StateError(f"{where}: {kind}_specs[{i}] is named {_short(spec.get('name'))} but "
                                 f"{kind}_names[{i}] is {name!r}")
    if out["input_schema"]["kind"] not in ("list", "tuple"):
        raise StateError(f"{where}: input_schema must be a list (the positional arguments), got kind "
                         f"{out['input_schema']['kind']!r}")
    for pos, index in enumerate(_schema_tensors(out["input_schema"], "input_schema", where)):
        if index != pos:  # a call's tensors are matched to input_names in flattening order
            raise StateError(f"{where}: input_schema has tensor {index} where tensor {pos} belongs (inputs are "
                             "numbered in flattening order)")
    n = len(out["output_names"])
    indices = _schema_tensors(out["output_schema"], "output_schema", where)
    if len(indices) != n:
        raise StateError(f"{where}: output_schema holds {len(indices)} tensors but there are {n} output names")
    seen: set[int] = set()
    for index in indices:
        if index >= n:
            raise StateError(f"{where}: output_schema refers to tensor index {index} but there are {n} outputs")
        if index in seen:
            raise StateError(f"{where}: output_schema uses tensor {index} twice")
        seen.add(index)


def _check_against_network(out: dict, record: Any, where: str) -> None:
    """Names, dtypes, ranks and static dimensions of the specs must be the network's."""
    net_inputs = [name for name, _, _ in record.inputs]
    if out["input_names"] != net_inputs:
        raise StateError(f"{where}: input_names {out['input_names']} are not the network's inputs; the "
                         f"network's inputs are {net_inputs}")
    if out["output_names"] != record.outputs:
        raise StateError(f"{where}: output_names {out['output_names']} are not the network's outputs; the "
                         f"network's outputs are {record.outputs}")
    for (name, dtype, shape), spec in zip(record.inputs, out["input_specs"]):
        if spec["dtype"] != dtype_name(dtype):
            raise StateError(f"{where}: input {name!r}: input_specs say {spec['dtype']}, the network declares "
                             f"{dtype_name(dtype)}")
        lo, hi = spec["min"], spec["max"]
        if len(lo) != len(shape):
            raise StateError(f"{where}: input {name!r}: input_specs give rank {len(lo)} (min {lo}), the network "
                             f"declares shape {tuple(shape)}")
        for axis, (d, a, b) in enumerate(zip(shape, lo, hi)):
            if d >= 0 and not a == b == d:
                raise StateError(f"{where}: input {name!r} axis {axis}: the network fixes size {d} but input_specs "
                                 f"allow {a} to {b} (the network declares {tuple(shape)})")
    produced = {t: (dt, shape) for layer in record.layers
                for t, dt, shape in zip(layer.outputs, layer.output_dtypes, layer.output_shapes)}
    for name, spec in zip(record.outputs, out["output_specs"]):
        dtype, shape = produced[name]
        if spec["dtype"] != dtype_name(dtype):
            raise StateError(f"{where}: output {name!r}: output_specs say {spec['dtype']}, the network declares "
                             f"{dtype_name(dtype)}")
        if list(spec["shape"]) != list(shape):
            raise StateError(f"{where}: output {name!r}: output_specs give shape {spec['shape']}, the network "
                             f"declares {tuple(shape)}")


def _check_engine_names(out: dict, where: str) -> None:
    """A TensorRT-RTX engine stores its I/O tensor names in plain text: an engine that lacks one of them was built
    from another model. (Necessary, not sufficient; other backends' engines are not inspected.)"""
    if not out["engine"] or out["backend"] != "tensorrt_rtx":
        return
    for name in out["input_names"] + out["output_names"]:
        if name.encode() not in out["engine"]:
            raise StateError(f"{where}: 'engine' has no tensor named {name!r}: the engine and "
                             "input_names/output_names come from different models")


# ---- sizes declared in the file -----------------------------------------------------------------------------

# layer type -> the attribute that declares (part of) its output shape
_SHAPE_ATTRS = {"FILL": "shape", "RESIZE": "shape", "SHUFFLE": "reshape_dims", "SLICE": "shape"}


def _elements(shape: Any) -> int:
    """Elements of the static part of a shape (-1 dynamic and 0 placeholder dimensions left out)."""
    return math.prod(d for d in shape if d > 0)


def check_sizes(out: dict, where: str) -> None:
    """Refuse, before anything is allocated, a state that declares tensors far beyond the data it carries.

    Rule: with B = the bytes of the engine plus the network's weights, no tensor may have more than
    element_bound(B) = max(2**26, 64 x B) elements in its static dimensions: input spec max shapes, output specs,
    the network's inputs, every layer's declared output shapes and the shape-declaring attributes of FILL, RESIZE,
    SHUFFLE (reshape_dims) and SLICE. A CONSTANT layer's shape must be that of its weights. Sizes that depend on
    dynamic dimensions are bounded when the reference executor computes them (network/reference.py)."""
    record = out["network"]
    carried = len(out["engine"]) + (record.weight_bytes() if record is not None else 0)
    bound = element_bound(carried)
    why = f"above the bound of {bound} elements this file can justify (max(2**26, 64 x the {carried} bytes of " \
          "engine and weights it carries)); the file is corrupt or hostile (if you trust it, raise " \
          "torch2trt.network.inspect.MIN_ELEMENT_BOUND)"
    for kind in ("input", "output"):
        for i, spec in enumerate(out[f"{kind}_specs"]):
            shape = spec["max"] if kind == "input" else spec["shape"]
            if _elements(shape) > bound:
                field = "max shape" if kind == "input" else "shape"
                raise StateError(f"{where}: {kind}_specs[{i}] ({spec['name']!r}): {field} {shape} has "
                                 f"{_elements(shape)} elements, {why}")
    if record is None:
        return
    for name, _, shape in record.inputs:
        if _elements(shape) > bound:
            raise StateError(f"{where}: network input {name!r}: shape {tuple(shape)} has {_elements(shape)} "
                             f"elements, {why}")
    for layer in record.layers:
        what = f"{where}: {layer.type} layer {layer.name!r}"
        if layer.type == "CONSTANT":
            shape = layer.attrs.get("shape")
            if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise StateError(f"{what}: shape must be a list of ints >= 0, got {_short(shape)}")
            w = layer.weights.get("weights")
            count = 0 if w is None else w.numel()
            if math.prod(shape) != count or (w is not None and tuple(w.shape) != tuple(shape)):
                raise StateError(f"{what}: shape {tuple(shape)} has {math.prod(shape)} elements but its weights "
                                 f"hold {count}" + ("" if w is None else f" (shape {tuple(w.shape)})"))
        for tid, shape in zip(layer.outputs, layer.output_shapes):
            if _elements(shape) > bound:
                raise StateError(f"{what}: output {tid!r} is declared with shape {tuple(shape)}: "
                                 f"{_elements(shape)} elements, {why}")
        attr = _SHAPE_ATTRS.get(layer.type)
        value = layer.attrs.get(attr) if attr else None
        if value is None:
            continue
        if not isinstance(value, (list, tuple)) or not all(isinstance(d, int) for d in value):
            raise StateError(f"{what}: {attr} must be a list of ints, got {_short(value)}")
        if _elements(value) > bound:
            raise StateError(f"{what}: {attr} {tuple(value)} declares {_elements(value)} elements, {why}")


def read_file(f: Any, map_location: Any = "cpu") -> dict:
    """The entries of a file saved with `torch.save(model_trt.state_dict(), f)`; only tensors and plain values are
    unpickled (weights_only). An unreadable file, or one that is not a dict with str keys, raises StateError."""
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
    bad = [k for k in state if not isinstance(k, str)]
    if bad:
        raise StateError(f"{name} has a key of type {type(bad[0]).__name__} ({_short(bad[0])}); a TRTModule "
                         "state_dict has str keys only")
    return state


__all__ = ["FORMAT_VERSION", "KEYS", "InputSpec", "OutputSpec", "Saved", "write", "read", "read_file",
           "state_digest", "pairing_digest", "check_sizes", "profile_of"]
