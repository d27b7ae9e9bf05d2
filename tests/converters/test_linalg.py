"""diagonal, diag, diag_embed, trace, cross, meshgrid, cosine_similarity, pairwise_distance vs PyTorch at inputs
other than the sample, dtype sweeps, negative dims and dynamic batch."""

import pytest
import torch
import torch.nn.functional as F

from torch2trt import structure, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import assert_converts_dynamic, assert_refuses


def _check(fn, make, n_checks=2, rtol=1e-5):
    m = torch2trt(FunctionModule(fn).eval(), list(make(0)))
    for seed in range(1, n_checks + 1):
        inputs = make(seed)
        got, _ = structure.flatten(run_reference(m, list(inputs)))
        ref, _ = structure.flatten(fn(*inputs))
        assert len(got) == len(ref)
        for o, r in zip(got, ref):
            err = compare(o, r)
            assert err.same_layout and err.rel <= (rtol if r.dtype.is_floating_point else 0.0), (seed, err)


def _rand(*shape, dtype=torch.float32):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        if dtype.is_floating_point:
            return (torch.randn(shape, generator=g).to(dtype),)
        return (torch.randint(-9, 10, shape, generator=g, dtype=dtype),)
    return make


@pytest.mark.parametrize("offset,dim1,dim2", [(0, 0, 1), (1, 1, 2), (-2, -1, -2), (2, 2, 0), (0, -3, -1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_diagonal_matches_pytorch(offset, dim1, dim2, dtype):
    _check(lambda x: (x.diagonal(offset, dim1, dim2), torch.diagonal(x, offset=offset, dim1=dim1, dim2=dim2)),
           _rand(3, 4, 5, dtype=dtype))


@pytest.mark.parametrize("k", [0, 2, -1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_diag_both_ways_and_trace(k, dtype):
    _check(lambda x: (torch.diag(x, k), x.diag(k)), _rand(4, 6, dtype=dtype))
    _check(lambda v: (torch.diag(v, k), v.diag(k)), _rand(5, dtype=dtype))
    _check(lambda x: (torch.trace(x), x.trace()), _rand(4, 6, dtype=dtype))


@pytest.mark.parametrize("offset,dim1,dim2", [(0, -2, -1), (1, 0, 2), (-1, 2, 0), (0, 1, -1)])
def test_diag_embed_matches_pytorch(offset, dim1, dim2):
    _check(lambda x: torch.diag_embed(x, offset, dim1, dim2), _rand(2, 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_cross_matches_pytorch(dtype):
    def make(seed):
        return _rand(2, 3, 4, dtype=dtype)(seed) + _rand(2, 3, 4, dtype=dtype)(seed + 10)
    _check(lambda a, b: (torch.cross(a, b, dim=1), torch.linalg.cross(a.transpose(1, 2), b.transpose(1, 2)),
                         a.cross(b, 1)), make)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_pytorch(indexing):
    def make(seed):
        return _rand(3)(seed) + _rand(4)(seed + 1) + _rand(2)(seed + 2)
    _check(lambda a, b, c: torch.meshgrid(a, b, c, indexing=indexing), make)
    _check(lambda a, b, c: torch.meshgrid([a, b], indexing=indexing), make)


@pytest.mark.parametrize("dim", [1, -1, 0])
def test_cosine_similarity_matches_pytorch(dim):
    def make(seed):
        a, b = _rand(4, 5, 6)(seed)[0], _rand(4, 5, 6)(seed + 7)[0]
        a[0, 0] = 0.0  # a zero vector meets eps
        return a, b[:1]
    _check(lambda a, b: (F.cosine_similarity(a, b, dim=dim), torch.cosine_similarity(a, b, dim, eps=1e-3)), make)


@pytest.mark.parametrize("p", [2.0, 1.0, float("inf"), 3.0, 0.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_pytorch(p, keepdim):
    def make(seed):
        return _rand(4, 6)(seed) + _rand(4, 6)(seed + 5)
    _check(lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim), make)
    _check(lambda a, b: F.pairwise_distance(a[0], b[0], p=p, keepdim=keepdim), make)


def test_distances_and_diagonal_dynamic_batch():
    def fn(a, b):
        return F.cosine_similarity(a, b, dim=-1), F.pairwise_distance(a, b), torch.diag_embed(a).diagonal(0, -2, -1)

    assert_converts_dynamic(fn, [torch.randn(3, 5), torch.randn(3, 5)], [(1, 5), (1, 5)], [(6, 5), (6, 5)])


def test_diagonal_over_a_dynamic_axis_is_refused():
    assert_refuses(lambda x: x.diagonal(), [torch.randn(3, 5)], r"diagonal over dynamic axis 0",
                   min_shapes=[(1, 5)], max_shapes=[(6, 5)])


@pytest.mark.parametrize("ord", ["fro", 1, -1, float("inf"), float("-inf")])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm_matches_pytorch(ord, dim, keepdim):
    _check(lambda x: (torch.linalg.matrix_norm(x, ord, dim, keepdim), torch.linalg.norm(x, ord, dim, keepdim)),
           _rand(3, 4, 5))


def test_linalg_norm_vector_forms_and_dynamic_batch():
    _check(lambda x: (torch.linalg.norm(x), torch.linalg.norm(x, 3, -1), torch.linalg.norm(x[0], float("inf")),
                      torch.linalg.norm(x[0], 1)), _rand(3, 4, 5))
    assert_converts_dynamic(lambda x: torch.linalg.matrix_norm(x, 1), [torch.randn(2, 3, 4)], [(1, 3, 4)],
                            [(5, 3, 4)])


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_matrix_norms_needing_singular_values_are_refused(ord):
    assert_refuses(lambda x: torch.linalg.matrix_norm(x, ord), [torch.randn(3, 3)], "needs singular values")
