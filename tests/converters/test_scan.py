"""cummax / cummin (values and indices, ties, NaN) and logcumsumexp vs PyTorch at inputs other than the sample."""

import pytest
import torch

from torch2trt import structure, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import assert_converts_dynamic, assert_refuses


def _check(fn, make, n_checks=3):
    m = torch2trt(FunctionModule(fn).eval(), list(make(0)))
    for seed in range(1, n_checks + 1):
        inputs = make(seed)
        got, _ = structure.flatten(run_reference(m, list(inputs)))
        ref, _ = structure.flatten(fn(*inputs))
        for o, r in zip(got, ref):
            err = compare(o, r)
            assert err.same_layout and err.rel <= (1e-5 if r.dtype.is_floating_point else 0.0), (seed, err, o, r)


def _ties(shape, dtype, nan=False):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randint(-3, 4, shape, generator=g).to(dtype)
        if nan and seed:
            x[torch.rand(shape, generator=g) < 0.1] = float("nan")
        return (x,)
    return make


@pytest.mark.parametrize("op", [torch.cummax, torch.cummin])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_cummax_cummin_values_and_indices(op, dim, dtype):
    _check(lambda x: tuple(op(x, dim)), _ties((3, 7, 2), dtype))


@pytest.mark.parametrize("op", ["cummax", "cummin"])
def test_cummax_cummin_nan(op):
    _check(lambda x: tuple(getattr(x, op)(1)), _ties((4, 9), torch.float32, nan=True))


@pytest.mark.parametrize("dim", [0, -1])
def test_logcumsumexp(dim):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(5, 8, generator=g) * 30
        x[0, 0] = float("-inf")
        return (x,)
    _check(lambda x: torch.logcumsumexp(x, dim), make)


def test_scans_dynamic_batch():
    assert_converts_dynamic(lambda x: (*torch.cummax(x, 1), torch.logcumsumexp(x, -1)), [torch.randn(3, 6)],
                            [(1, 6)], [(5, 6)])


def test_scan_along_a_dynamic_axis_is_refused():
    assert_refuses(lambda x: torch.cummax(x, 0), [torch.randn(3, 6)], r"cummax along dynamic axis 0",
                   min_shapes=[(1, 6)], max_shapes=[(5, 6)])
