"""Models named by a short spec, as the command line and the benchmarks name them.

`load_model("torchvision:resnet50", batch=2)` or `load_model("path/to/file.py:factory")` gives the module in
eval mode with example inputs drawn with a fixed seed. A bad spec raises ModelSpecError (a ValueError) whose
message says what was expected.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

DEFAULT_IMAGE_SHAPE = (3, 224, 224)
SEED = 0


class ModelSpecError(ValueError):
    """A model spec that names no loadable model (unknown name, missing file, bad factory, bad shape)."""


@dataclass
class LoadedModel:
    name: str
    module: Any                      # torch.nn.Module, in eval mode
    inputs: list = field(default_factory=list)


def parse_shape(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224)."""
    try:
        dims = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise ModelSpecError(f"bad input shape {text!r}: expected sizes joined by 'x', e.g. 3x224x224") from None
    if not dims or any(d <= 0 for d in dims):
        raise ModelSpecError(f"bad input shape {text!r}: sizes must be positive")
    return dims


def torchvision_model_names() -> set[str]:
    import torchvision

    try:
        return set(torchvision.models.list_models())
    except AttributeError:  # older torchvision
        return {n for n in dir(torchvision.models) if not n.startswith("_")}


def _split(spec: str) -> tuple[str, str, bool]:
    """(kind, rest, is_file): 'a/b.py:f' -> ('a/b.py', 'f', True); 'torchvision:x' and 'x' -> ('torchvision', 'x')."""
    kind, sep, rest = spec.rpartition(":")
    if sep and (kind.endswith(".py") or "/" in kind or os.sep in kind):
        return kind, rest, True
    if kind in ("", "torchvision") and rest:
        return "torchvision", rest, False
    raise ModelSpecError(f"bad model {spec!r}: use torchvision:NAME (e.g. torchvision:resnet50) or "
                         "path/to/file.py:factory")


def validate_spec(spec: str) -> None:
    """Raise ModelSpecError for a misspelt name or a missing file, without building the model."""
    kind, rest, is_file = _split(spec)
    if is_file:
        if not Path(kind).is_file():
            raise ModelSpecError(f"model file not found: {kind}")
    elif rest not in torchvision_model_names():
        raise ModelSpecError(_unknown_torchvision(rest))


def _unknown_torchvision(name: str) -> str:
    close = sorted(n for n in torchvision_model_names() if n.startswith(name[:3]))[:6]
    return f"unknown torchvision model {name!r}" + (f"; similar: {', '.join(close)}" if close else "")


def _torchvision_model(name: str):
    import torchvision

    if name not in torchvision_model_names():
        raise ModelSpecError(_unknown_torchvision(name))
    return torchvision.models.get_model(name, weights=None)


def _factory_model(path: str, factory: str):
    file = Path(path)
    if not file.is_file():
        raise ModelSpecError(f"model file not found: {path}")
    module_name = f"_torch2trt_model_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ModelSpecError(f"cannot import {path} (not a Python file?)")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        raise ModelSpecError(f"importing {path} failed: {type(e).__name__}: {e}") from None
    fn = getattr(mod, factory, None)
    if not callable(fn):
        raise ModelSpecError(f"{path} has no function {factory!r}")
    try:
        return fn()
    except Exception as e:
        raise ModelSpecError(f"{path}:{factory}() failed: {type(e).__name__}: {e}") from None


def load_model(spec: str, batch: int | None = None, input_shapes: Sequence[str] | None = None) -> LoadedModel:
    """A model from a spec, in eval mode, with its example inputs (fixed seed).

    `torchvision:NAME` (or a bare NAME): random weights and batch-norm statistics, input `batch` x
    3x224x224 unless `input_shapes`.
    `path/to/file.py:factory`: factory() returns a module or (module, example inputs); `input_shapes`
    (sizes without the batch, e.g. "3x64x64") replaces the example inputs (random normal, `batch` prepended).
    """
    import torch

    if batch is not None and batch <= 0:
        raise ModelSpecError(f"batch must be positive, got {batch}")
    kind, rest, is_file = _split(spec)
    torch.manual_seed(SEED)
    if is_file:
        made = _factory_model(kind, rest)
        name = f"{Path(kind).stem}:{rest}"
    else:
        from .testing import randomize_norm_statistics

        made, name = _torchvision_model(rest), rest
        randomize_norm_statistics(made)
    example = None
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
        made, example = made
    if not isinstance(made, torch.nn.Module):
        raise ModelSpecError(f"{spec} did not give a torch.nn.Module (got {type(made).__name__})")
    if isinstance(example, torch.Tensor):
        example = [example]
    torch.manual_seed(SEED)
    if input_shapes:
        inputs = [torch.randn((batch or 1,) + parse_shape(s)) for s in input_shapes]
    elif example is not None:
        if batch is not None:
            raise ModelSpecError(f"{spec} gives its own example inputs; give input shapes with the batch to "
                                 "replace them")
        inputs = list(example)
    elif not is_file:
        inputs = [torch.randn((batch or 1,) + DEFAULT_IMAGE_SHAPE)]
    else:
        raise ModelSpecError(f"{spec} returns no example inputs: give input shapes (e.g. --input-shape 3x224x224)")
    return LoadedModel(name, made.eval(), inputs)
