"""Reductions against PyTorch: every axis form (None, int, negative, tuple, empty), keepdim, dtype=, integer and
bool inputs (sum of int32 is int64), ties for the index outputs, reduced precision, non-contiguous inputs."""

import math

import pytest
import torch

from torch2trt.testing import assert_converts, assert_refuses


def f32(*shape):
    return torch.randn(*shape)


def i32(*shape, lo=-4, hi=4):
    return torch.randint(lo, hi, shape, dtype=torch.int32)


def i64(*shape, lo=-4, hi=4):
    return torch.randint(lo, hi, shape, dtype=torch.int64)


def b(*shape):
    return torch.rand(*shape) > 0.5


def f16(*shape):
    return torch.randn(*shape).half()


def nc(*shape):
    """A non-contiguous float input (a transposed view)."""
    return torch.randn(*shape).transpose(1, 2)


CASES = {
    # sum / nansum / mean / prod
    "sum_all": (lambda x: x.sum(), [f32(2, 3, 4)]),
    "sum_all_int32_gives_int64": (lambda x: torch.sum(x), [i32(2, 3, 4)]),
    "sum_bool_gives_int64": (lambda x: x.sum(1), [b(2, 3, 4)]),
    "sum_int64": (lambda x: x.sum((0, 2)), [i64(2, 3, 4)]),
    "sum_dim": (lambda x: torch.sum(x, 1), [f32(2, 3, 4)]),
    "sum_negative_dim_keepdim": (lambda x: x.sum(-1, keepdim=True), [f32(2, 3, 4)]),
    "sum_tuple_dims": (lambda x: x.sum((0, -1)), [f32(2, 3, 4)]),
    "sum_empty_dims_reduces_all": (lambda x: x.sum(dim=[]), [f32(2, 3, 4)]),
    "sum_dtype": (lambda x: x.sum(1, dtype=torch.float32), [i32(2, 3, 4)]),
    "sum_dtype_no_dim": (lambda x: torch.sum(x, dtype=torch.int32), [b(2, 3, 4)]),
    "sum_float16": (lambda x: x.sum(-1), [f16(2, 3, 64)]),
    "sum_non_contiguous": (lambda x: x.sum(1), [nc(2, 3, 4)]),
    "sum_0d": (lambda x: x.sum(), [torch.tensor(2.5)]),
    "sum_0d_dim": (lambda x: x.sum(0, keepdim=True), [torch.tensor(2.5)]),
    "nansum": (lambda x: torch.nansum(torch.where(x > 1, float("nan"), x), 1), [f32(2, 3, 4)]),
    "mean_all": (lambda x: x.mean(), [f32(2, 3, 4)]),
    "mean_dims_keepdim": (lambda x: torch.mean(x, (1, 2), keepdim=True), [f32(2, 3, 4)]),
    "mean_dtype_from_int": (lambda x: x.mean(1, dtype=torch.float32), [i32(2, 3, 4)]),
    "mean_float16": (lambda x: x.mean(0), [f16(8, 3)]),
    "mean_non_contiguous": (lambda x: x.mean(-1), [nc(2, 3, 4)]),
    "prod_all": (lambda x: x.prod(), [f32(2, 3)]),
    "prod_dim": (lambda x: torch.prod(x, -2, keepdim=True), [f32(2, 3, 4)]),
    "prod_int32_gives_int64": (lambda x: x.prod(1), [i32(2, 3, 4)]),
    "prod_bool": (lambda x: x.prod(0), [b(3, 4)]),
    "prod_dtype": (lambda x: x.prod(1, dtype=torch.float32), [i32(2, 3, 4)]),
    # amax / amin
    "amax_all": (lambda x: x.amax(), [f32(2, 3, 4)]),
    "amax_dims": (lambda x: torch.amax(x, (0, 2)), [f32(2, 3, 4)]),
    "amin_negative_keepdim": (lambda x: x.amin(-1, keepdim=True), [f32(2, 3, 4)]),
    "amin_int32": (lambda x: x.amin(1), [i32(2, 3, 4)]),
    "amax_bool": (lambda x: x.amax(1), [b(2, 3, 4)]),
    # aminmax: (min, max) as amin / amax
    "aminmax_all": (lambda x: torch.aminmax(x), [f32(2, 3, 4)]),
    "aminmax_all_keepdim": (lambda x: tuple(x.aminmax(keepdim=True)), [f32(2, 3, 4)]),
    "aminmax_dim": (lambda x: torch.aminmax(x, dim=1), [f32(2, 3, 4)]),
    "aminmax_negative_dim_keepdim": (lambda x: x.aminmax(dim=-1, keepdim=True), [f32(2, 3, 4)]),
    "aminmax_int32": (lambda x: torch.aminmax(x, dim=0), [i32(3, 4)]),
    "aminmax_int64_all": (lambda x: x.aminmax(), [i64(3, 4)]),
    "aminmax_bool": (lambda x: torch.aminmax(x, dim=1), [b(3, 4)]),
    "aminmax_float16": (lambda x: x.aminmax(dim=0), [f16(3, 4)]),
    "aminmax_0d": (lambda x: (torch.aminmax(x), torch.aminmax(x, dim=0)), [torch.tensor(2.5)]),
    "aminmax_nan": (lambda x: (torch.aminmax(torch.where(x > 1, float("nan"), x), dim=1),
                               torch.where(x > 1, float("nan"), x).aminmax()), [f32(4, 6)]),
    # nanmean: nansum / count of non-NaN
    "nanmean_all": (lambda x: torch.nanmean(torch.where(x > 1, float("nan"), x)), [f32(2, 3, 4)]),
    "nanmean_dim": (lambda x: torch.where(x > 0.5, float("nan"), x).nanmean(1), [f32(2, 3, 4)]),
    "nanmean_tuple_keepdim": (lambda x: torch.nanmean(torch.where(x > 0.5, float("nan"), x), (0, -1), True),
                              [f32(2, 3, 4)]),
    "nanmean_keywords": (lambda x: torch.nanmean(x, dim=-2, keepdim=True), [f32(2, 3, 4)]),
    "nanmean_empty_dims_reduces_all": (lambda x: x.nanmean(dim=()), [f32(2, 3)]),
    "nanmean_float16": (lambda x: torch.where(x > 0.5, float("nan"), x).nanmean(-1), [f16(2, 3, 64)]),
    "nanmean_float16_dtype": (lambda x: x.nanmean(1, dtype=torch.float32), [f16(2, 3, 4)]),
    "nanmean_non_contiguous": (lambda x: x.nanmean(1), [nc(2, 3, 4)]),
    "nanmean_0d": (lambda x: (x.nanmean(), torch.nanmean(x * float("nan"), 0, keepdim=True)), [torch.tensor(2.5)]),
    # max / min: whole tensor, (values, indices), two tensors
    "max_all": (lambda x: x.max(), [f32(2, 3, 4)]),
    "min_all_int64": (lambda x: torch.min(x), [i64(2, 3, 4)]),
    "max_all_bool": (lambda x: x.max(), [b(2, 3)]),
    "max_dim_values_indices": (lambda x: torch.max(x, 1), [f32(2, 3, 4)]),
    "max_dim_keepdim": (lambda x: x.max(dim=-1, keepdim=True), [f32(2, 3, 4)]),
    "min_dim_ties_pick_first": (lambda x: x.min(1), [i32(2, 7, 4, lo=0, hi=2)]),
    "max_dim_ties_float": (lambda x: torch.relu(x).max(0), [f32(5, 6)]),
    "max_dim_bool": (lambda x: x.max(1), [b(2, 5, 3)]),
    "min_dim_non_contiguous": (lambda x: x.min(-1), [nc(2, 3, 4)]),
    "max_dim_float16": (lambda x: x.max(1), [f16(2, 3, 4)]),
    "max_dim_1d": (lambda x: x.max(0), [f32(5)]),
    "max_two_tensors_broadcast": (lambda x, y: torch.max(x, y), [f32(2, 3, 4), f32(3, 1)]),
    "min_two_tensors_method": (lambda x, y: x.min(y), [f32(2, 3, 4), f32(2, 3, 4)]),
    "max_two_tensors_int_float": (lambda x, y: torch.max(x, y), [i32(2, 3), f32(2, 3)]),
    "min_two_tensors_bool": (lambda x, y: torch.min(x, y), [b(2, 3), b(2, 3)]),
    "max_other_keyword": (lambda x, y: torch.max(x, other=y), [f32(2, 3), f32(2, 3)]),
    # argmax / argmin
    "argmax_flat": (lambda x: torch.argmax(x), [f32(2, 3, 4)]),
    "argmax_flat_keepdim": (lambda x: torch.argmax(x, keepdim=True), [f32(2, 3, 4)]),
    "argmin_dim": (lambda x: x.argmin(1), [f32(2, 3, 4)]),
    "argmax_negative_keepdim": (lambda x: x.argmax(-1, keepdim=True), [f32(2, 3, 4)]),
    "argmax_ties_int": (lambda x: x.argmax(2), [i32(2, 3, 9, lo=0, hi=2)]),
    "argmin_flat_ties": (lambda x: x.argmin(), [i64(3, 5, lo=0, hi=2)]),
    "argmax_non_contiguous": (lambda x: x.argmax(1), [nc(2, 3, 4)]),
    # var / std
    "var_all": (lambda x: x.var(), [f32(2, 3, 4)]),
    "var_unbiased_false": (lambda x: torch.var(x, False), [f32(2, 3, 4)]),
    "var_dim_unbiased_keepdim_positional": (lambda x: torch.var(x, 1, False, True), [f32(2, 3, 4)]),
    "var_correction": (lambda x: x.var((0, 2), correction=2), [f32(3, 4, 5)]),
    "std_dim": (lambda x: x.std(-1), [f32(2, 3, 4)]),
    "std_keepdim_correction0": (lambda x: torch.std(x, dim=1, correction=0, keepdim=True), [f32(2, 3, 4)]),
    "std_float16": (lambda x: x.std(1), [f16(2, 16, 3)]),
    "std_non_contiguous": (lambda x: x.std(1), [nc(2, 3, 4)]),
    "std_mean": (lambda x: torch.std_mean(x, 1), [f32(2, 3, 4)]),
    "var_mean_keepdim": (lambda x: torch.var_mean(x, (0, 1), keepdim=True), [f32(2, 3, 4)]),
    "var_mean_all": (lambda x: torch.var_mean(x, correction=0), [f32(2, 3, 4)]),
    # logsumexp
    "logsumexp": (lambda x: torch.logsumexp(x, 1), [f32(2, 3, 4)]),
    "logsumexp_large_values": (lambda x: torch.logsumexp(x * 1000, -1, keepdim=True), [f32(2, 3, 4)]),
    "logsumexp_dims": (lambda x: x.logsumexp((0, 2)), [f32(2, 3, 4)]),
    "logsumexp_minus_inf_row": (lambda x: torch.logsumexp(torch.where(x[:1] > -10, float("-inf"), x[:1]), 1),
                                [f32(2, 3)]),
    "logsumexp_int": (lambda x: torch.logsumexp(x, 1), [i32(2, 3, 4)]),
    "logsumexp_float16": (lambda x: torch.logsumexp(x, 1), [f16(2, 3, 4)]),
    # norm
    "norm_fro": (lambda x: x.norm(), [f32(2, 3, 4)]),
    "norm_p2_dim": (lambda x: torch.norm(x, 2, 1), [f32(2, 3, 4)]),
    "norm_p1_keepdim": (lambda x: x.norm(p=1, dim=-1, keepdim=True), [f32(2, 3, 4)]),
    "norm_inf": (lambda x: x.norm(p=math.inf, dim=(1, 2)), [f32(2, 3, 4)]),
    "norm_minus_inf": (lambda x: x.norm(p=-math.inf, dim=1), [f32(2, 3, 4)]),
    "norm_p3": (lambda x: x.norm(p=3, dim=1), [f32(2, 3, 4)]),
    "norm_p0": (lambda x: torch.relu(x).norm(p=0, dim=1), [f32(2, 3, 4)]),
    "norm_fro_dims": (lambda x: torch.norm(x, "fro", (1, 2)), [f32(2, 3, 4)]),
    "vector_norm": (lambda x: torch.linalg.vector_norm(x, 2, -1), [f32(2, 3, 4)]),
    "vector_norm_ord_inf_keepdim": (lambda x: torch.linalg.vector_norm(x, ord=math.inf, dim=(0, 1), keepdim=True),
                                    [f32(2, 3, 4)]),
    "norm_float16": (lambda x: x.norm(dim=1), [f16(2, 8, 3)]),
    "norm_non_contiguous": (lambda x: x.norm(dim=1), [nc(2, 3, 4)]),
    # any / all / count_nonzero
    "any_all_axes": (lambda x: (x > 1).any(), [f32(2, 3, 4)]),
    "any_dim": (lambda x: torch.any(x > 0.5, 1), [f32(2, 3, 4)]),
    "all_dim_keepdim": (lambda x: (x > -1).all(-1, keepdim=True), [f32(2, 3, 4)]),
    "any_dims_tuple": (lambda x: x.any((0, 2)), [b(2, 3, 4)]),
    "any_empty_dims_is_identity": (lambda x: x.any(dim=()), [b(2, 3)]),
    "any_float_input": (lambda x: torch.relu(x).any(1), [f32(2, 3, 4)]),
    "all_int_input": (lambda x: x.all(1), [i32(2, 3, 4, lo=0, hi=3)]),
    "any_uint8_gives_uint8": (lambda x: x.any(1), [torch.randint(0, 2, (2, 3, 4), dtype=torch.uint8)]),
    "count_nonzero": (lambda x: torch.count_nonzero(torch.relu(x), 1), [f32(2, 3, 4)]),
    "count_nonzero_all": (lambda x: x.count_nonzero(), [i32(2, 3, 4)]),
    # cumsum / cumprod
    "cumsum": (lambda x: x.cumsum(1), [f32(2, 3, 4)]),
    "cumsum_negative": (lambda x: torch.cumsum(x, -1), [f32(2, 3, 4)]),
    "cumsum_int32_gives_int64": (lambda x: x.cumsum(0), [i32(5, 3)]),
    "cumsum_bool": (lambda x: x.cumsum(1), [b(2, 6)]),
    "cumsum_dtype": (lambda x: x.cumsum(1, dtype=torch.float32), [i32(2, 5)]),
    "cumsum_float16": (lambda x: x.cumsum(1), [f16(2, 7)]),
    "cumsum_in_place": (lambda x: x.clone().cumsum_(1), [f32(2, 3)]),
    "cumsum_non_contiguous": (lambda x: x.cumsum(2), [nc(2, 3, 4)]),
    "cumprod": (lambda x: x.cumprod(1), [f32(2, 9, 3)]),
    "cumprod_negative": (lambda x: torch.cumprod(x, -1), [f32(2, 3, 5)]),
    "cumprod_int": (lambda x: x.cumprod(1), [i32(2, 7)]),
    "cumprod_length_one": (lambda x: x.cumprod(1), [f32(3, 1)]),
    "cumprod_dtype": (lambda x: torch.cumprod(x, 0, dtype=torch.float32), [i32(4, 3)]),
    "cumprod_non_contiguous": (lambda x: x.cumprod(1), [nc(2, 3, 4)]),
    # diff (cumsum's inverse)
    "diff": (lambda x: torch.diff(x), [f32(2, 3, 5)]),
    "diff_dim0_n2": (lambda x: x.diff(n=2, dim=0), [f32(4, 3)]),
    "diff_n_beyond_length_is_empty": (lambda x: torch.diff(x, n=4, dim=1), [f32(2, 3)]),
    "diff_prepend_append": (lambda x, p: torch.diff(x, dim=1, prepend=p, append=x[:, :2] * 2), [f32(2, 4), f32(2, 1)]),
    "diff_int": (lambda x: torch.diff(x, dim=-1), [i32(3, 6)]),
    "diff_bool_is_xor": (lambda x: torch.diff(x), [b(2, 7)]),
    "diff_non_contiguous": (lambda x: x.diff(dim=1), [nc(2, 3, 4)]),
}

RTOL = {"nanmean_float16": 0.0, "aminmax_float16": 0.0,  # bit for bit
        "sum_float16": 1e-3, "mean_float16": 1e-3, "max_dim_float16": 1e-3, "std_float16": 1e-3,
        "logsumexp_float16": 1e-3, "norm_float16": 1e-3, "cumsum_float16": 1e-3}


@pytest.mark.parametrize("name", list(CASES))
def test_reduction_matches_pytorch(name):
    fn, inputs = CASES[name]
    assert_converts(fn, inputs, rtol=RTOL.get(name, 1e-5))


@pytest.mark.parametrize("fn, match", [
    (lambda x: x.norm(p="nuc", dim=(1, 2)), r"norm\(p='nuc'\): only vector norms"),
    (lambda x: x.norm(p=-1, dim=1), r"norm\(p=-1\): negative p"),
    (lambda x: x.sum(1, dtype=torch.float64), r"sum to torch.float64: TensorRT has no such type"),
    (lambda x: x.cumsum(1, dtype=torch.float64), r"cumsum to torch.float64"),
    (lambda x: x.nanmean(1, dtype=torch.float64), r"nanmean to torch.float64: TensorRT has no such type"),
])
def test_reduction_refuses(fn, match):
    assert_refuses(fn, [f32(2, 3, 4)], match=match)


@pytest.mark.parametrize("fn", [
    lambda x: x.sum(1) + x.mean() + x.amax(-1, keepdim=True).sum(),
    lambda x: x.max(2),
    lambda x: x.min(-1, keepdim=True),
    lambda x: x.argmax(2),
    lambda x: x.std(2),
    lambda x: torch.var_mean(x, 2),
    lambda x: torch.logsumexp(x, 1),
    lambda x: x.norm(dim=1),
    lambda x: x.cumsum(0),
    lambda x: (x > 0).any(0),
])
def test_reductions_keep_dynamic_dims(fn):
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule, compare, run_reference

    m = torch2trt(FunctionModule(fn).eval(), [f32(2, 3, 4)], min_shapes=[(1, 1, 4)], max_shapes=[(4, 5, 4)])
    for shape in [(1, 1, 4), (3, 5, 4)]:
        x = torch.randint(-3, 3, shape).float()  # ties for the index outputs
        outs, refs = run_reference(m, [x]), fn(x)
        outs = outs if isinstance(outs, (tuple, list)) else [outs]
        refs = refs if isinstance(refs, (tuple, list)) else [refs]
        for o, r in zip(outs, refs):
            err = compare(o, r)
            assert err.same_layout and err.rel <= 1e-5


@pytest.mark.parametrize("fn", [
    lambda x: (x.var(1), x.std(-2, keepdim=True), torch.var(x, (0, 1), correction=0)),
    lambda x: (*torch.var_mean(x, 1), *torch.std_mean(x, (1, 2), correction=2.5)),
])
def test_variance_over_dynamic_axes_matches_pytorch(fn):
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(fn, [f32(2, 3, 4)], [(1, 1, 4)], [(4, 6, 4)], [[(3, 2, 4)]])


@pytest.mark.parametrize("fn", [
    lambda x: (x.argmax(1), x.argmin(-2, keepdim=True)),
    lambda x: (*x.max(1), *torch.min(x, 1, keepdim=True)),
    lambda x: (x.argmax(), x.flatten().argmin()),
])
def test_index_reductions_over_a_dynamic_axis_match_pytorch(fn):
    from torch2trt.testing import assert_converts_dynamic

    def ties_and_nan(shapes):
        g = torch.Generator().manual_seed(sum(shapes[0]))
        x = torch.randint(-2, 3, shapes[0], generator=g).float()
        return [torch.where(torch.rand(shapes[0], generator=g) < 0.1, float("nan"), x)]

    assert_converts_dynamic(fn, [f32(2, 3, 4)], [(1, 1, 4)], [(4, 6, 4)], [[(2, 5, 4)]], make_inputs=ties_and_nan)


# ---- NaN in index reductions: PyTorch treats NaN as both the maximum and the minimum -------------------------
def _nan_rows(shape, dim, generator):
    """Random values with NaN at several positions along `dim`: one at the first place, two in one row, one at the
    last place, and rows with none."""
    x = torch.randn(shape, generator=generator).movedim(dim, -1)
    n = x.shape[-1]
    flat = x.reshape(-1, n).clone()
    picks = [[0], [1, n - 2], [n - 1], [], [2], []]
    for r in range(flat.shape[0]):
        for p in picks[r % len(picks)]:
            flat[r, p] = float("nan")
    return flat.reshape(x.shape).movedim(-1, dim).contiguous()


def _matches_at(fn, sample, inputs):
    """Converted at `sample`, the network gives PyTorch's result at each of `inputs` (NaN where PyTorch has NaN,
    integer outputs exact)."""
    from torch2trt import structure, torch2trt
    from torch2trt.check import FunctionModule, compare, run_reference

    m = torch2trt(FunctionModule(fn).eval(), [sample])
    for x in inputs:
        got, _ = structure.flatten(run_reference(m, [x]))
        ref, _ = structure.flatten(fn(x))
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            err = compare(g, r)
            assert err.same_layout, err
            assert torch.equal(torch.isnan(g), torch.isnan(r)) if r.is_floating_point() else True
            assert err.rel <= (1e-6 if r.is_floating_point() else 0.0), (x, g, r)


NAN_INDEX_CASES = {
    "argmax": lambda x: x.argmax(1),
    "argmin": lambda x: torch.argmin(x, 1),
    "argmax_negative_keepdim": lambda x: x.argmax(-1, keepdim=True),
    "argmin_dim0": lambda x: x.argmin(0),
    "argmax_flat": lambda x: x.argmax(),
    "max_dim": lambda x: tuple(x.max(1)),
    "min_dim_keepdim": lambda x: tuple(torch.min(x, -1, keepdim=True)),
    "max_dim_negative": lambda x: tuple(x.max(-2)),
    "min_dim0": lambda x: tuple(x.min(0)),
}


@pytest.mark.parametrize("name", list(NAN_INDEX_CASES))
def test_index_reductions_treat_nan_as_extreme_like_pytorch(name):
    g = torch.Generator().manual_seed(3)
    fn = NAN_INDEX_CASES[name]
    inputs = [_nan_rows((3, 6, 7), d, g) for d in (0, 1, 2)] + [torch.full((3, 6, 7), float("nan")),
                                                                 torch.randn(3, 6, 7, generator=g)]
    _matches_at(fn, torch.randn(3, 6, 7, generator=g), inputs)


NAN_MEAN_CASES = {
    "nanmean_dim": lambda x: x.nanmean(1),
    "nanmean_all": lambda x: torch.nanmean(x),
    "nanmean_keepdim": lambda x: torch.nanmean(x, (0, 2), keepdim=True),
    "aminmax_dim": lambda x: tuple(torch.aminmax(x, dim=-1)),
    "aminmax_all": lambda x: tuple(x.aminmax()),
}


@pytest.mark.parametrize("name", list(NAN_MEAN_CASES))
def test_nanmean_and_aminmax_with_nan_and_all_nan_slices_like_pytorch(name):
    g = torch.Generator().manual_seed(4)
    all_nan_row = torch.randn(3, 6, 7, generator=g)
    all_nan_row[1, 2, :] = float("nan")
    all_nan_row[:, 0, 0] = float("nan")
    inputs = [_nan_rows((3, 6, 7), d, g) for d in (0, 1, 2)] + [all_nan_row, torch.full((3, 6, 7), float("nan")),
                                                                 torch.randn(3, 6, 7, generator=g)]
    _matches_at(NAN_MEAN_CASES[name], torch.randn(3, 6, 7, generator=g), inputs)


def test_nanmean_and_aminmax_keep_dynamic_dims():
    from torch2trt.testing import assert_converts_dynamic

    def fn(x):
        x = torch.where(x > 1, float("nan"), x)
        return (x.nanmean(1), torch.nanmean(x), torch.nanmean(x, (0, 2), keepdim=True), *torch.aminmax(x, dim=1),
                *x.aminmax())

    assert_converts_dynamic(fn, [f32(2, 3, 4)], [(1, 1, 4)], [(4, 6, 4)], [[(3, 2, 4)]])


@pytest.mark.parametrize("fn", [lambda x: torch.diff(x, dim=1), lambda x: x.diff(n=2, dim=0),
                                lambda x: torch.diff(x, dim=1, prepend=x[:, :1] - 1)])
def test_diff_along_and_beside_dynamic_axes_matches_pytorch(fn):
    # transformers' masking_utils: torch.diff(position_ids, prepend=position_ids[:, :1] - 1, dim=-1), sequence dynamic
    from torch2trt.testing import assert_converts_dynamic

    assert_converts_dynamic(fn, [f32(2, 3, 4)], [(1, 1, 4)], [(4, 6, 4)], [[(3, 2, 4)], [(1, 1, 4)], [(4, 6, 4)]])


def test_cumprod_with_dynamic_batch_and_refused_along_a_dynamic_axis():
    from torch2trt.testing import assert_converts_dynamic

    fn = lambda x: (x.cumprod(-1), torch.cumprod(x, 2, dtype=torch.float32))  # noqa: E731
    assert_converts_dynamic(fn, [f32(2, 3, 5)], [(1, 1, 5)], [(4, 6, 5)])
    assert_refuses(lambda x: x.cumprod(1), [f32(2, 3, 5)], r"cumprod along dynamic axis 1: the number of scan steps",
                   min_shapes=[(1, 1, 5)], max_shapes=[(4, 6, 5)])
