import pytest
import torch

from fromzero.errors import DataError, FromzeroError
from fromzero.generate import (TextStreamer, encode_prompt, generate, generate_text, sample_logits,
                               stream)
from fromzero.models.gpt import GPT, KVCache, gpt_config
from fromzero.text.tokenizer import BPETokenizer, CharTokenizer


def _model(**kw):
    torch.manual_seed(0)
    # float64, untied, non-zero init: greedy decoding follows varied, well-separated logits
    return GPT(gpt_config("tiny", zero_init=False, init_std=0.2, tie_weights=False, **kw)).double().eval()


@pytest.mark.parametrize("kw", [{}, {"pos_emb": "learned", "attention": "explicit"}])
def test_kv_cache_equals_full_recompute_under_greedy_decoding(kw):
    model = _model(**kw)
    torch.manual_seed(1)
    prompt = torch.randint(0, 64, (2, 5))
    n_new = model.config.block_size - 5              # fill the whole context
    cached = generate(model, prompt, n_new, temperature=0, use_cache=True)
    full = generate(model, prompt, n_new, temperature=0, use_cache=False)
    assert cached.shape == (2, 5 + n_new)
    assert torch.equal(cached, full)
    assert len(set(cached[0, 5:].tolist())) > 3      # not a degenerate repeat of one token


@pytest.mark.parametrize("pos_emb", ["rope", "learned"])
def test_generation_runs_past_the_context(pos_emb):
    model = _model(pos_emb=pos_emb)
    out = generate(model, torch.zeros(1, 3, dtype=torch.long), 100, temperature=1.0, seed=0)
    assert out.shape == (1, 103) and int(out.max()) < 64


def test_a_prompt_that_fills_the_context_gives_the_same_next_token_with_and_without_cache():
    model = _model()
    T = model.config.block_size
    prompt = torch.randint(0, 64, (1, T))
    a = generate(model, prompt, 2, temperature=0, use_cache=True)
    b = generate(model, prompt, 2, temperature=0, use_cache=False)
    # the first new token sees exactly the prompt both ways; later ones differ by design (the
    # cache keeps keys computed with older context, the recompute path crops it)
    assert torch.equal(a[:, :T + 1], b[:, :T + 1])


def test_sampling_is_reproducible_with_a_seed_and_top_k_1_is_greedy():
    model = _model()
    p = torch.zeros(1, 1, dtype=torch.long)
    a = generate(model, p, 20, temperature=1.0, seed=3)
    b = generate(model, p, 20, temperature=1.0, seed=3)
    assert torch.equal(a, b)
    greedy = generate(model, p, 20, temperature=0)
    assert torch.equal(generate(model, p, 20, temperature=1.0, top_k=1, seed=5), greedy)
    assert torch.equal(generate(model, p, 20, temperature=1.0, top_p=1e-6, seed=5), greedy)


def test_top_k_and_top_p_only_sample_allowed_tokens():
    logits = torch.tensor([[5.0, 4.0, 0.0, -1.0, -2.0]]).repeat(200, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_logits(logits, 1.0, top_k=2, generator=g).flatten().tolist()) == {0, 1}
    # p = softmax -> 0.73, 0.27, ...: top_p=0.5 keeps only the first
    assert set(sample_logits(logits, 1.0, top_p=0.5, generator=g).flatten().tolist()) == {0}


def test_bad_sampling_arguments_are_reported_together():
    model = _model()
    with pytest.raises(FromzeroError) as e:
        list(stream(model, torch.zeros(1, 1, dtype=torch.long), 5, temperature=-1, top_k=0, top_p=2))
    assert "temperature" in str(e.value) and "top_k" in str(e.value) and "top_p" in str(e.value)


def test_prompt_with_unknown_characters_is_a_clear_error():
    tok = CharTokenizer.train(["hello world"])
    with pytest.raises(DataError) as e:
        encode_prompt(tok, "hello, 世界", block_size=32)
    assert "','" in str(e.value) and "'世'" in str(e.value) and "'界'" in str(e.value)


def test_long_prompt_is_truncated_with_a_note_and_empty_prompt_starts_from_newline():
    tok = CharTokenizer.train(["ab\n"])
    ids, note = encode_prompt(tok, "ab" * 40, block_size=32)
    assert len(ids) == 32 and "last 32 tokens" in note
    assert tok.decode(ids) == ("ab" * 40)[-32:]
    ids, note = encode_prompt(tok, "", block_size=32)
    assert ids == [tok.stoi["\n"]] and note is None


def test_prompt_longer_than_the_context_is_refused_by_stream():
    model = _model()
    with pytest.raises(FromzeroError, match="exceed the model's context"):
        list(stream(model, torch.zeros(1, 40, dtype=torch.long), 1))


def test_generate_text_streams_pieces_that_add_up():
    tok = CharTokenizer.train(["abcdefgh\n"])
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny", vocab_size=tok.vocab_size))
    pieces = []
    text = generate_text(model, "abc", max_new_tokens=30, tokenizer=tok, seed=1, on_text=pieces.append)
    assert "".join(pieces) == text and len(text) == 30


def test_text_streamer_holds_back_partial_utf8_characters():
    tok = BPETokenizer.train(["床前明月光，疑是地上霜。"] * 5 + ["hello world"], vocab_size=300)
    ids = tok.encode("明月光 hello 霜")
    s = TextStreamer(tok)
    pieces = [s.push(i) for i in ids] + [s.flush()]
    assert "".join(pieces) == "明月光 hello 霜"
    assert all("\ufffd" not in p for p in pieces)


def test_sliding_kv_cache_equals_sliding_window_attention_past_the_context():
    """Past the context, a rotary model's cache keeps the last block_size positions: the same as
    running the whole sequence with a banded causal mask (each token sees the last block_size)."""
    import math

    model = _model()
    W = model.config.block_size
    big = GPT(gpt_config("tiny", zero_init=False, tie_weights=False, block_size=4 * W)).double().eval()
    big.load_state_dict(model.state_dict())                # same weights, longer rotary tables

    def banded(q, k, v, dropout_p=0.0, training=False):
        i = torch.arange(k.size(-2) - q.size(-2), k.size(-2))[:, None]
        j = torch.arange(k.size(-2))[None, :]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
        att = att.masked_fill(~((j <= i) & (j > i - W)), float("-inf"))
        return att.softmax(-1) @ v

    for block in big.blocks:
        block.attn.attend = banded
    torch.manual_seed(2)
    seq = torch.randint(0, 64, (2, 3 * W))                 # teacher forcing: a fixed sequence
    cache = KVCache(model.config, batch_size=2, dtype=torch.float64)
    with torch.no_grad():
        steps = [model(seq[:, :5], cache=cache)] + [model(seq[:, t:t + 1], cache=cache)
                                                    for t in range(5, 3 * W)]
        full = big(seq)                                     # (2, 3W, vocab)
    torch.testing.assert_close(torch.cat(steps, dim=1), full[:, 4:])
    assert cache.pos == 3 * W and cache.len == W


@pytest.mark.parametrize("kw", [{}, {"qk_norm": True}, {"pos_emb": "learned", "attention": "explicit"}])
def test_decode_step_equals_the_cached_forward_past_the_context(kw):
    """The static-shape step (what --compile traces) gives the cached forward's logits at every
    position, also once a rotary cache slides (a learned-position model stops at its context)."""
    model = _model(**kw)
    W = model.config.block_size
    n = W if kw.get("pos_emb") == "learned" else 3 * W
    torch.manual_seed(3)
    seq = torch.randint(0, 64, (2, n))
    a, b = KVCache(model.config, 2, dtype=torch.float64), KVCache(model.config, 2, dtype=torch.float64)
    with torch.no_grad():
        model(seq[:, :4], cache=a)
        model(seq[:, :4], cache=b)
        for t in range(4, n):
            want = model(seq[:, t:t + 1], cache=a)
            got = model.decode_step(seq[:, t:t + 1], torch.tensor(b.pos), b)
            b.advance(1)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)   # rotary angles are float32 in both
    assert b.pos == a.pos == n and b.len == a.len


@pytest.mark.skipif(not __import__("shutil").which("g++") and not __import__("shutil").which("c++"),
                    reason="torch.compile on a CPU needs a C++ compiler")
def test_compiled_decoding_gives_the_tokens_of_eager_decoding():
    model = _model(block_size=8).float()       # past the context of 8: the sliding cache too
    prompt = torch.randint(0, 64, (1, 3))
    eager = generate(model, prompt, 20, temperature=0)
    assert torch.equal(generate(model, prompt, 20, temperature=0, compile=True), eager)
    assert torch.equal(generate(model, prompt, 20, temperature=1.0, seed=4, compile=True),
                       generate(model, prompt, 20, temperature=1.0, seed=4))


def test_compile_needs_the_cache_and_a_gpt():
    from fromzero.models.rnn_lm import RNNLM, rnn_lm_config

    with pytest.raises(FromzeroError, match="KV cache"):
        generate(_model(), torch.zeros(1, 1, dtype=torch.long), 2, use_cache=False, compile=True)
    with pytest.raises(FromzeroError, match="only a GPT"):
        generate(RNNLM(rnn_lm_config("tiny")), torch.zeros(1, 1, dtype=torch.long), 2, compile=True)


def test_a_tiny_temperature_is_greedy_not_nan():
    from fromzero.generate import sample_logits

    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 30
    for t in (1e-300, 1e-30):
        assert sample_logits(logits, temperature=t).tolist() == logits.argmax(-1, keepdim=True).tolist()
