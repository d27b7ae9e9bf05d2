"""Running reductions that TensorRT's CUMULATIVE (sum only) cannot do: cummax/cummin (values and PyTorch's indices)
and logcumsumexp. Each position j reduces over the prefix i <= j through a constant (n, n) lower-triangular mask, so
the scanned axis must be static (memory grows with n**2 per row); the other axes may be dynamic."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import E, U, elementwise, input_dims, reduce_axis, reshape, select, transpose, unary

R = trt.ReduceOperation


def _prefix(ctx, x, dim):
    """x's ITensor with `dim` moved last, the pairwise view (..., j, i) of it, the prefix mask (n, n) as a rank-matched
    tensor, and the permutation to undo."""
    if not isinstance(dim, int) or isinstance(dim, (bool, DynDim)):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): only a constant int")
    xt = ctx.trt(x)
    rank = max(x.dim(), 1)
    if x.dim() == 0:
        xt = reshape(ctx, xt, [1])
    axis = ctx.normalize_dim(dim, rank)
    n = trt_dims(xt)[axis]
    if n < 0:
        raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {axis}: only a static size there")
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = transpose(ctx, xt, perm)
    pairs = reshape(ctx, moved, input_dims(ctx, moved)[:-1] + [1, n])  # (..., 1 [j], n [i])
    lower = torch.arange(n)[None, :] <= torch.arange(n)[:, None]        # [j, i]: i <= j
    return moved, pairs, ctx.trt(lower, rank=rank + 1), perm, n, rank


def _restore(ctx, itensor, perm, x):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    out = transpose(ctx, itensor, inv)
    return reshape(ctx, out, []) if x.dim() == 0 else out


def _convert_cumextreme(largest: bool):
    def convert(ctx):
        """Values: the prefix max (min); NaN from the first NaN on. Indices: the last i <= j holding that value (the
        last NaN once there is one), as PyTorch's scan, which moves on ties."""
        x, dim = ctx.get_arg("input", 0), ctx.get_arg("dim", 1)
        values, indices = ctx.method_return
        if values.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64):
            raise ctx.unsupported(f"{ctx.method_name} on {values.dtype}")
        moved, pairs, lower, perm, n, rank = _prefix(ctx, x, dim)
        dtype = values.dtype
        if dtype.is_floating_point:
            far = float("-inf") if largest else float("inf")
        else:
            far = torch.iinfo(dtype).min if largest else torch.iinfo(dtype).max
        fill = ctx.trt(torch.tensor(far, dtype=dtype), rank=rank + 1)
        v = reduce_axis(ctx, select(ctx, lower, pairs, fill), R.MAX if largest else R.MIN, rank)  # (..., n)
        v_pairs = reshape(ctx, v, input_dims(ctx, v) + [1])  # (..., j, 1)
        hit = elementwise(ctx, pairs, v_pairs, E.EQUAL, dtype)
        if dtype.is_floating_point:
            nan_i = unary(ctx, pairs, U.ISNAN)
            seen = reduce_axis(ctx, ctx.cast(elementwise(ctx, nan_i, lower, E.AND, torch.bool), torch.int32), R.SUM,
                               rank)
            seen = elementwise(ctx, seen, 0, E.GREATER, torch.int32)
            v = select(ctx, seen, ctx.trt(torch.tensor(float("nan"), dtype=dtype), rank=rank), v)
            seen_pairs = reshape(ctx, seen, input_dims(ctx, seen) + [1])
            hit = select(ctx, seen_pairs, nan_i, hit)
        hit = elementwise(ctx, hit, lower, E.AND, torch.bool)
        i = ctx.trt(torch.arange(n, dtype=torch.int32), rank=rank + 1)
        none = ctx.trt(torch.tensor(-1, dtype=torch.int32), rank=rank + 1)
        idx = reduce_axis(ctx, select(ctx, hit, i, none), R.MAX, rank)
        ctx.set_output(values, _restore(ctx, v, perm, x))
        ctx.set_output(indices, _restore(ctx, ctx.cast(idx, torch.int64), perm, x))

    return convert


tensorrt_converter([torch.cummax, torch.Tensor.cummax])(_convert_cumextreme(True))
tensorrt_converter([torch.cummin, torch.Tensor.cummin])(_convert_cumextreme(False))


@tensorrt_converter([torch.logcumsumexp, torch.Tensor.logcumsumexp])
def convert_logcumsumexp(ctx):
    """log(sum over i <= j of exp(x_i)) as m_j + log(sum exp(x_i - m_j)), m_j the prefix max (a prefix of -inf gives
    -inf; +inf gives inf; NaN propagates through the sum)."""
    x, dim, out = ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.method_return
    if out.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    if x.dtype != out.dtype:
        raise ctx.unsupported(f"{ctx.method_name} of {x.dtype} to {out.dtype}")
    moved, pairs, lower, perm, n, rank = _prefix(ctx, x, dim)
    f32 = torch.float32
    pairs = ctx.cast(pairs, f32)
    ninf = ctx.trt(torch.tensor(float("-inf")), rank=rank + 1)
    masked = select(ctx, lower, pairs, ninf)
    m = reduce_axis(ctx, masked, R.MAX, rank)
    finite_m = select(ctx, unary(ctx, m, U.ISINF), ctx.trt(torch.tensor(0.0), rank=rank), m)
    shifted = elementwise(ctx, masked, reshape(ctx, finite_m, input_dims(ctx, finite_m) + [1]), E.SUB, f32)
    total = reduce_axis(ctx, unary(ctx, shifted, U.EXP), R.SUM, rank)
    y = elementwise(ctx, unary(ctx, total, U.LOG), finite_m, E.SUM, f32)
    ctx.set_output(out, _restore(ctx, ctx.cast(y, out.dtype), perm, x))
