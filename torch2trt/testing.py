"""Assertions for converter tests (ours and users'): convert with the real builder, run the network with
the reference executor, and compare with PyTorch — exact shapes and dtypes, tight tolerances."""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import re
from typing import Any, Callable

import torch

from .check import CheckReport, FunctionModule, check
from .tracing.context import ConversionError


def _as_module(fn: torch.nn.Module | Callable) -> torch.nn.Module:
    return (fn if isinstance(fn, torch.nn.Module) else FunctionModule(fn)).eval()


def assert_converts(fn: torch.nn.Module | Callable, inputs: list, *, rtol: float = 1e-5,
                    **convert_kwargs: Any) -> CheckReport:
    """Convert `fn` with sample `inputs` (engine built), then require every output of the reference run
    to have PyTorch's exact shape and dtype and ||out - ref|| / ||ref|| <= rtol (exact for int/bool)."""
    report = check(_as_module(fn), inputs, verbose=False, **convert_kwargs)
    assert report.outputs, "the model produced no outputs"
    where = output_labels(report.model_trt.output_schema, _bundled_spellings(fn))
    labels = {n: where.get(i, "") for i, n in enumerate(report.model_trt.output_names)}
    for o in report.outputs:
        name = o.name + labels.get(o.name, "")
        assert o.same_layout, (f"{name}: network gives {o.shape} {o.dtype}, PyTorch "
                               f"{o.expected_shape} {o.expected_dtype}")
        exact = not o.expected_dtype.is_floating_point
        bound = 0.0 if exact else rtol
        assert o.rel <= bound, f"{name}: relative error {o.rel:.3g} > {bound} (max abs {o.max_abs:.3g})\n" \
                               + report.table()
    return report


def output_labels(schema: dict, spellings: list[str] | None = None) -> dict[int, str]:
    """Flat output index -> where it sits in the model's output, e.g. `['ceil_mode']` or `[1][0]`, so that a test
    bundling several spellings in one model is told which one broke. `spellings`: the source text of each item of
    a returned tuple (see _bundled_spellings), added to the label when it matches the output's structure."""
    labels: dict[int, str] = {}
    top = schema.get("items", []) if schema["kind"] in ("list", "tuple") else []
    named = spellings if spellings is not None and len(spellings) == len(top) else None

    def walk(node: dict, path: str, spelling: str | None) -> None:
        if node["kind"] == "tensor":
            where = f"output{path}" + (f": {spelling}" if spelling else "")
            labels[node["index"]] = f" ({where})" if path else ""
        elif node["kind"] in ("list", "tuple"):
            for i, item in enumerate(node["items"]):
                walk(item, f"{path}[{i}]", named[i] if named is not None and not path else spelling)
        elif node["kind"] == "dict":
            for key, item in zip(node["keys"], node["items"]):
                walk(item, f"{path}[{key!r}]", spelling)

    walk(schema, "", None)
    return labels


@functools.lru_cache(maxsize=64)
def _module_ast(path: str) -> tuple[str, ast.Module] | None:
    source = "".join(linecache.getlines(path))
    try:
        return source, ast.parse(source)
    except SyntaxError:
        return None


def _bundled_spellings(fn: Any) -> list[str] | None:
    """For a test lambda returning a tuple of calls, `lambda a: (a.view(2, -1), torch.flatten(a))`: the source text
    of each item (None where that is not known exactly: a starred item, several such lambdas on one line)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_name != "<lambda>":
        return None
    try:
        parsed = _module_ast(inspect.getsourcefile(fn) or "")
    except TypeError:
        return None
    if parsed is None:
        return None
    source, tree = parsed
    names = code.co_varnames[:code.co_argcount]
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
             and tuple(a.arg for a in n.args.args) == names]
    if len(found) != 1 or not isinstance(found[0].body, ast.Tuple):
        return None
    items = found[0].body.elts
    if any(isinstance(e, ast.Starred) for e in items):
        return None
    return [" ".join((ast.get_source_segment(source, e) or "?").split()) for e in items]


def assert_refuses(fn: torch.nn.Module | Callable, inputs: list, match: str, **convert_kwargs: Any) -> str:
    """Conversion must fail with a ConversionError whose message matches `match` (a regex)."""
    from .convert import torch2trt

    try:
        torch2trt(_as_module(fn), inputs, **convert_kwargs)
    except ConversionError as e:
        msg = str(e)
        assert re.search(match, msg), f"error message does not match {match!r}:\n{msg}"
        return msg
    raise AssertionError(f"conversion succeeded; expected a ConversionError matching {match!r}")


def randomize_norm_statistics(model: torch.nn.Module, seed: int = 0) -> None:
    """Give batch norms random running statistics and affine parameters: with a fresh model's (mean 0,
    variance 1, weight 1, bias 0) normalization is nearly the identity and checks would not exercise it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def _like(sample: torch.Tensor, shape: tuple, generator: torch.Generator) -> torch.Tensor:
    """A fresh input of `shape` with the sample's dtype and range of values (integers stay valid indices)."""
    if sample.dtype == torch.bool:
        return torch.rand(shape, generator=generator) > 0.5
    if sample.dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(sample.dtype)
    lo, hi = (int(sample.min()), int(sample.max()) + 1) if sample.numel() else (0, 1)
    return torch.randint(lo, hi, shape, generator=generator, dtype=sample.dtype)


def _interior(lo: tuple, hi: tuple) -> tuple:
    """A shape strictly between min and max on every axis that has room (not the sample, not a corner)."""
    return tuple(a + (b - a + 1) // 2 if b - a >= 2 else b for a, b in zip(lo, hi))


def assert_converts_dynamic(fn: torch.nn.Module | Callable, sample: list, min_shapes: list, max_shapes: list,
                            shapes_to_check: list | None = None, *, opt_shapes: list | None = None,
                            rtol: float = 1e-5, make_inputs: Callable[[list], list] | None = None,
                            interior: list | None = None, **convert_kwargs: Any) -> Any:
    """Convert `fn` at `sample` (a list of tensors) with the profile min_shapes..max_shapes (opt: the sample unless
    given), then require the network to give PyTorch's outputs (exact shapes and dtypes, rel error <= rtol, exact
    for integers) on fresh inputs at the min, opt and max shapes, at an interior shape, and at `shapes_to_check`
    (each a list of shapes, one per input). `interior` replaces the computed interior shapes for ops that are
    valid at a few sizes only (expand: 1 or the target). `make_inputs(shapes)` builds inputs where random ones would
    not do (e.g. indices). Returns the converted module."""
    from .convert import torch2trt

    module = _as_module(fn)
    sample = list(sample)
    opt = [tuple(t.shape) for t in sample] if opt_shapes is None else [tuple(s) for s in opt_shapes]
    kwargs = dict(min_shapes=min_shapes, max_shapes=max_shapes, **convert_kwargs)
    if opt_shapes is not None:
        kwargs["opt_shapes"] = opt_shapes
    model_trt = torch2trt(module, sample, **kwargs)
    lo, hi = [tuple(s) for s in min_shapes], [tuple(s) for s in max_shapes]
    assert any(-1 in tuple(model_trt.network.get_input(i).shape) for i in range(model_trt.network.num_inputs)), \
        "no input of the converted network is dynamic"
    inner = [_interior(a, b) for a, b in zip(lo, hi)] if interior is None else [tuple(s) for s in interior]
    checks = [lo, opt, hi, inner] + [[tuple(s) for s in c] for c in
                                                                         shapes_to_check or []]
    g = torch.Generator().manual_seed(0)
    for shapes in checks:
        inputs = make_inputs(shapes) if make_inputs is not None else [_like(t, s, g) for t, s in zip(sample, shapes)]
        _matches(model_trt, module, inputs, rtol, f"at input shapes {shapes}")
    return model_trt


def _matches(model_trt, module, inputs: list, rtol: float, where: str) -> None:
    from . import structure
    from .check import compare, run_reference

    got, _ = structure.flatten(run_reference(model_trt, inputs))
    with torch.no_grad():
        expected, _ = structure.flatten(module(*[t.clone() for t in inputs]))
    assert len(got) == len(expected), f"{where}: {len(got)} outputs, PyTorch {len(expected)}"
    for i, (o, e) in enumerate(zip(got, expected)):
        err = compare(o, e)
        bound = rtol if e.dtype.is_floating_point else 0.0
        assert err.same_layout and err.rel <= bound, f"{where}, output {i}: {err}"


def assert_converts_dynamic_batch(fn: torch.nn.Module | Callable, sample: torch.Tensor,
                                  other: torch.Tensor | None = None, rtol: float = 1e-5, max_batch: int = 4) -> None:
    """Converted with a dynamic batch axis (1..max_batch), the network matches PyTorch on fresh inputs at batch 1,
    the sample's, max_batch and an interior batch size, and on `other`."""
    shape = tuple(sample.shape)
    module = _as_module(fn)
    model_trt = assert_converts_dynamic(module, [sample], [(1,) + shape[1:]], [(max_batch,) + shape[1:]], rtol=rtol)
    assert tuple(model_trt.network.get_input(0).shape)[0] == -1
    if other is not None:
        _matches(model_trt, module, [other], rtol, f"at the given input of shape {tuple(other.shape)}")
