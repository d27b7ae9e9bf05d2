"""Linear algebra converters: linear, bilinear, matmul (batch broadcasting, 1-d operands), mm, bmm, addmm,
baddbmm, einsum."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.registry import tensorrt_converter
from .shape import reshape
from .unary import binary, spellings

M = trt.MatrixOperation
E = trt.ElementWiseOperation


def matmul(ctx, a, b, dtype):
    """torch.matmul semantics on two values (traced or constant): 1-d operands are vectors, batch dims
    broadcast (TensorRT broadcasts size-1 batch dims; ranks are matched first)."""
    ra = a.dim() if isinstance(a, torch.Tensor) else len(a.shape)
    rb = b.dim() if isinstance(b, torch.Tensor) else len(b.shape)
    op_a = M.VECTOR if ra == 1 else M.NONE
    op_b = M.VECTOR if rb == 1 else M.NONE
    rank = max(ra, rb, 2)
    ta = ctx.trt(a, dtype) if ra == 1 else ctx.trt(a, dtype, rank if rb > 1 else None)
    tb = ctx.trt(b, dtype) if rb == 1 else ctx.trt(b, dtype, rank if ra > 1 else None)
    if ra == 1 and rb > 2:  # a vector against a batch of matrices: (k) -> (1, ..., 1, k) as a row vector
        ta = ctx.unsqueeze_to_rank(ta, rank - 1)
    if rb == 1 and ra > 2:
        tb = ctx.unsqueeze_to_rank(tb, rank - 1)
    layer = ctx.network.add_matrix_multiply(ta, op_a, tb, op_b)
    ctx.name_layer(layer, "matmul")
    return layer.get_output(0)


@tensorrt_converter(spellings("matmul") + spellings("mm") + spellings("bmm") + [torch.Tensor.__matmul__,
                                                                             torch.Tensor.__rmatmul__])
def convert_matmul(ctx):
    a, b, out = ctx.get_arg("input", 0), ctx.get_arg("other", 1), ctx.method_return
    if ctx.method_name.endswith("__rmatmul__"):
        a, b = b, a
    y = matmul(ctx, a, b, out.dtype)
    if tuple(int(d) for d in y.shape) != tuple(out.shape):
        y = reshape(ctx, y, list(out.shape))
    ctx.set_output(out, y)


@tensorrt_converter(spellings("addmm") + spellings("baddbmm") + spellings("addbmm") + spellings("addmv"))
def convert_addmm(ctx):
    x, a, b, out = ctx.get_arg("input", 0), ctx.get_arg("mat1", 1), ctx.get_arg("mat2", 2), ctx.method_return
    if ctx.method_name.rsplit(".", 1)[-1] in ("addbmm", "addbmm_"):
        raise ctx.unsupported(f"{ctx.method_name}: the batch sum is not supported")
    beta, alpha = ctx.method_kwargs.get("beta", 1), ctx.method_kwargs.get("alpha", 1)
    y = matmul(ctx, a, b, out.dtype)
    if alpha != 1:
        y = binary(ctx, y, alpha, E.PROD, out.dtype)
    if beta != 0:
        xs = binary(ctx, x, beta, E.PROD, out.dtype) if beta != 1 else x
        y = binary(ctx, xs, y, E.SUM, out.dtype)
    ctx.set_output(out, y)


@tensorrt_converter(F.linear)
def convert_linear(ctx):
    x, weight = ctx.get_arg("input", 0), ctx.get_arg("weight", 1)
    bias = ctx.get_arg("bias", 2, None)
    out = ctx.method_return
    rank = max(x.dim(), 2)
    # weight (out, in) as a rank-matched constant; TRANSPOSE lets TensorRT read it as (in, out).
    w = ctx.trt(weight, out.dtype, rank)
    op_x = M.VECTOR if x.dim() == 1 else M.NONE
    layer = ctx.network.add_matrix_multiply(ctx.trt(x, out.dtype), op_x, w, M.TRANSPOSE)
    ctx.name_layer(layer, "linear")
    y = layer.get_output(0)
    if bias is not None:
        b = ctx.trt(bias, out.dtype, out.dim())
        add = ctx.network.add_elementwise(y, b, E.SUM)
        ctx.name_layer(add, "linear_bias")
        y = add.get_output(0)
    ctx.set_output(out, y)


@tensorrt_converter(F.bilinear)
def convert_bilinear(ctx):
    """y_k = x1 W_k x2^T + b_k as einsum('...i,kij,...j->...k')."""
    x1, x2, weight = ctx.get_arg("input1", 0), ctx.get_arg("input2", 1), ctx.get_arg("weight", 2)
    bias, out = ctx.get_arg("bias", 3, None), ctx.method_return
    if x1.dim() != 2:
        raise ctx.unsupported("bilinear with inputs of rank != 2")
    layer = ctx.network.add_einsum([ctx.trt(x1, out.dtype), ctx.trt(weight, out.dtype), ctx.trt(x2, out.dtype)],
                                   "bi,kij,bj->bk")
    ctx.name_layer(layer, "bilinear")
    y = layer.get_output(0)
    if bias is not None:
        y = binary(ctx, y, bias, E.SUM, out.dtype)
    ctx.set_output(out, y)


@tensorrt_converter([torch.einsum])
def convert_einsum(ctx):
    eq, out = ctx.method_args[0], ctx.method_return
    operands = ctx.method_args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    if "..." in eq:
        raise ctx.unsupported("einsum with '...'")
    eq = eq.replace(" ", "")
    if "->" not in eq:
        raise ctx.unsupported("einsum without an explicit output ('->')")
    layer = ctx.network.add_einsum([ctx.trt(t, out.dtype) for t in operands], eq)
    ctx.name_layer(layer, "einsum")
    ctx.set_output(out, layer.get_output(0))
