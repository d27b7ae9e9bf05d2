"""Layer-wise debugging: torch2trt.debug.compare records each converted call's PyTorch output next to its
network tensor and names the first call whose network value diverges — its torch function, module path
and source line. A converter deliberately replaced by a wrong one must be found exactly."""

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import torch2trt
from torch2trt import debug
from torch2trt.backend import trt


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.conv(x)
        y = self.act(y)
        return y + x if y.shape == x.shape else y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Block(3, 8)
        self.body = nn.Sequential(Block(8, 8), Block(8, 8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.flatten(self.pool(self.body(self.stem(x))), 1))


def line_of(func, fragment: str) -> int:
    lines, start = inspect.getsourcelines(func)
    return start + next(i for i, line in enumerate(lines) if fragment in line)


def wrong_relu(ctx):
    """relu converted as sigmoid: same shape and dtype, wrong values (the tracer cannot notice)."""
    x = ctx.get_arg("input", 0)
    layer = ctx.network.add_activation(ctx.trt(x), trt.ActivationType.SIGMOID)
    ctx.name_layer(layer)
    ctx.set_output(ctx.method_return, layer.get_output(0))


def test_correct_model_has_no_divergence_and_one_row_per_call():
    model = Net().eval()
    report = debug.compare(model, [torch.randn(2, 3, 10, 10)])
    assert report.ok and report.first_divergence is None
    functions = [r.function for r in report.rows]
    # stem: conv, relu; two residual blocks: conv, relu, add; pool, flatten, linear
    assert functions.count("torch.nn.functional.conv2d") == 3 and functions.count("torch.nn.functional.relu") == 3
    assert functions[-1] == "torch.nn.functional.linear"
    assert all(r.status == "ok" and r.rel <= 1e-5 for r in report.rows), report.table()
    assert [r.module_path for r in report.rows[:2]] == ["stem.conv", "stem.act"]
    assert report.outputs[0].rel <= 1e-5
    assert "No call diverges" in report.summary()


def test_wrong_converter_is_named_as_first_divergence_with_module_and_source_line():
    model = Net().eval()
    torch2trt.tensorrt_converter("torch.nn.functional.relu")(wrong_relu)
    try:
        report = debug.compare(model, [torch.randn(2, 3, 10, 10)], rtol=1e-5)
    finally:
        torch2trt.unregister_converter("torch.nn.functional.relu", wrong_relu)
    first = report.first_divergence
    assert first is not None, report.table()
    assert first.function == "torch.nn.functional.relu"
    assert first.module_path == "stem.act"  # the first relu; the ones in body diverge too, later
    assert f"{__file__}:{line_of(Block.forward, 'y = self.act(y)')}" in first.location
    assert "self.act(y)" in first.location
    assert first.index == 1 and report.rows[0].status == "ok"  # the conv before it is right
    assert not report.ok
    table = report.table()
    assert f"| 1 | torch.nn.functional.relu | stem.act | test_debug.py:{line_of(Block.forward, 'self.act(y)')} |" \
        in table
    assert "diverged" in table
    summary = report.summary()
    assert "First divergence: call #1 torch.nn.functional.relu in module stem.act" in summary
    # the registry is back to the real converter
    assert debug.compare(model, [torch.randn(2, 3, 10, 10)]).ok


def test_values_are_recorded_before_later_in_place_ops_change_them():
    def fn(x):
        y = x + 0.5
        y.relu_()  # changes y after its call was recorded
        return y + 1.0

    report = debug.compare(fn, [torch.randn(3, 5)])
    assert report.ok, report.table()
    assert [r.function for r in report.rows][1] == "torch.Tensor.relu_"
    assert len(report.rows) == 3
    assert report.rows[0].module_path == ""


def test_reduced_precision_is_compared_with_the_float16_pytorch_run():
    model = Net().eval()
    report = debug.compare(model, [torch.randn(2, 3, 10, 10)], rtol=1e-2, dtype=torch.float16)
    assert report.ok, report.table()
    assert any(r.dtype == torch.float16 for r in report.rows)


def test_cli_check_layerwise_reports_the_wrong_converter(tmp_path):
    """The same through `torch2trt check --layerwise`: the model file itself registers a wrong converter."""
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent('''
        import torch
        from torch import nn

        import torch2trt
        from torch2trt.backend import trt


        @torch2trt.tensorrt_converter("torch.Tensor.add")  # what `a + b` reaches
        def wrong_add(ctx):
            a, b = ctx.method_args
            a, b = ctx.operands(a, b, dtype=ctx.method_return.dtype)
            layer = ctx.network.add_elementwise(a, b, trt.ElementWiseOperation.SUB)
            ctx.name_layer(layer, "add")
            ctx.set_output(ctx.method_return, layer.get_output(0))


        class Inner(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 1)

            def forward(self, x):
                return self.conv(x) + x


        class Outer(nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = nn.Sequential(Inner(), Inner())

            def forward(self, x):
                return torch.relu(self.layer(x))


        def make():
            return Outer()
    '''))
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch2trt.cli", "check", f"{path}:make", "--input-shape", "4x6x6",
                           "--layerwise"], capture_output=True, text=True, env=env, timeout=300,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "First divergence: call #1 torch.Tensor.add in module layer.0" in proc.stdout, proc.stdout
    assert f"{path}:24 (return self.conv(x) + x)" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_report_prints_on_request(capsys):
    report = debug.compare(lambda x: torch.relu(x) + 3.0, [torch.randn(4, 4)], verbose=True)
    out = capsys.readouterr().out
    assert "2 converted calls compared" in out and "| 0 | torch.relu |" in out
    assert str(report).startswith("2 converted calls compared")


@pytest.mark.parametrize("rtol", [0.0])
def test_zero_tolerance_flags_rounding_differences_only_where_they_exist(rtol):
    # integer arithmetic is exact: nothing diverges even at rtol 0
    report = debug.compare(lambda x: x + x + 1, [torch.arange(12, dtype=torch.int32).reshape(3, 4)], rtol=rtol)
    assert report.ok, report.table()
