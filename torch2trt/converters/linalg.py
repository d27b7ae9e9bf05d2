"""Diagonals and products over small fixed axes: diagonal, diag, diag_embed, trace, cross/linalg.cross, meshgrid,
cartesian_prod, kron, block_diag, vander, and matrix norms (distances are in distance.py). The axes a diagonal
runs over (and cross's size-3 axis) must be static (their positions are constants); the other axes may be dynamic."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import spellings, tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    ARITHMETIC_DTYPES,
    E,
    U,
    broadcast_to,
    compute_dtype,
    concat,
    elementwise,
    filled,
    gather,
    input_dims,
    reduce,
    reduce_axis,
    require_tensorrt_dtype,
    reshape,
    sample_dims,
    select,
    transpose,
    unary,
)
from .reduce import vector_norm

R = trt.ReduceOperation


def _int_arg(ctx, name: str, value):
    if not isinstance(value, int) or isinstance(value, (bool, DynDim)):
        raise ctx.unsupported(f"{ctx.method_name}({name}={value!r}): only a constant int")
    return value


def _check_dtype(ctx, dtype):
    if dtype not in ARITHMETIC_DTYPES:
        raise ctx.unsupported(f"{ctx.method_name} on {dtype}: TensorRT has no such arithmetic")


def _static_dims(ctx, itensor, axes):
    dims = tuple(itensor.shape)
    for a in axes:
        if dims[a] < 0:
            raise ctx.unsupported(f"{ctx.method_name} over dynamic axis {a}: only static sizes there")
    return [dims[a] for a in axes]


def diagonal(ctx, xt, offset: int, a1: int, a2: int):
    """x.diagonal(offset, a1, a2) of an ITensor: the two axes moved last, flattened, and the diagonal's flat
    positions gathered (a 0-length diagonal is refused)."""
    rank = len(xt.shape)
    n1, n2 = _static_dims(ctx, xt, (a1, a2))
    perm = [a for a in range(rank) if a not in (a1, a2)] + [a1, a2]
    moved = transpose(ctx, xt, perm)
    rows = range(max(0, -offset), min(n1, n2 - offset))
    if len(rows) == 0:
        raise ctx.unsupported(f"{ctx.method_name}: empty diagonal (offset {offset})")
    flat = reshape(ctx, moved, input_dims(ctx, moved)[:-2] + [n1 * n2])
    positions = torch.tensor([i * n2 + i + offset for i in rows], dtype=torch.int32)
    return gather(ctx, flat, ctx.trt(positions), rank - 2, "diagonal")


@tensorrt_converter([torch.diagonal, torch.Tensor.diagonal])
def convert_diagonal(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    offset = _int_arg(ctx, "offset", ctx.get_arg("offset", 1, 0))
    a1 = ctx.normalize_dim(_int_arg(ctx, "dim1", ctx.get_arg("dim1", 2, 0)), x.dim())
    a2 = ctx.normalize_dim(_int_arg(ctx, "dim2", ctx.get_arg("dim2", 3, 1)), x.dim())
    ctx.set_output(out, diagonal(ctx, ctx.trt(x), offset, a1, a2))


def _embed(ctx, vt, length: int, offset: int, dtype):
    """(..., length) -> (..., n, n) with the values on diagonal `offset`, zeros elsewhere."""
    n = length + abs(offset)
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    on = (j - i) == offset
    k = (i if offset >= 0 else j).expand(n, n).clamp(0, length - 1).to(torch.int32)
    rank = len(vt.shape)
    spread = gather(ctx, vt, ctx.trt(k), rank - 1, "diag_embed")
    zero = ctx.trt(torch.zeros((), dtype=dtype), rank=rank + 1)
    return select(ctx, ctx.trt(on, rank=rank + 1), spread, zero)


@tensorrt_converter([torch.diag, torch.Tensor.diag])
def convert_diag(ctx):
    """1-d: the square matrix with x on diagonal `diagonal`; 2-d: that diagonal."""
    x, out = ctx.get_arg("input", 0), ctx.method_return
    k = _int_arg(ctx, "diagonal", ctx.get_arg("diagonal", 1, 0))
    xt = ctx.trt(x)
    if x.dim() == 2:
        ctx.set_output(out, diagonal(ctx, xt, k, 0, 1))
        return
    if x.dim() != 1:
        raise ctx.unsupported(f"{ctx.method_name} of a {x.dim()}-d tensor")
    (length,) = _static_dims(ctx, xt, (0,))
    _check_dtype(ctx, out.dtype)
    ctx.set_output(out, _embed(ctx, xt, length, k, out.dtype))


@tensorrt_converter([torch.diag_embed, torch.Tensor.diag_embed])
def convert_diag_embed(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    offset = _int_arg(ctx, "offset", ctx.get_arg("offset", 1, 0))
    rank = out.dim()
    d1 = ctx.normalize_dim(_int_arg(ctx, "dim1", ctx.get_arg("dim1", 2, -2)), rank)
    d2 = ctx.normalize_dim(_int_arg(ctx, "dim2", ctx.get_arg("dim2", 3, -1)), rank)
    _check_dtype(ctx, out.dtype)
    xt = ctx.trt(x)
    (length,) = _static_dims(ctx, xt, (len(xt.shape) - 1,))
    z = _embed(ctx, xt, length, offset, out.dtype)  # (others..., n [dim1], n [dim2])
    others = iter(range(rank - 2))
    perm = [rank - 2 if a == d1 else rank - 1 if a == d2 else next(others) for a in range(rank)]
    ctx.set_output(out, transpose(ctx, z, perm))


@tensorrt_converter([torch.trace, torch.Tensor.trace])
def convert_trace(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    _check_dtype(ctx, out.dtype)
    if x.dim() != 2:
        raise ctx.unsupported(f"{ctx.method_name} of a {x.dim()}-d tensor")
    d = diagonal(ctx, ctx.trt(x, out.dtype), 0, 0, 1)
    ctx.set_output(out, reduce_axis(ctx, d, R.SUM, 0))


# ---- cross ---------------------------------------------------------------------------------------------------
@tensorrt_converter([torch.cross, torch.Tensor.cross, torch.linalg.cross])
def convert_cross(ctx):
    """a x b along a size-3 axis: a[1]b[2] - a[2]b[1], ..., each term as PyTorch computes it."""
    a, b, out = ctx.get_arg("input", 0), ctx.get_arg("other", 1), ctx.method_return
    default = -1 if ctx.method is torch.linalg.cross else None
    dim = ctx.get_arg("dim", 2, default)
    if dim is None:  # torch.cross without dim: the first axis of size 3
        dim = next(i for i, n in enumerate(out.shape) if n == 3)
    axis = ctx.normalize_dim(_int_arg(ctx, "dim", dim), out.dim())
    _check_dtype(ctx, out.dtype)
    at, bt = ctx.operands(a, b, dtype=out.dtype)
    if any(int(t.shape[axis]) == -1 for t in (at, bt)):
        raise ctx.unsupported(f"{ctx.method_name} along a dynamic axis")

    def rolled(t, order):
        return gather(ctx, t, ctx.trt(torch.tensor(order, dtype=torch.int32)), axis, "cross")

    left = elementwise(ctx, rolled(at, [1, 2, 0]), rolled(bt, [2, 0, 1]), E.PROD, out.dtype)
    right = elementwise(ctx, rolled(at, [2, 0, 1]), rolled(bt, [1, 2, 0]), E.PROD, out.dtype)
    ctx.set_output(out, elementwise(ctx, left, right, E.SUB, out.dtype))


# ---- meshgrid ----------------------------------------------------------------------------------------------------
@tensorrt_converter([torch.meshgrid])
def convert_meshgrid(ctx):
    tensors = list(ctx.method_args)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = list(tensors[0])
    indexing = ctx.method_kwargs.get("indexing", "ij")
    outs = ctx.method_return
    if indexing not in ("ij", "xy"):
        raise ctx.unsupported(f"meshgrid(indexing={indexing!r})")
    n = len(tensors)
    flat = [reshape(ctx, ctx.trt(t, outs[0].dtype), [-1]) for t in tensors]
    sizes = [input_dims(ctx, f)[0] for f in flat]
    order = list(range(n))
    if indexing == "xy" and n >= 2:
        order[0], order[1] = 1, 0
    grid = [sizes[o] for o in order]
    for k, (f, out) in enumerate(zip(flat, outs)):
        shape = [1] * n
        shape[order.index(k)] = -1
        ctx.set_output(out, broadcast_to(ctx, reshape(ctx, f, shape), grid))


@tensorrt_converter([torch.cartesian_prod])
def convert_cartesian_prod(ctx):
    """Rows of every combination of the 1-d inputs' elements (meshgrid 'ij', flattened, side by side); a single
    input is returned as it is (PyTorch returns the input itself)."""
    tensors, out = list(ctx.method_args), ctx.method_return
    if any(t.dim() != 1 for t in tensors):
        raise ctx.unsupported(f"{ctx.method_name}: only 1-d inputs")
    flat = [ctx.trt(t, out.dtype) for t in tensors]
    if len(flat) == 1:
        ctx.set_output(out, flat[0])
        return
    n, sizes = len(flat), [input_dims(ctx, f)[0] for f in flat]
    columns = []
    for k, f in enumerate(flat):
        shape = [1] * n
        shape[k] = -1
        columns.append(reshape(ctx, broadcast_to(ctx, reshape(ctx, f, shape), sizes), [-1, 1]))
    ctx.set_output(out, concat(ctx, columns, 1))


def _product(ctx, a, b, dtype):
    return elementwise(ctx, a, b, E.AND if dtype == torch.bool else E.PROD, dtype)


@tensorrt_converter(spellings("kron"))
def convert_kron(ctx):
    """out[i * b.shape + j] = a[i] * b[j] on every axis: a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...),
    reshaped to (a0 * b0, a1 * b1, ...); the operand of lower rank gets leading size-1 axes (PyTorch's rule)."""
    a, b, out = ctx.get_arg("input", 0), ctx.get_arg("other", 1), ctx.method_return
    _check_dtype(ctx, out.dtype)
    rank = out.dim()
    at, bt = (ctx.trt(t, out.dtype, rank) for t in (a, b))
    if rank == 0:
        ctx.set_output(out, _product(ctx, at, bt, out.dtype))
        return
    da = sample_dims(ctx, at, (1,) * (rank - a.dim()) + tuple(a.shape))
    db = sample_dims(ctx, bt, (1,) * (rank - b.dim()) + tuple(b.shape))
    wide_a = reshape(ctx, at, [d for n in da for d in (n, 1)])
    wide_b = reshape(ctx, bt, [d for n in db for d in (1, n)])
    ctx.set_output(out, reshape(ctx, _product(ctx, wide_a, wide_b, out.dtype), [m * n for m, n in zip(da, db)]))


@tensorrt_converter([torch.block_diag])
def convert_block_diag(ctx):
    """Each block (a 0-d tensor is 1 x 1, a 1-d one a row) padded with zeros to the full width, the rows stacked;
    in the promoted dtype. Static shapes only: the zero padding around a block is a constant of its shape."""
    tensors, out = list(ctx.method_args), ctx.method_return
    for t in tensors:
        shape = trt_dims(get_trt(t)) if get_trt(t) is not None else ()
        if -1 in shape:
            raise ctx.unsupported(f"{ctx.method_name} with dynamic shapes (input shape {shape}): the zero blocks "
                                  "around each input have sizes fixed at conversion")
    require_tensorrt_dtype(ctx, out.dtype)
    if out.numel() == 0:
        raise ctx.unsupported(f"{ctx.method_name}: an empty result {tuple(out.shape)}")
    width, left, rows = out.shape[1], 0, []
    for t in tensors:
        shape = (1, 1) if t.dim() == 0 else (1, t.shape[0]) if t.dim() == 1 else tuple(t.shape)
        r, c = shape
        if r:
            right = width - left - c
            pieces = ([filled(ctx, 0, out.dtype, [r, left])] if left else []) \
                + ([reshape(ctx, ctx.trt(t, out.dtype), shape)] if c else []) \
                + ([filled(ctx, 0, out.dtype, [r, right])] if right else [])
            rows.append(concat(ctx, pieces, 1))
        left += c
    ctx.set_output(out, concat(ctx, rows, 0))


@tensorrt_converter([torch.vander, torch.linalg.vander])
def convert_vander(ctx):
    """Columns 1, x, x * x, (x * x) * x, ... (PyTorch's cumprod, one product after the other), highest power first
    unless increasing; integer inputs give int64. float16/bfloat16 are multiplied in float32 and each power rounded
    once, bit for bit PyTorch's; float32 powers from x^3 on may differ by an ulp per product (PyTorch's CPU cumprod
    accumulates float32 in float64, which TensorRT does not have)."""
    x, out = ctx.get_arg("x", 0), ctx.method_return
    linalg = ctx.method is torch.linalg.vander
    n = ctx.method_kwargs.get("N", ctx.method_args[1] if len(ctx.method_args) > 1 else None)
    increasing = True if linalg else bool(ctx.get_arg("increasing", 2, False))
    if x.dim() != 1:
        raise ctx.unsupported(f"{ctx.method_name} of a {x.dim()}-d tensor: only 1-d")
    _check_dtype(ctx, out.dtype)
    xt = ctx.trt(x, out.dtype)
    if n is None:
        if trt_dims(xt)[0] < 0:
            raise ctx.unsupported(f"{ctx.method_name} of a dynamic length without N: the number of columns (the "
                                  "length) would be dynamic; pass N")
        n = int(x.shape[0])
    n = _int_arg(ctx, "N", n)
    if n == 0:
        raise ctx.unsupported(f"{ctx.method_name}(N=0): an empty result")
    acc = compute_dtype(out.dtype)
    x_col = reshape(ctx, ctx.cast(xt, acc), [-1, 1])
    columns = [filled(ctx, 1, acc, [input_dims(ctx, x_col)[0], 1])]
    for _ in range(1, n):
        columns.append(x_col if len(columns) == 1 else _product(ctx, columns[-1], x_col, acc))
    ctx.set_output(out, ctx.cast(concat(ctx, columns if increasing else columns[::-1], 1), out.dtype))


# ---- matrix norms --------------------------------------------------------------------------------------------------
def _matrix_norm(ctx, x, ord, dims, keepdim: bool):
    """'fro' and the induced 1 / inf norms (and their -1 / -inf minima); 2, -2 and 'nuc' need singular values."""
    from .layers import compute_dtype as accumulate_dtype

    out = ctx.method_return
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    if ord in ("nuc", 2, -2):
        raise ctx.unsupported(f"{ctx.method_name}(ord={ord!r}): needs singular values (no SVD in TensorRT)")
    if ord not in ("fro", 1, -1, float("inf"), float("-inf")):
        raise ctx.unsupported(f"{ctx.method_name}(ord={ord!r})")
    if len(dims) != 2:
        raise ctx.unsupported(f"{ctx.method_name}(dim={dims!r}): two dims")
    rank = x.dim()
    d0, d1 = (ctx.normalize_dim(_int_arg(ctx, "dim", d), rank) for d in dims)
    acc = accumulate_dtype(out.dtype)
    xt = ctx.trt(x, acc)
    if ord == "fro":
        return ctx.cast(vector_norm(ctx, xt, 2.0, sorted((d0, d1)), keepdim, acc), out.dtype)
    # ord 1: max over columns (d1) of the sums over rows (d0); inf: the other way round
    summed, kept = (d0, d1) if abs(ord) == 1 else (d1, d0)
    s = reduce(ctx, unary(ctx, xt, U.ABS), R.SUM, [summed], True, "matrix_norm")
    y = reduce(ctx, s, R.MAX if ord > 0 else R.MIN, [kept], True, "matrix_norm")
    if not keepdim:
        y = reshape(ctx, y, [d for a, d in enumerate(input_dims(ctx, y)) if a not in (d0, d1)])
    return ctx.cast(y, out.dtype)


@tensorrt_converter([torch.linalg.matrix_norm])
def convert_matrix_norm(ctx):
    x = ctx.get_arg("input", 0)
    ord, dim, keepdim = ctx.get_arg("ord", 1, "fro"), ctx.get_arg("dim", 2, (-2, -1)), ctx.get_arg("keepdim", 3, False)
    ctx.set_output(ctx.method_return, _matrix_norm(ctx, x, ord, tuple(dim), bool(keepdim)))


@tensorrt_converter([torch.linalg.norm])
def convert_linalg_norm(ctx):
    """A matrix norm for two dims (or a 2-d input with ord and no dim); otherwise a vector norm (reduce.py's)."""
    from .layers import compute_dtype as accumulate_dtype
    from .reduce import reduce_axes

    x, out = ctx.get_arg("input", 0), ctx.method_return
    ord, dim, keepdim = ctx.get_arg("ord", 1, None), ctx.get_arg("dim", 2, None), bool(ctx.get_arg("keepdim", 3, False))
    if isinstance(dim, int):
        dim = (dim,)
    if (dim is not None and len(dim) == 2) or (dim is None and ord is not None and x.dim() == 2):
        ctx.set_output(out, _matrix_norm(ctx, x, "fro" if ord is None else ord, tuple(dim or (-2, -1)), keepdim))
        return
    p = 2.0 if ord is None else ord
    if isinstance(p, str) or (p < 0 and p != float("-inf")):
        raise ctx.unsupported(f"{ctx.method_name}(ord={ord!r}) as a vector norm")
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}")
    acc = accumulate_dtype(out.dtype)
    axes = reduce_axes(ctx, x, None if dim is None else list(dim), True)
    ctx.set_output(out, ctx.cast(vector_norm(ctx, ctx.trt(x, acc), float(p), axes, keepdim, acc), out.dtype))
