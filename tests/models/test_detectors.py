"""torchvision detectors under fallback=True: what TensorRT cannot express (image batching with copy_ into slices,
nms, roi_align, anchors from ImageList) runs in PyTorch, backbones and heads in TensorRT; the detections equal
PyTorch's on fresh images.

Slow: these are the heaviest tests of the suite (random weights, small images, 2 CPU cores: 20-60 s each, Mask R-CNN
the slowest). Score thresholds are 0 so that detections exist with random weights.
"""

import time

import pytest
import torch

from torch2trt import load_fallback, torch2trt
from torch2trt.fallback import TRTPart

detection = pytest.importorskip("torchvision.models.detection")
pytestmark = pytest.mark.slow

SMALL = dict(weights=None, weights_backbone=None)
RCNN = dict(min_size=96, max_size=128, box_score_thresh=0.0, rpn_pre_nms_top_n_test=200,
            rpn_post_nms_top_n_test=100, box_detections_per_img=20)


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "fasterrcnn_resnet50_fpn":
        m = detection.fasterrcnn_resnet50_fpn(**SMALL, **RCNN)
    elif name == "maskrcnn_resnet50_fpn":
        m = detection.maskrcnn_resnet50_fpn(**SMALL, **RCNN)
    elif name == "retinanet_resnet50_fpn":
        m = detection.retinanet_resnet50_fpn(**SMALL, min_size=96, max_size=128, score_thresh=0.0,
                                             detections_per_img=20, topk_candidates=100)
    else:
        m = detection.ssdlite320_mobilenet_v3_large(**SMALL, score_thresh=0.0, detections_per_img=20,
                                                    topk_candidates=100)
    return m.eval()


def image(seed: int, size=(96, 128)) -> torch.Tensor:
    return torch.rand(3, *size, generator=torch.Generator().manual_seed(seed))


_HYBRIDS: dict = {}


def converted(name: str):
    """(model, hybrid, seconds), converted once per test session (conversions are the slow part)."""
    if name not in _HYBRIDS:
        model = build(name)
        t0 = time.perf_counter()
        hybrid = torch2trt(model, [[image(0)]], fallback=True)
        _HYBRIDS[name] = model, hybrid, time.perf_counter() - t0
    return _HYBRIDS[name]


def assert_same_detections(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.keys() == e.keys()
        assert e["boxes"].shape[0] > 0          # detections exist
        for key in e:
            assert g[key].shape == e[key].shape and g[key].dtype == e[key].dtype, key
            if e[key].is_floating_point():
                rel = float((g[key] - e[key]).norm() / e[key].norm().clamp_min(1e-12))
                assert rel <= 1e-4, (key, rel)
            else:
                assert torch.equal(g[key], e[key]), key


@pytest.mark.parametrize("name, share", [("fasterrcnn_resnet50_fpn", 0.6), ("maskrcnn_resnet50_fpn", 0.6),
                                         ("retinanet_resnet50_fpn", 0.9),
                                         ("ssdlite320_mobilenet_v3_large", 0.9)])
def test_detector_runs_mostly_in_tensorrt_with_pytorchs_detections(name, share):
    model, hybrid, seconds = converted(name)
    report = hybrid.fallback_report()
    print(f"\n{name}: {report.trt_share:.1%} of the parameters in TensorRT, converted in {seconds:.1f} s\n{report}")
    assert report.trt_share >= share
    assert isinstance(hybrid.model.backbone, TRTPart)
    rows = {p.path: p for p in report}
    assert rows[""].kind == "PyTorch" and "cannot convert" in rows[""].reason
    # (the conversion compared the hybrid with PyTorch on a fresh image already; one more)
    x = [image(5)]
    with torch.no_grad():
        assert_same_detections(hybrid(x), model(x))


def test_rcnn_heads_get_rows_profiles_bounded_by_the_model():
    _, hybrid, _ = converted("fasterrcnn_resnet50_fpn")
    box_head = hybrid.model.roi_heads.box_head
    assert isinstance(box_head, TRTPart) and box_head.torch_module is not None
    spec = box_head.trt.input_specs[0]
    assert spec.min[0] == 1 and spec.max[0] == 100     # rpn_post_nms_top_n_test x 1 image
    assert spec.min[1:] == spec.max[1:] == [256, 7, 7]


def test_detector_hybrid_saved_and_loaded_with_weights_only(tmp_path):
    model, hybrid, _ = converted("ssdlite320_mobilenet_v3_large")
    torch.save(hybrid.state_dict(), tmp_path / "ssd.pth")
    torch.manual_seed(123)
    fresh = detection.ssdlite320_mobilenet_v3_large(**SMALL, score_thresh=0.0, detections_per_img=20,
                                                    topk_candidates=100).eval()
    loaded = load_fallback(fresh, torch.load(tmp_path / "ssd.pth", weights_only=True))
    x = [image(7)]
    with torch.no_grad():
        assert_same_detections(loaded(x), model(x))
