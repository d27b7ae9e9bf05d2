"""Partial conversion (`torch2trt(..., fallback=True)`): the largest submodules that convert exactly become TRTModules,
everything else runs in PyTorch. Owns the recording of every submodule's calls, the per-part profiles, the hybrid
module, its report and its saved state; it converts each part with torch2trt() and never changes the caller's model.

Granularity is the submodule: a module whose forward has one unsupported call runs in PyTorch and its children are
tried one by one (a forward is not split below module calls). Parts are converted from a deep copy of the model.
"""

from __future__ import annotations

import copy
import os
import reprlib
import time
import warnings
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import torch

from . import structure
from .errors import ConversionError, InputError, StateError
from .profiles import _batch_profile, _check_model, _check_sample_tensors, _profile
from .runtime.module import TRTModule
from .tracing.preserve import run_preserved

FORMAT_VERSION = 1
_META_KEY = "fallback_meta"
# A seed apart from verify.SEED: the runs that find data-dependent axes must not be the verification's inputs.
_RECORD_SEED = 20261202


@dataclass
class Part:
    """One row of the report: a module run by TensorRT or left to PyTorch."""
    path: str                 # module path in the model ('' is the whole model)
    kind: str                 # "TensorRT" | "PyTorch"
    parameters: int           # parameters this part runs (each parameter counted in exactly one part)
    share: float              # parameters / all parameters of the model
    reason: str = ""          # why a PyTorch part is not converted
    seconds: float = 0.0      # time spent converting (or trying to convert) this module
    kw_keys: list | None = None   # TensorRT parts: the keyword arguments of the converted call (None: none)
    keeps_torch: bool = False     # TensorRT parts with data-dependent axes: PyTorch runs calls outside the profile
    ordered: bool = False         # TensorRT parts whose module returns an OrderedDict
    profile: list | None = None   # TensorRT parts: [(min, opt, max)] per input tensor


class FallbackReport(list):
    """The parts of a hybrid (a list of Part); str() gives a table."""

    @property
    def trt_share(self) -> float:
        return sum(p.share for p in self if p.kind == "TensorRT")

    def __str__(self) -> str:
        rows = [f"TensorRT runs {self.trt_share:.1%} of the parameters "
                f"({sum(p.kind == 'TensorRT' for p in self)} TensorRT part(s))",
                "| part | module | parameters | share | reason (PyTorch parts) |", "|---|---|---|---|---|"]
        for p in self:
            reason = p.reason.replace("\n", " ").replace("|", "\\|")
            if len(reason) > 300:
                reason = reason[:297] + "..."
            rows.append(f"| {p.kind} | {p.path or '<model>'} | {p.parameters} | {p.share:.1%} | {reason} |")
        return "\n".join(rows)


class _CallAdapter(torch.nn.Module):
    """module(*args, **kwargs) as a call with positional arguments only: (*args, kwargs_dict)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args: Any) -> Any:
        return self.module(*args[:-1], **args[-1])


class TRTPart(torch.nn.Module):
    """A converted submodule in the hybrid: called like the module it replaces. Parts with data-dependent axes keep
    the PyTorch module (`torch_module`) for calls outside the engine's profile (an empty batch of detections, ...)."""

    def __init__(self, trt: TRTModule, path: str, kw_keys: list | None = None,
                 torch_module: torch.nn.Module | None = None, ordered: bool = False):
        super().__init__()
        self.trt = trt
        self.ordered = ordered
        self.path = path
        self.kw_keys = kw_keys
        self.torch_module = torch_module
        self._warned = False

    def _fits(self, call: list) -> bool:
        try:
            flat = structure.bind(self.trt.input_schema, call)
        except structure.StructureError:
            return False
        return all(t.dim() == len(s.min) and all(a <= n <= b for n, a, b in zip(t.shape, s.min, s.max))
                   for t, s in zip(flat, self.trt.input_specs))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.kw_keys is None and kwargs:
            raise InputError(f"part {self.path!r} was converted from a call without keyword arguments; this call "
                             f"passes {sorted(kwargs)}")
        call = list(args) + ([kwargs] if self.kw_keys is not None else [])
        if self.torch_module is not None and not self._fits(call):
            if not self._warned:
                shapes = [tuple(t.shape) for t in structure.flatten(call)[0]]
                warnings.warn(f"torch2trt fallback: part {self.path!r} got inputs of shapes {shapes} or a structure "
                              "outside what its engine was built for; PyTorch runs it (raise data_dependent_max to "
                              "cover larger sizes)", stacklevel=2)
                self._warned = True
            return self.torch_module(*args, **kwargs)
        try:
            out = self.trt(*call)
        except InputError as e:
            raise InputError(f"TensorRT part {self.path!r} of the hybrid: {e} (convert with keep_torch_modules=True "
                             "to run PyTorch on such calls)") from None
        return OrderedDict(out) if self.ordered else out


class FallbackModule(torch.nn.Module):
    """The hybrid returned by `torch2trt(..., fallback=True)`: a copy of the model in which the parts that convert
    are TRTParts. Called like the model; `fallback_report()` lists the parts; `verification` holds the comparison
    of the whole hybrid with PyTorch on fresh inputs."""

    def __init__(self, model: torch.nn.Module, report: FallbackReport, model_class: str):
        super().__init__()
        self.model = model
        self._report = report
        self.model_class = model_class
        self.verification: list | None = None
        self.timings: dict = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def fallback_report(self) -> FallbackReport:
        return self._report

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + _META_KEY] = {"format_version": FORMAT_VERSION, "model_class": self.model_class,
                                           "parts": [asdict(p) for p in self._report]}

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if prefix + _META_KEY in unexpected_keys:
            unexpected_keys.remove(prefix + _META_KEY)


# ---- recording ---------------------------------------------------------------------------------------------------
def _class_name(model: torch.nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _call_value(args: tuple, kwargs: dict) -> list:
    return list(args) + ([dict(kwargs)] if kwargs else [])


class _Recorder:
    """Forward pre-hooks on every submodule: per module, its calls' (schema, shapes), and the first run's arguments."""

    def __init__(self, model: torch.nn.Module, keep_sample=lambda module: True):
        self.modules = {id(m): m for _, m in model.named_modules()}
        # sample arguments are cloned only for modules that may become parts (memory: every module's inputs)
        self.keep = {i for i, m in self.modules.items() if keep_sample(m)}
        self.run = 0
        self.calls: dict[int, list[list]] = {}      # module id -> per run: [(schema, shapes, dtypes) | reason]
        self.sample: dict[int, tuple] = {}           # module id -> (args, kwargs) of its first call in run 0
        self.outputs: dict[int, str | None] = {}     # module id -> why its output cannot come from an engine
        self.ordered: set[int] = set()                # modules whose output is an OrderedDict
        self.handles = [m.register_forward_pre_hook(self._hook(i), with_kwargs=True)
                        for i, m in self.modules.items()]
        self.handles += [m.register_forward_hook(self._out_hook(i)) for i, m in self.modules.items()]

    def _out_hook(self, key: int):
        def hook(module, args, output):
            if self.run == 0 and key not in self.outputs:
                self.outputs[key] = _output_problem(output)
                if type(output) is OrderedDict:
                    self.ordered.add(key)
            return None
        return hook

    def _hook(self, key: int):
        def hook(module, args, kwargs):
            runs = self.calls.setdefault(key, [])
            while len(runs) <= self.run:
                runs.append([])
            try:
                flat, schema = structure.flatten(_call_value(args, kwargs))
            except TypeError as e:
                runs[self.run].append(f"its inputs cannot be passed to an engine: {e}")
                return None
            runs[self.run].append((schema, [tuple(t.shape) for t in flat], [t.dtype for t in flat],
                                   bool(kwargs)))
            if self.run == 0 and key not in self.sample and key in self.keep:
                self.sample[key] = structure.unflatten(schema, [t.detach().clone() for t in flat]), sorted(kwargs)
            return None
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _output_problem(value: Any) -> str | None:
    """Why an engine (which returns tensors in plain lists, tuples and dicts) cannot stand for this output."""
    if isinstance(value, torch.Tensor) or type(value) in (type(None), bool, int, float, str):
        return None
    if type(value) in (list, tuple) or (type(value) in (dict, OrderedDict)):
        items = value.values() if isinstance(value, dict) else value
        return next((p for p in map(_output_problem, items) if p is not None), None)
    return (f"it returns a {type(value).__module__}.{type(value).__qualname__}, which an engine cannot give back "
            "(it returns tensors in plain lists, tuples and dicts)")


def _record(model: torch.nn.Module, arg_lists: list[list], keep_sample=lambda module: True
            ) -> tuple[_Recorder, set[int]]:
    """Run the model on each argument list with the hooks on; the runs after the sample's that PyTorch itself
    refuses (fresh inputs the model does not accept) are dropped."""
    rec = _Recorder(model, keep_sample)
    dropped = set()
    try:
        for i, args in enumerate(arg_lists):
            rec.run = i
            flat, schema = structure.flatten(list(args))
            try:
                run_preserved(model, *structure.unflatten(schema, [t.clone() for t in flat]))
            except Exception:  # noqa: BLE001
                if i == 0:
                    raise
                dropped.add(i)
                for runs in rec.calls.values():
                    if len(runs) > i:
                        runs[i] = []
    finally:
        rec.close()
    return rec, dropped


def _part_profile(runs: list[list], run_groups: list[list[int]], opt_run: int, bound: int | None,
                  rows: bool = False):
    """(sample call, per-tensor (min, opt, max), data-dependent axes) of a module's calls, or a reason. An axis is
    data-dependent where it differs between runs at the same model input shapes, and axis 0 everywhere with `rows`."""
    calls = [(r, c) for r, cs in enumerate(runs) for c in cs]
    bad = next((c for _, c in calls if isinstance(c, str)), None)
    if bad is not None:
        return bad
    schema, _, dtypes, _ = calls[0][1]
    for _, c in calls:
        if c[0] != schema or c[2] != dtypes:
            return ("it is called with different structures, non-tensor values or dtypes (one engine takes one "
                    "structure)")
    n = len(dtypes)
    per_tensor = []
    dependent = []
    for i in range(n):
        shapes = [c[1][i] for _, c in calls]
        if len({len(s) for s in shapes}) != 1:
            return f"input tensor {i} changes rank between calls"
        rank = len(shapes[0])
        lo = [min(s[a] for s in shapes) for a in range(rank)]
        hi = [max(s[a] for s in shapes) for a in range(rank)]
        opt_calls = [c[1][i] for r, c in calls if r == opt_run] or shapes
        opt = list(opt_calls[0])
        for a in range(rank):
            varies = rows and a == 0
            for group in run_groups:   # runs with the same model input shapes: a difference comes from the data
                seqs = [[c[1][i][a] for c in runs[r] if not isinstance(c, str)] for r in group if r < len(runs)]
                if len({tuple(s) for s in seqs}) > 1:
                    varies = True
            if varies:
                if bound is None:
                    seen = sorted(set(s[a] for s in shapes))
                    return (f"axis {a} of its input tensor {i} depends on the data (sizes {seen} at the same model "
                            "input shapes); pass data_dependent_max=<largest size> to convert it")
                if hi[a] > bound:
                    return f"axis {a} of its input tensor {i} reaches {hi[a]} > data_dependent_max={bound}"
                lo[a], hi[a] = 1, bound
                opt[a] = min(max(opt[a], 1), bound)
                dependent.append((i, a))
        per_tensor.append((tuple(lo), tuple(opt), tuple(hi)))
    return calls[0][1], per_tensor, dependent


def _row_bound(model: torch.nn.Module, path: str, batch: int) -> int | None:
    """What a torchvision R-CNN's heads (below roi_heads, axis 0 of every input: one row per proposal or detection)
    can see: proposals (rpn post_nms_top_n) or detections (detections_per_img) per image, times the batch. None for
    other models (data_dependent_max must say it)."""
    rpn, roi = getattr(model, "rpn", None), getattr(model, "roi_heads", None)
    post = getattr(rpn, "_post_nms_top_n", None)
    per_img = getattr(roi, "detections_per_img", None)
    leaf = path.rsplit(".", 1)[-1]
    if path.startswith("roi_heads.") and ("mask" in leaf or "keypoint" in leaf) and isinstance(per_img, int):
        return per_img * batch
    if path.startswith("roi_heads.") and isinstance(post, dict) and isinstance(post.get("testing"), int):
        return post["testing"] * batch
    return None


def _batch(inputs: list) -> int:
    first = inputs[0] if inputs else None
    if isinstance(first, (list, tuple)):
        return len(first)
    if isinstance(first, torch.Tensor) and first.dim():
        return int(first.shape[0])
    return 1


# ---- the parts ---------------------------------------------------------------------------------------------------
def _aliases(root: torch.nn.Module, target: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    out = []
    for _, parent in root.named_modules(remove_duplicate=False):
        for name, child in parent._modules.items():
            if child is target:
                out.append((parent, name))
    return out


def _replace(root: torch.nn.Module, target: torch.nn.Module, new: torch.nn.Module) -> None:
    for parent, name in _aliases(root, target):
        setattr(parent, name, new)


def _excluded(path: str, module: torch.nn.Module, torch_executed_modules: Sequence) -> bool:
    """A module path (and what is below it), a class name (short or qualified) or a class."""
    for entry in torch_executed_modules:
        if isinstance(entry, type):
            if isinstance(module, entry):
                return True
        elif path == entry or path.startswith(entry + ".") or entry in (type(module).__name__, _class_name(module)):
            return True
    return False


def _short_reason(e: Exception) -> str:
    text = str(e).strip()
    lines = [ln for ln in text.splitlines() if not ln.startswith("Write a converter with")]
    return (f"{type(e).__name__}: " if not isinstance(e, ConversionError) else "") + "\n".join(lines)


def convert_fallback(model: torch.nn.Module, inputs: Any, *, convert: Callable[..., TRTModule],
                     min_block_size: int = 1,
                     torch_executed_modules: Sequence = (), data_dependent_max: int | dict | None = None,
                     keep_torch_modules: bool = False,
                     min_shapes: Any = None, opt_shapes: Any = None, max_shapes: Any = None,
                     max_batch_size: int | None = None, verify: bool = True,
                     verify_inputs: Sequence[Sequence[Any]] | None = None, verify_rtol: float | None = None,
                     **convert_kwargs: Any) -> FallbackModule:
    """The hybrid of `model` (see torch2trt's `fallback`): the whole model is converted if it can be; else each
    child, recursively. `min_block_size` counts parameters: a module with fewer runs in PyTorch (default 1: a part
    holds at least one parameter). `torch_executed_modules`: module paths, class names or classes that stay in
    PyTorch with everything below them. `data_dependent_max`: the largest size of an input axis that depends on the data
    (an int, or {module path: int}); torchvision R-CNN heads get theirs from the model (proposals or detections per
    image times the batch). Parts with such axes keep their PyTorch module (saved with the hybrid) and run it on
    calls outside their engine's profile; `keep_torch_modules=True` does so for every part, also for calls with
    another structure (a None where the sample had a tensor); else such a call is an InputError naming the part.
    Other arguments (dtype, workspace, ...) apply to every part."""
    from .verify import Judge, VerificationRun, default_rtol, describe, fresh_inputs, lowest_float

    torch2trt = convert   # the whole-model conversion (convert.torch2trt, passed in: it dispatches to us)

    t_start = time.perf_counter()
    for key in ("input_names", "output_names"):
        if convert_kwargs.get(key) is not None:
            raise ValueError(f"{key} name the tensors of one engine; with fallback=True each part has its own")
        convert_kwargs.pop(key, None)
    if not isinstance(min_block_size, int) or isinstance(min_block_size, bool) or min_block_size < 0:
        raise ValueError(f"min_block_size (parameters) must be a non-negative int, got {min_block_size!r}")
    if isinstance(torch_executed_modules, (str, type)):
        torch_executed_modules = [torch_executed_modules]
    if verify_inputs is not None and not verify:
        raise ValueError("verify_inputs were given with verify=False")
    _check_model(model)
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"inputs must be a list or tuple of the model's arguments, got {type(inputs).__name__}")
    inputs = list(inputs)
    flat_in, in_schema = structure.flatten(inputs)
    names = [f"input_{i}" for i in range(len(flat_in))]
    _check_sample_tensors(flat_in, in_schema, names)
    if max_batch_size is not None:
        min_shapes, opt_shapes, max_shapes = _batch_profile(flat_in, in_schema, max_batch_size, min_shapes,
                                                            opt_shapes, max_shapes)
    profile = _profile(flat_in, in_schema, names, min_shapes, opt_shapes, max_shapes)

    hybrid_model = copy.deepcopy(model)
    # runs: the sample, then fresh inputs (at min, opt, max when dynamic); runs at the same shapes form a group, in
    # which a part's input size that differs comes from the data
    arg_lists = [inputs] + fresh_inputs(inputs, profile, names, seed=_RECORD_SEED)
    keys = [tuple(tuple(t.shape) for t in structure.flatten(a)[0]) for a in arg_lists]
    rec, dropped = _record(hybrid_model, arg_lists,
                           lambda m: sum(p.numel() for p in m.parameters()) >= min_block_size)
    run_groups = [[i for i, k in enumerate(keys) if k == key and i not in dropped] for key in dict.fromkeys(keys)]
    opt_shape = tuple(tuple(p[1]) for p in profile.values())
    opt_run = keys.index(opt_shape) if opt_shape in keys and keys.index(opt_shape) not in dropped else 0

    param_of = {id(p): n for n, p in hybrid_model.named_parameters()}
    total = sum(p.numel() for p in hybrid_model.parameters())
    parts: list[Part] = []
    owner: dict[str, str] = {}     # parameter name -> path of the part that runs it
    converted: list[tuple[torch.nn.Module, TRTPart]] = []
    visited: set[int] = set()

    def claim(path: str, module: torch.nn.Module) -> None:
        for p in module.parameters():
            owner[param_of[id(p)]] = path

    def visit(path: str, module: torch.nn.Module) -> None:
        if id(module) in visited:
            return
        visited.add(id(module))
        n_params = sum(p.numel() for p in module.parameters())
        t0 = time.perf_counter()
        reason = None
        if _excluded(path, module, torch_executed_modules):   # with everything below it
            parts.append(Part(path, "PyTorch", 0, 0.0, "in torch_executed_modules"))
            claim(path, module)
            return
        if n_params < min_block_size:
            parts.append(Part(path, "PyTorch", 0, 0.0, f"{n_params} parameter(s) < min_block_size={min_block_size}"))
            claim(path, module)
            return
        elif id(module) not in rec.calls or not rec.calls[id(module)][0]:
            reason = "not called in the sample run"
        elif rec.outputs.get(id(module)) is not None:
            reason = rec.outputs[id(module)]
        else:
            bound = data_dependent_max.get(path) if isinstance(data_dependent_max, dict) else data_dependent_max
            rows = False
            if bound is None:
                bound = _row_bound(hybrid_model, path, _batch(inputs))
                rows = bound is not None
            found = _part_profile(rec.calls[id(module)], run_groups, opt_run, bound, rows)
            if isinstance(found, str):
                reason = found
            else:
                (schema, _, _, has_kw), per_tensor, dependent = found
                sample_call, kw_keys = rec.sample[id(module)]
                target = _CallAdapter(module).eval() if has_kw else module
                part_dynamic = any(lo != hi for lo, _, hi in per_tensor)
                shapes = ({"min_shapes": structure.unflatten(schema, [p[0] for p in per_tensor]),
                           "opt_shapes": structure.unflatten(schema, [p[1] for p in per_tensor]),
                           "max_shapes": structure.unflatten(schema, [p[2] for p in per_tensor])}
                          if part_dynamic else {})
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        trt_module = torch2trt(target, list(sample_call), verify=verify, verify_rtol=verify_rtol,
                                               **shapes, **convert_kwargs)
                    written = next((str(w.message) for w in caught if "in place" in str(w.message)), None)
                    if written is not None:   # an engine keeps no state between calls; PyTorch stays exact
                        raise ConversionError(written.replace("torch2trt: ", "", 1))
                except Exception as e:  # noqa: BLE001  (any failure leaves the module to PyTorch, with its reason)
                    reason = _short_reason(e)
                else:
                    keep = copy.deepcopy(module) if dependent or keep_torch_modules else None
                    part = TRTPart(trt_module, path, kw_keys if has_kw else None, keep,
                                   ordered=id(module) in rec.ordered)
                    converted.append((module, part))
                    parts.append(Part(path, "TensorRT", n_params, 0.0, seconds=time.perf_counter() - t0,
                                      kw_keys=part.kw_keys, keeps_torch=keep is not None,
                                      ordered=part.ordered,
                                      profile=[[list(x) for x in p] for p in per_tensor]))
                    claim(path, module)
                    return
        parts.append(Part(path, "PyTorch", 0, 0.0, reason, seconds=time.perf_counter() - t0))
        for p in module.parameters(recurse=False):
            owner[param_of[id(p)]] = path
        for name, child in module.named_children():
            visit(f"{path}.{name}" if path else name, child)

    visit("", hybrid_model)
    # parameters not reached by the recursion (modules below a shared one, ...) belong to their nearest PyTorch part
    for name in param_of.values():
        if name not in owner:
            owner[name] = max((p.path for p in parts if p.kind == "PyTorch"
                               and (p.path == "" or name.startswith(p.path + "."))), key=len, default="")
    sizes = dict(hybrid_model.named_parameters())
    for p in parts:
        p.parameters = sum(sizes[n].numel() for n, o in owner.items() if o == p.path)
        p.share = p.parameters / total if total else 0.0
    report = FallbackReport(parts)

    for module, part in converted:
        if module is hybrid_model:
            hybrid_model = part
        else:
            _replace(hybrid_model, module, part)
    hybrid = FallbackModule(hybrid_model, report, _class_name(model))
    hybrid.timings = {"convert": time.perf_counter() - t_start}
    if report.trt_share < 0.5:
        warnings.warn(f"torch2trt fallback: only {report.trt_share:.1%} of the parameters run in TensorRT; "
                      "hybrid.fallback_report() says why the rest does not", stacklevel=3)
    if verify:
        t0 = time.perf_counter()
        dtype = torch.float16 if convert_kwargs.get("fp16_mode") else convert_kwargs.get("dtype")
        rtol = verify_rtol if verify_rtol is not None else default_rtol(model, flat_in, dtype)
        judge = Judge(model, rtol, precision=dtype, lowest=lowest_float(model, flat_in, dtype))
        checks = [list(a) for a in verify_inputs] if verify_inputs is not None else \
            fresh_inputs(inputs, profile, names)
        hybrid.verification = []
        for args in checks:
            flat, schema = structure.flatten(list(args))
            expected = structure.flatten(run_preserved(model, *structure.unflatten(schema, [t.clone() for t in flat])))
            got = structure.flatten(run_preserved(hybrid, *structure.unflatten(schema, [t.clone() for t in flat])))
            shapes = [tuple(t.shape) for t in flat]
            if got[1] != expected[1] or len(got[0]) != len(expected[0]):
                raise ConversionError(f"torch2trt fallback: the hybrid's outputs differ in structure from PyTorch's "
                                      f"on fresh inputs of shapes {shapes} (for example a different number of "
                                      "detections)")
            run = VerificationRun(list(args))
            failing = judge.judge(args, got[0], expected[0], [f"output {i}" for i in range(len(got[0]))], run)
            errors = run.outputs
            if failing:
                i = failing[0]
                err = errors[i]
                raise ConversionError(f"torch2trt fallback: the hybrid differs from PyTorch on fresh inputs of "
                                      f"shapes {shapes}: output {i} {describe(err, rtol)} (shapes {err.shape} vs "
                                      f"{err.expected_shape})")
            hybrid.verification.append(errors)
        hybrid.timings["verify"] = time.perf_counter() - t0
    return hybrid


# ---- the saved meta: every field checked at load ------------------------------------------------------------------
_META_FIELDS = ("format_version", "model_class", "parts")
_PART_REQUIRED = ("path", "kind", "parameters", "share")
_PART_FIELDS = tuple(Part.__dataclass_fields__)      # the others have defaults (fields added over time)
_TRT_ONLY = ("keeps_torch", "ordered", "kw_keys", "profile")


def _short(value: Any) -> str:
    """A bounded repr of a saved value (any size or nesting depth)."""
    return reprlib.repr(value)


def _is_int(v: Any, lowest: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lowest


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_profile(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(p, (list, tuple)) and len(p) == 3 and all(
            isinstance(s, (list, tuple)) and all(_is_int(d) for d in s) for s in p) for p in v)


# field -> (check, what it must be)
_PART_CHECKS = {
    "path": (lambda v: isinstance(v, str), "a str"),
    "kind": (lambda v: v in ("TensorRT", "PyTorch"), "'TensorRT' or 'PyTorch'"),
    "parameters": (_is_int, "an int >= 0"),
    "share": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "reason": (lambda v: isinstance(v, str), "a str"),
    "seconds": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "kw_keys": (lambda v: v is None or (isinstance(v, list) and all(isinstance(k, str) for k in v)
                                        and len(set(v)) == len(v)), "None or a list of distinct str"),
    "keeps_torch": (lambda v: isinstance(v, bool), "a bool"),
    "ordered": (lambda v: isinstance(v, bool), "a bool"),
    "profile": (lambda v: v is None or _is_profile(v), "None or a list of [min, opt, max] shapes (lists of ints)"),
}


def _read_meta(meta: dict, model_class: str, modules: dict) -> FallbackReport:
    """The report saved in `meta` (format_version already checked), every field checked: types, known keys, paths
    that are modules of the model (each listed once, no TensorRT part inside another), flags only on TensorRT parts.
    A StateError names the first wrong field."""
    where = _META_KEY
    unknown = sorted(map(_short, set(meta) - set(_META_FIELDS)))
    if unknown:
        raise StateError(f"{where} has unknown key(s) {', '.join(unknown)}; it holds {list(_META_FIELDS)}")
    if not isinstance(meta.get("model_class"), str):
        raise StateError(f"{where}: model_class must be a str, got {_short(meta.get('model_class'))}")
    if meta["model_class"] != model_class:
        raise StateError(f"the state was saved from a {meta['model_class']}; load_fallback was given a "
                         f"{model_class}")
    parts = meta.get("parts")
    if not isinstance(parts, list):
        raise StateError(f"{where}: parts must be a list of dicts (one per part), got {type(parts).__name__}")
    report = FallbackReport()
    seen: dict[str, int] = {}
    for i, p in enumerate(parts):
        what = f"{where}: parts[{i}]"
        if not isinstance(p, dict):
            raise StateError(f"{what} must be a dict, got {type(p).__name__}")
        unknown = sorted(map(_short, set(p) - set(_PART_FIELDS)))
        if unknown:
            raise StateError(f"{what} has unknown key(s) {', '.join(unknown)}; a part holds {list(_PART_FIELDS)}")
        for key in _PART_REQUIRED:
            if key not in p:
                raise StateError(f"{what} has no {key!r}")
        for key, value in p.items():
            check, must = _PART_CHECKS[key]
            if not check(value):
                raise StateError(f"{what}.{key} must be {must}, got {_short(value)}")
        path = p["path"]
        if path not in modules:
            raise StateError(f"{what}.path {path!r} is not a module of the model")
        if path in seen:
            raise StateError(f"{what}.path {path!r} is listed twice (also parts[{seen[path]}])")
        seen[path] = i
        if p["kind"] != "TensorRT" and any(p.get(k) not in (None, False) for k in _TRT_ONLY):
            raise StateError(f"{what} ({path!r}): {', '.join(_TRT_ONLY[:-1])} and {_TRT_ONLY[-1]} belong to "
                             f"TensorRT parts; this one is a {p['kind']} part")
        report.append(Part(**p))
    trt_paths = [p.path for p in report if p.kind == "TensorRT"]
    for i, p in enumerate(report):   # a converted module's children are never parts of their own
        outer = next((q for q in trt_paths if q != p.path and (q == "" or p.path.startswith(q + "."))), None)
        if outer is not None:
            raise StateError(f"{where}: parts[{i}]: {p.kind} part {p.path!r} lies inside TensorRT part {outer!r}")
    return report


def _check_parts_against_engines(hybrid: FallbackModule, report: FallbackReport) -> None:
    """What a TensorRT part's meta says about its call must be what its loaded engine takes and returns."""
    parts = {m.path: m for m in hybrid.modules() if isinstance(m, TRTPart)}
    for i, p in enumerate(report):
        if p.kind != "TensorRT":
            continue
        what = f"{_META_KEY}: parts[{i}] ({p.path!r})"
        trt = parts[p.path].trt
        out_kind = trt.output_schema.get("kind")
        if p.ordered and out_kind != "dict":
            raise StateError(f"{what}: ordered=True but its engine returns a {out_kind}, not a dict")
        if p.kw_keys is not None:
            items = trt.input_schema.get("items") or [{}]
            last = items[-1]
            if last.get("kind") != "dict":
                raise StateError(f"{what}: kw_keys {p.kw_keys} but its engine takes no keyword arguments (its last "
                                 f"argument is a {last.get('kind')}, not a dict)")
            if sorted(map(str, last["keys"])) != sorted(p.kw_keys):
                raise StateError(f"{what}: kw_keys {p.kw_keys} but its engine takes the keyword argument(s) "
                                 f"{sorted(map(str, last['keys']))}")
        if p.profile is not None and len(p.profile) != len(trt.input_specs):
            raise StateError(f"{what}: profile has {len(p.profile)} entries but its engine has "
                             f"{len(trt.input_specs)} input tensor(s)")


def load_fallback(model: torch.nn.Module, state_dict: dict | str | os.PathLike) -> FallbackModule:
    """The hybrid saved as `hybrid.state_dict()`, rebuilt on `model` (a fresh model of the same class and
    configuration; it is not changed). A path is read with torch.load(weights_only=True)."""
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = torch.load(state_dict, weights_only=True, map_location="cpu")
    if not isinstance(state_dict, dict) or _META_KEY not in state_dict:
        raise StateError(f"not the state of a fallback hybrid (no {_META_KEY!r} entry); TRTModule states load with "
                         "TRTModule.load_state_dict")
    meta = state_dict[_META_KEY]
    if not isinstance(meta, dict) or type(meta.get("format_version")) is not int \
            or meta["format_version"] != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else meta
        raise StateError(f"{_META_KEY}: unknown format {version!r}")
    hybrid_model = copy.deepcopy(model).eval()
    modules = dict(hybrid_model.named_modules(remove_duplicate=False))
    report = _read_meta(meta, _class_name(model), modules)
    for p in report:
        if p.kind != "TensorRT":
            continue
        module = modules[p.path]
        part = TRTPart(TRTModule(), p.path, p.kw_keys, copy.deepcopy(module) if p.keeps_torch else None,
                       ordered=p.ordered)
        if module is hybrid_model:
            hybrid_model = part
        else:
            _replace(hybrid_model, module, part)
    hybrid = FallbackModule(hybrid_model, report, meta["model_class"])
    try:
        hybrid.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        if isinstance(e, StateError):
            raise
        raise StateError(f"the state does not fit this model: {e}") from None
    _check_parts_against_engines(hybrid, report)
    return hybrid


__all__ = ["convert_fallback", "load_fallback", "FallbackModule", "FallbackReport", "Part", "TRTPart"]
