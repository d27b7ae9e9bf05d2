"""Verified by default: after the engine is built, the network is compared with PyTorch on inputs that are not
the sample, so that a conversion which is right only at the sample run is caught before it is returned.

Owns the choice of verification inputs (also used by `torch2trt.check` and the CLI's `check`), the per-precision
tolerances, the comparison on the engine (where it runs) or the CPU reference executor, the verdict, and the error
that names the likely cause (with the first diverging call, found by `torch2trt.layerwise.first_divergence`).

**Inputs, the user's data first.** `verify_inputs`, the items of a `torch2trt.dataset.Dataset` and the items of
`int8_calib_dataset` (those that fit the profile) are real inputs and are used as they are. Otherwise inputs are
drawn like the sample, with a fixed seed (the check is reproducible), keeping its visible properties:
- floating tensors get the sample's mean and standard deviation (over its finite values; 1 where it has none);
  a non-negative sample gives non-negative draws; a sample whose values are all 0 or 1 gives 0/1 draws;
- integer tensors are uniform within the sample's range; booleans at the sample's share of True;
- an axis along which the sample is sorted (ascending or descending, 3 elements or more) stays sorted;
- a constant tensor (an all-ones mask, all True, all zeros) gets other patterns along its last axis — rows with
  trailing zeros, with leading zeros (padding) and at random — in one run, and its own value in another run,
  so that a branch on it is exercised;
- shapes: the sample's when the profile is static, else the profile's min, opt and max.
Non-tensor arguments are the sample's (a call with others is refused anyway).

**The verdict: no worse than PyTorch itself.** Each output is first compared with PyTorch run as the model is
given; within the tolerance (by precision, `DEFAULT_RTOL`) it is right. An output beyond it gets a second look:
- an index (argmax, argmin, max/min over a dim, topk, sort, argsort: a TopK layer's index output) is judged by
  the values it selects: accepted where the converted and PyTorch's indices select values that tie within the
  tolerance (read from the reference executor's run);
- outputs of one length ordered by scores that tie (detections: boxes, scores, labels) are compared as sets:
  accepted when a permutation that moves rows only among tied scores makes them all match;
- otherwise the model is run in float64 (a copy; the reference) and at the converted precision (as given, or
  in the conversion's `dtype`): the output is accepted when its error against the float64 reference is within
  the tolerance or within `OWN_ERROR_MULTIPLE` times PyTorch's own error at the converted precision against the
  same reference (at most `OWN_ERROR_CAP`: a float64 run that takes another path must not excuse anything). In a
  reduced precision where the model as given (float32) agrees with float64 within float32's cap, the reference is
  on the model's path and there is no cap; an output PyTorch itself gets wrong by `UNVERIFIABLE` or more at that
  precision is accepted as not verifiable at it, with a warning naming it.
Both figures are on `model_trt.verification` (`OutputError.ref_rel`, `.torch_rel`, `.allowed`, `.verdict`) and
in the error. Quantized networks (INT8/FP8) are judged against `QUANTIZED_RTOL` only.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from . import structure
from .compare import INT_MISMATCH, OutputError, compare, diverges, mismatch, same_set, ties  # noqa: F401
from .errors import ConversionError
from .layerwise import first_divergence
from .tracing.preserve import run_preserved

# Relative error (Frobenius, over each output) allowed against PyTorch by precision: above what a correct conversion
# shows on most models (float32 <= 1.3e-5, float16 <= 1.6e-3, bfloat16 <= 1.3e-2) and far below what a value frozen
# from the sample gives (order 1). Beyond it, PyTorch's own error decides (OWN_ERROR_MULTIPLE).
DEFAULT_RTOL = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}
# An output beyond the tolerance is right when its error against the float64 reference is at most this multiple of
# PyTorch's own error at the converted precision (against the same reference), and at most the cap.
OWN_ERROR_MULTIPLE = 4.0
OWN_ERROR_CAP = {torch.float32: 1e-3, torch.float16: 0.1, torch.bfloat16: 0.3}
# No cap where the conversion computes in a reduced precision and the model as given (float32) is within
# OWN_ERROR_CAP[float32] of the float64 reference (so the reference takes the model's path); there an output whose
# PyTorch error at the reduced precision is this large carries no information at it (values that underflow, a
# difference that cancels): it is accepted and named in a warning
UNVERIFIABLE = 0.5
# INT8/FP8 networks (int8_mode, quantize=...) are approximate on purpose: the check only catches gross errors (a value
# frozen from the sample is order 1); their accuracy is measured with torch2trt.check on the user's data.
QUANTIZED_RTOL = 0.25
SEED = 20261201
REAL_ITEMS = 8          # the most items of a dataset or calibration set verified on


@dataclass
class VerificationRun:
    inputs: list                       # the positional arguments of this run
    outputs: list[OutputError] = field(default_factory=list)
    executor: str = "reference"        # "engine" | "reference"
    skipped: str = ""                  # why this run was not compared (PyTorch raised on these inputs, ...)
    source: str = "drawn"              # "drawn" (like the sample) | "verify_inputs" | "dataset" | "calibration"
    reference: str = ""                # why no float64 reference was computed, when one was needed and failed


@dataclass
class Verification:
    """The comparison of a converted module with PyTorch on fresh inputs (`TRTModule.verification`)."""
    runs: list[VerificationRun]
    rtol: float

    @property
    def inputs(self) -> list[list]:
        return [r.inputs for r in self.runs]

    @property
    def max_rel(self) -> float:
        """The largest relative error against PyTorch as given (before any second look)."""
        return max((o.rel for r in self.runs for o in r.outputs), default=0.0)

    @property
    def compared(self) -> int:
        return sum(1 for r in self.runs if not r.skipped)

    def table(self) -> str:
        rows = ["| run | inputs | input shapes | executor | output | rel. error vs PyTorch | vs float64 | "
                "PyTorch's own | allowed | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(self.runs):
            shapes = ", ".join(str(tuple(t.shape)) for t in structure.flatten(r.inputs)[0])
            if r.skipped:
                rows.append(f"| {i} | {r.source} | {shapes} | - | - | skipped: {r.skipped} | | | | |")
            for o in r.outputs:
                rows.append(f"| {i} | {r.source} | {shapes} | {r.executor} | {o.name} | {o.rel:.3g} | "
                            f"{_fmt(o.ref_rel)} | {_fmt(o.torch_rel)} | {_fmt(o.allowed)} | {o.verdict or 'ok'} |")
        return "\n".join(rows)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def lowest_float(model: torch.nn.Module, flat_in: list[torch.Tensor], dtype: torch.dtype | None) -> torch.dtype:
    dtypes = {dtype} if dtype is not None else set()
    dtypes |= {t.dtype for t in flat_in if t.is_floating_point()}
    dtypes |= {p.dtype for p in model.parameters() if p.is_floating_point()}
    dtypes &= set(DEFAULT_RTOL)
    return max(dtypes, key=lambda d: DEFAULT_RTOL[d], default=torch.float32)


def default_rtol(model: torch.nn.Module, flat_in: list[torch.Tensor], dtype: torch.dtype | None) -> float:
    """The tolerance for the lowest floating precision the conversion computes in."""
    return DEFAULT_RTOL[lowest_float(model, flat_in, dtype)]


# ---- inputs -----------------------------------------------------------------------------------------------------
def _sorted_axes(src: torch.Tensor) -> list[tuple[int, bool]]:
    """(axis, descending) for each axis of 3 or more elements along which the sample is sorted (not constant)."""
    out = []
    if src.dtype == torch.bool or src.is_complex():
        return out
    for axis in range(src.dim()):
        if src.shape[axis] < 3:
            continue
        d = src.double().diff(dim=axis)
        if not bool(torch.isfinite(d).all()):
            continue
        if bool((d >= 0).all()) and bool((d > 0).any()):
            out.append((axis, False))
        elif bool((d <= 0).all()) and bool((d < 0).any()):
            out.append((axis, True))
    return out


def _patterns(shape: tuple, value: float, dtype: torch.dtype, g: torch.Generator, variant: int) -> torch.Tensor:
    """A tensor of `value` with other patterns along the last axis, row by row: trailing pad values, leading pad
    values, and at random (the pad value is 0, or 1 where `value` is 0)."""
    pad = 1 if value == 0 else 0
    if not shape or shape[-1] < 2:
        flat = torch.where(torch.rand(shape, generator=g) < 0.5, torch.tensor(value, dtype=torch.float64),
                           torch.tensor(pad, dtype=torch.float64))
        return flat.to(dtype)
    length = shape[-1]
    rows = math.prod(shape[:-1])
    out = torch.full((rows, length), float(value), dtype=torch.float64)
    for r in range(rows):
        kind = (r + variant) % 3
        keep = int(torch.randint(1, length, (1,), generator=g))     # at least one value and one pad
        if kind == 0:
            out[r, keep:] = pad
        elif kind == 1:
            out[r, :length - keep] = pad
        else:
            out[r] = torch.where(torch.rand(length, generator=g) < 0.5, float(value), float(pad))
    return out.reshape(shape).to(dtype)


def fresh_like(t: torch.Tensor, shape: Sequence[int], g: torch.Generator, *, patterns: bool = True,
               variant: int = 0) -> torch.Tensor:
    """A new tensor of `shape` drawn like `t` (see the module docstring). A constant `t` gets other patterns when
    `patterns`, else its own value."""
    shape = tuple(shape)
    src = t.detach().cpu()
    if src.is_sparse or src.layout != torch.strided or src.device.type == "meta":
        raise ValueError(f"cannot draw verification inputs like a {src.layout} tensor on {src.device}")
    values = src[torch.isfinite(src)] if (src.is_floating_point() and src.numel()) else src.reshape(-1)
    constant = values.numel() > 0 and bool((values == values.reshape(-1)[0]).all()) and not src.is_complex()
    if constant and src.numel() == values.numel():
        v = values.reshape(-1)[0].item()
        if patterns:
            out = _patterns(shape, v, torch.float64, g, variant)
        else:
            out = torch.full(shape, float(v), dtype=torch.float64)
        return out.to(t.dtype).to(t.device)
    if t.dtype == torch.bool:
        p = float(src.double().mean()) if src.numel() else 0.5
        out = torch.rand(shape, generator=g) < p
    elif src.is_floating_point() and values.numel() and bool(((values == 0) | (values == 1)).all()):
        p = float(values.double().mean())
        out = (torch.rand(shape, generator=g, dtype=torch.float64) < p).double()
    elif src.is_floating_point() or src.is_complex():
        finite = values.double() if src.is_floating_point() else src.reshape(-1)
        mean = finite.mean() if finite.numel() else torch.tensor(0.0)
        std = finite.std() if finite.numel() > 1 else torch.tensor(0.0)
        if src.is_complex():
            out = (torch.randn(shape, generator=g, dtype=torch.complex128) * std + mean)
        else:
            mean, std = float(mean), float(std)
            if not math.isfinite(std) or std == 0.0:
                std = abs(mean) or 1.0
            out = torch.randn(shape, generator=g, dtype=torch.float64) * std + mean
            if values.numel() and float(values.min()) >= 0:
                out = out.abs()
    else:
        lo, hi = (int(src.min()), int(src.max())) if src.numel() else (0, 0)
        out = torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int64)
    if not src.is_complex() and src.dim() == len(shape):
        for axis, descending in _sorted_axes(src):
            out = out.sort(dim=axis, descending=descending).values
    return out.to(t.dtype).to(t.device)


def _has_constant(flat: list[torch.Tensor]) -> bool:
    for t in flat:
        src = t.detach()
        if src.numel() > 1 and not src.is_complex() and src.layout == torch.strided and src.device.type != "meta":
            if bool((src == src.reshape(-1)[0]).all()):
                return True
    return False


def fresh_inputs(inputs: Sequence[Any], profile: dict[str, tuple], names: list[str],
                 seed: int = SEED) -> list[list]:
    """Argument lists to verify with: one at the sample's shapes when the profile is static, else one at each
    of the profile's min, opt and max shapes; with constant tensors, a run with other patterns for them and one
    with their own values."""
    flat, schema = structure.flatten(list(inputs))
    g = torch.Generator().manual_seed(seed)
    corners = [2] if all(p[0] == p[2] for p in profile.values()) else [0, 1, 2]
    runs = []
    for i, corner in enumerate(corners):
        shapes = [tuple(t.shape) if profile[n][0] == profile[n][2] else tuple(profile[n][corner])
                  for n, t in zip(names, flat)]
        runs.append(structure.unflatten(schema, [fresh_like(t, s, g, variant=i) for t, s in zip(flat, shapes)]))
    if _has_constant(flat):
        corner = corners[len(corners) // 2]
        shapes = [tuple(t.shape) if profile[n][0] == profile[n][2] else tuple(profile[n][corner])
                  for n, t in zip(names, flat)]
        runs.append(structure.unflatten(schema, [fresh_like(t, s, g, patterns=False) for t, s in zip(flat, shapes)]))
    return runs


def real_inputs(items: Any, inputs: Sequence[Any], profile: dict[str, tuple], names: list[str],
                limit: int = REAL_ITEMS) -> list[list]:
    """Up to `limit` items of a dataset (each the model's positional arguments, or one tensor) that have the
    sample's structure and dtypes and fit the profile: the user's own data, to verify on."""
    flat_s, schema_s = structure.flatten(list(inputs))
    out = []
    for item in items:
        args = list(item) if isinstance(item, (list, tuple)) else [item]
        try:
            flat, schema = structure.flatten(args)
        except Exception:  # noqa: BLE001  (an item of another kind: not verified on)
            continue
        if schema != schema_s or len(flat) != len(flat_s):
            continue
        fits = True
        for t, s, n in zip(flat, flat_s, names):
            lo, _, hi = profile[n]
            if t.dtype != s.dtype or t.dim() != len(lo) or not all(a <= d <= b for d, a, b in zip(t.shape, lo, hi)):
                fits = False
                break
        if fits:
            out.append(structure.unflatten(schema, [t.to(s.device) for t, s in zip(flat, flat_s)]))
        if len(out) >= limit:
            break
    return out


def _clone_args(args: Sequence[Any]) -> list:
    flat, schema = structure.flatten(list(args))
    return structure.unflatten(schema, [t.clone() for t in flat])


def _cast_args(args: Sequence[Any], dtype: torch.dtype) -> list:
    flat, schema = structure.flatten(list(args))
    return structure.unflatten(schema, [t.detach().to(dtype) if t.is_floating_point() else t.clone() for t in flat])


# ---- running ----------------------------------------------------------------------------------------------------
def run_converted(trt_module, args: Sequence[Any]) -> tuple[list[torch.Tensor], str]:
    """The converted module's flat outputs for `args`: on the engine where it runs, else the reference executor
    (without the one-time warning a user's call gives)."""
    runnable, _ = trt_module._engine_runnable()
    if runnable:
        flat, schema = structure.flatten(list(args))
        dev = torch.device("cuda")
        moved = structure.unflatten(schema, [t.to(dev) if t.device.type != "cuda" else t for t in flat])
        return structure.flatten(trt_module(*moved))[0], "engine"
    flat = trt_module._flatten_inputs(tuple(args))
    trt_module._check_inputs(flat, runnable=False)
    return trt_module._run_reference(flat), "reference"  # flat, in the output schema's order


def _runs_at(trt_module, args: Sequence[Any] | None) -> bool:
    if args is None:
        return True
    try:
        run_converted(trt_module, args)
    except Exception:  # noqa: BLE001
        return False
    return True


class _Lazy:
    """A value computed on first use (None with `why` when computing it raised)."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._done, self.value, self.why = make, False, None, ""

    def get(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self.value = self._make()
            except Exception as e:  # noqa: BLE001  (a second look that cannot be made: the first verdict stands)
                self.why = f"{type(e).__name__}: {e}"
        return self.value


def _model_outputs(model: torch.nn.Module, args: Sequence[Any], dtype: torch.dtype | None) -> list[torch.Tensor]:
    """The flat outputs (KV caches left out, as the conversion does) of `model` with the floating tensors of `args`
    in `dtype` (the model is already in it)."""
    returned = run_preserved(model, *_cast_args(args, dtype) if dtype is not None else _clone_args(args))
    return [t.detach() for t in structure.flatten(structure.drop_caches(returned)[0])[0]]


@dataclass
class Judge:
    """The verdict on one run's outputs (see the module docstring)."""
    model: torch.nn.Module
    rtol: float
    precision: torch.dtype | None = None        # the conversion's dtype (None: the model's own)
    lowest: torch.dtype = torch.float32         # the lowest float precision computed in
    quantized: bool = False
    selections: dict = field(default_factory=dict)   # index outputs (convert.Traced.selections)
    unverifiable: list = field(default_factory=list)  # outputs accepted as not verifiable at the precision
    copies: dict = field(default_factory=dict, repr=False)   # dtype -> the model copied in it (_copy)
    intermediates: Callable[[], dict] | None = None

    def judge(self, args: Sequence[Any], got: list[torch.Tensor], expected: list[torch.Tensor], names: list[str],
              run: VerificationRun) -> list[int]:
        """Fill run.outputs; the positions of the outputs that diverge."""
        errors = [compare(g, e.detach(), n) for g, e, n in zip(got, expected, names)]
        run.outputs = errors
        failing = [i for i, (err, g, e) in enumerate(zip(errors, got, expected)) if diverges(err, self.rtol, g, e)]
        if not failing:
            return []
        if not self.quantized:
            failing = self._indices(failing, got, expected, names, errors, run)
            failing = self._sets(failing, got, expected, errors)
            failing = self._own_error(failing, args, got, expected, errors, run)
        for i in failing:
            errors[i].verdict = "diverged"
        return failing

    def _indices(self, failing, got, expected, names, errors, run) -> list[int]:
        """Index outputs judged by the values they select, read from the reference run."""
        left = []
        for i in failing:
            err, source = errors[i], self.selections.get(names[i])
            values = self.intermediates() if (source is not None and err.same_layout and self.intermediates
                                              is not None and run.executor == "reference") else None
            if values is not None and source[0] in values:
                v, axis, keepdim = values[source[0]], source[1], source[2]
                g, e = got[i], expected[i]
                if axis is None:
                    v, g, e, axis = v.reshape(-1), g.reshape(-1), e.reshape(-1), 0
                elif not keepdim:
                    g, e = g.unsqueeze(axis), e.unsqueeze(axis)
                if ties(v, g, e, axis, self.rtol):
                    err.verdict = "tie"
                    continue
            left.append(i)
        return left

    def _sets(self, failing, got, expected, errors) -> list[int]:
        left = set(failing)
        lengths = {expected[i].shape[0] for i in failing if expected[i].dim() >= 1 and errors[i].same_layout}
        for n in lengths:
            group = [i for i, e in enumerate(expected) if e.dim() >= 1 and e.shape[0] == n and errors[i].same_layout]
            keys = [expected[i] for i in group if expected[i].dim() == 1 and expected[i].is_floating_point()]
            if not any(i in left for i in group):
                continue
            if same_set([got[i] for i in group], [expected[i] for i in group], keys, self.rtol) is not None:
                for i in group:
                    if i in left:
                        errors[i].verdict = "same set"
                        left.discard(i)
        return [i for i in failing if i in left]

    def _copy(self, dtype: torch.dtype) -> torch.nn.Module:
        """A copy of the model in `dtype`, made once per conversion (every run's second look shares it)."""
        if dtype not in self.copies:
            self.copies[dtype] = copy.deepcopy(self.model).to(dtype)
        return self.copies[dtype]

    def _own_error(self, failing, args, got, expected, errors, run) -> list[int]:
        if not failing:
            return failing
        reference = _Lazy(lambda: _model_outputs(self._copy(torch.float64), args, torch.float64))
        ref = reference.get()
        if ref is None or len(ref) != len(got):
            run.reference = reference.why or "the float64 model returns other outputs"
            return failing
        at_precision = _Lazy(lambda: expected if self.precision is None else
                             _model_outputs(self._copy(self.precision), args, self.precision))
        own = at_precision.get()
        if own is None or len(own) != len(got):
            run.reference = at_precision.why or f"the model in {self.precision} returns other outputs"
        left = []
        base_cap = OWN_ERROR_CAP.get(self.lowest, OWN_ERROR_CAP[torch.float32])
        for i in failing:
            err, g, r = errors[i], got[i], ref[i]
            if not err.same_layout or tuple(r.shape) != err.shape:
                left.append(i)
                continue
            o = own[i] if own is not None and len(own) == len(got) else None
            if err.dtype.is_floating_point or err.expected_dtype.is_floating_point:
                err.ref_rel = compare(g, r).rel
                err.torch_rel = compare(o, r).rel if o is not None and o.shape == r.shape else None
                trusted = self.precision is not None and self.precision != torch.float32 and expected[i].dtype in (
                    torch.float32, torch.float64) and expected[i].shape == r.shape \
                    and compare(expected[i], r).rel <= OWN_ERROR_CAP[torch.float32]
                if err.torch_rel is None:
                    allowed = self.rtol
                elif trusted:
                    # the model as given (float32) agrees with float64, so the reference takes the model's path:
                    # a reduced precision ill-conditioned here is PyTorch's own error, however large
                    allowed = max(self.rtol, OWN_ERROR_MULTIPLE * err.torch_rel)
                    if err.torch_rel >= UNVERIFIABLE and err.ref_rel <= allowed:
                        err.allowed, err.verdict = allowed, "not verifiable at this precision"
                        self.unverifiable.append(err.name)
                        continue
                else:
                    allowed = max(self.rtol, min(OWN_ERROR_MULTIPLE * err.torch_rel, base_cap))
            else:
                err.ref_rel = mismatch(g, r)
                err.torch_rel = mismatch(o, r) if o is not None and o.shape == r.shape else None
                allowed = INT_MISMATCH if err.torch_rel is None else max(
                    INT_MISMATCH, min(OWN_ERROR_MULTIPLE * err.torch_rel, 0.5))
            err.allowed = allowed
            if err.ref_rel <= allowed:      # NaN compares False: diverged
                err.verdict = "PyTorch's own error"
            else:
                left.append(i)
        return left


def compare_runs(model: torch.nn.Module, trt_module, arg_lists: Sequence[Sequence[Any]], names_out: list[str],
                 rtol: float, sample_args: Sequence[Any] | None = None, *, judge: Judge | None = None,
                 sources: Sequence[str] | None = None,
                 ) -> tuple[list[VerificationRun], list[tuple[int, OutputError]]]:
    """Run PyTorch (the model restored after each run) and the converted module on each argument list and judge
    the outputs. Where the converted module raises, it is a conversion error if it runs at `sample_args`, else a
    skipped run."""
    judge = judge or Judge(model, rtol)
    runs, failures = [], []
    for k, args in enumerate(arg_lists):
        run = VerificationRun(list(args), source=sources[k] if sources else "drawn")
        runs.append(run)
        try:
            returned = run_preserved(model, *_clone_args(args))
        except Exception as e:  # noqa: BLE001  (the model itself rejects these inputs: nothing to compare)
            run.skipped = f"PyTorch raised {type(e).__name__}: {e}"
            continue
        try:
            got, run.executor = run_converted(trt_module, args)
        except Exception as e:  # noqa: BLE001
            if not _runs_at(trt_module, sample_args):
                # the executor cannot run this network at all (a layer it has no semantics for): not a mismatch
                run.skipped = f"the converted network cannot be run here ({type(e).__name__}: {e})"
                continue
            raise ConversionError(
                f"torch2trt: the converted network runs at the sample's shapes but fails on fresh inputs of shapes "
                f"{[tuple(t.shape) for t in structure.flatten(list(args))[0]]}: {type(e).__name__}: {e}\n"
                "A converter took a shape from the sample run that differs at these inputs (for example a size "
                "frozen where PyTorch's is dynamic). Report it with this message, or convert with static shapes."
            ) from None
        expected = _outputs_as_converted(returned, getattr(trt_module, "output_schema", None))
        if len(got) != len(expected):
            raise ConversionError(f"the converted network returns {len(got)} tensors on fresh inputs, PyTorch "
                                  f"{len(expected)}")
        judge.intermediates = _intermediates(trt_module, args)
        for i in judge.judge(args, got, expected, names_out, run):
            failures.append((len(runs) - 1, run.outputs[i]))
    return runs, failures


def _outputs_as_converted(returned: Any, schema: dict | None) -> list[torch.Tensor]:
    """PyTorch's output tensors in the converted module's order (dicts by key; KV caches left out, as the
    conversion does); another structure, or a non-tensor output of another value than at the sample, is a
    ConversionError (the engine returns the sample's)."""
    returned = structure.drop_caches(returned)[0]
    if schema is None:
        return structure.flatten(returned)[0]
    try:
        return structure.bind({"kind": "list", "items": [schema]}, [returned])
    except structure.StructureError as e:
        raise ConversionError(f"torch2trt: PyTorch's outputs at these inputs are not structured as at the sample, "
                              f"which the engine returns: {e}") from None


def _intermediates(trt_module, args) -> Callable[[], dict] | None:
    record = getattr(trt_module, "network_record", None)
    if record is None:
        return None
    cache: list = []

    def values() -> dict:
        if not cache:
            from .network import reference
            flat = trt_module._flatten_inputs(tuple(args))
            cache.append(reference.run(record, {n: t.detach().cpu() for n, t in zip(trt_module.input_names, flat)},
                                       intermediates=True))
        return cache[0]
    return values


def verify_conversion(model: torch.nn.Module, trt_module, traced, inputs: Sequence[Any], *,
                      verify_inputs: Sequence[Sequence[Any]] | None = None, rtol: float | None = None,
                      trace: Callable[..., Any] | None = None, convert_kwargs: dict | None = None,
                      raise_on_mismatch: bool = True, real_items: Any = None,
                      verify_source: str = "verify_inputs") -> Verification:
    """Compare `trt_module` with `model` on `verify_inputs` (labelled `verify_source`), else the items of
    `real_items` (a calibration set: those that fit the profile), else fresh inputs drawn like the sample; raise a
    ConversionError naming the likely cause on a divergence (with the first diverging call, found by tracing again
    with `trace(model, inputs, **convert_kwargs)`, convert.py's `_trace`; without it, no call is named)."""
    quantized = getattr(traced.ctx, "quantization", None)
    lowest = lowest_float(model, traced.flat_in, traced.dtype)
    if rtol is None:
        rtol = DEFAULT_RTOL[lowest]
        if quantized is not None:
            rtol = max(rtol, QUANTIZED_RTOL)
    if verify_inputs is not None:
        if isinstance(verify_inputs, (torch.Tensor, dict)) or not all(
                isinstance(a, (list, tuple)) for a in verify_inputs):
            raise TypeError("verify_inputs must be a list of argument lists, e.g. [[x1], [x2]]")
        arg_lists, sources = [list(a) for a in verify_inputs], [verify_source] * len(verify_inputs)
    else:
        arg_lists = real_inputs(real_items, inputs, traced.profile, traced.names_in) if real_items is not None else []
        sources = ["calibration"] * len(arg_lists)
        if not arg_lists or _zero_ranges(quantized):
            # no real data; or calibration data that gives a zero range, which its own items cannot show wrong
            drawn = fresh_inputs(inputs, traced.profile, traced.names_in)
            arg_lists, sources = arg_lists + drawn, sources + ["drawn"] * len(drawn)
    judge = Judge(model, rtol, precision=traced.dtype, lowest=lowest, quantized=quantized is not None,
                   selections=getattr(traced, "selections", {}))
    runs, failures = compare_runs(model, trt_module, arg_lists, traced.names_out, rtol, sample_args=list(inputs),
                                  judge=judge, sources=sources)
    result = Verification(runs, rtol)
    if judge.unverifiable and not failures:
        names = sorted(set(judge.unverifiable))
        warnings.warn(f"torch2trt: output(s) {', '.join(names)} could not be verified in {traced.dtype or lowest}: "
                      "PyTorch's own error at that precision is of order 1 at these inputs (values that underflow, "
                      "or a difference that cancels), and the engine's is no larger. Check them on your own data.",
                      stacklevel=3)
    if not result.compared:
        warnings.warn("torch2trt: the conversion could not be verified on fresh inputs: "
                      + "; ".join(r.skipped for r in runs) + ". Pass verify_inputs=[[...]] the model accepts.",
                      stacklevel=3)
    if failures and raise_on_mismatch:
        raise ConversionError(_mismatch_message(model, inputs, runs, failures, rtol, trace, convert_kwargs or {},
                                                traced, quantized))
    return result


def _zero_ranges(quantized) -> list[str]:
    """The calibrated tensors whose range is zero (all-zero or constant calibration data)."""
    calibration = getattr(quantized, "calibration", None)
    return [k for k, v in (calibration.amax.items() if calibration is not None else ()) if v == 0]


# ---- the error --------------------------------------------------------------------------------------------------
def describe(err: OutputError, rtol: float) -> str:
    if not err.same_layout:
        return f"shape {err.shape} {err.dtype} where PyTorch gives {err.expected_shape} {err.expected_dtype}"
    kind = "share of elements that differ" if not (err.dtype.is_floating_point or
                                                    err.expected_dtype.is_floating_point) else "relative error"
    value = err.rel if kind == "relative error" else None
    text = (f"{kind} {value:.3g} (max abs {err.max_abs:.3g}, tolerance {rtol:g})" if value is not None
            else f"values differ (max abs {err.max_abs:.3g})")
    if err.ref_rel is not None:
        own = f"{err.torch_rel:.3g}" if err.torch_rel is not None else "not measured"
        text += (f"; against the model run in float64: {err.ref_rel:.3g}, where PyTorch's own error at the converted "
                 f"precision is {own} (allowed {err.allowed:.3g}: the tolerance or {OWN_ERROR_MULTIPLE:g}x PyTorch's "
                 "own error)")
    return text


def _cause(err: OutputError, run: VerificationRun, rtol: float, quantized, preconditions: list) -> str:
    """The likely cause of a divergence, for the error message; "" for a converter (named by the caller)."""
    if quantized is not None:
        zero = _zero_ranges(quantized)
        if zero:
            return (f"Likely cause: the calibration data. It gives a zero range for {len(zero)} quantized tensor(s) "
                    f"(e.g. {zero[0]}): all-zero or constant calibration data quantizes every other value to the "
                    "edge of the range. Calibrate with int8_calib_dataset=[...] of real inputs.")
        if run.source == "drawn":
            return ("Likely cause: the quantization range. The network is quantized, and these inputs are drawn like "
                    "the sample, not taken from your data: values outside the calibration range saturate. Pass "
                    "int8_calib_dataset=[...] (it is verified on) or verify_inputs=[[...]] with real inputs.")
        return ("Likely cause: the quantization range or algorithm: on your own data the quantized network differs "
                f"by more than {rtol:g}. Try int8_calib_algorithm='max' or 'percentile', more calibration data, or "
                "measure the accuracy with torch2trt.check and set verify_rtol.")
    if preconditions and run.source == "drawn":
        listed = "; ".join(preconditions[:3])
        return (f"Likely cause: an input precondition. Converters here assume properties of their inputs ({listed}); "
                "inputs drawn like the sample may not have them, and PyTorch's result is then unspecified. Pass "
                "verify_inputs=[[...]] with inputs that have them.")
    if err.same_layout and err.torch_rel is not None and err.allowed is not None \
            and OWN_ERROR_MULTIPLE * err.torch_rel > err.allowed and err.torch_rel > rtol:
        return (f"Likely cause: precision. PyTorch's own error at the converted precision is {err.torch_rel:.3g} "
                "against float64: at these inputs the output is mostly rounding (or the float64 run takes another "
                f"path), so the allowance is capped at {err.allowed:.3g} and excuses nothing. Verify on your own data "
                "(verify_inputs=[[...]]), or pass verify_rtol=... if this is acceptable.")
    if err.same_layout and err.ref_rel is not None and err.torch_rel is not None and err.ref_rel < 1e-2 \
            and err.rel < 1e-2:
        return (f"Likely cause: precision. The error is small ({err.ref_rel:.3g} against float64) but more than "
                f"{OWN_ERROR_MULTIPLE:g}x PyTorch's own ({err.torch_rel:.3g}). If that is acceptable for your model, "
                "pass verify_rtol=...")
    return ""


def _mismatch_message(model, inputs, runs, failures, rtol, trace, convert_kwargs, traced=None,
                      quantized=None) -> str:
    run_index, err = failures[0]
    run = runs[run_index]
    shapes = [tuple(t.shape) for t in structure.flatten(run.inputs)[0]]
    where = {"drawn": "fresh inputs (drawn like the sample, ", "verify_inputs": "verify_inputs (",
             "dataset": "the dataset's items (", "calibration": "the calibration items ("}.get(run.source, "inputs (")
    lines = [f"torch2trt: the converted network differs from PyTorch on {where}input shapes {shapes}), although it "
             f"was built from the sample: output {err.name!r} {describe(err, rtol)}."]
    if run.reference:
        lines.append(f"(No float64 reference: {run.reference}.)")
    preconditions = list(getattr(traced.ctx, "preconditions", ())) if traced is not None else []
    cause = _cause(err, run, rtol, quantized, preconditions)
    if cause:
        lines.append(cause)
        if quantized is not None or "precondition" in cause:
            return "\n".join(lines)
    try:
        if trace is None:
            raise ValueError("no tracer given")
        first = first_divergence(model, inputs, run.inputs, rtol, trace=trace, **convert_kwargs)
    except Exception as e:  # noqa: BLE001  (the diagnosis must not hide the mismatch itself)
        first, why = None, f"({type(e).__name__}: {e})"
    else:
        why = ""
    if first is not None:
        lines.append(f"First diverging call: #{first.index} {first.function} in module {first.module_path or '<model>'}"
                     f" at {first.location}: {first.status}"
                     + (f", relative error {first.rel:.3g}" if first.status == "diverged" else "") + ".")
    else:
        lines.append(f"No single converted call could be named {why}".rstrip() + ".")
    if not cause:
        lines.append("Likely cause: a converter took something from the sample run (a value, a shape or a Python "
                     "argument) that differs at other inputs. Report it with this message; pass verify_inputs=[[...]] "
                     "to verify with your own inputs, or verify=False to skip this check.")
    return "\n".join(lines)


__all__ = ["Verification", "VerificationRun", "verify_conversion", "fresh_inputs", "real_inputs", "default_rtol",
           "DEFAULT_RTOL", "OWN_ERROR_MULTIPLE", "OWN_ERROR_CAP", "UNVERIFIABLE", "QUANTIZED_RTOL"]
