"""`torch.compile(model, backend="torch2trt")`: the TorchDynamo front end.

Dynamo captures torch-level FX graphs (code between graph breaks keeps running in PyTorch) and hands each one here
with real example inputs. Each graph goes through the ordinary `torch2trt()` (same tracer, converters, verification)
as a module that holds the graph's parameters as constants, and comes back as a callable that runs the TRTModule
(the engine, or the CPU reference executor where none runs). A graph that does not convert exactly runs in PyTorch,
with one warning naming the problems.

Dynamic shapes (`torch.compile(..., dynamic=True)` or dynamo's automatic dynamic): a dimension dynamo made symbolic
becomes a dynamic axis of the profile, from `options["min_size"]` (default 1) to `options["max_size"]` (default
`options["max_scale"]` (4) times the example's size, at least 64); a SymInt graph input is computed from the
tensor dimension it names. A call outside the profile runs the graph in PyTorch (one warning).

Options (`options={...}`): `dtype`/`fp16_mode`, `max_workspace_size`, `verify`, `verify_rtol`, `min_size`,
`max_size`, `max_scale`; the profile of every graph's inputs comes from these.

Weights are followed: a graph's parameters and buffers are network constants, and every call checks that they are
the tensors the engine was built from, unchanged (the same objects, memory and version counters). A change made
through them (in place under `torch.no_grad()`, `load_state_dict`, an optimizer step, a new Parameter) rebuilds the
engine from the current weights at that call (where that does not convert, the graph runs in PyTorch until
they change again); a stale engine is never run. Writes that bypass the version counter
(`.data`, memory shared outside PyTorch) are not seen.

`convert(model, inputs, **torch2trt_kwargs)` is the one-engine form: the whole model captured as ONE graph
(fullgraph; a graph break, such as Python control flow on tensor data, is refused), converted by `torch2trt()` with
the caller's profile; the TRTModule takes the inputs in the order given and returns the model's output structure.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Callable

import torch

from .runtime.module import InputError
from .tracing.context import ConversionError

_PASSED = ("dtype", "fp16_mode", "max_workspace_size", "verify", "verify_rtol", "log_level")
_OWN = ("min_size", "max_size", "max_scale")


class _GraphModule(torch.nn.Module):
    """The dynamo graph as a module of its data inputs only: parameters and buffers (graph inputs dynamo lifted)
    are held here, so that they become network constants; SymInt inputs are read from tensor sizes."""

    def __init__(self, gm: torch.fx.GraphModule, slots: list[tuple[str, Any]]):
        super().__init__()
        self.gm = gm
        self.slots = []  # per graph input: ("data", k) | ("const", buffer name) | ("size", (k, dim))
        for kind, v in slots:
            if kind == "const":  # buffers, so that .to(dtype) for reduced precision reaches them
                name = f"const_{len(self.slots)}"
                self.register_buffer(name, v.detach() if isinstance(v, torch.nn.Parameter) else v, persistent=False)
                v = name
            self.slots.append((kind, v))

    def forward(self, *data: torch.Tensor):
        args = []
        for kind, v in self.slots:
            if kind == "data":
                args.append(data[v])
            elif kind == "const":
                args.append(getattr(self, v))
            else:
                k, dim = v
                args.append(data[k].size(dim))
        return self.gm(*args)


def _symbol(value: Any):
    node = getattr(value, "node", None)
    return getattr(node, "expr", None)


def _plan(gm: torch.fx.GraphModule, example_inputs: list, is_data: Callable | None = None
          ) -> tuple[list, list[torch.Tensor], list[list]]:
    """Classify the graph inputs: (slots, data tensors, per data tensor the symbolic dims as (dim, symbol)).
    `is_data(tensor)`: which tensor inputs are data (default: those that are no parameter nor lifted state)."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(example_inputs):
        raise ConversionError(f"dynamo graph has {len(placeholders)} inputs, {len(example_inputs)} examples")
    slots, data, sym_dims = [], [], []
    symbols: dict[Any, tuple[int, int]] = {}
    for node, ex in zip(placeholders, example_inputs):
        if isinstance(ex, torch.Tensor) and (not is_data(ex) if is_data is not None else
                                             isinstance(ex, torch.nn.Parameter) or _is_lifted_state(node)):
            slots.append(("const", ex))
        elif isinstance(ex, torch.Tensor):
            k = len(data)
            data.append(ex)
            shape = getattr(node.meta.get("example_value"), "shape", ())
            dims = [(d, _symbol(s)) for d, s in enumerate(shape)
                    if isinstance(s, torch.SymInt) and not getattr(_symbol(s), "is_number", True)]
            sym_dims.append([(d, sym, shape[d].node.shape_env) for d, sym in dims])
            for d, sym in dims:
                symbols.setdefault(sym, (k, d))
            slots.append(("data", k))
        else:
            slots.append(("sym", node))
    for i, (kind, v) in enumerate(slots):
        if kind == "sym":
            sym = _symbol(v.meta.get("example_value"))
            if sym not in symbols:
                raise ConversionError(f"dynamo graph input {v.name} is a symbolic size that is no tensor dimension")
            slots[i] = ("size", symbols[sym])
    return slots, data, sym_dims


def _is_lifted_state(node) -> bool:
    """Graph inputs dynamo lifted from the model or from globals (buffers, float attributes as 0-d tensors):
    constants of the network. Data inputs come from the frame's other locals (its arguments, or the values live
    across a graph break)."""
    source = getattr(node.meta.get("grapharg"), "source", None)
    name = getattr(source, "name", "") if source is not None else ""
    name = name() if callable(name) else str(name)
    return name.startswith(("L['self']", "L['fn']", "G[")) or any(
        part in name for part in ("._modules[", "._parameters[", "._buffers["))


def _lower_bound(shape_env, sym) -> int:
    """The smallest value dynamo allows for a size symbol (2 where it specialized 0 and 1), else 1."""
    try:
        return max(1, int(shape_env.var_to_range[sym].lower))
    except Exception:  # noqa: BLE001
        return 1


def _profile(data: list[torch.Tensor], sym_dims: list[list], options: dict):
    if not any(sym_dims):
        return None, None
    lo, hi = [], []
    for t, dims in zip(data, sym_dims):
        a, b = list(t.shape), list(t.shape)
        for d, sym, shape_env in dims:
            size = t.shape[d]
            a[d] = min(max(int(options.get("min_size", 1)), _lower_bound(shape_env, sym)), size)
            b[d] = max(int(options.get("max_size", max(64, int(options.get("max_scale", 4)) * size))), size)
        lo.append(tuple(a))
        hi.append(tuple(b))
    return lo, hi


def _stamp(tensors: list[torch.Tensor], by_value: list[bool]) -> list[tuple]:
    """What says that a weight is the one an engine was built with: the tensor object, its memory and its version
    counter (bumped by every in-place change made through it or a view of it: `add_`, `copy_`, load_state_dict,
    optimizer steps). Python numbers dynamo passes as a new 0-d tensor at every call (`by_value`): their value."""
    return [("value", t.dtype, t.item()) if value else (weakref.ref(t), t.data_ptr(), t._version)
            for t, value in zip(tensors, by_value)]


def _same(stamp: list[tuple], tensors: list[torch.Tensor]) -> bool:
    if len(stamp) != len(tensors):
        return False
    for (a, b, c), t in zip(stamp, tensors):
        if a == "value":
            value = t.item()
            if b != t.dtype or not (value == c or (value != value and c != c)):
                return False
        elif a() is not t or b != t.data_ptr() or c != t._version:
            return False
    return True


def _passed_as_tensor(node) -> bool:
    """A graph input dynamo makes from a Python number at every call (an unspecialized float attribute or global)."""
    return bool(getattr(node.meta.get("grapharg"), "pass_arg_as_tensor", False))


def _within(data: list[torch.Tensor], lo: list | None, hi: list | None) -> bool:
    return lo is None or all(t.dim() == len(a) and all(x <= s <= y for x, s, y in zip(a, t.shape, b))
                             for t, a, b in zip(data, lo, hi))


def compile_graph(gm: torch.fx.GraphModule, example_inputs: list, options: dict | None = None) -> Callable:
    """The dynamo backend: a callable taking the graph's inputs and returning its outputs.

    The weights (the graph inputs that are parameters, buffers or other lifted state) become network constants, so
    the callable checks at every call that they are the tensors the engine was built with, unchanged: the same
    objects, memory and version counters (`_stamp`; Python numbers that dynamo passes as a new 0-d tensor at every
    call, such as float attributes under dynamic=True, by value). Any change made through the tensors — in place under
    `torch.no_grad()`, `load_state_dict` (also with `assign=True`), an optimizer step, a new Parameter assigned to
    the module — rebuilds the engine from the current weights at that call (a full conversion with verification;
    the profile stays the same). Writes that bypass the version counter (through `.data`, or through memory shared
    outside PyTorch such as `.numpy()`) are not seen: change weights through the tensors themselves."""
    from .convert import torch2trt

    options = dict(options or {})
    unknown = [k for k in options if k not in _PASSED + _OWN]
    if unknown:
        raise TypeError(f"torch2trt backend: unknown option(s) {unknown}; known: {list(_PASSED + _OWN)}")
    kwargs = {k: options[k] for k in _PASSED if k in options}
    try:
        slots, data, sym_dims = _plan(gm, example_inputs)
        lo, hi = _profile(data, sym_dims, options)
        opt = None if lo is None else [tuple(t.shape) for t in data]

        def build(slots: list, data: list[torch.Tensor]):
            with torch.no_grad():
                return torch2trt(_GraphModule(gm, slots).eval(), list(data), min_shapes=lo, opt_shapes=opt,
                                 max_shapes=hi, capture="eager", **kwargs)

        trt_module = build(slots, data)
    except (ConversionError, TypeError, ValueError) as e:
        warnings.warn(f"torch2trt backend: this graph runs in PyTorch, it does not convert exactly:\n{e}",
                      stacklevel=2)
        return gm.forward
    data_positions = [i for i, (kind, _) in enumerate(slots) if kind == "data"]
    const_positions = [i for i, (kind, _) in enumerate(slots) if kind == "const"]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    by_value = [_passed_as_tensor(placeholders[i]) for i in const_positions]
    state = {"stamp": _stamp([example_inputs[i] for i in const_positions], by_value)}  # after the build: it restores
    warned = []

    def warn_once(message: str) -> None:
        if not warned:
            warnings.warn(message, stacklevel=3)
            warned.append(True)

    def rebuild(args: tuple) -> bool:
        """A new engine from the call's weights (its data as the sample); False where the call runs in PyTorch."""
        tensors = [args[i] for i in data_positions]
        if not _within(tensors, lo, hi):   # this call runs in PyTorch; the rebuild waits for one inside
            warn_once(f"torch2trt backend: a call outside the engine's profile runs in PyTorch (shapes "
                      f"{[tuple(t.shape) for t in tensors]}; profile {lo} to {hi})")
            return False
        consts = [args[i] for i in const_positions]
        try:
            run.trt_module = build([(kind, args[i]) if kind == "const" else (kind, v)
                                    for i, (kind, v) in enumerate(slots)], tensors)
        except (ConversionError, TypeError, ValueError) as e:
            run.trt_module = None
            warnings.warn("torch2trt backend: the graph's weights changed and its engine does not rebuild from "
                          f"the new values; it runs in PyTorch until they change again:\n{e}", stacklevel=3)
        state["stamp"] = _stamp(consts, by_value)
        return run.trt_module is not None

    def run(*args):
        if not _same(state["stamp"], [args[i] for i in const_positions]) and not rebuild(args):
            return gm(*args)
        if run.trt_module is None:
            return gm(*args)
        try:
            return run.trt_module(*[args[i] for i in data_positions])
        except InputError as e:
            warn_once(f"torch2trt backend: a call outside the engine's profile runs in PyTorch ({e})")
            return gm(*args)

    run.trt_module = trt_module
    return run


def backend(gm: torch.fx.GraphModule, example_inputs: list, options: dict | None = None, **kwargs: Any):
    """Entry point registered as the dynamo backend "torch2trt" (also the `torch_dynamo_backends` entry point)."""
    if kwargs.get("mode") not in (None, "default"):
        raise TypeError(f"torch2trt backend: mode={kwargs['mode']!r} is not supported; use options={{...}}")
    return compile_graph(gm, example_inputs, options)


def register() -> None:
    from torch._dynamo.backends.registry import _BACKENDS, register_backend

    if "torch2trt" not in _BACKENDS:
        register_backend(name="torch2trt")(backend)


class _WholeModel(torch.nn.Module):
    """The one graph dynamo captured from the model, as a module of the model's input tensors (positional, in the
    order given to convert()) that returns the model's output structure (Hugging Face ModelOutput objects as such)."""

    def __init__(self, graph: _GraphModule, data_from: list[int], schema: dict, out_from: list[int]):
        super().__init__()
        self.graph, self.data_from, self.schema, self.out_from = graph, data_from, schema, out_from

    def forward(self, *inputs: torch.Tensor):
        from . import structure

        outs = self.graph(*[inputs[k] for k in self.data_from])
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        return structure.unflatten(self.schema, [outs[k] for k in self.out_from])


def capture(model: torch.nn.Module, inputs: Any, dynamic_dims: dict[int, list[int]] | None = None) -> _WholeModel:
    """Capture `model` called with `inputs` (a list of positional tensors or a dict of keyword tensors) as ONE
    TorchDynamo graph (fullgraph: a graph break, e.g. Python control flow on tensor data, is refused with dynamo's
    reason). Under dynamo, libraries take their traceable paths (transformers' `is_tracing()`: masks are always
    built in the graph instead of being skipped when nothing is padded). `dynamic_dims`: per input position, the
    dims dynamo must keep symbolic. Returns a module of the input tensors (positional) with the model's outputs."""
    from . import structure

    names = list(inputs) if isinstance(inputs, dict) else None
    values = list(inputs.values()) if names is not None else list(inputs)
    if not all(isinstance(v, torch.Tensor) for v in values):
        raise TypeError("torch2trt.dynamo.convert: inputs must be tensors (a list, or a dict of keyword tensors)")
    values = [v.clone() for v in values]  # own objects: mark_dynamic and identity below must not see the caller's
    for k, dims in (dynamic_dims or {}).items():
        for d in dims:
            torch._dynamo.mark_dynamic(values[k], d)
    graphs: list = []

    def backend_(gm, example_inputs, **_kwargs):
        record = {"gm": gm, "examples": list(example_inputs)}
        graphs.append(record)

        def run(*args):
            out = gm(*args)
            record["outputs"] = out
            return out
        return run

    compiled = torch.compile(model, backend=backend_, fullgraph=True, dynamic=False)
    # the capture runs the forward for real: buffers it writes (batch norm's running statistics in training mode,
    # caches) are put back afterwards, as the eager trace does
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        with torch.no_grad():
            result = compiled(**dict(zip(names, values))) if names is not None else compiled(*values)
    except torch._dynamo.exc.Unsupported as e:  # graph break under fullgraph
        raise ConversionError(f"torch2trt.dynamo.convert: TorchDynamo cannot capture the model as one graph: "
                              f"{str(e).splitlines()[0]}") from e
    finally:
        torch._dynamo.reset()
        with torch.no_grad():
            for b, before in buffers:
                if not torch.equal(b, before):
                    b.copy_(before)
    if len(graphs) != 1 or "outputs" not in graphs[0]:
        raise ConversionError(f"torch2trt.dynamo.convert: TorchDynamo captured {len(graphs)} graphs, not one")
    gm, examples, outs = graphs[0]["gm"], graphs[0]["examples"], graphs[0]["outputs"]
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    def source(t):  # the model input a graph input is (dynamo hands over the same storage), else None
        hits = [k for k, v in enumerate(values) if v.data_ptr() == t.data_ptr() and v.shape == t.shape]
        return hits[0] if hits else None

    slots, data, _sym = _plan(gm, examples, is_data=lambda t: source(t) is not None)
    data_from = [source(t) for t in data]
    leaves, schema = structure.flatten(result)
    out_from = []
    for leaf in leaves:
        hit = [k for k, o in enumerate(outs) if o is leaf]
        if not hit:
            raise ConversionError("torch2trt.dynamo.convert: an output of the model is not computed by the graph")
        out_from.append(hit[0])
    return _WholeModel(_GraphModule(gm, slots), data_from, schema, out_from).eval()


def convert(model: torch.nn.Module, inputs: Any, **kwargs: Any):
    """`torch2trt(model, inputs, **kwargs)` through a TorchDynamo capture: one engine for the whole model, for models
    whose Python code branches on tensor data where traced eagerly (Hugging Face text models with an attention_mask
    skip the mask when nothing is padded, unless dynamo traces them). `inputs`: positional tensors (a list) or
    keyword tensors (a dict; the TRTModule's inputs are named after its keys and it takes them by keyword, as the
    model, or positionally in the dict's order). min_shapes /
    max_shapes (one shape per input, in that order) make the dims where they differ dynamic in dynamo's graph and
    in the engine's profile. Outputs: the model's structure, Hugging Face ModelOutput objects as such (attribute
    access: `out.logits`; plain dicts where transformers is not installed)."""
    from .convert import torch2trt

    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    lo, hi = kwargs.get("min_shapes"), kwargs.get("max_shapes")
    dynamic = {}
    if lo is not None and hi is not None:
        for k, (a, b) in enumerate(zip(lo, hi)):
            if a is not None and b is not None:
                dynamic[k] = [d for d, (x, y) in enumerate(zip(a, b)) if x != y]
    if isinstance(inputs, dict) and kwargs.get("input_names") is None:
        kwargs["input_names"] = [str(k) for k in inputs]
    whole = capture(model, inputs, dynamic)
    with torch.no_grad():
        return torch2trt(whole, values, capture="eager", **kwargs)


__all__ = ["backend", "capture", "compile_graph", "convert", "register"]
