"""torch2trt.models.load_model: the model specs the CLI and the benchmark take, as a library function."""

import textwrap

import pytest
import torch

from torch2trt.models import ModelSpecError, load_model, validate_spec


def test_torchvision_spec_gives_an_eval_model_and_seeded_inputs():
    a = load_model("torchvision:resnet18", batch=2, input_shapes=["3x32x32"])
    b = load_model("resnet18", batch=2, input_shapes=["3x32x32"])
    assert a.name == b.name == "resnet18" and not a.module.training
    assert [tuple(x.shape) for x in a.inputs] == [(2, 3, 32, 32)]
    assert torch.equal(a.inputs[0], b.inputs[0])  # fixed seed: the same inputs every time
    bn = a.module.bn1
    assert not torch.equal(bn.running_var, torch.ones_like(bn.running_var))  # statistics randomized


def test_factory_file_spec_with_its_own_example_inputs(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(textwrap.dedent("""
        import torch
        def make():
            return torch.nn.Linear(4, 3), torch.randn(5, 4)
        def bare():
            return torch.nn.Linear(4, 3)
    """))
    loaded = load_model(f"{f}:make")
    assert loaded.name == "m:make" and tuple(loaded.inputs[0].shape) == (5, 4)
    assert tuple(load_model(f"{f}:bare", batch=3, input_shapes=["4"]).inputs[0].shape) == (3, 4)
    with pytest.raises(ModelSpecError, match="returns no example inputs"):
        load_model(f"{f}:bare")
    with pytest.raises(ModelSpecError, match="gives its own example inputs"):
        load_model(f"{f}:make", batch=2)


@pytest.mark.parametrize("spec, kwargs, message", [
    ("torchvision:resnet_nope", {}, "unknown torchvision model 'resnet_nope'; similar: resnet"),
    ("hub:resnet18", {}, "bad model 'hub:resnet18'"),
    ("missing/m.py:make", {}, "model file not found: missing/m.py"),
    ("resnet18", {"batch": 0}, "batch must be positive"),
    ("resnet18", {"input_shapes": ["3by4"]}, "bad input shape '3by4'"),
])
def test_bad_specs_raise_a_value_error_naming_what_was_expected(spec, kwargs, message):
    with pytest.raises(ModelSpecError, match=message) as info:
        load_model(spec, **kwargs)
    assert isinstance(info.value, ValueError)
    if not kwargs:
        with pytest.raises(ModelSpecError, match=message.split(";")[0]):
            validate_spec(spec)
