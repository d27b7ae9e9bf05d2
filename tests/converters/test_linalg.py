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


# ---- dist, kron, block_diag, cartesian_prod, vander ------------------------------------------------------------------
@pytest.mark.parametrize("p", [2, 1, 0, 3.5, float("inf"), float("-inf")])
def test_dist_matches_pytorch(p):
    def make(seed):
        a, b = _rand(3, 4)(seed)[0], _rand(3, 4)(seed + 3)[0]
        b[0, 0] = a[0, 0]  # a zero difference (p = 0 counts the others)
        return a, b, _rand(4)(seed + 5)[0]

    _check(lambda a, b, c: (torch.dist(a, b, p), a.dist(b, p=p), torch.dist(a, c, p), torch.dist(c, a[0], p)), make)


def test_dist_default_p_reduced_precision_0d_and_dynamic_batch():
    from torch2trt.testing import assert_converts

    a, b = torch.randn(3, 64), torch.randn(3, 64)
    assert_converts(lambda x, y: (torch.dist(x, y), x.dist(y)), [a, b])
    assert_converts(lambda x, y: torch.dist(x, y), [a.half(), b.half()], rtol=0.0)  # bit for bit
    assert_converts(lambda x, y: torch.dist(x, y), [a.bfloat16(), b.bfloat16()], rtol=0.0)
    assert_converts(lambda x, y: torch.dist(x, y), [a, b.half()])  # promoted to float32
    assert_converts(lambda x, y: torch.dist(x[0, 0], y[0, 0], 3), [a, b])
    assert_converts_dynamic(lambda x, y: (torch.dist(x, y), torch.dist(x, y, 1)), [a[:, :5], b[:, :5]],
                            [(1, 5), (1, 5)], [(6, 5), (6, 5)])


@pytest.mark.parametrize("p", [-1, -0.5])
def test_dist_refuses_what_the_norm_does_not_compute(p):
    assert_refuses(lambda a, b: torch.dist(a, b, p), [torch.randn(3), torch.randn(3)],
                   rf"dist\(p={p}\): negative p other than -inf")


def test_dist_of_tensor_p_is_refused():
    assert_refuses(lambda a, b: torch.dist(a, b, torch.tensor(2.0)), [torch.randn(3), torch.randn(3)],
                   r"dist\(p=tensor\(2\.\)\): only a constant number")


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64, torch.bool, torch.float16])
def test_kron_matches_pytorch(dtype):
    def make(seed):
        return (_rand(2, 3, dtype=dtype)(seed)[0], _rand(3, 2, dtype=dtype)(seed + 1)[0],
                _rand(2, dtype=dtype)(seed + 2)[0], _rand(2, 1, 3, dtype=dtype)(seed + 3)[0])

    if dtype == torch.bool:
        def make(seed):  # noqa: F811
            g = torch.Generator().manual_seed(seed)
            return tuple(torch.rand(s, generator=g) > 0.5 for s in [(2, 3), (3, 2), (2,), (2, 1, 3)])

    _check(lambda a, b, v, c: (torch.kron(a, b), a.kron(b), torch.kron(v, a), torch.kron(a, v), torch.kron(c, a),
                               torch.kron(v[0], a), torch.kron(v[0], v[1])), make, rtol=0.0)


def test_kron_promotes_and_keeps_a_dynamic_batch():
    from torch2trt.testing import assert_converts

    assert_converts(lambda a, b: torch.kron(a, b), [torch.randint(-3, 3, (2, 3), dtype=torch.int32),
                                                    torch.randn(2, 2)])
    assert_converts_dynamic(lambda a, b: (torch.kron(a, b), torch.kron(b, a), torch.kron(a, b[0])),
                            [torch.randn(2, 3), torch.randn(2, 2)], [(1, 3), (2, 2)], [(5, 3), (2, 2)])


def test_block_diag_matches_pytorch():
    from torch2trt.testing import assert_converts

    def make(seed):
        return _rand(2, 3)(seed) + _rand(3)(seed + 1) + _rand(1, 1)(seed + 2) + _rand(2, 2, dtype=torch.int32)(seed)

    _check(lambda a, v, c, i: (torch.block_diag(a, v, c), torch.block_diag(v[0], a, i), torch.block_diag(a),
                               torch.block_diag(i, i[0, 0], i[0]), torch.block_diag(a, a[:0], a[:, :0], c)), make,
           rtol=0.0)
    assert_converts(lambda a, b: torch.block_diag(a, b), [torch.rand(2, 2) > 0.5, torch.rand(1, 3) > 0.5])
    assert_converts(lambda a, b: torch.block_diag(a, b), [torch.randn(2, 2).half(), torch.randn(3).bfloat16()])


def test_block_diag_refuses_dynamic_shapes():
    assert_refuses(lambda a, b: torch.block_diag(a, b), [torch.randn(2, 3), torch.randn(2, 2)],
                   r"block_diag with dynamic shapes \(input shape \(-1, 3\)\): the zero blocks",
                   min_shapes=[(1, 3), (2, 2)], max_shapes=[(4, 3), (2, 2)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64, torch.bool])
def test_cartesian_prod_matches_pytorch(dtype):
    def make(seed):
        return _rand(3, dtype=dtype)(seed) + _rand(2, dtype=dtype)(seed + 1) + _rand(4, dtype=dtype)(seed + 2)

    if dtype == torch.bool:
        def make(seed):  # noqa: F811
            g = torch.Generator().manual_seed(seed)
            return tuple(torch.rand(n, generator=g) > 0.5 for n in (3, 2, 4))

    _check(lambda a, b, c: (torch.cartesian_prod(a, b), torch.cartesian_prod(a, b, c), torch.cartesian_prod(c, c),
                            torch.cartesian_prod(b)), make, rtol=0.0)


def test_cartesian_prod_keeps_a_dynamic_length():
    assert_converts_dynamic(lambda a, b: (torch.cartesian_prod(a, b), torch.cartesian_prod(b, a, b)),
                            [torch.randn(3), torch.randn(2)], [(1,), (2,)], [(6,), (2,)])


@pytest.mark.parametrize("n, increasing", [(None, False), (None, True), (1, False), (2, True), (6, False), (7, True)])
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float16, torch.bfloat16])
def test_vander_matches_pytorch_bit_for_bit(n, increasing, dtype):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        if dtype == torch.bool:
            return (torch.rand(5, generator=g) > 0.5,)
        if dtype.is_floating_point:
            return ((torch.randn(5, generator=g) * 2).to(dtype),)
        return (torch.randint(-4, 5, (5,), generator=g, dtype=dtype),)

    _check(lambda x: (torch.vander(x, n, increasing), torch.vander(x, N=n, increasing=increasing)), make, rtol=0.0)
    if n != 1 and dtype in (torch.int32, torch.int64):  # linalg.vander: N > 1, no bool / half / bfloat16
        _check(lambda x: torch.linalg.vander(x, N=n), make, rtol=0.0)


@pytest.mark.parametrize("n", [None, 3, 8])
def test_vander_float32(n):
    # PyTorch's CPU cumprod multiplies float32 in float64 and rounds each power once; TensorRT has no float64, so the
    # powers from x^3 on are float32 products (x * x) * x ..., within an ulp per product: exact up to x^2
    def make(seed):
        return ((torch.randn(6, generator=torch.Generator().manual_seed(seed)) * 2),)

    _check(lambda x: (torch.vander(x, n), torch.vander(x, n, True), torch.linalg.vander(x, N=n)), make,
           rtol=0.0 if n == 3 else 1e-6)


def test_vander_dynamic_length_and_refusals():
    assert_converts_dynamic(lambda x: (torch.vander(x, 4), torch.linalg.vander(x, N=3)), [torch.randn(3)], [(1,)],
                            [(6,)])
    dyn = dict(min_shapes=[(1,)], max_shapes=[(6,)])
    assert_refuses(lambda x: torch.vander(x), [torch.randn(3)], r"vander of a dynamic length without N", **dyn)
    assert_refuses(lambda x: torch.vander(x, 0), [torch.randn(3)], r"vander\(N=0\): an empty result")
    assert_refuses(lambda x: torch.linalg.vander(x), [torch.randn(2, 3)], r"vander of a 2-d tensor: only 1-d")
