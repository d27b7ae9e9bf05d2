"""Linear algebra converters vs PyTorch: linear (1-d, 2-d, N-d inputs), bilinear, matmul with batch broadcasting and
1-d operands, mm/bmm/mv/dot/inner/outer, tensordot, addmm/addmv/addr/baddbmm/addbmm with beta/alpha, einsum, and
refusals."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_converts_dynamic_batch, assert_refuses

torch.manual_seed(0)
Y = torch.randn(2, 3, 4)
W, V = torch.randn(4, 5), torch.randn(4)
LIN, LIN_NO_BIAS = nn.Linear(4, 6).eval(), nn.Linear(4, 2, bias=False).eval()
BIL, BIL2 = nn.Bilinear(4, 4, 3).eval(), nn.Bilinear(4, 5, 2, bias=False).eval()

_assert_dynamic_batch = assert_converts_dynamic_batch


LINALG = {
    "linear": lambda a: (LIN(a), LIN(a[0]), LIN(a[0, 0]), LIN_NO_BIAS(a), F.linear(a, W.T, torch.ones(5))),
    "linear_vector_weight": lambda a: (F.linear(a, V), F.linear(a, V, torch.tensor(2.0)), F.linear(a[0, 0], V)),
    "linear_4d_input": lambda a: LIN(a[None].expand(3, 2, 3, 4)),
    "bilinear": lambda a: (BIL(a[0], a[1]), BIL(a, a), BIL2(a[0, 0], torch.ones(5)), F.bilinear(a, a, BIL.weight)),
    "matmul": lambda a: (a @ W, torch.matmul(a, V), torch.matmul(V, a.transpose(1, 2)), a[0] @ a[1].T,
                         a[0, 0] @ a[1, 0], W.T @ a[0, 0], a[0].matmul(V), torch.linalg.matmul(a, W)),
    "matmul_batch_broadcast": lambda a: (torch.matmul(a[:1], a.transpose(1, 2)), torch.matmul(a[0], a.transpose(1, 2)),
                                         torch.matmul(a[:, None], a[None].transpose(-1, -2)), W.T @ a.transpose(1, 2)),
    "mm_bmm": lambda a: (torch.mm(a[0], W), a[0].mm(a[1].T), torch.bmm(a, a.transpose(1, 2)), a.bmm(a.transpose(1, 2))),
    "mv_dot_inner_outer": lambda a: (torch.mv(a[0], V), a[0].mv(a[1, 0]), torch.dot(a[0, 0], a[1, 1]),
                                     torch.vdot(a[0, 0], V), torch.inner(a, a[0]), torch.inner(a[0, 0], V),
                                     torch.outer(a[0, 0], a[1, 1, :3]), a[0, 0].ger(V)),
    "multi_dot": lambda a: (torch.linalg.multi_dot([a[0], a[1].T, W[:3]]),
                            torch.linalg.multi_dot([a[0, 0], a[1].T, V[:3]])),
    "addmm_beta_alpha": lambda a: (torch.addmm(a[0, 0, :3], a[0], a[1].T, beta=0.5, alpha=2),
                                   a[0].addmm(a[1], W[:, :4]), torch.addmm(a[0, :, :3], a[0], a[1].T, beta=0)),
    "addmm_inplace": lambda a: (a[0] * 1).addmm_(a[1], W[:, :4], alpha=-1),
    "baddbmm_addbmm": lambda a: (torch.baddbmm(a[:, :, :3], a, a.transpose(1, 2), beta=0.3),
                                 torch.addbmm(a[0, :, :3], a, a.transpose(1, 2), alpha=0.7),
                                 a[:, :, :3].baddbmm(a, a.transpose(1, 2))),
    "addmv_addr": lambda a: (torch.addmv(a[0, :, 0], a[0], V, beta=2), torch.addmv(a[0, :, 0], a[0], V, beta=0),
                             torch.addr(a[0], a[1, :, 0], V, alpha=-1)),
    "einsum": lambda a: (torch.einsum("bij,jk->bik", a, W), torch.einsum("bij,bkj->bik", a, a),
                         torch.einsum("b i j -> b j i", a), torch.einsum("ij,j,jk->ik", a[0], V, W),
                         torch.einsum("bij->", a), torch.einsum("ii->i", a[0, :, :3]), torch.einsum("ij,jk", a[0], W)),
    "einsum_ellipsis_and_upper_case": lambda a: (torch.einsum("...j,jk", a, W), torch.einsum("bIj,bKj->bIK", a, a),
                                                 torch.einsum("...ij,...kj->...ik", a, a),
                                                 torch.einsum("...ij,jk->...ik", a[0], W),
                                                 torch.einsum(a, [0, 1, 2], W, [2, 3], [0, 3])),
    "einsum_broadcast": lambda a: torch.einsum("bij,bjk->bik", a[:1], a.transpose(1, 2)),
}


@pytest.mark.parametrize("name", list(LINALG))
def test_linear_algebra_matches_pytorch(name):
    assert_converts(LINALG[name], [Y])


def test_linear_algebra_noncontiguous_input():
    assert_converts(lambda a: (LIN(a[:, :, :4]), a @ a.transpose(1, 2), torch.einsum("bij->bji", a)),
                    [torch.randn(2, 4, 3).transpose(1, 2)])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linear_algebra_reduced_precision(dtype):
    lin = nn.Linear(4, 6).to(dtype).eval()
    assert_converts(lambda a: (lin(a), a @ a.transpose(1, 2), torch.einsum("bij,bkj->bik", a, a),
                               torch.addmm(a[0, 0, :3], a[0], a[1].T, beta=0.5)),
                    [Y.to(dtype)], rtol=1e-2 if dtype == torch.bfloat16 else 2e-3)


def test_linear_algebra_keeps_a_dynamic_batch():
    _assert_dynamic_batch(lambda a: (LIN(a), a @ a.transpose(1, 2), torch.einsum("bij,jk->bik", a, W),
                                     torch.bmm(a, a.transpose(1, 2))), Y, torch.randn(3, 3, 4))


@pytest.mark.parametrize("fn, inputs, match", [
    (lambda a: a @ a.transpose(1, 2), [torch.randint(-5, 5, (2, 3, 4))], r"TensorRT multiplies floating-point"),
    (lambda a: torch.mm(a[0], a[1].T), [torch.randint(-5, 5, (2, 3, 4), dtype=torch.int32)], r"mm on torch.int32"),
    (lambda a: torch.einsum("bij,bkj->bik", a, a), [torch.randint(-5, 5, (2, 3, 4))], r"einsum on torch.int64"),
])
def test_linear_algebra_refusals_say_why(fn, inputs, match):
    assert_refuses(fn, inputs, match)


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_Y = torch.randn(2, 3, 4)
NN_W, NN_V = torch.randn(4, 5), torch.randn(4)
NN_BILINEAR = nn.Bilinear(4, 4, 3)
NN_LINALG = {
    "matmul": lambda a: dict(op_matrix=a @ NN_W, matmul_vector=torch.matmul(a, NN_V),
                             vector_matmul=torch.matmul(NN_V, a.transpose(1, 2)),
                             bmm=torch.bmm(a, a.transpose(1, 2)), mm=torch.mm(a[0], NN_W), op_transposed=a[0] @ a[1].T),
    "matmul_broadcast": lambda a: dict(batch_of_one=torch.matmul(a[:1], a.transpose(1, 2)),
                                       matrix_by_batch=torch.matmul(a[0], a.transpose(1, 2))),
    "addmm": lambda a: dict(addmm=torch.addmm(a[0, 0, :3], a[0], a[1].T, beta=0.5, alpha=2),
                            baddbmm=torch.baddbmm(a[:, :, :3], a, a.transpose(1, 2), beta=0.3)),
    "einsum": lambda a: dict(batch_matrix=torch.einsum("bij,jk->bik", a, NN_W),
                             batch_transposed=torch.einsum("bij,bkj->bik", a, a)),
    "bilinear": lambda a: NN_BILINEAR(a[0], a[1]),
    "linear_1d_nd": lambda a: dict(vector=F.linear(a[0, 0], NN_W.T), batched_bias=F.linear(a, NN_W.T, torch.ones(5))),
}


@pytest.mark.parametrize("name", list(NN_LINALG))
def test_linear_algebra_spellings_match_pytorch(name):
    assert_converts(NN_LINALG[name], [NN_Y])


# ---- tensordot -----------------------------------------------------------------------------------------------------
A3, B3 = torch.randn(2, 3, 4), torch.randn(3, 4, 5)
TENSORDOT = {
    "default_dims_2": lambda a, b: torch.tensordot(a, b),
    "int_dims": lambda a, b: (torch.tensordot(a, b.transpose(0, 1), 1), torch.tensordot(a, b, dims=0),
                              torch.tensordot(a, a, 3), torch.tensordot(a[0], b[0], 1)),
    "list_pair": lambda a, b: (torch.tensordot(a, b, ([1, 2], [0, 1])), torch.tensordot(a, b, dims=([2], [1])),
                               torch.tensordot(a, b, ((1,), (0,)))),
    "list_of_lists_any_order": lambda a, b: (torch.tensordot(a, b, [[2, 1], [1, 0]]),
                                             torch.tensordot(b, a, dims=[[0], [1]]),
                                             torch.tensordot(a, b.transpose(0, 2), [[-1, -2], [1, 2]])),
    "constant_tensor_dims": lambda a, b: (torch.tensordot(a, b, torch.tensor(2)),
                                          torch.tensordot(a, b, torch.tensor([[1], [0]]))),
    "0d_and_1d": lambda a, b: (torch.tensordot(a[0, 0, 0], b, 0), torch.tensordot(a[0, 0], b[0, :, 0], 1)),
    "non_contiguous": lambda a, b: torch.tensordot(a.transpose(0, 2), b, [[1, 0], [0, 1]]),
}


@pytest.mark.parametrize("name", list(TENSORDOT))
def test_tensordot_matches_pytorch(name):
    assert_converts(TENSORDOT[name], [A3, B3])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_tensordot_reduced_precision(dtype):
    assert_converts(lambda a, b: (torch.tensordot(a, b), torch.tensordot(a, b, ([1], [0]))),
                    [A3.to(dtype), B3.to(dtype)], rtol=1e-2 if dtype == torch.bfloat16 else 2e-3)


def test_tensordot_keeps_dynamic_free_axes():
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(lambda a, b: (torch.tensordot(a, b), torch.tensordot(b, a, [[0, 1], [1, 2]]),
                                          torch.tensordot(a, b, 0), torch.tensordot(a, a, [[1, 2], [1, 2]])),
                            [A3, B3], [(1, 3, 4), (3, 4, 1)], [(4, 3, 4), (3, 4, 6)])
    _assert_dynamic_batch(lambda a: torch.tensordot(a, W, 1), Y, torch.randn(3, 3, 4))


@pytest.mark.parametrize("fn, inputs, kwargs, match", [
    (lambda a, b: torch.tensordot(a, b, 1), [torch.randint(-5, 5, (2, 3)), torch.randint(-5, 5, (3, 2))], {},
     r"tensordot on torch.int64: TensorRT multiplies floating-point matrices only"),
    (lambda a, b: torch.tensordot(a, b, ([0], [0])), [torch.randn(2, 3), torch.randn(2, 4)],
     dict(min_shapes=[(1, 3), (1, 4)], max_shapes=[(4, 3), (4, 4)]), r"tensordot over a dynamic contracted axis"),
    (lambda a, b: torch.tensordot(a[:, :0], b[:0], 1), [torch.randn(2, 3), torch.randn(3, 2)], {},
     r"tensordot over an empty contracted axis"),
])
def test_tensordot_refusals_say_why(fn, inputs, kwargs, match):
    assert_refuses(fn, inputs, match, **kwargs)
