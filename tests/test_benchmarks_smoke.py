"""Smoke tests of the benchmark scripts under benchmarks/ (their main functions, on tiny models, in-process)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

import torch2trt.convert as convert
import torch2trt.verify as verify

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_time_to_engine_quick(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("matplotlib")
    tte = _load("time_to_engine")
    patched = {n: getattr(convert, n) for n in ("_trace", "build_engine", "read_network", "verify_conversion")}
    verified = (verify.run_converted, verify.run_preserved)
    threads = torch.get_num_threads()
    rc = tte.main(["--models", tte.TINY, "--in-process", "--repeat", "2", "--out", str(tmp_path)])
    assert rc == 0
    # the stage timers are taken off again and the process's torch settings are as they were
    assert {n: getattr(convert, n) for n in patched} == patched
    assert (verify.run_converted, verify.run_preserved) == verified
    assert torch.get_num_threads() == threads
    data = json.loads((tmp_path / "time_to_engine.json").read_text())
    runs = data["results"][tte.TINY]
    assert set(runs) == set(tte.ROUTES)
    for route, run in runs.items():
        assert "error" not in run, run
        assert set(run["stages"]) == set(tte.STAGES[route])
        assert run["total"] > 0 and all(v >= 0 for k, v in run["stages"].items() if k != "other")
        assert len(run["totals"]) == 2 and run["total"] == min(run["totals"])      # best of --repeat
        parts = sum(run["stages"].values())
        if route == "onnx":  # export + parse + build, inside the timed span
            assert 0 < parts <= run["total"] + 1e-6
        else:                # our stages and the rest of the call make up the call
            assert math.isclose(parts, run["total"], rel_tol=1e-9, abs_tol=1e-9)
            assert run["stages"]["build"] > 0 and run["stages"]["trace"] > 0
    assert runs["default"]["stages"]["verify"] > 0 and runs["default"]["verify_runs"] >= 1
    parts = runs["default"]["verify_parts"]    # attribution inside verification: both parts ran, within the stage
    assert set(parts) == set(tte.VERIFY_PARTS.values()) and all(v > 0 for v in parts.values())
    assert sum(parts.values()) <= runs["default"]["stages"]["verify"] + 1e-6
    (verdict,) = data["verdicts"]
    ratio = runs["default"]["total"] / runs["onnx"]["total"]
    assert verdict["speed_ratio"] == pytest.approx(ratio)
    assert verdict["speed_met"] == (ratio <= tte.SPEED_TARGET)
    share = runs["default"]["stages"]["verify"] / runs["default"]["total"]
    assert verdict["verify_met"] == (share <= tte.VERIFY_TARGET)
    md = (tmp_path / "time_to_engine.md").read_text()
    assert f"| {tte.TINY} |" in md and f"--models {tte.TINY}" in md and "--in-process" in md
    assert (tmp_path / "time_to_engine.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_time_to_engine_failed_route_is_not_judged():
    tte = _load("time_to_engine")
    ok = {"total": 2.0, "stages": {"trace": 0.5, "build": 1.0, "records": 0.1, "verify": 0.4, "other": 0.0}}
    bare = {"total": 1.6, "stages": {"trace": 0.5, "build": 1.0, "records": 0.1, "other": 0.0}}
    failed = {"model": "m", "route": "onnx", "error": "UnsupportedOperatorError: aten::diff"}
    results = {"m": {"default": ok, "noverify": bare, "onnx": failed}}
    v = tte.verdicts("m", results["m"])
    assert v["speed_ratio"] is None and v["speed_met"] is None and v["noverify_ratio"] is None
    assert v["verify_share"] == pytest.approx(0.2) and v["verify_met"] is False
    text = tte.table(["m"], results) + "\n" + tte.summary(["m"], results)
    assert "m, onnx: failed (UnsupportedOperatorError: aten::diff)" in text
    assert "Not judged (a route failed): m." in text
    results["m"]["onnx"] = {"total": 4.0, "stages": {"export": 2.0, "parse": 0.5, "build": 1.5}}
    v = tte.verdicts("m", results["m"])
    assert v["speed_ratio"] == pytest.approx(0.5) and v["speed_met"] is True
