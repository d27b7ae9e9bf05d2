"""TRTModule: input checks, engine binding logic, CPU fallback, and saving/loading its state."""

import io
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn as nn

from torch2trt import InputError, StateError, TRTModule, TRTModuleError, torch2trt, trt
from torch2trt.network import reference


@pytest.fixture(scope="module")
def model_trt():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    return torch2trt(model, [torch.randn(2, 3, 8, 8)])


@pytest.mark.parametrize("args, match", [
    ((), r"expected 1 input tensor\(s\) \(input_0\).*got 0"),
    ((torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)), r"expected 1 input tensor.*got 2"),
    ((torch.randn(2, 3, 8, 8).half(),), r"input 'input_0' has dtype torch.float16; the engine expects torch.float32"),
    ((torch.randn(3, 8, 8),), r"input 'input_0' has rank 3 .*expects rank 4"),
    ((torch.randn(3, 3, 8, 8),), r"input 'input_0' has size 3 on axis 0 .*allows exactly 2"),
])
def test_inputs_that_do_not_match_the_engine_are_refused(model_trt, args, match):
    with pytest.raises(InputError, match=match):
        model_trt(*args)


def test_input_on_wrong_device_is_refused_when_the_engine_can_run(model_trt, monkeypatch):
    monkeypatch.setattr(TRTModule, "_engine_runnable", lambda self: (True, ""))
    with pytest.raises(InputError, match=r"input 'input_0' is on cpu; the engine runs on CUDA"):
        model_trt(torch.randn(2, 3, 8, 8))


def test_no_gpu_and_no_network_gives_an_error_that_says_why():
    model = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)], keep_network=False, portable=False)
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(TRTModuleError, match=r"cannot run here: no CUDA device.*portable=True"):
        m(torch.randn(2, 3, 8, 8))


class FakeEngine:
    def get_tensor_dtype(self, name):
        return trt.float32


class FakeContext:
    """Test double of IExecutionContext: records bindings instead of running on a GPU."""

    def __init__(self):
        self.shapes, self.addresses, self.streams = {}, {}, []

    def set_input_shape(self, name, shape):
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def get_tensor_shape(self, name):
        n, _, h, w = self.shapes["input_0"]
        return (n, 4, h - 2, w - 2)

    def execute_async_v3(self, stream):
        self.streams.append(stream)
        return True


def test_engine_binding_uses_names_shapes_dtypes_addresses_and_stream(model_trt):
    """Uses a test double of the execution context (no GPU here): checks what TRTModule binds."""
    m = model_trt
    m._engine, m._context = FakeEngine(), FakeContext()
    x = torch.randn(2, 3, 8, 8).transpose(2, 3)  # non-contiguous: must be bound as a contiguous copy
    try:
        (out,) = m._execute([x], torch.device("cpu"), stream_handle=1234)
        ctx = m._context
        assert ctx.shapes == {"input_0": (2, 3, 8, 8)}
        assert ctx.addresses["input_0"] == m._inflight[0].data_ptr() and m._inflight[0].is_contiguous()
        assert ctx.addresses["output_0"] == out.data_ptr()
        assert out.shape == (2, 4, 6, 6) and out.dtype == torch.float32
        assert ctx.streams == [1234]
    finally:
        m._engine = m._context = None


def test_execute_failure_raises(model_trt):
    """Uses a test double of the execution context whose enqueue fails."""
    m = model_trt
    ctx = FakeContext()
    ctx.execute_async_v3 = lambda stream: False
    m._engine, m._context = FakeEngine(), ctx
    try:
        with pytest.raises(TRTModuleError, match="execute_async_v3 failed"):
            m._execute([torch.randn(2, 3, 8, 8)], torch.device("cpu"), 0)
    finally:
        m._engine = m._context = None


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_state_dict_loads_with_weights_only_and_restores_the_module(model_trt):
    state = _roundtrip(model_trt.state_dict())
    assert state["engine"].dtype == torch.uint8 and state["format_version"] == 2
    loaded = TRTModule()
    loaded.load_state_dict(state)
    assert loaded.engine_bytes == model_trt.engine_bytes
    assert loaded.input_names == model_trt.input_names and loaded.output_names == model_trt.output_names
    assert loaded.input_specs == model_trt.input_specs and loaded.output_schema == model_trt.output_schema
    with pytest.raises(InputError, match="has size 3 on axis 0"):
        loaded(torch.randn(3, 3, 8, 8))  # the profile survived the round trip


def test_nested_trt_module_state_respects_prefixes(model_trt):
    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.head = nn.Linear(2, 2)
            self.body = inner

    state = _roundtrip(Wrapper(model_trt).state_dict())
    assert "body.engine" in state and "head.weight" in state
    restored = Wrapper(TRTModule())
    restored.load_state_dict(state)
    assert restored.body.engine_bytes == model_trt.engine_bytes
    assert restored.body.input_specs == model_trt.input_specs


@pytest.mark.parametrize("corrupt, match", [
    (lambda s: s.pop("engine"), r"no 'engine' entry"),
    (lambda s: s.__setitem__("engine", "not a tensor"), r"'engine' should be Tensor"),
    (lambda s: s.__setitem__("format_version", 99), r"format version 99.*Upgrade torch2trt"),
    (lambda s: s.__setitem__("input_names", ["a", "a"]), r"'input_names' must be a list of distinct names"),
    (lambda s: s["input_specs"][0].__setitem__("dtype", "float128"), r"unknown dtype 'float128'"),
    (lambda s: s["input_specs"][0].__setitem__("min", [9, 9, 9, 9]), r"min <= opt <= max"),
    (lambda s: s.__setitem__("output_schema", {"kind": "weird"}), r"unknown kind 'weird'"),
])
def test_corrupt_state_gives_a_clear_error(model_trt, corrupt, match):
    state = _roundtrip(model_trt.state_dict())
    corrupt(state)
    with pytest.raises(StateError, match=match):
        TRTModule().load_state_dict(state)


def test_backend_selection_errors_name_the_fix():
    code = "import torch2trt"
    bad = subprocess.run([sys.executable, "-c", code], env={"TORCH2TRT_BACKEND": "nope", "PATH": ""},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "TORCH2TRT_BACKEND='nope' is not a backend" in bad.stderr
    missing = subprocess.run([sys.executable, "-c", code], env={"TORCH2TRT_BACKEND": "tensorrt", "PATH": ""},
                             capture_output=True, text=True)
    if missing.returncode == 0:
        pytest.skip("tensorrt is installed here")
    assert "pip install" in missing.stderr and "tensorrt" in missing.stderr


def test_backend_forced_rtx_is_used():
    out = subprocess.run([sys.executable, "-c", "from torch2trt import backend; print(backend.NAME)"],
                         env={"TORCH2TRT_BACKEND": "tensorrt_rtx", "PATH": ""}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "tensorrt_rtx"


def test_a_flipped_byte_in_a_name_is_detected(model_trt):
    state = _roundtrip(model_trt.state_dict())
    state["input_names"] = ["inpuu_0"]  # what a flipped byte in the file gives: torch.save has no checksum
    with pytest.raises(StateError, match=r"corrupt \(its sha256 does not match"):
        TRTModule().load_state_dict(state)


def test_an_engine_blob_that_is_not_an_engine_is_refused(model_trt):
    from torch2trt.runtime.saved import state_digest

    state = _roundtrip(model_trt.state_dict())
    state["engine"] = torch.randint(0, 255, (5000,), dtype=torch.uint8)
    state["state_sha256"] = state_digest(state)  # consistent file, wrong content
    with pytest.raises(StateError, match=r"'engine' is not a serialized tensorrt_rtx engine"):
        TRTModule().load_state_dict(state)
    state["engine"] = torch.frombuffer(bytearray(model_trt.engine_bytes[:-100]), dtype=torch.uint8)
    state["state_sha256"] = state_digest(state)
    with pytest.raises(StateError, match=r"recorded size does not match"):
        TRTModule().load_state_dict(state)


def test_load_wraps_unreadable_files(tmp_path, model_trt):
    import torch2trt

    path = tmp_path / "m.pth"
    torch.save(model_trt.state_dict(), path)
    loaded = torch2trt.load(str(path))
    assert loaded.engine_bytes == model_trt.engine_bytes
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(StateError, match=r"cannot read .*m.pth as a saved TRTModule"):
        torch2trt.load(str(path))
    torch.save([1, 2], path)
    with pytest.raises(StateError, match=r"holds a list, not a TRTModule state_dict"):
        torch2trt.load(str(path))


def test_loaded_portable_module_runs_the_reference_path_and_portable_false_saves_engine_only(model_trt):
    torch.manual_seed(1)
    state = _roundtrip(model_trt.state_dict())
    assert "network" in state and state["network"]["layers"]
    loaded = TRTModule()
    loaded.load_state_dict(state)
    x = torch.randn(2, 3, 8, 8)
    with pytest.warns(UserWarning, match="CPU reference executor"):
        y = loaded(x)
    expected = reference.run(model_trt.network, {"input_0": x})["output_0"]
    assert torch.equal(y, expected)
    engine_only = torch2trt(nn.Sequential(nn.Conv2d(3, 4, 3)).eval(), [x], portable=False)
    assert "network" not in engine_only.state_dict()


def test_malformed_network_record_is_a_state_error(model_trt):
    from torch2trt.runtime.saved import state_digest

    state = _roundtrip(model_trt.state_dict())
    state["network"] = {"format": 7}
    state["state_sha256"] = state_digest(state)
    with pytest.raises(StateError, match=r"saved 'network' is malformed"):
        TRTModule().load_state_dict(state)


def test_the_module_holds_no_network_unless_asked_and_replays_one_from_its_records_on_demand():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    m = torch2trt(model, [x], verify=False)
    assert m._network is None and m._network_keepalive is None    # nothing of the builder's is kept
    assert m.network_record is not None
    net = m.network                                                 # asked for: replayed from the records
    assert [net.get_layer(i).type.name for i in range(net.num_layers)] == [r.type for r in m.network_record.layers]
    assert tuple(net.get_input(0).shape) == (1, 3, 8, 8)
    kept = torch2trt(model, [x], verify=False, keep_network=True)
    assert kept._network is not None and kept._network_keepalive is not None
    bare = torch2trt(model, [x], verify=False, portable=False)
    assert bare.network is None and bare.network_record is None


def test_trt_module_composes_as_a_submodule_of_a_torch_model():
    """What "TRTModule is an nn.Module" must mean for users: it nests in a model, is found by module traversal,
    follows train()/eval(), and computes inside the outer forward."""
    torch.manual_seed(0)
    linear = nn.Linear(3, 4).eval()
    inner = torch2trt(linear, [torch.randn(2, 3)])
    outer = nn.Sequential(inner, nn.ReLU()).eval()
    assert next(iter(outer.children())) is inner and dict(outer.named_modules())["0"] is inner
    outer.train()
    assert inner.training
    outer.eval()
    assert not inner.training
    x = torch.randn(2, 3)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # on a machine without a GPU: "running ... with the CPU reference executor"
        got = outer(x)
    torch.testing.assert_close(got, torch.relu(linear(x)), rtol=1e-5, atol=1e-6)


def test_the_module_takes_the_engine_bytes_without_a_copy():
    # a copy would hold the engine twice while the conversion verifies (memory benchmark: +1x the weights)
    engine = bytes(1000)
    assert TRTModule(engine).engine_bytes is engine


def test_inputs_are_taken_by_keyword_as_their_names_and_bad_keywords_are_input_errors():
    def fn(a, b):
        return a * 2 - b

    from torch2trt.check import FunctionModule

    x, y = torch.randn(2, 3), torch.randn(2, 3)
    m = torch2trt(FunctionModule(fn).eval(), [x, y], input_names=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fn(x, y)
        for call in (lambda: m(a=x, b=y), lambda: m(b=y, a=x), lambda: m(x, b=y)):
            torch.testing.assert_close(call(), expected)
        with pytest.raises(InputError, match=r"unknown keyword argument 'c'; the engine's inputs are \['a', 'b'\]"):
            m(a=x, c=y)
        with pytest.raises(InputError, match=r"input 'a' given both positionally and as a keyword"):
            m(x, a=x)
        with pytest.raises(InputError, match=r"missing \['b'\]"):
            m(a=x)


def test_engine_and_context_are_the_originals_attributes(model_trt, monkeypatch):
    # the original torch2trt's TRTModule.engine / .context: None where no engine can run (this machine) ...
    from torch2trt import backend

    assert model_trt.engine is None and model_trt.context is None and TRTModule().engine is None
    # ... and the deserialized engine, loaded on first access, where one can (a test double of the loading)
    monkeypatch.setattr(backend, "engine_runnable_here", lambda: (True, ""))
    loaded = []

    def load(device):
        loaded.append(device)
        model_trt._engine, model_trt._context = FakeEngine(), FakeContext()

    monkeypatch.setattr(model_trt, "_load_engine", load)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    try:
        assert isinstance(model_trt.engine, FakeEngine) and isinstance(model_trt.context, FakeContext)
        assert model_trt.engine is model_trt.engine and loaded == [torch.device("cuda", 0)]
    finally:
        model_trt._engine = model_trt._context = None
