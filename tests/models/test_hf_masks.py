"""Hugging Face text models (tiny random configs) called with input_ids and a padded attention_mask convert into ONE
engine (torch2trt.dynamo.convert: a TorchDynamo capture, under which transformers builds its masks in the graph),
with dynamic batch and sequence, and equal PyTorch at the real-token positions for every padding pattern (none,
right, left, mixed) at shapes other than the sample's. Eager tracing refuses them, naming transformers' line."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from torch2trt.check import compare, run_reference  # noqa: E402
from torch2trt.dynamo import convert  # noqa: E402
from torch2trt.testing import assert_refuses  # noqa: E402

VOCAB = 97
PROFILE = dict(min_shapes=[(1, 1), (1, 1)], max_shapes=[(4, 16), (4, 16)])


def _models():
    t = transformers
    return {
        "bert": lambda: (t.BertModel(t.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                                  num_attention_heads=4, intermediate_size=64,
                                                  max_position_embeddings=32)), "last_hidden_state"),
        "gpt2_lm_head": lambda: (t.GPT2LMHeadModel(t.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4,
                                                                n_positions=32, use_cache=False,
                                                                bos_token_id=0, eos_token_id=0)), "logits"),
        "t5_encoder": lambda: (t.T5EncoderModel(t.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64,
                                                           num_layers=2, num_heads=4)), "last_hidden_state"),
        "llama_gqa": lambda: (t.LlamaForCausalLM(t.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                                               num_hidden_layers=2, num_attention_heads=4,
                                                               num_key_value_heads=2, max_position_embeddings=32,
                                                               use_cache=False, bos_token_id=0, eos_token_id=0,
                                                               pad_token_id=0)), "logits"),
    }


def _batch(batch: int, seq: int, pattern: str, seed: int):
    """input_ids and an attention_mask: "none" (no padding), "right", "left", or "mixed" (rows of each, of random
    lengths, at least one real token per row)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for b in range(batch):
        kind = pattern if pattern != "mixed" else ("none", "right", "left")[b % 3]
        n = int(torch.randint(1, seq + 1, (), generator=g)) if seq > 1 else 1
        if kind == "right":
            mask[b, n:] = 0
        elif kind == "left":
            mask[b, :seq - n] = 0
    return ids, mask


@pytest.mark.parametrize("name", ["bert", "gpt2_lm_head", "t5_encoder", "llama_gqa"])
def test_padded_text_model_is_one_engine_exact_at_real_tokens(name):
    model, key = _models()[name]()
    model.eval()
    ids, mask = _batch(2, 7, "right", 0)
    trt_model = convert(model, {"input_ids": ids, "attention_mask": mask}, **PROFILE)
    net = trt_model.network
    assert net.num_inputs == 2 and all(tuple(net.get_input(i).shape) == (-1, -1) for i in range(2))
    cases = [(1, 1, "none"), (1, 5, "left"), (3, 11, "right"), (3, 9, "left"), (4, 16, "mixed"), (2, 7, "none"),
             (4, 13, "mixed")]
    for k, (batch, seq, pattern) in enumerate(cases):
        ids, mask = _batch(batch, seq, pattern, k + 1)
        got = run_reference(trt_model, [ids, mask])
        with torch.no_grad():
            ref = model(input_ids=ids, attention_mask=mask)
        real = mask.bool()
        assert tuple(got[key].shape) == tuple(ref[key].shape)
        err = compare(got[key][real], ref[key][real])
        assert err.same_layout and err.rel <= 1e-5, f"{name} at {batch}x{seq} ({pattern} padding): {err}"


def test_eager_tracing_refuses_the_mask_shortcut_and_says_what_to_do():
    """transformers skips the mask when `padding_mask.all()`: a Python branch on tensor data, never frozen."""
    model, _ = _models()["bert"]()
    ids, mask = _batch(2, 5, "right", 0)
    msg = assert_refuses(model.eval(), [ids, mask], r"masking_utils\.py:\d+", capture="eager")
    assert "padding_mask.all()" in msg
    assert "torch2trt.dynamo.convert" in msg and 'backend="torch2trt"' in msg


def test_torch_compile_backend_gives_one_engine_with_the_models_state_as_constants():
    """torch.compile(backend="torch2trt", fullgraph=True) on BERT with a padded mask: one graph, one engine whose only
    inputs are input_ids and attention_mask (the buffers position_ids / token_type_ids are constants), exact."""
    import warnings

    import torch2trt.dynamo as t2t_dynamo

    model, key = _models()["bert"]()
    model.eval()
    compiled = []

    def backend(gm, example_inputs, **kwargs):
        fn = t2t_dynamo.backend(gm, example_inputs, **kwargs)
        compiled.append(fn)
        return fn

    torch._dynamo.reset()
    try:
        fast = torch.compile(model, backend=backend, fullgraph=True)
        ids, mask = _batch(3, 6, "mixed", 5)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            got, ref = fast(input_ids=ids, attention_mask=mask), model(input_ids=ids, attention_mask=mask)
    finally:
        torch._dynamo.reset()
    assert len(compiled) == 1 and compiled[0].trt_module.network.num_inputs == 2
    real = mask.bool()
    err = compare(got[key][real], ref[key][real])
    assert err.same_layout and err.rel <= 1e-5, err


@pytest.mark.parametrize("name", ["bert", "llama_gqa"])
def test_plain_torch2trt_captures_a_padded_text_model_with_dynamo(name):
    """torch2trt(model, [ids, mask]) as a user calls it: the eager trace stops on the mask shortcut, so the model is
    captured as one TorchDynamo graph; exact at real tokens for other padding patterns and shapes."""
    from torch2trt import torch2trt

    model, key = _models()[name]()
    model.eval()
    ids, mask = _batch(2, 7, "right", 0)
    trt_model = torch2trt(model, [ids, mask], **PROFILE)
    assert trt_model.capture == "dynamo" and trt_model.timings["capture"] > 0
    for k, (batch, seq, pattern) in enumerate([(1, 5, "left"), (3, 11, "mixed"), (4, 16, "none")]):
        ids, mask = _batch(batch, seq, pattern, k + 1)
        got = run_reference(trt_model, [ids, mask])
        with torch.no_grad():
            ref = model(input_ids=ids, attention_mask=mask)
        real = mask.bool()
        err = compare(got[key][real], ref[key][real])
        assert err.same_layout and err.rel <= 1e-5, f"{name} at {batch}x{seq} ({pattern} padding): {err}"


def test_a_model_returning_its_kv_cache_converts_without_it_and_says_use_cache_false():
    """GPT-2 with its default use_cache=True returns a DynamicCache: left out of the engine, with one warning
    (pointing at the caller's line) that names use_cache=False; the logits are exact."""
    from torch2trt import torch2trt
    from torch2trt.convert import CacheLeftOut

    t = transformers
    torch.manual_seed(0)
    model = t.GPT2LMHeadModel(t.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                           bos_token_id=0, eos_token_id=0)).eval()
    ids = torch.randint(0, VOCAB, (2, 7))
    with pytest.warns(CacheLeftOut, match="use_cache=False") as record:
        trt_model = torch2trt(model, [ids])
    assert [w for w in record if w.category is CacheLeftOut][0].filename == __file__
    other = torch.randint(0, VOCAB, (2, 7))
    with torch.no_grad():
        ref = model(other).logits
    err = compare(run_reference(trt_model, [other])["logits"], ref)
    assert err.same_layout and err.rel <= 1e-5
