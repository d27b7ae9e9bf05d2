"""Sizes over a whole profile: the shapes a network under construction gives its tensors at every integer input
shape of an optimization profile, computed by the reference executor's layer semantics with data on PyTorch's
`meta` device (shapes only, no memory, no arithmetic) and shape tensors computed for real.

It decides Python control flow on sizes of intermediate tensors exactly — `if h.shape[0] >= 64` with batch 1..8 is
the same branch at every shape of the profile — where interval bounds of the network inputs alone cannot:

    ev = ProfileEvaluator(network, {"x": ((1, 3, 8, 8), (8, 3, 8, 8))}, samples={"x": (2, 3, 8, 8)})
    shapes = ev.shapes([itensor])      # one tuple per profile point where the network runs, or None (cannot tell)

Exhaustive, hence sound: every point of the box [min, max] of every dynamic input dimension is evaluated (at most
`MAX_POINTS`; beyond that, and for loops, conditionals or layers the executor cannot compute without data, the
answer is None and callers refuse as before). A point at which a layer fails (a broadcast or reshape mismatch, a
failed assertion) while the same layer succeeds at the sample is a shape the engine rejects at run time; it is
dropped, as no run of the engine takes a branch there. The network is read and evaluated incrementally: each call
computes only the layers added since the last one.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import torch

from . import _ref_loop
from ._ref_common import Ctx
from .inspect import _read_layer, _TensorIds, torch_dtype
from .reference import HANDLERS

MAX_POINTS = 4096        # profile points evaluated at most (the product of the dynamic dims' ranges)
MAX_RUNS = 300_000       # layer evaluations at most (distinct input shapes per layer, summed): ~30 us each here
_REAL_ELEMENTS = 64      # tensors up to this size are computed (shape tensors); larger ones carry only a shape
_UNSUPPORTED = set(_ref_loop.BOUNDARY) | {"CONDITION", "CONDITIONAL_INPUT", "CONDITIONAL_OUTPUT", "NON_ZERO",
                                          "PLUGIN", "PLUGIN_V2", "PLUGIN_V3"}


# layers whose output has the (TensorRT-broadcast) shape of their first n inputs: computed from shapes directly
_SAME_SHAPE = {"ACTIVATION": 1, "UNARY": 1, "SOFTMAX": 1, "IDENTITY": 1, "CAST": 1, "NORMALIZATION": 1,
               "ELEMENTWISE": 2, "SELECT": 3, "PARAMETRIC_RELU": 2}


def _broadcast(rec, values: list) -> tuple:
    """TensorRT's broadcast (ElementWise.html: equal ranks; per axis equal sizes or one of them 1)."""
    shapes = [tuple(v) if isinstance(v, _Shape) else tuple(v.shape) for v in values]
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(f"{rec.type} layer {rec.name!r}: inputs of ranks {[len(s) for s in shapes]}")
    out = []
    for dims in zip(*shapes):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"{rec.type} layer {rec.name!r}: shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class _Budget(Exception):
    pass


def _indexed_shape(rec, values: list) -> tuple:
    """Output shape of a GATHER / SCATTER of data or with data indices (Gather.html, Scatter.html): the values are
    not computed, and out-of-range indices (which the engine rejects) are not checked — that keeps more shapes,
    never fewer, in the answer."""
    x, idx = (tuple(v) if isinstance(v, _Shape) else tuple(v.shape) for v in values[:2])
    a = rec.attrs
    mode = a.get("mode", "DEFAULT")
    if rec.type == "SCATTER":
        return x
    if mode == "ELEMENT":
        return idx
    if mode == "DEFAULT" and a.get("num_elementwise_dims", 0) == 0:
        axis = a.get("axis", 0)
        return x[:axis] + idx + x[axis + 1:]
    raise ValueError(f"GATHER mode {mode} with data indices is not evaluated on shapes")


class _Shape(tuple):
    """A large tensor's stand-in: its shape (the tuple) and dtype."""

    def __new__(cls, shape, dtype):
        self = super().__new__(cls, shape)
        self.dtype = dtype
        return self


class _MetaCtx(Ctx):
    __slots__ = ("meta",)

    def weight(self, layer, key, *, storage=None):
        w = layer.weights.get(key)
        if w is not None and w.is_meta:           # large weights are read as shapes only (not copied)
            return w.to(storage if storage is not None else (self.float_dtype if w.is_floating_point() else w.dtype))
        w = super().weight(layer, key, storage=storage)
        return w.to("meta") if w is not None and self.meta else w


class ProfileEvaluator:
    def __init__(self, network: Any, boxes: Mapping[str, tuple[Sequence[int], Sequence[int]]],
                 samples: Mapping[str, Sequence[int]], owned=None, max_points: int | None = None,
                 max_runs: int | None = None):
        max_points = MAX_POINTS if max_points is None else max_points
        max_runs = MAX_RUNS if max_runs is None else max_runs
        self._network = network
        self._owned = owned or (lambda: {})
        self._ids = _TensorIds()
        self._read = 0                              # network layers read and evaluated so far
        self._runs, self._max_runs = 0, max_runs
        self._dead: str | None = None               # why no answer can be given (permanent)
        self._ctx = _MetaCtx(torch.float32, False, {}, None)
        self._ctx.meta = False
        self._pending: list = []                    # read, waiting for an input
        self._known: set = set()                    # tensor ids computed at every live point
        self._meta: dict = {}                       # (shape, dtype) -> a meta tensor of it
        names, ranges, sample = [], [], []
        self._inputs = []
        for i in range(network.num_inputs):
            t = network.get_input(i)
            tid = self._ids(t)
            dims = tuple(int(d) for d in t.shape)
            lo, hi = boxes.get(t.name, (dims, dims))
            self._inputs.append((tid, torch_dtype(t.dtype), dims))
            self._known.add(tid)
            for axis, d in enumerate(dims):
                if d == -1:
                    names.append((tid, axis))
                    ranges.append(range(int(lo[axis]), int(hi[axis]) + 1))
                    sample.append(int(samples[t.name][axis]))
        self.dynamic = names                         # (input id, axis) of each dynamic dim, in point order
        count = math.prod(len(r) for r in ranges)
        if count > max_points:
            self._dead = f"the profile has {count} shapes (more than {max_points} are not enumerated)"
            self.points = []
        else:
            points = [tuple(sample)] + [p for p in itertools.product(*ranges) if p != tuple(sample)]
            self.points = points
        self._envs: list[dict | None] = [self._input_env(p) for p in self.points]

    def _input_env(self, point: tuple) -> dict:
        env, k = {}, 0
        for tid, dtype, dims in self._inputs:
            shape = []
            for d in dims:
                if d == -1:
                    shape.append(point[k])
                    k += 1
                else:
                    shape.append(d)
            env[tid] = _Shape(shape, dtype)
        return env

    # ---- evaluation -------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        n = self._network.num_layers
        if self._dead is not None or n == self._read:
            return
        owned = self._owned()
        for i in range(self._read, n):
            rec = _read_layer(self._network.get_layer(i), self._ids, owned, meta_above=_REAL_ELEMENTS)
            self._pending.append(rec)
        self._read = n
        # layers may take inputs produced by layers added after them (set_input): run in dependency order
        progress = True
        while progress and self._dead is None:
            progress = False
            waiting = []
            for rec in self._pending:
                if any(t is not None and t not in self._known for t in rec.inputs):
                    waiting.append(rec)
                    continue
                progress = True
                self._evaluate(rec)
                if self._dead is not None:
                    return
            self._pending = waiting

    def _evaluate(self, rec) -> None:
        if rec.type in _UNSUPPORTED or rec.type not in HANDLERS:
            self._dead = f"layer {rec.name!r} ({rec.type}) is not evaluated over the profile"
            return
        memo: dict = {}                          # input signature -> outputs (or the failure): most points share one
        for k, env in enumerate(self._envs):
            if env is None:
                continue
            ins = [None if t is None else env[t] for t in rec.inputs]
            key = tuple(_signature(v) for v in ins)
            hit = memo.get(key)
            if hit is None:
                try:
                    hit = memo[key] = self._run(rec, ins)
                except Exception as e:  # noqa: BLE001 - any failure: at the sample it means "cannot tell"
                    hit = memo[key] = e
            if isinstance(hit, _Budget):
                self._dead = str(hit)
                return
            if isinstance(hit, Exception):
                if k == 0:
                    self._dead = f"layer {rec.name!r} ({rec.type}) cannot be evaluated on shapes alone ({hit})"
                    return
                self._envs[k] = None             # the engine rejects this shape (it fails where the sample runs)
                continue
            env.update(zip(rec.outputs, hit))
        self._known.update(rec.outputs)

    def _run(self, rec, values: list) -> list:
        if rec.type in _SAME_SHAPE and any(isinstance(v, _Shape) for v in values):
            return [_Shape(_broadcast(rec, [v for v in values[:_SAME_SHAPE[rec.type]] if v is not None]),
                           rec.output_dtypes[0])]
        if rec.type in ("GATHER", "SCATTER") and any(isinstance(v, _Shape) for v in values[:2]):
            return [_Shape(_indexed_shape(rec, values), rec.output_dtypes[0])]   # indices are data: shapes only
        self._runs += 1
        if self._runs > self._max_runs:
            raise _Budget(f"evaluating the profile's {len(self.points)} shapes takes more than {self._max_runs} "
                          "layer evaluations")
        ctx = self._ctx
        ins = [None if v is None else self._value(v) for v in values]
        meta = any(x is not None and x.is_meta for x in ins)
        try:
            ctx.meta = meta
            outs = HANDLERS[rec.type](rec, [None if x is None else ctx.compute(x) for x in ins], ctx)
        except RuntimeError:
            if not meta:
                raise
            # mixed devices: compute everything on meta (a handler that must read a value then fails)
            ins = [None if x is None else x.to("meta") for x in ins]
            with torch.device("meta"):
                outs = HANDLERS[rec.type](rec, [None if x is None else ctx.compute(x) for x in ins], ctx)
        finally:
            ctx.meta = False
        result = []
        for out, dt, declared in zip(outs, rec.output_dtypes, rec.output_shapes):
            shape = tuple(out.shape)
            if len(shape) != len(declared) or any(d >= 0 and d != g for g, d in zip(shape, declared)):
                raise ValueError(f"output shape {shape}, declared {declared}")
            if out.is_meta or out.numel() > _REAL_ELEMENTS:
                result.append(_Shape(shape, dt))
            else:
                result.append(out.to(dt))
        return result

    def _value(self, v: Any) -> torch.Tensor:
        if not isinstance(v, _Shape):
            return v
        key = (v, v.dtype)
        t = self._meta.get(key)
        if t is None:       # one meta tensor per shape: handlers only read them (meta tensors hold no data)
            t = self._meta[key] = torch.empty(tuple(v), dtype=v.dtype, device="meta")
        return t

    # ---- answers ----------------------------------------------------------------------------------------------
    def why_not(self) -> str | None:
        """Why `shapes` answers None (after a call), or None when it answers."""
        return self._dead

    def shapes(self, itensors: Sequence[Any]) -> list[tuple[tuple, list[tuple]]] | None:
        """For every profile point the engine accepts: (point, [shape of each tensor]); the sample's point first.
        None when the network cannot be evaluated over the profile."""
        with torch._C.DisableTorchFunction():   # called while tracing: these torch calls are not the model's
            self._refresh()
        if self._dead is not None:
            return None
        ids = [self._ids(t) for t in itensors]
        out = []
        for point, env in zip(self.points, self._envs):
            if env is None:
                continue
            if any(i not in env for i in ids):
                return None
            out.append((point, [tuple(env[i]) if isinstance(env[i], _Shape) else tuple(env[i].shape) for i in ids]))
        return out

    def describe(self, point: tuple) -> str:
        """`x` dim 0 = 4, ... for a point."""
        names = {tid: tid for tid, _, _ in self._inputs}
        return ", ".join(f"{names[tid]!r} dim {axis} = {v}" for (tid, axis), v in zip(self.dynamic, point))


def _signature(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, _Shape):
        return (v, v.dtype)
    return (tuple(v.shape), v.dtype, tuple(v.reshape(-1).tolist()))
