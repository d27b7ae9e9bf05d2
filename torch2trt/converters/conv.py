"""Convolution converters: conv1d/2d/3d and conv_transpose1d/2d/3d (1d runs as 2d on an inserted axis).

Weights and bias must be model constants (parameters/buffers); padding_mode other than 'zeros' reaches us as an
F.pad call before the convolution (converted by the padding converter). Must not build anything but the
convolution itself (and the reshapes/bias adds its arguments require).
"""

from __future__ import annotations

import torch

from ..backend import trt
from ..quantization.qdq import quantized_input, quantized_weights
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import E, as_tuple, convolution, elementwise, input_dims, reshape, slice_layer


def _check_constants(ctx, weight, bias) -> None:
    if get_trt(weight) is not None or get_trt(bias) is not None:
        raise ctx.unsupported(f"{ctx.method_name}: weight/bias computed inside the model (they must be parameters "
                              "or buffers: TensorRT convolution kernels are build-time constants)")


def _batched_input(ctx, x, weight, out):
    """Network input as (N, C, *spatial), plus the final output shape: an unbatched (C, *spatial) input gets a
    batch axis of 1, which is removed again at the end."""
    xt = ctx.trt(x, out.dtype)
    if x.dim() == weight.dim() - 1:
        ctx.require_static(x)
        xt = reshape(ctx, xt, (1,) + tuple(x.shape))
    elif x.dim() != weight.dim():
        raise ctx.unsupported(f"{ctx.method_name}: input of rank {x.dim()} for a weight of rank {weight.dim()}")
    return xt


def _to_2d(ctx, xt, nd: int):
    """TensorRT convolves 2d/3d windows: (N, C, L) runs as (N, C, L, 1)."""
    if nd != 1:
        return xt
    return reshape(ctx, xt, [*input_dims(ctx, xt), 1])


def _set_output_in_input_layout(ctx, y, out, changed_shape: bool):
    """Undo _to_2d / _batched_input: (N, C, L, 1) -> (N, C, L) keeps dynamic dims; unbatched inputs are static."""
    if changed_shape:
        y = reshape(ctx, y, tuple(out.shape) if -1 not in trt_dims(y) else input_dims(ctx, y)[:out.dim()])
    ctx.set_output(out, y)


def _configure(layer, kernel_q, stride, dilation, groups, pre, post) -> None:
    """The window of a (de)convolution layer and its Q/DQ kernel input in int8 mode."""
    if kernel_q is not None:
        layer.set_input(1, kernel_q)
    layer.stride_nd, layer.dilation_nd, layer.num_groups = stride, dilation, groups
    layer.pre_padding, layer.post_padding = pre, post


@tensorrt_converter([torch.conv1d, torch.conv2d, torch.conv3d])
def convert_conv(ctx):
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    stride, padding = ctx.get_arg("stride", 3, 1), ctx.get_arg("padding", 4, 0)
    dilation, groups = ctx.get_arg("dilation", 5, 1), ctx.get_arg("groups", 6, 1)
    out = ctx.method_return
    _check_constants(ctx, weight, bias)
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT convolves floating-point tensors only")
    nd = weight.dim() - 2
    stride, dilation = as_tuple(stride, nd), as_tuple(dilation, nd)
    kernel = tuple(weight.shape[2:])
    if padding == "valid":
        pre = post = (0,) * nd
    elif padding == "same":
        # PyTorch puts the odd extra padding at the end
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        pre = tuple(t // 2 for t in total)
        post = tuple(t - t // 2 for t in total)
    else:
        pre = post = as_tuple(padding, nd)
    reshaped = nd == 1 or x.dim() == weight.dim() - 1
    xt = quantized_input(ctx, x, _to_2d(ctx, _batched_input(ctx, x, weight, out), nd))   # Q/DQ in int8 mode
    if nd == 1:
        weight = weight.unsqueeze(-1)
        kernel, stride, dilation, pre, post = kernel + (1,), stride + (1,), dilation + (1,), pre + (0,), post + (0,)
    kernel_q = quantized_weights(ctx, weight, 0, out.dtype)   # Q/DQ kernel tensor in int8 mode, else None
    empty = trt.Weights(ctx.trt_dtype(out.dtype))
    out_dtype = out.dtype  # not `out` in the closure below: the fold offer would keep the activation alive

    def add_conv(kernel_w, bias_w):
        layer = convolution(ctx, xt, weight.shape[0], kernel,
                            ctx.weights(kernel_w, out_dtype) if kernel_q is None else empty,
                            ctx.weights(bias_w, out_dtype) if bias_w is not None else empty)
        _configure(layer, kernel_q, stride, dilation, groups, pre, post)
        return layer

    layer = add_conv(weight, bias)
    y = layer.get_output(0)
    _set_output_in_input_layout(ctx, y, out, reshaped)
    if not reshaped and kernel_q is None:  # a batch norm right after may fold into the (float) weights
        ctx.offer_fold(out, layer, weight, bias, lambda: add_conv(weight, bias).get_output(0))


def _dilate_kernel(weight: torch.Tensor, dilation) -> torch.Tensor:
    k = weight.shape[2:]
    big = weight.new_zeros(weight.shape[:2] + tuple(d * (n - 1) + 1 for d, n in zip(dilation, k)))
    big[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = weight.detach()
    return big


@tensorrt_converter([torch.conv_transpose1d, torch.conv_transpose2d, torch.conv_transpose3d])
def convert_conv_transpose(ctx):
    """Deconvolution. PyTorch: O = (I - 1) * S - 2P + D * (K - 1) + output_padding + 1; TensorRT crops
    pre/post padding from the full (I - 1) * S + D * (K - 1) + 1, so post = P - output_padding. Where that is
    negative (output_padding > P) the extra outputs are beyond the full result: zeros plus bias."""
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    stride, padding = ctx.get_arg("stride", 3, 1), ctx.get_arg("padding", 4, 0)
    output_padding, groups = ctx.get_arg("output_padding", 5, 0), ctx.get_arg("groups", 6, 1)
    dilation = ctx.get_arg("dilation", 7, 1)
    out = ctx.method_return
    _check_constants(ctx, weight, bias)
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: TensorRT convolves floating-point tensors only")
    if isinstance(padding, str):
        raise ctx.unsupported(f"{ctx.method_name}(padding={padding!r}): PyTorch itself accepts only numbers here")
    nd = weight.dim() - 2
    stride, dilation = as_tuple(stride, nd), as_tuple(dilation, nd)
    padding, output_padding = as_tuple(padding, nd), as_tuple(output_padding, nd)
    kernel = tuple(weight.shape[2:])
    out_maps = weight.shape[1] * groups            # weight is (C_in, C_out / groups, *kernel)
    pre = padding
    post = tuple(max(p - o, 0) for p, o in zip(padding, output_padding))
    extra = tuple(max(o - p, 0) for p, o in zip(padding, output_padding))  # outputs past the full result
    reshaped = nd == 1 or x.dim() == weight.dim() - 1
    xt = quantized_input(ctx, x, _to_2d(ctx, _batched_input(ctx, x, weight, out), nd))   # Q/DQ in int8 mode
    if nd == 1:
        weight = weight.unsqueeze(-1)
        kernel, stride, dilation, pre, post, extra = (kernel + (1,), stride + (1,), dilation + (1,), pre + (0,),
                                                      post + (0,), extra + (0,))
    if any(s > 1 for s in stride) and any(d > 1 for d in dilation):
        # TensorRT builds no strided and dilated deconvolution: dilate the kernel itself (zeros between taps)
        weight = _dilate_kernel(weight, dilation)
        kernel, dilation = tuple(weight.shape[2:]), (1,) * len(dilation)
    fused_bias = bias if not any(extra) else None
    kernel_q = quantized_weights(ctx, weight, 1, out.dtype)   # output channels are axis 1 of (C_in, C_out / g, *k)
    empty = trt.Weights(ctx.trt_dtype(out.dtype))
    layer = convolution(ctx, xt, out_maps, kernel, ctx.weights(weight, out.dtype) if kernel_q is None else empty,
                        ctx.weights(fused_bias, out.dtype) if fused_bias is not None else empty, transposed=True)
    _configure(layer, kernel_q, stride, dilation, groups, pre, post)
    y = layer.get_output(0)
    if any(extra):
        dims = tuple(int(d) for d in y.shape)
        growth = (0,) * (len(dims) - len(extra)) + extra
        size = tuple(d + g for d, g in zip(dims, growth))
        if -1 in dims:  # size = shape(y) + growth, read from the network
            size = elementwise(ctx, ctx.shape_of(y), ctx.constant(torch.tensor(growth)), E.SUM,
                               name="output_padding_size")
        # reads past the end give 0
        y = slice_layer(ctx, y, (0,) * len(dims), size, (1,) * len(dims), "output_padding", mode=trt.SampleMode.FILL)
        if bias is not None:
            b = ctx.trt(bias.detach().reshape((-1,) + (1,) * (len(dims) - 2)), out.dtype, len(dims))
            y = elementwise(ctx, y, b, E.SUM, name="bias")
    _set_output_in_input_layout(ctx, y, out, reshaped)
