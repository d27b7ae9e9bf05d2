"""Recurrent layers as module converters: nn.LSTM (with proj_size), nn.GRU, nn.RNN (tanh / relu) — any number of
layers, bidirectional, batch_first, initial states given or zero, unbatched input — and nn.LSTMCell / nn.GRUCell /
nn.RNNCell. The weights are the module's parameters (network constants).

Per layer and direction the input projection x W_ih^T (+ biases) is one matrix multiply over all time steps. The
recurrence then is either unrolled (a static sequence length: matrix multiplies per step) or a TensorRT loop
(ILoop: trip count from the input's shape, an IIteratorLayer over the projected sequence — reversed for the backward
direction — IRecurrenceLayers for h (and c), CONCATENATE / REVERSE outputs for the sequence and LAST_VALUE for h_n),
which a dynamic sequence length needs. Packed sequences and training-mode dropout are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils.rnn import PackedSequence

from ..backend import trt
from ..tracing.context import get_trt, trt_dims
from ..tracing.registry import tensorrt_converter
from .creation import filled
from .shape import input_dims, transpose

E = trt.ElementWiseOperation
A = trt.ActivationType
M = trt.MatrixOperation

# gate blocks per mode, in PyTorch's weight layout: LSTM (i, f, g, o), GRU (r, z, n)
_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


@dataclass
class _Weights:
    """One layer and direction, ready for the network: transposed matrices, the biases folded where exact."""
    ih_t: torch.Tensor                    # (in, G*H)
    hh_t: torch.Tensor                    # (P, G*H)
    x_bias: torch.Tensor | None           # added to the input projection: b_ih + b_hh (GRU: b_hh of r, z only)
    hn_bias: torch.Tensor | None          # GRU: b_hn, added to h W_hn^T before the reset gate multiplies it
    hr_t: torch.Tensor | None             # LSTM proj_size: (H, P)


def _weights(mode: str, w_ih, w_hh, b_ih, b_hh, w_hr, hidden: int) -> _Weights:
    x_bias = hn_bias = None
    if b_ih is not None:
        if mode == "GRU":
            x_bias = b_ih + torch.cat([b_hh[:2 * hidden], torch.zeros_like(b_hh[2 * hidden:])])
            hn_bias = b_hh[2 * hidden:]
        else:
            x_bias = b_ih + b_hh
    return _Weights(w_ih.detach().t().contiguous(), w_hh.detach().t().contiguous(),
                    None if x_bias is None else x_bias.detach(), None if hn_bias is None else hn_bias.detach(),
                    None if w_hr is None else w_hr.detach().t().contiguous())


class _Builder:
    """Layer-building helpers shared by the unrolled and the loop form (any rank; the last axis is features)."""

    def __init__(self, ctx, dtype: torch.dtype):
        self.ctx, self.net, self.dtype = ctx, ctx.network, dtype

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
        return self._named(self.net.add_elementwise(a, b, op), name)

    def act(self, a, kind):
        return self._named(self.net.add_activation(a, kind), kind.name.lower())

    def gate(self, t, k: int, size: int, part_shape):
        """Block `k` of width `size` on the last axis; `part_shape` is the block's shape tensor when dims are
        dynamic (made once per form, shared by every step)."""
        dims = trt_dims(t)
        start = [0] * len(dims)
        start[-1] = k * size
        layer = self.net.add_slice(t, start, [max(d, 0) for d in dims[:-1]] + [size], [1] * len(dims))
        if part_shape is not None:
            layer.set_input(2, part_shape)
        return self._named(layer, "gate")

    def gather(self, t, index: int, axis: int, keep: bool):
        idx = self.ctx.constant(torch.tensor([index] if keep else index, dtype=torch.int32))
        return self._named(self.net.add_gather(t, idx, axis), "select")

    def reshape(self, t, dims):
        """Reshape where 0 copies the input's dimension (TensorRT placeholder), so dynamic dims pass through."""
        layer = self.net.add_shuffle(t)
        layer.reshape_dims = tuple(dims)
        return self._named(layer, "reshape")

    def unsqueeze0(self, t):
        """(B, F) -> (1, B, F) for a dynamic B: reshape to (B, F, 1), then move the new axis first."""
        layer = self.net.add_shuffle(t)
        layer.reshape_dims = (0, 0, 1)
        layer.second_transpose = trt.Permutation([2, 0, 1])
        return self._named(layer, "unsqueeze")

    def concat(self, ts, axis: int):
        if len(ts) == 1:
            return ts[0]
        layer = self.net.add_concatenation(list(ts))
        layer.axis = axis
        return self._named(layer, "concat")


def _step(b: _Builder, mode: str, xp, h, c, w: _Weights, hidden: int, part_shape):
    """One time step from the projected input `xp` (..., G*H) and the state h (..., P), c (..., H); None is a zero
    state (the first step without initial states). Returns (h', c')."""
    gates = xp if h is None else b.binary(xp, b.matmul(h, w.hh_t), E.SUM, "gates")
    if mode == "LSTM":
        i, f, g, o = (b.gate(gates, k, hidden, part_shape) for k in range(4))
        i, f, o, g = b.act(i, A.SIGMOID), b.act(f, A.SIGMOID), b.act(o, A.SIGMOID), b.act(g, A.TANH)
        ig = b.binary(i, g, E.PROD, "mul")
        c_new = ig if c is None else b.binary(b.binary(f, c, E.PROD, "mul"), ig, E.SUM, "cell")
        h_new = b.binary(o, b.act(c_new, A.TANH), E.PROD, "hidden")
        if w.hr_t is not None:
            h_new = b.matmul(h_new, w.hr_t)
        return h_new, c_new
    if mode == "GRU":
        xr, xz, xn = (b.gate(xp, k, hidden, part_shape) for k in range(3))
        if h is None:
            r, z = b.act(xr, A.SIGMOID), b.act(xz, A.SIGMOID)
            pre_n = xn if w.hn_bias is None else b.binary(xn, b.binary(r, w.hn_bias, E.PROD, "mul"), E.SUM, "add")
            n = b.act(pre_n, A.TANH)
            return b.binary(n, b.binary(z, n, E.PROD, "mul"), E.SUB, "hidden"), None     # (1 - z) * n
        hh = b.matmul(h, w.hh_t)
        hr, hz, hn = (b.gate(hh, k, hidden, part_shape) for k in range(3))
        r = b.act(b.binary(xr, hr, E.SUM, "add"), A.SIGMOID)
        z = b.act(b.binary(xz, hz, E.SUM, "add"), A.SIGMOID)
        if w.hn_bias is not None:
            hn = b.binary(hn, w.hn_bias, E.SUM, "add")
        n = b.act(b.binary(xn, b.binary(r, hn, E.PROD, "mul"), E.SUM, "add"), A.TANH)
        # (1 - z) * n + z * h == n + z * (h - n)
        return b.binary(n, b.binary(z, b.binary(h, n, E.SUB, "sub"), E.PROD, "mul"), E.SUM, "hidden"), None
    return b.act(gates, A.TANH if mode == "RNN_TANH" else A.RELU), None


# ---- the sequence modules -------------------------------------------------------------------------------------

def _project(b: _Builder, seq, w: _Weights):
    """x W_ih^T (+ folded biases) for every time step at once: (T, B, in) -> (T, B, G*H)."""
    xp = b.matmul(seq, w.ih_t)
    return xp if w.x_bias is None else b.binary(xp, w.x_bias, E.SUM, "bias")


def _unrolled(b: _Builder, mode, xp, steps: int, reverse: bool, h0, c0, w, hidden, part_shape):
    """Rank-3 steps (1, B, .) so that the per-step outputs concatenate on the time axis without reshapes."""
    h, c = h0, c0
    outs = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        h, c = _step(b, mode, b.gather(xp, t, 0, keep=True), h, c, w, hidden, part_shape)
        outs[t] = h
    return b.concat(outs, 0), h, c


def _looped(b: _Builder, mode, xps, trip, h0s, c0s, ws, hidden, proj, batch_dims, part_shape):
    """One TensorRT loop for all directions of a layer: direction d iterates its projected input forwards (d=0) or
    backwards (d=1). Returns per direction (sequence (T, B, P), h_T (1, B, P), c_T (1, B, H) or None)."""
    loop = b.net.add_loop()
    b.ctx.name_layer(loop.add_trip_limit(trip, trt.TripLimit.COUNT), "trip_limit")
    results = []
    for d, (xp, h0, c0, w) in enumerate(zip(xps, h0s, c0s, ws)):
        it = loop.add_iterator(xp, 0, d == 1)
        b.ctx.name_layer(it, "iterator")
        h_init = h0 if h0 is not None else filled(b.ctx, 0, b.dtype, batch_dims + [proj])
        rec_h = loop.add_recurrence(h_init)
        b.ctx.name_layer(rec_h, "h")
        rec_c = None
        if mode == "LSTM":
            rec_c = loop.add_recurrence(c0 if c0 is not None else filled(b.ctx, 0, b.dtype, batch_dims + [hidden]))
            b.ctx.name_layer(rec_c, "c")
        h_new, c_new = _step(b, mode, it.get_output(0), rec_h.get_output(0),
                             None if rec_c is None else rec_c.get_output(0), w, hidden, part_shape)
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
                    get("weight_hr"), module.hidden_size)


def _check_input(ctx, module, x, allowed_ranks):
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


def _state_tensor(ctx, module, state, x_t, name: str):
    """A given initial state as a network tensor (a constant only where the batch cannot vary)."""
    if get_trt(state) is None and -1 in trt_dims(x_t):
        raise ctx.unsupported(f"{type(module).__name__}: initial state {name} is a constant of the sample's batch "
                              "size in a network with dynamic shapes; compute it from the input (e.g. "
                              "torch.zeros(..., x.size(0), ...)) or leave it out")
    return ctx.trt(state)


@tensorrt_converter(["torch.nn.LSTM.forward", "torch.nn.GRU.forward", "torch.nn.RNN.forward"])
def convert_rnn(ctx):
    module = ctx.method_args[0]
    x = ctx.get_arg("input", 1)
    hx = ctx.get_arg("hx", 2, None)
    out = ctx.method_return
    name = type(module).__name__
    _check_input(ctx, module, x, (2, 3))
    mode = module.mode
    if mode not in _GATES:
        raise ctx.unsupported(f"{name}: mode {mode!r} is not supported")
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
        seq = b.reshape(seq, (0, 1, trt_dims(seq)[-1]))
    elif module.batch_first:
        seq = transpose(ctx, seq, [1, 0, 2])               # time-major inside
    states = []
    if hx is not None:
        given = list(hx) if lstm else [hx]
        if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ctx.unsupported(f"{name}: hx must be a tuple (h_0, c_0)")
        for s, sname in zip(given, ("h_0", "c_0")):
            st = _state_tensor(ctx, module, s, seq, sname)
            if not batched:
                dims = trt_dims(st)
                st = b.reshape(st, (dims[0], 1, dims[1]))
            states.append(st)

    dims = trt_dims(seq)
    steps = dims[0]
    batch_dims = input_dims(ctx, seq)[1:2]                 # [B] as an int or a dimension read from the network
    dynamic_batch = dims[1] == -1
    looped = steps == -1
    if steps == 0:
        raise ctx.unsupported(f"{name}: empty sequence")
    if looped:
        part_shape = ctx.shape_tensor(batch_dims + [hidden]) if dynamic_batch else None
        trip = b.reshape(ctx.cast(ctx.dim_tensor(seq, 0), torch.int32), ())
    else:
        part_shape = ctx.shape_tensor([1] + batch_dims + [hidden]) if dynamic_batch else None

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
            results = _looped(b, mode, xps, trip, h0s, c0s, ws, hidden, proj, batch_dims, part_shape)
        else:
            results = [_unrolled(b, mode, xp, steps, d == 1, h0, c0, w, hidden, part_shape)
                       for d, (xp, h0, c0, w) in enumerate(zip(xps, h0s, c0s, ws))]
        seq = b.concat([r[0] for r in results], 2)
        finals_h += [r[1] for r in results]
        finals_c += [r[2] for r in results]

    output, h_n = seq, b.concat(finals_h, 0)
    c_n = b.concat(finals_c, 0) if lstm else None
    if not batched:
        output = b.reshape(output, (0, dirs * proj))
        h_n = b.reshape(h_n, (layers * dirs, proj))
        c_n = None if c_n is None else b.reshape(c_n, (layers * dirs, hidden))
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
    module = ctx.method_args[0]
    x = ctx.get_arg("input", 1)
    hx = ctx.get_arg("hx", 2, None)
    out = ctx.method_return
    name = type(module).__name__
    _check_input(ctx, module, x, (1, 2))
    mode = _cell_mode(module)
    if mode not in ("LSTM", "GRU") and module.nonlinearity not in ("tanh", "relu"):
        raise ctx.unsupported(f"{name}: nonlinearity {module.nonlinearity!r}")
    hidden = module.hidden_size
    batched = x.dim() == 2
    b = _Builder(ctx, x.dtype)
    xt = ctx.trt(x)
    if not batched:
        xt = b.reshape(xt, (1, trt_dims(xt)[0]))
    w = _weights(mode, module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh, None, hidden)
    h = c = None
    if hx is not None:
        given = list(hx) if mode == "LSTM" else [hx]
        if mode == "LSTM" and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ctx.unsupported(f"{name}: hx must be a tuple (h, c)")
        states = []
        for s, sname in zip(given, ("h", "c")):
            st = _state_tensor(ctx, module, s, xt, sname)
            states.append(st if batched else b.reshape(st, (1, hidden)))
        h = states[0]
        c = states[1] if mode == "LSTM" else None
    dims = trt_dims(xt)
    part_shape = ctx.shape_tensor(input_dims(ctx, xt)[:1] + [hidden]) if dims[0] == -1 else None
    h_new, c_new = _step(b, mode, _project(b, xt, w), h, c, w, hidden, part_shape)
    if not batched:
        h_new = b.reshape(h_new, (hidden,))
        c_new = None if c_new is None else b.reshape(c_new, (hidden,))
    if mode == "LSTM":
        ctx.set_output(out[0], h_new)
        ctx.set_output(out[1], c_new)
    else:
        ctx.set_output(out, h_new)
