"""Portable networks: records -> a new network (replay) with the same layers, the same reference results, and an
engine the real builder builds; the records survive torch.save/torch.load(weights_only=True); TRTModule.rebuild()
from a saved state.

Networks come from NVIDIA's ONNX parser (layers, attributes and wiring our converters never produce) and from
torch2trt itself; every layer type the reference executor handles is replayed through the per-layer suite
(test_reference_layers.py, rerun with every network it builds also replayed and compared)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from torch2trt import TRTModule, torch2trt
from torch2trt.backend import create_network, trt
from torch2trt.network import reference
from torch2trt.network.inspect import NetworkRecord, read_network
from torch2trt.network.portable import ReplayError, replay, replayable_layer_types
from torch2trt.onnx_route import export_and_parse
from torch2trt.runtime.build import rebuild_engine
from torch2trt.testing import randomize_norm_statistics

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- comparing networks -------------------------------------------------------------------------------------

def _same_value(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
    return type(a) is type(b) and a == b


def assert_same_network(a: NetworkRecord, b: NetworkRecord) -> None:
    """Same inputs (names, dtypes, shapes), outputs (names, in order) and layers (by name: type, attributes with
    their Python types, enums, weights bit for bit with dtype and shape, wiring, output dtypes and shapes)."""
    assert a.inputs == b.inputs
    assert a.outputs == b.outputs
    names = [layer.name for layer in a.layers]
    assert len(set(names)) == len(names), "layer names must be unique to compare networks"
    assert sorted(names) == sorted(layer.name for layer in b.layers)
    by_name = {layer.name: layer for layer in b.layers}
    for la in a.layers:
        lb = by_name[la.name]
        where = f"{la.type} layer {la.name!r}"
        assert la.type == lb.type, where
        assert la.attrs.keys() == lb.attrs.keys(), where
        for k in la.attrs:
            assert _same_value(la.attrs[k], lb.attrs[k]), f"{where}: {k} {la.attrs[k]!r} != {lb.attrs[k]!r}"
        assert la.enums == lb.enums, where
        assert (la.inputs, la.outputs) == (lb.inputs, lb.outputs), where
        assert la.output_dtypes == lb.output_dtypes and la.output_shapes == lb.output_shapes, where
        assert la.weights.keys() == lb.weights.keys(), where
        for k in la.weights:
            assert _same_value(la.weights[k], lb.weights[k]), f"{where}: weights {k!r} differ"


def _is_topological(record: NetworkRecord) -> bool:
    seen = {name for name, _, _ in record.inputs}
    for layer in record.layers:
        if any(t is not None and t not in seen for t in layer.inputs):
            return False
        seen.update(layer.outputs)
    return True


def assert_same_results(a: NetworkRecord, b: NetworkRecord, feeds: dict) -> None:
    ours, theirs = reference.run(a, feeds), reference.run(b, feeds)
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k].dtype == theirs[k].dtype and ours[k].shape == theirs[k].shape, k
        assert torch.equal(ours[k], theirs[k]), f"output {k!r} differs"


def saved_and_loaded(record: NetworkRecord) -> NetworkRecord:
    buf = io.BytesIO()
    torch.save(record.to_state(), buf)
    buf.seek(0)
    return NetworkRecord.from_state(torch.load(buf, weights_only=True))


def assert_replays(record: NetworkRecord, feeds: list[dict], profile: dict | None = None) -> None:
    """Replay (directly and after a trip through torch.save/load) gives the same network, bit-identical reference
    outputs, and an engine."""
    for rec in (record, saved_and_loaded(record)):
        network, _, keepalive = replay(rec)
        replayed = read_network(network)
        assert_same_network(record, replayed)
        if _is_topological(record):                # the recorded order is kept where it is a valid order
            assert [la.name for la in replayed.layers] == [la.name for la in record.layers]
        for f in feeds:
            assert_same_results(record, replayed, f)
    assert len(rebuild_engine(rec, profile=profile)) > 0


# ---- models -------------------------------------------------------------------------------------------------

class _mha_fastpath_off:
    """The fused attention path has no ONNX symbolic: export with it disabled."""

    def __enter__(self):
        self.before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)

    def __exit__(self, *exc):
        torch.backends.mha.set_fastpath_enabled(self.before)


def _vit():
    m = torchvision.models.vit_b_16()
    with torch.no_grad():
        m.heads.head.weight.normal_(0, 0.02)       # torchvision zero-initializes the head: outputs would be 0
    return m


def _encoder():
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


# name: (model, sample shape, dynamic axes for ONNX, profile (min, max), other shapes to run)
MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), (2, 3, 64, 64), None, None, []),
    "densenet121": (lambda: torchvision.models.densenet121(), (1, 3, 64, 64), None, None, []),
    "vit_b_16": (_vit, (1, 3, 224, 224), None, None, []),
    "transformer_encoder_dynamic": (_encoder, (2, 5, 16), {"input_0": {0: "batch", 1: "sequence"}},
                                    ((1, 2, 16), (4, 8, 16)), [(1, 5, 16), (4, 5, 16)]),
}
# The TorchScript ONNX exporter bakes the sample's sequence length into multi-head attention's reshapes (a
# constant 5 in /layers.0/self_attn/Reshape_4): the parsed network declares both axes dynamic but computes only
# at sequence length 5, so its other feeds vary the batch. torch2trt's own dynamic network runs every shape.
TORCH2TRT_DYNAMIC_FEEDS = [(1, 2, 16), (4, 8, 16), (3, 7, 16)]


def _model(name: str):
    make, shape, axes, limits, others = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    randomize_norm_statistics(model)
    x = torch.randn(shape)
    profile = None if limits is None else {"input_0": (limits[0], shape, limits[1])}
    feeds = [{"input_0": x}] + [{"input_0": torch.randn(s)} for s in others]
    return model, x, axes, profile, feeds


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_parsed_network_replays_with_same_layers_results_and_builds(name):
    model, x, axes, profile, feeds = _model(name)
    with torch.no_grad(), _mha_fastpath_off():
        parsed = export_and_parse(model, [x], dynamic_axes=axes)
    record = read_network(parsed.network)          # parsed (and its parser) stay alive while reading
    if axes:
        assert any(d == -1 for d in record.inputs[0][2])
    assert_replays(record, feeds, profile)


def test_torch2trt_network_replays_with_same_layers_results_and_builds():
    model, x, _, _, feeds = _model("resnet18")
    module = torch2trt(model, [x])
    record = read_network(module.network)
    assert_replays(record, feeds)
    assert_same_network(record, module.network_record)


def test_torch2trt_dynamic_network_replays():
    """torch2trt adds shape tensors after the layers that read them: replay reorders, results stay identical."""
    model, x, _, profile, feeds = _model("transformer_encoder_dynamic")
    feeds = feeds[:1] + [{"input_0": torch.randn(s)} for s in TORCH2TRT_DYNAMIC_FEEDS]
    module = torch2trt(model, [x], min_shapes=[profile["input_0"][0]], max_shapes=[profile["input_0"][2]])
    assert_replays(module.network_record, feeds, profile)


# ---- every layer type: the per-layer suite, replayed --------------------------------------------------------

# Runs test_reference_layers.py with every network it builds also replayed: the replayed network must read back
# as the same record, be accepted by the builder whenever the original was, and give bit-identical reference
# outputs for every feed the test runs. Layer types replayed are written to a JSON file.
_PLUGIN = textwrap.dedent("""
    import json, sys
    import pytest, torch
    sys.path.insert(0, {here!r})
    import netcase, test_portable
    from torch2trt.backend import create_network, trt
    from torch2trt.network import reference
    from torch2trt.network.inspect import read_network
    from torch2trt.network.portable import replay

    replayed, seen = {{}}, set()
    build, run = netcase.Net.build, netcase.run

    def replaying_build(self, *outputs, require_engine=True):
        record = build(self, *outputs, require_engine=require_engine)
        network, builder, keep = replay(record)
        again = read_network(network)
        test_portable.assert_same_network(record, again)
        if require_engine:
            config = builder.create_builder_config()
            if self.profile is not None:
                profile = builder.create_optimization_profile()
                for i in range(network.num_inputs):
                    t = network.get_input(i)
                    get = self.profile.get_shape_input if t.is_shape_tensor else self.profile.get_shape
                    put = profile.set_shape_input if t.is_shape_tensor else profile.set_shape
                    put(t.name, *get(t.name))
                config.add_optimization_profile(profile)
            assert builder.build_serialized_network(network, config) is not None, "replayed network not built"
        replayed[id(record)] = (record, again)
        seen.update(layer.type for layer in record.layers)
        return record

    def replaying_run(record, feeds, **kwargs):
        got = run(record, feeds, **kwargs)
        if id(record) in replayed:
            again = reference.run(replayed[id(record)][1], feeds, **kwargs)
            for name, t in zip(record.outputs, got):
                assert t.dtype == again[name].dtype and torch.equal(t, again[name]) or (
                    t.is_floating_point() and torch.allclose(t, again[name], rtol=0, atol=0, equal_nan=True)), name
        return got

    netcase.Net.build, netcase.run = replaying_build, replaying_run
    code = pytest.main([{suite!r}, "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"])
    json.dump(sorted(seen), open({out!r}, "w"))
    sys.exit(int(code))
""")


def test_every_layer_type_of_the_per_layer_suite_replays(tmp_path):
    out = tmp_path / "types.json"
    code = _PLUGIN.format(here=HERE, suite=os.path.join(HERE, "test_reference_layers.py"), out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(HERE)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    seen = set(json.loads(out.read_text()))
    assert set(reference.supported_layer_types()) <= seen, set(reference.supported_layer_types()) - seen
    assert seen <= set(replayable_layer_types())


# ---- structures the reference executor does not run: build and read back ------------------------------------

def _new_network():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    return builder, create_network(builder)


def _const(net, keep: list, value: np.ndarray):
    keep.append(value)
    return net.add_constant(value.shape, trt.Weights(value)).get_output(0)


def _assert_replays_without_reference(net, builder, *, builds: bool = True) -> NetworkRecord:
    assert (builder.build_serialized_network(net, builder.create_builder_config()) is not None) == builds
    record = read_network(net)
    network, _, keepalive = replay(saved_and_loaded(record))
    assert_same_network(record, read_network(network))
    if builds:
        assert len(rebuild_engine(record)) > 0
    return record


def test_tensor_k_int64_fill_reduced_precision_weights_ragged_softmax_and_dynamic_quantize_replay():
    """What neither the models nor the per-layer suite reach: TopK with k as a tensor (it reads back k=-1),
    a static int64 fill (alpha/beta are int64 only when set as Python ints), bfloat16 convolution weights and
    an fp8 constant (numpy has neither type), ragged softmax, dynamic quantization (fp4 values, fp8 scales)."""
    builder, net = _new_network()
    keep: list = []
    x = net.add_input("x", trt.float32, (2, 8))
    topk = net.add_topk(x, trt.TopKOperation.MIN, 1, 0b10, trt.int64)
    topk.set_input(1, _const(net, keep, np.array(3, np.int32)))
    fill = net.add_fill((4,), trt.FillOperation.LINSPACE, trt.int64)
    fill.alpha, fill.beta = 7, -2
    image = net.add_input("image", trt.bfloat16, (1, 2, 5, 5))
    w = torch.randn(3, 2, 3, 3).bfloat16()
    conv = net.add_convolution_nd(image, 3, (3, 3), trt.Weights(trt.bfloat16, w.data_ptr(), w.numel()),
                                  trt.Weights(trt.bfloat16))
    conv.padding_mode = trt.PaddingMode.SAME_UPPER
    f8 = torch.randn(4).to(torch.float8_e4m3fn)
    fp8 = net.add_constant((4,), trt.Weights(trt.fp8, f8.data_ptr(), 4)).get_output(0)
    dequantized = net.add_dequantize(fp8, _const(net, keep, np.array(0.5, np.float32)), trt.float32)
    ragged = net.add_ragged_softmax(net.add_input("r", trt.float32, (1, 3, 5)),
                                    _const(net, keep, np.array([[[2], [3], [5]]], np.int32)))
    dynq = net.add_dynamic_quantize(net.add_input("h", trt.float16, (4, 32)), 1, 16, trt.fp4, trt.fp8)
    dynq.set_input(1, _const(net, keep, np.array(1.0, np.float32)))
    for layer in (topk, fill, conv, dequantized, ragged, dynq):
        for i in range(layer.num_outputs):
            net.mark_output(layer.get_output(i))
    record = _assert_replays_without_reference(net, builder)
    by_type = {layer.type: layer for layer in record.layers}
    assert by_type["TOPK"].attrs["k"] == -1 and by_type["FILL"].attrs["alpha"] == 7
    assert by_type["CONVOLUTION"].weights["kernel"].dtype == torch.bfloat16


def test_nms_with_thresholds_as_inputs_replays():
    """NMS has no CPU runner in TensorRT-RTX's ahead-of-time builder: the replay is compared, not built."""
    builder, net = _new_network()
    keep: list = []
    boxes, scores = net.add_input("boxes", trt.float32, (1, 5, 4)), net.add_input("scores", trt.float32, (1, 5, 2))
    nms = net.add_nms(boxes, scores, _const(net, keep, np.array(3, np.int32)))
    nms.set_input(3, _const(net, keep, np.array(0.5, np.float32)))
    nms.set_input(4, _const(net, keep, np.array(0.1, np.float32)))
    nms.bounding_box_format, nms.topk_box_limit = trt.BoundingBoxFormat.CENTER_SIZES, 100
    for i in range(nms.num_outputs):
        net.mark_output(nms.get_output(i))
    record = _assert_replays_without_reference(net, builder, builds=False)
    (nms_record,) = [layer for layer in record.layers if layer.type == "NMS"]
    assert nms_record.attrs["bounding_box_format"] == "CENTER_SIZES" and nms_record.attrs["topk_box_limit"] == 100


def test_loop_with_recurrence_trip_limit_iterator_and_outputs_replays():
    """A cumulative sum over the first axis as an ILoop (recurrence back edge wired after the loop body)."""
    builder, net = _new_network()
    x = net.add_input("x", trt.float32, (5, 3))
    loop = net.add_loop()
    loop.name = "cumsum"
    trip = net.add_constant((), trt.Weights(np.array(5, dtype=np.int64))).get_output(0)
    loop.add_trip_limit(trip, trt.TripLimit.COUNT)
    row = loop.add_iterator(x, 0, False).get_output(0)
    acc = loop.add_recurrence(net.add_constant((3,), trt.Weights(np.zeros(3, np.float32))).get_output(0))
    total = net.add_elementwise(acc.get_output(0), row, trt.ElementWiseOperation.SUM).get_output(0)
    acc.set_input(1, total)
    last = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE, 0)
    every = loop.add_loop_output(total, trt.LoopOutput.CONCATENATE, 0)
    every.set_input(1, trip)
    last.get_output(0).name, every.get_output(0).name = "last", "every"
    net.mark_output(last.get_output(0))
    net.mark_output(every.get_output(0))
    assert builder.build_serialized_network(net, builder.create_builder_config()) is not None
    record = read_network(net)
    assert {"RECURRENCE", "TRIP_LIMIT", "ITERATOR", "LOOP_OUTPUT"} <= set(record.layer_counts())
    network, _, keep = replay(saved_and_loaded(record))
    assert_same_network(record, read_network(network))
    assert len(rebuild_engine(record)) > 0


# ---- errors and TRTModule -----------------------------------------------------------------------------------

def test_a_record_reading_a_missing_tensor_is_refused():
    m = torch2trt(nn.Sequential(nn.ReLU()).eval(), [torch.randn(2, 3)])
    record = m.network_record
    record.layers[0].inputs = ["nowhere"]
    with pytest.raises(ReplayError, match=r"read tensors no layer produces: \['nowhere'\]"):
        replay(record)


def test_unknown_layer_type_and_enum_member_are_refused_by_name():
    m = torch2trt(nn.Sequential(nn.ReLU()).eval(), [torch.randn(2, 3)])
    record = m.network_record
    record.layers[0].attrs["type"] = "NOT_AN_ACTIVATION"
    with pytest.raises(ReplayError, match="type='NOT_AN_ACTIVATION' is not a member of trt.ActivationType"):
        replay(record)
    record.layers[0].type = "PLUGIN_V3"
    with pytest.raises(ReplayError, match="replaying PLUGIN_V3 layers is not supported"):
        replay(record)


def test_dynamic_input_without_profile_is_refused_before_building():
    m = torch2trt(nn.Sequential(nn.ReLU()).eval(), [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(4, 3)])
    with pytest.raises(ReplayError, match=r"inputs \['input_0'\] have dynamic dimensions: pass profile="):
        rebuild_engine(m.network_record)


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


def test_engine_of_another_backend_is_rebuilt_on_first_use_where_an_engine_can_run(monkeypatch):
    """A GPU is simulated (engine_runnable_here patched): a module built by 'another backend' can run the engine
    path (the query changes nothing); before the engine is loaded it is rebuilt from the saved network, with a
    warning."""
    import warnings

    from torch2trt import backend

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)])
    m.backend_name, m.engine_bytes = "tensorrt", b"stale"
    monkeypatch.setattr(backend, "engine_runnable_here", lambda: (True, ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m._engine_runnable() == (True, "")
    assert (m.backend_name, m.engine_bytes) == ("tensorrt", b"stale")
    with pytest.warns(UserWarning, match="was built by tensorrt, this process uses tensorrt_rtx; rebuilding"):
        m._ensure_engine()          # what _run_engine does before loading the engine
    assert m.backend_name == backend.NAME and m.engine_bytes[:4] == b"vtrt"
    m.network_record = None
    m.backend_name = "tensorrt"
    runnable, why = m._engine_runnable()
    assert not runnable and "holds no network to rebuild it from" in why
