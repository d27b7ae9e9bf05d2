"""Exact float32 fmod / floor division / remainder as layers, following PyTorch's CPU kernels
(c10::div_floor_floating and the remainder kernel: fmod first, the quotient from a - fmod, floor and correction).

TensorRT has no fmod, and a - b * trunc(a / b) is not exact (a / b and the product round). Here fmod is computed
in integers: |a| = ma * 2**ea and |b| = mb * 2**eb with 24-bit integer mantissas (exponents found by scaling
with exact powers of two, so subnormals are covered), and for ea >= eb
    fmod(|a|, |b|) = ((ma * (2**(ea - eb) mod mb)) mod mb) * 2**eb
with 2**d mod mb by square-and-multiply in int64 (every product < 2**48). For ea < eb, |a| < |b| and fmod is a.
A GPU build that flushes subnormals to zero changes results whose operands or remainders are subnormal.
"""

from __future__ import annotations

import torch

from ..backend import trt
from .layers import U, elementwise, select, unary

E = trt.ElementWiseOperation
F32, I64 = torch.float32, torch.int64


def _f(ctx, a, b, op):
    return elementwise(ctx, a, b, op, F32)


def _i(ctx, a, b, op):
    return elementwise(ctx, a, b, op, I64)


def _decompose(ctx, y):
    """y finite > 0 (float32) -> (m, e) int64 with y == m * 2**e and 2**23 <= m < 2**24."""
    e = None
    for s in (64, 32, 16, 8, 4, 2, 1):
        big = unary(ctx, _f(ctx, y, 2.0 ** s, E.LESS), U.NOT)
        y = select(ctx, big, _f(ctx, y, 2.0 ** -s, E.PROD), y)
        step = select(ctx, big, ctx.trt(torch.tensor(s, dtype=I64), rank=len(y.shape)),
                      ctx.trt(torch.tensor(0, dtype=I64), rank=len(y.shape)))
        e = step if e is None else _i(ctx, e, step, E.SUM)
    for s in (64, 64, 32, 16, 8, 4, 2, 1):
        small = _f(ctx, y, 2.0 ** (1 - s), E.LESS)
        y = select(ctx, small, _f(ctx, y, 2.0 ** s, E.PROD), y)
        e = select(ctx, small, _i(ctx, e, s, E.SUB), e)
    m = ctx.cast(_f(ctx, y, 2.0 ** 23, E.PROD), I64)
    return m, _i(ctx, e, 23, E.SUB)


def _mod(ctx, x, m):
    """x mod m for int64 x >= 0, m > 0."""
    # integer DIV truncates, which is floor here (x, m >= 0); chains of FLOOR_DIV make the builder's time explode
    return _i(ctx, x, _i(ctx, _i(ctx, x, m, E.DIV), m, E.PROD), E.SUB)


def _scale(ctx, x, k):
    """x * 2**k (float32 x, int64 k in [-172, 104]) by exact power-of-two steps (each intermediate lies between x
    and the result, so it is exact whenever the result is)."""
    for s in (64, 32, 16, 8, 4, 2, 1):
        up = unary(ctx, _i(ctx, k, s, E.LESS), U.NOT)
        x = select(ctx, up, _f(ctx, x, 2.0 ** s, E.PROD), x)
        k = select(ctx, up, _i(ctx, k, s, E.SUB), k)
    for s in (64, 64, 32, 16, 8, 4, 2, 1):
        down = unary(ctx, _i(ctx, k, -s, E.GREATER), U.NOT)
        x = select(ctx, down, _f(ctx, x, 2.0 ** -s, E.PROD), x)
        k = select(ctx, down, _i(ctx, k, s, E.SUM), k)
    return x


def _finite_nonzero(ctx, x):
    finite = unary(ctx, elementwise(ctx, unary(ctx, x, U.ISINF), unary(ctx, x, U.ISNAN), E.OR, torch.bool), U.NOT)
    return elementwise(ctx, finite, unary(ctx, _f(ctx, x, 0.0, E.EQUAL), U.NOT), E.AND, torch.bool)


def fmod(ctx, a, b):
    """C's fmod(a, b) of float32 ITensors of one rank (broadcasting): exact, sign of a; NaN for b == 0, a = inf or
    a NaN operand; a for an infinite b."""
    a, b = ctx.broadcast(a, b)
    one = ctx.trt(torch.tensor(1.0), rank=len(a.shape))
    abs_a, abs_b = unary(ctx, a, U.ABS), unary(ctx, b, U.ABS)
    ok_a, ok_b = _finite_nonzero(ctx, a), _finite_nonzero(ctx, b)
    ma, ea = _decompose(ctx, select(ctx, ok_a, abs_a, one))
    mb, eb = _decompose(ctx, select(ctx, ok_b, abs_b, one))
    d = _i(ctx, ea, eb, E.SUB)
    smaller = _i(ctx, d, 0, E.LESS)
    d = _i(ctx, d, 0, E.MAX)
    result = _mod(ctx, ctx.trt(torch.tensor(1, dtype=I64), rank=len(a.shape)), mb)
    base = _mod(ctx, ctx.trt(torch.tensor(2, dtype=I64), rank=len(a.shape)), mb)
    for bit in range(9):  # d <= 127 + 172 < 2**9
        on = _i(ctx, _mod(ctx, _i(ctx, d, 2 ** bit, E.DIV), ctx.trt(torch.tensor(2, dtype=I64))), 1, E.EQUAL)
        result = select(ctx, on, _mod(ctx, _i(ctx, result, base, E.PROD), mb), result)
        if bit < 8:
            base = _mod(ctx, _i(ctx, base, base, E.PROD), mb)
    r = _mod(ctx, _i(ctx, ma, result, E.PROD), mb)
    magnitude = select(ctx, smaller, abs_a, _scale(ctx, ctx.cast(r, F32), eb))
    signed = select(ctx, _f(ctx, a, 0.0, E.LESS), _f(ctx, magnitude, -1.0, E.PROD), magnitude)
    nan = ctx.trt(torch.tensor(float("nan")), rank=len(a.shape))
    b_bad = elementwise(ctx, unary(ctx, b, U.ISNAN), _f(ctx, b, 0.0, E.EQUAL), E.OR, torch.bool)
    a_bad = elementwise(ctx, unary(ctx, a, U.ISNAN), unary(ctx, a, U.ISINF), E.OR, torch.bool)
    out = select(ctx, ok_b, select(ctx, ok_a, signed, a), a)  # a = +-0: a; b = +-inf: a
    return select(ctx, elementwise(ctx, a_bad, b_bad, E.OR, torch.bool), nan, out)


def _wrong_sign(ctx, mod, b):
    """mod != 0 and sign(mod) != sign(b): where PyTorch corrects floor division and remainder."""
    differ = elementwise(ctx, _f(ctx, mod, 0.0, E.LESS), _f(ctx, b, 0.0, E.LESS), E.XOR, torch.bool)
    return elementwise(ctx, differ, unary(ctx, _f(ctx, mod, 0.0, E.EQUAL), U.NOT), E.AND, torch.bool)


def remainder(ctx, a, b):
    a, b = ctx.broadcast(a, b)
    mod = fmod(ctx, a, b)
    return select(ctx, _wrong_sign(ctx, mod, b), _f(ctx, mod, b, E.SUM), mod)


def floor_divide(ctx, a, b):
    """c10::div_floor_floating: b == 0 gives a / b; else div = (a - fmod) / b, minus one where the remainder's
    sign is wrong, floored (plus one if that dropped more than 0.5); a zero quotient takes the sign of a / b."""
    a, b = ctx.broadcast(a, b)
    mod = fmod(ctx, a, b)
    quotient = _f(ctx, a, b, E.DIV)
    div = _f(ctx, _f(ctx, a, mod, E.SUB), b, E.DIV)
    div = select(ctx, _wrong_sign(ctx, mod, b), _f(ctx, div, 1.0, E.SUB), div)
    floored = unary(ctx, div, U.FLOOR)
    floored = select(ctx, _f(ctx, _f(ctx, div, floored, E.SUB), 0.5, E.GREATER), _f(ctx, floored, 1.0, E.SUM),
                     floored)
    negative = elementwise(ctx, _f(ctx, quotient, 0.0, E.LESS), _f(ctx, _f(ctx, 1.0, quotient, E.DIV), 0.0, E.LESS),
                           E.OR, torch.bool)
    zero = select(ctx, negative, ctx.trt(torch.tensor(-0.0), rank=len(a.shape)),
                  ctx.trt(torch.tensor(0.0), rank=len(a.shape)))
    floored = select(ctx, _f(ctx, div, 0.0, E.EQUAL), zero, floored)
    return select(ctx, _f(ctx, b, 0.0, E.EQUAL), quotient, floored)
