"""Hostile files: random corruptions of a saved TRTModule, each loaded in a worker subprocess (so a crash of
the loader could not take the test down with it). Every load must end in a StateError that says what is
wrong, or load a module identical to the one saved. Never a crash, never silently different state."""

import json
import random
import subprocess
import sys

import torch
import torch.nn as nn

from torch2trt import torch2trt

N_CORRUPTIONS = 200

WORKER = r"""
import json, sys
import torch2trt
from torch2trt import StateError
orig = torch2trt.load(sys.argv[1])
for path in sys.argv[2:]:
    print(json.dumps({"file": path, "outcome": "started"}), flush=True)
    try:
        m = torch2trt.load(path)
    except StateError as e:
        outcome, msg = "state-error", str(e)
    except Exception as e:
        outcome, msg = "other-error", f"{type(e).__name__}: {e}"
    else:
        same = (m.engine_bytes == orig.engine_bytes and m.input_names == orig.input_names
                and m.output_names == orig.output_names and m.input_specs == orig.input_specs
                and m.output_specs == orig.output_specs and m.input_schema == orig.input_schema
                and m.output_schema == orig.output_schema)
        outcome, msg = ("ok-same" if same else "ok-different"), ""
    print(json.dumps({"file": path, "outcome": outcome, "msg": msg[:300]}), flush=True)
"""


def corrupt(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(["truncate", "flip", "flip-many", "zero-range", "insert", "append", "shuffle-block"])
    b = bytearray(data)
    n = len(b)
    if kind == "truncate":
        return bytes(b[: rng.randrange(0, n)])
    if kind == "flip":
        i = rng.randrange(n)
        b[i] ^= 1 << rng.randrange(8)
    elif kind == "flip-many":
        for _ in range(rng.randint(2, 50)):
            b[rng.randrange(n)] = rng.randrange(256)
    elif kind == "zero-range":
        i = rng.randrange(n)
        b[i: i + rng.randint(1, 4096)] = bytes(min(n - i, 4096))[: len(b[i: i + 4096])]
    elif kind == "insert":
        i = rng.randrange(n)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "append":
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 256)))
    else:
        i, j = sorted(rng.sample(range(n), 2))
        k = min(rng.randint(1, 512), n - j)
        b[i:i + k], b[j:j + k] = b[j:j + k], b[i:i + k]
    return bytes(b)


def test_random_corruptions_of_a_saved_module_give_a_clear_error_or_the_same_module(tmp_path):
    torch.manual_seed(0)
    model_trt = torch2trt(nn.Sequential(nn.Linear(8, 4), nn.ReLU()).eval(), [torch.randn(2, 8)])
    original = tmp_path / "original.pth"
    torch.save(model_trt.state_dict(), original)
    data = original.read_bytes()
    rng = random.Random(1234)
    paths = []
    for i in range(N_CORRUPTIONS):
        p = tmp_path / f"corrupt_{i:03d}.pth"
        p.write_bytes(corrupt(data, rng))
        paths.append(str(p))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(original), *paths], capture_output=True, text=True,
                          timeout=600)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    finished = {r["file"]: r for r in results if r["outcome"] != "started"}
    started = [r["file"] for r in results if r["outcome"] == "started"]
    crashed = [f for f in started if f not in finished]
    assert proc.returncode == 0 and not crashed, f"loader crashed on {crashed}: {proc.stderr[-2000:]}"
    assert len(finished) == N_CORRUPTIONS
    bad = [r for r in finished.values() if r["outcome"] not in ("state-error", "ok-same")]
    assert not bad, bad[:5]
    errors = [r for r in finished.values() if r["outcome"] == "state-error"]
    assert len(errors) >= N_CORRUPTIONS // 2  # most corruptions must be detected, not ignored
    assert all("corrupt_" in r["msg"] or "TRTModule" in r["msg"] for r in errors), errors[:3]
