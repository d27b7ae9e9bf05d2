"""Datasets of model inputs, as the original torch2trt's `torch2trt.dataset`: `torch2trt(model, dataset)` traces with
`dataset[0]` and takes the optimization profile from the dataset — the min and max of every axis over its items, opt
the shapes of the item with the median number of elements (the original's rules) — and verifies on its items.

    dataset = ListDataset()
    with dataset.record(model):          # or dataset.insert((x,)) per input tuple
        for x in batches:
            model(x)
    model_trt = torch2trt(model, dataset)

Every item is bound to item 0's structure (dicts by key, also for the profile); any other difference than sizes is
a ValueError naming the item and what differs. `record` refuses calls with keyword arguments (TypeError).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import torch

from . import structure

VERIFY_ITEMS = 8       # items the default verification runs on (evenly spaced, the first and the last included)


class Dataset:
    """Items are tuples of a model's positional inputs, all structured like item 0 (the same nesting, dict keys and
    non-tensor values; tensors of the same ranks and dtypes, in any shapes)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        raise NotImplementedError

    def insert(self, item: Any) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def record(self, module: torch.nn.Module) -> Iterator[Dataset]:
        """Insert the positional inputs of every call of `module` inside the block (detached copies, nested tensors
        included). A call with keyword arguments is refused (TypeError, before the call runs): the model is traced
        and verified with each item's positional arguments, so call it positionally inside the block."""
        def hook(_module, args, kwargs):
            if kwargs:
                raise TypeError(f"{type(self).__name__}.record: the model was called with keyword argument(s) "
                                f"{sorted(kwargs)}; torch2trt(model, dataset) calls the model with each item's "
                                "positional arguments only: pass them positionally inside the block")
            flat, schema = _flatten(list(args), f"{type(self).__name__}.record: call {len(self)}")
            self.insert(tuple(structure.unflatten(schema, [t.detach().clone() for t in flat])))

        handle = module.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            yield self
        finally:
            handle.remove()


class ListDataset(Dataset):
    def __init__(self, items: Any = None):
        self.items: list[tuple] = []
        for item in items or []:
            self.insert(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple:
        return self.items[index]

    def insert(self, item: Any) -> None:
        """Append `item` (a tuple of positional inputs, or one input); an item not structured like item 0 is a
        ValueError naming what differs."""
        item = tuple(item) if isinstance(item, (list, tuple)) else (item,)
        if self.items:
            _bind(_first(self.items[0]), item, len(self.items))
        else:
            _first(item)
        self.items.append(item)


def _flatten(item: list, where: str) -> tuple[list[torch.Tensor], dict]:
    try:
        return structure.flatten(item)
    except TypeError as e:
        raise TypeError(f"{where}: {e}") from None


def _first(item: Any) -> tuple[list[torch.Tensor], dict]:
    """Item 0's tensors and structure (the one the others are bound to)."""
    return _flatten(list(item), "torch2trt(model, dataset): item 0")


def _bind(first: tuple[list[torch.Tensor], dict], item: Any, index: int) -> list[torch.Tensor]:
    """The tensors of dataset item `index` in the order of item 0's (dicts by key); a different nesting, key,
    non-tensor value, rank or dtype is a ValueError naming the item and the difference."""
    flat0, schema = first
    where = f"torch2trt(model, dataset): item {index} is not structured like item 0"
    try:
        flat = structure.bind(schema, list(item), like="item 0")
    except structure.StructureError as e:
        raise ValueError(f"{where}: {e}") from None
    for path, a, b in zip(structure.paths(schema), flat, flat0):
        if a.dim() != b.dim():
            raise ValueError(f"{where}: {path}: a tensor of rank {a.dim()}; item 0 has rank {b.dim()} (shape "
                             f"{tuple(b.shape)} there; only sizes may differ between items)")
        if a.dtype != b.dtype:
            raise ValueError(f"{where}: {path}: a tensor of dtype {a.dtype}; item 0 has {b.dtype}")
    return flat


def profile_from(dataset: Dataset, min_shapes: Any, opt_shapes: Any, max_shapes: Any, verify_inputs: Any):
    """(sample inputs, min_shapes, opt_shapes, max_shapes, verify_inputs) for torch2trt(model, dataset); shapes given
    by the caller win over the dataset's. Every item is bound to item 0's structure (dicts by key)."""
    if len(dataset) == 0:
        raise ValueError("torch2trt(model, dataset): the dataset is empty; insert at least one tuple of inputs")
    items = [list(dataset[i]) for i in range(len(dataset))]
    first = _first(items[0])
    schema = first[1]
    shapes = [[tuple(t.shape) for t in _bind(first, item, i)] for i, item in enumerate(items)]
    lows = [tuple(min(d) for d in zip(*col)) for col in zip(*shapes)]
    highs = [tuple(max(d) for d in zip(*col)) for col in zip(*shapes)]
    numels = [sum(math.prod(shape) for shape in item_shapes) for item_shapes in shapes]
    median = sorted(range(len(items)), key=lambda i: numels[i])[len(items) // 2]
    if verify_inputs is None:
        n, steps = len(items), min(len(items), VERIFY_ITEMS)
        picks = sorted({round(k * (n - 1) / max(steps - 1, 1)) for k in range(steps)})
        verify_inputs = [items[k] for k in picks]
    return (items[0],
            structure.unflatten(schema, lows) if min_shapes is None else min_shapes,
            structure.unflatten(schema, shapes[median]) if opt_shapes is None else opt_shapes,
            structure.unflatten(schema, highs) if max_shapes is None else max_shapes,
            verify_inputs)
