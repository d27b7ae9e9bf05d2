"""atan2 / arctan2 (TensorRT has ATAN only): atan(y / x), shifted by +-pi where x is negative (or -0), with the
IEEE special cases of zeros and infinities spelled out (atan2(+-0, -0) = +-pi, atan2(+-inf, -inf) = +-3pi/4)."""

from __future__ import annotations

import math

import torch

from ..tracing.registry import spellings, tensorrt_converter
from .layers import E, U, elementwise, select, unary

F32 = torch.float32


def _negative(ctx, t):
    """t < 0, counting -0 (1 / -0 = -inf)."""
    return elementwise(ctx, elementwise(ctx, t, 0.0, E.LESS, F32),
                       elementwise(ctx, elementwise(ctx, 1.0, t, E.DIV, F32), 0.0, E.LESS, F32), E.OR, torch.bool)


def _const(ctx, value, rank):
    return ctx.trt(torch.tensor(value, dtype=F32), rank=rank)


@tensorrt_converter(spellings("atan2") + spellings("arctan2"))
def convert_atan2(ctx):
    y, x, out = ctx.get_arg("input", 0), ctx.get_arg("other", 1), ctx.method_return
    if out.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    yt, xt = ctx.operands(y, x, dtype=out.dtype)
    yt, xt = ctx.cast(yt, F32), ctx.cast(xt, F32)
    yt, xt = ctx.broadcast(yt, xt)
    rank = len(yt.shape)
    base = unary(ctx, elementwise(ctx, yt, xt, E.DIV, F32), U.ATAN)
    both_zero = elementwise(ctx, elementwise(ctx, yt, 0.0, E.EQUAL, F32), elementwise(ctx, xt, 0.0, E.EQUAL, F32),
                            E.AND, torch.bool)
    base = select(ctx, both_zero, yt, base)  # +-0, keeping y's sign
    y_neg, x_neg = _negative(ctx, yt), _negative(ctx, xt)
    shift = select(ctx, y_neg, _const(ctx, -math.pi, rank), _const(ctx, math.pi, rank))
    res = select(ctx, x_neg, elementwise(ctx, base, shift, E.SUM, F32), base)
    both_inf = elementwise(ctx, unary(ctx, yt, U.ISINF), unary(ctx, xt, U.ISINF), E.AND, torch.bool)
    corner = select(ctx, x_neg, _const(ctx, 3 * math.pi / 4, rank), _const(ctx, math.pi / 4, rank))
    corner = select(ctx, y_neg, elementwise(ctx, corner, -1.0, E.PROD, F32), corner)
    res = select(ctx, both_inf, corner, res)
    ctx.set_output(out, ctx.cast(res, out.dtype))
