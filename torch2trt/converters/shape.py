"""Shape converters: reshapes, permutations, expand/repeat/broadcast_tensors, cat/stack and the hstack family,
atleast_Nd, split/chunk/unbind/narrow/select, flip/rot90/roll, channel_shuffle, pad.

Static output shapes are read from the real op's result; where the network has dynamic dims, the new
shape is built as a shape tensor from the input's dims (tracing/shapes.py)."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import spellings, tensorrt_converter
from ..tracing.shapes import DynDim, over_profile
from .layers import (
    assert_dims,
    broadcast_to,
    concat,
    dim_max,
    dim_min,
    elementwise,
    input_dims,
    is_static,
    reshape,
    sample_dims,
    slice_axis,
    slice_bounds,
    slice_layer,
    transpose,
    unary,
    wrap_index,
)


def sizes_arg(ctx, first: int = 1, name: str = "shape"):
    """view(2, 3) / view((2, 3)) / reshape(x, shape=...) -> list of sizes."""
    if name in ctx.method_kwargs:
        v = ctx.method_kwargs[name]
    else:
        v = ctx.method_args[first:]
        if len(v) == 1 and isinstance(v[0], (list, tuple, torch.Size)):
            v = v[0]
    return list(v)


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


@tensorrt_converter([torch.flatten, torch.Tensor.flatten, torch.ravel, torch.Tensor.ravel])
def convert_flatten(ctx):
    """flatten(start_dim, end_dim); ravel() is flatten() (no arguments, so the defaults apply)."""
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
    sizes = [d if is_static(s) and s == -1 else s for s, d in zip(sizes, dims)]
    static = not any(isinstance(s, DynDim) for s in sizes) and -1 not in trt_dims(xt)
    if static and tuple(x.shape) == tuple(out.shape):
        ctx.set_output(out, xt)
        return
    ctx.set_output(out, broadcast_to(ctx, ctx.unsqueeze_to_rank(xt, rank), tuple(out.shape) if static else sizes))


@tensorrt_converter([torch.Tensor.repeat, torch.tile, torch.Tensor.tile])
def convert_repeat(ctx):
    """A WRAP slice of size dim * repeats per axis (dynamic dims and DynDim repeats give a shape tensor)."""
    x, out = ctx.method_args[0], ctx.method_return
    reps = sizes_arg(ctx, name="dims" if ctx.method_name.endswith("tile") else "repeats")
    rank = max(len(reps), x.dim())
    reps = [1] * (rank - len(reps)) + reps  # tile: fewer repeats than dims means 1 for the leading ones
    xt = ctx.unsqueeze_to_rank(ctx.trt(x), rank)
    dims = sample_dims(ctx, xt, (1,) * (rank - x.dim()) + tuple(x.shape))
    sizes = [d * r for d, r in zip(dims, reps)]
    ctx.set_output(out, slice_layer(ctx, xt, [0] * rank, sizes, [1] * rank, "repeat", trt.SampleMode.WRAP))


def _cat_dim(ctx):
    kw = ctx.method_kwargs
    return kw.get("dim", kw.get("axis", ctx.method_args[1] if len(ctx.method_args) > 1 else 0))


def _skipped_by_cat(t, out) -> bool:
    """PyTorch skips legacy empty 1-d tensors (shape (0,)) in cat (unless the result is 1-d)."""
    return t.dim() == 1 and t.numel() == 0 and out.dim() != 1


@tensorrt_converter([torch.cat, torch.concat, torch.concatenate])
def convert_cat(ctx):
    tensors, dim, out = ctx.get_arg("tensors", 0), _cat_dim(ctx), ctx.method_return
    if not isinstance(dim, int):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): named dimensions are not supported")
    parts = [t for t in tensors if not _skipped_by_cat(t, out)]
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


def _tensors_arg(ctx) -> list:
    """f(x), f(x, y, ...) or f([x, y, ...]) -> the tensors."""
    args = ctx.method_args
    return list(args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args)


def _atleast(ctx, t, n: int, dtype=None):
    """The network tensor of atleast_{n}d(t): size-1 axes in front, except that atleast_3d makes (k,) (1, k, 1)
    and (m, k) (m, k, 1), as PyTorch does."""
    tt = ctx.trt(t, dtype)
    dims = input_dims(ctx, tt)
    if len(dims) >= n:
        return tt
    if n == 3 and dims:
        return reshape(ctx, tt, ([1] if len(dims) == 1 else []) + dims + [1])
    return reshape(ctx, tt, [1] * (n - len(dims)) + dims)


@tensorrt_converter([torch.atleast_1d, torch.atleast_2d, torch.atleast_3d])
def convert_atleast(ctx):
    """One tensor gives a tensor; several, or a list/tuple of them, give a tuple (PyTorch's result says which)."""
    n, outs = int(ctx.method_name[-2]), ctx.method_return
    for t, o in zip(_tensors_arg(ctx), outs if isinstance(outs, (list, tuple)) else [outs], strict=True):
        ctx.set_output(o, _atleast(ctx, t, n))


# name -> (the atleast_Nd applied first, the concatenation axis); hstack's axis is 0 for 1-d tensors, else 1, and
# column_stack makes 0-d / 1-d tensors columns (k, 1) instead
_STACKS = {"hstack": (1, None), "vstack": (2, 0), "row_stack": (2, 0), "dstack": (3, 2), "column_stack": (None, 1)}


def _column(ctx, tt):
    """column_stack's form of a 0-d / 1-d tensor: a column (k, 1); higher ranks as they are."""
    dims = input_dims(ctx, tt)
    return tt if len(dims) > 1 else reshape(ctx, tt, (dims or [1]) + [1])


@tensorrt_converter([torch.hstack, torch.vstack, torch.row_stack, torch.dstack, torch.column_stack])
def convert_hstack_vstack_dstack(ctx):
    tensors, out = ctx.get_arg("tensors", 0), ctx.method_return
    n, dim = _STACKS[ctx.method_name.rsplit(".", 1)[-1]]
    if n is None:  # column_stack
        parts = [_column(ctx, ctx.trt(t, out.dtype)) for t in tensors]
    else:
        parts = [_atleast(ctx, t, n, out.dtype) for t in tensors if not (n == 1 and _skipped_by_cat(t, out))]
    if dim is None:
        dim = 0 if max(tensors[0].dim(), 1) == 1 else 1
    ctx.set_output(out, concat(ctx, parts, dim))


@tensorrt_converter([torch.broadcast_tensors])
def convert_broadcast_tensors(ctx):
    """Each input broadcast to the common shape: per axis the static size other than 1 if any, else the largest of
    the dynamic sizes (they are 1 or that size, or PyTorch would refuse), else 1."""
    tensors, outs = _tensors_arg(ctx), ctx.method_return
    rank = outs[0].dim()
    its = [ctx.unsqueeze_to_rank(ctx.trt(t), rank) for t in tensors]
    columns = zip(*[sample_dims(ctx, it, (1,) * (rank - t.dim()) + tuple(t.shape)) for t, it in zip(tensors, its)])
    sizes = []
    for column in columns:
        static = [d for d in column if is_static(d) and d != 1]
        dynamic = [d for d in column if not is_static(d)]
        size = static[0] if static else dynamic[0] if dynamic else 1
        for d in dynamic[1:] if not static else []:
            size = dim_max(ctx, size, d)
        sizes.append(size)
    for i, (o, t, it) in enumerate(zip(outs, tensors, its, strict=True)):
        if o is not t:
            ctx.set_output(o, it if trt_dims(it) == tuple(sizes) else broadcast_to(ctx, it, sizes))
            continue
        # PyTorch returns an input that needs no broadcasting itself; one Python tensor has one network value
        if not _same_over_profile(ctx, sample_dims(ctx, it, t.shape), sizes):
            raise ctx.unsupported(f"{ctx.method_name}: input {i} (shape {tuple(t.shape)}) is returned unchanged at "
                                  "the sample, but its dynamic dims may need broadcasting at other shapes of the "
                                  "profile; use expand() on it instead")
        if get_trt(t) is None:  # a constant: its value in the network
            ctx.set_output(o, it)


def _same_over_profile(ctx, a: list, b: list) -> bool:
    """Sizes a[i] == b[i] at every shape of the profile (False where that cannot be decided)."""
    for x, y in zip(a, b):
        if is_static(x) and is_static(y):
            if x != y:
                return False
            continue
        rows = over_profile(ctx, [x, y])
        if rows is None or any(u != v for _, (u, v) in rows):
            return False
    return True


@tensorrt_converter(spellings("channel_shuffle") + spellings("native_channel_shuffle"))
def convert_channel_shuffle(ctx):
    """(B, C, *rest) -> (B, g, C / g, *rest), axes 1 and 2 swapped, back to (B, C, *rest); any axis may be dynamic.
    nn.ChannelShuffle calls F.channel_shuffle (torch.channel_shuffle), so it needs no converter of its own."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    groups = ctx.get_arg("groups", 1)
    xt = ctx.trt(x)
    dims = input_dims(ctx, xt)
    grouped = reshape(ctx, xt, [dims[0], groups, -1, *dims[2:]])
    ctx.set_output(out, reshape(ctx, transpose(ctx, grouped, [0, 2, 1, *range(3, x.dim() + 1)]), dims))


# ---- run-time checks of split counts (built with layers.assert_dims) ------------------------------------------
def _compare_dims(ctx, a, b, op):
    def make():
        return elementwise(ctx, ctx.dim_value(a), ctx.dim_value(b), op, name="dim_check")

    return make


def _count_holds(ctx, n, size, count: int):
    """Condition `(count - 1) * size < n <= count * size`: splitting n into pieces of `size` gives `count` pieces."""
    E = trt.ElementWiseOperation

    def make():
        above = elementwise(ctx, ctx.dim_value(n), ctx.dim_value((count - 1) * size), E.GREATER, name="dim_check")
        beyond = elementwise(ctx, ctx.dim_value(n), ctx.dim_value(count * size), E.GREATER, name="dim_check")
        within = unary(ctx, beyond, trt.UnaryOperation.NOT, name="dim_check")
        return elementwise(ctx, above, within, E.AND, name="dim_check")

    return (count - 1) * int(size) < int(n) <= count * int(size), make


# ---- split / chunk / tensor_split / hsplit / vsplit / unbind ------------------------------------------------------
_SPLIT_ARG_NAMES = ("split_size_or_sections", "split_size", "split_sizes", "chunks", "sections", "indices",
                    "tensor_indices_or_sections", "indices_or_sections")


def _split_pieces(ctx, x, n, name: str, dim: int, count: int):
    """[(start, size)] of every output along `dim` of size n (an int or a DynDim), PyTorch's rules per op. Along a
    dynamic axis the number of outputs is the sample's; where PyTorch's count could differ at another size an
    assertion checks it."""
    E = trt.ElementWiseOperation
    kw = ctx.method_kwargs
    arg = next((kw[k] for k in _SPLIT_ARG_NAMES if k in kw), None)
    if arg is None:
        arg = ctx.method_args[1]
    if isinstance(arg, torch.Tensor):
        if get_trt(arg) is not None:
            raise ctx.unsupported(f"{ctx.method_name} with split points computed in the model (data-dependent "
                                  "number or sizes of outputs)")
        arg = arg.tolist()
    if name in ("split", "split_with_sizes") and not isinstance(arg, (list, tuple)):
        s = arg
        sizes = [s] * (count - 1) + [n - (count - 1) * s]
        assert_dims(ctx, *_count_holds(ctx, n, s, count),
                    f"{ctx.method_name}({int(s)}) along axis {dim}: the number of outputs ({count}) is fixed at "
                    f"conversion; it needs {(count - 1) * int(s)} < size <= {count * int(s)}")
    elif name in ("split", "split_with_sizes"):
        sizes = list(arg)
        total = sum(sizes[1:], sizes[0]) if sizes else 0
        assert_dims(ctx, int(total) == int(n), _compare_dims(ctx, n, total, E.EQUAL),
                    f"{ctx.method_name}({[int(v) for v in sizes]}) along axis {dim}: the sizes must sum to the axis "
                    "size")
    elif name == "chunk":
        c = arg
        cs = (n + (c - 1)) // c
        sizes = [cs] * (count - 1) + [n - (count - 1) * cs]
        assert_dims(ctx, *_count_holds(ctx, n, cs, count),
                    f"{ctx.method_name}({c}) along axis {dim}: PyTorch makes ceil(n / ceil(n / {c})) chunks, "
                    f"{count} at the sample; that count is fixed at conversion and differs at other sizes n")
    elif isinstance(arg, int) and not isinstance(arg, bool):  # sections (count == arg)
        k = arg
        q, r = n // k, n % k
        starts = [i * q + dim_min(ctx, i, r) for i in range(k)] + [n]
        if name in ("hsplit", "vsplit"):
            assert_dims(ctx, int(r) == 0, _compare_dims(ctx, r, 0, E.EQUAL),
                        f"{ctx.method_name}({k}): the axis size must be divisible by {k}")
        return [(starts[i], starts[i + 1] - starts[i]) for i in range(k)]
    else:  # split points, Python slice semantics between them
        points = [None] + list(arg) + [None]
        return [slice_bounds(ctx, a, b, 1, n) for a, b in zip(points[:-1], points[1:])]
    starts, acc = [], 0
    for size in sizes:
        starts.append(acc)
        acc = acc + size
    return list(zip(starts, sizes))


@tensorrt_converter(spellings("split") + spellings("split_with_sizes") + spellings("chunk")
                    + spellings("tensor_split") + spellings("hsplit") + spellings("vsplit"))
def convert_split(ctx):
    x, outs = ctx.get_arg("input", 0), ctx.method_return
    xt = ctx.trt(x)
    name = ctx.method_name.rsplit(".", 1)[-1]
    dim = {"hsplit": 1 if x.dim() > 1 else 0, "vsplit": 0}.get(name)
    if dim is None:
        dim = ctx.get_arg("dim", 2, 0)
    dim = ctx.normalize_dim(dim, x.dim())
    if trt_dims(xt)[dim] != -1 and not any(isinstance(v, DynDim) for v in _split_args(ctx)):
        pieces, start = [], 0  # a static axis: the sizes are the outputs'
        for o in outs:
            pieces.append((start, int(o.shape[dim])))
            start += int(o.shape[dim])
    else:
        pieces = _split_pieces(ctx, x, sample_dims(ctx, xt, x.shape)[dim], name, dim, len(outs))
    for o, (start, size) in zip(outs, pieces):
        ctx.set_output(o, slice_axis(ctx, xt, dim, start, size))


def _split_args(ctx) -> list:
    values = []
    for v in list(ctx.method_args[1:]) + list(ctx.method_kwargs.values()):
        values += list(v) if isinstance(v, (list, tuple)) else [v]
    return values


@tensorrt_converter(spellings("unbind"))
def convert_unbind(ctx):
    x, outs = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.normalize_dim(ctx.get_arg("dim", 1, 0), x.dim())
    xt = ctx.trt(x)
    if trt_dims(xt)[dim] == -1:
        raise ctx.unsupported(f"{ctx.method_name} along dynamic axis {dim}: the number of outputs is the axis size")
    dims = input_dims(ctx, xt)
    for i, o in enumerate(outs):
        ctx.set_output(o, reshape(ctx, slice_axis(ctx, xt, dim, i, 1), dims[:dim] + dims[dim + 1:]))


@tensorrt_converter([torch.select, torch.Tensor.select])
def convert_select(ctx):
    """One element along `dim` (a SLICE of size 1, then the axis dropped). Along a dynamic axis a negative index is
    n + index, computed in the network, and an assertion checks at run time that the index is in range."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim, index = ctx.get_arg("dim", 1), ctx.get_arg("index", 2)
    if not isinstance(dim, int):
        raise ctx.unsupported(f"{ctx.method_name}(dim={dim!r}): named dimensions are not supported")
    if isinstance(index, torch.Tensor):
        if get_trt(index) is not None:
            raise ctx.unsupported(f"{ctx.method_name} with an index computed in the model (use index_select or "
                                  "gather, which take a tensor of indices)")
        index = int(index)
    dim = ctx.normalize_dim(dim, x.dim())
    xt = ctx.trt(x)
    n = sample_dims(ctx, xt, x.shape)[dim]
    if not is_static(n) and is_static(index):  # n > index, or n >= -index for a negative index
        need = f">= {-index}" if index < 0 else f"> {index}"
        below = -index - 1 if index < 0 else index
        assert_dims(ctx, True, _compare_dims(ctx, n, below, trt.ElementWiseOperation.GREATER),
                    f"{ctx.method_name}({dim}, {index}) along dynamic axis {dim}: index {index} needs size {need}")
    dims = input_dims(ctx, xt)
    ctx.set_output(out, reshape(ctx, slice_axis(ctx, xt, dim, wrap_index(index, n), 1), dims[:dim] + dims[dim + 1:]))


@tensorrt_converter(spellings("narrow") + spellings("narrow_copy"))
def convert_narrow(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim, start, length = ctx.get_arg("dim", 1), ctx.get_arg("start", 2), ctx.get_arg("length", 3)
    dim = ctx.normalize_dim(dim, x.dim())
    if isinstance(start, torch.Tensor):
        if get_trt(start) is not None:
            raise ctx.unsupported("narrow with a start computed in the model")
        start = int(start)
    xt = ctx.trt(x)
    n = sample_dims(ctx, xt, x.shape)[dim]
    ctx.set_output(out, slice_axis(ctx, xt, dim, wrap_index(start, n), length))


def _flipped(ctx, x, xt, dims):
    """xt (the network tensor of x) reversed along `dims` (non-negative): one SLICE with stride -1 there."""
    shape = sample_dims(ctx, xt, x.shape)
    starts = [shape[i] - 1 if i in dims else 0 for i in range(x.dim())]
    strides = [-1 if i in dims else 1 for i in range(x.dim())]
    return slice_layer(ctx, xt, starts, input_dims(ctx, xt), strides, "flip")


@tensorrt_converter(spellings("flip"))
def convert_flip(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dims = ctx.get_arg("dims", 1)
    dims = {ctx.normalize_dim(d, x.dim()) for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
    ctx.set_output(out, _flipped(ctx, x, ctx.trt(x), dims))


_FLIP_AXIS = {"fliplr": 1, "flipud": 0}


@tensorrt_converter(spellings("fliplr") + spellings("flipud"))
def convert_fliplr_flipud(ctx):
    x = ctx.get_arg("input", 0)
    ctx.set_output(ctx.method_return, _flipped(ctx, x, ctx.trt(x), {_FLIP_AXIS[ctx.method_name.rsplit(".", 1)[-1]]}))


@tensorrt_converter(spellings("rot90"))
def convert_rot90(ctx):
    """PyTorch's definition by k % 4: 1 is flip(dims[1]) then transpose(dims[0], dims[1]); 2 is flip(dims); 3 is
    flip(dims[0]) then the transpose; 0 is x itself."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    k, dims = ctx.get_arg("k", 1, 1) % 4, ctx.get_arg("dims", 2, (0, 1))
    d0, d1 = (ctx.normalize_dim(d, x.dim()) for d in dims)
    xt = ctx.trt(x)
    if k:
        xt = _flipped(ctx, x, xt, {1: {d1}, 2: {d0, d1}, 3: {d0}}[k])
    if k % 2:
        perm = list(range(x.dim()))
        perm[d0], perm[d1] = d1, d0
        xt = transpose(ctx, xt, perm)
    ctx.set_output(out, xt)


@tensorrt_converter(spellings("roll"))
def convert_roll(ctx):
    """A WRAP slice starting at (-shift) mod n (computed in the network where n is dynamic)."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    shifts, dims = ctx.get_arg("shifts", 1), ctx.get_arg("dims", 2, None)
    xt = ctx.trt(x)
    shifts = list(shifts) if isinstance(shifts, (list, tuple)) else [shifts]
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        if len(shifts) != 1:
            raise ctx.unsupported(f"{ctx.method_name}(shifts={shifts}) without dims: only one shift")
        n = 1
        for d in sample_dims(ctx, xt, x.shape):
            n = n * d
        flat = reshape(ctx, xt, [-1])
        rolled = slice_layer(ctx, flat, [(-shifts[0]) % n if int(n) else 0], [n], [1], "roll", trt.SampleMode.WRAP)
        ctx.set_output(out, reshape(ctx, rolled, input_dims(ctx, xt)))
        return
    dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
    if len(dims) != len(shifts):
        raise ctx.unsupported(f"{ctx.method_name}: {len(shifts)} shifts for {len(dims)} dims")
    shape = sample_dims(ctx, xt, x.shape)
    starts = [0] * x.dim()
    for s, d in zip(shifts, dims):
        d = ctx.normalize_dim(d, x.dim())
        starts[d] = (starts[d] - s) % shape[d] if int(shape[d]) else 0
    ctx.set_output(out, slice_layer(ctx, xt, starts, input_dims(ctx, xt), [1] * x.dim(), "roll",
                                    trt.SampleMode.WRAP))


_PAD_MODES = {"constant": trt.SampleMode.FILL, "reflect": trt.SampleMode.REFLECT,
              "replicate": trt.SampleMode.CLAMP, "circular": trt.SampleMode.WRAP}


@tensorrt_converter([torch.nn.functional.pad])
def convert_pad(ctx):
    """One SLICE that starts before / ends after the input (negative padding crops), sampling outside the
    input as the mode says: FILL (constant value), REFLECT, CLAMP (replicate), WRAP (circular)."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    pad, mode, value = list(ctx.get_arg("pad", 1)), ctx.get_arg("mode", 2, "constant"), ctx.get_arg("value", 3, None)
    if mode == "constant" and isinstance(value, torch.Tensor):
        raise ctx.unsupported("pad(value=<tensor>): only a number")
    if mode not in _PAD_MODES:
        raise ctx.unsupported(f"pad(mode={mode!r})")
    rank = x.dim()
    if len(pad) % 2 or len(pad) // 2 > rank:
        raise ctx.unsupported(f"pad={pad}: needs pairs, at most one per dimension")
    xt = ctx.trt(x)
    sizes = sample_dims(ctx, xt, x.shape)
    starts = [0] * rank
    for i in range(len(pad) // 2):  # pairs from the last dimension backwards; sizes may be dynamic
        axis = rank - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        starts[axis] = -before
        sizes[axis] = sizes[axis] + before + after
    fill = None
    if mode == "constant" and value:
        fill = ctx.trt(torch.tensor(value, dtype=out.dtype), out.dtype)
    ctx.set_output(out, slice_layer(ctx, xt, starts, sizes, [1] * rank, f"pad_{mode}", _PAD_MODES[mode], fill))
