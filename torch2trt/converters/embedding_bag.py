"""F.embedding_bag / nn.EmbeddingBag (sum, mean, max; 2-d bags or 1-d input with offsets, traced or constant;
per_sample_weights; padding_idx; include_last_offset). Each bag is a mask over the gathered rows — for offsets, the
bag of position i is the number of bag starts <= i, minus one — reduced over the rows. Empty bags give zeros, as
in PyTorch. The number of bags and of indices must be static."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import E, U, elementwise, filled, gather, input_dims, reduce_axis, reshape, select, slice_layer, unary

R = trt.ReduceOperation


@tensorrt_converter([F.embedding_bag])
def convert_embedding_bag(ctx):
    x, weight, out = ctx.get_arg("input", 0), ctx.get_arg("weight", 1), ctx.method_return
    offsets = ctx.get_arg("offsets", 2, None)
    mode = ctx.get_arg("mode", 6, "mean")
    psw = ctx.get_arg("per_sample_weights", 8, None)
    include_last = ctx.get_arg("include_last_offset", 9, False)
    padding_idx = ctx.get_arg("padding_idx", 10, None)
    if ctx.get_arg("max_norm", 3, None) is not None:
        raise ctx.unsupported("embedding_bag(max_norm=...): renormalizes the weight in place")
    if mode not in ("sum", "mean", "max"):
        raise ctx.unsupported(f"embedding_bag(mode={mode!r})")
    if out.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ctx.unsupported(f"embedding_bag on {out.dtype}")
    dt = out.dtype
    wt = ctx.trt(weight, dt)
    it = ctx.trt(x, torch.int64)
    if -1 in trt_dims(it) and x.dim() != 2:
        raise ctx.unsupported("embedding_bag of 1-d indices and offsets with a dynamic number of indices: the bag "
                              "membership matrix is built at conversion")
    dims = input_dims(ctx, it)   # (B, L): either may be dynamic in the 2-d form
    rows = gather(ctx, wt, it, 0, "embedding_bag_rows")  # (B, L, D) or (N, D)
    if psw is not None:
        rows = elementwise(ctx, rows, reshape(ctx, ctx.trt(psw, dt), dims + [1]), E.PROD, dt)
    keep = None if padding_idx is None else elementwise(ctx, it, int(padding_idx) % weight.shape[0], E.EQUAL,
                                                        torch.int64)
    keep = None if keep is None else unary(ctx, keep, U.NOT)
    if x.dim() == 2:
        member = keep if keep is not None else filled(ctx, True, torch.bool, dims)
        member = reshape(ctx, member, dims + [1])  # (B, L, 1)
    else:
        n = x.shape[0]
        ot = ctx.trt(offsets, torch.int64)
        bags = out.shape[0]
        if include_last:
            ot = slice_layer(ctx, ot, [0], [bags], [1], "embedding_bag_starts")
        starts = reshape(ctx, ot, [1, bags])                                 # (1, B)
        pos = ctx.trt(torch.arange(n, dtype=torch.int64)[:, None])           # (N, 1)
        not_after = ctx.cast(unary(ctx, elementwise(ctx, pos, starts, E.LESS, torch.int64), U.NOT), torch.int32)
        seg = elementwise(ctx, reduce_axis(ctx, not_after, R.SUM, 1), 1, E.SUB, torch.int32)   # (N,)
        member = elementwise(ctx, reshape(ctx, seg, [1, n]), ctx.trt(torch.arange(bags, dtype=torch.int32)[:, None]),
                             E.EQUAL, torch.int32)                                # (B, N)
        if keep is not None:
            member = elementwise(ctx, member, reshape(ctx, keep, [1, n]), E.AND, torch.bool)
        member = reshape(ctx, member, [bags, n, 1])
        rows = reshape(ctx, rows, [1, n, weight.shape[1]])
    count = reduce_axis(ctx, ctx.cast(member, torch.int32), R.SUM, 1)           # (B, 1)
    if mode == "max":
        low = ctx.trt(torch.tensor(float("-inf"), dtype=dt), rank=3)
        v = reduce_axis(ctx, select(ctx, member, rows, low), R.MAX, 1)
        res = select(ctx, elementwise(ctx, count, 0, E.GREATER, torch.int32), v,
                     ctx.trt(torch.zeros((), dtype=dt), rank=2))
    else:
        res = reduce_axis(ctx, select(ctx, member, rows, ctx.trt(torch.zeros((), dtype=dt), rank=3)), R.SUM, 1)
        if mode == "mean":
            res = elementwise(ctx, res, ctx.cast(elementwise(ctx, count, 1, E.MAX, torch.int32), dt), E.DIV, dt)
    ctx.set_output(out, res)
