"""Portable networks: records -> a new network (replay) with the same layers, the same reference results, and
an engine the real builder builds; TRTModule.rebuild() from a saved state."""

import io

import pytest
import torch
import torch.nn as nn
import torchvision

from torch2trt import TRTModule, torch2trt
from torch2trt.network import reference
from torch2trt.network.inspect import NetworkRecord, read_network
from torch2trt.network.portable import ReplayError, rebuild_engine, replay
from torch2trt.testing import randomize_norm_statistics


def _vit():
    m = torchvision.models.vit_b_16()
    with torch.no_grad():
        m.heads.head.weight.normal_(0, 0.02)
    return m


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), (2, 3, 64, 64), None),
    "densenet121": (lambda: torchvision.models.densenet121(), (1, 3, 64, 64), None),
    "vit_b_16": (_vit, (1, 3, 224, 224), None),
    "transformer_dynamic": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2),
                            (2, 5, 16), ((1, 2, 16), (4, 8, 16))),
}


def assert_same_layers(a: NetworkRecord, b: NetworkRecord):
    assert a.inputs == b.inputs and a.outputs == b.outputs
    by_name = {layer.name: layer for layer in b.layers}
    assert len(by_name) == len(b.layers) == len(a.layers)
    for la in a.layers:
        lb = by_name[la.name]
        assert (la.type, la.attrs, la.enums, la.inputs, la.outputs) == (lb.type, lb.attrs, lb.enums, lb.inputs,
                                                                         lb.outputs), la.name
        assert la.output_dtypes == lb.output_dtypes and la.output_shapes == lb.output_shapes, la.name
        assert la.weights.keys() == lb.weights.keys(), la.name
        assert all(torch.equal(la.weights[k], lb.weights[k]) for k in la.weights), la.name


@pytest.mark.parametrize("name", list(MODELS))
def test_replayed_network_has_the_same_layers_results_and_builds(name):
    make, shape, dynamic = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    randomize_norm_statistics(model)
    x = torch.randn(shape)
    kwargs = {} if dynamic is None else {"min_shapes": [dynamic[0]], "max_shapes": [dynamic[1]]}
    record = torch2trt(model, [x], **kwargs).network_record
    buf = io.BytesIO()
    torch.save(record.to_state(), buf)  # through a file, as a saved module carries it
    buf.seek(0)
    loaded = NetworkRecord.from_state(torch.load(buf, weights_only=True))
    network, _, keep = replay(loaded)
    replayed = read_network(network)
    assert_same_layers(record, replayed)
    ours, theirs = reference.run(record, {"input_0": x}), reference.run(replayed, {"input_0": x})
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    profile = None if dynamic is None else {"input_0": (dynamic[0], shape, dynamic[1])}
    assert len(rebuild_engine(loaded, profile=profile)) > 0


def test_trt_module_rebuilds_its_engine_from_the_saved_network():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)], min_shapes=[(1, 3, 8, 8)], max_shapes=[(4, 3, 16, 16)])
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    loaded = TRTModule()
    loaded.load_state_dict(torch.load(buf, weights_only=True))
    loaded.engine_bytes = b""  # as if the stored engine were unusable here
    loaded.rebuild()
    assert loaded.engine_bytes[:4] == m.engine_bytes[:4] and len(loaded.engine_bytes) > 1000


def test_engine_only_module_cannot_rebuild():
    m = torch2trt(nn.Sequential(nn.ReLU()).eval(), [torch.randn(2, 3)], portable=False)
    from torch2trt import TRTModuleError

    with pytest.raises(TRTModuleError, match="no network to rebuild from"):
        m.rebuild()


def test_a_record_reading_a_missing_tensor_is_refused():
    m = torch2trt(nn.Sequential(nn.ReLU()).eval(), [torch.randn(2, 3)])
    record = m.network_record
    record.layers[0].inputs = ["nowhere"]
    with pytest.raises(ReplayError, match=r"read tensors no layer produces: \['nowhere'\]"):
        replay(record)


def test_engine_of_another_backend_is_rebuilt_on_first_use_where_an_engine_can_run(monkeypatch):
    """A GPU is simulated (engine_runnable_here patched): before running, a module built by 'another backend'
    rebuilds its engine from the saved network, with a warning."""
    from torch2trt import backend

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)])
    m.backend_name, m.engine_bytes = "tensorrt", b"stale"
    monkeypatch.setattr(backend, "engine_runnable_here", lambda: (True, ""))
    with pytest.warns(UserWarning, match="was built by tensorrt, this process uses tensorrt_rtx; rebuilding"):
        assert m._engine_runnable() == (True, "")
    assert m.backend_name == backend.NAME and m.engine_bytes[:4] == b"vtrt"
    m.network_record = None
    m.backend_name = "tensorrt"
    runnable, why = m._engine_runnable()
    assert not runnable and "holds no network to rebuild it from" in why
