"""Attention against PyTorch: F.scaled_dot_product_attention (bool/float/broadcast/traced masks, is_causal with
L != S, scale, 3-d and 4-d, float16, grouped heads) and nn.MultiheadAttention / F.multi_head_attention_forward
(batch_first, need_weights averaged or per head, key_padding_mask, 2-d/3-d attn_mask, is_causal, kdim/vdim,
bias_k/bias_v, add_zero_attn, unbatched, cross-attention) — and refusals (dropout_p, training dropout)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_refuses

N, H, L, S, E, EV = 2, 3, 5, 7, 8, 6


def qkv(n=N, h=H, lq=L, s=S, e=E, ev=EV):
    return [torch.randn(n, h, lq, e), torch.randn(n, h, s, e), torch.randn(n, h, s, ev)]


def sdpa(**kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


BOOL_MASK = torch.rand(L, S) > 0.3
BOOL_MASK[:, 0] = True  # every query keeps a key (an all-masked row is NaN in PyTorch)
FLOAT_MASK = torch.randn(N, 1, L, S)

SDPA_CASES = {
    "plain": (sdpa(), qkv()),
    "bool_mask": (sdpa(attn_mask=BOOL_MASK), qkv()),
    "float_mask_broadcast": (sdpa(attn_mask=FLOAT_MASK), qkv()),
    "causal_square": (sdpa(is_causal=True), qkv(s=L)),
    "causal_l_less_than_s": (sdpa(is_causal=True), qkv()),
    "scale": (sdpa(scale=0.3), qkv()),
    "mask_and_scale": (sdpa(attn_mask=FLOAT_MASK[0, 0], scale=1.7), qkv()),
    "three_d": (sdpa(), [torch.randn(N, L, E), torch.randn(N, S, E), torch.randn(N, S, EV)]),
    "broadcast_batch": (sdpa(), [torch.randn(N, H, L, E), torch.randn(1, H, S, E), torch.randn(1, H, S, EV)]),
    "non_contiguous": (lambda q, k, v: F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                                        v.transpose(1, 2)),
                       [torch.randn(N, L, H, E), torch.randn(N, S, H, E), torch.randn(N, S, H, EV)]),
    "traced_bool_mask": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=k.sum(-1, keepdim=True)
                                                                        .transpose(-1, -2) > -1.0), qkv()),
    "traced_float_mask": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=q @ k.transpose(-1, -2)),
                          qkv()),
    "float16": (sdpa(attn_mask=BOOL_MASK), [t.half() for t in qkv()]),
    "grouped_heads": (sdpa(enable_gqa=True), [torch.randn(N, 6, L, E), torch.randn(N, 2, S, E),
                                              torch.randn(N, 2, S, EV)]),
}


@pytest.mark.parametrize("name", list(SDPA_CASES))
def test_sdpa_matches_pytorch(name):
    fn, inputs = SDPA_CASES[name]
    assert_converts(fn, inputs, rtol=2e-3 if name == "float16" else 1e-5)


@pytest.mark.parametrize("fn, match", [
    (sdpa(dropout_p=0.5), r"dropout_p=0.5"),
])
def test_sdpa_refuses(fn, match):
    assert_refuses(fn, qkv(), match=match)


class MHA(nn.Module):
    def __init__(self, embed=12, heads=3, call=None, **kw):
        super().__init__()
        self.mha = nn.MultiheadAttention(embed, heads, **kw)
        self.call = call or (lambda m, q, k, v: m(q, k, v))

    def forward(self, q, k, v):
        return self.call(self.mha, q, k, v)


def seq(length, n=N, e=12, batch_first=False):
    return torch.randn(n, length, e) if batch_first else torch.randn(length, n, e)


KPM = torch.zeros(N, S, dtype=torch.bool)
KPM[0, -2:] = True
KPM[1, 1] = True
CAUSAL = nn.Transformer.generate_square_subsequent_mask(L)
AMASK_BOOL = torch.rand(L, S) > 0.7
AMASK_3D = torch.randn(N * 3, L, S)

MHA_CASES = {
    "self_attention": (MHA(), [seq(L)] * 3),
    "cross_attention": (MHA(), [seq(L), seq(S), seq(S)]),
    "batch_first": (MHA(batch_first=True), [seq(L, batch_first=True), seq(S, batch_first=True),
                                            seq(S, batch_first=True)]),
    "no_weights": (MHA(call=lambda m, q, k, v: m(q, k, v, need_weights=False)[0]), [seq(L), seq(S), seq(S)]),
    "weights_per_head": (MHA(call=lambda m, q, k, v: m(q, k, v, average_attn_weights=False)), [seq(L), seq(S), seq(S)]),
    "key_padding_mask": (MHA(call=lambda m, q, k, v: m(q, k, v, key_padding_mask=KPM)), [seq(L), seq(S), seq(S)]),
    "key_padding_mask_float": (MHA(call=lambda m, q, k, v: m(q, k, v, key_padding_mask=KPM.float() * -2.0)),
                               [seq(L), seq(S), seq(S)]),
    "key_padding_mask_no_weights": (MHA(call=lambda m, q, k, v: m(q, k, v, key_padding_mask=KPM, need_weights=False)),
                                    [seq(L), seq(S), seq(S)]),
    "attn_mask_bool": (MHA(call=lambda m, q, k, v: m(q, k, v, attn_mask=AMASK_BOOL)), [seq(L), seq(S), seq(S)]),
    "attn_mask_3d_float": (MHA(call=lambda m, q, k, v: m(q, k, v, attn_mask=AMASK_3D)), [seq(L), seq(S), seq(S)]),
    "attn_mask_and_key_padding": (MHA(call=lambda m, q, k, v: m(q, k, v, attn_mask=AMASK_3D, key_padding_mask=KPM)),
                                  [seq(L), seq(S), seq(S)]),
    "causal_hint_no_weights": (MHA(call=lambda m, q, k, v: m(q, k, v, attn_mask=CAUSAL, is_causal=True,
                                                           need_weights=False)), [seq(L)] * 3),
    "causal_hint_with_weights": (MHA(call=lambda m, q, k, v: m(q, k, v, attn_mask=CAUSAL, is_causal=True)),
                                 [seq(L)] * 3),
    "kdim_vdim": (MHA(kdim=5, vdim=7), [seq(L), seq(S, e=5), seq(S, e=7)]),
    "no_bias": (MHA(bias=False), [seq(L), seq(S), seq(S)]),
    "bias_kv": (MHA(add_bias_kv=True), [seq(L), seq(S), seq(S)]),
    "zero_attn_with_mask": (MHA(add_zero_attn=True, call=lambda m, q, k, v: m(q, k, v, key_padding_mask=KPM)),
                            [seq(L), seq(S), seq(S)]),
    "unbatched": (MHA(), [torch.randn(L, 12), torch.randn(S, 12), torch.randn(S, 12)]),
    "traced_key_padding_mask": (MHA(call=lambda m, q, k, v: m(q, k, v, key_padding_mask=k.sum(-1).t() > 1.0)),
                                [seq(L), seq(S), seq(S)]),
    "float16": (MHA(), [seq(L).half(), seq(S).half(), seq(S).half()]),
}


@pytest.mark.parametrize("name", list(MHA_CASES))
def test_multihead_attention_matches_pytorch(name):
    module, inputs = MHA_CASES[name]
    if name == "float16":
        module = module.half()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    assert_converts(module.eval(), inputs, rtol=2e-3 if name == "float16" else 1e-5)


def test_multihead_attention_refuses_dropout_in_training():
    m = MHA(dropout=0.5)
    m.train()
    with pytest.raises(Exception, match=r"dropout"):
        from torch2trt import torch2trt
        torch2trt(m, [seq(L)] * 3)


def test_multihead_attention_unbatched_with_key_padding_mask():
    m = MHA(call=lambda m, q, k, v: m(q, k, v, key_padding_mask=torch.tensor([False, True, False, False, True])))
    assert_converts(m.eval(), [torch.randn(L, 12), torch.randn(5, 12), torch.randn(5, 12)])


def test_multihead_attention_in_transformer_encoder_layer():
    layer = nn.TransformerEncoderLayer(12, 3, dim_feedforward=16, batch_first=True).eval()
    assert_converts(lambda x: layer(x, src_key_padding_mask=KPM[:, :L]), [torch.randn(N, L, 12)])


@pytest.mark.parametrize("fn", [
    lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    lambda q, k, v: F.multi_head_attention_forward(
        q, k, v, 8, 2, MHA_W[0], MHA_W[1], None, None, False, 0.0, MHA_W[2], MHA_W[3], training=False)[0],
])
def test_attention_keeps_dynamic_batch_and_sequence(fn):
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule, compare, run_reference

    sample = [torch.randn(2, 5, 8)] * 3
    spec = dict(min_shapes=[(1, 2, 8)] * 3, max_shapes=[(4, 9, 8)] * 3)
    m = torch2trt(FunctionModule(fn).eval(), sample, **spec)
    for shape in [(1, 2, 8), (3, 9, 8)]:
        x = [torch.randn(shape) for _ in range(3)]
        err = compare(run_reference(m, x), fn(*x))
        assert err.same_layout and err.rel <= 1e-5


MHA_W = [torch.randn(24, 8), torch.randn(24), torch.randn(8, 8), torch.randn(8)]


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_Q, NN_K, NN_VV = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)
NN_MASK = torch.rand(5, 7) > 0.3
NN_MASK[:, 0] = True
NN_FMASK = torch.randn(5, 7)
NN_MHA, NN_MHA_BF = nn.MultiheadAttention(16, 4).eval(), nn.MultiheadAttention(16, 4, batch_first=True).eval()
NN_KPM = torch.zeros(2, 5, dtype=torch.bool)
NN_KPM[0, -1] = True
NN_ENC = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2).eval()

NN_ATTENTION = {
    "sdpa": (lambda q, k, v: dict(plain=F.scaled_dot_product_attention(q, k, v),
                                  bool_mask=F.scaled_dot_product_attention(q, k, v, attn_mask=NN_MASK),
                                  float_mask_scale=F.scaled_dot_product_attention(q, k, v, attn_mask=NN_FMASK,
                                                                                  scale=0.3),
                                  causal=F.scaled_dot_product_attention(q, q, q, is_causal=True)),
             [NN_Q, NN_K, NN_VV]),
    "mha": (lambda x: NN_MHA(x, x, x), [torch.randn(5, 2, 16)]),
    "mha_no_weights": (lambda x: NN_MHA(x, x, x, need_weights=False)[0], [torch.randn(5, 2, 16)]),
    "mha_batch_first_padding_mask": (lambda x: NN_MHA_BF(x, x, x, key_padding_mask=NN_KPM,
                                                         average_attn_weights=False), [torch.randn(2, 5, 16)]),
    "transformer_encoder": (NN_ENC, [torch.randn(2, 5, 16)]),
}


@pytest.mark.parametrize("name", list(NN_ATTENTION))
def test_attention_spellings_match_pytorch(name):
    fn, inputs = NN_ATTENTION[name]
    assert_converts(fn, inputs)


def test_sdpa_dropout_is_refused():
    assert_refuses(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.5), [NN_Q, NN_K, NN_VV],
                   r"dropout_p=0.5")


def test_sdpa_rows_hidden_by_the_mask_give_zero_as_pytorch():
    """scaled_dot_product_attention's safe softmax: a query that may see no key gets 0 (a plain softmax: NaN)."""
    mask = torch.rand(N, 1, L, S) > 0.5
    mask[0, 0, 1] = False
    mask[1, 0, 3:] = False

    def fn(q, k, v, m):
        return (F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                F.scaled_dot_product_attention(q, k, v, attn_mask=torch.zeros(m.shape).masked_fill(~m, -torch.inf)))

    ref = fn(*qkv(), mask)
    assert (ref[0][0, :, 1] == 0).all() and not ref[0].isnan().any()
    assert_converts(fn, qkv() + [mask])


@pytest.mark.parametrize("lengths", [(5, 5), (5, 7)])
def test_sdpa_causal_with_dynamic_sequence_lengths(lengths):
    from torch2trt.testing import assert_converts_dynamic

    lq, s = lengths
    fn = sdpa(is_causal=True)
    assert_converts_dynamic(fn, qkv(lq=lq, s=s), [(1, H, 1, E), (1, H, 1, E), (1, H, 1, EV)],
                            [(3, H, 9, E), (3, H, 11, E), (3, H, 11, EV)],
                            [[(2, H, 4, E), (2, H, 9, E), (2, H, 9, EV)], [(1, H, 8, E), (1, H, 3, E), (1, H, 3, EV)]])


# ---- TensorRT's attention layer (IAttention) where the call fits it --------------------------------------------
def _qkv_same(n=N, h=H, lq=L, s=S, hk=None):
    return [torch.randn(n, h, lq, E), torch.randn(n, hk or h, s, E), torch.randn(n, hk or h, s, E)]


FUSED_CASES = {
    "plain": (sdpa(), _qkv_same()),
    "bool_mask": (sdpa(attn_mask=BOOL_MASK), _qkv_same()),
    "float_mask_broadcast": (sdpa(attn_mask=FLOAT_MASK), _qkv_same()),
    "causal_square": (sdpa(is_causal=True), _qkv_same(s=L)),
    "causal_l_less_than_s": (sdpa(is_causal=True), _qkv_same()),
    "scale": (sdpa(scale=0.3), _qkv_same()),
    "grouped_heads": (sdpa(enable_gqa=True), [torch.randn(N, 6, L, E), torch.randn(N, 2, S, E),
                                              torch.randn(N, 2, S, E)]),
    "traced_bool_mask_with_hidden_rows": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=(q.sum(-1, keepdim=True) > 0) &
                                                       (k.sum(-1, keepdim=True) > 0).transpose(-1, -2)),
        _qkv_same()),
}


def _layer_types(trt_model):
    net = trt_model.network
    return [net.get_layer(i).type.name for i in range(net.num_layers)]


@pytest.mark.skipif(not __import__("torch2trt").backend.has_attention_layer(), reason="no IAttention in this backend")
@pytest.mark.parametrize("name", list(FUSED_CASES))
def test_sdpa_becomes_one_attention_layer_and_matches_pytorch(name):
    fn, inputs = FUSED_CASES[name]
    report = assert_converts(fn, inputs)
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule

    types = _layer_types(torch2trt(FunctionModule(fn).eval(), inputs, verify=False))
    assert types.count("ATTENTION_INPUT") == 1 and "SOFTMAX" not in types and "MATRIX_MULTIPLY" not in types
    assert report.outputs


@pytest.mark.parametrize("fn, inputs, why", [
    (sdpa(), qkv(), "value head size differs"),
    (sdpa(), [torch.randn(N, H, L, E), torch.randn(1, H, S, E), torch.randn(1, H, S, E)], "broadcast batch"),
    (sdpa(), [torch.randn(N, L, E), torch.randn(N, S, E), torch.randn(N, S, E)], "3-d"),
    (sdpa(), [t.half() for t in _qkv_same()], "float16: the softmax stays in float32"),
])
def test_sdpa_outside_the_attention_layer_uses_matrix_products(fn, inputs, why):
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule

    assert_converts(fn, inputs, rtol=2e-3 if inputs[0].dtype == torch.float16 else 1e-5)
    types = _layer_types(torch2trt(FunctionModule(fn).eval(), inputs, verify=False))
    assert "ATTENTION_INPUT" not in types and "SOFTMAX" in types, why


def test_two_attentions_on_one_query_build():
    """TensorRT-RTX's builder crashes on two IAttentions sharing a query: the second one uses matrix products."""
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k * 2, v * 2)

    inputs = _qkv_same()
    assert_converts(fn, inputs)
    types = _layer_types(torch2trt(FunctionModule(fn).eval(), inputs, verify=False))
    assert types.count("ATTENTION_INPUT") == (1 if __import__("torch2trt").backend.has_attention_layer() else 0)
