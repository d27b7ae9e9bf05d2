"""diffusers UNets with a dynamic batch (the dynamic-shapes issue's targets): one engine for batch 1..8, exact at
min, opt, max and two interior batches. Their upsamplers branch on sizes of intermediate tensors
(`if hidden_states.shape[0] >= 64`, `numel() * 2 > 2**31`), decided over the whole profile. Tiny configs, random
weights."""

import warnings

import pytest
import torch

from torch2trt import torch2trt

diffusers = pytest.importorskip("diffusers")


class _Call(torch.nn.Module):
    """The UNet called as users call it (keyword return_dict=False), returning the sample tensor."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, *args):
        return self.unet(*args, return_dict=False)[0]


def _unet2d_condition():
    return diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)


def _unet2d():
    return diffusers.UNet2DModel(
        sample_size=16, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8)


def _inputs(kind, batch, gen):
    if kind == "condition":
        return [torch.randn(batch, 4, 16, 16, generator=gen), torch.randint(0, 1000, (batch,), generator=gen),
                torch.randn(batch, 7, 32, generator=gen)]
    return [torch.randn(batch, 3, 16, 16, generator=gen), torch.randint(0, 1000, (batch,), generator=gen)]


@pytest.mark.parametrize("kind", ["condition", "plain"])
def test_diffusers_unet_with_a_dynamic_batch_is_exact_at_every_checked_batch(kind):
    torch.manual_seed(0)
    model = _Call((_unet2d_condition if kind == "condition" else _unet2d)().eval()).eval()
    gen = torch.Generator().manual_seed(1)
    sample = _inputs(kind, 2, gen)
    m = torch2trt(model, sample, min_shapes=[(1,) + tuple(t.shape[1:]) for t in sample],
                  max_shapes=[(8,) + tuple(t.shape[1:]) for t in sample])
    assert [s.min[0] for s in m.input_specs] == [1] * len(sample)
    assert [s.max[0] for s in m.input_specs] == [8] * len(sample)
    assert m.output_specs[0].shape[0] == -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the CPU reference path warns once
        for batch in (1, 2, 3, 6, 8):     # min, opt (the sample), interior, interior, max
            xs = _inputs(kind, batch, gen)
            with torch.no_grad():
                expected = model(*xs)
            got = m(*xs)
            assert got.shape == expected.shape and got.dtype == expected.dtype
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=2e-5)
