"""Unary converters vs PyTorch (reference executor, real builder): every spelling, integer/bool/reduced-precision
inputs, exact compositions (expm1/log1p keep relative precision for tiny inputs), refusals."""

import pytest
import torch

from torch2trt.check import run_reference
from torch2trt.testing import assert_converts, assert_refuses

X = torch.randn(2, 3, 4)
P = torch.rand(3, 4) * 3 + 0.5           # positive: log/sqrt/rsqrt
U = torch.rand(2, 3, 4) * 1.8 - 0.9      # (-0.9, 0.9): asin/acos/atanh
XI = torch.randint(-9, 9, (2, 3, 4))

FLOAT = {
    "exp_log_sqrt": lambda a, p, u: (a.exp(), torch.exp(a), p.log(), torch.log(p), p.sqrt(), torch.sqrt(p),
                                     p.rsqrt(), torch.rsqrt(p), a.reciprocal(), torch.reciprocal(a)),
    "sign_abs_neg": lambda a, p, u: (a.abs(), torch.abs(a), torch.absolute(a), abs(a), -a, a.neg(), torch.neg(a),
                                     torch.negative(a), a.sign(), torch.sign(a), torch.sgn(a), +a, torch.positive(a)),
    "trig": lambda a, p, u: (a.sin(), torch.cos(a), torch.tan(u), u.asin(), torch.acos(u), torch.atan(a),
                             torch.arcsin(u), torch.arccos(u), torch.arctan(a)),
    "hyperbolic": lambda a, p, u: (a.sinh(), torch.cosh(a), torch.tanh(a), torch.asinh(a), (p + 1).acosh(),
                                   torch.atanh(u), torch.arcsinh(a), torch.arccosh(p + 1), torch.arctanh(u)),
    "rounding": lambda a, p, u: (torch.ceil(a * 3), (a * 3).floor(), torch.trunc(a * 3), (a * 3).fix(),
                                 torch.round(a * 3), (a * 3).round(decimals=0), torch.special.round(a * 3)),
    "erf_square_exp2": lambda a, p, u: (torch.erf(a), torch.special.erf(a), a.square(), torch.square(a),
                                        torch.exp2(a), torch.special.exp2(a)),
    "log_bases": lambda a, p, u: (torch.log2(p), p.log10(), torch.log1p(p), torch.expm1(a),
                                  torch.special.log1p(p), torch.special.expm1(a)),
    "predicates": lambda a, p, u: (torch.isnan(a / 0 * 0), (a / 0).isinf(), torch.isinf(a), ~(a > 0),
                                   torch.logical_not(a > 0), torch.logical_not(a), torch.bitwise_not(a > 0)),
    "inplace": lambda a, p, u: (a.clone().exp_(), p.clone().sqrt_(), a.clone().abs_(), a.clone().neg_(),
                                p.clone().log1p_(), a.clone().trunc_(), a.clone().sin_(), a.clone().square_()),
    "noncontiguous_broadcast": lambda a, p, u: (a.transpose(1, 2).exp() + p.t().log(), torch.erf(a[:, ::2])),
}


@pytest.mark.parametrize("name", list(FLOAT))
def test_unary_float_matches_pytorch(name):
    assert_converts(FLOAT[name], [X, P, U])


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
@pytest.mark.parametrize("name", ["exp_log_sqrt", "sign_abs_neg", "rounding", "log_bases", "predicates"])
def test_unary_reduced_precision(name, dtype, rtol):
    assert_converts(FLOAT[name], [X.to(dtype), P.to(dtype), U.to(dtype)], rtol=rtol)


INTEGER = {
    "sign_abs_neg": lambda a: (a.abs(), -a, torch.sign(a), torch.sgn(a), +a, a.square()),
    "rounding_is_identity": lambda a: (a.ceil(), torch.floor(a), a.trunc(), torch.round(a)),
    "promote_to_float": lambda a: (torch.exp(a), torch.sin(a), torch.erf(a), torch.expm1(a), torch.log2(a.abs() + 1)),
    "predicates": lambda a: (torch.isnan(a), torch.isinf(a), torch.logical_not(a)),
}


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("name", list(INTEGER))
def test_unary_integer_matches_pytorch(name, dtype):
    assert_converts(INTEGER[name], [XI.to(dtype)])


def test_unary_bool():
    b = torch.rand(2, 3, 4) > 0.5
    assert_converts(lambda b: (~b, torch.logical_not(b), b.bitwise_not(), torch.sign(b), torch.isnan(b),
                               torch.isinf(b), torch.exp(b)), [b])


def test_round_ties_to_even():
    ties = torch.tensor([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999997, 1e7 + 1, -4.5])
    assert_converts(lambda a: (torch.round(a), torch.round(a.half())), [ties.repeat(2, 1)])


def test_trunc_keeps_sign_of_zero_and_nan():
    x = torch.tensor([[-0.5, 0.5, -0.0, float("nan"), float("inf"), -float("inf"), -2.7, 2.7]] * 2)
    report = assert_converts(lambda a: torch.trunc(a), [x])
    got = run_reference(report.model_trt, [x])
    assert torch.equal(torch.signbit(got), torch.signbit(torch.trunc(x)))


def _elementwise_relative_error(fn, x):
    report = assert_converts(fn, [x])
    got, want = run_reference(report.model_trt, [x]).double(), fn(x).double()
    finite = torch.isfinite(want) & (want != 0)
    assert torch.equal(got[~finite], want[~finite]) or torch.equal(torch.isnan(got), torch.isnan(want))
    return float(((got - want).abs() / want.abs())[finite].max())


TINY_TO_LARGE = torch.cat([torch.logspace(-30, 1.9, 300), -torch.logspace(-30, 1.9, 300),
                           torch.tensor([0.0, -0.0, 1e-45, 88.7, 89.0, -104.0, -1e4, float("inf"), -float("inf"),
                                         float("nan")])]).reshape(2, -1)


@pytest.mark.parametrize("fn", [torch.expm1, torch.log1p], ids=["expm1", "log1p"])
def test_expm1_log1p_keep_relative_precision_elementwise(fn):
    """Every element within 1e-5 relative error, from 1e-30 to the overflow edge (exp(x) - 1 and log(1 + x) would
    return 0 for |x| < 6e-8); exact at 0, -0, inf, -inf, nan, and -1 for very negative expm1."""
    x = TINY_TO_LARGE if fn is torch.expm1 else torch.cat([TINY_TO_LARGE.abs(), -torch.rand(2, 100)], 1)
    with torch.no_grad():
        assert _elementwise_relative_error(fn, x) <= 1e-5


@pytest.mark.parametrize("fn, inputs, match", [
    (lambda a: torch.round(a, decimals=2), [X], r"round\(decimals=2\): only decimals=0"),
    (lambda a: torch.bitwise_not(a), [XI], r"bitwise_not on torch.int64: only bool"),
    (lambda a: ~a, [XI], r"only bool \(TensorRT has no bitwise ops\)"),
    (lambda a: a.double().exp(), [X], r"exp in float64: TensorRT has no float64"),
    (lambda a: (a > 0).to(torch.uint8).neg(), [X], r"neg on torch.uint8: TensorRT has no plain"),
    (lambda a: torch.signbit(a), [X], r"signbit: the sign bit of a NaN"),
    (lambda a: a.copysign(-1.0), [X], r"copysign: the sign bit of a NaN"),
    (lambda a: torch.erfc(a), [X], r"erfc: no TensorRT layer computes it .*1 - erf\(x\) loses"),
    (lambda a: a.lgamma(), [X], r"lgamma: no TensorRT layer computes it"),
])
def test_unary_refusals_say_why(fn, inputs, match):
    assert_refuses(fn, inputs, match)


def test_unary_with_dynamic_batch():
    from torch2trt.testing import assert_converts_dynamic_batch

    assert_converts_dynamic_batch(lambda a: torch.log1p(a.abs()) + torch.expm1(a) + torch.trunc(a * 3) + a.rsqrt()
                                  + torch.log2(a.abs()) + torch.isnan(a) + a.square(),
                                  torch.rand(2, 3, 4) + 0.1, torch.rand(3, 3, 4) + 0.1)


SPECIAL = torch.tensor([[float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.5, -2.75, 1e30, -3.0, 0.25]] * 2)


def test_finiteness_predicates_and_nan_to_num():
    assert_converts(lambda a: (torch.isfinite(a), a.isfinite(), torch.isposinf(a), a.isneginf(), torch.nan_to_num(a),
                               a.nan_to_num(nan=1.5, posinf=2.0), torch.nan_to_num(a, 0.0, None, -7.0),
                               a.clone().nan_to_num_(neginf=3.0), torch.isfinite(a > 0)),
                    [SPECIAL])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool])
def test_finiteness_predicates_and_nan_to_num_in_other_dtypes(dtype):
    a = SPECIAL.nan_to_num(0.0, 100.0, -100.0).to(dtype) if dtype in (torch.int32, torch.int64, torch.bool) \
        else SPECIAL.to(dtype)
    assert_converts(lambda a: (torch.isfinite(a), torch.isposinf(a), torch.isneginf(a), torch.nan_to_num(a)), [a])


def test_frac_angles_logit_sinc_exact_compositions():
    x = torch.cat([SPECIAL, torch.randn(2, 10) * 5], 1)
    p = torch.rand(2, 20) * 0.98 + 0.01
    assert_converts(lambda a, p: (torch.frac(a), a.frac(), a.clone().frac_(), torch.deg2rad(a), a.rad2deg(),
                                  torch.logit(p), p.logit(0.2), torch.special.logit(p, eps=0.05), torch.sinc(a),
                                  torch.special.sinc(a), torch.deg2rad(a.nan_to_num().int())), [x, p])


@pytest.mark.parametrize("dtype, rtol", [(torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
def test_frac_angles_logit_sinc_in_reduced_precision(dtype, rtol):
    x, p = (torch.randn(2, 20) * 5).to(dtype), (torch.rand(2, 20) * 0.98 + 0.01).to(dtype)
    assert_converts(lambda a, p: (torch.frac(a), torch.deg2rad(a), a.rad2deg(), torch.logit(p), torch.sinc(a)),
                    [x, p], rtol=rtol)
