"""Post-training calibration: run the model in PyTorch over calibration data and measure, at the data input of every
quantizable call (convolution, transposed convolution, linear, max/avg pooling, and both operands of a residual add,
see `add_operands`), the symmetric range |x| <= amax its Q/DQ pair uses.

It owns the measuring (the observer, the range algorithms, weight scales); it builds no network (quantization/qdq.py
does) and never changes the model.

Algorithms (per tensor, over all calibration batches):
- "max": the largest |x| seen.
- "percentile": the given percentile (default 99.99) of |x|, read off a 2048-bin histogram of |x| over [0, max].
- "entropy": TensorRT's entropy calibration (IInt8EntropyCalibrator2, the original torch2trt's default), as NVIDIA
  describes it in "8-bit Inference with TensorRT" (Szymon Migacz, GTC 2017, S7310, slides "Entropy Calibration" and
  "Entropy Calibration - pseudocode"): a 2048-bin histogram of |x| over [0, max]; for every candidate threshold bin
  i in 128..2048 the reference distribution P is bins [0, i) with everything beyond folded into bin i - 1, the
  candidate Q is bins [0, i) merged into 128 levels and expanded back (each level's count spread evenly over its
  non-empty bins); the threshold is the upper edge of bin i with the least KL(P || Q).

A call is identified by (module path, op family, index of that call within the module's forward), the same key the
converters ask with during conversion; calibration and conversion must take the same path through forward. The two
operands of an add have the keys `<call key>.input` and `<call key>.other` (PyTorch's argument names); max pooling
is measured on its result (see RANGE_OF_OUTPUT), everything else on its data input. Pools and adds count only when
their data inputs are network tensors (computed from the model's inputs: what the tracer converts; a call on
constants only is computed in PyTorch at conversion and never reaches a converter), so the observer follows network
tensors from the model's inputs through every call, as the tracer does.
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.modules import module as nn_module
from torch.overrides import TorchFunctionMode

from .. import structure
from ..errors import InputError

# symmetric ranges: scale = amax / QMAX (INT8 [-128, 127] uses +-127; FP8 e4m3's largest finite value is 448)
QMAX = {"int8": 127.0, "fp8": 448.0}

ALGORITHMS = ("max", "percentile", "entropy")
DEFAULT_ALGORITHM = "entropy"
DEFAULT_PERCENTILE = 99.99
HISTOGRAM_BINS = 2048
ENTROPY_LEVELS = 128          # the quantized levels of one sign of INT8 (TensorRT's pseudocode)

# functions whose data input gets a Q/DQ pair -> op family (the converters in converters/conv.py, linear.py, pool.py
# and elementwise.py)
FAMILIES: dict[Any, str] = {
    torch.conv1d: "conv", torch.conv2d: "conv", torch.conv3d: "conv",
    torch.conv_transpose1d: "conv_transpose", torch.conv_transpose2d: "conv_transpose",
    torch.conv_transpose3d: "conv_transpose",
    F.linear: "linear",
    F.max_pool1d: "max_pool", F.max_pool2d: "max_pool", F.max_pool3d: "max_pool",
    torch.max_pool1d: "max_pool", torch.max_pool2d: "max_pool", torch.max_pool3d: "max_pool",
    F.avg_pool1d: "avg_pool", F.avg_pool2d: "avg_pool", F.avg_pool3d: "avg_pool",
    # `a + b`, `a += b` (seen as Tensor.add_), torch.add, Tensor.add/add_. Not __radd__: it is only reached with a
    # number on the left, which never qualifies (see add_operands)
    torch.add: "add", torch.Tensor.add: "add", torch.Tensor.add_: "add", torch.Tensor.__add__: "add",
    torch.Tensor.__iadd__: "add",
}
# families whose weights are constants of the call (converters place a Q/DQ pair on the weights too)
WEIGHTED_FAMILIES = ("conv", "conv_transpose", "linear")
# families whose calls take their Q/DQ pairs only when their data inputs are network tensors (see the module
# docstring); the weighted families keep their original rule (any float data input)
ACTIVATION_FAMILIES = ("max_pool", "avg_pool", "add")
# the keys of an add's two operands: `<call key>.input` and `<call key>.other`
ADD_OPERANDS = ("input", "other")
# Max pooling's Q/DQ pair (on its input) gets the range of the pool's result: max pooling commutes with Q/DQ
# (TensorRT moves a Q after it to its input), and with the result's range, Q/DQ before the pool computes exactly Q/DQ
# after it, of the values that flow on. The input's own range would be worse: it is mostly the zeros of the ReLU
# before the pool, where entropy calibration picks a threshold far below the values the pool keeps (measured on the
# digits CNN of tests/test_int8.py: 0.72 for the input against 3.63 for the result, whose abs-max is 5.81).
RANGE_OF_OUTPUT = ("max_pool",)

# the original torch2trt passed trt.CalibrationAlgoType members; their names map onto ours
_TRT_ALGORITHM_NAMES = {"ENTROPY_CALIBRATION": "entropy", "ENTROPY_CALIBRATION_2": "entropy",
                        "MINMAX_CALIBRATION": "max", "LEGACY_CALIBRATION": "percentile"}


def family_of(func: Any) -> str | None:
    return FAMILIES.get(func)


def quantizable(family: str, weight: Any) -> bool:
    """Calls of a weighted family whose converters place Q/DQ pairs: all convolutions; linear with a 2-D weight (a
    1-D weight is a dot product, converted as a plain matrix multiply). Pools always (their converters refuse
    anything but floating-point inputs); adds: see add_operands."""
    if family in ("max_pool", "avg_pool"):
        return True
    return isinstance(weight, torch.Tensor) and (family != "linear" or weight.dim() == 2)


def add_operands(args: tuple, kwargs: dict, is_network) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The two operands of an add call that joins two activations (a residual add: resnet's `out += identity`, the
    sum of two branches), or None for any other add. The rule, the same at calibration and at conversion:
    - both operands are floating-point tensors of one dtype and the same shape (no broadcasting: a bias, a
      positional embedding or a mask broadcast over the batch is not a second activation);
    - both are network tensors (`is_network`: computed from the model's inputs), so an add of a parameter,
      buffer or any tensor computed from constants only (biases, positional embeddings, even of the same shape)
      is left alone: its range is the constant's, not a measured activation's;
    - alpha is 1 and there is no `out=`.
    TensorRT's placement guide asks for Q/DQ on the residual input of such adds, so that the add fuses into the
    quantized convolution before it ("Quantize the residual input in skip connections", in the section "Q/DQ
    Layer-Placement Recommendations" of docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/
    quantized-types-explicit-quantization.html). Both operands are calibrated; the converter decides which of them
    get the pair (qdq.quantized_add_operands)."""
    a = kwargs.get("input", args[0] if args else None)
    b = kwargs.get("other", args[1] if len(args) > 1 else None)
    if kwargs.get("alpha", args[2] if len(args) > 2 else 1) != 1 or kwargs.get("out") is not None:
        return None
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return None
    if not (a.is_floating_point() and a.dtype == b.dtype and a.shape == b.shape):
        return None
    return (a, b) if is_network(a) and is_network(b) else None


def channels_of(family: str, x: torch.Tensor) -> int:
    """The channel/feature count of a quantizable call's data input (checked again at conversion)."""
    return int(x.shape[-1]) if family == "linear" else int(x.shape[1] if x.dim() > 1 else x.shape[0])


def call_key(module_path: str, family: str, index: int) -> str:
    return f"{module_path or '<root>'}:{family}#{index}"


@dataclass
class Calibration:
    """Activation ranges by call key (see call_key) and what produced them. `unquantized`: call keys of pools and add
    operands that stay float, with the reason (they saw inf/NaN, e.g. a mask: no finite range)."""
    algorithm: str
    amax: dict[str, float] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    percentile: float | None = None
    batches: int = 0
    unquantized: dict[str, str] = field(default_factory=dict)

    def to_state(self) -> dict:
        return {"algorithm": self.algorithm, "amax": dict(self.amax), "channels": dict(self.channels),
                "percentile": self.percentile, "batches": self.batches, "unquantized": dict(self.unquantized)}


def normalize_algorithm(algorithm: Any) -> str:
    """"max" / "percentile" / "entropy", or a trt.CalibrationAlgoType member (or its name) of the original API."""
    if algorithm is None:
        return DEFAULT_ALGORITHM
    name = getattr(algorithm, "name", algorithm)
    if isinstance(name, str):
        if name.lower() in ALGORITHMS:
            return name.lower()
        if name.upper() in _TRT_ALGORITHM_NAMES:
            return _TRT_ALGORITHM_NAMES[name.upper()]
    raise ValueError(f"int8_calib_algorithm={algorithm!r} is not a calibration algorithm; use one of "
                     f"{', '.join(ALGORITHMS)} (or a trt.CalibrationAlgoType name: "
                     f"{', '.join(_TRT_ALGORITHM_NAMES)})")


# ---- range algorithms (on a histogram of |x| with bins of equal width over [0, amax]) ------------------------------
def percentile_amax(hist: np.ndarray, amax: float, percentile: float) -> float:
    """The `percentile` of |x|: the upper edge of the bin where the cumulative count reaches it."""
    total = hist.sum()
    if total == 0 or amax == 0:
        return amax
    cdf = np.cumsum(hist) / total
    i = int(np.searchsorted(cdf, percentile / 100.0, side="left"))
    return float(min(i + 1, len(hist)) * amax / len(hist))


def _expand_levels(ref: np.ndarray, levels: int) -> np.ndarray:
    """Merge `ref` into `levels` consecutive groups and spread each group's total evenly over its non-empty bins."""
    n = len(ref)
    edges = (np.arange(levels + 1) * n) // levels
    nonzero = ref != 0
    sums = np.add.reduceat(ref, edges[:-1])
    counts = np.add.reduceat(nonzero.astype(np.float64), edges[:-1])
    per_bin = np.repeat(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0), np.diff(edges))
    return np.where(nonzero, per_bin, 0.0)


def entropy_amax(hist: np.ndarray, amax: float, levels: int = ENTROPY_LEVELS) -> float:
    """TensorRT's entropy threshold (see the module docstring) from a histogram of |x| over [0, amax]."""
    hist = np.asarray(hist, dtype=np.float64)
    nbins = len(hist)
    if amax == 0 or hist.sum() == 0 or nbins <= levels:
        return amax
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])     # tail[i] = sum(hist[i:])
    best_i, best_kl = nbins, math.inf
    for i in range(levels, nbins + 1):
        p = hist[:i].copy()
        p[i - 1] += tail[i]
        q = _expand_levels(hist[:i], levels)
        ps, qs = p.sum(), q.sum()
        mask = p > 0
        if qs == 0 or np.any(q[mask] == 0):
            continue                                                 # KL is infinite: Q misses mass P has
        pn, qn = p[mask] / ps, q[mask] / qs
        kl = float(np.sum(pn * np.log(pn / qn)))
        if kl < best_kl:
            best_i, best_kl = i, kl
    return float(best_i * amax / nbins)


def weight_amax(weight: torch.Tensor, axis: int) -> torch.Tensor:
    """Per-output-channel abs-max of a weight tensor along `axis` (float32, one value per channel)."""
    w = weight.detach().float()
    dims = [d for d in range(w.dim()) if d != axis % w.dim()]
    return w.abs().amax(dim=dims) if dims else w.abs()


# ---- observing calls -------------------------------------------------------------------------------------------
def _tensors(obj: Any) -> list[torch.Tensor]:
    """The tensors among the leaves of nested lists/tuples/dicts (as the tracer reads a call's arguments)."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


class _Observer(TorchFunctionMode):
    """Sees every quantizable call made while a forward runs (nested calls inside one are not seen, as in tracing)
    and hands its data input to `collect(key, family, x)`.

    It also follows which tensors are network tensors, as the tracer does: the model's inputs, and every output of a
    call that has a network tensor among its arguments (an in-place op returns the tensor it wrote). Tensors are
    held by weak references only: an activation is freed as soon as the model lets it go."""

    def __init__(self, model: torch.nn.Module, collect):
        super().__init__()
        self.names = {id(m): n for n, m in model.named_modules()}
        self.collect = collect
        self.stack: list[str] = []
        self.counts: dict[tuple[str, str], int] = {}
        self.network: dict[int, weakref.ref] = {}

    def path(self) -> str:
        return next((p for p in reversed(self.stack) if p), "")

    def mark(self, values: Any) -> None:
        for t in _tensors(values):
            key = id(t)
            if key not in self.network or self.network[key]() is not t:
                self.network[key] = weakref.ref(t, lambda _, k=key, net=self.network: net.pop(k, None))

    def is_network(self, t: torch.Tensor) -> bool:
        ref = self.network.get(id(t))
        return ref is not None and ref() is t

    def _next_key(self, family: str) -> str:
        path = self.path()
        index = self.counts.get((path, family), 0)
        self.counts[(path, family)] = index + 1
        return call_key(path, family, index)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        family = FAMILIES.get(func)
        result_key = None                  # the call is measured on its result (RANGE_OF_OUTPUT)
        if family == "add":
            pair = add_operands(args, kwargs, self.is_network)
            if pair is not None:
                key = self._next_key(family)
                for name, v in zip(ADD_OPERANDS, pair):
                    self.collect(f"{key}.{name}", family, v.detach())
        elif family is not None:
            x = kwargs.get("input", args[0] if args else None)
            w = kwargs.get("weight", args[1] if len(args) > 1 else None)
            if isinstance(x, torch.Tensor) and x.is_floating_point() and quantizable(family, w) \
                    and (family in WEIGHTED_FAMILIES or self.is_network(x)):
                key = self._next_key(family)
                if family in RANGE_OF_OUTPUT:
                    result_key = key
                else:
                    self.collect(key, family, x.detach())
        out = func(*args, **kwargs)
        if result_key is not None:
            self.collect(result_key, family, (out[0] if isinstance(out, tuple) else out).detach())
        if self.network and any(self.is_network(t) for t in _tensors((args, kwargs))):
            self.mark(out)
        return out


class _Hooks:
    def __init__(self, observer: _Observer):
        self.observer = observer

    def __enter__(self):
        obs = self.observer

        def pre(module, args):
            obs.stack.append(obs.names.get(id(module), ""))

        def post(module, args, kwargs, output=None):
            if obs.stack:
                obs.stack.pop()

        self.handles = [nn_module.register_module_forward_pre_hook(pre),
                        nn_module.register_module_forward_hook(post, with_kwargs=True, always_call=True)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
            # torch's handle of a global with_kwargs hook leaves its id behind (see tracing/mode.py)
            getattr(nn_module, "_global_forward_hooks_with_kwargs", {}).pop(h.id, None)


def _items(dataset: Iterable) -> Iterable:
    """Calibration needs up to two passes: a one-shot iterator (a generator) is read into a list once."""
    if isinstance(dataset, torch.Tensor):
        raise TypeError("int8_calib_dataset must be a sequence or iterable of model inputs (each a list/tuple of "
                        "tensors), not one tensor; wrap it: [[x1], [x2], ...] or a DataLoader")
    if iter(dataset) is dataset:
        return list(dataset)
    return dataset


def _as_args(item: Any, dtype: torch.dtype | None, device: torch.device | None) -> tuple:
    args = tuple(item) if isinstance(item, (list, tuple)) else (item,)

    def conv(v):
        if isinstance(v, torch.Tensor):   # a copy: an in-place op in forward must not change the caller's data
            v = v.to(device=device, dtype=dtype if dtype is not None and v.is_floating_point() else v.dtype,
                     copy=True)
        elif isinstance(v, (list, tuple)):
            return type(v)(conv(u) for u in v)
        elif isinstance(v, dict):
            return {k: conv(u) for k, u in v.items()}
        return v
    return tuple(conv(a) for a in args)


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, what: str, total: int | None, enabled: bool | None):
        self.what, self.total, self.n = what, total, 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def step(self) -> None:
        self.n += 1
        if self.enabled:
            if self.total:
                done = int(30 * self.n / self.total)
                sys.stderr.write(f"\r{self.what} [{'#' * done}{'.' * (30 - done)}] {self.n}/{self.total}")
            else:
                sys.stderr.write(f"\r{self.what} {self.n}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.n:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _item_check(sample: list, free_axes: list | None):
    """check(k, item): an InputError unless calibration item k has the sample's structure (and non-tensor values),
    its dtypes, ranks and sizes, except on the axes in `free_axes` (per input tensor; default: axis 0, the batch)."""
    flat, schema = structure.flatten(list(sample))
    free = free_axes if free_axes is not None else [{0}] * len(flat)

    def check(k: int, item: Any) -> None:
        what = f"int8_calib_dataset item {k}"
        try:
            got = structure.bind(schema, list(item) if isinstance(item, (list, tuple)) else [item])
        except (structure.StructureError, TypeError) as e:
            raise InputError(f"{what} does not have the sample's structure: {e}") from None
        for i, (t, want) in enumerate(zip(got, flat)):
            problem = structure.tensor_problem(t)
            if problem:
                raise InputError(f"{what}: input {i} {problem}")
            if t.dtype != want.dtype:
                raise InputError(f"{what}: input {i} has dtype {t.dtype}; expected the sample's {want.dtype}")
            shape, expected = tuple(t.shape), tuple(want.shape)
            if len(shape) != len(expected):
                raise InputError(f"{what}: input {i} has shape {shape}; expected the sample's {expected} "
                                 f"(rank {len(expected)})")
            axis = next((a for a, (n, m) in enumerate(zip(shape, expected)) if n != m and a not in free[i]), None)
            if axis is not None:
                raise InputError(f"{what}: input {i} has shape {shape}; expected the sample's {expected} (axis "
                                 f"{axis} must be {expected[axis]})")
    return check


def _run(model, items, observer, what: str, progress: bool | None, dtype, device, check=None) -> int:
    total = len(items) if hasattr(items, "__len__") else None
    bar = _Progress(what, total, progress)
    n = 0
    try:
        with torch.no_grad(), _Hooks(observer), observer:
            for item in items:
                if check is not None:     # before any work on it
                    check(n, item)
                observer.counts.clear()
                args = _as_args(item, dtype, device)
                observer.mark(args)
                model(*args)
                n += 1
                bar.step()
    finally:
        bar.close()
    return n


def calibrate(model: torch.nn.Module, dataset: Iterable, algorithm: Any = DEFAULT_ALGORITHM, *,
              percentile: float = DEFAULT_PERCENTILE, dtype: torch.dtype | None = None,
              progress: bool | None = None, sample: list | None = None,
              free_axes: list | None = None) -> Calibration:
    """Activation ranges of `model` over `dataset` (items: the model's positional inputs, batch included).

    `progress=None` shows a progress bar only when stderr is a terminal. Float inputs are cast to `dtype` if given
    (the precision the model is converted in). The model must be in eval mode; it is not changed. With `sample`
    (the conversion's inputs), each item must have its structure, dtypes and sizes but on `free_axes` (per input
    tensor, default: axis 0): an item that does not is an InputError naming it, raised before any item runs (a list,
    or a one-shot iterator, which is read into one) or before that item runs (another iterable, a DataLoader)."""
    algorithm = normalize_algorithm(algorithm)
    if algorithm == "percentile" and not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    items = _items(dataset)
    saved = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()
             if isinstance(v, torch.Tensor)}
    try:
        check = _item_check(sample, free_axes) if sample is not None else None
        if check is not None and isinstance(items, (list, tuple)):   # all of them before any runs
            for k, item in enumerate(items):
                check(k, item)
            check = None
        return _calibrate(model, items, algorithm, percentile, dtype, progress, check)
    finally:                                 # a forward that updates buffers in place must leave no trace
        with torch.no_grad():
            for k, v in model.state_dict(keep_vars=True).items():
                if k in saved and isinstance(v, torch.Tensor) and not torch.equal(v, saved[k]):
                    v.copy_(saved[k])


def _calibrate(model, items, algorithm: str, percentile: float, dtype, progress, check=None) -> Calibration:
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else None
    result = Calibration(algorithm, percentile=percentile if algorithm == "percentile" else None)
    amax: dict[str, float] = {}

    def collect_max(key: str, family: str, x: torch.Tensor) -> None:
        result.channels.setdefault(key, channels_of(family, x))
        m = float(x.abs().max()) if x.numel() else 0.0
        if not math.isfinite(m):
            if family not in ACTIVATION_FAMILIES:
                raise ValueError(f"calibration: the input of {key} holds inf/NaN; calibration data must be finite")
            # e.g. an additive -inf mask, or a pool over one: no finite range, so this input stays float
            result.unquantized[key] = "its calibration values hold inf/NaN"
            m = 0.0
        amax[key] = max(amax.get(key, 0.0), m)

    result.batches = _run(model, items, _Observer(model, collect_max),
                          "calibrating (ranges)" if algorithm != "max" else "calibrating", progress, dtype, device,
                          check)
    if result.batches == 0:
        raise ValueError("int8_calib_dataset is empty: calibration needs at least one batch")
    if algorithm == "max":
        result.amax = {k: v for k, v in amax.items() if k not in result.unquantized}
        return result

    hists: dict[str, torch.Tensor] = {}

    def collect_hist(key: str, family: str, x: torch.Tensor) -> None:
        top = amax.get(key)
        if top is None:
            raise RuntimeError(f"calibration: {key} was not seen in the first pass; the model's forward must take "
                               "the same path for every calibration batch")
        if top > 0 and key not in result.unquantized:
            h = torch.histc(x.abs().float().reshape(-1), bins=HISTOGRAM_BINS, min=0.0, max=top).double()
            hists[key] = hists[key] + h if key in hists else h

    _run(model, items, _Observer(model, collect_hist), "calibrating (histograms)", progress, dtype, device, check)
    for key, top in amax.items():
        if key in result.unquantized:
            continue
        hist = hists.get(key)
        if hist is None or top == 0:
            result.amax[key] = top
        elif algorithm == "percentile":
            result.amax[key] = percentile_amax(hist.numpy(), top, percentile)
        else:
            result.amax[key] = entropy_amax(hist.numpy(), top)
    return result


__all__ = ["Calibration", "calibrate", "ALGORITHMS", "DEFAULT_ALGORITHM", "DEFAULT_PERCENTILE", "FAMILIES",
           "call_key", "channels_of", "entropy_amax", "percentile_amax", "weight_amax", "normalize_algorithm",
           "family_of", "add_operands", "ADD_OPERANDS", "WEIGHTED_FAMILIES", "ACTIVATION_FAMILIES"]


def load_dataset_dir(path: Any) -> list[list[torch.Tensor]]:
    """The calibration (or comparison) data in a folder: every `*.pt` file, in name order, read with
    `torch.load(..., weights_only=True)`; each holds one item of model inputs — a tensor (the model's one input,
    batch included) or a list/tuple of tensors (its positional inputs). Returns one argument list per file."""
    from pathlib import Path

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"calibration data folder not found: {path}")
    files = sorted(folder.glob("*.pt"))
    if not files:
        raise ValueError(f"{path} holds no *.pt files (each one: a tensor, or a list of tensors, of model inputs)")
    items = []
    for f in files:
        try:
            value = torch.load(f, weights_only=True, map_location="cpu")
        except Exception as e:  # noqa: BLE001  (any unreadable file: name it)
            raise ValueError(f"{f} is not a readable torch.save file of tensors ({type(e).__name__})") from None
        args = list(value) if isinstance(value, (list, tuple)) else [value]
        if not args or not all(isinstance(a, torch.Tensor) for a in args):
            raise ValueError(f"{f} holds {type(value).__name__}; expected a tensor or a list of tensors")
        items.append(args)
    return items
