"""Indexing and ordering converters vs PyTorch at inputs other than the sample: sort (stable and not), argsort,
topk on ties, NaN and signed zeros; getitem of constants/buffers by dynamic sizes."""

import pytest
import torch

from torch2trt import structure, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference


def _run(fn, sample, inputs, **kw):
    """Convert `fn` at `sample`; the flat (network, PyTorch) outputs at each of `inputs`."""
    m = torch2trt(FunctionModule(fn).eval(), [sample], **kw)
    for x in inputs:
        got, _ = structure.flatten(run_reference(m, [x]))
        ref, _ = structure.flatten(fn(x))
        assert len(got) == len(ref)
        yield x, got, ref


def _exact(g, r, signed_zeros=True):
    err = compare(g, r)
    assert err.same_layout, err
    if r.is_floating_point():  # exact, NaN where PyTorch has NaN, and the sign of zeros
        assert torch.equal(torch.isnan(g), torch.isnan(r))
        ok = ~torch.isnan(r)
        assert torch.equal(g[ok], r[ok])
        assert not signed_zeros or torch.equal(torch.signbit(g[ok]), torch.signbit(r[ok]))
    else:
        assert torch.equal(g, r), (g, r)


def _ties(shape, seed, dtype=torch.float32, nan=True):
    """Values with many ties (a few distinct values), NaN and both signed zeros for floats."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, shape, generator=g).to(dtype)
    if dtype.is_floating_point:
        x = torch.where(torch.rand(shape, generator=g) < 0.15, torch.tensor(-0.0, dtype=dtype), x)
        if nan:
            x = torch.where(torch.rand(shape, generator=g) < 0.15, torch.tensor(float("nan"), dtype=dtype), x)
    return x


STABLE_SORTS = {
    "sort_stable": lambda x: tuple(torch.sort(x, stable=True)),
    "sort_stable_dim_descending": lambda x: tuple(torch.sort(x, dim=1, descending=True, stable=True)),
    "sort_stable_negative_dim": lambda x: tuple(torch.sort(x, stable=True, dim=-3)),
    "tensor_sort_stable": lambda x: tuple(x.sort(stable=True, dim=0, descending=True)),
    "argsort_stable": lambda x: torch.argsort(x, dim=1, stable=True),
    "tensor_argsort_stable_descending": lambda x: x.argsort(stable=True, dim=-1, descending=True),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64, torch.float16])
@pytest.mark.parametrize("name", list(STABLE_SORTS))
def test_stable_sort_matches_pytorch_exactly_on_ties(name, dtype):
    fn = STABLE_SORTS[name]
    inputs = [_ties((3, 9, 6), s, dtype) for s in range(3)]
    for _, got, ref in _run(fn, _ties((3, 9, 6), 10, dtype), inputs):
        for g, r in zip(got, ref):
            _exact(g, r)


def _valid_sort(x, values, indices, dim, descending):
    """values sorted as PyTorch's (exactly; -0.0 and 0.0 are ties), indices a permutation along dim with
    x[indices] == values (bit for bit)."""
    ref = torch.sort(x, dim=dim, descending=descending).values
    _exact(values, ref, signed_zeros=False)
    assert indices.dtype == torch.int64
    assert torch.equal(indices.sort(dim).values, torch.arange(x.shape[dim]).reshape(
        [-1 if i == dim % x.dim() else 1 for i in range(x.dim())]).expand_as(indices))
    _exact(x.gather(dim, indices), values)


UNSTABLE_SORTS = {  # (fn, dim, descending)
    "sort": (lambda x: tuple(x.sort()), -1, False),
    "sort_positional_descending": (lambda x: tuple(torch.sort(x, 1, True)), 1, True),
    "sort_stable_false": (lambda x: tuple(torch.sort(x, dim=0, stable=False)), 0, False),
    "argsort": (lambda x: (torch.sort(x, 1).values, torch.argsort(x, 1)), 1, False),
    "argsort_descending": (lambda x: (torch.sort(x, -1, True).values, x.argsort(descending=True)), -1, True),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
@pytest.mark.parametrize("name", list(UNSTABLE_SORTS))
def test_unstable_sort_on_ties_is_a_valid_sort(name, dtype):
    """PyTorch promises no order among ties without stable=True; the network must still sort exactly."""
    fn, dim, descending = UNSTABLE_SORTS[name]
    inputs = [_ties((3, 9, 6), s, dtype) for s in range(3)]
    # verify=False: on tied data the index order differs from PyTorch's (unspecified) one, which the default
    # verification cannot tell from a wrong result; this test checks validity itself
    for x, (values, indices), _ in _run(fn, _ties((3, 9, 6), 10, dtype), inputs, verify=False):
        _valid_sort(x, values, indices, dim, descending)


@pytest.mark.parametrize("largest", [True, False])
def test_topk_on_ties_is_a_valid_top_k(largest):
    fn = lambda x: tuple(torch.topk(x, 4, dim=1, largest=largest))  # noqa: E731
    for x, (values, indices), _ in _run(fn, _ties((3, 9, 6), 10), [_ties((3, 9, 6), s) for s in range(3)]):
        ref = torch.sort(x, dim=1, descending=largest).values[:, :4]
        _exact(values, ref, signed_zeros=False)
        _exact(x.gather(1, indices), values)
        assert all(len(set(col.tolist())) == 4 for col in indices.transpose(1, 2).reshape(-1, 4))


def test_stable_sort_keeps_dynamic_batch_exact():
    fn = lambda x: (*torch.sort(x, dim=-1, stable=True, descending=True), torch.argsort(x, stable=True, dim=1))  # noqa
    kw = dict(min_shapes=[(1, 7, 5)], max_shapes=[(4, 7, 5)])
    for _, got, ref in _run(fn, _ties((2, 7, 5), 10), [_ties(s, 1) for s in [(1, 7, 5), (4, 7, 5), (3, 7, 5)]], **kw):
        for g, r in zip(got, ref):
            _exact(g, r)


def test_sort_beyond_topk_limit_is_refused():
    from torch2trt.testing import assert_refuses

    assert_refuses(lambda x: x.sort(stable=True), [torch.randn(2, 3841)], r"3841 elements along axis 1; "
                   r"TensorRT's TopK takes at most 3840")


# ---- constants and buffers indexed by dynamic sizes -------------------------------------------------------------
class PositionIds(torch.nn.Module):
    """What every Hugging Face text model does: a registered arange buffer sliced to the sequence length."""

    def __init__(self):
        super().__init__()
        self.register_buffer("position_ids", torch.arange(16).expand(1, -1) * 10)
        self.register_buffer("table", torch.randn(3, 16, 4))

    def forward(self, x):
        n = x.size(1)
        return (x + self.position_ids[:, :n], self.table[:, 2:n, ::2], self.table[1:, n - 3:n].sum(1)[:1] + x[:, :1],
                self.table[:, n // 2])


def test_buffer_sliced_by_a_dynamic_length_is_exact():
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(PositionIds(), [torch.randn(2, 9)], [(1, 4)], [(4, 16)], [[(3, 16)], [(1, 5)]])


# ---- assignment with dynamic dims ----------------------------------------------------------------------------------
def _assign(index, value):
    def fn(x):
        y = x * 1
        v = value(x) if callable(value) else value
        y[index(x) if callable(index) else index] = v
        return y

    return fn


SETITEM_DYNAMIC = {
    "int_scalar": _assign((slice(None), 0), 0.0),
    "negative_int": _assign((slice(None), -1), 5.0),
    "slice_step": _assign((slice(None), slice(1, None, 2)), -3.0),
    "slice_tensor_broadcast": _assign((slice(None), slice(None, 2)), lambda x: x[:, -1:] * 2),
    "dynamic_bound": _assign(lambda x: (slice(None), slice(x.size(1) - 2, None)), lambda x: x[:, :2] + 1),
    "ellipsis_last_axis": _assign((Ellipsis, 1), lambda x: x[..., 0]),
    "every_element": _assign(Ellipsis, 1.5),
    "none_and_step": _assign((slice(None), None, slice(None, None, 3), 2), lambda x: x[:, None, ::3, 0]),
    "batch_row": _assign(0, lambda x: x[-1] * 3),
}


@pytest.mark.parametrize("name", list(SETITEM_DYNAMIC))
def test_setitem_with_dynamic_dims_matches_pytorch(name):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(SETITEM_DYNAMIC[name], [torch.randn(2, 5, 3)], [(1, 2, 3)], [(4, 7, 3)],
                            [[(4, 2, 3)], [(1, 7, 3)]])


def test_sort_along_a_dynamic_axis_matches_pytorch():
    """TopK's k is the axis size read from the network."""
    fn = lambda x: (*torch.sort(x, dim=1, stable=True), *x.sort(dim=1, descending=True, stable=True),  # noqa: E731
                    torch.argsort(x, dim=1, stable=True), *torch.sort(x, 1))
    kw = dict(min_shapes=[(1, 2, 5)], max_shapes=[(4, 9, 5)])
    shapes = [(1, 2, 5), (4, 9, 5), (3, 6, 5), (2, 7, 5)]
    for x, got, ref in _run(fn, _ties((2, 7, 5), 10), [_ties(s, 1) for s in shapes], **kw):
        for g, r in zip(got[:5], ref[:5]):
            _exact(g, r)
        _valid_sort(x, got[5], got[6], 1, False)  # not stable: any order among ties


# ---- moved from test_shape.py: getitem / setitem / gather / scatter / sort / ... (index.py), each spelling named ----
import torch.nn.functional as F  # noqa: E402

from torch2trt.testing import assert_converts, assert_converts_dynamic, assert_refuses  # noqa: E402

IX = torch.randn(2, 5, 4, 3)
IX_IDX = torch.tensor([3, 0, 1])
IX_IDX1 = torch.tensor([1, 0, 1])
IX_EMB = torch.nn.Embedding(10, 4)
IX_SCATTER_IDX = torch.stack([torch.randperm(5)[:4] for _ in range(24)]).reshape(2, 4, 3, 4).permute(0, 3, 1, 2)


def _ix_setitem(a):
    a = a.clone()
    a[:, 1] = 0
    a[0, :, ::2, 1:3] = a[1, :, :2, :2] * 2
    a[..., -1] = 3.0
    return a


def _ix_setitem_mask(a):
    a = a + 0
    a[torch.tensor([True, False]), 0] = 5.0
    return a


def _ix_view_then_setitem(a):
    y = a[0]
    y[1] = 5.0  # changes a too: the tracer writes y back into a (static shapes), so a + 1 sees the 5
    return a + 1


IX_CASES = {
    "getitem_basic": lambda a: {"a[0]": a[0], "a[:, 1]": a[:, 1], "a[:, -1]": a[:, -1], "a[..., 0]": a[..., 0],
                                "a[:, 1:4:2]": a[:, 1:4:2], "a[:, ::2, None]": a[:, ::2, None], "a[None]": a[None],
                                "a[..., None, :]": a[..., None, :], "a[1, 2:, :, -2]": a[1, 2:, :, -2],
                                "a[:, :, :-1]": a[:, :, :-1]},
    "getitem_tensor": lambda a: {"a[:, IDX]": a[:, IX_IDX], "a[..., tensor([0, 2])]": a[..., torch.tensor([0, 2])],
                                 "a[IDX.clamp(max=1)]": a[IX_IDX.clamp(max=1)],
                                 "a[:, bool mask]": a[:, torch.tensor([True, False, True, False, True])]},
    "gather": lambda a: {"torch.gather": torch.gather(a, 1, torch.zeros(2, 2, 4, 3, dtype=torch.long)),
                         "index_select": a.index_select(1, IX_IDX),
                         "take_along_dim": torch.take_along_dim(a, torch.ones(2, 1, 4, 3, dtype=torch.long), 1)},
    "traced_index": lambda a: a.index_select(1, (a[0, :2, 0, 0] > 10).long()),
    "embedding": lambda a: IX_EMB(torch.tensor([[1, 2], [3, 9]])) + a[0, 0, 0, 0],
    "setitem": _ix_setitem,
    "setitem_bool_mask": _ix_setitem_mask,
    "index_put": lambda a: a.index_put((torch.tensor([0, 1]), torch.tensor([2, 3])), torch.tensor(7.0)),
    "topk": lambda a: {"Tensor.topk(3)": a.topk(3), "torch.topk(2, dim=1, largest=False)": torch.topk(a, 2, dim=1,
                                                                                                    largest=False)},
    "sort": lambda a: {"Tensor.sort()": a.sort(), "torch.sort(1, descending=True)": torch.sort(a, 1, descending=True)},
    "one_hot": lambda a: F.one_hot((a[0, 0] > 0).long() + (a[0, 1] > 0).long(), 4),
    "pixel_shuffle": lambda a: {"pixel_shuffle": F.pixel_shuffle(a[:, :4], 2),
                                "pixel_unshuffle": F.pixel_unshuffle(a[..., :2], 2)},
    "scatter": lambda a: {"torch.scatter(src)": torch.scatter(a, 1, IX_SCATTER_IDX, a[:, :4] * 2),
                          "Tensor.scatter(value)": a.scatter(1, IX_SCATTER_IDX, 1.5),
                          "Tensor.scatter_(-3)": a.clone().scatter_(-3, IX_SCATTER_IDX, 0.0)},
    "repeat_interleave": lambda a: {"Tensor.repeat_interleave(2, 1)": a.repeat_interleave(2, 1),
                                    "1-d repeat_interleave(3)": a[0, 0, 0].repeat_interleave(3),
                                    "repeats tensor": torch.repeat_interleave(a, torch.tensor([1, 2, 0, 1]), dim=2)},
}


@pytest.mark.parametrize("name", list(IX_CASES))
def test_index_op_matches_pytorch(name):
    assert_converts(IX_CASES[name], [IX])


@pytest.mark.parametrize("fn, match", [
    (lambda a: a[a > 0], r"mask computed in the model"),
    (lambda a: a[:, IX_IDX][:, :, IX_IDX], None),
    (_ix_view_then_setitem, None),
    (lambda a: a.scatter(1, torch.zeros(2, 2, 4, 3, dtype=torch.long), 1.0), r"duplicate indices"),
])
def test_index_refusals_say_why(fn, match):
    if match is None:  # chained single tensor indices are fine; so is writing through a view (static shapes)
        assert_converts(fn, [IX])
    else:
        assert_refuses(fn, [IX], match)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float16, torch.bfloat16])
def test_getitem_keeps_every_dtype(dtype):
    x = (IX * 10).to(dtype) if dtype != torch.bool else IX > 0
    assert_converts(IX_CASES["getitem_basic"], [x])


# the same with a dynamic batch (1..4) and a dynamic axis 1 (2..7)
IX_DYNAMIC_CASES = {
    "getitem_basic": lambda a: {"a[0]": a[0], "a[:, 1]": a[:, 1], "a[:, -1]": a[:, -1], "a[..., 0]": a[..., 0],
                                "a[:, 1:4:2]": a[:, 1:4:2], "a[:, ::2, None]": a[:, ::2, None], "a[None]": a[None],
                                "a[..., None, :]": a[..., None, :], "a[1:, 2:, :, -2]": a[1:, 2:, :, -2],
                                "a[:, :-1]": a[:, :-1], "a[:, -3:]": a[:, -3:],
                                "a[:, 1:a.size(1) - 1]": a[:, 1:a.size(1) - 1], "a[:, :a.size(0)]": a[:, :a.size(0)],
                                "a[-1]": a[-1], "a[:, a.size(1) - 2]": a[:, a.size(1) - 2],
                                "a[:, -a.size(0):]": a[:, -a.size(0):], "a[:, 10:]": a[:, 10:]},
    "getitem_tensor": lambda a: {"a[:, IDX1]": a[:, IX_IDX1], "a[..., tensor([0, 2])]": a[..., torch.tensor([0, 2])],
                                 "a[IDX1.clamp(max=0)]": a[IX_IDX1.clamp(max=0)],
                                 "a[:, :, bool mask]": a[:, :, torch.tensor([True, False, True, False])],
                                 "a[:, tensor(1)]": a[:, torch.tensor(1)], "a[:, None, IDX1]": a[:, None, IX_IDX1],
                                 "a[:, 1:, 2-d index]": a[:, 1:, torch.tensor([[0, 1], [2, 3]])]},
}


@pytest.mark.parametrize("name", list(IX_DYNAMIC_CASES))
def test_getitem_with_dynamic_batch_and_inner_axis_matches_pytorch(name):
    assert_converts_dynamic(IX_DYNAMIC_CASES[name], [IX], [(1, 2, 4, 3)], [(4, 7, 4, 3)],
                            [[(2, 6, 4, 3)], [(4, 2, 4, 3)]])


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool])
def test_dynamic_getitem_keeps_integer_and_bool(dtype):
    x = (IX * 10).to(dtype) if dtype != torch.bool else IX > 0
    assert_converts_dynamic(IX_DYNAMIC_CASES["getitem_basic"], [x], [(1, 2, 4, 3)], [(4, 7, 4, 3)])


def test_getitem_with_a_dynamic_step_says_so():
    assert_refuses(lambda a: a[:, ::a.size(0)], [IX], r"slice step DynDim\(2\) \(only constant positive steps\)",
                   min_shapes=[(1, 2, 4, 3)], max_shapes=[(4, 7, 4, 3)])


@pytest.mark.parametrize("fn", [
    lambda a: {"pixel_shuffle": F.pixel_shuffle(a[:, :4], 2), "pixel_unshuffle": F.pixel_unshuffle(a[:, :, :, :2], 2),
               "torch.pixel_shuffle": torch.pixel_shuffle(a[:, :4], 2)},
    lambda a: {"Tensor.repeat_interleave(2, 1)": a.repeat_interleave(2, 1),
               "torch.repeat_interleave(3, dim=0)": torch.repeat_interleave(a, 3, dim=0),
               "repeat_interleave(2, -1)": a.repeat_interleave(2, -1),
               "repeats tensor": torch.repeat_interleave(a, torch.tensor([1, 2, 0, 1]), dim=2)},
], ids=["pixel_shuffle", "repeat_interleave"])
def test_pixel_shuffle_and_repeat_interleave_with_dynamic_dims(fn):
    x = torch.randn(2, 5, 4, 6)  # axis 1 (channels) and axis 3 (width) dynamic
    assert_converts_dynamic(fn, [x], [(1, 4, 4, 2)], [(3, 7, 4, 8)], [[(3, 4, 4, 8)]])


# ---- advanced indexing with several index tensors (reading, __setitem__, index_put) -------------------------------
# PyTorch's rule: ints are applied first; index tensors broadcast to B; where they are adjacent B takes their place,
# where a slice or None separates them B comes first.
_I = torch.tensor([[0, -1], [2, 1]])
_J = torch.tensor([1, -2])

GETITEM_SEVERAL = {
    "adjacent_front": lambda x: x[_I, _J],
    "adjacent_middle": lambda x: x[:, _I, _J],
    "slice_between": lambda x: x[_I, :, _J],
    "slice_between_later": lambda x: x[:, _I, :, _J],
    "int_between_stays_adjacent": lambda x: x[:, _I, 0, _J],
    "none_between": lambda x: x[:, _I, None, _J],
    "int_first": lambda x: x[1, :, _J, _J],
    "three_tensors": lambda x: x[_I, _J, torch.tensor([0]), :],
    "stepped_slices": lambda x: x[1:, _J, ::2, _J],
    "ellipsis": lambda x: x[..., _J, _J],
    "constant_2d_mask": lambda x: x[:, torch.tensor([[True, False, True, False, True]] * 4)],
}


@pytest.mark.parametrize("name", list(GETITEM_SEVERAL))
def test_getitem_several_constant_tensors_matches_pytorch(name):
    from torch2trt.testing import assert_converts

    assert_converts(GETITEM_SEVERAL[name], [torch.randn(3, 4, 5, 6)])


def _indices(shapes, seed=0):
    """x of shapes[0]; i, j: index tensors (with negative entries) for axes 1 and 3, of shapes[1] and shapes[2]."""
    g = torch.Generator().manual_seed(seed + sum(map(sum, shapes)))
    x = torch.randn(shapes[0], generator=g)
    return [x, torch.randint(-x.shape[1], x.shape[1], shapes[1], generator=g),
            torch.randint(-x.shape[3], x.shape[3], shapes[2], generator=g)]


GETITEM_TRACED = {
    "adjacent": lambda x, i, j: x.transpose(2, 3)[:, i, j],
    "slice_between": lambda x, i, j: x[:, i, :, j],
    "none_between_after_int": lambda x, i, j: x[0, i, None, :, j],
    "broadcast": lambda x, i, j: x[:, i[:, None], 1:, j],
}


@pytest.mark.parametrize("name", list(GETITEM_TRACED))
def test_getitem_several_traced_tensors_with_dynamic_shapes_matches_pytorch(name):
    """Index tensors computed in the model / given as inputs, dynamic data and index lengths."""
    from torch2trt.testing import assert_converts, assert_converts_dynamic

    fn, sample = GETITEM_TRACED[name], _indices([(2, 5, 4, 5), (3,), (3,)])
    assert_converts(fn, sample)
    assert_converts_dynamic(fn, sample, [(1, 5, 4, 5), (1,), (1,)], [(4, 5, 4, 5), (7,), (7,)],
                            make_inputs=_indices, interior=[(3, 5, 4, 5), (4,), (4,)])


def test_getitem_hf_padding_mask_pattern_with_dynamic_batch_and_sequence():
    """transformers' masking_utils: padding_mask[batch_idx, kv_idx] with aranges of the dynamic sizes."""
    from torch2trt.testing import assert_converts_dynamic

    def fn(m):
        return m[torch.arange(m.shape[0])[:, None, None], torch.arange(m.shape[1])[None, None, :]]

    assert_converts_dynamic(fn, [torch.rand(2, 5) > 0.5], [(1, 1)], [(4, 9)], [[(3, 2)], [(1, 9)]])


def _assign_several(index, value):
    def fn(x, i, j):
        x = x.clone()
        x[index(i, j)] = value(x, i, j) if callable(value) else value
        return x
    return fn


def _unique_indices(shapes, seed=0):
    """As _indices, without repeated positions (PyTorch leaves the winner among duplicates unspecified)."""
    g = torch.Generator().manual_seed(seed + sum(map(sum, shapes)))
    x = torch.randn(shapes[0], generator=g)
    return [x, torch.randperm(x.shape[1], generator=g)[:shapes[1][0]],
            torch.randperm(x.shape[3], generator=g)[:shapes[2][0]] - x.shape[3]]


SETITEM_SEVERAL = {
    "adjacent_scalar": _assign_several(lambda i, j: (slice(None), i, 0, j), 2.5),
    "adjacent_tensor": _assign_several(lambda i, j: (slice(None), i, 1, j), lambda x, i, j: x[:, i, 0, j] * 2),
    "slice_between_tensor_first": _assign_several(
        lambda i, j: (slice(None), i, slice(None), j),
        lambda x, i, j: x[:, i, 0, j].t()[:, :, None] + torch.arange(x.shape[2], dtype=x.dtype)),
    "broadcast_value": _assign_several(lambda i, j: (Ellipsis, i, slice(None), j), lambda x, i, j: x[0, :1, 0, :1] * 1),
    "index_put": lambda x, i, j: torch.index_put(x[0].transpose(1, 2), (i, j), torch.tensor(7.0)),
    "index_put_values": lambda x, i, j: x[-1].transpose(1, 2).clone().index_put_((i, j), x[0, i, 1, j, None] * 3),
}


@pytest.mark.parametrize("name", list(SETITEM_SEVERAL))
def test_setitem_several_traced_tensors_matches_pytorch(name):
    from torch2trt.testing import assert_converts, assert_converts_dynamic

    fn = SETITEM_SEVERAL[name]
    sample = _unique_indices([(2, 5, 4, 6), (3,), (3,)])
    assert_converts(fn, sample)
    assert_converts_dynamic(fn, sample, [(1, 5, 4, 6), (1,), (1,)], [(4, 5, 4, 6), (5,), (5,)],
                            make_inputs=_unique_indices, interior=[(3, 5, 4, 6), (4,), (4,)])


def test_setitem_several_constant_tensors_with_dynamic_batch_matches_pytorch():
    from torch2trt.testing import assert_converts_dynamic

    def fn(x):
        x = x.clone()
        x[:, _J, torch.tensor([[0], [3]])] = -1.0
        return x

    assert_converts_dynamic(fn, [torch.randn(2, 4, 5)], [(1, 4, 5)], [(5, 4, 5)])


def test_setitem_duplicate_constant_positions_are_refused():
    from torch2trt.testing import assert_refuses

    def fn(x):
        x = x.clone()
        x[:, torch.tensor([0, 0]), torch.tensor([1, 1])] = x[:, :2, 0]
        return x

    assert_refuses(fn, [torch.randn(2, 4, 5)], "duplicate index positions", min_shapes=[(1, 4, 5)],
                   max_shapes=[(3, 4, 5)])


ACCUMULATE = {
    "repeated_positions": lambda x: torch.index_put(x, (torch.tensor([0, 2, 0, 0]), torch.tensor([1, 3, 1, -1])),
                                                    x[1, :4] * 3, accumulate=True),
    "broadcast_scalar": lambda x: x.clone().index_put_((torch.tensor([[1], [1]]), torch.tensor([0, 0, 2])),
                                                       torch.tensor(2.5), accumulate=True),
    "rows": lambda x: torch.index_put(x, (torch.tensor([2, 0, 2]),), x[:3] * 0.5, accumulate=True),
    "integers": lambda x: torch.index_put(x.long(), (torch.tensor([1, 1, 1]), torch.tensor([0, 0, 4])),
                                          torch.tensor([5, -3, 7]), accumulate=True),
}


@pytest.mark.parametrize("name", list(ACCUMULATE))
def test_index_put_accumulate_with_repeated_positions_matches_pytorch(name):
    from torch2trt.testing import assert_converts

    assert_converts(ACCUMULATE[name], [torch.randn(3, 5) * 4])


def test_index_put_accumulate_with_computed_indices():
    # one computed integer index: scatter.py's comparison form (duplicates add up); several: refused
    from torch2trt.testing import assert_refuses

    assert_converts(lambda x, i: torch.index_put(x, (i,), x[:2], accumulate=True),
                    [torch.randn(3, 5), torch.tensor([0, 0])])
    assert_refuses(lambda x, i: torch.index_put(x, (i, i), x[0, :2], accumulate=True),
                   [torch.randn(3, 5), torch.tensor([0, 0])], r"accumulate=True\) with indices computed in the model")


@pytest.mark.parametrize("fn", [lambda x: x.topk(3), lambda x: x.sort(descending=True), lambda x: x.argsort(),
                                lambda x: x.sort(stable=True)], ids=["topk", "sort", "argsort", "stable_sort"])
def test_sort_and_topk_of_a_1d_tensor(fn):
    """TensorRT's TopK needs 2 dimensions or more: a 1-d input is sorted as one row."""
    assert_converts(fn, [torch.randn(16)])
