"""The zoo's rows (``Card``) with their parameters, training FLOPs and training-memory arithmetic."""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..kernels import use_kernels
from ..models.cnn import build_model as build_cnn
from ..models.configs import (GPT_PRESETS, RNN_PRESETS, ForecasterConfig, GPTConfig, RNNLMConfig, gpt_config,
                              rnn_lm_config)
from ..models.forecaster import Forecaster
from ..models.gpt import GPT
from ..models.rnn_lm import RNNLM
from ..recipes.configs import (FORECAST_RECIPES, GPT_RECIPES, MNIST_SPEEDRUN, RNN_RECIPES, MnistConfig,
                               PretrainConfig, TextRNNConfig)

FP32, BF16, INT64 = 4, 2, 8


@dataclass(frozen=True)
class Card:
    """One row of the zoo: a preset of a family, at its recipe's batch and context.

    ``flops`` are training FLOPs (forward and backward) per ``unit`` ("token" for language
    models, "sample" otherwise); ``block_size`` is the tokens per sample (1 for non-sequences).
    """
    name: str
    family: str
    preset: str
    task: str
    params: int
    flops: float
    unit: str
    batch_size: int
    block_size: int
    optimizer: str
    command: str
    config: dict = dataclasses.field(default_factory=dict, compare=False)
    grad_accum: int = 1          # micro-batches of ``batch_size`` per optimizer step


# --- parameters and FLOPs -------------------------------------------------------------------------

def gpt_params(c: GPTConfig) -> int:
    """Parameters of ``GPT(c)``, tied weights once, from the config alone."""
    C, H, b = c.n_embd, c.mlp_ratio * c.n_embd, c.bias
    norm = C * (2 if b and c.norm == "layernorm" else 1)
    block = 2 * norm + (3 * C * C + (3 * C if b else 0)) + (C * C + (C if b else 0)) \
        + (C * H + (H if b else 0)) + (H * C + (C if b else 0))
    embed = c.vocab_size * C + (c.block_size * C if c.pos_emb == "learned" else 0)
    head = 0 if c.tie_weights else c.vocab_size * C
    return embed + c.n_layer * block + norm + head


def gpt_flops_per_token(c: GPTConfig, T: int | None = None) -> float:
    """Training FLOPs per token, ``6N + 12·L·C·T`` (N without learned position embeddings, which
    cost no matrix product): the same as ``GPT.flops_per_token``."""
    n = gpt_params(c) - (c.block_size * c.n_embd if c.pos_emb == "learned" else 0)
    return 6 * n + 12 * c.n_layer * c.n_embd * (T or c.block_size)


def conv_flops(model: nn.Module, input_shape=(1, 28, 28)) -> float:
    """Training FLOPs per sample of a model of convolutions and linear layers: 3x the forward
    matrix products (forward, input gradient, weight gradient), less the first layer's input
    gradient, which nothing asks for."""
    macs = []

    def hook(m, inp, out):
        k = m.weight.numel() // m.weight.shape[0] if isinstance(m, nn.Conv2d) else m.in_features
        macs.append(k * out[0].numel())         # out[0]: one sample's output
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return 2.0 * (3 * sum(macs) - macs[0])


def _count(model: nn.Module) -> int:
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


# --- the cards -----------------------------------------------------------------------------------

def _gpt_card(preset: str) -> Card:
    c, r = gpt_config(preset), GPT_RECIPES.get(preset, {})
    opt = r.get("optimizer", PretrainConfig.optimizer)
    return Card(f"gpt/{preset}", "gpt", preset, "language model", gpt_params(c), gpt_flops_per_token(c), "token",
                r.get("batch_size", PretrainConfig.batch_size), c.block_size, opt,
                f"fromzero pretrain gpt --preset {preset}", dataclasses.asdict(c), r.get("grad_accum", 1))


def _lstm_card(preset: str) -> Card:
    c, r = rnn_lm_config(preset), RNN_RECIPES.get(preset, {})
    m = _build("lstm", c)
    return Card(f"lstm/{preset}", "lstm", preset, "language model", _count(m), m.flops_per_token(), "token",
                r.get("batch_size", PretrainConfig.batch_size), c.block_size, r.get("optimizer", "adamw"),
                f"fromzero pretrain lstm --preset {preset}", dataclasses.asdict(c))


def cards() -> list[Card]:
    """Every row of the zoo: the GPT presets, the LSTM presets, the MNIST CNN, the ETT forecaster
    and the SST-2 text RNN, each at its recipe's batch size and context."""
    rows = [_gpt_card(p) for p in GPT_PRESETS] + [_lstm_card(p) for p in RNN_PRESETS]
    cnn = build_cnn()
    rows.append(Card("mnist-cnn", "cnn", "mnist-cnn", "image classification (MNIST)", _count(cnn),
                     conv_flops(cnn), "sample", MnistConfig.batch_size, 1,
                     MNIST_SPEEDRUN["optimizer"] + " (--speedrun) / adam",
                     "fromzero train mnist-cnn --speedrun"))
    fc = _forecaster_config()
    f = Forecaster(fc)
    rows.append(Card("forecaster/ett", "forecaster", "ett", "time-series forecast (ETTh1, 7 series, 96 -> 96)",
                     _count(f), 6.0 * _count(f) * fc.lookback, "sample", FORECAST_RECIPES["ett"]["batch_size"], 1,
                     "adam", "fromzero train forecast --data ett", dataclasses.asdict(fc)))
    t = TextRNNConfig()
    rows.append(Card("text-rnn/sst2", "text-rnn", "sst2", "sentence classification (SST-2)",
                     _text_rnn_params(t), 6.0 * _text_rnn_params(t, embedding=False) * TEXT_RNN_LEN, "sample",
                     t.batch_size, 1, "adam", "fromzero train text-rnn", dataclasses.asdict(t)))
    return rows


# The text RNN's vocabulary and sentence length come from the data; the zoo shows SST-2's orders of
# magnitude (words seen twice in its training sentences; a typical sentence).
TEXT_RNN_VOCAB, TEXT_RNN_LEN = 8000, 20


def _text_rnn_params(t: TextRNNConfig, embedding: bool = True) -> int:
    gates = 4 if t.cell == "lstm" else 3
    dirs = 2 if t.bidirectional else 1
    rnn = dirs * gates * (t.units * (t.embed_dim + t.units) + 2 * t.units)   # torch's two bias vectors
    return (TEXT_RNN_VOCAB * t.embed_dim if embedding else 0) + rnn + dirs * t.units * 2 + 2


def _forecaster_config() -> ForecasterConfig:
    r = FORECAST_RECIPES["ett"]
    return ForecasterConfig(n_series=7, targets=list(range(7)), lookback=96, horizon=96, hidden=r["hidden"],
                            norm=r["norm"], skip=r["skip"])


def find_card(name: str) -> Card:
    """The card called ``name`` ("gpt/cpu-small", "mnist-cnn", ...); a bare GPT preset name works too."""
    preset = name.removeprefix("gpt/")
    if preset in GPT_PRESETS:
        return _gpt_card(preset)
    rows = cards()
    for c in rows:
        if c.name == name:
            return c
    raise ConfigError(f"unknown model {name!r}; expected one of: {', '.join(c.name for c in rows)}")


def _build(family: str, config) -> nn.Module:
    if family == "gpt":
        return use_kernels(GPT(config))
    if family == "lstm":
        return RNNLM(config)
    if family == "cnn":
        return build_cnn()
    raise ConfigError(f"no model to build for the family {family!r}")


# --- training memory -----------------------------------------------------------------------------

@dataclass
class Memory:
    """Training memory in bytes, per GPU (``gpus`` > 1: FSDP); ``total`` is their sum."""
    params: float
    grads: float
    optimizer: float
    activations: float
    workspace: float
    gpus: int = 1

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations + self.workspace

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "total": self.total}


def gpt_activation_bytes(c: GPTConfig, batch: int, T: int, precision: str = "fp32",
                         checkpointing: bool = False) -> float:
    """Bytes that one training step of ``use_kernels(GPT(c))`` saves for backward (dropout 0).

    fp32, per token and block: the norms' inputs (2C), the inputs of qkv, proj and fc (3C), the qkv
    output (3C: the values are a view of it), the rotated q and k (2C; with learned positions and no
    QK-norm they are views of qkv's output too), the MLP's hidden layer (4C
    with ReLU², saved once; 8C with GELU), the attention's log-sum-exp (n_head) and the norms' mean
    and 1/std (4); with QK-norm 4·n_head more statistics. On top: the final norm's input and output
    (2C + 2), the vocabulary's log-probabilities (V) and the int64 inputs and targets.
    bf16 autocast (``fromzero.kernels``): x̂ in bf16 for norm+linear, q, k, v and the attention
    output in bf16, the hidden layer in bf16, plus a bf16 copy of each block's proj weight.
    With activation checkpointing each block keeps only its input (C) and one block's
    activations exist at a time, recomputed during the backward pass.
    """
    C, L, V, nh, H = c.n_embd, c.n_layer, c.vocab_size, c.n_head, c.mlp_ratio * c.n_embd
    mlp = 1 if c.activation == "relu2" else 2
    if c.norm != "layernorm":
        raise ConfigError(f"gpt_activation_bytes: the formula is for LayerNorm (every preset's), got {c.norm!r}")
    turned = c.pos_emb == "rope" or c.qk_norm        # q and k are new tensors, not views of qkv's output
    if precision == "bf16":
        block = BF16 * (7 * C + mlp * H) + FP32 * (2 + nh) + (FP32 * (3 * C + 4 * nh) if c.qk_norm else 0)
        top = BF16 * C + FP32 * (1 + V)
        fixed = BF16 * L * (C * C + (0 if mlp == 1 else H * C))   # autocast's bf16 copies of proj weights
    else:
        block = FP32 * (8 * C + (2 * C if turned else 0) + mlp * H + nh + 4 + (4 * nh if c.qk_norm else 0))
        top = FP32 * (2 * C + 2 + V)
        fixed = 0.0
    ints = INT64 * (2 + (1 if c.pos_emb == "learned" else 0))
    per_token = (FP32 * C * L + block) if checkpointing else L * block
    return batch * T * (per_token + top + ints) + fixed


def optimizer_bytes(model: nn.Module, optimizer: str) -> float:
    """Bytes of optimizer state after the first step: Adam(W) two fp32 moments and a 4-byte step
    per tensor; SGD one momentum; Muon one momentum per hidden matrix (the 2-D weights that are
    neither an embedding nor the output layer: ``fromzero.train.muon.muon_param_groups``'s rule)
    and AdamW's state for the rest."""
    params = list({id(p): p for p in model.parameters() if p.requires_grad}.values())
    if optimizer in ("adam", "adamw"):
        return sum(2 * FP32 * p.numel() + FP32 for p in params)
    if optimizer == "sgd":
        return sum(FP32 * p.numel() for p in params)
    if optimizer == "muon":
        embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
        head = getattr(model, "lm_head", None)
        output = head.weight if head is not None else [p for p in params if p.dim() >= 2][-1]
        hidden = {id(p) for p in params if p.dim() >= 2 and id(p) not in embeddings and p is not output}
        return sum(FP32 * p.numel() if id(p) in hidden else 2 * FP32 * p.numel() + FP32 for p in params)
    raise ConfigError(f"optimizer: expected adam, adamw, muon or sgd, got {optimizer!r}")


def saved_bytes(model: nn.Module, *inputs) -> int:
    """Bytes that autograd saves for backward in one forward pass of ``model(*inputs)``, counted
    with ``saved_tensors_hooks``: each storage once, parameters and buffers left out."""
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            seen[s.data_ptr()] = s.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(*inputs)
    del out
    return sum(seen.values())


def gpt_optimizer_bytes(c: GPTConfig, optimizer: str) -> float:
    """``optimizer_bytes`` of ``GPT(c)`` from the config alone (without building it)."""
    C, H, L = c.n_embd, c.mlp_ratio * c.n_embd, c.n_layer
    n = gpt_params(c)
    per_norm = 2 if c.bias and c.norm == "layernorm" else 1
    tensors = (1 + (c.pos_emb == "learned") + (not c.tie_weights) + (2 * L + 1) * per_norm
               + 4 * L * (2 if c.bias else 1))
    hidden = L * (4 * C * C + 2 * C * H)           # Muon's: the blocks' matrices
    if optimizer in ("adam", "adamw"):
        return 2 * FP32 * n + FP32 * tensors
    if optimizer == "sgd":
        return FP32 * n
    if optimizer == "muon":
        return FP32 * hidden + 2 * FP32 * (n - hidden) + FP32 * (tensors - 4 * L)
    raise ConfigError(f"optimizer: expected adam, adamw, muon or sgd, got {optimizer!r}")


def training_memory(card: Card, batch_size: int | None = None, block_size: int | None = None,
                    precision: str = "fp32", gpus: int = 1, checkpointing: bool = False) -> Memory:
    """The training memory of ``card`` at ``batch_size`` x ``block_size`` (default: its recipe's),
    per GPU under FSDP with ``gpus`` GPUs (``gpus=1``: one process, nothing sharded)."""
    B, T = batch_size or card.batch_size, block_size or card.block_size
    opt = card.optimizer.split()[0]
    if card.family == "gpt":
        c = GPTConfig(**{**card.config, "block_size": max(T, card.config["block_size"])})
        params = FP32 * card.params
        act = gpt_activation_bytes(c, B, T, precision, checkpointing)
        work = 2 * FP32 * B * T * max(c.vocab_size, c.mlp_ratio * c.n_embd)
        opt_b = gpt_optimizer_bytes(c, opt)
    else:
        model = _small_model(card)
        params = FP32 * _count(model)
        act = B * _saved_per_sample(card, model, T)
        work = 2 * act / max(1, B) * B / 4          # about a quarter of the saved bytes, twice (estimate)
        opt_b = optimizer_bytes(model, opt)
    if gpus > 1:
        block = params / max(1, card.config.get("n_layer", 1))       # one gathered block at a time
        return Memory(params / gpus + block, params / gpus, opt_b / gpus, act, work, gpus)
    return Memory(params, params, opt_b, act, work)


def _small_model(card: Card) -> nn.Module:
    if card.family == "lstm":
        return RNNLM(RNNLMConfig(**card.config))
    if card.family == "cnn":
        return build_cnn()
    if card.family == "forecaster":
        return Forecaster(ForecasterConfig(**card.config))
    rnn_text = importlib.import_module("fromzero.recipes.rnn_text")   # a recipe (layer 7) builds it
    return rnn_text.build_text_rnn(TextRNNConfig(**{**card.config, "max_len": TEXT_RNN_LEN}), TEXT_RNN_VOCAB, 2)


def _saved_per_sample(card: Card, model: nn.Module, T: int) -> float:
    """Saved bytes per sample, counted on a forward pass of two samples (losses included)."""
    model.train()
    if card.family == "lstm":
        x = torch.zeros(2, T, dtype=torch.long)
        return saved_bytes(model, x, x) / 2
    if card.family == "cnn":
        return saved_bytes(nn.Sequential(model, nn.LogSoftmax(-1)), torch.zeros(2, 1, 28, 28)) / 2
    if card.family == "forecaster":
        c = model.config
        return saved_bytes(model, torch.zeros(2, c.lookback, c.n_series + c.n_covariates)) / 2
    return saved_bytes(model, torch.ones(2, TEXT_RNN_LEN, dtype=torch.long)) / 2
