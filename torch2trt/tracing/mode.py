"""Tracing: run the model once under a TorchFunctionMode (+ global module forward hooks) and hand every
call that touches a traced tensor to its converter, after the real op has run.

Owns: dispatch, module paths for layer names, collection of unsupported calls, the per-call checks of a
converter's result (shape/dtype), stale in-place views, and removing every `_trt` afterwards. It does
not know any particular op; it knows which calls are metadata queries (an allow-list: every other call that turns
traced data into a Python value is refused) and, from the ATen schemas, which arguments torch reads as numbers.
"""

from __future__ import annotations

import math
import os
import threading
import traceback
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch.nn.modules import module as nn_module
from torch.overrides import TorchFunctionMode

from . import registry
from .context import ConversionContext, ConversionError, Deferred, UnsupportedArgument, get_trt, torch_dtype_from_trt
from .preserve import AtenWriteGuard, ModelSnapshot, storage_key, written_tensors
from .shapes import DynDim, dims_of

# trailing separators: site-packages/torchvision must not count as torch (it is model code)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

# Calls that turn tensor *data* into Python values (or into objects outside the network): the value would be frozen
# into the engine, which is silently wrong for any other input. Refused whatever they return (None included).
_DATA_DEPENDENT = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "__array__",
                   "__iter__", "__contains__", "__setitem__"}

# Metadata queries: Python values that depend on a tensor's shape, dtype, device, layout or memory, never on its data.
# An allow-list: any other call without a converter whose result holds no tensor is refused (see Tracer.handle).
# size()/shape/numel()/len() are answered before (they give DynDims where dims are dynamic).
_METADATA = {f"torch.Tensor.{n}" for n in (
    "dtype", "device", "ndim", "layout", "requires_grad", "grad_fn", "grad", "is_leaf", "itemsize", "nbytes",
    "_version", "output_nr", "name", "names", "is_cuda", "is_cpu", "is_meta", "is_mkldnn", "is_mps", "is_xpu",
    "is_nested", "is_quantized", "is_sparse", "is_sparse_csr", "dim", "stride", "storage_offset", "is_contiguous",
    "is_floating_point", "is_complex", "is_signed", "element_size", "get_device", "data_ptr", "type",
    "is_same_size", "__dlpack_device__", "is_inference", "is_pinned", "is_shared", "is_conj", "is_neg", "dim_order",
    "is_set_to", "_is_view", "__hash__", "__len__")} | {f"torch.{n}" for n in (
    "numel", "is_floating_point", "is_complex", "is_signed", "is_same_size", "is_inference", "is_conj", "is_neg",
    "result_type")}

DATA_DEPENDENT_ADVICE = (
    "its result is a Python value computed from tensor data (e.g. an `if` on a tensor), which would be frozen into "
    "the engine at the sample's value. Convert through TorchDynamo instead, which keeps such code out of the "
    "engine or in the graph: torch2trt.dynamo.convert(model, inputs) for one engine, or "
    "torch.compile(model, backend=\"torch2trt\"); or pass what the branch reads as a Python argument (computed "
    "outside the model) so that it is no tensor data")

# result types that cannot hold tensor data (a call returning only these is metadata whatever its name)
_NO_DATA = (type(None), torch.dtype, torch.device, torch.layout, torch.memory_format, type)


class _Broken:
    """Placed in `_trt` of a tensor whose network value is unknown (its converter failed, it was not
    produced, or an in-place op through another view changed its data). Using it is reported."""

    def __init__(self, reason: str, root: bool):
        self.reason = reason
        self.root = root  # True: report when used; False: a consequence of an error already reported

    def __repr__(self) -> str:
        return f"<no network tensor: {self.reason}>"


@dataclass
class Call:
    """A converted call, as seen by observers (torch2trt.debug): its result tensors carry `_trt`."""
    name: str
    module_path: str
    location: str
    args: tuple
    kwargs: dict
    result: Any


# Tracing is per thread: the function mode is thread-local in torch, and so are the observers and the active
# tracer here; the module hooks are global in torch and ignore every thread but the converting one.
_LOCAL = threading.local()


def _observers() -> list:
    if not hasattr(_LOCAL, "observers"):
        _LOCAL.observers = []
    return _LOCAL.observers


def active_tracer() -> Tracer | None:
    """The tracer of a conversion running in this thread, if any."""
    return getattr(_LOCAL, "tracer", None)


def refuse_nested() -> None:
    """A conversion started while this thread traces another model (torch2trt() inside a forward) is refused."""
    if active_tracer() is not None:
        raise ConversionError("torch2trt() was called inside the forward of a model that is being converted; "
                              "nested conversion is not supported: convert the inner module on its own "
                              "(outside the outer model's forward) and call the result from the model")


@contextmanager
def observe(callback) -> Iterator[None]:
    """Call `callback(Call)` after every successfully converted call (of this thread) while the block runs."""
    _observers().append(callback)
    try:
        yield
    finally:
        _observers().remove(callback)


@dataclass
class Problem:
    name: str
    reason: str
    count: int = 0
    location: str = ""
    module_path: str = ""


@dataclass
class Tracer:
    ctx: ConversionContext
    module_names: dict[int, str]
    problems: dict[tuple[str, str], Problem] = field(default_factory=dict)
    suppress: int = 0
    module_stack: list[tuple[str, bool]] = field(default_factory=list)
    snapshot: ModelSnapshot | None = None
    # storages of untraced tensors that an in-place op filled with traced values: any other untraced tensor
    # on them (a base or another view) holds data the network does not compute. Values keep the storage alive.
    tainted: dict[int, tuple[torch.Tensor, str]] = field(default_factory=dict)
    _refs: list[weakref.ref] = field(default_factory=list)
    # the torch-level call running now: (args, kwargs, storages its in-place op writes, {id: (arg, pre-op copy)} of
    # the arguments ATen writes below the torch-function level); None outside a call and while converters run
    _call: tuple | None = None

    # ---- bookkeeping -----------------------------------------------------------------------------
    def track(self, tensor: torch.Tensor) -> None:
        self._refs.append(weakref.ref(tensor))

    def live_traced(self) -> Iterator[torch.Tensor]:
        for r in self._refs:
            t = r()
            if t is not None and "_trt" in t.__dict__:
                yield t

    def strip(self) -> None:
        """Remove every `_trt` this conversion set (the tensors may be the model's buffers)."""
        for t in list(self.live_traced()):
            t.__dict__.pop("_trt", None)
        self._refs.clear()

    def report(self, name: str, reason: str) -> None:
        key = (name, reason)
        p = self.problems.get(key)
        if p is None:
            p = self.problems[key] = Problem(name, reason, location=_user_location(),
                                             module_path=self.ctx.module_path)
        p.count += 1

    def raise_if_problems(self) -> None:
        if not self.problems:
            return
        lines = [f"torch2trt cannot convert this model exactly ({len(self.problems)} problem(s)):"]
        for p in self.problems.values():
            where = f" in {p.module_path}" if p.module_path else ""
            lines.append(f"  - {p.name}: {p.reason}; called {p.count} time(s){where}, first at {p.location}")
        lines.append("Write a converter with @tensorrt_converter(<name>) or change the model; "
                     "docs/converters.md lists what is supported.")
        raise ConversionError("\n".join(lines))

    # ---- the core step ---------------------------------------------------------------------------
    def handle(self, func: Any, name: str, args: tuple, kwargs: dict, out: Any, converter) -> None:
        leaves = _leaves((args, kwargs))
        inputs = [t for t in leaves if isinstance(t, torch.Tensor)]
        marks = [t.__dict__.get("_trt") for t in inputs]
        if all(m is None for m in marks) and not any(isinstance(v, DynDim) for v in leaves):
            if self.tainted:  # computed from stale data without the network: the result is stale too
                stale = next((r for t in inputs if (r := self.stale_reason(t)) is not None), None)
                if stale is not None:
                    for t in _leaves(out):
                        if isinstance(t, torch.Tensor):
                            self.tainted[_storage_ptr(t)] = (t, stale)
            return
        outputs = [t for t in _leaves(out) if isinstance(t, torch.Tensor)]
        broken = [m for m in marks if isinstance(m, _Broken)]
        if converter is None:
            if not outputs and _is_metadata(name, out):
                return  # a metadata query (size, dim, dtype, ...): nothing to convert
            reason = (_python_value_reason(name) if not outputs else registry.refusal(name) or "no converter")
            self.report(name, reason)
            self._mark(outputs, f"output of unconverted {name}", root=False)
            return
        if broken:
            root = [b for b in broken if b.root]
            for b in root:
                self.report(name, b.reason)
            self._mark(outputs, f"depends on a failed conversion ({name})", root=False)
            return
        stale = [r for t in inputs if (r := self.stale_reason(t)) is not None] if self.tainted else []
        if stale:
            self.report(name, stale[0])
            self._mark(outputs, f"depends on stale data ({name})", root=False)
            return
        ints, numbers = _read_as_numbers(func, args, kwargs)
        if ints:  # torch reads these traced tensors as Python ints: the converter sees only the sample's value
            self.report(name, _as_number_reason(ints, "int"))
            self._mark(outputs, f"output of {name} with a size read from tensor data", root=False)
            return
        ctx = self.ctx
        ctx.method, ctx.method_name = func, name
        ctx.method_args, ctx.method_kwargs, ctx.method_return = args, kwargs, out
        for t in inputs:
            get_trt(t)  # makes Deferred network values real
            ctx.note_use(t)
        dyn = [v for v in leaves if isinstance(v, DynDim)]
        for d in dyn:
            d._touched = False
        before = {id(t): get_trt(t) for t in inputs + outputs}
        # a traced tensor torch reads as a number is right only if the converter takes its network value: watched
        watched = {id(t): (t, t.__dict__["_trt"], Deferred(lambda v=t.__dict__["_trt"]: v)) for _, t in numbers}
        for t, _, watch in watched.values():
            t._trt = watch
        first_layer = ctx.network.num_layers
        try:
            self.suppress += 1
            ctx._converting = True  # comparisons of DynDims inside converters are not user control flow
            converter.function(ctx)
            _name_new_layers(ctx, first_layer)
        except UnsupportedArgument as e:
            self.report(name, str(e) or "unsupported arguments")
            self._mark(outputs, f"output of unconverted {name}", root=False)
            return
        except Exception as e:  # a converter bug must not hide the other problems of the model
            self.report(name, f"converter raised {type(e).__name__}: {e}")
            self._mark(outputs, f"output of failed {name}", root=False)
            return
        finally:
            self.suppress -= 1
            ctx._converting = False
            ctx.method_args, ctx.method_kwargs, ctx.method_return = (), {}, None
            # also passed as another argument: which use took the network value cannot be told
            twice = {id(t) for _, t in numbers if sum(v is t for v in leaves) > 1}
            unread = [(w, t) for w, t in numbers if t.__dict__.get("_trt") is watched[id(t)][2] or id(t) in twice]
            for t, itensor, _ in watched.values():
                if isinstance(t.__dict__.get("_trt"), Deferred):
                    t._trt = itensor
        if unread:
            self.report(name, _as_number_reason(unread, "number"))
            self._mark(outputs, f"output of {name} with a number read from tensor data", root=False)
            return
        frozen = [int(d) for d in dyn if not d._touched]
        if frozen:  # the converter used the sample's value of a dynamic dimension: wrong at other shapes
            self.report(name, f"dynamic dimension argument(s) {frozen} would be frozen at the sample's value; "
                              "this converter does not take dynamic sizes")
            self._mark(outputs, f"output of {name} with frozen dynamic sizes", root=False)
            return
        mutated = [t for t in inputs if t.__dict__.get("_trt") is not before[id(t)]
                   and not isinstance(t.__dict__.get("_trt"), Deferred)]
        observers = _observers()
        if observers:
            location = _user_location()
            self.suppress += 1  # what observers do with the tensors is not the model's computation
            try:
                for observe in observers:
                    observe(Call(name, ctx.module_path, location, args, kwargs, out))
            finally:
                self.suppress -= 1
        for t in mutated:
            self.track(t)
        self._check_outputs(name, outputs, before)
        self._stale_views(mutated, name)

    def stale_reason(self, t: torch.Tensor) -> str | None:
        """Why the untraced tensor `t` cannot be a constant (its storage was written with traced values)."""
        entry = self.tainted.get(_storage_ptr(t))
        return entry[1] if entry is not None and t.__dict__.get("_trt") is None else None

    def before_call(self, func: Any, args: tuple, kwargs: dict) -> tuple | None:
        """Called before the real op runs. For an in-place op: copy the model's tensors it writes (so that the
        model can be restored), and when it writes traced values into a tensor the trace does not follow,
        return the arguments the converter must see instead — that tensor's value from before the op."""
        written = self.snapshot.before_op(func, args, kwargs) if self.snapshot is not None else \
            written_tensors(func, args, kwargs)
        self._call = (args, kwargs, {_storage_ptr(t) for t in written}, {})
        if not written:
            return None
        target = args[0] if args and args[0] is written[0] else None
        if target is None or target.__dict__.get("_trt") is not None:
            return None
        rest = _leaves((args[1:], kwargs))
        if not any(isinstance(v, DynDim) or (isinstance(v, torch.Tensor) and v.__dict__.get("_trt") is not None)
                   for v in rest):
            return None
        return (target.detach().clone(), *args[1:])

    def below_write(self, t: torch.Tensor) -> None:
        """AtenWriteGuard: an ATen op of the running call is about to write `t`. Arguments of the call on its storage
        that the call's own in-place op does not write (those `before_call` handles) are copied, once: the
        converter sees them as they were before the op (F.batch_norm(training=True)'s running statistics)."""
        call = self._call
        if call is None:
            return
        args, kwargs, inplace, below = call
        key = _storage_ptr(t)
        if key in inplace:
            return
        for a in _leaves((args, kwargs)):
            if isinstance(a, torch.Tensor) and id(a) not in below and _storage_ptr(a) == key:
                below[id(a)] = (a, a.detach().clone())

    def end_call(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (argument, pre-op copy) pairs ATen wrote during the call that just ran."""
        call, self._call = self._call, None
        return list(call[3].values()) if call is not None else []

    def seen_below(self, args: tuple, kwargs: dict, below: list) -> tuple[tuple, dict]:
        """The arguments the converter sees for a call that ATen wrote: the written ones as they were before the op
        (a traced one keeps its network value)."""
        copies = {}
        for a, copy in below:
            mark = a.__dict__.get("_trt")
            if mark is not None:
                copy._trt = mark
                self.track(copy)
            copies[id(a)] = copy
        return _substitute(args, copies), _substitute(kwargs, copies)

    def after_below(self, name: str, args: tuple, kwargs: dict, below: list) -> None:
        """After the converter of a call that ATen wrote: unless the converter gave a written argument its new network
        value (F.relu(x, True): the output is x), the network does not compute what ATen wrote. A traced argument it
        wrote is broken; an untraced one it wrote with values computed from the inputs is stale."""
        traced = any(isinstance(v, DynDim) or (isinstance(v, torch.Tensor) and v.__dict__.get("_trt") is not None)
                     for v in _leaves((args, kwargs)))
        for a, copy in below:
            mark = a.__dict__.get("_trt")
            if mark is not copy.__dict__.pop("_trt", None):
                continue      # the converter set it
            reason = (f"{name} changed its data in place inside ATen (below the torch-function level) at "
                      f"{_user_location()}, which the network does not compute; reading it after that call is not "
                      "supported")
            if mark is not None:
                if not isinstance(mark, _Broken):
                    a._trt = _Broken(reason, root=True)
            elif traced:
                self.tainted[_storage_ptr(a)] = (a, reason)

    def after_inplace(self, name: str, target: torch.Tensor, substitute: torch.Tensor) -> None:
        """The converter of an in-place op saw `substitute` (the pre-op copy) for `target`: its network value
        belongs to `target`; every other untraced tensor on `target`'s storage is now stale."""
        moved = substitute.__dict__.pop("_trt", None)
        if moved is not None and target.__dict__.get("_trt") is None:
            target._trt = moved
            self.track(target)
        reason = (f"it shares memory with a tensor that {name} changed in place with values computed from the "
                  f"inputs at {_user_location()}; reading it through another view (or its base) after that is "
                  "not supported: apply the op out of place (y = y + x) or to the whole tensor")
        self.tainted[_storage_ptr(target)] = (target, reason)

    def _check_outputs(self, name: str, outputs: list, before: dict) -> None:
        """Every output must carry a network tensor of exactly PyTorch's shape and dtype."""
        for t in outputs:
            itensor = get_trt(t)
            if itensor is None:
                self.report(name, "the converter did not produce this output")
                t._trt = _Broken(f"output of {name} was not converted", root=False)
            elif not isinstance(itensor, _Broken) and itensor is not before[id(t)]:
                shape = tuple(int(d) for d in itensor.shape)
                dims_ok = len(shape) == t.dim() and all(d in (-1, s) for d, s in zip(shape, t.shape))
                if not dims_ok or itensor.dtype != _trt_dtype_of(t.dtype):
                    self.report(name, f"converter produced shape {shape} {itensor.dtype} but PyTorch "
                                      f"gives {tuple(t.shape)} {t.dtype} (converter bug)")
                    t._trt = _Broken(f"output of {name} has a wrong shape/dtype", root=False)
            self.track(t)

    def _stale_views(self, mutated: list[torch.Tensor], name: str) -> None:
        """An in-place op changes every tensor that shares storage with its target; only the target's
        `_trt` was updated, so the others (views, bases) no longer match the network. A traced base of a mutated
        view (static shapes) gets the view's new values written back, so it stays usable."""
        if not mutated:
            return
        mutated = mutated + self._write_back(mutated)
        ptrs = {_storage_ptr(t) for t in mutated}
        keep = {id(t) for t in mutated}
        for t in self.live_traced():
            if id(t) not in keep and _storage_ptr(t) in ptrs and not isinstance(t._trt, _Broken):
                t._trt = _Broken(f"its data was changed in place through another view by {name} at "
                                 f"{_user_location()}; in-place ops on views are not supported", root=True)

    def _write_back(self, mutated: list[torch.Tensor]) -> list[torch.Tensor]:
        """For each mutated view whose base is traced: the base's network value with the view's elements replaced
        (an ELEMENT scatter at the positions the view's strides select in the base). Returns the updated bases."""
        from ..backend import trt

        updated: list[torch.Tensor] = []
        ctx = self.ctx
        for t in mutated:
            base = t._base
            if base is None or any(base is u for u in mutated + updated):
                continue
            bt, vt = get_trt(base), get_trt(t)
            if bt is None or isinstance(bt, _Broken) or vt is None or isinstance(vt, _Broken) \
                    or -1 in tuple(bt.shape) or -1 in tuple(vt.shape) or t.numel() == 0:
                continue
            positions = _view_positions(base, t)
            if positions is None:
                continue
            flat = ctx.reshape(bt, [base.numel()])
            layer = ctx.network.add_scatter(flat, ctx.constant(positions), ctx.reshape(vt, [t.numel()]),
                                            trt.ScatterMode.ELEMENT)
            layer.axis = 0
            ctx.name_layer(layer, "write_back")
            base._trt = ctx.reshape(layer.get_output(0), list(base.shape))
            updated.append(base)
        return updated

    def _mark(self, outputs: list, reason: str, root: bool) -> None:
        for t in outputs:
            t._trt = _Broken(reason, root)
            self.track(t)


def _name_new_layers(ctx: ConversionContext, first: int) -> None:
    """Layers a converter left unnamed get `<module path>/<op>` too, so every TensorRT log line reads like
    the model (user converters rarely name their layers)."""
    net = ctx.network
    for i in range(first, net.num_layers):
        layer = net.get_layer(i)
        if layer.name.startswith("(Unnamed Layer"):
            ctx.name_layer(layer)


def _substitute(obj: Any, copies: dict[int, torch.Tensor]) -> Any:
    """`obj` (nested lists/tuples/dicts) with the tensors whose id is in `copies` replaced by their copies."""
    if isinstance(obj, torch.Tensor):
        return copies.get(id(obj), obj)
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        items = [_substitute(v, copies) for v in obj]
        return type(obj)(items) if not hasattr(obj, "_fields") else type(obj)(*items)
    if isinstance(obj, dict):
        return {k: _substitute(v, copies) for k, v in obj.items()}
    return obj


def _leaves(obj: Any) -> list:
    """Leaves of nested lists/tuples (torch.Size included)/dicts, and the bounds of slices."""
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in _leaves(item)]
    if isinstance(obj, dict):
        return [leaf for item in obj.values() for leaf in _leaves(item)]
    if isinstance(obj, slice):  # x[:, :y.size(1)]: a dynamic size inside an index
        return [obj.start, obj.stop, obj.step]
    return [obj]


_SHAPE_QUERIES = {torch.Tensor.size, torch.Tensor.shape.__get__, torch.Tensor.numel, torch.Tensor.__len__}


def _shape_query(ctx: ConversionContext, func: Any, args: tuple, kwargs: dict, out: Any) -> Any:
    """size()/shape/numel()/len() of a tensor with dynamic dims: the same values, as DynDims."""
    t = args[0] if args else None
    itensor = get_trt(t)
    if itensor is None or isinstance(itensor, _Broken) or -1 not in tuple(itensor.shape):
        return out
    dims = dims_of(ctx, t, itensor)
    if func is torch.Tensor.numel:
        return math.prod(dims)
    if func is torch.Tensor.__len__:
        if isinstance(dims[0], DynDim):
            ctx.report_frozen("len() of a tensor with a dynamic first dimension (use x.size(0))")
        return out
    if func is torch.Tensor.size:
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        return dims if dim is None else dims[dim]
    return dims


def _is_metadata(name: str, out: Any) -> bool:
    """A call (without a converter, returning no tensor) whose result cannot depend on tensor data."""
    if _short(name) in _DATA_DEPENDENT:
        return False
    return name in _METADATA or all(isinstance(v, _NO_DATA) for v in _leaves(out))


_MEMORY_ACCESS = {"storage", "untyped_storage", "_typed_storage", "__dlpack__"}
_TEXT = {"__repr__", "__str__", "__format__"}


def _python_value_reason(name: str) -> str:
    short = _short(name)
    if short in _MEMORY_ACCESS:
        return ("it hands out the tensor's memory outside the network (a storage, or a DLPack capsule as "
                "torch.from_dlpack reads): what is read through it is the sample's data, which would be frozen into "
                "the engine; compute with the tensor itself")
    if short in _TEXT:
        return ("it makes a string of the tensor's values (print, str, repr, format, an f-string), which would be "
                "frozen into the engine at the sample's value; print outside the model, or print only metadata "
                "(x.shape, x.dtype)")
    return DATA_DEPENDENT_ADVICE


# schema argument types that torch fills from a tensor by reading its value: ints (SymInt, int[], ...) are sizes,
# lengths, dims and indices, which no converter takes as a network value; numbers (Scalar, float, bool) some take
_INT_TYPES = {"int"}
_NUMBER_TYPES = {"int", "number", "float", "bool", "complex"}
_TENSOR_LIKE = _NUMBER_TYPES | {"Tensor", "t"}   # what a tensor argument can bind to (picks the overloads)
_SCHEMAS: dict[str, list] = {}


def _base_type(type_str: str) -> str:
    """'Optional[List[int]]' -> 'int'."""
    while type_str.startswith(("Optional[", "List[")) and type_str.endswith("]"):
        type_str = type_str[type_str.index("[") + 1:-1]
    return type_str.split("[", 1)[0]


def _schemas(func: Any) -> list:
    """The schemas of `func` (an op overload's own; else the ATen operator's of its name; none for dunder methods and
    Python-only functions)."""
    if isinstance(func, torch._ops.OpOverload):
        return [func._schema]
    if isinstance(func, torch._ops.OpOverloadPacket):
        name = func._qualified_op_name
    else:
        name = getattr(func, "__name__", None)
        if not isinstance(name, str) or name.startswith("__"):
            return []
        name = f"aten::{name}"
    if name not in _SCHEMAS:
        try:
            _SCHEMAS[name] = list(torch._C._jit_get_schemas_for_operator(name))
        except Exception:  # noqa: BLE001  (no ATen operator of that name)
            _SCHEMAS[name] = []
    return _SCHEMAS[name]


def _param_at(schema, index: int | None, keyword: str | None):
    """The schema argument a positional (index) or keyword argument binds to; a trailing int list also takes the
    extra positional ints (x.view(n, -1), torch.zeros(n, 3))."""
    if keyword is not None:
        return next((a for a in schema.arguments if a.name == keyword), None)
    positional = [a for a in schema.arguments if not a.kwarg_only]
    if index < len(positional):
        return positional[index]
    if positional and str(positional[-1].type).startswith("List["):
        return positional[-1]
    return None


def _takes_tensors(schema, slots: list) -> bool:
    """Whether the overload can take the call's tensor arguments where they are (other arguments are not checked:
    Python signatures such as F.hardtanh's add some): a tensor binds to a Tensor, or to a number if it has one element;
    a list holding traced tensors binds to a list parameter."""
    for i, k, a in slots:
        if isinstance(a, torch.Tensor) or (isinstance(a, (list, tuple)) and any(_traced(v) for v in _leaves(a))):
            p = _param_at(schema, i, k)
            base = _base_type(str(p.type)) if p is not None else None
            if base not in _TENSOR_LIKE:
                return False
            if isinstance(a, torch.Tensor) and a.numel() != 1 and base not in ("Tensor", "t"):
                return False
    return True


def _traced(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.__dict__.get("_trt") is not None


Found = list[tuple[str, torch.Tensor]]


def _read_as_numbers(func: Any, args: tuple, kwargs: dict) -> tuple[Found, Found]:
    """The traced tensors that torch reads as Python numbers, as (argument, tensor): first those read as ints (a slice
    bound in an index, x[:n]; an argument typed int in every ATen overload that could take the call: a size, length,
    dim: torch.zeros(n), x.view(n, -1), x.narrow(0, 0, n)), then those read as other numbers (Scalar, float, bool:
    F.leaky_relu(x, t), torch.full(size, t)). Arguments that some overload takes as a Tensor are neither."""
    ints: Found = []
    numbers: Found = []
    if getattr(func, "__name__", None) in ("__getitem__", "__setitem__") and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        for part in index:
            if isinstance(part, slice):
                ints += [("a slice bound", v) for v in (part.start, part.stop, part.step) if _traced(v)]
        return ints, numbers
    slots = [(i, None, a) for i, a in enumerate(args)] + [(None, k, a) for k, a in kwargs.items()]
    candidates = [(i, k, a) for i, k, a in slots if any(_traced(v) for v in _leaves(a))]
    schemas = [s for s in _schemas(func) if _takes_tensors(s, slots)] if candidates else []
    for i, k, a in candidates:
        params = [p for p in (_param_at(s, i, k) for s in schemas) if p is not None]
        types = {_base_type(str(p.type)) for p in params}
        if not types or not types <= _NUMBER_TYPES:
            continue
        found = [(f"argument {params[0].name!r}", v) for v in _leaves(a) if _traced(v)]
        (ints if types <= _INT_TYPES else numbers).extend(found)
    return ints, numbers


def _as_number_reason(found: Found, kind: str) -> str:
    parts = []
    for where, t in found:
        itensor = get_trt(t)
        what = (f"network input {itensor.name!r}" if getattr(itensor, "is_network_input", False)
                else "a tensor computed from the inputs")
        sample = f"{t.item()} in the sample" if t.numel() == 1 else "a tensor"
        parts.append(f"{what} ({sample}) as {where}")
    if kind == "int":
        return ("it reads " + ", ".join(parts) + " as a Python int (a size, length, index or dim), which would keep "
                "the sample's value for every input; pass the number as a Python int computed outside the model, or "
                "derive it from a shape (x.size(0)), which stays dynamic")
    return ("it reads " + ", ".join(parts) + " as a Python number, and its converter takes only the sample's value "
            "(not the network's), or the same tensor is also another argument, so that the sample's value may be "
            "frozen into the engine; pass a Python number, or compute with the tensor (e.g. torch.where instead of "
            "the op's scalar argument)")


def _storage_ptr(t: torch.Tensor) -> int:
    """preserve.storage_key, unseen by the function mode (it is torch2trt's own query, also made from convert.py
    while the mode is on, and untyped_storage() of a traced tensor is otherwise refused)."""
    with torch._C.DisableTorchFunction():
        return storage_key(t)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _trt_dtype_of(dtype: torch.dtype):
    from .context import torch_dtype_to_trt

    try:
        return torch_dtype_to_trt(dtype)
    except TypeError:
        return None


def _user_location() -> str:
    """file:line of the innermost frame outside torch and torch2trt (the user's model code)."""
    for frame in reversed(traceback.extract_stack()):
        f = os.path.abspath(frame.filename)
        if f.startswith((_TORCH_DIR, _PKG_DIR)) or "<frozen" in f:
            continue
        return f"{frame.filename}:{frame.lineno} ({frame.line})" if frame.line else \
            f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


def _view_positions(base: torch.Tensor, view: torch.Tensor) -> torch.Tensor | None:
    """Flat (row-major) positions in `base` of `view`'s elements, from both strides over the shared storage; None
    when the view reaches memory outside the base or repeats an element."""
    with torch._C.DisableTorchFunction():
        span = max(base.storage_offset() + sum((n - 1) * s for n, s in zip(base.shape, base.stride())),
                   view.storage_offset() + sum((n - 1) * s for n, s in zip(view.shape, view.stride()))) + 1
        storage = torch.arange(span, dtype=torch.int64)
        to_flat = torch.full((span,), -1, dtype=torch.int64)
        to_flat[storage.as_strided(base.shape, base.stride(), base.storage_offset()).reshape(-1)] = \
            torch.arange(base.numel(), dtype=torch.int64)
        positions = to_flat[storage.as_strided(view.shape, view.stride(), view.storage_offset()).reshape(-1)]
        if bool((positions < 0).any()) or positions.unique().numel() != positions.numel():
            return None
        return positions


class _FunctionMode(TorchFunctionMode):
    def __init__(self, tracer: Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tracer = self.tracer
        if tracer.suppress:
            if tracer.snapshot is not None:  # calls inside a converted module still must not change the model
                tracer.snapshot.before_op(func, args, kwargs)
            return func(*args, **kwargs)
        seen_args = tracer.before_call(func, args, kwargs)
        try:
            out = func(*args, **kwargs)  # the real op first; inside it, this mode is off
        finally:
            below = tracer.end_call()
        if func in _SHAPE_QUERIES:
            return _shape_query(tracer.ctx, func, args, kwargs, out)
        converter = registry.lookup_function(func)
        name = converter.target if converter else registry.qualified_name(func)
        seen = (seen_args or args, kwargs)
        if below:  # ATen wrote arguments below the torch-function level: the converter sees them as before
            seen = tracer.seen_below(*seen, below)
        tracer.handle(func, name, *seen, out, converter)
        if below:
            tracer.after_below(name, args, kwargs, below)
        if seen_args is not None:
            tracer.after_inplace(name, args[0], seen_args[0])
        return out


@contextmanager
def tracing(ctx: ConversionContext, model: torch.nn.Module, snapshot: ModelSnapshot | None = None) -> Iterator[Tracer]:
    """Trace `model`'s calls while the block runs; afterwards nothing of the tracing is left behind
    (the function mode and hooks are removed and every `_trt` is stripped)."""
    refuse_nested()
    names = {id(m): n for n, m in model.named_modules()}
    tracer = Tracer(ctx, names, snapshot=snapshot)
    ctx._reporter = tracer.report
    ctx.allow_folding = not _observers()  # layer-wise debugging needs every call's own network tensor
    thread = threading.get_ident()

    def pre_hook(module, args):
        if threading.get_ident() != thread:
            return
        path = names.get(id(module), type(module).__name__)
        converted = tracer.suppress == 0 and registry.lookup_module(module) is not None
        tracer.module_stack.append((path, converted))
        if converted:
            tracer.suppress += 1
        if tracer.suppress <= 1 and path:
            ctx.module_path = path

    def post_hook(module, args, kwargs, output=None):  # always_call: no output when forward raised
        if threading.get_ident() != thread or not tracer.module_stack:
            return None
        path, converted = tracer.module_stack.pop()
        if converted:
            tracer.suppress -= 1
            conv = registry.lookup_module(module)
            ctx.module_path = path
            tracer.handle(type(module).forward, conv.target, (module, *args), kwargs, output, conv)
        if tracer.suppress == 0:
            ctx.module_path = next((p for p, _ in reversed(tracer.module_stack) if p), "")
        return None

    h1 = nn_module.register_module_forward_pre_hook(pre_hook)
    h2 = nn_module.register_module_forward_hook(post_hook, with_kwargs=True, always_call=True)
    mode = _FunctionMode(tracer)
    _LOCAL.tracer = tracer
    try:
        with mode, AtenWriteGuard(snapshot, tracer.below_write):
            yield tracer
    finally:
        _LOCAL.tracer = None
        h1.remove()
        h2.remove()
        # torch's handle of a global with_kwargs hook leaves its id in _global_forward_hooks_with_kwargs, which makes
        # every later torch.compile(module) warn about global hooks
        getattr(nn_module, "_global_forward_hooks_with_kwargs", {}).pop(h2.id, None)
        tracer.strip()
        tracer.tainted.clear()
        ctx.module_path = ""
        ctx._reporter = None


__all__ = ["tracing", "Tracer", "Problem", "torch_dtype_from_trt"]
