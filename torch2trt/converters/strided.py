"""as_strided read as a gather: the elements a (size, stride, storage_offset) view reaches in x's storage are mapped
back to x's own (logical) elements through x's strides, and gathered with constant positions. Any such view can be
read this way, overlapping windows included, as long as it stays inside x's elements; a view reaching other memory
of the storage, dynamic shapes and the in-place as_strided_ are refused."""

from __future__ import annotations

import torch

from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import gather, reshape


def _positions(x: torch.Tensor, size, stride, offset: int) -> torch.Tensor | None:
    """x's row-major element index behind each element of the view, or None if the view leaves x."""
    ends = [offset + sum((n - 1) * s for n, s in zip(size, stride))] if all(n > 0 for n in size) else [offset]
    own = x.storage_offset() + sum((n - 1) * s for n, s in zip(x.shape, x.stride())) if x.numel() else 0
    span = max(ends + [own]) + 1
    storage = torch.arange(span, dtype=torch.int64)
    to_flat = torch.full((span,), -1, dtype=torch.int64)
    to_flat[storage.as_strided(x.shape, x.stride(), x.storage_offset()).reshape(-1)] = torch.arange(x.numel())
    positions = to_flat[storage.as_strided(size, stride, offset)]
    return None if bool((positions < 0).any()) else positions


@tensorrt_converter([torch.as_strided, torch.Tensor.as_strided])
def convert_as_strided(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    size, stride = list(ctx.get_arg("size", 1)), list(ctx.get_arg("stride", 2))
    offset = ctx.get_arg("storage_offset", 3, None)
    offset = x.storage_offset() if offset is None else offset
    if any(not isinstance(v, int) for v in size + stride + [offset]):
        raise ctx.unsupported(f"{ctx.method_name} with sizes or strides computed from dynamic shapes")
    xt = ctx.trt(x)
    if -1 in trt_dims(xt):
        raise ctx.unsupported(f"{ctx.method_name} with dynamic shapes: the view is fixed by the sample's strides")
    positions = _positions(x, size, stride, offset)
    if positions is None:
        raise ctx.unsupported(f"{ctx.method_name}(size={size}, stride={stride}, storage_offset={offset}) reaches "
                              "memory outside the input's elements")
    if positions.numel() == 0:
        raise ctx.unsupported(f"{ctx.method_name}: an empty view")
    ctx.set_output(out, gather(ctx, reshape(ctx, xt, [x.numel()]), ctx.trt(positions.to(torch.int32)), 0, "as_strided"))
