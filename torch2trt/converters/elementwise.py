"""Binary and ternary elementwise converters: arithmetic (with alpha, rounding modes, reflected dunders),
comparisons, logical ops, where, clamp, minimum/maximum/fmin/fmax, lerp, addcmul/addcdiv. Operands are cast to
PyTorch's result dtype (read from the real output, or torch.result_type for comparisons) and broadcast to one
rank. Compositions of float16/bfloat16 are computed in float32 and rounded once, as PyTorch's opmath does, and
Python numbers enter as PyTorch's CPU kernels hold them (measured): kept in float32 as the second operand of a
product or quotient, rounded to the dtype in sums and differences (alpha too). PyTorch's CPU lerp is a fused
multiply-add, which is not reproduced: measured, 1 in 4 float32 results and 1 in 300 float16 ones differ by an ulp."""

from __future__ import annotations

import math

import torch

from ..backend import trt
from ..quantization.qdq import quantized_add_operands
from ..tracing.context import get_trt
from ..tracing.registry import spellings, tensorrt_converter
from ..tracing.shapes import DynDim
from . import layers
from .layers import E, U, compute_dtype, require_arithmetic_dtype, select, set_output_in_result_dtype, unary


def elementwise(ctx, a, b, op, dtype: torch.dtype):
    """layers.elementwise in `dtype`, refused first where TensorRT has no arithmetic for that dtype."""
    require_arithmetic_dtype(ctx, dtype)
    return layers.elementwise(ctx, a, b, op, dtype)


def _as_compute(ctx, *values, round_numbers: bool = False):
    """Operands (tensors, network tensors) rounded to the output dtype first (as PyTorch promotes), then held in
    the compute dtype. Python numbers stay as they are (float32 constants), or are rounded to the output dtype too
    with `round_numbers` (PyTorch's sums and differences of float16/bfloat16 and a number)."""
    out = ctx.method_return.dtype
    require_arithmetic_dtype(ctx, out)
    dt = compute_dtype(out)
    rank = max(len(v.shape) if isinstance(v, (torch.Tensor, trt.ITensor)) else 0 for v in values)
    return [ctx.trt(ctx.trt(v, out, rank), dt) if isinstance(v, (torch.Tensor, trt.ITensor))
            else _rounded(v, out) if round_numbers else v for v in values] + [dt]


def _rounded(v, dtype: torch.dtype):
    """A Python number as PyTorch holds it in a `dtype` operation: rounded to a floating dtype."""
    return float(torch.tensor(v, dtype=dtype)) if dtype.is_floating_point and _is_number(v) else v


def _is_cpu_scalar(v) -> bool:
    """A Python number or a 0-dim tensor: what PyTorch's CPU kernels read as a scalar."""
    return _is_number(v) or (isinstance(v, torch.Tensor) and v.dim() == 0 and not v.dtype == torch.bool)


def _by_scalar(ctx, a, b, op) -> bool:
    """PyTorch's scalar path for a float16/bfloat16 product or quotient (measured on the CPU: TensorIterator's
    original_scalar_value): when the second operand is a Python number or a 0-dim tensor, it keeps float32
    precision, the operation is computed in float32 and rounded once. Sets the output and returns True then."""
    out = ctx.method_return
    if out.dtype not in layers.REDUCED_FLOATS or not _is_cpu_scalar(b) \
            or not isinstance(a, (torch.Tensor, trt.ITensor)):
        return False
    fa = ctx.cast(ctx.trt(a, out.dtype), torch.float32)
    fb = float(b) if _is_number(b) else ctx.trt(b, torch.float32, len(fa.shape))
    set_output_in_result_dtype(ctx, elementwise(ctx, fa, fb, op, torch.float32))
    return True


_REFLECTED = ("__rsub__", "__rtruediv__", "__rdiv__", "__rpow__", "__rfloordiv__", "__rmod__")


def _operands(ctx):
    a = ctx.get_arg("input", 0)
    b = ctx.get_arg("other", 1)
    if ctx.method_name.endswith(_REFLECTED):
        a, b = b, a
    return a, b


def _scaled(ctx, b, dtype):
    """alpha * b, alpha rounded to the output dtype first (as PyTorch's add/sub kernels hold it)."""
    alpha = ctx.get_arg("alpha", 2, 1)
    if dtype == torch.bool:
        return b if alpha else False
    return b if alpha == 1 else elementwise(ctx, _rounded(alpha, ctx.method_return.dtype), b, E.PROD, dtype)


# ---- arithmetic -------------------------------------------------------------------------------------------
@tensorrt_converter(spellings("add") + [torch.Tensor.__add__, torch.Tensor.__iadd__, torch.Tensor.__radd__])
def convert_add(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    if out.dtype == torch.bool:  # True + True is True
        ctx.set_output(out, elementwise(ctx, a, _scaled(ctx, b, torch.bool), E.OR, torch.bool))
        return
    a, b = quantized_add_operands(ctx) or (a, b)   # Q/DQ on a residual add's inputs in int8 mode
    a, b, dt = _as_compute(ctx, a, b, round_numbers=True)
    set_output_in_result_dtype(ctx, elementwise(ctx, a, _scaled(ctx, b, dt), E.SUM, dt))


@tensorrt_converter(spellings("sub") + spellings("subtract") + [torch.Tensor.__sub__, torch.Tensor.__isub__,
                                                                 torch.Tensor.__rsub__, torch.rsub])
def convert_sub(ctx):
    """a - alpha * b; torch.rsub(a, b, alpha) is b - alpha * a."""
    a, b = _operands(ctx)
    if ctx.method_name == "torch.rsub":
        a, b = b, a
    a, b, dt = _as_compute(ctx, a, b, round_numbers=True)
    set_output_in_result_dtype(ctx, elementwise(ctx, a, _scaled(ctx, b, dt), E.SUB, dt))


@tensorrt_converter(spellings("mul") + spellings("multiply") + [torch.Tensor.__mul__, torch.Tensor.__imul__,
                                                                 torch.Tensor.__rmul__])
def convert_mul(ctx):
    a, b = _operands(ctx)
    out = ctx.method_return
    if _by_scalar(ctx, a, b, E.PROD):
        return
    op = E.AND if out.dtype == torch.bool else E.PROD
    ctx.set_output(out, elementwise(ctx, a, b, op, out.dtype))


def _power_of_two(value) -> bool:
    """A constant (number or untraced tensor) whose every element is +-2**k: dividing by it is exact."""
    if isinstance(value, bool) or get_trt(value) is not None:
        return False
    t = torch.as_tensor(value, dtype=torch.float64)
    if not t.numel() or not bool(torch.isfinite(t).all()) or bool((t == 0).any()):
        return False
    mantissa, _ = torch.frexp(t.abs())
    return bool((mantissa == 0.5).all())


def _floor_div(ctx, a, b, dtype):
    if dtype.is_floating_point:  # b was checked to be +-2**k: a / b is exact, so floor(a / b) is PyTorch's
        return unary(ctx, elementwise(ctx, a, b, E.DIV, dtype), U.FLOOR)
    return elementwise(ctx, a, b, E.FLOOR_DIV, dtype)


def _trunc_div_int(ctx, a, b, dtype):
    q = _floor_div(ctx, a, b, dtype)
    r = elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, dtype), E.SUB, dtype)
    # floor and trunc differ (by one) where the remainder is non-zero and the signs of a and b differ
    neg = elementwise(ctx, elementwise(ctx, a, 0, E.LESS, dtype), elementwise(ctx, b, 0, E.LESS, dtype), E.XOR,
                      torch.bool)
    fix = elementwise(ctx, neg, unary(ctx, elementwise(ctx, r, 0, E.EQUAL, dtype), U.NOT), E.AND, torch.bool)
    return select(ctx, fix, elementwise(ctx, q, 1, E.SUM, dtype), q)


@tensorrt_converter(spellings("div") + spellings("divide") + spellings("true_divide")
                    + [torch.Tensor.__truediv__, torch.Tensor.__itruediv__, torch.Tensor.__rtruediv__,
                       torch.Tensor.__rdiv__, torch.Tensor.__div__, torch.Tensor.__idiv__])
def convert_div(ctx):
    a, b = _operands(ctx)
    mode = ctx.get_arg("rounding_mode", None, None)
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    if mode is None and ctx.method_name.endswith(("__rtruediv__", "__rdiv__")):
        # `c / x` is Tensor.__rdiv__: x.reciprocal() * c (rounded twice)
        r = unary(ctx, ctx.trt(b, out.dtype), U.RECIP)
        if not _by_scalar(ctx, r, a, E.PROD):
            ctx.set_output(out, elementwise(ctx, r, a, E.PROD, out.dtype))
    elif mode is None and _by_scalar(ctx, a, b, E.DIV):
        return
    elif mode is None:  # true division: integers are promoted to float by PyTorch (out.dtype)
        ctx.set_output(out, elementwise(ctx, a, b, E.DIV, out.dtype))
    elif mode not in ("floor", "trunc"):
        raise ctx.unsupported(f"{ctx.method_name}(rounding_mode={mode!r}): only None, 'trunc' or 'floor'")
    elif not out.dtype.is_floating_point:
        ctx.set_output(out, _floor_div(ctx, a, b, out.dtype) if mode == "floor" else
                       _trunc_div_int(ctx, a, b, out.dtype))
    elif mode == "floor":
        pow2 = _power_of_two(b)
        a, b, dt = _as_compute(ctx, a, b)
        set_output_in_result_dtype(ctx, _float_floor_div(ctx, a, b, dt, pow2))
    elif out.dtype in layers.REDUCED_FLOATS and _is_number(b) and isinstance(a, torch.Tensor):
        # PyTorch's scalar path (measured on the CPU): the quotient by a Python number is computed in float32
        # with the number in float32, truncated there and rounded once to the output dtype
        q = elementwise(ctx, ctx.cast(ctx.trt(a, out.dtype), torch.float32), float(b), E.DIV, torch.float32)
        ctx.set_output(out, ctx.cast(layers.trunc(ctx, q, torch.float32), out.dtype))
    else:  # PyTorch: trunc(a / b) of the quotient rounded to the output dtype (also float16/bfloat16)
        ctx.set_output(out, layers.trunc(ctx, elementwise(ctx, a, b, E.DIV, out.dtype), out.dtype))


def _is_number(v) -> bool:
    """A Python number known now (a dynamic size is a network value, not a number)."""
    return isinstance(v, (int, float)) and not isinstance(v, (bool, DynDim))


@tensorrt_converter(spellings("floor_divide") + [torch.Tensor.__floordiv__, torch.Tensor.__ifloordiv__,
                                                  torch.Tensor.__rfloordiv__])
def convert_floor_divide(ctx):
    a, b = _operands(ctx)
    pow2 = _power_of_two(b)
    a, b, dt = _as_compute(ctx, a, b)
    quotient = _float_floor_div(ctx, a, b, dt, pow2) if dt.is_floating_point else _floor_div(ctx, a, b, dt)
    set_output_in_result_dtype(ctx, quotient)


def _float_floor_div(ctx, a, b, dt, pow2: bool):
    """floor(a / b) is PyTorch's for a constant b = +-2**k (a / b is exact); anything else takes PyTorch's own
    algorithm with an exact fmod (_float_mod), in float32."""
    from . import _float_mod

    if pow2:
        return _floor_div(ctx, a, b, dt)
    if ctx.method_return.dtype in layers.REDUCED_FLOATS:  # measured: 27 of 4000 float16 quotients differ by an ulp
        raise ctx.unsupported(f"{ctx.method_name} of {ctx.method_return.dtype} tensors by a tensor or a constant that "
                              "is not a power of two: PyTorch's reduced-precision kernel rounds differently from its "
                              "float32 algorithm; cast to float32 first")
    return _float_mod.floor_divide(ctx, *ctx.operands(a, b, dtype=torch.float32))


def _fmod_float(ctx, a, b, dt, pow2: bool):
    """a - b * trunc(a / b) for b = +-2**k (a / b is exact, and so is the product and the difference); otherwise the
    exact integer-mantissa fmod of _float_mod, in float32."""
    from . import _float_mod

    if not pow2:
        return _float_mod.fmod(ctx, *ctx.operands(a, b, dtype=torch.float32))
    q = layers.trunc(ctx, elementwise(ctx, a, b, E.DIV, dt), dt)
    return elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, dt), E.SUB, dt)


def _scalars_rounded(ctx, a, b):
    """PyTorch's remainder and fmod round a Python number to a float16/bfloat16 operand's dtype first (floor
    division keeps it in float32)."""
    dtype = ctx.method_return.dtype
    if dtype not in layers.REDUCED_FLOATS:
        return a, b
    return tuple(float(torch.tensor(v, dtype=dtype)) if isinstance(v, float) else v for v in (a, b))


@tensorrt_converter(spellings("remainder") + [torch.Tensor.__mod__, torch.Tensor.__imod__, torch.Tensor.__rmod__])
def convert_remainder(ctx):
    """The result has the sign of b, as in PyTorch (and Python)."""
    a, b = _operands(ctx)
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    if not out.dtype.is_floating_point:  # a - b * floor(a / b)
        q = elementwise(ctx, a, b, E.FLOOR_DIV, out.dtype)
        ctx.set_output(out, elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, out.dtype), E.SUB, out.dtype))
        return
    a, b = _scalars_rounded(ctx, a, b)
    pow2 = _power_of_two(b)
    a, b, dt = _as_compute(ctx, a, b)
    r = _fmod_float(ctx, a, b, dt, pow2)
    # PyTorch: r = fmod(a, b); r += b where r != 0 and sign(r) != sign(b)
    if isinstance(b, (int, float)):
        fix = elementwise(ctx, r, 0.0, E.LESS if b > 0 else E.GREATER, dt)
    else:
        differ = elementwise(ctx, elementwise(ctx, r, 0.0, E.LESS, dt), elementwise(ctx, b, 0.0, E.LESS, dt), E.XOR,
                             torch.bool)
        fix = elementwise(ctx, differ, unary(ctx, elementwise(ctx, r, 0.0, E.EQUAL, dt), U.NOT), E.AND, torch.bool)
    set_output_in_result_dtype(ctx, select(ctx, fix, elementwise(ctx, r, b, E.SUM, dt), r))


@tensorrt_converter(spellings("fmod"))
def convert_fmod(ctx):
    """The result has the sign of a (C's fmod)."""
    a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    if out.dtype.is_floating_point:
        a, b = _scalars_rounded(ctx, a, b)
        pow2 = _power_of_two(b)
        a, b, dt = _as_compute(ctx, a, b)
        set_output_in_result_dtype(ctx, _fmod_float(ctx, a, b, dt, pow2))
        return
    q = _trunc_div_int(ctx, a, b, out.dtype)
    ctx.set_output(out, elementwise(ctx, a, elementwise(ctx, q, b, E.PROD, out.dtype), E.SUB, out.dtype))


def _integer_power(ctx, x, n: int, dtype):
    """x ** n by repeated squaring (n >= 1): exact integer products, as PyTorch's."""
    result, square = None, x
    while True:
        if n & 1:
            result = square if result is None else elementwise(ctx, result, square, E.PROD, dtype)
        n >>= 1
        if not n:
            return result
        square = elementwise(ctx, square, square, E.PROD, dtype)


@tensorrt_converter(spellings("pow") + [torch.Tensor.__pow__, torch.Tensor.__ipow__, torch.Tensor.__rpow__,
                                        torch.float_power, torch.Tensor.float_power, torch.Tensor.float_power_])
def convert_pow(ctx):
    a = ctx.get_arg("input", 0)
    b = ctx.get_arg("exponent", 1)
    if ctx.method_name.endswith("__rpow__"):
        a, b = b, a
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    scalar = isinstance(b, (int, float)) and not isinstance(b, bool)
    if not out.dtype.is_floating_point:
        if out.dtype == torch.bool or not (scalar and isinstance(b, int) and b >= 1):
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype} with exponent {b if scalar else 'tensor'}: "
                                  "integer powers need a constant exponent >= 1 (computed by exact products)")
        ctx.set_output(out, _integer_power(ctx, ctx.trt(a, out.dtype), b, out.dtype))
        return
    if scalar and get_trt(a) is not None and b in (2, 3, 0.5, -0.5, -1, -2):
        # PyTorch's own special cases for these exponents (pow_tensor_scalar): products, sqrt, reciprocal
        x, dt = _as_compute(ctx, a)
        if abs(b) == 0.5:
            y = unary(ctx, x, U.SQRT)
        elif abs(b) == 1:
            y = x
        else:
            y = _integer_power(ctx, x, int(abs(b)), dt)
        set_output_in_result_dtype(ctx, unary(ctx, y, U.RECIP) if b < 0 else y)
        return
    ctx.set_output(out, elementwise(ctx, a, b, E.POW, out.dtype))


# ---- comparisons: bool results; operands in torch.result_type ------------------------------------------
def _compare(ctx, a, b, ops):
    dtype = torch.result_type(a, b)
    if dtype in (torch.bool, torch.uint8, torch.int8):  # TensorRT compares int32/int64/floats: widen exactly
        dtype = torch.int32
    results = [elementwise(ctx, a, b, op, dtype) for op in ops]
    y = results[0]
    for r in results[1:]:
        y = elementwise(ctx, y, r, E.OR, torch.bool)
    return y


_COMPARISONS = {
    "eq": ((E.EQUAL,), False), "ne": ((E.EQUAL,), True), "lt": ((E.LESS,), False), "gt": ((E.GREATER,), False),
    "le": ((E.LESS, E.EQUAL), False), "ge": ((E.GREATER, E.EQUAL), False),
}
_ALIASES = {"ne": ["not_equal"], "lt": ["less"], "gt": ["greater"], "le": ["less_equal"], "ge": ["greater_equal"]}


def _convert_compare(ops, negate):
    def convert(ctx):
        a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
        y = _compare(ctx, a, b, ops)
        if negate:  # ne is not (a == b): true for NaN, as PyTorch's
            y = unary(ctx, y, U.NOT)
        ctx.set_output(ctx.method_return, ctx.cast(y, ctx.method_return.dtype))  # in-place keeps self's dtype

    return convert


for _name, (_ops, _neg) in _COMPARISONS.items():
    _targets = spellings(_name) + [getattr(torch.Tensor, f"__{_name}__")]
    for _alias in _ALIASES.get(_name, []):
        _targets += spellings(_alias)
    tensorrt_converter(_targets)(_convert_compare(_ops, _neg))


# ---- logical and bitwise (bool) -------------------------------------------------------------------------
_LOGICAL = {"and": E.AND, "or": E.OR, "xor": E.XOR}


def _convert_logical(op, bitwise: bool):
    def convert(ctx):
        a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
        out = ctx.method_return
        if bitwise and out.dtype != torch.bool:
            raise ctx.unsupported(f"{ctx.method_name} on {out.dtype}: only bool (TensorRT has no bitwise ops)")
        require_arithmetic_dtype(ctx, out.dtype)
        y = elementwise(ctx, a, b, op, torch.bool)  # non-bool operands: x != 0, as PyTorch's logical ops
        ctx.set_output(out, ctx.cast(y, out.dtype))

    return convert


for _name, _op in _LOGICAL.items():
    tensorrt_converter(spellings(f"logical_{_name}"))(_convert_logical(_op, False))
    tensorrt_converter(spellings(f"bitwise_{_name}") + [getattr(torch.Tensor, f"__{_name}__"),
                                                        getattr(torch.Tensor, f"__i{_name}__"),
                                                        getattr(torch.Tensor, f"__r{_name}__")])(
        _convert_logical(_op, True))


# ---- where, clamp, minimum/maximum, lerp, addcmul/addcdiv ----------------------------------------------
@tensorrt_converter(spellings("where"))
def convert_where(ctx):
    """torch.where(condition, input, other); the method is input.where(condition, other)."""
    if ctx.method_name == "torch.Tensor.where":
        a, cond, b = ctx.get_arg("self", 0), ctx.get_arg("condition", 1), ctx.get_arg("other", 2)
    else:
        if len(ctx.method_args) + len(ctx.method_kwargs) < 3:
            raise ctx.unsupported("torch.where(condition) with one argument: data-dependent output shape")
        cond, a, b = ctx.get_arg("condition", 0), ctx.get_arg("input", 1), ctx.get_arg("other", 2)
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    rank = out.dim()
    c = ctx.trt(cond, torch.bool, rank)
    ta, tb = ctx.trt(a, out.dtype, rank), ctx.trt(b, out.dtype, rank)
    ctx.set_output(out, select(ctx, c, ta, tb))


@tensorrt_converter(spellings("clamp") + spellings("clip") + spellings("clamp_min") + spellings("clamp_max"))
def convert_clamp(ctx):
    """min(max(x, min), max), as PyTorch (min > max gives max). A NaN input stays NaN where TensorRT's MAX/MIN
    propagate it; its GPU kernels are reported not to (NVIDIA/TensorRT#4758, #4773): not guarded, like relu."""
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    if ctx.method_name.endswith(("clamp_min", "clamp_min_")):
        lo, hi = ctx.get_arg("min", 1), None
    elif ctx.method_name.endswith(("clamp_max", "clamp_max_")):
        lo, hi = None, ctx.get_arg("max", 1)
    else:
        lo, hi = ctx.get_arg("min", 1, None), ctx.get_arg("max", 2, None)
    ctx.set_output(out, layers.clamp(ctx, ctx.trt(ctx.get_arg("input", 0), out.dtype), lo, hi, out.dtype))


def _may_be_nan(value) -> bool:
    if isinstance(value, (bool, int)):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    if get_trt(value) is not None:
        return value.dtype.is_floating_point
    return bool(torch.isnan(value).any()) if value.dtype.is_floating_point else False


def _min_max(op, propagate: bool):
    def convert(ctx):
        """One MIN/MAX layer, with NaN made explicit for floats: TensorRT's documentation leaves NaN open and its
        GPU kernels return the non-NaN operand (NVIDIA/TensorRT#4758), so minimum/maximum propagate NaN by
        SELECT and fmin/fmax take the other operand, either way."""
        a, b = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
        out = ctx.method_return
        require_arithmetic_dtype(ctx, out.dtype)
        if out.dtype == torch.bool:
            ctx.set_output(out, elementwise(ctx, a, b, E.AND if op == E.MIN else E.OR, torch.bool))
            return
        ta, tb = ctx.operands(a, b, dtype=out.dtype)
        y = elementwise(ctx, ta, tb, op, out.dtype)
        if out.dtype.is_floating_point:
            for this, other, nan in ((ta, tb, _may_be_nan(a)), (tb, ta, _may_be_nan(b))):
                if nan:
                    y = select(ctx, unary(ctx, this, U.ISNAN), this if propagate else other, y)
        ctx.set_output(out, y)

    return convert


tensorrt_converter(spellings("minimum"))(_min_max(E.MIN, True))
tensorrt_converter(spellings("maximum"))(_min_max(E.MAX, True))
tensorrt_converter(spellings("fmin"))(_min_max(E.MIN, False))
tensorrt_converter(spellings("fmax"))(_min_max(E.MAX, False))


@tensorrt_converter(spellings("lerp"))
def convert_lerp(ctx):
    """PyTorch: |w| < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)."""
    a, b, w = ctx.get_arg("input", 0), ctx.get_arg("end", 1), ctx.get_arg("weight", 2)
    a, b, w, dt = _as_compute(ctx, a, b, w)
    diff = elementwise(ctx, b, a, E.SUB, dt)

    def low():
        return elementwise(ctx, a, elementwise(ctx, w, diff, E.PROD, dt), E.SUM, dt)

    def high():
        return elementwise(ctx, b, elementwise(ctx, diff, elementwise(ctx, 1.0, w, E.SUB, dt), E.PROD, dt), E.SUB, dt)

    if isinstance(w, (int, float)):  # a number: the formula is known now
        set_output_in_result_dtype(ctx, low() if abs(w) < 0.5 else high())
        return
    set_output_in_result_dtype(ctx, select(ctx, elementwise(ctx, unary(ctx, w, U.ABS), 0.5, E.LESS, dt), low(), high()))


def _convert_addc(op):
    def convert(ctx):
        """input + value * tensor1 (* or /) tensor2, in PyTorch's order of operations."""
        x, t1, t2 = ctx.get_arg("input", 0), ctx.get_arg("tensor1", 1), ctx.get_arg("tensor2", 2)
        value = ctx.get_arg("value", 3, 1)
        x, t1, t2, dt = _as_compute(ctx, x, t1, t2)
        if value != 1:
            t1 = elementwise(ctx, value, t1, E.PROD, dt)
        set_output_in_result_dtype(ctx, elementwise(ctx, x, elementwise(ctx, t1, t2, op, dt), E.SUM, dt))

    return convert


tensorrt_converter(spellings("addcmul"))(_convert_addc(E.PROD))
tensorrt_converter(spellings("addcdiv"))(_convert_addc(E.DIV))


# ---- copy_ -------------------------------------------------------------------------------------------------
@tensorrt_converter(torch.Tensor.copy_)
def convert_copy_(ctx):
    """dst.copy_(src): src cast to dst's dtype and broadcast to dst's shape (a SELECT on a true condition
    broadcasts without arithmetic, so inf/NaN in either operand are exact). Writing into a view of another
    tensor is refused by the tracer (stale base)."""
    dst, src, out = ctx.method_args[0], ctx.get_arg("src", 1), ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    rank = out.dim()
    s = ctx.trt(src, out.dtype, rank)
    if isinstance(src, torch.Tensor) and tuple(src.shape) == tuple(out.shape):
        ctx.set_output(out, s)
        return
    true = ctx.constant(torch.ones((1,) * rank, dtype=torch.bool))
    ctx.set_output(out, select(ctx, true, s, ctx.trt(dst, out.dtype, rank)))


@tensorrt_converter(spellings("heaviside"))
def convert_heaviside(ctx):
    """x == 0 ? values : (x > 0), in x's dtype (NaN gives 0, as PyTorch's)."""
    x, values = ctx.get_arg("input", 0), ctx.get_arg("values", 1)
    out = ctx.method_return
    require_arithmetic_dtype(ctx, out.dtype)
    xt = ctx.trt(x, out.dtype)
    step = ctx.cast(elementwise(ctx, xt, 0, E.GREATER, out.dtype), out.dtype)
    ctx.set_output(out, select(ctx, elementwise(ctx, xt, 0, E.EQUAL, out.dtype), ctx.trt(values, out.dtype), step))


@tensorrt_converter(spellings("xlogy") + [torch.special.xlogy])
def convert_xlogy(ctx):
    """isnan(y) ? NaN : x == 0 ? 0 : x * log(y), computed in float32 for reduced floats and rounded once."""
    x, y = ctx.get_arg("input", 0), ctx.get_arg("other", 1)
    x, y, dt = _as_compute(ctx, x, y)
    xt, yt = ctx.trt(x, dt), ctx.trt(y, dt)
    product = elementwise(ctx, xt, unary(ctx, yt, U.LOG), E.PROD, dt)
    y0 = select(ctx, elementwise(ctx, xt, 0.0, E.EQUAL, dt), ctx.trt(0.0, dt), product)
    set_output_in_result_dtype(ctx, select(ctx, unary(ctx, yt, U.ISNAN), ctx.trt(math.nan, dt), y0))


def _logaddexp(base2: bool):
    def convert(ctx):
        """a == b == +-inf ? a : max(a, b) + log1p(exp(-|a - b|)) (base 2: exp2, and the log1p over log 2), as
        PyTorch's; log1p keeps the relative precision of results near 0."""
        a, b, dt = _as_compute(ctx, ctx.get_arg("input", 0), ctx.get_arg("other", 1))
        a, b = ctx.trt(a, dt), ctx.trt(b, dt)
        gap = unary(ctx, unary(ctx, elementwise(ctx, a, b, E.SUB, dt), U.ABS), U.NEG)
        e = elementwise(ctx, 2.0, gap, E.POW, dt) if base2 else unary(ctx, gap, U.EXP)
        tail = layers.log1p(ctx, e, dt)
        if base2:
            tail = elementwise(ctx, tail, 1 / math.log(2), E.PROD, dt)
        y = elementwise(ctx, elementwise(ctx, a, b, E.MAX, dt), tail, E.SUM, dt)
        same_inf = elementwise(ctx, unary(ctx, a, U.ISINF), elementwise(ctx, a, b, E.EQUAL, dt), E.AND, torch.bool)
        set_output_in_result_dtype(ctx, select(ctx, same_inf, a, y))

    return convert


tensorrt_converter(spellings("logaddexp"))(_logaddexp(False))
tensorrt_converter(spellings("logaddexp2"))(_logaddexp(True))


@tensorrt_converter(spellings("hypot"))
def convert_hypot(ctx):
    """sqrt(a^2 + b^2) without overflow or underflow: m * sqrt(1 + (n / m)^2) for m = max(|a|, |b|), n = min;
    inf if either is infinite (even with a NaN), else NaN if either is NaN, 0 where both are 0 (std::hypot's
    rules; within an ulp or two of its value)."""
    a, b, dt = _as_compute(ctx, ctx.get_arg("input", 0), ctx.get_arg("other", 1))
    a, b = unary(ctx, ctx.trt(a, dt), U.ABS), unary(ctx, ctx.trt(b, dt), U.ABS)
    m, n = elementwise(ctx, a, b, E.MAX, dt), elementwise(ctx, a, b, E.MIN, dt)
    r = elementwise(ctx, n, m, E.DIV, dt)
    y = elementwise(ctx, m, unary(ctx, elementwise(ctx, elementwise(ctx, r, r, E.PROD, dt), 1.0, E.SUM, dt), U.SQRT),
                    E.PROD, dt)
    y = select(ctx, elementwise(ctx, m, 0.0, E.EQUAL, dt), ctx.trt(0.0, dt), y)
    nan = elementwise(ctx, unary(ctx, a, U.ISNAN), unary(ctx, b, U.ISNAN), E.OR, torch.bool)
    y = select(ctx, nan, ctx.trt(math.nan, dt), y)
    inf = elementwise(ctx, unary(ctx, a, U.ISINF), unary(ctx, b, U.ISINF), E.OR, torch.bool)
    set_output_in_result_dtype(ctx, select(ctx, inf, ctx.trt(math.inf, dt), y))
