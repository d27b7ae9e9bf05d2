"""Names of custom (torch.ops) operators in errors: the string a user passes to @tensorrt_converter."""

import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision.*)

from torch2trt import tensorrt_converter
from torch2trt.testing import assert_refuses
from torch2trt.tracing import registry


def test_custom_op_names_are_torch_ops_paths():
    assert registry.qualified_name(torch.ops.torchvision.nms) == "torch.ops.torchvision.nms"
    assert registry.qualified_name(torch.ops.torchvision.nms.default) == "torch.ops.torchvision.nms.default"
    assert registry.qualified_name(torch.ops.aten.add.Tensor) == "torch.ops.aten.add.Tensor"


def test_refusal_of_nms_names_the_op_as_users_write_it():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]])

    def fn(scores):
        return torch.ops.torchvision.nms(boxes, scores, 0.5)

    msg = assert_refuses(fn, [torch.tensor([0.9, 0.8, 0.7])], r"torch\.ops\.torchvision\.nms: ")
    assert "pybind11" not in msg


def test_a_converter_registered_under_that_name_is_called():
    def convert(ctx):
        raise ctx.unsupported("reached the user's nms converter")

    tensorrt_converter("torch.ops.torchvision.nms")(convert)
    try:
        assert_refuses(lambda x: torch.ops.torchvision.nms(x[:, :4], x[:, 4], 0.5), [torch.rand(3, 5)],
                       r"torch\.ops\.torchvision\.nms: reached the user's nms converter")
    finally:
        registry.unregister("torch.ops.torchvision.nms", convert)
