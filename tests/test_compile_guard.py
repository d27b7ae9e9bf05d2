"""torch.compile(backend="torch2trt") follows the weights: a parameter or buffer changed after compiling (in place,
load_state_dict, an optimizer step, a new Parameter object) rebuilds the graph's engine at the next call, so a
stale engine is never run; unchanged weights keep the engine."""

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


def compiled_with(model, **kwargs):
    runs = []

    def backend(gm, example_inputs, **kw):
        fn = t2t_dynamo.backend(gm, example_inputs, **kw)
        runs.append(fn)
        return fn

    return torch.compile(model, backend=backend, **kwargs), runs


def call(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            return fn(*args)


def close(fast, model, x):
    got, want = call(fast, x), call(model, x)
    return torch.allclose(got, want, rtol=1e-5, atol=1e-5), (got - want).abs().max().item()


def net():
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).eval()


def test_in_place_changes_and_load_state_dict_are_followed():
    torch.manual_seed(0)
    model = net()
    fast, runs = compiled_with(model)
    x = torch.randn(4, 6)
    assert close(fast, model, x)[0]
    engine = runs[0].trt_module
    with torch.no_grad():
        model[0].weight.add_(1.0)                # in place on a parameter
    assert close(fast, model, x)[0]
    assert runs[0].trt_module is not engine
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)         # in place on a buffer
    assert close(fast, model, torch.randn(4, 6))[0]
    model.load_state_dict(net().state_dict())    # copies into the same tensors
    assert close(fast, model, torch.randn(4, 6))[0]
    assert len(runs) == 1                        # one graph, its engine rebuilt: no recompile by dynamo needed


def test_an_optimizer_step_and_a_new_parameter_object_are_followed():
    torch.manual_seed(0)
    model = net()
    fast, runs = compiled_with(model)
    x = torch.randn(4, 6)
    assert close(fast, model, x)[0]
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.randn(4, 6)).square().sum().backward()
    opt.step()
    assert close(fast, model, x)[0]
    model[3].weight = nn.Parameter(torch.randn(3, 8))
    assert close(fast, model, x)[0]
    model.load_state_dict(net().state_dict(), assign=True)   # new tensor objects for every parameter
    assert close(fast, model, torch.randn(4, 6))[0]


def test_unchanged_weights_keep_the_engine():
    model = net()
    fast, runs = compiled_with(model)
    for _ in range(3):
        x = torch.randn(4, 6)
        assert close(fast, model, x)[0]
    engine = runs[0].trt_module
    model(torch.randn(4, 6))   # an eval forward in PyTorch changes nothing
    assert close(fast, model, torch.randn(4, 6))[0]
    assert runs[0].trt_module is engine


def test_a_rebuild_keeps_the_dynamic_profile_and_follows_at_other_sizes():
    torch.manual_seed(0)
    model = net()
    fast, runs = compiled_with(model, dynamic=True)
    assert close(fast, model, torch.randn(3, 6))[0]
    spec = runs[0].trt_module.input_specs[0]
    with torch.no_grad():
        model[3].bias.sub_(2.0)
    assert close(fast, model, torch.randn(9, 6))[0]     # the rebuild happens at another batch size
    new = runs[0].trt_module.input_specs[0]
    assert (new.min, new.max) == (spec.min, spec.max)
    assert close(fast, model, torch.randn(2, 6))[0] and close(fast, model, torch.randn(17, 6))[0]
    engine = runs[0].trt_module
    with torch.no_grad():
        model[0].weight.mul_(-1.0)
    big = torch.randn(new.max[0] + 1, 6)             # outside the profile: PyTorch, with the new weights
    with pytest.warns(UserWarning, match="outside the engine's profile"), torch.no_grad():
        assert torch.allclose(fast(big), model(big), rtol=1e-5, atol=1e-5)
    assert runs[0].trt_module is engine              # not rebuilt yet: the call could not be its sample
    assert close(fast, model, torch.randn(5, 6))[0]  # rebuilt at the next call inside the profile
    assert runs[0].trt_module is not engine and len(runs) == 1


def test_a_rebuild_that_fails_runs_in_pytorch_until_the_weights_change_again(monkeypatch):
    # fault injection: the graph module's trace refuses, as a converter would for weights it cannot express
    from torch2trt import ConversionError

    torch.manual_seed(0)
    model = net()
    fast, runs = compiled_with(model)
    x = torch.randn(4, 6)
    assert close(fast, model, x)[0]

    def refuse(self, *data):
        raise ConversionError("these weights do not convert (injected)")

    monkeypatch.setattr(t2t_dynamo._GraphModule, "forward", refuse)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.warns(UserWarning, match=r"does not rebuild from the new values(.|\n)*injected") as record, \
            torch.no_grad():
        got = fast(x)
        again = fast(torch.randn(4, 6))
    assert sum("does not rebuild" in str(w.message) for w in record) == 1
    assert torch.allclose(got, model(x)) and again.shape == (4, 3) and runs[0].trt_module is None
    monkeypatch.undo()
    with torch.no_grad():
        model[0].weight.sub_(0.5)
    assert close(fast, model, x)[0] and runs[0].trt_module is not None


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.scale = 2.0

    def forward(self, x):
        return self.lin(x) * self.scale


def test_a_float_attribute_passed_as_a_fresh_tensor_is_compared_by_value():
    # with dynamic=True dynamo passes a Python float attribute as a new 0-d tensor at every call: the same value
    # keeps the engine, another value rebuilds it
    model = Scaled().eval()
    fast, runs = compiled_with(model, dynamic=True)
    assert close(fast, model, torch.randn(3, 6))[0]
    engine = runs[0].trt_module
    for batch in (5, 7):
        assert close(fast, model, torch.randn(batch, 6))[0]
    assert runs[0].trt_module is engine
    model.scale = -0.5
    assert close(fast, model, torch.randn(4, 6))[0]
    assert runs[0].trt_module is not engine and len(runs) == 1
