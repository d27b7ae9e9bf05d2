"""Reference semantics of TensorRT's elementwise, activation, reduction, shape and data-movement layers.

Every handler takes (layer record, input tensors, ctx) and returns the list of its outputs; the executor casts
them to the declared dtypes and checks the declared shapes. Sources: the TensorRT operator documentation
(`DOCS` + "<Operator>.html").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._ref_common import Ctx, bitmask_axes, fail, handler_registry, ints, optional, scalar
from .inspect import LayerRecord

HANDLERS, handles = handler_registry()


# ---- ACTIVATION: DOCS + "Activation.html" ---------------------------------------------------------------
ACTIVATIONS = {
    "RELU": lambda x, a, b: torch.relu(x),
    "SIGMOID": lambda x, a, b: torch.sigmoid(x),
    "TANH": lambda x, a, b: torch.tanh(x),
    "LEAKY_RELU": lambda x, a, b: torch.where(x >= 0, x, x * a),
    "ELU": lambda x, a, b: torch.where(x >= 0, x, torch.expm1(x) * a),
    "SELU": lambda x, a, b: torch.where(x > 0, x, torch.expm1(x) * a) * b,
    "SOFTSIGN": lambda x, a, b: x / (1 + x.abs()),
    "SOFTPLUS": lambda x, a, b: torch.logaddexp(x * b, torch.zeros((), dtype=x.dtype)) * a,
    "CLIP": lambda x, a, b: x.clamp(a, b),
    "HARD_SIGMOID": lambda x, a, b: (x * a + b).clamp(0, 1),
    "SCALED_TANH": lambda x, a, b: torch.tanh(x * b) * a,
    "THRESHOLDED_RELU": lambda x, a, b: torch.where(x > a, x, torch.zeros((), dtype=x.dtype)),
    "GELU_ERF": lambda x, a, b: F.gelu(x),
    "GELU_TANH": lambda x, a, b: F.gelu(x, approximate="tanh"),
}


@handles("ACTIVATION")
def activation(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    kind = layer.attrs["type"]
    fn = ACTIVATIONS.get(kind)
    if fn is None:
        raise fail(layer, f"activation type {kind} has no reference semantics")
    return [fn(ins[0], layer.attrs.get("alpha", 0.0), layer.attrs.get("beta", 0.0))]


# ---- ELEMENTWISE: DOCS + "ElementWise.html" -------------------------------------------------------------
def _div(a, b):
    # integer DIV rounds toward zero (C semantics, as ONNX Div that the parser maps onto it)
    return a / b if a.is_floating_point() else torch.div(a, b, rounding_mode="trunc")


def _floor_div(a, b):
    # FLOOR_DIV is floor(a / b) as documented, not Python's remainder-corrected floor division (1.0 // 0.1 == 9)
    return torch.floor(a / b) if a.is_floating_point() else torch.div(a, b, rounding_mode="floor")


ELEMENTWISE = {
    "SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum, "SUB": torch.sub,
    "DIV": _div, "POW": torch.pow, "FLOOR_DIV": _floor_div,
    "AND": torch.logical_and, "OR": torch.logical_or, "XOR": torch.logical_xor,
    "EQUAL": torch.eq, "GREATER": torch.gt, "LESS": torch.lt,
}


@handles("ELEMENTWISE")
def elementwise(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    fn = ELEMENTWISE.get(layer.attrs["op"])
    if fn is None:
        raise fail(layer, f"elementwise operation {layer.attrs['op']} has no reference semantics")
    return [fn(ins[0], ins[1])]


# ---- UNARY: DOCS + "Unary.html" ---------------------------------------------------------------------------
UNARY = {
    "EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal, "ABS": torch.abs,
    "NEG": torch.neg, "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "SINH": torch.sinh,
    "COSH": torch.cosh, "ASIN": torch.asin, "ACOS": torch.acos, "ATAN": torch.atan, "ASINH": torch.asinh,
    "ACOSH": torch.acosh, "ATANH": torch.atanh, "CEIL": torch.ceil, "FLOOR": torch.floor, "ERF": torch.erf,
    "NOT": torch.logical_not, "SIGN": torch.sign,
    "ROUND": torch.round,          # round half to even, as documented
    "ISINF": torch.isinf, "ISNAN": torch.isnan,
}


@handles("UNARY")
def unary(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    fn = UNARY.get(layer.attrs["op"])
    if fn is None:
        raise fail(layer, f"unary operation {layer.attrs['op']} has no reference semantics")
    return [fn(ins[0])]


# ---- REDUCE / SOFTMAX / CUMULATIVE / TOPK -------------------------------------------------------------------
def _prod(x, dims, keepdim):
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


REDUCTIONS = {
    "SUM": lambda x, d, k: torch.sum(x, d, keepdim=k),
    "PROD": _prod,
    "MAX": lambda x, d, k: torch.amax(x, d, keepdim=k),
    "MIN": lambda x, d, k: torch.amin(x, d, keepdim=k),
    "AVG": lambda x, d, k: torch.mean(x, d, keepdim=k),
}


@handles("REDUCE")
def reduce(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x = ins[0]
    dims = bitmask_axes(layer.attrs["axes"], x.dim())
    fn = REDUCTIONS.get(layer.attrs["op"])
    if fn is None:
        raise fail(layer, f"reduce operation {layer.attrs['op']} has no reference semantics")
    if not dims:
        return [x]
    if layer.attrs["op"] == "AVG" and not x.is_floating_point():
        raise fail(layer, "AVG of an integer tensor is not defined here")
    return [fn(x, dims, bool(layer.attrs["keep_dims"]))]


@handles("SOFTMAX")
def softmax(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x = ins[0]
    dims = bitmask_axes(layer.attrs["axes"], x.dim())
    if len(dims) == 1:
        return [torch.softmax(x, dims[0])]
    return [torch.exp(x - torch.logsumexp(x, dims, keepdim=True))]


@handles("CUMULATIVE")
def cumulative(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    if layer.attrs["op"] != "SUM":
        raise fail(layer, f"cumulative operation {layer.attrs['op']} has no reference semantics")
    x, axis = ins[0], int(scalar(ins[1]))
    axis %= max(x.dim(), 1)
    if layer.attrs.get("reverse"):
        x = x.flip(axis)
    y = torch.cumsum(x, axis)
    if layer.attrs.get("exclusive"):
        y = F.pad(y.narrow(axis, 0, max(x.shape[axis] - 1, 0)).movedim(axis, -1), (1, 0)).movedim(-1, axis)
    if layer.attrs.get("reverse"):
        y = y.flip(axis)
    return [y]


@handles("TOPK")
def topk(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x = ins[0]
    dims = bitmask_axes(layer.attrs["axes"], x.dim())
    if len(dims) != 1:
        raise fail(layer, f"TopK needs exactly one axis, got bitmask {layer.attrs['axes']}")
    k = int(scalar(ins[1])) if optional(ins, 1) is not None else int(layer.attrs["k"])
    values, indices = torch.topk(x, k, dims[0], largest=layer.attrs["op"] == "MAX", sorted=True)
    return [values, indices]


# ---- structure: IDENTITY, CAST, CONSTANT, CONCATENATION, SELECT, SHAPE, SHUFFLE, SQUEEZE ----------------------
@handles("IDENTITY", "CAST", "CONDITIONAL_INPUT")
def identity(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # The executor casts every output to its declared dtype; CAST converts float -> int by truncation toward
    # zero (DOCS + "Cast.html": 5.6 -> 5) and anything -> bool by `!= 0`, which is what torch's .to() does.
    return [ins[0]]


@handles("CONDITIONAL_OUTPUT")
def conditional_output(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # inputs: value in the true branch, value in the false branch, condition (appended by the execution plan)
    return [ins[0] if bool(ins[2]) else ins[1]]


@handles("CONDITION")
def condition(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return []


@handles("ASSERTION")
def assertion(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    if not bool(ins[0].all()):
        raise AssertionError(f"ASSERTION layer {layer.name!r} failed: {layer.attrs.get('message', '')}")
    return []


@handles("CONSTANT")
def constant(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    w = ctx.weight(layer, "weights", storage=ctx.storage(layer.output_dtypes[0]))
    if w is None:
        ctx.check_size(layer, layer.attrs["shape"])
        return [torch.zeros(layer.attrs["shape"], dtype=ctx.storage(layer.output_dtypes[0]))]
    return [w]


@handles("CONCATENATION")
def concatenation(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [torch.cat(ins, layer.attrs["axis"])]


@handles("SELECT")
def select(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [torch.where(ins[0], ins[1], ins[2])]


@handles("SHAPE")
def shape(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [torch.tensor(ins[0].shape, dtype=torch.int64)]


def _perm(perm, rank: int) -> list[int] | None:
    p = list(perm)[:rank]
    return None if p == list(range(rank)) else p


@handles("SHUFFLE")
def shuffle(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "Shuffle.html": first transpose, then reshape (0 copies the input dimension when
    # zero_is_placeholder, -1 is inferred), then second transpose
    x, a = ins[0], layer.attrs
    p = _perm(a["first_transpose"], x.dim())
    if p is not None:
        x = x.permute(p)
    dims = ints(ins[1]) if optional(ins, 1) is not None else a.get("reshape_dims")
    if dims is not None:
        dims = list(dims)
        if a.get("zero_is_placeholder", True):
            dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        x = x.reshape(dims)
    p = _perm(a["second_transpose"], x.dim())
    if p is not None:
        x = x.permute(p)
    return [x]


def _axes(layer: LayerRecord, ins: list) -> list[int]:
    if optional(ins, 1) is None:
        raise fail(layer, "the axes input is missing")
    return ints(ins[1])


@handles("SQUEEZE")
def squeeze(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x = ins[0]
    axes = sorted({a % x.dim() for a in _axes(layer, ins)})
    for a in axes:
        if x.shape[a] != 1:
            raise fail(layer, f"cannot squeeze axis {a} of size {x.shape[a]}")
    return [x.squeeze(tuple(axes)) if axes else x]


@handles("UNSQUEEZE")
def unsqueeze(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x = ins[0]
    axes = _axes(layer, ins)
    rank = x.dim() + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return [x]


# ---- SLICE: DOCS + "Slice.html" ---------------------------------------------------------------------------
def _sample_indices(idx: torch.Tensor, d: int, mode: str, layer: LayerRecord) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates x_i -> (indices into the input, validity mask for FILL)."""
    valid = (idx >= 0) & (idx < d)
    if mode == "STRICT_BOUNDS":
        if not bool(valid.all()):
            raise fail(layer, f"STRICT_BOUNDS slice reads outside [0, {d}) (coordinates {idx.tolist()})")
        return idx, valid
    if mode == "WRAP":
        return torch.remainder(idx, d), valid
    if mode == "CLAMP":
        return idx.clamp(0, d - 1), valid
    if mode == "FILL":
        return idx.clamp(0, max(d - 1, 0)), valid
    if mode == "REFLECT":
        if d == 1:
            return torch.zeros_like(idx), valid
        c = torch.remainder(idx.abs(), 2 * d - 2)
        return torch.where(c >= d, 2 * d - 2 - c, c), valid
    raise fail(layer, f"slice mode {mode} has no reference semantics")


@handles("SLICE")
def slice_(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, a = ins[0], layer.attrs
    rank = x.dim()
    start = ints(ins[1]) if optional(ins, 1) is not None else a.get("start")
    size = ints(ins[2]) if optional(ins, 2) is not None else a.get("shape")
    stride = ints(ins[3]) if optional(ins, 3) is not None else a.get("stride")
    axes = ints(ins[5]) if optional(ins, 5) is not None else a.get("axes")
    if start is None or size is None or stride is None:
        raise fail(layer, "start, size and stride must each be an attribute or an input")
    if axes is not None:
        full_start, full_size, full_stride = [0] * rank, list(x.shape), [1] * rank
        for i, ax in enumerate(axes):
            ax %= rank
            full_start[ax], full_size[ax], full_stride[ax] = start[i], size[i], stride[i]
        start, size, stride = full_start, full_size, full_stride
    ctx.check_size(layer, size)
    mode = a.get("mode", "STRICT_BOUNDS")
    fill = optional(ins, 4)
    for ax in range(rank):
        d, s0, n, st = x.shape[ax], start[ax], size[ax], stride[ax]
        last = s0 + (n - 1) * st
        if n > 0 and 0 <= s0 < d and 0 <= last < d and st > 0:
            if not (s0 == 0 and n == d and st == 1):
                x = x[(slice(None),) * ax + (slice(s0, last + 1, st),)]
            continue
        idx = s0 + torch.arange(n, dtype=torch.int64) * st
        src, valid = _sample_indices(idx, d, mode, layer)
        if d == 0:
            x = torch.zeros(x.shape[:ax] + (n,) + x.shape[ax + 1:], dtype=x.dtype)
        else:
            x = x.index_select(ax, src)
        if mode == "FILL" and not bool(valid.all()):
            value = fill.reshape(()).to(x.dtype) if fill is not None else torch.zeros((), dtype=x.dtype)
            shape = [1] * rank
            shape[ax] = n
            x = torch.where(valid.reshape(shape), x, value)
    return [x]


# ---- PADDING, FILL -----------------------------------------------------------------------------------------
@handles("PADDING")
def padding(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    pre, post = list(layer.attrs["pre_padding_nd"]), list(layer.attrs["post_padding_nd"])
    pad = []
    for b, e in zip(reversed(pre), reversed(post)):        # F.pad lists the last dimension first
        pad += [b, e]
    lead = ins[0].dim() - len(pre)
    ctx.check_size(layer, list(ins[0].shape[:lead]) + [n + b + e for n, b, e in zip(ins[0].shape[lead:], pre, post)])
    return [F.pad(ins[0], pad)]


@handles("FILL")
def fill(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "Fill.html": LINSPACE gives alpha + sum_k beta[k] * index_k; RANDOM_* draw from the distribution
    # (their values cannot match TensorRT's generator, only their distribution)
    a = layer.attrs
    shape = ints(ins[0]) if optional(ins, 0) is not None else list(a["shape"])
    ctx.check_size(layer, shape)
    out_dtype = ctx.storage(layer.output_dtypes[0])
    alpha = optional(ins, 1) if optional(ins, 1) is not None else a.get("alpha", 0.0)
    beta = optional(ins, 2) if optional(ins, 2) is not None else a.get("beta", 1.0)
    op = a["operation"]
    work = out_dtype if not out_dtype.is_floating_point else torch.float64
    if op == "LINSPACE":
        alpha_t = torch.as_tensor(alpha).to(work).reshape(())
        beta_t = torch.as_tensor(beta).to(work).reshape(-1)
        if beta_t.numel() == 1 and len(shape) > 1:
            beta_t = beta_t.expand(len(shape))
        out = torch.zeros(shape, dtype=work) + alpha_t
        for k, n in enumerate(shape):
            view = [1] * len(shape)
            view[k] = n
            out = out + (torch.arange(n, dtype=work) * beta_t[k]).reshape(view)
        return [out]
    lo, hi = float(scalar(alpha)), float(scalar(beta))
    if op == "RANDOM_UNIFORM":
        return [torch.rand(shape, dtype=torch.float64) * (hi - lo) + lo]
    if op == "RANDOM_NORMAL":
        return [torch.randn(shape, dtype=torch.float64) * hi + lo]
    raise fail(layer, f"fill operation {op} has no reference semantics")


# ---- GATHER / SCATTER / ONE_HOT / NON_ZERO / REVERSE_SEQUENCE: DOCS + "Gather.html", "Scatter.html", ... -------
def _check_indices(layer: LayerRecord, idx: torch.Tensor, bound, what: str = "index") -> torch.Tensor:
    # Documented range is 0 <= index < dimension; anything else is undefined in TensorRT, so refuse it
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or (isinstance(bound, int) and hi >= bound):
            raise fail(layer, f"{what} out of range [0, {bound}): min {lo}, max {hi}")
    return idx.long()


@handles("GATHER")
def gather(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, idx, a = ins[0], ins[1], layer.attrs
    mode, axis, ne = a.get("mode", "DEFAULT"), a.get("axis", 0), a.get("num_elementwise_dims", 0)
    if mode == "DEFAULT":
        idx = _check_indices(layer, idx, x.shape[axis])
        if ne == 0:
            out = x.index_select(axis, idx.reshape(-1))
            return [out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]
        if ne != 1 or axis < 1:
            raise fail(layer, f"num_elementwise_dims={ne} with axis={axis} is not supported")
        batch = max(x.shape[0], idx.shape[0])
        x = x.expand((batch,) + x.shape[1:])
        idx = idx.expand((batch,) + idx.shape[1:])
        m = idx.dim() - 1
        xm = x.movedim(axis, 1)
        b = torch.arange(batch).reshape((batch,) + (1,) * m)
        out = xm[b, idx]                                      # [B, i_1..i_m, a_1..a_{axis-1}, a_{axis+1}..]
        return [out.movedim(tuple(range(1, 1 + m)), tuple(range(axis, axis + m)))]
    if mode == "ELEMENT":
        idx = _check_indices(layer, idx, x.shape[axis])
        return [torch.gather(x, axis, idx)]
    if mode == "ND":
        k = idx.shape[-1]
        lead = x.shape[:ne]
        nb = math.prod(lead)
        xb = x.reshape((nb,) + x.shape[ne:])
        ib = idx.reshape(nb, -1, k).long()
        for j in range(k):
            _check_indices(layer, ib[..., j], xb.shape[1 + j])
        b = torch.arange(nb).reshape(nb, 1)
        out = xb[(b,) + tuple(ib[..., j] for j in range(k))]
        return [out.reshape(idx.shape[:-1] + x.shape[ne + k:])]
    raise fail(layer, f"gather mode {mode} has no reference semantics")


@handles("SCATTER")
def scatter(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    data, idx, updates = ins[0], ins[1], ins[2]
    mode, axis = layer.attrs.get("mode", "ELEMENT"), layer.attrs.get("axis", 0)
    out = data.clone()
    if mode == "ELEMENT":
        idx = _check_indices(layer, idx, data.shape[axis])
        return [out.scatter_(axis, idx, updates.to(out.dtype))]
    if mode == "ND":
        k = idx.shape[-1]
        flat = idx.reshape(-1, k).long()
        for j in range(k):
            _check_indices(layer, flat[:, j], data.shape[j])
        out[tuple(flat[:, j] for j in range(k))] = updates.reshape((flat.shape[0],) + data.shape[k:]).to(out.dtype)
        return [out]
    raise fail(layer, f"scatter mode {mode} has no reference semantics")


@handles("ONE_HOT")
def one_hot(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "OneHot.html": indices in [-depth, depth) (negative ones count from the end); others give off_value
    idx, values, depth = ins[0].long(), ins[1].reshape(-1), int(scalar(ins[2]))
    idx = torch.where(idx < 0, idx + depth, idx)
    axis = layer.attrs.get("axis", -1)
    axis = axis if axis >= 0 else axis + idx.dim() + 1
    view = [1] * (idx.dim() + 1)
    view[axis] = depth
    ctx.check_size(layer, list(idx.shape[:axis]) + [depth] + list(idx.shape[axis:]))
    hit = idx.unsqueeze(axis) == torch.arange(depth).reshape(view)
    return [torch.where(hit, values[1], values[0])]


@handles("NON_ZERO")
def non_zero(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [torch.nonzero(ins[0]).T.contiguous()]


@handles("REVERSE_SEQUENCE")
def reverse_sequence(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "ReverseSequence.html": for batch b, the first lengths[b] elements along sequence_axis are reversed
    x, lengths = ins[0], ins[1].long()
    b_ax, s_ax = layer.attrs["batch_axis"], layer.attrs["sequence_axis"]
    t = torch.arange(x.shape[s_ax]).reshape(1, -1)
    n = lengths.reshape(-1, 1)
    src = torch.where(t < n, n - 1 - t, t)                    # [batch, seq]
    view = [1] * x.dim()
    view[b_ax], view[s_ax] = src.shape[0], src.shape[1]
    if b_ax > s_ax:
        src = src.T
    return [torch.gather(x, s_ax, src.reshape(view).expand(x.shape))]


# ---- MATRIX_MULTIPLY / EINSUM / PARAMETRIC_RELU ----------------------------------------------------------------
@handles("MATRIX_MULTIPLY")
def matrix_multiply(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "MatrixMultiply.html": VECTOR marks an operand whose last dimension is a vector; batch dims broadcast
    a, b = ins[0], ins[1]
    op0, op1 = layer.attrs["op0"], layer.attrs["op1"]
    if op0 == "TRANSPOSE":
        a = a.transpose(-1, -2)
    if op1 == "TRANSPOSE":
        b = b.transpose(-1, -2)
    if op0 == "VECTOR":
        a = a.unsqueeze(-2)
    if op1 == "VECTOR":
        b = b.unsqueeze(-1)
    reduced = layer.output_dtypes[0] in (torch.float16, torch.bfloat16) and not ctx.override
    if a.dim() > 2 and b.dim() >= 2 and all(d == 1 for d in b.shape[:-2]) and not reduced:
        # b is one matrix broadcast over a's batch (a linear layer's weights): one 2-D product of a's rows, as
        # torch.matmul does for a 2-D b; a batched product would broadcast b to every batch item (matrix-vector
        # products when M is 1, several times slower). Its float32 sums are rounded in another order; layers
        # declared float16/bfloat16 keep the batched product, so their rounded outputs stay as they were (the
        # accuracy of reduced-precision models is tested against PyTorch's own error, which some sit close to)
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
        y = torch.mm(rows, b.reshape(b.shape[-2], b.shape[-1])).reshape(*batch, a.shape[-2], b.shape[-1])
    else:
        y = torch.matmul(a, b)
    if op1 == "VECTOR":
        y = y.squeeze(-1)
    if op0 == "VECTOR":
        y = y.squeeze(-1 if op1 == "VECTOR" else -2)
    return [y]


@handles("EINSUM")
def einsum(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [torch.einsum(layer.attrs["equation"], *ins)]


@handles("PARAMETRIC_RELU")
def parametric_relu(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, slope = ins[0], ins[1]
    return [torch.where(x >= 0, x, x * slope)]
