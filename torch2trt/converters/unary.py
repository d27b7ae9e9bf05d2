"""Unary converters: one table entry per op that is exactly one UnaryOperation, plus exact compositions (rsqrt,
expm1, log1p, log2, log10, trunc, round, square, ...), and the small layer helpers other families share
(`unary`, `binary`, `select`, `spellings`, `check_dtype`). Inputs are cast to the output dtype first
(torch.exp(int) is float). It must not hold binary-op semantics (elementwise.py) nor activations."""

from __future__ import annotations

import math

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter

U = trt.UnaryOperation
E = trt.ElementWiseOperation

# dtypes TensorRT computes with plain arithmetic (int8 is a quantized type there; uint8/float64 have no arithmetic)
COMPUTABLE = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool)
REDUCED = (torch.float16, torch.bfloat16)


def spellings(name: str, functional=()) -> list:
    """torch.X, torch.X_, Tensor.X, Tensor.X_ (those that exist) plus extra objects."""
    out = [getattr(torch, n) for n in (name, name + "_") if hasattr(torch, n)]
    out += [getattr(torch.Tensor, n) for n in (name, name + "_") if hasattr(torch.Tensor, n)]
    return out + list(functional)


def check_dtype(ctx, dtype: torch.dtype) -> None:
    """Refuse a computation in a dtype TensorRT has no exact arithmetic for."""
    if dtype == torch.float64:
        raise ctx.unsupported(f"{ctx.method_name} in float64: TensorRT has no float64; run the model in float32")
    if dtype not in COMPUTABLE:
        raise ctx.unsupported(f"{ctx.method_name} on {dtype}: TensorRT has no plain {dtype} arithmetic "
                              "(int8 is quantized, uint8 has none); cast to int32 first")


def unary(ctx, itensor, op):
    layer = ctx.network.add_unary(itensor, op)
    ctx.name_layer(layer)
    return layer.get_output(0)


def binary(ctx, a, b, op, dtype=None):
    """Elementwise layer on ITensors/values; values become constants of `dtype` (default: a's)."""
    if dtype is None:
        dtype = ctx.method_return.dtype if not isinstance(a, trt.ITensor) else None
    if dtype is None:
        from ..tracing.context import torch_dtype_from_trt

        dtype = torch_dtype_from_trt(a.dtype)
    ta, tb = ctx.operands(a, b, dtype=dtype)
    layer = ctx.network.add_elementwise(ta, tb, op)
    ctx.name_layer(layer)
    return layer.get_output(0)


def select(ctx, cond, a, b):
    ta, tb = ctx.broadcast(a, b)
    tc, ta = ctx.broadcast(cond, ta)
    tc, tb = ctx.broadcast(tc, tb)
    layer = ctx.network.add_select(tc, ta, tb)
    ctx.name_layer(layer, "select")
    return layer.get_output(0)


def _input(ctx, dtype=None):
    x = ctx.get_arg("input", 0)
    dtype = dtype or ctx.method_return.dtype
    check_dtype(ctx, dtype)
    return ctx.trt(x, dtype)


def _float_input(ctx):
    """(input, compute dtype) for a composition: reduced precision is computed in float32 and rounded once at
    the end, as PyTorch computes float16/bfloat16 math in float32."""
    out = ctx.method_return
    check_dtype(ctx, out.dtype)
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    compute = torch.float32 if out.dtype in REDUCED else out.dtype
    return ctx.trt(ctx.trt(ctx.get_arg("input", 0), out.dtype), compute), compute


def _finish(ctx, itensor):
    ctx.set_output(ctx.method_return, ctx.cast(itensor, ctx.method_return.dtype))


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
        check_dtype(ctx, out.dtype)
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
    ctx.set_output(out, binary(ctx, x, x, E.AND if out.dtype == torch.bool else E.PROD, out.dtype))


@tensorrt_converter(spellings("exp2") + [torch.special.exp2])
def convert_exp2(ctx):
    x, compute = _float_input(ctx)
    _finish(ctx, binary(ctx, 2.0, x, E.POW, compute))


@tensorrt_converter(spellings("rsqrt"))
def convert_rsqrt(ctx):
    x, compute = _float_input(ctx)
    _finish(ctx, unary(ctx, unary(ctx, x, U.SQRT), U.RECIP))


def _log_base(base: float):
    def convert(ctx):
        """log(x) / log(base): within two roundings of PyTorch's (TensorRT has no LOG2/LOG10), so exact powers
        of the base may come out one ulp off an integer."""
        x, compute = _float_input(ctx)
        _finish(ctx, binary(ctx, unary(ctx, x, U.LOG), math.log(base), E.DIV, compute))

    return convert


tensorrt_converter(spellings("log2"))(_log_base(2.0))
tensorrt_converter(spellings("log10"))(_log_base(10.0))


@tensorrt_converter(spellings("log1p") + [torch.special.log1p])
def convert_log1p(ctx):
    """log1p(x) = x                      where u = 1 + x rounds to 1 (and at x = inf),
                  log(u) * (x / (u - 1))  elsewhere (Goldberg: the ratio cancels the rounding of 1 + x, so
                  small x keep full relative precision; log(1 + x) alone loses all of it)."""
    x, dt = _float_input(ctx)
    u = binary(ctx, x, 1.0, E.SUM, dt)
    d = binary(ctx, u, 1.0, E.SUB, dt)
    y = binary(ctx, unary(ctx, u, U.LOG), binary(ctx, x, d, E.DIV, dt), E.PROD, dt)
    plain = binary(ctx, binary(ctx, u, 1.0, E.EQUAL, dt), binary(ctx, u, math.inf, E.EQUAL, dt), E.OR, torch.bool)
    _finish(ctx, select(ctx, plain, x, y))


@tensorrt_converter(spellings("expm1") + [torch.special.expm1])
def convert_expm1(ctx):
    """expm1(x) = x                      where u = exp(x) rounds to 1,
                  u - 1                  where that is exact enough: u - 1 == -1 (x very negative) or u = inf,
                  x * ((u - 1) / log(u))  elsewhere (Kahan: the ratio cancels the rounding of exp; exp(x) - 1
                  alone loses all relative precision for small x)."""
    x, dt = _float_input(ctx)
    u = unary(ctx, x, U.EXP)
    d = binary(ctx, u, 1.0, E.SUB, dt)
    y = binary(ctx, x, binary(ctx, d, unary(ctx, u, U.LOG), E.DIV, dt), E.PROD, dt)
    y = select(ctx, binary(ctx, u, 1.0, E.EQUAL, dt), x, y)
    ends = binary(ctx, binary(ctx, d, -1.0, E.EQUAL, dt), binary(ctx, u, math.inf, E.EQUAL, dt), E.OR, torch.bool)
    _finish(ctx, select(ctx, ends, d, y))


@tensorrt_converter(spellings("trunc") + spellings("fix"))
def convert_trunc(ctx):
    out = ctx.method_return
    x = _input(ctx)
    if not out.dtype.is_floating_point:
        ctx.set_output(out, x)
        return
    # x < 0 ? ceil(x) : floor(x)  (keeps -0.0 and NaN as PyTorch does)
    ctx.set_output(out, select(ctx, binary(ctx, x, 0.0, E.LESS, out.dtype), unary(ctx, x, U.CEIL),
                               unary(ctx, x, U.FLOOR)))


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
            layer = ctx.network.add_elementwise(xt, xt, E.EQUAL)
            ctx.name_layer(layer)
            ctx.set_output(out, unary(ctx, layer.get_output(0), U.NOT))
            return
        ctx.set_output(out, unary(ctx, ctx.trt(x), op))

    return convert


tensorrt_converter(spellings("isnan"))(_convert_predicate(U.ISNAN))
tensorrt_converter(spellings("isinf"))(_convert_predicate(U.ISINF))


@tensorrt_converter(spellings("logical_not") + spellings("bitwise_not") + [torch.Tensor.__invert__])
def convert_logical_not(ctx):
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    if "bitwise" in ctx.method_name or "invert" in ctx.method_name:
        if x.dtype != torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on {x.dtype}: only bool (TensorRT has no bitwise ops)")
    check_dtype(ctx, out.dtype)
    y = unary(ctx, ctx.trt(x, torch.bool), U.NOT)
    ctx.set_output(out, ctx.cast(y, out.dtype))
