"""Float floor division, remainder and fmod by tensors and by constants that are not powers of two, against
PyTorch's CPU kernels: floor_divide bit-exact (NaN where PyTorch has NaN, signs of zeros), remainder and fmod too
(the integer-mantissa fmod is exact), on a large random set and on boundary cases: a = k * b and its neighbours one
ulp away, huge and tiny quotients, subnormals, signed zeros, inf and NaN."""

import pytest
import torch

from torch2trt import torch2trt
from torch2trt.check import FunctionModule, run_reference
from torch2trt.testing import assert_refuses

F32 = torch.float32


def _exact(got, ref, what):
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, got.dtype)
    nan = torch.isnan(ref)
    assert torch.equal(torch.isnan(got), nan), (what, int((torch.isnan(got) != nan).sum()))
    ok = ~nan
    bad = (got[ok] != ref[ok]) | (torch.signbit(got[ok]) != torch.signbit(ref[ok]))
    assert not bool(bad.any()), (what, int(bad.sum()), got[ok][bad][:5], ref[ok][bad][:5])


def _reference(op, a, b):
    """PyTorch's result, where its vectorized (Sleef) fmod returns NaN for finite operands — subnormal divisors and
    quotients beyond float32's range — replaced by its scalar path's (std::fmod, exact): PyTorch's own answer there
    depends on where the element falls in a vector (torch.fmod(3.0, 5.6e-45) is 0 alone, NaN inside a 16-element
    tensor). The converted network always gives the exact value."""
    ref = op(a, b)
    odd = torch.isnan(ref) & torch.isfinite(a) & torch.isfinite(b) & (b != 0)
    for i in odd.nonzero().flatten().tolist():
        ref[i] = op(a[i:i + 1], b[i:i + 1])[0]
    return ref


def _boundary_set():
    g = torch.Generator().manual_seed(3)
    b = torch.cat([torch.tensor([0.1, 3.0, -3.0, 0.7, 1e-3, -2.5, 7.0, 1e30, 1e-30, 1.0, 2.0 ** -140, 5e-45,
                                 float("inf"), float("-inf"), 0.0, -0.0, float("nan")]),
                   torch.randn(40, generator=g) * 10.0 ** torch.randint(-6, 7, (40,), generator=g).float()])
    k = torch.tensor([0.0, 1.0, -1.0, 2.0, 3.0, -7.0, 10.0, 1e3, -1e6, 2.0 ** 24, 2.0 ** 30, 1e20, 0.5])
    ab = (k[:, None] * b[None, :]).reshape(-1)
    inf = torch.tensor(float("inf"))
    a = torch.cat([ab, torch.nextafter(ab, inf), torch.nextafter(ab, -inf),
                   torch.tensor([1.0, -1.0, 0.0, -0.0, float("inf"), -float("inf"), float("nan"), 3e38, -3e38, 1e-45,
                                 -1e-45, 1.17e-38, 6.0, -6.0])])
    a2, b2 = torch.broadcast_tensors(a[:, None], b[None, :])
    return a2.reshape(-1).contiguous(), b2.reshape(-1).contiguous()


def _random_set(n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, generator=g) * 10.0 ** torch.randint(-8, 9, (n,), generator=g).float()
    b = torch.randn(n, generator=g) * 10.0 ** torch.randint(-8, 9, (n,), generator=g).float()
    return a, b


OPS = {
    "floor_divide": lambda a, b: a // b,
    "remainder": lambda a, b: a % b,
    "fmod": lambda a, b: torch.fmod(a, b),
    "div_floor": lambda a, b: torch.div(a, b, rounding_mode="floor"),
}


@pytest.fixture(scope="module")
def converted():
    fn = lambda a, b: tuple(op(a, b) for op in OPS.values())  # noqa: E731
    a, b = _random_set(16, seed=9)
    return fn, torch2trt(FunctionModule(fn).eval(), [a, b], min_shapes=[(1,), (1,)],
                         max_shapes=[(1 << 17,), (1 << 17,)])


@pytest.mark.parametrize("inputs", ["boundary", "random"])
def test_float_floor_division_by_a_tensor_equals_pytorch_exactly(converted, inputs):
    fn, m = converted
    a, b = _boundary_set() if inputs == "boundary" else _random_set()
    got = run_reference(m, [a, b])
    for (name, op), g in zip(OPS.items(), got):
        _exact(g, _reference(op, a, b), name)


def test_float_floor_division_by_non_power_of_two_constants():
    consts = [0.1, -0.7, 3.0, 1e30]
    fn = lambda a: [op(a, c) for c in consts for op in (lambda x, y: x // y, lambda x, y: x % y,  # noqa: E731
                                                        torch.fmod, lambda x, y: y // x)]
    a, _ = _boundary_set()
    a = a[::7].contiguous()
    m = torch2trt(FunctionModule(fn).eval(), [torch.tensor([1.0, -2.0, 0.3])], min_shapes=[(1,)],
                  max_shapes=[(a.numel(),)])
    refs = [(lambda x, y: x // y), (lambda x, y: x % y), torch.fmod, None]
    got = run_reference(m, [a])
    for n, g in enumerate(got):
        c, op = consts[n // 4], refs[n % 4]
        bt = torch.full_like(a, c)
        _exact(g, _reference(op, a, bt) if op else _reference(lambda x, y: x // y, bt, a), f"op {n % 4} by {c}")
    assert float(run_reference(m, [torch.tensor([1.0])])[0][0]) == 9.0  # 1.0 // 0.1, the example


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_remainder_and_fmod_round_once(dtype):
    fn = lambda a, b: (a % b, torch.fmod(a, 0.3), torch.remainder(a, -0.7))  # noqa: E731
    a, b = (t.clamp(-6e4, 6e4).to(dtype) for t in _random_set(4000, seed=5))
    m = torch2trt(FunctionModule(fn).eval(), [a[:8], b[:8]], min_shapes=[(1,), (1,)], max_shapes=[(4000,), (4000,)])
    for n, (g, r) in enumerate(zip(run_reference(m, [a, b]), fn(a, b))):
        _exact(g, r, f"{dtype} output {n}")


@pytest.mark.parametrize("fn", [lambda a, b: a // b, lambda a, b: a // 0.3,
                                lambda a, b: torch.div(a, b, rounding_mode="floor")])
def test_reduced_precision_floor_division_by_non_powers_of_two_is_refused(fn):
    a = torch.randn(8).half()
    assert_refuses(fn, [a, a + 3], r"of torch.float16 tensors by a tensor or a constant that is not a power of two")
