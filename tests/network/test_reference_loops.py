"""TensorRT loops (ILoop: ITripLimitLayer, IIteratorLayer, IRecurrenceLayer, ILoopOutputLayer) in the reference
executor. Two kinds of evidence: small loops built with the TensorRT API (accepted by the real builder) against
expectations written from TensorRT's loop documentation, and loops NVIDIA's ONNX parser builds (nn.LSTM / nn.GRU
exported by torch.onnx, an ONNX Loop with a termination condition) against PyTorch / ONNX's own semantics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from netcase import assert_same, run

from torch2trt.backend import create_network, trt
from torch2trt.network import reference
from torch2trt.network.inspect import read_network

B = 3
SUM = trt.ElementWiseOperation.SUM


def _trip(net, n: int, dtype=np.int32):
    return net.const(np.array(n, dtype=dtype))


def _cumsum_loop(net, x, trip, *, axis=0, reverse=False, out_axis=0):
    """acc <- acc + row over `x`'s `axis`; outputs LAST_VALUE of acc, CONCATENATE and REVERSE of the new acc."""
    loop = net.network.add_loop()
    loop.add_trip_limit(trip, trt.TripLimit.COUNT)
    row = loop.add_iterator(x, axis, reverse).get_output(0)
    zeros = net.const(torch.zeros(tuple(row.shape)))
    acc = loop.add_recurrence(zeros)
    total = net.network.add_elementwise(acc.get_output(0), row, SUM).get_output(0)
    acc.set_input(1, total)
    last = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE, 0)
    every = loop.add_loop_output(total, trt.LoopOutput.CONCATENATE, out_axis)
    every.set_input(1, trip)
    backwards = loop.add_loop_output(total, trt.LoopOutput.REVERSE, out_axis)
    backwards.set_input(1, trip)
    return last.get_output(0), every.get_output(0), backwards.get_output(0)


@pytest.mark.parametrize("axis,reverse,out_axis", [(0, False, 0), (0, True, 0), (1, False, 1), (1, True, 0)])
def test_count_loop_iterates_accumulates_and_outputs_last_concatenate_reverse(net, axis, reverse, out_axis):
    x = torch.randn(5, B, 4)
    t = net.input("x", torch.float32, x.shape)
    n = x.shape[axis]
    record = net.build(*_cumsum_loop(net, t, _trip(net, n), axis=axis, reverse=reverse, out_axis=out_axis))
    last, every, backwards = run(record, {"x": x})
    rows = x.movedim(axis, 0)
    if reverse:
        rows = rows.flip(0)
    running = rows.cumsum(0)                           # value of acc after iteration i
    assert_same(last, running[-1], rtol=1e-6)
    assert_same(every, running.movedim(0, out_axis), rtol=1e-6)
    assert_same(backwards, running.flip(0).movedim(0, out_axis), rtol=1e-6)
    assert {"RECURRENCE", "TRIP_LIMIT", "ITERATOR", "LOOP_OUTPUT"} <= set(record.layer_counts())


def test_trip_count_from_a_dynamic_shape_and_loop_invariant_interior_layers(net):
    """Trip count = x.shape[0] (int64, from a SHAPE layer); an interior layer also reads a tensor computed outside
    the loop (a loop invariant), which is computed once."""
    t = net.input("x", torch.float32, (-1, B), min=(1, B), opt=(4, B), max=(9, B))
    shape = net.network.add_shape(t).get_output(0)
    n = net.network.add_slice(shape, (0,), (1,), (1,)).get_output(0)
    n0 = net.network.add_shuffle(n)
    n0.reshape_dims = ()
    trip = n0.get_output(0)
    scale = net.network.add_unary(net.const(torch.full((B,), 0.5)), trt.UnaryOperation.EXP).get_output(0)
    loop = net.network.add_loop()
    loop.add_trip_limit(trip, trt.TripLimit.COUNT)
    row = loop.add_iterator(t, 0, False).get_output(0)
    h = loop.add_recurrence(net.const(torch.zeros(B)))
    decayed = net.network.add_elementwise(h.get_output(0), scale, trt.ElementWiseOperation.PROD).get_output(0)
    new = net.network.add_activation(net.network.add_elementwise(decayed, row, SUM).get_output(0),
                                     trt.ActivationType.TANH).get_output(0)
    h.set_input(1, new)
    seq = loop.add_loop_output(new, trt.LoopOutput.CONCATENATE, 0)
    seq.set_input(1, trip)
    last = loop.add_loop_output(h.get_output(0), trt.LoopOutput.LAST_VALUE)
    record = net.build(seq.get_output(0), last.get_output(0))
    for length in (1, 4, 9):
        x = torch.randn(length, B)
        got_seq, got_last = run(record, {"x": x})
        state, outs = torch.zeros(B, dtype=torch.float64), []
        for i in range(length):
            state = torch.tanh(state * np.exp(0.5) + x[i].double())
            outs.append(state)
        assert_same(got_seq, torch.stack(outs).float(), rtol=1e-6)
        assert_same(got_last, state.float(), rtol=1e-6)


def test_zero_iterations_give_the_initial_value_and_an_empty_scan(net):
    x = torch.randn(4, B)
    t = net.input("x", torch.float32, x.shape)
    trip = net.network.add_input("n", trt.int32, ())           # a shape input: the trip count's value
    net.profile = net.builder.create_optimization_profile()
    net.profile.set_shape_input("n", (0,), (3,), (4,))
    loop = net.network.add_loop()
    loop.add_trip_limit(trip, trt.TripLimit.COUNT)
    row = loop.add_iterator(t, 0, False).get_output(0)
    acc = loop.add_recurrence(net.const(torch.ones(B)))
    total = net.network.add_elementwise(acc.get_output(0), row, SUM).get_output(0)
    acc.set_input(1, total)
    every = loop.add_loop_output(total, trt.LoopOutput.CONCATENATE, 0)
    every.set_input(1, trip)
    record = net.build(loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0),
                       every.get_output(0))
    last, seq = run(record, {"x": x, "n": torch.tensor(0, dtype=torch.int32)})
    assert_same(last, torch.ones(B), rtol=0, atol=0)
    assert seq.shape == (0, B)
    last, seq = run(record, {"x": x, "n": torch.tensor(3, dtype=torch.int32)})
    assert_same(last, 1 + x[:3].sum(0), rtol=1e-6)


def test_while_loop_stops_when_its_condition_turns_false(net):
    """A WHILE trip limit is evaluated before each iteration: doubling v while v < limit."""
    v0 = net.input("v", torch.float32, ())
    limit = net.input("limit", torch.float32, ())
    loop = net.network.add_loop()
    v = loop.add_recurrence(v0)
    count = loop.add_recurrence(_trip(net, 0))
    cond = net.network.add_elementwise(v.get_output(0), limit, trt.ElementWiseOperation.LESS).get_output(0)
    loop.add_trip_limit(cond, trt.TripLimit.WHILE)
    v.set_input(1, net.network.add_elementwise(v.get_output(0), v.get_output(0), SUM).get_output(0))
    count.set_input(1, net.network.add_elementwise(count.get_output(0), _trip(net, 1), SUM).get_output(0))
    record = net.build(loop.add_loop_output(v.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0),
                       loop.add_loop_output(count.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0))
    for start, lim, want, times in ((1.0, 10.0, 16.0, 4), (3.0, 2.0, 3.0, 0), (0.75, 6.0, 6.0, 3)):
        got_v, got_n = run(record, {"v": torch.tensor(start), "limit": torch.tensor(lim)})
        assert float(got_v) == want and int(got_n) == times


def test_count_and_while_limits_together_stop_at_the_first(net):
    x = torch.rand(6, B) + 0.1
    t = net.input("x", torch.float32, x.shape)
    limit = net.input("limit", torch.float32, ())
    trip = _trip(net, 6)
    loop = net.network.add_loop()
    loop.add_trip_limit(trip, trt.TripLimit.COUNT)
    row = loop.add_iterator(t, 0, False).get_output(0)
    acc = loop.add_recurrence(net.const(torch.zeros(B)))
    total = net.network.add_elementwise(acc.get_output(0), row, SUM).get_output(0)
    acc.set_input(1, total)
    first = net.network.add_slice(acc.get_output(0), (0,), (1,), (1,)).get_output(0)
    first0 = net.network.add_shuffle(first)
    first0.reshape_dims = ()
    cond = net.network.add_elementwise(first0.get_output(0), limit, trt.ElementWiseOperation.LESS).get_output(0)
    loop.add_trip_limit(cond, trt.TripLimit.WHILE)
    record = net.build(loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0))
    for lim in (0.0, float(x[:2, 0].sum()) + 1e-3, 1e9):
        (got,) = run(record, {"x": x, "limit": torch.tensor(lim)})
        acc_ref, i = torch.zeros(B, dtype=torch.float64), 0
        while i < 6 and acc_ref[0] < lim:
            acc_ref = acc_ref + x[i].double()
            i += 1
        assert_same(got, acc_ref.float(), rtol=1e-6)


def test_nested_loops_are_refused_by_name(net):
    x = torch.randn(3, 2, B)
    t = net.input("x", torch.float32, x.shape)
    outer = net.network.add_loop()
    outer.name = "outer"
    outer.add_trip_limit(_trip(net, 3), trt.TripLimit.COUNT)
    plane = outer.add_iterator(t, 0, False).get_output(0)
    inner = net.network.add_loop()
    inner.name = "inner"
    inner.add_trip_limit(_trip(net, 2), trt.TripLimit.COUNT)
    row = inner.add_iterator(plane, 0, False).get_output(0)
    acc = inner.add_recurrence(net.const(torch.zeros(B)))
    total = net.network.add_elementwise(acc.get_output(0), row, SUM).get_output(0)
    acc.set_input(1, total)
    inner_last = inner.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    seq = outer.add_loop_output(inner_last, trt.LoopOutput.CONCATENATE, 0)
    seq.set_input(1, _trip(net, 3))
    record = net.build(seq.get_output(0), require_engine=False)
    with pytest.raises(reference.ReferenceError, match="nested loops"):
        reference.run(record, {"x": x})


# ---- loops NVIDIA's ONNX parser builds ----------------------------------------------------------------------

class _Recurrent(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, h):
        if isinstance(self.rnn, torch.nn.LSTM):
            out, (hn, cn) = self.rnn(x, (h, torch.tanh(h)))
            return out, hn, cn
        return self.rnn(x, h)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_onnx_parsed_bidirectional_recurrent_network_matches_pytorch_at_every_length(kind):
    """torch.onnx.export of a 2-layer bidirectional nn.LSTM / nn.GRU with dynamic sequence and batch: the parser
    builds one loop per layer (forward and reverse iterators, CONCATENATE and REVERSE outputs, LAST_VALUE h_n)."""
    pytest.importorskip("onnx")
    from torch2trt.onnx_route import export_and_parse

    torch.manual_seed(0)
    model = _Recurrent(getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True)).eval()
    x, h = torch.randn(4, 2, 3), torch.randn(4, 2, 5)
    with warnings.catch_warnings():         # the exporter's advice about batch sizes (h0 is an input here)
        warnings.simplefilter("ignore")
        parsed = export_and_parse(model, [x, h], opset=17, dynamic_axes={"input_0": {0: "seq", 1: "batch"},
                                                                        "input_1": {1: "batch"}})
    record = read_network(parsed.network)
    del parsed
    counts = record.layer_counts()
    assert counts["TRIP_LIMIT"] == 2 and counts["ITERATOR"] == 4 and counts["LOOP_OUTPUT"] >= 6
    for length, batch in ((1, 3), (4, 2), (11, 1)):
        x, h = torch.randn(length, batch, 3), torch.randn(4, batch, 5)
        got = reference.run(record, {"input_0": x, "input_1": h})
        with torch.no_grad():
            expected = model(x, h)
        for name, e in zip(record.outputs, expected):
            g = got[name]
            assert g.shape == e.shape and g.dtype == e.dtype
            assert float((g - e).norm() / e.norm()) <= 1e-5, (name, length, batch)


def _onnx_while_loop():
    from onnx import TensorProto as TP
    from onnx import helper as oh

    # body(i, cond_in, s_in) -> (cond_out, s_out, i): s_out = 0.5 * s_in + x[i]; cond_out = sum(s_out) < limit
    body = oh.make_graph(
        [oh.make_node("Gather", ["x", "i"], ["row"], axis=0),
         oh.make_node("Constant", [], ["half"], value=oh.make_tensor("h", TP.FLOAT, [], [0.5])),
         oh.make_node("Mul", ["s_in", "half"], ["sh"]),
         oh.make_node("Add", ["sh", "row"], ["s_out"]),
         oh.make_node("ReduceSum", ["s_out"], ["tot"], keepdims=0),
         oh.make_node("Less", ["tot", "limit"], ["cond_out"]),
         oh.make_node("Identity", ["i"], ["i_out"])],
        "body",
        [oh.make_tensor_value_info("i", TP.INT64, []), oh.make_tensor_value_info("cond_in", TP.BOOL, []),
         oh.make_tensor_value_info("s_in", TP.FLOAT, [3])],
        [oh.make_tensor_value_info("cond_out", TP.BOOL, []), oh.make_tensor_value_info("s_out", TP.FLOAT, [3]),
         oh.make_tensor_value_info("i_out", TP.INT64, [])])
    graph = oh.make_graph(
        [oh.make_node("Loop", ["M", "cond", "s0"], ["s_final", "i_scan"], body=body)], "while_loop",
        [oh.make_tensor_value_info("M", TP.INT64, []), oh.make_tensor_value_info("cond", TP.BOOL, []),
         oh.make_tensor_value_info("s0", TP.FLOAT, [3]), oh.make_tensor_value_info("x", TP.FLOAT, [6, 3]),
         oh.make_tensor_value_info("limit", TP.FLOAT, [])],
        [oh.make_tensor_value_info("s_final", TP.FLOAT, [3]), oh.make_tensor_value_info("i_scan", TP.INT64, [None])])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def test_onnx_parsed_loop_with_trip_count_and_condition_matches_onnx_semantics():
    """ONNX Loop(M, cond, s0): runs while i < M and cond; the parser makes COUNT and WHILE trip limits,
    recurrences for the carried values and the iteration counter, LAST_VALUE and CONCATENATE outputs."""
    onnx = pytest.importorskip("onnx")
    model = _onnx_while_loop()
    onnx.checker.check_model(model)
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = create_network(builder)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString())
    record = read_network(network)
    del parser, network
    kinds = {layer.attrs.get("kind") for layer in record.layers if layer.type == "TRIP_LIMIT"}
    assert kinds == {"COUNT", "WHILE"}
    names = [n for n, _, _ in record.inputs]
    torch.manual_seed(1)
    x, s0 = torch.rand(6, 3), torch.rand(3)
    for m, cond, limit in ((6, True, 1e9), (4, True, 1e9), (6, True, 2.5), (6, False, 1e9), (0, True, 1e9)):
        feeds = dict(zip(names, [torch.tensor(m), torch.tensor(cond), s0, x, torch.tensor(limit)]))
        got = reference.run(record, feeds)
        s, c, i = s0.double(), cond, 0
        while i < m and c:                      # ONNX Loop semantics, written out
            s = 0.5 * s + x[i].double()
            c = bool(s.sum() < limit)
            i += 1
        assert_same(got[record.outputs[0]], s.float(), rtol=1e-6)
        if c or i == m:                         # the scan output is defined when the loop ran to its trip count
            assert torch.equal(got[record.outputs[1]], torch.arange(i))

