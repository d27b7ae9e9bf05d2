"""Hugging Face BERT, GPT-2 and LLaMA called with input_ids only (the dynamic-shapes issue's targets): one engine for
batch 1..8 and sequence 1..128, exact at min, opt, max and two interior shapes, called by keyword as the model is.
Converted through torch2trt.dynamo.convert: transformers' Python branches on the sequence length
(`is_causal = q_length > 1 and ...`) differ at length 1 and above, which eager tracing refuses (below; from length 2 it
decides BERT's branch over the profile) and TorchDynamo keeps out of the engine. Tiny configs, random weights."""

import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

from torch2trt import ConversionError, torch2trt  # noqa: E402
from torch2trt.dynamo import convert  # noqa: E402

VOCAB = 97
PROFILE = dict(min_shapes=[(1, 1)], max_shapes=[(8, 128)])


def _model(name):
    t = transformers
    torch.manual_seed(0)
    if name == "bert":
        return t.BertModel(t.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=64, max_position_embeddings=128)).eval(), "last_hidden_state"
    if name == "gpt2":
        return t.GPT2LMHeadModel(t.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                              use_cache=False, bos_token_id=0, eos_token_id=0)).eval(), "logits"
    return t.LlamaForCausalLM(t.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                            max_position_embeddings=128, use_cache=False, bos_token_id=0,
                                            eos_token_id=0, pad_token_id=0)).eval(), "logits"


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_text_model_with_dynamic_batch_and_sequence_is_exact_at_every_checked_shape(name):
    model, key = _model(name)
    gen = torch.Generator().manual_seed(1)
    m = convert(model, {"input_ids": torch.randint(0, VOCAB, (2, 16), generator=gen)}, **PROFILE)
    assert m.input_names == ["input_ids"] and tuple(m.network.get_input(0).shape) == (-1, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the CPU reference path warns once
        for batch, seq in ((1, 1), (2, 16), (8, 128), (3, 37), (5, 100)):   # min, opt, max, two interior
            ids = torch.randint(0, VOCAB, (batch, seq), generator=gen)
            with torch.no_grad():
                expected = model(input_ids=ids)[key]
            got = m(input_ids=ids)[key]
            assert got.shape == expected.shape == (batch, seq, expected.shape[-1])
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


class _Ids(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids)[0]


def test_eager_tracing_of_bert_with_a_dynamic_sequence_refuses_the_branch_that_flips_at_length_one():
    model, _ = _model("bert")
    with pytest.raises(ConversionError, match=r"comparison gt on dynamic dimension 16 \(True at the sample, False "
                                              r"at 'input_0' dim 0 = \d+, 'input_0' dim 1 = 1\)") as e:
        torch2trt(_Ids(model).eval(), [torch.randint(0, VOCAB, (2, 16))], **PROFILE, capture="eager")
    assert "q_length > 1" in str(e.value)


def test_eager_tracing_of_bert_decides_the_sequence_branch_over_a_profile_from_length_two():
    # `q_length > 1` on an intermediate tensor's size: constant over batch 1..8 x sequence 2..128, which the
    # network's shapes at all 1016 shapes of the profile decide
    model, _ = _model("bert")
    wrapped = _Ids(model).eval()
    gen = torch.Generator().manual_seed(2)
    m = torch2trt(wrapped, [torch.randint(0, VOCAB, (2, 16), generator=gen)], min_shapes=[(1, 2)],
                  max_shapes=[(8, 128)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch, seq in ((1, 2), (8, 128), (3, 37)):
            ids = torch.randint(0, VOCAB, (batch, seq), generator=gen)
            with torch.no_grad():
                expected = wrapped(ids)
            got = m(ids)
            assert got.shape == expected.shape == (batch, seq, 32)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_the_engine_returns_the_models_output_class_also_after_saving_and_loading(tmp_path):
    model, _ = _model("gpt2")
    ids = torch.randint(0, VOCAB, (2, 5))
    m = convert(model, {"input_ids": ids})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = m(input_ids=ids)
        assert type(out) is transformers.modeling_outputs.CausalLMOutputWithCrossAttentions
        with torch.no_grad():
            torch.testing.assert_close(out.logits, model(input_ids=ids).logits, rtol=1e-5, atol=1e-5)
        path = tmp_path / "gpt2.pt"
        torch.save(m.state_dict(), path)
        from torch2trt import TRTModule

        loaded = TRTModule()
        loaded.load_state_dict(torch.load(path, weights_only=True))
        again = loaded(input_ids=ids)
        assert type(again) is type(out) and torch.equal(again.logits, out.logits)
