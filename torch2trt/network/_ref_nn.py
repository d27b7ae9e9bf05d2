"""Reference semantics of TensorRT's neural-network layers: convolution, deconvolution, pooling, scale, resize,
normalization, LRN, grid sample, quantize and dequantize.

Sources: the TensorRT operator documentation (`DOCS` + "<Operator>.html"), cited where a rule is subtle.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._ref_common import DOCS, Ctx, bitmask_axes, fail, handler_registry, ints, optional
from .inspect import LayerRecord

HANDLERS, handles = handler_registry()


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGPOOL = {2: F.avg_pool2d, 3: F.avg_pool3d}


def _pad_list(pre, post) -> list[int]:
    pad = []
    for b, e in zip(reversed(list(pre)), reversed(list(post))):      # F.pad lists the last dimension first
        pad += [b, e]
    return pad


def _window_padding(mode: str, size, dk, stride, pre, post) -> tuple[list, list, list]:
    """Convolution/pooling padding per DOCS + "Pooling.html" / "Convolution.html" (I input, DK dilated window,
    S stride, M = I + B + A): returns (pre, post, extra) where extra is what a rounded-up output reads past M."""
    pre, post, extra = list(pre), list(post), []
    for i, (n, k, s) in enumerate(zip(size, dk, stride)):
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            p = max(0, (n - 1) // s * s + k - n)
            small, big = p // 2, p - p // 2
            pre[i], post[i] = (small, big) if mode == "SAME_UPPER" else (big, small)
            extra.append(0)
        elif mode == "EXPLICIT_ROUND_UP":
            m = n + pre[i] + post[i]
            out = -(-(m - k) // s) + 1                           # ceil((M - DK) / S) + 1
            extra.append(max(0, (out - 1) * s + k - m))
        elif mode == "EXPLICIT_ROUND_DOWN":
            extra.append(0)
        else:
            raise ValueError(f"padding mode {mode}")
    return pre, post, extra


# ---- CONVOLUTION / DECONVOLUTION ----------------------------------------------------------------------------
def _kernel_and_bias(layer: LayerRecord, ins: list, ctx: Ctx):
    w = optional(ins, 1) if optional(ins, 1) is not None else ctx.weight(layer, "kernel")
    b = optional(ins, 2) if optional(ins, 2) is not None else ctx.weight(layer, "bias")
    if w is None:
        raise fail(layer, "no kernel (neither weights nor an input tensor)")
    return w, b


@handles("CONVOLUTION")
def convolution(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, a = ins[0], layer.attrs
    w, b = _kernel_and_bias(layer, ins, ctx)
    k = list(a["kernel_size_nd"])
    nd = len(k)
    if w.dim() != nd + 2:
        w = w.reshape(a["num_output_maps"], -1, *k)
    stride, dil = list(a["stride_nd"]), list(a["dilation_nd"])
    dk = [1 + d * (kk - 1) for d, kk in zip(dil, k)]
    pre, post, extra = _window_padding(a["padding_mode"], x.shape[-nd:], dk, stride, a["pre_padding"],
                                       a["post_padding"])
    post = [p + e for p, e in zip(post, extra)]              # a rounded-up window reads zeros past the padding
    conv = _CONV[nd]
    if pre == post and all(p >= 0 for p in pre):
        return [conv(x, w, b, stride, pre, dil, a["num_groups"])]
    return [conv(F.pad(x, _pad_list(pre, post)), w, b, stride, 0, dil, a["num_groups"])]


@handles("DECONVOLUTION")
def deconvolution(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # DOCS + "Deconvolution.html": O = (I - 1) * S + DK - (B + A); pre/post padding crop the full output.
    # SAME_*: P = max(DK - S, 0), SAME_UPPER puts floor(P / 2) before, SAME_LOWER after.
    x, a = ins[0], layer.attrs
    w, b = _kernel_and_bias(layer, ins, ctx)
    k = list(a["kernel_size_nd"])
    nd = len(k)
    groups = a["num_groups"]
    if w.dim() != nd + 2:
        w = w.reshape(-1, a["num_output_maps"] // groups, *k)
    stride, dil = list(a["stride_nd"]), list(a["dilation_nd"])
    dk = [1 + d * (kk - 1) for d, kk in zip(dil, k)]
    mode = a["padding_mode"]
    pre, post = list(a["pre_padding"]), list(a["post_padding"])
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        for i, (kk, s) in enumerate(zip(dk, stride)):
            p = max(kk - s, 0)
            small, big = p // 2, p - p // 2
            pre[i], post[i] = (small, big) if mode == "SAME_UPPER" else (big, small)
    deconv = _DECONV[nd]
    if pre == post and all(p >= 0 for p in pre):
        return [deconv(x, w, b, stride, pre, 0, groups, dil)]
    y = deconv(x, w, None, stride, 0, 0, groups, dil)
    y = F.pad(y, [-p for p in _pad_list(pre, post)])
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * nd)
    return [y]


# ---- POOLING: DOCS + "Pooling.html" --------------------------------------------------------------------------
def _sum_pool(x: torch.Tensor, k, s) -> torch.Tensor:
    if len(k) == 1:
        return F.avg_pool2d(x.unsqueeze(-2), (1, k[0]), (1, s[0]), divisor_override=1).squeeze(-2)
    return _AVGPOOL[len(k)](x, k, s, divisor_override=1)


@handles("POOLING")
def pooling(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, a = ins[0], layer.attrs
    k, s = list(a["window_size_nd"]), list(a["stride_nd"])
    nd = len(k)
    size = list(x.shape[-nd:])
    pre, post, extra = _window_padding(a["padding_mode"], size, k, s, a["pre_padding"], a["post_padding"])
    kind = a["type"]
    simple = pre == post and not any(extra) and all(0 <= p <= kk // 2 for p, kk in zip(pre, k))
    results = {}
    if kind in ("MAX", "MAX_AVERAGE_BLEND"):
        # padding never wins a maximum
        if simple:
            results["MAX"] = _MAXPOOL[nd](x, k, s, pre)
        else:
            xp = F.pad(x, _pad_list(pre, [p + e for p, e in zip(post, extra)]), value=-math.inf)
            results["MAX"] = _MAXPOOL[nd](xp, k, s)
    if kind in ("AVERAGE", "MAX_AVERAGE_BLEND"):
        # denominator: overlap of the window with the unpadded input (average_count_excludes_padding) or with
        # the padded input (otherwise) — the part a rounded-up window reads past the padding never counts
        excl = bool(a["average_count_excludes_padding"])
        if simple and nd in (2, 3):
            results["AVERAGE"] = _AVGPOOL[nd](x, k, s, pre, False, not excl)
        else:
            full_post = [p + e for p, e in zip(post, extra)]
            total = _sum_pool(F.pad(x, _pad_list(pre, full_post)), k, s)
            ones = torch.ones([1, 1] + size, dtype=x.dtype)
            mask = F.pad(ones, _pad_list(pre, post), value=0.0 if excl else 1.0)
            mask = F.pad(mask, _pad_list([0] * nd, extra), value=0.0)
            results["AVERAGE"] = total / _sum_pool(mask, k, s)
    if kind == "MAX_AVERAGE_BLEND":
        f = a.get("blend_factor", 0.0)
        return [results["MAX"] * (1 - f) + results["AVERAGE"] * f]
    if kind not in results:
        raise fail(layer, f"pooling type {kind} has no reference semantics")
    return [results[kind]]


# ---- SCALE: DOCS + "Scale.html": output = (input * scale + shift) ^ power ----------------------------------------
@handles("SCALE")
def scale(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, a = ins[0], layer.attrs
    mode, axis = a["mode"], a.get("channel_axis", 1)
    rank = x.dim()
    axis %= rank

    def coeff(key):
        w = ctx.weight(layer, key)
        if w is None:
            return None
        if mode == "UNIFORM":
            return w.reshape(())
        if mode == "CHANNEL":
            view = [1] * rank
            view[axis] = -1
            return w.reshape(view)
        return w.reshape(x.shape[axis:])
    sc, sh, pw = coeff("scale"), coeff("shift"), coeff("power")
    y = x
    if sc is not None:
        y = y * sc
    if sh is not None:
        y = y + sh
    if pw is not None:
        y = torch.pow(y, pw)
    return [y]


# ---- RESIZE: DOCS + "Resize.html" -------------------------------------------------------------------------------
def _source_coords(n_in: int, n_out: int, transform: str, selector: str) -> torch.Tensor:
    # x_original from x_resized, with the documented ratio length_original / length_resized — also when the
    # output shape came from scales (the documentation gives no other rule; where floor(n * scale) != n * scale,
    # ONNX and PyTorch would use 1 / scale instead)
    i = torch.arange(n_out, dtype=torch.float64)
    if n_out == 1 and selector == "UPPER":
        return torch.zeros(1, dtype=torch.float64)
    if transform == "ALIGN_CORNERS":
        return i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else torch.zeros(1, dtype=torch.float64)
    if transform == "ASYMMETRIC":
        return i * (n_in / n_out)
    if transform == "HALF_PIXEL":
        return (i + 0.5) * (n_in / n_out) - 0.5
    raise ValueError(f"coordinate transformation {transform}")


_ROUND = {
    "FLOOR": torch.floor,
    "CEIL": torch.ceil,
    "HALF_UP": lambda c: torch.floor(c + 0.5),
    "HALF_DOWN": lambda c: torch.ceil(c - 0.5),
}


def _cubic_weights(t: torch.Tensor, A: float) -> torch.Tensor:
    """Keys' cubic convolution weights for the taps at offsets -1, 0, 1, 2 from floor(x) (t = x - floor(x))."""
    d = torch.stack([1 + t, t, 1 - t, 2 - t], -1).abs()
    near = ((A + 2) * d - (A + 3)) * d * d + 1
    far = ((A * d - 5 * A) * d + 8 * A) * d - 4 * A
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def _interp_matrix(n_in: int, n_out: int, mode: str, a: dict) -> torch.Tensor:
    x = _source_coords(n_in, n_out, a["coordinate_transformation"], a["selector_for_single_pixel"])
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    if mode == "LINEAR":
        x = x.clamp(0, n_in - 1)
        i0 = x.floor().long()
        i1 = (i0 + 1).clamp(max=n_in - 1)
        w1 = x - i0
        m.index_put_((rows, i0), 1 - w1, accumulate=True)
        m.index_put_((rows, i1), w1, accumulate=True)
        return m
    # CUBIC: taps floor(x)-1 .. floor(x)+2, indices clamped to the edge; exclude_outside drops the taps outside
    # the input and renormalizes the rest
    f = x.floor()
    w = _cubic_weights(x - f, a.get("cubic_coeff", -0.75))
    taps = f.long().unsqueeze(-1) + torch.arange(-1, 3)
    if a.get("exclude_outside"):
        inside = (taps >= 0) & (taps < n_in)
        w = torch.where(inside, w, torch.zeros_like(w))
        w = w / w.sum(-1, keepdim=True)
    for j in range(4):
        m.index_put_((rows, taps[:, j].clamp(0, n_in - 1)), w[:, j], accumulate=True)
    return m


@handles("RESIZE")
def resize(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    x, a = ins[0], layer.attrs
    rank = x.dim()
    dyn = optional(ins, 1)
    scales = None
    if dyn is not None:
        if dyn.is_floating_point():
            scales = [float(v) for v in dyn.reshape(-1).tolist()]
        else:
            out_shape = ints(dyn)
    elif a.get("scales"):
        scales = list(a["scales"])
    else:
        out_shape = list(a["shape"])
    if scales is not None:
        out_shape = [int(math.floor(n * s)) for n, s in zip(x.shape, scales)]
    if len(out_shape) != rank:
        raise fail(layer, f"output shape {out_shape} has rank {len(out_shape)}, input rank is {rank}")
    ctx.check_size(layer, out_shape)
    mode = a.get("resize_mode", "NEAREST")
    cache = ctx._weights
    for axis in range(rank):
        n_in, n_out = x.shape[axis], out_shape[axis]
        if n_in == n_out:
            continue                                      # every mode maps an unresized axis onto itself
        if mode == "NEAREST":
            c = _source_coords(n_in, n_out, a["coordinate_transformation"], a["selector_for_single_pixel"])
            idx = _ROUND[a.get("nearest_rounding", "FLOOR")](c).long().clamp(0, n_in - 1)
            x = x.index_select(axis, idx)
            continue
        if mode not in ("LINEAR", "CUBIC"):
            raise fail(layer, f"resize mode {mode} has no reference semantics")
        key = ("resize", id(layer), axis, n_in, n_out, x.dtype)
        m = cache.get(key)
        if m is None:
            m = cache[key] = _interp_matrix(n_in, n_out, mode, a).to(x.dtype)
        x = torch.matmul(x.movedim(axis, -1), m.T).movedim(-1, axis)
    return [x]


# ---- NORMALIZATION: DOCS + "Normalization.html" -------------------------------------------------------------
@handles("NORMALIZATION")
def normalization(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # Y = (X - mean(X, axes)) / sqrt(var(X, axes) + epsilon) * S + B, biased variance. With num_groups = G > 1
    # the channels (axis 1) are split into G groups, the statistics also run over the channels of a group, and
    # S and B have shape [1, G, 1, ...]: one scale and bias per group (documented shapes; the builder enforces
    # them)
    x, sc, bias, a = ins[0], ins[1], ins[2], layer.attrs
    axes = bitmask_axes(a["axes"], x.dim())
    groups = a.get("num_groups", 1)
    eps = a.get("epsilon", 1e-5)
    if groups > 1:
        n, c = x.shape[0], x.shape[1]
        xg = x.reshape((n, groups, c // groups) + x.shape[2:])
        dims = [2] + [d + 1 for d in axes if d >= 2]
        mean = xg.mean(dims, keepdim=True)
        var = (xg - mean).square().mean(dims, keepdim=True)
        y = (xg - mean) / torch.sqrt(var + eps)
        if sc.dim() >= 2 and sc.shape[1] == groups and groups != c:
            view = (1, groups) + (1,) * (xg.dim() - 2)
            return [(y * sc.reshape(view) + bias.reshape(view)).reshape(x.shape)]
        y = y.reshape(x.shape)
    elif axes and axes == list(range(x.dim() - len(axes), x.dim())):
        shape = x.shape[-len(axes):]
        if all(t.dtype == x.dtype and t.dim() <= x.dim() and t.shape[t.dim() - len(shape):] == shape and
               all(d == 1 for d in t.shape[:t.dim() - len(shape)]) for t in (sc, bias)):
            # one scale and bias per normalized element: the affine part in the same kernel
            return [F.layer_norm(x, shape, sc.reshape(shape), bias.reshape(shape), eps=eps)]
        y = F.layer_norm(x, shape, eps=eps)          # same statistics, one fused kernel
    else:
        mean = x.mean(axes, keepdim=True)
        var = (x - mean).square().mean(axes, keepdim=True)
        y = (x - mean) / torch.sqrt(var + eps)
    return [y * sc + bias]


# ---- LRN: DOCS + "LRN.html": y = x / (k + alpha / n * sum over the channel window of x^2) ^ beta (n odd) ----------
@handles("LRN")
def lrn(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    a = layer.attrs
    return [F.local_response_norm(ins[0], a["window_size"], a["alpha"], a["beta"], a["k"])]


# ---- GRID_SAMPLE: DOCS + "GridSample.html" ------------------------------------------------------------------
_GRID_MODES = {"NEAREST": "nearest", "LINEAR": "bilinear", "CUBIC": "bicubic"}
_GRID_PADDING = {"FILL": "zeros", "CLAMP": "border", "REFLECT": "reflection"}


@handles("GRID_SAMPLE")
def grid_sample(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    a = layer.attrs
    mode, pad = _GRID_MODES.get(a["interpolation_mode"]), _GRID_PADDING.get(a["sample_mode"])
    if mode is None or pad is None:
        raise fail(layer, f"grid sample {a['interpolation_mode']}/{a['sample_mode']} has no reference semantics")
    return [F.grid_sample(ins[0], ins[1].to(ins[0].dtype), mode, pad, bool(a["align_corners"]))]


# ---- QUANTIZE / DEQUANTIZE: DOCS + "Quantize.html", "Dequantize.html" -------------------------------------------
_QRANGE = {torch.int8: (-128, 127), torch.uint8: (0, 255)}


def _broadcast_scale(layer: LayerRecord, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-tensor (scalar), per-channel (1-D along `axis`) or block (same rank, repeated per block_shape) scale."""
    if s.numel() == 1:
        return s.reshape(())
    axis = layer.attrs.get("axis", 0) % x.dim()
    if s.dim() == 1:
        view = [1] * x.dim()
        view[axis] = -1
        return s.reshape(view)
    for d in range(x.dim()):
        if s.shape[d] != x.shape[d]:
            s = s.repeat_interleave(-(-x.shape[d] // s.shape[d]), d).narrow(d, 0, x.shape[d])
    return s


@handles("QUANTIZE")
def quantize(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # output = clamp(round(x / scale) + zero_point): DOCS + "Quantize.html"; the IQuantizeLayer API reference
    # (docs.nvidia.com/deeplearning/tensorrt/latest/_static/c-api/classnvinfer1_1_1_i_quantize_layer.html) fixes
    # rounding to nearest, ties to even, and the clamp ranges INT8 [-128, 127], INT4 [-8, 7], FP8 [-448, 448].
    # x / scale is computed in float32 (float64 when the caller asks for it); pinned in test_reference_quant.py.
    x = ins[0]
    s = _broadcast_scale(layer, ctx.compute(ins[1]).to(x.dtype), x)
    zp = optional(ins, 2)
    out_dtype = layer.output_dtypes[0]
    y = x / s
    if out_dtype == torch.float8_e4m3fn:
        return [y.clamp(-448.0, 448.0).to(torch.float8_e4m3fn)]
    y = torch.round(y)
    if zp is not None:
        y = y + _broadcast_scale(layer, zp.to(y.dtype), x)
    lo, hi = (-8, 7) if layer.attrs.get("to_type") == "INT4" else _QRANGE.get(out_dtype, (None, None))
    if lo is None:
        raise fail(layer, f"quantize to {out_dtype} has no reference semantics")
    return [y.clamp(lo, hi).to(out_dtype)]


@handles("DEQUANTIZE")
def dequantize(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    # output = (x - zero_point) * scale
    x = ins[0].to(ctx.float_dtype)
    s = _broadcast_scale(layer, ctx.compute(ins[1]).to(ctx.float_dtype), x)
    zp = optional(ins, 2)
    if zp is not None:
        x = x - _broadcast_scale(layer, zp.to(ctx.float_dtype), x)
    return [x * s]


__all__ = ["HANDLERS", "DOCS"]


# ---- ATTENTION_INPUT / ATTENTION_OUTPUT: DOCS + "Attention.html" and the "Fused Attention" guide
# (docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/transformers-fused-attention.html) ---------------
# An IAttention is a pair of boundary layers; the whole computation is done at ATTENTION_INPUT and ATTENTION_OUTPUT
# passes it on. out = normalize(Q K^T [+ add mask | where bool mask]) V with NO scale (the guide: "TensorRT requires
# Q or K to be multiplied with attention scale ... before going into IAttention"); Q [b, Hq, Sq, h], K and V
# [b, Hkv, Skv, h]; Hq % Hkv == 0 (GQA / MQA), query head i reading key/value head i // (Hq / Hkv) as ONNX's
# Attention (opset 23) groups heads; a bool mask is True where attention is allowed, a float mask is added; masks
# [a0, a1, Sq, Skv] broadcast to [b, Hq]; causal UPPER_LEFT keeps key j <= query i, LOWER_RIGHT j <= i + Skv - Sq.
# SOFTMAX runs over Skv; a row with no allowed key is not specified by the documentation: NaN here (softmax of
# -inf), so converters must not rely on it.
@handles("ATTENTION_INPUT")
def attention_input(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    a = layer.attrs
    q, k, v = ins[0], ins[1], ins[2]
    mask = ins[3] if len(ins) > 3 else None
    if a.get("query_form", "PADDED_BHND") != "PADDED_BHND" or a.get("key_value_form", "PADDED_BHND") != "PADDED_BHND":
        raise fail(layer, "packed (PACKED_NHD) attention layouts have no reference semantics here")
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise fail(layer, f"attention inputs must be 4-d, got {q.dim()}, {k.dim()}, {v.dim()}")
    hq, hkv = q.shape[1], k.shape[1]
    if hq % hkv:
        raise fail(layer, f"{hq} query heads are no multiple of {hkv} key/value heads")
    if hq != hkv:
        k, v = k.repeat_interleave(hq // hkv, 1), v.repeat_interleave(hq // hkv, 1)
    scores = q @ k.transpose(-1, -2)
    sq, skv = scores.shape[-2], scores.shape[-1]
    kind = a.get("causal_kind", "UPPER_LEFT" if a.get("causal") else "NONE")
    if kind != "NONE":
        if mask is not None:
            raise fail(layer, "causal attention with a mask (the documentation forbids both)")
        i, j = torch.arange(sq).reshape(-1, 1), torch.arange(skv).reshape(1, -1)
        allowed = j <= i if kind == "UPPER_LEFT" else j <= i + (skv - sq)
        scores = scores.masked_fill(~allowed, -math.inf)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask.to(scores.dtype)
    norm = a.get("norm_op", "SOFTMAX")
    if norm == "SOFTMAX":
        scores = torch.softmax(scores, -1)
    elif norm != "NONE":
        raise fail(layer, f"attention normalization {norm} has no reference semantics")
    return [scores @ v]


@handles("ATTENTION_OUTPUT")
def attention_output(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return [ins[0]]
