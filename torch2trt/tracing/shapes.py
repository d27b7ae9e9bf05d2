"""Dynamic dimensions: `x.size(0)`, `x.shape[-1] // 2`, ... on a tensor whose network shape has -1 dims
return `DynDim`s — ints (the sample's value, so the real ops run) that also carry the network's
computation of that value (a 1-element int64 shape tensor). Arithmetic on them adds int64 layers;
converters turn sequences of them into shape tensors with `ConversionContext.shape_tensor`.

Owns only shape values; which converters accept them is each converter's business.
"""

from __future__ import annotations

import operator
from typing import Any, Sequence

import torch

from ..backend import trt

E = trt.ElementWiseOperation

# Python operator -> (ElementWiseOperation, reflected?)
_ARITH = {
    "__add__": (operator.add, E.SUM, False), "__radd__": (operator.add, E.SUM, True),
    "__sub__": (operator.sub, E.SUB, False), "__rsub__": (operator.sub, E.SUB, True),
    "__mul__": (operator.mul, E.PROD, False), "__rmul__": (operator.mul, E.PROD, True),
    "__floordiv__": (operator.floordiv, E.FLOOR_DIV, False),
    "__rfloordiv__": (operator.floordiv, E.FLOOR_DIV, True),
    "__mod__": (operator.mod, None, False), "__rmod__": (operator.mod, None, True),
}


class DynDim(int):
    """An int that is also a network value (`_trt`: 1-d int64 ITensor of one element). The layers that
    compute it are added only when something uses `_trt`, so shape queries nobody uses cost nothing."""

    def __new__(cls, value: int, make, ctx, key: Any = None, bounds: tuple[int, int] | None = None,
                expr: tuple | None = None):
        self = super().__new__(cls, int(value))
        self._make = make      # () -> ITensor
        self._itensor = None
        self._ctx = ctx
        self._key = key        # identifies a dimension read from a tensor (equal keys: same value always)
        self._touched = False  # set when a converter reads the network value (see tracing/mode.py)
        self._bounds = bounds  # (lo, hi) over the whole profile, when known (dims of network inputs and arithmetic)
        self._expr = expr      # how to compute it from tensor shapes: ("dim", itensor, axis) | ("op", pyop, a, b)
        return self

    @property
    def _trt(self):
        self._touched = True
        if self._itensor is None:
            self._itensor = self._make()
        return self._itensor

    def __repr__(self) -> str:
        return f"DynDim({int(self)})"

    __hash__ = int.__hash__

    def __neg__(self):
        return _arith(self._ctx, 0, self, operator.sub, E.SUB)

    def __pos__(self):
        return self

    def __truediv__(self, other):
        self._ctx.report_frozen(f"dynamic dimension {int(self)} divided with '/' (a float)")
        return int(self) / other

    def __rtruediv__(self, other):
        self._ctx.report_frozen(f"'/' by dynamic dimension {int(self)} (a float)")
        return other / int(self)

    # comparisons decide Python control flow: accepted when their outcome is the same at every shape of the
    # profile (decided from the bounds), reported otherwise
    def _compare(self, other, op):
        if isinstance(other, DynDim) and self._key is not None and other._key == self._key:
            return op(int(self), int(other))
        result = op(int(self), int(other) if isinstance(other, int) else other)
        a, b = self._bounds, bounds_of(other)
        if a is not None and b is not None and _constant_over(op, a, b):
            return result
        if getattr(self._ctx, "_converting", False):   # a converter's own check, not user control flow
            return result
        # not decided by the inputs' bounds: evaluate both sides at every shape of the profile
        rows = over_profile(self._ctx, [self, other])
        facts = [f"range {a[0]}..{a[1]} in the profile"] if a is not None else []
        if rows is not None:
            flips = [point for point, (x, y) in rows if op(x, y) != result]
            if not flips:
                return result
            facts.append(f"{result} at the sample, {not result} at {self._ctx.profile_evaluator().describe(flips[0])}")
            verdict = "is not the same at every shape of the profile"
        else:
            evaluator = self._ctx.profile_evaluator()
            why = evaluator.why_not() if evaluator is not None else None
            verdict = ("could not be decided over the profile" + (f": {why}" if why else "")
                       + "; it may differ between shapes")
        where = f" ({'; '.join(facts)})" if facts else ""
        self._ctx.report_frozen(f"comparison {op.__name__} on dynamic dimension {int(self)}{where} {verdict} "
                                "(control flow that depends on it would be frozen at the sample)")
        return result

    def __eq__(self, other):
        return self._compare(other, operator.eq) if isinstance(other, (int, float)) else NotImplemented

    def __ne__(self, other):
        return self._compare(other, operator.ne) if isinstance(other, (int, float)) else NotImplemented

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)


def _make_arith(name: str):
    pyop, op, reflected = _ARITH[name]

    def method(self, other):
        if isinstance(other, bool) or not isinstance(other, int):
            if isinstance(other, float):
                self._ctx.report_frozen(f"dynamic dimension {int(self)} in float arithmetic")
                return pyop(other, int(self)) if reflected else pyop(int(self), other)
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        return _arith(self._ctx, a, b, pyop, op)

    method.__name__ = name
    return method


for _name in _ARITH:
    setattr(DynDim, _name, _make_arith(_name))


def bounds_of(value: Any) -> tuple[int, int] | None:
    """(lo, hi) of an int (itself) or DynDim over the profile, or None when unknown."""
    if isinstance(value, DynDim):
        return value._bounds
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return None


def _constant_over(op, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True when `op(x, y)` has one value for every x in a and y in b."""
    lo, hi = a[0] - b[1], a[1] - b[0]   # range of x - y
    if op in (operator.lt, operator.ge):
        return hi < 0 or lo >= 0
    if op in (operator.le, operator.gt):
        return hi <= 0 or lo > 0
    if op in (operator.eq, operator.ne):
        return lo == hi or hi < 0 or lo > 0
    return False


def _arith_bounds(pyop, a: Any, b: Any) -> tuple[int, int] | None:
    """Interval arithmetic for the size operators (sizes are >= 0; conservative where unsure)."""
    ba, bb = bounds_of(a), bounds_of(b)
    if ba is None or bb is None:
        return None
    if pyop in (operator.add, operator.sub, operator.mul):
        values = [pyop(x, y) for x in ba for y in bb]
        return (min(values), max(values))
    if pyop is operator.floordiv and bb[0] > 0:
        values = [x // y for x in ba for y in bb]
        return (min(values), max(values))
    if pyop is operator.mod and bb[0] > 0 and ba[0] >= 0:
        return (0, bb[1] - 1) if ba != (ba[0], ba[0]) or bb[0] != bb[1] else (ba[0] % bb[0],) * 2
    return None


def _arith(ctx, a: int, b: int, pyop, op) -> DynDim:
    return DynDim(pyop(int(a), int(b)), lambda: _arith_layers(ctx, a, b, pyop, op), ctx,
                  bounds=_arith_bounds(pyop, a, b), expr=("op", pyop, a, b))


class _Unknown(Exception):
    pass


def _expr_tensors(v: Any, out: list) -> None:
    if isinstance(v, DynDim):
        if v._expr is None:
            raise _Unknown
        if v._expr[0] == "dim":
            out.append(v._expr[1])
        else:
            _expr_tensors(v._expr[2], out)
            _expr_tensors(v._expr[3], out)
    elif not isinstance(v, (int, float)):
        raise _Unknown


def _value_at(v: Any, shape_of) -> Any:
    if not isinstance(v, DynDim):
        return v
    if v._expr[0] == "dim":
        return shape_of(v._expr[1])[v._expr[2]]
    return v._expr[1](_value_at(v._expr[2], shape_of), _value_at(v._expr[3], shape_of))


def over_profile(ctx, values: Sequence[Any]) -> list[tuple[tuple, list]] | None:
    """[(profile point, the values at it)] for every shape of the profile the engine accepts (the sample's first),
    computed from the network's shapes (network/profile_eval.py); None when that cannot be done."""
    tensors: list = []
    try:
        for v in values:
            _expr_tensors(v, tensors)
    except _Unknown:
        return None
    evaluator = ctx.profile_evaluator()
    rows = evaluator.shapes(tensors) if evaluator is not None else None
    if rows is None:
        return None
    out = []
    for point, shapes in rows:
        table = dict(zip(map(id, tensors), shapes))
        try:
            out.append((point, [_value_at(v, lambda t, table=table: table[id(t)]) for v in values]))
        except ZeroDivisionError:
            return None
    return out


def _arith_layers(ctx, a: int, b: int, pyop, op):
    ta, tb = ctx.dim_value(a), ctx.dim_value(b)
    if op is None:  # a % b == a - (a // b) * b for the non-negative sizes shapes hold
        q = ctx.network.add_elementwise(ta, tb, E.FLOOR_DIV)
        ctx.name_layer(q, "dim_floordiv")
        p = ctx.network.add_elementwise(q.get_output(0), tb, E.PROD)
        ctx.name_layer(p, "dim_mul")
        layer = ctx.network.add_elementwise(ta, p.get_output(0), E.SUB)
    else:
        layer = ctx.network.add_elementwise(ta, tb, op)
    ctx.name_layer(layer, "dim_" + pyop.__name__)
    return layer.get_output(0)


def is_dynamic(values: Any) -> bool:
    """True if `values` (an int, or a sequence of ints) holds a DynDim."""
    if isinstance(values, DynDim):
        return True
    return isinstance(values, (list, tuple)) and any(isinstance(v, DynDim) for v in values)


def dims_of(ctx, tensor: torch.Tensor, itensor) -> torch.Size:
    """tensor.shape with a DynDim for each dimension that is -1 in the network."""
    dims = tuple(int(d) for d in itensor.shape)
    if -1 not in dims:
        return tensor.shape
    bounds = ctx.input_dim_bounds(itensor)
    return torch.Size([DynDim(s, lambda i=i: ctx.dim_tensor(itensor, i), ctx, ("dim", id(itensor), i),
                              bounds=bounds[i] if bounds else None, expr=("dim", itensor, i))
                       if d == -1 else s for i, (s, d) in enumerate(zip(tensor.shape, dims))])


def shape_values(sizes: Sequence[int]) -> list[int]:
    return [int(s) for s in sizes]
