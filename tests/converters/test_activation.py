"""Activation and softmax-family converters vs PyTorch."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_refuses

X = torch.randn(2, 4, 5) * 4
PRELU_C, PRELU_1 = nn.PReLU(4), nn.PReLU()
with torch.no_grad():
    PRELU_C.weight.uniform_(-1, 1)

CASES = {
    "table": lambda a: (F.relu(a), torch.sigmoid(a), a.tanh(), F.softsign(a), F.leaky_relu(a, 0.2), F.elu(a, 0.7),
                        F.selu(a), F.hardtanh(a, -2, 3), F.relu6(a), F.hardsigmoid(a)),
    "gelu": lambda a: (F.gelu(a), F.gelu(a, approximate="tanh")),
    "softplus_threshold": lambda a: (F.softplus(a), F.softplus(a * 10, beta=2, threshold=5), F.softplus(a * 100)),
    "compositions": lambda a: (F.silu(a), F.hardswish(a), F.mish(a), F.logsigmoid(a), F.logsigmoid(a * 100),
                               F.celu(a, 0.5), F.threshold(a, 0.5, -1.0)),
    "prelu": lambda a: PRELU_C(a) + PRELU_1(a),
    "glu": lambda a: (F.glu(a, 1), F.glu(a[..., :4], -1)),
    "softmax_any_dim": lambda a: (F.softmax(a, -1), F.softmax(a, 1), a.softmax(0), F.log_softmax(a, -1),
                                  F.log_softmax(a * 50, 1), F.softmin(a, 2)),
    "inplace": lambda a: (a.sigmoid() + 0).relu_(),
    "modules": lambda a: nn.Sequential(nn.GELU(), nn.SiLU(), nn.Hardswish(), nn.Softmax(dim=-1),
                                       nn.LogSoftmax(dim=1), nn.ELU(), nn.ReLU6())(a),
    "noncontiguous": lambda a: F.gelu(a.transpose(1, 2)) + F.softmax(a.transpose(0, 2), 0).sum(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_activation_matches_pytorch(name):
    assert_converts(CASES[name], [X])


def test_softmax_of_half_input_is_computed_in_float32():
    report = assert_converts(lambda a: F.softmax(a, -1), [X.half()], rtol=1e-3)
    net = report.model_trt.network
    softmax = [net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type.name == "SOFTMAX"]
    assert len(softmax) == 1 and softmax[0].get_output(0).dtype.name == "FLOAT"


@pytest.mark.parametrize("fn, match", [
    (lambda a: F.relu((a > 0).int()), r"relu on torch.int32"),
])
def test_refusals_say_why(fn, match):
    assert_refuses(fn, [X], match)


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("name", ["table", "gelu", "compositions", "softmax_any_dim"])
def test_activation_in_reduced_precision(name, dtype, rtol):
    assert_converts(CASES[name], [X.to(dtype)], rtol=rtol)
