"""The package's import graph (every import statement, also those inside functions) has no cycle, and the lower
layers import nothing from the higher ones: network/ and tracing/ are data and tracing, runtime/ runs engines."""

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "torch2trt"
HIGHER = ("torch2trt.runtime", "torch2trt.cli", "torch2trt.convert", "torch2trt.check", "torch2trt.verify",
          "torch2trt.debug", "torch2trt.dynamo")


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return mods


@functools.cache
def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports. `from X import name` counts as importing the submodule X.name
    where there is one, else X itself (the package `torch2trt` when X is its top)."""
    mods = _modules(package)
    graph: dict[str, set[str]] = {}
    for mod, (path, is_package) in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_package else mod.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for a in node.names:
                    targets.add(f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source)
        graph[mod] = {t for t in targets if t in mods and t != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_lazy_and_package_imports():
    graph = import_graph()
    assert "torch2trt.runtime.saved" in graph["torch2trt.runtime.module"]     # from . import saved
    assert "torch2trt.backend" in graph["torch2trt.runtime.build"]             # from .. import backend
    assert "torch2trt.dtypes" in graph["torch2trt.cli"]                        # imported inside a function


def test_the_package_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_no_submodule_imports_the_package_top():
    graph = import_graph()
    assert sorted(m for m, targets in graph.items() if "torch2trt" in targets) == []


@pytest.mark.parametrize("layer", ["torch2trt.network", "torch2trt.tracing"])
def test_lower_layers_import_nothing_from_higher_ones(layer):
    graph = import_graph()
    bad = {m: sorted(t for t in targets if t.startswith(HIGHER))
           for m, targets in graph.items() if m.startswith(layer)}
    assert {m: t for m, t in bad.items() if t} == {}


def test_runtime_does_not_import_the_tracer():
    graph = import_graph()
    bad = {m: sorted(t for t in targets if t.startswith("torch2trt.tracing"))
           for m, targets in graph.items() if m.startswith("torch2trt.runtime")}
    assert {m: t for m, t in bad.items() if t} == {}


# ---- converters build layers only through converters/layers.py ----------------------------------------------------
# the modules that may call network.add_* themselves (paths inside torch2trt/), and why; every converter module
# builds its layers through converters/layers.py
RAW_LAYERS_ALLOWED = {
    "converters/layers.py": "the one place converters build layers",
    "tracing/context.py": "the context's own primitives (constants, casts, reshapes, shape tensors) that layers.py "
                          "builds on; tracing/ lies below converters/ and cannot import it",
    "tracing/shapes.py": "DynDim arithmetic, built lazily when a dynamic size is used (below converters/)",
    "tracing/mode.py": "the tracer writes an in-place result back into its base view (below converters/)",
    "quantization/qdq.py": "Q/DQ pairs; conv.py and linear.py import quantization/, so it cannot import "
                           "converters/layers.py without an import cycle",
    "backend.py": "the attention layer, whose signature differs between tensorrt and tensorrt_rtx (the one place "
                  "that knows their differences)",
    "convert.py": "the network's inputs and identity outputs, before and after the converters run",
}


def raw_layer_calls(path: Path) -> list[str]:
    """`<line>: <call>` for every `network.add_*(...)` / `ctx.network.add_*(...)` call in the file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("add_"):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if name == "network":
                calls.append(f"{node.lineno}: {ast.unparse(node.func)}")
    return calls


def test_raw_layer_calls_are_found():
    """The check sees the calls it forbids (layers.py has many; a local `network` counts as well as ctx.network)."""
    assert len(raw_layer_calls(PACKAGE / "converters" / "layers.py")) > 20
    assert raw_layer_calls(PACKAGE / "convert.py")


def test_converters_build_layers_only_through_layers_py():
    found = {rel: calls for path in sorted(PACKAGE.rglob("*.py"))
             if (rel := path.relative_to(PACKAGE).as_posix()) not in RAW_LAYERS_ALLOWED
             and (calls := raw_layer_calls(path))}
    assert not found, ("modules build layers themselves; add a helper to converters/layers.py instead:\n"
                       + "\n".join(f"torch2trt/{rel}:{call}" for rel, calls in found.items() for call in calls))


def test_every_allowed_module_still_builds_layers():
    """An exception that no longer calls network.add_* leaves the list (so that the list stays the truth)."""
    for rel, reason in RAW_LAYERS_ALLOWED.items():
        assert reason and raw_layer_calls(PACKAGE / rel), rel
