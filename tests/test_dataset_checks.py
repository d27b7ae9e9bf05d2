"""ListDataset items must be called like item 0: the same nesting, the same non-tensor values, tensors of the same
ranks and dtypes; dicts are bound by key (profile included); a recorded call with keyword arguments is refused (the
model is traced and verified with each item's positional arguments). Errors name the item and what differs."""

import pytest
import torch
import torch.nn as nn

from torch2trt import ListDataset, torch2trt
from torch2trt.dataset import profile_from


class Scaled(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


class TwoKeys(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(8, 3)

    def forward(self, d):
        return self.a(d["a"]) + self.b(d["b"]) * d["n"].float().unsqueeze(-1)


def two_keys(batch, order="abn"):
    values = {"a": torch.randn(batch, 4), "b": torch.randn(batch, 8), "n": torch.arange(batch)}
    return {k: values[k] for k in {"abn": "abn", "nba": "nba", "ban": "ban"}[order]}


def test_record_refuses_keyword_arguments_naming_them():
    model = Scaled().eval()
    dataset = ListDataset()
    with dataset.record(model):
        model(torch.randn(2, 3), 2.0)                      # positional: recorded
        with pytest.raises(TypeError, match=r"keyword argument\(s\) \['scale'\].*positionally"):
            model(torch.randn(2, 3), scale=2.0)
    assert len(dataset) == 1 and dataset[0][1] == 2.0


def test_record_copies_nested_tensors():
    model = FunctionList().eval()
    dataset = ListDataset()
    xs = [torch.zeros(2, 3), torch.zeros(2, 3)]
    with dataset.record(model):
        model(xs)
    xs[1].add_(5.0)                                        # the caller reuses its buffers
    assert isinstance(dataset[0][0], list) and dataset[0][0][1].abs().sum() == 0


class FunctionList(nn.Module):
    def forward(self, xs):
        return xs[0] + xs[1]


def test_a_str_where_item_0_has_a_float_is_refused_with_the_item_and_the_values():
    dataset = ListDataset([(torch.randn(2, 3), 2.0), (torch.randn(4, 3), 2.0)])
    with pytest.raises(ValueError, match=r"item 2 is not structured like item 0: argument 1: item 0 has 2\.0 "
                                         r"\(float\) here, this item '2\.0' \(str\)"):
        dataset.insert((torch.randn(3, 3), "2.0"))
    dataset.items.append((torch.randn(3, 3), 3.0))         # past insert(): still checked by the conversion
    with pytest.raises(ValueError, match=r"item 2 is not structured like item 0: argument 1: item 0 has 2\.0 "
                                         r"\(float\) here, this item 3\.0"):
        torch2trt(Scaled().eval(), dataset)


@pytest.mark.parametrize("item, how", [
    (([torch.randn(2, 3), torch.randn(2, 3)],), r"argument 0: expected a tuple of 2 items, got list"),
    (((torch.randn(2, 3),),), r"argument 0: expected 2 items \(as item 0\), got 1"),
    (((torch.randn(2, 3), torch.randn(2, 3)), 1), r"the call: expected 1 arguments \(as item 0\), got 2"),
    (((torch.randn(2, 3), torch.randn(2, 3, 1)),), r"argument 0\[1\]: a tensor of rank 3; item 0 has rank 2"),
    (((torch.randn(2, 3), torch.ones(2, 3, dtype=torch.int32)),),
     r"argument 0\[1\]: a tensor of dtype torch.int32; item 0 has torch.float32"),
    (((torch.randn(2, 3), None),), r"argument 0\[1\]: expected a tensor, got NoneType"),
])
def test_items_nested_differently_name_the_item_and_the_difference(item, how):
    dataset = ListDataset([((torch.randn(2, 3), torch.randn(2, 3)),)])
    with pytest.raises(ValueError, match=r"item 1 is not structured like item 0: " + how):
        dataset.insert(item)
    dataset.items.append(item)
    with pytest.raises(ValueError, match=r"item 1 is not structured like item 0: " + how):
        profile_from(dataset, None, None, None, None)


def test_dict_items_in_another_key_order_are_bound_by_key():
    dataset = ListDataset()
    dataset.insert((two_keys(2, "abn"),))
    dataset.insert((two_keys(5, "nba"),))                  # the same keys, another order, other sizes
    dataset.insert((two_keys(3, "ban"),))
    _, lo, opt, hi, _ = profile_from(dataset, None, None, None, None)
    assert lo == [{"a": (2, 4), "b": (2, 8), "n": (2,)}]
    assert opt == [{"a": (3, 4), "b": (3, 8), "n": (3,)}]
    assert hi == [{"a": (5, 4), "b": (5, 8), "n": (5,)}]
    model = TwoKeys().eval()
    m = torch2trt(model, dataset)
    assert m.verification.compared == 3
    for batch, order in ((4, "nba"), (2, "ban"), (5, "abn")):      # the converted module binds by key too
        d = two_keys(batch, order)
        torch.testing.assert_close(m(d), model(d), rtol=1e-5, atol=1e-5)


def test_a_profile_of_dicts_pairs_tensors_by_key_where_ranks_and_dtypes_agree():
    a, b = (lambda n: torch.randn(n, 4)), (lambda n: torch.randn(n, 8))
    dataset = ListDataset([({"a": a(2), "b": b(2)},), ({"b": b(5), "a": a(5)},)])
    _, lo, _, hi, _ = profile_from(dataset, None, None, None, None)
    assert lo == [{"a": (2, 4), "b": (2, 8)}] and hi == [{"a": (5, 4), "b": (5, 8)}]


def test_a_dict_item_with_other_keys_is_refused():
    dataset = ListDataset([(two_keys(2),)])
    d = two_keys(3)
    d["c"] = d.pop("b")
    with pytest.raises(ValueError, match=r"item 1 is not structured like item 0: argument 0: expected a dict with "
                                         r"keys \['a', 'b', 'n'\] \(as item 0\); missing key\(s\) \['b'\]; unknown "
                                         r"key\(s\) \['c'\]"):
        dataset.insert((d,))


def test_item_0_with_an_unsupported_value_is_refused():
    with pytest.raises(TypeError, match=r"item 0: unsupported object"):
        ListDataset([(torch.randn(2, 3), object())])
