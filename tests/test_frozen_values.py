"""Values the sample run would freeze into the engine (issue #24, 4a and 4b): Python values computed from tensor data
by calls without a converter (torch.equal, str(t), storage reads, ...) and 0-d integer tensors read as sizes
(x[:n], torch.zeros(n), ...) are refused, naming the call and the user's line; metadata queries (an allow-list) and
tensor uses of the same values still convert, exact at other inputs."""

import re
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt import torch2trt
from torch2trt.check import run_reference
from torch2trt.testing import assert_converts, assert_refuses


def _line(marker: str) -> str:
    """file:line of the line of this file that holds `marker` (lines that look it up with _line are skipped)."""
    for i, text in enumerate(open(__file__).read().splitlines(), 1):
        if marker in text and "_line(" not in text:
            return f"{__file__}:{i}"
    raise AssertionError(marker)


class EqualBranch(nn.Module):
    """The issue's case: sampled with an all-ones mask, an engine frozen at the branch is wrong for padded masks."""

    def forward(self, x, mask):
        if torch.equal(mask, torch.ones_like(mask)):  # the equal branch
            return x * 2
        return x * 3


def test_a_branch_on_torch_equal_is_refused_naming_the_call_and_the_line():
    x, mask = torch.randn(2, 4), torch.ones(2, 4)
    msg = assert_refuses(EqualBranch(), [x, mask], re.escape("torch.equal"))
    assert _line("# the equal branch") in msg, msg
    assert "frozen into the engine" in msg and "torch2trt.dynamo.convert" in msg


class Calls(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


# each turns traced tensor data into a Python value (or a tensor the network does not compute)
REFUSED = [
    ("torch.equal", lambda x: x * 2 if torch.equal(x, x.abs()) else x),
    ("torch.Tensor.equal", lambda x: x * 2 if x.equal(x.abs()) else x),
    ("torch.allclose", lambda x: x * 2 if torch.allclose(x, x.abs()) else x),
    ("torch.is_nonzero", lambda x: x * 2 if torch.is_nonzero(x.sum()) else x),
    ("torch.Tensor.is_nonzero", lambda x: x * 2 if x.sum().is_nonzero() else x),
    ("torch.Tensor.__repr__", lambda x: x * 2 if "-" in str(x) else x),
    ("torch.Tensor.__repr__", lambda x: x * len(repr(x))),
    ("torch.Tensor.__format__", lambda x: x * len(format(x))),
    ("torch.Tensor.__format__", lambda x: x * float(f"{x.sum():.3f}")),
    ("torch.Tensor.__dlpack__", lambda x: x + torch.from_dlpack(x.abs())),
    ("torch.Tensor.storage", lambda x: x * x.abs().storage()[0]),
    ("torch.Tensor.untyped_storage", lambda x: x * len(bytes(x.abs().untyped_storage()))),
    ("torch.Tensor.tolist", lambda x: x * max(x.abs().tolist()[0])),
    ("torch.Tensor.item", lambda x: x * x.abs().max().item()),
    ("torch.Tensor.__bool__", lambda x: x * 2 if x.sum() > 0 else x),
    ("torch.Tensor.__float__", lambda x: x * float(x.abs().max())),
    ("torch.Tensor.__int__", lambda x: x * int(x.abs().max() * 10)),
    ("torch.Tensor.__complex__", lambda x: x * complex(x.abs().max()).real),
    ("torch.Tensor.numpy", lambda x: x * float(x.abs().numpy().max())),
]


@pytest.mark.parametrize("name, fn", REFUSED, ids=[f"{i}-{n}" for i, (n, _) in enumerate(REFUSED)])
def test_python_values_from_tensor_data_are_refused(name, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        msg = assert_refuses(Calls(fn), [torch.randn(2, 3)], re.escape(f"- {name}: "))
    assert "frozen into the engine" in msg, msg


class TwoValues(nn.Module):
    def forward(self, x):
        s = str(x)                     # the first value
        if torch.allclose(x, x * 1):   # the second value
            return x + len(s)
        return x


def test_every_refused_call_is_listed_in_one_error_with_its_line():
    msg = assert_refuses(TwoValues(), [torch.randn(2, 3)], r"\(2 problem\(s\)\)")
    assert "torch.Tensor.__repr__: it makes a string of the tensor's values" in msg
    assert "torch.allclose: " in msg
    assert _line("# the first value") in msg and _line("# the second value") in msg, msg


class Metadata(nn.Module):
    """Every allow-listed query decides the branch; none of them depends on the data."""

    def forward(self, x):
        ok = (x.dtype == torch.float32 and x.device.type == "cpu" and x.dim() == 2 and x.ndim == 2
              and x.is_contiguous() and x.stride() == (3, 1) and x.is_floating_point() and not x.is_complex()
              and not x.requires_grad and x.element_size() == 4 and x.is_same_size(x) and torch.numel(x) == 6
              and x.storage_offset() == 0 and x.layout == torch.strided and not x.is_cuda
              and torch.result_type(x, 1) == torch.float32 and x.get_device() == -1 and x.data_ptr() != 0)
        return x * 2 if ok else x


def test_metadata_queries_still_convert_and_are_exact_at_other_inputs():
    model = Metadata().eval()
    x = torch.randn(2, 3)
    trt_model = torch2trt(model, [x])
    other = torch.randn(2, 3) * 5
    torch.testing.assert_close(run_reference(trt_model, [other]), model(other), rtol=0, atol=0)


def test_the_equal_branch_is_exact_through_torch_compile():
    """Where eager tracing refuses, torch.compile(backend="torch2trt") keeps the branch in Python: both branches
    right at an all-ones and at a padded mask."""
    torch._dynamo.reset()
    model = EqualBranch().eval()
    fast = torch.compile(model, backend="torch2trt")
    x = torch.randn(2, 4)
    padded = torch.ones(2, 4)
    padded[1, 2:] = 0
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            for mask in (torch.ones(2, 4), padded, torch.ones(2, 4)):
                torch.testing.assert_close(fast(x, mask), model(x, mask), rtol=0, atol=0)
    finally:
        torch._dynamo.reset()


def test_dynamo_convert_refuses_the_equal_branch_instead_of_freezing_it():
    from torch2trt.dynamo import convert
    from torch2trt.errors import ConversionError

    torch._dynamo.reset()
    try:
        with warnings.catch_warnings(), pytest.raises(ConversionError, match="cannot capture the model as one graph"):
            warnings.simplefilter("ignore")
            convert(EqualBranch().eval(), [torch.randn(2, 4), torch.ones(2, 4)])
    finally:
        torch._dynamo.reset()


class Part(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x)


class Gate(nn.Module):
    def forward(self, x, mask):
        if torch.equal(mask, torch.ones_like(mask)):
            return x * 2
        return x * mask


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.gate, self.b = Part(), Gate(), Part()

    def forward(self, x, mask):
        return self.b(self.gate(self.a(x), mask))


def test_fallback_leaves_the_refused_part_to_pytorch():
    from torch2trt.fallback import TRTPart

    torch.manual_seed(0)
    model = Gated().eval()
    x = torch.randn(2, 4)
    hybrid = torch2trt(model, [x, torch.ones(2, 4)], fallback=True)
    assert isinstance(hybrid.model.a, TRTPart) and isinstance(hybrid.model.b, TRTPart)
    assert isinstance(hybrid.model.gate, Gate)
    padded = torch.ones(2, 4)
    padded[0, 1:] = 0
    with torch.no_grad():
        for mask in (torch.ones(2, 4), padded):
            torch.testing.assert_close(hybrid(x, mask), model(x, mask), rtol=1e-5, atol=1e-6)


# ---- 4b: a 0-d integer tensor read as a size ----------------------------------------------------------------------

class WithCount(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, n):
        return self.fn(x, n)


AS_SIZES = [
    ("torch.Tensor.__getitem__", "a slice bound", lambda x, n: x[:n] * 2),
    ("torch.Tensor.__getitem__", "a slice bound", lambda x, n: x[:, n:] * 2),
    ("torch.zeros", "'size'", lambda x, n: torch.zeros(n) + x.sum()),
    ("torch.zeros", "'size'", lambda x, n: torch.zeros((n, 2)) + x.sum()),
    ("torch.Tensor.view", "'size'", lambda x, n: x.view(n, -1) * 2),
    ("torch.Tensor.reshape", "'shape'", lambda x, n: x.reshape(-1, n) * 2),
    ("torch.Tensor.narrow", "'length'", lambda x, n: x.narrow(0, 0, n) * 2),
    ("torch.Tensor.repeat", "'repeats'", lambda x, n: x.repeat(n, 1)),
    ("torch.Tensor.topk", "'k'", lambda x, n: x.topk(n, 0)[0]),
    ("torch.Tensor.roll", "'shifts'", lambda x, n: x.roll(n, 0)),
    ("torch.Tensor.new_zeros", "'size'", lambda x, n: x.new_zeros(n) + 1),
    ("torch.Tensor.__setitem__", "a slice bound", lambda x, n: _zero_rows(x, n)),
    ("torch.Tensor.sum", "'dim'", lambda x, n: x[None].sum(n)),
    ("torch.Tensor.permute", "'dims'", lambda x, n: x[None].permute(n, 0, 1)),
]


def _zero_rows(x, n):
    y = x.clone()
    y[:n] = 0
    return y


@pytest.mark.parametrize("name, where, fn", AS_SIZES, ids=[f"{i}-{n}" for i, (n, _, _) in enumerate(AS_SIZES)])
def test_a_0d_integer_input_read_as_a_size_is_refused_naming_the_input(name, where, fn):
    x, n = torch.randn(6, 4), torch.tensor(2)
    msg = assert_refuses(WithCount(fn), [x, n], re.escape(f"- {name}: "), input_names=["x", "count"])
    assert "network input 'count'" in msg and where in msg and "sample's value" in msg, msg


@pytest.mark.parametrize("name, fn", [("torch.Tensor.__index__", lambda x, n: sum(x[i] for i in range(n))),
                                      ("torch.Tensor.__int__", lambda x, n: x[:int(n)])])
def test_a_0d_integer_input_turned_into_a_python_int_is_refused(name, fn):
    assert_refuses(WithCount(fn), [torch.randn(6, 4), torch.tensor(2)], re.escape(f"- {name}: "))


def test_a_size_computed_from_the_inputs_is_refused_too():
    msg = assert_refuses(WithCount(lambda x, n: x[:(n * 2).long()]), [torch.randn(6, 4), torch.tensor(2)],
                         "a tensor computed from the inputs")
    assert "slice bound" in msg


@pytest.mark.parametrize("fn", [lambda x, n: x * n, lambda x, n: x[n], lambda x, n: torch.full((2, 4), n) + x[:2],
                                lambda x, n: x.index_select(0, n.reshape(1)), lambda x, n: torch.where(x > 0, x, n)],
                         ids=["mul", "index", "full", "index_select", "where"])
def test_a_0d_integer_input_used_as_a_tensor_converts_and_is_exact_at_another_value(fn):
    model = WithCount(fn).eval()
    x = torch.randn(6, 4)
    trt_model = torch2trt(model, [x, torch.tensor(2)])
    for value in (0, 5):
        n = torch.tensor(value)
        torch.testing.assert_close(run_reference(trt_model, [x, n]), model(x, n), rtol=0, atol=0)


# a 0-d float input as a Scalar argument: converters that read only its sample value are refused ...
SCALAR_FROZEN = [
    ("torch.nn.functional.leaky_relu", "'negative_slope'", lambda x, s: F.leaky_relu(x, s)),
    ("torch.nn.functional.hardtanh", "'max_val'", lambda x, s: F.hardtanh(x, -1.0, s)),
    ("torch.nn.functional.elu", "'alpha'", lambda x, s: F.elu(x, alpha=s)),
    ("torch.nn.functional.softplus", "'beta'", lambda x, s: F.softplus(x, beta=s)),
    ("torch.nn.functional.hardshrink", "'lambd'", lambda x, s: F.hardshrink(x, s)),
]


@pytest.mark.parametrize("name, where, fn", SCALAR_FROZEN, ids=[n for n, _, _ in SCALAR_FROZEN])
def test_a_scalar_argument_a_converter_reads_at_the_sample_is_refused(name, where, fn):
    msg = assert_refuses(WithCount(fn), [torch.randn(6, 4), torch.tensor(0.5)], re.escape(f"- {name}: "),
                         input_names=["x", "slope"])
    assert "network input 'slope' (0.5 in the sample) as argument " + where in msg and "frozen" in msg, msg


def test_a_scalar_argument_that_is_also_a_tensor_operand_is_refused():
    """The converter takes the operand's network value; whether it took the alpha's too cannot be told."""
    msg = assert_refuses(WithCount(lambda x, s: x + torch.add(s, s, alpha=s)), [torch.randn(6, 4), torch.tensor(0.5)],
                         re.escape("- torch.add: "), input_names=["x", "s"])
    assert "argument 'alpha'" in msg and "also another argument" in msg, msg


# ... and those that take its network value convert, exact at another value
SCALAR_EXACT = [lambda x, s: torch.add(x, x, alpha=s), lambda x, s: torch.full_like(x, s),
                lambda x, s: torch.threshold(x, s, 0.0), lambda x, s: torch.addcmul(x, x, x, value=s),
                lambda x, s: x.clone().fill_(s), lambda x, s: torch.clamp(x, s)]


@pytest.mark.parametrize("fn", SCALAR_EXACT, ids=["add_alpha", "full_like", "threshold", "addcmul", "fill_", "clamp"])
def test_a_scalar_argument_a_converter_takes_from_the_network_is_exact_at_another_value(fn):
    model = WithCount(fn).eval()
    x = torch.randn(6, 4)
    trt_model = torch2trt(model, [x, torch.tensor(0.5)])
    for value in (0.25, -1.5):
        s = torch.tensor(value)
        torch.testing.assert_close(run_reference(trt_model, [x, s]), model(x, s), rtol=1e-6, atol=1e-6)


def test_a_python_int_size_still_converts():
    assert_converts(lambda x: x[:3].reshape(-1, 2) + torch.zeros(3, 4).sum(), [torch.randn(6, 4)])
