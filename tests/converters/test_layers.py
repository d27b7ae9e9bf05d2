"""converters/layers.py, the helpers every converter family builds layers with: each built into a small network
that TensorRT's builder must accept, run by the reference executor at shapes other than one sample."""

from __future__ import annotations

import pytest
import torch

from torch2trt.backend import create_network, trt
from torch2trt.converters import layers
from torch2trt.network import reference
from torch2trt.tracing.context import ConversionContext, UnsupportedArgument


class _Net:
    def __init__(self):
        self.builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
        self.network = create_network(self.builder)
        self.ctx = ConversionContext(self.network, self.builder)
        self.ctx.method_name = "test"
        self.profile = None

    def input(self, shape, lo=None, hi=None, dtype=trt.float32):
        t = self.network.add_input("x", dtype, tuple(shape))
        if lo is not None:
            self.profile = self.builder.create_optimization_profile()
            self.profile.set_shape("x", tuple(lo), tuple(lo), tuple(hi))
        return t

    def run(self, out, *feeds):
        self.network.mark_output(out)
        config = self.builder.create_builder_config()
        if self.profile is not None:
            config.add_optimization_profile(self.profile)
        assert self.builder.build_serialized_network(self.network, config) is not None, "builder rejected it"
        name = out.name
        return [reference.run(self.network, {"x": x})[name] for x in feeds]


def test_reshape_zero_is_an_empty_axis_as_in_torch():
    net = _Net()
    (got,) = net.run(layers.reshape(net.ctx, net.input((2, 0)), [0, 5]), torch.zeros(2, 0))
    assert tuple(got.shape) == (0, 5)  # a TensorRT placeholder 0 would have copied the 2


def test_context_reshape_means_the_same_zero():
    net = _Net()
    (got,) = net.run(net.ctx.reshape(net.input((2, 0)), [0, 5]), torch.zeros(2, 0))
    assert tuple(got.shape) == (0, 5)


def test_reshape_keeps_a_dynamic_axis_through_input_dims():
    net = _Net()
    xt = net.input((-1, 3), (1, 3), (8, 3))
    y = layers.reshape(net.ctx, xt, [*layers.input_dims(net.ctx, xt), 1])
    for x, got in zip(feeds := [torch.randn(2, 3), torch.randn(7, 3)], net.run(y, *feeds)):
        assert torch.equal(got, x.reshape(-1, 3, 1))


def test_broadcast_to_repeats_size_one_axes_statically():
    net = _Net()
    x = torch.randn(1, 3)
    (got,) = net.run(layers.broadcast_to(net.ctx, net.input((1, 3)), [4, 3]), x)
    assert torch.equal(got, x.expand(4, 3))


def test_broadcast_to_a_dynamic_axis_that_is_one_at_one_shape_and_full_at_another():
    net = _Net()
    xt = net.input((-1, 1), (1, 1), (5, 1))
    y = layers.broadcast_to(net.ctx, xt, [5, 4])
    feeds = [torch.randn(1, 1), torch.randn(5, 1)]
    for x, got in zip(feeds, net.run(y, *feeds)):
        assert torch.equal(got, x.expand(5, 4))


def test_filled_makes_a_dynamic_shape_from_one_element():
    net = _Net()
    xt = net.input((-1, 2), (1, 2), (6, 2))
    y = layers.filled(net.ctx, 2.5, torch.float32, [layers.input_dims(net.ctx, xt)[0], 3])
    y = layers.elementwise(net.ctx, y, layers.reshape(net.ctx, layers.slice_axis(net.ctx, xt, 1, 0, 1), [-1, 1]),
                           trt.ElementWiseOperation.SUM)
    feeds = [torch.randn(1, 2), torch.randn(6, 2)]
    for x, got in zip(feeds, net.run(y, *feeds)):
        torch.testing.assert_close(got, torch.full((x.shape[0], 3), 2.5) + x[:, :1], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype, compute", [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                            (torch.float32, torch.float32), (torch.int32, torch.int32)])
def test_compute_dtype_is_float32_only_for_reduced_floats(dtype, compute):
    assert layers.compute_dtype(dtype) == compute


def test_the_two_dtype_checks_check_different_things():
    ctx = _Net().ctx
    layers.require_tensorrt_dtype(ctx, torch.uint8)  # TensorRT holds uint8 (a cast or a copy is fine) ...
    with pytest.raises(UnsupportedArgument, match="no plain torch.uint8 arithmetic"):
        layers.require_arithmetic_dtype(ctx, torch.uint8)  # ... but computes nothing in it
    with pytest.raises(UnsupportedArgument, match="to torch.int16: TensorRT has no such type"):
        layers.require_tensorrt_dtype(ctx, torch.int16)
    with pytest.raises(UnsupportedArgument, match="float64"):
        layers.require_arithmetic_dtype(ctx, torch.float64)


# ---- the helpers that replaced converters' private copies ---------------------------------------------------------
def test_iota_counts_to_a_size_read_from_the_network():
    net = _Net()
    xt = net.input((-1, 2), (1, 2), (6, 2))
    y = layers.iota(net.ctx, layers.input_dims(net.ctx, xt)[0], torch.int64)
    column = net.ctx.cast(layers.reshape(net.ctx, y, [-1, 1]), torch.float32)
    y = layers.elementwise(net.ctx, layers.slice_axis(net.ctx, xt, 1, 0, 1), column, trt.ElementWiseOperation.SUM)
    feeds = [torch.randn(1, 2), torch.randn(6, 2)]
    for x, got in zip(feeds, net.run(y, *feeds)):
        assert torch.equal(got, x[:, :1] + torch.arange(x.shape[0], dtype=torch.float32)[:, None])


def test_iota_of_a_static_size_is_a_constant():
    net = _Net()
    before = net.network.num_layers
    layers.iota(net.ctx, 4)
    assert net.network.num_layers == before + 1
    assert net.network.get_layer(before).type == trt.LayerType.CONSTANT


def test_linspace_with_one_delta_per_axis_over_a_dynamic_shape():
    """col - row over (rows, 3) with rows read from the network (creation.diagonal_offsets' fill)."""
    net = _Net()
    xt = net.input((-1, 3), (1, 3), (5, 3))
    rows = layers.input_dims(net.ctx, xt)[0]
    y = layers.linspace(net.ctx, [rows, 3], torch.float32, torch.tensor(0.0), torch.tensor([-1.0, 1.0]), "offsets")
    y = layers.elementwise(net.ctx, xt, y, trt.ElementWiseOperation.SUM)
    feeds = [torch.randn(1, 3), torch.randn(5, 3)]
    for x, got in zip(feeds, net.run(y, *feeds)):
        assert torch.equal(got, x + (torch.arange(3)[None, :] - torch.arange(x.shape[0])[:, None]).float())


def test_slice_layer_takes_a_size_tensor_computed_by_the_caller():
    """x shifted one place along a dynamic axis, the first element repeated (CLAMP), size = shape(x)."""
    net = _Net()
    xt = net.input((-1,), (1,), (7,))
    y = layers.slice_layer(net.ctx, xt, [-1], net.ctx.shape_of(xt), [1], "shift", mode=trt.SampleMode.CLAMP)
    feeds = [torch.randn(1), torch.randn(7)]
    for x, got in zip(feeds, net.run(y, *feeds)):
        assert torch.equal(got, torch.cat([x[:1], x[:-1]]))


@pytest.mark.parametrize("value, n, expected", [(3, 2, (3, 3)), ((2, 1), 2, (2, 1)), ([1], 3, (1, 1, 1)),
                                                (torch.Size([4, 5, 6]), 3, (4, 5, 6))])
def test_as_tuple_spreads_an_int_or_a_one_element_sequence(value, n, expected):
    assert layers.as_tuple(value, n) == expected


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float64])
def test_require_float_dtype_refuses_all_but_tensorrt_floats(dtype):
    ctx = _Net().ctx
    for ok in (torch.float32, torch.float16, torch.bfloat16):
        layers.require_float_dtype(ctx, ok)
    with pytest.raises(UnsupportedArgument, match=rf"^test on {dtype}$"):
        layers.require_float_dtype(ctx, dtype)
    with pytest.raises(UnsupportedArgument, match=rf"^test on {dtype}: floating-point only$"):
        layers.require_float_dtype(ctx, dtype, "floating-point only")


def test_einsum_layer_names_the_equation_it_cannot_build():
    net = _Net()
    xt = net.input((2, 3))
    with pytest.raises(UnsupportedArgument, match=r"test\('ij,jk->ik'\): TensorRT rejects this equation"):
        layers.einsum_layer(net.ctx, [xt], "ij,jk->ik")
