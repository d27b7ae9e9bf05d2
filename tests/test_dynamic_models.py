"""Dynamic shapes end to end: one network for a range of shapes, checked by the reference executor at the
profile's min, opt and max and at two other shapes in range, against PyTorch at the same shapes."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from torch2trt import ConversionError, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.testing import randomize_norm_statistics


def check_shapes(model, model_trt, shapes_per_input, rtol=1e-5):
    errors = []
    for shapes in shapes_per_input:
        inputs = [torch.randn(s) for s in shapes]
        with torch.no_grad():
            expected = model(*inputs)
        err = compare(run_reference(model_trt, inputs), expected)
        assert err.same_layout, (shapes, err)
        errors.append(err.rel)
    assert max(errors) <= rtol, errors
    return errors


def test_resnet18_dynamic_batch_and_resolution():
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    randomize_norm_statistics(model)
    m = torch2trt(model, [torch.randn(2, 3, 64, 64)], min_shapes=[(1, 3, 32, 32)], opt_shapes=[(2, 3, 64, 64)],
                  max_shapes=[(4, 3, 96, 96)])
    assert tuple(m.network.get_input(0).shape) == (-1, 3, -1, -1)
    check_shapes(model, m, [[(1, 3, 32, 32)], [(2, 3, 64, 64)], [(4, 3, 96, 96)], [(3, 3, 45, 71)],
                            [(1, 3, 90, 33)]])


def test_resnet50_dynamic_batch_and_resolution():
    # the dynamic-shapes issue's torchvision target (benchmarks/dynamic_models.py runs it at 160..320)
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    randomize_norm_statistics(model)
    m = torch2trt(model, [torch.randn(2, 3, 96, 96)], min_shapes=[(1, 3, 64, 64)], max_shapes=[(4, 3, 128, 128)])
    assert tuple(m.network.get_input(0).shape) == (-1, 3, -1, -1)
    check_shapes(model, m, [[(1, 3, 64, 64)], [(2, 3, 96, 96)], [(4, 3, 128, 128)], [(3, 3, 80, 112)],
                            [(1, 3, 127, 65)]])


def test_transformer_encoder_dynamic_batch_and_sequence():
    torch.manual_seed(0)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2).eval()
    m = torch2trt(model, [torch.randn(2, 8, 32)], min_shapes=[(1, 2, 32)], opt_shapes=[(2, 8, 32)],
                  max_shapes=[(4, 16, 32)])
    assert tuple(m.network.get_input(0).shape) == (-1, -1, 32)
    check_shapes(model, m, [[(1, 2, 32)], [(2, 8, 32)], [(4, 16, 32)], [(3, 5, 32)], [(1, 13, 32)]])


class TinyUNet(nn.Module):
    """Down, up, and an interpolation to the skip connection's size (odd sizes included)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        skip = torch.relu(self.enc(x))
        y = torch.relu(self.down(skip))
        y = F.interpolate(self.up(y), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([y, skip], 1))


def test_unet_interpolating_to_its_skip_connection():
    torch.manual_seed(0)
    model = TinyUNet().eval()
    m = torch2trt(model, [torch.randn(2, 3, 32, 32)], min_shapes=[(1, 3, 16, 16)], max_shapes=[(3, 3, 64, 64)])
    check_shapes(model, m, [[(1, 3, 16, 16)], [(2, 3, 32, 32)], [(3, 3, 64, 64)], [(2, 3, 17, 41)],
                            [(1, 3, 63, 20)]])


SHAPE_PYTHON = {
    "size0_as_number": lambda x, y: x * x.size(0),
    "half_of_last_dim": lambda x, y: x[..., : x.shape[-1] // 2],
    "view_batch_minus_one": lambda x, y: x.view(x.size(0), -1),
    "reshape_b_c_hw": lambda x, y: x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3]),
    "interpolate_to_other": lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear"),
    "new_zeros_of_shape": lambda x, y: x + x.new_zeros(x.shape),
    "slice_by_size": lambda x, y: x[:, : x.size(1) // 2],
    "expand_to_other_shape": lambda x, y: x[:, :, :1, :1].expand(*y.shape),
    "arange_of_size": lambda x, y: x + torch.arange(x.size(-1)),
}


@pytest.mark.parametrize("name", list(SHAPE_PYTHON))
def test_shape_dependent_python_becomes_shape_computation(name):
    fn = SHAPE_PYTHON[name]
    model = FunctionModule(fn).eval()
    m = torch2trt(model, [torch.randn(2, 4, 6, 8), torch.randn(2, 4, 12, 16)],
                  min_shapes=[(1, 4, 3, 4), (1, 4, 6, 8)], max_shapes=[(4, 4, 12, 16), (4, 4, 24, 32)])
    check_shapes(model, m, [[(1, 4, 3, 4), (1, 4, 6, 8)], [(4, 4, 12, 16), (4, 4, 24, 32)],
                            [(3, 4, 5, 7), (3, 4, 9, 11)]])


def test_a_converter_that_ignores_a_dynamic_size_is_reported_not_frozen():
    """A converter that builds from the sample's sizes instead of the DynDim it was given would be right
    only at the sample's shape: the tracer notices the unused dynamic value and reports the call."""
    from torch2trt import tensorrt_converter, unregister_converter

    @tensorrt_converter("torch.Tensor.expand")
    def static_expand(ctx):
        x, out = ctx.method_args[0], ctx.method_return
        layer = ctx.network.add_slice(x._trt, [0] * out.dim(), list(out.shape), [0] * out.dim())
        out._trt = layer.get_output(0)

    fn = FunctionModule(lambda x: x[:, :1].expand(x.size(0), 4, x.size(2))).eval()
    try:
        with pytest.raises(ConversionError, match=r"torch.Tensor.expand: dynamic dimension argument\(s\) \[2, 6\] "
                                                  r"would be frozen"):
            torch2trt(fn, [torch.randn(2, 4, 6)], min_shapes=[(1, 4, 3)], max_shapes=[(4, 4, 12)])
    finally:
        unregister_converter("torch.Tensor.expand", static_expand)
