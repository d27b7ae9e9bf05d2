"""Convolution and transposed convolution converters vs PyTorch: every padding form, stride, dilation, groups,
output_padding, 1d/2d/3d, unbatched inputs, float16, and the refusals."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_converts_dynamic_batch, assert_refuses
from torch2trt.tracing import registry

torch.manual_seed(0)
X = torch.randn(2, 4, 9, 8)


def _randomized(m: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
    return m.eval()


C1 = _randomized(nn.Conv1d(4, 3, 3, stride=2, padding=2))
C1_SAME = _randomized(nn.Conv1d(4, 3, 4, padding="same", dilation=2))
C2_GROUPS = _randomized(nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2))
C2_DEPTHWISE = _randomized(nn.Conv2d(4, 4, (3, 1), stride=(1, 2), padding=(1, 0), groups=4, bias=False))
C2_SAME = _randomized(nn.Conv2d(4, 5, (4, 3), padding="same", dilation=(1, 2)))
C2_VALID = _randomized(nn.Conv2d(4, 5, 3, padding="valid"))
C3 = _randomized(nn.Conv3d(4, 2, 3, stride=(1, 2, 2), padding=(0, 1, 1)))
C3_SAME = _randomized(nn.Conv3d(4, 2, (2, 3, 2), padding="same"))
_assert_dynamic_batch = assert_converts_dynamic_batch


C2_REFLECT = _randomized(nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect"))
C2_CIRCULAR = _randomized(nn.Conv2d(4, 3, 3, padding=(2, 1), padding_mode="circular"))

T1 = _randomized(nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1))
T2_GROUPS = _randomized(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2))
T2_OUTPAD_GT_PAD = _randomized(nn.ConvTranspose2d(4, 6, 3, stride=3, output_padding=(2, 1), groups=2))
T2_DILATED = _randomized(nn.ConvTranspose2d(4, 3, (3, 2), stride=(2, 1), padding=(2, 0), dilation=(2, 3)))
T2_PLAIN = _randomized(nn.ConvTranspose2d(4, 3, 2, bias=False))
T2_BACK = _randomized(nn.ConvTranspose2d(6, 4, 3, stride=2, padding=2, dilation=2, output_padding=1, groups=2))
T3 = _randomized(nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=(1, 0, 1)))

CONV = {
    "conv1d": lambda a: (C1(a[:, :, 0]), C1_SAME(a[:, :, :, 1]), C1(a[0, :, 0])),
    "conv2d_groups_dilation": lambda a: (C2_GROUPS(a), C2_DEPTHWISE(a.transpose(2, 3))),
    "conv2d_same_valid": lambda a: (C2_SAME(a), C2_VALID(a)),
    "conv2d_unbatched": lambda a: C2_GROUPS(a[1]),
    "conv2d_functional": lambda a: (F.conv2d(a, C2_VALID.weight, None, 2, (0, 1)),
                                    torch.conv2d(a, C2_VALID.weight, C2_VALID.bias, padding="same"),
                                    F.conv2d(a, C2_GROUPS.weight, C2_GROUPS.bias, groups=2, dilation=(1, 2))),
    "conv3d": lambda a: (C3(a[:, :, None].expand(2, 4, 3, 9, 8)), C3_SAME(a[:, :, None].expand(2, 4, 3, 9, 8))),
    "conv_transpose1d": lambda a: (T1(a[:, :, 0]), T1(a[0, :, 0]),
                                   F.conv_transpose1d(a[:, :, 1], T1.weight, padding=1)),
    "conv_transpose2d_groups_output_padding": lambda a: (T2_GROUPS(a), T2_OUTPAD_GT_PAD(a)),
    "conv_transpose2d_dilation": lambda a: (T2_DILATED(a), T2_PLAIN(a.transpose(2, 3)), T2_PLAIN(a[0])),
    "conv_transpose3d": lambda a: T3(a[:, :, None].expand(2, 4, 3, 9, 8)),
    "conv_in_sequence": lambda a: torch.relu(T2_BACK(C2_GROUPS(a))),
}


@pytest.mark.parametrize("name", list(CONV))
def test_convolution_matches_pytorch(name):
    assert_converts(CONV[name], [X])


def test_convolution_noncontiguous_input():
    assert_converts(lambda a: (C2_SAME(a), T2_GROUPS(a)), [X.transpose(2, 3)])


@pytest.mark.parametrize("dtype", [torch.float16])
def test_convolution_reduced_precision(dtype):
    c2, t2 = _randomized(nn.Conv2d(4, 3, 3, padding=1)).to(dtype), _randomized(nn.ConvTranspose2d(4, 3, 3, 2)).to(dtype)
    c1 = _randomized(nn.Conv1d(4, 3, 3)).to(dtype)
    x = X.to(dtype)
    assert_converts(lambda a: (c2(a), t2(a), c1(a[:, :, 0])), [x], rtol=2e-3)


@pytest.mark.skipif(registry.lookup_function(F.pad) is None, reason="F.pad has no converter yet (another family)")
def test_convolution_padding_modes_go_through_pad():
    assert_converts(lambda a: (C2_REFLECT(a), C2_CIRCULAR(a)), [X])


def test_convolution_keeps_a_dynamic_batch():
    _assert_dynamic_batch(lambda a: (C1(a[:, :, 0]), C2_GROUPS(a), T2_GROUPS(a), T1(a[:, :, 0])), X,
                          torch.randn(3, 4, 9, 8))


@pytest.mark.parametrize("fn, match", [
    (lambda a: F.conv2d(a, a[:3, :, :3, :3]), r"conv2d: weight/bias computed inside the model"),
    (lambda a: F.conv2d(a, C2_VALID.weight, a[0, 0, :5, 0]), r"conv2d: weight/bias computed inside the model"),
    (lambda a: F.conv_transpose2d(a, a[0, :, None, :3, :3]), r"conv_transpose2d: weight/bias computed"),
])
def test_convolution_refusals_say_why(fn, match):
    assert_refuses(fn, [X], match)


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_X = torch.randn(2, 3, 13, 11)
NN_CONV1, NN_CONV3 = nn.Conv1d(3, 4, 3, padding=1), nn.Conv3d(3, 4, 3, stride=(1, 2, 2), padding=1)
NN_CONV_G = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
NN_CONV_SAME = nn.Conv2d(3, 4, (4, 3), padding="same")
NN_CONV_VALID = nn.Conv2d(3, 4, 3, padding="valid", bias=False)

NN_CONV = {
    "conv2d_variants": lambda a: dict(groups_dilation=NN_CONV_G(torch.cat([a, a[:, :1]], 1)),
                                      padding_same=NN_CONV_SAME(a), padding_valid=NN_CONV_VALID(a)),
    "conv1d": lambda a: NN_CONV1(a[:, :, 0]),
    "conv3d": lambda a: NN_CONV3(a[:, :, None].expand(2, 3, 4, 13, 11)),
}


@pytest.mark.parametrize("name", list(NN_CONV))
def test_convolution_modules_match_pytorch(name):
    assert_converts(NN_CONV[name], [NN_X])


def test_output_padding_past_the_result_keeps_a_dynamic_batch():
    """output_padding > padding: the extra outputs are a FILL slice whose size is read from the network."""
    _assert_dynamic_batch(T2_OUTPAD_GT_PAD, X, torch.randn(3, 4, 9, 8))
