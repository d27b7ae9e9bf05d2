"""Shape converters: reshapes, permutations, expand/repeat, cat/stack, split/chunk/unbind/narrow.

Static output shapes are read from the real op's result; where the network has dynamic dims, the new
shape is built as a shape tensor from the input's dims (tracing/shapes.py)."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .unary import spellings


def sizes_arg(ctx, first: int = 1, name: str = "shape"):
    """view(2, 3) / view((2, 3)) / reshape(x, shape=...) -> list of sizes."""
    if name in ctx.method_kwargs:
        v = ctx.method_kwargs[name]
    else:
        v = ctx.method_args[first:]
        if len(v) == 1 and isinstance(v[0], (list, tuple, torch.Size)):
            v = v[0]
    return list(v)


def input_dims(ctx, itensor, sample_shape=None) -> list:
    """Per axis: the int where static in the network, else a lazily read dimension (a DynDim carrying the
    sample's value when `sample_shape` is given, so that it supports arithmetic)."""
    from ..tracing.context import _LazyDim

    def dyn(i):
        if sample_shape is None:
            return _LazyDim(ctx, itensor, i)
        return DynDim(int(sample_shape[i]), lambda: ctx.dim_tensor(itensor, i), ctx, ("dim", id(itensor), i))

    return [d if d >= 0 else dyn(i) for i, d in enumerate(trt_dims(itensor))]


def reshape(ctx, itensor, shape: list):
    """Reshape to `shape` (ints, -1 once, DynDims or dims read from the network)."""
    layer = ctx.network.add_shuffle(itensor)
    layer.zero_is_placeholder = False  # a 0 in torch means an empty dim
    st = ctx.shape_tensor(shape)
    if st is None:
        layer.reshape_dims = tuple(int(s) for s in shape)
    else:
        layer.set_input(1, st)
    ctx.name_layer(layer, "reshape")
    return layer.get_output(0)


def _reshape_output(ctx, x, out, dynamic_shape=None):
    """Reshape x's network tensor to the output: out.shape when static, else `dynamic_shape()`."""
    xt = ctx.trt(x)
    if -1 not in trt_dims(xt):
        if trt_dims(xt) == tuple(out.shape):
            return xt
        return reshape(ctx, xt, list(out.shape))
    return reshape(ctx, xt, dynamic_shape(xt))


@tensorrt_converter([torch.Tensor.view, torch.Tensor.reshape, torch.reshape])
def convert_view(ctx):
    x, out = ctx.method_args[0], ctx.method_return
    if ctx.method_name.endswith("view") and len(ctx.method_args) == 2 and isinstance(ctx.method_args[1], torch.dtype):
        raise ctx.unsupported("Tensor.view(dtype): reinterpreting bits is not supported")
    sizes = sizes_arg(ctx)
    dynamic = any(isinstance(s, DynDim) for s in sizes) or -1 in trt_dims(ctx.trt(x))
    ctx.set_output(out, reshape(ctx, ctx.trt(x), sizes) if dynamic else _reshape_output(ctx, x, out))


@tensorrt_converter([torch.Tensor.view_as, torch.Tensor.reshape_as])
def convert_view_as(ctx):
    x, other, out = ctx.method_args[0], ctx.method_args[1], ctx.method_return
    ot = get_trt(other)
    if ot is not None and -1 in trt_dims(ot):
        ctx.set_output(out, reshape(ctx, ctx.trt(x), input_dims(ctx, ot)))
    else:
        ctx.set_output(out, _reshape_output(ctx, x, out, lambda xt: list(out.shape)))


@tensorrt_converter([torch.flatten, torch.Tensor.flatten])
def convert_flatten(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    start, end = ctx.get_arg("start_dim", 1, 0), ctx.get_arg("end_dim", 2, -1)
    rank = max(x.dim(), 1)
    start, end = start % rank, end % rank

    def dynamic(xt):
        dims = input_dims(ctx, xt)
        return dims[:start] + [-1] + dims[end + 1:]

    ctx.set_output(out, _reshape_output(ctx, x, out, dynamic))


@tensorrt_converter([torch.Tensor.unflatten, torch.unflatten])
def convert_unflatten(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim, sizes = ctx.get_arg("dim", 1), list(ctx.get_arg("sizes", 2))
    dim %= x.dim()
    ctx.set_output(out, _reshape_output(ctx, x, out, lambda xt: input_dims(ctx, xt)[:dim] + sizes
                                        + input_dims(ctx, xt)[dim + 1:]))


@tensorrt_converter(spellings("squeeze"))
def convert_squeeze(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.get_arg("dim", 1, None)
    rank = x.dim()
    dims = set(range(rank)) if dim is None else {d % max(rank, 1) for d in (dim if isinstance(dim, (list, tuple))
                                                                                else [dim])}
    drop = {d for d in dims if x.shape[d] == 1}

    def dynamic(xt):
        if any(trt_dims(xt)[d] == -1 for d in drop):
            raise ctx.unsupported(f"{ctx.method_name} of a dynamic dimension")
        return [d for i, d in enumerate(input_dims(ctx, xt)) if i not in drop]

    ctx.set_output(out, _reshape_output(ctx, x, out, dynamic))


@tensorrt_converter(spellings("unsqueeze"))
def convert_unsqueeze(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.get_arg("dim", 1) % out.dim()

    def dynamic(xt):
        dims = input_dims(ctx, xt)
        return dims[:dim] + [1] + dims[dim:]

    ctx.set_output(out, _reshape_output(ctx, x, out, dynamic))


def transpose(ctx, itensor, perm):
    perm = [int(p) for p in perm]
    if perm == list(range(len(perm))):
        return itensor
    layer = ctx.network.add_shuffle(itensor)
    layer.first_transpose = trt.Permutation(perm)
    ctx.name_layer(layer, "permute")
    return layer.get_output(0)


@tensorrt_converter(spellings("permute"))
def convert_permute(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    perm = [p % x.dim() for p in sizes_arg(ctx, name="dims")]
    ctx.set_output(out, transpose(ctx, ctx.trt(x), perm))


@tensorrt_converter(spellings("transpose") + spellings("swapaxes") + spellings("swapdims"))
def convert_transpose(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    rank = x.dim()
    d0, d1 = ctx.get_arg("dim0", 1) % rank, ctx.get_arg("dim1", 2) % rank
    perm = list(range(rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    ctx.set_output(out, transpose(ctx, ctx.trt(x), perm))


@tensorrt_converter(spellings("t") + [torch.Tensor.T.__get__, torch.Tensor.mT.__get__, torch.Tensor.mH.__get__,
                                     torch.Tensor.H.__get__, torch.adjoint, torch.Tensor.adjoint])
def convert_t(ctx):
    x, out = ctx.method_args[0], ctx.method_return
    rank = x.dim()
    if rank < 2:
        ctx.set_output(out, ctx.trt(x))
        return
    if ctx.method_name.rsplit(".", 1)[-1] in ("T", "t"):
        perm = list(reversed(range(rank)))
    else:
        perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    ctx.set_output(out, transpose(ctx, ctx.trt(x), perm))


@tensorrt_converter(spellings("movedim") + spellings("moveaxis"))
def convert_movedim(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    src, dst = ctx.get_arg("source", 1), ctx.get_arg("destination", 2)
    src = [s % x.dim() for s in (src if isinstance(src, (list, tuple)) else [src])]
    dst = [d % x.dim() for d in (dst if isinstance(dst, (list, tuple)) else [dst])]
    perm = [None] * x.dim()
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(x.dim()) if i not in src)
    perm = [p if p is not None else next(rest) for p in perm]
    ctx.set_output(out, transpose(ctx, ctx.trt(x), perm))


def _broadcast_slice(ctx, itensor, out_shape, in_shape, mode=None):
    """Slice that repeats size-1 axes (stride 0) or tiles (WRAP) to `out_shape` (static)."""
    rank = len(out_shape)
    itensor = ctx.unsqueeze_to_rank(itensor, rank)
    in_shape = (1,) * (rank - len(in_shape)) + tuple(in_shape)
    if mode is None:
        stride = [0 if i == 1 and o != 1 else 1 for i, o in zip(in_shape, out_shape)]
    else:
        stride = [1] * rank
    layer = ctx.network.add_slice(itensor, [0] * rank, list(out_shape), stride)
    if mode is not None:
        layer.mode = mode
    ctx.name_layer(layer, "expand")
    return layer.get_output(0)


@tensorrt_converter([torch.Tensor.expand, torch.Tensor.expand_as, torch.broadcast_to, torch.Tensor.broadcast_to])
def convert_expand(ctx):
    x, out = ctx.method_args[0], ctx.method_return
    xt = ctx.trt(x)
    name = ctx.method_name.rsplit(".", 1)[-1]
    if name == "expand_as":
        other = ctx.method_args[1]
        ot = get_trt(other)
        sizes = input_dims(ctx, ot, other.shape) if ot is not None else list(other.shape)
    else:
        sizes = sizes_arg(ctx, name="size")
    rank = len(sizes)
    dims = input_dims(ctx, ctx.unsqueeze_to_rank(xt, rank), (1,) * (rank - x.dim()) + tuple(x.shape))
    # -1 keeps the input's size; a size-1 input axis is repeated (stride 0)
    sizes = [d if isinstance(s, int) and not isinstance(s, DynDim) and s == -1 else s for s, d in zip(sizes, dims)]
    if not any(isinstance(s, DynDim) for s in sizes) and -1 not in trt_dims(xt):
        if tuple(x.shape) == tuple(out.shape):
            ctx.set_output(out, xt)
            return
        ctx.set_output(out, _broadcast_slice(ctx, xt, tuple(out.shape), tuple(x.shape)))
        return
    xr = ctx.unsqueeze_to_rank(xt, rank)
    ctx.set_output(out, expand_to(ctx, xr, sizes))


def _static(v) -> bool:
    return isinstance(v, int) and not isinstance(v, DynDim)


def expand_to(ctx, xr, sizes: list):
    """Broadcast `xr` (already of len(sizes) dims) to `sizes` (ints / DynDims / lazily read dims): a SLICE with
    stride 0 on the axes of size 1. An axis whose size is dynamic in the network may be 1 at one shape and the full
    size at another, so its stride is computed at run time: min(max(d - 1, 0), 1)."""
    rank = len(sizes)
    in_dims = trt_dims(xr)
    layer = ctx.network.add_slice(xr, [0] * rank, [1] * rank, [1] * rank)
    st = ctx.shape_tensor(sizes)
    layer.set_input(2, st if st is not None else ctx.constant(torch.tensor([int(s) for s in sizes])))
    if -1 in in_dims:
        from .unary import E, binary

        d = binary(ctx, ctx.shape_of(xr), 1, E.SUB, torch.int64)
        layer.set_input(3, binary(ctx, binary(ctx, d, 0, E.MAX, torch.int64), 1, E.MIN, torch.int64))
    else:
        layer.stride = [0 if d == 1 and not (_static(s) and s == 1) else 1 for d, s in zip(in_dims, sizes)]
    ctx.name_layer(layer, "expand")
    return layer.get_output(0)


@tensorrt_converter([torch.Tensor.repeat, torch.tile, torch.Tensor.tile])
def convert_repeat(ctx):
    x, out = ctx.method_args[0], ctx.method_return
    ctx.require_static(x)
    ctx.set_output(out, _broadcast_slice(ctx, ctx.trt(x), tuple(out.shape), tuple(x.shape), trt.SampleMode.WRAP))


def _cat_dim(ctx):
    kw = ctx.method_kwargs
    return kw.get("dim", kw.get("axis", ctx.method_args[1] if len(ctx.method_args) > 1 else 0))


def concat(ctx, itensors, axis: int):
    if len(itensors) == 1:
        return itensors[0]
    layer = ctx.network.add_concatenation(list(itensors))
    layer.axis = axis
    ctx.name_layer(layer, "cat")
    return layer.get_output(0)


@tensorrt_converter([torch.cat, torch.concat, torch.concatenate])
def convert_cat(ctx):
    tensors, dim, out = ctx.get_arg("tensors", 0), _cat_dim(ctx), ctx.method_return
    if not isinstance(dim, int):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): named dimensions are not supported")
    # PyTorch skips legacy empty 1-d tensors (shape (0,)) in cat
    parts = [t for t in tensors if not (t.dim() == 1 and t.numel() == 0 and out.dim() != 1)]
    ctx.set_output(out, concat(ctx, [ctx.trt(t, out.dtype) for t in parts], dim % out.dim()))


@tensorrt_converter([torch.stack])
def convert_stack(ctx):
    tensors, dim, out = ctx.get_arg("tensors", 0), _cat_dim(ctx), ctx.method_return
    dim %= out.dim()
    parts = []
    for t in tensors:
        it = ctx.trt(t, out.dtype)
        dims = input_dims(ctx, it)
        parts.append(reshape(ctx, it, dims[:dim] + [1] + dims[dim:]))
    ctx.set_output(out, concat(ctx, parts, dim))


def slice_axis(ctx, itensor, axis: int, start: int, size: int, step: int = 1):
    dims = trt_dims(itensor)
    if -1 in dims:
        raise ctx.unsupported(f"{ctx.method_name} with dynamic shapes")
    starts, sizes, strides = [0] * len(dims), list(dims), [1] * len(dims)
    starts[axis], sizes[axis], strides[axis] = start, size, step
    layer = ctx.network.add_slice(itensor, starts, sizes, strides)
    ctx.name_layer(layer, "slice")
    return layer.get_output(0)


@tensorrt_converter(spellings("split") + spellings("split_with_sizes") + spellings("chunk")
                    + spellings("tensor_split") + spellings("hsplit") + spellings("vsplit"))
def convert_split(ctx):
    x, outs = ctx.get_arg("input", 0), ctx.method_return
    xt = ctx.trt(x)
    name = ctx.method_name.rsplit(".", 1)[-1]
    dim = {"hsplit": 1 if x.dim() > 1 else 0, "vsplit": 0}.get(name)
    if dim is None:
        dim = ctx.get_arg("dim", 2, 0)
    dim %= x.dim()
    start = 0
    for o in outs:
        n = o.shape[dim]
        ctx.set_output(o, slice_axis(ctx, xt, dim, start, n))
        start += n


@tensorrt_converter(spellings("unbind"))
def convert_unbind(ctx):
    x, outs = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.get_arg("dim", 1, 0) % x.dim()
    xt = ctx.trt(x)
    for i, o in enumerate(outs):
        ctx.set_output(o, reshape(ctx, slice_axis(ctx, xt, dim, i, 1), list(o.shape)))


@tensorrt_converter(spellings("narrow"))
def convert_narrow(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim, start = ctx.get_arg("dim", 1) % x.dim(), ctx.get_arg("start", 2)
    if isinstance(start, torch.Tensor):
        raise ctx.unsupported("narrow with a tensor start")
    start %= max(x.shape[dim], 1)
    ctx.set_output(out, slice_axis(ctx, ctx.trt(x), dim, start, out.shape[dim]))


@tensorrt_converter(spellings("flip"))
def convert_flip(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dims = ctx.get_arg("dims", 1)
    dims = [d % x.dim() for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
    xt = ctx.trt(x)
    ctx.require_static(x)
    shape = list(x.shape)
    starts = [shape[i] - 1 if i in dims else 0 for i in range(x.dim())]
    strides = [-1 if i in dims else 1 for i in range(x.dim())]
    layer = ctx.network.add_slice(xt, starts, shape, strides)
    ctx.name_layer(layer, "flip")
    ctx.set_output(out, layer.get_output(0))


@tensorrt_converter(spellings("roll"))
def convert_roll(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    shifts, dims = ctx.get_arg("shifts", 1), ctx.get_arg("dims", 2, None)
    ctx.require_static(x)
    xt = ctx.trt(x)
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        flat = reshape(ctx, xt, [-1])
        n = x.numel()
        s = shifts if isinstance(shifts, int) else shifts[0]
        layer = ctx.network.add_slice(flat, [(-s) % max(n, 1)], [n], [1])
        layer.mode = trt.SampleMode.WRAP
        ctx.name_layer(layer, "roll")
        ctx.set_output(out, reshape(ctx, layer.get_output(0), list(out.shape)))
        return
    shifts = list(shifts) if isinstance(shifts, (list, tuple)) else [shifts]
    dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
    starts = [0] * x.dim()
    for s, d in zip(shifts, dims):
        d %= x.dim()
        starts[d] = (starts[d] - s) % max(x.shape[d], 1)
    layer = ctx.network.add_slice(xt, starts, list(x.shape), [1] * x.dim())
    layer.mode = trt.SampleMode.WRAP
    ctx.name_layer(layer, "roll")
    ctx.set_output(out, layer.get_output(0))


_PAD_MODES = {"constant": trt.SampleMode.FILL, "reflect": trt.SampleMode.REFLECT,
              "replicate": trt.SampleMode.CLAMP, "circular": trt.SampleMode.WRAP}


@tensorrt_converter([torch.nn.functional.pad])
def convert_pad(ctx):
    """One SLICE that starts before / ends after the input (negative padding crops), sampling outside the
    input as the mode says: FILL (constant value), REFLECT, CLAMP (replicate), WRAP (circular)."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    pad, mode, value = list(ctx.get_arg("pad", 1)), ctx.get_arg("mode", 2, "constant"), ctx.get_arg("value", 3, None)
    if mode not in _PAD_MODES:
        raise ctx.unsupported(f"pad(mode={mode!r})")
    ctx.require_static(x)
    rank = x.dim()
    starts, sizes = [0] * rank, list(x.shape)
    for i in range(len(pad) // 2):  # pairs from the last dimension backwards
        axis = rank - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        starts[axis] = -before
        sizes[axis] = x.shape[axis] + before + after
    layer = ctx.network.add_slice(ctx.trt(x), starts, sizes, [1] * rank)
    layer.mode = _PAD_MODES[mode]
    if mode == "constant" and value:
        layer.set_input(4, ctx.trt(torch.tensor(value, dtype=out.dtype), out.dtype))
    ctx.name_layer(layer, f"pad_{mode}")
    ctx.set_output(out, layer.get_output(0))
