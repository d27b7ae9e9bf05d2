"""Attention converters: F.scaled_dot_product_attention and F.multi_head_attention_forward
(nn.MultiheadAttention), built from matrix products and a float32 softmax. Dynamic batch and sequence
lengths are kept (reshapes use the network's own dims)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..backend import trt
from ..tracing.context import trt_dims
from ..tracing.registry import tensorrt_converter
from .activation import softmax
from .linear import matmul
from .shape import input_dims, reshape, transpose
from .unary import binary, select

E = trt.ElementWiseOperation
M = trt.MatrixOperation


def _mm(ctx, a, b, op_b=M.NONE):
    layer = ctx.network.add_matrix_multiply(a, M.NONE, b, op_b)
    ctx.name_layer(layer, "matmul")
    return layer.get_output(0)


def attention(ctx, q, k, v, scale: float, mask, is_causal: bool, dtype, L: int, S: int):
    """softmax(q k^T * scale + mask) v on ITensors (..., L, D) / (..., S, D); softmax in float32."""
    scores = _mm(ctx, q, k, M.TRANSPOSE)
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    scores = ctx.cast(scores, compute)
    scores = binary(ctx, scores, scale, E.PROD, compute)
    rank = len(scores.shape)
    if is_causal:
        if L < 0 or S < 0:
            raise ValueError("is_causal with dynamic sequence lengths")
        causal = torch.ones(L, S, dtype=torch.bool).tril()
        scores = select(ctx, ctx.trt(causal, torch.bool, rank), scores,
                        ctx.trt(torch.tensor(-math.inf), compute, rank))
    if mask is not None:
        if mask.dtype == torch.bool:
            neg_inf = ctx.trt(torch.tensor(-math.inf), compute, rank)
            scores = select(ctx, ctx.trt(mask, torch.bool, rank), scores, neg_inf)
        else:
            scores = binary(ctx, scores, ctx.trt(mask, compute, rank), E.SUM, compute)
    probs = ctx.cast(softmax(ctx, scores, rank - 1), dtype)
    return _mm(ctx, probs, v), probs


@tensorrt_converter([F.scaled_dot_product_attention])
def convert_sdpa(ctx):
    q, k, v = ctx.get_arg("query", 0), ctx.get_arg("key", 1), ctx.get_arg("value", 2)
    mask, dropout_p = ctx.get_arg("attn_mask", 3, None), ctx.get_arg("dropout_p", 4, 0.0)
    is_causal, scale = ctx.get_arg("is_causal", 5, False), ctx.method_kwargs.get("scale")
    out = ctx.method_return
    if dropout_p:
        raise ctx.unsupported(f"scaled_dot_product_attention(dropout_p={dropout_p}): random at inference")
    if ctx.method_kwargs.get("enable_gqa"):
        raise ctx.unsupported("scaled_dot_product_attention(enable_gqa=True)")
    if k.shape[-3:-2] != q.shape[-3:-2] and q.dim() > 2 and k.shape[-3] != q.shape[-3]:
        raise ctx.unsupported("scaled_dot_product_attention with different head counts")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    rank = out.dim()
    qt, kt, vt = (ctx.trt(t, out.dtype, rank) for t in (q, k, v))
    y, _ = attention(ctx, qt, kt, vt, scale, mask, is_causal, out.dtype, q.shape[-2], k.shape[-2])
    ctx.set_output(out, y)


@tensorrt_converter([F.multi_head_attention_forward])
def convert_multi_head_attention_forward(ctx):
    a = ctx.get_arg
    query, key, value = a("query", 0), a("key", 1), a("value", 2)
    num_heads = a("num_heads", 4)
    in_w, in_b = a("in_proj_weight", 5), a("in_proj_bias", 6)
    bias_k, bias_v, add_zero_attn = a("bias_k", 7), a("bias_v", 8), a("add_zero_attn", 9)
    dropout_p, out_w, out_b = a("dropout_p", 10), a("out_proj_weight", 11), a("out_proj_bias", 12)
    training = a("training", 13, True)
    key_padding_mask = a("key_padding_mask", 14, None)
    attn_mask, separate = a("attn_mask", 16, None), a("use_separate_proj_weight", 17, False)
    average = a("average_attn_weights", 21, True)
    is_causal = a("is_causal", 22, False)
    outs = ctx.method_return
    attn_out, weights_out = outs
    if training and dropout_p:
        raise ctx.unsupported("multi_head_attention_forward in training mode with dropout")
    if bias_k is not None or bias_v is not None or add_zero_attn:
        raise ctx.unsupported("multi_head_attention_forward with add_bias_kv/add_zero_attn")
    if a("static_k", 19, None) is not None or a("static_v", 20, None) is not None:
        raise ctx.unsupported("multi_head_attention_forward with static_k/static_v")
    if query.dim() != 3:
        raise ctx.unsupported("multi_head_attention_forward with unbatched inputs")
    dtype = attn_out.dtype
    L, N, E_ = query.shape
    S = key.shape[0]
    D = E_ // num_heads
    if separate:
        wq, wk, wv = a("q_proj_weight", 18), a("k_proj_weight", 19), a("v_proj_weight", 20)
    else:
        wq, wk, wv = in_w.chunk(3)
    bq, bk, bv = in_b.chunk(3) if in_b is not None else (None, None, None)

    def project(x, w, b):
        y = matmul(ctx, ctx.trt(x, dtype), w.t(), dtype)
        return binary(ctx, y, b, E.SUM, dtype) if b is not None else y

    def heads(t, length_dims):
        # (len, N, E) -> (len, N, H, D) -> (N, H, len, D)
        return transpose(ctx, reshape(ctx, t, length_dims + [num_heads, D]), [1, 2, 0, 3])

    qt = project(query, wq, bq)
    kt = project(key, wk, bk)
    vt = project(value, wv, bv)
    q_dims, k_dims = input_dims(ctx, qt)[:2], input_dims(ctx, kt)[:2]
    mask = None
    if attn_mask is not None or key_padding_mask is not None:
        if any(hasattr(m, "_trt") for m in (attn_mask, key_padding_mask) if m is not None):
            raise ctx.unsupported("multi_head_attention_forward with masks computed in the model")
        mask = _merge_masks(attn_mask, key_padding_mask, N, num_heads, L, S, dtype)
    y, probs = attention(ctx, heads(qt, q_dims), heads(kt, k_dims), heads(vt, k_dims), 1.0 / math.sqrt(D), mask,
                         bool(is_causal and attn_mask is None), dtype, L, S)
    # (N, H, L, D) -> (L, N, H, D) -> (L, N, E)
    y = reshape(ctx, transpose(ctx, y, [2, 0, 1, 3]), q_dims + [E_])
    y = project_out = matmul(ctx, y, out_w.t(), dtype)
    if out_b is not None:
        y = binary(ctx, project_out, out_b, E.SUM, dtype)
    ctx.set_output(attn_out, y)
    if weights_out is not None:
        if average:
            r = ctx.network.add_reduce(probs, trt.ReduceOperation.AVG, 1 << 1, False)
            ctx.name_layer(r, "attn_weights")
            w = r.get_output(0)
        else:
            w = probs
        if trt_dims(w) != tuple(weights_out.shape) and -1 not in trt_dims(w):
            w = reshape(ctx, w, list(weights_out.shape))
        ctx.set_output(weights_out, ctx.cast(w, weights_out.dtype))


def _additive(mask: torch.Tensor) -> torch.Tensor:
    """A bool mask (True = masked out) as 0 / -inf; a float mask as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=torch.float32).masked_fill(mask, -math.inf)
    return mask.float()


def _merge_masks(attn_mask, key_padding_mask, N, H, L, S, dtype):
    """One float mask of shape (N, H, L, S) (or broadcastable) as multi_head_attention_forward builds it."""
    m = torch.zeros(1, 1, L, S, dtype=torch.float32)
    if attn_mask is not None:
        am = _additive(attn_mask)
        m = m + (am.reshape(N, H, L, S) if am.dim() == 3 else am.reshape(1, 1, L, S))
    if key_padding_mask is not None:
        m = m + _additive(key_padding_mask).reshape(N, 1, 1, S)
    return m
