"""The main job, end to end on any machine: convert torchvision resnet18 (random weights), build its
TensorRT engine with the real builder, and check the network against PyTorch.

    python examples/quickstart.py [model_name] [batch]
"""

import sys
import time

import torch
import torchvision

import torch2trt
from torch2trt import backend
from torch2trt.testing import randomize_norm_statistics


def main(name: str = "resnet18", batch: int = 2) -> int:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    randomize_norm_statistics(model)  # fresh batch norms are the identity: give them real statistics
    x = torch.randn(batch, 3, 224, 224)
    print(f"torch2trt {torch2trt.__version__} with {backend.NAME} {backend.VERSION}; torch {torch.__version__}")
    start = time.perf_counter()
    report = torch2trt.check(model, [x], verbose=False)
    seconds = time.perf_counter() - start
    model_trt = report.model_trt
    layers = len(model_trt.network_record.layers)   # the network's records (saved with the module)
    print(f"{name}: converted and built in {seconds:.2f} s (engine {len(model_trt.engine_bytes) / 1e6:.1f} MB, "
          f"{layers} layers)")
    print(report.table())
    ok = report.max_rel <= 1e-5 and all(o.same_layout for o in report.outputs)
    print("OK: the network matches PyTorch (relative error <= 1e-5)" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0] if args else "resnet18", int(args[1]) if len(args) > 1 else 2))
