"""Activation and softmax-family converters vs PyTorch (reference executor, real builder): every spelling,
argument variants, in-place forms, modules, integer and reduced-precision inputs, refusals."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_refuses

X = torch.randn(2, 4, 5) * 4
PRELU_C, PRELU_1 = nn.PReLU(4), nn.PReLU()
with torch.no_grad():
    PRELU_C.weight.uniform_(-1, 1)
MODULES = nn.Sequential(nn.GELU(), nn.SiLU(), nn.Hardswish(), nn.Softmax(dim=-1), nn.LogSoftmax(dim=1), nn.ELU(),
                        nn.ReLU6(), nn.Mish(), nn.Softsign(), nn.Softplus(beta=2), nn.Threshold(0.1, 20),
                        nn.Tanhshrink(), nn.Hardshrink(), nn.Softshrink(0.1), nn.RReLU(), nn.CELU(0.5), nn.SELU(),
                        nn.Softmin(0), nn.Softmax2d(), nn.GLU(1), nn.LeakyReLU(0.3), nn.Hardtanh(-0.1, 0.1)).eval()

CASES = {
    "relu": lambda a: (F.relu(a), torch.relu(a), a.relu(), F.relu(a.clone(), inplace=True), a.clone().relu_(),
                       torch.relu_(a.clone()), F.relu_(a.clone())),
    "clips": lambda a: (F.relu6(a), F.hardtanh(a), F.hardtanh(a, -2, 3), F.hardtanh(a, min_val=0.5, max_val=0.7),
                        F.hardtanh_(a.clone(), -1.5, 1.5), F.relu6(a.clone(), inplace=True)),
    "sigmoid_tanh_softsign": lambda a: (torch.sigmoid(a), a.sigmoid(), F.sigmoid(a), torch.special.expit(a),
                                        a.clone().sigmoid_(), torch.tanh(a), a.tanh(), F.tanh(a), a.clone().tanh_(),
                                        F.softsign(a)),
    "leaky_elu_selu_celu": lambda a: (F.leaky_relu(a), F.leaky_relu(a, 0.2), F.leaky_relu(a, negative_slope=-0.3),
                                      F.leaky_relu_(a.clone(), 0.1), F.elu(a), F.elu(a, 0.7), F.elu(a, alpha=-1.5),
                                      F.elu_(a.clone()), F.selu(a), torch.selu(a), F.celu(a), F.celu(a, 0.5),
                                      torch.celu(a, alpha=2.0), F.celu(a.clone(), 3.0, inplace=True)),
    "rrelu_eval": lambda a: (F.rrelu(a), F.rrelu(a, 0.1, 0.4), torch.rrelu(a, 0.2, 0.3)),
    "gelu": lambda a: (F.gelu(a), F.gelu(a, approximate="tanh"), F.gelu(a, approximate="none")),
    "softplus_threshold": lambda a: (F.softplus(a), F.softplus(a * 10, beta=2, threshold=5), F.softplus(a * 100),
                                     F.softplus(a, 0.5, 1.0), F.softplus(a * 10, beta=-1.0)),
    "compositions": lambda a: (F.silu(a), F.hardswish(a), F.hardsigmoid(a), F.mish(a), F.logsigmoid(a),
                               F.logsigmoid(a * 100), F.silu(a.clone(), inplace=True),
                               F.hardswish(a.clone(), inplace=True)),
    "threshold_shrink": lambda a: (F.threshold(a, 0.5, -1.0), torch.threshold(a, -1, 2), F.threshold_(a.clone(), 0, 9),
                                   F.hardshrink(a), F.hardshrink(a, 2.0), a.hardshrink(1.0), F.softshrink(a),
                                   F.softshrink(a, 1.5), F.tanhshrink(a)),
    "prelu": lambda a: (PRELU_C(a) + PRELU_1(a), F.prelu(a, torch.tensor([0.25])), torch.prelu(a, PRELU_C.weight),
                        a.prelu(PRELU_C.weight)),
    "glu": lambda a: (F.glu(a, 1), F.glu(a[..., :4], -1), F.glu(a, 0)),
    "softmax_any_dim": lambda a: (F.softmax(a, -1), F.softmax(a, 1), a.softmax(0), torch.softmax(a, -2),
                                  torch.special.softmax(a, 2), F.softmax(a, dim=-3)),
    "log_softmax_softmin": lambda a: (F.log_softmax(a, -1), F.log_softmax(a * 50, 1), a.log_softmax(0),
                                      torch.log_softmax(a, 2), torch.special.log_softmax(a, -2), F.softmin(a, 2),
                                      F.softmin(a, -1)),
    "softmax_low_rank": lambda a: (F.softmax(a[0, 0], 0), F.log_softmax(a[0, 0], -1), F.softmin(a[0, 0], 0),
                                   F.softmax(a.sum(), 0), F.log_softmax(a[1, 2, 3], 0)),
    "modules": lambda a: MODULES(a),
    "noncontiguous": lambda a: (F.gelu(a.transpose(1, 2)), F.softmax(a.transpose(0, 2), 0).sum(),
                                F.log_softmax(a[:, ::2], 1), F.relu(a.transpose(0, 1))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_activation_matches_pytorch(name):
    assert_converts(CASES[name], [X])


def test_softmax_of_half_input_is_computed_in_float32():
    report = assert_converts(lambda a: F.softmax(a, -1), [X.half()], rtol=1e-3)
    net = report.model_trt.network
    softmax = [net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type.name == "SOFTMAX"]
    assert len(softmax) == 1 and softmax[0].get_output(0).dtype.name == "FLOAT"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_softmax_dtype_argument_casts_the_input_first(dtype):
    """PyTorch casts the input to dtype= before the softmax (rounding float32 input to float16 first changes the
    result by ~1e-4); the last-dim softmax is then exactly float32 math rounded once, as here."""
    assert_converts(lambda a: (F.softmax(a, -1, dtype=dtype), F.softmin(a, -1, dtype=dtype),
                               torch.softmax(a, 2, dtype=dtype)), [X], rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
def test_softmax_dtype_argument_every_spelling(dtype, rtol):
    """Other dims and log_softmax: PyTorch's own float16 kernels differ from float32-then-round by an ulp."""
    assert_converts(lambda a: (torch.softmax(a, 1, dtype=dtype), a.log_softmax(0, dtype=dtype),
                               F.log_softmax(a, dim=2, dtype=dtype), a.softmax(-2, dtype=dtype),
                               torch.special.softmax(a, 0, dtype=dtype)), [X], rtol=rtol)


def test_softmax_of_integers_with_dtype():
    assert_converts(lambda a: F.softmax(a, -1, dtype=torch.float32), [X.round().int()])


def test_nan_passes_through_threshold_and_shrinks():
    x = torch.tensor([[float("nan"), 0.3, -2.0, 0.5, -0.5, 2.0]] * 2)
    assert_converts(lambda a: (F.threshold(a, 0.5, 9.0), F.hardshrink(a), F.softshrink(a), torch.trunc(a)), [x])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_integer_relu_clips_and_threshold(dtype):
    xi = (X * 2).round().to(dtype)
    assert_converts(lambda a: (F.relu(a), torch.relu(a), a.clone().relu_(), F.relu6(a), F.hardtanh(a, -3, 4),
                               F.threshold(a, 1, 7), F.threshold(a, 0.5, -2)), [xi])


@pytest.mark.parametrize("fn, match", [
    (lambda a: torch.sigmoid(a.double()), r"sigmoid in float64: TensorRT has no float64"),
    (lambda a: F.softmax(a, -1, dtype=torch.float64), r"softmax in float64: TensorRT has no float64"),
    (lambda a: F.rrelu(a, training=True), r"rrelu\(training=True\): random slopes"),
    (lambda a: F.relu((a > 0).to(torch.uint8)), r"relu on torch.uint8: TensorRT has no plain"),
])
def test_refusals_say_why(fn, match):
    assert_refuses(fn, [X], match)


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("name", ["relu", "clips", "sigmoid_tanh_softsign", "leaky_elu_selu_celu", "gelu",
                                  "softplus_threshold", "compositions", "threshold_shrink", "softmax_any_dim",
                                  "log_softmax_softmin", "softmax_low_rank"])
def test_activation_in_reduced_precision(name, dtype, rtol):
    assert_converts(CASES[name], [X.to(dtype)], rtol=rtol)


def test_activation_with_dynamic_batch():
    from torch2trt.testing import assert_converts_dynamic_batch

    assert_converts_dynamic_batch(lambda a: F.softmax(a, -1) + F.log_softmax(a, 1) + F.threshold(a, 0.1, 2.0)
                                  + F.softshrink(a) + F.hardshrink(a) + F.softplus(a, 2, 3) + F.mish(a)
                                  + F.softmin(a, 0), torch.randn(2, 3, 4), torch.randn(3, 3, 4))
