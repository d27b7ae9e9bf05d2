"""Shape converters (shape.py) vs PyTorch: reshapes, permutations, expand/repeat, cat/stack, splits, flip/roll,
pad; static and with dynamic axes. Indexing (getitem, gather, scatter, sort, ...) is in test_index.py."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torch2trt.testing import assert_converts, assert_converts_dynamic_batch, assert_refuses

X = torch.randn(2, 5, 4, 3)

CASES = {
    "view_reshape": lambda a: {"view(2, -1)": a.view(2, -1), "reshape(10, 12)": a.reshape(10, 12),
                               "torch.reshape": torch.reshape(a, (2, 60)), "view(a.size(0), -1)": a.view(a.size(0), -1),
                               "view_as": a.view_as(a), "reshape_as": a.reshape_as(torch.zeros(10, 12))},
    "flatten": lambda a: {"flatten()": a.flatten(), "flatten(1)": a.flatten(1), "torch.flatten(1, 2)":
                          torch.flatten(a, 1, 2), "flatten(-2)": a.flatten(-2)},
    "unflatten": lambda a: a.unflatten(2, (2, 2)),
    "squeeze_unsqueeze": lambda a: {"squeeze()": a[:, :1].squeeze(), "squeeze(-1)": a[..., :1].squeeze(-1),
                                    "squeeze(0) of size 2": a.squeeze(0),
                                    "squeeze((1, 3))": a[:, :1, :, :1].squeeze((1, 3)), "unsqueeze(0)": a.unsqueeze(0),
                                    "unsqueeze(-1)": a.unsqueeze(-1), "torch.unsqueeze(2)": torch.unsqueeze(a, 2)},
    "permute": lambda a: {"permute(0, 2, 1, 3)": a.permute(0, 2, 1, 3), "permute(tuple)": a.permute((3, 2, 1, 0)),
                          "transpose(1, 2)": a.transpose(1, 2), "transpose(-1, 0)": a.transpose(-1, 0),
                          "mT": a[..., 0].mT, "t()": a[0, :, :, 0].t(), "T": a[0, :, :, 0].T,
                          "movedim(1, -1)": a.movedim(1, -1), "torch.swapaxes": torch.swapaxes(a, 0, 2)},
    "expand": lambda a: {"expand(sizes)": a[..., :1].expand(2, 5, 4, 6), "expand(-1, ...)":
                         a[..., :1].expand(-1, -1, -1, 3), "expand_as": a[:, :1].expand_as(a),
                         "torch.broadcast_to(new axis)": torch.broadcast_to(a, (4, 2, 5, 4, 3))},
    "repeat_tile": lambda a: {"repeat": a.repeat(1, 2, 1, 3), "repeat(more dims)": a.repeat(2, 1, 1, 1, 2),
                              "torch.tile(fewer dims)": torch.tile(a, (2,))},
    "cat_stack": lambda a: {"stack(list, 1)": torch.stack([a, a + 1], 1), "stack(tuple, -1)": torch.stack((a, a), -1),
                            "cat(-1)": torch.cat([a, a * 2], -1), "cat(constant, -3)":
                            torch.cat((a, torch.ones(2, 1, 4, 3)), -3), "cat(float, int)": torch.cat([a, a.int()], 0)},
    "split_chunk": lambda a: {"split(2, 1)": a.split(2, 1), "torch.split([1, 3], 2)": torch.split(a, [1, 3], 2),
                              "chunk(2, 2)": a.chunk(2, 2), "unbind(1)": a.unbind(1),
                              "narrow(2, 1, 2)": a.narrow(2, 1, 2), "narrow(1, -2, 2)": a.narrow(1, -2, 2)},
    "flip_roll": lambda a: {"flip(1)": a.flip(1), "torch.flip((0, 2))": torch.flip(a, (0, 2)), "roll(1, 2)":
                            a.roll(1, 2), "torch.roll(pairs)": torch.roll(a, (1, -1), (1, 2)),
                            "roll(3) flat": a.roll(3)},
    "noncontiguous": lambda a: a.transpose(1, 2).reshape(2, -1),
    "int_and_bool": lambda a: {"bool view": (a > 0).view(2, -1),
                               "int permute": (a * 10).int().permute(1, 0, 2, 3)[:, 1]},
    "pad": lambda a: {"constant": F.pad(a, (1, 2)), "constant value": F.pad(a, (1, 2, 0, 3), value=1.5),
                      "reflect": F.pad(a, (2, 1, 1, 2), mode="reflect"),
                      "replicate": F.pad(a, (2, 1, 1, 2), mode="replicate"),
                      "circular": F.pad(a, (2, 1, 1, 2), mode="circular"), "negative (crop)": F.pad(a, (-1, 2, 1, -2))},
    "select": lambda a: {"select(1, 2)": a.select(1, 2), "torch.select(-1, -1)": torch.select(a, -1, -1),
                         "select(0, -2)": a.select(0, -2), "1-d to 0-d": a[0, 0, 0].select(0, 1),
                         "torch.select(dim=, index=)": torch.select(a, dim=2, index=3), "select(-3, -5)":
                         a.select(-3, -5), "constant tensor index": a.select(1, torch.tensor(2))},
    "narrow_copy": lambda a: {"torch.narrow_copy(2, 1, 2)": torch.narrow_copy(a, 2, 1, 2),
                              "narrow_copy(-1, 0, 2)": a.narrow_copy(-1, 0, 2), "narrow_copy(1, -2, 2)":
                              a.narrow_copy(1, -2, 2), "narrow_copy(kwargs)": a.narrow_copy(dim=0, start=1, length=1)},
    "ravel": lambda a: {"ravel()": a.ravel(), "torch.ravel": torch.ravel(a), "0-d": a[0, 0, 0, 0].ravel(),
                        "transposed": a.transpose(1, 2).ravel(), "1-d": a[0, 0, 0].ravel()},
    "atleast": lambda a: {"1d(0-d)": torch.atleast_1d(a[0, 0, 0, 0]), "1d(4-d)": torch.atleast_1d(a),
                          "2d(0-d)": torch.atleast_2d(a[0, 0, 0, 0]), "2d(1-d)": torch.atleast_2d(a[0, 0, 0]),
                          "2d(3-d)": torch.atleast_2d(a[0]), "3d(0-d)": torch.atleast_3d(a[0, 0, 0, 0]),
                          "3d(1-d)": torch.atleast_3d(a[0, 0, 0]), "3d(2-d)": torch.atleast_3d(a[0, 0]),
                          "3d(4-d)": torch.atleast_3d(a), "1d(x, y)": torch.atleast_1d(a[0, 0, 0, 0], a),
                          "2d([x, y])": torch.atleast_2d([a[0, 0, 0], a[0, 0, 0, 1]]),
                          "3d((x,))": torch.atleast_3d((a[0, 0],)), "3d(x, y, z)":
                          torch.atleast_3d(a[0, 0, 0, 0], a[0, 0, 0], a[0, 0]),
                          "2d(x, constant)": torch.atleast_2d(a[0, 0], torch.ones(2, 3))},
    "hstack_vstack_dstack": lambda a: {
        "hstack(4-d)": torch.hstack([a, a * 2]), "hstack(1-d)": torch.hstack((a[0, 0, 0], a[0, 0, 1, :2])),
        "hstack(0-d, 1-d)": torch.hstack([a[0, 0, 0, 0], a[0, 0, 0]]), "hstack(float, int)":
        torch.hstack([a[0], a[0, :, :1].int()]), "vstack(1-d)": torch.vstack([a[0, 0, 0], a[0, 0, 1]]),
        "vstack(1-d, 2-d)": torch.vstack((a[0, 0, 0], a[0, 0])), "vstack(0-d)": torch.vstack([a[0, 0, 0, 0]] * 2),
        "row_stack": torch.row_stack([a, a[:1]]), "dstack(1-d)": torch.dstack([a[0, 0, 0], a[0, 0, 1]]),
        "dstack(2-d, 3-d)": torch.dstack([a[0, 0], a[0, 1, :, :, None]]), "dstack(0-d)": torch.dstack([a[0, 0, 0, 0]]),
        "dstack(4-d)": torch.dstack([a, a[:, :, :1]]),
        "column_stack(1-d, 2-d)": torch.column_stack([a[0, 0, 0], a[0, 0, :3]]),
        "column_stack(0-d)": torch.column_stack((a[0, 0, 0, 0], a[0, 0, 0, 1])),
        "column_stack(4-d)": torch.column_stack([a, a])},
    "broadcast_tensors": lambda a: {
        "three": torch.broadcast_tensors(a, a[:, :1], a[0, 0, :, :1]), "new axes": torch.broadcast_tensors(
            a[0, 0, 0], a[:, :, :1, :1]), "one": torch.broadcast_tensors(a), "0-d": torch.broadcast_tensors(
            a[0, 0, 0, 0], a[0, 0]), "float, int": torch.broadcast_tensors(a[:, :1], a.int()),
        "constant": torch.broadcast_tensors(a, torch.ones(4, 1)), "constant returned as it is":
        torch.broadcast_tensors(a[:, :1], torch.ones(2, 5, 4, 3))},
    "fliplr_flipud_rot90": lambda a: {
        "fliplr": torch.fliplr(a), "flipud": a.flipud(), "fliplr(2-d)": a[0, 0].fliplr(), "flipud(1-d)":
        torch.flipud(a[0, 0, 0]), "rot90()": a.rot90(), "rot90(2, (1, 2))": torch.rot90(a, 2, (1, 2)),
        "rot90(-1, (-1, 1))": torch.rot90(a, -1, (-1, 1)), "rot90(3, [0, 3])": a.rot90(3, [0, 3]),
        "rot90(4)": a.rot90(4), "rot90(5, (2, 1))": a.rot90(5, (2, 1)), "rot90(-6)": a.rot90(-6),
        "rot90(-3, (3, 2))": a.rot90(-3, (3, 2)), "rot90(k=7, dims=(0, 1))": torch.rot90(a, k=7, dims=(0, 1))},
    "channel_shuffle": lambda a: {
        "F.channel_shuffle(2)": F.channel_shuffle(a.transpose(1, 2), 2), "torch.channel_shuffle(3)":
        torch.channel_shuffle(a.permute(0, 3, 1, 2), 3), "3-d": F.channel_shuffle(a[..., 0], 5),
        "groups 1": F.channel_shuffle(a, 1), "nn.ChannelShuffle(4)": nn.ChannelShuffle(4)(a.transpose(1, 2)),
        "5-d": F.channel_shuffle(a.transpose(1, 2)[:, None].transpose(1, 2), 2)},
}


@pytest.mark.parametrize("name", list(CASES))
def test_shape_op_matches_pytorch(name):
    assert_converts(CASES[name], [X])


def test_view_as_dtype_is_refused():
    assert_refuses(lambda a: a.view(torch.int32), [X], r"reinterpreting bits")


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["view_reshape", "permute", "cat_stack", "split_chunk", "flip_roll", "repeat_tile",
                                  "pad", "select", "narrow_copy", "ravel", "atleast", "hstack_vstack_dstack",
                                  "broadcast_tensors", "fliplr_flipud_rot90", "channel_shuffle"])
def test_shape_ops_keep_every_dtype(name, dtype):
    x = (X * 10).to(dtype) if dtype != torch.bool else X > 0
    if name == "pad" and dtype == torch.bool:
        pytest.skip("F.pad rejects bool in PyTorch")
    fn = CASES[name]
    if name == "cat_stack" and dtype == torch.bool:  # the float parts of the case do not apply to bool
        fn = lambda a: {"stack": torch.stack([a, a], 1), "cat": torch.cat([a, a], -1)}  # noqa: E731
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
    "pad": lambda a: (F.pad(a, (1, 2)), F.pad(a, (1, 2, 0, 3), value=1.5), F.pad(a, (2, 1, 1, 2), mode="reflect"),
                      F.pad(a, (2, 1, 1, 2), mode="replicate"), F.pad(a, (2, 1, 1, 2), mode="circular"),
                      F.pad(a, (-1, 2, 1, -2)), F.pad(a, (0, 0, 0, 0, 1, 2)), F.pad(a, (0, 0, 0, 0, 2, 1), value=-1.0),
                      F.pad(a.transpose(1, 3), (1, 1, 0, 0), mode="reflect"),
                      F.pad(a.transpose(1, 3), (2, 3, 1, 0), "replicate"),
                      F.pad(a.transpose(1, 3), (1, 2, 0, 1), mode="circular"), F.pad(a, (0, 0, 0, 0, -1, 0)),
                      F.pad(a, (0, 0, 0, 0, 0, 7 - a.size(1)))),
    # a negative index on the dynamic axis 1 is n + index, computed in the network
    "select": lambda a: (a.select(1, 1), a.select(1, -1), a.select(1, -2), torch.select(a, -1, -1), a.select(0, 0),
                         a.select(0, -1), a.select(2, -4), a.select(1, a.size(1) - 1), a[:, :, 0, 0].select(1, -2)),
    "narrow_copy": lambda a: (torch.narrow_copy(a, 2, 1, 2), a.narrow_copy(1, 1, 1), a.narrow_copy(-1, -2, 2),
                              a.narrow_copy(1, -2, 1)),
    "ravel": lambda a: (a.ravel(), torch.ravel(a.transpose(0, 1)), a[:, 0, 0, 0].ravel()),
    "atleast": lambda a: (torch.atleast_1d(a), torch.atleast_2d(a[:, 0, 0, 0]), torch.atleast_3d(a[:, 0, 0, 0]),
                          torch.atleast_3d(a[:, :, 0, 0]), torch.atleast_2d(a[:, :, 0, 0]),
                          *torch.atleast_2d(a[0, 0, 0, 0], a[:, 0, 0, 0]), *torch.atleast_3d([a[:, 0, 0], a])),
    "hstack_vstack_dstack": lambda a: (
        torch.hstack([a, a]), torch.hstack([a[:, 0, 0, 0], a[:, 1, 0, 0]]),
        torch.hstack([a[0, :, 0, 0], a[:, 0, 0, 0]]), torch.vstack([a[:, 0, 0, 0], a[:, 1, 0, 0]]),
        torch.row_stack((a, a)), torch.vstack([a[:, :, 0, 0], a[:1, :, 1, 0]]),
        torch.dstack([a[:, :, 0, 0], a[:, :, 1, 0]]), torch.dstack([a[:, 0, 0, 0]]),
        torch.column_stack([a[:, 0, 0, 0], a[:, :, 0, 0]]), torch.column_stack([a[:, 0, 0, 0], a[:, 1, 0, 0].int()])),
    "broadcast_tensors": lambda a: (*torch.broadcast_tensors(a, a[:, :1], a[0, 0, :, :1]),
                                    *torch.broadcast_tensors(a[:, :, :1, :1], a[:1, :1]),
                                    *torch.broadcast_tensors(a[:, :1, :, :1], a[:1, :, :1] > 0),
                                    *torch.broadcast_tensors(a, a + 1), *torch.broadcast_tensors(a[0, 0, 0, 0], a),
                                    *torch.broadcast_tensors(a[:, :1], torch.ones(1, 1, 4, 3))),
    "fliplr_flipud_rot90": lambda a: (torch.fliplr(a), torch.flipud(a), a.rot90(), torch.rot90(a, 2, (1, 2)),
                                      torch.rot90(a, -1, (-1, 1)), a.rot90(3, (0, 3)), a.rot90(4), a.rot90(5, (2, 1)),
                                      a.rot90(-6), a[:, :, 0, 0].rot90(-3)),
    "channel_shuffle": lambda a: (F.channel_shuffle(a.transpose(1, 2), 2), nn.ChannelShuffle(2)(a.transpose(1, 2)),
                                  torch.channel_shuffle(a.transpose(1, 3), 3), F.channel_shuffle(a, 1)),
}

NEW_OPS = ["select", "narrow_copy", "ravel", "atleast", "hstack_vstack_dstack", "broadcast_tensors",
           "fliplr_flipud_rot90", "channel_shuffle"]


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_shape_op_with_dynamic_batch_matches_pytorch(name):
    assert_converts_dynamic_batch(DYNAMIC_CASES[name], X)


@pytest.mark.parametrize("name", list(DYNAMIC_CASES))
def test_shape_op_with_dynamic_batch_and_inner_axis_matches_pytorch(name):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(DYNAMIC_CASES[name], [X], [(1, 2, 4, 3)], [(4, 7, 4, 3)], [[(2, 6, 4, 3)], [(4, 2, 4, 3)]])


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool])
@pytest.mark.parametrize("name", ["cat_stack", "split_dynamic_axis", "flip_roll", "repeat_tile"])
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
    (lambda a: a.select(1, (a[0, 0, 0, 0] > 0).long()), r"select with an index computed in the model"),
])
def test_ops_that_cannot_take_a_dynamic_axis_say_so(fn, match):
    assert_refuses(fn, [X], match, min_shapes=[(1, 2, 4, 3)], max_shapes=[(4, 7, 4, 3)])


def test_nn_channel_shuffle_module_with_dynamic_batch():
    assert_converts_dynamic_batch(nn.Sequential(nn.ChannelShuffle(3), nn.ReLU()), torch.randn(2, 6, 3, 2))


def test_select_along_a_dynamic_axis_checks_the_index_at_run_time():
    """select(1, 4) / select(1, -4) need axis 1 > 4 / >= 4 (PyTorch raises IndexError otherwise): an assertion on
    the axis size says so at run time (verify=False: the profile 2..7 holds sizes where PyTorch fails too)."""
    from torch2trt.check import compare, run_reference

    for fn, good, bad, match in [(lambda a: a.select(1, 4), [5, 7], [2, 4], r"select\(1, 4\) along dynamic axis 1: "
                                  r"index 4 needs size > 4"),
                                 (lambda a: a.select(1, -4), [4, 7], [2, 3], r"select\(1, -4\) along dynamic axis 1: "
                                  r"index -4 needs size >= 4")]:
        m = _dynamic_axis1(fn, verify=False)
        for n in good:
            x = torch.randn(3, n, 4, 3)
            o, r = run_reference(m, [x]), fn(x)
            assert compare(o, r).same_layout and torch.equal(o, r)
        for n in bad:
            with pytest.raises(Exception, match=match):
                run_reference(m, [torch.randn(3, n, 4, 3)])


def test_hstack_skips_legacy_empty_1d_tensors_as_cat_does():
    assert_converts(lambda a: {"hstack": torch.hstack([torch.ones(0), a[0, 0]]),
                               "cat": torch.cat([torch.ones(0), a[0, 0]])}, [X])


def test_broadcast_tensors_refuses_an_input_returned_unchanged_whose_dynamic_dims_may_broadcast():
    """At the sample both batches are 2, so PyTorch returns the inputs themselves; at batches 1 and 3 the first
    would be broadcast, and one Python tensor cannot hold both values."""
    assert_refuses(lambda a, b: torch.broadcast_tensors(a, b), [torch.randn(2, 3), torch.randn(2, 3)],
                   r"broadcast_tensors: input 0 \(shape \(2, 3\)\) is returned unchanged at the sample, but its "
                   r"dynamic dims may need broadcasting", min_shapes=[(1, 3), (1, 3)], max_shapes=[(4, 3), (4, 3)])
