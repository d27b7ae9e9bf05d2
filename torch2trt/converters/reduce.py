"""Reduction converters: sum/mean/prod/amax/amin (table), max/min (values and indices, or two-tensor form),
argmax/argmin, var/std, logsumexp, norm, any/all, cumsum. Without dim they reduce ALL dims."""

from __future__ import annotations

import torch

from ..backend import trt
from ..tracing.registry import tensorrt_converter
from .shape import reshape
from .unary import U, binary, spellings, unary

R = trt.ReduceOperation
E = trt.ElementWiseOperation


def _dims(ctx, x, dim) -> list[int]:
    rank = max(x.dim(), 1)
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(x.dim()))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return sorted({d % rank for d in dims})


def reduce(ctx, itensor, op, dims: list[int], keepdim: bool, out):
    """One REDUCE layer; a 0-d input or no dims reduces nothing (PyTorch returns the value)."""
    if not dims or len(itensor.shape) == 0:
        return itensor
    layer = ctx.network.add_reduce(itensor, op, sum(1 << d for d in dims), keepdim)
    ctx.name_layer(layer)
    return layer.get_output(0)


def _compute_dtype(out_dtype):
    """Reductions over many elements in reduced precision accumulate in float32."""
    return torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype


def _convert_reduce(op):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        dim = ctx.get_arg("dim", 1, None)
        keepdim = ctx.get_arg("keepdim", 2, False)
        if isinstance(dim, torch.dtype):  # sum(x, dtype) positional form
            raise ctx.unsupported(f"{ctx.method_name} with a positional dtype")
        dtype = _compute_dtype(out.dtype)
        if out.dtype == torch.bool or (op in (R.SUM, R.PROD) and dtype == torch.bool):
            raise ctx.unsupported(f"{ctx.method_name} on bool results")
        xt = ctx.trt(x, dtype)
        if op in (R.MAX, R.MIN) and x.dtype == torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on bool")
        y = reduce(ctx, xt, op, _dims(ctx, x, dim), keepdim, out)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


REDUCTIONS = {"sum": R.SUM, "mean": R.AVG, "prod": R.PROD, "amax": R.MAX, "amin": R.MIN, "nansum": None}
for _name, _op in REDUCTIONS.items():
    if _op is not None:
        tensorrt_converter(spellings(_name))(_convert_reduce(_op))


def _convert_max_min(op, arg_op, elementwise):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        second = ctx.method_args[1] if len(ctx.method_args) > 1 else ctx.method_kwargs.get("dim",
                                                                                             ctx.method_kwargs.get("other"))
        if isinstance(second, torch.Tensor):  # torch.max(a, b): elementwise
            ctx.set_output(out, binary(ctx, x, second, elementwise, out.dtype))
            return
        if second is None:  # torch.max(x): over everything, 0-d
            ctx.set_output(out, reduce(ctx, ctx.trt(x), op, _dims(ctx, x, None), False, out))
            return
        dim = second % max(x.dim(), 1)
        keepdim = ctx.get_arg("keepdim", 2, False)
        values, indices = out
        ctx.set_output(values, reduce(ctx, ctx.trt(x), op, [dim], keepdim, values))
        ctx.set_output(indices, _arg(ctx, x, dim, keepdim, arg_op, indices))

    return convert


def _arg(ctx, x, dim, keepdim, kind, out):
    """Index of the first max/min along dim (TopK with k = 1), int64."""
    if x.dtype == torch.bool:
        raise ctx.unsupported(f"{ctx.method_name} on bool")
    xt = ctx.trt(x)
    if len(xt.shape) == 0:
        xt = reshape(ctx, xt, [1])
        dim = 0
    layer = ctx.network.add_topk(xt, kind, 1, 1 << dim)
    ctx.name_layer(layer, "argmax" if kind == trt.TopKOperation.MAX else "argmin")
    idx = ctx.cast(layer.get_output(1), torch.int64)
    if not keepdim or tuple(idx.shape) != tuple(out.shape):
        idx = reshape(ctx, idx, list(out.shape))
    return idx


tensorrt_converter([torch.max, torch.Tensor.max])(_convert_max_min(R.MAX, trt.TopKOperation.MAX, E.MAX))
tensorrt_converter([torch.min, torch.Tensor.min])(_convert_max_min(R.MIN, trt.TopKOperation.MIN, E.MIN))


def _convert_argmax(kind):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        dim, keepdim = ctx.get_arg("dim", 1, None), ctx.get_arg("keepdim", 2, False)
        if dim is None:
            flat = reshape(ctx, ctx.trt(x), [1, -1])  # TopK wants a batch axis
            layer = ctx.network.add_topk(flat, kind, 1, 1 << 1)
            ctx.name_layer(layer, "argmax")
            idx = ctx.cast(layer.get_output(1), torch.int64)
            ctx.set_output(out, reshape(ctx, idx, list(out.shape)))
            return
        ctx.set_output(out, _arg(ctx, x, dim % max(x.dim(), 1), keepdim, kind, out))

    return convert


tensorrt_converter(spellings("argmax"))(_convert_argmax(trt.TopKOperation.MAX))
tensorrt_converter(spellings("argmin"))(_convert_argmax(trt.TopKOperation.MIN))


def _correction(ctx) -> float:
    corr = ctx.method_kwargs.get("correction")
    if corr is not None:
        return float(corr)
    unbiased = ctx.method_kwargs.get("unbiased")
    if unbiased is None and len(ctx.method_args) > 1 and isinstance(ctx.method_args[1], bool):
        unbiased = ctx.method_args[1]
    return 1.0 if unbiased is None or unbiased else 0.0


def variance(ctx, xt, dims, keepdim, correction, count, dtype):
    mean = reduce(ctx, xt, R.AVG, dims, True, None)
    d = binary(ctx, xt, mean, E.SUB, dtype)
    ss = reduce(ctx, binary(ctx, d, d, E.PROD, dtype), R.SUM, dims, keepdim, None)
    return binary(ctx, ss, max(count - correction, 0), E.DIV, dtype)


def _convert_var(take_sqrt: bool):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        dim = ctx.method_kwargs.get("dim", ctx.method_args[1] if len(ctx.method_args) > 1 and not isinstance(
            ctx.method_args[1], bool) else None)
        keepdim = ctx.method_kwargs.get("keepdim", False)
        dtype = _compute_dtype(out.dtype)
        dims = _dims(ctx, x, dim)
        count = 1
        for d in dims:
            count *= x.shape[d]
        y = variance(ctx, ctx.trt(x, dtype), dims, keepdim, _correction(ctx), count, dtype)
        if take_sqrt:
            y = unary(ctx, y, U.SQRT)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


tensorrt_converter(spellings("var"))(_convert_var(False))
tensorrt_converter(spellings("std"))(_convert_var(True))


@tensorrt_converter(spellings("logsumexp") + [torch.special.logsumexp])
def convert_logsumexp(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dims, keepdim = _dims(ctx, x, ctx.get_arg("dim", 1)), ctx.get_arg("keepdim", 2, False)
    dtype = _compute_dtype(out.dtype)
    xt = ctx.trt(x, dtype)
    mx = reduce(ctx, xt, R.MAX, dims, True, None)
    s = reduce(ctx, unary(ctx, binary(ctx, xt, mx, E.SUB, dtype), U.EXP), R.SUM, dims, keepdim, None)
    mx_out = mx if keepdim else reshape(ctx, mx, list(out.shape))
    ctx.set_output(out, ctx.cast(binary(ctx, unary(ctx, s, U.LOG), mx_out, E.SUM, dtype), out.dtype))


@tensorrt_converter(spellings("norm") + [torch.linalg.vector_norm])
def convert_norm(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    p = ctx.method_kwargs.get("p", ctx.method_kwargs.get("ord", ctx.method_args[1] if len(ctx.method_args) > 1
                                                         else 2))
    dim = ctx.method_kwargs.get("dim", ctx.method_args[2] if len(ctx.method_args) > 2 else None)
    keepdim = ctx.method_kwargs.get("keepdim", ctx.method_args[3] if len(ctx.method_args) > 3 else False)
    if p == "fro":
        p = 2
    dtype = _compute_dtype(out.dtype)
    dims = _dims(ctx, x, dim)
    xt = ctx.trt(x, dtype)
    a = unary(ctx, xt, U.ABS)
    if p in (float("inf"), "inf"):
        y = reduce(ctx, a, R.MAX, dims, keepdim, out)
    elif p in (float("-inf"), "-inf"):
        y = reduce(ctx, a, R.MIN, dims, keepdim, out)
    elif p == 1:
        y = reduce(ctx, a, R.SUM, dims, keepdim, out)
    elif p == 2:
        y = unary(ctx, reduce(ctx, binary(ctx, xt, xt, E.PROD, dtype), R.SUM, dims, keepdim, out), U.SQRT)
    elif isinstance(p, (int, float)) and p > 0:
        s = reduce(ctx, binary(ctx, a, float(p), E.POW, dtype), R.SUM, dims, keepdim, out)
        y = binary(ctx, s, 1.0 / p, E.POW, dtype)
    else:
        raise ctx.unsupported(f"{ctx.method_name}(p={p!r})")
    ctx.set_output(out, ctx.cast(y, out.dtype))


def _convert_any_all(op):
    def convert(ctx):
        x, out = ctx.get_arg("input", 0), ctx.method_return
        dim, keepdim = ctx.get_arg("dim", 1, None), ctx.get_arg("keepdim", 2, False)
        # any = max over {0, 1}, all = min over {0, 1}
        xt = ctx.cast(ctx.cast(ctx.trt(x), torch.bool), torch.int32)
        y = reduce(ctx, xt, op, _dims(ctx, x, dim), keepdim, out)
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


tensorrt_converter(spellings("any"))(_convert_any_all(R.MAX))
tensorrt_converter(spellings("all"))(_convert_any_all(R.MIN))


@tensorrt_converter(spellings("cumsum"))
def convert_cumsum(ctx):
    x, out = ctx.get_arg("input", 0), ctx.method_return
    dim = ctx.get_arg("dim", 1) % max(x.dim(), 1)
    dtype = out.dtype
    axis = ctx.constant(torch.tensor(dim, dtype=torch.int32))
    layer = ctx.network.add_cumulative(ctx.trt(x, dtype), axis, trt.CumulativeOperation.SUM, False, False)
    ctx.name_layer(layer, "cumsum")
    ctx.set_output(out, layer.get_output(0))
