"""Loading a saved TRTModule state that is hostile or inconsistent: every such file must end in a StateError at
load that names what is wrong, never a RecursionError, a KeyError/IndexError/TypeError at call time or a
multi-gigabyte allocation. Tampered states get their digests rewritten (state_digest, and pairing_digest where the
state pairs an engine with its records) so the checks behind them are reached."""

from __future__ import annotations

import io
import sys
import threading

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import torch2trt as t2t
from torch2trt import StateError, TRTModule, torch2trt
from torch2trt.network.reference import ReferenceError
from torch2trt.runtime.saved import pairing_digest, state_digest

DEEP = 20_000


class TwoInTwoLevelsOut(nn.Module):
    """Two inputs; a nested output {"sum": a, "parts": (b, c)} through MATMUL, SLICE, SHUFFLE and RESIZE."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x, y):
        a = self.lin(x) + y
        b = x[:, :4].reshape(4, 2)
        c = F.interpolate(b[None], scale_factor=2.0)
        return {"sum": a, "parts": (b, c)}


class DynamicBatch(nn.Module):
    def forward(self, x):
        y = x[:, :4].reshape(x.shape[0], 2, 2)
        return F.interpolate(y, scale_factor=2.0), torch.arange(x.shape[0], dtype=torch.float32)


@pytest.fixture(scope="module")
def static_trt():
    torch.manual_seed(0)
    return torch2trt(TwoInTwoLevelsOut().eval(), [torch.randn(2, 8), torch.randn(2, 4)])


@pytest.fixture(scope="module")
def dynamic_trt():
    return torch2trt(DynamicBatch().eval(), [torch.randn(2, 8)], min_shapes=[(1, 8)], max_shapes=[(6, 8)])


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _tampered(module: TRTModule, tamper) -> dict:
    state = _roundtrip(module.state_dict())
    tamper(state)
    if "engine_network_sha256" in state and "network" in state:
        state["engine_network_sha256"] = pairing_digest(state["engine"], state["network"])
    state["state_sha256"] = state_digest(state)
    return state


def _layer(state: dict, name: str) -> dict:
    return next(layer for layer in state["network"]["layers"] if layer["name"] == name)


def _nested_list(depth: int, leaf=0):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _nested_schema(depth: int) -> dict:
    value = {"kind": "tensor", "index": 0}
    for _ in range(depth):
        value = {"kind": "list", "items": [value]}
    return value


def _save_deep(state: dict, path) -> None:
    """torch.save pickles recursively: give it the stack a 20,000-deep value needs (in a thread of its own)."""
    errors = []

    def work():
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(10 * DEEP)
        try:
            torch.save(state, path)
        except BaseException as e:  # re-raised in the caller
            errors.append(e)
        finally:
            sys.setrecursionlimit(old)

    old_size = threading.stack_size(512 << 20)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
    if errors:
        raise errors[0]


# ---- 1. nesting depth ------------------------------------------------------------------------------------------

DEEP_TAMPERS = {
    "input_schema": lambda s: s.__setitem__("input_schema", {"kind": "list", "items": [
        _nested_schema(DEEP), {"kind": "tensor", "index": 1}]}),
    "output_schema": lambda s: s.__setitem__("output_schema", _nested_schema(DEEP)),
    "build_settings": lambda s: s["build_settings"].__setitem__("dtype", _nested_list(DEEP)),
    "input_specs": lambda s: s["input_specs"][0].__setitem__("dtype", _nested_list(DEEP, "float32")),
    "output_specs": lambda s: s["output_specs"][1].__setitem__("shape", _nested_list(DEEP)),
    "network": lambda s: _layer(s, "model/reshape")["attrs"].__setitem__("reshape_dims", _nested_list(DEEP)),
}


def test_state_digest_of_deeply_nested_values_needs_no_recursion():
    a, b = {"x": _nested_list(DEEP)}, {"x": _nested_list(DEEP, 1)}
    assert state_digest(a) == state_digest({"x": _nested_list(DEEP)}) != state_digest(b)


@pytest.mark.parametrize("key", sorted(DEEP_TAMPERS))
def test_deeply_nested_entries_are_refused_by_load_state_dict(static_trt, key):
    state = _tampered(static_trt, DEEP_TAMPERS[key])
    with pytest.raises(StateError, match=rf"'{key}' is nested deeper than 100 levels"):
        TRTModule().load_state_dict(state)


@pytest.mark.parametrize("key", ["input_schema", "build_settings", "network"])
def test_deeply_nested_entries_in_a_file_are_refused_by_load(static_trt, tmp_path, key):
    state = _tampered(static_trt, DEEP_TAMPERS[key])
    path = tmp_path / "deep.pth"
    _save_deep(state, path)
    with pytest.raises(StateError, match=rf"'{key}' is nested deeper than 100 levels"):
        t2t.load(str(path))


def test_a_file_with_a_key_that_is_not_a_str_is_refused(static_trt, tmp_path):
    state = _roundtrip(static_trt.state_dict())
    state[7] = "x"
    torch.save(state, tmp_path / "m.pth")
    with pytest.raises(StateError, match=r"m.pth has a key of type int \(7\)"):
        t2t.load(str(tmp_path / "m.pth"))
    m = TRTModule()
    m.load_state_dict(state, strict=False)      # load_state_dict of a bigger model's dict: other keys are not ours
    assert m.input_names == ["input_0", "input_1"]


def test_moderate_nesting_in_build_settings_still_loads(static_trt):
    state = _tampered(static_trt, lambda s: s["build_settings"].__setitem__("note", _nested_list(90)))
    m = TRTModule()
    m.load_state_dict(state)
    assert m.build_settings["note"] == _nested_list(90)


# ---- 2. parts that disagree ------------------------------------------------------------------------------------

def _rename_input(s):
    s["input_names"][1] = "image"
    s["input_specs"][1]["name"] = "image"


def _rename_output(s):
    s["output_names"][2] = "logits"
    s["output_specs"][2]["name"] = "logits"


def _swap_output_names(s):
    s["output_names"][0], s["output_names"][1] = s["output_names"][1], s["output_names"][0]
    s["output_specs"][0], s["output_specs"][1] = s["output_specs"][1], s["output_specs"][0]


def _set_schema_index(key, path, index):
    def tamper(s):
        node = s[key]
        for i in path:
            node = node["items"][i]
        node["index"] = index
    return tamper


def _spec(key, i, field, value):
    return lambda s: s[key][i].__setitem__(field, value)


def _dynamic_spec_on_static_network(s):
    s["input_specs"][0]["min"] = [1, 8]
    s["input_specs"][0]["max"] = [4, 8]


INCONSISTENT = {
    "input renamed": (_rename_input, r"input_names .*'image'.* network's inputs are \['input_0', 'input_1'\]"),
    "output renamed": (_rename_output, r"output_names .*'logits'.* network's outputs are "
                                       r"\['output_0', 'output_1', 'output_2'\]"),
    "outputs swapped": (_swap_output_names, r"output_names \['output_1', 'output_0', 'output_2'\] .*network's "
                                            r"outputs are \['output_0', 'output_1', 'output_2'\]"),
    "spec name": (_spec("input_specs", 1, "name", "input_7"), r"input_specs\[1\] is named 'input_7'.*'input_1'"),
    "spec without name": (lambda s: s["output_specs"][0].pop("name"), r"output_specs\[0\] is named None"),
    "output index out of range": (_set_schema_index("output_schema", [1, 1], 3),
                                  r"output_schema.*tensor index 3.*3 output"),
    "output index duplicated": (_set_schema_index("output_schema", [1, 1], 1),
                                r"output_schema uses tensor 1 twice"),
    "output index negative": (_set_schema_index("output_schema", [0], -1), r"non-negative int 'index'"),
    "output schema short": (lambda s: s["output_schema"]["items"][1]["items"].pop(),
                            r"output_schema holds 2 tensors but there are 3 output names"),
    "output schema long": (lambda s: s["output_schema"]["items"][1]["items"].append(
        {"kind": "tensor", "index": 3}), r"output_schema holds 4 tensors but there are 3 output names"),
    "input index out of order": (lambda s: (_set_schema_index("input_schema", [0], 1)(s),
                                            _set_schema_index("input_schema", [1], 0)(s)),
                                 r"input_schema.*tensor 1 where tensor 0"),
    "input index duplicated": (_set_schema_index("input_schema", [1], 0), r"input_schema.*tensor 0 where tensor 1"),
    "input schema not arguments": (lambda s: s.__setitem__("input_schema", {"kind": "dict", "keys": ["x", "y"],
                                                                            "items": s["input_schema"]["items"]}),
                                   r"input_schema must be a list \(the positional arguments\), got kind 'dict'"),
    "dict key not hashable": (lambda s: s["output_schema"]["keys"].__setitem__(0, ["sum"]),
                              r"output_schema: dict keys must be str or int"),
    "input dtype vs network": (_spec("input_specs", 0, "dtype", "float16"),
                               r"input 'input_0'.*float16.*network.*float32"),
    "input rank vs network": (lambda s: s["input_specs"][0].update(min=[2, 8, 1], opt=[2, 8, 1], max=[2, 8, 1]),
                              r"input 'input_0'.*rank 3.*network.*\(2, 8\)"),
    "input static dim vs network": (_spec("input_specs", 1, "max", [3, 4]),
                                    r"input 'input_1'.*axis 0.*2.*3.*network.*\(2, 4\)"),
    "input dynamic on static network": (_dynamic_spec_on_static_network, r"input 'input_0'.*axis 0"),
    "input spec min negative": (_spec("input_specs", 0, "min", [-1, 8]), r"input_specs\[0\].min.*>= 0"),
    "output dtype vs network": (_spec("output_specs", 2, "dtype", "int32"),
                                r"output 'output_2'.*int32.*network.*float32"),
    "output rank vs network": (_spec("output_specs", 1, "shape", [8]), r"output 'output_1'.*\[8\].*\(4, 2\)"),
    "output dim vs network": (_spec("output_specs", 0, "shape", [2, 5]), r"output 'output_0'.*\[2, 5\].*\(2, 4\)"),
    "record input dtype": (lambda s: s["network"]["inputs"].__setitem__(0, ("input_0", torch.int32, (2, 8))),
                           r"input 'input_0'.*float32.*network.*int32"),
    "record input unproduced": (lambda s: _layer(s, "model/reshape")["inputs"].__setitem__(0, "nowhere"),
                                r"SHUFFLE layer 'model/reshape' reads tensor 'nowhere', which no layer produces"),
    "record output unproduced": (lambda s: s["network"]["outputs"].__setitem__(1, "nowhere"),
                                 r"network output 'nowhere' is produced by no layer"),
    "record tensor produced twice": (lambda s: _layer(s, "model/reshape_1")["outputs"].__setitem__(0, "output_1"),
                                     r"tensor 'output_1' is produced by layers 'model/reshape' and "
                                     r"'model/reshape_1'"),
    "record output dtypes short": (lambda s: _layer(s, "model/reshape").__setitem__("output_dtypes", []),
                                   r"SHUFFLE layer 'model/reshape': 1 outputs, 0 output_dtypes"),
    "record output shapes long": (lambda s: _layer(s, "model/reshape")["output_shapes"].append((1,)),
                                  r"SHUFFLE layer 'model/reshape': 1 outputs, 2 output_shapes"),
    "record cycle": (lambda s: _layer(s, "model/getitem")["inputs"].__setitem__(0, "model/reshape_1_output"),
                     r"cycle.*model/getitem"),
    "record layer type": (lambda s: _layer(s, "model/reshape").__setitem__("type", "SHUFLE"),
                          r"layer 'model/reshape' has unknown type 'SHUFLE'"),
    "record weights not tensors": (lambda s: _layer(s, "lin/constant")["weights"].__setitem__("weights", [1.0]),
                                   r"CONSTANT layer 'lin/constant': weights\['weights'\] must be a tensor"),
    "record conditional output without condition": (
        lambda s: s["network"]["layers"].append({
            "type": "CONDITIONAL_OUTPUT", "name": "if/out", "attrs": {"conditional": "if"}, "weights": {},
            "inputs": ["input_0", "input_0"], "outputs": ["if/out_output"], "output_dtypes": [torch.float32],
            "output_shapes": [(2, 8)], "enums": {}}),
        r"CONDITIONAL_OUTPUT layer 'if/out' belongs to conditional 'if', which has no CONDITION layer"),
}


@pytest.mark.parametrize("case", sorted(INCONSISTENT))
def test_inconsistent_state_is_refused_at_load(static_trt, case):
    tamper, match = INCONSISTENT[case]
    state = _tampered(static_trt, tamper)
    with pytest.raises(StateError, match=match):
        TRTModule().load_state_dict(state)


def test_network_record_of_another_model_is_refused(static_trt, dynamic_trt):
    other = _roundtrip(dynamic_trt.state_dict())["network"]
    state = _tampered(static_trt, lambda s: s.__setitem__("network", other))
    with pytest.raises(StateError, match=r"network's inputs are \['input_0'\]"):
        TRTModule().load_state_dict(state)


def test_engine_of_another_model_is_refused(static_trt):
    other = torch2trt(nn.Sequential(nn.Linear(8, 4)).eval(), [torch.randn(2, 8)], input_names=["image"],
                      output_names=["logits"], portable=False)
    for portable in (True, False):
        def swap(s, portable=portable):
            s["engine"] = _roundtrip(other.state_dict())["engine"]
            if not portable:
                s.pop("network")
        state = _tampered(static_trt, swap)
        with pytest.raises(StateError, match=r"'engine' has no tensor named 'input_0'"):
            TRTModule().load_state_dict(state)


def test_consistent_states_still_load_and_run(static_trt, dynamic_trt):
    torch.manual_seed(3)
    x, y = torch.randn(2, 8), torch.randn(2, 4)
    m = TRTModule()
    m.load_state_dict(_roundtrip(static_trt.state_dict()))
    with pytest.warns(UserWarning, match="CPU reference executor"):
        out = m(x, y)
    net = static_trt.state_dict()["network"]
    w, b = (_layer({"network": net}, n)["weights"]["weights"] for n in ("lin/constant", "lin/constant_1"))
    assert out["sum"].shape == (2, 4) and out["parts"][0].shape == (4, 2) and out["parts"][1].shape == (1, 4, 4)
    torch.testing.assert_close(out["sum"], x @ w.T + b + y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["parts"][0], x[:, :4].reshape(4, 2), rtol=0, atol=0)
    d = TRTModule()
    d.load_state_dict(_roundtrip(dynamic_trt.state_dict()))
    x5 = torch.randn(5, 8)
    with pytest.warns(UserWarning, match="CPU reference executor"):
        z, r = d(x5)
    torch.testing.assert_close(z, F.interpolate(x5[:, :4].reshape(5, 2, 2), scale_factor=2.0), rtol=0, atol=0)
    assert torch.equal(r, torch.arange(5, dtype=torch.float32))


# ---- 3. declared sizes the file does not carry -----------------------------------------------------------------

def _static_output(s, name, shape, attr=None):
    layer = _layer(s, name)
    layer["output_shapes"][0] = shape
    if attr is not None:
        layer["attrs"][attr] = shape


HUGE = (1 << 20, 1 << 20)      # 2**40 elements: far above any bound a file of this size earns

OVERSIZED = {
    "constant shape vs weights": (lambda s: _layer(s, "lin/constant")["attrs"].__setitem__("shape", (4, 8, 1000)),
                                  r"CONSTANT layer 'lin/constant': shape \(4, 8, 1000\) has 32000 elements but "
                                  r"its weights hold 32"),
    "constant without weights": (lambda s: _layer(s, "lin/constant")["weights"].clear(),
                                 r"CONSTANT layer 'lin/constant': shape \(4, 8\) has 32 elements but its weights "
                                 r"hold 0"),
    "slice shape": (lambda s: _static_output(s, "model/getitem", HUGE, "shape"),
                    r"SLICE layer 'model/getitem'.*1099511627776 elements"),
    "shuffle reshape_dims": (lambda s: _static_output(s, "model/reshape", HUGE, "reshape_dims"),
                             r"SHUFFLE layer 'model/reshape'.*1099511627776 elements"),
    "resize shape": (lambda s: _static_output(s, "model/interpolate_nearest", (1,) + HUGE, "shape"),
                     r"RESIZE layer 'model/interpolate_nearest'.*1099511627776 elements"),
    "resize attr only": (lambda s: _layer(s, "model/interpolate_nearest")["attrs"].__setitem__("shape", (1,) + HUGE),
                         r"RESIZE layer 'model/interpolate_nearest'.*1099511627776 elements"),
    "declared output shape": (lambda s: _layer(s, "lin/linear")["output_shapes"].__setitem__(0, HUGE),
                              r"MATRIX_MULTIPLY layer 'lin/linear'.*1099511627776 elements"),
    "record input shape": (lambda s: s["network"]["inputs"].__setitem__(0, ("input_0", torch.float32, HUGE)),
                           r"network input 'input_0'.*1099511627776 elements"),
}


@pytest.mark.parametrize("case", sorted(OVERSIZED))
def test_records_declaring_tensors_beyond_the_file_are_refused(static_trt, case):
    tamper, match = OVERSIZED[case]
    state = _tampered(static_trt, tamper)
    with pytest.raises(StateError, match=match):
        TRTModule().load_state_dict(state)


def test_fill_layer_with_a_huge_static_shape_is_refused(dynamic_trt):
    def tamper(s):
        layer = _layer(s, "model/arange")
        layer["inputs"][0] = None
        layer["attrs"]["shape"] = (1 << 40,)
        layer["output_shapes"][0] = (-1,)
    state = _tampered(dynamic_trt, tamper)
    with pytest.raises(StateError, match=r"FILL layer 'model/arange'.*1099511627776 elements"):
        TRTModule().load_state_dict(state)


def test_input_spec_max_shape_beyond_the_bound_is_refused(dynamic_trt):
    state = _tampered(dynamic_trt, lambda s: s["input_specs"][0].__setitem__("max", [1 << 40, 8]))
    with pytest.raises(StateError, match=r"input_specs\[0\] \('input_0'\).*max shape \[1099511627776, 8\].*"
                                         r"8796093022208 elements"):
        TRTModule().load_state_dict(state)


def test_the_bound_is_2_pow_26_elements_for_a_small_file(dynamic_trt, monkeypatch):
    def declare(n):
        def tamper(s):
            layer = _layer(s, "model/arange")
            layer["inputs"][0] = None
            layer["attrs"]["shape"] = (n,)
        return tamper
    TRTModule().load_state_dict(_tampered(dynamic_trt, declare(1 << 26)))   # declared only: nothing is allocated
    with pytest.raises(StateError, match=r"FILL layer 'model/arange'.*67108865 elements.*67108864.*"
                                         r"raise torch2trt.network.inspect.MIN_ELEMENT_BOUND"):
        TRTModule().load_state_dict(_tampered(dynamic_trt, declare((1 << 26) + 1)))
    monkeypatch.setattr("torch2trt.network.inspect.MIN_ELEMENT_BOUND", 1 << 27)   # the way to trust a big file
    TRTModule().load_state_dict(_tampered(dynamic_trt, declare((1 << 26) + 1)))


def _huge_resize_scale(s):
    _layer(s, "model/interpolate_nearest")["attrs"]["scales"] = [float(1 << 40), 1.0, 2.0]


def _huge_arange_length(s):
    # arange's length is (n - start + step - 1) // step in the network: constant_3 is the "+ step"
    assert _layer(s, "model/dim_add")["inputs"][1] == "model/constant_3_output"
    c = _layer(s, "model/constant_3")["weights"]
    c["weights"] = torch.full_like(c["weights"], 1 << 40)


@pytest.mark.parametrize("tamper, match", [
    (_huge_resize_scale, r"RESIZE layer 'model/interpolate_nearest': would allocate an output of shape "
                         r"\(1099511627776, 2, 4\): 8796093022208 elements, above the bound of 67108864"),
    (_huge_arange_length, r"FILL layer 'model/arange': would allocate an output of shape \(1099511627776,\): "
                          r"1099511627776 elements, above the bound of 67108864"),
], ids=["resize scale", "fill shape"])
def test_dynamic_size_beyond_the_bound_is_refused_at_call_before_allocating(dynamic_trt, tamper, match):
    # sizes on the dynamic batch axis cannot be checked at load: the executor refuses at run time, before
    # allocating (8 TB here: an attempted allocation would fail with another message)
    m = TRTModule()
    m.load_state_dict(_tampered(dynamic_trt, tamper))
    with pytest.warns(UserWarning, match="CPU reference executor"), pytest.raises(ReferenceError, match=match):
        m(torch.randn(1, 8))


def test_reference_bound_is_64_elements_per_byte_of_weights_and_inputs(monkeypatch):
    from torch2trt.network import inspect, reference
    from torch2trt.network.inspect import LayerRecord, NetworkRecord

    monkeypatch.setattr(inspect, "MIN_ELEMENT_BOUND", 1000)    # so that a small test reaches the per-byte part

    def record(k: int) -> NetworkRecord:   # FILL(LINSPACE) of k x the input's length: 256 + 8 bytes -> 16896
        shape = LayerRecord("SHAPE", "shape", inputs=["x"], outputs=["s"], output_dtypes=[torch.int64],
                            output_shapes=[(1,)])
        const = LayerRecord("CONSTANT", "k", attrs={"shape": (1,)}, weights={"weights": torch.tensor([k])},
                            outputs=["k"], output_dtypes=[torch.int64], output_shapes=[(1,)])
        mul = LayerRecord("ELEMENTWISE", "mul", attrs={"op": "PROD"}, inputs=["s", "k"], outputs=["n"],
                          output_dtypes=[torch.int64], output_shapes=[(1,)], enums={"op": "ElementWiseOperation"})
        fill = LayerRecord("FILL", "fill", attrs={"operation": "LINSPACE", "alpha": 0.0, "beta": 1.0},
                           inputs=["n"], outputs=["y"], output_dtypes=[torch.float32], output_shapes=[(-1,)])
        return NetworkRecord([("x", torch.float32, (-1,))], ["y"], [shape, const, mul, fill])

    x = torch.zeros(64)
    assert torch.equal(reference.run(record(264), {"x": x})["y"], torch.arange(16896, dtype=torch.float32))
    with pytest.raises(ReferenceError, match=r"FILL layer 'fill': would allocate an output of shape \(16960,\): "
                                             r"16960 elements, above the bound of 16896"):
        reference.run(record(265), {"x": x})


def test_a_saved_output_class_name_imports_only_transformers_model_outputs():
    import sys

    from torch2trt import structure

    t = [torch.ones(1)]
    for name in ("os:system", "subprocess:Popen", "transformers.activations:GELUActivation",
                 "transformers.no_such_module:X", "transformers", 3):
        schema = {"kind": "dict", "keys": ["a"], "items": [{"kind": "tensor", "index": 0}], "class": name}
        if isinstance(name, str):
            out = structure.unflatten(schema, t)
            assert type(out) is dict and out["a"] is t[0]
        else:
            with pytest.raises(ValueError, match="'class' must be a str"):
                structure.validate(schema)
    assert "transformers.no_such_module" not in sys.modules
