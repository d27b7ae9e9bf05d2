"""Reduced precision on strongly typed networks: weights and activations in float16/bfloat16 inside the
network, float32 at the boundaries, precision-sensitive layers (softmax, normalization, reductions) in float32.
No builder precision flags: the engines build with the network's own types."""

from collections import Counter

import pytest
import torch
import torch.nn as nn
import torchvision

from torch2trt import torch2trt
from torch2trt.check import compare, run_reference
from torch2trt.testing import randomize_norm_statistics

NAMES = {torch.float16: "HALF", torch.bfloat16: "BF16"}


def _model(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    randomize_norm_statistics(model)
    if name == "vit_b_16":  # torchvision zero-initializes the head: every output would be 0
        with torch.no_grad():
            model.heads.head.weight.normal_(0, 0.02)
    return model


def layer_dtypes(network) -> Counter:
    return Counter((network.get_layer(i).type.name, network.get_layer(i).get_output(0).dtype.name)
                   for i in range(network.num_layers))


@pytest.fixture(scope="module", params=["resnet50", "vit_b_16"])
def model_and_input(request):
    return request.param, _model(request.param), torch.randn(1, 3, 224, 224)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_layer_types_and_accuracy(model_and_input, dtype):
    name, model, x = model_and_input
    with torch.no_grad():
        expected = model(x)
    model_trt = torch2trt(model, [x], dtype=dtype)   # the engine builds: strongly typed, no precision flags
    net = model_trt.network
    assert net.get_input(0).dtype.name == "FLOAT" and net.get_output(0).dtype.name == "FLOAT"
    counts = layer_dtypes(net)
    low = NAMES[dtype]
    # the heavy layers run in the reduced type ...
    for kind in ("CONVOLUTION", "MATRIX_MULTIPLY"):
        assert counts[(kind, low)] > 0 and counts[(kind, "FLOAT")] == 0, counts
    # ... the precision-sensitive ones in float32
    for kind in ("SOFTMAX", "NORMALIZATION", "REDUCE"):
        assert counts[(kind, low)] == 0, counts
    if name == "vit_b_16":
        assert counts[("SOFTMAX", "FLOAT")] == 12 and counts[("NORMALIZATION", "FLOAT")] == 25
    else:
        assert counts[("REDUCE", "FLOAT")] == 1
    err = compare(run_reference(model_trt, [x]), expected)
    assert err.same_layout
    # The bar is 1e-2, or PyTorch's own error when it runs the same model in this dtype, if that is larger:
    # bfloat16 keeps 8 bits, and a 12-layer ViT in bfloat16 is ~1.3e-2 from float32 in PyTorch itself.
    with torch.no_grad():
        own = compare(_model(name).to(dtype)(x.to(dtype)).float(), expected).rel
    print(f"{name} {dtype}: relative error vs float32 PyTorch {err.rel:.3g} (PyTorch in {dtype}: {own:.3g})")
    assert err.rel <= max(1e-2, own)


def test_fp16_mode_is_float16():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)], fp16_mode=True)
    assert layer_dtypes(m.network)[("CONVOLUTION", "HALF")] == 1
    assert m.build_settings["dtype"] == "float16"
    assert model[0].weight.dtype == torch.float32  # the user's model is not changed


def test_half_model_keeps_its_half_weights_and_io():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval().half()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8).half()])
    net = m.network
    assert net.get_input(0).dtype.name == "HALF" and net.get_output(0).dtype.name == "HALF"
    assert layer_dtypes(net) == Counter({("CONVOLUTION", "HALF"): 1, ("ACTIVATION", "HALF"): 1})


def test_integer_inputs_stay_integer_in_reduced_precision():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.proj = nn.Linear(8, 4)

        def forward(self, ids):
            return self.proj(self.emb(ids)).softmax(-1)

    model = Tokens().eval()
    ids = torch.randint(0, 20, (2, 5))
    m = torch2trt(model, [ids], dtype=torch.float16)
    net = m.network
    assert net.get_input(0).dtype.name == "INT64" and net.get_output(0).dtype.name == "FLOAT"
    err = compare(run_reference(m, [ids]), model(ids))
    assert err.rel <= 1e-2


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be torch.float32, torch.float16 or torch.bfloat16"):
        torch2trt(nn.Linear(2, 2).eval(), [torch.randn(1, 2)], dtype=torch.int8)
    with pytest.raises(ValueError, match="contradicts"):
        torch2trt(nn.Linear(2, 2).eval(), [torch.randn(1, 2)], fp16_mode=True, dtype=torch.bfloat16)
