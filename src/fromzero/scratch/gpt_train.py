"""Training the scratch GPT on characters: ``fromzero scratch train --model gpt``.

The loop is nanoGPT's: random windows of the training 90%, Adam with a linear warm-up and a
cosine decay to a tenth of the peak rate, the gradient's global norm clipped to 1, the loss on
the validation 10% every ``eval_interval`` steps. Like ``train.py`` it never imports torch.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError
from .chars import CharVocab, even_windows, random_windows, read_text, split
from .gpt import GPT, GPTConfig, gpt_forward, lm_loss_forward
from .optim import Adam

EVAL_WINDOWS = 256  # windows per intermediate evaluation; the last one reads the whole split


@dataclass(frozen=True)
class GPTTrainConfig:
    """How to train the scratch GPT; ``GPT_PRESET`` holds the tested defaults."""
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    batch_size: int = 12
    lr: float = 3e-3
    max_iters: int = 2000
    eval_interval: int = 250
    warmup: int = 100
    min_lr_ratio: float = 0.1
    beta2: float = 0.99  # small batches: a shorter memory of g² than Adam's 0.999
    grad_clip: float = 1.0


# nanoGPT's CPU shakespeare_char model (4 layers x 4 heads x 128, context 64, batch 12)
GPT_PRESET = GPTTrainConfig()


def lr_at(step: int, cfg: GPTTrainConfig) -> float:
    """Linear warm-up to ``lr`` (over ``warmup`` steps, at most a tenth of the run), then a
    cosine down to ``lr * min_lr_ratio`` at ``max_iters``.

    Example:
        >>> cfg = GPTTrainConfig(lr=1.0, warmup=10, max_iters=110)
        >>> lr_at(4, cfg), lr_at(10, cfg), round(lr_at(110, cfg), 6)
        (0.5, 1.0, 0.1)
    """
    warmup = min(cfg.warmup, cfg.max_iters // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, cfg.max_iters - warmup))
    low = cfg.lr * cfg.min_lr_ratio
    return low + 0.5 * (cfg.lr - low) * (1 + math.cos(math.pi * frac))


def clip_by_global_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place so that their joint L2 norm is at most ``max_norm``;
    returns the norm before clipping."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / (norm + 1e-6)
    return norm


def train_step(model: GPT, opt: Adam, names: list[str], x, y, lr: float, grad_clip: float) -> float:
    """One step of section 1.3: forward and loss, backward by the chain rule, then Adam on the
    clipped gradients (``names``: the parameters in ``opt``'s order). Returns the loss."""
    loss = model.loss(x, y)
    model.backward()
    grads = [model.grads[k] for k in names]
    clip_by_global_norm(grads, grad_clip)
    opt.lr = lr
    opt.step(grads)
    return loss


def evaluate(model: GPT, ids: np.ndarray, limit: int | None = EVAL_WINDOWS,
             batch_tokens: int = 8192) -> float:
    """Mean next-character loss over non-overlapping windows of ``ids`` (``limit`` of them,
    evenly spaced; None: all), every position of a window counted, as nanoGPT's estimate."""
    x, y = even_windows(ids, model.config.block_size, limit)
    batch_size = max(1, batch_tokens // model.config.block_size)
    total = 0.0
    for i in range(0, len(x), batch_size):
        logits, _ = gpt_forward(model.params, x[i:i + batch_size], model.config)
        total += lm_loss_forward(logits, y[i:i + batch_size])[0] * len(x[i:i + batch_size])
    return total / len(x)


def train_gpt(data: str = "shakespeare", block_size: int | None = None, n_layer: int | None = None,
              n_head: int | None = None, n_embd: int | None = None, batch_size: int | None = None,
              lr: float | None = None, max_iters: int | None = None, eval_interval: int | None = None,
              seed: int = 0, progress: bool = True, sample_chars: int = 200, log=print,
              strip_gutenberg: bool = True) -> dict:
    """Train a character-level scratch GPT on ``data`` with Adam; unset sizes come from ``GPT_PRESET``.

    Args:
        data: ``"shakespeare"`` (built in) or the path of a UTF-8 text file.
        seed: initial weights, batches and the sample.
        progress: show a tqdm bar. sample_chars: characters to generate at the end (0: none).
        log: called with each evaluation's line (None: silent).
        strip_gutenberg: cut a Project Gutenberg header and licence from the text (with a notice).

    Returns:
        A dict with ``model`` (a ``GPT``), ``vocab``, ``config``, ``val_loss`` (the whole
        validation split, at the end), ``history`` (one dict per evaluation), ``sample``,
        ``train_time_s`` and ``tokens_per_s``.

    Example:
        >>> r = train_gpt(max_iters=2, n_layer=1, n_embd=16, block_size=8, progress=False,
        ...               sample_chars=0, log=None)   # doctest: +SKIP
    """
    overrides = {k: v for k, v in dict(block_size=block_size, n_layer=n_layer, n_head=n_head,
                                       n_embd=n_embd, batch_size=batch_size, lr=lr, max_iters=max_iters,
                                       eval_interval=eval_interval).items() if v is not None}
    cfg = replace(GPT_PRESET, **overrides)
    bad = [f"{k}={v}" for k, v in asdict(cfg).items() if not v > 0]
    if not bad and cfg.n_embd % cfg.n_head:
        bad.append(f"n_head={cfg.n_head} not dividing n_embd={cfg.n_embd}")
    if bad:
        raise ConfigError(f"scratch train --model gpt: expected positive sizes, lr and steps, and "
                          f"n_head dividing n_embd, received {', '.join(bad)}")
    text = read_text(data, strip_gutenberg)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), cfg.block_size, what=f"--data {data}")
    model = GPT(GPTConfig(vocab.size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd), seed)
    names = list(model.params)
    opt = Adam([model.params[k] for k in names], lr=cfg.lr, betas=(0.9, cfg.beta2))
    rng = np.random.default_rng(seed)
    history, train_time, running = [], 0.0, []
    bar = tqdm(total=cfg.max_iters, desc="scratch gpt", unit="step", disable=not progress)
    for step in range(1, cfg.max_iters + 1):
        t0 = time.perf_counter()
        x, y = random_windows(train_ids, cfg.batch_size, cfg.block_size, rng)
        running.append(train_step(model, opt, names, x, y, lr_at(step - 1, cfg), cfg.grad_clip))
        train_time += time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{running[-1]:.3f}", refresh=False)
        if step % cfg.eval_interval == 0 or step == cfg.max_iters:
            last = step == cfg.max_iters
            val = evaluate(model, val_ids, None if last else EVAL_WINDOWS)
            history.append({"step": step, "train_loss": float(np.mean(running)), "val_loss": val,
                            "time_s": train_time})
            running = []
            if log is not None:  # tqdm.write keeps the bar below the lines
                (bar.write if progress else log)(
                    f"step {step}: train loss {history[-1]['train_loss']:.4f}, val loss {val:.4f}"
                    f"{' (whole validation split)' if last else ''}")
    bar.close()
    sample = ""
    if sample_chars > 0:
        start = vocab.encode("\n") if "\n" in vocab.chars else np.zeros(1, np.int64)
        sample = vocab.decode(model.generate(start[None], sample_chars, rng=rng)[0, 1:])
    return {"model": model, "vocab": vocab, "config": cfg, "val_loss": history[-1]["val_loss"],
            "history": history, "sample": sample, "train_time_s": train_time,
            "tokens_per_s": cfg.max_iters * cfg.batch_size * cfg.block_size / train_time}
