"""Sliding windows with constant positions: Tensor.unfold and F.unfold (im2col) as gathers, F.fold (col2im) as one
scatter per kernel offset, summed. The windowed axes must be static; the batch (and other axes) may be dynamic."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import elementwise, filled, gather, input_dims, reshape, scatter, slice_layer, transpose


def _ints(ctx, name, value, n):
    v = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(v) != n or any(not isinstance(i, int) or isinstance(i, (bool, DynDim)) for i in v):
        raise ctx.unsupported(f"{ctx.method_name}({name}={value!r}): only constant ints")
    return v


def _gather(ctx, itensor, positions: torch.Tensor, axis: int):
    return gather(ctx, itensor, ctx.trt(positions.to(torch.int32)), axis, "window")


@tensorrt_converter([torch.Tensor.unfold])
def convert_tensor_unfold(ctx):
    """x.unfold(dim, size, step): windows along dim become that axis; their elements a new last axis."""
    x, out = ctx.method_args[0], ctx.method_return
    dim, size, step = (_ints(ctx, n, ctx.get_arg(n, i), 1)[0] for n, i in (("dimension", 1), ("size", 2), ("step", 3)))
    xt = ctx.trt(x)
    if x.dim() == 0:
        ctx.set_output(out, reshape(ctx, xt, [1]))
        return
    axis = ctx.normalize_dim(dim, x.dim())
    n = trt_dims(xt)[axis]
    if n < 0:
        raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {axis}")
    count = (n - size) // step + 1
    positions = torch.arange(count)[:, None] * step + torch.arange(size)[None, :]
    g = _gather(ctx, xt, positions, axis)  # (..., count, size, ...)
    rank = x.dim() + 1
    perm = [a for a in range(rank) if a != axis + 1] + [axis + 1]
    ctx.set_output(out, transpose(ctx, g, perm))


@tensorrt_converter([F.unfold])
def convert_unfold(ctx):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), zero padding, dilation and stride per axis."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    k = _ints(ctx, "kernel_size", ctx.get_arg("kernel_size", 1), 2)
    d = _ints(ctx, "dilation", ctx.get_arg("dilation", 2, 1), 2)
    p = _ints(ctx, "padding", ctx.get_arg("padding", 3, 0), 2)
    s = _ints(ctx, "stride", ctx.get_arg("stride", 4, 1), 2)
    xt = ctx.trt(x)
    batched = x.dim() == 4
    if not batched:
        xt = reshape(ctx, xt, [1] + input_dims(ctx, xt))
    dims = input_dims(ctx, xt)
    c, h, w = trt_dims(xt)[1:]
    if min(c, h, w) < 0:
        raise ctx.unsupported(f"{ctx.method_name} with dynamic channels or spatial size")
    if any(p):
        fill = ctx.trt(torch.zeros((), dtype=out.dtype))
        xt = slice_layer(ctx, xt, [0, 0, -p[0], -p[1]], [dims[0], c, h + 2 * p[0], w + 2 * p[1]], [1, 1, 1, 1],
                         "unfold_pad", mode=trt.SampleMode.FILL, fill=fill)
    sizes = [(n + 2 * pad - dil * (kk - 1) - 1) // st + 1 for n, pad, dil, kk, st in zip((h, w), p, d, k, s)]
    rows = torch.arange(sizes[0])[:, None] * s[0] + torch.arange(k[0])[None, :] * d[0]
    cols = torch.arange(sizes[1])[:, None] * s[1] + torch.arange(k[1])[None, :] * d[1]
    g = _gather(ctx, _gather(ctx, xt, rows, 2), cols, 4)  # (N, C, oh, kh, ow, kw)
    g = transpose(ctx, g, [0, 1, 3, 5, 2, 4])             # (N, C, kh, kw, oh, ow)
    y = reshape(ctx, g, [dims[0], c * k[0] * k[1], sizes[0] * sizes[1]])
    ctx.set_output(out, y if batched else reshape(ctx, y, [c * k[0] * k[1], sizes[0] * sizes[1]]))


@tensorrt_converter([F.fold])
def convert_fold(ctx):
    """col2im: (N, C * kh * kw, L) -> (N, C, H, W), overlapping windows summed. Each kernel offset's block lands on
    distinct positions (one ND SCATTER into zeros, exact); the blocks are summed in PyTorch's order (kernel offsets
    ascending, starting from zero), then the padding is cut off."""

    x, out = ctx.get_arg("input", 0), ctx.method_return
    size = _ints(ctx, "output_size", ctx.get_arg("output_size", 1), 2)
    k = _ints(ctx, "kernel_size", ctx.get_arg("kernel_size", 2), 2)
    d = _ints(ctx, "dilation", ctx.get_arg("dilation", 3, 1), 2)
    p = _ints(ctx, "padding", ctx.get_arg("padding", 4, 0), 2)
    s = _ints(ctx, "stride", ctx.get_arg("stride", 5, 1), 2)
    if out.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64):
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    xt = ctx.trt(x)
    batched = x.dim() == 3
    if not batched:
        xt = reshape(ctx, xt, [1] + input_dims(ctx, xt))
    n = input_dims(ctx, xt)[0]
    ckk, length = trt_dims(xt)[1:]
    if ckk < 0 or length < 0:
        raise ctx.unsupported(f"{ctx.method_name} with dynamic channels or blocks")
    c = ckk // (k[0] * k[1])
    hp, wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    oh, ow = [(hh - dd * (kk - 1) - 1) // st + 1 for hh, dd, kk, st in zip((hp, wp), d, k, s)]
    blocks = transpose(ctx, reshape(ctx, xt, [n, c, k[0] * k[1], length]), [2, 3, 0, 1])  # (kk, L, N, C)
    zeros = filled(ctx, 0, out.dtype, [hp * wp, n, c])
    total = None
    oy, ox = torch.arange(oh)[:, None], torch.arange(ow)[None, :]
    for ki in range(k[0]):
        for kj in range(k[1]):
            o = ki * k[1] + kj
            pos = ((oy * s[0] + ki * d[0]) * wp + ox * s[1] + kj * d[1]).reshape(-1, 1).to(torch.int32)
            block = slice_layer(ctx, blocks, [o, 0, 0, 0], [1, length, n, c], [1, 1, 1, 1], "fold_block")
            placed = scatter(ctx, zeros, ctx.trt(pos), reshape(ctx, block, [length, n, c]), trt.ScatterMode.ND,
                             name="fold")
            total = placed if total is None else elementwise(ctx, total, placed, trt.ElementWiseOperation.SUM,
                                                             name="fold_sum")
    image = transpose(ctx, reshape(ctx, total, [hp, wp, n, c]), [2, 3, 0, 1])  # (N, C, Hp, Wp)
    image = slice_layer(ctx, image, [0, 0, p[0], p[1]], [n, c, size[0], size[1]], [1, 1, 1, 1], "fold_crop")
    ctx.set_output(out, image if batched else reshape(ctx, image, [c, size[0], size[1]]))
