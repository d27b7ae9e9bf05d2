"""Resize, grid_sample and affine_grid against PyTorch: every interpolate mode, size or scale_factor (integer
and non-integer, recompute_scale_factor True/False), align_corners, downsampling, output size 1, the
upsample spellings and nn.Upsample, reduced precision — and refusals (antialias, unsupported modes)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.network.inspect import read_network
from torch2trt.testing import assert_converts, assert_refuses


def x3(n=2, c=3, w=7):
    return torch.randn(n, c, w)


def x4(n=2, c=3, h=5, w=7):
    return torch.randn(n, c, h, w)


def x5(n=2, c=2, d=3, h=4, w=5):
    return torch.randn(n, c, d, h, w)


def interp(**kw):
    return lambda x: F.interpolate(x, **kw)


CASES = {
    # nearest
    "nearest_scale2": (interp(scale_factor=2), [x4()]),
    "nearest_size": (interp(size=(9, 11)), [x4()]),
    "nearest_downsample_size": (interp(size=(3, 4)), [x4()]),
    "nearest_size_1": (interp(size=(1, 1)), [x4()]),
    "nearest_scale_1_7": (interp(scale_factor=1.7), [x4()]),
    "nearest_scale_1_7_recompute": (interp(scale_factor=1.7, recompute_scale_factor=True), [x4()]),
    "nearest_scale_0_6": (interp(scale_factor=0.6), [x4(h=10, w=9)]),
    "nearest_scale_tuple": (interp(scale_factor=(2, 1.5)), [x4(h=4, w=6)]),
    "nearest_size_3_to_7": (interp(size=7), [x3(w=3)]),
    "nearest_1d_scale": (interp(scale_factor=2.5), [x3()]),
    # PyTorch computes nearest indices in float32: 6 -> 74 and 4 -> 41 (exact) differ from floor(i * in / out)
    "nearest_float32_indices": (interp(size=(74, 5)), [x4(h=6, w=7)]),
    "nearest_exact_float32_indices": (interp(size=41, mode="nearest-exact"), [x3(w=4)]),
    "nearest_3d": (interp(scale_factor=(1, 2, 3)), [x5()]),
    "nearest_3d_size": (interp(size=(5, 3, 7)), [x5()]),
    # nearest-exact
    "nearest_exact_size": (interp(size=(8, 12), mode="nearest-exact"), [x4()]),
    "nearest_exact_downsample": (interp(size=(3, 4), mode="nearest-exact"), [x4()]),
    "nearest_exact_scale_1_7": (interp(scale_factor=1.7, mode="nearest-exact"), [x4()]),
    "nearest_exact_1d": (interp(scale_factor=3, mode="nearest-exact"), [x3()]),
    # linear family
    "linear": (interp(scale_factor=2, mode="linear"), [x3()]),
    "linear_align_corners": (interp(size=12, mode="linear", align_corners=True), [x3()]),
    "bilinear": (interp(scale_factor=2, mode="bilinear"), [x4()]),
    "bilinear_align_corners": (interp(scale_factor=2, mode="bilinear", align_corners=True), [x4()]),
    "bilinear_size": (interp(size=(8, 3), mode="bilinear"), [x4()]),
    "bilinear_downsample": (interp(size=(2, 3), mode="bilinear"), [x4(h=7, w=9)]),
    "bilinear_size_1": (interp(size=(1, 1), mode="bilinear"), [x4()]),
    "bilinear_size_1_align_corners": (interp(size=(1, 4), mode="bilinear", align_corners=True), [x4()]),
    "bilinear_scale_1_7": (interp(scale_factor=1.7, mode="bilinear"), [x4()]),
    "bilinear_scale_1_7_recompute": (interp(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
                                     [x4()]),
    "bilinear_scale_0_45_align": (interp(scale_factor=0.45, mode="bilinear", align_corners=True), [x4(h=9, w=11)]),
    "bilinear_non_contiguous": (lambda x: F.interpolate(x.transpose(2, 3), scale_factor=2, mode="bilinear"), [x4()]),
    "bilinear_float16": (interp(scale_factor=2, mode="bilinear"), [x4().half()]),
    "bilinear_float16_scale_1_7": (interp(scale_factor=1.7, mode="bilinear"), [x4().half()]),
    "area_float16": (interp(size=(3, 4), mode="area"), [x4(h=7, w=9).half()]),
    "trilinear": (interp(scale_factor=2, mode="trilinear"), [x5()]),
    "trilinear_align_corners_size": (interp(size=(4, 6, 3), mode="trilinear", align_corners=True), [x5()]),
    "trilinear_scale_1_5": (interp(scale_factor=(1.5, 1.3, 0.7), mode="trilinear"), [x5()]),
    # bicubic
    "bicubic": (interp(scale_factor=2, mode="bicubic"), [x4()]),
    "bicubic_align_corners": (interp(size=(9, 13), mode="bicubic", align_corners=True), [x4()]),
    "bicubic_downsample": (interp(size=(3, 4), mode="bicubic"), [x4(h=8, w=9)]),
    "bicubic_scale_1_7": (interp(scale_factor=1.7, mode="bicubic"), [x4()]),
    "bicubic_size_1": (interp(size=(1, 2), mode="bicubic"), [x4()]),
    # area
    "area": (interp(size=(3, 4), mode="area"), [x4(h=7, w=9)]),
    "area_upsample": (interp(scale_factor=2, mode="area"), [x4()]),
    "area_1d": (interp(size=4, mode="area"), [x3(w=10)]),
    "area_3d": (interp(size=(2, 3, 2), mode="area"), [x5()]),
    # other spellings
    "upsample": (lambda x: F.upsample(x, scale_factor=2, mode="bilinear"), [x4()]),
    "upsample_nearest": (lambda x: F.upsample_nearest(x, scale_factor=3), [x4()]),
    "upsample_bilinear_align_corners": (lambda x: F.upsample_bilinear(x, size=(9, 10)), [x4()]),
    "nn_upsample": (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), [x4()]),
    "nn_upsample_nearest_size": (nn.Upsample(size=(6, 6)), [x4()]),
    "nn_upsampling_nearest2d": (nn.UpsamplingNearest2d(scale_factor=2), [x4()]),
    "nn_upsampling_bilinear2d": (nn.UpsamplingBilinear2d(scale_factor=2), [x4()]),
    "size_from_other_tensor": (lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear"), [x4(), x4(h=9, w=3)]),
}

RTOL = {"bilinear_float16": 1e-3, "bilinear_float16_scale_1_7": 1e-3, "area_float16": 1e-3}


@pytest.mark.parametrize("name", list(CASES))
def test_interpolate_matches_pytorch(name):
    fn, inputs = CASES[name]
    assert_converts(fn, inputs, rtol=RTOL.get(name, 1e-5))


def layer_types(fn, inputs) -> list[str]:
    report = assert_converts(fn, inputs)
    return [layer.type for layer in read_network(report.model_trt.network).layers if layer.type != "CONSTANT"]


@pytest.mark.parametrize("fn, inputs, expected", [
    (interp(scale_factor=2, mode="bilinear"), [x4()], ["RESIZE"]),
    (interp(size=(9, 11), mode="bicubic", align_corners=True), [x4()], ["RESIZE"]),
    (interp(size=(9, 11)), [x4()], ["RESIZE"]),
    (interp(scale_factor=2, mode="nearest-exact"), [x4()], ["RESIZE"]),
    (interp(scale_factor=(1, 2, 2), mode="trilinear"), [x5()], ["RESIZE"]),
    # 1 / 1.7 is not 7 / 11: the width axis is PyTorch's own operator, the height (5 -> 8) likewise
    (interp(scale_factor=1.7), [x4()], ["GATHER", "GATHER"]),
    (interp(scale_factor=(2, 1.7), mode="bilinear"), [x4()], ["RESIZE", "MATRIX_MULTIPLY"]),
])
def test_interpolate_uses_one_resize_layer_where_exact(fn, inputs, expected):
    assert layer_types(fn, inputs) == expected


@pytest.mark.parametrize("fn, match", [
    (interp(scale_factor=0.5, mode="bilinear", antialias=True), r"interpolate\(antialias=True\): TensorRT's RESIZE"),
])
def test_interpolate_refuses(fn, match):
    assert_refuses(fn, [x4()], match=match)


def grid(n=2, h=4, w=6, spread=1.2):
    return (torch.rand(n, h, w, 2) * 2 - 1) * spread


GRID_CASES = {
    f"{mode}_{padding}_{align}": (mode, padding, align)
    for mode in ("bilinear", "nearest", "bicubic") for padding in ("zeros", "border", "reflection")
    for align in (False, True)
}


@pytest.mark.parametrize("name", list(GRID_CASES))
def test_grid_sample_matches_pytorch(name):
    mode, padding, align = GRID_CASES[name]
    assert_converts(lambda x, g: F.grid_sample(x, g, mode=mode, padding_mode=padding, align_corners=align),
                    [x4(), grid()])


@pytest.mark.parametrize("mode, padding", [("bilinear", "zeros"), ("nearest", "border"), ("bilinear", "reflection")])
def test_grid_sample_3d_matches_pytorch(mode, padding):
    g = (torch.rand(2, 3, 2, 4, 3) * 2 - 1) * 1.2
    assert_converts(lambda x, g: F.grid_sample(x, g, mode=mode, padding_mode=padding, align_corners=False),
                    [x5(), g])


def test_grid_sample_float16_and_non_contiguous():
    assert_converts(lambda x, g: F.grid_sample(x.transpose(2, 3), g.half(), align_corners=False),
                    [x4().half(), grid()], rtol=5e-3)  # PyTorch unnormalizes float16 coordinates in float16


@pytest.mark.parametrize("size, align", [((2, 3, 5, 7), False), ((2, 3, 5, 7), True), ((2, 1, 3, 4, 5), False),
                                         ((2, 1, 3, 4, 5), True)])
def test_affine_grid_matches_pytorch(size, align):
    theta = torch.randn(2, len(size) - 2, len(size) - 1)
    assert_converts(lambda t: F.affine_grid(t * 1.5, size, align_corners=align), [theta])


def test_affine_grid_then_grid_sample():
    assert_converts(lambda x, t: F.grid_sample(x, F.affine_grid(t, list(x.shape), align_corners=False),
                                               align_corners=False), [x4(), torch.randn(2, 2, 3) * 0.5])


@pytest.mark.parametrize("mode, by_scale", [("nearest", False), ("bilinear", False), ("bicubic", False),
                                           ("nearest", True), ("nearest-exact", True), ("bilinear", True),
                                           ("bicubic", True)])
def test_interpolate_with_dynamic_sizes_matches_pytorch_at_other_shapes(mode, by_scale):
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule, compare, run_reference

    def fn(x):
        if by_scale:
            return F.interpolate(x, scale_factor=(2, 3), mode=mode)
        return F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] + 3), mode=mode)

    m = torch2trt(FunctionModule(fn).eval(), [x4()], min_shapes=[(1, 3, 3, 3)], max_shapes=[(4, 3, 9, 9)])
    for shape in [(1, 3, 3, 4), (3, 3, 8, 9)]:
        x = torch.randn(shape)
        err = compare(run_reference(m, [x]), fn(x))
        assert err.same_layout and err.rel <= 1e-5


def test_interpolate_refuses_non_integer_scale_on_dynamic_shape():
    from torch2trt import torch2trt
    from torch2trt.check import FunctionModule

    with pytest.raises(Exception, match=r"scale_factor=1.5\) on a dynamic shape: only integer scale factors"):
        torch2trt(FunctionModule(interp(scale_factor=1.5)).eval(), [x4()], min_shapes=[(1, 3, 3, 3)],
                  max_shapes=[(4, 3, 9, 9)])


# ---- moved from test_nn_layers.py: each bundled spelling named (a failure says which) -----------------------
torch.manual_seed(0)
NN_R = torch.randn(2, 3, 5, 7)
NN_RESIZE = {
    "nearest": lambda a: dict(scale_2=F.interpolate(a, scale_factor=2), size_up=F.interpolate(a, size=(8, 9)),
                              size_down=F.interpolate(a, size=(3, 4)),
                              nearest_exact=F.interpolate(a, size=(11, 13), mode="nearest-exact")),
    "bilinear": lambda a: dict(size_up=F.interpolate(a, size=(8, 9), mode="bilinear"),
                               align_corners=F.interpolate(a, size=(8, 9), mode="bilinear", align_corners=True),
                               scale_2=F.interpolate(a, scale_factor=2, mode="bilinear"),
                               size_down=F.interpolate(a, size=(3, 4), mode="bilinear")),
    "bicubic": lambda a: dict(size_up=F.interpolate(a, size=(8, 9), mode="bicubic"),
                              align_corners=F.interpolate(a, size=(8, 9), mode="bicubic", align_corners=True)),
    "linear_trilinear": lambda a: dict(linear=F.interpolate(a[:, :, 0], size=11, mode="linear"),
                                       trilinear=F.interpolate(a[None], size=(4, 6, 8), mode="trilinear")),
    "upsample_module": lambda a: nn.Upsample(scale_factor=2, mode="bilinear")(a) + 0,
}


@pytest.mark.parametrize("name", list(NN_RESIZE))
def test_resize_spellings_match_pytorch(name):
    assert_converts(NN_RESIZE[name], [NN_R])


def test_antialiased_interpolation_is_refused():
    assert_refuses(lambda a: F.interpolate(a, scale_factor=2, mode="bilinear", antialias=True), [NN_R],
                   r"antialias=True")
