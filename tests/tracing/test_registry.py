"""tracing/registry.py: registering a converter, shadowing a built-in one (allowed, with a warning naming both),
and removing it again."""

from __future__ import annotations

import re
import warnings

import pytest
import torch

from torch2trt import tensorrt_converter, torch2trt, unregister_converter
from torch2trt.tracing import registry


def test_shadowing_a_built_in_converter_warns_naming_both_and_is_used_until_removed():
    built_in = registry.lookup_function(torch.Tensor.exp2).function

    def my_exp2(ctx):
        ctx.set_output(ctx.method_return, ctx.trt(ctx.method_args[0]))  # deliberately wrong: the identity

    try:
        with pytest.warns(UserWarning) as caught:
            tensorrt_converter(torch.Tensor.exp2)(my_exp2)
        (warning,) = caught
        message = str(warning.message)
        assert "test_registry.test_shadowing_a_built_in_converter_warns_naming_both_and_is_used_until_removed" \
               ".<locals>.my_exp2" in message
        assert "torch.Tensor.exp2" in message
        assert re.search(r"built-in converter torch2trt\.converters\.unary\.convert_exp2\b", message)
        assert registry.lookup_function(torch.Tensor.exp2).function is my_exp2
        x = torch.randn(3, 4) + 2
        model = torch2trt(_Exp2().eval(), [x], verify=False)  # the identity is wrong on purpose: no verification
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "running the network with the CPU reference executor"
            torch.testing.assert_close(model(x), x, rtol=0, atol=0)
    finally:
        unregister_converter(torch.Tensor.exp2, my_exp2)
    assert registry.lookup_function(torch.Tensor.exp2).function is built_in


def test_registering_a_new_target_or_a_built_in_again_does_not_warn():
    class Custom(torch.nn.Module):
        def forward(self, x):
            return x

    def convert_custom(ctx):
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensorrt_converter(Custom)(convert_custom)
        registry.register(torch.Tensor.exp2, registry.lookup_function(torch.Tensor.exp2).function)  # built-in again
    unregister_converter(Custom, convert_custom)
    unregister_converter(torch.Tensor.exp2)
    assert registry.lookup_function(torch.Tensor.exp2).function.__module__ == "torch2trt.converters.unary"


class _Exp2(torch.nn.Module):
    def forward(self, x):
        return x.exp2()
