"""Independent validation of the reference executor: PyTorch model -> torch.onnx.export -> NVIDIA's ONNX parser ->
reference executor (float64), compared with PyTorch eager (float32). The parser, not our converters, chose the layers
and their attributes, so agreement means our layer semantics agree with NVIDIA's reading of ONNX.

Bar: ||out - ref|| / ||ref|| <= 1e-5 (Frobenius) against PyTorch eager in float64 for every model, and against
float32 eager within 1e-5 plus float32's own measured rounding noise (see _validate). Random weights (fixed seed),
eval mode, batch-norm statistics calibrated on random data so that the outputs carry signal (checked).
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.network import reference
from torch2trt.network.inspect import read_network

torchvision = pytest.importorskip("torchvision")
pytest.importorskip("onnx")
from torch2trt.onnx_route import export_and_parse  # noqa: E402

OPSET = 17          # LayerNormalization (17) and GridSample (16) are native from here
RTOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def _one_thread_per_worker():
    """Under pytest-xdist every worker would run 2 intra-op threads on a 2-core machine; oversubscribed OpenMP
    barriers then stall for seconds in some kernels. One thread per worker is faster overall."""
    before = torch.get_num_threads()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _calibrate(model: nn.Module, inputs: list[torch.Tensor]) -> nn.Module:
    """Random weights that carry signal: batch-norm statistics measured on random data (so activations stay
    normalized through depth instead of decaying under default statistics), then random affine parameters;
    zero-initialized classifier heads (ViT) get random weights."""
    for m in model.modules():
        if isinstance(m, nn.Linear) and not m.weight.any():
            nn.init.normal_(m.weight, 0, m.in_features ** -0.5)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            m.momentum = None                       # cumulative average over the calibration batch
            m.reset_running_stats()
        model.train()
        with torch.no_grad():
            model(*[torch.randn((4,) + tuple(t.shape[1:])) for t in inputs])
            for m in norms:                         # mild: random networks are chaotic, and stronger random
                m.weight.uniform_(0.9, 1.1)         # affines make float32 PyTorch itself drift from exact math
                m.bias.normal_(0, 0.05)
    return model.eval()


def _relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    ref = ref.double()
    return float((out.double() - ref).norm() / ref.norm())


ERRORS: dict[str, list] = {}      # test id -> [(vs float64 eager, vs float32 eager, float32 eager vs float64 eager)]


def _validate(model: nn.Module, inputs: list[torch.Tensor], *, dynamic_axes: dict | None = None,
              shapes: list[list[torch.Size]] | None = None) -> list[tuple[float, float, float]]:
    """Export + parse once, then run the reference in float64 at the sample inputs (and at `shapes` for a dynamic
    export) and compare with PyTorch eager in float64 (same weights, exactly) and in float32.

    Bars: vs float64 eager <= 1e-5 (what is left is the float32 constant folding the exporter applied);
    vs float32 eager <= 1e-5 plus twice float32 eager's own distance from float64 eager (its rounding noise,
    measured, not assumed)."""
    model = _calibrate(model, inputs)
    model64 = copy.deepcopy(model).double()
    names = [f"input_{i}" for i in range(len(inputs))]
    with torch.no_grad(), _mha_fastpath_off():
        onnx_net = export_and_parse(model, inputs, opset=OPSET, dynamic_axes=dynamic_axes, input_names=names)
    record = read_network(onnx_net.network)
    del onnx_net                                          # the record holds copies of every weight
    errors = []
    for feeds in [inputs] + [[torch.randn(s) for s in case] for case in shapes or []]:
        with torch.no_grad(), _mha_fastpath_off():
            expected32 = model(*feeds)
            expected64 = model64(*[f.double() for f in feeds])
        got = reference.run(record, dict(zip(names, feeds)), dtype=torch.float64)
        out = got[record.outputs[0]]
        assert out.shape == expected32.shape, f"shape {tuple(out.shape)} != {tuple(expected32.shape)}"
        # the outputs must carry signal: different samples give different outputs
        spread = (expected64 - expected64.mean(0, keepdim=True)).norm() / expected64.norm()
        assert expected64.shape[0] == 1 or spread > 1e-2, f"degenerate model output (spread {spread:.2e})"
        e64, e32, noise = (_relative_error(out, expected64), _relative_error(out, expected32),
                           _relative_error(expected32, expected64))
        errors.append((e64, e32, noise))
        assert e64 <= RTOL, f"vs float64 PyTorch: relative error {e64:.3g} > {RTOL}"
        assert e32 <= RTOL + 2 * noise, f"vs float32 PyTorch: relative error {e32:.3g} > {RTOL} + 2 * {noise:.3g}"
    ERRORS[os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]] = errors
    if os.environ.get("TORCH2TRT_PRINT_ERRORS"):
        print("\nERRORS", os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0],
              " ".join(f"{a:.2e}/{b:.2e}/{c:.2e}" for a, b, c in errors))
    return errors


class _mha_fastpath_off:
    """torch.backends.mha.set_fastpath_enabled(False) for the export: the fused path has no ONNX symbolic."""

    def __enter__(self):
        self.before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)

    def __exit__(self, *exc):
        torch.backends.mha.set_fastpath_enabled(self.before)


class _SegmentationOut(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


tv = torchvision.models
ZOO = {
    "resnet18": (lambda: tv.resnet18(), (2, 3, 64, 64)),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(), (2, 3, 64, 64)),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(), (2, 3, 64, 64)),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(), (2, 3, 64, 64)),
    "densenet121": (lambda: tv.densenet121(), (2, 3, 64, 64)),
    "googlenet": (lambda: tv.googlenet(aux_logits=False, init_weights=False), (2, 3, 64, 64)),
    "inception_v3": (lambda: tv.inception_v3(aux_logits=False, init_weights=False), (2, 3, 96, 96)),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), (2, 3, 64, 64)),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(), (2, 3, 64, 64)),
    "regnet_y_400mf": (lambda: tv.regnet_y_400mf(), (2, 3, 64, 64)),
    "convnext_tiny": (lambda: tv.convnext_tiny(), (2, 3, 64, 64)),
    "vit_b_16": (lambda: tv.vit_b_16(), (2, 3, 224, 224)),
    "swin_t": (lambda: tv.swin_t(), (2, 3, 64, 64)),
    "deeplabv3_mobilenet_v3_large": (
        lambda: _SegmentationOut(tv.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None)),
        (2, 3, 64, 64)),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_torchvision_model_through_onnx_parser_matches_pytorch(name):
    build, shape = ZOO[name]
    model = build()
    _validate(model, [torch.randn(shape)])


def test_dynamic_batch_and_spatial_axes_at_several_shapes():
    """shufflenet's channel shuffle reshapes with shapes computed from the input (SHAPE, GATHER, elementwise)."""
    model = tv.shufflenet_v2_x0_5()
    axes = {"input_0": {0: "batch", 2: "height", 3: "width"}}
    errors = _validate(model, [torch.randn(2, 3, 64, 64)], dynamic_axes=axes,
                       shapes=[[(1, 3, 32, 32)], [(3, 3, 96, 64)], [(4, 3, 48, 80)]])
    assert len(errors) == 4


def test_transformer_encoder():
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True, dropout=0.0)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    _validate(model, [torch.randn(2, 10, 64)])


class _AttentionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(48, 4, batch_first=True)
        self.norm = nn.LayerNorm(48)

    def forward(self, x, memory):
        out, _ = self.attn(x, memory, memory, need_weights=False)
        return self.norm(x + out)


def test_multihead_attention_block():
    _validate(_AttentionBlock(), [torch.randn(2, 7, 48), torch.randn(2, 11, 48)])


class _Interpolate(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.kwargs = kwargs

    def forward(self, x):
        return F.interpolate(self.conv(x), **self.kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2, mode="nearest"),
    dict(size=(13, 7), mode="nearest"),
    dict(scale_factor=2, mode="bilinear", align_corners=False),
    dict(size=(13, 7), mode="bilinear", align_corners=False),
    dict(size=(13, 7), mode="bilinear", align_corners=True),
    dict(size=(5, 4), mode="bilinear", align_corners=False),           # downsampling
    dict(scale_factor=2, mode="bicubic", align_corners=False),
    dict(size=(13, 7), mode="bicubic", align_corners=True),
], ids=lambda k: "-".join(str(v).replace(" ", "").replace(",", "x") for v in k.values()))
def test_interpolate(kwargs):
    _validate(_Interpolate(**kwargs), [torch.randn(2, 3, 8, 6)])


class _GridSample(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.kwargs = kwargs

    def forward(self, x, grid):
        return F.grid_sample(self.conv(x), grid, **self.kwargs)


@pytest.mark.parametrize("mode,padding_mode,align_corners", [
    ("bilinear", "zeros", False), ("bilinear", "border", True), ("nearest", "zeros", False),
    ("bicubic", "reflection", False), ("bilinear", "reflection", True),
])
def test_grid_sample(mode, padding_mode, align_corners):
    grid = torch.rand(2, 5, 9, 2) * 2.4 - 1.2
    _validate(_GridSample(mode=mode, padding_mode=padding_mode, align_corners=align_corners),
              [torch.randn(2, 3, 8, 6), grid])


# ---- IAttention as NVIDIA's parser builds it from ONNX Attention (opset 23) -------------------------------------
def _onnx_attention(b, hq, hk, lq, s, d, causal, mask_type, scale):
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [b, hq, lq, d]),
           helper.make_tensor_value_info("k", TensorProto.FLOAT, [b, hk, s, d]),
           helper.make_tensor_value_info("v", TensorProto.FLOAT, [b, hk, s, d])]
    if mask_type is not None:
        ins.append(helper.make_tensor_value_info("m", mask_type, [lq, s]))
    attrs = {"is_causal": int(causal)}
    if scale is not None:
        attrs["scale"] = scale
    node = helper.make_node("Attention", [i.name for i in ins], ["y"], **attrs)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, hq, lq, d])
    return helper.make_model(helper.make_graph([node], "attention", ins, [out]),
                             opset_imports=[helper.make_opsetid("", 23)])


@pytest.mark.parametrize("causal, mask, scale", [(False, None, None), (True, None, None), (False, "bool", None),
                                                 (False, "float", 0.5)])
def test_onnx_attention_parsed_into_iattention_matches_sdpa(causal, mask, scale):
    """The parser (not our converter) makes the ATTENTION_INPUT/OUTPUT pair and scales q and k; our reference of
    it must equal PyTorch's scaled_dot_product_attention (grouped heads 4/2) — validates no-scale, GQA grouping,
    mask and causal semantics of network/_ref_nn.attention_input."""
    from onnx import TensorProto

    from torch2trt.backend import create_network, trt

    b, hq, hk, lq, s, d = 2, 4, 2, 5, 7, 8
    mask_type = {None: None, "bool": TensorProto.BOOL, "float": TensorProto.FLOAT}[mask]
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = create_network(builder)
    parser = trt.OnnxParser(network, trt.Logger(trt.Logger.ERROR))
    if not parser.parse(_onnx_attention(b, hq, hk, lq, s, d, causal, mask_type, scale).SerializeToString()):
        pytest.skip("this backend's ONNX parser has no Attention (opset 23)")
    record = read_network(network)
    assert [r.type for r in record.layers].count("ATTENTION_INPUT") == 1
    g = torch.Generator().manual_seed(3)
    q, k, v = torch.randn(b, hq, lq, d, generator=g), torch.randn(b, hk, s, d, generator=g), \
        torch.randn(b, hk, s, d, generator=g)
    feeds, m = {"q": q, "k": k, "v": v}, None
    if mask == "bool":
        m = torch.rand(lq, s, generator=g) > 0.4
        m[:, 0] = True
    elif mask == "float":
        m = torch.randn(lq, s, generator=g)
    if m is not None:
        feeds["m"] = m
    got = reference.run(record, feeds)[record.outputs[0]].double()
    expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=m, is_causal=causal,
                                              scale=scale, enable_gqa=True)
    assert got.shape == expected.shape
    assert ((got - expected).norm() / expected.norm()).item() <= RTOL
