"""Pooling converters vs PyTorch: max/avg pool 1d-3d (ceil_mode where PyTorch drops a last window that starts in
the right padding and TensorRT's EXPLICIT_ROUND_UP would keep it, count_include_pad, divisor_override, padding,
dilation), adaptive avg/max pool for dividing, non-dividing and upsampling sizes, lp_pool, and refusals."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_converts_dynamic_batch, assert_refuses

torch.manual_seed(0)
X = torch.randn(2, 3, 13, 11)

# n=5, k=2, s=2, p=1: ceil((5 + 2 - 2) / 2) + 1 = 4 windows, but the 4th starts at 6 - 1 = 5 >= n, in the right
# padding: PyTorch has 3, TensorRT's EXPLICIT_ROUND_UP 4
_assert_dynamic_batch = assert_converts_dynamic_batch


MAX = {
    "max_pool2d": lambda a: (F.max_pool2d(a, 2), F.max_pool2d(a, 3, 2, 1), F.max_pool2d(a, (3, 2), (1, 2), (1, 0)),
                             nn.MaxPool2d(3, 2)(a)),
    "max_pool2d_ceil_mode": lambda a: (F.max_pool2d(a, 3, 2, ceil_mode=True), F.max_pool2d(a, 3, 2, 1, ceil_mode=True),
                                       nn.MaxPool2d(3, 2, ceil_mode=True)(a)),
    "max_pool2d_ceil_mode_last_window_in_padding": lambda a: F.max_pool2d(a[:, :, :5, :5], 2, 2, 1, ceil_mode=True),
    "max_pool2d_dilation": lambda a: (F.max_pool2d(a, 3, 2, 1, dilation=2), F.max_pool2d(a, 2, 1, dilation=(1, 3),
                                                                                         ceil_mode=True)),
    "max_pool2d_unbatched_and_torch_spelling": lambda a: (F.max_pool2d(a[0], 2), torch.max_pool2d(a, 3, [], 1)),
    "max_pool1d": lambda a: (F.max_pool1d(a[:, 0], 3, 2, ceil_mode=True), torch.max_pool1d(a[:, 0], 3),
                             F.max_pool1d(a[0, 0], 2), F.max_pool1d(a[:, 0], 2, 1, 1, dilation=3)),
    "max_pool3d": lambda a: (F.max_pool3d(a[:, None], 2), F.max_pool3d(a[:, None], 3, 2, 1, ceil_mode=True),
                             torch.max_pool3d(a[:, None], (1, 2, 2))),
}

AVG = {
    "avg_pool2d": lambda a: (F.avg_pool2d(a, 3, 2), F.avg_pool2d(a, 3, 2, 1),
                             F.avg_pool2d(a, 3, 2, 1, count_include_pad=False), nn.AvgPool2d((2, 3), (1, 2))(a)),
    "avg_pool2d_ceil_mode": lambda a: (F.avg_pool2d(a, 3, 2, 1, ceil_mode=True), F.avg_pool2d(a, 2, ceil_mode=True),
                                       F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    "avg_pool2d_ceil_mode_last_window_in_padding": lambda a: (
        F.avg_pool2d(a[:, :, :5, :5], 2, 2, 1, ceil_mode=True),
        F.avg_pool2d(a[:, :, :5, :7], 2, 2, 1, ceil_mode=True, count_include_pad=False)),
    "avg_pool2d_divisor_override": lambda a: (F.avg_pool2d(a, 2, divisor_override=3),
                                              F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, divisor_override=5),
                                              F.avg_pool2d(a, 3, 2, 1, count_include_pad=False, divisor_override=2)),
    "avg_pool2d_unbatched": lambda a: F.avg_pool2d(a[0], 2),
    "avg_pool1d": lambda a: (F.avg_pool1d(a[:, 0], 3, 2, 1), F.avg_pool1d(a[:, 0, :5], 2, 2, 1, ceil_mode=True),
                             F.avg_pool1d(a[0, 0], 2), F.avg_pool1d(a[:, 0], 3, 1, 1, count_include_pad=False)),
    "avg_pool3d": lambda a: (F.avg_pool3d(a[:, None], (1, 2, 2)), F.avg_pool3d(a[:, None, :5], 2, 2, 1, ceil_mode=True),
                             F.avg_pool3d(a[:, None], 3, 2, 1, divisor_override=7)),
}

LP = {
    "lp_pool2d": lambda a: (F.lp_pool2d(a, 2, 3, 2), F.lp_pool2d(a.abs(), 1.5, 2), nn.LPPool2d(2, (2, 3))(a)),
    "lp_pool2d_ceil_mode": lambda a: F.lp_pool2d(a[:, :, :5, :5], 2, 2, 3, ceil_mode=True),
    "lp_pool_inf": lambda a: (F.lp_pool2d(a, float("inf"), 2), F.lp_pool1d(a[:, 0], float("-inf"), 3, 2, True)),
    "lp_pool1d_3d": lambda a: (F.lp_pool1d(a[:, 0], 2, 3, ceil_mode=True), F.lp_pool3d(a[:, None], 1, 2)),
}

ADAPTIVE = {
    "adaptive_avg_pool2d_global": lambda a: (F.adaptive_avg_pool2d(a, 1), nn.AdaptiveAvgPool2d((1, 1))(a)),
    "adaptive_avg_pool2d_dividing": lambda a: F.adaptive_avg_pool2d(a[:, :, :12, :10], (4, 5)),
    "adaptive_avg_pool2d_any_size": lambda a: (F.adaptive_avg_pool2d(a, (7, 7)), F.adaptive_avg_pool2d(a, (5, 3)),
                                               F.adaptive_avg_pool2d(a, (None, 4)), F.adaptive_avg_pool2d(a[0], 6)),
    "adaptive_avg_pool2d_upsampling": lambda a: (F.adaptive_avg_pool2d(a[:, :, :1, :1], 7),
                                                 F.adaptive_avg_pool2d(a[:, :, :2, :2], (7, 6)),
                                                 F.adaptive_avg_pool2d(a[:, :, :3, :5], (6, 6))),
    "adaptive_avg_pool1d_3d": lambda a: (F.adaptive_avg_pool1d(a[:, 0], 4), F.adaptive_avg_pool1d(a[:, 0], 1),
                                         F.adaptive_avg_pool3d(a[:, None], (2, 3, 4)),
                                         F.adaptive_avg_pool3d(a[:, None], 1)),
    "adaptive_max_pool2d": lambda a: (F.adaptive_max_pool2d(a, (7, 7)), F.adaptive_max_pool2d(a, (5, 3)),
                                      F.adaptive_max_pool2d(a, 1), F.adaptive_max_pool2d(a[:, :, :12], (4, 11)),
                                      F.adaptive_max_pool2d(a, (None, 3)), F.adaptive_max_pool2d(a[0], 4)),
    "adaptive_max_pool2d_upsampling": lambda a: (F.adaptive_max_pool2d(a[:, :, :2, :2], (7, 6)),
                                                 F.adaptive_max_pool2d(a[:, :, :1, :1], 7)),
    "adaptive_max_pool1d_3d": lambda a: (F.adaptive_max_pool1d(a[:, 0], 4), F.adaptive_max_pool1d(a[:, 0], 1),
                                         F.adaptive_max_pool3d(a[:, None], (2, 3, 4)),
                                         nn.AdaptiveMaxPool3d(1)(a[:, None])),
}

POOL = {**MAX, **AVG, **LP, **ADAPTIVE}


@pytest.mark.parametrize("name", list(POOL))
def test_pooling_matches_pytorch(name):
    assert_converts(POOL[name], [X])


def test_pytorch_drops_the_ceil_mode_window_that_starts_in_the_padding():
    """The case the ceil_mode tests rely on really differs between PyTorch and TensorRT's round-up formula."""
    n, k, s, p = 5, 2, 2, 1
    trt_round_up = -(-(n + 2 * p - k) // s) + 1
    assert F.avg_pool1d(torch.zeros(1, 1, n), k, s, p, ceil_mode=True).shape[-1] == trt_round_up - 1


def test_pooling_noncontiguous_input():
    assert_converts(lambda a: (F.max_pool2d(a, 3, 2, ceil_mode=True), F.avg_pool2d(a, 2, ceil_mode=True),
                               F.adaptive_avg_pool2d(a, (4, 6)), F.adaptive_max_pool2d(a, 5)), [X.transpose(2, 3)])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pooling_reduced_precision(dtype):
    assert_converts(lambda a: (F.max_pool2d(a, 3, 2, 1, ceil_mode=True), F.avg_pool2d(a, 3, 2, 1, ceil_mode=True),
                               F.adaptive_avg_pool2d(a, (5, 4)), F.adaptive_avg_pool2d(a, 1),
                               F.adaptive_max_pool2d(a, (5, 4)), F.lp_pool2d(a, 2, 2)),
                    [X.to(dtype)], rtol=1e-2 if dtype == torch.bfloat16 else 2e-3)


def test_pooling_keeps_a_dynamic_batch():
    _assert_dynamic_batch(lambda a: (F.max_pool2d(a, 3, 2, 1), F.avg_pool2d(a, 2), F.max_pool1d(a[:, 0], 2),
                                     F.avg_pool1d(a[:, 0], 3), F.adaptive_avg_pool2d(a, 1), F.adaptive_max_pool2d(a, 1),
                                     F.adaptive_avg_pool2d(a, (4, 5)), F.adaptive_max_pool2d(a, (5, 3)),
                                     F.max_pool2d(a, 3, 2, ceil_mode=True), F.avg_pool2d(a[:, :, :5], 2, 2, 1, True),
                                     F.avg_pool2d(a, 3, 2, 1, True, False), F.avg_pool2d(a, 2, divisor_override=3),
                                     F.lp_pool2d(a[:, :, :5, :5], 2, 2, 3, ceil_mode=True)), X,
                          torch.randn(3, 3, 13, 11))


@pytest.mark.parametrize("fn, match", [
    (lambda a: F.max_pool2d(a, 2, return_indices=True)[0], r"max_pool2d_with_indices\(return_indices=True\)"),
    (lambda a: F.max_pool1d(a[:, 0], 2, return_indices=True)[0], r"return_indices=True\): TensorRT pooling gives no"),
    (lambda a: F.adaptive_max_pool2d(a, 3, return_indices=True)[0], r"indices of the maxima are not supported"),
    (lambda a: torch.adaptive_max_pool1d(a[:, 0], 3)[0], r"indices of the maxima are not supported"),
])
def test_pooling_refusals_say_why(fn, match):
    assert_refuses(fn, [X], match)


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_X = torch.randn(2, 3, 13, 11)
NN_POOL = {
    "max_ceil": lambda a: dict(ceil_mode=F.max_pool2d(a, 3, 2, ceil_mode=True),
                               ceil_mode_padded=F.max_pool2d(a, 3, 2, 1, ceil_mode=True),
                               kernel_only=F.max_pool2d(a, 2)),
    "avg": lambda a: dict(plain=F.avg_pool2d(a, 3, 2), padded=F.avg_pool2d(a, 3, 2, 1),
                          padded_exclude_pad=F.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
                          padded_ceil_mode=F.avg_pool2d(a, 3, 2, 1, ceil_mode=True),
                          ceil_mode=F.avg_pool2d(a, 2, ceil_mode=True)),
    "avg_divisor_override": lambda a: F.avg_pool2d(a, 2, divisor_override=3),
    "adaptive_any_size": lambda a: dict(to_7x7=F.adaptive_avg_pool2d(a, (7, 7)),
                                        to_5x3=F.adaptive_avg_pool2d(a, (5, 3)),
                                        to_1=F.adaptive_avg_pool2d(a, 1),
                                        up_2x2_to_7x6=F.adaptive_avg_pool2d(a[:, :, :2, :2], (7, 6))),
    "pool1d": lambda a: dict(max_ceil_mode=F.max_pool1d(a[:, 0], 3, 2, ceil_mode=True),
                             avg=F.avg_pool1d(a[:, 0], 3, 2), adaptive_avg=F.adaptive_avg_pool1d(a[:, 0], 4)),
    "pool3d": lambda a: dict(max=F.max_pool3d(a[:, None], 2), avg=F.avg_pool3d(a[:, None], (1, 2, 2))),
}


@pytest.mark.parametrize("name", list(NN_POOL))
def test_pooling_spellings_match_pytorch(name):
    assert_converts(NN_POOL[name], [NN_X])


def test_max_pool_return_indices_is_refused():
    assert_refuses(lambda a: F.max_pool2d(a, 2, return_indices=True)[0], [NN_X], r"return_indices=True")
