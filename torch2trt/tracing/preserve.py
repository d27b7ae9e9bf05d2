"""The caller's model is untouched: a snapshot of what a forward may change, restored afterwards.

Owns: which state of a model a conversion may change (parameters, buffers — persistent or not —, tensors held as
plain attributes, any attribute re-assigned or added in forward, the contents of list/dict attributes) and putting
it back. Tensor *data* is copied lazily: only a tensor about to be written in place (seen by the function mode before
the op runs, `before_write`) is copied, so a forward that mutates nothing costs no copy of the weights. Writes below
the torch-function level (F.batch_norm(training=True) updates its running statistics inside ATen) are seen by
`AtenWriteGuard`, a dispatch mode that reads every ATen op's schema (`Tensor(a!)` arguments, and the batch norms
whose schema does not declare their update). A tensor whose data changed without passing through either is reported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Python operators that write their first operand (torch 2.x: `x += y` arrives as Tensor.add_, `x[i] = v` as
# Tensor.__setitem__); every other in-place op is named with a trailing underscore.
_INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
                    "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__", "__setitem__"}


def written_tensors(func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Tensors an op call writes in place: the first operand of an in-place op (`add_`, `x += y`, `x[i] = v`,
    `F.relu(x, inplace=True)`) and `out=` tensors. Read before the op runs."""
    name = getattr(func, "__name__", "") or ""
    if name == "__get__":  # a property getter (Tensor.shape, ...)
        return []
    written = []
    first = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if first is not None and ((name.endswith("_") and not name.startswith("__")) or name in _INPLACE_DUNDERS
                              or kwargs.get("inplace") is True):
        written.append(first)
    out = kwargs.get("out")
    if isinstance(out, torch.Tensor):
        written.append(out)
    elif isinstance(out, (list, tuple)):
        written.extend(t for t in out if isinstance(t, torch.Tensor))
    return written


# ATen ops whose schema does not declare that they update the running statistics they are given (their
# `_native_batch_norm_legit` / `_batch_norm_with_update` counterparts do): schema name -> (positions of the
# written arguments, position of `training` (they write only when it is true) or None).
_UNDECLARED_WRITES = {"aten::native_batch_norm": ((3, 4), 5), "aten::cudnn_batch_norm": ((3, 4), 5),
                      "aten::miopen_batch_norm": ((3, 4), 5), "aten::batch_norm_update_stats": ((1, 2), None),
                      "aten::batch_norm_gather_stats": ((3, 4), None),
                      "aten::batch_norm_gather_stats_with_counts": ((3, 4), None)}
_ATEN_WRITES: dict[Any, tuple] = {}   # ATen op -> ((position, name) of each written argument, training position)


def _aten_write_spec(func: Any) -> tuple:
    schema = getattr(func, "_schema", None)
    if schema is None:
        return ()
    arguments = schema.arguments
    written = [(i, a.name) for i, a in enumerate(arguments) if a.alias_info is not None and a.alias_info.is_write]
    training = None
    undeclared = _UNDECLARED_WRITES.get(schema.name)
    if undeclared is not None and not written:
        positions, training = undeclared
        written = [(i, arguments[i].name) for i in positions]
    return (tuple(written), training) if written else ()


def aten_written(func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Tensors an ATen op call writes: the arguments its schema marks `Tensor(a!)` (lists of them too), and the
    running statistics of the batch norms in training whose schema does not say so."""
    spec = _ATEN_WRITES.get(func)
    if spec is None:
        spec = _ATEN_WRITES[func] = _aten_write_spec(func)
    if not spec:
        return []
    written, training = spec
    if training is not None and not (args[training] if training < len(args) else kwargs.get("training")):
        return []
    tensors = []
    for i, name in written:
        value = args[i] if i < len(args) else kwargs.get(name)
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif isinstance(value, (list, tuple)):
            tensors.extend(v for v in value if isinstance(v, torch.Tensor))
    return tensors


def version_of(t: torch.Tensor) -> int | None:
    try:
        return t._version
    except Exception:  # noqa: BLE001  (inference tensors keep no version counter)
        return None


def storage_key(t: torch.Tensor) -> int:
    try:
        return t.untyped_storage().data_ptr()
    except Exception:  # noqa: BLE001
        return -id(t)


class ModelSnapshot:
    """What `model` holds now; `restore()` puts it back. Use as a context manager around every run of the model
    during a conversion, together with a function mode that calls `before_write` for in-place ops."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._attrs: list[tuple[Any, dict, dict]] = []        # (module, __dict__ copy, container contents)
        self._tensors: dict[int, tuple[torch.Tensor, str, int | None]] = {}  # id -> (tensor, name, version)
        self._by_storage: dict[int, list[int]] = {}
        self._saved: dict[int, torch.Tensor] = {}
        for path, module in model.named_modules(remove_duplicate=True):
            d = module.__dict__
            contents = {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in d.items()
                        if type(v) in (list, dict) or isinstance(v, dict)}
            self._attrs.append((module, dict(d), contents))
            prefix = f"{path}." if path else ""
            named = [(f"{prefix}{k}", t) for k, t in module._parameters.items() if t is not None]
            named += [(f"{prefix}{k}", t) for k, t in module._buffers.items() if t is not None]
            named += [(f"{prefix}{k}", v) for k, v in d.items() if isinstance(v, torch.Tensor)]
            for name, t in named:
                if id(t) not in self._tensors:
                    self._tensors[id(t)] = (t, name, version_of(t))
                    self._by_storage.setdefault(storage_key(t), []).append(id(t))

    def owns(self, t: torch.Tensor) -> bool:
        return storage_key(t) in self._by_storage

    def unwritten(self, t: torch.Tensor) -> bool:
        """`t` shares its storage with model tensors none of which was written so far in this run: its memory
        holds the values it had when the snapshot was taken, and `restore()` leaves (or puts) them back."""
        tids = self._by_storage.get(storage_key(t))
        return bool(tids) and all(tid not in self._saved and version_of(self._tensors[tid][0]) ==
                                  self._tensors[tid][2] for tid in tids)

    def before_write(self, t: torch.Tensor) -> None:
        """`t` is about to be written in place: copy every model tensor sharing its storage (once)."""
        for tid in self._by_storage.get(storage_key(t), ()):
            if tid not in self._saved:
                tensor = self._tensors[tid][0]
                with torch.no_grad():
                    self._saved[tid] = tensor.detach().clone()

    def before_op(self, func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
        """Called before every op runs: copies the model tensors it is about to write; returns what it writes."""
        written = written_tensors(func, args, kwargs)
        for t in written:
            self.before_write(t)
        return written

    def written(self) -> list[str]:
        """Names of model tensors whose data a forward changed (so far)."""
        return [self._tensors[tid][1] for tid in self._saved]

    def restore(self) -> None:
        for module, attrs, contents in self._attrs:
            d = module.__dict__
            for k in [k for k in d if k not in attrs]:
                del d[k]
            for k, v in attrs.items():
                if d.get(k, _MISSING) is not v:
                    d[k] = v
            for k, items in contents.items():
                v = d[k]
                if _same_contents(v, items):   # untouched (the usual case; also frozen dicts such as a config)
                    continue
                if isinstance(v, list):
                    v[:] = items
                else:
                    v.clear()
                    v.update(items)
        unrestorable = []
        with torch.no_grad():
            for tid, (t, name, version) in self._tensors.items():
                old = self._saved.get(tid)
                if old is not None:
                    if t.shape != old.shape:
                        t.data = old
                    else:
                        t.copy_(old)
                    t.__dict__.pop("_trt", None)
                elif version is not None and version_of(t) != version:
                    unrestorable.append(name)
        self._saved.clear()
        if unrestorable:
            raise RuntimeError(
                f"the model's forward changed {', '.join(unrestorable)} in place by an operation torch2trt could "
                "not see before it ran (below the torch-function level), so it could not be restored; "
                "please report this model")

    def __enter__(self) -> ModelSnapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


_MISSING = object()


def _same_contents(v: Any, items: Any) -> bool:
    """The container holds the very objects it held at the snapshot, in the same order."""
    if isinstance(v, list):
        return len(v) == len(items) and all(a is b for a, b in zip(v, items))
    return len(v) == len(items) and all(k1 == k2 and v.get(k1, _MISSING) is v2
                                        for k1, (k2, v2) in zip(v, items.items()))


class WriteGuard(torch.overrides.TorchFunctionMode):
    """A function mode for plain (untraced) runs of the model: copies model tensors before in-place writes."""

    def __init__(self, snapshot: ModelSnapshot):
        super().__init__()
        self.snapshot = snapshot

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.snapshot.before_op(func, args, kwargs)
        return func(*args, **kwargs)


class AtenWriteGuard(TorchDispatchMode):
    """A dispatch mode (below the function mode) for every run of the model during a conversion: before an ATen op
    writes a tensor (`aten_written`), copies the model tensors on its storage (`snapshot`, may be None) and tells
    `on_write(tensor)` (the tracer: the converter must see the operand as it was before the op)."""

    def __init__(self, snapshot: ModelSnapshot | None, on_write: Any = None):
        super().__init__()
        self.snapshot = snapshot
        self.on_write = on_write

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps __torch_dispatch__ in torch._dynamo.disable otherwise: importing TorchDynamo (seconds) at the
        # first op and a wrapper at every op, for a mode that only reads schemas and copies tensors
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        written = aten_written(func, args, kwargs)
        if written:
            with torch._C.DisableTorchFunction():   # the copies are not the model's computation
                for t in written:
                    if self.snapshot is not None:
                        self.snapshot.before_write(t)
                    if self.on_write is not None:
                        self.on_write(t)
        return func(*args, **kwargs)


def run_preserved(model: torch.nn.Module, *args: Any) -> Any:
    """model(*args) under no_grad, with everything the forward changes in the model put back afterwards."""
    snapshot = ModelSnapshot(model)
    try:
        with torch.no_grad(), WriteGuard(snapshot), AtenWriteGuard(snapshot):
            return model(*args)
    finally:
        snapshot.restore()
