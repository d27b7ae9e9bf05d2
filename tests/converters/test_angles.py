"""atan2 vs PyTorch: all quadrants, axes, signed zeros, infinities, NaN, broadcasting, reduced dtypes."""

import itertools

import pytest
import torch

from torch2trt import torch2trt
from torch2trt.check import FunctionModule, run_reference
from torch2trt.testing import assert_converts

SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-30, -3e30, float("inf"), float("-inf"), float("nan"), 2.5, -0.7]


def test_atan2_special_values_match_pytorch():
    pairs = torch.tensor(list(itertools.product(SPECIAL, SPECIAL)))
    y, x = pairs[:, 0].contiguous(), pairs[:, 1].contiguous()
    m = torch2trt(FunctionModule(lambda y, x: torch.atan2(y, x)).eval(), [torch.randn(4), torch.randn(4)],
                  min_shapes=[(1,), (1,)], max_shapes=[(200,), (200,)])
    got, ref = run_reference(m, [y, x]), torch.atan2(y, x)
    assert torch.equal(torch.isnan(got), torch.isnan(ref))
    ok = ~torch.isnan(ref)
    assert torch.allclose(got[ok], ref[ok], rtol=1e-6, atol=0)
    assert torch.equal(torch.signbit(got[ok]), torch.signbit(ref[ok]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_atan2_random_and_broadcast(dtype):
    y, x = torch.randn(3, 5).to(dtype), torch.randn(5).to(dtype)
    assert_converts(lambda y, x: (torch.atan2(y, x), y.atan2(x), torch.arctan2(x, y)), [y, x],
                    rtol=1e-5 if dtype == torch.float32 else 1e-3)
