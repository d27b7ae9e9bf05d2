"""Hostile files: random corruptions of a saved TRTModule, each loaded in a worker subprocess (so a crash of
the loader could not take the test down with it). Every load must end in a StateError that says what is
wrong, or load a module identical to the one saved. Never a crash, never silently different state."""

import io
import json
import random
import subprocess
import sys
import warnings

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


# ---- structured mutations: consistent files (digest rewritten) whose plain values disagree -----------------------

N_MUTATIONS = 200


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k in value:
            yield from _paths(value[k], path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def _get(value, path):
    for k in path:
        value = value[k]
    return value


def _put(state, path, new):
    """state[path] = new, rebuilding the tuples on the way."""
    parent = _get(state, path[:-1])
    if isinstance(parent, tuple):
        items = list(parent)
        items[path[-1]] = new
        _put(state, path[:-1], tuple(items))
    else:
        parent[path[-1]] = new


def _mutation(old, pool, rng: random.Random):
    kind = rng.choice(["other", "int", "str", "none", "empty", "neg", "big", "drop", "dup", "del", "shuffle"])
    if kind == "other":
        return rng.choice(pool)
    if kind in ("int", "neg", "big"):
        return {"int": rng.randint(0, 10), "neg": -rng.randint(1, 3), "big": 1 << 40}[kind]
    if kind == "str":
        return rng.choice(["input_0", "output_1", "float16", "tensor", "SHUFFLE", "0/linear_output"])
    if kind in ("none", "empty") or not old or not isinstance(old, (dict, list, tuple)):
        return None if kind == "none" else rng.choice([[], {}, ()])
    if isinstance(old, dict):
        new = dict(old)
        new.pop(rng.choice(list(new)))
        return new
    items = list(old)
    if kind == "dup":
        items.append(rng.choice(items))
    elif kind == "del":
        items.pop(rng.randrange(len(items)))
    else:
        rng.shuffle(items)
    return tuple(items) if isinstance(old, tuple) else items


class _TwoOutputs(nn.Module):
    def forward(self, x):
        y = torch.relu(x[:, :4]).reshape(x.shape[0], 2, 2)
        return {"up": nn.functional.interpolate(y, scale_factor=2.0), "n": torch.arange(x.shape[0]).float()}


def test_mutated_plain_values_give_a_state_error_or_a_module_whose_calls_fail_clearly():
    from torch2trt import InputError, StateError, TRTModule, TRTModuleError
    from torch2trt.network.reference import ReferenceError
    from torch2trt.runtime.saved import pairing_digest, state_digest

    torch.manual_seed(0)
    modules = [(torch2trt(nn.Sequential(nn.Linear(8, 4), nn.ReLU()).eval(), [torch.randn(2, 8)]), (2, 8)),
               (torch2trt(_TwoOutputs().eval(), [torch.randn(2, 8)], min_shapes=[(1, 8)], max_shapes=[(6, 8)]),
                (3, 8))]
    rng = random.Random(4321)
    outcomes, unclear = {}, []
    for _ in range(N_MUTATIONS):
        module, shape = rng.choice(modules)
        buf = io.BytesIO()
        torch.save(module.state_dict(), buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        paths = [p for p in _paths(state) if p and p[0] != "state_sha256" and not isinstance(_get(state, p),
                                                                                               torch.Tensor)]
        path = rng.choice(paths)
        _put(state, path, _mutation(_get(state, path), [_get(state, p) for p in paths], rng))
        if path[0] != "engine_network_sha256":   # a mutated record must reach the checks before the pairing's
            state["engine_network_sha256"] = pairing_digest(state["engine"], state["network"])
        state["state_sha256"] = state_digest(state)
        loaded = TRTModule()
        try:
            loaded.load_state_dict(state)
        except StateError:
            outcomes["state-error"] = outcomes.get("state-error", 0) + 1
            continue
        except Exception as e:
            unclear.append((path, "load", f"{type(e).__name__}: {e}"[:200]))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded(torch.randn(shape))
            outcome = "ran"
        except (InputError, ReferenceError, TRTModuleError) as e:   # each names the input or the layer
            outcome = type(e).__name__
        except Exception as e:
            unclear.append((path, "call", f"{type(e).__name__}: {e}"[:200]))
            continue
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert not unclear, unclear[:5]
    assert outcomes.get("state-error", 0) >= N_MUTATIONS // 2, outcomes
