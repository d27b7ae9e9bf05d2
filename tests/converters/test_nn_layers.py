"""Convolution, pooling, normalization, linear algebra, attention and resize converters vs PyTorch."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_refuses, randomize_norm_statistics

torch.manual_seed(0)
X = torch.randn(2, 3, 13, 11)
CONV1, CONV3 = nn.Conv1d(3, 4, 3, padding=1), nn.Conv3d(3, 4, 3, stride=(1, 2, 2), padding=1)
CONV_G = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
CONV_SAME = nn.Conv2d(3, 4, (4, 3), padding="same")
CONV_VALID = nn.Conv2d(3, 4, 3, padding="valid", bias=False)

CONV = {
    "conv2d_variants": lambda a: (CONV_G(torch.cat([a, a[:, :1]], 1)), CONV_SAME(a), CONV_VALID(a)),
    "conv1d": lambda a: CONV1(a[:, :, 0]),
    "conv3d": lambda a: CONV3(a[:, :, None].expand(2, 3, 4, 13, 11)),
}


@pytest.mark.parametrize("name", list(CONV))
def test_convolution_matches_pytorch(name):
    assert_converts(CONV[name], [X])


POOL = {
    "max_ceil": lambda a: (F.max_pool2d(a, 3, 2, ceil_mode=True), F.max_pool2d(a, 3, 2, 1, ceil_mode=True),
                           F.max_pool2d(a, 2)),
    "avg": lambda a: (F.avg_pool2d(a, 3, 2), F.avg_pool2d(a, 3, 2, 1),
                      F.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
                      F.avg_pool2d(a, 3, 2, 1, ceil_mode=True), F.avg_pool2d(a, 2, ceil_mode=True)),
    "avg_divisor_override": lambda a: F.avg_pool2d(a, 2, divisor_override=3),
    "adaptive_any_size": lambda a: (F.adaptive_avg_pool2d(a, (7, 7)), F.adaptive_avg_pool2d(a, (5, 3)),
                                    F.adaptive_avg_pool2d(a, 1), F.adaptive_avg_pool2d(a[:, :, :2, :2], (7, 6))),
    "pool1d": lambda a: (F.max_pool1d(a[:, 0], 3, 2, ceil_mode=True), F.avg_pool1d(a[:, 0], 3, 2),
                         F.adaptive_avg_pool1d(a[:, 0], 4)),
    "pool3d": lambda a: (F.max_pool3d(a[:, None], 2), F.avg_pool3d(a[:, None], (1, 2, 2))),
}


@pytest.mark.parametrize("name", list(POOL))
def test_pooling_matches_pytorch(name):
    assert_converts(POOL[name], [X])


LN, LN2 = nn.LayerNorm(11), nn.LayerNorm([13, 11], elementwise_affine=False)
GN, INORM = nn.GroupNorm(3, 6), nn.InstanceNorm2d(3, affine=True)
BN1, BN3 = nn.BatchNorm1d(3), nn.BatchNorm3d(3)
for _m in (LN, GN, INORM):
    with torch.no_grad():
        _m.weight.normal_()
        _m.bias.normal_()
for _m in (BN1, BN3):
    randomize_norm_statistics(_m)
    _m.eval()

NORM = {
    "layer_norm": lambda a: (LN(a), LN2(a)),
    "group_norm": lambda a: GN(torch.cat([a, a * 2], 1)),
    "instance_norm": lambda a: (INORM(a), F.instance_norm(a)),
    "rms_norm": lambda a: (F.rms_norm(a, (11,)), F.rms_norm(a, (13, 11), torch.ones(13, 11) * 2, eps=1e-3)),
    "normalize": lambda a: (F.normalize(a), F.normalize(a, p=1, dim=-1)),
    "batch_norm_1d_3d": lambda a: (BN1(a[:, :, 0, 0]), BN1(a[:, :, 0]), BN3(a[:, :, None])),
}


@pytest.mark.parametrize("name", list(NORM))
def test_normalization_matches_pytorch(name):
    assert_converts(NORM[name], [X * 3 + 1])


Y = torch.randn(2, 3, 4)
W, V = torch.randn(4, 5), torch.randn(4)
BILINEAR = nn.Bilinear(4, 4, 3)
LINALG = {
    "matmul": lambda a: (a @ W, torch.matmul(a, V), torch.matmul(V, a.transpose(1, 2)), torch.bmm(a, a.transpose(1, 2)),
                         torch.mm(a[0], W), a[0] @ a[1].T),
    "matmul_broadcast": lambda a: (torch.matmul(a[:1], a.transpose(1, 2)), torch.matmul(a[0], a.transpose(1, 2))),
    "addmm": lambda a: (torch.addmm(a[0, 0, :3], a[0], a[1].T, beta=0.5, alpha=2),
                        torch.baddbmm(a[:, :, :3], a, a.transpose(1, 2), beta=0.3)),
    "einsum": lambda a: (torch.einsum("bij,jk->bik", a, W), torch.einsum("bij,bkj->bik", a, a)),
    "bilinear": lambda a: BILINEAR(a[0], a[1]),
    "linear_1d_nd": lambda a: (F.linear(a[0, 0], W.T), F.linear(a, W.T, torch.ones(5))),
}


@pytest.mark.parametrize("name", list(LINALG))
def test_linear_algebra_matches_pytorch(name):
    assert_converts(LINALG[name], [Y])


Q, K, VV = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)
MASK = torch.rand(5, 7) > 0.3
MASK[:, 0] = True
FMASK = torch.randn(5, 7)
MHA, MHA_BF = nn.MultiheadAttention(16, 4).eval(), nn.MultiheadAttention(16, 4, batch_first=True).eval()
KPM = torch.zeros(2, 5, dtype=torch.bool)
KPM[0, -1] = True
ENC = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2).eval()

ATTENTION = {
    "sdpa": (lambda q, k, v: (F.scaled_dot_product_attention(q, k, v),
                              F.scaled_dot_product_attention(q, k, v, attn_mask=MASK),
                              F.scaled_dot_product_attention(q, k, v, attn_mask=FMASK, scale=0.3),
                              F.scaled_dot_product_attention(q, q, q, is_causal=True)), [Q, K, VV]),
    "mha": (lambda x: MHA(x, x, x), [torch.randn(5, 2, 16)]),
    "mha_no_weights": (lambda x: MHA(x, x, x, need_weights=False)[0], [torch.randn(5, 2, 16)]),
    "mha_batch_first_padding_mask": (lambda x: MHA_BF(x, x, x, key_padding_mask=KPM, average_attn_weights=False),
                                     [torch.randn(2, 5, 16)]),
    "transformer_encoder": (ENC, [torch.randn(2, 5, 16)]),
}


@pytest.mark.parametrize("name", list(ATTENTION))
def test_attention_matches_pytorch(name):
    fn, inputs = ATTENTION[name]
    assert_converts(fn, inputs)


R = torch.randn(2, 3, 5, 7)
RESIZE = {
    "nearest": lambda a: (F.interpolate(a, scale_factor=2), F.interpolate(a, size=(8, 9)),
                          F.interpolate(a, size=(3, 4)),
                          F.interpolate(a, size=(11, 13), mode="nearest-exact")),
    "bilinear": lambda a: (F.interpolate(a, size=(8, 9), mode="bilinear"),
                           F.interpolate(a, size=(8, 9), mode="bilinear", align_corners=True),
                           F.interpolate(a, scale_factor=2, mode="bilinear"),
                           F.interpolate(a, size=(3, 4), mode="bilinear")),
    "bicubic": lambda a: (F.interpolate(a, size=(8, 9), mode="bicubic"),
                          F.interpolate(a, size=(8, 9), mode="bicubic", align_corners=True)),
    "linear_trilinear": lambda a: (F.interpolate(a[:, :, 0], size=11, mode="linear"),
                                   F.interpolate(a[None], size=(4, 6, 8), mode="trilinear")),
    "upsample_module": lambda a: nn.Upsample(scale_factor=2, mode="bilinear")(a) + 0,
}


@pytest.mark.parametrize("name", list(RESIZE))
def test_resize_matches_pytorch(name):
    assert_converts(RESIZE[name], [R])


@pytest.mark.parametrize("fn, inputs, match", [
    (lambda a: F.max_pool2d(a, 2, return_indices=True)[0], [X], r"return_indices=True"),
    (lambda a: F.interpolate(a, scale_factor=2, mode="bilinear", antialias=True), [R], r"antialias=True"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.5), [Q, K, VV], r"dropout_p=0.5"),
    (lambda a: F.dropout(a, 0.2), [X], r"training=True"),
    (lambda a: a.double(), [X], r"float64"),
])
def test_refusals_say_why(fn, inputs, match):
    assert_refuses(fn, inputs, match)
