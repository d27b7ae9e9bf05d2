"""Pooling converters: max/avg pool 1d/2d/3d, adaptive avg/max pool 1d/2d/3d for any sizes, lp_pool 1d/2d/3d.

PyTorch's window arithmetic is matched exactly. Output sizes are read from the real result. In ceil_mode PyTorch
drops a last window that would start in the right padding; TensorRT's EXPLICIT_ROUND_UP keeps it, so where the
two differ the extra window is sliced off (its neighbours' averages count exactly PyTorch's elements: the part of
a window past the padded input counts in neither). Must not handle anything but pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..backend import trt
from ..quantization.qdq import quantized_input
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import (
    E,
    U,
    as_tuple,
    broadcast_to,
    compute_dtype,
    dtype_of,
    elementwise,
    gather,
    input_dims,
    matrix_multiply,
    pooling,
    reduce,
    reduce_axis,
    reshape,
    slice_layer,
    transpose,
    unary,
)

R = trt.ReduceOperation


def _stride(value, kernel):
    """stride=None (F.*) or [] (torch.*) means the kernel size."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return kernel
    return as_tuple(value, len(kernel))


# ---- layout: TensorRT pools (N, C, H, W) or (N, C, D, H, W) ------------------------------------------------------
def _to_pool_layout(ctx, xt, nd: int):
    """A batched rank nd+2 (nd >= 2) view of `xt`: unbatched inputs get a leading 1, 1d inputs a trailing 1."""
    dims = trt_dims(xt)
    unbatched = len(dims) == nd + 1
    if not unbatched and nd > 1:
        return xt
    if -1 in dims:
        if unbatched:
            raise ctx.unsupported(f"{ctx.method_name}: unbatched input with dynamic shapes; add a batch axis")
        return reshape(ctx, xt, [*input_dims(ctx, xt), 1])
    return reshape(ctx, xt, ((1,) if unbatched else ()) + dims + ((1,) if nd == 1 else ()))


def _from_pool_layout(ctx, yt, x_rank: int, nd: int, out_shape):
    if x_rank == len(trt_dims(yt)):
        return yt
    if -1 in trt_dims(yt):  # batched 1d: (N, C, L, 1) -> (N, C, L)
        return reshape(ctx, yt, input_dims(ctx, yt)[:x_rank])
    return reshape(ctx, yt, tuple(out_shape))


def _pad_window(kernel, stride, pre, post, nd: int):
    if nd == 1:
        return kernel + (1,), stride + (1,), pre + (0,), post + (0,)
    return kernel, stride, pre, post


def _slice_to(ctx, yt, shape):
    """Keep the leading `shape` of `yt` (drops ceil_mode windows PyTorch does not have). Dynamic axes of `yt`
    (batch, channels) are kept whole."""
    dims = trt_dims(yt)
    if dims == tuple(shape):
        return yt
    size = tuple(shape)
    if -1 in dims:
        delta = torch.tensor([0 if d == -1 else s - d for d, s in zip(dims, shape)], dtype=torch.int64)
        size = elementwise(ctx, ctx.shape_of(yt), ctx.constant(delta), E.SUM, name="window_count")
    return slice_layer(ctx, yt, (0,) * len(dims), size, (1,) * len(dims), "drop_last_window")


def _ceil_post(x, out, nd: int, kernel, stride, padding) -> tuple[int, ...]:
    """Right padding with which floor-mode window counting gives exactly PyTorch's (ceil_mode) output size."""
    return tuple(max(0, (o - 1) * s + k - n - p)
                 for n, o, k, s, p in zip(x.shape[-nd:], out.shape[-nd:], kernel, stride, padding))


def _pooling(ctx, xt, kind, nd: int, kernel, stride, pre, post, round_up: bool = False, exclude_pad=False):
    k, s, b, a = _pad_window(kernel, stride, pre, post, nd)
    attributes = {"stride_nd": s, "pre_padding": b, "post_padding": a}
    if round_up:
        attributes["padding_mode"] = trt.PaddingMode.EXPLICIT_ROUND_UP
    if kind == trt.PoolingType.AVERAGE:
        attributes["average_count_excludes_padding"] = exclude_pad
    return pooling(ctx, xt, kind, k, **attributes)


def _out_in_layout(out_shape, x_rank: int, nd: int):
    """PyTorch's output shape in the pooling layout (batched, 1d as 2d)."""
    shape = tuple(out_shape)
    if x_rank == nd + 1:
        shape = (1,) + shape
    return shape + ((1,) if nd == 1 else ())


# ---- max pooling ----------------------------------------------------------------------------------------------
def _windowed_max(ctx, xt, nd: int, kernel, stride, padding, dilation, out_layout):
    """max over dilated windows as the maximum of strided slices, one per kernel tap; the slices read -inf
    outside the input (TensorRT pooling has no dilation)."""
    ctx.require_static(xt)
    rank = len(out_layout)
    lead = rank - nd
    fill = ctx.trt(torch.tensor(-math.inf), dtype_of(xt))
    y = None
    for tap in _taps(kernel):
        start = (0,) * lead + tuple(t * d - p for t, d, p in zip(tap, dilation, padding))
        t = slice_layer(ctx, xt, start, tuple(out_layout), (1,) * lead + tuple(stride), "window_tap",
                        mode=trt.SampleMode.FILL, fill=fill)
        y = t if y is None else elementwise(ctx, y, t, E.MAX, name="window_max")
    return y


def _taps(kernel):
    if not kernel:
        yield ()
        return
    for i in range(kernel[0]):
        for rest in _taps(kernel[1:]):
            yield (i,) + rest


def max_pool(ctx, x, nd: int, kernel, stride, padding, dilation, ceil_mode: bool, out):
    """PyTorch max pooling of traced `x` to `out` (read for its shape)."""
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT pools floating-point tensors only")
    x_net = quantized_input(ctx, x, ctx.trt(x))   # Q/DQ in int8 mode
    if any(d != 1 for d in dilation):
        xt = _to_pool_layout(ctx, x_net, nd)
        k, s, b, _ = _pad_window(kernel, stride, padding, padding, nd)
        y = _windowed_max(ctx, xt, len(k), k, s, b, dilation + (1,) * (len(k) - nd),
                          _out_in_layout(out.shape, x.dim(), nd))
        return _from_pool_layout(ctx, y, x.dim(), nd, out.shape)
    post = padding
    if ceil_mode:
        # padding never wins a maximum, so right padding that yields exactly PyTorch's window count is exact
        post = _ceil_post(x, out, nd, kernel, stride, padding)
        if post != padding:
            _require_static_spatial(ctx, x_net, nd)
    xt = _to_pool_layout(ctx, x_net, nd)
    y = _pooling(ctx, xt, trt.PoolingType.MAX, nd, kernel, stride, padding, post)
    return _from_pool_layout(ctx, y, x.dim(), nd, out.shape)


def _convert_max_pool(nd: int):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        if ctx.get_arg("return_indices", 6, False) or "with_indices" in ctx.method_name:
            raise ctx.unsupported(f"{ctx.method_name}(return_indices=True): TensorRT pooling gives no indices; "
                                  "use the values only")
        kernel = as_tuple(ctx.get_arg("kernel_size", 1), nd)
        stride = _stride(ctx.get_arg("stride", 2, None), kernel)
        padding, dilation = as_tuple(ctx.get_arg("padding", 3, 0), nd), as_tuple(ctx.get_arg("dilation", 4, 1), nd)
        ceil_mode = bool(ctx.get_arg("ceil_mode", 5, False))
        ctx.set_output(out, max_pool(ctx, x, nd, kernel, stride, padding, dilation, ceil_mode, out))

    return convert


for _nd, _targets in ((1, [F.max_pool1d, torch.max_pool1d, F.max_pool1d_with_indices, torch.max_pool1d_with_indices]),
                      (2, [F.max_pool2d, torch.max_pool2d, F.max_pool2d_with_indices]),
                      (3, [F.max_pool3d, torch.max_pool3d, F.max_pool3d_with_indices])):
    tensorrt_converter(_targets)(_convert_max_pool(_nd))


# ---- average pooling ------------------------------------------------------------------------------------------
def _window_counts(n: int, o: int, k: int, s: int, p: int, include_pad: bool) -> list[int]:
    """Elements of each window PyTorch divides by along one axis (windows clipped to the padded input, or to
    the input itself without count_include_pad)."""
    counts = []
    for i in range(o):
        start = i * s - p
        end = min(start + k, n + p)
        if not include_pad:
            start, end = max(start, 0), min(end, n)
        counts.append(end - start)
    return counts


def avg_pool(ctx, x, nd: int, kernel, stride, padding, ceil_mode: bool, count_include_pad: bool, divisor, out):
    """PyTorch average pooling of traced `x` to `out` (read for its shape)."""
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT pools floating-point tensors only")
    compute = compute_dtype(out.dtype)
    xt = _to_pool_layout(ctx, ctx.cast(quantized_input(ctx, x, ctx.trt(x, out.dtype)), compute), nd)   # Q/DQ: int8
    want = _out_in_layout(out.shape, x.dim(), nd)
    if ceil_mode and not count_include_pad:
        # divisors ignore padding, so right padding that gives PyTorch's window count is exact (TensorRT refuses
        # exclusive-count windows that would lie entirely in the padding, as EXPLICIT_ROUND_UP may produce)
        post = _ceil_post(x, out, nd, kernel, stride, padding)
        if post != padding:
            _require_static_spatial(ctx, xt, nd)
        y = _pooling(ctx, xt, trt.PoolingType.AVERAGE, nd, kernel, stride, padding, post, exclude_pad=True)
    else:
        y = _pooling(ctx, xt, trt.PoolingType.AVERAGE, nd, kernel, stride, padding, padding, round_up=ceil_mode,
                     exclude_pad=not count_include_pad)
    if ceil_mode and trt_dims(y) != want:
        y = _slice_to(ctx, y, want)
    if divisor is not None:  # sum / divisor = average * (count / divisor), count per window
        _require_static_spatial(ctx, xt, nd)
        per_axis = [_window_counts(n, o, k, s, p, count_include_pad)
                    for n, o, k, s, p in zip(x.shape[-nd:], out.shape[-nd:], kernel, stride, padding)]
        factor = torch.ones((), dtype=torch.float64)
        for counts in per_axis:
            factor = factor.unsqueeze(-1) * torch.tensor(counts, dtype=torch.float64)
        factor = factor / divisor
        if nd == 1:
            factor = factor.unsqueeze(-1)
        if bool((factor == factor.reshape(-1)[0]).all()):
            factor = factor.reshape(-1)[0]
        c = ctx.trt(factor.to(compute), compute, len(want))
        y = elementwise(ctx, y, c, E.PROD, name="divisor_override")
    y = _from_pool_layout(ctx, y, x.dim(), nd, out.shape)
    return ctx.cast(y, out.dtype)


def _convert_avg_pool(nd: int):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        kernel = as_tuple(ctx.get_arg("kernel_size", 1), nd)
        stride = _stride(ctx.get_arg("stride", 2, None), kernel)
        padding = as_tuple(ctx.get_arg("padding", 3, 0), nd)
        ceil_mode = bool(ctx.get_arg("ceil_mode", 4, False))
        count_include_pad = bool(ctx.get_arg("count_include_pad", 5, True))
        divisor = ctx.get_arg("divisor_override", 6, None) if nd > 1 else None
        ctx.set_output(out, avg_pool(ctx, x, nd, kernel, stride, padding, ceil_mode, count_include_pad, divisor, out))

    return convert


for _nd, _targets in ((1, [F.avg_pool1d]), (2, [F.avg_pool2d]), (3, [F.avg_pool3d])):
    tensorrt_converter(_targets)(_convert_avg_pool(_nd))


# ---- power-average pooling ------------------------------------------------------------------------------------
def _power(ctx, xt, p: float, dtype):
    if p == 1:
        return xt
    if p == 2:
        return elementwise(ctx, xt, xt, E.PROD, name="power")
    if p == 0.5:
        return unary(ctx, xt, U.SQRT, name="power")
    return elementwise(ctx, xt, ctx.trt(torch.tensor(float(p)), dtype, len(xt.shape)), E.POW, name="power")


def _convert_lp_pool(nd: int):
    def convert(ctx):
        """(sum over the window of x^p)^(1/p), computed as PyTorch does: avg_pool(x^p) * prod(kernel)."""
        x, p, out = ctx.get_arg("input", 0), ctx.get_arg("norm_type", 1), ctx.method_return
        kernel = as_tuple(ctx.get_arg("kernel_size", 2), nd)
        stride = _stride(ctx.get_arg("stride", 3, None), kernel)
        ceil_mode = bool(ctx.get_arg("ceil_mode", 4, False))
        p = float(p)
        zero = (0,) * nd
        if math.isinf(p):  # PyTorch: max_pool(|x|), or -max_pool(-|x|) for -inf
            y = unary(ctx, ctx.trt(x), U.ABS, name="abs")
            if p < 0:
                y = unary(ctx, y, U.NEG, name="neg")
            y = _pooling(ctx, _to_pool_layout(ctx, y, nd), trt.PoolingType.MAX, nd, kernel, stride, zero,
                         _ceil_post(x, out, nd, kernel, stride, zero) if ceil_mode else zero)
            y = _from_pool_layout(ctx, y, x.dim(), nd, out.shape)
            if p < 0:
                y = unary(ctx, y, U.NEG, name="neg")
            ctx.set_output(out, y)
            return
        compute = compute_dtype(out.dtype)
        xp = _power(ctx, ctx.trt(x, compute), p, compute)
        xt = _to_pool_layout(ctx, xp, nd)
        y = _pooling(ctx, xt, trt.PoolingType.AVERAGE, nd, kernel, stride, zero, zero, round_up=ceil_mode)
        want = _out_in_layout(out.shape, x.dim(), nd)
        if ceil_mode and trt_dims(y) != want:
            y = _slice_to(ctx, y, want)
        s = elementwise(ctx, y, ctx.trt(torch.tensor(float(math.prod(kernel))), compute, len(want)), E.PROD,
                        name="window_sum")
        y = _power(ctx, s, 1.0 / p, compute)
        ctx.set_output(out, ctx.cast(_from_pool_layout(ctx, y, x.dim(), nd, out.shape), out.dtype))

    return convert




for _nd, _target in ((1, F.lp_pool1d), (2, F.lp_pool2d), (3, F.lp_pool3d)):
    tensorrt_converter([_target])(_convert_lp_pool(_nd))


# ---- adaptive pooling -----------------------------------------------------------------------------------------
def _adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: [floor(i * in / out), ceil((i + 1) * in / out))."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_avg_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) averaging weights of the adaptive windows."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i, (start, end) in enumerate(_adaptive_windows(n_in, n_out)):
        m[i, start:end] = 1.0 / (end - start)
    return m


def _require_static_spatial(ctx, xt, nd: int) -> None:
    if -1 in trt_dims(xt)[-nd:]:
        raise ctx.unsupported(f"{ctx.method_name}: dynamic pooled dimensions {trt_dims(xt)}: the windows depend on "
                              "the input size; make those dimensions static")


def _spatial_axes(x, nd: int) -> list[int]:
    return list(range(x.dim() - nd, x.dim()))


def _global(ctx, xt, op, axes: list[int], name: str):
    return reduce(ctx, xt, op, axes, True, name)


def _broadcast_single(ctx, x, out, nd: int, xt):
    """Pooled axes of size 1 (or unchanged): every window is that one element, so the result repeats it (one
    SLICE with stride 0), e.g. alexnet/vgg features at 1x1 pooled to 6x6/7x7."""
    in_sz, out_sz = tuple(x.shape[-nd:]), tuple(out.shape[-nd:])
    if not all(i == 1 or i == o for i, o in zip(in_sz, out_sz)) or -1 in trt_dims(xt):
        return None
    return broadcast_to(ctx, xt, tuple(out.shape), name=None)


def _equal_windows(ctx, x, out, nd: int, kind, xt):
    """Every window has the same size and they tile the input: a plain pooling layer (batched inputs)."""
    in_sz, out_sz = tuple(x.shape[-nd:]), tuple(out.shape[-nd:])
    if x.dim() != nd + 2 or nd == 1 or any(i % o for i, o in zip(in_sz, out_sz)):
        return None
    k = tuple(i // o for i, o in zip(in_sz, out_sz))
    return pooling(ctx, xt, kind, k, stride_nd=k)


def _convert_adaptive_avg_pool(nd: int):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        if not out.dtype.is_floating_point:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
        compute = compute_dtype(out.dtype)
        xt = ctx.trt(x)
        in_sz, out_sz = tuple(x.shape[-nd:]), tuple(out.shape[-nd:])
        if in_sz == out_sz:  # every window is one element
            ctx.set_output(out, xt)
            return
        if all(o == 1 for o in out_sz):  # global average: one reduce
            y = _global(ctx, ctx.cast(xt, compute), R.AVG, _spatial_axes(x, nd), ctx.method_name.rsplit(".")[-1])
            ctx.set_output(out, ctx.cast(y, out.dtype))
            return
        _require_static_spatial(ctx, xt, nd)  # window sizes follow the input size
        y = _broadcast_single(ctx, x, out, nd, xt)
        if y is not None:
            ctx.set_output(out, y)
            return
        y = _equal_windows(ctx, x, out, nd, trt.PoolingType.AVERAGE, ctx.cast(xt, compute))
        if y is None:
            y = ctx.cast(xt, compute)
            for axis in _spatial_axes(x, nd):  # average pooling is linear: one matrix product per pooled axis
                n_in, n_out = int(x.shape[axis]), int(out.shape[axis])
                if n_in != n_out:
                    y = _matmul_axis(ctx, y, _adaptive_avg_matrix(n_in, n_out), axis, compute)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


def _matmul_axis(ctx, y, m: torch.Tensor, axis: int, dtype):
    """Contract `axis` of y with m (n_out, n_in): result has n_out on that axis."""
    rank = len(y.shape)
    if axis == rank - 1:      # (..., W) @ M^T
        return matrix_multiply(ctx, y, ctx.trt(m.t().contiguous(), dtype, rank), name=None)
    if axis == rank - 2:      # M @ (..., H, W)
        return matrix_multiply(ctx, ctx.trt(m, dtype, rank), y, name=None)
    perm = list(range(rank))  # move the axis last, multiply, move it back
    perm[axis], perm[-1] = perm[-1], perm[axis]
    mm = matrix_multiply(ctx, transpose(ctx, y, perm), ctx.trt(m.t().contiguous(), dtype, rank), name=None)
    return transpose(ctx, mm, perm)


def _adaptive_max_axis(ctx, y, axis: int, n_in: int, n_out: int):
    """Max over PyTorch's adaptive windows along one axis: gather each window's elements (the last element
    repeated to pad short windows, which cannot change a maximum), then reduce over the window axis."""
    windows = _adaptive_windows(n_in, n_out)
    width = max(e - s for s, e in windows)
    index = torch.tensor([min(s + j, e - 1) for s, e in windows for j in range(width)], dtype=torch.int32)
    y = gather(ctx, y, ctx.trt(index), axis, "window_gather")
    if width == 1:
        return y
    dims = input_dims(ctx, y)
    y = reshape(ctx, y, dims[:axis] + [n_out, width] + dims[axis + 1:])
    return reduce_axis(ctx, y, R.MAX, axis + 1, False, "window_max")


def _convert_adaptive_max_pool(nd: int):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        if ctx.get_arg("return_indices", 2, False) or "with_indices" in ctx.method_name \
                or isinstance(out, (tuple, list)):
            raise ctx.unsupported(f"{ctx.method_name}(return_indices=True): indices of the maxima are not "
                                  "supported; use F.adaptive_max_pool{nd}d without return_indices")
        if not out.dtype.is_floating_point:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
        xt = ctx.trt(x)
        in_sz, out_sz = tuple(x.shape[-nd:]), tuple(out.shape[-nd:])
        if in_sz == out_sz:
            ctx.set_output(out, xt)
            return
        if all(o == 1 for o in out_sz):  # global maximum: one reduce
            ctx.set_output(out, _global(ctx, xt, R.MAX, _spatial_axes(x, nd), ctx.method_name.rsplit(".")[-1]))
            return
        _require_static_spatial(ctx, xt, nd)
        y = _broadcast_single(ctx, x, out, nd, xt)
        if y is None:
            y = _equal_windows(ctx, x, out, nd, trt.PoolingType.MAX, xt)
        if y is None:
            y = xt
            for axis in _spatial_axes(x, nd):
                n_in, n_out = int(x.shape[axis]), int(out.shape[axis])
                if n_in != n_out:
                    y = _adaptive_max_axis(ctx, y, axis, n_in, n_out)
        ctx.set_output(out, y)

    return convert


for _nd, _targets in ((1, [F.adaptive_avg_pool1d]), (2, [F.adaptive_avg_pool2d]), (3, [F.adaptive_avg_pool3d])):
    tensorrt_converter(_targets)(_convert_adaptive_avg_pool(_nd))
for _nd, _targets in ((1, [F.adaptive_max_pool1d, torch.adaptive_max_pool1d, F.adaptive_max_pool1d_with_indices]),
                      (2, [F.adaptive_max_pool2d, F.adaptive_max_pool2d_with_indices]),
                      (3, [F.adaptive_max_pool3d, F.adaptive_max_pool3d_with_indices])):
    tensorrt_converter(_targets)(_convert_adaptive_max_pool(_nd))
