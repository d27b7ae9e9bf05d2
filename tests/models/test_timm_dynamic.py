"""timm's vision transformers with a dynamic batch (the dynamic-shapes issue's targets): one engine for batch 1..4,
exact at each (tiny 64x64 configs, random weights)."""

import warnings

import pytest
import torch

from torch2trt import torch2trt

timm = pytest.importorskip("timm")


@pytest.mark.parametrize("name, kwargs", [
    ("vit_small_patch16_224", dict(img_size=64)),
    ("swin_tiny_patch4_window7_224", dict(img_size=64, window_size=4)),
])
def test_timm_transformer_with_a_dynamic_batch_is_exact_at_every_batch(name, kwargs):
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10, **kwargs).eval()
    m = torch2trt(model, [torch.randn(2, 3, 64, 64)], min_shapes=[(1, 3, 64, 64)], max_shapes=[(4, 3, 64, 64)])
    assert m.input_specs[0].min == [1, 3, 64, 64] and m.input_specs[0].max == [4, 3, 64, 64]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the CPU reference path warns once
        for batch in (1, 3, 4):
            x = torch.randn(batch, 3, 64, 64)
            with torch.no_grad():
                expected = model(x)
            got = m(x)
            assert got.shape == expected.shape == (batch, 10)
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
