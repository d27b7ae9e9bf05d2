"""TensorRT loops (ILoop) for the reference executor: finds each loop's body from its boundary layers and runs it
iteration by iteration. reference.py plans and executes the body's layers; this module knows only loop semantics.

Semantics (TensorRT developer guide, "Working with Loops", and the ILoop / I*Layer API documentation):
- a loop is its boundary layers (same `loop` name) plus the interior: every layer that depends, directly or
  through other interior layers, on an IRecurrenceLayer or IIteratorLayer output of the loop. Layers that depend
  only on tensors defined outside are loop-invariant and computed once, outside. Data leaves only through
  ILoopOutputLayer; the only back edge is IRecurrenceLayer input 1.
- ITripLimitLayer COUNT: a 0-D int tensor from outside, the number of iterations. WHILE: a 0-D bool computed in
  the body, evaluated before each iteration; the loop stops when it is false. With both, whichever stops first.
- IRecurrenceLayer: input 0 in the first iteration, then the input-1 value computed by the previous iteration.
- IIteratorLayer: slice `i` of its input along `axis` in iteration `i` (M - 1 - i with reverse, M the COUNT trip
  count): equivalent to a gather of a scalar index on that axis, so the axis is removed.
- ILoopOutputLayer LAST_VALUE of a recurrence: the value after the last iteration (the initial value when the loop
  runs zero times). CONCATENATE / REVERSE: the per-iteration values stacked on a new axis `axis`, in iteration order
  / reversed; input 1 (0-D, from outside) is the length of that axis. TensorRT leaves positions beyond the
  iterations undefined; here they are zeros (after the values for CONCATENATE, before them for REVERSE).
Nested loops are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ._ref_common import ReferenceError, scalar
from .inspect import LayerRecord, NetworkRecord

LOOP = "LOOP"              # type of the synthetic record that stands for a whole loop in an execution plan
BOUNDARY = ("TRIP_LIMIT", "ITERATOR", "RECURRENCE", "LOOP_OUTPUT")


@dataclass
class LoopBody:
    name: str
    trip_count: str | None                                  # COUNT input (tensor id outside the loop)
    condition: str | None                                   # WHILE input (tensor id inside the loop)
    iterators: list[tuple[str, str, int, bool]]             # (output, input, axis, reverse)
    recurrences: list[tuple[str, str, str]]                 # (output, initial value, next value)
    outputs: list[tuple[str, str, str | None, int, tuple]]  # (kind, input, length input, axis, declared shape)
    interior: list[LayerRecord]
    plan: Any = None                                        # the body's execution plan (reference._Plan)
    condition_plan: Any = None


def _fail(name: str, message: str) -> ReferenceError:
    return ReferenceError(f"loop {name!r}: {message}")


def collapse(layers: list[LayerRecord], make_plan: Callable[[NetworkRecord], Any]) -> list[LayerRecord]:
    """`layers` with every loop replaced by one LOOP record (at its first layer's position) whose inputs are the
    tensors the loop reads from outside and whose outputs are its ILoopOutputLayer outputs."""
    loops: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.type in BOUNDARY:
            loops.setdefault(layer.attrs.get("loop"), []).append(i)
    if not loops:
        return layers
    consumers: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        for t in layer.inputs:
            if t is not None:
                consumers.setdefault(t, []).append(i)

    owner: dict[int, str] = {}
    for name, boundary in loops.items():
        members = set(boundary)
        stack = [t for i in boundary if layers[i].type in ("RECURRENCE", "ITERATOR") for t in layers[i].outputs]
        while stack:
            for c in consumers.get(stack.pop(), ()):
                if c in members:
                    continue
                other = layers[c].attrs.get("loop") if layers[c].type in BOUNDARY else None
                if other is not None and other != name:
                    raise _fail(name, f"its body reaches layer {layers[c].name!r} of loop {other!r}; nested loops "
                                      "are not supported by the reference executor")
                members.add(c)
                stack.extend(layers[c].outputs)
        for i in members:
            if i in owner:
                raise _fail(name, f"layer {layers[i].name!r} is also in loop {owner[i]!r}; nested loops are not "
                                  "supported by the reference executor")
            owner[i] = name

    out: list[LayerRecord] = []
    emitted: set[str] = set()
    for i, layer in enumerate(layers):
        name = owner.get(i)
        if name is None:
            out.append(layer)
        elif name not in emitted:
            emitted.add(name)
            out.append(_loop_record(name, [layers[j] for j in sorted(k for k, n in owner.items() if n == name)],
                                    make_plan))
    return out


def _loop_record(name: str, members: list[LayerRecord], make_plan) -> LayerRecord:
    trip = condition = None
    iterators, recurrences, outputs, interior = [], [], [], []
    for layer in members:
        kind = layer.type
        if kind == "TRIP_LIMIT":
            if layer.attrs.get("kind") == "COUNT":
                trip = layer.inputs[0]
            else:
                condition = layer.inputs[0]
        elif kind == "ITERATOR":
            iterators.append((layer.outputs[0], layer.inputs[0], int(layer.attrs.get("axis", 0)),
                              bool(layer.attrs.get("reverse"))))
        elif kind == "RECURRENCE":
            if len(layer.inputs) < 2 or layer.inputs[1] is None:
                raise _fail(name, f"recurrence {layer.name!r} has no input 1 (its next value)")
            recurrences.append((layer.outputs[0], layer.inputs[0], layer.inputs[1]))
        elif kind == "LOOP_OUTPUT":
            length = layer.inputs[1] if len(layer.inputs) > 1 else None
            if layer.attrs.get("kind") != "LAST_VALUE" and length is None:
                raise _fail(name, f"{layer.attrs.get('kind')} output {layer.name!r} has no length input")
            outputs.append((layer.attrs.get("kind"), layer.inputs[0], length, int(layer.attrs.get("axis", 0)),
                            tuple(layer.output_shapes[0])))
        else:
            interior.append(layer)
    if trip is None and condition is None:
        raise _fail(name, "it has no ITripLimitLayer")

    inside = {t for layer in interior for t in layer.outputs} | {o for o, *_ in iterators} | \
        {o for o, *_ in recurrences}
    external: list[str] = []
    for layer in members:
        for t in layer.inputs:                  # a recurrence's back edge is inside (or a loop invariant: outside)
            if t is not None and t not in inside and t not in external:
                external.append(t)

    body_inputs = [(t, None, ()) for t in external + [o for o, *_ in iterators] + [o for o, *_ in recurrences]]
    body_outputs = list(dict.fromkeys([n for _, _, n in recurrences] +
                                      [src for kind, src, *_ in outputs if kind != "LAST_VALUE"] +
                                      [src for kind, src, *_ in outputs if kind == "LAST_VALUE"]))
    body = LoopBody(name, trip, condition, iterators, recurrences, outputs, interior)
    body.plan = make_plan(NetworkRecord(body_inputs, body_outputs, interior, name=name))
    if condition is not None:
        body.condition_plan = make_plan(NetworkRecord(body_inputs, [condition], interior, name=name))
    loop_outputs = [layer for layer in members if layer.type == "LOOP_OUTPUT"]
    return LayerRecord(type=LOOP, name=name, attrs={"loop": name, "body": body}, inputs=external,
                       outputs=[layer.outputs[0] for layer in loop_outputs],
                       output_dtypes=[layer.output_dtypes[0] for layer in loop_outputs],
                       output_shapes=[layer.output_shapes[0] for layer in loop_outputs])


def run(layer: LayerRecord, ins: list, ctx: Any, execute: Callable) -> list[torch.Tensor]:
    """Run one LOOP record: `ins` are its external inputs; `execute(plan, env, ctx)` runs a plan on `env` (tensor
    id -> tensor) and returns it with the plan's outputs."""
    body: LoopBody = layer.attrs["body"]
    name = body.name
    base = dict(zip(layer.inputs, ins))
    trip = None
    if body.trip_count is not None:
        trip = int(scalar(base[body.trip_count]))
        if trip < 0:
            raise _fail(name, f"trip count {trip} is negative")
    state = {out: base[init] for out, init, _ in body.recurrences}
    scans: list[list[torch.Tensor]] = [[] for _ in body.outputs]
    last: dict[str, torch.Tensor] = {}
    count = 0
    while trip is None or count < trip:
        env = dict(base)
        env.update(state)
        for out, src, axis, reverse in body.iterators:
            t = base[src]
            size = t.shape[axis]
            k = ((trip if trip is not None else size) - 1 - count) if reverse else count
            if not 0 <= k < size:
                raise _fail(name, f"iteration {count} reads index {k} of an iterator input of length {size} "
                                  f"on axis {axis}")
            env[out] = t.select(axis, k)
        if body.condition_plan is not None:
            cond = execute(body.condition_plan, dict(env), ctx)[body.condition]
            if not bool(cond.reshape(-1)[0]):
                break
        env = execute(body.plan, env, ctx)
        for j, (kind, src, *_rest) in enumerate(body.outputs):
            if kind != "LAST_VALUE":
                scans[j].append(env[src])
            else:
                last[src] = env[src]
        state = {out: env[nxt] for out, _, nxt in body.recurrences}
        count += 1

    results = []
    for j, (kind, src, length, axis, declared) in enumerate(body.outputs):
        if kind == "LAST_VALUE":
            if src in state:
                results.append(state[src])
            elif src in last:
                results.append(last[src])
            else:
                raise _fail(name, f"LAST_VALUE of {src!r} after zero iterations")
            continue
        n = int(scalar(base[length]))
        values = scans[j]
        if len(values) > n:
            raise _fail(name, f"{kind} output of {src!r}: {len(values)} iterations but length {n}")
        if values:
            stacked = torch.stack(values[::-1] if kind == "REVERSE" else values, axis)
            if len(values) < n:
                pad_shape = list(stacked.shape)
                pad_shape[axis] = n - len(values)
                pad = stacked.new_zeros(pad_shape)
                stacked = torch.cat([pad, stacked] if kind == "REVERSE" else [stacked, pad], axis)
        else:
            shape = list(declared)
            shape[axis] = n
            if any(d < 0 for d in shape):
                raise _fail(name, f"{kind} output of {src!r} after zero iterations has unknown shape {declared}")
            stacked = torch.zeros(shape, dtype=ctx.float_dtype)
        results.append(stacked)
    return results
