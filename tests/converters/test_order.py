"""kthvalue and median vs PyTorch: values exact (ties, NaN, negative dims, keepdim, integers), indices pointing at
the value (PyTorch leaves the index among equal values unspecified), median's NaN rule, dynamic batch."""

import pytest
import torch

from torch2trt import torch2trt
from torch2trt.check import FunctionModule, run_reference
from torch2trt.testing import assert_converts_dynamic


def _data(seed, shape, dtype, nan):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3, 4, shape, generator=g).to(dtype)  # many ties
    if nan:
        x[torch.rand(shape, generator=g) < 0.15] = float("nan")
    return x


def _same(a, b):
    return torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(a[~torch.isnan(a)], b[~torch.isnan(b)]) \
        if a.is_floating_point() else torch.equal(a, b)


def _check(fn, dim, keepdim, shape, dtype, nan):
    # verify=False: the default verification compares indices exactly, which ties leave unspecified
    m = torch2trt(FunctionModule(fn).eval(), [_data(0, shape, dtype, False)], verify=False)
    for seed in (1, 2, 3):
        x = _data(seed, shape, dtype, nan)
        (gv, gi), (rv, ri) = run_reference(m, [x]), fn(x)
        assert gv.shape == rv.shape and gv.dtype == rv.dtype and gi.dtype == ri.dtype
        assert _same(gv, rv), (x, gv, rv)
        picked = x.gather(dim, gi if keepdim else gi.unsqueeze(dim))
        assert _same(picked if keepdim else picked.squeeze(dim), rv)


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("dim,keepdim", [(-1, False), (0, True), (1, False)])
@pytest.mark.parametrize("dtype,nan", [(torch.float32, False), (torch.float32, True), (torch.int32, False)])
def test_kthvalue_matches_pytorch(k, dim, keepdim, dtype, nan):
    _check(lambda x: tuple(torch.kthvalue(x, k, dim, keepdim)), dim, keepdim, (7, 7, 3)[:2] if dim != 0 else (7, 4),
           dtype, nan)


@pytest.mark.parametrize("dim,keepdim", [(-1, False), (0, True)])
@pytest.mark.parametrize("dtype,nan", [(torch.float32, False), (torch.float32, True), (torch.int64, False)])
@pytest.mark.parametrize("n", [5, 6])
def test_median_matches_pytorch(dim, keepdim, dtype, nan, n):
    _check(lambda x: tuple(x.median(dim, keepdim)), dim, keepdim, (n, n), dtype, nan)


def test_median_of_all_elements_and_dynamic_batch():
    x = torch.randn(3, 5)
    m = torch2trt(FunctionModule(lambda x: torch.median(x)).eval(), [x])
    for seed in (1, 2):
        y = torch.randn(3, 5, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(run_reference(m, [y]), torch.median(y))
    assert_converts_dynamic(lambda x: torch.kthvalue(x, 2, 1).values, [torch.randn(3, 6)], [(1, 6)], [(5, 6)])
