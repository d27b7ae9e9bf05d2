"""Dynamic shapes: the optimization profile, dynamic network dims, DynDim shape values, profile checks."""

import pytest
import torch
import torch.nn as nn

from torch2trt import InputError, torch2trt
from torch2trt.check import FunctionModule, compare, run_reference
from torch2trt.tracing.shapes import DynDim


class ConvAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)) + 1.0


def test_profile_makes_varying_dims_dynamic_and_specs_record_it():
    m = torch2trt(ConvAdd().eval(), [torch.randn(2, 3, 16, 16)], min_shapes=[(1, 3, 8, 8)],
                  max_shapes=[(4, 3, 32, 32)])
    assert tuple(m.network.get_input(0).shape) == (-1, 3, -1, -1)
    assert m.input_specs[0].min == [1, 3, 8, 8] and m.input_specs[0].max == [4, 3, 32, 32]
    assert m.input_specs[0].opt == [2, 3, 16, 16]  # the sample when opt is not given
    assert m.output_specs[0].shape == [-1, 4, -1, -1]


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 16, 16), (4, 3, 32, 32), (3, 3, 11, 27)])
def test_dynamic_network_matches_pytorch_at_every_shape_in_range(shape):
    torch.manual_seed(0)
    model = ConvAdd().eval()
    m = torch2trt(model, [torch.randn(2, 3, 16, 16)], min_shapes=[(1, 3, 8, 8)], max_shapes=[(4, 3, 32, 32)])
    x = torch.randn(shape)
    err = compare(run_reference(m, [x]), model(x))
    assert err.same_layout and err.rel <= 1e-5


def test_sample_outside_the_profile_is_refused():
    with pytest.raises(ValueError, match=r"input 'input_0' axis 0: need min <= sample <= max"):
        torch2trt(ConvAdd().eval(), [torch.randn(8, 3, 16, 16)], min_shapes=[(1, 3, 8, 8)],
                  max_shapes=[(4, 3, 32, 32)])
    with pytest.raises(ValueError, match=r"min shape \(1, 3, 8\) has rank 3"):
        torch2trt(ConvAdd().eval(), [torch.randn(2, 3, 16, 16)], min_shapes=[(1, 3, 8)])
    with pytest.raises(ValueError, match=r"min_shapes must be nested like the inputs"):
        torch2trt(ConvAdd().eval(), [torch.randn(2, 3, 16, 16)], min_shapes=[(1, 3, 8, 8), (1, 2)])


def test_trt_module_rejects_input_outside_profile_naming_axis_and_range():
    m = torch2trt(ConvAdd().eval(), [torch.randn(2, 3, 16, 16)], min_shapes=[(1, 3, 8, 8)],
                  max_shapes=[(4, 3, 32, 32)])
    with pytest.raises(InputError, match=r"input 'input_0' has size 64 on axis 3 .*allows between 8 and 32"):
        m(torch.randn(2, 3, 16, 64))


def test_shape_queries_on_dynamic_dims_give_dyndims_with_sample_values():
    seen = {}

    def fn(x):
        if not seen:  # the trace (verification runs the model again, untraced)
            seen["b"], seen["c"] = x.size(0), x.shape[1]
            seen["half"] = x.shape[-1] // 2
            seen["numel"] = x.numel()
        return x + 1

    m = torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3, 10)], min_shapes=[(1, 3, 4)],
                  max_shapes=[(4, 3, 20)])
    assert isinstance(seen["b"], DynDim) and seen["b"] == 2
    assert type(seen["c"]) is int and seen["c"] == 3  # static dims stay plain ints
    assert isinstance(seen["half"], DynDim) and seen["half"] == 5
    assert isinstance(seen["numel"], DynDim) and seen["numel"] == 60
    types = {m.network.get_layer(i).type.name for i in range(m.network.num_layers)}
    assert types == {"CONSTANT", "ELEMENTWISE"}  # unused shape values add no SHAPE/SLICE layers


def test_control_flow_on_a_dynamic_dim_is_reported():
    def fn(x):
        if x.size(0) > 1:
            return x + 1
        return x - 1

    from torch2trt import ConversionError

    with pytest.raises(ConversionError, match=r"comparison gt on dynamic dimension 2"):
        torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(4, 3)])


def test_a_shape_comparison_is_reported_under_its_own_source_line():
    def fn(x):
        y = torch.relu(x)
        if y.shape[0] != 2:  # the line to report
            y = y * 2
        return y.sum(1)

    from torch2trt import ConversionError

    with pytest.raises(ConversionError) as info:
        torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(4, 3)])
    line = next(ln for ln in str(info.value).splitlines() if "comparison ne" in ln)
    assert "Python use of a dynamic shape" in line and "if y.shape[0] != 2" in line and "relu" not in line


class BranchOnBatch(torch.nn.Module):
    def forward(self, x):
        b, n = x.shape[0], x.shape[1]
        if b >= 64:              # never within batch 1..8
            x = x * 0
        if n * 2 + 1 != 7:       # n is static 3 here: a plain int
            x = x - 1
        if b // 2 <= 4 and b - 9 < 0:  # true on the whole profile (interval arithmetic)
            x = x + 1
        return x


def test_a_shape_comparison_constant_over_the_profile_is_accepted():
    model = BranchOnBatch().eval()
    m = torch2trt(model, [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(8, 3)])
    for b in (1, 5, 8):
        x = torch.randn(b, 3)
        assert torch.allclose(run_reference(m, [x]), model(x))


def test_a_shape_comparison_that_flips_inside_the_profile_is_refused_with_the_range():
    def fn(x):
        if x.shape[0] >= 4:
            return x * 2
        return x

    from torch2trt import ConversionError

    with pytest.raises(ConversionError, match=r"comparison ge on dynamic dimension 2 \(range 1\.\.8 in the profile; "
                                              r"False at the sample, True at 'input_0' dim 0 = 4\)"):
        torch2trt(FunctionModule(fn).eval(), [torch.randn(2, 3)], min_shapes=[(1, 3)], max_shapes=[(8, 3)])


class BranchOnAnIntermediateSize(torch.nn.Module):
    """diffusers' upsampler: `if hidden_states.shape[0] >= 64` and `numel() * 2 > 2**31` on a tensor the network
    computes (no bounds of its own): decided by evaluating the network's shapes over the whole profile."""

    def __init__(self, threshold: int = 64):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.threshold = threshold

    def forward(self, x):
        h = torch.relu(self.conv(x)).flatten(2).transpose(1, 2)      # (B, HW/4, 4)
        h = h.reshape(-1, 4)                                        # (B * HW/4, 4): a computed dim
        if h.shape[0] >= self.threshold:
            h = h * 2
        if h.numel() * 2 > 2 ** 31:
            h = h - 1
        return h + 1


def test_a_comparison_on_an_intermediate_size_constant_over_the_profile_is_accepted_and_exact():
    model = BranchOnAnIntermediateSize(threshold=10_000).eval()
    m = torch2trt(model, [torch.randn(2, 3, 8, 8)], min_shapes=[(1, 3, 8, 8)], max_shapes=[(8, 3, 8, 8)])
    for b in (1, 2, 5, 8):
        x = torch.randn(b, 3, 8, 8)
        torch.testing.assert_close(run_reference(m, [x]), model(x), rtol=1e-5, atol=1e-6)


def test_a_comparison_on_an_intermediate_size_that_flips_inside_the_profile_is_refused_with_where():
    from torch2trt import ConversionError

    # h.shape[0] = 16 * B: >= 64 from batch 4 on; the sample (batch 2) says False
    with pytest.raises(ConversionError, match=r"comparison ge on dynamic dimension 32 \(False at the sample, True "
                                              r"at 'input_0' dim 0 = 4\)") as info:
        torch2trt(BranchOnAnIntermediateSize(threshold=64).eval(), [torch.randn(2, 3, 8, 8)],
                  min_shapes=[(1, 3, 8, 8)], max_shapes=[(8, 3, 8, 8)], capture="eager")
    assert "h.shape[0] >= self.threshold" in str(info.value)


def test_a_comparison_the_evaluation_cannot_decide_is_refused_as_undecided_with_the_reason(monkeypatch):
    from torch2trt import ConversionError
    from torch2trt.network import profile_eval

    monkeypatch.setattr(profile_eval, "MAX_RUNS", 2)
    with pytest.raises(ConversionError, match=r"comparison ge on dynamic dimension 32 could not be decided over the "
                                              r"profile: evaluating the profile's 8 shapes takes more than 2 layer "
                                              r"evaluations; it may differ between shapes"):
        torch2trt(BranchOnAnIntermediateSize(threshold=10_000).eval(), [torch.randn(2, 3, 8, 8)],
                  min_shapes=[(1, 3, 8, 8)], max_shapes=[(8, 3, 8, 8)])


class BranchOnASumOfTwoInputs(torch.nn.Module):
    def forward(self, x, y):
        h = x + y                       # batch of x and y: equal, or one of them 1 (TensorRT broadcasts)
        if h.shape[0] > 8:
            h = h * 0
        return h * 3


def test_shapes_at_which_the_engine_fails_do_not_decide_a_comparison():
    # the profile admits x batch 3 with y batch 5; that engine call fails (no broadcast), so only batches <= 8 count
    model = BranchOnASumOfTwoInputs().eval()
    m = torch2trt(model, [torch.randn(2, 3), torch.randn(2, 3)], min_shapes=[(1, 3), (1, 3)],
                  max_shapes=[(8, 3), (8, 3)])
    for bx, by in ((1, 1), (1, 7), (8, 8), (6, 1)):
        x, y = torch.randn(bx, 3), torch.randn(by, 3)
        torch.testing.assert_close(run_reference(m, [x, y]), model(x, y))


def test_the_profile_evaluator_gives_every_accepted_shape_and_none_for_what_it_cannot_evaluate():
    from torch2trt.backend import create_network, trt
    from torch2trt.network.profile_eval import ProfileEvaluator
    from torch2trt.runtime.build import new_builder

    builder, _ = new_builder()
    net = create_network(builder)
    x = net.add_input("x", trt.float32, (-1, 3))
    y = net.add_input("y", trt.float32, (-1, 3))
    s = net.add_elementwise(x, y, trt.ElementWiseOperation.SUM).get_output(0)
    ev = ProfileEvaluator(net, {"x": ((1, 3), (4, 3)), "y": ((1, 3), (4, 3))}, {"x": (2, 3), "y": (2, 3)})
    rows = ev.shapes([s])
    assert rows[0] == ((2, 2), [(2, 3)])                               # the sample first
    assert sorted(p for p, _ in rows) == sorted({(a, b) for a in range(1, 5) for b in range(1, 5)
                                                 if a == b or 1 in (a, b)})
    assert all(shape == (max(p), 3) for p, [shape] in rows)
    ev2 = ProfileEvaluator(net, {"x": ((1, 3), (100, 3)), "y": ((1, 3), (100, 3))}, {"x": (2, 3), "y": (2, 3)},
                           max_points=1000)
    assert ev2.shapes([s]) is None and "10000 shapes" in ev2.why_not()
    n = net.add_shape(s).get_output(0)                                 # computed by the layer's handler: counted
    ev3 = ProfileEvaluator(net, {"x": ((1, 3), (4, 3)), "y": ((1, 3), (4, 3))}, {"x": (2, 3), "y": (2, 3)},
                           max_runs=3)
    assert ev3.shapes([n]) is None and "more than 3 layer evaluations" in ev3.why_not()


@pytest.mark.parametrize("fn, shape", [
    (lambda x: torch.chunk(x, 2, 1), (1, 3, 3)),           # the original torch2trt's chunk/split/roll module tests
    (lambda x: x.chunk(3, 2), (1, 3, 3)),
    (lambda x: torch.split(x, 2, 1), (1, 3, 3)),
    (lambda x: x.split([1, 2], 2), (1, 3, 3)),
    (lambda x: torch.roll(x, 1, 1), (1, 3, 4)),
    (lambda x: torch.roll(x, (1, -2), (1, 2)), (1, 3, 4)),
    (lambda x: torch.roll(x, 2), (1, 3, 4)),              # flattened roll: the batch enters the shift
])
def test_original_max_batch_size_tests_convert_and_are_exact_at_every_batch(fn, shape):
    m = torch2trt(FunctionModule(fn).eval(), [torch.randn(shape)], max_batch_size=2)
    assert tuple(m.network.get_input(0).shape)[0] == -1
    assert m.input_specs[0].min[0] == 1 and m.input_specs[0].opt[0] == shape[0] and m.input_specs[0].max[0] == 2
    for batch in (1, 2):
        x = torch.randn((batch,) + shape[1:])
        got, expected = run_reference(m, [x]), fn(x)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        got = got if isinstance(got, (tuple, list)) else [got]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            torch.testing.assert_close(g, e)


def test_max_batch_size_is_checked_against_the_sample_and_other_profile_arguments():
    with pytest.raises(ValueError, match=r"max_batch_size=2: input 0 \(shape \(3, 3\)\) needs a batch axis 0 of size "
                                         r"1\.\.2"):
        torch2trt(FunctionModule(lambda x: x + 1).eval(), [torch.randn(3, 3)], max_batch_size=2)
    with pytest.raises(ValueError, match="max_batch_size cannot be combined with min_shapes"):
        torch2trt(FunctionModule(lambda x: x + 1).eval(), [torch.randn(1, 3)], max_batch_size=2,
                  min_shapes=[(1, 3)], max_shapes=[(2, 3)])


def test_a_dataset_of_inputs_gives_the_profile_as_in_the_original():
    # the original torch2trt's torch2trt(model, ListDataset): traced with item 0, min/max per axis over the items,
    # opt the item with the median number of elements; here also verified on the items
    from torch2trt import ListDataset

    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU()).eval()
    dataset = ListDataset()
    for shape in ((1, 3, 32, 32), (1, 3, 16, 24), (1, 3, 20, 16), (4, 3, 8, 8)):   # numels 3072, 1152, 960, 768
        dataset.insert((torch.randn(shape),))
    m = torch2trt(model, dataset)
    spec = m.input_specs[0]
    assert (spec.min, spec.opt, spec.max) == ([1, 3, 8, 8], [1, 3, 16, 24], [4, 3, 32, 32])
    assert m.verification.compared == 4                        # verified on the dataset's own items
    assert [tuple(r.inputs[0].shape) for r in m.verification.runs] == [tuple(d[0].shape) for d in dataset.items]
    for shape in ((1, 3, 32, 32), (3, 3, 9, 31), (4, 3, 8, 8)):
        x = torch.randn(shape)
        torch.testing.assert_close(run_reference(m, [x]), model(x), rtol=1e-5, atol=1e-5)


def test_a_dataset_records_a_models_calls_and_must_be_consistent():
    from torch2trt import ListDataset

    model = nn.Linear(4, 2).eval()
    dataset = ListDataset()
    with dataset.record(model):
        model(torch.randn(2, 4))
        model(torch.randn(5, 4))
    model(torch.randn(9, 4))                                    # outside the block: not recorded
    assert [tuple(item[0].shape) for item in dataset.items] == [(2, 4), (5, 4)]
    m = torch2trt(model, dataset)
    assert (m.input_specs[0].min, m.input_specs[0].max) == ([2, 4], [5, 4])
    with pytest.raises(ValueError, match="the dataset is empty"):
        torch2trt(model, ListDataset())
    with pytest.raises(ValueError, match="item 1 is not structured like item 0"):
        torch2trt(model, ListDataset([(torch.randn(2, 4),), (torch.randn(2, 4, 1),)]))
