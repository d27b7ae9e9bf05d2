"""torch2trt/testing.py: the assertions converter tests use must fail on a wrong converter and say where."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from torch2trt import tensorrt_converter, unregister_converter
from torch2trt.testing import _bundled_spellings, assert_converts, output_labels


def test_a_bundled_case_names_the_spelling_that_broke():
    def identity_exp2(ctx):  # wrong on purpose
        ctx.set_output(ctx.method_return, ctx.trt(ctx.method_args[0]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "registered for torch.Tensor.exp2, which has the built-in converter"
        tensorrt_converter(torch.Tensor.exp2)(identity_exp2)
    try:
        with pytest.raises(AssertionError, match=r"^output_1 \(output\['exp2'\]\[0\]\): relative error"):
            assert_converts(lambda a: dict(relu=F.relu(a), exp2=(a.exp2(),)), [torch.randn(2, 3)], verify=False)
    finally:
        unregister_converter(torch.Tensor.exp2, identity_exp2)


def test_a_tuple_bundle_names_the_spelling_that_broke_by_its_source():
    def identity_exp2(ctx):  # wrong on purpose
        ctx.set_output(ctx.method_return, ctx.trt(ctx.method_args[0]))

    cases = {"bundle": lambda a: (a.relu(), a.abs(),
                                  a.exp2() + 1, a.sort())}  # a multi-line lambda; sort returns a pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tensorrt_converter(torch.Tensor.exp2)(identity_exp2)
    try:
        with pytest.raises(AssertionError, match=r"^output_2 \(output\[2\]: a\.exp2\(\) \+ 1\): relative error"):
            assert_converts(cases["bundle"], [torch.randn(2, 3)], verify=False)
    finally:
        unregister_converter(torch.Tensor.exp2, identity_exp2)


def test_bundle_labels_fall_back_to_positions_where_the_source_is_ambiguous():
    starred = lambda a: (*a.split(1), a.abs())  # noqa: E731
    assert _bundled_spellings(starred) is None
    assert _bundled_spellings(lambda a: (a.abs(), a.neg())) == ["a.abs()", "a.neg()"]
    assert _bundled_spellings(torch.nn.ReLU()) is None


def test_output_labels_follow_the_output_structure():
    schema = {"kind": "tuple", "items": [{"kind": "tensor", "index": 0},
                                         {"kind": "dict", "keys": ["a", 3], "items": [
                                             {"kind": "tensor", "index": 1},
                                             {"kind": "list", "items": [{"kind": "tensor", "index": 2}]}]}]}
    assert output_labels(schema) == {0: " (output[0])", 1: " (output[1]['a'])", 2: " (output[1][3][0])"}
    assert output_labels({"kind": "tensor", "index": 0}) == {0: ""}
    tuple_schema = {"kind": "tuple", "items": [{"kind": "tensor", "index": 0},
                                               {"kind": "tuple", "items": [{"kind": "tensor", "index": 1},
                                                                           {"kind": "tensor", "index": 2}]}]}
    assert output_labels(tuple_schema, ["a.abs()", "a.sort()"]) == {
        0: " (output[0]: a.abs())", 1: " (output[1][0]: a.sort())", 2: " (output[1][1]: a.sort())"}
    assert output_labels(tuple_schema, ["only one"]) == {0: " (output[0])", 1: " (output[1][0])",
                                                        2: " (output[1][1])"}
