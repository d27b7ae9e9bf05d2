"""Unary converters: one table entry per op (UnaryOperation), plus exact compositions (rsqrt, expm1, log1p,
log2, log10, trunc, round, ...). Inputs are cast to the output dtype first (torch.exp(int) is float)."""

from __future__ import annotations

import math

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter

U = trt.UnaryOperation
E = trt.ElementWiseOperation


def spellings(name: str, functional=()) -> list:
    """torch.X, torch.X_, Tensor.X, Tensor.X_ (those that exist) plus extra objects."""
    out = [getattr(torch, n) for n in (name, name + "_") if hasattr(torch, n)]
    out += [getattr(torch.Tensor, n) for n in (name, name + "_") if hasattr(torch.Tensor, n)]
    return out + list(functional)


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
    return ctx.trt(x, dtype or ctx.method_return.dtype)


# op name -> UnaryOperation, for ops that are exactly one layer
UNARY = {
    "exp": U.EXP, "log": U.LOG, "sqrt": U.SQRT, "reciprocal": U.RECIP, "abs": U.ABS, "neg": U.NEG,
    "negative": U.NEG, "sin": U.SIN, "cos": U.COS, "tan": U.TAN, "sinh": U.SINH, "cosh": U.COSH,
    "asin": U.ASIN, "acos": U.ACOS, "atan": U.ATAN, "asinh": U.ASINH, "acosh": U.ACOSH, "atanh": U.ATANH,
    "arcsin": U.ASIN, "arccos": U.ACOS, "arctan": U.ATAN, "arcsinh": U.ASINH, "arccosh": U.ACOSH,
    "arctanh": U.ATANH, "ceil": U.CEIL, "floor": U.FLOOR, "erf": U.ERF, "sign": U.SIGN,
}
_FLOAT_ONLY = {U.EXP, U.LOG, U.SQRT, U.RECIP, U.SIN, U.COS, U.TAN, U.SINH, U.COSH, U.ASIN, U.ACOS, U.ATAN,
               U.ASINH, U.ACOSH, U.ATANH, U.ERF}


def _convert_unary(op):
    def convert(ctx):
        out = ctx.method_return
        if op in (U.CEIL, U.FLOOR) and not out.dtype.is_floating_point:  # identity on integers
            ctx.set_output(out, _input(ctx))
            return
        if op in _FLOAT_ONLY and not out.dtype.is_floating_point:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
        if op == U.SIGN and out.dtype == torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on bool")
        ctx.set_output(out, unary(ctx, _input(ctx), op))

    return convert


for _name, _op in UNARY.items():
    _extra = {"neg": [torch.Tensor.__neg__], "abs": [torch.Tensor.__abs__]}.get(_name, [])
    tensorrt_converter(spellings(_name, _extra))(_convert_unary(_op))


@tensorrt_converter(spellings("rsqrt"))
def convert_rsqrt(ctx):
    ctx.set_output(ctx.method_return, unary(ctx, unary(ctx, _input(ctx), U.SQRT), U.RECIP))


def _log_base(base: float):
    def convert(ctx):
        out = ctx.method_return
        y = unary(ctx, _input(ctx), U.LOG)
        ctx.set_output(out, binary(ctx, y, torch.tensor(math.log(base), dtype=torch.float64).to(out.dtype), E.DIV,
                                   out.dtype))

    return convert


tensorrt_converter(spellings("log2"))(_log_base(2.0))
tensorrt_converter(spellings("log10"))(_log_base(10.0))


@tensorrt_converter(spellings("log1p"))
def convert_log1p(ctx):
    """log1p(x) = x                   where u = 1 + x rounds to 1,
                  log(u) * x / (u - 1)  elsewhere (Goldberg: cancels the rounding of 1 + x exactly)."""
    out = ctx.method_return
    x = _input(ctx)
    u = binary(ctx, x, 1.0, E.SUM, out.dtype)
    um1 = binary(ctx, u, 1.0, E.SUB, out.dtype)
    ratio = binary(ctx, binary(ctx, unary(ctx, u, U.LOG), x, E.PROD, out.dtype), um1, E.DIV, out.dtype)
    is_one = binary(ctx, u, 1.0, E.EQUAL, out.dtype)
    ctx.set_output(out, select(ctx, is_one, x, ratio))


@tensorrt_converter(spellings("expm1"))
def convert_expm1(ctx):
    """expm1(x) = x where u = exp(x) rounds to 1, else (u - 1) * x / log(u) (Kahan); -1 where u - 1 == -1."""
    out = ctx.method_return
    x = _input(ctx)
    u = unary(ctx, x, U.EXP)
    um1 = binary(ctx, u, 1.0, E.SUB, out.dtype)
    ratio = binary(ctx, binary(ctx, um1, x, E.PROD, out.dtype), unary(ctx, u, U.LOG), E.DIV, out.dtype)
    ratio = select(ctx, binary(ctx, um1, -1.0, E.EQUAL, out.dtype), um1, ratio)
    ratio = select(ctx, unary(ctx, u, U.ISINF), u, ratio)
    is_one = binary(ctx, u, 1.0, E.EQUAL, out.dtype)
    ctx.set_output(out, select(ctx, is_one, x, ratio))


@tensorrt_converter(spellings("trunc") + spellings("fix"))
def convert_trunc(ctx):
    out = ctx.method_return
    x = _input(ctx)
    if not out.dtype.is_floating_point:
        ctx.set_output(out, x)
        return
    # trunc(x) = sign(x) * floor(|x|)
    ctx.set_output(out, binary(ctx, unary(ctx, x, U.SIGN), unary(ctx, unary(ctx, x, U.ABS), U.FLOOR), E.PROD,
                               out.dtype))


@tensorrt_converter(spellings("round"))
def convert_round(ctx):
    decimals = ctx.get_arg("decimals", 1, 0)
    if decimals:
        raise ctx.unsupported(f"{ctx.method_name}(decimals={decimals}): only decimals=0")
    out = ctx.method_return
    if not out.dtype.is_floating_point:
        ctx.set_output(out, _input(ctx))
        return
    ctx.set_output(out, unary(ctx, _input(ctx), U.ROUND))  # half to even, as torch.round


def _convert_predicate(op):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        if not x.dtype.is_floating_point:  # integers are never nan/inf: not (x == x)
            xt = ctx.trt(x)
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
            raise ctx.unsupported(f"{ctx.method_name} on {x.dtype}: only bool")
    y = unary(ctx, ctx.trt(x, torch.bool), U.NOT)
    ctx.set_output(out, ctx.cast(y, out.dtype))
