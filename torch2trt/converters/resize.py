"""Resize converters: F.interpolate / upsample* (nearest, nearest-exact, linear, bilinear, bicubic, trilinear,
area), F.grid_sample, F.affine_grid.

Interpolation is one RESIZE layer wherever TensorRT's documented coordinate rule (ratio in/out) gives exactly
PyTorch's operator. PyTorch maps through 1/scale_factor when a scale is given (not in/out), and computes
nearest indices in float32: where that differs, the axis is done with the operator PyTorch itself computes
(read by interpolating a basis): a GATHER of the source indices for nearest modes, a matrix product for the
others. Sizes taken from other tensors (`size=y.shape[-2:]`) stay dynamic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    compute_dtype,
    gather,
    grid_sample,
    input_dims,
    matrix_multiply,
    reshape,
    resize_layer,
    transpose,
)

C = trt.ResizeCoordinateTransformation
I = trt.InterpolationMode  # noqa: E741

# mode -> (InterpolationMode, coordinate transformation without align_corners, nearest rounding)
_MODES = {
    "nearest": (I.NEAREST, C.ASYMMETRIC, trt.ResizeRoundMode.FLOOR),
    # PyTorch: floor((i + 0.5) * scale); TensorRT HALF_PIXEL gives (i + 0.5) * scale - 0.5, rounded half up
    "nearest-exact": (I.NEAREST, C.HALF_PIXEL, trt.ResizeRoundMode.HALF_UP),
    "linear": (I.LINEAR, C.HALF_PIXEL, None), "bilinear": (I.LINEAR, C.HALF_PIXEL, None),
    "trilinear": (I.LINEAR, C.HALF_PIXEL, None), "bicubic": (I.CUBIC, C.HALF_PIXEL, None),
    "area": (None, None, None),
}


def _interpolate_args(ctx):
    """(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias) of every spelling."""
    x = ctx.get_arg("input", 0)
    size, scale = ctx.get_arg("size", 1, None), ctx.get_arg("scale_factor", 2, None)
    name = ctx.method_name.rsplit(".", 1)[-1]
    if name == "upsample_nearest":
        return x, size, scale, "nearest", None, None, False
    if name == "upsample_bilinear":
        return x, size, scale, "bilinear", True, None, False
    mode = ctx.get_arg("mode", 3, "nearest")
    align = ctx.get_arg("align_corners", 4, None)
    recompute = ctx.get_arg("recompute_scale_factor", 5, None)
    antialias = ctx.get_arg("antialias", 6, False)
    return x, size, scale, mode, align, recompute, antialias


def _per_axis(value, nd: int) -> list:
    return list(value) if isinstance(value, (list, tuple, torch.Size)) else [value] * nd


def _axis_operator(mode: str, n_in: int, n_out: int, axis: int, nd: int, size, scale, align, recompute,
                   dtype: torch.dtype) -> torch.Tensor:
    """PyTorch's own (n_out, n_in) operator along spatial `axis`: interpolate a basis (channel c holds the unit
    vector e_c along the axis; the other axes have size 1 and stay 1)."""
    shape = [1] * nd
    shape[axis] = n_in
    basis = torch.eye(n_in, dtype=dtype).reshape([1, n_in] + shape)
    kwargs = {"mode": mode}
    if mode not in ("nearest", "nearest-exact", "area"):
        kwargs["align_corners"] = align
    if size is not None:
        sizes = [1] * nd
        sizes[axis] = n_out
        kwargs["size"] = sizes
    else:
        scales = [1.0] * nd
        scales[axis] = float(_per_axis(scale, nd)[axis])
        kwargs["scale_factor"] = scales
        kwargs["recompute_scale_factor"] = recompute
    y = F.interpolate(basis, **kwargs)
    if y.shape[2 + axis] != n_out:
        raise ValueError(f"basis interpolation gave {y.shape[2 + axis]} outputs, expected {n_out}")
    return y.reshape(n_in, n_out).t()


def _resize_layer_indices(n_in: int, n_out: int, mode: str) -> list[int]:
    """Source indices TensorRT's documented NEAREST rule gives (exact rational arithmetic)."""
    ratio = Fraction(n_in, n_out)
    out = []
    for i in range(n_out):
        if mode == "nearest":  # ASYMMETRIC, FLOOR
            j = math.floor(i * ratio)
        else:  # HALF_PIXEL, HALF_UP
            j = math.floor((i + Fraction(1, 2)) * ratio - Fraction(1, 2) + Fraction(1, 2))
        out.append(min(max(j, 0), n_in - 1))
    return out


def _ratio_is_exact(n_in: int, n_out: int, axis: int, nd: int, size, scale, recompute) -> bool:
    """True when PyTorch maps this axis through in/out (the ratio TensorRT's RESIZE uses)."""
    if size is not None or recompute:
        return True
    s = _per_axis(scale, nd)[axis]
    return Fraction(n_in) * Fraction(float(s)) == n_out


def along_axis(ctx, xt, matrix: torch.Tensor, axis: int, rank: int, dtype: torch.dtype):
    """y = matrix applied along `axis` of xt (matrix: (n_out, n_in)) as one matrix product."""
    if axis == rank - 1:  # (..., n_in) @ (n_in, n_out)
        w = ctx.trt(matrix.t().contiguous(), dtype, rank)
        return matrix_multiply(ctx, xt, w, name="interpolate_matrix")
    if axis == rank - 2:  # (n_out, n_in) @ (..., n_in, W)
        w = ctx.trt(matrix.contiguous(), dtype, rank)
        return matrix_multiply(ctx, w, xt, name="interpolate_matrix")
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = along_axis(ctx, transpose(ctx, xt, perm), matrix, rank - 1, rank, dtype)
    return transpose(ctx, moved, perm)


def _gather(ctx, xt, indices: list[int], axis: int):
    return gather(ctx, xt, ctx.trt(torch.tensor(indices, dtype=torch.int32)), axis, "interpolate_gather")


def _resize(ctx, xt, shape, mode: str, align: bool | None, scales: bool = False):
    interp, transform, rounding = _MODES[mode]
    attributes = {"resize_mode": interp, "coordinate_transformation": C.ALIGN_CORNERS if align else transform}
    if interp == I.NEAREST:
        attributes["nearest_rounding"] = rounding
    if interp == I.CUBIC:
        attributes.update(cubic_coeff=-0.75, exclude_outside=False)  # PyTorch's bicubic coefficient
    attributes["selector_for_single_pixel"] = trt.ResizeSelector.FORMULA
    return resize_layer(ctx, xt, None if scales else shape, shape if scales else None, f"interpolate_{mode}",
                        **attributes)


@tensorrt_converter([F.interpolate, F.upsample, F.upsample_nearest, F.upsample_bilinear])
def convert_interpolate(ctx):
    x, size, scale, mode, align, recompute, antialias = _interpolate_args(ctx)
    out = ctx.method_return
    name = ctx.method_name.rsplit(".", 1)[-1]
    if antialias:
        raise ctx.unsupported(f"{name}(antialias=True): TensorRT's RESIZE has no antialiasing filter")
    if mode not in _MODES:
        raise ctx.unsupported(f"{name}(mode={mode!r}): supported modes are {', '.join(_MODES)}")
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{name} on {out.dtype}")
    nd = x.dim() - 2
    xt = ctx.trt(x)
    dynamic = (size is not None and any(isinstance(s, DynDim) for s in _per_axis(size, nd))) or -1 in tuple(xt.shape)
    if dynamic:
        if mode == "area":
            raise ctx.unsupported(f"{name}(mode='area') on a dynamic shape")
        if size is None:
            # integer scales give integer sizes for every input, where 1 / scale == in / out: exact
            scales = [float(s) for s in _per_axis(scale, nd)]
            if any(s != int(s) or s < 1 for s in scales):
                raise ctx.unsupported(f"{name}(scale_factor={scale}) on a dynamic shape: only integer scale "
                                      "factors (or pass size=)")
            ctx.set_output(out, _resize(ctx, xt, [1.0, 1.0] + scales, mode, align, scales=True))
            return
        shape = ctx.shape_tensor(input_dims(ctx, xt)[:2] + _per_axis(size, nd))
        ctx.set_output(out, _resize(ctx, xt, shape if shape is not None else tuple(out.shape), mode, align))
        return
    in_sz, out_sz = [int(s) for s in x.shape[2:]], [int(s) for s in out.shape[2:]]
    operators: dict[int, torch.Tensor] = {}
    resized = list(x.shape[:2]) + in_sz  # what the RESIZE layer produces; other axes follow after it
    for a, (n_in, n_out) in enumerate(zip(in_sz, out_sz)):
        nearest = mode in ("nearest", "nearest-exact")
        m = _axis_operator(mode, n_in, n_out, a, nd, size, scale, align, recompute,
                           torch.float32 if nearest else torch.float64)
        if nearest:
            indices = m.argmax(1).tolist()
            if indices == list(range(n_in)) and n_in == n_out:
                continue
            if indices == _resize_layer_indices(n_in, n_out, mode):
                resized[2 + a] = n_out
            else:
                operators[a] = torch.tensor(indices)
        elif torch.equal(m, torch.eye(n_in, dtype=m.dtype)):
            continue
        elif mode != "area" and _ratio_is_exact(n_in, n_out, a, nd, size, scale, recompute):
            resized[2 + a] = n_out
        else:
            operators[a] = m
    y = xt
    if resized != list(x.shape):
        y = _resize(ctx, y, resized, mode, align)
    # reduced precision: PyTorch weighs in float32
    compute = compute_dtype(out.dtype)
    for a, op in operators.items():
        if op.dim() == 1:
            y = _gather(ctx, y, op.tolist(), 2 + a)
        else:
            y = along_axis(ctx, ctx.cast(y, compute), op, 2 + a, x.dim(), compute)
    ctx.set_output(out, ctx.cast(y, out.dtype))


# ---- grid_sample, affine_grid ----------------------------------------------------------------------------
_GRID_MODES = {"bilinear": I.LINEAR, "nearest": I.NEAREST, "bicubic": I.CUBIC}
_GRID_PADDING = {"zeros": trt.SampleMode.FILL, "border": trt.SampleMode.CLAMP, "reflection": trt.SampleMode.REFLECT}


@tensorrt_converter([F.grid_sample, torch.grid_sampler])
def convert_grid_sample(ctx):
    x, grid = ctx.get_arg("input", 0), ctx.get_arg("grid", 1)
    out = ctx.method_return
    if ctx.method is torch.grid_sampler:  # (input, grid, mode int, padding int, align_corners)
        mode = ("bilinear", "nearest", "bicubic")[ctx.get_arg("interpolation_mode", 2)]
        padding = ("zeros", "border", "reflection")[ctx.get_arg("padding_mode", 3)]
        align = ctx.get_arg("align_corners", 4)
    else:
        mode, padding = ctx.get_arg("mode", 2, "bilinear"), ctx.get_arg("padding_mode", 3, "zeros")
        align = ctx.get_arg("align_corners", 4, None)
    if mode not in _GRID_MODES:
        raise ctx.unsupported(f"grid_sample(mode={mode!r})")
    if padding not in _GRID_PADDING:
        raise ctx.unsupported(f"grid_sample(padding_mode={padding!r})")
    ctx.set_output(out, grid_sample(ctx, ctx.trt(x, out.dtype), ctx.trt(grid, out.dtype), "grid_sample",
                                    interpolation_mode=_GRID_MODES[mode], sample_mode=_GRID_PADDING[padding],
                                    align_corners=bool(align)))


@tensorrt_converter([F.affine_grid, torch.affine_grid_generator])
def convert_affine_grid(ctx):
    """grid = base @ theta^T with PyTorch's base grid ([x, y(, z), 1] per output location) as a constant."""
    theta, size = ctx.get_arg("theta", 0), list(ctx.get_arg("size", 1))
    align = ctx.get_arg("align_corners", 2, None)
    out = ctx.method_return
    nd = len(size) - 2
    ctx.require_static(theta)
    eye = torch.eye(nd, nd + 1, dtype=torch.float64).unsqueeze(0)
    base = F.affine_grid(eye, [1, 1] + size[2:], align_corners=bool(align)).reshape(-1, nd)
    base = torch.cat([base, torch.ones(base.shape[0], 1, dtype=torch.float64)], 1)  # (points, nd + 1)
    rank = theta.dim()
    b = ctx.trt(base.to(out.dtype), rank=rank)
    grid = matrix_multiply(ctx, b, ctx.trt(theta, out.dtype), op_b=trt.MatrixOperation.TRANSPOSE, name="affine_grid")
    ctx.set_output(out, reshape(ctx, grid, list(out.shape)))
