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


@pytest.mark.parametrize("kernel,dilation,padding,stride", [(3, 1, 0, 1), ((2, 3), 1, 1, (2, 1)), (3, 2, 2, 3),
                                                            (2, 1, 0, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])  # PyTorch's col2im has no integer kernel
def test_fold_col2im_matches_pytorch(kernel, dilation, padding, stride, dtype):
    size = (8, 9)
    blocks = F.unfold(torch.zeros(1, 2, *size), kernel, dilation, padding, stride).shape[-1]
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    x = torch.randn(2, 2 * k[0] * k[1], blocks).mul(10).to(dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-3
    assert_converts(lambda x: F.fold(x, size, kernel, dilation, padding, stride), [x], rtol=rtol)
    assert_converts(lambda x: F.fold(x[0], size, kernel, dilation=dilation, padding=padding, stride=stride), [x],
                    rtol=rtol)


def test_fold_dynamic_batch_inverts_unfold_counts():
    def fn(x):
        return F.fold(F.unfold(x, 3, padding=1), (6, 7), 3, padding=1) / F.fold(F.unfold(torch.ones_like(x), 3,
                                                                                           padding=1), (6, 7), 3,
                                                                                  padding=1)
    assert_converts_dynamic(fn, [torch.randn(2, 3, 6, 7)], [(1, 3, 6, 7)], [(4, 3, 6, 7)])
