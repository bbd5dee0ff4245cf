"""Text generation from a trained GPT: sampling (temperature, top-k, top-p), streamed, with a KV cache.

Without a cache, every new token re-runs the model over the whole context. With the cache, the
keys and values of past positions are kept, so each new token costs one position's work.
Past the context length, a rotary-position model slides its cache window by one token (every
token still sees the last ``block_size`` positions); a learned-position model restarts its
cache from the last half of the window.

Example:
    >>> text = generate_text("runs/shakespeare", "ROMEO:", max_new_tokens=100)   # doctest: +SKIP
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import torch

from .checkpoint import load_model
from .errors import CheckpointError, DataError, FromzeroError
from .models.gpt import GPT, KVCache
from .recipes.runs import check_run
from .text.tokenizer import load_tokenizer


def check_sampling(max_new_tokens: int, temperature: float, top_k, top_p) -> None:
    """Raise ``FromzeroError`` naming every bad sampling argument."""
    bad = []
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
        bad.append(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not 0 <= temperature < float("inf"):
        bad.append(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        bad.append(f"top_k must be an integer >= 1, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        bad.append(f"top_p must be in (0, 1], got {top_p!r}")
    if bad:
        raise FromzeroError("; ".join(bad))


def sample_logits(logits, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, generator: torch.Generator | None = None):
    """Pick the next token from ``logits`` (B, V): (B, 1) ids. ``temperature=0`` is greedy."""
    if temperature < torch.finfo(logits.dtype).tiny:    # 0, or too small to divide by in the logits' dtype
        return logits.argmax(dim=-1, keepdim=True)
    # shifted so that the largest is 0: a tiny temperature then gives 0 and -inf, never inf - inf = nan
    logits = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]              # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)                                   # (B, V)
    if top_p is not None and top_p < 1:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p                       # keep the smallest head >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator)                # (B, 1)


@torch.inference_mode()
def stream(model: GPT, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
           use_cache: bool = True, threads: int | None = None, compile: bool = False) -> Iterator[torch.Tensor]:
    """Yield ``max_new_tokens`` new tokens, one (B,) tensor at a time, after the prompt ``idx`` (B, T).

    The prompt must be at most ``block_size`` tokens (``encode_prompt`` truncates with a note).
    ``threads``: CPU threads while generating; by default ``decode_threads`` picks them.
    ``compile``: decode each new token with ``torch.compile(model.decode_step)`` (a GPT with the
    cache only). Faster per token (2-3x on a small model, where the time is per-operation
    overhead), after a one-time compilation of ~45 s on 2 cores (~7 s once torch has cached it).
    """
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    cfg = model.config
    step = compiled_step(model, use_cache) if compile else None
    if idx.dim() != 2 or idx.size(1) == 0:
        raise FromzeroError(f"prompt: expected token ids of shape (batch, length >= 1), got {tuple(idx.shape)}")
    if idx.size(1) > cfg.block_size:
        raise FromzeroError(f"prompt: {idx.size(1)} tokens exceed the model's context of "
                            f"{cfg.block_size}; truncate it (encode_prompt does)")
    was_training, old_threads = model.training, torch.get_num_threads()
    model.eval()
    device = next(model.parameters()).device
    if device.type == "cpu":
        torch.set_num_threads(threads or decode_threads(model, use_cache))
    idx = idx.to(device)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=device).manual_seed(seed)
    cache = None
    if use_cache:
        dtype = next(model.parameters()).dtype
        cache = model.new_cache(idx.size(0), device=device, dtype=dtype) if hasattr(model, "new_cache") \
            else KVCache(cfg, idx.size(0), device=device, dtype=dtype)  # an RNN's cache is its state
        logits = model(idx, cache=cache)
    try:
        for i in range(max_new_tokens):
            if cache is None:
                logits = model(idx[:, -cfg.block_size:])
            nxt = sample_logits(logits[:, -1, :], temperature, top_k, top_p, gen)   # (B, 1)
            idx = torch.cat((idx, nxt), dim=1)
            yield nxt[:, 0]
            if cache is not None and i + 1 < max_new_tokens:
                if cache.len >= cache.max_len and getattr(cfg, "pos_emb", None) == "learned":
                    cache.reset()                 # absolute positions: restart from half a window
                    logits = model(idx[:, -(cfg.block_size // 2 + 1):], cache=cache)
                elif step is not None:            # static shapes: one compiled graph for every position
                    logits = step(nxt, torch.tensor(cache.pos, device=device), cache)
                    cache.advance(1)
                else:                             # (a full rotary cache slides: see KVCache)
                    logits = model(nxt, cache=cache)
    finally:
        model.train(was_training)
        torch.set_num_threads(old_threads)


def compiled_step(model, use_cache: bool = True):
    """``torch.compile(model.decode_step)``, made once per model and kept on it (not saved)."""
    if not hasattr(model, "decode_step"):
        raise FromzeroError(f"compile: only a GPT has a compiled decode step, not a {type(model).__name__}")
    if not use_cache:
        raise FromzeroError("compile: the compiled decode step works with the KV cache; drop use_cache=False "
                            "(--no-cache)")
    if getattr(model, "_compiled_step", None) is None:
        model._compiled_step = torch.compile(model.decode_step, dynamic=False)
    return model._compiled_step


def decode_threads(model, use_cache: bool = True) -> int:
    """CPU threads for generating: 1 for cached decoding of small models, else torch's default.

    One new token of a small model is ~100 tiny operations; splitting each over threads costs a
    barrier per operation, and on a busy machine a thread that is not scheduled stalls them all
    (measured on 2 shared cores: 4x4x128 model, ~100 tokens/s with 1 thread, 5-15 with 2).
    Models over 20M parameters are limited by memory bandwidth, which more threads help.
    """
    small = sum(p.numel() for p in model.parameters()) < 20_000_000
    return 1 if use_cache and small else torch.get_num_threads()


def generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, **kw) -> torch.Tensor:
    """The prompt ``idx`` (B, T) followed by ``max_new_tokens`` generated tokens: (B, T + new).

    Example:
        >>> import torch
        >>> from fromzero.models.gpt import GPT, gpt_config
        >>> out = generate(GPT(gpt_config("tiny")), torch.zeros(1, 1, dtype=torch.long), 5, temperature=0)
        >>> out.shape
        torch.Size([1, 6])
    """
    new = list(stream(model, idx, max_new_tokens, **kw))
    return torch.cat([idx.to(new[0].device) if new else idx] + [t[:, None] for t in new], dim=1)


def encode_prompt(tokenizer, prompt: str, block_size: int) -> tuple[list[int], str | None]:
    """Prompt -> token ids, and a note if it had to be truncated to the last ``block_size`` tokens.

    An empty prompt starts from the tokenizer's start token (newline, or ``<|endoftext|>``).
    Characters a character-level tokenizer never saw are an error that lists them.
    """
    if not isinstance(prompt, str):
        raise FromzeroError(f"prompt: expected a string, got {type(prompt).__name__}")
    bad = tokenizer.unknown(prompt)
    if bad:
        shown = " ".join(f"{c!r}" for c in bad[:10])
        known = "".join(c for c in getattr(tokenizer, "chars", []) if c.isprintable())
        raise DataError(f"the prompt has {len(bad)} character(s) this model's tokenizer has never "
                        f"seen: {shown}{' ...' if len(bad) > 10 else ''}. It knows {tokenizer.vocab_size} "
                        f"characters: {known[:200]!r}")
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.start_id]
    if len(ids) > block_size:
        note = (f"note: the prompt is {len(ids)} tokens, longer than the model's context of "
                f"{block_size}; only its last {block_size} tokens are used")
        return ids[-block_size:], note
    return ids, None


class TextStreamer:
    """Turn a stream of token ids into text pieces; holds back bytes of an unfinished UTF-8 character."""

    def __init__(self, tokenizer):
        self.tok, self.pending = tokenizer, []

    def push(self, token_id: int) -> str:
        self.pending.append(int(token_id))
        text = self.tok.decode(self.pending)
        if text.endswith("\ufffd") and len(self.pending) < 8:
            return ""
        self.pending = []
        return text

    def flush(self) -> str:
        text = self.tok.decode(self.pending) if self.pending else ""
        self.pending = []
        return text


def generate_text(run, prompt: str = "", max_new_tokens: int = 500, temperature: float = 0.8,
                  top_k: int | None = 200, top_p: float | None = None, seed: int | None = None,
                  use_cache: bool = True, on_text: Callable[[str], None] | None = None, threads: int | None = None,
                  tokenizer=None, on_note: Callable[[str], None] | None = None, device="cpu",
                  compile: bool = False) -> str:
    """Generate text after ``prompt`` from a run directory (or a model, with ``tokenizer``).

    Args:
        run: a run directory written by ``pretrain`` (model + tokenizer.json), or a ``GPT``.
        on_text: called with each new piece of text as it is generated (streaming).
        on_note: called with a note when the prompt is truncated (default: print to stderr).
    Returns:
        the generated text (without the prompt).
    """
    if isinstance(run, torch.nn.Module):  # a GPT, or any model with its interface (fromzero.models.rnn_lm)
        model = run
        if tokenizer is None:
            raise FromzeroError("generate_text: pass tokenizer= with a model object")
    else:
        check_run(run, "generate")   # a classifier or forecaster: which commands take it, not a traceback
        model = load_model(Path(run), device=device)
        tokenizer = tokenizer or load_tokenizer(Path(run))
        n, want = tokenizer.vocab_size, getattr(model.config, "vocab_size", None)
        if want is not None and n != want:  # a token the model samples must decode, a prompt token must embed
            raise CheckpointError(f"{Path(run) / 'tokenizer.json'}: expected a tokenizer of {want} tokens, the "
                                  f"vocabulary of the model in {Path(run) / 'model.json'}, got {n} tokens "
                                  "(the two files come from different runs?)")
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    if compile and not use_cache:
        raise FromzeroError("--compile compiles the KV-cached decode step: drop --no-cache (or --compile)")
    ids, note = encode_prompt(tokenizer, prompt, model.config.block_size)
    if note:
        (on_note or (lambda s: print(s, file=sys.stderr)))(note)
    if compile:
        (on_note or (lambda s: print(s, file=sys.stderr)))(
            "compiling the decode step with torch.compile (once per process: ~45 s on 2 cores the first "
            "time, ~7 s once torch has cached it)")
    idx = torch.tensor([ids], dtype=torch.long)
    streamer, pieces = TextStreamer(tokenizer), []
    for t in stream(model, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                    seed=seed, use_cache=use_cache, threads=threads, compile=compile):
        piece = streamer.push(t.item())
        if piece:
            pieces.append(piece)
            if on_text:
                on_text(piece)
    piece = streamer.flush()
    if piece:
        pieces.append(piece)
        if on_text:
            on_text(piece)
    return "".join(pieces)
