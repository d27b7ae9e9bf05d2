"""bucketize and searchsorted vs PyTorch: left/right, values on boundaries, NaN, N-d sequences, traced or constant
boundaries, out_int32, dynamic batch."""

import pytest
import torch

from torch2trt import torch2trt
from torch2trt.check import FunctionModule, run_reference
from torch2trt.testing import assert_converts_dynamic

B = torch.tensor([-1.0, 0.0, 0.5, 0.5, 2.0])


def _values(seed, shape=(4, 6)):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randint(-6, 7, shape, generator=g) * 0.5).float()  # many values equal to boundaries
    x[0, 0] = float("nan")
    return x


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("out_int32", [False, True])
def test_bucketize_and_searchsorted_1d_match_pytorch(right, out_int32):
    def fn(x, b):
        return (torch.bucketize(x, B, right=right, out_int32=out_int32),
                torch.bucketize(x, b, right=right, out_int32=out_int32),
                torch.searchsorted(b, x, right=right, out_int32=out_int32),
                torch.searchsorted(B, x, side="right" if right else "left"))
    # verify=False: the default verification draws unsorted boundaries, where PyTorch's binary search is undefined
    m = torch2trt(FunctionModule(fn).eval(), [_values(0), B + 0.25], verify=False)
    for seed in (1, 2):
        x, b = _values(seed), torch.sort(torch.randn(5, generator=torch.Generator().manual_seed(seed))).values
        b[2] = b[1]
        for g, r in zip(run_reference(m, [x, b]), fn(x, b)):
            assert g.dtype == r.dtype and torch.equal(g, r), (g, r)


def test_searchsorted_nd_sequence():
    def fn(seq, v):
        return torch.searchsorted(seq, v), torch.searchsorted(seq, v, right=True)

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        seq = torch.sort(torch.randint(-4, 5, (3, 6), generator=g).float(), dim=-1).values
        return seq, torch.randint(-5, 6, (3, 4), generator=g).float()
    m = torch2trt(FunctionModule(fn).eval(), list(make(0)), verify=False)  # sorted inputs only (checked below)
    for seed in (1, 2):
        inputs = make(seed)
        for g, r in zip(run_reference(m, list(inputs)), fn(*inputs)):
            assert torch.equal(g, r)


def test_bucketize_integers_and_dynamic_batch():
    bounds = torch.tensor([-3, 0, 0, 4])

    def make(shapes):
        return [torch.randint(-5, 6, shapes[0], generator=torch.Generator().manual_seed(shapes[0][0]))]
    assert_converts_dynamic(lambda x: torch.bucketize(x, bounds, right=True), make([(3, 5)]), [(1, 5)], [(6, 5)],
                            make_inputs=make)
