"""The saved format (torch2trt/runtime/saved.py): files written by earlier versions load, the state_dict keeps its
keys and plain values, and a module holding only the saved records (no engine) runs and is checked on the CPU."""

from pathlib import Path

import pytest
import torch

import torch2trt
from torch2trt import TRTModule

FIXTURE = Path(__file__).parent / "data" / "trtmodule_format1_records_only.pt"


class _Model(torch.nn.Module):
    """The model tests/data/trtmodule_format1_records_only.pt was converted from (format 1, engine removed, axis 0
    of the first input from 1 to 5): fixed weights, nested inputs and a dict of outputs."""

    def __init__(self, bias=(0.25, -0.5, 1.0)):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        with torch.no_grad():
            self.lin.weight.copy_(torch.arange(12.).reshape(3, 4) / 7 - 0.5)
            self.lin.bias.copy_(torch.tensor(bias))

    def forward(self, x, d):
        return {"y": torch.relu(self.lin(x)) * d["scale"], "n": x.sum(-1)}


FORMAT_1_KEYS = ["format_version", "backend", "backend_version", "engine", "input_names", "output_names",
                 "input_schema", "output_schema", "input_specs", "output_specs", "build_settings", "network",
                 "state_sha256"]
# format 2 adds the digest that pairs the engine with the network records saved with it
FORMAT_2_KEYS = FORMAT_1_KEYS[:-1] + ["engine_network_sha256", "state_sha256"]


def _loaded() -> TRTModule:
    return torch2trt.load(FIXTURE)


def test_a_file_saved_by_format_1_loads_with_its_names_specs_and_schemas():
    m = _loaded()
    assert m.engine_bytes == b"" and m.network_record is not None
    assert m.input_names == ["input_0", "input_1"] and m.output_names == ["output_0", "output_1"]
    spec = m.input_specs[0]
    assert (spec.name, spec.dtype, spec.min, spec.opt, spec.max) == ("input_0", torch.float32, [1, 4], [2, 4], [5, 4])
    assert [(s.name, s.dtype, s.shape) for s in m.output_specs] == [("output_0", torch.float32, [-1, 3]),
                                                                    ("output_1", torch.float32, [-1])]


@pytest.mark.parametrize("batch", [1, 4, 5])
def test_a_format_1_file_runs_on_the_cpu_reference_path_like_pytorch(batch):
    m, model = _loaded(), _Model().eval()
    x, d = torch.randn(batch, 4), {"scale": torch.tensor(-0.75)}
    with pytest.warns(UserWarning, match="CPU reference executor"):
        got = m(x, d)
    want = model(x, d)
    assert set(got) == {"y", "n"}
    for k in want:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)


def test_run_reference_is_public_takes_the_call_arguments_and_gives_the_model_structure():
    m, model = _loaded(), _Model().eval()
    x, d = torch.randn(3, 4), {"scale": torch.tensor(2.0)}
    got = m.run_reference(x, d)
    want = model(x, d)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
    with pytest.raises(torch2trt.InputError, match="axis 0"):
        m.run_reference(torch.randn(6, 4), d)


def test_check_works_on_a_module_holding_only_the_saved_records():
    m = _loaded()
    x, d = torch.randn(2, 4), {"scale": torch.tensor(1.5)}
    report = torch2trt.check(_Model().eval(), [x, d], model_trt=m, verbose=False)
    assert report.model_trt is m
    assert len(report.runs) == 4   # the sample, then the profile's min, opt and max
    assert [tuple(r.inputs[0].shape) for r in report.runs[1:]] == [(1, 4), (2, 4), (5, 4)]
    assert all(r.executor == "reference" and not r.skipped for r in report.runs)
    assert [o.name for o in report.outputs] == ["output_0", "output_1"] and report.max_rel <= 1e-6
    # another model (other bias) differs: the check compares, it does not just run
    other = torch2trt.check(_Model(bias=(0.25, -0.5, 3.0)).eval(), [x, d], model_trt=m, verbose=False)
    assert other.outputs[0].rel > 0.1 and other.outputs[1].rel == 0


def test_check_refuses_conversion_arguments_with_a_converted_module():
    with pytest.raises(TypeError, match="model_trt"):
        torch2trt.check(_Model().eval(), [torch.randn(2, 4), {"scale": torch.tensor(1.0)}], model_trt=_loaded(),
                        dtype=torch.float16)


def test_state_dict_keeps_the_format_2_keys_and_plain_values():
    x, d = torch.randn(2, 4), {"scale": torch.tensor(1.5)}
    m = torch2trt.torch2trt(_Model().eval(), [x, d], max_shapes=[(3, 4), None], min_shapes=[(1, 4), None])
    state = m.state_dict()
    assert list(state) == FORMAT_2_KEYS and state["format_version"] == 2
    assert state["input_specs"] == [
        {"name": "input_0", "dtype": "float32", "min": [1, 4], "opt": [2, 4], "max": [3, 4]},
        {"name": "input_1", "dtype": "float32", "min": [], "opt": [], "max": []}]
    assert state["output_specs"] == [{"name": "output_0", "dtype": "float32", "shape": [-1, 3]},
                                     {"name": "output_1", "dtype": "float32", "shape": [-1]}]
    assert state["build_settings"] == {"max_workspace_size": None, "dtype": None}
    assert state["engine"].dtype == torch.uint8 and state["engine"].numel() == len(m.engine_bytes) > 1000
    again = TRTModule()
    again.load_state_dict(state)
    assert again.input_specs == m.input_specs and again.output_specs == m.output_specs
    assert again.state_dict()["state_sha256"] == state["state_sha256"]


def test_engine_runnable_is_a_pure_query(monkeypatch):
    """Where an engine could run, a module with no engine can rebuild one: the query says so and changes nothing
    (the rebuild happens when the engine is first needed)."""
    import warnings

    from torch2trt import backend

    m = _loaded()
    monkeypatch.setattr(backend, "engine_runnable_here", lambda: (True, ""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m._engine_runnable() == (True, "")
        assert m._engine_runnable() == (True, "")
    assert m.engine_bytes == b"" and m.backend_name == "tensorrt_rtx"
