"""The reference executor keeps the tensors that are the same at every run (constants, shapes of statically shaped
tensors and what is computed from them only) from its first run of a record and starts later runs from them. These
tests check that later runs give what a full run gives, at other inputs, and that nothing stale is used."""

from __future__ import annotations

import torch
from netcase import assert_same

from torch2trt.backend import trt
from torch2trt.network import reference


def _folding(record):
    return reference._plan(record).folding()


def _static_and_dynamic(net):
    """out0 = x + c * 3 (c * 3 is static); out1 = x reshaped to SHAPE(x) arithmetic (static: x's shape is fixed)."""
    x = net.input("x", torch.float32, (2, 6))
    c = net.const(torch.arange(6.0).reshape(1, 6))
    three = net.const(torch.full((1, 1), 3.0))
    scaled = net.network.add_elementwise(c, three, trt.ElementWiseOperation.PROD).get_output(0)
    out0 = net.network.add_elementwise(x, scaled, trt.ElementWiseOperation.SUM).get_output(0)
    shp = net.network.add_shape(x).get_output(0)
    rows = net.network.add_slice(shp, (1,), (1,), (1,)).get_output(0)                    # [6]
    two = net.const(torch.tensor([2], dtype=torch.int64))
    half = net.network.add_elementwise(rows, two, trt.ElementWiseOperation.FLOOR_DIV).get_output(0)   # [3]
    new_shape = net.network.add_concatenation([half, net.const(torch.tensor([4], dtype=torch.int64))]).get_output(0)
    shuffle = net.network.add_shuffle(x)
    shuffle.set_input(1, new_shape)
    return net.build(out0, shuffle.get_output(0))


def test_later_runs_start_from_the_static_tensors_and_match_a_full_run(net):
    record = _static_and_dynamic(net)
    folding = _folding(record)
    assert len(folding.dynamic) == 2                 # the two layers that read x; the rest is static
    c3 = torch.arange(6.0).reshape(1, 6) * 3
    for seed in range(3):                             # the first run computes everything, the others fold
        x = torch.randn(2, 6, generator=torch.Generator().manual_seed(seed))
        got = reference.run(record, {"x": x})
        full = reference.run(record, {"x": x}, intermediates=True)       # every step, nothing kept
        assert_same(got["out0"], x + c3, rtol=0, atol=0)
        assert_same(got["out1"], x.reshape(3, 4), rtol=0, atol=0)
        assert torch.equal(got["out0"], full["out0"]) and torch.equal(got["out1"], full["out1"])
    assert folding.values, "nothing was kept for later runs"


def test_float64_runs_keep_their_own_static_tensors(net):
    record = _static_and_dynamic(net)
    x = torch.randn(2, 6)
    reference.run(record, {"x": x})
    reference.run(record, {"x": x})
    got = reference.run(record, {"x": x.double()}, dtype=torch.float64)["out0"]
    assert got.dtype == torch.float64
    assert_same(got, x.double() + torch.arange(6.0, dtype=torch.float64).reshape(1, 6) * 3, rtol=0, atol=0)


def test_a_replaced_or_changed_weight_is_used_by_the_next_run(net):
    record = _static_and_dynamic(net)
    x = torch.randn(2, 6)
    reference.run(record, {"x": x})
    layer = next(layer for layer in record.layers if layer.type == "CONSTANT" and layer.output_shapes[0] == (1, 6))
    layer.weights["weights"] = torch.ones(1, 6)                       # replaced
    for _ in range(2):                                                 # recomputed, then kept again
        assert_same(reference.run(record, {"x": x})["out0"], x + 3, rtol=0, atol=0)
    assert _folding(record).values
    layer.weights["weights"].mul_(2)                                   # changed in place
    for _ in range(2):
        assert_same(reference.run(record, {"x": x})["out0"], x + 6, rtol=0, atol=0)
    got = reference.run(record, {"x": x.double()}, dtype=torch.float64)["out0"]
    assert_same(got, x.double() + 6, rtol=0, atol=0)


def test_a_layer_in_an_if_branch_is_computed_when_its_branch_is_taken(net):
    """A SHAPE (of a statically shaped tensor) under a branch not taken at the first run is computed at a later run
    that takes it."""
    x_t = net.input("x", torch.float32, (2, 3))
    flag_t = net.input("flag", torch.bool, ())
    cond = net.network.add_if_conditional()
    cond.set_condition(flag_t)
    inp = cond.add_input(x_t).get_output(0)
    shp = net.network.add_cast(net.network.add_shape(inp).get_output(0), trt.float32).get_output(0)     # [2., 3.]
    total = net.network.add_reduce(shp, trt.ReduceOperation.SUM, 1, True).get_output(0)                # [5.]
    col = net.network.add_shuffle(total)
    col.reshape_dims = (1, 1)
    then = net.network.add_elementwise(inp, col.get_output(0), trt.ElementWiseOperation.SUM).get_output(0)
    out = cond.add_output(then, inp).get_output(0)
    record = net.build(out)
    x = torch.randn(2, 3)
    for flag, expected in ((False, x), (True, x + 5), (True, x + 5), (False, x)):
        got = reference.run(record, {"x": x, "flag": torch.tensor(flag)})["out0"]
        assert_same(got, expected, rtol=0, atol=0)


def test_a_static_output_changed_by_the_caller_does_not_change_the_next_run(net):
    c = net.const(torch.arange(4.0))
    two = net.const(torch.full((4,), 2.0))
    x = net.input("x", torch.float32, (4,))
    out0 = net.network.add_elementwise(c, two, trt.ElementWiseOperation.PROD).get_output(0)       # static output
    out1 = net.network.add_elementwise(x, two, trt.ElementWiseOperation.SUM).get_output(0)
    record = net.build(out0, out1)
    for _ in range(3):
        got = reference.run(record, {"x": torch.zeros(4)})
        assert_same(got["out0"], torch.arange(4.0) * 2, rtol=0, atol=0)
        got["out0"].add_(100)


def test_shapes_of_dynamic_tensors_are_computed_at_every_run(net):
    x = net.input("x", torch.float32, (-1, 4), min=(1, 4), opt=(2, 4), max=(8, 4))
    shp = net.network.add_shape(x).get_output(0)
    flat = net.network.add_reduce(shp, trt.ReduceOperation.PROD, 1, True).get_output(0)
    shuffle = net.network.add_shuffle(x)
    shuffle.set_input(1, flat)
    record = net.build(shuffle.get_output(0))
    for n in (2, 5, 1, 8):
        x = torch.randn(n, 4)
        assert_same(reference.run(record, {"x": x})["out0"], x.reshape(-1), rtol=0, atol=0)


def test_random_fills_are_drawn_at_every_run(net):
    fill = net.network.add_fill((64,), trt.FillOperation.RANDOM_UNIFORM, trt.float32)
    fill.set_input(1, net.const(torch.tensor(0.0)))
    fill.set_input(2, net.const(torch.tensor(1.0)))
    x = net.input("x", torch.float32, (64,))
    out = net.network.add_elementwise(x, fill.get_output(0), trt.ElementWiseOperation.SUM).get_output(0)
    record = net.build(out, require_engine=False)
    runs = [reference.run(record, {"x": torch.zeros(64)})["out0"] for _ in range(3)]
    assert all(((r >= 0) & (r <= 1)).all() for r in runs)
    assert not torch.equal(runs[1], runs[2]), "a random fill was kept from an earlier run"
