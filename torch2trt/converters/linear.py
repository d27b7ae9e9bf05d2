"""Linear algebra converters: linear, bilinear, matmul (batch broadcasting, 1-d operands), mm, bmm, mv, dot,
inner, outer, tensordot, addmm, addmv, addr, baddbmm, addbmm (beta/alpha), einsum (ellipsis, implicit output).

TensorRT multiplies floating-point matrices only: integer products are refused (a float product is exact only
for small values). Must not own reductions or elementwise arithmetic beyond what these ops add.
"""

from __future__ import annotations

import string

import torch
import torch.nn.functional as F

from ..backend import trt
from ..quantization.qdq import quantized_input, quantized_weights
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import spellings, tensorrt_converter
from .layers import (
    einsum_layer,
    elementwise,
    input_dims,
    matrix_multiply,
    reduce_axis,
    require_float_dtype,
    reshape,
    transpose,
)

M = trt.MatrixOperation
E = trt.ElementWiseOperation


def _rank(v) -> int:
    return v.dim() if isinstance(v, torch.Tensor) else len(v.shape)


_FLOAT_ONLY = "TensorRT multiplies floating-point matrices only"


def matmul(ctx, a, b, dtype):
    """torch.matmul semantics on two values (traced or constant): 1-d operands are vectors, batch dims
    broadcast (TensorRT broadcasts size-1 batch dims; ranks are matched first)."""
    ra, rb = _rank(a), _rank(b)
    op_a = M.VECTOR if ra == 1 else M.NONE
    op_b = M.VECTOR if rb == 1 else M.NONE
    rank = max(ra, rb, 2)
    ta = ctx.trt(a, dtype) if ra == 1 else ctx.trt(a, dtype, rank if rb > 1 else None)
    tb = ctx.trt(b, dtype) if rb == 1 else ctx.trt(b, dtype, rank if ra > 1 else None)
    if ra == 1 and rb > 2:  # a vector against a batch of matrices: (k) -> (1, ..., 1, k), a batch of vectors
        ta = ctx.unsqueeze_to_rank(ta, rank - 1)
    if rb == 1 and ra > 2:
        tb = ctx.unsqueeze_to_rank(tb, rank - 1)
    return matrix_multiply(ctx, ta, tb, op_a, op_b)


def _to_shape(ctx, y, out):
    if trt_dims(y) != tuple(out.shape) and -1 not in trt_dims(y):
        y = reshape(ctx, y, list(out.shape))
    return y


@tensorrt_converter(spellings("matmul") + spellings("mm") + spellings("bmm") + spellings("mv") + spellings("dot")
                    + spellings("vdot") + [torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.linalg.matmul])
def convert_matmul(ctx):
    a, b, out = ctx.method_args[0], ctx.method_args[1] if len(ctx.method_args) > 1 else None, ctx.method_return
    if b is None:
        b = next(v for k, v in ctx.method_kwargs.items() if k != "out")
    if ctx.method_kwargs.get("out") is not None:
        raise ctx.unsupported(f"{ctx.method_name}(out=...): write the result to a new tensor instead")
    if ctx.method_name.endswith("__rmatmul__"):
        a, b = b, a
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    ctx.set_output(out, _to_shape(ctx, matmul(ctx, a, b, out.dtype), out))


@tensorrt_converter(spellings("inner"))
def convert_inner(ctx):
    """inner(a, b): sum over the last axes; a's leading dims then b's (a scalar operand multiplies)."""
    a, b, out = ctx.method_args[0], ctx.get_arg("other", 1), ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.dim() == 0 or b.dim() == 0:
        ctx.set_output(out, elementwise(ctx, a, b, E.PROD, out.dtype))
        return
    la, lb = string.ascii_lowercase[:a.dim() - 1], string.ascii_lowercase[a.dim() - 1:a.dim() + b.dim() - 2]
    ctx.set_output(out, einsum(ctx, f"{la}z,{lb}z->{la}{lb}", [a, b], out.dtype))


@tensorrt_converter(spellings("outer") + spellings("ger"))
def convert_outer(ctx):
    a, b, out = ctx.method_args[0], ctx.method_args[1], ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    ta = ctx.trt(a, out.dtype)
    ta = reshape(ctx, ta, [*input_dims(ctx, ta), 1])
    ctx.set_output(out, elementwise(ctx, ta, ctx.trt(b, out.dtype, 2), E.PROD, out.dtype))


def _tensordot_dims(ctx, a, b, dims) -> tuple[list[int], list[int]]:
    """The contracted axes of a and of b (non-negative) from dims = n (a's last n with b's first n), (axes of a,
    axes of b) or [[...], [...]], or a constant tensor of either form (a traced one is refused: its values decide
    the shape)."""
    if isinstance(dims, torch.Tensor):
        if get_trt(dims) is not None:
            raise ctx.unsupported(f"{ctx.method_name}(dims=<traced tensor>): the contracted axes must be constants")
        dims = dims.tolist()
    if isinstance(dims, int) and not isinstance(dims, bool):
        da, db = list(range(a.dim() - dims, a.dim())), list(range(dims))
    else:
        da, db = (list(d) for d in dims)
    return [ctx.normalize_dim(d, a.dim()) for d in da], [ctx.normalize_dim(d, b.dim()) for d in db]


@tensorrt_converter([torch.tensordot])
def convert_tensordot(ctx):
    """a's free axes then its contracted ones, flattened to (-1, K), times b's contracted then free axes as (K, -1),
    reshaped to a's free sizes then b's. The contracted sizes must be static (K is a constant); free axes may be
    dynamic (the final reshape reads their sizes from the network)."""
    a, b, out = ctx.get_arg("a", 0), ctx.get_arg("b", 1), ctx.method_return
    if ctx.method_kwargs.get("out") is not None:
        raise ctx.unsupported(f"{ctx.method_name}(out=...): write the result to a new tensor instead")
    da, db = _tensordot_dims(ctx, a, b, ctx.get_arg("dims", 2, 2))
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    at, bt = ctx.trt(a, out.dtype), ctx.trt(b, out.dtype)
    free_a = [i for i in range(a.dim()) if i not in da]
    free_b = [i for i in range(b.dim()) if i not in db]
    if any(trt_dims(at)[i] < 0 for i in da) or any(trt_dims(bt)[i] < 0 for i in db):
        raise ctx.unsupported(f"{ctx.method_name} over a dynamic contracted axis: the matrix product's inner size "
                              "is fixed at conversion")
    k = 1
    for i in da:
        k *= int(a.shape[i])
    if k == 0:
        raise ctx.unsupported(f"{ctx.method_name} over an empty contracted axis (a result of zeros)")
    sizes = [input_dims(ctx, at)[i] for i in free_a] + [input_dims(ctx, bt)[i] for i in free_b]
    left = reshape(ctx, transpose(ctx, at, free_a + da), [-1, k])
    right = reshape(ctx, transpose(ctx, bt, db + free_b), [k, -1])
    ctx.set_output(out, reshape(ctx, matrix_multiply(ctx, left, right, name="tensordot"), sizes))


# name of the two multiplied operands per op (positions 1 and 2)
_ADD_PRODUCT = {"addmm": ("mat1", "mat2"), "baddbmm": ("batch1", "batch2"), "addbmm": ("batch1", "batch2"),
                "addmv": ("mat", "vec"), "addr": ("vec1", "vec2")}


@tensorrt_converter([t for name in _ADD_PRODUCT for t in spellings(name)])
def convert_add_product(ctx):
    """beta * input + alpha * product; beta=0 ignores input entirely (NaN included), as PyTorch does."""
    op = ctx.method_name.rsplit(".", 1)[-1].rstrip("_")
    n1, n2 = _ADD_PRODUCT[op]
    x, a, b, out = ctx.get_arg("input", 0), ctx.get_arg(n1, 1), ctx.get_arg(n2, 2), ctx.method_return
    beta, alpha = ctx.method_kwargs.get("beta", 1), ctx.method_kwargs.get("alpha", 1)
    if ctx.method_kwargs.get("out") is not None:
        raise ctx.unsupported(f"{ctx.method_name}(out=...): write the result to a new tensor instead")
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    if op == "addr":
        ta = ctx.trt(a, out.dtype)
        y = elementwise(ctx, reshape(ctx, ta, [*input_dims(ctx, ta), 1]), ctx.trt(b, out.dtype, 2), E.PROD,
                   out.dtype)
    else:
        y = matmul(ctx, a, b, out.dtype)
    if op == "addbmm":  # the batch of products is summed
        y = reduce_axis(ctx, y, trt.ReduceOperation.SUM, 0, False, "batch_sum")
    if alpha != 1:
        y = elementwise(ctx, y, float(alpha), E.PROD, out.dtype)
    if beta != 0:
        xs = elementwise(ctx, x, float(beta), E.PROD, out.dtype) if beta != 1 else ctx.trt(x, out.dtype)
        y = elementwise(ctx, xs, y, E.SUM, out.dtype)
    ctx.set_output(out, _to_shape(ctx, y, out))


@tensorrt_converter([F.linear])
def convert_linear(ctx):
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    out = ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    if weight.dim() == 1:  # y = x @ w (+ b): a dot product over the last axis
        y = matmul(ctx, x, weight, out.dtype)
    else:
        rank = max(x.dim(), 2)
        # weight (out, in) as a rank-matched constant; TRANSPOSE lets TensorRT read it as (in, out)
        xt = quantized_input(ctx, x, ctx.trt(x, out.dtype))              # Q/DQ pairs in int8 mode
        w = quantized_weights(ctx, weight, 0, out.dtype, rank)
        w = ctx.trt(weight, out.dtype, rank) if w is None else w
        op_x = M.VECTOR if x.dim() == 1 else M.NONE
        y = matrix_multiply(ctx, xt, w, op_x, M.TRANSPOSE, "linear")
    if bias is not None:
        y = elementwise(ctx, y, ctx.trt(bias, out.dtype, max(out.dim(), bias.dim())), E.SUM, out.dtype)
    ctx.set_output(out, _to_shape(ctx, y, out))


@tensorrt_converter([F.bilinear])
def convert_bilinear(ctx):
    """y_k = x1 W_k x2^T + b_k as one einsum over (N, in1), (out, in1, in2), (N, in2): leading dims flattened."""
    x1, x2, weight = ctx.get_arg("input1", 0), ctx.get_arg("input2", 1), ctx.get_arg("weight", 2)
    bias, out = ctx.get_arg("bias", 3, None), ctx.method_return
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    ctx.require_static(x1, x2)
    t1, t2 = ctx.trt(x1, out.dtype), ctx.trt(x2, out.dtype)
    if x1.dim() != 2:
        t1 = reshape(ctx, t1, (-1, x1.shape[-1]))
        t2 = reshape(ctx, t2, (-1, x2.shape[-1]))
    y = einsum_layer(ctx, [t1, ctx.trt(weight, out.dtype), t2], "bi,kij,bj->bk", "bilinear")
    if bias is not None:
        y = elementwise(ctx, y, ctx.trt(bias, out.dtype, 2), E.SUM, out.dtype)
    ctx.set_output(out, _to_shape(ctx, y, out))


# ---- einsum ---------------------------------------------------------------------------------------------------
def _explicit_equation(ctx, equation: str, ranks: list[int]) -> str:
    """PyTorch's einsum equation with ellipses spelled out, letters mapped to lower case and the output made
    explicit (implicit output: ellipsis dims, then the letters used once, in alphabetical order)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ctx.unsupported(f"{ctx.method_name}: {len(terms)} subscripts for {len(ranks)} operands")
    used = [c for c in eq if c.isalpha()]
    mapping: dict[str, str] = {}
    free = iter(c for c in string.ascii_lowercase if c not in used)
    for c in dict.fromkeys(used):
        if c in string.ascii_lowercase:
            mapping[c] = c
    for c in dict.fromkeys(used):
        if c not in mapping:
            try:
                mapping[c] = next(free)
            except StopIteration:
                raise ctx.unsupported(f"{ctx.method_name}({equation!r}): more than 26 distinct subscripts") from None
    ell_rank = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t], default=0)
    ell = "".join(next(free) for _ in range(ell_rank)) if ell_rank else ""

    def expand(term: str, rank: int | None) -> str:
        term = "".join(mapping.get(c, c) for c in term.replace("...", "."))
        if "." in term:
            n = (rank - (len(term) - 1)) if rank is not None else ell_rank
            term = term.replace(".", ell[ell_rank - n:] if n else "")
        return term

    new_terms = [expand(t, r) for t, r in zip(terms, ranks)]
    if arrow:
        out = expand(rhs, None)
    else:
        counts = {c: "".join(new_terms).count(c) for c in set("".join(new_terms))}
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    return ",".join(new_terms) + "->" + out


def einsum(ctx, equation: str, operands: list, dtype):
    return einsum_layer(ctx, [ctx.trt(t, dtype) for t in operands], equation)


@tensorrt_converter([torch.einsum])
def convert_einsum(ctx):
    eq, out = ctx.method_args[0], ctx.method_return
    operands = list(ctx.method_args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not isinstance(eq, str):
        raise ctx.unsupported(f"{ctx.method_name}: sublist format; use an equation string")
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    equation = _explicit_equation(ctx, eq, [t.dim() for t in operands])  # size-1 dims broadcast (TensorRT too)
    y = einsum(ctx, equation, operands, out.dtype)
    ctx.set_output(out, _to_shape(ctx, y, out))


@tensorrt_converter([torch.linalg.multi_dot, torch.chain_matmul])
def convert_multi_dot(ctx):
    """A chain of matrix products, left to right (multi_dot's 1-d first/last operands are vectors, as in matmul)."""
    tensors, out = ctx.method_args, ctx.method_return
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    tensors = list(tensors) or list(ctx.method_kwargs.get("tensors", ctx.method_kwargs.get("matrices", [])))
    require_float_dtype(ctx, out.dtype, _FLOAT_ONLY)
    y = tensors[0]
    for t in tensors[1:]:
        y = matmul(ctx, y, t, out.dtype)
    ctx.set_output(out, _to_shape(ctx, ctx.trt(y, out.dtype), out))
