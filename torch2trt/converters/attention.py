"""Attention converters: F.scaled_dot_product_attention and F.multi_head_attention_forward (what
nn.MultiheadAttention calls; the ops inside it never reach the tracer). Where the backend has TensorRT's attention
layer (IAttention; backend.add_attention) and the call fits it (float32, 4-d, value head size = query head size, equal
batch, equal or grouped heads, bool/float masks broadcastable over batch and heads), one IAttention; otherwise
matrix products and a float32 softmax. Masks may be constants or computed in the model. Dynamic batch and
sequence lengths are kept where the masks allow (reshapes use the network's own dims)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import backend
from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .activation import softmax
from .layers import (
    concat,
    elementwise,
    input_dims,
    matrix_multiply,
    reduce_axis,
    reshape,
    select,
    slice_layer,
    transpose,
    unary,
)
from .linear import matmul

E = trt.ElementWiseOperation
M = trt.MatrixOperation


def _compute(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def attention(ctx, q, k, v, scale: float, mask, is_causal: bool, dtype, L: int, S: int, safe: bool = False):
    """softmax(q k^T * scale + mask) v on ITensors (..., L, D) / (..., S, D); the softmax runs in float32.
    `mask`: None, a bool tensor (True = attend) or an additive float mask (torch tensor or traced/ITensor).
    `safe`: rows the mask hides entirely give 0, as scaled_dot_product_attention's `_safe_softmax` (PyTorch >= 2.5;
    a plain softmax gives NaN there)."""
    scores = matrix_multiply(ctx, q, k, op_b=M.TRANSPOSE)
    compute = _compute(dtype)
    scores = ctx.cast(scores, compute)
    scores = elementwise(ctx, scores, scale, E.PROD, compute)
    rank = len(scores.shape)
    neg_inf = ctx.trt(torch.tensor(-math.inf, dtype=compute), rank=rank)
    if is_causal:  # top-left aligned, as PyTorch's: query i sees keys j <= i
        if -1 in trt_dims(scores)[-2:]:
            from .reduce import axis_iota

            i, j = axis_iota(ctx, scores, rank - 2), axis_iota(ctx, scores, rank - 1)
            causal = unary(ctx, elementwise(ctx, j, i, E.GREATER, torch.int32), trt.UnaryOperation.NOT)
        else:
            causal = ctx.trt(torch.ones(L, S, dtype=torch.bool).tril(), rank=rank)
        scores = select(ctx, causal, scores, neg_inf)
    if mask is not None:
        mask_dtype = mask.dtype if isinstance(mask, torch.Tensor) else None
        if mask_dtype == torch.bool or (isinstance(mask, trt.ITensor) and mask.dtype == trt.bool):
            scores = select(ctx, ctx.trt(mask, torch.bool, rank), scores, neg_inf)
        else:
            scores = elementwise(ctx, scores, ctx.trt(mask, compute, rank), E.SUM, compute)
    probs = softmax(ctx, scores, rank - 1)
    if safe and mask is not None:
        top = reduce_axis(ctx, scores, trt.ReduceOperation.MAX, rank - 1, True, "row_max")
        hidden = elementwise(ctx, top, neg_inf, E.EQUAL, compute)
        probs = select(ctx, hidden, ctx.trt(torch.tensor(0.0, dtype=compute), rank=rank), probs)
    probs = ctx.cast(probs, dtype)
    return matrix_multiply(ctx, probs, v), probs


# float32 only: in float16 / bfloat16 the matrix-product form keeps the softmax in float32 (the project's rule for
# precision-sensitive layers); where IAttention normalizes in reduced precision is TensorRT's choice, not measured here
_FUSED_DTYPES = (torch.float32,)


def _fits_fused(q, k, v, mask, dtype, qt, kt, vt, grouped: bool) -> bool:
    """Does IAttention compute this call: 4-d [b, h, s, d] inputs of one float dtype, the value's head size equal
    to the query's, one batch size (static or the same network dims), key/value heads equal to the query's or (GQA)
    dividing them, and a mask of at most 4 dims whose leading dims are 1 or the batch / head count."""
    if not backend.has_attention_layer() or dtype not in _FUSED_DTYPES:
        return False
    shapes = [tuple(t.shape) for t in (q, k, v)]
    if any(len(s) != 4 for s in shapes) or shapes[2][-1] != shapes[0][-1] or shapes[1] != shapes[2]:
        return False
    dims = [trt_dims(t) for t in (qt, kt, vt)]
    if len({s[0] for s in shapes}) != 1 or len({d[0] for d in dims}) != 1:
        return False
    hq, hk = shapes[0][1], shapes[1][1]
    if hq != hk and not (grouped and hq % hk == 0):
        return False
    if mask is not None:
        m = tuple(mask.shape) if isinstance(mask, torch.Tensor) else trt_dims(mask)
        if len(m) > 4:
            return False
        m = (1,) * (4 - len(m)) + tuple(m)
        if m[0] not in (1, shapes[0][0]) or m[1] not in (1, hq):
            return False
    return True


def _query_free(ctx, q) -> bool:
    """TensorRT-RTX 1.7's builder crashes (segfault) on two IAttentions whose queries are the same tensor: only the
    first use of a query gets the attention layer."""
    return q.name not in getattr(ctx, "_attention_queries", ())


def _claim_query(ctx, q) -> None:
    if not hasattr(ctx, "_attention_queries"):
        ctx._attention_queries = set()
    ctx._attention_queries.add(q.name)


def fused_attention(ctx, q, k, v, scale: float, mask, is_causal: bool, dtype):
    """softmax(q k^T * scale + mask) v as one IAttention (q scaled first: TensorRT applies no scale). Rows the mask
    hides entirely give 0 (scaled_dot_product_attention's safe softmax); TensorRT leaves them unspecified, so they are
    selected to 0 after the layer unless the mask is a constant that hides no row."""
    rank = 4
    _claim_query(ctx, q)
    qs = elementwise(ctx, q, scale, E.PROD, dtype) if scale != 1.0 else q
    layer = backend.add_attention(ctx.network, qs, k, v, is_causal)
    ctx.name_layer(layer, "attention")
    layer.decomposable = True  # several kernels where no fused one fits (e.g. the CPU build)
    mt = None
    if mask is not None:
        is_bool = (mask.dtype == torch.bool) if isinstance(mask, torch.Tensor) else mask.dtype == trt.bool
        mt = ctx.trt(mask, torch.bool if is_bool else dtype, rank)
        layer.mask = mt
    y = layer.get_output(0)
    if mt is None:
        return y
    if isinstance(mask, torch.Tensor) and get_trt(mask) is None:
        visible = mask.any(-1) if mask.dtype == torch.bool else (mask > -math.inf).any(-1)
        if bool(visible.all()):
            return y
    seen = ctx.cast(mt, torch.float32) if is_bool else ctx.cast(mt, _compute(dtype))
    top = reduce_axis(ctx, seen, trt.ReduceOperation.MAX, rank - 1, True, "row_max")
    none = 0.0 if is_bool else -math.inf
    hidden = elementwise(ctx, top, ctx.trt(torch.tensor(none, dtype=torch.float32 if is_bool else
                                                         _compute(dtype)), rank=rank),
                         E.EQUAL, torch.float32 if is_bool else _compute(dtype))
    return select(ctx, hidden, ctx.trt(torch.tensor(0.0, dtype=dtype), rank=rank), y)


def _repeat_heads(ctx, t, x: torch.Tensor, groups: int):
    """repeat_interleave(groups) along axis -3 (grouped-query attention): (.., Hk, S, D) -> (.., Hk*G, S, D)."""
    ctx.require_static(x)
    shape = list(x.shape)
    five = shape[:-2] + [1] + shape[-2:]
    t = reshape(ctx, t, five)
    big = shape[:-2] + [groups] + shape[-2:]
    repeated = slice_layer(ctx, t, [0] * len(five), big, [0 if a == len(shape) - 2 else 1 for a in range(len(five))],
                           "repeat_heads")
    return reshape(ctx, repeated, shape[:-3] + [shape[-3] * groups] + shape[-2:])


@tensorrt_converter([F.scaled_dot_product_attention])
def convert_sdpa(ctx):
    q, k, v = ctx.get_arg("query", 0), ctx.get_arg("key", 1), ctx.get_arg("value", 2)
    mask, dropout_p = ctx.get_arg("attn_mask", 3, None), ctx.get_arg("dropout_p", 4, 0.0)
    is_causal, scale = ctx.get_arg("is_causal", 5, False), ctx.get_arg("scale", 6, None)
    gqa = ctx.get_arg("enable_gqa", 7, False)
    out = ctx.method_return
    if dropout_p:
        raise ctx.unsupported(f"scaled_dot_product_attention(dropout_p={dropout_p}): random at inference; pass 0")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    rank = out.dim()
    qt, kt, vt = (ctx.trt(t, out.dtype, rank) for t in (q, k, v))
    if _fits_fused(q, k, v, mask, out.dtype, qt, kt, vt, bool(gqa)) and not (is_causal and mask is not None) \
            and _query_free(ctx, qt):
        ctx.set_output(out, fused_attention(ctx, qt, kt, vt, scale, mask, is_causal, out.dtype))
        return
    if gqa and q.dim() >= 3 and k.shape[-3] != q.shape[-3]:
        kt = _repeat_heads(ctx, kt, k, q.shape[-3] // k.shape[-3])
        vt = _repeat_heads(ctx, vt, v, q.shape[-3] // v.shape[-3])
    y, _ = attention(ctx, qt, kt, vt, scale, mask, is_causal, out.dtype, q.shape[-2], k.shape[-2], safe=True)
    ctx.set_output(out, y)


# ---- multi_head_attention_forward --------------------------------------------------------------------------
def _additive(ctx, mask, dtype):
    """PyTorch's _canonical_mask: a bool mask (True = masked out) becomes 0 / -inf in `dtype`; a float mask stays.
    Constant masks are computed here; traced ones in the network."""
    if get_trt(mask) is None:
        if mask.dtype == torch.bool:
            return torch.zeros_like(mask, dtype=dtype).masked_fill(mask, -math.inf)
        return mask.to(dtype)
    mt = ctx.trt(mask)
    if mask.dtype != torch.bool:
        return ctx.cast(mt, dtype)
    rank = mask.dim()
    return select(ctx, mt, ctx.trt(torch.tensor(-math.inf, dtype=dtype), rank=rank),
                  ctx.trt(torch.tensor(0.0, dtype=dtype), rank=rank))


def _reshape_mask(ctx, m, shape: list[int]):
    return m.reshape(shape) if isinstance(m, torch.Tensor) else reshape(ctx, m, shape)


def _pad_key(ctx, m, dtype):
    """One more key (bias_k or the zero key) that no mask hides: a 0 column at the end."""
    if isinstance(m, torch.Tensor):
        return F.pad(m, (0, 1))
    shape = trt_dims(m)[:-1] + (1,)
    return concat(ctx, [m, ctx.trt(torch.zeros(shape, dtype=dtype))], len(shape) - 1, "pad_mask")


def _add(ctx, a, b, dtype):
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a + b
    rank = max(len(a.shape), len(b.shape))
    return elementwise(ctx, ctx.trt(a, dtype, rank), ctx.trt(b, dtype, rank), E.SUM, dtype)


@tensorrt_converter([F.multi_head_attention_forward])
def convert_multi_head_attention_forward(ctx):
    a = ctx.get_arg
    query, key, value = a("query", 0), a("key", 1), a("value", 2)
    num_heads = a("num_heads", 4)
    in_w, in_b = a("in_proj_weight", 5), a("in_proj_bias", 6)
    bias_k, bias_v, add_zero_attn = a("bias_k", 7), a("bias_v", 8), a("add_zero_attn", 9)
    dropout_p, out_w, out_b = a("dropout_p", 10), a("out_proj_weight", 11), a("out_proj_bias", 12)
    training = a("training", 13, True)
    key_padding_mask, need_weights = a("key_padding_mask", 14, None), a("need_weights", 15, True)
    attn_mask, separate = a("attn_mask", 16, None), a("use_separate_proj_weight", 17, False)
    static_k, static_v = a("static_k", 21, None), a("static_v", 22, None)
    average, is_causal = a("average_attn_weights", 23, True), a("is_causal", 24, False)
    attn_out, weights_out = ctx.method_return
    if training and dropout_p:
        raise ctx.unsupported(f"multi_head_attention_forward(training=True, dropout_p={dropout_p}): random "
                              "dropout at inference; call model.eval()")
    if static_k is not None or static_v is not None:
        raise ctx.unsupported("multi_head_attention_forward with static_k/static_v")
    if any(get_trt(w) is not None for w in (in_w, in_b, bias_k, bias_v, out_w, out_b)):
        raise ctx.unsupported("multi_head_attention_forward with weights computed in the model")
    dtype = attn_out.dtype
    batched = query.dim() == 3
    L, E_ = query.shape[0], query.shape[-1]
    S = key.shape[0]
    N = query.shape[1] if batched else 1
    D = E_ // num_heads

    def seq_first(x):  # (len, E) -> (len, 1, E) for unbatched calls
        xt = ctx.trt(x, dtype)
        return xt if batched else reshape(ctx, xt, [x.shape[0], 1, x.shape[1]])

    if separate:
        wq, wk, wv = a("q_proj_weight", 18), a("k_proj_weight", 19), a("v_proj_weight", 20)
    else:
        wq, wk, wv = in_w.chunk(3)
    bq, bk, bv = in_b.chunk(3) if in_b is not None else (None, None, None)

    def project(x, w, b):
        y = matmul(ctx, x, w.t(), dtype)
        return elementwise(ctx, y, b, E.SUM, dtype) if b is not None else y

    qt = project(seq_first(query), wq, bq)
    kt = project(seq_first(key), wk, bk)
    vt = project(seq_first(value), wv, bv)
    if batched:
        q_dims, k_dims = input_dims(ctx, qt)[:2], input_dims(ctx, kt)[:2]
    else:
        q_dims, k_dims = [L, 1], [S, 1]

    # masks, as multi_head_attention_forward merges them: additive, (N or 1, H or 1, L or 1, S)
    kpm = key_padding_mask
    if is_causal and kpm is None and not need_weights:
        attn_mask = None  # PyTorch hands SDPA is_causal=True and drops the mask
    else:
        is_causal = False
    mask = None
    if attn_mask is not None:
        mask = _additive(ctx, attn_mask, dtype)
        mask = _reshape_mask(ctx, mask, [N, num_heads, L, S] if attn_mask.dim() == 3 else [1, 1, L, S])
    if kpm is not None:
        kpm_t = _reshape_mask(ctx, _additive(ctx, kpm, dtype), [N, 1, 1, S])
        mask = kpm_t if mask is None else _add(ctx, mask, kpm_t, dtype)

    def heads(t, length_dims):  # (len, N, E) -> (len, N, H, D) -> (N, H, len, D)
        return transpose(ctx, reshape(ctx, t, length_dims + [num_heads, D]), [1, 2, 0, 3])

    kh, vh = heads(kt, k_dims), heads(vt, k_dims)
    extra = 0
    if bias_k is not None and bias_v is not None:
        ctx.require_static(key)
        kh = _append_key(ctx, kh, bias_k.reshape(1, num_heads, 1, D).expand(N, -1, -1, -1), dtype)
        vh = _append_key(ctx, vh, bias_v.reshape(1, num_heads, 1, D).expand(N, -1, -1, -1), dtype)
        extra += 1
        if mask is not None:
            mask = _pad_key(ctx, mask, dtype)
    if add_zero_attn:
        ctx.require_static(key)
        zeros = torch.zeros(N, num_heads, 1, D, dtype=dtype)
        kh, vh = _append_key(ctx, kh, zeros, dtype), _append_key(ctx, vh, zeros, dtype)
        extra += 1
        if mask is not None:
            mask = _pad_key(ctx, mask, dtype)
    qh = heads(qt, q_dims)
    m_dims = None if mask is None else tuple(mask.shape) if isinstance(mask, torch.Tensor) else trt_dims(mask)
    fused = weights_out is None and backend.has_attention_layer() and dtype in _FUSED_DTYPES and (
        m_dims is None or (L >= 0 and m_dims[-2] == L)) \
        and _query_free(ctx, qh)
    if fused:  # need_weights=False: PyTorch runs scaled_dot_product_attention (hidden rows give 0)
        y = fused_attention(ctx, qh, kh, vh, 1.0 / math.sqrt(D), mask, is_causal, dtype)
    else:
        y, probs = attention(ctx, qh, kh, vh, 1.0 / math.sqrt(D), mask, is_causal, dtype, L, S + extra,
                             safe=weights_out is None)
    # (N, H, L, D) -> (L, N, H, D) -> (L, N, E)
    y = reshape(ctx, transpose(ctx, y, [2, 0, 1, 3]), q_dims + [E_])
    y = matmul(ctx, y, out_w.t(), dtype)
    if out_b is not None:
        y = elementwise(ctx, y, out_b, E.SUM, dtype)
    if not batched:
        y = reshape(ctx, y, list(attn_out.shape))
    ctx.set_output(attn_out, y)
    if weights_out is not None:
        w = probs
        if average:
            w = reduce_axis(ctx, ctx.cast(probs, _compute(dtype)), trt.ReduceOperation.AVG, 1, False, "attn_weights")
        if trt_dims(w) != tuple(weights_out.shape) and -1 not in trt_dims(w):
            w = reshape(ctx, w, list(weights_out.shape))
        ctx.set_output(weights_out, ctx.cast(w, weights_out.dtype))


def _append_key(ctx, t, extra: torch.Tensor, dtype):
    return concat(ctx, [t, ctx.trt(extra.contiguous(), dtype)], 2, "append_key")
