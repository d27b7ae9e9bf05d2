"""The reference executor: computes a TensorRT network on the CPU with PyTorch, layer by layer, from the network
itself (its records), with the semantics of TensorRT's operator documentation. It knows nothing about converters.

    outputs = reference.run(network_or_record, {"input": x})                    # declared dtypes
    outputs = reference.run(record, feeds, dtype=torch.float64)                # every float in float64
    tensors = reference.run(record, feeds, intermediates=True)                 # every named tensor outside loops

Loops (ILoop) run iteration by iteration (network/_ref_loop.py); if-conditionals run only the taken branch.
Reduced-precision layers (float16/bfloat16) are computed in float32 and rounded to their declared dtype at the
layer's output, as TensorRT rounds at layer boundaries. Pass a `NetworkRecord` (inspect.read_network) to run a
network several times: reading an INetworkDefinition copies all of its weights each call, while a record keeps its
execution plan, prepared weights and the tensors that are the same at every run (constants, shapes of statically
shaped tensors and what is computed from them only: `_Folding`) between runs; later runs compute only the rest.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch

from . import _ref_loop, _ref_nn, _ref_tensor
from ._ref_common import Ctx, ReferenceError
from .inspect import LayerRecord, NetworkRecord, dependency_order, element_bound, read_network

HANDLERS: dict = {**_ref_tensor.HANDLERS, **_ref_nn.HANDLERS}

__all__ = ["run", "ReferenceError", "HANDLERS", "supported_layer_types"]


def supported_layer_types() -> list[str]:
    return sorted(set(HANDLERS) | set(_ref_loop.BOUNDARY))


@dataclass
class _Step:
    layer: LayerRecord
    fn: Any
    inputs: list            # tensor ids (None for absent optional inputs)
    guards: tuple           # ((condition tensor id, required value), ...): run only when all hold
    release: tuple          # tensor ids no longer needed after this step
    static: bool = False    # its outputs are the same at every run (see _Folding)


class _Plan:
    """Execution order (topological), if-conditional guards and tensor lifetimes of a record."""

    def __init__(self, record: NetworkRecord):
        layers = _ref_loop.collapse(record.layers, _Plan)       # each loop becomes one step
        producer: dict[str, int] = {}
        for i, layer in enumerate(layers):
            for t in layer.outputs:
                producer[t] = i
        network_inputs = {name for name, _, _ in record.inputs}
        for t in record.outputs:
            if t not in producer and t not in network_inputs:
                raise ReferenceError(f"network output {t!r} is produced by no layer")

        # if-conditionals: condition tensor of each conditional; CONDITIONAL_OUTPUT reads it as an extra input
        condition_of: dict[str, str] = {}
        for layer in layers:
            if layer.type == "CONDITION":
                condition_of[layer.attrs["conditional"]] = layer.inputs[0]
        inputs_of = []
        for layer in layers:
            ins = list(layer.inputs)
            if layer.type == "CONDITIONAL_OUTPUT":
                ins.append(condition_of[layer.attrs["conditional"]])
            inputs_of.append(ins)

        # layers that contribute to an output (or assert something), in a data-dependency order
        roots = {producer[t] for t in record.outputs if t in producer}
        roots |= {i for i, layer in enumerate(layers) if layer.type == "ASSERTION"}
        needed, stack = set(), list(roots)
        while stack:
            i = stack.pop()
            if i in needed:
                continue
            needed.add(i)
            stack.extend(producer[t] for t in inputs_of[i] if t is not None and t in producer)
        order = self._toposort(sorted(needed), inputs_of, producer, layers)

        # guards: a layer runs only under the branches every one of its uses lies in
        users: dict[int, list] = {i: [] for i in needed}
        for i in needed:
            for slot, t in enumerate(inputs_of[i]):
                if t is not None and t in producer and producer[t] in needed:
                    users[producer[t]].append((i, slot))
        outputs = set(record.outputs)
        guards: dict[int, frozenset] = {}
        for i in reversed(order):
            layer = layers[i]
            uses = []
            if any(t in outputs for t in layer.outputs) or layer.type == "ASSERTION":
                uses.append(frozenset())
            for user, slot in users[i]:
                g = guards[user]
                ul = layers[user]
                if ul.type == "CONDITIONAL_OUTPUT" and slot < 2:
                    g = g | {(condition_of[ul.attrs["conditional"]], slot == 0)}
                uses.append(g)
            guards[i] = frozenset.intersection(*uses) if uses else frozenset()
        # a guarded layer must run after its conditions are known
        extra = {i: [c for c, _ in guards[i]] for i in needed if guards[i]}
        if extra:
            order = self._toposort(sorted(needed), [inputs_of[i] + extra.get(i, []) for i in range(len(layers))],
                                   producer, layers)

        missing = sorted({layers[i].type for i in order if layers[i].type not in HANDLERS and
                          layers[i].type != _ref_loop.LOOP})
        if missing:
            names = {t: next(layers[i].name for i in order if layers[i].type == t) for t in missing}
            raise ReferenceError("the reference executor has no semantics for layer type(s) " + ", ".join(
                f"{t} (e.g. layer {names[t]!r})" for t in missing) + "; supported: " + ", ".join(sorted(HANDLERS)))

        steps = [_Step(layers[i], _run_loop if layers[i].type == _ref_loop.LOOP else HANDLERS[layers[i].type],
                       inputs_of[i], tuple(sorted(guards[i])), ()) for i in order]
        self.steps = _with_releases(steps, outputs)
        self.record = record
        self._folding: _Folding | None = None

    def folding(self) -> _Folding:
        """The split of a top-level plan into the steps whose outputs never change and the rest (made once)."""
        if self._folding is None:
            self._folding = _Folding(self.record, self.steps)
        return self._folding

    @staticmethod
    def _toposort(nodes: list[int], inputs_of: list, producer: dict, layers: list) -> list[int]:
        node_set = set(nodes)
        deps = {i: {producer[t] for t in inputs_of[i] if t is not None and t in producer} & node_set for i in nodes}
        order, stuck = dependency_order(deps)
        if stuck:
            names = [layers[i].name for i in stuck][:5]
            raise ReferenceError(f"the network has a cycle outside a loop's recurrence; layers involved: {names}")
        return order


def _with_releases(steps: list[_Step], outputs: set) -> list[_Step]:
    """`steps` with their lifetimes: each drops the tensors it reads last (outputs are kept)."""
    last_use: dict[str, int] = {}
    for pos, step in enumerate(steps):
        for t in list(step.inputs) + [c for c, _ in step.guards]:
            if t is not None:
                last_use[t] = pos
        for t in step.layer.outputs:
            last_use.setdefault(t, pos)
    release: dict[int, list] = {}
    for t, pos in last_use.items():
        if t not in outputs:
            release.setdefault(pos, []).append(t)
    return [_Step(step.layer, step.fn, step.inputs, step.guards, tuple(release.get(pos, ())), step.static)
            for pos, step in enumerate(steps)]


# layers never folded: control flow, side effects and draws (their outputs are not a function of constants)
_NEVER_FOLDED = {_ref_loop.LOOP, "ASSERTION", "CONDITION", "CONDITIONAL_INPUT", "CONDITIONAL_OUTPUT"}


class _Folding:
    """Constant folding across runs. A step is static when its outputs are the same at every run: a CONSTANT, a
    SHAPE of a tensor whose declared shape has no -1 (the executor checks every tensor against its declared
    shape), or a deterministic unguarded layer whose inputs are all static. ONNX-exported networks compute their
    shapes this way in thousands of small layers. The first run of a configuration (compute dtype) runs every step
    and keeps the static tensors the other steps read (`values`); later runs start from them and run only
    `dynamic` steps. Kept values are dropped when a static layer's weights were replaced or changed in place."""

    def __init__(self, record: NetworkRecord, steps: list[_Step]):
        declared = {name: shape for name, _, shape in record.inputs}
        for step in steps:
            declared.update(zip(step.layer.outputs, step.layer.output_shapes))
        static: set[str] = set()
        marked = []
        for step in steps:
            layer = step.layer
            if step.guards or layer.type in _NEVER_FOLDED or (
                    layer.type == "FILL" and str(layer.attrs.get("operation", "")).startswith("RANDOM")):
                ok = False
            elif layer.type == "SHAPE":
                ok = all(d >= 0 for d in declared.get(layer.inputs[0], (-1,)))
            else:
                ok = all(t is None or t in static for t in step.inputs)
            if ok:
                static.update(layer.outputs)
            marked.append(_Step(step.layer, step.fn, step.inputs, step.guards, step.release, ok))
        self.steps = marked                       # every step, the static ones marked
        dynamic = [step for step in marked if not step.static]
        read = {t for step in dynamic for t in list(step.inputs) + [c for c, _ in step.guards] if t is not None}
        self.kept = (read | set(record.outputs)) & static     # the static tensors a run starts from
        self.dynamic = _with_releases(dynamic, set(record.outputs))
        self._layers = [step.layer for step in marked if step.static and step.layer.weights]
        self.values: dict[tuple, tuple[dict, int]] = {}   # (dtype, override) -> (kept tensors, largest numel)
        self.snapshot()

    def snapshot(self) -> None:
        """Note the static layers' weights (and their in-place change counters) the kept values come from."""
        self._where = [(layer.weights, key) for layer in self._layers for key in layer.weights]
        self._tensors = [weights[key] for weights, key in self._where]
        self._versioned = [w for w in self._tensors if _version(w) >= 0]
        self._versions = [w._version for w in self._versioned]

    def current(self) -> bool:
        """The static layers' weights are the ones (and the contents) the kept values were computed from."""
        return (all(map(operator.is_, [weights.get(key) for weights, key in self._where], self._tensors))
                and [w._version for w in self._versioned] == self._versions)


def _version(t: torch.Tensor) -> int:
    """The tensor's in-place change counter (-1 for inference tensors, which have none and are never changed
    outside inference mode)."""
    try:
        return t._version
    except RuntimeError:
        return -1


def _plan(record: NetworkRecord) -> _Plan:
    plan = record._cache.get("plan")
    if plan is None:
        plan = record._cache["plan"] = _Plan(record)
    return plan


def _check_shape(layer: LayerRecord, name: str, got: tuple, declared: tuple) -> None:
    if len(got) != len(declared) or any(d >= 0 and d != g for g, d in zip(got, declared)):
        raise ReferenceError(f"{layer.type} layer {layer.name!r}: output {name!r} has shape {tuple(got)}, the "
                             f"network declares {tuple(declared)} (-1 = dynamic)")


def run(network_or_record: Any, inputs: dict[str, torch.Tensor], *, dtype: torch.dtype | None = None,
        intermediates: bool = False) -> dict[str, torch.Tensor]:
    """Compute the network's outputs on the CPU with PyTorch.

    `inputs` maps every network input name to a tensor of its declared dtype and a shape that fits its declared
    dimensions (-1 = any). `dtype=torch.float64` (or float32) computes and returns every float tensor in that dtype
    instead of rounding to the declared float types. `intermediates=True` returns every named tensor."""
    record = network_or_record if isinstance(network_or_record, NetworkRecord) else read_network(network_or_record)
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be None, torch.float32 or torch.float64, not {dtype}")
    plan = _plan(record)
    if "weight_bytes" not in record._cache:
        record._cache["weight_bytes"] = record.weight_bytes()
    input_bytes = sum(t.numel() * t.element_size() for t in inputs.values() if isinstance(t, torch.Tensor))
    ctx = Ctx(dtype or torch.float32, dtype is not None, record._cache.setdefault("weights", {}),
              element_bound(record._cache["weight_bytes"] + input_bytes))

    env: dict[str, torch.Tensor] = {}
    for name, declared_dtype, shape in record.inputs:
        if name not in inputs:
            raise KeyError(f"missing network input {name!r}; the network's inputs are "
                           f"{[n for n, _, _ in record.inputs]}")
        t = inputs[name]
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t)
        t = t.detach().cpu()
        if len(t.shape) != len(shape) or any(d >= 0 and d != g for g, d in zip(t.shape, shape)):
            raise ValueError(f"input {name!r} has shape {tuple(t.shape)}, the network declares {shape} (-1 = any)")
        if t.dtype != declared_dtype and not (ctx.override and t.is_floating_point()
                                              and declared_dtype.is_floating_point):
            raise TypeError(f"input {name!r} is {t.dtype}, the network declares {declared_dtype}")
        env[name] = t.to(ctx.storage(declared_dtype))

    fed = [t for t in inputs.values() if isinstance(t, torch.Tensor)] + [env[name] for name, _, _ in record.inputs]
    if intermediates:
        _execute(plan.steps, env, ctx, True)
        return dict(env)
    folding = plan.folding()
    _run_folded(folding, env, ctx)
    # the caller may change what it gets: not the values kept for later runs, nor inputs, weights or other outputs
    outputs = {name: env[name].clone() if name in folding.kept else env[name] for name in record.outputs}
    return _unshared(outputs, fed, ctx)


def _unshared(outputs: dict[str, torch.Tensor], fed: list[torch.Tensor], ctx: Ctx) -> dict[str, torch.Tensor]:
    """The outputs, each on memory of its own: an output that shares storage with an input (an identity, a view),
    with a weight (a constant: the record's or its cached conversion) or with another output is cloned, so that a
    caller writing into what a run returned changes no input, no later run and no other output."""
    held = {_storage(t) for t in fed}
    if any(_storage(t) not in held for t in outputs.values()):      # only then can a weight be shared
        for cached in ctx._weights.values():                          # (weight, its conversion) or a tensor
            held.update(_storage(t) for t in (cached if isinstance(cached, tuple) else (cached,))
                        if isinstance(t, torch.Tensor))
    fresh = {}
    for name, t in outputs.items():
        key = _storage(t)
        if key in held:
            t = t.clone()
            key = _storage(t)
        held.add(key)
        fresh[name] = t
    return fresh


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _run_loop(layer: LayerRecord, ins: list, ctx: Ctx) -> list:
    return _ref_loop.run(layer, ins, ctx, lambda plan, env, c: _execute(plan.steps, env, c, False))


def _run_folded(folding: _Folding, env: dict, ctx: Ctx) -> None:
    """Run a top-level plan on `env`, from the kept static tensors of an earlier run where they still hold."""
    if not folding.current():                 # weights replaced or changed since: nothing kept holds
        folding.values.clear()
        folding.snapshot()
    key = (ctx.float_dtype, ctx.override)
    hit = folding.values.get(key)
    if hit is not None and (ctx.max_elements is None or hit[1] <= ctx.max_elements):
        env.update(hit[0])
        _execute(folding.dynamic, env, ctx, False)
        return
    # a run of every step (as without folding: the same checks and errors), keeping the static tensors
    kept: dict = {}
    largest = [0]
    _execute(folding.steps, env, ctx, False, (folding.kept, kept, largest))
    folding.values[key] = (kept, largest[0])


def _execute(steps: list[_Step], env: dict, ctx: Ctx, intermediates: bool, keep: tuple | None = None) -> dict:
    """Run `steps` on `env` (tensor id -> tensor, updated in place and returned). `keep`: (names, dict, [numel]):
    put the static tensors named in `names` into the dict and the largest static tensor's numel in the list."""
    compute = ctx.compute
    storage = ctx.storage
    for step in steps:
        if step.guards and not all(bool(env[c]) == want for c, want in step.guards):
            continue
        layer = step.layer
        if layer.type == "CONDITIONAL_OUTPUT":
            ins = [env.get(t) for t in step.inputs]
        else:
            try:
                ins = [None if t is None else compute(env[t]) for t in step.inputs]
            except KeyError as e:
                raise ReferenceError(f"{layer.type} layer {layer.name!r}: input {e.args[0]!r} was not computed"
                                     ) from None
        try:
            outs = step.fn(layer, ins, ctx)
        except (ReferenceError, AssertionError):
            raise
        except Exception as e:
            raise ReferenceError(f"{layer.type} layer {layer.name!r} failed: {type(e).__name__}: {e}") from e
        for name, out, dt, shape in zip(layer.outputs, outs, layer.output_dtypes, layer.output_shapes):
            target = storage(dt)
            if out.dtype != target:
                out = out.to(target)
            if len(out.shape) != len(shape) or any(d >= 0 and d != g for g, d in zip(out.shape, shape)):
                _check_shape(layer, name, tuple(out.shape), shape)
            if out.numel() > ctx.max_elements:       # shapes no handler checks (broadcasts): stop before they grow
                ctx.check_size(layer, out.shape)
            env[name] = out
            if keep is not None and step.static:
                keep[2][0] = max(keep[2][0], out.numel())
                if name in keep[0]:
                    keep[1][name] = out
        if not intermediates:
            for t in step.release:
                env.pop(t, None)

    return env
