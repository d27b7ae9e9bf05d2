"""Datasets of model inputs, as the original torch2trt's `torch2trt.dataset`: `torch2trt(model, dataset)` traces with
`dataset[0]` and takes the optimization profile from the dataset — the min and max of every axis over its items, opt
the shapes of the item with the median number of elements (the original's rules) — and verifies on its items.

    dataset = ListDataset()
    with dataset.record(model):          # or dataset.insert((x,)) per input tuple
        for x in batches:
            model(x)
    model_trt = torch2trt(model, dataset)
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import torch

from . import structure

VERIFY_ITEMS = 8       # items the default verification runs on (evenly spaced, the first and the last included)


class Dataset:
    """Items are tuples of a model's positional inputs."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        raise NotImplementedError

    def insert(self, item: Any) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def record(self, module: torch.nn.Module) -> Iterator[Dataset]:
        """Insert the positional inputs of every call of `module` inside the block (detached copies)."""
        def hook(_module, args):
            self.insert(tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args))

        handle = module.register_forward_pre_hook(hook)
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
        self.items.append(tuple(item) if isinstance(item, (list, tuple)) else (item,))


def profile_from(dataset: Dataset, min_shapes: Any, opt_shapes: Any, max_shapes: Any, verify_inputs: Any):
    """(sample inputs, min_shapes, opt_shapes, max_shapes, verify_inputs) for torch2trt(model, dataset); shapes given
    by the caller win over the dataset's."""
    if len(dataset) == 0:
        raise ValueError("torch2trt(model, dataset): the dataset is empty; insert at least one tuple of inputs")
    items = [list(dataset[i]) for i in range(len(dataset))]
    flat0, schema = structure.flatten(items[0])
    shapes = []
    for i, item in enumerate(items):
        flat, _ = structure.flatten(item)
        if len(flat) != len(flat0) or any(a.dim() != b.dim() or a.dtype != b.dtype for a, b in zip(flat, flat0)):
            raise ValueError(f"torch2trt(model, dataset): item {i} is not structured like item 0 (the same "
                             "tensors, ranks and dtypes in the same places)")
        shapes.append([tuple(t.shape) for t in flat])
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
