"""Outputs never alias (issue #24, 4c) and ATen-level writes leave the caller's model as it was (4f).

4c: every call of a converted module returns tensors that share memory with nothing the caller or the module holds
(not the call's inputs, not the network's constants or the module's saved state, not each other), on every CPU
path (the reference executor from the saved records, from the kept network, after load_state_dict, run_reference)
and in hybrids. 4f: an op that writes the model's tensors inside ATen (F.batch_norm(training=True) updates its
running statistics below the torch-function level) leaves them unchanged after torch2trt(); the converter sees the
operands as they were before the op, and the engine is exact at inputs other than the sample.
"""

import io
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt import ConversionError, TRTModule, torch2trt
from torch2trt.tracing.mode import observe


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TRTModule: running the network with the CPU reference executor")
        yield


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _storages(obj) -> set[int]:
    if isinstance(obj, torch.Tensor):
        return {obj.untyped_storage().data_ptr()}
    if isinstance(obj, dict):
        obj = list(obj.values())
    return set().union(*(_storages(v) for v in obj)) if isinstance(obj, (list, tuple)) else set()


def _flat(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


# ---- 4c: outputs that are the input, a view of it, or a no-op of it -----------------------------------------------
PASS_THROUGH = {
    "clone": lambda x: x.clone(),
    "cat_of_one": lambda x: torch.cat([x]),
    "identity": lambda x: x,
    "reshape": lambda x: x.reshape(4, 3),
    "view": lambda x: x.view(-1),
    "contiguous": lambda x: x.contiguous(),
    "to_same_dtype": lambda x: x.to(torch.float32),
    "detach": lambda x: x.detach(),
    "slice_all": lambda x: x[:],
    "twice": lambda x: (x, x),
}


def _modules(model, x, **kw):
    """The converted module on each CPU path: records, the kept network alone, loaded from its state_dict."""
    m = torch2trt(model, [x], **kw)
    kept = torch2trt(model, [x], portable=False, keep_network=True, **kw)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    loaded = TRTModule()
    loaded.load_state_dict(torch.load(buf, weights_only=True))
    return {"records": m, "kept_network": kept, "loaded": loaded}


@pytest.mark.parametrize("name", list(PASS_THROUGH))
def test_outputs_that_pass_the_input_through_do_not_alias_it(name):
    fn = PASS_THROUGH[name]
    for path, m in _modules(Fn(fn).eval(), torch.randn(2, 6)).items():
        x = torch.randn(2, 6)           # another input than the sample
        before = x.clone()
        y = m(x)
        expected = fn(before)
        assert all(torch.equal(a, b) for a, b in zip(_flat(y), _flat(expected))), path
        assert not _storages(y) & _storages(x), path
        for t in _flat(y):
            t.add_(1)
        assert torch.equal(x, before), f"{path}: writing into the output changed the caller's input"
        ref = m.run_reference(x)
        assert not _storages(ref) & _storages(x), path


def test_outputs_that_are_one_tensor_twice_are_two_tensors():
    """The engine returns one buffer per output; so does the CPU path (an output written does not change another)."""
    m = torch2trt(Fn(lambda x: (x + 1, ) * 2).eval(), [torch.randn(2, 3)])
    x = torch.randn(2, 3)
    a, b = m(x)
    assert torch.equal(a, x + 1) and torch.equal(b, x + 1)
    a.add_(1)
    assert torch.equal(b, x + 1)


class _FakeEngine:
    def get_tensor_dtype(self, name):
        from torch2trt import trt

        return trt.float32


class _FakeContext:
    """Test double of IExecutionContext (no GPU here): the output has the input's shape."""

    def __init__(self):
        self.shapes, self.addresses = {}, {}

    def set_input_shape(self, name, shape):
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def get_tensor_shape(self, name):
        return self.shapes["input_0"]

    def execute_async_v3(self, stream):
        return True


def test_the_engine_path_binds_new_output_memory_every_call():
    """Uses a test double of the execution context: an identity network's output is bound to memory of its own,
    new at every call (TensorRT writes it; no input, no earlier call's output)."""
    m = torch2trt(Fn(lambda x: x.clone()).eval(), [torch.randn(2, 3)])
    m._engine, m._context = _FakeEngine(), _FakeContext()
    x = torch.randn(2, 3)
    (a,) = m._execute([x], torch.device("cpu"), 0)
    (b,) = m._execute([x], torch.device("cpu"), 0)
    assert m._context.addresses["output_0"] == b.data_ptr()
    assert len(_storages([a, b, x])) == 3


# ---- 4c: outputs that do not depend on the inputs ----------------------------------------------------------------
class Constants(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("buf", torch.arange(6.0).reshape(2, 3))
        self.weight = nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x + self.buf, self.buf, self.weight, self.buf[1:], torch.ones(3), self.buf.t()


def _state(m: TRTModule) -> dict:
    return {k: v.clone() for k, v in m.state_dict().items() if isinstance(v, torch.Tensor)}


def test_constant_outputs_are_fresh_every_call_and_do_not_change_the_saved_state():
    model = Constants().eval()
    model_state = {k: v.clone() for k, v in model.state_dict().items()}
    for path, m in _modules(model, torch.randn(2, 3)).items():
        saved = _state(m)
        x = torch.randn(2, 3)
        first = [t.clone() for t in m(x)]
        for t in m(x):
            t.mul_(-3).add_(7)            # the caller writes into every output
        again = m(x)
        assert all(torch.equal(a, b) for a, b in zip(first, again)), f"{path}: a mutated output changed later calls"
        assert all(torch.equal(a, b) for a, b in zip(first, [t.clone() for t in m.run_reference(x)])), path
        after = _state(m)
        assert after.keys() == saved.keys() and all(torch.equal(after[k], saved[k]) for k in saved), \
            f"{path}: a mutated output changed the module's state_dict"
        assert all(torch.equal(v, model_state[k]) for k, v in model.state_dict().items()), path
        assert not _storages(again) & _storages(list(model.state_dict().values())), path


class CloneAndLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, x):
        return x.clone(), self.linear(x)


def test_a_hybrid_returns_outputs_that_do_not_alias_the_input():
    hybrid = torch2trt(CloneAndLinear().eval(), [torch.randn(2, 3)], fallback=True)
    assert [p.kind for p in hybrid.fallback_report()] == ["TensorRT"]
    x = torch.randn(2, 3)
    before = x.clone()
    y, _ = hybrid(x)
    assert torch.equal(y, before)
    y.add_(1)
    assert torch.equal(x, before)


# ---- 4f: ATen writes the model's buffers below the torch-function level -------------------------------------------
class TrainingBatchNorm(nn.Module):
    """Calls F.batch_norm(training=True) on its own running statistics in eval mode: batch statistics, and the
    running statistics updated inside ATen (native_batch_norm's schema does not declare that write)."""

    def __init__(self, c=3, affine=True):
        super().__init__()
        self.register_buffer("rm", torch.randn(c))
        self.register_buffer("rv", torch.rand(c) + 0.5)
        self.weight = nn.Parameter(torch.randn(c)) if affine else None
        self.bias = nn.Parameter(torch.randn(c)) if affine else None

    def forward(self, x):
        return F.batch_norm(x, self.rm, self.rv, self.weight, self.bias, training=True, momentum=0.3, eps=1e-3)


def _expected_training_bn(model, x):
    return F.batch_norm(x, model.rm.clone(), model.rv.clone(), model.weight, model.bias, training=True,
                        momentum=0.3, eps=1e-3)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_training_leaves_the_buffers_and_normalizes_with_batch_statistics(shape):
    model = TrainingBatchNorm().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match=r"forward changes rm, rv in place"):
        m = torch2trt(model, [torch.randn(*shape) * 2 + 1])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items()), "torch2trt changed the buffers"
    for scale in (1.0, 5.0):
        x = torch.randn(*shape) * scale - 3     # other values (other batch statistics) than the sample's
        torch.testing.assert_close(m(x), _expected_training_bn(model, x), rtol=1e-4, atol=1e-4)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_batch_norm_training_keeps_a_dynamic_batch_exact():
    model = TrainingBatchNorm(affine=False).eval()
    with pytest.warns(UserWarning, match=r"forward changes rm, rv in place"):
        m = torch2trt(model, [torch.randn(4, 3, 5)], min_shapes=[(2, 3, 5)], max_shapes=[(8, 3, 5)])
    for n in (2, 7):
        x = torch.randn(n, 3, 5) * 4 + 2
        torch.testing.assert_close(m(x), _expected_training_bn(model, x), rtol=1e-4, atol=1e-4)


def test_the_converter_sees_the_running_statistics_as_they_were_before_the_op():
    model = TrainingBatchNorm().eval()
    rm = model.rm.clone()
    seen = []
    with observe(lambda call: seen.append(call) if call.name.endswith("batch_norm") else None), \
            pytest.warns(UserWarning, match=r"forward changes rm, rv in place"):
        torch2trt(model, [torch.randn(4, 3) * 2 + 1], verify=False)
    assert len(seen) == 1
    assert torch.equal(seen[0].args[1], rm), "the converter saw the running mean after ATen updated it"
    assert torch.equal(model.rm, rm)


class ReadsUpdatedStatistics(TrainingBatchNorm):
    def forward(self, x):
        y = super().forward(x)
        return y, self.rm * 1.0     # the running mean after the update depends on x: no constant can hold it


def test_reading_statistics_updated_from_the_inputs_is_refused_and_the_model_restored():
    model = ReadsUpdatedStatistics().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConversionError, match=r"model output 1: .*batch_norm changed its data in place inside ATen"):
        torch2trt(model, [torch.randn(4, 3)])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_instance_norm_updating_running_statistics_leaves_the_model_as_it_was():
    """F.instance_norm(use_input_stats=True) with running statistics writes them through ATen views (copy_)."""
    class IN(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("rm", torch.randn(3))
            self.register_buffer("rv", torch.rand(3) + 0.5)

        def forward(self, x):
            return F.instance_norm(x, self.rm, self.rv, use_input_stats=True)

    model = IN().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match=r"in place"):
        m = torch2trt(model, [torch.randn(2, 3, 6)])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    x = torch.randn(2, 3, 6) * 3
    torch.testing.assert_close(m(x), F.instance_norm(x), rtol=1e-4, atol=1e-4)


class AtenInplace(nn.Module):
    """torch.ops.aten.relu_.default(buf): an in-place op whose torch-level name ("relu_.default") does not say so;
    only ATen's schema (`Tensor(a!) self`) shows the write."""

    def __init__(self):
        super().__init__()
        self.register_buffer("buf", torch.randn(2, 3))

    def forward(self, x):
        torch.ops.aten.relu_.default(self.buf)
        return self.buf * x


def test_an_inplace_op_seen_only_inside_aten_leaves_the_model_and_converts_exactly():
    model = AtenInplace().eval()
    buf = model.buf.clone()
    with pytest.warns(UserWarning, match=r"forward changes buf in place"):
        m = torch2trt(model, [torch.randn(2, 3)])
    assert torch.equal(model.buf, buf)
    x = torch.randn(2, 3)
    torch.testing.assert_close(m(x), torch.relu(buf) * x)
