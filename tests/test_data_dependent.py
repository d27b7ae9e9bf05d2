"""A Python branch on tensor data (Tensor.__bool__ / .item() feeding control flow) is never frozen into an engine:
eager tracing refuses it naming the user's line and what to do; torch2trt.dynamo.convert puts tensor conditions
into the graph where dynamo can (torch.where-like code) and refuses a graph break."""

import re

import pytest
import torch
import torch.nn as nn

from torch2trt.dynamo import convert
from torch2trt.testing import assert_refuses
from torch2trt.tracing.context import ConversionError


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # the branch
            return x * 2
        return x - 1


class ItemScale(nn.Module):
    def forward(self, x):
        return x * x.abs().max().item()  # the item


@pytest.mark.parametrize("model, name, marker", [(Branchy(), "__bool__", "# the branch"),
                                                 (ItemScale(), "item", "# the item")])
def test_data_dependent_python_value_names_the_line_and_what_to_do(model, name, marker):
    msg = assert_refuses(model, [torch.randn(2, 3)], re.escape(name))
    line = next(i for i, text in enumerate(open(__file__).read().splitlines(), 1)
                if marker in text and text.strip().startswith(("if ", "return ")))
    assert f"{__file__}:{line}" in msg, msg
    assert "frozen into the engine" in msg
    assert "torch2trt.dynamo.convert(model, inputs)" in msg and 'torch.compile(model, backend="torch2trt")' in msg
    assert "Python argument" in msg


def test_dynamo_convert_refuses_a_graph_break_instead_of_freezing_it():
    with pytest.raises(ConversionError, match="cannot capture the model as one graph"):
        convert(Branchy().eval(), [torch.randn(2, 3)])


def test_dynamo_convert_keeps_dict_outputs_and_input_order():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4)

        def forward(self, a, b):
            return {"sum": self.lin(a) + b.sum(), "b": b * 2}

    m = M().eval()
    a, b = torch.randn(2, 3), torch.randn(5)
    trt_model = convert(m, {"a": a, "b": b}, min_shapes=[(1, 3), None], max_shapes=[(6, 3), None])
    from torch2trt.check import run_reference

    x = torch.randn(4, 3)
    got, ref = run_reference(trt_model, [x, b]), m(x, b)
    assert list(got) == ["sum", "b"]
    torch.testing.assert_close(got["sum"], ref["sum"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["b"], ref["b"], rtol=0, atol=0)
    assert tuple(trt_model.network.get_input(0).shape) == (-1, 3)


def test_conversion_leaves_no_global_module_hook_behind():
    """A leftover global hook entry makes every later torch.compile(module) warn (and would run hooks twice)."""
    from torch2trt import torch2trt

    m = torch.nn.modules.module
    tables = ("_global_forward_pre_hooks", "_global_forward_hooks", "_global_forward_hooks_with_kwargs",
              "_global_forward_hooks_always_called")
    before = {t: dict(getattr(m, t)) for t in tables}
    model = nn.Sequential(nn.Linear(3, 4)).eval()
    torch2trt(model, [torch.randn(2, 3)])
    torch2trt(model, [torch.randn(2, 3)], int8_mode=True, quantize_target="tensorrt", verify=False)  # calibration
    assert {t: dict(getattr(m, t)) for t in tables} == before
