"""Types, identity-like ops and tensor creation: to/type/float/half/int/..., contiguous/clone/detach, dropout in
eval, *_like / new_* / full / zeros with traced arguments, torch.tensor of a traced tensor, tril/triu,
masked_fill, fill_/zero_.

Creation calls with no traced argument (torch.zeros(3)) produce plain tensors that become network constants
where they are used; only calls that touch a traced tensor (or a dynamic size) arrive here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tracing.context import get_trt
from ..tracing.registry import tensorrt_converter
from ..tracing.shapes import DynDim
from .layers import (
    E,
    U,
    elementwise,
    filled,
    input_dims,
    linspace,
    require_tensorrt_dtype,
    reshape,
    sample_dims,
    select,
    unary,
)


# ---- helpers -------------------------------------------------------------------------------------------
def _sizes_of(ctx, x: torch.Tensor) -> list:
    """x's dims: ints where static, dims read from the network where dynamic."""
    itensor = get_trt(x)
    return input_dims(ctx, itensor) if itensor is not None else list(x.shape)


# ---- identity at inference: dropout (eval), detach, contiguous, clone ------------------------------------
# target -> default of its `training` argument (None: torch.* forms, where it is positional and required)
_DROPOUTS = {
    F.dropout: True, F.dropout1d: True, F.dropout2d: True, F.dropout3d: True,
    F.alpha_dropout: False, F.feature_alpha_dropout: False,
    torch.dropout: None, torch.dropout_: None, torch.alpha_dropout: None, torch.alpha_dropout_: None,
    torch.feature_dropout: None, torch.feature_dropout_: None, torch.feature_alpha_dropout: None,
    torch.feature_alpha_dropout_: None,
}


@tensorrt_converter(list(_DROPOUTS))
def convert_dropout(ctx):
    x = ctx.get_arg("input", 0)
    p = ctx.get_arg("p", 1, 0.5)
    training = ctx.method_kwargs.get("training", ctx.method_kwargs.get("train"))
    if training is None:
        training = ctx.method_args[2] if len(ctx.method_args) > 2 else _DROPOUTS[ctx.method]
    if training and p != 0:
        raise ctx.unsupported(f"{ctx.method_name}(training=True, p={p}): random dropout at inference; "
                              "call model.eval() (or pass training=False)")
    ctx.set_output(ctx.method_return, ctx.trt(x))


@tensorrt_converter([torch.Tensor.detach, torch.detach, torch.Tensor.detach_, torch.detach_, torch.Tensor.contiguous,
                     torch.clone, torch.Tensor.clone, torch.Tensor.requires_grad_, torch.Tensor.cpu,
                     torch.Tensor.cuda, torch.Tensor.pin_memory])
def convert_identity(ctx):
    """Copies and views that change neither values nor shape (memory format is not a network property)."""
    ctx.set_output(ctx.method_return, ctx.trt(ctx.get_arg("input", 0)))


# ---- dtype conversions -------------------------------------------------------------------------------------
@tensorrt_converter([torch.Tensor.to, torch.Tensor.type, torch.Tensor.type_as, torch.Tensor.float,
                     torch.Tensor.half, torch.Tensor.bfloat16, torch.Tensor.double, torch.Tensor.int,
                     torch.Tensor.long, torch.Tensor.bool, torch.Tensor.short, torch.Tensor.char,
                     torch.Tensor.byte])
def convert_to(ctx):
    """The result dtype is read from PyTorch's output; device and memory-format arguments change nothing in
    the network. Casts truncate toward zero (float -> int) and test != 0 (-> bool), as TensorRT's CAST."""
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    if not isinstance(out, torch.Tensor):  # x.type() with no argument returns the type name
        return
    require_tensorrt_dtype(ctx, out.dtype)
    ctx.set_output(out, ctx.cast(ctx.trt(x), out.dtype))


# ---- creation that touches traced tensors or dynamic sizes ---------------------------------------------------
def _size_args(ctx, first: int) -> list:
    kw = ctx.method_kwargs
    if "size" in kw:
        v = kw["size"]
    else:
        v = ctx.method_args[first:]
        if len(v) == 1 and isinstance(v[0], (list, tuple, torch.Size)):
            v = v[0]
    return list(v)


_FILL_VALUES = {"zeros": 0, "ones": 1, "empty": 0}  # empty: values are undefined in PyTorch; zeros here


def _convert_like(kind: str):
    def convert(ctx):
        x = ctx.get_arg("input", 0)
        out = ctx.method_return
        require_tensorrt_dtype(ctx, out.dtype)
        value = ctx.get_arg("fill_value", 1) if kind == "full" else _FILL_VALUES[kind]
        ctx.set_output(out, filled(ctx, value, out.dtype, _sizes_of(ctx, x)))

    return convert


for _kind in ("zeros", "ones", "empty", "full"):
    tensorrt_converter([getattr(torch, f"{_kind}_like")])(_convert_like(_kind))


def _convert_new(kind: str):
    def convert(ctx):
        out = ctx.method_return
        require_tensorrt_dtype(ctx, out.dtype)
        if kind == "full":
            value = ctx.get_arg("fill_value", 2)
            sizes = ctx.method_kwargs.get("size", ctx.method_args[1] if len(ctx.method_args) > 1 else None)
            sizes = list(sizes)
        else:
            value, sizes = _FILL_VALUES[kind], _size_args(ctx, 1)
        ctx.set_output(out, filled(ctx, value, out.dtype, sizes))

    return convert


for _kind in ("zeros", "ones", "empty", "full"):
    tensorrt_converter([getattr(torch.Tensor, f"new_{_kind}")])(_convert_new(_kind))


def _convert_factory(kind: str):
    """torch.zeros(...) etc. reach a converter only with dynamic sizes (DynDims) or a traced fill value."""
    def convert(ctx):
        out = ctx.method_return
        require_tensorrt_dtype(ctx, out.dtype)
        if kind == "full":
            sizes = list(ctx.get_arg("size", 0))
            value = ctx.get_arg("fill_value", 1)
        else:
            sizes, value = _size_args(ctx, 0), _FILL_VALUES[kind]
        ctx.set_output(out, filled(ctx, value, out.dtype, sizes))

    return convert


for _kind in ("zeros", "ones", "empty", "full"):
    tensorrt_converter([getattr(torch, _kind)])(_convert_factory(_kind))


@tensorrt_converter([torch.Tensor.new_tensor, torch.tensor, torch.as_tensor, torch.asarray])
def convert_tensor(ctx):
    """torch.tensor(t) / x.new_tensor(t) copy t's values: with t traced that is a cast; with constant data the
    result is that constant (x only gives dtype and device)."""
    data = ctx.method_args[1] if ctx.method is torch.Tensor.new_tensor else ctx.get_arg("data", 0)
    out = ctx.method_return
    require_tensorrt_dtype(ctx, out.dtype)
    if isinstance(data, torch.Tensor) and get_trt(data) is not None:
        ctx.set_output(out, ctx.cast(ctx.trt(data), out.dtype))
    elif isinstance(data, torch.Tensor) or not _has_traced(data):
        ctx.set_output(out, ctx.trt(out.detach().clone()))
    else:
        raise ctx.unsupported(f"{ctx.method_name} of a list holding traced tensors; use torch.stack")


def _has_traced(data) -> bool:
    if isinstance(data, (list, tuple)):
        return any(_has_traced(d) for d in data)
    return get_trt(data) is not None


@tensorrt_converter([torch.Tensor.zero_, torch.Tensor.fill_, torch.fill, torch.fill_])
def convert_fill(ctx):
    """x.zero_() / x.fill_(v): every element becomes the value (v may be a traced 0-d tensor)."""
    x = ctx.get_arg("input", 0)
    out = ctx.method_return
    value = 0 if ctx.method is torch.Tensor.zero_ else ctx.get_arg("value", 1)
    ctx.set_output(out, filled(ctx, value, out.dtype, _sizes_of(ctx, x)))


# ---- triangles and masks ------------------------------------------------------------------------------------
def diagonal_offsets(ctx, rows, cols):
    """int32 (rows, cols) tensor of col - row (a LINSPACE fill; rows/cols may be dynamic)."""
    if not isinstance(rows, DynDim) and not isinstance(cols, DynDim):
        return ctx.trt(torch.arange(int(cols), dtype=torch.int32) - torch.arange(int(rows), dtype=torch.int32)[:, None])
    return linspace(ctx, [rows, cols], torch.int32, torch.tensor(0, dtype=torch.int32),
                    torch.tensor([-1, 1], dtype=torch.int32), "diagonal_offsets")


def _convert_triangle(lower: bool):
    """x where col - row <= diagonal (tril) / >= diagonal (triu), else 0; the last two axes may be dynamic."""
    def convert(ctx):

        x = ctx.get_arg("input", 0)
        diagonal = ctx.get_arg("diagonal", 1, 0)
        out = ctx.method_return
        if not isinstance(diagonal, int) or isinstance(diagonal, DynDim):
            raise ctx.unsupported(f"{ctx.method_name}(diagonal={diagonal!r}): only a constant diagonal")
        xt = ctx.trt(x)
        rows, cols = sample_dims(ctx, xt, x.shape)[-2:]
        offsets = diagonal_offsets(ctx, rows, cols)
        outside = elementwise(ctx, offsets, diagonal, E.GREATER if lower else E.LESS, torch.int32)
        keep = ctx.unsqueeze_to_rank(unary(ctx, outside, U.NOT), x.dim())
        ctx.set_output(out, select(ctx, keep, xt, ctx.trt(torch.zeros((), dtype=out.dtype), rank=x.dim())))

    return convert


tensorrt_converter([torch.tril, torch.Tensor.tril, torch.Tensor.tril_])(_convert_triangle(True))
tensorrt_converter([torch.triu, torch.Tensor.triu, torch.Tensor.triu_])(_convert_triangle(False))


@tensorrt_converter([torch.masked_fill, torch.Tensor.masked_fill, torch.Tensor.masked_fill_])
def convert_masked_fill(ctx):
    """where(mask, value, x); the value (number or 0-d tensor, traced or not) takes x's dtype."""
    x, mask, value = ctx.get_arg("input", 0), ctx.get_arg("mask", 1), ctx.get_arg("value", 2)
    out = ctx.method_return
    rank = out.dim()
    if isinstance(value, torch.Tensor) and value.dim() != 0:
        raise ctx.unsupported(f"{ctx.method_name} with a {value.dim()}-d value: only 0-d tensors (PyTorch too)")
    v = ctx.trt(value, out.dtype, rank) if get_trt(value) is not None else \
        ctx.trt(torch.tensor(value, dtype=out.dtype), rank=rank)
    ctx.set_output(out, select(ctx, ctx.trt(mask, torch.bool, rank), v, ctx.trt(x, out.dtype, rank)))


# ---- arange with dynamic bounds --------------------------------------------------------------------------------
@tensorrt_converter([torch.arange])
def convert_arange(ctx):
    """torch.arange(x.size(1)) on a dynamic dimension: a LINSPACE fill of the network-computed length. (With static
    sizes arange touches no traced tensor and its result is a constant.)"""

    out = ctx.method_return
    args, kw = list(ctx.method_args), ctx.method_kwargs
    if len(args) == 1 and "end" not in kw:  # arange(end)
        bounds = [kw.get("start", 0), args[0], kw.get("step", 1)]
    else:
        given = dict(zip(("start", "end", "step"), args)) | {k: kw[k] for k in ("start", "end", "step") if k in kw}
        bounds = [given.get("start", 0), given["end"], given.get("step", 1)]
    start, end, step = bounds
    if any(isinstance(v, torch.Tensor) for v in bounds):
        raise ctx.unsupported("torch.arange with tensor bounds: the length would depend on tensor data")
    if not all(isinstance(v, int) for v in bounds) or step == 0:
        raise ctx.unsupported(f"torch.arange({start}, {end}, {step}) with dynamic bounds: only integer bounds")
    require_tensorrt_dtype(ctx, out.dtype)
    length = (end - start + step - 1) // step if step > 0 else (start - end - step - 1) // (-step)
    alpha = reshape(ctx, ctx.cast(start._trt, out.dtype), []) if isinstance(start, DynDim) else \
        torch.tensor(start, dtype=out.dtype)
    ctx.set_output(out, linspace(ctx, [length], out.dtype, alpha, torch.tensor([step], dtype=out.dtype), "arange"))


@tensorrt_converter([torch.linspace])
def convert_linspace(ctx):
    """linspace with traced 0-d endpoints, as PyTorch computes it: start + i * step for the first half of the
    points, end - (steps - 1 - i) * step for the rest (step = (end - start) / (steps - 1))."""

    start, end, steps = ctx.get_arg("start", 0), ctx.get_arg("end", 1), ctx.get_arg("steps", 2)
    out = ctx.method_return
    require_tensorrt_dtype(ctx, out.dtype)
    if not isinstance(steps, int) or isinstance(steps, DynDim):
        raise ctx.unsupported(f"torch.linspace(steps={steps!r}): only a constant number of steps")
    if not out.dtype.is_floating_point:
        raise ctx.unsupported(f"torch.linspace to {out.dtype}: only floating-point results")
    dt = out.dtype
    s, e = (ctx.trt(v, dt, 1) if get_trt(v) is not None else ctx.trt(torch.tensor([float(v)], dtype=dt))
            for v in (start, end))
    if steps == 1:
        ctx.set_output(out, s)
        return
    step = elementwise(ctx, elementwise(ctx, e, s, E.SUB, dt), float(steps - 1), E.DIV, dt)
    i = torch.arange(steps, dtype=torch.float64)
    low = elementwise(ctx, s, elementwise(ctx, step, i.to(dt), E.PROD, dt), E.SUM, dt)
    high = elementwise(ctx, e, elementwise(ctx, step, (steps - 1 - i).to(dt), E.PROD, dt), E.SUB, dt)
    ctx.set_output(out, select(ctx, ctx.trt(i < steps // 2), low, high))
