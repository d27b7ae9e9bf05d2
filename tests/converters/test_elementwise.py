"""Elementwise, comparison, logical and unary converters vs PyTorch (reference executor, real builder)."""

import pytest
import torch

from torch2trt.testing import assert_converts, assert_refuses

X = torch.randn(2, 3, 4)
Y = torch.randn(3, 4) + 3            # broadcasts against X; positive for log/sqrt/pow
XI = torch.randint(-9, 9, (2, 3, 4))
YI = torch.randint(1, 5, (3, 4))
W = torch.rand(3, 4)

FLOAT = {
    "add_alpha": lambda a, b: torch.add(a, b, alpha=2) + 1,
    "radd_scalar": lambda a, b: 2.5 + a,
    "sub": lambda a, b: a - b,
    "rsub": lambda a, b: 2 - a,
    "sub_alpha": lambda a, b: torch.sub(a, b, alpha=0.5),
    "mul": lambda a, b: a * b * 3,
    "div": lambda a, b: a / b,
    "rdiv": lambda a, b: 2 / b,
    "div_floor": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    "floordiv": lambda a, b: a // b,
    "pow_scalar": lambda a, b: b ** 1.5,
    "pow_square": lambda a, b: a ** 2,
    "rpow": lambda a, b: 2 ** a,
    "pow_tensor": lambda a, b: torch.pow(b, a),
    "comparisons": lambda a, b: (a < b, a <= b, a > b, a >= b, a == b, a != b, a > 0, torch.eq(a, a)),
    "logical": lambda a, b: (torch.logical_and(a > 0, b > 3), (a < -1) | (b > 3.5), (a > 0) ^ (b > 3),
                             torch.logical_xor(a > 0, a < 1), torch.logical_or(a > 0, b > 3)),
    "where": lambda a, b: (torch.where(a > 0, a, b), torch.where(a > 0, a, 0.0)),
    "clamp": lambda a, b: (a.clamp(-0.5, 0.5), a.clamp(min=0), torch.clamp(a, max=b), a.clamp_max(0.1),
                           a.clamp_min(-0.1), torch.clip(a, -1, 1)),
    "minimum_maximum": lambda a, b: (torch.minimum(a, b), torch.maximum(a, b)),
    "lerp": lambda a, b: torch.lerp(a, b, 0.3) + torch.lerp(a, b, W),
    "addcmul_addcdiv": lambda a, b: torch.addcmul(a, a, b, value=0.5) + torch.addcdiv(a, a, b),
    "inplace": lambda a, b: (a.clone().add_(b), a.clone().mul_(2), a.clone().div_(b), a.clone().sub_(1)),
    "noncontiguous": lambda a, b: a.transpose(1, 2) * b.t() - a.transpose(1, 2),
}


@pytest.mark.parametrize("name", list(FLOAT))
def test_float_elementwise_matches_pytorch(name):
    assert_converts(FLOAT[name], [X, Y])


INT = {
    "add": lambda a, b: a + b + 1,
    "sub_scaled": lambda a, b: a - 2 * b,
    "true_div_is_float": lambda a, b: a / b,
    "floordiv": lambda a, b: a // b,
    "remainder": lambda a, b: a % b,
    "remainder_negative_divisor": lambda a, b: torch.remainder(a, -3),
    "fmod": lambda a, b: (torch.fmod(a, b), a.fmod(3), torch.fmod(a, -4)),
    "div_trunc": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    "mixed_float_promotes": lambda a, b: a * 0.5 + b,
    "compare": lambda a, b: (a == b, a < 2),
    "exp_promotes": lambda a, b: torch.exp(a),
    "isnan": lambda a, b: torch.isnan(a),
}


@pytest.mark.parametrize("name", list(INT))
def test_integer_elementwise_matches_pytorch(name):
    assert_converts(INT[name], [XI, YI])


def test_half_elementwise_keeps_half():
    assert_converts(lambda a, b: (a * b + 1, a > b), [X.half(), Y.half()], rtol=1e-3)


UNARY = {
    "basic": lambda a, b: (a.exp(), b.log(), b.sqrt(), b.rsqrt(), a.abs(), -a, a.sin(), a.cos(), a.tan(),
                           a.atan(), torch.erf(a), a.sign(), a.floor(), a.ceil(), a.trunc(), a.reciprocal(),
                           torch.sinh(a), torch.asinh(a), torch.cosh(a), (a / 4).asin(), (a / 4).acos()),
    "round": lambda a, b: torch.round(a * 2),
    "log1p_expm1_small": lambda a, b: (torch.log1p(a * 1e-6), torch.expm1(a * 1e-6), torch.log1p(b),
                                       torch.expm1(a)),
    "log2_log10": lambda a, b: (torch.log2(b), torch.log10(b)),
    "isnan_isinf_not": lambda a, b: (torch.isnan(a / 0 * 0), torch.isinf(a / 0), ~(a > 0),
                                     torch.logical_not(a > 0)),
    "inplace": lambda a, b: a.clone().exp_() + b.clone().sqrt_(),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_matches_pytorch(name):
    assert_converts(UNARY[name], [X, Y])


def test_round_ties_to_even():
    assert_converts(lambda a: torch.round(a), [torch.tensor([[0.5, 1.5, 2.5, -0.5, -1.5, 0.49]] * 2)])


@pytest.mark.parametrize("fn, inputs, match", [
    (lambda a, b: a % b, [X, Y], r"no exact floating-point modulo"),
    (lambda a, b: torch.fmod(a, b), [X, Y], r"no exact floating-point modulo"),
    (lambda a, b: a ** 2, [XI, YI], r"integer powers are not supported"),
    (lambda a, b: a & b, [XI, YI], r"only bool \(TensorRT has no bitwise ops\)"),
    (lambda a, b: torch.round(a, decimals=2), [X, Y], r"decimals=2"),
    (lambda a, b: torch.where(a > 0), [X, Y], r"data-dependent output shape"),
])
def test_refusals_say_why(fn, inputs, match):
    assert_refuses(fn, inputs, match)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("name", ["add", "sub_scaled", "floordiv", "remainder", "compare", "fmod"])
def test_integer_dtypes(name, dtype):
    assert_converts(INT[name], [XI.to(dtype), YI.to(dtype)])


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("name", ["add_alpha", "mul", "div", "comparisons", "where", "clamp", "addcmul_addcdiv"])
def test_reduced_precision_elementwise(name, dtype, rtol):
    assert_converts(FLOAT[name], [X.to(dtype), Y.to(dtype)], rtol=rtol)


def test_bool_logical_and_bitwise_ops():
    a, b = torch.rand(2, 3, 4) > 0.5, torch.rand(3, 4) > 0.5
    assert_converts(lambda a, b: (a & b, a | b, a ^ b, ~a, torch.logical_not(a), torch.bitwise_and(a, b), a == b,
                                  a != b), [a, b])
