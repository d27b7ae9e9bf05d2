"""Distances between sets of rows: cdist (p = 0, 1, 2, inf, other; PyTorch's matrix-product form for p = 2 where it
uses it) and pdist. Row counts must be static where they decide the formula or the pairs."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import (
    E,
    U,
    broadcast_to,
    concat,
    elementwise,
    gather,
    input_dims,
    matrix_multiply,
    reduce_axis,
    reshape,
    unary,
)

R = trt.ReduceOperation
F32 = torch.float32


def p_norm(ctx, d, p: float, axis: int):
    """||d||_p over `axis` of a float32 difference."""
    a = unary(ctx, d, U.ABS)
    if p == float("inf"):
        return reduce_axis(ctx, a, R.MAX, axis)
    if p == 0:
        return reduce_axis(ctx, ctx.cast(elementwise(ctx, a, 0.0, E.GREATER, F32), F32), R.SUM, axis)
    if p == 1:
        return reduce_axis(ctx, a, R.SUM, axis)
    if p == 2:
        return unary(ctx, reduce_axis(ctx, elementwise(ctx, a, a, E.PROD, F32), R.SUM, axis), U.SQRT)
    powers = reduce_axis(ctx, elementwise(ctx, a, float(p), E.POW, F32), R.SUM, axis)
    return elementwise(ctx, powers, 1.0 / p, E.POW, F32)


def _p_arg(ctx, p):
    if not isinstance(p, (int, float)) or isinstance(p, bool) or p < 0:
        raise ctx.unsupported(f"{ctx.method_name}(p={p!r}): only a constant number >= 0")
    return float(p)


def _ones_like(ctx, itensor):
    """Ones of itensor's (possibly dynamic) shape: a stride-0 slice of a constant, never arithmetic on the values
    (n - n + 1 would be NaN for an infinite norm)."""

    return broadcast_to(ctx, ctx.trt(torch.ones(()), rank=len(itensor.shape)), input_dims(ctx, itensor))


@tensorrt_converter([torch.cdist])
def convert_cdist(ctx):
    x1, x2, out = ctx.get_arg("x1", 0), ctx.get_arg("x2", 1), ctx.method_return
    p = _p_arg(ctx, ctx.get_arg("p", 2, 2.0))
    mode = ctx.get_arg("compute_mode", 3, "use_mm_for_euclid_dist_if_necessary")
    if out.dtype != F32:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: float32 only")
    if x1.dim() != x2.dim():
        raise ctx.unsupported(f"{ctx.method_name}: inputs of different ranks")
    a, b = ctx.trt(x1, F32), ctx.trt(x2, F32)
    rank = len(a.shape)
    rows1, rows2 = trt_dims(a)[-2], trt_dims(b)[-2]
    if p == 2 and mode != "donot_use_mm_for_euclid_dist":
        if mode == "use_mm_for_euclid_dist_if_necessary" and (rows1 < 0 or rows2 < 0):
            raise ctx.unsupported(f"{ctx.method_name}(p=2) with a dynamic number of rows: PyTorch's formula depends "
                                  "on it (a matrix product above 25 rows); pass compute_mode explicitly")
        if mode == "use_mm_for_euclid_dist" or rows1 > 25 or rows2 > 25:
            # PyTorch's form: [-2 x1, |x1|^2, 1] @ [x2, 1, |x2|^2]^T, clamped at 0, square root
            def sq(t):
                return reduce_axis(ctx, elementwise(ctx, t, t, E.PROD, F32), R.SUM, rank - 1, True)

            n1, n2 = sq(a), sq(b)
            ones1, ones2 = (_ones_like(ctx, n) for n in (n1, n2))
            left = concat(ctx, [elementwise(ctx, a, -2.0, E.PROD, F32), n1, ones1], rank - 1)
            right = concat(ctx, [b, ones2, n2], rank - 1)
            product = matrix_multiply(ctx, left, right, op_b=trt.MatrixOperation.TRANSPOSE, name="cdist_mm")
            r = elementwise(ctx, product, 0.0, E.MAX, F32)
            ctx.set_output(out, unary(ctx, r, U.SQRT))
            return
    a4 = reshape(ctx, a, input_dims(ctx, a)[:-1] + [1] + input_dims(ctx, a)[-1:])  # (..., P, 1, M)
    b4 = reshape(ctx, b, input_dims(ctx, b)[:-2] + [1] + input_dims(ctx, b)[-2:])  # (..., 1, R, M)
    ctx.set_output(out, p_norm(ctx, elementwise(ctx, a4, b4, E.SUB, F32), p, rank))


@tensorrt_converter([torch.pdist, torch.nn.functional.pdist])
def convert_pdist(ctx):
    """Distances between rows i < j of an (N, M) tensor, in PyTorch's order (row-major upper triangle)."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    p = _p_arg(ctx, ctx.get_arg("p", 1, 2.0))
    if out.dtype != F32:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: float32 only")
    xt = ctx.trt(x, F32)
    n = trt_dims(xt)[0]
    if n < 0:
        raise ctx.unsupported(f"{ctx.method_name} with a dynamic number of rows")
    if n < 2:
        raise ctx.unsupported(f"{ctx.method_name} of fewer than 2 rows (an empty result)")
    i, j = torch.triu_indices(n, n, 1)

    def rows(idx):
        return gather(ctx, xt, ctx.trt(idx.to(torch.int32)), 0, "pdist_rows")

    ctx.set_output(out, p_norm(ctx, elementwise(ctx, rows(i), rows(j), E.SUB, F32), p, 1))
