"""nn.LSTM / nn.GRU / nn.RNN and their cells vs PyTorch: layer counts, directions, batch_first, initial states,
proj_size, bias=False, dropout in eval, unbatched inputs; short static sequences (unrolled), dynamic batch, and long
static or dynamic sequences (a TensorRT loop), the dynamic ones checked at the profile's minimum, maximum and an
interior length."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from torch2trt import structure, torch2trt
from torch2trt.check import compare, run_reference
from torch2trt.converters.rnn import UNROLL_MAX_STEPS
from torch2trt.testing import assert_converts, assert_refuses

IN = 3
LOOP_TYPES = {"TRIP_LIMIT", "ITERATOR", "RECURRENCE", "LOOP_OUTPUT"}


def _rnn(kind: str, hidden: int = 5, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}[kind]
    if kind.startswith("RNN"):
        kw["nonlinearity"] = kind[4:].lower()
    m = cls(IN, hidden, **kw)
    with torch.no_grad():                       # weights large enough that gates saturate somewhere
        for p in m.parameters():
            p.mul_(2.0)
    return m.eval()


class WithStates(nn.Module):
    """rnn(x, h0) / rnn(x, (h0, c0)); returns the flat outputs."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, h, c=None):
        if c is not None:
            out, (hn, cn) = self.rnn(x, (h, c))
            return out, hn, cn
        return self.rnn(x, h)


def _state_shapes(m: nn.Module, batch: int) -> list[tuple]:
    dirs = 2 if m.bidirectional else 1
    proj = getattr(m, "proj_size", 0) or m.hidden_size
    shapes = [(m.num_layers * dirs, batch, proj)]
    if isinstance(m, nn.LSTM):
        shapes.append((m.num_layers * dirs, batch, m.hidden_size))
    return shapes


def _inputs(m: nn.Module, steps: int, batch: int, states: bool, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 97 * steps + batch)
    x_shape = (batch, steps, IN) if m.batch_first else (steps, batch, IN)
    xs = [torch.randn(x_shape, generator=g)]
    if states:
        xs += [torch.randn(s, generator=g) for s in _state_shapes(m, batch)]
    return xs


def _assert_matches(model_trt, model, inputs, rtol=1e-5):
    got, _ = structure.flatten(run_reference(model_trt, inputs))
    with torch.no_grad():
        expected, _ = structure.flatten(model(*[t.clone() for t in inputs]))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        err = compare(g, e)
        assert err.same_layout and err.rel <= rtol, err


def _layer_types(model_trt) -> set[str]:
    return set(model_trt.network_record.layer_counts())


# ---- static shapes: unrolled ----------------------------------------------------------------------------------
CASES = [  # kind, num_layers, bidirectional, batch_first, initial states
    ("LSTM", 1, False, False, False), ("LSTM", 2, True, True, True), ("LSTM", 3, True, False, True),
    ("GRU", 1, True, False, True), ("GRU", 2, False, True, False), ("GRU", 3, True, True, True),
    ("RNN_TANH", 2, True, False, True), ("RNN_TANH", 1, False, True, False),
    ("RNN_RELU", 3, False, False, True), ("RNN_RELU", 1, True, True, False),
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,states", CASES)
def test_recurrent_module_static_matches_pytorch(kind, layers, bidirectional, batch_first, states):
    m = _rnn(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    model = (WithStates(m) if states else m).eval()
    inputs = _inputs(m, 3, 3, states)
    report = assert_converts(model, inputs)
    assert not (LOOP_TYPES & _layer_types(report.model_trt))          # a short static length is unrolled
    _assert_matches(report.model_trt, model, _inputs(m, 3, 3, states, seed=5))


@pytest.mark.parametrize("kind,batch_first", [("LSTM", False), ("GRU", True)])
def test_long_static_sequence_is_a_loop_with_a_constant_trip_count(kind, batch_first):
    m = _rnn(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    model = WithStates(m).eval()
    steps = UNROLL_MAX_STEPS + 5
    report = assert_converts(model, _inputs(m, steps, 2, True))
    counts = report.model_trt.network_record.layer_counts()
    assert LOOP_TYPES <= set(counts) and counts["TRIP_LIMIT"] == 2 and "SHAPE" not in counts
    _assert_matches(report.model_trt, model, _inputs(m, steps, 2, True, seed=9))   # other values than the sample


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_TANH"])
def test_bias_false_dropout_in_eval_and_unbatched_input(kind):
    m = _rnn(kind, num_layers=2, bias=False, dropout=0.5, bidirectional=True)
    assert not any("bias" in n for n, _ in m.named_parameters())
    assert_converts(m, [torch.randn(3, 2, IN)])
    assert_converts(WithStates(m).eval(), [torch.randn(3, IN)] +                # unbatched (L, H_in)
                    [torch.randn(s[0], s[2]) for s in _state_shapes(m, 1)])


@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, True)])
def test_lstm_proj_size_matches_pytorch(bidirectional, batch_first):
    m = _rnn("LSTM", hidden=6, num_layers=2, proj_size=4, bidirectional=bidirectional, batch_first=batch_first)
    out = m(torch.randn(5, 2, IN))
    assert out[0].shape[-1] == 4 * (2 if bidirectional else 1)
    assert_converts(m, _inputs(m, 5, 2, False))
    assert_converts(WithStates(m).eval(), _inputs(m, 3, 2, True))


def test_sequence_of_length_one():
    m = _rnn("LSTM", num_layers=2, bidirectional=True)
    assert_converts(WithStates(m).eval(), _inputs(m, 1, 2, True))


# ---- dynamic shapes --------------------------------------------------------------------------------------------
def _convert_dynamic(model, m, states, steps, batch, lo, hi):
    """Sample (steps, batch); profile from lo=(steps, batch) to hi=(steps, batch) on the same axes."""
    sample = _inputs(m, steps, batch, states)

    def shapes(s, b):
        x = (b, s, IN) if m.batch_first else (s, b, IN)
        return [x] + (list(_state_shapes(m, b)) if states else [])

    return torch2trt(model, sample, min_shapes=shapes(*lo), max_shapes=shapes(*hi))


DYNAMIC = [  # kind, layers, bidirectional, batch_first, states
    ("LSTM", 2, True, False, True), ("LSTM", 1, False, True, False), ("GRU", 2, True, True, True),
    ("GRU", 1, False, False, False), ("RNN_TANH", 2, True, False, False), ("RNN_RELU", 1, True, True, True),
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,states", DYNAMIC)
def test_recurrent_module_dynamic_batch_is_unrolled_and_matches(kind, layers, bidirectional, batch_first, states):
    m = _rnn(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    model = (WithStates(m) if states else m).eval()
    model_trt = _convert_dynamic(model, m, states, 4, 2, (4, 1), (4, 5))
    assert not (LOOP_TYPES & _layer_types(model_trt))
    for batch in (1, 5, 3):
        _assert_matches(model_trt, model, _inputs(m, 4, batch, states, seed=7))


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,states", DYNAMIC)
def test_recurrent_module_dynamic_sequence_is_a_loop_and_matches_at_min_max_interior(
        kind, layers, bidirectional, batch_first, states):
    m = _rnn(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    model = (WithStates(m) if states else m).eval()
    model_trt = _convert_dynamic(model, m, states, 4, 2, (1, 1), (12, 4))
    assert LOOP_TYPES <= _layer_types(model_trt)
    assert model_trt.network_record.layer_counts()["TRIP_LIMIT"] == layers        # one loop per layer
    for steps, batch in ((1, 1), (12, 4), (7, 3), (4, 2)):
        _assert_matches(model_trt, model, _inputs(m, steps, batch, states, seed=11))


def test_lstm_proj_size_dynamic_sequence():
    m = _rnn("LSTM", hidden=6, num_layers=2, proj_size=3, bidirectional=True)
    model = WithStates(m).eval()
    model_trt = _convert_dynamic(model, m, True, 4, 2, (1, 1), (9, 3))
    for steps, batch in ((1, 1), (9, 3), (5, 2)):
        _assert_matches(model_trt, model, _inputs(m, steps, batch, True, seed=3))


def test_initial_state_computed_from_the_input_follows_a_dynamic_batch():
    """torch.zeros(..., x.size(1), ...) in the model: a dynamic-size creation, not a frozen constant."""
    m = _rnn("GRU", num_layers=2)

    class ZeroStart(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = m

        def forward(self, x):
            h = torch.ones(2, x.size(1), 5) * 0.3
            return self.rnn(x, h)

    model = ZeroStart().eval()
    model_trt = torch2trt(model, [torch.randn(5, 2, IN)], min_shapes=[(1, 1, IN)], max_shapes=[(8, 4, IN)])
    for steps, batch in ((1, 1), (8, 4), (3, 3)):
        _assert_matches(model_trt, model, [torch.randn(steps, batch, IN)])


# ---- cells ----------------------------------------------------------------------------------------------------
def _cell(kind: str, bias: bool = True) -> nn.Module:
    torch.manual_seed(2)
    if kind == "LSTM":
        m = nn.LSTMCell(IN, 5, bias=bias)
    elif kind == "GRU":
        m = nn.GRUCell(IN, 5, bias=bias)
    else:
        m = nn.RNNCell(IN, 5, bias=bias, nonlinearity=kind[4:].lower())
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    return m.eval()


class CellSteps(nn.Module):
    """Three steps of a cell over x (T, B, in), with or without a given initial state."""

    def __init__(self, cell: nn.Module, given: bool):
        super().__init__()
        self.cell, self.given = cell, given

    def forward(self, x, h):
        lstm = isinstance(self.cell, nn.LSTMCell)
        state = ((h, torch.tanh(h)) if lstm else h) if self.given else None
        outs = []
        for t in range(x.shape[0]):
            state = self.cell(x[t], state)
            outs.append(state[0] if lstm else state)
        return torch.stack(outs), state


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("given", [False, True])
def test_cell_matches_pytorch(kind, given):
    cell = _cell(kind, bias=not (kind == "GRU" and given))
    model = CellSteps(cell, given).eval()
    assert_converts(model, [torch.randn(3, 4, IN), torch.randn(4, 5)])
    assert_converts(cell, [torch.randn(IN)])                             # unbatched (H_in,)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_cell_dynamic_batch(kind):
    model = CellSteps(_cell(kind), True).eval()
    model_trt = torch2trt(model, [torch.randn(3, 2, IN), torch.randn(2, 5)],
                          min_shapes=[(3, 1, IN), (1, 5)], max_shapes=[(3, 6, IN), (6, 5)])
    for batch in (1, 6, 4):
        _assert_matches(model_trt, model, [torch.randn(3, batch, IN), torch.randn(batch, 5)])


# ---- refusals ---------------------------------------------------------------------------------------------------
def test_packed_sequence_is_refused():
    m = _rnn("LSTM")

    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = m

        def forward(self, x):
            packed = nn.utils.rnn.pack_padded_sequence(x, [4, 3], enforce_sorted=True)
            return self.rnn(packed)[1][0]

    assert_refuses(Packed().eval(), [torch.randn(4, 2, IN)], r"pack")


def test_subclass_that_overrides_forward_is_traced_not_converted_as_its_base():
    """The registry gives a subclass with its own forward no base-class converter: its forward is traced, and the
    functional torch.gru it reaches has no converter (refused, never the base converter dropping `* 2`)."""
    class Scaled(nn.GRU):
        def forward(self, x, hx=None):
            out, h = super().forward(x, hx)
            return out * 2, h

    torch.manual_seed(0)
    assert_refuses(Scaled(IN, 5).eval(), [torch.randn(4, 2, IN)], r"torch\.gru: no converter")


def test_constant_initial_state_with_dynamic_sequence_and_static_batch():
    m = _rnn("LSTM", bidirectional=True)
    h0, c0 = torch.randn(2, 2, 5), torch.randn(2, 2, 5)

    class Const(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = m

        def forward(self, x):
            return self.rnn(x, (h0, c0))

    model = Const().eval()
    model_trt = torch2trt(model, [torch.randn(4, 2, IN)], min_shapes=[(1, 2, IN)], max_shapes=[(9, 2, IN)])
    for steps in (1, 9, 6):
        _assert_matches(model_trt, model, [torch.randn(steps, 2, IN)])


def test_constant_initial_state_with_dynamic_batch_is_refused():
    m = _rnn("RNN_TANH")
    h0 = torch.randn(1, 2, 5)

    class Const(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = m

        def forward(self, x):
            return self.rnn(x, h0)

    assert_refuses(Const().eval(), [torch.randn(4, 2, IN)], r"initial state h_0 is a constant of the sample's batch",
                   min_shapes=[(4, 1, IN)], max_shapes=[(4, 3, IN)])


def test_looped_network_survives_save_load_and_rebuilds_from_its_record():
    """The loop is kept in the portable record: reloaded with weights_only=True it runs on the reference executor and
    replays into a new network that TensorRT builds."""
    import io

    from torch2trt import TRTModule

    m = _rnn("LSTM", num_layers=1, bidirectional=True)
    model = WithStates(m).eval()
    model_trt = _convert_dynamic(model, m, True, 4, 2, (1, 1), (10, 3))
    buf = io.BytesIO()
    torch.save(model_trt.state_dict(), buf)
    buf.seek(0)
    loaded = TRTModule()
    loaded.load_state_dict(torch.load(buf, weights_only=True))
    for steps, batch in ((10, 3), (2, 1)):
        inputs = _inputs(m, steps, batch, True, seed=13)
        got, _ = structure.flatten(loaded(*inputs))              # no GPU here: the reference executor
        with torch.no_grad():
            expected, _ = structure.flatten(model(*inputs))
        for g, e in zip(got, expected):
            err = compare(g, e)
            assert err.same_layout and err.rel <= 1e-5, err
    loaded.rebuild()
    assert len(loaded.engine_bytes) > 0
