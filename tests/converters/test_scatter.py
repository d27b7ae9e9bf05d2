"""Scatter with accumulation and the index-write family vs PyTorch, with traced (input) indices that differ from
the sample's and hold duplicates: scatter_add, scatter_reduce, index_add, index_copy, index_fill, slice/select/
diagonal_scatter, masked_scatter, index_put(accumulate=True)."""

import pytest
import torch

from torch2trt import structure, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import assert_converts, assert_converts_dynamic, assert_refuses

DTYPES = [torch.float32, torch.int32, torch.int64, torch.float16]


def _values(shape, dtype, g):
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-5, 6, shape, generator=g, dtype=dtype)


def _check(fn, make, n_checks=3, **kw):
    """Convert fn at make(0); at make(1..n) the network matches PyTorch (exact for integers, rel 1e-5 float32,
    1e-3 float16)."""
    sample = make(0)
    m = torch2trt(FunctionModule(fn).eval(), list(sample), **kw)
    for seed in range(1, n_checks + 1):
        inputs = make(seed)
        got, _ = structure.flatten(run_reference(m, list(inputs)))
        ref, _ = structure.flatten(fn(*[t.clone() for t in inputs]))
        assert len(got) == len(ref)
        for o, r in zip(got, ref):
            err = compare(o, r)
            bound = 0.0 if not r.dtype.is_floating_point else (1e-5 if r.dtype == torch.float32 else 1e-3)
            assert err.same_layout and err.rel <= bound, (seed, err, o, r)


# ---- scatter_add / scatter_reduce -------------------------------------------------------------------------
SHAPES = [  # x shape, index shape, src shape, dim
    ((4, 6), (4, 9), (4, 9), 1),
    ((5, 3), (7, 3), (7, 3), 0),
    ((3, 4, 5), (2, 4, 7), (3, 4, 8), -1),   # index covers a corner; src larger than index
    ((3, 4, 5), (3, 2, 5), (3, 2, 5), -2),
    ((6,), (10,), (12,), 0),
]


def _scatter_inputs(xs, is_, ss, dim, dtype):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        n = xs[dim]
        index = torch.randint(0, n, is_, generator=g)  # many duplicates
        return _values(xs, dtype, g), index, _values(ss, dtype, g)
    return make


@pytest.mark.parametrize("xs,is_,ss,dim", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_matches_pytorch(xs, is_, ss, dim, dtype):
    _check(lambda x, i, s: x.scatter_add(dim, i, s), _scatter_inputs(xs, is_, ss, dim, dtype))


def test_scatter_add_spellings():
    make = _scatter_inputs((4, 6), (4, 9), (4, 9), 1, torch.float32)
    _check(lambda x, i, s: torch.scatter_add(x, 1, i, src=s), make, n_checks=1)

    def inplace(x, i, s):
        y = x * 1
        y.scatter_add_(1, i, s)
        return y
    _check(inplace, make, n_checks=1)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.int32])
@pytest.mark.parametrize("shape", [0, 2])
def test_scatter_reduce_matches_pytorch(reduce, include_self, dtype, shape):
    xs, is_, ss, dim = SHAPES[shape]
    _check(lambda x, i, s: x.scatter_reduce(dim, i, s, reduce, include_self=include_self),
           _scatter_inputs(xs, is_, ss, dim, dtype))


def test_scatter_reduce_keeps_infinities_apart():
    """SELECT, not a product with a 0/1 mask: an inf in src must reach only its own target."""
    def make(seed):
        x = torch.zeros(2, 4)
        s = torch.tensor([[float("inf"), 1.0, -2.0], [3.0, float("-inf"), 0.5]])
        i = torch.tensor([[0, 1, 1], [3, 2, 3]]) if seed else torch.tensor([[2, 1, 0], [0, 0, 0]])
        return x, i, s
    _check(lambda x, i, s: x.scatter_add(1, i, s), make, n_checks=1)
    _check(lambda x, i, s: x.scatter_reduce(1, i, s, "amax", include_self=False), make, n_checks=1)


def test_scatter_add_dynamic_batch():
    def fn(x, i, s):
        return x.scatter_add(1, i, s)

    def make(shapes):
        g = torch.Generator().manual_seed(sum(map(sum, shapes)))
        (b, n), (_, k), _ = shapes
        return [torch.randn(b, n, generator=g), torch.randint(0, n, (b, k), generator=g),
                torch.randn(b, k, generator=g)]

    assert_converts_dynamic(fn, make([(2, 6), (2, 9), (2, 9)]), [(1, 6), (1, 9), (1, 9)], [(5, 6), (5, 9), (5, 9)],
                            make_inputs=make)


def test_scatter_reduce_dynamic_corner():
    """index covering fewer rows than x, with both dynamic: the padding follows the network's dims."""
    def fn(x, i, s):
        return x.scatter_reduce(1, i, s, "amax", include_self=False)

    def make(shapes):
        g = torch.Generator().manual_seed(sum(map(sum, shapes)))
        (b, n), (bi, k), (bs, ks) = shapes
        return [torch.randn(b, n, generator=g), torch.randint(0, n, (bi, k), generator=g),
                torch.randn(bs, ks, generator=g)]

    assert_converts_dynamic(fn, make([(4, 6), (2, 5), (2, 5)]), [(3, 6), (1, 5), (1, 5)], [(6, 6), (3, 5), (3, 5)],
                            make_inputs=make, interior=[(5, 6), (2, 5), (2, 5)])


def test_scatter_reduce_refuses_unknown_reduction():
    x, i = torch.zeros(3), torch.tensor([0, 1])
    # PyTorch itself rejects other names; a bool input is refused by dtype
    assert_refuses(lambda x, i: x.bool().scatter_reduce(0, i, x[:2].bool(), "amax"), [x, i],
                   "scatter_reduce on torch.bool")


# ---- index_add / index_copy / index_fill ---------------------------------------------------------------------
INDEX_SHAPES = [((5, 3), 0, 7), ((2, 6, 3), 1, 4), ((2, 6, 3), -1, 5), ((6,), 0, 9)]


def _index_inputs(xs, dim, k, dtype, unique=False, negative=False):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        n = xs[dim]
        if unique:
            index = torch.randperm(n, generator=g)[:min(k, n)]
        else:
            index = torch.randint(-n if negative else 0, n, (k,), generator=g)
        ss = list(xs)
        ss[dim] = index.numel()
        return _values(xs, dtype, g), index, _values(tuple(ss), dtype, g)
    return make


@pytest.mark.parametrize("xs,dim,k", INDEX_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [1, 3])
def test_index_add_matches_pytorch(xs, dim, k, dtype, alpha):
    if dtype.is_floating_point and alpha == 3:
        alpha = -0.5
    _check(lambda x, i, s: x.index_add(dim, i, s, alpha=alpha), _index_inputs(xs, dim, k, dtype))


@pytest.mark.parametrize("xs,dim,k", INDEX_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_index_copy_matches_pytorch(xs, dim, k, dtype):
    _check(lambda x, i, s: x.index_copy(dim, i, s), _index_inputs(xs, dim, k, dtype, unique=True))


def test_index_copy_duplicates_last_wins_as_pytorch_cpu():
    _check(lambda x, i, s: x.index_copy(1, i, s), _index_inputs((3, 4), 1, 9, torch.float32))


@pytest.mark.parametrize("xs,dim,k", INDEX_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.bool])
def test_index_fill_matches_pytorch(xs, dim, k, dtype):
    value = True if dtype == torch.bool else -7
    make = _index_inputs(xs, dim, k, torch.int32 if dtype == torch.bool else dtype, negative=True)

    def fn(x, i, s):
        x = x > 0 if dtype == torch.bool else x
        return x.index_fill(dim, i, value)
    _check(fn, make)


def test_index_fill_traced_value_and_0d_index():
    def fn(x, i, s):
        return x.index_fill(0, i[0], s.sum())
    _check(fn, _index_inputs((5, 2), 0, 3, torch.float32))


def test_index_add_dynamic_batch():
    def fn(x, i, s):
        return x.index_add(1, i, s, alpha=2.0)

    def make(shapes):
        g = torch.Generator().manual_seed(sum(map(sum, shapes)))
        (b, n), (k,), _ = shapes
        return [torch.randn(b, n, generator=g), torch.randint(0, n, (k,), generator=g), torch.randn(b, k, generator=g)]

    assert_converts_dynamic(fn, make([(2, 6), (4,), (2, 4)]), [(1, 6), (4,), (1, 4)], [(5, 6), (4,), (5, 4)],
                            make_inputs=make)


# ---- slice_scatter / select_scatter / diagonal_scatter -------------------------------------------------------
@pytest.mark.parametrize("dim,start,end,step", [(0, None, None, 1), (1, 1, 6, 2), (-1, -3, None, 1),
                                                (1, 2, 100, 3), (0, 1, 3, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.float16])
def test_slice_scatter_matches_pytorch(dim, start, end, step, dtype):
    xs = (4, 7, 3)
    n = xs[dim]
    length = len(range(*slice(start, end, step).indices(n)))
    ss = list(xs)
    ss[dim] = length

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return _values(xs, dtype, g), _values(tuple(ss), dtype, g)
    _check(lambda x, s: torch.slice_scatter(x, s, dim, start, end, step), make)


@pytest.mark.parametrize("dim,index", [(0, 2), (1, -1), (-1, 0), (2, 1)])
def test_select_scatter_matches_pytorch(dim, index):
    xs = (3, 4, 5)
    ss = xs[:dim % 3] + xs[dim % 3 + 1:]

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(xs, generator=g), torch.randn(ss, generator=g)
    _check(lambda x, s: x.select_scatter(s, dim, index), make)


@pytest.mark.parametrize("offset,dim1,dim2", [(0, 0, 1), (1, 1, 2), (-2, 1, 2), (2, 2, 0), (-1, -1, -2)])
def test_diagonal_scatter_matches_pytorch(offset, dim1, dim2):
    xs = (3, 4, 5)
    ss = torch.zeros(xs).diagonal(offset, dim1, dim2).shape

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(xs, generator=g), torch.randn(ss, generator=g)
    _check(lambda x, s: torch.diagonal_scatter(x, s, offset, dim1, dim2), make)


def test_select_and_slice_scatter_dynamic_batch():
    def fn(x, s):
        y = torch.slice_scatter(x, s, 1, 1, 5, 2)
        return y.select_scatter(s[:, 0], 1, -1)

    assert_converts_dynamic(fn, [torch.randn(2, 6), torch.randn(2, 2)], [(1, 6), (1, 2)], [(5, 6), (5, 2)])


def test_slice_scatter_refuses_traced_bounds():
    x = torch.randn(2, 6)
    assert_refuses(lambda x: torch.slice_scatter(x, x[:, :2], 1, 0, x.shape[1] // 3),
                   [x], "slice_scatter", min_shapes=[(2, 3)], max_shapes=[(2, 9)])


# ---- masked_scatter -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mask_shape", [(3, 5), (5,), (3, 1)])
@pytest.mark.parametrize("traced_mask", [False, True])
def test_masked_scatter_matches_pytorch(mask_shape, traced_mask):
    g = torch.Generator().manual_seed(7)
    const = torch.rand(mask_shape, generator=g) > 0.4

    def make(seed):
        gg = torch.Generator().manual_seed(seed)
        m = torch.rand(mask_shape, generator=gg) > 0.5 if seed else const
        return torch.randn(3, 5, generator=gg), torch.randn(4, 5, generator=gg), m

    if traced_mask:
        _check(lambda x, s, m: x.masked_scatter(m, s), make)
    else:
        _check(lambda x, s, m: x.masked_scatter(const, s * 2), make)


# ---- index_put(accumulate=True) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("xs,ishape,vshape", [((6,), (9,), (9,)), ((5, 3), (4,), (4, 3)), ((5, 3), (2, 3), (3,)),
                                              ((5, 3), (4,), ())])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_index_put_accumulate_matches_pytorch(xs, ishape, vshape, dtype):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return (_values(xs, dtype, g), torch.randint(-xs[0], xs[0], ishape, generator=g), _values(vshape, dtype, g))

    def fn(x, i, v):
        y = x * 1
        y.index_put_((i,), v, accumulate=True)
        return y, torch.index_put(x, (i,), v, accumulate=True)
    _check(fn, make)


def test_index_put_without_accumulate_still_converts():
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(5, 3, generator=g), torch.randn(3, generator=g)
    _check(lambda x, v: x.index_put((torch.tensor([1, 3]),), v), make)


def test_index_put_accumulate_with_two_constant_index_tensors_goes_to_index_py():
    x = torch.randn(4, 4)
    assert_converts(lambda x: x.index_put((torch.tensor([0, 1, 0]), torch.tensor([1, 2, 1])), x[0, :3],
                                          accumulate=True), [x])


# ---- Tensor.copy_ into a traced tensor or a slice of one (torchvision's batch_images) ----------------------------
def test_copy_into_slices_of_a_traced_tensor_writes_the_base():
    def batch_images(a, b):
        batched = a.new_full((2, 3, 6, 7), 0)
        for i, img in enumerate((a, b)):
            batched[i, : img.shape[0], : img.shape[1], : img.shape[2]].copy_(img)
        return batched

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(3, 5, 7, generator=g), torch.randn(3, 6, 4, generator=g)
    _check(batch_images, make)


def test_inplace_op_on_a_view_writes_the_base():
    def fn(x):
        y = x * 1
        y[:, 1:3].relu_()
        y.t()[0].mul_(2)  # a strided view (a column)
        return y

    _check(fn, lambda seed: (torch.randn(4, 5, generator=torch.Generator().manual_seed(seed)),))


def test_copy_into_a_traced_tensor():
    def fn(x, s):
        y = x + 1
        y.copy_(s)
        return y, x

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(2, 3, generator=g), torch.randn(3, generator=g)
    _check(fn, make)


def test_view_written_with_dynamic_shapes_still_refuses_reading_the_base():
    def fn(x):
        y = x * 1
        y[:, 1:3].relu_()
        return y

    assert_refuses(fn, [torch.randn(2, 5)], "changed in place through another view", min_shapes=[(1, 5)],
                   max_shapes=[(4, 5)])
