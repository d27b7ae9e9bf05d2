"""The `torch2trt` command line, run as a user runs it: `python -m torch2trt.cli ...` in a subprocess.
Every subcommand: --help, a real run on a small model, and the errors a user meets (bad arguments, an
unknown model, a missing or corrupt file) as one clear line with a non-zero exit and no traceback."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

MODEL_FILE = textwrap.dedent('''
    import torch
    from torch import nn


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.act = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(8, 5)

        def forward(self, x):
            y = self.act(self.conv(x))
            return self.head(torch.flatten(self.pool(y), 1))


    def tiny():
        return Tiny()


    def tiny_with_inputs():
        return Tiny(), torch.randn(3, 3, 12, 12)


    def two_inputs():
        class Two(nn.Module):
            def forward(self, a, b):
                return torch.relu(a) + b
        return Two()


    def unsupported():
        class Unsupported(nn.Module):
            def forward(self, x):
                return torch.linalg.det(x[..., :2, :2])  # an op no converter handles
        return Unsupported(), torch.randn(2, 4)


    def not_a_module():
        return 42
''')


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "cli_models.py"
    path.write_text(MODEL_FILE)
    return path


def run(*args, cwd=None):
    # one torch thread: two spinning OpenMP threads per process slow everything down under pytest -n 2
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch2trt.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)


def assert_clean_error(proc, *fragments, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for f in fragments:
        assert f in errors[0], errors[0]


@pytest.mark.parametrize("argv", [[], ["convert"], ["check"], ["info"], ["bench"]], ids=lambda a: a[0] if a else "top")
def test_help_describes_each_subcommand(argv):
    proc = run(*argv, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: torch2trt"), proc.stdout
    expected = {(): ["convert", "check", "bench", "info"], ("convert",): ["--output", "--input-shape", "--fp16"],
                ("check",): ["--layerwise", "--rtol"], ("info",): ["FILE"], ("bench",): ["--out", "MODEL"]}
    for word in expected[tuple(argv)]:
        assert word in proc.stdout


def test_convert_resnet18_then_info_describes_the_saved_module(tmp_path):
    out = tmp_path / "r18.pth"
    proc = run("convert", "torchvision:resnet18", "--input-shape", "3x64x64", "--batch", "2", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "conversion (tracing + network)" in proc.stdout and "engine build" in proc.stdout
    assert "CONVOLUTION 20" in proc.stdout
    assert "[resnet18]" in proc.stderr  # progress lines go to stderr
    assert out.stat().st_size > 1_000_000

    from torch2trt import TRTModule

    m = TRTModule()
    m.load_state_dict(torch.load(out, weights_only=True))
    assert m.input_specs[0].opt == [2, 3, 64, 64]

    info = run("info", out)
    assert info.returncode == 0, info.stderr
    assert "input_0: float32, shape (2, 3, 64, 64)" in info.stdout
    assert "output_0: float32, shape (2, 1000)" in info.stdout
    assert "tensorrt" in info.stdout
    assert re.search(r"network:  \d+ layers \(CONVOLUTION 20, ", info.stdout), info.stdout


def test_convert_factory_file_in_float16_and_its_example_inputs(models, tmp_path):
    out = tmp_path / "tiny.pth"
    proc = run("convert", f"{models}:tiny_with_inputs", "--fp16", "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet
    info = run("info", out)
    assert "input_0: float32, shape (3, 3, 12, 12)" in info.stdout, info.stdout  # boundaries keep float32
    assert "dtype=float16" in info.stdout


def test_convert_without_network_saves_the_engine_only(models, tmp_path):
    out = tmp_path / "engine.pth"
    proc = run("convert", f"{models}:tiny", "--input-shape", "3x8x8", "-o", out, "--no-network")
    assert proc.returncode == 0, proc.stderr
    state = torch.load(out, weights_only=True)
    assert "network" not in state and state["engine"].numel() > 0
    info = run("info", out)
    assert info.returncode == 0, info.stderr
    assert "network:  not stored" in info.stdout


def test_check_passes_and_prints_the_error_table(models):
    proc = run("check", f"{models}:two_inputs", "--input-shape", "4x5", "--input-shape", "4x5", "--batch", "2")
    assert proc.returncode == 0, proc.stderr
    assert "| output_0 | (2, 4, 5) | float32 |" in proc.stdout
    assert "OK: every output matches PyTorch within rtol 1e-05" in proc.stdout


def test_check_fails_beyond_tolerance(models):
    # float16 inside the network cannot match float32 PyTorch to 1e-9
    proc = run("check", f"{models}:tiny", "--input-shape", "3x8x8", "--fp16", "--rtol", "1e-9")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "| NO |" in proc.stdout
    assert "FAILED" in proc.stderr and "Traceback" not in proc.stderr


def test_check_layerwise_prints_per_call_table(models):
    proc = run("check", f"{models}:tiny", "--input-shape", "3x8x8", "--layerwise")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| 0 | torch.nn.functional.conv2d | conv |" in proc.stdout
    assert "| torch.nn.functional.relu | act |" in proc.stdout
    assert "No call diverges" in proc.stdout


def test_bench_writes_table_json_and_chart(models, tmp_path):
    proc = run("bench", f"{models}:tiny_with_inputs", f"{models}:unsupported", "--out", tmp_path, "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "model_table.md").read_text()
    assert "| cli_models:tiny_with_inputs |" in table
    assert "linalg.det" in table  # the model that does not convert gets a row that says why
    rows = json.loads((tmp_path / "model_table.json").read_text())["rows"]
    ok, failed = rows
    assert ok["status"] == "ok" and ok["layers"] > 0 and ok["onnx_layers"] > 0
    assert ok["rel_error"] <= 1e-5 and ok["build_s"] > 0 and ok["convert_s"] > 0
    assert failed["status"].startswith("not converted: torch.linalg.det")
    if not torch.cuda.is_available():
        assert "not measurable here" in table
    png = (tmp_path / "model_table.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "[1/2]" in proc.stderr and "[2/2]" in proc.stderr


def run_here(argv, capsys, cwd=None):
    """The same entry point in this process (no interpreter start-up): for the many error variants."""
    from torch2trt import cli

    old = os.getcwd()
    os.chdir(cwd or ROOT)
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


@pytest.mark.parametrize("argv, fragments", [
    (["convert", "torchvision:resnet18"], ["required", "--output"]),
    (["info", "does/not/exist.pth"], ["file not found: does/not/exist.pth"]),
    (["bench", "resnet_nope", "--out", "unused"], ["unknown torchvision model 'resnet_nope'"]),
], ids=["convert-no-output", "info-missing-file", "bench-unknown-model"])
def test_errors_in_a_subprocess_are_one_line_without_traceback(argv, fragments, tmp_path):
    proc = run(*argv, cwd=tmp_path)
    assert_clean_error(proc, *fragments, code=2 if "required" in fragments else 1)


@pytest.mark.parametrize("argv, fragments, code", [
    (["convert", "torchvision:resnet18", "-o", "x.pth", "--batch", "two"], ["--batch", "invalid int"], 2),
    (["convert", "torchvision:resnet18", "-o", "x.pth", "--batch", "0"], ["--batch must be positive"], 1),
    (["check", "torchvision:resnet18", "--dtype", "float64"], ["--dtype", "invalid choice"], 2),
    (["check", "torchvision:resnet18", "--fp16", "--dtype", "bfloat16"], ["--fp16 contradicts"], 1),
    (["frobnicate"], ["invalid choice"], 2),
    ([], ["required"], 2),
    (["convert", "torchvision:resnet_nope", "-o", "x.pth"], ["unknown torchvision model 'resnet_nope'"], 1),
    (["convert", "torchvision:resnet18", "-o", "x.pth", "--input-shape", "3by64"], ["bad --input-shape"], 1),
    (["convert", "torchvision:resnet18", "-o", "no_dir/x.pth"], ["output folder does not exist"], 1),
    (["convert", "missing_dir/model.py:make", "-o", "x.pth"], ["model file not found"], 1),
    (["convert", "hub:resnet18", "-o", "x.pth"], ["bad model 'hub:resnet18'"], 1),
    (["check", "missing.py:make"], ["model file not found: missing.py"], 1),
    (["bench", "missing.py:make", "--out", "unused"], ["model file not found"], 1),
    (["info"], ["required: FILE"], 2),
], ids=["bad-batch", "zero-batch", "bad-dtype", "fp16-vs-dtype", "bad-command", "no-command", "unknown-model",
        "bad-shape", "missing-output-dir", "missing-model-file", "bad-model-kind", "check-missing-file",
        "bench-missing-file", "info-no-file"])
def test_bad_arguments_give_one_line_and_nonzero_exit(argv, fragments, code, tmp_path, capsys):
    assert_clean_error(run_here(argv, capsys, cwd=tmp_path), *fragments, code=code)


def test_factory_problems_are_one_line(models, tmp_path, capsys):
    assert_clean_error(run_here(["convert", f"{models}:nope", "-o", tmp_path / "x.pth"], capsys),
                       "has no function 'nope'")
    assert_clean_error(run_here(["convert", f"{models}:not_a_module", "-o", tmp_path / "x.pth"], capsys),
                       "did not give a torch.nn.Module")
    assert_clean_error(run_here(["convert", f"{models}:tiny", "-o", tmp_path / "x.pth"], capsys), "--input-shape")


def test_conversion_error_lists_the_problem_without_traceback(models, tmp_path):
    proc = run("convert", f"{models}:unsupported", "-o", tmp_path / "x.pth")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "torch.linalg.det: no converter" in proc.stderr
    assert not (tmp_path / "x.pth").exists()


@pytest.mark.parametrize("content", [b"not a torch file", "truncated", "foreign", "objects"])
def test_info_rejects_corrupt_or_foreign_files(content, tmp_path, capsys):
    path = tmp_path / "bad.pth"
    if content == "truncated":
        torch.save({"engine": torch.zeros(100_000, dtype=torch.uint8)}, path)
        path.write_bytes(path.read_bytes()[:5000])
    elif content == "foreign":
        torch.save({"weight": torch.zeros(3)}, path)
    elif content == "objects":
        torch.save({"engine": Path("x")}, path)  # an arbitrary object: never unpickled
    else:
        path.write_bytes(content)
    assert_clean_error(run_here(["info", path], capsys), str(path), code=1)


@pytest.mark.gpu
def test_bench_measures_gpu_columns_where_an_engine_can_run(tmp_path):
    from torch2trt import backend

    runnable, why = backend.engine_runnable_here()
    if not runnable:
        pytest.skip(why)
    proc = run("bench", "resnet18", "--size", "64", "--out", tmp_path, "--repeat", "1", "--iterations", "20",
               "--no-onnx")
    assert proc.returncode == 0, proc.stderr
    gpu = json.loads((tmp_path / "model_table.json").read_text())["rows"][0]["gpu"]
    assert gpu["pytorch_fps"] > 0 and gpu["trt_fps"] > 0
    assert 0 < gpu["trt_median_ms"] <= gpu["trt_p99_ms"]
    assert "not measurable here" not in (tmp_path / "model_table.md").read_text()


def test_bench_runs_from_an_installed_copy_without_a_source_checkout(models, tmp_path):
    # the benchmark is part of the package: a copy of torch2trt/ alone (no benchmarks/ folder beside it) runs it
    import shutil

    site = tmp_path / "site"
    shutil.copytree(ROOT / "torch2trt", site / "torch2trt", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", PYTHONPATH=str(site))
    code = ("import sys, torch2trt, torch2trt.cli as cli; print(torch2trt.__file__); "
            "sys.exit(cli.main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "bench", f"{models}:tiny_with_inputs", "--out", tmp_path / "o",
                           "--repeat", "1", "--no-onnx", "-q"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(str(site)), proc.stdout  # the copy ran, not the source tree
    row = json.loads((tmp_path / "o" / "model_table.json").read_text())["rows"][0]
    assert row["status"] == "ok" and row["layers"] > 0 and row["convert_s"] > 0 and row["build_s"] > 0


def test_convert_prints_the_timings_torch2trt_reports(models, tmp_path):
    proc = run("convert", f"{models}:tiny_with_inputs", "-o", tmp_path / "t.pth")
    assert proc.returncode == 0, proc.stderr
    times = {k: float(v) for k, v in re.findall(r"^\s+(conversion|engine build|verification)\b.*?([\d.]+) s$",
                                                 proc.stdout, re.M)}
    assert set(times) == {"conversion", "engine build", "verification"}, proc.stdout
    assert all(v >= 0 for v in times.values()) and times["engine build"] > 0


def test_check_int8_calibrates_on_a_folder_and_reports_the_error_against_the_float_model(models, tmp_path, capsys):
    calib = tmp_path / "calib"
    calib.mkdir()
    g = torch.Generator().manual_seed(5)
    for i in range(6):
        torch.save(torch.randn(3, 3, 12, 12, generator=g), calib / f"item{i:02d}.pt")
    proc = run_here(["check", f"{models}:tiny_with_inputs", "--int8", "--calib", calib, "--calib-algorithm", "max",
                     "-q"], capsys)
    assert proc.returncode == 0, proc.stderr
    assert "INT8 network against the float model" in proc.stdout and "6 item(s) of" in proc.stdout
    rel = float(re.search(r"^\| output_0 \| \(3, 5\) \| float32 \| [^|]+ \| ([^|]+) \| yes \|$", proc.stdout, re.M)
                .group(1))
    assert 1e-4 < rel < 0.25   # quantized (a float network would be ~1e-7), and within the INT8 tolerance
    full = run_here(["check", f"{models}:tiny_with_inputs", "--int8", "--calib", calib, "--int8-target", "tensorrt",
                     "--rtol", "1", "-q"], capsys)   # activations and the convolution quantized too
    assert full.returncode == 0, full.stderr
    rel_full = float(re.search(r"^\| output_0 \| \(3, 5\) \| float32 \| [^|]+ \| ([^|]+) \| yes \|$", full.stdout,
                               re.M).group(1))
    assert rel_full > rel   # more of the network in INT8 (on a tiny random model): a larger error, reported


@pytest.mark.parametrize("extra, fragment", [
    ([], "--int8 and --calib DIR go together"),
    (["--calib", "CALIB"], "item 0 has input shapes [(2, 3, 12, 12)]; the model's sample has [(3, 3, 12, 12)]"),
    (["--calib", "EMPTY"], "holds no *.pt files"),
])
def test_check_int8_argument_errors_are_one_line(models, tmp_path, capsys, extra, fragment):
    (tmp_path / "CALIB").mkdir()
    (tmp_path / "EMPTY").mkdir()
    torch.save(torch.randn(2, 3, 12, 12), tmp_path / "CALIB" / "a.pt")
    argv = ["check", f"{models}:tiny_with_inputs", "--int8", *[str(tmp_path / a) if a.isupper() else a for a in extra]]
    assert_clean_error(run_here(argv, capsys), fragment, code=1)
