"""torch.compile(model, backend="torch2trt"): graphs become TensorRT networks, graph breaks run in PyTorch, a graph
that does not convert runs in PyTorch with one warning, dynamic=True gives dynamic profiles."""

import warnings

import pytest
import torch
import torch.nn as nn

import torch2trt.dynamo as t2t_dynamo


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def recording_backend(compiled: list):
    def backend(gm, example_inputs, **kwargs):
        fn = t2t_dynamo.backend(gm, example_inputs, **kwargs)
        compiled.append(fn)
        return fn

    return backend


class WithBreak(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.b = nn.Linear(8, 5)

    def forward(self, x):
        y = self.a(x)
        torch._dynamo.graph_break()
        return self.b(y.mean((2, 3))).softmax(-1)


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            return fn(*args)


def test_a_model_with_a_graph_break_runs_each_graph_as_an_engine():
    model = WithBreak().eval()
    compiled = []
    fast = torch.compile(model, backend=recording_backend(compiled))
    for _ in range(2):
        x = torch.randn(2, 3, 16, 16)
        got = _quiet(fast, x)
        assert torch.allclose(got, model(x), rtol=1e-5, atol=1e-6)
    assert len(compiled) == 2 and all(hasattr(fn, "trt_module") for fn in compiled)
    # the graphs' parameters are network constants, not inputs
    assert [fn.trt_module.network.num_inputs for fn in compiled] == [1, 1]


def test_the_backend_is_found_by_its_name():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval()
    fast = torch.compile(model, backend="torch2trt")
    x = torch.randn(3, 4)
    assert torch.allclose(_quiet(fast, x), model(x), rtol=1e-5, atol=1e-6)


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        return self.b(torch.special.bessel_j0(self.a(x)))


def test_a_graph_with_an_op_without_converter_runs_in_pytorch_with_one_warning():
    model = Unsupported().eval()
    compiled = []
    fast = torch.compile(model, backend=recording_backend(compiled))
    x = torch.randn(2, 4)
    with pytest.warns(UserWarning, match="bessel_j0") as record, torch.no_grad():
        got = fast(x)
        fast(torch.randn(2, 4))
    assert sum("runs in PyTorch" in str(w.message) for w in record) == 1
    assert torch.allclose(got, model(x))
    assert compiled and not any(hasattr(fn, "trt_module") for fn in compiled)


def test_dynamic_true_gives_one_engine_with_a_dynamic_profile():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Linear(8, 3)).eval()
    compiled = []
    fast = torch.compile(model, backend=recording_backend(compiled), dynamic=True)
    for batch in (3, 6, 17):  # (batch 1 would be a recompile: dynamo specializes sizes 0 and 1)
        x = torch.randn(batch, 6)
        assert torch.allclose(_quiet(fast, x), model(x), rtol=1e-5, atol=1e-6)
    assert len(compiled) == 1
    spec = compiled[0].trt_module.input_specs[0]
    # dynamo's range for a batch symbol starts at 2 (it specializes 0 and 1); the feature axis stays static
    assert spec.min[0] == 2 and spec.max[0] >= 17 and spec.min[1] == spec.max[1] == 6


def test_options_reach_the_conversion():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU()).eval()
    compiled = []
    fast = torch.compile(model, backend=recording_backend(compiled), options={"dtype": torch.float16})
    x = torch.randn(2, 6)
    got = _quiet(fast, x)
    assert got.dtype == torch.float32 and torch.allclose(got, model(x), rtol=1e-2, atol=1e-2)
    assert compiled[0].trt_module.build_settings["dtype"] == "float16"
    with pytest.raises(Exception, match="unknown option"):
        torch._dynamo.reset()
        _quiet(torch.compile(model, backend="torch2trt", options={"no_such": 1}), x)


def test_dynamo_convert_leaves_buffers_the_forward_writes_as_they_were():
    """The capture runs the forward for real: batch norm in training mode updates its running statistics there
    (inside ATen), which dynamo.convert puts back; the engine normalizes with the batch's statistics."""
    from tests.test_aliasing import TrainingBatchNorm

    torch.manual_seed(0)
    model = TrainingBatchNorm().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    m = t2t_dynamo.convert(model, [torch.randn(4, 3, 5)], min_shapes=[(2, 3, 5)], max_shapes=[(8, 3, 5)])
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    x = torch.randn(6, 3, 5)
    expected = torch.nn.functional.batch_norm(x, before["rm"].clone(), before["rv"].clone(), before["weight"],
                                              before["bias"], training=True, momentum=0.3, eps=1e-3)
    torch.testing.assert_close(m(x), expected, rtol=1e-5, atol=1e-5)
