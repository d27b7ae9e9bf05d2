"""Flatten nested inputs/outputs (lists, tuples, dicts of tensors) to a flat tensor list plus a schema.

The schema is plain data (dicts, lists, str, numbers) so that it can live in a state_dict that
`torch.load(weights_only=True)` reads. It must not hold tensors or Python objects.
"""

from __future__ import annotations

from typing import Any

import torch

_PLAIN = (type(None), bool, int, float, str)


def flatten(value: Any) -> tuple[list[torch.Tensor], dict]:
    """Return (tensors, schema). Non-tensor leaves (None, numbers, str) are kept in the schema."""
    tensors: list[torch.Tensor] = []

    def walk(v: Any) -> dict:
        if isinstance(v, torch.Tensor):
            tensors.append(v)
            return {"kind": "tensor", "index": len(tensors) - 1}
        if isinstance(v, (list, tuple)):
            kind = "list" if isinstance(v, list) else "tuple"
            return {"kind": kind, "items": [walk(x) for x in v]}
        if isinstance(v, dict):
            keys = list(v.keys())
            bad = [k for k in keys if not isinstance(k, (str, int))]
            if bad:
                raise TypeError(f"dict keys in inputs/outputs must be str or int, got {bad[0]!r}")
            entry = {"kind": "dict", "keys": keys, "items": [walk(v[k]) for k in keys]}
            cls = _model_output_class(type(v))
            if cls is not None:
                entry["class"] = cls
            return entry
        if isinstance(v, _PLAIN):
            return {"kind": "const", "value": v}
        raise TypeError(
            f"unsupported {type(v).__name__} in inputs/outputs; expected tensors inside "
            "lists, tuples or dicts (or None, numbers, strings)")

    return tensors, walk(value)


def unflatten(schema: dict, tensors: list) -> Any:
    kind = schema["kind"]
    if kind == "tensor":
        return tensors[schema["index"]]
    if kind == "list":
        return [unflatten(s, tensors) for s in schema["items"]]
    if kind == "tuple":
        return tuple(unflatten(s, tensors) for s in schema["items"])
    if kind == "dict":
        d = {k: unflatten(s, tensors) for k, s in zip(schema["keys"], schema["items"])}
        cls = _resolve_model_output(schema.get("class"))
        return cls(**d) if cls is not None else d
    if kind == "const":
        return schema["value"]
    raise ValueError(f"unknown structure kind {kind!r}")


# Hugging Face ModelOutput objects (dicts with attribute access) come back as the same class: the schema names it
# ("transformers.modeling_outputs:BaseModelOutput"); only subclasses of transformers' ModelOutput defined in
# transformers are ever imported from a name (a saved file names no other code); elsewhere they are plain dicts.
_HF_PREFIX = "transformers."


def _is_cache(v: Any) -> bool:
    """A transformers KV cache object (DynamicCache, StaticCache, EncoderDecoderCache, ...)."""
    return any(c.__name__ == "Cache" and c.__module__.startswith(_HF_PREFIX) for c in type(v).__mro__)


def drop_caches(value: Any) -> tuple[Any, list[str]]:
    """`value` with every transformers KV cache object in it left out (a model called with its default
    use_cache=True returns one): a dict or ModelOutput loses that entry, a list or tuple gets None there. Returns the
    new value and where the caches were."""
    dropped: list[str] = []

    def walk(v: Any, path: str) -> Any:
        if _is_cache(v):
            dropped.append(path or "the output")
            return None
        if isinstance(v, dict):
            items = {k: walk(x, f"{path}[{k!r}]") for k, x in v.items()}
            kept = {k: x for k, x in items.items() if not (x is None and _is_cache(v[k]))}
            if len(kept) == len(v) and all(kept[k] is v[k] for k in v):
                return v
            if _model_output_class(type(v)) is not None:
                return type(v)(**kept)
            return type(v)(kept) if type(v) is not dict else kept
        if isinstance(v, (list, tuple)) and not isinstance(v, torch.Tensor):
            items = [walk(x, f"{path}[{i}]") for i, x in enumerate(v)]
            if all(a is b for a, b in zip(items, v)):
                return v
            return type(v)(items) if type(v) in (list, tuple) else items
        return v

    return walk(value, ""), dropped


def _model_output_class(cls: type) -> str | None:
    if cls is dict or not cls.__module__.startswith(_HF_PREFIX):
        return None
    if not any(c.__name__ == "ModelOutput" and c.__module__.startswith(_HF_PREFIX) for c in cls.__mro__):
        return None
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_model_output(name: Any) -> type | None:
    if not isinstance(name, str) or not name.startswith(_HF_PREFIX) or ":" not in name:
        return None
    module, _, qualname = name.partition(":")
    try:
        import importlib

        from transformers.utils import ModelOutput
        cls = getattr(importlib.import_module(module), qualname, None)
    except ImportError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, ModelOutput) else None


class StructureError(ValueError):
    """A value does not have the structure of a schema (the message names where and what differs)."""


def _same_plain(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    return a == b or (isinstance(a, float) and a != a and b != b)


def bind(schema: dict, args: list, like: str | None = None) -> list:
    """The tensors of `args` (a call's positional arguments) in the order of `schema` (the converted call's
    structure): dicts are bound by key; any other difference (a list for a dict, a missing or unknown key, a
    different count, a non-tensor value other than the converted one) raises StructureError naming it.
    `like`: what the schema is, where it is not the converted call (e.g. "item 0" of a dataset)."""
    out: list = [None] * num_tensors(schema)
    ref = f"as {like}" if like else "as converted"

    def walk(s: dict, v: Any, path: str) -> None:
        kind = s["kind"]
        if kind == "tensor":
            if not isinstance(v, torch.Tensor):
                raise StructureError(f"{path}: expected a tensor, got {type(v).__name__}")
            out[s["index"]] = v
        elif kind in ("list", "tuple"):
            root = path == ""
            want = list if kind == "list" else tuple
            if not isinstance(v, (list, tuple)) or (not root and not isinstance(v, want)):
                raise StructureError(f"{path}: expected a {kind} of {len(s['items'])} items, got "
                                     f"{type(v).__name__}")
            if len(v) != len(s["items"]):
                what = "arguments" if root else "items"
                raise StructureError(f"{path or 'the call'}: expected {len(s['items'])} {what} ({ref}), "
                                     f"got {len(v)}")
            for i, (sub, x) in enumerate(zip(s["items"], v)):
                walk(sub, x, f"argument {i}" if root else f"{path}[{i}]")
        elif kind == "dict":
            if not isinstance(v, dict):
                raise StructureError(f"{path}: expected a dict with keys {s['keys']}, got {type(v).__name__}")
            missing = [k for k in s["keys"] if k not in v]
            unknown = [k for k in v if k not in s["keys"]]
            if missing or unknown:
                raise StructureError(f"{path}: expected a dict with keys {s['keys']} ({ref}); "
                                     + "; ".join(([f"missing key(s) {missing}"] if missing else [])
                                                 + ([f"unknown key(s) {unknown}"] if unknown else [])))
            for k, sub in zip(s["keys"], s["items"]):
                walk(sub, v[k], f"{path}[{k!r}]")
        elif kind == "const":
            if not _same_plain(s["value"], v):
                if like:
                    raise StructureError(
                        f"{path}: {like} has {s['value']!r} ({type(s['value']).__name__}) here, this item {v!r} "
                        f"({type(v).__name__}); non-tensor arguments are fixed in the engine, so every item must "
                        "pass the same ones (or pass a tensor)")
                raise StructureError(
                    f"{path}: the model was converted with {s['value']!r} ({type(s['value']).__name__}) here; this "
                    f"call passes {v!r} ({type(v).__name__}). Non-tensor arguments are fixed in the engine: convert "
                    "again for another value, or pass it as a tensor")
        else:
            raise StructureError(f"{path}: unknown structure kind {kind!r}")

    walk(schema, list(args) if isinstance(args, tuple) else args, "")
    return out


def paths(schema: dict) -> list[str]:
    """Where each tensor of `schema` is, in bind's notation ("argument 0['a'][1]"), by tensor index."""
    out: list[str] = [""] * num_tensors(schema)

    def walk(s: dict, path: str) -> None:
        if s["kind"] == "tensor":
            out[s["index"]] = path
        elif s["kind"] in ("list", "tuple"):
            for i, sub in enumerate(s["items"]):
                walk(sub, f"argument {i}" if path == "" else f"{path}[{i}]")
        elif s["kind"] == "dict":
            for k, sub in zip(s["keys"], s["items"]):
                walk(sub, f"{path}[{k!r}]")

    walk(schema, "")
    return out


def tensor_problem(t: torch.Tensor) -> str | None:
    """Why `t` cannot be an engine input (the rest of a sentence about it), or None for a dense tensor with data."""
    if t.is_nested:
        return "is a nested tensor; pass a dense tensor per call (or pad to one shape)"
    if t.layout != torch.strided:
        return f"is a sparse tensor (layout {t.layout}); pass it dense (.to_dense())"
    if t.is_quantized:
        return f"is a quantized tensor (dtype {t.dtype}); pass it dequantized (.dequantize())"
    if t.device.type == "meta":
        return "is on the meta device (it holds no values); pass a tensor with data"
    return None


def tensor_paths(schema: dict, root: str = "inputs") -> list[str]:
    """Where each tensor of `schema` sits, in flattening order: 'inputs[0]', "inputs[1]['mask']", ..."""
    paths: list[str] = []

    def walk(s: dict, path: str) -> None:
        if s["kind"] == "tensor":
            paths.append(path)
        elif s["kind"] == "dict":
            for k, sub in zip(s["keys"], s["items"]):
                walk(sub, f"{path}[{k!r}]")
        elif s["kind"] in ("list", "tuple"):
            for i, sub in enumerate(s["items"]):
                walk(sub, f"{path}[{i}]")

    walk(schema, root)
    return paths


def num_tensors(schema: dict) -> int:
    kind = schema["kind"]
    if kind == "tensor":
        return 1
    if kind in ("list", "tuple", "dict"):
        return sum(num_tensors(s) for s in schema["items"])
    return 0


def validate(schema: Any, path: str = "schema") -> None:
    """Raise ValueError unless `schema` is a well-formed structure (used when loading saved state)."""
    if not isinstance(schema, dict) or "kind" not in schema:
        raise ValueError(f"{path}: expected a dict with 'kind', got {type(schema).__name__}")
    kind = schema["kind"]
    if kind == "tensor":
        if not isinstance(schema.get("index"), int) or schema["index"] < 0:
            raise ValueError(f"{path}: tensor entry needs a non-negative int 'index'")
    elif kind in ("list", "tuple", "dict"):
        items = schema.get("items")
        if not isinstance(items, list):
            raise ValueError(f"{path}: {kind} entry needs a list 'items'")
        if kind == "dict":
            keys = schema.get("keys")
            if not isinstance(keys, list) or len(keys) != len(items):
                raise ValueError(f"{path}: dict entry needs 'keys' matching 'items'")
            if not isinstance(schema.get("class", ""), str):
                raise ValueError(f"{path}: a dict entry's 'class' must be a str")
        for i, s in enumerate(items):
            validate(s, f"{path}.items[{i}]")
    elif kind == "const":
        if not isinstance(schema.get("value"), _PLAIN):
            raise ValueError(f"{path}: const entry holds a non-plain value")
    else:
        raise ValueError(f"{path}: unknown kind {kind!r}")
