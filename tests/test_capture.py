"""torch2trt() picks the capture (#25 item 1): eager first; where the eager trace stops only on Python control flow
over tensor data, one TorchDynamo graph of the model, converted with the same converters and verification."""

import pytest
import torch
import torch.nn as nn

from torch2trt import ConversionError, torch2trt


class MaskShortcut(nn.Module):
    """transformers' pattern: a shortcut on tensor data when run eagerly, the graph path under a compiler."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, mask):
        if not torch.compiler.is_compiling() and bool(mask.all()):
            return self.lin(x)
        return self.lin(x) * mask.unsqueeze(-1)


def test_a_branch_on_data_is_captured_with_dynamo_and_exact_for_padded_masks():
    model = MaskShortcut().eval()
    x, mask = torch.randn(2, 6, 4), torch.ones(2, 6, dtype=torch.int64)
    m = torch2trt(model, [x, mask])
    assert m.capture == "dynamo" and m.timings["capture"] > 0
    padded = mask.clone()
    padded[0, 3:] = 0
    padded[1, :2] = 0
    with torch.no_grad():
        torch.testing.assert_close(m(x, padded), model(x, padded), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(m(x, mask), model(x, mask), rtol=1e-6, atol=1e-6)


def test_capture_eager_refuses_and_a_plain_model_stays_eager():
    model = MaskShortcut().eval()
    x, mask = torch.randn(2, 6, 4), torch.ones(2, 6, dtype=torch.int64)
    with pytest.raises(ConversionError, match=r"torch\.Tensor\.__bool__"):
        torch2trt(model, [x, mask], capture="eager")
    assert torch2trt(nn.Linear(4, 4).eval(), [x]).capture == "eager"
    assert torch2trt(model, [x, mask], capture="dynamo").capture == "dynamo"
    with pytest.raises(ValueError, match="capture must be"):
        torch2trt(model, [x, mask], capture="fx")


class DataBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:        # a graph break for TorchDynamo too
            return x * 2
        return x * 3


def test_when_both_captures_fail_the_error_gives_both_reasons():
    with pytest.raises(ConversionError) as e:
        torch2trt(DataBranch().eval(), [torch.randn(2, 3)])
    text = str(e.value)
    assert "torch2trt cannot convert this model exactly" in text and "__bool__" in text
    assert "The TorchDynamo capture" in text and "failed too" in text


def test_a_max_batch_size_becomes_the_dynamo_profile():
    model = MaskShortcut().eval()
    x, mask = torch.randn(2, 6, 4), torch.ones(2, 6, dtype=torch.int64)
    m = torch2trt(model, [x, mask], max_batch_size=4)
    assert m.capture == "dynamo"
    x4, mask4 = torch.randn(4, 6, 4), torch.ones(4, 6, dtype=torch.int64)
    mask4[2, 4:] = 0
    with torch.no_grad():
        torch.testing.assert_close(m(x4, mask4), model(x4, mask4), rtol=1e-6, atol=1e-6)
