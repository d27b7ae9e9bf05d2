"""Sound beyond the sample: a conversion is right for every input it accepts, or it refuses.

Each test converts with one sample and then checks at inputs other than the sample (the trace is one run;
the engine must serve every run). Every test here failed on the main of 2026-12-01 before the fix.
"""

import copy
import math
import pickle
import threading

import pytest
import torch
import torch.nn as nn

import torch2trt as t2t
from torch2trt import ConversionError, InputError, tensorrt_converter, torch2trt, trt
from torch2trt.check import FunctionModule


def run(model_trt, *args):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU reference path warns once per module
        return model_trt(*args)


def assert_exact_elsewhere(fn, sample: list, others: list[list], rtol: float = 1e-6, **kwargs):
    """Convert with `sample`, then the module matches PyTorch at each input list in `others`."""
    model = fn if isinstance(fn, nn.Module) else FunctionModule(fn).eval()
    model_trt = torch2trt(model, sample, **kwargs)
    for args in others:
        with torch.no_grad():
            expected = model(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        got = run(model_trt, *args)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert torch.allclose(got, expected, rtol=rtol, atol=1e-6), (got, expected)
    return model_trt


# ---- 1. in-place op on a tensor the trace does not follow, with a traced operand ------------------------
@pytest.mark.parametrize("op", ["add_", "iadd", "sub_", "mul_", "copy_", "addcmul_"])
def test_inplace_on_untraced_tensor_reads_its_value_before_the_op(op):
    def fn(x):
        y = torch.full((4,), 3.0)
        if op == "add_":
            y.add_(x)
        elif op == "iadd":
            y += x
        elif op == "sub_":
            y.sub_(x)
        elif op == "mul_":
            y.mul_(x)
        elif op == "copy_":
            y.copy_(x)
        else:
            y.addcmul_(x, x, value=0.5)
        return y

    assert_exact_elsewhere(fn, [torch.randn(4)], [[torch.randn(4)], [torch.randn(4) * 10]])


class BufferAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("b", torch.arange(4.0))

    def forward(self, x):
        self.b.add_(x)
        return self.b * 2


def test_inplace_on_a_buffer_reads_the_buffer_before_the_op_and_restores_it():
    model = BufferAdd().eval()
    before = model.b.clone()
    model_trt = torch2trt(model, [torch.randn(4)])
    assert torch.equal(model.b, before)
    x = torch.randn(4)
    assert torch.allclose(run(model_trt, x), (before + x) * 2)


# ---- 2. the same through a view --------------------------------------------------------------------------
def test_inplace_through_a_view_of_an_untraced_tensor_is_exact_or_refused():
    def fn(x):
        y = torch.zeros(2, 4)
        y[0].add_(x)
        return y

    try:
        model_trt = torch2trt(FunctionModule(fn).eval(), [torch.randn(4)])
    except ConversionError as e:
        assert "view" in str(e) and "test_soundness.py" in str(e)
        return
    x = torch.randn(4)
    assert torch.allclose(run(model_trt, x), fn(x))


def test_untraced_view_read_after_its_base_was_changed_in_place_is_refused_or_exact():
    def fn(x):
        y = torch.zeros(4)
        v = y[1:3]
        y.add_(x)
        return v * 1.0 + 0.0

    try:
        model_trt = torch2trt(FunctionModule(fn).eval(), [torch.randn(4)])
    except ConversionError as e:
        assert "in place" in str(e)
        return
    x = torch.randn(4)
    assert torch.allclose(run(model_trt, x), fn(x))


# ---- 3. a constant changed between two uses ----------------------------------------------------------------
def test_constant_changed_in_place_between_two_uses():
    def fn(x):
        w = torch.ones(4)
        a = x * w
        w.mul_(2)
        return a + x * w

    assert_exact_elsewhere(fn, [torch.randn(4)], [[torch.randn(4)]])


# ---- 4. nested inputs bound by key; structure checked ---------------------------------------------------------
class DictModel(nn.Module):
    def forward(self, d):
        return d["a"] * 2 + d["b"]


def test_dict_inputs_are_bound_by_key():
    xa, xb = torch.randn(3), torch.randn(3)
    model_trt = torch2trt(DictModel().eval(), [{"a": xa, "b": xb}])
    ya, yb = torch.randn(3), torch.randn(3)
    assert torch.allclose(run(model_trt, {"b": yb, "a": ya}), ya * 2 + yb)


@pytest.mark.parametrize("bad, match", [
    (lambda a, b: [{"a": a, "c": b}], r"key"),
    (lambda a, b: [{"a": a, "b": b, "c": b}], r"key"),
    (lambda a, b: [[a, b]], r"dict"),
    (lambda a, b: [{"a": a, "b": b}, a], r"argument"),
    (lambda a, b: [], r"argument"),
])
def test_a_call_whose_structure_differs_from_the_converted_one_is_an_input_error(bad, match):
    xa, xb = torch.randn(3), torch.randn(3)
    model_trt = torch2trt(DictModel().eval(), [{"a": xa, "b": xb}])
    with pytest.raises(InputError, match=match):
        run(model_trt, *bad(xa, xb))


# ---- 5. non-tensor arguments --------------------------------------------------------------------------------
class Scale(nn.Module):
    def forward(self, x, s, mode="mul"):
        return x * s if mode == "mul" else x + s


def test_a_call_with_other_non_tensor_arguments_is_an_input_error():
    x = torch.randn(3)
    model_trt = torch2trt(Scale().eval(), [x, 2.0])
    assert torch.allclose(run(model_trt, x, 2.0), x * 2)
    with pytest.raises(InputError, match=r"2\.0.*3\.0|3\.0.*2\.0"):
        run(model_trt, x, 3.0)
    with pytest.raises(InputError):
        run(model_trt, x, 2)        # an int where the conversion saw a float
    model_trt = torch2trt(Scale().eval(), [x, 1.5, "add"])
    with pytest.raises(InputError, match="add"):
        run(model_trt, x, 1.5, "mul")


# ---- 6. argmax/argmin over NaN ------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [lambda x: x.argmax(1), lambda x: x.argmin(1), lambda x: x.max(1).indices,
                                lambda x: x.min(dim=1).indices])
def test_arg_reductions_over_nan_match_pytorch(fn):
    x = torch.randn(4, 6)
    other = torch.randn(4, 6)
    other[0, 2] = math.nan
    other[1, 0] = math.nan
    other[1, 5] = math.nan
    model_trt = torch2trt(FunctionModule(fn).eval(), [x])
    assert torch.equal(run(model_trt, other), fn(other))


# ---- 7. sort(stable=True) ------------------------------------------------------------------------------------
def test_stable_sort_is_exact_on_ties_or_refused():
    fn = lambda x: torch.sort(x, dim=1, stable=True).indices  # noqa: E731
    x = torch.randn(3, 8)
    try:
        model_trt = torch2trt(FunctionModule(fn).eval(), [x])
    except ConversionError as e:
        assert "stable" in str(e)
        return
    ties = torch.tensor([[1.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 2.0]] * 3)
    assert torch.equal(run(model_trt, ties), fn(ties))


# ---- 8. dynamic shapes frozen where no DynDim is involved ----------------------------------------------------
class PositionIds(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("position_ids", torch.arange(16).unsqueeze(0))

    def forward(self, x):
        return x + self.position_ids[:, : x.size(1)].float()


def test_buffer_sliced_by_a_dynamic_length_is_exact_or_refused():
    model = PositionIds().eval()
    try:
        model_trt = torch2trt(model, [torch.randn(2, 5)], min_shapes=[(1, 1)], max_shapes=[(4, 16)])
    except ConversionError:
        return
    for shape in [(1, 1), (3, 9), (4, 16)]:
        x = torch.randn(shape)
        assert torch.allclose(run(model_trt, x), model(x))


def test_expand_with_minus_one_under_a_dynamic_batch_is_exact_or_refused():
    fn = lambda x: x.expand(2, 3, -1, -1) * 1.0  # noqa: E731
    model = FunctionModule(fn).eval()
    try:
        model_trt = torch2trt(model, [torch.randn(1, 3, 4, 5)], min_shapes=[(1, 3, 1, 5)],
                              max_shapes=[(1, 3, 8, 5)])
    except ConversionError:
        return
    for shape in [(1, 3, 1, 5), (1, 3, 7, 5)]:
        x = torch.randn(shape)
        assert torch.allclose(run(model_trt, x), model(x))


# ---- 9. threads ------------------------------------------------------------------------------------------------
def test_tracing_sees_only_the_converting_thread():
    """A module converter is registered (the README's ReLU example) while another thread runs plain PyTorch
    inference through ReLU modules; the conversion and the other thread's results are unaffected."""
    calls = []

    @tensorrt_converter("torch.nn.ReLU.forward")
    def convert_ReLU(ctx):
        calls.append(1)
        layer = ctx.network.add_activation(input=ctx.method_args[1]._trt, type=trt.ActivationType.RELU)
        ctx.method_return._trt = layer.get_output(0)

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU()).eval()
    other = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(8, 8), nn.ReLU())]).eval()
    stop = threading.Event()
    errors: list = []

    def infer():
        x = torch.randn(4, 8)
        with torch.no_grad():
            ref = other(x)
            while not stop.is_set():
                try:
                    if not torch.equal(other(x), ref):
                        errors.append("other thread's result changed")
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

    try:
        for _ in range(4):
            calls.clear()
            stop.clear()
            worker = threading.Thread(target=infer)
            worker.start()
            try:
                x = torch.randn(4, 8)
                model_trt = torch2trt(model, [x])
            finally:
                stop.set()
                worker.join()
            assert errors == []
            assert len(calls) == 2
            assert model_trt.network.num_layers == len(set(
                model_trt.network.get_layer(i).name for i in range(model_trt.network.num_layers)))
            y = torch.randn(4, 8)
            assert torch.allclose(run(model_trt, y), model(y), rtol=1e-5, atol=1e-6)
    finally:
        t2t.unregister_converter("torch.nn.ReLU.forward", convert_ReLU)


def test_debug_compare_collects_only_its_own_threads_calls():
    from torch2trt import debug

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval()
    other = nn.Sequential(*[nn.Linear(8, 8) for _ in range(10)]).eval()
    results = []

    def convert_other():
        for _ in range(5):
            torch2trt(other, [torch.randn(2, 8)], verify=False)

    worker = threading.Thread(target=convert_other)
    worker.start()
    try:
        for _ in range(5):
            report = debug.compare(model, [torch.randn(2, 8)])
            results.append(sorted({r.function for r in report.rows}))
    finally:
        worker.join()
    assert all(r == results[0] for r in results)
    assert len({r.index for r in report.rows}) == 2  # linear and relu only


# ---- verified by default -----------------------------------------------------------------------------------------
def test_verify_catches_a_converter_that_is_right_only_at_the_sample():
    """A deliberately wrong user converter: relu of the sample's values baked in as a constant. It matches on
    the sample, so only a check at fresh inputs catches it; the error names the call."""

    @tensorrt_converter("torch.nn.ReLU.forward")
    def frozen_relu(ctx):
        out = ctx.method_return
        layer = ctx.network.add_constant(tuple(out.shape), trt.Weights(out.detach().numpy().copy()))
        out._trt = layer.get_output(0)

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    try:
        with pytest.raises(ConversionError, match=r"(?s)fresh inputs.*torch\.nn\.ReLU\.forward.*\b1\b"):
            torch2trt(model, [torch.randn(2, 8)])
        torch2trt(model, [torch.randn(2, 8)], verify=False)  # the user can turn it off
    finally:
        t2t.unregister_converter("torch.nn.ReLU.forward", frozen_relu)


def test_verify_uses_the_users_inputs_when_given():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval()
    model_trt = torch2trt(model, [torch.randn(2, 8)], verify_inputs=[[torch.randn(2, 8)], [torch.randn(2, 8)]])
    assert model_trt.verification is not None and len(model_trt.verification.runs) == 2
    assert model_trt.verification.max_rel <= 1e-5


def test_verify_runs_at_the_profiles_corners():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval()
    model_trt = torch2trt(model, [torch.randn(2, 8)], min_shapes=[(1, 8)], opt_shapes=[(3, 8)],
                          max_shapes=[(6, 8)])
    shapes = [tuple(run[0].shape) for run in model_trt.verification.inputs]
    assert shapes == [(1, 8), (3, 8), (6, 8)]


def test_check_uses_fresh_inputs_not_the_sample():
    from torch2trt import check

    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x * 2

    x = torch.randn(3, 4)
    report = check(Spy().eval(), [x], verbose=False)
    assert report.max_rel <= 1e-6
    assert any(not torch.equal(s, x) for s in seen)


# ---- the caller's model is untouched ----------------------------------------------------------------------------
class Mutating(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("np_buf", torch.zeros(3), persistent=False)
        self.register_buffer("cache", torch.zeros(1, 3))
        self.plain = torch.ones(3)
        self.steps = 0

    def forward(self, x):
        self.np_buf.add_(1)
        self.plain.mul_(3)
        self.cache = torch.cat([self.cache, x.detach()[:1]])
        self.steps += 1
        return x * self.np_buf + self.plain


def test_buffers_and_tensor_attributes_mutated_in_forward_are_restored():
    model = Mutating().eval()
    np_buf, cache, plain = model.np_buf.clone(), model.cache, model.plain.clone()
    torch2trt(model, [torch.randn(2, 3)])
    assert torch.equal(model.np_buf, np_buf) and torch.equal(model.plain, plain)
    assert model.cache is cache and model.cache.shape == (1, 3)
    assert model.steps == 0


def test_reduced_precision_does_not_run_the_callers_model_unrestored():
    model = Mutating().eval()
    torch2trt(model, [torch.randn(2, 3)], dtype=torch.float16)
    assert model.steps == 0 and model.cache.shape == (1, 3) and torch.equal(model.np_buf, torch.zeros(3))


class StoresSize(nn.Module):
    def forward(self, x):
        self.n = x.size(0)
        return x.reshape(self.n, -1) * 2


def test_no_tracing_object_stays_reachable_from_the_model():
    model = StoresSize().eval()
    torch2trt(model, [torch.randn(2, 3, 4)], min_shapes=[(1, 3, 4)], max_shapes=[(4, 3, 4)])
    assert "n" not in model.__dict__ or type(model.n) is int
    copy.deepcopy(model)
    pickle.dumps(model)


# ---- crashes that must become clear errors ----------------------------------------------------------------------
class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)

    def forward(self, x):
        return torch2trt(self.inner, [x])(x)


def test_nested_torch2trt_says_nesting_is_not_supported():
    with pytest.raises(ConversionError, match="nest"):
        torch2trt(Nested().eval(), [torch.randn(2, 3)])


def test_a_profile_with_a_size_zero_axis_is_refused_at_conversion():
    model = nn.Linear(3, 3).eval()
    with pytest.raises(ValueError, match=r"min.*0|size 0|at least 1"):
        torch2trt(model, [torch.randn(2, 3)], min_shapes=[(0, 3)], max_shapes=[(4, 3)])


def test_a_subclass_that_overrides_forward_is_not_converted_by_its_bases_module_converter():
    """A module converter registered for nn.ReLU must not swallow a subclass's own forward (x * 2 silently lost)."""

    @tensorrt_converter("torch.nn.ReLU.forward")
    def convert_ReLU(ctx):
        layer = ctx.network.add_activation(input=ctx.method_args[1]._trt, type=trt.ActivationType.RELU)
        ctx.method_return._trt = layer.get_output(0)

    class DoubledReLU(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    class PlainSubclass(nn.ReLU):
        pass

    try:
        model = nn.Sequential(DoubledReLU(), PlainSubclass()).eval()
        assert_exact_elsewhere(model, [torch.randn(3, 4)], [[torch.randn(3, 4)]])
    finally:
        t2t.unregister_converter("torch.nn.ReLU.forward", convert_ReLU)


# ---- weights shared with the model, not copied (lean conversion) -----------------------------------------
def _kernel_pointer(network, layer_type="CONVOLUTION"):
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type.name == layer_type:
            layer.__class__ = getattr(trt, f"I{layer_type.title()}Layer")
            return layer.kernel.ctypes.data
    raise AssertionError(f"no {layer_type} layer")


def test_parameters_the_forward_does_not_write_are_handed_to_tensorrt_without_a_copy():
    conv = nn.Conv2d(3, 8, 3).eval()
    m = torch2trt(conv, [torch.randn(1, 3, 8, 8)], keep_network=True)
    assert _kernel_pointer(m.network) == conv.weight.data_ptr()


class WritesItsWeightBetweenUses(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.register_buffer("scale", torch.tensor([2.0, 3.0, 4.0]).reshape(1, 3, 1, 1))

    def forward(self, x):
        y = self.conv(x) * self.scale
        self.conv.weight.mul_(2)       # the second use sees other weights
        self.scale.add_(1)
        return self.conv(y) * self.scale


def test_a_weight_written_after_its_first_use_keeps_each_use_s_value_and_the_model_is_restored():
    model = WritesItsWeightBetweenUses().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 6, 6)
    from torch2trt.tracing.preserve import run_preserved

    expected = run_preserved(model, x)
    with pytest.warns(UserWarning, match="in place"):
        m = torch2trt(model, [x])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for inp in (x, torch.randn(2, 3, 6, 6)):
        want = expected if inp is x else run_preserved(model, inp)
        torch.testing.assert_close(run(m, inp), want, rtol=1e-5, atol=1e-5)


def test_no_activation_of_the_trace_is_alive_while_the_engine_builds(monkeypatch):
    # the builder's memory comes on top of what the trace still holds: intermediate results must be gone by then
    import gc

    import torch2trt.convert as convert

    model = nn.Sequential(nn.Conv2d(3, 7, 3), nn.ReLU(), nn.Conv2d(7, 5, 3), nn.ReLU()).eval()
    shapes = {(2, 7, 14, 14)}   # outputs of the first convolution and relu
    alive = []
    build = convert.build_engine

    def shape_of(o):
        try:
            return tuple(int(d) for d in o.shape)
        except Exception:  # noqa: BLE001  (fake tensors of other tests' torch.compile runs: symbolic sizes)
            return None

    def of_these_shapes():
        gc.collect()
        return {id(o): o for o in gc.get_objects() if isinstance(o, torch.Tensor) and shape_of(o) in shapes}

    before = of_these_shapes()   # other tests' module-level tensors may have these shapes too

    def build_and_look(*args, **kwargs):
        alive.extend(tuple(o.shape) for i, o in of_these_shapes().items() if i not in before)
        return build(*args, **kwargs)

    monkeypatch.setattr(convert, "build_engine", build_and_look)
    x = torch.randn(2, 3, 16, 16)
    m = torch2trt(model, [x], verify=False)
    assert alive == []
    torch.testing.assert_close(run(m, x), model(x), rtol=1e-5, atol=1e-5)


class _FrozenDict(dict):
    """Like diffusers' FrozenDict (a model's config): every update raises."""

    def update(self, *a, **k):
        raise TypeError("frozen")

    def clear(self):
        raise TypeError("frozen")


def test_a_frozen_dict_attribute_of_the_model_is_left_as_it_is():
    # the snapshot restored every dict attribute with clear() + update(), which a frozen config refuses: every
    # diffusers model crashed the conversion after its trace
    class WithConfig(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = _FrozenDict(scale=2.0)
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x) * self.config["scale"]

    model = WithConfig().eval()
    config = model.config
    m = torch2trt(model, [torch.randn(2, 4)])
    assert model.config is config and dict(config) == {"scale": 2.0}
    x = torch.randn(3, 4)
    torch.testing.assert_close(run(m, x[:2]), model(x[:2]), rtol=1e-5, atol=1e-6)
