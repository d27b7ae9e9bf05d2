"""The conversion pipeline end to end: tracing, unsupported-call reports, cleanup, structures, build."""

from collections import Counter

import pytest
import torch
import torch.nn as nn
import torchvision

import torch2trt as t2t
from torch2trt import ConversionError, tensorrt_converter, torch2trt, trt
from torch2trt.check import FunctionModule
from torch2trt.testing import assert_converts


def layer_types(network) -> Counter:
    return Counter(network.get_layer(i).type.name for i in range(network.num_layers))


def test_resnet18_converts_and_builds_with_expected_layers():
    model = torchvision.models.resnet18().eval()
    x = torch.randn(2, 3, 64, 64)
    model_trt = torch2trt(model, [x])
    assert len(model_trt.engine_bytes) > 1_000_000  # the weights are in the engine
    counts = Counter(type(m) for m in model.modules())
    relu_calls = 1 + 2 * 8  # stem + two per BasicBlock (modules are reused within a block)
    expected = Counter({
        "CONVOLUTION": counts[nn.Conv2d],
        # batch norm: folded into the convolution before it (no layer)
        "ACTIVATION": relu_calls,
        "ELEMENTWISE": 8 + 1,                     # residual adds + linear bias
        "POOLING": 1,                             # max pool
        "REDUCE": 1,                              # global average pool
        "SHUFFLE": 1,                             # flatten
        "MATRIX_MULTIPLY": 1,                     # fc
        "CONSTANT": 2,                            # fc weight and bias
    })
    assert layer_types(model_trt.network) == expected
    names = [model_trt.network.get_layer(i).name for i in range(model_trt.network.num_layers)]
    assert names[:3] == ["conv1/conv2d", "relu/relu", "maxpool/max_pool2d"]
    assert "layer3.1.conv2/conv2d" in names
    assert model_trt.input_names == ["input_0"] and model_trt.output_names == ["output_0"]


def test_resnet18_matches_pytorch_on_reference_executor():
    model = torchvision.models.resnet18().eval()
    assert_converts(model, [torch.randn(2, 3, 64, 64)], rtol=1e-5)


def test_original_relu_converter_example_is_used_for_nn_relu_then_unregistered():
    calls = []

    @tensorrt_converter("torch.nn.ReLU.forward")
    def convert_ReLU(ctx):
        input = ctx.method_args[1]
        output = ctx.method_return
        layer = ctx.network.add_activation(input=input._trt, type=trt.ActivationType.RELU)
        layer.name = f"custom_relu_{len(calls)}"
        calls.append(ctx.method_args[0])
        output._trt = layer.get_output(0)

    try:
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU()).eval()
        report = assert_converts(model, [torch.randn(2, 3, 10, 10)])
        assert len(calls) == 2 and all(isinstance(m, nn.ReLU) for m in calls)
        net = report.model_trt.network
        names = [net.get_layer(i).name for i in range(net.num_layers)]
        assert names.count("custom_relu_0") == 1 and names.count("custom_relu_1") == 1
    finally:
        t2t.unregister_converter("torch.nn.ReLU.forward", convert_ReLU)
    calls.clear()
    torch2trt(model, [torch.randn(2, 3, 10, 10)])
    assert calls == []  # the built-in functional converter handles nn.ReLU again


class TwoUnsupported(nn.Module):
    def forward(self, x):
        y = torch.relu(x)
        a = torch.special.bessel_j0(y)
        b = torch.special.bessel_j0(y + 1)
        c = torch.linalg.det(y)
        return a + b, c


def test_unsupported_calls_are_all_listed_with_counts_and_source_lines():
    x = torch.randn(2, 3, 3)
    with pytest.raises(ConversionError) as info:
        torch2trt(TwoUnsupported().eval(), [x])
    msg = str(info.value)
    assert "torch.special.bessel_j0: no converter; called 2 time(s)" in msg
    assert "torch.linalg.det: no converter; called 1 time(s)" in msg
    assert "test_core.py:" in msg and "a = torch.special.bessel_j0(y)" in msg
    assert "c = torch.linalg.det(" in msg
    assert "2 problem(s)" in msg  # consequences (the add of unconverted outputs) are not extra problems


def test_calls_that_touch_no_traced_tensor_are_not_errors():
    class M(nn.Module):
        def forward(self, x):
            k = torch.special.bessel_j0(torch.ones(1))  # constant-only: evaluated once, a constant
            return x + k

    assert_converts(M(), [torch.randn(2, 3)])


def _global_hooks_empty() -> bool:
    from torch.nn.modules import module as m

    return not m._global_forward_hooks and not m._global_forward_pre_hooks


def test_nothing_is_left_behind_after_a_failed_conversion():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval()
    model.register_buffer("extra", torch.ones(3))

    class Failing(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            x.add_(1)  # in-place on the (cloned) input: the caller's tensor must not change
            return torch.special.bessel_j0(self.inner(x) + self.inner.extra)

    x = torch.randn(2, 3)
    x_before = x.clone()
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConversionError):
        torch2trt(Failing().eval(), [x])
    for t in list(model.parameters()) + list(model.buffers()) + [x]:
        assert not hasattr(t, "_trt")
    assert torch.equal(x, x_before)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state_before[k]), k
    assert torch.overrides._get_current_function_mode_stack() == []
    assert _global_hooks_empty()
    assert torch.equal(torch.relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))


def test_nothing_is_left_behind_after_a_successful_conversion_and_buffers_are_restored():
    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", torch.zeros(2))
            self.cache = None

        def forward(self, x):
            self.count += 1          # a stateful buffer update must be undone
            self.cache = x + 1       # a tensor kept by the model must lose its `_trt`
            return self.cache + self.count

    model = Stateful().eval()
    x = torch.randn(2, 2)
    torch2trt(model, [x])
    assert torch.equal(model.count, torch.zeros(2))
    assert not hasattr(model.cache, "_trt") and not hasattr(model.count, "_trt") and not hasattr(x, "_trt")
    assert _global_hooks_empty()


def test_training_mode_is_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout())
    with pytest.raises(ValueError, match=r"training mode.*\.eval\(\)"):
        torch2trt(model, [torch.randn(2, 3)])


class Nested(nn.Module):
    def forward(self, x, pair):
        y, extras = pair["y"], pair["extras"]
        return {"sum": (x + y, torch.relu(extras[0])), "list": [x + 1.0, None]}


def test_nested_inputs_and_outputs_round_trip():
    x, y, z = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 4)
    inputs = [x, {"y": y, "extras": [z]}]
    report = assert_converts(Nested().eval(), inputs)
    model_trt = report.model_trt
    assert model_trt.input_names == ["input_0", "input_1", "input_2"]
    assert model_trt.output_names == ["output_0", "output_1", "output_2"]
    with pytest.warns(UserWarning, match="reference executor"):
        out = model_trt(*inputs)
    expected = Nested()(*inputs)
    assert set(out) == {"sum", "list"} and isinstance(out["sum"], tuple) and out["list"][1] is None
    torch.testing.assert_close(out["sum"][0], expected["sum"][0])
    torch.testing.assert_close(out["sum"][1], expected["sum"][1])
    torch.testing.assert_close(out["list"][0], expected["list"][0])


def test_custom_input_and_output_names_and_identity_outputs():
    model_trt = torch2trt(FunctionModule(lambda a, b: (a, a + b, a + b)).eval(),
                          [torch.randn(2, 2), torch.randn(2, 2)], input_names=["a", "b"],
                          output_names=["same", "s1", "s2"])
    assert model_trt.input_names == ["a", "b"]
    net = model_trt.network
    assert [net.get_output(i).name for i in range(net.num_outputs)] == ["same", "s1", "s2"]


def test_bad_arguments_are_refused_clearly():
    model = nn.Linear(3, 3).eval()
    with pytest.raises(TypeError, match="float64"):
        torch2trt(model.double(), [torch.randn(2, 3, dtype=torch.float64)])
    with pytest.raises(ValueError, match="int8_mode"):
        torch2trt(nn.Linear(3, 3).eval(), [torch.randn(2, 3)], int8_mode=True, quantize="fp8")
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        torch2trt(nn.Linear(3, 3).eval(), [torch.randn(2, 3)], bogus=1)
    with pytest.raises(ValueError, match="input_names must be 1 distinct"):
        torch2trt(nn.Linear(3, 3).eval(), [torch.randn(2, 3)], input_names=["a", "b"])


def test_converter_output_with_wrong_shape_is_reported_as_converter_bug():
    @tensorrt_converter(torch.Tensor.exp2)
    def wrong(ctx):
        x = ctx.method_args[0]
        layer = ctx.network.add_reduce(x._trt, trt.ReduceOperation.SUM, 1, True)
        ctx.method_return._trt = layer.get_output(0)

    try:
        with pytest.raises(ConversionError, match=r"converter produced shape \(1, 3\).*PyTorch gives \(2, 3\)"):
            torch2trt(FunctionModule(lambda x: x.exp2()).eval(), [torch.randn(2, 3)])
    finally:
        t2t.unregister_converter(torch.Tensor.exp2, wrong)


def test_converter_crash_is_reported_with_the_op_name():
    @tensorrt_converter("torch.Tensor.exp2")
    def crashing(ctx):
        raise KeyError("boom")

    try:
        with pytest.raises(ConversionError, match=r"torch.Tensor.exp2: converter raised KeyError"):
            torch2trt(FunctionModule(lambda x: x.exp2()).eval(), [torch.randn(2, 3)])
    finally:
        t2t.unregister_converter("torch.Tensor.exp2")


def test_data_dependent_python_values_are_refused():
    def fn(x):
        return x * float(x.sum())

    with pytest.raises(ConversionError, match=r"__float__: its result is a Python value computed from tensor"):
        torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)])


def test_converter_registered_for_a_tensor_operator_runs_for_the_operator():
    """In torch 2.x `a * b` reaches __torch_function__ as Tensor.mul: a converter registered for
    "torch.Tensor.__mul__" (as the original torch2trt documents) must still run for it."""
    calls = []

    @tensorrt_converter("torch.Tensor.__mul__")
    def convert_mul(ctx):
        a, b = ctx.method_args[0], ctx.method_args[1]
        calls.append(ctx.method_name)
        layer = ctx.network.add_elementwise(a._trt, b._trt, trt.ElementWiseOperation.PROD)
        ctx.method_return._trt = layer.get_output(0)

    try:
        assert_converts(lambda a, b: a * b, [torch.randn(2, 3), torch.randn(2, 3)])
        assert calls == ["torch.Tensor.__mul__"]
    finally:
        t2t.unregister_converter("torch.Tensor.__mul__", convert_mul)
    calls.clear()
    assert_converts(lambda a, b: a * b, [torch.randn(2, 3), torch.randn(2, 3)])  # the built-in converter again
    assert calls == []


def test_constant_changed_in_place_later_in_the_trace_keeps_its_value_at_use():
    def fn(x):
        c = torch.ones(3)
        y = x + c
        c.add_(5)  # after its use: the network must keep the value it had when it was used
        return y

    assert_converts(fn, [torch.randn(2, 3)])


def test_every_layer_is_named_after_its_module_and_op():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(4)
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

        def forward(self, x):
            y = self.norm(x)
            return self.attn(y, y, y)[0] + torch.nn.functional.rms_norm(x, (4,))

    m = torch2trt(Block().eval(), [torch.randn(2, 3, 4)])
    names = [m.network.get_layer(i).name for i in range(m.network.num_layers)]
    assert not [n for n in names if n.startswith("(Unnamed")], names
    assert any(n.startswith("attn/") for n in names) and any(n.startswith("norm/") for n in names)
    assert len(set(names)) == len(names)


def test_a_build_that_fails_at_the_workspace_limit_names_max_workspace_size():
    # the original torch2trt's test harness passed max_workspace_size=1 << 20; TensorRT-RTX's builder finds no
    # convolution tactics within 1 MB, and the error must say which argument set the limit
    from torch2trt import EngineBuildError

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval()
    with pytest.raises(EngineBuildError, match=r"max_workspace_size=1048576 \(1 MiB\) as the workspace limit; "
                                               r"leave it out \(no limit\) or raise it"):
        torch2trt(model, [torch.randn(1, 3, 16, 16)], max_workspace_size=1 << 20)
    torch2trt(model, [torch.randn(1, 3, 16, 16)], max_workspace_size=1 << 25)      # 32 MiB builds


def test_torch2trt_names_every_argument_and_suggests_a_misspelled_one():
    import inspect

    params = inspect.signature(torch2trt).parameters
    for name in ("int8_mode", "int8_calib_dataset", "int8_calib_algorithm", "int8_calib_percentile",
                 "int8_weight_only", "quantize", "quantize_target", "fold_batchnorm", "data_dependent_max",
                 "keep_torch_modules", "strict_type_constraints", "use_onnx", "dla_core", "gpu_fallback",
                 "device_types", "default_device_type", "onnx_opset", "avg_timing_iterations"):
        assert name in params and params[name].kind == inspect.Parameter.KEYWORD_ONLY, name
    model = torch.nn.ReLU().eval()
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'fp16mode'; did you mean 'fp16_mode'\?"):
        torch2trt(model, [torch.randn(2)], fp16mode=True)
    with pytest.raises(TypeError, match=r"'int8_calib_algo'; did you mean 'int8_calib_algorithm'\?"):
        torch2trt(model, [torch.randn(2)], int8_calib_algo="max")
    with pytest.raises(ValueError, match="select the parts of fallback=True"):
        torch2trt(model, [torch.randn(2)], data_dependent_max=8)
