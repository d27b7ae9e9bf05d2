"""Pooling converters: max/avg pool 1d/2d/3d and adaptive average pooling for any sizes.

PyTorch's window arithmetic is matched exactly: output sizes are read from the real result and the
padding that TensorRT needs to reach them is derived from it (a ceil_mode window never starts in the
right padding in PyTorch; TensorRT's EXPLICIT_ROUND_UP has no such rule, so explicit padding is used).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter


def _tuple(value, n: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return (int(value),) * n


def _as_2d(ctx, x, nd: int):
    """TensorRT pools 2d/3d windows: a 1d input (N, C, L) runs as (N, C, L, 1)."""
    xt = ctx.trt(x)
    return (ctx.reshape(xt, tuple(x.shape) + (1,)), 2) if nd == 1 else (xt, nd)


def _window_args(ctx, nd: int):
    kernel = _tuple(ctx.get_arg("kernel_size", 1), nd)
    stride = ctx.get_arg("stride", 2, None)
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _tuple(stride, nd)
    padding = _tuple(ctx.get_arg("padding", 3, 0), nd)
    return kernel, stride, padding


def _pool(ctx, x, kind, nd: int, kernel, stride, pre, post, count_include_pad: bool = True):
    xt, tnd = _as_2d(ctx, x, nd)
    if tnd != nd:
        kernel, stride, pre, post = kernel + (1,), stride + (1,), pre + (0,), post + (0,)
    layer = ctx.network.add_pooling_nd(xt, kind, kernel)
    layer.stride_nd = stride
    layer.pre_padding, layer.post_padding = pre, post
    layer.average_count_excludes_padding = not count_include_pad
    ctx.name_layer(layer)
    y = layer.get_output(0)
    out = ctx.method_return
    return ctx.reshape(y, tuple(out.shape)) if tnd != nd else y


def _post_padding(in_sizes, out_sizes, kernel, stride, pre) -> tuple[int, ...]:
    """Right padding that makes a floor-mode window count give exactly PyTorch's output size."""
    return tuple(max(0, (o - 1) * s + k - n - p) for n, o, k, s, p in zip(in_sizes, out_sizes, kernel, stride, pre))


def _convert_max_pool(nd: int):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        kernel, stride, padding = _window_args(ctx, nd)
        dilation = _tuple(ctx.get_arg("dilation", 4, 1), nd)
        ceil_mode, return_indices = ctx.get_arg("ceil_mode", 5, False), ctx.get_arg("return_indices", 6, False)
        if return_indices:
            raise ctx.unsupported(f"max_pool{nd}d(return_indices=True): TensorRT pooling gives no indices")
        if any(d != 1 for d in dilation):
            raise ctx.unsupported(f"max_pool{nd}d(dilation={dilation}): TensorRT pooling has no dilation")
        out = ctx.method_return
        # padding never wins a maximum, so extra right padding for ceil_mode windows is exact
        post = padding
        if ceil_mode:  # floor mode is TensorRT's default; ceil_mode needs size-dependent extra padding
            post = _post_padding(x.shape[-nd:], out.shape[-nd:], kernel, stride, padding)
            if post != padding:
                ctx.require_static(x)
        ctx.set_output(out, _pool(ctx, x, trt.PoolingType.MAX, nd, kernel, stride, padding, post))

    return convert


def _convert_avg_pool(nd: int):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        kernel, stride, padding = _window_args(ctx, nd)
        ceil_mode = ctx.get_arg("ceil_mode", 4, False)
        count_include_pad = ctx.get_arg("count_include_pad", 5, True)
        divisor = ctx.get_arg("divisor_override", 6, None)
        out = ctx.method_return
        post = _post_padding(x.shape[-nd:], out.shape[-nd:], kernel, stride, padding) if ceil_mode else padding
        if post != padding or nd == 1:
            ctx.require_static(x)
        if post != padding:
            # PyTorch never counts the part of a ceil_mode window beyond the padding; TensorRT's
            # EXPLICIT_ROUND_UP window neither, so it is exact when it gives PyTorch's output size.
            extra = tuple(q - p for q, p in zip(post, padding))
            if any(e < 0 for e in extra) or not ceil_mode:
                raise ctx.unsupported(f"avg_pool{nd}d: windows {kernel}/{stride}/{padding} give {tuple(out.shape)}")
            y = _pool_round_up(ctx, x, nd, kernel, stride, padding, count_include_pad)
        else:
            y = _pool(ctx, x, trt.PoolingType.AVERAGE, nd, kernel, stride, padding, padding, count_include_pad)
        if not all(d in (-1, s) for d, s in zip(tuple(y.shape), tuple(out.shape))):
            raise ctx.unsupported(f"avg_pool{nd}d(ceil_mode=True): TensorRT gives {tuple(y.shape)}, PyTorch "
                                  f"{tuple(out.shape)} (a last window starting in the padding)")
        if divisor is not None:
            if any(padding) or post != padding:
                raise ctx.unsupported(f"avg_pool{nd}d(divisor_override={divisor}) with padding or ceil_mode: "
                                      "windows hold different counts")
            count = 1
            for k in kernel:
                count *= k
            y = _scale(ctx, y, count / divisor, out.dtype)
        ctx.set_output(out, y)

    return convert


def _pool_round_up(ctx, x, nd, kernel, stride, padding, count_include_pad):
    xt, tnd = _as_2d(ctx, x, nd)
    k, s, p = (kernel, stride, padding) if tnd == nd else (kernel + (1,), stride + (1,), padding + (0,))
    layer = ctx.network.add_pooling_nd(xt, trt.PoolingType.AVERAGE, k)
    layer.stride_nd, layer.padding_nd = s, p
    layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    layer.average_count_excludes_padding = not count_include_pad
    ctx.name_layer(layer)
    y = layer.get_output(0)
    return ctx.reshape(y, tuple(ctx.method_return.shape)) if tnd != nd else y


def _scale(ctx, itensor, factor: float, dtype):
    c = ctx.trt(torch.tensor(factor, dtype=dtype), dtype, len(itensor.shape))
    layer = ctx.network.add_elementwise(itensor, c, trt.ElementWiseOperation.PROD)
    ctx.name_layer(layer, "scale")
    return layer.get_output(0)


for _nd, _targets in ((1, [F.max_pool1d, torch.max_pool1d]), (2, [F.max_pool2d, torch.max_pool2d]),
                      (3, [F.max_pool3d, torch.max_pool3d])):
    tensorrt_converter(_targets)(_convert_max_pool(_nd))
for _nd, _targets in ((1, [F.avg_pool1d]), (2, [F.avg_pool2d]), (3, [F.avg_pool3d])):
    tensorrt_converter(_targets)(_convert_avg_pool(_nd))


def _adaptive_avg_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) averaging weights of PyTorch's adaptive windows: [floor(i*in/out), ceil((i+1)*in/out))."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _convert_adaptive_avg_pool(nd: int):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        in_sz, out_sz = tuple(x.shape[-nd:]), tuple(out.shape[-nd:])
        rank = x.dim()
        xt = ctx.trt(x)
        if not all(o == 1 for o in out_sz) and -1 in tuple(xt.shape)[-nd:]:
            ctx.require_static(x)  # window sizes follow the input size
        if in_sz == out_sz:  # every window is one element
            ctx.set_output(out, xt)
            return
        if all(o == 1 for o in out_sz):  # global average: one reduce, accumulated in float32
            axes = sum(1 << (rank - 1 - i) for i in range(nd))
            compute = torch.float32 if out.dtype in (torch.float16, torch.bfloat16) else out.dtype
            layer = ctx.network.add_reduce(ctx.cast(xt, compute), trt.ReduceOperation.AVG, axes, True)
            ctx.name_layer(layer, f"adaptive_avg_pool{nd}d")
            ctx.set_output(out, ctx.cast(layer.get_output(0), out.dtype))
            return
        if all(i % o == 0 for i, o in zip(in_sz, out_sz)) and nd in (2, 3):  # equal windows: pooling
            k = tuple(i // o for i, o in zip(in_sz, out_sz))
            layer = ctx.network.add_pooling_nd(xt, trt.PoolingType.AVERAGE, k)
            layer.stride_nd = k
            ctx.name_layer(layer, f"adaptive_avg_pool{nd}d")
            ctx.set_output(out, layer.get_output(0))
            return
        # any sizes: average pooling is linear, one matrix product per pooled axis
        y = xt
        for axis in range(rank - nd, rank):
            n_in, n_out = int(x.shape[axis]), int(out.shape[axis])
            if n_in == n_out:
                continue
            m = _adaptive_avg_matrix(n_in, n_out)
            if axis == rank - 1:  # (..., H, W) @ M^T
                w = ctx.trt(m.t().contiguous(), out.dtype, rank)
                layer = ctx.network.add_matrix_multiply(y, trt.MatrixOperation.NONE, w, trt.MatrixOperation.NONE)
            elif axis == rank - 2:  # M @ (..., H, W)
                w = ctx.trt(m, out.dtype, rank)
                layer = ctx.network.add_matrix_multiply(w, trt.MatrixOperation.NONE, y, trt.MatrixOperation.NONE)
            else:  # move the axis last, multiply, move it back
                perm = list(range(rank))
                perm[axis], perm[-1] = perm[-1], perm[axis]
                shuffle = ctx.network.add_shuffle(y)
                shuffle.first_transpose = trt.Permutation(perm)
                ctx.name_layer(shuffle, "transpose")
                w = ctx.trt(m.t().contiguous(), out.dtype, rank)
                mm = ctx.network.add_matrix_multiply(shuffle.get_output(0), trt.MatrixOperation.NONE, w,
                                                     trt.MatrixOperation.NONE)
                ctx.name_layer(mm, f"adaptive_avg_pool{nd}d")
                layer = ctx.network.add_shuffle(mm.get_output(0))
                layer.first_transpose = trt.Permutation(perm)
            ctx.name_layer(layer, f"adaptive_avg_pool{nd}d")
            y = layer.get_output(0)
        ctx.set_output(out, y)

    return convert


for _nd, _target in ((1, F.adaptive_avg_pool1d), (2, F.adaptive_avg_pool2d), (3, F.adaptive_avg_pool3d)):
    tensorrt_converter(_target)(_convert_adaptive_avg_pool(_nd))
