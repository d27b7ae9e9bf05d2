"""F.embedding_bag / nn.EmbeddingBag vs PyTorch: modes, 2-d bags, offsets (traced and constant, empty bags,
include_last_offset), per_sample_weights, padding_idx, at indices other than the sample's."""

import pytest
import torch
import torch.nn.functional as F

from torch2trt import structure, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import assert_refuses

W = torch.randn(10, 4)


def _check(fn, make, **kw):
    m = torch2trt(FunctionModule(fn).eval(), list(make(0)), **kw)
    for seed in (1, 2, 3):
        inputs = make(seed)
        got, _ = structure.flatten(run_reference(m, list(inputs)))
        for g, r in zip(got, [fn(*inputs)], strict=True):
            err = compare(g, r)
            assert err.same_layout and err.rel <= 1e-5, (seed, err)


def _offsets(seed, n=9, bags=4):
    g = torch.Generator().manual_seed(seed)
    cuts = torch.sort(torch.randint(0, n + 1, (bags - 1,), generator=g)).values  # empty bags happen
    return torch.cat([torch.zeros(1, dtype=torch.long), cuts])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_bag_2d(mode, padding_idx):
    def make(seed):
        return (torch.randint(0, 10, (5, 3), generator=torch.Generator().manual_seed(seed)),)
    _check(lambda i: F.embedding_bag(i, W, mode=mode, padding_idx=padding_idx), make)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("include_last", [False, True])
def test_embedding_bag_offsets_traced(mode, include_last):
    def make(seed):
        g = torch.Generator().manual_seed(seed)
        o = _offsets(seed)
        if include_last:
            o = torch.cat([o, torch.tensor([9])])
        return torch.randint(0, 10, (9,), generator=g), o
    # verify=False: random offsets drawn by the default verification are not valid (unsorted) bag starts
    _check(lambda i, o: F.embedding_bag(i, W, o, mode=mode, include_last_offset=include_last, padding_idx=2), make,
           verify=False)


def test_embedding_bag_per_sample_weights_and_module():
    bag = torch.nn.EmbeddingBag(10, 4, mode="sum").eval()

    def make(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 10, (9,), generator=g), torch.randn(9, generator=g)
    offsets = torch.tensor([0, 4, 4, 7])
    _check(lambda i, w: bag(i, offsets, per_sample_weights=w), make)


def test_embedding_bag_max_norm_is_refused():
    assert_refuses(lambda i: F.embedding_bag(i, W, max_norm=1.0), [torch.randint(0, 10, (2, 3))], "max_norm")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_with_dynamic_bags_and_lengths(mode):
    from torch2trt.testing import assert_converts_dynamic

    g = torch.Generator().manual_seed(0)
    weights = torch.randn(2, 3, generator=g)

    def fn(i, w):
        return F.embedding_bag(i, W, mode=mode, padding_idx=3), F.embedding_bag(i, W, mode="sum",
                                                                                per_sample_weights=w)

    def make_inputs(shapes):
        return [torch.randint(0, 10, shapes[0], generator=g), torch.randn(shapes[1], generator=g)]

    assert_converts_dynamic(fn, [torch.randint(0, 10, (2, 3), generator=g), weights], [(1, 1), (1, 1)],
                            [(6, 5), (6, 5)], [[(4, 2), (4, 2)], [(6, 5), (6, 5)], [(1, 1), (1, 1)]],
                            make_inputs=make_inputs)


def test_embedding_bag_1d_with_a_dynamic_number_of_indices_is_refused():
    assert_refuses(lambda i, o: F.embedding_bag(i, W, o), [torch.randint(0, 10, (9,)), torch.tensor([0, 4])],
                   "embedding_bag of 1-d indices and offsets with a dynamic number of indices",
                   min_shapes=[(1,), (2,)], max_shapes=[(20,), (2,)])
