"""Batch norm after a convolution folds into the convolution's weights, only where that is exact."""

from collections import Counter

import pytest
import torch
import torch.nn as nn

from torch2trt.testing import assert_converts, randomize_norm_statistics


def counts(report) -> Counter:
    net = report.model_trt.network
    return Counter(net.get_layer(i).type.name for i in range(net.num_layers))


class ConvBN(nn.Module):
    def __init__(self, variant: str, bias: bool = False):
        super().__init__()
        self.variant = variant
        self.conv = nn.Conv2d(3, 6, 3, bias=bias)
        self.bn = nn.BatchNorm2d(6)
        randomize_norm_statistics(self)

    def forward(self, x):
        y = self.conv(x)
        if self.variant == "inplace_first":
            y.relu_()  # the BN input is no longer the convolution's output
        z = self.bn(y)
        if self.variant == "reuse_after":
            return z + y  # the plain convolution output is needed as well
        if self.variant == "reuse_before":
            return y + 1, self.bn(y)
        return z


@pytest.mark.parametrize("bias", [False, True])
def test_batch_norm_after_conv_folds_into_its_weights(bias):
    report = assert_converts(ConvBN("plain", bias), [torch.randn(2, 3, 9, 9)])
    assert counts(report) == Counter({"CONVOLUTION": 1})


def test_conv_output_used_after_the_batch_norm_is_rebuilt_unfolded():
    report = assert_converts(ConvBN("reuse_after"), [torch.randn(2, 3, 9, 9)])
    c = counts(report)
    assert c["CONVOLUTION"] == 2 and c["SCALE"] == 0  # folded conv + the plain one, rebuilt on demand


def test_conv_output_used_before_the_batch_norm_is_not_folded():
    report = assert_converts(ConvBN("reuse_before"), [torch.randn(2, 3, 9, 9)])
    assert counts(report)["SCALE"] == 1


def test_in_place_op_between_conv_and_batch_norm_prevents_folding():
    from torch2trt.converters import activation  # noqa: F401  (relu_ converter)

    report = assert_converts(ConvBN("inplace_first"), [torch.randn(2, 3, 9, 9)])
    assert counts(report)["SCALE"] == 1


def test_layerwise_debugging_sees_unfolded_layers():
    from torch2trt.debug import compare

    report = compare(ConvBN("plain").eval(), [torch.randn(2, 3, 9, 9)])
    assert report.first_divergence is None
    net = report.model_trt.network
    assert Counter(net.get_layer(i).type.name for i in range(net.num_layers))["SCALE"] == 1


def test_fold_batchnorm_false_keeps_a_scale_layer_and_hands_tensorrt_the_models_own_kernel():
    from torch2trt import torch2trt

    model = ConvBN("plain").eval()
    m = torch2trt(model, [torch.randn(2, 3, 9, 9)], fold_batchnorm=False, keep_network=True)
    net = m.network
    kinds = Counter(net.get_layer(i).type.name for i in range(net.num_layers))
    assert kinds == Counter({"CONVOLUTION": 1, "SCALE": 1})
    conv = next(net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type.name == "CONVOLUTION")
    conv.__class__ = __import__("torch2trt").trt.IConvolutionLayer
    assert conv.kernel.ctypes.data == model.conv.weight.data_ptr()    # a view of the parameter, no folded copy
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(m.run_reference(x), model(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="fold_batchnorm must be True or False"):
        torch2trt(model, [torch.randn(2, 3, 9, 9)], fold_batchnorm="no")
