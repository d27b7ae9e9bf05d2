"""The GPU runtime path: TRTModule executing its engine with TensorRT. Runs only where a CUDA GPU that the
backend supports is present; skipped elsewhere (our CI and development machines have no GPU)."""

import pytest
import torch
import torchvision

from torch2trt import backend, torch2trt

runnable, why = backend.engine_runnable_here()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not runnable, reason=f"engine cannot run here: {why}")]


def test_resnet18_engine_runs_on_gpu_and_matches_pytorch():
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval().cuda()
    x = torch.randn(2, 3, 224, 224, device="cuda")
    model_trt = torch2trt(model, [x])
    y, y_trt = model(x), model_trt(x)
    assert y_trt.device == x.device and y_trt.dtype == y.dtype and y_trt.shape == y.shape
    assert float((y - y_trt).norm() / y.norm()) < 1e-3  # TensorRT's own kernels (TF32 may be used)


def test_engine_runs_on_a_non_default_stream():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval().cuda()
    x = torch.randn(2, 3, 16, 16, device="cuda")
    model_trt = torch2trt(model, [x])
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y_trt = model_trt(x)
    stream.synchronize()
    torch.testing.assert_close(y_trt, model(x), rtol=1e-3, atol=1e-3)
