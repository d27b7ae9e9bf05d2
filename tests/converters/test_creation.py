"""Types, identity-like ops and creation against PyTorch: every cast spelling (to/type/float/half/...), dropout
in eval, *_like / new_* / full with traced values, fill_/zero_, torch.tensor of traced tensors, tril/triu,
masked_fill — and refusals (float64, int16, dropout in training)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt import torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import assert_converts, assert_refuses


def f32(*shape):
    return torch.randn(*shape) * 3


def i32(*shape):
    return torch.randint(-5, 5, shape, dtype=torch.int32)


def b(*shape):
    return torch.rand(*shape) > 0.5


def nc(*shape):
    return torch.randn(*shape).transpose(1, 2)


CASES = {
    # casts
    "to_float16": (lambda x: x.to(torch.float16), [f32(2, 3, 4)]),
    "to_float32_from_float16": (lambda x: x.to(torch.float32), [f32(2, 3).half()]),
    "to_int32_truncates": (lambda x: x.to(torch.int32), [f32(2, 3, 4)]),
    "to_int64": (lambda x: x.to(dtype=torch.int64), [f32(2, 3, 4)]),
    "to_bool": (lambda x: torch.relu(x).to(torch.bool), [f32(2, 3, 4)]),
    "to_float_from_int": (lambda x: x.to(torch.float32), [i32(2, 3)]),
    "to_float_from_bool": (lambda x: x.to(torch.float32), [b(2, 3)]),
    "to_int32_from_int64": (lambda x: x.to(torch.int32), [i32(2, 3).long()]),
    "to_same_dtype": (lambda x: x.to(torch.float32), [f32(2, 3)]),
    "to_device": (lambda x: x.to("cpu"), [f32(2, 3)]),
    "to_device_and_dtype": (lambda x: x.to("cpu", torch.float16), [f32(2, 3)]),
    "to_other": (lambda x, y: x.to(y), [f32(2, 3), i32(4)]),
    "to_memory_format": (lambda x: x.to(memory_format=torch.channels_last), [f32(2, 3, 4, 5)]),
    "type_dtype": (lambda x: x.type(torch.int32), [f32(2, 3)]),
    "type_string": (lambda x: x.type("torch.IntTensor"), [f32(2, 3)]),
    "type_as": (lambda x, y: x.type_as(y), [f32(2, 3), f32(2).half()]),
    "float": (lambda x: x.float(), [i32(2, 3)]),
    "half": (lambda x: x.half(), [f32(2, 3)]),
    "bfloat16": (lambda x: x.bfloat16().float(), [f32(2, 3)]),
    "int": (lambda x: x.int(), [f32(2, 3)]),
    "long": (lambda x: x.long(), [b(2, 3)]),
    "bool": (lambda x: x.bool(), [i32(2, 3)]),
    "byte": (lambda x: torch.relu(x).byte(), [f32(2, 3)]),
    "char": (lambda x: x.char(), [i32(2, 3)]),
    "cast_non_contiguous": (lambda x: x.int(), [nc(2, 3, 4)]),
    # identity-like
    "contiguous": (lambda x: x.transpose(1, 2).contiguous(), [f32(2, 3, 4)]),
    "contiguous_channels_last": (lambda x: x.contiguous(memory_format=torch.channels_last), [f32(2, 3, 4, 5)]),
    "clone": (lambda x: torch.clone(x) + x.clone(), [f32(2, 3)]),
    "detach": (lambda x: x.detach() * 2, [f32(2, 3)]),
    "cpu": (lambda x: x.cpu(), [f32(2, 3)]),
    "dropout_eval": (lambda x: F.dropout(x, 0.3, training=False), [f32(2, 3)]),
    "dropout_p0_training": (lambda x: F.dropout(x, 0.0), [f32(2, 3)]),
    "dropout2d_eval": (lambda x: F.dropout2d(x, 0.5, False), [f32(2, 3, 4, 4)]),
    "alpha_dropout_default": (lambda x: F.alpha_dropout(x, 0.5), [f32(2, 3)]),
    "feature_alpha_dropout_default": (lambda x: F.feature_alpha_dropout(x), [f32(2, 3, 4)]),
    "torch_dropout": (lambda x: torch.dropout(x, 0.5, False), [f32(2, 3)]),
    "dropout_module_eval": (nn.Sequential(nn.Dropout(0.5), nn.Dropout1d(0.2)), [f32(2, 3, 4)]),
    "dropout_inplace": (lambda x: F.dropout(x * 1, 0.5, False, True), [f32(2, 3)]),
    # *_like / new_* / full / fill
    "zeros_like": (lambda x: torch.zeros_like(x) + x, [f32(2, 3, 4)]),
    "ones_like_dtype": (lambda x: torch.ones_like(x, dtype=torch.int32), [f32(2, 3)]),
    "full_like": (lambda x: torch.full_like(x, 3.5), [f32(2, 3)]),
    "full_like_int": (lambda x: torch.full_like(x, 7), [i32(2, 3)]),
    "empty_like_filled": (lambda x: torch.empty_like(x).fill_(2.0) + x, [f32(2, 3)]),
    "zeros_like_bool": (lambda x: torch.zeros_like(x), [b(2, 3)]),
    "new_zeros": (lambda x: x.new_zeros((2, 5)), [f32(2, 3)]),
    "new_ones_varargs": (lambda x: x.new_ones(2, 5, dtype=torch.int64), [f32(2, 3)]),
    "new_full": (lambda x: x.new_full((4,), 7.25), [f32(2, 3)]),
    "new_empty_zeroed": (lambda x: x.new_empty(3, 2).zero_(), [f32(2, 3)]),
    "new_tensor": (lambda x: x.new_tensor([1.5, 2.5, 3.5]) + x, [f32(2, 3)]),
    "new_tensor_of_traced": (lambda x: x.new_tensor(x * 2), [f32(2, 3)]),
    "torch_tensor_of_traced": (lambda x: torch.tensor(x, dtype=torch.int32), [f32(2, 3)]),
    "as_tensor_of_traced": (lambda x: torch.as_tensor(x, dtype=torch.float16), [f32(2, 3)]),
    "fill_inplace": (lambda x: x.clone().fill_(3.0), [f32(2, 3)]),
    "fill_traced_value": (lambda x: x.clone().fill_(x.sum()), [f32(2, 3)]),
    "zero_inplace": (lambda x: (x * 1).zero_(), [i32(2, 3)]),
    "full_traced_value": (lambda x: torch.full((2, 3), x.sum()), [f32(4)]),
    # linspace with traced endpoints
    "linspace": (lambda x: torch.linspace(x.min(), x.max(), 7), [f32(4)]),
    "linspace_constant_start": (lambda x: torch.linspace(0.0, x.sum(), 6), [f32(4)]),
    "linspace_one_step": (lambda x: torch.linspace(x[0], 3.0, 1), [f32(4)]),
    # tril / triu
    "tril": (lambda x: x.tril(), [f32(2, 4, 4)]),
    "tril_diagonal_negative": (lambda x: torch.tril(x, -1), [f32(3, 5)]),
    "triu_diagonal": (lambda x: x.triu(2), [f32(2, 3, 4, 6)]),
    "triu_int": (lambda x: torch.triu(x, diagonal=-1), [i32(5, 3)]),
    "tril_bool": (lambda x: x.tril(1), [b(4, 4)]),
    "tril_inplace": (lambda x: (x * 1).tril_(), [f32(3, 3)]),
    "triu_non_contiguous": (lambda x: x.triu(), [nc(2, 3, 4)]),
    # masked_fill
    "masked_fill": (lambda x: x.masked_fill(x > 0, 0.5), [f32(2, 3, 4)]),
    "masked_fill_broadcast_mask": (lambda x, m: x.masked_fill(m, float("-inf")), [f32(2, 3, 4), b(3, 1)]),
    "masked_fill_tensor_value": (lambda x: torch.masked_fill(x, x < 0, torch.tensor(2.0)), [f32(2, 3)]),
    "masked_fill_traced_value": (lambda x: x.masked_fill(x < 0, x.amax()), [f32(2, 3)]),
    "masked_fill_int": (lambda x: x.masked_fill(x > 1, -7), [i32(2, 3)]),
    "masked_fill_inplace": (lambda x: (x * 1).masked_fill_(x > 0, 1.0), [f32(2, 3)]),
    "masked_fill_float16": (lambda x: x.masked_fill(x > 0, -1e4), [f32(2, 3).half()]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_creation_matches_pytorch(name):
    fn, inputs = CASES[name]
    assert_converts(fn, inputs)


@pytest.mark.parametrize("fn, match", [
    (lambda x: x.double(), r"float64: TensorRT has no such type; keep float32"),
    (lambda x: x.to(torch.float64), r"torch.Tensor.to to torch.float64"),
    (lambda x: x.short(), r"short to torch.int16: TensorRT has no such type"),
    (lambda x: torch.zeros_like(x, dtype=torch.float64), r"zeros_like to torch.float64"),
    (lambda x: F.dropout(x, 0.5), r"dropout\(training=True, p=0.5\): random dropout at inference"),
    (lambda x: F.dropout2d(x, 0.1, True), r"dropout2d\(training=True"),
    (lambda x: torch.dropout(x, 0.5, True), r"torch.dropout\(training=True"),
    (lambda x: F.alpha_dropout(x, 0.5, training=True), r"alpha_dropout\(training=True"),
    (lambda x: torch.tensor([x[0, 0, 0], x[0, 0, 1]]), r"list holding traced tensors; use torch.stack"),
    (lambda x: torch.arange((x > 0).sum()), r"arange with tensor bounds"),
    (lambda x: torch.linspace(x.min(), x.max(), 5, dtype=torch.int32), r"linspace to torch.int32: only floating"),
])
def test_creation_refuses(fn, match):
    assert_refuses(fn, [f32(2, 3, 4)], match=match)


@pytest.mark.parametrize("fn", [
    lambda x: torch.zeros_like(x) + 1,
    lambda x: x.new_ones(x.shape[0], 3) * x.sum(),
    lambda x: torch.zeros(x.size(0), x.size(1), 2) + 1,
    lambda x: x.clone().fill_(2.0),
])
def test_fill_with_dynamic_sizes_matches_pytorch_at_other_shapes(fn):
    m = torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(4, 3)])
    for shape in [(1, 3), (3, 3)]:
        x = torch.randn(shape)
        err = compare(run_reference(m, [x]), fn(x))
        assert err.same_layout and err.rel == 0


@pytest.mark.parametrize("fn", [
    lambda x: x + torch.arange(x.size(1)),
    lambda x: x * torch.arange(1, x.shape[1] * 2, 2, dtype=torch.float32),
    lambda x: x[:, :1] * torch.arange(x.size(1), 0, -1),
    lambda x: torch.arange(x.shape[0] - 1),
    lambda x: torch.arange(start=x.shape[0], end=x.shape[0] + x.shape[1], dtype=torch.int32),
])
def test_arange_with_dynamic_bounds_matches_pytorch_at_other_shapes(fn):
    m = torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)], min_shapes=[(1, 1)], max_shapes=[(4, 6)])
    for shape in [(1, 1), (3, 5), (4, 6)]:
        x = torch.randn(shape)
        err = compare(run_reference(m, [x]), fn(x))
        assert err.same_layout and err.rel == 0


@pytest.mark.parametrize("fn", [
    lambda x: (torch.zeros_like(x) + 1, torch.ones_like(x, dtype=torch.int32), torch.full_like(x, 2.5)),
    lambda x: (x.new_zeros(x.size(0), x.size(1)), x.new_ones((x.size(1), 2)), x.new_full((x.size(0), 1), 3.0)),
    lambda x: (torch.zeros(x.shape) + x, torch.ones(x.size(0), 1, dtype=torch.int64), torch.full((x.size(1),), 7)),
    lambda x: torch.full((x.size(0), x.size(1)), x.amax()) - x,
    lambda x: (x + torch.arange(x.size(1)), torch.arange(x.size(0), dtype=torch.float32), torch.arange(2, x.size(1))),
    lambda x: (x.tril(), torch.triu(x, 1), x.tril(-1), torch.tril(torch.ones(x.size(1), x.size(1))),
               x[None].expand(2, -1, -1).triu(-2)),
    lambda x: torch.zeros(x.size(0), x.size(1), dtype=torch.bool).masked_fill(x > 0, True),
])
def test_creation_with_dynamic_batch_and_inner_axis_matches_pytorch(fn):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(fn, [torch.randn(3, 5)], [(1, 2)], [(4, 7)], [[(4, 2)], [(1, 7)]])


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
@pytest.mark.parametrize("fn, match", [
    (lambda a: F.dropout(a, 0.2), r"training=True"),
    (lambda a: a.double(), r"float64"),
])
def test_training_dropout_and_float64_are_refused(fn, match):
    assert_refuses(fn, [torch.randn(2, 3, 13, 11)], match)
