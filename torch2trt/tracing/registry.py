"""The converter registry: `tensorrt_converter` and target resolution (string or object -> hashable key).

Owns which converter handles which torch function, Tensor method or module class; it must not trace
or build anything. A later registration for the same target shadows the earlier one until removed.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class Converter:
    function: Callable
    target: str            # the qualified name it was registered under
    is_module: bool         # module-level target ("torch.nn.ReLU.forward"): hooks, not the function mode


# key -> stack of converters (last one wins); key is a function object or, for modules, the class
_FUNCTIONS: dict[Any, list[Converter]] = {}
_MODULES: dict[type, list[Converter]] = {}


def _import_path(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                raise ValueError(f"cannot resolve converter target {path!r}: no attribute {attr!r}")
            obj = inspect.getattr_static(obj, attr) if isinstance(obj, type) else getattr(obj, attr)
        return obj
    raise ValueError(f"cannot resolve converter target {path!r}: no importable module prefix")


def resolve(target: Any) -> tuple[Any, bool, str]:
    """Target (string or object) -> (key, is_module, qualified name)."""
    if isinstance(target, str):
        name = target
        owner_path, _, attr = target.rpartition(".")
        if attr == "forward":
            owner = _import_path(owner_path)
            if isinstance(owner, type) and issubclass(owner, torch.nn.Module):
                return owner, True, name
        obj = _import_path(target)
    else:
        obj = target
        name = qualified_name(target)
    if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
        return obj, True, name
    # Properties (Tensor.shape, Tensor.T) reach __torch_function__ as their __get__.
    if isinstance(obj, property) or type(obj).__name__ == "getset_descriptor":
        obj = obj.__get__
    elif isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return _function_key(obj), False, name


def _function_key(func: Any) -> Any:
    # Tensor methods resolved from torch.Tensor by getattr_static are the same objects the mode sees.
    return func


_BUILT_IN = "torch2trt.converters"


def _is_built_in(function: Callable) -> bool:
    module = getattr(function, "__module__", "") or ""
    return module == _BUILT_IN or module.startswith(_BUILT_IN + ".")


def _function_name(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def register(target: Any, function: Callable) -> Converter:
    """Add `function` as the newest converter of `target`. Shadowing a built-in converter is allowed (the user may
    mean it) but warns, naming both, since a converter registered by mistake silently changes every conversion."""
    key, is_module, name = resolve(target)
    conv = Converter(function, name, is_module)
    table = _MODULES if is_module else _FUNCTIONS
    if not _is_built_in(function):
        shadowed = next((c for k in _keys(key, is_module) for c in reversed(table.get(k, []))
                         if _is_built_in(c.function)), None)
        if shadowed is not None:
            warnings.warn(f"torch2trt: converter {_function_name(function)} registered for {name}, which has the "
                          f"built-in converter {_function_name(shadowed.function)}; yours is used until "
                          "torch2trt.unregister_converter() removes it", UserWarning, stacklevel=3)
    for k in _keys(key, is_module):
        table.setdefault(k, []).append(conv)
    return conv


def _keys(key: Any, is_module: bool) -> list:
    """The key, plus the function a Tensor operator actually reaches __torch_function__ as (in torch 2.x
    `a + b` arrives as Tensor.add, `x += 1` as Tensor.add_), so `"torch.Tensor.__add__"` keeps working."""
    if is_module:
        return [key]
    alias = _operator_alias(getattr(key, "__name__", ""))
    return [key] if alias is None or alias == key else [key, alias]


@functools.cache
def _operator_alias(name: str) -> Any:
    if not (name.startswith("__") and name.endswith("__")) or not callable(getattr(torch.Tensor, name, None)):
        return None
    from torch.overrides import TorchFunctionMode

    seen: list = []

    class Probe(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    unary = name in ("__neg__", "__pos__", "__abs__", "__invert__")
    for a, b in ((torch.ones(2), torch.ones(2)), (torch.ones(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool))):
        seen.clear()
        try:
            with Probe():
                getattr(a, name)() if unary else getattr(a, name)(b)
        except Exception:  # noqa: BLE001  (the probe only learns what arrives; operators may reject dtypes)
            continue
        if seen:
            return seen[0]
    return None


def unregister(target: Any, function: Callable | None = None) -> None:
    """Remove the newest converter for `target` (or the given function), restoring any earlier one."""
    key, is_module, name = resolve(target)
    table = _MODULES if is_module else _FUNCTIONS
    found = False
    for k in _keys(key, is_module):
        stack = table.get(k, [])
        for i in range(len(stack) - 1, -1, -1):
            if (function is None or stack[i].function is function) and stack[i].target == name:
                del stack[i]
                found = True
                break
        if not stack:
            table.pop(k, None)
    if not found:
        raise KeyError(f"no converter registered for {name}")


def tensorrt_converter(method: Any, is_real: bool = True, enabled: bool = True, imports: Any = ()):
    """Register the decorated function as the converter of `method` (a qualified name or the object).

    `method` may also be a list/tuple of targets. `is_real` and `imports` exist for compatibility with
    the original torch2trt and have no effect. With `enabled=False` nothing is registered.
    """
    targets = list(method) if isinstance(method, (list, tuple)) else [method]

    def decorate(function: Callable) -> Callable:
        if enabled:
            for t in targets:
                register(t, function)
        return function

    return decorate


def spellings(name: str, functional=()) -> list:
    """The targets one op is reached by: torch.X, torch.X_, Tensor.X, Tensor.X_ (those that exist) plus extra
    objects (F.relu, torch.special.erf, ...)."""
    out = [getattr(torch, n) for n in (name, name + "_") if hasattr(torch, n)]
    out += [getattr(torch.Tensor, n) for n in (name, name + "_") if hasattr(torch.Tensor, n)]
    return out + list(functional)


# qualified name -> why it is refused, for targets that cannot be registered when the converters load (a custom op
# whose library is imported later: torch.ops.torchvision.* exist only once torchvision is imported)
_REFUSALS: dict[str, str] = {}


def note_refusal(name: str, reason: str) -> None:
    _REFUSALS[name] = reason


def refusal(name: str) -> str | None:
    """The recorded reason an op without a converter is refused, if any."""
    return _REFUSALS.get(name)


def lookup_function(func: Any) -> Converter | None:
    try:
        stack = _FUNCTIONS.get(func)
    except TypeError:  # unhashable callables
        return None
    return stack[-1] if stack else None


def lookup_module(module: torch.nn.Module) -> Converter | None:
    """The converter registered for the `forward` this module runs: its class's, or an ancestor's when no class in
    between overrides `forward` (a subclass with its own forward computes something else: it is traced)."""
    for cls in type(module).__mro__:
        stack = _MODULES.get(cls)
        if stack:
            return stack[-1]
        if cls is torch.nn.Module or "forward" in cls.__dict__:
            break
    return None


def has_module_converters() -> bool:
    return any(_MODULES.values())


def registered_targets() -> list[tuple[str, Callable]]:
    """(qualified target, converter function) for every active registration, sorted by name."""
    rows = {(c.target, c.function) for s in list(_FUNCTIONS.values()) + list(_MODULES.values()) for c in s}
    return sorted(rows, key=lambda r: r[0])


# ---- names for error messages ---------------------------------------------------------------------
_NAMESPACES = (("torch.nn.functional", "torch.nn.functional"), ("torch.Tensor", "torch.Tensor"),
               ("torch", "torch"), ("torch.special", "torch.special"), ("torch.linalg", "torch.linalg"),
               ("torch.fft", "torch.fft"))


@functools.lru_cache(maxsize=1)
def _namespace_index() -> dict[int, str]:
    index: dict[int, str] = {}
    for path, label in reversed(_NAMESPACES):  # earlier namespaces win
        ns = _import_path(path)
        for attr in dir(ns):
            try:
                obj = getattr(ns, attr)
            except Exception:
                continue
            if callable(obj):
                index[id(obj)] = f"{label}.{attr}"
    return index


def qualified_name(func: Any) -> str:
    """A readable dotted name: torch.conv2d, torch.Tensor.add_, torch.nn.functional.relu."""
    stack = None
    try:
        stack = _FUNCTIONS.get(func)
    except TypeError:
        pass
    if stack:
        return stack[-1].target
    if isinstance(func, (torch._ops.OpOverloadPacket, torch._ops.OpOverload)):
        # custom ops: torch.ops.torchvision.nms, not the pybind11 record torch._ops shows as the qualname
        schema = func._qualified_op_name if isinstance(func, torch._ops.OpOverloadPacket) else func._schema.name
        overload = "" if isinstance(func, torch._ops.OpOverloadPacket) else f".{func._overloadname}"
        return "torch.ops." + schema.replace("::", ".") + overload
    if isinstance(func, type):
        return f"{func.__module__}.{func.__qualname__}"
    name = _namespace_index().get(id(func))
    if name:
        return name
    self_obj = getattr(func, "__self__", None)  # property getters: <method-wrapper '__get__' of ...>
    if getattr(func, "__name__", None) == "__get__" and self_obj is not None:
        return f"torch.Tensor.{getattr(self_obj, '__name__', '?')}"
    qual = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    if qual.startswith(("TensorBase.", "_TensorBase.")):
        return "torch.Tensor." + qual.split(".", 1)[1]
    if qual.startswith("_VariableFunctionsClass."):
        return "torch." + qual.split(".", 1)[1]
    module = getattr(func, "__module__", None)
    return f"{module}.{qual}" if module else qual
