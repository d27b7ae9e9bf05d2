"""ultralytics YOLOv8n (the dynamic-shapes issue's target): one engine for batch 1..4 and image size 320..640,
exact at min, opt, max and interior shapes (multiples of 32, as YOLO needs). Built from its yaml config with random
weights (no download).

The Detect head caches its anchors for the last input shape (`if self.dynamic or self.shape != shape`). A model that
has already run holds a static `self.shape`: with a dynamic profile that comparison is refused (the cached anchors
would be frozen at the sample), unless the head is told to recompute them, `model.model[-1].dynamic = True` — what
ultralytics' own dynamic export sets."""

import warnings

import pytest
import torch

from torch2trt import ConversionError, torch2trt

pytest.importorskip("ultralytics")


def _yolov8n(dynamic: bool):
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolov8n.yaml", nc=80, verbose=False).eval()
    for mod in model.modules():            # variance-preserving weights: the default init makes outputs near-constant
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            if mod.bias is not None:
                torch.nn.init.normal_(mod.bias)
    head = model.model[-1]
    head.dynamic, head.export = dynamic, True   # export: the head returns the decoded tensor only
    return model


PROFILE = dict(min_shapes=[(1, 3, 320, 320)], max_shapes=[(4, 3, 640, 640)])


def test_yolov8n_with_dynamic_batch_and_image_size_is_exact_at_every_checked_shape():
    model = _yolov8n(dynamic=True)
    m = torch2trt(model, [torch.randn(2, 3, 416, 416)], **PROFILE)
    assert m.input_specs[0].min == [1, 3, 320, 320] and m.input_specs[0].max == [4, 3, 640, 640]
    assert m.output_specs[0].shape == [-1, 84, -1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the CPU reference path warns once
        for batch, size in ((1, 320), (2, 416), (4, 640), (3, 352), (1, 576)):
            x = torch.randn(batch, 3, size, size)
            with torch.no_grad():
                expected = model(x)
            got = m(x)
            assert got.shape == expected.shape == (batch, 84, 21 * (size // 32) ** 2)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


def test_yolov8n_caching_its_anchors_for_one_shape_is_refused_at_the_line_that_compares_it():
    model = _yolov8n(dynamic=False)
    with torch.no_grad():
        model(torch.randn(1, 3, 320, 320))          # caches anchors for 320x320
    with pytest.raises(ConversionError, match=r"comparison eq on dynamic dimension") as info:
        torch2trt(model, [torch.randn(2, 3, 416, 416)], **PROFILE)
    assert "self.shape != shape" in str(info.value)
