"""Distances: cdist (p = 0, 1, 2, inf, other; PyTorch's matrix-product form for p = 2 where it uses it) and pdist
between sets of rows (row counts must be static where they decide the formula or the pairs); cosine_similarity,
pairwise_distance and dist between two tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import spellings, tensorrt_converter
from .layers import (
    E,
    U,
    broadcast_to,
    compute_dtype,
    concat,
    elementwise,
    gather,
    input_dims,
    matrix_multiply,
    reduce_axis,
    require_float_dtype,
    reshape,
    unary,
)
from .linalg import _int_arg
from .reduce import vector_norm, vector_norm_p

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


# ---- cosine_similarity, pairwise_distance, dist ------------------------------------------------------------------
def _float_out(ctx):
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype)
    return out


@tensorrt_converter([F.cosine_similarity, torch.cosine_similarity])
def convert_cosine_similarity(ctx):
    """PyTorch's: (x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), summed over dim."""
    x1, x2, out = ctx.get_arg("x1", 0), ctx.get_arg("x2", 1), _float_out(ctx)
    dim, eps = ctx.get_arg("dim", 2, 1), ctx.get_arg("eps", 3, 1e-8)
    if not isinstance(eps, (int, float)):
        raise ctx.unsupported(f"{ctx.method_name}(eps={eps!r}): only a number")
    dt = torch.float32
    a, b = ctx.operands(x1, x2, dtype=dt)
    rank = len(a.shape)
    axis = ctx.normalize_dim(_int_arg(ctx, "dim", dim), rank)
    # PyTorch broadcasts first: a norm over a broadcast axis counts the repeated elements
    sizes = [db if da == 1 else da for da, db in zip(input_dims(ctx, a), input_dims(ctx, b))]
    if tuple(a.shape) != tuple(b.shape):
        a, b = broadcast_to(ctx, a, sizes), broadcast_to(ctx, b, sizes)

    def normalized(t):
        norm = unary(ctx, reduce_axis(ctx, elementwise(ctx, t, t, E.PROD, dt), R.SUM, axis, True), U.SQRT)
        return elementwise(ctx, t, elementwise(ctx, norm, float(eps), E.MAX, dt), E.DIV, dt)

    prod = elementwise(ctx, normalized(a), normalized(b), E.PROD, dt)
    ctx.set_output(out, ctx.cast(reduce_axis(ctx, prod, R.SUM, axis), out.dtype))


@tensorrt_converter([F.pairwise_distance, torch.pairwise_distance])
def convert_pairwise_distance(ctx):
    """||x1 - x2 + eps||_p over the last axis (p = 0, 1, 2, inf or any positive number)."""
    x1, x2, out = ctx.get_arg("x1", 0), ctx.get_arg("x2", 1), _float_out(ctx)
    p, eps, keepdim = ctx.get_arg("p", 2, 2.0), ctx.get_arg("eps", 3, 1e-6), ctx.get_arg("keepdim", 4, False)
    if not isinstance(p, (int, float)) or not isinstance(eps, (int, float)) or p < 0:
        raise ctx.unsupported(f"{ctx.method_name}(p={p!r}, eps={eps!r}): only constant numbers, p >= 0")
    dt = torch.float32
    a, b = ctx.operands(x1, x2, dtype=dt)
    rank = len(a.shape)
    if rank == 0:
        raise ctx.unsupported(f"{ctx.method_name} of 0-d tensors")
    d = unary(ctx, elementwise(ctx, elementwise(ctx, a, b, E.SUB, dt), float(eps), E.SUM, dt), U.ABS)
    axis = rank - 1
    keep = bool(keepdim) and out.dim() == rank
    if p == float("inf"):
        r = reduce_axis(ctx, d, R.MAX, axis, keep)
    elif p == 0:
        r = reduce_axis(ctx, ctx.cast(elementwise(ctx, d, 0.0, E.GREATER, dt), dt), R.SUM, axis, keep)
    elif p == 1:
        r = reduce_axis(ctx, d, R.SUM, axis, keep)
    elif p == 2:
        r = unary(ctx, reduce_axis(ctx, elementwise(ctx, d, d, E.PROD, dt), R.SUM, axis, keep), U.SQRT)
    else:
        r = elementwise(ctx, reduce_axis(ctx, elementwise(ctx, d, float(p), E.POW, dt), R.SUM, axis, keep), 1.0 / p,
                        E.POW, dt)
    if out.dim() != len(r.shape):
        r = reshape(ctx, r, [1] * out.dim() if out.dim() else [])
    ctx.set_output(out, ctx.cast(r, out.dtype))


@tensorrt_converter(spellings("dist"))
def convert_dist(ctx):
    """||a - b||_p over every element of the broadcast difference (rounded to the result dtype first, as PyTorch's
    a - b), for the p the norm converter computes (reduce.vector_norm)."""
    a, b, out = ctx.get_arg("input", 0), ctx.get_arg("other", 1), _float_out(ctx)
    p = vector_norm_p(ctx, ctx.get_arg("p", 2, 2))
    acc = compute_dtype(out.dtype)
    d = ctx.cast(ctx.cast(elementwise(ctx, ctx.trt(a, acc), ctx.trt(b, acc), E.SUB, acc), out.dtype), acc)
    y = vector_norm(ctx, d, p, list(range(len(d.shape))), False, acc)
    ctx.set_output(out, ctx.cast(y, out.dtype))
