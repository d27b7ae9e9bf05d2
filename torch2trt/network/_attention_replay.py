"""Replay of IAttention records (ATTENTION_INPUT + ATTENTION_OUTPUT) in network/portable.py's tables.

An IAttention is made by one add_attention call that creates both boundary layers: ATTENTION_INPUT's record makes
it (with the IAttention settings inspect.py recorded on it) and ATTENTION_OUTPUT's record takes its output layer.
Kept apart from portable.py only to leave that module's edits to its owner; it registers itself on import."""

from __future__ import annotations

from typing import Any

from ..backend import trt
from . import portable
from .inspect import _ATTENTION_ATTRS, LayerRecord


def _attention_input(r: Any, rec: LayerRecord, ins: list) -> Any:
    a = rec.attrs
    norm = trt.AttentionNormalizationOp.__members__[a.get("norm_op", "SOFTMAX")]
    kind = a.get("causal_kind", "UPPER_LEFT" if a.get("causal") else "NONE")
    if hasattr(r.net, "add_attention_v2"):
        att = r.net.add_attention_v2(ins[0], ins[1], ins[2], norm, trt.CausalMaskKind.__members__[kind])
    elif kind in ("NONE", "UPPER_LEFT"):
        att = r.net.add_attention(ins[0], ins[1], ins[2], norm, kind == "UPPER_LEFT")
    else:
        raise portable.ReplayError(f"ATTENTION_INPUT layer {rec.name!r}: causal_kind {kind} needs add_attention_v2")
    if att is None:
        return None
    if len(ins) > 3 and ins[3] is not None:
        att.mask = ins[3]
    if "decomposable" in a:
        att.decomposable = bool(a["decomposable"])
    for key in ("query_form", "key_value_form"):
        if key in a and hasattr(att, key):
            setattr(att, key, trt.AttentionIOForm.__members__[a[key]])
    if a.get("attention"):
        att.name = a["attention"]
    n = r.net.num_layers
    first, last = r.net.get_layer(n - 2), r.net.get_layer(n - 1)
    if (first.type.name, last.type.name) != ("ATTENTION_INPUT", "ATTENTION_OUTPUT"):
        raise portable.ReplayError(f"ATTENTION_INPUT layer {rec.name!r}: add_attention made no boundary layer pair")
    if not hasattr(r, "attention_outputs"):
        r.attention_outputs = {}
    r.attention_outputs[a.get("attention")] = last
    return first


def _attention_output(r: Any, rec: LayerRecord, ins: list) -> Any:
    try:
        return r.attention_outputs[rec.attrs.get("attention")]
    except (AttributeError, KeyError):
        raise portable.ReplayError(f"ATTENTION_OUTPUT layer {rec.name!r}: its ATTENTION_INPUT was not replayed "
                                   "before it") from None


if hasattr(trt, "AttentionNormalizationOp"):
    # all inputs go to the creating call (None: no set_input afterwards); the IAttention settings are not
    # properties of the boundary layers
    portable._ADD.setdefault("ATTENTION_INPUT", (_attention_input, None))
    portable._ADD.setdefault("ATTENTION_OUTPUT", (_attention_output, None))
    portable._NOT_SET.update(_ATTENTION_ATTRS)
