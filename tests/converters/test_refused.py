"""Ops refused on purpose say why (data-dependent output shapes), under the name a user would register."""

import pytest
import torch
import torchvision  # noqa: F401

from torch2trt.converters.refused import REFUSED
from torch2trt.testing import assert_refuses

X = torch.tensor([[0.0, 1.5, -2.0], [3.0, 0.0, 1.5]])


@pytest.mark.parametrize("name, fn", [
    ("torch.nonzero", lambda x: torch.nonzero(x)),
    ("torch.Tensor.nonzero", lambda x: x.nonzero()),
    ("torch.argwhere", lambda x: torch.argwhere(x)),
    ("torch.unique", lambda x: torch.unique(x)),
    ("torch.Tensor.unique_consecutive", lambda x: x.unique_consecutive()),
    ("torch.masked_select", lambda x: torch.masked_select(x, x > 0)),
    ("torch.bincount", lambda x: torch.bincount(x.abs().long().flatten())),
    ("torch.ops.torchvision.nms", lambda x: torch.ops.torchvision.nms(torch.cat([x, x + 1], 1)[:, :4], x[:, 0], 0.5)),
])
def test_refused_ops_give_their_reason(name, fn):
    assert name in REFUSED
    assert_refuses(fn, [X], rf"{name.replace('.', chr(92) + '.')}: data-dependent output shape")


def test_nms_reason_when_torchvision_is_imported_after_torch2trt():
    import subprocess
    import sys

    code = ("import torch, torch2trt, torchvision\n"
            "from torch2trt.testing import assert_refuses\n"
            "x = torch.rand(3, 5)\n"
            "assert_refuses(lambda x: torch.ops.torchvision.nms(x[:, :4], x[:, 4], 0.5), [x],\n"
            "               r'torch\\.ops\\.torchvision\\.nms: data-dependent output shape')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mode_is_refused_with_its_reason():
    from torch2trt.testing import assert_refuses

    assert_refuses(lambda a: torch.mode(a, 1), [torch.randn(2, 9)], r"torch.mode: no exact form implemented")
    assert_refuses(lambda a: a.mode(), [torch.randn(2, 9)], r"Tensor.mode: no exact form implemented")
