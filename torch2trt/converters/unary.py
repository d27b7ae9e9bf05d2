"""Unary converters: one table entry per op that is exactly one UnaryOperation, plus exact compositions (rsqrt,
expm1, log1p, log2, log10, trunc, round, square, ...). Inputs are cast to the output dtype first (torch.exp(int)
is float). It must not hold binary-op semantics (elementwise.py) nor activations; layers are built with layers.py."""

from __future__ import annotations

import math

import torch

from ..tracing.registry import spellings, tensorrt_converter
from .layers import (
    E,
    U,
    dtype_of,
    elementwise,
    float_input,
    log1p,
    require_arithmetic_dtype,
    select,
    set_output_in_result_dtype,
    trunc,
    unary,
)


def _input(ctx, dtype=None):
    x = ctx.get_arg("input", 0)
    dtype = dtype or ctx.method_return.dtype
    require_arithmetic_dtype(ctx, dtype)
    return ctx.trt(x, dtype)


def _float_input(ctx):
    """(input, compute dtype) for a composition, rounded once at the end (set_output_in_result_dtype)."""
    return float_input(ctx, ctx.get_arg("input", 0), ctx.method_return.dtype)


# op name -> UnaryOperation, for ops that are exactly one layer
UNARY = {
    "exp": U.EXP, "log": U.LOG, "sqrt": U.SQRT, "reciprocal": U.RECIP, "abs": U.ABS, "absolute": U.ABS,
    "neg": U.NEG, "negative": U.NEG, "sin": U.SIN, "cos": U.COS, "tan": U.TAN, "sinh": U.SINH, "cosh": U.COSH,
    "asin": U.ASIN, "acos": U.ACOS, "atan": U.ATAN, "asinh": U.ASINH, "acosh": U.ACOSH, "atanh": U.ATANH,
    "arcsin": U.ASIN, "arccos": U.ACOS, "arctan": U.ATAN, "arcsinh": U.ASINH, "arccosh": U.ACOSH,
    "arctanh": U.ATANH, "ceil": U.CEIL, "floor": U.FLOOR, "erf": U.ERF, "sign": U.SIGN, "sgn": U.SIGN,
}
# Tensor dunders and torch.special aliases of table ops
_EXTRA = {"neg": [torch.Tensor.__neg__], "abs": [torch.Tensor.__abs__], "erf": [torch.special.erf]}
_INTEGER_OK = {U.ABS, U.NEG, U.SIGN}            # TensorRT computes these on int32/int64 as they are
_IDENTITY_ON_INTEGERS = {U.CEIL, U.FLOOR}


def _convert_unary(op):
    def convert(ctx):
        out = ctx.method_return
        require_arithmetic_dtype(ctx, out.dtype)
        if out.dtype == torch.bool and op == U.SIGN:  # sign of a bool is the bool itself
            ctx.set_output(out, _input(ctx))
            return
        if not out.dtype.is_floating_point:
            if op in _IDENTITY_ON_INTEGERS:
                ctx.set_output(out, _input(ctx))
                return
            if op not in _INTEGER_OK or out.dtype == torch.bool:
                raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
        ctx.set_output(out, unary(ctx, _input(ctx), op))

    return convert


for _name, _op in UNARY.items():
    tensorrt_converter(spellings(_name, _EXTRA.get(_name, [])))(_convert_unary(_op))


@tensorrt_converter(spellings("positive") + [torch.Tensor.__pos__])
def convert_positive(ctx):
    ctx.set_output(ctx.method_return, _input(ctx))


@tensorrt_converter(spellings("square"))
def convert_square(ctx):
    """x * x (exact, as PyTorch's pow(x, 2))."""
    out = ctx.method_return
    x = _input(ctx)
    ctx.set_output(out, elementwise(ctx, x, x, E.AND if out.dtype == torch.bool else E.PROD, out.dtype))


@tensorrt_converter(spellings("exp2") + [torch.special.exp2])
def convert_exp2(ctx):
    x, compute = _float_input(ctx)
    set_output_in_result_dtype(ctx, elementwise(ctx, 2.0, x, E.POW, compute))


@tensorrt_converter(spellings("rsqrt"))
def convert_rsqrt(ctx):
    x, compute = _float_input(ctx)
    set_output_in_result_dtype(ctx, unary(ctx, unary(ctx, x, U.SQRT), U.RECIP))


def _log_base(base: float):
    def convert(ctx):
        """log(x) / log(base): within two roundings of PyTorch's (TensorRT has no LOG2/LOG10), so exact powers
        of the base may come out one ulp off an integer."""
        x, compute = _float_input(ctx)
        set_output_in_result_dtype(ctx, elementwise(ctx, unary(ctx, x, U.LOG), math.log(base), E.DIV, compute))

    return convert


tensorrt_converter(spellings("log2"))(_log_base(2.0))
tensorrt_converter(spellings("log10"))(_log_base(10.0))


@tensorrt_converter(spellings("log1p") + [torch.special.log1p])
def convert_log1p(ctx):
    x, dt = _float_input(ctx)
    set_output_in_result_dtype(ctx, log1p(ctx, x, dt))


@tensorrt_converter(spellings("expm1") + [torch.special.expm1])
def convert_expm1(ctx):
    """expm1(x) = x                      where u = exp(x) rounds to 1,
                  u - 1                  where that is exact enough: u - 1 == -1 (x very negative) or u = inf,
                  x * ((u - 1) / log(u))  elsewhere (Kahan: the ratio cancels the rounding of exp; exp(x) - 1
                  alone loses all relative precision for small x)."""
    x, dt = _float_input(ctx)
    u = unary(ctx, x, U.EXP)
    d = elementwise(ctx, u, 1.0, E.SUB, dt)
    y = elementwise(ctx, x, elementwise(ctx, d, unary(ctx, u, U.LOG), E.DIV, dt), E.PROD, dt)
    y = select(ctx, elementwise(ctx, u, 1.0, E.EQUAL, dt), x, y)
    ends = elementwise(ctx, elementwise(ctx, d, -1.0, E.EQUAL, dt), elementwise(ctx, u, math.inf, E.EQUAL, dt),
                       E.OR, torch.bool)
    set_output_in_result_dtype(ctx, select(ctx, ends, d, y))


@tensorrt_converter(spellings("trunc") + spellings("fix"))
def convert_trunc(ctx):
    out = ctx.method_return
    x = _input(ctx)
    if not out.dtype.is_floating_point:
        ctx.set_output(out, x)
        return
    ctx.set_output(out, trunc(ctx, x, out.dtype))


@tensorrt_converter(spellings("round") + [torch.special.round])
def convert_round(ctx):
    decimals = ctx.get_arg("decimals", 1, 0)
    if decimals:
        raise ctx.unsupported(f"{ctx.method_name}(decimals={decimals}): only decimals=0 (scaling by 10**decimals "
                              "is not exact in binary floating point)")
    out = ctx.method_return
    x = _input(ctx)
    if not out.dtype.is_floating_point:
        ctx.set_output(out, x)
        return
    ctx.set_output(out, unary(ctx, x, U.ROUND))  # half to even (Unary.html; ONNX Round maps onto it), as torch.round


def _convert_predicate(op):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        if not x.dtype.is_floating_point:  # integers and bools are never nan/inf: not (x == x)
            xt = ctx.trt(x, torch.int32 if x.dtype in (torch.bool, torch.uint8, torch.int8) else None)
            ctx.set_output(out, unary(ctx, elementwise(ctx, xt, xt, E.EQUAL), U.NOT))
            return
        ctx.set_output(out, unary(ctx, ctx.trt(x), op))

    return convert


tensorrt_converter(spellings("isnan"))(_convert_predicate(U.ISNAN))
tensorrt_converter(spellings("isinf"))(_convert_predicate(U.ISINF))


def _equals(value):
    def test(ctx, x):
        return elementwise(ctx, x, value, E.EQUAL, dtype_of(x))

    return test


def _finite(ctx, x):
    return unary(ctx, elementwise(ctx, unary(ctx, x, U.ISNAN), unary(ctx, x, U.ISINF), E.OR, torch.bool), U.NOT)


# predicate -> (its value on integers and bools, its test on floats)
_FINITENESS = {"isfinite": (True, _finite), "isposinf": (False, _equals(math.inf)),
               "isneginf": (False, _equals(-math.inf))}


def _convert_finiteness(on_integers, test):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        if not x.dtype.is_floating_point:   # integers and bools are always finite: x == x, or not that
            xt = ctx.trt(x, torch.int32 if x.dtype in (torch.bool, torch.uint8, torch.int8) else None)
            same = elementwise(ctx, xt, xt, E.EQUAL)
            ctx.set_output(ctx.method_return, same if on_integers else unary(ctx, same, U.NOT))
            return
        ctx.set_output(ctx.method_return, test(ctx, ctx.trt(x)))

    return convert


for _name, (_ints, _test) in _FINITENESS.items():
    tensorrt_converter(spellings(_name))(_convert_finiteness(_ints, _test))


@tensorrt_converter(spellings("nan_to_num"))
def convert_nan_to_num(ctx):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest and smallest), each rounded to the
    dtype; integers and bools are unchanged."""
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    if not out.dtype.is_floating_point:
        ctx.set_output(out, ctx.trt(x))
        return
    info = torch.finfo(out.dtype)
    nan, pos, neg = (ctx.get_arg(k, i, None) for k, i in (("nan", 1), ("posinf", 2), ("neginf", 3)))
    xt = ctx.trt(x)
    y = select(ctx, unary(ctx, xt, U.ISNAN), ctx.trt(0.0 if nan is None else nan, out.dtype), xt)
    y = select(ctx, _equals(math.inf)(ctx, xt), ctx.trt(info.max if pos is None else pos, out.dtype), y)
    neg = ctx.trt(info.min if neg is None else neg, out.dtype)
    ctx.set_output(out, select(ctx, _equals(-math.inf)(ctx, xt), neg, y))


@tensorrt_converter(spellings("frac"))
def convert_frac(ctx):
    """x - trunc(x) (exact in every float dtype; inf gives NaN, as PyTorch's)."""
    out = ctx.method_return
    x = ctx.trt(ctx.get_arg("input", 0), out.dtype)
    require_arithmetic_dtype(ctx, out.dtype)
    ctx.set_output(out, elementwise(ctx, x, trunc(ctx, x, out.dtype), E.SUB, out.dtype))


def _angle(factor: float):
    def convert(ctx):
        """x * factor: PyTorch multiplies by the constant as a scalar (float32, rounded once; integers promote)."""
        x, dt = _float_input(ctx)
        set_output_in_result_dtype(ctx, elementwise(ctx, x, factor, E.PROD, dt))

    return convert


tensorrt_converter(spellings("deg2rad"))(_angle(math.pi / 180))
tensorrt_converter(spellings("rad2deg"))(_angle(180 / math.pi))


@tensorrt_converter(spellings("logit") + [torch.special.logit])
def convert_logit(ctx):
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] (both in the dtype) when eps is given; NaN stays NaN."""
    out = ctx.method_return
    eps = ctx.get_arg("eps", 1, None)
    x = ctx.trt(ctx.get_arg("input", 0), out.dtype)
    if eps is not None:
        lo = float(torch.tensor(eps, dtype=out.dtype))
        hi = float(1 - torch.tensor(lo, dtype=out.dtype))
        x = select(ctx, elementwise(ctx, x, lo, E.LESS, out.dtype), ctx.trt(lo, out.dtype),
                   select(ctx, elementwise(ctx, x, hi, E.GREATER, out.dtype), ctx.trt(hi, out.dtype), x))
    x, dt = float_input(ctx, x, out.dtype)
    set_output_in_result_dtype(ctx, unary(ctx, elementwise(ctx, x, elementwise(ctx, 1.0, x, E.SUB, dt), E.DIV, dt),
                                          U.LOG))


@tensorrt_converter(spellings("sinc") + [torch.special.sinc])
def convert_sinc(ctx):
    """x == 0 ? 1 : sin(pi x) / (pi x), the product in float32 (PyTorch's opmath)."""
    x, dt = _float_input(ctx)
    product = elementwise(ctx, x, math.pi, E.PROD, dt)
    y = elementwise(ctx, unary(ctx, product, U.SIN), product, E.DIV, dt)
    set_output_in_result_dtype(ctx, select(ctx, elementwise(ctx, x, 0.0, E.EQUAL, dt), ctx.trt(1.0, dt), y))


@tensorrt_converter(spellings("logical_not") + spellings("bitwise_not") + [torch.Tensor.__invert__])
def convert_logical_not(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    if "bitwise" in ctx.method_name or "invert" in ctx.method_name:
        if x.dtype != torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on {x.dtype}: only bool (TensorRT has no bitwise ops)")
    require_arithmetic_dtype(ctx, out.dtype)
    y = unary(ctx, ctx.trt(x, torch.bool), U.NOT)
    ctx.set_output(out, ctx.cast(y, out.dtype))
