"""Tensor.unfold and F.unfold (im2col) vs PyTorch: sizes, steps, padding, dilation, strides, unbatched input,
dtypes, dynamic batch."""

import pytest
import torch
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_converts_dynamic


@pytest.mark.parametrize("dim,size,step", [(0, 2, 1), (1, 3, 2), (-1, 4, 3), (2, 5, 5), (1, 1, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_tensor_unfold_matches_pytorch(dim, size, step, dtype):
    x = torch.randn(3, 7, 5).mul(10).to(dtype)
    assert_converts(lambda x: x.unfold(dim, size, step) * 2, [x])


@pytest.mark.parametrize("kernel,dilation,padding,stride", [(3, 1, 0, 1), ((2, 3), 1, 1, (2, 1)), (3, 2, 2, 3),
                                                            ((1, 2), (1, 2), (0, 1), 1)])
def test_unfold_im2col_matches_pytorch(kernel, dilation, padding, stride):
    x = torch.randn(2, 3, 8, 9)
    assert_converts(lambda x: F.unfold(x, kernel, dilation, padding, stride), [x])
    assert_converts(lambda x: F.unfold(x[0], kernel, dilation=dilation, padding=padding, stride=stride), [x])


def test_unfold_dynamic_batch():
    assert_converts_dynamic(lambda x: (F.unfold(x, 3, padding=1, stride=2), x.unfold(-1, 3, 2)),
                            [torch.randn(2, 3, 6, 7)], [(1, 3, 6, 7)], [(5, 3, 6, 7)])
