"""Normalization converters vs PyTorch: batch norm 1d/2d/3d (running and batch statistics), instance norm (with and
without running stats / affine), group norm, layer norm, rms norm, local response norm, F.normalize, and refusals."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_converts_dynamic_batch, assert_refuses, randomize_norm_statistics

torch.manual_seed(0)
X = torch.randn(2, 6, 5, 7) * 3 + 1  # far from mean 0 / variance 1, so the statistics matter


def _affine(m: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
    return m.eval()


def _stats(m: nn.Module) -> nn.Module:
    randomize_norm_statistics(m)
    with torch.no_grad():
        m.running_mean.normal_()
        m.running_var.uniform_(0.5, 2.0)
    return _affine(m)


BN1, BN2, BN3 = _stats(nn.BatchNorm1d(6)), _stats(nn.BatchNorm2d(6, eps=1e-3)), _stats(nn.BatchNorm3d(6))
BN_NO_AFFINE = _stats(nn.BatchNorm2d(6, affine=False))
BN_BATCH_STATS = _affine(nn.BatchNorm2d(6, track_running_stats=False))
BN1_BATCH_STATS = nn.BatchNorm1d(6, track_running_stats=False, affine=False).eval()
IN = _affine(nn.InstanceNorm2d(6, affine=True))
IN_RUNNING = _stats(nn.InstanceNorm2d(6, affine=True, track_running_stats=True))
IN1 = nn.InstanceNorm1d(6)
IN3 = _affine(nn.InstanceNorm3d(6, affine=True))
GN, GN1, GN_PER_CHANNEL = _affine(nn.GroupNorm(3, 6)), _affine(nn.GroupNorm(1, 6)), _affine(nn.GroupNorm(6, 6))
GN_NO_AFFINE = nn.GroupNorm(2, 6, affine=False)
LN, LN2 = _affine(nn.LayerNorm(7)), nn.LayerNorm([5, 7], elementwise_affine=False)
LN_NO_BIAS = _affine(nn.LayerNorm(7, bias=False))
RMS = _affine(nn.RMSNorm([5, 7]))
CONV, CONV3 = _affine(nn.Conv2d(6, 6, 3, padding=1)), _affine(nn.Conv3d(6, 6, 1))

_assert_dynamic_batch = assert_converts_dynamic_batch


NORM = {
    "batch_norm_1d_2d_3d": lambda a: (BN1(a[:, :, 0, 0]), BN1(a[:, :, 0]), BN2(a), BN3(a[:, :, None]), BN_NO_AFFINE(a)),
    "batch_norm_functional": lambda a: (
        F.batch_norm(a, BN2.running_mean, BN2.running_var, BN2.weight, eps=1e-2),
        torch.batch_norm(a, BN2.weight, BN2.bias, BN2.running_mean, BN2.running_var, False, 0.1, 1e-3, False)),
    "batch_norm_batch_statistics": lambda a: (BN_BATCH_STATS(a), BN1_BATCH_STATS(a[:, :, 0, 0]),
                                              BN1_BATCH_STATS(a[:, :, 0])),
    "batch_norm_training_uses_batch_statistics": lambda a: (  # running statistics updated, not read
        F.batch_norm(a, BN2.running_mean.clone(), BN2.running_var.clone(), BN2.weight, BN2.bias, training=True),
        F.batch_norm(a[:, :, 0], BN1.running_mean.clone(), BN1.running_var.clone(), training=True, eps=0.1)),
    "batch_norm_folded_into_conv": lambda a: BN2(CONV(a)),
    "batch_norm_after_conv_whose_output_is_also_used": lambda a: (BN2(c := CONV(a)), c * 2, BN3(CONV3(a[:, :, None]))),
    "instance_norm": lambda a: (IN(a), IN1(a[:, :, 0]), IN3(a[:, :, None].expand(2, 6, 3, 5, 7)), F.instance_norm(a),
                                torch.instance_norm(a, None, None, None, None, True, 0.1, 1e-5, False)),
    "instance_norm_running_stats": lambda a: IN_RUNNING(a),
    "group_norm": lambda a: (GN(a), GN1(a), GN_PER_CHANNEL(a), GN_NO_AFFINE(a), F.group_norm(a[:, :, 0], 3, eps=1e-2),
                             F.group_norm(a[:, :, 0, 0], 2), torch.group_norm(a, 2)),
    "layer_norm": lambda a: (LN(a), LN2(a), LN_NO_BIAS(a), F.layer_norm(a, (7,), bias=LN.bias),
                             torch.layer_norm(a.transpose(1, 3), (6,)), F.layer_norm(a[0, 0, 0], [7], eps=0.1)),
    "rms_norm": lambda a: (RMS(a), F.rms_norm(a, (7,)), F.rms_norm(a, [6, 5, 7], eps=1e-3), torch.rms_norm(a, (7,))),
    "normalize": lambda a: (F.normalize(a), F.normalize(a, p=1, dim=-1), F.normalize(a, p=3, dim=(1, 2)),
                            F.normalize(a, p=float("inf"), dim=0), F.normalize(a[:, :, 0, 0], eps=100.0),
                            F.normalize(a, p=0.5, dim=-2)),
    "local_response_norm": lambda a: (F.local_response_norm(a, 3), nn.LocalResponseNorm(5, 0.01, 0.6, 1.5)(a),
                                      F.local_response_norm(a[:, :, 0], 5)),
    "local_response_norm_composed": lambda a: (F.local_response_norm(a, 4, alpha=0.1, beta=0.5, k=2.0),
                                               F.local_response_norm(a[:, :, None], 17)),
}


@pytest.mark.parametrize("name", list(NORM))
def test_normalization_matches_pytorch(name):
    assert_converts(NORM[name], [X])


def test_normalization_noncontiguous_input():
    xt = X.transpose(2, 3)
    assert_converts(lambda a: (BN2(a), IN(a), GN(a), F.layer_norm(a, (5,)), F.normalize(a, dim=-1)), [xt])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_normalization_reduced_precision(dtype):
    bn, ln = _stats(nn.BatchNorm2d(6)).to(dtype), _affine(nn.LayerNorm(7)).to(dtype)
    gn = _affine(nn.GroupNorm(3, 6)).to(dtype)
    x = X.to(dtype)
    assert_converts(lambda a: (bn(a), ln(a), gn(a), F.instance_norm(a), F.normalize(a), F.rms_norm(a, (7,))), [x],
                    rtol=1e-2 if dtype == torch.bfloat16 else 2e-3)


def test_normalization_keeps_a_dynamic_batch():
    _assert_dynamic_batch(lambda a: (BN2(a), IN(a), GN(a), LN(a), RMS(a), F.normalize(a)), X, torch.randn(3, 6, 5, 7))


def test_batch_norm_training_keeps_a_dynamic_batch():
    _assert_dynamic_batch(lambda a: F.batch_norm(a, BN2.running_mean.clone(), BN2.running_var.clone(), BN2.weight,
                                                 BN2.bias, training=True), X, torch.randn(3, 6, 5, 7))


@pytest.mark.parametrize("fn, match", [
    (lambda a: F.layer_norm(a, (7,), a[0, 0, 0]), r"layer_norm: weight computed inside the model"),
    (lambda a: F.batch_norm(a, a[0, :, 0, 0], BN2.running_var), r"batch_norm: running_mean computed inside the model"),
    (lambda a: F.normalize(a, p=-1.0), r"normalize\(p=-1.0\): negative p is not supported"),
])
def test_normalization_refusals_say_why(fn, match):
    assert_refuses(fn, [X], match)


def test_batch_norm_1d_on_a_2d_input_keeps_a_dynamic_batch():
    """(N, C) is viewed as (N, C, 1) for the SCALE layer: the reshape copies N (it was frozen at the sample's)."""
    from torch2trt.testing import assert_converts_dynamic_batch, randomize_norm_statistics

    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)).eval()
    randomize_norm_statistics(model)
    assert_converts_dynamic_batch(model, torch.randn(3, 4), torch.randn(1, 4))


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_X = torch.randn(2, 3, 13, 11)
NN_LN, NN_LN2 = nn.LayerNorm(11), nn.LayerNorm([13, 11], elementwise_affine=False)
NN_GN, NN_INORM = nn.GroupNorm(3, 6), nn.InstanceNorm2d(3, affine=True)
NN_BN1, NN_BN3 = nn.BatchNorm1d(3), nn.BatchNorm3d(3)
for _m in (NN_LN, NN_GN, NN_INORM):
    with torch.no_grad():
        _m.weight.normal_()
        _m.bias.normal_()
for _m in (NN_BN1, NN_BN3):
    randomize_norm_statistics(_m)
    _m.eval()

NN_NORM = {
    "layer_norm": lambda a: dict(affine_last_axis=NN_LN(a), two_axes_no_affine=NN_LN2(a)),
    "group_norm": lambda a: NN_GN(torch.cat([a, a * 2], 1)),
    "instance_norm": lambda a: dict(module_affine=NN_INORM(a), functional=F.instance_norm(a)),
    "rms_norm": lambda a: dict(last_axis=F.rms_norm(a, (11,)),
                               two_axes_weight_eps=F.rms_norm(a, (13, 11), torch.ones(13, 11) * 2, eps=1e-3)),
    "normalize": lambda a: dict(default=F.normalize(a), p1_last_dim=F.normalize(a, p=1, dim=-1)),
    "batch_norm_1d_3d": lambda a: dict(bn1d_on_2d=NN_BN1(a[:, :, 0, 0]), bn1d_on_3d=NN_BN1(a[:, :, 0]),
                                       bn3d=NN_BN3(a[:, :, None])),
}


@pytest.mark.parametrize("name", list(NN_NORM))
def test_normalization_spellings_match_pytorch(name):
    assert_converts(NN_NORM[name], [NN_X * 3 + 1])
