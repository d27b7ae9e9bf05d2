"""Resize converters: F.interpolate / upsample (nearest, nearest-exact, (bi/tri)linear, bicubic; size or
scale_factor; align_corners) as one RESIZE layer with PyTorch's coordinate rule. Sizes taken from other
tensors (`size=y.shape[-2:]`) stay dynamic."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .shape import input_dims

C = trt.ResizeCoordinateTransformation

# mode -> (InterpolationMode, nearest rounding)
_MODES = {
    "nearest": (trt.InterpolationMode.NEAREST, trt.ResizeRoundMode.FLOOR),
    "nearest-exact": (trt.InterpolationMode.NEAREST, trt.ResizeRoundMode.HALF_UP),
    "linear": (trt.InterpolationMode.LINEAR, None), "bilinear": (trt.InterpolationMode.LINEAR, None),
    "trilinear": (trt.InterpolationMode.LINEAR, None), "bicubic": (trt.InterpolationMode.CUBIC, None),
}


@tensorrt_converter([F.interpolate, F.upsample, F.upsample_nearest, F.upsample_bilinear])
def convert_interpolate(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    size, scale = ctx.get_arg("size", 1, None), ctx.get_arg("scale_factor", 2, None)
    name = ctx.method_name.rsplit(".", 1)[-1]
    default_mode = {"upsample_bilinear": "bilinear"}.get(name, "nearest")
    mode = ctx.get_arg("mode", 3, default_mode) if name in ("interpolate", "upsample") else default_mode
    align = ctx.get_arg("align_corners", 4, None) if name in ("interpolate", "upsample") else (
        True if name == "upsample_bilinear" else None)
    recompute = ctx.method_kwargs.get("recompute_scale_factor")
    if ctx.method_kwargs.get("antialias"):
        raise ctx.unsupported(f"{name}(antialias=True)")
    if mode not in _MODES:
        raise ctx.unsupported(f"{name}(mode={mode!r})")
    nd = x.dim() - 2
    interp, rounding = _MODES[mode]
    in_sz, out_sz = list(x.shape[2:]), list(out.shape[2:])
    if scale is not None and not recompute:
        # PyTorch maps output i to input i / scale_factor, not i * in / out: the same only if out == in * s
        scales = list(scale) if isinstance(scale, (list, tuple)) else [scale] * nd
        if any(o != i * s for i, o, s in zip(in_sz, out_sz, scales)):
            raise ctx.unsupported(f"{name}(scale_factor={scale}) where the output size is not input * scale "
                                  "(use size= or recompute_scale_factor=True)")
    xt = ctx.trt(x)
    layer = ctx.network.add_resize(xt)
    dynamic_size = isinstance(size, (list, tuple)) and any(isinstance(s, DynDim) for s in size) or \
        isinstance(size, DynDim) or -1 in tuple(xt.shape)
    if dynamic_size:
        if size is None:
            raise ctx.unsupported(f"{name}(scale_factor=...) on a dynamic shape: pass size=")
        sizes = list(size) if isinstance(size, (list, tuple)) else [size] * nd
        shape = ctx.shape_tensor(input_dims(ctx, xt)[:2] + sizes)
        layer.set_input(1, shape if shape is not None else ctx.constant(torch.tensor(list(out.shape))))
    else:
        layer.shape = tuple(out.shape)
    layer.resize_mode = interp
    if interp == trt.InterpolationMode.NEAREST:
        layer.coordinate_transformation = C.ASYMMETRIC if mode == "nearest" else C.HALF_PIXEL
        layer.nearest_rounding = rounding
    else:
        layer.coordinate_transformation = C.ALIGN_CORNERS if align else C.HALF_PIXEL
        if interp == trt.InterpolationMode.CUBIC:
            layer.cubic_coeff = -0.75
            layer.exclude_outside = False
    layer.selector_for_single_pixel = trt.ResizeSelector.FORMULA
    ctx.name_layer(layer, f"interpolate_{mode}")
    ctx.set_output(out, layer.get_output(0))
