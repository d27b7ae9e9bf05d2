"""INT8 / FP8 explicit quantization: calibration algorithms, Q/DQ placement by the converters, backend support rules,
and the target: a small CNN trained here on scikit-learn's bundled digits keeps its float32 accuracy within one
point in INT8 with every calibration algorithm, measured on the reference path (TRTModule on the CPU).

Expected values are computed independently: fake quantization written here in PyTorch (round half to even,
clamp to [-128, 127], per-tensor activation scale amax / 127, per-output-channel weight scale abs-max / 127), ranges
from the calibration data itself, and a literal loop implementation of TensorRT's entropy pseudocode.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt import backend, torch2trt
from torch2trt.network import reference
from torch2trt.quantization import calibrate, quantized_layers
from torch2trt.quantization.calibrate import entropy_amax, percentile_amax

FULL = {"quantize_target": "tensorrt"}     # full-INT8 networks (built here by the installed backend for checking)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small CPU ops: more intra-op threads only contend (training here is ~8x slower on 2 busy cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _quiet_reference_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TRTModule: running the network with the CPU reference")
        yield


def fake_quant(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(x / scale), -128, 127) * scale


def weight_scale(w: torch.Tensor, axis: int) -> torch.Tensor:
    dims = [d for d in range(w.dim()) if d != axis]
    view = [1] * w.dim()
    view[axis] = -1
    return (w.abs().amax(dims) / 127).reshape(view)


def on_reference(model_trt, *inputs: torch.Tensor):
    """The converted network run by the reference executor (also where a GPU would run the engine, whose INT8
    kernels need not round exactly like fake quantization)."""
    feeds = dict(zip(model_trt.input_names, inputs))
    outs = reference.run(model_trt.network_record, feeds)
    got = [outs[name] for name in model_trt.output_names]
    return got[0] if len(got) == 1 else tuple(got)


def layers_of(model_trt) -> list:
    return model_trt.network_record.layers


def producers(record_layers) -> dict:
    return {t: layer for layer in record_layers for t in layer.outputs}


# ---- calibration algorithms ------------------------------------------------------------------------------------
def _entropy_literal(hist: np.ndarray, amax: float, levels: int) -> float:
    """TensorRT's pseudocode (GTC 2017 S7310) spelled out with Python loops."""
    n = len(hist)
    best, best_kl = n, math.inf
    for i in range(levels, n + 1):
        p = [float(v) for v in hist[:i]]
        p[i - 1] += float(sum(hist[i:]))
        q = [0.0] * i
        for j in range(levels):
            lo, hi = j * i // levels, (j + 1) * i // levels
            chunk = hist[lo:hi]
            nonzero = [k for k in range(lo, hi) if hist[k] != 0]
            for k in nonzero:
                q[k] = float(sum(chunk)) / len(nonzero)
        ps, qs = sum(p), sum(q)
        kl = 0.0
        for pk, qk in zip(p, q):
            if pk > 0:
                if qk == 0:
                    kl = math.inf
                    break
                kl += pk / ps * math.log((pk / ps) / (qk / qs))
        if kl < best_kl:
            best, best_kl = i, kl
    return best * amax / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_threshold_matches_the_pseudocode_literally(seed):
    rng = np.random.default_rng(seed)
    values = np.abs(np.concatenate([rng.standard_normal(5000), rng.standard_normal(20) * 8]))
    hist, _ = np.histogram(values, bins=256, range=(0, values.max()))
    hist[rng.integers(0, 256, 10)] = 0                      # empty bins inside the range
    assert entropy_amax(hist, float(values.max()), levels=16) == pytest.approx(
        _entropy_literal(hist, float(values.max()), 16), rel=1e-12)


def test_entropy_clips_outliers_and_keeps_a_uniform_range():
    rng = np.random.default_rng(3)
    spiky = np.abs(np.concatenate([rng.standard_normal(100000), [60.0]]))
    hist, _ = np.histogram(spiky, bins=2048, range=(0, 60.0))
    assert entropy_amax(hist, 60.0) < 10.0
    flat = rng.uniform(0, 5, 100000)
    hist, _ = np.histogram(flat, bins=2048, range=(0, 5.0))
    assert entropy_amax(hist, 5.0) > 4.5


def test_percentile_reads_the_histogram():
    values = torch.rand(200000) * 10
    hist = torch.histc(values, bins=2048, min=0, max=10).numpy()
    for p in (50.0, 99.0, 99.99):
        want = float(torch.quantile(values[:100000], p / 100))
        assert abs(percentile_amax(hist, 10.0, p) - want) <= 2 * 10 / 2048 + 0.01


class _Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        y = self.conv(x).relu().mean((2, 3))
        return self.fc(y) + self.fc(y * 2)                 # one module called twice: two calls, two ranges


def test_calibrate_max_collects_each_call_and_accepts_a_generator():
    torch.manual_seed(0)
    model = _Two().eval()
    batches = [torch.randn(3, 2, 5, 5) * s for s in (1.0, 4.0, 2.0)]
    calib = calibrate(model, ([b] for b in batches), "max")
    with torch.no_grad():
        feats = [model.conv(b).relu().mean((2, 3)) for b in batches]
    with torch.no_grad():
        sums = [(model.fc(f), model.fc(f * 2)) for f in feats]
    assert calib.batches == 3 and calib.algorithm == "max"
    assert calib.amax == {
        "conv:conv#0": max(float(b.abs().max()) for b in batches),
        "fc:linear#0": max(float(f.abs().max()) for f in feats),
        "fc:linear#1": max(float((f * 2).abs().max()) for f in feats),
        "<root>:add#0.input": max(float(a.abs().max()) for a, _ in sums),     # fc(y) + fc(y * 2): both operands
        "<root>:add#0.other": max(float(b.abs().max()) for _, b in sums)}
    assert calib.channels == {"conv:conv#0": 2, "fc:linear#0": 3, "fc:linear#1": 3, "<root>:add#0.input": 4,
                              "<root>:add#0.other": 4}


def test_calibrate_percentile_and_entropy_bound_the_max_and_shows_progress_only_on_request(capsys):
    torch.manual_seed(1)
    model = _Two().eval()
    data = [[torch.randn(4, 2, 5, 5)] for _ in range(3)]
    top = calibrate(model, data, "max").amax
    for algorithm in ("percentile", "entropy"):
        got = calibrate(model, data, algorithm).amax
        assert got.keys() == top.keys() and all(0 < got[k] <= top[k] for k in got)
    assert capsys.readouterr().err == ""                    # not a terminal: no progress bar
    calibrate(model, data, "max", progress=True)
    assert "3/3" in capsys.readouterr().err


def test_calibration_arguments_are_checked():
    model, x = nn.Sequential(nn.Linear(3, 3)).eval(), torch.randn(2, 3)
    with pytest.raises(ValueError, match="not a calibration algorithm"):
        torch2trt(model, [x], int8_mode=True, int8_calib_dataset=[[x]], int8_calib_algorithm="kl", **FULL)
    with pytest.raises(ValueError, match="empty"):
        torch2trt(model, [x], int8_mode=True, int8_calib_dataset=[], **FULL)
    with pytest.raises(ValueError, match="without int8_mode"):
        torch2trt(model, [x], int8_calib_dataset=[[x]])
    with pytest.raises(ValueError, match="unknown quantization target"):
        torch2trt(model, [x], int8_mode=True, int8_calib_dataset=[[x]], quantize_target="onnx")


# ---- backend rules -----------------------------------------------------------------------------------------
def test_backend_support_rules():
    problem = backend.quantization_problem
    assert problem("int8", False, "tensorrt", (7, 5)) is None
    assert problem("int8", False, "tensorrt", None) is None
    assert "weight-only" in problem("int8", False, "tensorrt_rtx", None)
    assert problem("int8", True, "tensorrt_rtx", (8, 6)) is None
    assert "8.6" in problem("int8", True, "tensorrt_rtx", (7, 5))
    for target in ("tensorrt", "tensorrt_rtx"):
        assert "8.9" in problem("fp8", False, target, (8, 6))
        assert problem("fp8", False, target, (8, 9)) is None
        assert problem("fp8", False, target, (9, 0)) is None
    assert "INT8 only" in problem("fp8", True, "tensorrt", None)


@pytest.mark.skipif(not backend.IS_RTX, reason="TensorRT-RTX's rule")
def test_int8_mode_on_tensorrt_rtx_is_weight_only_and_says_so():
    model, x = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)).eval(), torch.randn(2, 1, 4, 4)
    with pytest.warns(UserWarning, match=r"weight-only.*activations stay float.*quantize_target='tensorrt'"):
        model_trt = torch2trt(model, [x], int8_mode=True, int8_calib_dataset=[[x]])
    q = [la for la in layers_of(model_trt) if la.type == "QUANTIZE"]
    assert [la.name for la in q] == ["2/weight_quantize"]


def test_int8_mode_without_data_calibrates_on_the_sample_inputs_as_the_original():
    torch.manual_seed(8)
    layer = nn.Linear(4, 2).eval()
    x = torch.randn(3, 4)
    model_trt = torch2trt(layer, [x], int8_mode=True, **FULL)
    scale = torch.tensor(float(x.abs().max()) / 127)
    w = layer.weight.detach()
    expected = F.linear(fake_quant(x * 2, scale), fake_quant(w, weight_scale(w, 0)), layer.bias.detach())
    torch.testing.assert_close(on_reference(model_trt, x * 2), expected, rtol=1e-5, atol=1e-5)


class _PoolOnly(nn.Module):
    def forward(self, x):
        return F.max_pool1d(x, 2), x.clone()


def test_original_int8_mode_tests_without_quantizable_layers_convert():
    """The original's int8_mode tests (max_pool1d, clone): in the weight-only mode nothing is quantized and the
    network stays float; in full INT8 the pool's input gets a Q/DQ pair (calibrated on the sample) and clone stays
    float."""
    x = torch.randn(1, 3, 32)
    model_trt = torch2trt(_PoolOnly().eval(), [x], int8_mode=True, int8_weight_only=True, **FULL)
    a, b = on_reference(model_trt, x * 3)
    torch.testing.assert_close(a, F.max_pool1d(x * 3, 2), rtol=0, atol=0)
    torch.testing.assert_close(b, x * 3, rtol=0, atol=0)
    assert "QUANTIZE" not in model_trt.network_record.layer_counts()

    model_trt = torch2trt(_PoolOnly().eval(), [x], int8_mode=True, **FULL)
    a, b = on_reference(model_trt, x * 3)
    torch.testing.assert_close(a, F.max_pool1d(fake_quant(x * 3, torch.tensor(float(x.abs().max()) / 127)), 2),
                               rtol=0, atol=0)
    torch.testing.assert_close(b, x * 3, rtol=0, atol=0)
    assert model_trt.network_record.layer_counts()["QUANTIZE"] == 1


# ---- Q/DQ placement and exact semantics ------------------------------------------------------------------------
_SINGLE = {
    "conv1d": (lambda: nn.Conv1d(3, 5, 3, padding=1), (4, 3, 9), 0),
    "conv2d_groups": (lambda: nn.Conv2d(4, 6, 3, groups=2, stride=2), (4, 4, 7, 7), 0),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2), (4, 2, 4, 4, 4), 0),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1), (4, 3, 4, 4), 1),
    "linear_3d_input": (lambda: nn.Linear(6, 5), (4, 3, 6), 0),
}


@pytest.mark.parametrize("name", list(_SINGLE))
def test_single_layer_matches_fake_quantization_in_pytorch(name):
    make, shape, axis = _SINGLE[name]
    torch.manual_seed(5)
    layer = make().eval()
    data = [[torch.randn(shape) * s] for s in (1.0, 3.0)]
    model_trt = torch2trt(layer, [torch.randn(shape)], int8_mode=True, int8_calib_dataset=data,
                          int8_calib_algorithm="max", **FULL)
    amax = max(float(d[0].abs().max()) for d in data)
    x = torch.randn(shape) * 2.5                            # saturates some values (|x| beyond amax)
    w = layer.weight.detach()
    xq, wq = fake_quant(x, torch.tensor(amax / 127)), fake_quant(w, weight_scale(w, axis))
    with torch.no_grad():
        probe = make().eval()
        probe.load_state_dict(layer.state_dict())
        probe.weight.copy_(wq)
        expected = probe(xq)
    got = on_reference(model_trt, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert (layer(x) - expected).abs().max() > 1e-4   # quantization really happened
    counts = model_trt.network_record.layer_counts()
    assert counts["QUANTIZE"] == 2 and counts["DEQUANTIZE"] == 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_int8_in_a_reduced_precision_network_dequantizes_to_that_precision(dtype):
    torch.manual_seed(12)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    x = torch.randn(2, 2, 6, 6)
    model_trt = torch2trt(model, [x], dtype=dtype, int8_mode=True, int8_calib_dataset=[[x], [x * 2]],
                          int8_calib_algorithm="max", **FULL)
    dq = [la for la in layers_of(model_trt) if la.type == "DEQUANTIZE"]
    assert len(dq) == 4 and all(la.output_dtypes == [dtype] for la in dq)
    got = on_reference(model_trt, x * 1.5)
    with torch.no_grad():
        expected = model(x * 1.5)
    assert got.dtype == torch.float32
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()


def test_weight_only_quantizes_linear_weights_only():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    x = torch.randn(2, 1, 6, 6)
    model_trt = torch2trt(model, [x], int8_mode=True, int8_weight_only=True, **FULL)
    layers = layers_of(model_trt)
    q = [la for la in layers if la.type == "QUANTIZE"]
    assert len(q) == 1 and q[0].attrs["axis"] == 0 and q[0].output_shapes == [(3, 32)]   # the linear weight
    fc = model[2]
    wq = fake_quant(fc.weight.detach(), weight_scale(fc.weight.detach(), 0))
    with torch.no_grad():
        expected = F.linear(model[1](model[0](x)), wq, fc.bias)
    torch.testing.assert_close(on_reference(model_trt, x * 1), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="takes no int8_calib_dataset"):
        torch2trt(model, [x], int8_mode=True, int8_weight_only=True, int8_calib_dataset=[[x]], **FULL)


def test_fp8_places_fp8_quantize_layers():
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 4)).eval()
    x = torch.randn(2, 1, 6, 6)
    model_trt = torch2trt(model, [x], quantize="fp8", int8_calib_dataset=[[x * 2]])
    layers = layers_of(model_trt)
    q = [la for la in layers if la.type == "QUANTIZE"]
    assert len(q) == 4 and {la.attrs["to_type"] for la in q} == {"FP8"}
    with torch.no_grad():
        expected = model(x)
    assert (on_reference(model_trt, x) - expected).abs().max() < 0.1 * expected.abs().max()
    with pytest.raises(ValueError, match="contradicts"):
        torch2trt(model, [x], int8_mode=True, quantize="fp8", int8_calib_dataset=[[x]])


# ---- residual adds and pooling ----------------------------------------------------------------------------------
class _ResidualBlock(nn.Module):
    """torchvision's BasicBlock (conv-bn-relu-conv-bn, += identity, relu), then a max pool."""

    def __init__(self, c: int = 4, norm: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=not norm)
        self.bn1 = nn.BatchNorm2d(c) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=not norm)
        self.bn2 = nn.BatchNorm2d(c) if norm else nn.Identity()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out += x
        return self.pool(F.relu(out))


def _residual_block() -> nn.Module:
    from torch2trt.testing import randomize_norm_statistics

    torch.manual_seed(13)
    model = _ResidualBlock().eval()
    randomize_norm_statistics(model)
    return model


def _adds(layers: list) -> list:
    """The ELEMENTWISE SUM layers of two computed tensors (no constant operand)."""
    made_by = producers(layers)
    return [la for la in layers if la.type == "ELEMENTWISE" and la.attrs.get("op") == "SUM"
            and all(t not in made_by or made_by[t].type != "CONSTANT" for t in la.inputs)]


def _qdq_input(made_by: dict, tensor) -> str | None:
    """The tensor a Q/DQ pair feeding `tensor` quantizes, or None when `tensor` is not a dequantized value."""
    dq = made_by.get(tensor)
    if dq is None or dq.type != "DEQUANTIZE" or made_by[dq.inputs[0]].type != "QUANTIZE":
        return None
    return made_by[dq.inputs[0]].inputs[0]


def test_residual_block_quantizes_the_identity_of_the_add_and_the_pool_input():
    """TensorRT's placement: Q/DQ on the add's residual input (the block's input), none on the conv2-bn2 operand
    (TensorRT fuses that convolution with the add), Q/DQ on the max pool's input."""
    model = _residual_block()
    data = [[torch.randn(2, 4, 8, 8)] for _ in range(3)]
    model_trt = torch2trt(model, [data[0][0]], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="max",
                          **FULL)
    record = model_trt.network_record
    made_by = producers(record.layers)
    (add,) = _adds(record.layers)
    out, identity = add.inputs                                   # out += x
    assert made_by[out].type == "SCALE" and made_by[made_by[out].inputs[0]].type == "CONVOLUTION"
    assert _qdq_input(made_by, out) is None
    assert _qdq_input(made_by, identity) == record.inputs[0][0]  # the block's input itself
    (pool,) = [la for la in record.layers if la.type == "POOLING"]
    relu = made_by[_qdq_input(made_by, pool.inputs[0])]
    assert relu.type == "ACTIVATION" and relu.inputs[0] == add.outputs[0]
    counts = record.layer_counts()
    assert counts["QUANTIZE"] == counts["DEQUANTIZE"] == 2 * 2 + 1 + 1   # 2 convolutions, the add, the pool
    assert quantized_layers(record) == {"quantized": ["conv1/conv2d", "conv2/conv2d", "model/__iadd__",
                                                      "pool/max_pool2d"], "float": []}
    for (x,) in data:                                            # inside the calibrated ranges: no saturation
        with torch.no_grad():
            expected = model(x)
        err = float((on_reference(model_trt, x) - expected).abs().max())
        assert 1e-4 < err < 0.05 * float(expected.abs().max())   # quantized, and close to the float model


class _Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.c = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        z = F.relu(self.a(x) + self.b(x))      # two convolution branches: a's fuses with the add, b's is quantized
        z = z + F.relu(self.c(z))              # neither operand comes straight from a convolution: both quantized
        return F.avg_pool2d(F.max_pool2d(z, 2), 2)


@pytest.mark.parametrize("algorithm", ["max", "percentile", "entropy"])
def test_adds_and_pools_compute_calibrated_fake_quantization(algorithm):
    torch.manual_seed(14)
    model = _Branches().eval()
    data = [[torch.randn(2, 3, 8, 8) * s] for s in (1.0, 2.0)]
    # verified on the calibration items: entropy clips the scale-2 item of this random-weight model to 0.26 against
    # the float model, beyond the default QUANTIZED_RTOL (what this test checks is the exact fake quantization below)
    model_trt = torch2trt(model, [data[0][0]], int8_mode=True, int8_calib_dataset=data,
                          int8_calib_algorithm=algorithm, verify_rtol=0.3, **FULL)
    amax = calibrate(model, data, algorithm).amax
    assert set(amax) == {"a:conv#0", "b:conv#0", "c:conv#0", "<root>:add#0.input", "<root>:add#0.other",
                         "<root>:add#1.input", "<root>:add#1.other", "<root>:max_pool#0", "<root>:avg_pool#0"}

    def a(key, t):
        return fake_quant(t, torch.tensor(amax[key] / 127))

    def conv(m, t, **kw):
        return F.conv2d(a(f"{m}:conv#0", t), fake_quant(getattr(model, m).weight, weight_scale(
            getattr(model, m).weight, 0)), getattr(model, m).bias, **kw)

    x = torch.randn(2, 3, 8, 8) * 1.5
    with torch.no_grad():
        z = F.relu(conv("a", x, padding=1) + a("<root>:add#0.other", conv("b", x)))
        z = a("<root>:add#1.input", z) + a("<root>:add#1.other", F.relu(conv("c", z, padding=1)))
        expected = F.avg_pool2d(a("<root>:avg_pool#0", F.max_pool2d(a("<root>:max_pool#0", z), 2)), 2)
    torch.testing.assert_close(on_reference(model_trt, x), expected, rtol=1e-5, atol=1e-5)
    assert model_trt.network_record.layer_counts()["QUANTIZE"] == 3 * 2 + 1 + 2 + 2


class _ConstantAdds(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.pos = nn.Parameter(torch.randn(1, 3, 5, 5))     # the activation's shape (batch 1)
        self.register_buffer("offset", torch.randn(1, 3, 5, 5))

    def forward(self, x):
        y = self.conv(x)
        y = y + self.pos                     # a parameter (a positional embedding)
        y = y + self.offset * 2              # a tensor computed from a buffer only
        y = torch.add(y, 1.5)                # a number
        y = y + y[:, :1]                     # broadcast: not a second activation of the same shape
        return y.add(y, alpha=2)             # alpha: one operand is scaled first


def test_adds_of_constants_numbers_broadcasts_and_scaled_operands_are_not_quantized():
    torch.manual_seed(15)
    model = _ConstantAdds().eval()
    x = torch.randn(1, 2, 5, 5)
    data = [[x], [x * 2]]
    assert set(calibrate(model, data, "max").amax) == {"conv:conv#0"}
    model_trt = torch2trt(model, [x], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="max", **FULL)
    record = model_trt.network_record
    assert record.layer_counts()["QUANTIZE"] == 2                  # the convolution's input and weights only
    adds = quantized_layers(record, types=["ELEMENTWISE"])
    assert adds["quantized"] == [] and len(adds["float"]) == 2     # the broadcast and the scaled add are reported
    with torch.no_grad():
        expected = model(x)
    assert (on_reference(model_trt, x) - expected).abs().max() < 0.05 * expected.abs().max()


class _MaskedAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        h = self.conv(x)
        return h + torch.log(F.relu(h))      # -inf where h <= 0: no finite range, so that operand stays float


def test_an_add_operand_holding_inf_stays_float():
    torch.manual_seed(16)
    model = _MaskedAdd().eval()
    x = torch.randn(2, 2, 5, 5)
    calib = calibrate(model, [[x]], "entropy")
    assert set(calib.unquantized) == {"<root>:add#0.other"} and "<root>:add#0.input" in calib.amax
    model_trt = torch2trt(model, [x], int8_mode=True, **FULL)
    record = model_trt.network_record
    assert record.layer_counts()["QUANTIZE"] == 2                  # h fuses with its convolution; log(...) is float
    (add,) = _adds(record.layers)
    assert quantized_layers(record, types=["ELEMENTWISE"]) == {"quantized": [], "float": [add.name]}


def test_weight_only_and_fp8_leave_adds_and_pools_float():
    model = _residual_block()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = model(x)
    model_trt = torch2trt(model, [x], int8_mode=True, int8_weight_only=True, **FULL)
    assert "QUANTIZE" not in model_trt.network_record.layer_counts()          # no linear layer
    torch.testing.assert_close(on_reference(model_trt, x), expected, rtol=1e-5, atol=1e-5)

    model_trt = torch2trt(model, [x], quantize="fp8", int8_calib_dataset=[[x]])
    record = model_trt.network_record
    assert record.layer_counts()["QUANTIZE"] == 4                             # the two convolutions
    assert quantized_layers(record) == {"quantized": ["conv1/conv2d", "conv2/conv2d"],
                                        "float": ["model/__iadd__", "pool/max_pool2d"]}


def test_modelopt_quantized_residual_block_gets_no_extra_qdq():
    mtq = pytest.importorskip("modelopt.torch.quantization")
    torch.manual_seed(17)
    model = _ResidualBlock(norm=False).eval()
    data = [torch.randn(2, 4, 8, 8) for _ in range(3)]
    mtq.quantize(model, mtq.INT8_DEFAULT_CFG, forward_loop=lambda m: [m(d) for d in data])
    model_trt = torch2trt(model, [data[0]], **FULL)
    x = torch.randn(2, 4, 8, 8) * 1.5
    with torch.no_grad():
        expected = model(x)                      # ModelOpt's own fake quantization in PyTorch
    torch.testing.assert_close(on_reference(model_trt, x), expected, rtol=1e-5, atol=1e-5)
    from torch2trt.quantization import modelopt

    enabled = [n for n, q in modelopt.tensor_quantizers(model) if modelopt.quantizer_mode(q) is not None]
    assert model_trt.network_record.layer_counts()["QUANTIZE"] == len(enabled) > 0   # ModelOpt's pairs only


# ---- the target: digits --------------------------------------------------------------------------------------
sklearn_datasets = pytest.importorskip("sklearn.datasets")


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@pytest.fixture(scope="module")
def digits():
    d = sklearn_datasets.load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1300], perm[1300:]
    torch.manual_seed(0)
    model = DigitsNet()
    opt = torch.optim.Adam(model.parameters(), lr=4e-3)
    for _ in range(10):
        for idx in torch.randperm(len(train), generator=torch.Generator().manual_seed(1)).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[train[idx]]), y[train[idx]]).backward()
            opt.step()
    model.eval()
    return model, x[train], x[test], y[test]


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * float((logits.argmax(1) == labels).float().mean())


@pytest.mark.parametrize("algorithm", ["max", "percentile", "entropy"])
def test_digits_int8_accuracy_within_one_point_of_float32(digits, algorithm):
    model, x_train, x_test, y_test = digits
    with torch.no_grad():
        float_acc = _accuracy(model(x_test), y_test)
    assert float_acc > 95.0, "the float model itself must be good for the comparison to mean something"
    calib = [[b] for b in x_train[:512].split(64)]
    n = len(x_test)
    model_trt = torch2trt(model, [x_train[:64]], int8_mode=True, int8_calib_dataset=calib,
                          int8_calib_algorithm=algorithm, min_shapes=[(1, 1, 8, 8)], opt_shapes=[(64, 1, 8, 8)],
                          max_shapes=[(n, 1, 8, 8)], **FULL)
    logits = on_reference(model_trt, x_test)               # the reference path (TensorRT's semantics on the CPU)
    int8_acc = _accuracy(logits, y_test)
    print(f"digits {algorithm}: float32 {float_acc:.2f}%  int8 {int8_acc:.2f}%  (n={n})")
    assert abs(int8_acc - float_acc) <= 1.0
    with torch.no_grad():
        assert not torch.equal(logits, model(x_test))        # the network is quantized, not float

    # Q/DQ around every convolution and linear layer: data (per tensor) and weights (per output channel)
    layers = layers_of(model_trt)
    made_by = producers(layers)
    compute = [la for la in layers if la.type in ("CONVOLUTION", "MATRIX_MULTIPLY")]
    assert [la.type for la in compute] == ["CONVOLUTION", "CONVOLUTION", "MATRIX_MULTIPLY", "MATRIX_MULTIPLY"]
    out_channels = [16, 32, 64, 10]
    for la, channels in zip(compute, out_channels):
        for slot in (0, 1):
            dq = made_by[la.inputs[slot]]
            assert dq.type == "DEQUANTIZE", f"{la.name} input {slot} comes from {dq.type}"
            q = made_by[dq.inputs[0]]
            assert q.type == "QUANTIZE" and q.attrs["to_type"] == "INT8"
            scale = made_by[q.inputs[1]].weights["weights"]
            assert scale.numel() == (1 if slot == 0 else channels)
        assert la.weights.get("kernel") is None               # the kernel is the dequantized input tensor
    (pool,) = [la for la in layers if la.type == "POOLING"]  # and on the max pool's input
    assert made_by[pool.inputs[0]].type == "DEQUANTIZE"
    assert model_trt.network_record.layer_counts()["QUANTIZE"] == 9


def test_check_reports_the_cost_of_int8_against_the_float_model(digits):
    """torch2trt.check with quantization arguments: the Python equivalent of `check --int8` (user data)."""
    from torch2trt import check

    model, x_train, x_test, y_test = digits
    report = check(model, [x_test[:128]], verbose=False, int8_mode=True,
                   int8_calib_dataset=[[b] for b in x_train[:256].split(64)], **FULL)
    assert 1e-4 < report.max_rel < 0.1
    assert report.model_trt.network_record.layer_counts()["QUANTIZE"] == 9


def test_digits_int8_network_computes_calibrated_fake_quantization(digits):
    """The whole pipeline, exactly: the network equals fake quantization in PyTorch with the ranges calibrate()
    measures (max) and per-channel weight scales."""
    model, x_train, x_test, _ = digits
    calib = [[b] for b in x_train[:256].split(64)]
    model_trt = torch2trt(model, [x_train[:64]], int8_mode=True, int8_calib_dataset=calib,
                          int8_calib_algorithm="max", **FULL)
    amax = calibrate(model, calib, "max").amax
    fq = {name: fake_quant(m.weight.detach(), weight_scale(m.weight.detach(), 0))
          for name, m in model.named_children()}

    def a(name, x, family):
        return fake_quant(x, torch.tensor(amax[f"{name}:{family}#0"] / 127))

    x = x_test[:64]
    with torch.no_grad():
        h = F.relu(F.conv2d(a("conv1", x, "conv"), fq["conv1"], model.conv1.bias, padding=1))
        h = F.relu(F.conv2d(a("conv2", h, "conv"), fq["conv2"], model.conv2.bias, padding=1))
        h = F.max_pool2d(a("<root>", h, "max_pool"), 2)
        h = F.relu(F.linear(a("fc1", h.flatten(1), "linear"), fq["fc1"], model.fc1.bias))
        expected = F.linear(a("fc2", h, "linear"), fq["fc2"], model.fc2.bias)
    got = reference.run(model_trt.network_record, {"input_0": x})["output_0"]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# ---- torchvision models: INT8 networks the real builder builds, layer-wise report ------------------------------
torchvision = pytest.importorskip("torchvision")


def _qdq_fed(layers: list, kind: str) -> tuple[int, int]:
    """(layers of `kind`, of those whose data and weight inputs both come from DEQUANTIZE layers)."""
    made_by = producers(layers)
    of_kind = [la for la in layers if la.type == kind]
    fed = [la for la in of_kind if all(made_by.get(t) is not None and made_by[t].type == "DEQUANTIZE"
                                       for t in la.inputs[:2])]
    return len(of_kind), len(fed)


def test_resnet18_int8_builds_and_the_layerwise_report_points_at_quantization():
    from torch2trt import debug
    from torch2trt.testing import randomize_norm_statistics

    torch.manual_seed(9)
    model = torchvision.models.resnet18(num_classes=10).eval()
    randomize_norm_statistics(model)
    x = torch.randn(2, 3, 32, 32)
    calib = [[torch.randn(2, 3, 32, 32)] for _ in range(2)]
    report = debug.compare(model, [x], rtol=1e-5, int8_mode=True, int8_calib_dataset=calib,
                           int8_calib_algorithm="max", **FULL)
    record = report.model_trt.network_record
    layers = record.layers
    assert _qdq_fed(layers, "CONVOLUTION") == (20, 20)          # built by the real builder inside torch2trt()
    assert _qdq_fed(layers, "MATRIX_MULTIPLY") == (1, 1)
    # the 8 residual adds: Q/DQ on the identity (or downsample) operand, the conv2-bn2 operand fuses with the add
    made_by = producers(layers)
    adds = _adds(layers)
    assert len(adds) == 8
    for add in adds:
        out, identity = add.inputs
        assert made_by[out].type == "SCALE" and _qdq_input(made_by, out) is None
        assert _qdq_input(made_by, identity) is not None
    (pool,) = [la for la in layers if la.type == "POOLING"]
    assert _qdq_input(made_by, pool.inputs[0]) is not None
    split = quantized_layers(record)
    assert split["float"] == [] and len(split["quantized"]) == 20 + 1 + 8 + 1
    assert record.layer_counts()["QUANTIZE"] == 2 * 21 + 8 + 1
    first = report.first_divergence                             # the first quantized call differs from float
    assert first is not None and first.function.endswith("conv2d") and first.module_path == "conv1"
    assert 1e-5 < first.rel < 0.05                              # by quantization noise, not by a wrong layer
    assert len(report.rows) >= 21


def test_vit_b_16_int8_builds_with_qdq_on_every_linear_outside_attention():
    torch.manual_seed(10)
    model = torchvision.models.vit_b_16(image_size=32, num_classes=10).eval()
    nn.init.normal_(model.heads.head.weight, 0, 0.05)           # torchvision zero-initializes the head
    x = torch.randn(2, 3, 32, 32)
    model_trt = torch2trt(model, [x], int8_mode=True, int8_calib_dataset=[[x * 0.5], [x]],
                          int8_calib_algorithm="max", **FULL)
    layers = model_trt.network_record.layers
    assert _qdq_fed(layers, "CONVOLUTION") == (1, 1)            # the patch embedding
    n_mm, fed = _qdq_fed(layers, "MATRIX_MULTIPLY")
    assert fed == 12 * 2 + 1                                    # every MLP linear and the head
    split = quantized_layers(model_trt.network_record, types=["CONVOLUTION", "MATRIX_MULTIPLY"])
    assert len(split["quantized"]) == 1 + fed and len(split["float"]) == n_mm - fed > 0
    assert all("self_attention" in name for name in split["float"])   # attention stays float
    adds = quantized_layers(model_trt.network_record, types=["ELEMENTWISE"])
    assert len(adds["quantized"]) == 12 * 2 and adds["float"] == []   # the residual adds (not + pos_embedding)
    with torch.no_grad():
        expected = model(x)
    got = on_reference(model_trt, x)
    assert float((got - expected).norm() / expected.norm()) < 0.1


# ---- models quantized with NVIDIA ModelOpt -------------------------------------------------------------------
def _modelopt_quantized(cfg_name: str):
    mtq = pytest.importorskip("modelopt.torch.quantization")
    torch.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    data = [torch.randn(2, 1, 8, 8) for _ in range(3)]
    mtq.quantize(model, getattr(mtq, cfg_name), forward_loop=lambda m: [m(d) for d in data])
    return model, data


@pytest.mark.parametrize("cfg_name,to_type", [("INT8_DEFAULT_CFG", "INT8"), ("FP8_DEFAULT_CFG", "FP8")])
def test_modelopt_quantized_model_converts_to_the_same_qdq(cfg_name, to_type):
    model, data = _modelopt_quantized(cfg_name)
    model_trt = torch2trt(model, [data[0]], **FULL)
    layers = layers_of(model_trt)
    assert _qdq_fed(layers, "CONVOLUTION") == (1, 1) and _qdq_fed(layers, "MATRIX_MULTIPLY") == (1, 1)
    assert {la.attrs["to_type"] for la in layers if la.type == "QUANTIZE"} == {to_type}
    x = torch.randn(2, 1, 8, 8) * 1.5
    with torch.no_grad():
        expected = model(x)                      # ModelOpt's own fake quantization in PyTorch
    torch.testing.assert_close(on_reference(model_trt, x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="already quantized with NVIDIA ModelOpt"):
        torch2trt(model, [data[0]], int8_mode=True, **FULL)


@pytest.mark.skipif(not backend.IS_RTX, reason="TensorRT-RTX's rule")
def test_modelopt_int8_activations_for_tensorrt_rtx_are_refused():
    model, data = _modelopt_quantized("INT8_DEFAULT_CFG")
    with pytest.raises(ValueError, match="weight-only"):
        torch2trt(model, [data[0]])
