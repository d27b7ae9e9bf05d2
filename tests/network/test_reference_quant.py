"""QUANTIZE / DEQUANTIZE in the reference executor, pinned against TensorRT's documented semantics
(operator docs Quantize.html / Dequantize.html and the IQuantizeLayer API reference):

    Q:  y = clamp(round_half_to_even(x / scale) + zero_point)     INT8 [-128, 127], FP8 e4m3 [-448, 448]
    DQ: y = (x - zero_point) * scale

scale is a scalar (per tensor) or 1-D along `axis` (per channel). Expected values are computed here independently
of the executor: Python's round() (half to even) for INT8 and an FP8 e4m3 table decoded from the bit layout. The
networks are also required to build with the real builder, and are replayed (network/portable.py) and compared.
Independent validation: NVIDIA's ONNX parser builds networks from QuantizeLinear / DequantizeLinear models; the
executor's results on them equal onnx.reference (ONNX's own evaluator).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from netcase import assert_same, run

from torch2trt.backend import create_network, trt
from torch2trt.network import reference
from torch2trt.network.inspect import read_network

B = 3


# ---- independent expectations ------------------------------------------------------------------------------
def _int8(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """clamp(round_half_even(x / s)) element by element with Python's round() (which rounds half to even); x / s is
    a float32 division (the data is float32 or float16; TensorRT documents no wider intermediate)."""
    ratio = values.float() / scale.float()
    out = [max(-128, min(127, round(r))) for r in ratio.reshape(-1).tolist()]
    return torch.tensor(out, dtype=torch.int8).reshape(values.shape)


def _e4m3_table() -> list[tuple[float, int]]:
    """Every non-negative finite float8 e4m3fn value with its code (sign 0, 4 exponent bits bias 7, 3 mantissa bits;
    exponent 0 is subnormal; code 0x7F is NaN, so 448 = 0x7E is the largest)."""
    table = []
    for code in range(0x7F):
        e, m = code >> 3, code & 7
        table.append(((m / 8) * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7), code))
    return table


_E4M3 = _e4m3_table()


def _fp8(values: torch.Tensor, scale: float) -> torch.Tensor:
    """Round x / s to the nearest e4m3 value, ties to the even code, after clamping to [-448, 448]."""
    out = []
    for x in values.reshape(-1).tolist():
        y = min(448.0, abs(x / scale))
        best = min(_E4M3, key=lambda vc: (abs(vc[0] - y), vc[1] & 1))
        out.append(best[0] if x >= 0 else -best[0])
    return torch.tensor(out, dtype=torch.float32).reshape(values.shape)


def _qdq(net, x_t, scale: torch.Tensor, axis: int | None, to=trt.int8, out=trt.float32):
    q = net.network.add_quantize(x_t, net.const(scale), to)
    dq = net.network.add_dequantize(q.get_output(0), net.const(scale), out)
    if axis is not None:
        q.axis = dq.axis = axis
    return q.get_output(0), dq.get_output(0)


# ---- INT8 ------------------------------------------------------------------------------------------------------
def test_int8_quantize_rounds_ties_to_even_and_saturates(net):
    # with scale 0.5, x / s hits exact ties: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -2.5 -> -2, 126.5 -> 126,
    # 127.5 -> 128 -> saturates to 127, -128.5 -> -128, -129.5 -> -130 -> saturates
    halves = torch.tensor([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 126.5, 127.5, -127.5, -128.5, -129.5,
                           1e6, -1e6, 0.0, 0.2, -0.7])
    x = (halves * 0.5).reshape(2, 9)
    q, dq = _qdq(net, net.input("x", torch.float32, x.shape), torch.tensor(0.5), None)
    got_q, got_dq = run(net.build(q, dq), {"x": x})
    expected = _int8(x, torch.tensor(0.5))
    assert expected.reshape(-1)[:8].tolist() == [0, 2, 2, 4, 0, -2, -2, -4]          # the ties, spelled out
    assert expected.reshape(-1)[8:15].tolist() == [126, 127, -128, -128, -128, 127, -128]
    assert_same(got_q, expected, rtol=0, atol=0)
    assert_same(got_dq, expected.float() * 0.5, rtol=0, atol=0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_int8_per_channel_scale_along_axis(net, axis):
    torch.manual_seed(axis + 10)
    x = torch.randn(B, 4, 5) * 3
    n = x.shape[axis]
    scale = torch.linspace(0.01, 0.05, n)
    q, dq = _qdq(net, net.input("x", torch.float32, x.shape), scale, axis)
    got_q, got_dq = run(net.build(q, dq), {"x": x * 1.7})                 # not the values it was built with
    view = [1] * x.dim()
    view[axis] = n
    s = scale.reshape(view)
    expected = _int8(x * 1.7, s)
    assert (expected == 127).any() or (expected == -128).any()   # saturation is exercised
    assert_same(got_q, expected, rtol=0, atol=0)
    assert_same(got_dq, expected.float() * s, rtol=0, atol=0)


def test_int8_per_tensor_scale_of_shape_one_and_float16_data(net):
    x = torch.randn(B, 6).half() * 4
    q, dq = _qdq(net, net.input("x", torch.float16, x.shape), torch.tensor([0.03]), None, out=trt.float16)
    got_q, got_dq = run(net.build(q, dq), {"x": x})
    expected = _int8(x.float(), torch.tensor(0.03))
    assert_same(got_q, expected, rtol=0, atol=0)
    assert_same(got_dq, (expected.float() * 0.03).half(), rtol=0, atol=0)


def test_int8_quantized_convolution_with_per_channel_weights(net):
    """The explicit-quantization pattern: Q/DQ on the data (per tensor) and on the kernel (per output channel,
    axis 0) feeding a convolution whose kernel is an input tensor."""
    torch.manual_seed(0)
    x, w, b = torch.randn(B, 3, 7, 7), torch.randn(4, 3, 3, 3), torch.randn(4)
    sx, sw = torch.tensor(0.02), w.abs().amax((1, 2, 3)) / 127
    _, xq = _qdq(net, net.input("x", torch.float32, x.shape), sx, None)
    _, wq = _qdq(net, net.const(w), sw, 0)
    conv = net.network.add_convolution_nd(xq, 4, (3, 3), trt.Weights(trt.float32), net.weights(b))
    conv.set_input(1, wq)
    (got,) = run(net.build(conv.get_output(0)), {"x": x})
    xf = _int8(x, sx).float() * sx
    wf = _int8(w, sw.reshape(4, 1, 1, 1)).float() * sw.reshape(4, 1, 1, 1)
    assert_same(got, F.conv2d(xf, wf, b), rtol=1e-5, atol=1e-5)


def test_int8_quantized_deconvolution_with_weights_per_output_channel(net):
    """Deconvolution kernels are (C_in, C_out / groups, *k): the output channel axis is 1."""
    torch.manual_seed(1)
    x, w = torch.randn(B, 4, 5, 5), torch.randn(4, 3, 3, 3)
    sx, sw = torch.tensor(0.03), w.abs().amax((0, 2, 3)) / 127
    _, xq = _qdq(net, net.input("x", torch.float32, x.shape), sx, None)
    _, wq = _qdq(net, net.const(w), sw, 1)
    deconv = net.network.add_deconvolution_nd(xq, 3, (3, 3), trt.Weights(trt.float32), trt.Weights(trt.float32))
    deconv.set_input(1, wq)
    deconv.stride_nd = (2, 2)
    (got,) = run(net.build(deconv.get_output(0)), {"x": x})
    xf = _int8(x, sx).float() * sx
    wf = _int8(w, sw.reshape(1, 3, 1, 1)).float() * sw.reshape(1, 3, 1, 1)
    assert_same(got, F.conv_transpose2d(xf, wf, stride=2), rtol=1e-5, atol=1e-5)


# ---- FP8 e4m3 --------------------------------------------------------------------------------------------------
def test_fp8_e4m3_table_is_right():
    values = [v for v, _ in _E4M3]
    assert max(values) == 448.0 and values[1] == 2.0 ** -9 and len(set(values)) == 127
    assert torch.equal(torch.tensor(values).to(torch.float8_e4m3fn).float(), torch.tensor(values))


def test_fp8_quantize_rounds_ties_to_even_saturates_and_keeps_subnormals(net):
    x = torch.tensor([1.0625, 1.1875, -1.0625, 1.3125,          # ties between grid points 1/8 apart
                      2.0 ** -10, 3 * 2.0 ** -10, 2.0 ** -9,     # subnormal ties (0 | 2^-9, 2^-9 | 2^-8) and the least
                      440.0, 460.0, 500.0, -1e6, 0.3, -7.77, 0.0, 17.0, 240.0])
    scale = 0.5
    q, dq = _qdq(net, net.input("x", torch.float32, x.shape), torch.tensor(scale), None, to=trt.fp8)
    got_q, got_dq = run(net.build(q, dq), {"x": x * scale})
    expected = _fp8(x * scale, scale)
    assert expected[:7].tolist() == [1.0, 1.25, -1.0, 1.25, 0.0, 2.0 ** -8, 2.0 ** -9]
    assert expected[7:11].tolist() == [448.0, 448.0, 448.0, -448.0]
    assert got_q.dtype == torch.float8_e4m3fn
    assert_same(got_q.float(), expected, rtol=0, atol=0)
    assert_same(got_dq, expected * scale, rtol=0, atol=0)


def test_fp8_per_channel(net):
    torch.manual_seed(3)
    x = torch.randn(B, 3, 4) * 50
    scale = torch.tensor([0.05, 0.5, 2.0])
    q, dq = _qdq(net, net.input("x", torch.float32, x.shape), scale, 1, to=trt.fp8)
    got_q, got_dq = run(net.build(q, dq), {"x": x})
    expected = torch.stack([_fp8(x[:, c], float(scale[c])) for c in range(3)], 1)
    assert (expected.abs() == 448).any()
    assert_same(got_q.float(), expected, rtol=0, atol=0)
    assert_same(got_dq, expected * scale.reshape(1, 3, 1), rtol=0, atol=0)


# ---- portable replay -------------------------------------------------------------------------------------------
def test_quantized_networks_replay_identically(net):
    from test_portable import assert_replays

    torch.manual_seed(4)
    x, w = torch.randn(B, 3, 6, 6), torch.randn(5, 3, 3, 3)
    sw = w.abs().amax((1, 2, 3)) / 127
    _, xq = _qdq(net, net.input("x", torch.float32, x.shape), torch.tensor(0.02), None)
    _, wq = _qdq(net, net.const(w), sw, 0)
    conv = net.network.add_convolution_nd(xq, 5, (3, 3), trt.Weights(trt.float32), trt.Weights(trt.float32))
    conv.set_input(1, wq)
    f8, f8dq = _qdq(net, conv.get_output(0), torch.tensor(0.1), None, to=trt.fp8)
    record = net.build(conv.get_output(0), f8, f8dq)
    assert_replays(record, [{"x": x}, {"x": x * 3}])


# ---- validation through NVIDIA's ONNX parser -------------------------------------------------------------------
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def _parse(model) -> tuple:
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = create_network(builder)
    parser = trt.OnnxParser(network, trt.Logger(trt.Logger.ERROR))
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    assert builder.build_serialized_network(network, builder.create_builder_config()) is not None
    return read_network(network), (builder, network, parser)   # the parser owns weight memory: keep it alive


def _qdq_conv_model(per_channel_axis: int | None):
    """x -> QuantizeLinear -> DequantizeLinear -> Conv(kernel = DequantizeLinear(int8 initializer)) -> y, plus the
    quantized x as a second output (int8, exact)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w_scale = (np.abs(w).max(axis=(1, 2, 3)) / 127).astype(np.float32)
    w_q = np.clip(np.round(w / w_scale.reshape(4, 1, 1, 1)), -128, 127).astype(np.int8)
    # powers of two: the second test input then hits exact ties x / scale = k + 0.5
    x_scale = np.array(0.0625 if per_channel_axis is None else [0.0625, 0.125, 0.25], np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (x_scale, "x_scale"), (np.zeros(x_scale.shape, np.int8), "x_zero"), (w_q, "w_q"), (w_scale, "w_scale"),
        (np.zeros(4, np.int8), "w_zero"), (rng.standard_normal(4).astype(np.float32), "bias"))]
    x_axis = {} if per_channel_axis is None else {"axis": per_channel_axis}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"], **x_axis),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xdq"], **x_axis),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=0),
        helper.make_node("Conv", ["xdq", "w", "bias"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("Identity", ["xq"], ["xq_out"]),
    ]
    graph = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 6, 6]),
                               helper.make_tensor_value_info("xq_out", TensorProto.INT8, [2, 3, 6, 6])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


@pytest.mark.parametrize("axis", [None, 1])
def test_onnx_parser_qdq_convolution_matches_onnx_reference(axis):
    model = _qdq_conv_model(axis)
    record, keep = _parse(model)
    assert {"QUANTIZE", "DEQUANTIZE", "CONVOLUTION"} <= set(record.layer_counts())
    evaluator = ReferenceEvaluator(model)
    rng = np.random.default_rng(6)
    for x in (rng.standard_normal((2, 3, 6, 6)).astype(np.float32) * 3,
              (np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6) - 108) * 0.03125):  # ties
        want_y, want_q = evaluator.run(None, {"x": x})
        got = reference.run(record, {record.inputs[0][0]: torch.from_numpy(x)})
        got_y, got_q = (got[name] for name in record.outputs)
        assert_same(got_q, torch.from_numpy(want_q), rtol=0, atol=0)
        assert_same(got_y, torch.from_numpy(want_y), rtol=1e-5, atol=1e-5)


def test_onnx_parser_fp8_quantize_dequantize_matches_onnx_reference():
    scale = np.array(0.25, np.float32)
    zero = helper.make_tensor("zero", TensorProto.FLOAT8E4M3FN, [], [0.0])
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "scale", "zero"], ["y"])]
    graph = helper.make_graph(nodes, "fp8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
                              [numpy_helper.from_array(scale, "scale"), zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    record, keep = _parse(model)
    assert record.layer_counts().get("QUANTIZE") == 1
    grid = [v for v, _ in _E4M3]
    ties = [(a + b) / 2 for a, b in itertools.pairwise(grid)]
    x = np.array((grid[::8] + ties[::4] + [500.0, -1000.0, 3.3, -0.01])[:64], np.float32)
    x = np.concatenate([x, -x[: 64 - len(x)]]) if len(x) < 64 else x
    x = (x * 0.25).reshape(4, 16)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    got = reference.run(record, {"x": torch.from_numpy(x)})[record.outputs[0]]
    assert_same(got, torch.from_numpy(want), rtol=0, atol=0)
    assert_same(got, _fp8(torch.from_numpy(x), 0.25) * 0.25, rtol=0, atol=0)
