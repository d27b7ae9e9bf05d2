"""Recurrent layers as module converters: nn.LSTM (with proj_size), nn.GRU, nn.RNN (tanh / relu) — any number of
layers, bidirectional, batch_first, initial states given or zero, unbatched input — and nn.LSTMCell / nn.GRUCell /
nn.RNNCell. The weights are the module's parameters (network constants).

Per layer, direction and gate the input projection x W_ih^T (+ biases) is one matrix multiply over all time steps.
The recurrence then is either unrolled (a static sequence of at most UNROLL_MAX_STEPS steps: matrix multiplies per
step) or a TensorRT loop (ILoop: trip count from the input's shape, IIteratorLayers over the projected sequence —
reversed for the backward direction — IRecurrenceLayers for h (and c), CONCATENATE / REVERSE outputs for the
sequence and LAST_VALUE for h_n), which a dynamic sequence length needs and which keeps long static sequences small.
Packed sequences and training-mode dropout are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils.rnn import PackedSequence

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .layers import concat, elementwise, filled, input_dims, reshape, transpose

E = trt.ElementWiseOperation
A = trt.ActivationType
M = trt.MatrixOperation

# gate blocks per mode, in PyTorch's weight layout: LSTM (i, f, g, o), GRU (r, z, n)
_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
# Static sequences up to this length are unrolled; longer ones (and dynamic ones) become a TensorRT loop: an
# unrolled network grows by ~25 layers per step, layer and direction and TensorRT's build time grows faster than
# that (docs/benchmarks/rnn.md: 2-layer bidirectional LSTM, 64 steps: 6448 layers, 207 s; as a loop 218, 2.8 s).
UNROLL_MAX_STEPS = 8


@dataclass
class _Weights:
    """One layer and direction, per gate (TensorRT's builder slows down exponentially with the sequence length on
    batch-1 networks that slice gate blocks out of one product, so every gate has its own matrices):
    transposed matrices, the biases folded where exact."""
    ih_t: list[torch.Tensor]              # per gate (in, H)
    hh_t: list[torch.Tensor]              # per gate (P, H)
    x_bias: list[torch.Tensor] | None     # added to the input projection: b_ih + b_hh (GRU n gate: b_ih only)
    hn_bias: torch.Tensor | None          # GRU: b_hn, added to h W_hn^T before the reset gate multiplies it
    hr_t: torch.Tensor | None             # LSTM proj_size: (H, P)


def _weights(mode: str, w_ih, w_hh, b_ih, b_hh, w_hr) -> _Weights:
    gates = _GATES[mode]
    split = lambda t: [p.detach().contiguous() for p in t.chunk(gates, 0)]  # noqa: E731
    x_bias = hn_bias = None
    if b_ih is not None:
        bi, bh = split(b_ih), split(b_hh)
        x_bias = [i + h for i, h in zip(bi, bh)]
        if mode == "GRU":
            x_bias[2], hn_bias = bi[2], bh[2]
    return _Weights([w.t().contiguous() for w in split(w_ih)], [w.t().contiguous() for w in split(w_hh)], x_bias,
                    hn_bias, None if w_hr is None else w_hr.detach().t().contiguous())


class _Builder:
    """Layer-building helpers shared by the unrolled and the loop form (any rank; the last axis is features)."""

    def __init__(self, ctx, dtype: torch.dtype):
        self.ctx, self.net, self.dtype = ctx, ctx.network, dtype
        self._indices: dict[tuple[int, bool], object] = {}

    def _named(self, layer, op: str):
        self.ctx.name_layer(layer, op)
        return layer.get_output(0)

    def const(self, t: torch.Tensor, rank: int):
        return self.ctx.constant(t, self.dtype, rank)

    def matmul(self, a, w: torch.Tensor):
        return self._named(self.net.add_matrix_multiply(a, M.NONE, self.const(w, len(a.shape)), M.NONE), "matmul")

    def binary(self, a, b, op, name: str):
        if isinstance(b, torch.Tensor):
            b = self.const(b, len(a.shape))
        return elementwise(self.ctx, a, b, op, name=name)

    def act(self, a, kind):
        return self._named(self.net.add_activation(a, kind), kind.name.lower())

    def gather(self, t, index: int, axis: int, keep: bool):
        """Index `index` of `axis`, kept as a size-1 axis or removed; one index constant per value."""
        idx = self._indices.get((index, keep))
        if idx is None:
            idx = self._indices[(index, keep)] = self.ctx.constant(
                torch.tensor([index] if keep else index, dtype=torch.int32))
        return self._named(self.net.add_gather(t, idx, axis), "select")

    def unsqueeze0(self, t):
        """(B, F) -> (1, B, F), B static or dynamic."""
        return reshape(self.ctx, t, [1, *input_dims(self.ctx, t)], name="unsqueeze")


def _step(b: _Builder, mode: str, xp: list, h, c, w: _Weights):
    """One time step from the projected input per gate `xp` (..., H) and the state h (..., P), c (..., H); None is a
    zero state (the first step without initial states). Returns (h', c')."""
    hh = [None] * len(xp) if h is None else [b.matmul(h, m) for m in w.hh_t]
    pre = [x if r is None else b.binary(x, r, E.SUM, "gate") for x, r in zip(xp, hh)]
    if mode == "LSTM":
        i, f, g, o = b.act(pre[0], A.SIGMOID), b.act(pre[1], A.SIGMOID), b.act(pre[2], A.TANH), b.act(pre[3], A.SIGMOID)
        ig = b.binary(i, g, E.PROD, "mul")
        c_new = ig if c is None else b.binary(b.binary(f, c, E.PROD, "mul"), ig, E.SUM, "cell")
        h_new = b.binary(o, b.act(c_new, A.TANH), E.PROD, "hidden")
        if w.hr_t is not None:
            h_new = b.matmul(h_new, w.hr_t)
        return h_new, c_new
    if mode == "GRU":
        r, z = b.act(pre[0], A.SIGMOID), b.act(pre[1], A.SIGMOID)
        if hh[2] is None:
            hn = w.hn_bias                                 # zero state: h W_hn^T + b_hn = b_hn (or nothing)
        else:
            hn = hh[2] if w.hn_bias is None else b.binary(hh[2], w.hn_bias, E.SUM, "add")
        n = b.act(xp[2] if hn is None else b.binary(xp[2], b.binary(r, hn, E.PROD, "mul"), E.SUM, "add"), A.TANH)
        if h is None:
            return b.binary(n, b.binary(z, n, E.PROD, "mul"), E.SUB, "hidden"), None     # (1 - z) * n
        # (1 - z) * n + z * h == n + z * (h - n)
        return b.binary(n, b.binary(z, b.binary(h, n, E.SUB, "sub"), E.PROD, "mul"), E.SUM, "hidden"), None
    return b.act(pre[0], A.TANH if mode == "RNN_TANH" else A.RELU), None


# ---- the sequence modules -------------------------------------------------------------------------------------

def _project(b: _Builder, seq, w: _Weights) -> list:
    """x W_ih^T (+ folded biases) per gate for every time step at once: (T, B, in) -> G x (T, B, H)."""
    xps = [b.matmul(seq, m) for m in w.ih_t]
    return xps if w.x_bias is None else [b.binary(x, bias, E.SUM, "bias") for x, bias in zip(xps, w.x_bias)]


def _unrolled(b: _Builder, mode, xp: list, steps: int, reverse: bool, h0, c0, w):
    """Rank-3 steps (1, B, .) so that the per-step outputs concatenate on the time axis without reshapes."""
    h, c = h0, c0
    outs = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        h, c = _step(b, mode, [b.gather(x, t, 0, keep=True) for x in xp], h, c, w)
        outs[t] = h
    return concat(b.ctx, outs, 0), h, c


def _looped(b: _Builder, mode, xps: list, trip, h0s, c0s, ws, hidden, proj, batch_dims):
    """One TensorRT loop for all directions of a layer: direction d iterates its projected input forwards (d=0) or
    backwards (d=1). Returns per direction (sequence (T, B, P), h_T (1, B, P), c_T (1, B, H) or None)."""
    loop = b.net.add_loop()
    b.ctx.name_layer(loop.add_trip_limit(trip, trt.TripLimit.COUNT), "trip_limit")
    results = []
    for d, (xp, h0, c0, w) in enumerate(zip(xps, h0s, c0s, ws)):
        its = [loop.add_iterator(x, 0, d == 1) for x in xp]
        for it in its:
            b.ctx.name_layer(it, "iterator")
        h_init = h0 if h0 is not None else filled(b.ctx, 0, b.dtype, batch_dims + [proj])
        rec_h = loop.add_recurrence(h_init)
        b.ctx.name_layer(rec_h, "h")
        rec_c = None
        if mode == "LSTM":
            rec_c = loop.add_recurrence(c0 if c0 is not None else filled(b.ctx, 0, b.dtype, batch_dims + [hidden]))
            b.ctx.name_layer(rec_c, "c")
        h_new, c_new = _step(b, mode, [it.get_output(0) for it in its], rec_h.get_output(0),
                             None if rec_c is None else rec_c.get_output(0), w)
        rec_h.set_input(1, h_new)
        if rec_c is not None:
            rec_c.set_input(1, c_new)
        seq = loop.add_loop_output(h_new, trt.LoopOutput.REVERSE if d == 1 else trt.LoopOutput.CONCATENATE, 0)
        seq.set_input(1, trip)
        b.ctx.name_layer(seq, "sequence")
        finals = []
        for rec in (rec_h, rec_c):
            if rec is None:
                finals.append(None)
                continue
            last = loop.add_loop_output(rec.get_output(0), trt.LoopOutput.LAST_VALUE)
            b.ctx.name_layer(last, "last")
            finals.append(b.unsqueeze0(last.get_output(0)))
        results.append((seq.get_output(0), *finals))
    return results


def _module_weights(module, layer: int, direction: int) -> _Weights:
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    get = lambda name: getattr(module, name + sfx, None)  # noqa: E731
    return _weights(module.mode, get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"),
                    get("weight_hr"))


def _check_input(ctx, module, x, allowed_ranks, bases):
    base = next(c for c in bases if isinstance(module, c))
    if type(module).forward is not base.forward:
        # the registry finds this converter through the class hierarchy; the subclass computes something else
        raise ctx.unsupported(f"{type(module).__name__} overrides {base.__name__}.forward; the {base.__name__} "
                              "converter would ignore that code")
    if isinstance(x, PackedSequence):
        raise ctx.unsupported(f"{type(module).__name__} with a PackedSequence input: packed (variable-length) "
                              "sequences are not supported; pass a padded tensor (and mask the padding)")
    if not isinstance(x, torch.Tensor) or x.dim() not in allowed_ranks:
        raise ctx.unsupported(f"{type(module).__name__}: input must be a tensor of rank {allowed_ranks}")
    if x.dtype not in _FLOATS:
        raise ctx.unsupported(f"{type(module).__name__} on {x.dtype}: TensorRT computes float32/float16/bfloat16")
    for p in module.parameters():
        if p.dtype != x.dtype:
            raise ctx.unsupported(f"{type(module).__name__}: parameters are {p.dtype}, the input {x.dtype}")


def _state_tensor(ctx, module, state, batch_dim: int, name: str):
    """A given initial state as a network tensor (a constant only where the batch cannot vary)."""
    if get_trt(state) is None and batch_dim == -1:
        raise ctx.unsupported(f"{type(module).__name__}: initial state {name} is a constant of the sample's batch "
                              "size in a network with dynamic shapes; compute it from the input (e.g. "
                              "torch.zeros(..., x.size(0), ...)) or leave it out")
    return ctx.trt(state)


def _module_call(ctx, allowed_ranks, bases):
    """(module, input, hx, result, module name) of a recurrent module's forward call, the input checked."""
    module, x = ctx.method_args[0], ctx.get_arg("input", 1)
    _check_input(ctx, module, x, allowed_ranks, bases)
    return module, x, ctx.get_arg("hx", 2, None), ctx.method_return, type(module).__name__


@tensorrt_converter(["torch.nn.LSTM.forward", "torch.nn.GRU.forward", "torch.nn.RNN.forward"])
def convert_rnn(ctx):
    module, x, hx, out, name = _module_call(ctx, (2, 3), (nn.LSTM, nn.GRU, nn.RNN))
    mode = module.mode
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ctx.unsupported(f"{name} in training mode with dropout={module.dropout}: dropout is random; "
                              "convert the model in eval mode")
    lstm = mode == "LSTM"
    layers, dirs = module.num_layers, 2 if module.bidirectional else 1
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or hidden
    batched = x.dim() == 3
    b = _Builder(ctx, x.dtype)

    seq = ctx.trt(x)
    if not batched:                                       # (T, in) -> (T, 1, in)
        seq = reshape(ctx, seq, [input_dims(ctx, seq)[0], 1, trt_dims(seq)[-1]])
    elif module.batch_first:
        seq = transpose(ctx, seq, [1, 0, 2])               # time-major inside
    states = []
    if hx is not None:
        given = list(hx) if lstm else [hx]
        if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ctx.unsupported(f"{name}: hx must be a tuple (h_0, c_0)")
        for s, sname in zip(given, ("h_0", "c_0")):
            st = _state_tensor(ctx, module, s, trt_dims(seq)[1], sname)
            if not batched:
                dims = trt_dims(st)
                st = reshape(ctx, st, (dims[0], 1, dims[1]))
            states.append(st)

    dims = trt_dims(seq)
    steps = dims[0]
    batch_dims = input_dims(ctx, seq)[1:2]                 # [B] as an int or a dimension read from the network
    if steps == 0:
        raise ctx.unsupported(f"{name}: empty sequence")
    looped = steps == -1 or steps > UNROLL_MAX_STEPS
    if steps == -1:
        trip = reshape(ctx, ctx.cast(ctx.dim_tensor(seq, 0), torch.int32), ())
    elif looped:
        trip = ctx.constant(torch.tensor(steps, dtype=torch.int32))

    finals_h, finals_c = [], []
    for layer in range(layers):
        ws = [_module_weights(module, layer, d) for d in range(dirs)]
        xps = [_project(b, seq, w) for w in ws]
        h0s, c0s = [], []
        for d in range(dirs):
            k = layer * dirs + d
            h0s.append(b.gather(states[0], k, 0, keep=not looped) if states else None)
            c0s.append(b.gather(states[1], k, 0, keep=not looped) if states and lstm else None)
        if looped:
            results = _looped(b, mode, xps, trip, h0s, c0s, ws, hidden, proj, batch_dims)
        else:
            results = [_unrolled(b, mode, xp, steps, d == 1, h0, c0, w)
                       for d, (xp, h0, c0, w) in enumerate(zip(xps, h0s, c0s, ws))]
        seq = concat(ctx, [r[0] for r in results], 2)
        finals_h += [r[1] for r in results]
        finals_c += [r[2] for r in results]

    output, h_n = seq, concat(ctx, finals_h, 0)
    c_n = concat(ctx, finals_c, 0) if lstm else None
    if not batched:
        output = reshape(ctx, output, [input_dims(ctx, output)[0], dirs * proj])
        h_n = reshape(ctx, h_n, (layers * dirs, proj))
        c_n = None if c_n is None else reshape(ctx, c_n, (layers * dirs, hidden))
    elif module.batch_first:
        output = transpose(ctx, output, [1, 0, 2])
    ctx.set_output(out[0], output)
    if lstm:
        ctx.set_output(out[1][0], h_n)
        ctx.set_output(out[1][1], c_n)
    else:
        ctx.set_output(out[1], h_n)


# ---- cells --------------------------------------------------------------------------------------------------

def _cell_mode(module) -> str:
    if isinstance(module, nn.LSTMCell):
        return "LSTM"
    if isinstance(module, nn.GRUCell):
        return "GRU"
    return "RNN_TANH" if module.nonlinearity == "tanh" else "RNN_RELU"


@tensorrt_converter(["torch.nn.LSTMCell.forward", "torch.nn.GRUCell.forward", "torch.nn.RNNCell.forward"])
def convert_rnn_cell(ctx):
    module, x, hx, out, name = _module_call(ctx, (1, 2), (nn.LSTMCell, nn.GRUCell, nn.RNNCell))
    mode = _cell_mode(module)
    hidden = module.hidden_size
    batched = x.dim() == 2
    b = _Builder(ctx, x.dtype)
    xt = ctx.trt(x)
    if not batched:
        xt = reshape(ctx, xt, (1, trt_dims(xt)[0]))
    w = _weights(mode, module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh, None)
    h = c = None
    if hx is not None:
        given = list(hx) if mode == "LSTM" else [hx]
        if mode == "LSTM" and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ctx.unsupported(f"{name}: hx must be a tuple (h, c)")
        states = []
        for s, sname in zip(given, ("h", "c")):
            st = _state_tensor(ctx, module, s, trt_dims(xt)[0], sname)
            states.append(st if batched else reshape(ctx, st, (1, hidden)))
        h = states[0]
        c = states[1] if mode == "LSTM" else None
    h_new, c_new = _step(b, mode, _project(b, xt, w), h, c, w)
    if not batched:
        h_new = reshape(ctx, h_new, (hidden,))
        c_new = None if c_new is None else reshape(ctx, c_new, (hidden,))
    if mode == "LSTM":
        ctx.set_output(out[0], h_new)
        ctx.set_output(out[1], c_new)
    else:
        ctx.set_output(out, h_new)
