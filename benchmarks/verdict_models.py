"""The verification's verdict on real models that a fixed tolerance against PyTorch float32 refused (issue #24): each
is converted with the default settings, and the table gives, per model, the error against PyTorch as given, the
error against the model in float64 (where it was needed), PyTorch's own error at the converted precision, and the
verdict. Random weights, small inputs; writes verdict_models.md/.json.

    python benchmarks/verdict_models.py --out docs/benchmarks [--models fcn_resnet50 ...]
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from pathlib import Path

import torch


def _tv(name, **kw):
    import torchvision

    def make():
        torch.manual_seed(0)
        return getattr(torchvision.models.segmentation if "fcn" in name or "deeplab" in name
                       else torchvision.models, name)(weights=None, **kw).eval()
    return make


def _timm(name):
    def make():
        import timm
        torch.manual_seed(0)
        return timm.create_model(name, pretrained=False).eval()
    return make


def _yolo():
    from ultralytics.nn.tasks import DetectionModel
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = DetectionModel("yolov8n.yaml", verbose=False).eval()
    return m


def _detector(name):
    def make():
        from torchvision.models import detection
        torch.manual_seed(0)
        small = dict(weights=None, weights_backbone=None)
        if name.startswith("ssdlite"):
            return detection.ssdlite320_mobilenet_v3_large(**small, score_thresh=0.0, detections_per_img=20,
                                                           topk_candidates=100).eval()
        return getattr(detection, name)(**small, min_size=256, max_size=256, box_score_thresh=0.0,
                                        rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=100,
                                        box_detections_per_img=20).eval()
    return make


# name -> (make, input shapes, torch2trt kwargs)
CASES = {
    "fcn_resnet50": (_tv("fcn_resnet50", weights_backbone=None, aux_loss=False), [(1, 3, 128, 128)], {}),
    "deeplabv3_resnet50": (_tv("deeplabv3_resnet50", weights_backbone=None, aux_loss=False), [(2, 3, 128, 128)],
                           {"max_batch_size": 2}),
    "timm_resnet50_fp16": (_timm("resnet50"), [(1, 3, 160, 160)], {"fp16_mode": True}),
    "yolov8n_fp16": (_yolo, [(1, 3, 256, 256)], {"fp16_mode": True}),
    "fasterrcnn_fallback": (_detector("fasterrcnn_resnet50_fpn"), [(1, 3, 256, 256)], {"fallback": True}),
    "keypointrcnn_fallback": (_detector("keypointrcnn_resnet50_fpn"), [(1, 3, 256, 256)], {"fallback": True}),
    "ssdlite_fallback": (_detector("ssdlite320_mobilenet_v3_large"), [(1, 3, 320, 320)], {"fallback": True}),
}


def measure(name: str) -> dict:
    from torch2trt import torch2trt

    make, shapes, kwargs = CASES[name]
    model = make()
    torch.manual_seed(1)
    inputs = [torch.rand(s) if kwargs.get("fallback") or "yolo" in name else torch.randn(s) for s in shapes]
    row = {"model": name, "settings": ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"}
    start = time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = torch2trt(model, inputs, **kwargs)
    except Exception as e:  # noqa: BLE001  (a refusal is the result being measured)
        row.update(converted=False, error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
        traceback.print_exc()
    else:
        row["converted"] = True
        runs = m.verification.runs if hasattr(m.verification, "runs") else None
        outs = [o for r in runs for o in r.outputs] if runs is not None else \
            [o for errs in (m.verification or []) for o in errs]
        row["max_rel"] = max((o.rel for o in outs), default=0.0)
        worst = max(outs, key=lambda o: (o.verdict != "", o.rel), default=None)
        if worst is not None:
            row.update(verdict=worst.verdict or "within tolerance", ref_rel=worst.ref_rel, torch_rel=worst.torch_rel,
                       allowed=worst.allowed)
        row["verdicts"] = sorted({o.verdict or "within tolerance" for o in outs})
    row["cpu_s"] = time.process_time() - start
    return row


def _fmt(v):
    return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    p.add_argument("--models", nargs="*", default=list(CASES))
    args = p.parse_args(argv)
    rows = []
    for name in args.models:
        rows.append(measure(name))
        print(rows[-1], flush=True)
    lines = ["| model | settings | converted | rel. error vs PyTorch (max) | worst output: vs float64 | "
             "PyTorch's own | allowed | verdicts | CPU s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r["converted"]:
            lines.append(f"| {r['model']} | {r['settings']} | no: {r['error']} | | | | | | {r['cpu_s']:.1f} |")
            continue
        lines.append(f"| {r['model']} | {r['settings']} | yes | {_fmt(r['max_rel'])} | {_fmt(r.get('ref_rel'))} | "
                     f"{_fmt(r.get('torch_rel'))} | {_fmt(r.get('allowed'))} | {', '.join(r['verdicts'])} | "
                     f"{r['cpu_s']:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "verdict_models.json").write_text(json.dumps(rows, indent=1, default=str))
        (out / "verdict_models.md").write_text(
            "# The verdict on models a fixed tolerance refused\n\n`python benchmarks/verdict_models.py --out "
            "docs/benchmarks` (random weights, default settings except those listed; CPU reference executor). "
            "'within tolerance' is the first comparison with PyTorch as given; the other verdicts are the second "
            "look (torch2trt/verify.py).\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
