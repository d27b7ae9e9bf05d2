"""torch2trt(..., fallback=True): hybrids of TensorRT parts and PyTorch, on small models (detectors:
tests/models/test_detectors.py)."""

import copy
import warnings

import pytest
import torch
from torch import nn

from torch2trt import InputError, StateError, load_fallback, torch2trt
from torch2trt.fallback import TRTPart


def stack(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1))


class NoConverter(nn.Module):
    """torch.lgamma cannot be converted (refused with its reason)."""

    def forward(self, x):
        return torch.lgamma(x + 1.5)


class Sandwich(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = stack(3, 8)
        self.odd = NoConverter()
        self.b = stack(8, 4)

    def forward(self, x):
        return self.b(self.odd(self.a(x)))


class InlineOp(nn.Module):
    """The unsupported op in the root's own forward, between two child stacks called with a keyword argument."""

    def __init__(self):
        super().__init__()
        self.a = stack(3, 8)
        self.b = Scaled()

    def forward(self, x):
        return self.b(torch.special.i0e(self.a(x)), scale=torch.full((1,), 0.5), shift=2.0)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 4, 1)

    def forward(self, x, scale, shift):
        return self.conv(x) * scale + shift


def eval_model(cls, seed=0):
    torch.manual_seed(seed)
    m = cls().eval()
    with torch.no_grad():  # non-trivial batch norm statistics
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return m


def assert_close(got, expected, rtol=1e-5):
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert float((got - expected).norm() / expected.norm()) <= rtol


def test_unsupported_op_between_conv_stacks_runs_in_pytorch_the_stacks_in_tensorrt():
    model = eval_model(Sandwich)
    hybrid = torch2trt(model, [torch.randn(2, 3, 12, 12)], fallback=True)
    assert isinstance(hybrid.model.a, TRTPart) and isinstance(hybrid.model.b, TRTPart)
    assert isinstance(hybrid.model.odd, NoConverter)
    report = hybrid.fallback_report()
    assert report.trt_share >= 0.95 and report.trt_share == 1.0   # the middle module has no parameters
    for seed in (1, 2):
        x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            assert_close(hybrid(x), model(x))
    assert len(hybrid.verification) == 1 and hybrid.timings["convert"] > 0


def test_unsupported_op_in_the_roots_forward_and_keyword_arguments():
    model = eval_model(InlineOp)
    hybrid = torch2trt(model, [torch.randn(2, 3, 10, 10)], fallback=True)
    assert isinstance(hybrid.model.a, TRTPart) and isinstance(hybrid.model.b, TRTPart)
    assert hybrid.model.b.kw_keys == ["scale", "shift"]
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert_close(hybrid(x), model(x))
    root = hybrid.fallback_report()[0]
    assert root.kind == "PyTorch" and root.path == "" and "torch.special.i0e: no converter" in root.reason


def test_report_lists_every_part_with_its_share_and_reason():
    model = eval_model(Sandwich)
    hybrid = torch2trt(model, [torch.randn(1, 3, 8, 8)], fallback=True)
    rows = {p.path: p for p in hybrid.fallback_report()}
    total = sum(p.numel() for p in model.parameters())
    assert set(rows) == {"", "a", "odd", "b"}
    assert rows["a"].kind == rows["b"].kind == "TensorRT"
    assert rows["a"].parameters == sum(p.numel() for p in model.a.parameters())
    assert rows["b"].share == pytest.approx(sum(p.numel() for p in model.b.parameters()) / total, abs=0)
    assert rows[""].kind == "PyTorch" and "torch.lgamma: no TensorRT layer computes it" in rows[""].reason
    assert rows["odd"].kind == "PyTorch" and "min_block_size" in rows["odd"].reason
    assert sum(p.share for p in rows.values()) == pytest.approx(1.0, rel=1e-12)
    text = str(hybrid.fallback_report())
    assert "TensorRT runs 100.0% of the parameters" in text and "| TensorRT | a |" in text


def test_callers_model_is_unchanged():
    model = eval_model(Sandwich)
    before = copy.deepcopy(model.state_dict())
    modules = dict(model.named_modules())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        y = model(x)
    torch2trt(model, [x], fallback=True)
    assert dict(model.named_modules()) == modules
    assert all(type(m) is type(modules[n]) for n, m in model.named_modules())
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not model._forward_pre_hooks and not any(m._forward_pre_hooks for m in model.modules())
    with torch.no_grad():
        assert torch.equal(model(x), y)


def test_torch_executed_modules_by_path_class_name_and_class():
    model = eval_model(Sandwich)
    x = torch.randn(1, 3, 8, 8)
    for entry, kept in (("b", ["b"]), ("Sequential", ["a", "b"]), (nn.Sequential, ["a", "b"]),
                        ("torch.nn.modules.container.Sequential", ["a", "b"])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hybrid = torch2trt(model, [x], fallback=True, torch_executed_modules=[entry])
        rows = {p.path: p for p in hybrid.fallback_report()}
        for path in kept:   # the module and everything below it stay in PyTorch
            assert rows[path].kind == "PyTorch" and rows[path].reason == "in torch_executed_modules"
            assert not any(isinstance(m, TRTPart) for m in getattr(hybrid.model, path).modules())
            assert not any(p.startswith(path + ".") for p in rows)
        for path in {"a", "b"} - set(kept):
            assert rows[path].kind == "TensorRT"
        with torch.no_grad():
            assert_close(hybrid(x * 2), model(x * 2))


def test_min_block_size_counts_parameters_and_warns_below_half():
    model = eval_model(Sandwich)
    small = sum(p.numel() for p in model.b.parameters())
    big = sum(p.numel() for p in model.a.parameters())
    assert small < big
    with pytest.warns(UserWarning, match="only .* of the parameters run in TensorRT") as record:
        hybrid = torch2trt(model, [torch.randn(1, 3, 8, 8)], fallback=True, min_block_size=big + 1)
    assert sum("of the parameters run in TensorRT" in str(w.message) for w in record) == 1
    assert hybrid.fallback_report().trt_share == 0.0
    hybrid = torch2trt(model, [torch.randn(1, 3, 8, 8)], fallback=True, min_block_size=small + 1)
    rows = {p.path: p for p in hybrid.fallback_report()}
    assert rows["a"].kind == "TensorRT" and rows["b"].kind == "PyTorch"
    assert f"{small} parameter(s) < min_block_size={small + 1}" in rows["b"].reason


def test_options_of_fallback_are_refused_without_it():
    with pytest.raises(ValueError, match="fallback=True"):
        torch2trt(eval_model(Sandwich), [torch.randn(1, 3, 8, 8)], min_block_size=10)


def test_each_part_gets_its_own_profile_from_the_whole_model_at_min_opt_max():
    class Down(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = stack(3, 8)
            self.pool = nn.Conv2d(8, 8, 2, stride=2)
            self.odd = NoConverter()
            self.b = stack(8, 4)

        def forward(self, x):
            return self.b(self.odd(self.pool(self.a(x))))

    model = eval_model(Down)
    lo, opt, hi = (1, 3, 8, 12), (2, 3, 16, 16), (3, 3, 24, 20)
    hybrid = torch2trt(model, [torch.randn(*opt)], fallback=True, min_shapes=[lo], opt_shapes=[opt],
                       max_shapes=[hi], torch_executed_modules=["odd"])
    # the root fails, so a+pool... are tried one by one: a sees the model's input, b the pooled one
    spec_a = hybrid.model.a.trt.input_specs[0]
    assert (spec_a.min, spec_a.opt, spec_a.max) == (list(lo), list(opt), list(hi))
    spec_b = hybrid.model.b.trt.input_specs[0]
    assert (spec_b.min, spec_b.opt, spec_b.max) == ([1, 8, 4, 6], [2, 8, 8, 8], [3, 8, 12, 10])
    g = torch.Generator().manual_seed(5)
    for shape in (lo, opt, hi, (2, 3, 10, 14)):
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            assert_close(hybrid(x), model(x))
    assert len(hybrid.verification) == 3     # the whole hybrid verified at min, opt and max


class RowsHead(nn.Module):
    """A data-dependent number of rows (a boolean mask, no converter) feeds an MLP head."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        h = self.body(x)
        rows = h[h[:, 0] > 0.1]
        return self.head(rows)


def test_data_dependent_rows_get_a_dynamic_profile_bounded_by_the_option():
    model = eval_model(RowsHead, seed=1)
    x = torch.randn(40, 6)
    with torch.no_grad():
        n = int((model.body(x)[:, 0] > 0.1).sum())
    assert 0 < n < 40
    hybrid = torch2trt(model, [x], fallback=True, data_dependent_max=40)
    head = hybrid.model.head
    assert isinstance(head, TRTPart) and head.torch_module is not None
    spec = head.trt.input_specs[0]
    assert spec.min == [1, 16] and spec.max == [40, 16]
    g = torch.Generator().manual_seed(9)
    counts = set()
    for _ in range(4):
        x2 = torch.randn(40, 6, generator=g)
        with torch.no_grad():
            expected = model(x2)
            got = hybrid(x2)
        counts.add(expected.shape[0])
        assert_close(got, expected)
    assert len(counts) > 1
    # no row at all: outside the engine's profile, PyTorch runs the head (once warned), still exact
    pool = torch.randn(400, 6, generator=g)
    with torch.no_grad():
        empty = pool[model.body(pool)[:, 0] <= 0.1][:40]
    assert empty.shape == (40, 6)
    with torch.no_grad(), pytest.warns(UserWarning, match="outside what its engine was built for"):
        got = hybrid(empty)
    assert got.shape == (0, 3) and got.dtype == torch.float32


def test_data_dependent_rows_without_a_bound_stay_in_pytorch_with_the_reason():
    model = eval_model(RowsHead, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hybrid = torch2trt(model, [torch.randn(40, 6)], fallback=True)
    rows = {p.path: p for p in hybrid.fallback_report()}
    assert rows["body"].kind == "TensorRT"
    assert rows["head"].kind == "PyTorch" and "depends on the data" in rows["head"].reason
    assert "data_dependent_max" in rows["head"].reason


def test_state_dict_round_trip_with_weights_only(tmp_path):
    model = eval_model(InlineOp)
    x = torch.randn(2, 3, 10, 10)
    hybrid = torch2trt(model, [x], fallback=True)
    path = tmp_path / "hybrid.pth"
    torch.save(hybrid.state_dict(), path)
    fresh = eval_model(InlineOp, seed=7)     # other random weights: everything must come from the state
    loaded = load_fallback(fresh, torch.load(path, weights_only=True))
    assert isinstance(loaded.model.a, TRTPart) and not isinstance(fresh.a, TRTPart)
    x2 = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        assert_close(loaded(x2), model(x2))
        assert torch.equal(loaded(x2), hybrid(x2))
    assert [p.path for p in loaded.fallback_report()] == [p.path for p in hybrid.fallback_report()]
    loaded_from_path = load_fallback(eval_model(InlineOp, seed=8), path)
    with torch.no_grad():
        assert torch.equal(loaded_from_path(x2), hybrid(x2))


def test_load_fallback_into_a_mismatched_model_is_a_state_error():
    model = eval_model(Sandwich)
    state = torch2trt(model, [torch.randn(1, 3, 8, 8)], fallback=True).state_dict()
    with pytest.raises(StateError, match="saved from a .*Sandwich"):
        load_fallback(eval_model(InlineOp), state)

    class Wider(Sandwich):
        def __init__(self):
            super().__init__()
            self.odd = nn.Sequential(NoConverter(), nn.Conv2d(8, 8, 1))

    wider_state = torch2trt(eval_model(Wider), [torch.randn(1, 3, 8, 8)], fallback=True).state_dict()
    bad = dict(wider_state)
    bad["model.odd.1.weight"] = torch.zeros(8, 8, 3, 3)
    with pytest.raises(StateError, match="does not fit"):
        load_fallback(eval_model(Wider), bad)
    with pytest.raises(StateError, match="not the state of a fallback hybrid"):
        load_fallback(model, {"model.a.0.weight": torch.zeros(1)})


def test_cli_convert_fallback_prints_the_report_and_saves_a_loadable_hybrid(tmp_path, capsys):
    from torch2trt import cli

    factory = tmp_path / "sandwich.py"
    factory.write_text("import sys, torch\n"
                       f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
                       "from test_fallback import Sandwich, eval_model\n"
                       "def make():\n    return eval_model(Sandwich), [torch.randn(1, 3, 8, 8)]\n")
    out = tmp_path / "hybrid.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["convert", f"{factory}:make", "-o", str(out), "--fallback", "-q"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "TensorRT runs 100.0% of the parameters (2 TensorRT part(s))" in printed
    assert "| PyTorch | <model> |" in printed and "torch.lgamma: no TensorRT layer computes it" in printed
    loaded = load_fallback(eval_model(Sandwich, seed=3), out)
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert_close(loaded(x), eval_model(Sandwich)(x))


def test_bert_with_an_attention_mask_runs_its_layers_in_tensorrt():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=32)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 100, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.int64)
    mask[1, 8:] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hybrid = torch2trt(model, [ids, mask], fallback=True)
    rows = {p.path: p for p in hybrid.fallback_report()}
    assert rows["encoder.layer.0"].kind == rows["encoder.layer.1"].kind == "TensorRT"
    assert hybrid.fallback_report().trt_share >= 0.9
    # the model returns a ModelOutput (attribute access), which an engine cannot: the root stays in PyTorch
    assert "BaseModelOutputWithPoolingAndCrossAttentions" in rows[""].reason
    g = torch.Generator().manual_seed(2)
    ids2 = torch.randint(0, 100, (2, 12), generator=g)
    mask2 = torch.ones(2, 12, dtype=torch.int64)
    mask2[0, 5:] = 0
    with torch.no_grad():
        got, expected = hybrid(ids2, mask2), model(ids2, mask2)
    assert type(got) is type(expected)
    assert_close(got.last_hidden_state, expected.last_hidden_state)
    assert_close(got.pooler_output, expected.pooler_output)
    # without a mask the layers get attention_mask=None, a structure their engines were not built for
    with torch.no_grad(), pytest.raises(InputError, match="part 'encoder.layer.0'.*keep_torch_modules=True"):
        hybrid(ids2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keeping = torch2trt(model, [ids, mask], fallback=True, keep_torch_modules=True)
    with torch.no_grad(), pytest.warns(UserWarning, match="outside what its engine was built for"):
        got = keeping(ids2)
    with torch.no_grad():
        assert_close(got.last_hidden_state, model(ids2).last_hidden_state)
        assert_close(keeping(ids2, mask2).last_hidden_state, expected.last_hidden_state)


def test_ordered_dict_outputs_stay_ordered_dicts():
    from collections import OrderedDict

    class Features(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return OrderedDict([("b", y), ("a", y * 2)])

    class Uses(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = Features()

        def forward(self, x):
            f = self.features(x)
            assert type(f) is OrderedDict
            return torch.lgamma(f["a"].abs() + 1) + f["b"]

    model = eval_model(Uses)
    hybrid = torch2trt(model, [torch.randn(1, 3, 6, 6)], fallback=True)
    assert isinstance(hybrid.model.features, TRTPart)
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(hybrid(x), model(x))


def test_fresh_inputs_the_model_refuses_are_skipped_and_verify_false_skips_the_check():
    class Picky(Sandwich):
        def forward(self, x):
            if not bool(((x == 0) | (x == 1)).all()):   # binary images only: inputs drawn like the sample are not
                raise ValueError("binary images only")
            return super().forward(x)

    model = eval_model(Picky)
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(1, 3, 8, 8, generator=g) > 0.5).float()
    hybrid = torch2trt(model, [x], fallback=True, verify=False)
    assert hybrid.verification is None and "verify" not in hybrid.timings
    assert isinstance(hybrid.model.a, TRTPart) and isinstance(hybrid.model.b, TRTPart)
    x2 = (torch.rand(1, 3, 8, 8, generator=g) > 0.5).float()
    with torch.no_grad():
        assert_close(hybrid(x2), model(x2))


def test_a_module_that_changes_its_state_stays_in_pytorch():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 1)
            self.register_buffer("calls", torch.zeros(1))

        def forward(self, x):
            self.calls.add_(1)
            return self.conv(x) * self.calls

    class Model(Sandwich):
        def __init__(self):
            super().__init__()
            self.b = Counter()

    model = eval_model(Model)
    x = torch.randn(1, 3, 8, 8)
    hybrid = torch2trt(model, [x], fallback=True, verify=False)
    rows = {p.path: p for p in hybrid.fallback_report()}
    assert rows["b"].kind == "PyTorch" and "in place" in rows["b"].reason
    assert rows["b.conv"].kind == "TensorRT"
    with torch.no_grad():
        assert_close(hybrid(x), copy.deepcopy(model)(x))    # both copies counted the same calls so far
