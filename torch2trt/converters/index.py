"""Indexing converters: `x[...]` (ints, slices with steps, negative indices, None, Ellipsis, integer index tensors
(constants or computed in the model, any number, broadcast together) and constant boolean masks), `x[...] = v`,
index_put, gather, index_select, embedding, scatter, one_hot, pixel_shuffle, repeat_interleave (topk and sort are
in order.py).

Basic indexing is one SLICE plus (when axes are dropped or inserted) one reshape; index tensors add one GATHER
on their axes, transposed and flattened to where PyTorch puts the broadcast index shape (advanced_index)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    E,
    U,
    broadcast_to,
    dim_max,
    elementwise,
    gather,
    input_dims,
    iota,
    is_static,
    one_hot,
    reshape,
    sample_dims,
    scatter,
    select,
    slice_bounds,
    slice_layer,
    transpose,
    unary,
    wrap_index,
)


def _is_tensor_index(i) -> bool:
    return isinstance(i, torch.Tensor) and (i.dtype == torch.bool or not i.is_floating_point())


def _normalize(ctx, x, index):
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, list) for i in index):
        index = tuple(torch.tensor(i) if isinstance(i, list) else i for i in index)
    consumed = sum(i.dim() if isinstance(i, torch.Tensor) and i.dtype == torch.bool else
                   (0 if i is None or i is Ellipsis else 1) for i in index)
    if sum(i is Ellipsis for i in index) > 1:
        raise ctx.unsupported("x[...] with more than one Ellipsis")
    out = []
    for i in index:
        if i is Ellipsis:
            out += [slice(None)] * (x.dim() - consumed)
        else:
            out.append(i)
    if not any(i is Ellipsis for i in index):
        out += [slice(None)] * (x.dim() - consumed)
    return out


@tensorrt_converter([torch.Tensor.__getitem__])
def convert_getitem(ctx):
    """One SLICE (bounds clamped as Python's slices, also where they or the axis are dynamic), then for tensor
    indices one GATHER (see advanced_index), and one reshape where axes are dropped (ints) or inserted (None)."""
    x, index, out = ctx.method_args[0], ctx.method_args[1], ctx.method_return
    entries = _index_tensors(ctx, _normalize(ctx, x, index))
    xt = ctx.trt(x)
    dims = sample_dims(ctx, xt, x.shape)
    starts, sizes, strides = [], [], []
    axis = 0
    for e in entries:
        if e is None:
            continue
        if axis >= x.dim():
            raise ctx.unsupported(f"x[{index!r}]: too many indices")
        n = dims[axis]
        if isinstance(e, (int, DynDim)) and not isinstance(e, bool):
            e = e % max(n, 1) if is_static(e) and is_static(n) else wrap_index(e, n)  # PyTorch checks the range
            starts.append(e)
            sizes.append(1)
            strides.append(1)
        elif isinstance(e, slice):
            step = 1 if e.step is None else e.step
            if not is_static(step) or step <= 0:
                raise ctx.unsupported(f"x[{index!r}]: slice step {step} (only constant positive steps)")
            if e.start is None and e.stop is None and step == 1:
                start, size = 0, n
            else:
                start, size = slice_bounds(ctx, e.start, e.stop, step, n)
            starts.append(start)
            sizes.append(size)
            strides.append(step)
        elif _is_tensor_index(e):
            starts.append(0)
            sizes.append(n)
            strides.append(1)
        else:
            raise ctx.unsupported(f"x[{index!r}]: index of type {type(e).__name__}")
        axis += 1
    whole = all(is_static(a) and a == 0 for a in starts) and strides == [1] * len(strides) and \
        all(z is d or (is_static(z) and is_static(d) and z == d) for z, d in zip(sizes, dims))
    y = xt if whole else slice_layer(ctx, xt, starts, sizes, strides, "getitem")
    if any(isinstance(e, torch.Tensor) for e in entries):
        y, layout = advanced_index(ctx, y, entries, sizes)
    else:
        layout = _basic_layout(entries)
    y = _finish_layout(ctx, y, layout, out)
    ctx.set_output(out, y)


def _basic_layout(entries) -> list:
    """Output layout of basic indexing of the sliced tensor: ("axis", a) keeps axis a, ("one",) inserts a None axis;
    int axes (size 1 after the slice) are dropped."""
    layout, axis = [], 0
    for e in entries:
        if e is None:
            layout.append(("one",))
            continue
        if isinstance(e, slice):
            layout.append(("axis", axis))
        axis += 1
    return layout


def _finish_layout(ctx, y, layout: list, out: torch.Tensor):
    """Reshape y to the output: `layout` lists, per output axis, the axis of y it is (("axis", a)) or a size-1
    axis to insert (("one",)); y's axes not listed have size 1 (ints) and are dropped."""
    if -1 not in trt_dims(y):
        return y if trt_dims(y) == tuple(out.shape) else reshape(ctx, y, list(out.shape))
    kept = [item[1] for item in layout if item[0] == "axis"]
    if kept == list(range(len(trt_dims(y)))) and len(layout) == len(kept):
        return y
    dims = input_dims(ctx, y)
    return reshape(ctx, y, [1 if item[0] == "one" else dims[item[1]] for item in layout])


def _index_tensors(ctx, entries):
    """Entries with each constant boolean mask replaced by its nonzero() columns (one index per masked axis)."""
    out = []
    for e in entries:
        if isinstance(e, torch.Tensor) and e.dtype == torch.bool:
            if get_trt(e) is not None:
                raise ctx.unsupported("x[mask] with a mask computed in the model: its output shape depends on the "
                                      "data")
            if e.dim() == 0:
                raise ctx.unsupported("x[True] / x[False]: a 0-d boolean index")
            out += list(e.nonzero().unbind(1))
        else:
            out.append(e)
    return out


def advanced_index(ctx, y, entries, sizes: list):
    """PyTorch's advanced indexing of `y` (x after the SLICE: x's rank, int axes of size 1, tensor axes whole).

    Index tensors broadcast together to B. Where they are adjacent (only ints may sit between them: PyTorch
    applies ints first), B takes their place; otherwise (a slice or None between them) B comes first. The indexed
    axes are transposed together to that place and flattened into one; one GATHER there takes the linear index
    sum_j i_j * prod(n_l, l > j), with negative indices wrapped (i + n where i < 0). Returns (tensor, layout) for
    _finish_layout. `sizes`: y's dims (ints, or DynDims carrying the sample's value)."""

    dims, sdims = input_dims(ctx, y), sizes
    kinds, axis = [], 0  # per entry: (kind, axis of y or None)
    for e in entries:
        if e is None:
            kinds.append(("one", None))
            continue
        kinds.append(("tensor" if isinstance(e, torch.Tensor) else "slice" if isinstance(e, slice) else "int", axis))
        axis += 1
    tensor_pos = [k for k, (kind, _) in enumerate(kinds) if kind == "tensor"]
    between = [kinds[k][0] for k in range(tensor_pos[0], tensor_pos[-1] + 1)]
    adjacent = all(kind in ("tensor", "int") for kind in between)
    adv = [a for kind, a in kinds if kind == "tensor"]
    rank = len(dims)
    if adjacent:
        pre = [a for a in range(rank) if a < adv[0] and a not in adv]
    else:
        pre = []
    post = [a for a in range(rank) if a not in adv and a not in pre]
    perm = pre + adv + post
    t = transpose(ctx, y, perm)
    if len(adv) > 1:
        size = 1
        for a in adv:
            size = size * sdims[a]
        t = reshape(ctx, t, [dims[a] for a in pre] + [size] + [dims[a] for a in post])
    lin = None
    stride = 1
    for e, a in reversed([(e, a) for e, (kind, a) in zip(entries, kinds) if kind == "tensor"]):
        n = sdims[a]
        if get_trt(e) is None and is_static(n):
            i = ctx.trt(torch.where(e < 0, e + n, e).to(torch.int64))
        else:
            i = ctx.trt(e, torch.int64)
            neg = elementwise(ctx, i, 0, E.LESS, torch.int64)
            i = select(ctx, neg, elementwise(ctx, i, ctx.trt(n, torch.int64, 0) if not is_static(n) else n, E.SUM,
                                             torch.int64), i)
        if not (is_static(stride) and stride == 1):
            i = elementwise(ctx, i, ctx.trt(stride, torch.int64, 0) if not is_static(stride) else stride, E.PROD,
                            torch.int64)
        lin = i if lin is None else elementwise(ctx, lin, i, E.SUM, torch.int64)
        stride = stride * n
    g = gather(ctx, t, lin, len(pre), "gather")
    nb = len(g.shape) - len(pre) - len(post)
    where_g = {a: k for k, a in enumerate(pre)}
    where_g.update({a: len(pre) + nb + k for k, a in enumerate(post)})
    b_items = [("axis", len(pre) + k) for k in range(nb)]
    layout, placed = [], False
    if not adjacent:
        layout += b_items
        placed = True
    for kind, a in kinds:
        if kind == "one":
            layout.append(("one",))
        elif kind == "slice":
            layout.append(("axis", where_g[a]))
        elif kind == "tensor" and not placed:
            layout += b_items
            placed = True
    return g, layout


@tensorrt_converter([torch.gather, torch.Tensor.gather, torch.take_along_dim, torch.Tensor.take_along_dim])
def convert_gather(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.get_arg("dim", 1)
    index = ctx.get_arg("index", 2)
    if ctx.method_name.endswith("take_along_dim"):
        index, dim = ctx.get_arg("indices", 1), ctx.get_arg("dim", 2, None)
        if dim is None:
            raise ctx.unsupported("take_along_dim without dim")
    if tuple(index.shape) != tuple(out.shape) or index.dim() != x.dim():
        raise ctx.unsupported(f"{ctx.method_name}: index shape {tuple(index.shape)} must match the output")
    ctx.set_output(out, gather(ctx, ctx.trt(x), ctx.trt(index, torch.int64), dim % x.dim(), "gather",
                               trt.GatherMode.ELEMENT))


@tensorrt_converter([torch.index_select, torch.Tensor.index_select])
def convert_index_select(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim, index = ctx.get_arg("dim", 1) % max(x.dim(), 1), ctx.get_arg("index", 2)
    y = gather(ctx, ctx.trt(x), ctx.trt(index, torch.int64), dim, "index_select")
    if trt_dims(y) != tuple(out.shape):  # a 0-d index keeps the dimension in index_select
        y = reshape(ctx, y, list(out.shape))
    ctx.set_output(out, y)


@tensorrt_converter([F.embedding])
def convert_embedding(ctx):
    index, weight, out = ctx.get_arg("input", 0), ctx.get_arg("weight", 1), ctx.method_return
    if ctx.get_arg("max_norm", 3, None) is not None:
        raise ctx.unsupported("embedding(max_norm=...): renormalizes the weight in place")
    ctx.set_output(out, gather(ctx, ctx.trt(weight), ctx.trt(index, torch.int64), 0, "embedding"))


def _flat_positions(x: torch.Tensor, index) -> torch.Tensor:
    """The flat positions that `x[index]` selects, computed by PyTorch itself on a tensor of positions."""
    return torch.arange(x.numel(), dtype=torch.int64).reshape(x.shape)[index]


def _scatter_into(ctx, x, positions: torch.Tensor, values):
    """x with the elements at flat `positions` replaced by `values` (broadcast to positions' shape)."""
    out_dtype = x.dtype
    flat = reshape(ctx, ctx.trt(x), [x.numel()])
    v = ctx.trt(values, out_dtype) if isinstance(values, torch.Tensor) else ctx.trt(
        torch.tensor(values, dtype=out_dtype))
    vshape = tuple(values.shape) if isinstance(values, torch.Tensor) else ()
    if vshape != tuple(positions.shape):
        v = broadcast_to(ctx, ctx.unsqueeze_to_rank(v, positions.dim()), tuple(positions.shape))
    v = reshape(ctx, v, [positions.numel()])
    placed = scatter(ctx, flat, ctx.constant(positions.reshape(-1)), v, trt.ScatterMode.ELEMENT, 0, "setitem")
    return reshape(ctx, placed, list(x.shape))


def _accumulate_into(ctx, x, positions: torch.Tensor, values):
    """x with values added at flat `positions` (constants), repeated positions included: in rounds, round r adding
    the r-th occurrence of each position (gather, add, scatter), so that every position sums its values in index
    order, as PyTorch's sequential accumulation."""

    flat_pos = positions.reshape(-1)
    flat = reshape(ctx, ctx.trt(x), [x.numel()])
    v = ctx.trt(values, x.dtype) if isinstance(values, torch.Tensor) else ctx.trt(torch.tensor(values, dtype=x.dtype))
    vshape = tuple(values.shape) if isinstance(values, torch.Tensor) else ()
    if vshape != tuple(positions.shape):
        v = broadcast_to(ctx, ctx.unsqueeze_to_rank(v, positions.dim()), tuple(positions.shape))
    v = reshape(ctx, v, [positions.numel()])
    seen: dict[int, int] = {}
    rounds = []
    for p in flat_pos.tolist():
        rounds.append(seen.get(p, 0))
        seen[p] = rounds[-1] + 1
    rounds = torch.tensor(rounds, dtype=torch.int64)
    for r in range(int(rounds.max()) + 1 if rounds.numel() else 0):
        sel = (rounds == r).nonzero().reshape(-1)
        where = ctx.constant(flat_pos[sel])
        current = gather(ctx, flat, where, 0, "index_put_read")
        add = gather(ctx, v, ctx.constant(sel), 0, "index_put_values")
        total = elementwise(ctx, current, add, E.SUM, x.dtype)
        flat = scatter(ctx, flat, where, total, trt.ScatterMode.ELEMENT, 0, "index_put_accumulate")
    return reshape(ctx, flat, list(x.shape))


def _constant_index(ctx, index):
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, torch.Tensor) and get_trt(p) is not None:
            raise ctx.unsupported("assignment through an index computed in the model")
        if isinstance(p, DynDim) or (isinstance(p, slice) and any(isinstance(v, DynDim)
                                                                   for v in (p.start, p.stop, p.step))):
            raise ctx.unsupported("assignment with dynamic bounds")


def _has_dyndim(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, DynDim) or (isinstance(p, slice) and any(isinstance(v, DynDim) for v in
                                                                      (p.start, p.stop, p.step))) for p in parts)


def _setitem_basic(ctx, x, index, value):
    """x with x[index] = value for ints / slices / None / Ellipsis, where x's dims or the bounds are dynamic: the
    value is brought to the written region's shape, spread over x's shape by one GATHER per indexed axis (source
    element (i - start) // step), and SELECTed where a mask of the region (start <= i < start + size * step,
    (i - start) % step == 0) holds."""

    entries = _normalize(ctx, x, index)
    xt = ctx.trt(x)
    dims = sample_dims(ctx, xt, x.shape)
    rank = x.dim()
    regions, view_axes, axis = [], [], 0  # view_axes: x's axis behind each dim of x[index] (None: an inserted axis)
    for e in entries:
        if e is None:
            view_axes.append(None)
            continue
        n = dims[axis]
        if isinstance(e, (int, DynDim)) and not isinstance(e, bool):
            regions.append((axis, e % max(n, 1) if is_static(e) and is_static(n) else wrap_index(e, n), 1, 1))
        elif isinstance(e, slice):
            step = 1 if e.step is None else e.step
            if not is_static(step) or step <= 0:
                raise ctx.unsupported(f"x[{index!r}] = ...: slice step {step!r} (only constant positive steps)")
            view_axes.append(axis)
            if not (e.start is None and e.stop is None and step == 1):
                regions.append((axis, *slice_bounds(ctx, e.start, e.stop, step, n), step))
        else:
            raise ctx.unsupported(f"x[{index!r}] = ... with dynamic shapes: only ints, slices, None and Ellipsis")
        axis += 1
    region_dims = list(dims)
    for a, _start, size, _step in regions:
        region_dims[a] = size
    mask = None
    for a, start, size, step in regions:
        i = reshape(ctx, iota(ctx, dims[a]), [-1 if k == a else 1 for k in range(rank)])
        lo = ctx.trt(start, torch.int32, rank)
        inside = elementwise(ctx, unary(ctx, elementwise(ctx, i, lo, E.LESS, torch.int32), U.NOT),
                             elementwise(ctx, i, ctx.trt(start + size * step, torch.int32, rank), E.LESS, torch.int32),
                             E.AND, torch.bool)
        if step != 1:
            offset = elementwise(ctx, i, lo, E.SUB, torch.int32)
            quotient = elementwise(ctx, offset, step, E.FLOOR_DIV, torch.int32)
            on_step = elementwise(ctx, elementwise(ctx, offset, elementwise(ctx, quotient, step, E.PROD, torch.int32),
                                                   E.SUB, torch.int32),
                                  0, E.EQUAL, torch.int32)
            inside = elementwise(ctx, inside, on_step, E.AND, torch.bool)
        mask = inside if mask is None else elementwise(ctx, mask, inside, E.AND, torch.bool)
    if mask is None:  # x[...] = value: every element
        mask = ctx.trt(torch.tensor(True), rank=rank)
    if not isinstance(value, torch.Tensor) or (value.dim() == 0 and get_trt(value) is None):
        placed = ctx.trt(torch.tensor(value, dtype=x.dtype) if not isinstance(value, torch.Tensor) else
                         value.to(x.dtype), rank=rank)
    else:
        vt = ctx.trt(value, x.dtype)
        vdims = input_dims(ctx, vt)
        vdims = [1] * (len(view_axes) - len(vdims)) + vdims
        shape = [1] * rank
        for k, a in enumerate(view_axes):
            if a is not None:
                shape[a] = vdims[k]
        placed = broadcast_to(ctx, reshape(ctx, vt, shape), region_dims)
        for a, start, size, step in regions:
            src = elementwise(ctx, elementwise(ctx, iota(ctx, dims[a]), ctx.trt(start, torch.int32, 1), E.SUB,
                                               torch.int32),
                              step, E.FLOOR_DIV, torch.int32)
            last = ctx.trt(dim_max(ctx, size - 1, 0), torch.int32, 1)
            src = elementwise(ctx, elementwise(ctx, src, 0, E.MAX, torch.int32), last, E.MIN, torch.int32)
            placed = gather(ctx, placed, src, a, "setitem_spread")
    return select(ctx, mask, placed, xt)


def _linear_index(ctx, pairs, sdims):
    """sum_j i_j * prod(n_l, l > j) over (index tensor, axis) pairs (int64, broadcast over the index tensors),
    negative indices wrapped to i + n. A Python int is a 0-d constant index."""

    lin, stride = None, 1
    for e, a in reversed(pairs):
        n = sdims[a]
        if isinstance(e, int) or (get_trt(e) is None and is_static(n)):
            e = torch.as_tensor(e, dtype=torch.int64)
            i = ctx.trt(torch.where(e < 0, e + n, e)) if is_static(n) else ctx.trt(e)
            if not is_static(n):
                i = select(ctx, elementwise(ctx, i, 0, E.LESS, torch.int64),
                           elementwise(ctx, i, ctx.trt(n, torch.int64, 0), E.SUM, torch.int64), i)
        else:
            i = ctx.trt(e, torch.int64)
            wrapped = elementwise(ctx, i, n if is_static(n) else ctx.trt(n, torch.int64, 0), E.SUM, torch.int64)
            i = select(ctx, elementwise(ctx, i, 0, E.LESS, torch.int64), wrapped, i)
        if not (is_static(stride) and stride == 1):
            i = elementwise(ctx, i, stride if is_static(stride) else ctx.trt(stride, torch.int64, 0), E.PROD,
                            torch.int64)
        lin = i if lin is None else elementwise(ctx, lin, i, E.SUM, torch.int64)
        stride = stride * n
    return lin


def _put(ctx, x, entries, value):
    """x with x[entries] = value (entries: normalized, with tensor indices; slices whole) as one SCATTER: the
    indexed axes (tensors and ints) are transposed together to where PyTorch puts their broadcast shape B and
    flattened into one axis F, the value is broadcast to x[entries]'s shape and laid out as (pre, |B|, post), and
    its rows are scattered into F at the linear indices. Duplicate positions are refused where the indices are
    constants; PyTorch leaves their winner unspecified (index_put(accumulate=False))."""

    xt = ctx.trt(x)
    dims, sdims = input_dims(ctx, xt), sample_dims(ctx, xt, x.shape)
    kinds, axis = [], 0
    for e in entries:
        if e is None:
            kinds.append(("one", None))
            continue
        if isinstance(e, slice):
            if not (e.start is None and e.stop is None and e.step in (None, 1)):
                raise ctx.unsupported(f"x[...] = value with tensor indices and the slice {e}: only whole slices (:) "
                                      "next to tensor indices")
            kinds.append(("slice", axis))
        elif isinstance(e, torch.Tensor):
            kinds.append(("tensor", axis))
        elif isinstance(e, int) and not isinstance(e, (bool, DynDim)):
            kinds.append(("int", axis))
        else:
            raise ctx.unsupported(f"x[...] = value with tensor indices and the index {e!r}")
        axis += 1
    if axis != x.dim():
        raise ctx.unsupported(f"x[...] = value: {axis} indices for {x.dim()} dims")
    tensor_pos = [k for k, (kind, _) in enumerate(kinds) if kind == "tensor"]
    adjacent = all(kinds[k][0] in ("tensor", "int") for k in range(tensor_pos[0], tensor_pos[-1] + 1))
    indexed = [a for kind, a in kinds if kind in ("tensor", "int")]
    first = kinds[tensor_pos[0]][1]
    pre = [a for kind, a in kinds if kind == "slice" and adjacent and a < first]
    post = [a for kind, a in kinds if kind == "slice" and a not in pre]
    perm = pre + indexed + post
    t = reshape(ctx, transpose(ctx, xt, perm), [dims[a] for a in pre] + [-1] + [dims[a] for a in post])
    pairs = [(e, a) for e, (kind, a) in zip(entries, kinds) if kind in ("tensor", "int")]
    constant = all((isinstance(e, int) or get_trt(e) is None) and is_static(sdims[a]) for e, a in pairs)
    if constant:
        flat = torch.zeros((), dtype=torch.int64)
        for e, a in pairs:
            e = torch.as_tensor(e, dtype=torch.int64)
            flat = flat * sdims[a] + torch.where(e < 0, e + sdims[a], e)
        if flat.numel() != flat.unique().numel():
            raise ctx.unsupported("x[index] = value with duplicate index positions: PyTorch leaves the result "
                                  "unspecified")
    lin = _linear_index(ctx, pairs, sdims)
    b_dims = input_dims(ctx, lin)
    nb = len(b_dims)
    # the value, broadcast to x[entries]'s shape, in (pre, B, post) order: x[entries]'s layout without None axes
    out_kinds = (["B"] if not adjacent else []) + _merge_b([kind for kind, _ in kinds], adjacent)
    g_dims = [dims[a] for a in pre] + b_dims + [dims[a] for a in post]
    if isinstance(value, torch.Tensor) and get_trt(value) is None and value.dim() == 0:
        value = value.item()
    if not isinstance(value, torch.Tensor):
        v = ctx.trt(torch.tensor(value, dtype=x.dtype), rank=len(g_dims))
    else:
        s_rank = sum(nb if k == "B" else 1 for k in out_kinds)
        if value.dim() > s_rank:
            raise ctx.unsupported(f"x[index] = value: value of {value.dim()} dims for {s_rank} indexed dims")
        v = ctx.trt(value, x.dtype, s_rank)
        vd = input_dims(ctx, v)
        keep, p = [], 0
        for k in out_kinds:
            width = nb if k == "B" else 1
            if k != "one":
                keep += vd[p:p + width]
            p += width
        if len(keep) != s_rank:
            v = reshape(ctx, v, keep)
    v = broadcast_to(ctx, v, g_dims)
    v = reshape(ctx, v, [dims[a] for a in pre] + [-1] + [dims[a] for a in post])
    idx = reshape(ctx, lin, [1] * len(pre) + [-1] + [1] * len(post))
    idx = broadcast_to(ctx, idx, input_dims(ctx, v))
    y = reshape(ctx, scatter(ctx, t, idx, v, trt.ScatterMode.ELEMENT, len(pre), "index_put"), [dims[a] for a in perm])
    inverse = [perm.index(a) for a in range(x.dim())]
    return transpose(ctx, y, inverse)


def _merge_b(kinds: list, adjacent: bool) -> list:
    """x[index]'s axes in order as "slice" / "one" / "B" (the broadcast index shape; ints vanish)."""
    out, placed = [], not adjacent
    for kind in kinds:
        if kind in ("slice", "one"):
            out.append(kind)
        elif kind == "tensor" and not placed:
            out.append("B")
            placed = True
    return out


@tensorrt_converter([torch.Tensor.__setitem__])
def convert_setitem(ctx):
    """x[index] = value: the assigned elements are scattered into x's network value (x itself changes, so
    other views of x are reported stale by the tracer if they are used later)."""
    x, index, value = ctx.method_args[0], ctx.method_args[1], ctx.method_args[2]
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, (torch.Tensor, list)) for p in parts) and (
            -1 in trt_dims(ctx.trt(x)) or any(isinstance(p, torch.Tensor) and get_trt(p) is not None for p in parts)):
        x._trt = _put(ctx, x, _index_tensors(ctx, _normalize(ctx, x, index)), value)
        return
    if -1 in trt_dims(ctx.trt(x)) or _has_dyndim(index):
        x._trt = _setitem_basic(ctx, x, index, value)
        return
    _constant_index(ctx, index)
    positions = _flat_positions(x, index)
    if positions.numel() == 0:
        return
    x._trt = _scatter_into(ctx, x, positions, value)


@tensorrt_converter([torch.index_put, torch.Tensor.index_put, torch.Tensor.index_put_])
def convert_index_put(ctx):
    x, indices, values = ctx.get_arg("input", 0), ctx.get_arg("indices", 1), ctx.get_arg("values", 2)
    out = ctx.method_return
    index = tuple(slice(None) if i is None else i for i in indices)
    if ctx.get_arg("accumulate", 3, False):
        if len(indices) == 1 and isinstance(indices[0], torch.Tensor) and indices[0].dtype != torch.bool:
            from .scatter import index_put_accumulate  # one integer index: any values, dynamic shapes

            ctx.set_output(out, index_put_accumulate(ctx, x, indices, values))
            return
        if -1 in trt_dims(ctx.trt(x)) or any(get_trt(i) is not None for i in index if isinstance(i, torch.Tensor)):
            raise ctx.unsupported("index_put(accumulate=True) with indices computed in the model or dynamic shapes: "
                                  "repeated positions must be known to add them exactly; only constant indices at "
                                  "static shapes")
        if x.dtype == torch.bool:
            raise ctx.unsupported("index_put(accumulate=True) of a bool tensor")
        ctx.set_output(out, _accumulate_into(ctx, x, _flat_positions(x, index), values))
        return
    if -1 in trt_dims(ctx.trt(x)) or any(get_trt(i) is not None for i in index if isinstance(i, torch.Tensor)):
        y = _put(ctx, x, _index_tensors(ctx, _normalize(ctx, x, index)), values)
    else:
        y = _scatter_into(ctx, x, _flat_positions(x, index), values)
    ctx.set_output(out, y)


@tensorrt_converter([F.one_hot])
def convert_one_hot(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    depth = out.shape[-1]
    values = ctx.constant(torch.tensor([0, 1], dtype=torch.int64))
    ctx.set_output(out, one_hot(ctx, ctx.trt(x), values, ctx.constant(torch.tensor(depth, dtype=torch.int64)), -1,
                                "one_hot"))


@tensorrt_converter([F.pixel_shuffle, F.pixel_unshuffle, torch.pixel_shuffle, torch.pixel_unshuffle])
def convert_pixel_shuffle(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    r = ctx.method_args[1] if len(ctx.method_args) > 1 else next(iter(ctx.method_kwargs.values()))
    xt = ctx.trt(x)
    *lead, c, h, w = sample_dims(ctx, xt, x.shape)  # any of them may be dynamic
    n = len(lead)

    if "unshuffle" in ctx.method_name:  # (.., C, H*r, W*r) -> (.., C, H, r, W, r) -> (.., C, r, r, H, W)
        y = reshape(ctx, xt, [*lead, c, h // r, r, w // r, r])
        y = transpose(ctx, y, list(range(n)) + [n, n + 2, n + 4, n + 1, n + 3])
        shape = [*lead, c * (r * r), h // r, w // r]
    else:  # (.., C*r*r, H, W) -> (.., C, r, r, H, W) -> (.., C, H, r, W, r)
        y = reshape(ctx, xt, [*lead, c // (r * r), r, r, h, w])
        y = transpose(ctx, y, list(range(n)) + [n, n + 3, n + 1, n + 4, n + 2])
        shape = [*lead, c // (r * r), h * r, w * r]
    ctx.set_output(out, reshape(ctx, y, shape))


@tensorrt_converter([torch.repeat_interleave, torch.Tensor.repeat_interleave])
def convert_repeat_interleave(ctx):
    """A GATHER of each output element's source index along dim: PyTorch's own arange(n).repeat_interleave(repeats)
    where n is static, iota(n * repeats) // repeats where it is dynamic (int repeats)."""

    x, out = ctx.get_arg("input", 0), ctx.method_return
    repeats, dim = ctx.get_arg("repeats", 1), ctx.get_arg("dim", 2, None)
    if isinstance(repeats, torch.Tensor) and (get_trt(repeats) is not None):
        raise ctx.unsupported("repeat_interleave with repeats computed in the model (data-dependent shape)")
    xt = ctx.trt(x)
    if dim is None:
        if -1 in trt_dims(xt):
            raise ctx.unsupported("repeat_interleave without dim of a tensor with dynamic dims: only with dim")
        xt, axis = reshape(ctx, xt, [x.numel()]), 0
    else:
        axis = ctx.normalize_dim(dim, max(x.dim(), 1))
    n = trt_dims(xt)[axis]
    if n >= 0:
        src = ctx.constant(torch.arange(n).repeat_interleave(repeats))
    elif isinstance(repeats, int) and not isinstance(repeats, DynDim):
        length = sample_dims(ctx, xt, x.shape)[axis] * repeats
        src = elementwise(ctx, iota(ctx, length), repeats, E.FLOOR_DIV, torch.int32)
    else:
        raise ctx.unsupported(f"repeat_interleave along dynamic axis {axis} with a tensor of repeats: its length "
                              "must be the axis size")
    ctx.set_output(out, gather(ctx, xt, src, axis, "repeat_interleave"))


@tensorrt_converter([torch.scatter, torch.Tensor.scatter, torch.Tensor.scatter_])
def convert_scatter(ctx):
    """out = x; out[..index[i]..] = src[i] along dim (ScatterMode.ELEMENT). Duplicate indices are refused:
    PyTorch leaves their winner unspecified."""
    x, dim, index, out = ctx.get_arg("input", 0), ctx.get_arg("dim", 1), ctx.get_arg("index", 2), ctx.method_return
    src = ctx.method_kwargs.get("src", ctx.method_kwargs.get("value", ctx.method_args[3] if len(ctx.method_args) > 3
                                                             else None))
    if ctx.method_kwargs.get("reduce") is not None:
        raise ctx.unsupported(f"{ctx.method_name}(reduce=...): not supported")
    dim %= max(x.dim(), 1)
    if get_trt(index) is None:
        positions = index.movedim(dim, -1).reshape(-1, index.shape[dim])
        if any(len(set(row.tolist())) != len(row) for row in positions):
            raise ctx.unsupported(f"{ctx.method_name} with duplicate indices: PyTorch's result is unspecified")
    if isinstance(src, torch.Tensor) and tuple(src.shape) != tuple(index.shape):
        if get_trt(src) is not None:
            raise ctx.unsupported(f"{ctx.method_name}: src larger than index")
        src = src[tuple(slice(0, n) for n in index.shape)]
    if not isinstance(src, torch.Tensor):
        src = torch.full(tuple(index.shape), src, dtype=out.dtype)
    ctx.set_output(out, scatter(ctx, ctx.trt(x, out.dtype), ctx.trt(index, torch.int64), ctx.trt(src, out.dtype),
                                trt.ScatterMode.ELEMENT, dim, "scatter"))
