"""Hostile or inconsistent input (issue #24 item 5): each case ends in an error of torch2trt's own classes that names
what was wrong and what was expected, at the earliest point it can be seen — never a raw TypeError/ValueError/
KeyError from inside, and never at a later call.

1. a tampered `fallback_meta` in a fallback hybrid's state: StateError at load_fallback, naming the field;
2. the engine of one conversion with the network records of another in one state: StateError at load;
3. calibration items of another structure, dtype or channel count: InputError naming the item, before it runs;
4. meta-device, sparse, quantized and nested tensors as conversion samples or call inputs: InputError naming the
   input; meta or sparse parameters and buffers of the model: ConversionError naming them.
"""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
import torch.nn as nn

from torch2trt import ConversionError, InputError, StateError, TRTModule, load_fallback, torch2trt
from torch2trt.fallback import TRTPart
from torch2trt.runtime.saved import state_digest


@pytest.fixture(autouse=True)
def _quiet_reference_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TRTModule: running the network with the CPU reference")
        yield


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


# ---- 1. fallback_meta ------------------------------------------------------------------------------------------

class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, scale):
        return self.lin(x) * scale


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x)


class Hybrid(nn.Module):
    """a: a plain TensorRT part; lgamma in the root's forward (PyTorch); b: a TensorRT part called with a keyword
    argument (kw_keys ['scale'])."""

    def __init__(self):
        super().__init__()
        self.a = Pair()
        self.b = Scaled()

    def forward(self, x):
        return self.b(torch.lgamma(self.a(x).abs() + 1.0), scale=torch.full((1,), 0.5))


def _hybrid_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return Hybrid().eval()


@pytest.fixture(scope="module")
def hybrid_state():
    x = torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TRTModule: running the network with the CPU reference")
        hybrid = torch2trt(_hybrid_model(), [x], fallback=True)
    kinds = {p.path: p.kind for p in hybrid.fallback_report()}
    assert kinds == {"": "PyTorch", "a": "TensorRT", "b": "TensorRT"}
    return _roundtrip(hybrid.state_dict())


def _meta_tampered(state: dict, tamper) -> dict:
    state = copy.deepcopy(state)
    tamper(state["fallback_meta"])
    return state


def _part(meta: dict, path: str) -> dict:
    return next(p for p in meta["parts"] if p["path"] == path)


def _set(path: str, key: str, value):
    return lambda meta: _part(meta, path).__setitem__(key, value)


META_TAMPERS = {
    "path a list": (_set("a", "path", ["a"]), r"fallback_meta: parts\[1\]\.path must be a str, got \['a'\]"),
    "ordered on a tensor part": (_set("a", "ordered", True),
                                 r"fallback_meta: parts\[1\] \('a'\): ordered=True but its engine returns a tensor"),
    "ordered not a bool": (_set("a", "ordered", "yes"), r"parts\[1\]\.ordered must be a bool, got 'yes'"),
    "keeps_torch not a bool": (_set("b", "keeps_torch", 1), r"parts\[2\]\.keeps_torch must be a bool, got 1"),
    "kind unknown": (_set("a", "kind", "TRT"), r"parts\[1\]\.kind must be 'TensorRT' or 'PyTorch', got 'TRT'"),
    "parameters a str": (_set("a", "parameters", "20"), r"parts\[1\]\.parameters must be an int >= 0, got '20'"),
    "parameters negative": (_set("a", "parameters", -1), r"parts\[1\]\.parameters must be an int >= 0, got -1"),
    "share out of range": (_set("a", "share", 2.5), r"parts\[1\]\.share must be a number in \[0, 1\], got 2.5"),
    "reason not a str": (_set("", "reason", None), r"parts\[0\]\.reason must be a str, got None"),
    "unknown part key": (_set("a", "engine_path", "/tmp/x"), r"parts\[1\] has unknown key\(s\) 'engine_path'; "),
    "missing path": (lambda meta: _part(meta, "a").pop("path"), r"parts\[1\] has no 'path'"),
    "part not a dict": (lambda meta: meta["parts"].__setitem__(1, "a"), r"parts\[1\] must be a dict, got str"),
    "parts not a list": (lambda meta: meta.__setitem__("parts", {"a": 1}), r"fallback_meta: parts must be a list"),
    "unknown meta key": (lambda meta: meta.__setitem__("engine", b"x"), r"fallback_meta has unknown key\(s\) "
                                                                         r"'engine'; it holds"),
    "model_class not a str": (lambda meta: meta.__setitem__("model_class", 3), r"model_class must be a str, got 3"),
    "path not in the model": (_set("", "path", "head"), r"parts\[0\]\.path 'head' is not a module of the model"),
    "trt path not in the model": (_set("a", "path", "a.lin.x"), r"parts\[1\]\.path 'a.lin.x' is not a module"),
    "path twice": (_set("b", "path", "a"), r"parts\[2\]\.path 'a' is listed twice"),
    "trt part inside a trt part": (lambda meta: meta["parts"].append(dict(_part(meta, "a"), path="a.lin")),
                                   r"parts\[3\]: TensorRT part 'a.lin' lies inside TensorRT part 'a'"),
    "PyTorch part inside a trt part": (lambda meta: meta["parts"].append(dict(_part(meta, ""), path="b.lin")),
                                       r"parts\[3\]: PyTorch part 'b.lin' lies inside TensorRT part 'b'"),
    "format_version a bool": (lambda meta: meta.__setitem__("format_version", True),
                              r"fallback_meta: unknown format True"),
    "kw_keys not a list": (_set("b", "kw_keys", "scale"), r"parts\[2\]\.kw_keys must be None or a list of distinct "
                                                          r"str, got 'scale'"),
    "kw_keys not the engine's": (_set("b", "kw_keys", ["shift"]),
                                 r"parts\[2\] \('b'\): kw_keys \['shift'\] but its engine takes the keyword "
                                 r"argument\(s\) \['scale'\]"),
    "kw_keys on a call without": (_set("a", "kw_keys", ["scale"]),
                                  r"parts\[1\] \('a'\): kw_keys \['scale'\] but its engine takes no keyword"),
    "flags on a PyTorch part": (_set("", "keeps_torch", True),
                                r"parts\[0\] \(''\): keeps_torch, ordered, kw_keys and profile belong to TensorRT "
                                r"parts; this one is a PyTorch part"),
    "profile malformed": (_set("a", "profile", [[2, 4]]), r"parts\[1\]\.profile must be None or a list of "
                                                          r"\[min, opt, max\] shapes"),
    "profile count": (_set("a", "profile", []), r"parts\[1\] \('a'\): profile has 0 entries but its engine has "
                                                r"1 input tensor"),
}


@pytest.mark.parametrize("case", sorted(META_TAMPERS))
def test_tampered_fallback_meta_fails_at_load_naming_the_field(hybrid_state, case):
    tamper, match = META_TAMPERS[case]
    with pytest.raises(StateError, match=match):
        load_fallback(_hybrid_model(1), _meta_tampered(hybrid_state, tamper))


def test_a_deeply_nested_meta_value_is_named_without_recursing(hybrid_state):
    deep = "why"
    for _ in range(20_000):
        deep = [deep]
    state = copy.deepcopy(hybrid_state)
    _part(state["fallback_meta"], "")["reason"] = deep
    with pytest.raises(StateError, match=r"parts\[0\]\.reason must be a str, got \[+\.\.\.\]+$"):
        load_fallback(_hybrid_model(1), state)


def test_the_untampered_hybrid_state_loads_and_runs(hybrid_state):
    model = _hybrid_model()
    loaded = load_fallback(_hybrid_model(1), copy.deepcopy(hybrid_state))
    assert isinstance(loaded.model.a, TRTPart) and loaded.model.b.kw_keys == ["scale"]
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-4, atol=1e-5)


def test_a_hybrid_state_without_the_later_optional_fields_still_loads(hybrid_state):
    """keeps_torch / ordered / profile / kw_keys were added over time: a part without them takes their defaults."""
    def drop(meta):
        for p in meta["parts"]:
            for key in ("ordered", "profile", "keeps_torch", "seconds"):
                p.pop(key)
    loaded = load_fallback(_hybrid_model(1), _meta_tampered(hybrid_state, drop))
    assert [p.ordered for p in loaded.fallback_report()] == [False, False, False]


def test_an_ordered_dict_part_still_loads_with_ordered_true():
    from collections import OrderedDict

    class Features(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            y = self.lin(x)
            return OrderedDict([("b", y), ("a", y * 2)])

    class Uses(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = Features()

        def forward(self, x):
            f = self.features(x)
            return torch.lgamma(f["a"].abs() + 1) + f["b"]

    torch.manual_seed(0)
    model = Uses().eval()
    hybrid = torch2trt(model, [torch.randn(2, 4)], fallback=True)
    state = _roundtrip(hybrid.state_dict())
    assert _part(state["fallback_meta"], "features")["ordered"] is True
    loaded = load_fallback(Uses().eval(), state)
    x = torch.randn(2, 4)
    with torch.no_grad():
        assert type(loaded.model.features(x)) is OrderedDict
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-4, atol=1e-5)


# ---- 2. engine and network records of different conversions -----------------------------------------------------

def _linear(seed: int, relu: bool = False) -> TRTModule:
    """Models with the same I/O names, shapes and dtypes: only their weights (or one layer) differ."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU() if relu else nn.Identity()).eval()
    return torch2trt(model, [torch.randn(2, 8)])


@pytest.fixture(scope="module")
def two_linears():
    return _linear(0), _linear(1, relu=True)


def _redigest(state: dict) -> dict:
    state["state_sha256"] = state_digest(state)
    return state


def test_the_engine_of_one_model_with_the_records_of_another_is_refused(two_linears):
    a, b = two_linears
    sa, sb = _roundtrip(a.state_dict()), _roundtrip(b.state_dict())
    assert sa["input_names"] == sb["input_names"] and sa["output_specs"] == sb["output_specs"]
    mixed = _redigest(dict(sa, engine=sb["engine"]))
    with pytest.raises(StateError, match=r"'engine' and 'network' come from different conversions \(their "
                                         r"engine_network_sha256 does not match\)"):
        TRTModule().load_state_dict(mixed)
    mixed = _redigest(dict(sa, network=sb["network"]))
    with pytest.raises(StateError, match=r"'engine' and 'network' come from different conversions"):
        TRTModule().load_state_dict(mixed)
    for state in (sa, sb):      # each one as saved loads
        TRTModule().load_state_dict(state)


def test_the_pairing_digest_is_required_and_checked_in_format_2(two_linears):
    a, _ = two_linears
    state = _roundtrip(a.state_dict())
    assert state["format_version"] == 2 and isinstance(state["engine_network_sha256"], str)
    missing = _redigest({k: v for k, v in state.items() if k != "engine_network_sha256"})
    with pytest.raises(StateError, match=r"format 2 state with an engine and a network has no "
                                         r"'engine_network_sha256'"):
        TRTModule().load_state_dict(missing)
    no_network = _redigest({k: v for k, v in state.items() if k != "network"})
    with pytest.raises(StateError, match=r"'engine_network_sha256' but no 'network'"):
        TRTModule().load_state_dict(no_network)
    no_engine = _redigest(dict(state, engine=torch.zeros(0, dtype=torch.uint8)))
    with pytest.raises(StateError, match=r"'engine_network_sha256' but no engine"):
        TRTModule().load_state_dict(no_engine)
    wrong_type = _redigest(dict(state, engine_network_sha256=7))
    with pytest.raises(StateError, match=r"'engine_network_sha256' should be str, got int"):
        TRTModule().load_state_dict(wrong_type)


def test_a_format_1_state_without_the_pairing_digest_loads_and_is_checked_by_names(two_linears):
    """Files written before the digest (format 1) load as before: the engine is paired with the records by the
    I/O names it stores, which is all a format 1 file can tell."""
    a, b = two_linears
    old = _roundtrip(a.state_dict())
    old.pop("engine_network_sha256")
    old["format_version"] = 1
    m = TRTModule()
    m.load_state_dict(_redigest(old))
    x = torch.randn(2, 8)
    torch.testing.assert_close(m(x), a(x), rtol=0, atol=0)
    renamed = torch2trt(nn.Linear(8, 4).eval(), [x], input_names=["image"], output_names=["logits"])
    mixed = _redigest(dict(old, engine=_roundtrip(renamed.state_dict())["engine"]))
    with pytest.raises(StateError, match=r"'engine' has no tensor named 'input_0'"):
        TRTModule().load_state_dict(mixed)


def test_a_module_saved_without_records_or_engine_has_no_pairing_digest():
    x = torch.randn(2, 8)
    no_records = torch2trt(nn.Linear(8, 4).eval(), [x], portable=False)
    state = no_records.state_dict()
    assert "network" not in state and "engine_network_sha256" not in state
    TRTModule().load_state_dict(_roundtrip(state))


# ---- 3. calibration items ---------------------------------------------------------------------------------------

class Counted(nn.Module):
    def __init__(self, cin: int = 4):
        super().__init__()
        self.lin = nn.Linear(cin, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


CALIB_CASES = {
    "channels": ([torch.randn(2, 5)], r"int8_calib_dataset item 1: input 0 has shape \(2, 5\); expected the "
                                      r"sample's \(2, 4\) \(axis 1 must be 4\)"),
    "rank": ([torch.randn(2, 4, 1)], r"item 1: input 0 has shape \(2, 4, 1\); expected the sample's \(2, 4\) "
                                     r"\(rank 2\)"),
    "dtype": ([torch.randn(2, 4, dtype=torch.float64)], r"item 1: input 0 has dtype torch.float64; expected the "
                                                        r"sample's torch.float32"),
    "more inputs": ([torch.randn(2, 4), torch.randn(2, 4)], r"item 1 does not have the sample's structure: "
                                                            r"the call: expected 1 argument"),
    "dict for a tensor": ([{"x": torch.randn(2, 4)}], r"item 1 does not have the sample's structure: argument 0: "
                                                      r"expected a tensor, got dict"),
    "not a tensor": (["image.png"], r"item 1 does not have the sample's structure: argument 0: expected a tensor, "
                                    r"got str"),
}


class Reiterable:
    """A dataset that is iterated afresh each pass and has no len() (like a DataLoader): items checked one by one."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


@pytest.mark.parametrize("case", sorted(CALIB_CASES))
def test_a_calibration_item_unlike_the_sample_is_refused_before_it_runs(case):
    bad, match = CALIB_CASES[case]
    torch.manual_seed(0)
    model = Counted().eval()
    x = torch.randn(2, 4)
    for data, runs in (([[x], bad], 0),                        # a list: every item is checked before any runs
                       ((item for item in [[x], bad]), 0),     # a one-shot iterator is read into a list
                       (Reiterable([[x], bad]), 1)):           # item by item: item 0 ran, item 1 never did
        model.calls = 0
        with pytest.raises(InputError, match=match):
            torch2trt(model, [x], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="max",
                      quantize_target="tensorrt")
        assert model.calls == runs
    model.calls = 0
    with pytest.raises(InputError, match=match.replace("item 1", "item 0")):
        torch2trt(model, [x], int8_mode=True, int8_calib_dataset=Reiterable([bad]), quantize_target="tensorrt")
    assert model.calls == 0


def test_calibration_items_may_differ_from_the_sample_in_batch_and_on_dynamic_axes():
    torch.manual_seed(0)
    model = Counted().eval()
    x = torch.randn(2, 4)
    data = [[torch.randn(8, 4)], [torch.randn(1, 4)]]     # another batch: ranges do not depend on it
    model_trt = torch2trt(model, [x], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="max",
                          quantize_target="tensorrt")
    assert model_trt.input_specs[0].min == [2, 4]

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(3, 2, 1)

        def forward(self, x):
            return self.conv(x)

    seq = Seq().eval()
    y = torch.randn(1, 3, 6)
    data = [[torch.randn(1, 3, 4)], [torch.randn(2, 3, 9)]]  # axis 2 is dynamic in the profile
    torch2trt(seq, [y], int8_mode=True, int8_calib_dataset=data, int8_calib_algorithm="max",
              quantize_target="tensorrt", min_shapes=[(1, 3, 2)], max_shapes=[(1, 3, 10)])
    with pytest.raises(InputError, match=r"item 1: input 0 has shape \(2, 2, 9\); expected the sample's \(1, 3, 6\) "
                                         r"\(axis 1 must be 3\)"):
        torch2trt(seq, [y], int8_mode=True, int8_calib_dataset=[data[0], [torch.randn(2, 2, 9)]],
                  int8_calib_algorithm="max", quantize_target="tensorrt", min_shapes=[(1, 3, 2)],
                  max_shapes=[(1, 3, 10)])


# ---- 4. meta, sparse, quantized and nested tensors ---------------------------------------------------------------

class Lin(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        if isinstance(x, dict):
            return self.lin(x["a"]) + self.lin(x["b"])
        return self.lin(x)


def _x():
    return torch.randn(2, 4, generator=torch.Generator().manual_seed(2))


ODD_TENSORS = {
    "meta": (lambda x: x.to("meta"), r"is on the meta device \(it holds no values\)"),
    "sparse_coo": (lambda x: x.to_sparse(), r"is a sparse tensor \(layout torch.sparse_coo\)"),
    "sparse_csr": (lambda x: x.to_sparse_csr(), r"is a sparse tensor \(layout torch.sparse_csr\)"),
    "quantized": (lambda x: torch.quantize_per_tensor(x, 0.1, 0, torch.qint8), r"is a quantized tensor "
                                                                                r"\(dtype torch.qint8\)"),
    "nested": (lambda x: torch.nested.nested_tensor([x[0], x[1, :3]]), r"is a nested tensor"),
    "nested_jagged": (lambda x: torch.nested.nested_tensor([x[:1], x[:2]], layout=torch.jagged),
                      r"is a nested tensor"),
}


@pytest.mark.parametrize("kind", sorted(ODD_TENSORS))
def test_an_odd_tensor_as_the_sample_is_an_input_error_naming_the_input(kind):
    make, what = ODD_TENSORS[kind]
    model = Lin().eval()
    with pytest.raises(InputError, match=rf"input 'input_0' \(inputs\[0\]\) {what}"):
        torch2trt(model, [make(_x())])
    with pytest.raises(InputError, match=rf"input 'image' \(inputs\[0\]\['b'\]\) {what}"):
        torch2trt(model, [{"a": _x(), "b": make(_x())}], input_names=["features", "image"])
    with pytest.raises(InputError, match=rf"input 'input_1' \(inputs\[0\]\['b'\]\) {what}"):
        torch2trt(model, [{"a": _x(), "b": make(_x())}], fallback=True)


@pytest.fixture(scope="module")
def lin_trt():
    torch.manual_seed(0)
    return torch2trt(Lin().eval(), [_x()])


@pytest.mark.parametrize("kind", sorted(ODD_TENSORS))
def test_an_odd_tensor_as_a_call_input_is_an_input_error_naming_the_input(lin_trt, kind):
    make, what = ODD_TENSORS[kind]
    with pytest.raises(InputError, match=rf"input 'input_0' {what}"):
        lin_trt(make(_x()))
    with pytest.raises(InputError, match=rf"input 'input_0' {what}"):
        lin_trt.run_reference(make(_x()))
    torch.testing.assert_close(lin_trt(_x()), lin_trt.run_reference(_x()))


def test_meta_parameters_and_buffers_are_a_conversion_error_naming_them():
    model = Lin().eval().to("meta")
    with pytest.raises(ConversionError, match=r"parameter 'lin.weight' is on the meta device \(it holds no values\)"
                                              r".*\(and 1 more\)"):
        torch2trt(model, [_x()])
    with pytest.raises(ConversionError, match=r"parameter 'lin.weight' is on the meta device"):
        torch2trt(model, [_x()], fallback=True)

    class WithBuffer(Lin):
        def __init__(self):
            super().__init__()
            self.register_buffer("offset", torch.zeros(3, device="meta"))

    with pytest.raises(ConversionError, match=r"buffer 'offset' is on the meta device"):
        torch2trt(WithBuffer().eval(), [_x()])


class SparseWeight(nn.Module):
    def __init__(self, dense: bool):
        super().__init__()
        self.dense = dense
        self.w = nn.Parameter(torch.randn(4, 3).to_sparse())
        self.register_buffer("b", torch.randn(2, 3).to_sparse())

    def forward(self, x):
        if self.dense:
            return x @ self.w.to_dense() + self.b.to_dense()
        return x @ self.w + self.b


def test_a_sparse_parameter_used_as_is_is_a_conversion_error_naming_the_call():
    model = SparseWeight(dense=False).eval()
    with pytest.raises(ConversionError, match=r"a sparse tensor \(layout torch.sparse_coo, shape \(4, 3\)\) cannot "
                                              r"become a TensorRT constant; make it dense in the model"):
        torch2trt(model, [_x()])


def test_a_sparse_parameter_densified_in_forward_still_converts():
    torch.manual_seed(0)
    model = SparseWeight(dense=True).eval()
    x = _x()
    model_trt = torch2trt(model, [x])
    torch.testing.assert_close(model_trt(x), model(x), rtol=1e-5, atol=1e-6)
