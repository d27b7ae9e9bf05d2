"""Shape and indexing converters vs PyTorch."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.testing import assert_converts, assert_refuses

X = torch.randn(2, 5, 4, 3)
IDX = torch.tensor([3, 0, 1])
EMB = nn.Embedding(10, 4)
SCATTER_IDX = torch.stack([torch.randperm(5)[:4] for _ in range(24)]).reshape(2, 4, 3, 4).permute(0, 3, 1, 2)

CASES = {
    "view_reshape": lambda a: (a.view(2, -1), a.reshape(10, 12), torch.reshape(a, (2, 60)), a.view(a.size(0), -1),
                               a.view_as(a), a.reshape_as(torch.zeros(10, 12))),
    "flatten": lambda a: (a.flatten(), a.flatten(1), torch.flatten(a, 1, 2), a.flatten(-2)),
    "unflatten": lambda a: a.unflatten(2, (2, 2)),
    "squeeze_unsqueeze": lambda a: (a[:, :1].squeeze(), a[..., :1].squeeze(-1), a.squeeze(0),
                                    a[:, :1, :, :1].squeeze((1, 3)), a.unsqueeze(0), a.unsqueeze(-1),
                                    torch.unsqueeze(a, 2)),
    "permute": lambda a: (a.permute(0, 2, 1, 3), a.permute((3, 2, 1, 0)), a.transpose(1, 2), a.transpose(-1, 0),
                          a[..., 0].mT, a[0, :, :, 0].t(), a[0, :, :, 0].T, a.movedim(1, -1), torch.swapaxes(a, 0, 2)),
    "expand": lambda a: (a[..., :1].expand(2, 5, 4, 6), a[..., :1].expand(-1, -1, -1, 3), a[:, :1].expand_as(a),
                         torch.broadcast_to(a, (4, 2, 5, 4, 3))),
    "repeat_tile": lambda a: (a.repeat(1, 2, 1, 3), a.repeat(2, 1, 1, 1, 2), torch.tile(a, (2,))),
    "cat_stack": lambda a: (torch.stack([a, a + 1], 1), torch.stack((a, a), -1), torch.cat([a, a * 2], -1),
                            torch.cat((a, torch.ones(2, 1, 4, 3)), -3), torch.cat([a, a.int()], 0)),
    "split_chunk": lambda a: (*a.split(2, 1), *torch.split(a, [1, 3], 2), *a.chunk(2, 2), *a.unbind(1),
                              a.narrow(2, 1, 2), a.narrow(1, -2, 2)),
    "flip_roll": lambda a: (a.flip(1), torch.flip(a, (0, 2)), a.roll(1, 2), torch.roll(a, (1, -1), (1, 2)), a.roll(3)),
    "noncontiguous": lambda a: a.transpose(1, 2).reshape(2, -1),
    "getitem_basic": lambda a: (a[0], a[:, 1], a[:, -1], a[..., 0], a[:, 1:4:2], a[:, ::2, None], a[None],
                                a[..., None, :], a[1, 2:, :, -2], a[:, :, :-1]),
    "getitem_tensor": lambda a: (a[:, IDX], a[..., torch.tensor([0, 2])], a[IDX.clamp(max=1)],
                                 a[:, torch.tensor([True, False, True, False, True])]),
    "gather": lambda a: (torch.gather(a, 1, torch.zeros(2, 2, 4, 3, dtype=torch.long)), a.index_select(1, IDX),
                         torch.take_along_dim(a, torch.ones(2, 1, 4, 3, dtype=torch.long), 1)),
    "traced_index": lambda a: a.index_select(1, (a[0, :2, 0, 0] > 10).long()),
    "embedding": lambda a: EMB(torch.tensor([[1, 2], [3, 9]])) + a[0, 0, 0, 0],
    "int_and_bool": lambda a: ((a > 0).view(2, -1), (a * 10).int().permute(1, 0, 2, 3)[:, 1]),
    "setitem": lambda a: _setitem(a),
    "setitem_bool_mask": lambda a: _setitem_mask(a),
    "index_put": lambda a: a.index_put((torch.tensor([0, 1]), torch.tensor([2, 3])), torch.tensor(7.0)),
    "topk": lambda a: (*a.topk(3), *torch.topk(a, 2, dim=1, largest=False)),
    "sort": lambda a: (*a.sort(), *torch.sort(a, 1, descending=True)),
    "one_hot": lambda a: F.one_hot((a[0, 0] > 0).long() + (a[0, 1] > 0).long(), 4),
    "pixel_shuffle": lambda a: (F.pixel_shuffle(a[:, :4], 2), F.pixel_unshuffle(a[..., :2], 2)),
    "scatter": lambda a: (torch.scatter(a, 1, SCATTER_IDX, a[:, :4] * 2), a.scatter(1, SCATTER_IDX, 1.5),
                          a.clone().scatter_(-3, SCATTER_IDX, 0.0)),
    "pad": lambda a: (F.pad(a, (1, 2)), F.pad(a, (1, 2, 0, 3), value=1.5), F.pad(a, (2, 1, 1, 2), mode="reflect"),
                      F.pad(a, (2, 1, 1, 2), mode="replicate"), F.pad(a, (2, 1, 1, 2), mode="circular"),
                      F.pad(a, (-1, 2, 1, -2))),
    "repeat_interleave": lambda a: (a.repeat_interleave(2, 1), a[0, 0, 0].repeat_interleave(3),
                                    torch.repeat_interleave(a, torch.tensor([1, 2, 0, 1]), dim=2)),
}


def _setitem(a):
    a = a.clone()
    a[:, 1] = 0
    a[0, :, ::2, 1:3] = a[1, :, :2, :2] * 2
    a[..., -1] = 3.0
    return a


def _setitem_mask(a):
    a = a + 0
    a[torch.tensor([True, False]), 0] = 5.0
    return a


@pytest.mark.parametrize("name", list(CASES))
def test_shape_op_matches_pytorch(name):
    assert_converts(CASES[name], [X])


def _view_then_setitem(a):
    y = a[0]
    y[1] = 5.0  # changes a too: using a afterwards must be refused, never silently stale
    return a + 1


@pytest.mark.parametrize("fn, match", [
    (lambda a: a[a > 0], r"mask computed in the model"),
    (lambda a: a[:, IDX][:, :, IDX], None),
    (lambda a: a.view(torch.int32), r"reinterpreting bits"),
    (_view_then_setitem, r"changed in place through another view by torch.Tensor.__setitem__"),
    (lambda a: a.scatter(1, torch.zeros(2, 2, 4, 3, dtype=torch.long), 1.0), r"duplicate indices"),
])
def test_refusals_say_why(fn, match):
    if match is None:  # chained single tensor indices are fine
        assert_converts(fn, [X])
    else:
        assert_refuses(fn, [X], match)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["view_reshape", "permute", "cat_stack", "split_chunk", "getitem_basic", "flip_roll",
                                  "repeat_tile", "pad"])
def test_shape_ops_keep_every_dtype(name, dtype):
    x = (X * 10).to(dtype) if dtype != torch.bool else X > 0
    if name == "pad" and dtype == torch.bool:
        pytest.skip("F.pad rejects bool in PyTorch")
    fn = CASES[name]
    if name == "cat_stack" and dtype == torch.bool:  # the float parts of the case do not apply to bool
        fn = lambda a: (torch.stack([a, a], 1), torch.cat([a, a], -1))  # noqa: E731
    assert_converts(fn, [x])


@pytest.mark.parametrize("fn, sample, lo, hi, inner", [
    # a dynamic axis that may be 1 at run time is repeated then, kept otherwise (the sample says nothing); expand
    # to (2, 3, ...) is valid only where those axes are 1 or the target
    (lambda a: a.expand(2, 3, -1, -1), (2, 3, 4, 5), (1, 1, 4, 5), (2, 3, 4, 5), [(1, 3, 4, 5), (2, 1, 4, 5)]),
    (lambda a: a.expand(2, 3, -1, -1), (1, 1, 4, 5), (1, 1, 4, 5), (2, 3, 4, 5), [(1, 3, 4, 5), (2, 1, 4, 5)]),
    (lambda a: a.expand(2, 3, -1, -1), (3, 4, 5), (1, 4, 5), (3, 4, 5), [(3, 4, 5)]),
    (lambda a: a.expand(2, -1, -1) + a[:, :1].expand_as(a), (1, 6, 5), (1, 1, 5), (1, 7, 5), None),
    (lambda a: torch.ones(1, 5).expand(a.size(0), -1) * a, (2, 5), (1, 5), (6, 5), None),
    (lambda a: a[:, :1].expand(-1, a.size(1)) + a, (2, 5), (1, 1), (4, 7), None),
])
def test_expand_with_dynamic_dims_is_exact(fn, sample, lo, hi, inner):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(fn, [torch.randn(sample)], [lo], [hi], [[s] for s in inner or []],
                            interior=inner[:1] if inner else None)


# ---- the families again with a dynamic batch (1..4) and a dynamic axis 1 (2..7) ------------------------------------
IDX1 = torch.tensor([1, 0, 1])
DYNAMIC_CASES = {
    "view_reshape": lambda a: (a.view(a.size(0), -1), a.reshape(a.size(0), a.size(1), -1), a.flatten(1), a.view_as(a),
                               a.reshape(-1, 4, 3)),
    "squeeze_unsqueeze": lambda a: (a[..., :1].squeeze(-1), a.unsqueeze(0), a.unsqueeze(-1), a[:, :, :1].squeeze(2)),
    "permute": lambda a: (a.permute(0, 2, 1, 3), a.transpose(1, 2), a.movedim(1, -1), a[..., 0].mT),
    "expand": lambda a: (a[..., :1].expand(-1, -1, -1, 6), a[:, :1].expand_as(a), a[:, :, :1].expand(a.shape)),
    "repeat_tile": lambda a: (a.repeat(1, 2, 1, 3), a.repeat(2, 1, 1, 1, 2), torch.tile(a, (2,)),
                              a.tile((2, 1, 1, 1, 1)), a[0].repeat(a.size(0), 1, 1)),
    "cat_stack": lambda a: (torch.stack([a, a + 1], 1), torch.stack((a, a), -1), torch.cat([a, a * 2], -1),
                            torch.cat([a, a[:, :2]], 1), torch.cat([a, a.int()], 0), torch.stack([a[:, 0], a[:, -1]])),
    "split_static_axes": lambda a: (*a.split(2, 2), *torch.split(a, [1, 3], 2), *a.chunk(2, 2), *a.unbind(3),
                                    *a.tensor_split(3, 2), *a.tensor_split([1, 3], -1), a.narrow(2, 1, 2),
                                    a.narrow(-1, -2, 2), *torch.vsplit(a.transpose(0, 2), 2)),
    "split_dynamic_axis": lambda a: (*a.chunk(2, 1), *a.tensor_split(3, 1), *a.tensor_split([1, -2, 9], 1),
                                     a.narrow(1, 1, a.size(1) - 1), a.narrow(1, -2, 1),
                                     *a.split([1, a.size(1) - 1], 1)),
    "flip_roll": lambda a: (a.flip(1), torch.flip(a, (0, 2)), a.roll(1, 1), torch.roll(a, (1, -1), (1, 2)), a.roll(3),
                            a.roll(-7, 0), a.roll((2, 2), (1, 1))),
    "getitem_basic": lambda a: (a[0], a[:, 1], a[:, -1], a[..., 0], a[:, 1:4:2], a[:, ::2, None], a[None],
                                a[..., None, :], a[1:, 2:, :, -2], a[:, :-1], a[:, -3:], a[:, 1:a.size(1) - 1],
                                a[:, :a.size(0)], a[-1], a[:, a.size(1) - 2], a[:, -a.size(0):], a[:, 10:]),
    "getitem_tensor": lambda a: (a[:, IDX1], a[..., torch.tensor([0, 2])], a[IDX1.clamp(max=0)],
                                 a[:, :, torch.tensor([True, False, True, False])], a[:, torch.tensor(1)],
                                 a[:, None, IDX1], a[:, 1:, torch.tensor([[0, 1], [2, 3]])]),
    "pad": lambda a: (F.pad(a, (1, 2)), F.pad(a, (1, 2, 0, 3), value=1.5), F.pad(a, (2, 1, 1, 2), mode="reflect"),
                      F.pad(a, (2, 1, 1, 2), mode="replicate"), F.pad(a, (2, 1, 1, 2), mode="circular"),
                      F.pad(a, (-1, 2, 1, -2)), F.pad(a, (0, 0, 0, 0, 1, 2)), F.pad(a, (0, 0, 0, 0, 2, 1), value=-1.0),
                      F.pad(a.transpose(1, 3), (1, 1, 0, 0), mode="reflect"),
                      F.pad(a.transpose(1, 3), (2, 3, 1, 0), "replicate"),
                      F.pad(a.transpose(1, 3), (1, 2, 0, 1), mode="circular"), F.pad(a, (0, 0, 0, 0, -1, 0)),
                      F.pad(a, (0, 0, 0, 0, 0, 7 - a.size(1)))),
}


@pytest.mark.parametrize("name", list(DYNAMIC_CASES))
def test_shape_op_with_dynamic_batch_and_inner_axis_matches_pytorch(name):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(DYNAMIC_CASES[name], [X], [(1, 2, 4, 3)], [(4, 7, 4, 3)], [[(2, 6, 4, 3)], [(4, 2, 4, 3)]])


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool])
@pytest.mark.parametrize("name", ["cat_stack", "split_dynamic_axis", "getitem_basic", "flip_roll", "repeat_tile"])
def test_dynamic_shape_ops_keep_integer_and_bool(name, dtype):
    from torch2trt.testing import assert_converts_dynamic

    x = (X * 10).to(dtype) if dtype != torch.bool else X > 0
    fn = DYNAMIC_CASES[name]
    if name == "cat_stack":  # the float parts of the case do not apply
        fn = lambda a: (torch.stack([a, a], 1), torch.cat([a, a[:, :2]], 1))  # noqa: E731
    assert_converts_dynamic(fn, [x], [(1, 2, 4, 3)], [(4, 7, 4, 3)])


def _dynamic_axis1(fn, lo=2, hi=7, **kwargs):
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule

    return torch2trt(FunctionModule(fn).eval(), [X], min_shapes=[(1, lo, 4, 3)], max_shapes=[(4, hi, 4, 3)],
                     **kwargs)


@pytest.mark.parametrize("fn, good, bad, match", [
    # PyTorch's number of outputs at size n: chunk(c) -> ceil(n / ceil(n / c)), split(s) -> ceil(n / s)
    (lambda a: a.chunk(4, 1), [5, 6], [4, 7], r"chunk\(4\) along axis 1: PyTorch makes ceil\(n / ceil\(n / 4\)\) "
                                              r"chunks, 3 at the sample"),
    (lambda a: a.split(3, 1), [4, 6], [3, 7], r"split\(3\) along axis 1: the number of outputs \(2\) is fixed at "
                                              r"conversion; it needs 3 < size <= 6"),
    (lambda a: torch.split(a, [2, 3], 1), [5], [4, 6], r"split\(\[2, 3\]\) along axis 1: the sizes must sum"),
    (lambda a: torch.hsplit(a, 5), [5], [6], r"hsplit\(5\): the axis size must be divisible by 5"),
])
def test_split_of_a_dynamic_axis_checks_the_output_count_at_run_time(fn, good, bad, match):
    """verify=False: the profile (axis 1 from 2 to 7) holds sizes where the count differs, which the default
    verification refuses at conversion when PyTorch itself runs there (see the next test); here the run-time
    check itself is tested."""
    from torch2trt.check import compare, run_reference

    m = _dynamic_axis1(fn, verify=False)
    for n in good:
        x = torch.randn(3, n, 4, 3)
        for o, r in zip(run_reference(m, [x]), fn(x), strict=True):
            assert compare(o, r).same_layout and torch.equal(o, r)
    for n in bad:
        with pytest.raises(Exception, match=match):
            run_reference(m, [torch.randn(3, n, 4, 3)])


def test_a_profile_with_sizes_where_the_split_count_differs_is_refused_at_conversion():
    from torch2trt import ConversionError

    with pytest.raises(ConversionError, match=r"fails on fresh inputs.*split\(3\) along axis 1: the number of "
                                              r"outputs \(2\) is fixed at conversion"):
        _dynamic_axis1(lambda a: a.split(3, 1))


@pytest.mark.parametrize("fn, match", [
    (lambda a: a.unbind(1), r"unbind along dynamic axis 1: the number of outputs is the axis size"),
    (lambda a: a[:, ::a.size(0)], r"slice step DynDim\(2\) \(only constant positive steps\)"),
])
def test_ops_that_cannot_take_a_dynamic_axis_say_so(fn, match):
    assert_refuses(fn, [X], match, min_shapes=[(1, 2, 4, 3)], max_shapes=[(4, 7, 4, 3)])


@pytest.mark.parametrize("fn", [
    lambda a: (F.pixel_shuffle(a[:, :4], 2), F.pixel_unshuffle(a[:, :, :, :2], 2), torch.pixel_shuffle(a[:, :4], 2)),
    lambda a: (a.repeat_interleave(2, 1), torch.repeat_interleave(a, 3, dim=0), a.repeat_interleave(2, -1),
               torch.repeat_interleave(a, torch.tensor([1, 2, 0, 1]), dim=2)),
])
def test_pixel_shuffle_and_repeat_interleave_with_dynamic_dims(fn):
    from torch2trt.testing import assert_converts_dynamic

    x = torch.randn(2, 5, 4, 6)  # axis 1 (channels) and axis 3 (width) dynamic
    assert_converts_dynamic(fn, [x], [(1, 4, 4, 2)], [(3, 7, 4, 8)], [[(3, 4, 4, 8)]])
