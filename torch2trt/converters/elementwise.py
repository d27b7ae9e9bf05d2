"""Binary and ternary elementwise converters. Operands are cast to PyTorch's result dtype (read from the real
output, or torch.result_type for comparisons) and broadcast to one rank."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter
from .unary import U, binary, select, spellings, unary

E = trt.ElementWiseOperation


def elementwise(ctx, a, b, op, dtype: torch.dtype):
    """One elementwise layer on `a` and `b` (traced tensors, ITensors, tensors or numbers) in `dtype`."""
    return binary(ctx, a, b, op, dtype)


def _operands(ctx):
    a = ctx.get_arg("input", 0)
    b = ctx.get_arg("other", 1)
    if ctx.method_name.endswith(("__rsub__", "__rtruediv__", "__rdiv__", "__rpow__", "__rfloordiv__",
                                 "__rmod__")):
        a, b = b, a
    return a, b


def _scaled(ctx, b, dtype):
    alpha = ctx.get_arg("alpha", 2, 1)
    return b if alpha == 1 else elementwise(ctx, b, alpha, E.PROD, dtype)


@tensorrt_converter(spellings("add") + [torch.Tensor.__add__, torch.Tensor.__iadd__, torch.Tensor.__radd__])
def convert_add(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    if out.dtype == torch.bool:
        ctx.set_output(out, elementwise(ctx, a, b, E.OR, torch.bool))
        return
    ctx.set_output(out, elementwise(ctx, a, _scaled(ctx, b, out.dtype), E.SUM, out.dtype))


@tensorrt_converter(spellings("sub") + spellings("subtract") + [torch.Tensor.__sub__, torch.Tensor.__isub__,
                                                                 torch.Tensor.__rsub__, torch.rsub])
def convert_sub(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    if ctx.method_name == "torch.rsub":
        a, b = b, a
    ctx.set_output(out, elementwise(ctx, a, _scaled(ctx, b, out.dtype), E.SUB, out.dtype))


@tensorrt_converter(spellings("mul") + spellings("multiply") + [torch.Tensor.__mul__, torch.Tensor.__imul__,
                                                                 torch.Tensor.__rmul__])
def convert_mul(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    op = E.AND if out.dtype == torch.bool else E.PROD
    ctx.set_output(out, elementwise(ctx, a, b, op, out.dtype))


def _trunc(ctx, x, dtype):
    return binary(ctx, unary(ctx, x, U.SIGN), unary(ctx, unary(ctx, x, U.ABS), U.FLOOR), E.PROD, dtype)


@tensorrt_converter(spellings("div") + spellings("divide") + spellings("true_divide")
                    + [torch.Tensor.__truediv__, torch.Tensor.__itruediv__, torch.Tensor.__rtruediv__,
                       torch.Tensor.__rdiv__])
def convert_div(ctx):
    a, b = _operands(ctx)
    mode = ctx.method_kwargs.get("rounding_mode")
    out = ctx.method_return
    if mode is None:
        ctx.set_output(out, elementwise(ctx, a, b, E.DIV, out.dtype))
    elif mode == "floor":
        ctx.set_output(out, _floor_div(ctx, a, b, out.dtype))
    elif mode == "trunc":
        if out.dtype.is_floating_point:
            ctx.set_output(out, _trunc(ctx, elementwise(ctx, a, b, E.DIV, out.dtype), out.dtype))
        else:  # a - b * trunc(a / b) is not needed: trunc division of integers
            q = _floor_div(ctx, a, b, out.dtype)
            r = elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, out.dtype), E.SUB, out.dtype)
            # floor and trunc differ (by one) where the remainder is non-zero and the signs differ
            neg = elementwise(ctx, elementwise(ctx, a, 0, E.LESS, out.dtype), elementwise(ctx, b, 0, E.LESS, out.dtype),
                              E.XOR, torch.bool)
            nz = unary(ctx, elementwise(ctx, r, 0, E.EQUAL, out.dtype), U.NOT)
            fix = elementwise(ctx, neg, nz, E.AND, torch.bool)
            ctx.set_output(out, select(ctx, fix, elementwise(ctx, q, 1, E.SUM, out.dtype), q))
    else:
        raise ctx.unsupported(f"{ctx.method_name}(rounding_mode={mode!r})")


def _floor_div(ctx, a, b, dtype):
    if dtype.is_floating_point:  # PyTorch: floor(a / b)
        return unary(ctx, elementwise(ctx, a, b, E.DIV, dtype), U.FLOOR)
    return elementwise(ctx, a, b, E.FLOOR_DIV, dtype)


@tensorrt_converter(spellings("floor_divide") + [torch.Tensor.__floordiv__, torch.Tensor.__ifloordiv__,
                                                  torch.Tensor.__rfloordiv__])
def convert_floor_divide(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    ctx.set_output(out, _floor_div(ctx, a, b, out.dtype))


@tensorrt_converter(spellings("remainder") + [torch.Tensor.__mod__, torch.Tensor.__imod__, torch.Tensor.__rmod__])
def convert_remainder(ctx):
    """a - b * floor(a / b): the result has the sign of b, as in PyTorch (and Python)."""
    a, b = _operands(ctx)
    out = ctx.method_return
    if out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT has no exact floating-point modulo")
    q = elementwise(ctx, a, b, E.FLOOR_DIV, out.dtype)
    ctx.set_output(out, elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, out.dtype), E.SUB, out.dtype))


@tensorrt_converter(spellings("pow") + [torch.Tensor.__pow__, torch.Tensor.__ipow__, torch.Tensor.__rpow__,
                                        torch.float_power])
def convert_pow(ctx):
    a = ctx.get_arg("input", 0)
    b = ctx.get_arg("exponent", 1)
    if ctx.method_name.endswith("__rpow__"):
        a, b = b, a
    out = ctx.method_return
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: integer powers are not supported")
    if isinstance(b, (int, float)) and b == 2:  # x * x is exact, as PyTorch's square
        ctx.set_output(out, elementwise(ctx, a, a, E.PROD, out.dtype))
        return
    ctx.set_output(out, elementwise(ctx, a, b, E.POW, out.dtype))


# ---- comparisons: bool results; operands in torch.result_type ------------------------------------------
def _common(ctx, a, b):
    return torch.result_type(a, b)


def _compare(ctx, a, b, ops):
    dtype = _common(ctx, a, b)
    if dtype == torch.bool:  # TensorRT compares numbers: bools as int32
        dtype = torch.int32
    results = [elementwise(ctx, a, b, op, dtype) for op in ops]
    y = results[0]
    for r in results[1:]:
        layer = ctx.network.add_elementwise(y, r, E.OR)
        ctx.name_layer(layer)
        y = layer.get_output(0)
    return y


_COMPARISONS = {
    "eq": ((E.EQUAL,), False), "ne": ((E.EQUAL,), True), "lt": ((E.LESS,), False), "gt": ((E.GREATER,), False),
    "le": ((E.LESS, E.EQUAL), False), "ge": ((E.GREATER, E.EQUAL), False),
}
_ALIASES = {"ne": ["not_equal"], "lt": ["less"], "gt": ["greater"], "le": ["less_equal"], "ge": ["greater_equal"]}


def _convert_compare(ops, negate):
    def convert(ctx):
        a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
        y = _compare(ctx, a, b, ops)
        if negate:
            y = unary(ctx, y, U.NOT)
        ctx.set_output(ctx.method_return, y)

    return convert


for _name, (_ops, _neg) in _COMPARISONS.items():
    _targets = spellings(_name) + [getattr(torch.Tensor, f"__{_name}__")]
    for _alias in _ALIASES.get(_name, []):
        _targets += spellings(_alias)
    tensorrt_converter(_targets)(_convert_compare(_ops, _neg))


# ---- logical and bitwise (bool) -------------------------------------------------------------------------
_LOGICAL = {"and": E.AND, "or": E.OR, "xor": E.XOR}


def _convert_logical(op, bitwise: bool):
    def convert(ctx):
        a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
        out = ctx.method_return
        if bitwise and out.dtype != torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: only bool (TensorRT has no bitwise ops)")
        y = elementwise(ctx, a, b, op, torch.bool)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


for _name, _op in _LOGICAL.items():
    tensorrt_converter(spellings(f"logical_{_name}"))(_convert_logical(_op, False))
    tensorrt_converter(spellings(f"bitwise_{_name}") + [getattr(torch.Tensor, f"__{_name}__"),
                                                        getattr(torch.Tensor, f"__i{_name}__"),
                                                        getattr(torch.Tensor, f"__r{_name}__")])(
        _convert_logical(_op, True))


# ---- where, clamp, minimum/maximum, lerp, addcmul/addcdiv ----------------------------------------------
@tensorrt_converter(spellings("where"))
def convert_where(ctx):
    cond = ctx.get_arg("condition", 0)
    if len(ctx.method_args) + len(ctx.method_kwargs) < 3:
        raise ctx.unsupported("torch.where(condition) with one argument: data-dependent output shape")
    a, b = ctx.get_arg("input", 1), ctx.get_arg("other", 2)
    out = ctx.method_return
    rank = out.dim()
    c = ctx.trt(cond, torch.bool, rank)
    ta, tb = ctx.trt(a, out.dtype, rank), ctx.trt(b, out.dtype, rank)
    ctx.set_output(out, select(ctx, c, ta, tb))


@tensorrt_converter(spellings("clamp") + spellings("clip") + spellings("clamp_min") + spellings("clamp_max"))
def convert_clamp(ctx):
    out = ctx.method_return
    name = ctx.method_name
    lo = ctx.get_arg("min", 1, None) if not name.endswith(("clamp_max", "clamp_max_")) else None
    hi = ctx.get_arg("max", 2, None)
    if name.endswith(("clamp_max", "clamp_max_")):
        hi = ctx.get_arg("max", 1)
    y = ctx.trt(ctx.get_arg("input", 0), out.dtype)
    if lo is not None:
        y = elementwise(ctx, y, lo, E.MAX, out.dtype)
    if hi is not None:
        y = elementwise(ctx, y, hi, E.MIN, out.dtype)
    ctx.set_output(out, y)


@tensorrt_converter(spellings("minimum") + spellings("fmin"))
def convert_minimum(ctx):
    out = ctx.method_return
    ctx.set_output(out, elementwise(ctx, ctx.get_arg("input", 0), ctx.get_arg("other", 1), E.MIN, out.dtype))


@tensorrt_converter(spellings("maximum") + spellings("fmax"))
def convert_maximum(ctx):
    out = ctx.method_return
    ctx.set_output(out, elementwise(ctx, ctx.get_arg("input", 0), ctx.get_arg("other", 1), E.MAX, out.dtype))


@tensorrt_converter(spellings("lerp"))
def convert_lerp(ctx):
    """PyTorch: w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)."""
    a, b, w = ctx.get_arg("input", 0), ctx.get_arg("end", 1), ctx.get_arg("weight", 2)
    out = ctx.method_return
    dt = out.dtype
    diff = elementwise(ctx, b, a, E.SUB, dt)
    low = elementwise(ctx, a, elementwise(ctx, w, diff, E.PROD, dt), E.SUM, dt)
    high = elementwise(ctx, b, elementwise(ctx, diff, elementwise(ctx, 1.0, w, E.SUB, dt), E.PROD, dt), E.SUB, dt)
    ctx.set_output(out, select(ctx, elementwise(ctx, w, 0.5, E.LESS, dt), low, high))


def _convert_addc(op):
    def convert(ctx):
        x, t1, t2 = ctx.get_arg("input", 0), ctx.get_arg("tensor1", 1), ctx.get_arg("tensor2", 2)
        value = ctx.get_arg("value", 3, 1)
        out = ctx.method_return
        y = elementwise(ctx, t1, t2, op, out.dtype)
        if value != 1:
            y = elementwise(ctx, value, y, E.PROD, out.dtype)
        ctx.set_output(out, elementwise(ctx, x, y, E.SUM, out.dtype))

    return convert


tensorrt_converter(spellings("addcmul"))(_convert_addc(E.PROD))
tensorrt_converter(spellings("addcdiv"))(_convert_addc(E.DIV))


@tensorrt_converter(spellings("fmod"))
def convert_fmod(ctx):
    """Integers: a - b * trunc(a / b) (the sign of a, as C's fmod)."""
    a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
    out = ctx.method_return
    if out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT has no exact floating-point modulo")
    q = _floor_div(ctx, a, b, out.dtype)
    r = elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, out.dtype), E.SUB, out.dtype)
    # floor and trunc quotients differ where the remainder is non-zero and its sign differs from a's
    fix = elementwise(ctx, unary(ctx, elementwise(ctx, r, 0, E.EQUAL, out.dtype), U.NOT),
                      elementwise(ctx, elementwise(ctx, a, 0, E.LESS, out.dtype),
                                  elementwise(ctx, b, 0, E.LESS, out.dtype), E.XOR, torch.bool), E.AND, torch.bool)
    ctx.set_output(out, select(ctx, fix, elementwise(ctx, r, b, E.SUB, out.dtype), r))
