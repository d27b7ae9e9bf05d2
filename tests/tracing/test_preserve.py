"""tracing/preserve.py: which tensors an ATen op writes (from its schema, and for the batch norms whose schema does
not declare their running-statistics update), and run_preserved() restoring what ATen wrote below the
torch-function level."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch2trt.tracing.preserve import aten_written, run_preserved

aten = torch.ops.aten


def _ids(tensors):
    return [id(t) for t in tensors]


def test_schema_writes_are_found_positionally_by_keyword_and_in_lists():
    x, y, out = torch.randn(3), torch.randn(3), torch.empty(3)
    assert _ids(aten_written(aten.add_.Tensor, (x, y), {})) == [id(x)]
    assert _ids(aten_written(aten.add.out, (x, y), {"out": out})) == [id(out)]
    assert aten_written(aten.add.Tensor, (x, y), {}) == []
    assert _ids(aten_written(aten._foreach_add_.Scalar, ([x, y], 1.0), {})) == [id(x), id(y)]
    rm, rv = torch.zeros(3), torch.ones(3)
    legit = aten._native_batch_norm_legit.default
    assert _ids(aten_written(legit, (torch.randn(2, 3), None, None, rm, rv, True, 0.1, 1e-5), {})) == [id(rm), id(rv)]


def test_batch_norms_whose_schema_hides_the_update_write_their_statistics_only_in_training():
    x, rm, rv = torch.randn(4, 3), torch.zeros(3), torch.ones(3)
    for op in (aten.native_batch_norm.default, aten.cudnn_batch_norm.default, aten.miopen_batch_norm.default):
        assert _ids(aten_written(op, (x, None, None, rm, rv, True, 0.1, 1e-5), {})) == [id(rm), id(rv)], op
        assert aten_written(op, (x, None, None, rm, rv, False, 0.1, 1e-5), {}) == [], op
    # the schema really does not say so (else the table would be needless): ATen writes them anyway
    assert not any(a.alias_info and a.alias_info.is_write for a in aten.native_batch_norm.default._schema.arguments)
    before = rm.clone()
    aten.native_batch_norm.default(x * 3 + 1, None, None, rm, rv, True, 0.5, 1e-5)
    assert not torch.equal(rm, before)


class Stats(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("rm", torch.randn(3))
        self.register_buffer("rv", torch.rand(3) + 0.5)

    def forward(self, x):
        return (F.batch_norm(x, self.rm, self.rv, training=True),
                F.instance_norm(torch.stack([x, x * x], -1), self.rm, self.rv, use_input_stats=True))


def test_run_preserved_restores_what_aten_writes_and_computes_what_pytorch_computes():
    model = Stats().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3) * 2 + 1
    got = run_preserved(model, x)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    expected = model(x)          # PyTorch itself (this run changes the buffers; the first result must equal it)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert not torch.equal(model.rm, state["rm"])
