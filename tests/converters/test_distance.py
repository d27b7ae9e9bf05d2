"""cdist (both of PyTorch's p = 2 forms, p = 0, 1, inf, 3, batched) and pdist vs PyTorch, dynamic batch, refusals."""

import pytest
import torch

from torch2trt.testing import assert_converts, assert_converts_dynamic, assert_refuses


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, float("inf"), 3.0])
@pytest.mark.parametrize("rows", [(5, 7), (30, 4)])  # 30 > 25: PyTorch's matrix-product form for p = 2
def test_cdist_matches_pytorch(p, rows):
    a, b = torch.randn(2, rows[0], 6), torch.randn(2, rows[1], 6)
    rtol = 1e-4 if p == 2 and max(rows) > 25 else 1e-5  # the product form cancels; rounding order differs
    assert_converts(lambda a, b: torch.cdist(a, b, p=p), [a, b], rtol=rtol)
    assert_converts(lambda a, b: torch.cdist(a[0], b[0], p=p, compute_mode="donot_use_mm_for_euclid_dist"), [a, b])


def test_cdist_dynamic_batch_and_refusal():
    mode = "use_mm_for_euclid_dist"
    assert_converts_dynamic(lambda a, b: (torch.cdist(a, b, 1.0), torch.cdist(a, b, compute_mode=mode)),
                            [torch.randn(2, 5, 3), torch.randn(2, 4, 3)], [(1, 5, 3), (1, 4, 3)],
                            [(4, 5, 3), (4, 4, 3)], rtol=1e-4)
    assert_refuses(lambda a, b: torch.cdist(a, b), [torch.randn(5, 3), torch.randn(4, 3)],
                   r"cdist\(p=2\) with a dynamic number of rows", min_shapes=[(1, 3), (1, 3)],
                   max_shapes=[(40, 3), (4, 3)])


@pytest.mark.parametrize("p", [2.0, 1.0, float("inf"), 0.5])
def test_pdist_matches_pytorch(p):
    assert_converts(lambda x: torch.pdist(x, p), [torch.randn(6, 4)])
