"""as_strided vs PyTorch: windows (overlapping), transposes, offsets, on contiguous and non-contiguous traced
tensors; views leaving the input and dynamic shapes refused."""

import pytest
import torch

from torch2trt.testing import assert_converts, assert_refuses


@pytest.mark.parametrize("size,stride,offset", [((3, 3), (1, 3), 0), ((4, 2), (2, 1), 1), ((5, 3), (2, 1), 0),
                                                ((2, 2, 2), (6, 1, 2), 1), ((4,), (0,), 5)])
def test_as_strided_of_a_contiguous_tensor(size, stride, offset):
    assert_converts(lambda x: (x * 2).as_strided(size, stride, offset), [torch.randn(3, 4)])


def test_as_strided_of_a_transposed_view():
    # y's storage is x*2's: as_strided reads through that storage, not y's logical order
    assert_converts(lambda x: (x * 2).t().as_strided((2, 3), (1, 4)), [torch.randn(3, 4)])


def test_as_strided_refusals():
    assert_refuses(lambda x: (x * 2)[:, :2].as_strided((2, 2), (4, 1), 2), [torch.randn(3, 4)], "outside the input")
    assert_refuses(lambda x: (x * 2).as_strided((2, 2), (4, 1)), [torch.randn(3, 4)], "dynamic shapes",
                   min_shapes=[(1, 4)], max_shapes=[(5, 4)])
