"""Dynamic shapes on real models: each model converted ONCE with an optimization profile, then its network run by
the reference executor at the profile's min, opt and max shapes and at interior shapes, against PyTorch. Writes
dynamic_models.md and dynamic_models.json.

    python benchmarks/dynamic_models.py --out docs/benchmarks          # every model below
    python benchmarks/dynamic_models.py resnet50 yolov8n --out /tmp/dyn

Models are built from configs with random weights (no downloads); transformers, timm, ultralytics and diffusers come
from the `models` extra (pip install -e ".[models]"). Columns: conversion wall time (trace + network + records) and
engine build time, network layers, and ||reference - PyTorch|| / ||PyTorch|| at each checked shape.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import torch


class _Call(torch.nn.Module):
    """A model called with keyword options, returning its first output tensor."""

    def __init__(self, model, **options):
        super().__init__()
        self.model, self.options = model, options

    def forward(self, *args):
        out = self.model(*args, **self.options)
        return out[0] if isinstance(out, (tuple, list)) else out


def _resnet50():
    import torchvision

    model = torchvision.models.resnet50().eval()
    for m in model.modules():          # random batch-norm statistics (the defaults make BN an identity)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    shapes = [(1, 3, 224, 224), (2, 3, 256, 256), (4, 3, 320, 320), (3, 3, 288, 160), (1, 3, 160, 320)]
    return model, "eager", dict(min_shapes=[(1, 3, 160, 160)], max_shapes=[(4, 3, 320, 320)]), \
        [[torch.randn(s)] for s in shapes], "batch 1..4, H/W 160..320"


def _timm(name, **kwargs):
    import timm

    def make():
        model = timm.create_model(name, pretrained=False, **kwargs).eval()
        size = kwargs.get("img_size", 224)
        shapes = [(2, 3, size, size), (1, 3, size, size), (8, 3, size, size), (3, 3, size, size), (6, 3, size, size)]
        return model, "eager", dict(min_shapes=[(1, 3, size, size)], max_shapes=[(8, 3, size, size)]), \
            [[torch.randn(s)] for s in shapes], "batch 1..8"
    return make


def _yolov8n():
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=80, verbose=False).eval()
    for m in model.modules():          # variance-preserving weights (the default init gives near-constant outputs)
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.normal_(m.bias)
    model.model[-1].dynamic = model.model[-1].export = True     # recompute anchors per shape; tensor output
    sizes = [(2, 416), (1, 320), (4, 640), (3, 352), (2, 544)]
    return model, "eager", dict(min_shapes=[(1, 3, 320, 320)], max_shapes=[(4, 3, 640, 640)]), \
        [[torch.randn(b, 3, s, s)] for b, s in sizes], "batch 1..4, H/W 320..640"


def _unet_condition():
    import diffusers

    unet = diffusers.UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8).eval()

    def inputs(b):
        return [torch.randn(b, 4, 32, 32), torch.randint(0, 1000, (b,)), torch.randn(b, 7, 32)]
    return _Call(unet, return_dict=False).eval(), "eager", \
        dict(min_shapes=[(1, 4, 32, 32), (1,), (1, 7, 32)], max_shapes=[(8, 4, 32, 32), (8,), (8, 7, 32)]), \
        [inputs(b) for b in (2, 1, 8, 3, 6)], "batch 1..8"


def _hf(kind):
    def make():
        import transformers as t

        vocab = 1000
        if kind == "bert":
            model = t.BertModel(t.BertConfig(vocab_size=vocab, hidden_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, intermediate_size=256,
                                             max_position_embeddings=128))
        elif kind == "gpt2":
            model = t.GPT2LMHeadModel(t.GPT2Config(vocab_size=vocab, n_embd=128, n_layer=2, n_head=4, n_positions=128,
                                                   use_cache=False, bos_token_id=0, eos_token_id=0))
        else:
            model = t.LlamaForCausalLM(t.LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256,
                                                     num_hidden_layers=2, num_attention_heads=4,
                                                     num_key_value_heads=2, max_position_embeddings=128,
                                                     use_cache=False, bos_token_id=0, eos_token_id=0,
                                                     pad_token_id=0))
        shapes = [(2, 16), (1, 1), (8, 128), (3, 37), (5, 100)]
        return model.eval(), "dynamo", dict(min_shapes=[(1, 1)], max_shapes=[(8, 128)]), \
            [{"input_ids": torch.randint(0, vocab, s)} for s in shapes], "batch 1..8, sequence 1..128"
    return make


MODELS = {
    "resnet50": _resnet50,
    "vit_small_patch16_224": _timm("vit_small_patch16_224", num_classes=100),
    "swin_tiny_patch4_window7_224": _timm("swin_tiny_patch4_window7_224", num_classes=100),
    "yolov8n": _yolov8n,
    "unet2d_condition_small": _unet_condition,
    "bert_tiny": _hf("bert"),
    "gpt2_tiny": _hf("gpt2"),
    "llama_tiny": _hf("llama"),
}


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        return next(iter(out.values()))
    return out[0]


def bench(name: str) -> dict:
    from torch2trt import torch2trt
    from torch2trt.compare import compare
    from torch2trt.dynamo import convert

    torch.manual_seed(0)
    model, route, profile, cases, what = MODELS[name]()
    sample = cases[0]
    row = {"model": name, "profile": what, "route": "torch2trt.dynamo.convert" if route == "dynamo" else "torch2trt"}
    start = time.perf_counter()
    try:
        m = convert(model, sample, **profile) if route == "dynamo" else torch2trt(model, sample, **profile)
    except Exception as e:  # noqa: BLE001 - the table reports it
        row["status"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        return row
    total = time.perf_counter() - start
    t = m.timings
    row.update(status="ok", convert_s=total - t.get("build", 0) - t.get("verify", 0), build_s=t.get("build"),
               total_s=total, layers=sum(m.network_record.layer_counts().values()), errors=[])
    labels = ["opt (sample)", "min", "max", "interior", "interior"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, inputs in zip(labels, cases):
            with torch.no_grad():
                ref = _first_tensor(model(**inputs) if isinstance(inputs, dict) else model(*inputs))
                got = _first_tensor(m(**inputs) if isinstance(inputs, dict) else m(*inputs))
            shape = [tuple(v.shape) for v in (inputs.values() if isinstance(inputs, dict) else inputs)][0]
            row["errors"].append({"at": label, "shape": list(shape), "rel": compare(got, ref).rel})
    return row


def write(rows: list[dict], out: Path) -> None:
    import tensorrt_rtx as trt

    out.mkdir(parents=True, exist_ok=True)
    (out / "dynamic_models.json").write_text(json.dumps(rows, indent=1))
    lines = ["# Dynamic shapes on real models", "",
             f"Generated by `benchmarks/dynamic_models.py` on {datetime.date.today()}: torch {torch.__version__}, "
             f"tensorrt_rtx {trt.__version__}, CPU {platform.machine()}, GPU none. Random weights; each model "
             "converted once with the profile shown, then its network run by the reference executor (TensorRT "
             "semantics on the CPU) at each shape. Error: ||reference − PyTorch|| / ||PyTorch|| of the first output.",
             "",
             "| model | profile | route | convert (s) | build (s) | layers | opt | min | max | interior | interior |",
             "|---|---|---|---:|---:|---:|---|---|---|---|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['profile']} | {r['route']} | {r['status']} | | | | | | | |")
            continue
        cells = [f"{e['rel']:.1e} at {'x'.join(map(str, e['shape']))}" for e in r["errors"]]
        lines.append(f"| {r['model']} | {r['profile']} | {r['route']} | {r['convert_s']:.2f} | {r['build_s']:.2f} | "
                     f"{r['layers']} | " + " | ".join(cells) + " |")
    lines += ["", "- *convert*: the conversion call's wall time minus the engine build and the default verification: "
              "tracing, network construction, reading the network into portable records, and for the dynamo route "
              "TorchDynamo's capture; *build*: TensorRT-RTX's builder on the CPU. One run, 1 torch thread, on a "
              "shared 2-core machine.",
              "- yolov8n: the Detect head set to recompute its anchors per shape (`model.model[-1].dynamic = True`, "
              "as ultralytics' own dynamic export does); otherwise a model that has already run refuses the "
              "comparison with its cached shape.",
              "- Hugging Face text models: `torch2trt.dynamo.convert(model, {\"input_ids\": ids}, ...)`; eager "
              "tracing refuses them with a dynamic sequence (transformers branches on `q_length > 1`).", ""]
    (out / "dynamic_models.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", metavar="MODEL", help=f"default: {', '.join(MODELS)}")
    p.add_argument("--out", default="docs/benchmarks")
    args = p.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    torch.set_num_threads(1)
    rows = []
    for name in args.models or list(MODELS):
        print(f"[dynamic] {name} ...", file=sys.stderr, flush=True)
        rows.append(bench(name))
        print(f"[dynamic] {name}: {rows[-1]['status']}", file=sys.stderr, flush=True)
    write(rows, Path(args.out))
    print(Path(args.out) / "dynamic_models.md")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
