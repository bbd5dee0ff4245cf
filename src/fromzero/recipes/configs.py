"""The recipes' settings: plain dataclasses and default recipes, no torch.

Each field's default, allowed values and, where it is a command-line option, its help are
written here once: the recipes, ``check`` and the command line (``fromzero.cli``) read them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import check, make_config, opt
from ..errors import ConfigError
from ..models.configs import LORA_TARGETS, POOLS

DEVICES = ("auto", "cpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "fsdp", "none")   # docs/distributed.md


# The options several recipes share (a dataclass field can belong to one class only).
def device_opt():
    return opt("auto", "where to run: auto picks CUDA, then MPS (Apple), then CPU", choices=DEVICES)


# Seeds: what NumPy, torch and Python all take (torch stops at 2**64 - 1; int64 counters at 2**63).
SEED_RANGE = "[0, 2**63)"


def seed_opt(default: int = 0):
    return opt(default, "random seed for weights and data order", range=SEED_RANGE)


def strategy_opt():
    return opt("auto", "data parallelism over processes: ddp (a full copy per process), fsdp (parameters, "
               "gradients and optimizer state sharded), auto (ddp when launched as several processes), "
               "none", choices=STRATEGIES)


def checkpointing_opt():
    return opt(False, "recompute each block's activations in the backward pass (less memory, ~30% more compute)")


def _raise(config, problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"{type(config).__name__}: " + "; ".join(problems))


# --- fromzero train mnist-cnn (recipes/mnist.py) -------------------------------------------------


@dataclass
class MnistConfig:
    """The tutorial's CNN on MNIST (or Fashion-MNIST): data, training and devices."""
    epochs: int = opt(10, "passes over the training images", range=">= 1")
    batch_size: int = opt(128, "images per step", range="[1, 65536]")
    optimizer: str = opt("adam", "Adam (the tutorial's); Muon for the convolution and hidden dense kernels with "
                         "Adam for the output layer and biases; or SGD with momentum 0.9 (DP-SGD's classic)",
                         choices=("adam", "muon", "sgd"))
    lr: float = opt(1e-3, "peak learning rate of Adam or SGD (with Muon: of the output layer and biases)",
                    range="(0, 10]")
    muon_lr: float = opt(0.02, "Muon's peak learning rate (with --optimizer muon)", range="(0, 10]")
    seed: int = seed_opt()
    dataset: str = opt("mnist", "which dataset: mnist is embedded; fashion-mnist is read from --data-dir or "
                       "downloaded", choices=("mnist", "fashion-mnist"))
    data_dir: str | None = opt(None, "folder with the four IDX files (train/t10k images/labels, .gz or raw): "
                               "MNIST's, or your own 28x28 images with labels 0-9", shown="the embedded copy")
    schedule: str = opt("cosine", "learning rate: warmup + cosine decay, warmup + linear decay to 0, or constant "
                        "as in the tutorial", choices=("cosine", "linear", "constant"))
    tensorboard: bool = opt(False, "also write TensorBoard event files (losses, metrics, learning rate, "
                            "throughput) to RUN/tensorboard: tensorboard --logdir RUN")
    device: str = device_opt()
    limit: int | None = opt(None, "train on the first N training images only, for quick experiments",
                            range=">= 1", shown="all 60,000")
    stop_at_accuracy: float = opt(0.0, "stop after the first epoch whose test accuracy is at least this "
                                  "(0 = never): a speedrun's finish line; --resume may change it, and a "
                                  "resumed run trains on until the next epoch that reaches it", range="[0, 1]")
    dp_epsilon: float | None = opt(None, "train with differential privacy (DP-SGD, Opacus) at this budget ε; "
                                   "docs/challenges.md says what it means", range="> 0", shown="off")
    dp_delta: float | None = opt(None, "δ of the privacy guarantee (with --dp-epsilon)", range="(0, 1)",
                                 shown="1 / the number of training images")
    dp_max_grad_norm: float = opt(1.0, "clip each image's gradient to this norm (with --dp-epsilon)", range="> 0")
    init: str | None = opt(None, "start from the weights of RUN, a run of the tutorial's CNN: e.g. one trained on "
                           "public data (--dataset fashion-mnist) before a private run with --dp-epsilon",
                           metavar="RUN", shown="random weights")
    strategy: str = strategy_opt()
    activation_checkpointing: bool = checkpointing_opt()

    def validate(self):
        _raise(self, check(self))


# The speedrun recipe (also `make demo`'s): one epoch of Muon with a linear decay reaches >= 99.0%
# (benchmarks/speedrun_mnist.py; docs/speedrun.md has what each ingredient bought).
MNIST_SPEEDRUN = dict(epochs=1, batch_size=128, optimizer="muon", lr=3e-3, muon_lr=0.02, schedule="linear")
MNIST_DEMO = MNIST_SPEEDRUN

# --- fromzero pretrain gpt|lstm (recipes/gpt.py) -------------------------------------------------


@dataclass
class PretrainConfig:
    """Training settings; the model's come from the preset (``GPTConfig`` fields)."""
    tokenizer: str = opt("char", "character level, or byte-level BPE trained on the corpus", choices=("char", "bpe"))
    bpe_vocab_size: int = opt(4096, "vocabulary size of the BPE tokenizer", range="[257, 2**20]")
    strip_gutenberg: bool = opt(True, "keep a Project Gutenberg header and licence in the corpus (by "
                                "default they are cut, with a notice)")
    batch_size: int = opt(12, "sequences per micro-batch", range=">= 1")
    grad_accum: int = opt(1, "micro-batches per optimizer step (gradient accumulation)", range=">= 1")
    max_iters: int = opt(2000, "optimizer steps in total", range=">= 1")
    eval_interval: int = opt(250, "steps between validation, samples and checkpoints", range=">= 1")
    eval_tokens: int = opt(2**20, "validation tokens per evaluation, evenly spaced windows (0 = the whole split)",
                           range=">= 0")
    stop_at_loss: float = opt(0.0, "stop at the first evaluation whose validation loss is at or below this "
                              "(0 = never): a speedrun's finish line; --resume may change it, and a resumed "
                              "run trains on until the next evaluation that reaches it", range=">= 0")
    optimizer: str = opt("adamw", "AdamW, or Muon for hidden matrices + AdamW for the rest",
                         choices=("adamw", "muon"))
    lr: float = opt(3e-3, "peak learning rate (AdamW's; Muon's is --muon-lr)", range="> 0")
    muon_lr: float = opt(0.02, "peak learning rate of Muon's hidden matrices", range="> 0")
    schedule: str = opt("cosine", "warmup + cosine decay, warmup-stable-decay, or a constant learning rate",
                        choices=("cosine", "wsd", "constant"))
    warmup: int = opt(100, "linear warmup steps", range=">= 0")
    min_lr_ratio: float = opt(0.1, range="[0, 1]")   # final lr = min_lr_ratio * lr
    weight_decay: float = opt(0.1, "decoupled weight decay of matrices and embeddings", range=">= 0")
    beta2: float = opt(0.99, range="(0, 1)")   # Adam's second-moment decay
    grad_clip: float = opt(1.0, "clip the gradient norm to this (0 = off)", range=">= 0")
    compile: bool = opt(False, "torch.compile the model")
    amp: str = opt("auto", "bf16 autocast: auto = where the hardware computes bf16 natively",
                   choices=("auto", "on", "off"))
    threads: int = opt(0, "CPU threads (0 = torch's default, one per core; use 1 on a busy machine)",
                       range="[0, 4096]")
    tensorboard: bool = opt(False, "also write TensorBoard event files (losses, metrics, learning rate, "
                            "throughput) to RUN/tensorboard: tensorboard --logdir RUN")
    device: str = device_opt()
    seed: int = seed_opt(1337)
    sample_tokens: int = opt(200, "tokens of sample text printed at each evaluation (0 = none)", range=">= 0")
    sample_prompt: str = opt("", "the prompt of those samples")
    peak_flops: float = opt(0.0, "the device's peak FLOP/s for MFU (0 = measure this device's matmul "
                            "throughput: fp32, or bf16 with amp)", range=">= 0")
    strategy: str = strategy_opt()
    activation_checkpointing: bool = checkpointing_opt()
    plot: bool = True            # history.png at the end (matplotlib; its import costs ~20 MB of memory)

    def __post_init__(self):
        p = check(self)
        if self.tokenizer == "bpe" and not 257 <= self.bpe_vocab_size:
            p.append(f"bpe_vocab_size must be at least 257, got {self.bpe_vocab_size}")
        _raise(self, p)


# The default recipe of each GPT preset: PretrainConfig fields, then GPTConfig fields.
GPT_RECIPES: dict[str, dict] = {
    "tiny": dict(batch_size=8, max_iters=50, eval_interval=25, warmup=5, lr=3e-3, sample_tokens=0,
                 eval_tokens=2048),
    # nanoGPT's CPU shakespeare_char size (4x4x128, context 64, batch 12, 2000 iterations, no dropout)
    "shakespeare-char": dict(batch_size=12, max_iters=2000, eval_interval=250, warmup=100, lr=3e-3),
    # the same model, trained to nanoGPT's 1.88 fast (benchmarks/speedrun_gpt.py, docs/speedrun.md): Muon,
    # 500 steps decayed to 0, the whole validation split scored twice; no samples, no plot
    "shakespeare-speedrun": dict(batch_size=12, max_iters=500, eval_interval=250, warmup=30, lr=3e-3,
                                 optimizer="muon", min_lr_ratio=0.0, eval_tokens=0, sample_tokens=0, plot=False),
    # the same size on the Tang poems (6,431 characters), with room for two poems of context
    "tang-char": dict(batch_size=16, max_iters=1500, eval_interval=250, warmup=100, lr=3e-3,
                      eval_tokens=65536),
    "cpu-small": dict(batch_size=32, max_iters=3000, eval_interval=250, warmup=100, lr=3e-3),
    "cpu-medium": dict(batch_size=64, max_iters=5000, eval_interval=500, warmup=200, lr=1e-3),
    "gpt2": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=16, grad_accum=32, max_iters=5000,
                 eval_interval=500, warmup=700, lr=6e-4, beta2=0.95),
    "gpt2-medium": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=8, grad_accum=64,
                        max_iters=5000, eval_interval=500, warmup=700, lr=3e-4, beta2=0.95),
    "gpt2-large": dict(tokenizer="bpe", bpe_vocab_size=50304, batch_size=4, grad_accum=128,
                       max_iters=5000, eval_interval=500, warmup=700, lr=2.5e-4, beta2=0.95),
}

# The default pre-training recipe of each recurrent LM preset (PretrainConfig fields).
RNN_RECIPES: dict[str, dict] = {
    "tiny": dict(batch_size=8, max_iters=50, eval_interval=25, warmup=5, lr=3e-3, sample_tokens=0,
                 eval_tokens=2048),
    # the GPT preset's recipe but a higher learning rate (1e-2 beat 3e-3 at 300 steps, 2.04 vs 2.23)
    "shakespeare-char": dict(batch_size=12, max_iters=2000, eval_interval=250, warmup=100, lr=1e-2),
}

# --- fromzero finetune (recipes/finetune.py) -----------------------------------------------------

# The default peak learning rate of each way of training: full and scratch the best mean dev accuracy
# of a sweep on SUBJ, CR and MPQA (docs/finetune.md, "Defaults"); 1e-4 under-fitted; LoRA from SST-2.
DEFAULT_LR = {"full": 3e-4, "lora": 2e-3, "scratch": 3e-4}


@dataclass
class FinetuneConfig:
    """Fine-tuning settings. ``lr=None`` picks ``DEFAULT_LR`` for full, LoRA or from-scratch training."""
    task: str = opt("sst2", "sst2 (built in), or a labelled .tsv/.csv/.jsonl file with text and label columns, "
                    "or a folder with train.* and optionally dev.* and test.*")
    init: str = opt("pretrained", "the baseline: the same architecture and tokenizer, random weights",
                    choices=("pretrained", "scratch"), flag="--scratch", const="scratch")
    epochs: int = opt(4, "passes over the training set", range=">= 1")
    batch_size: int = opt(32, "examples per step", range=">= 1")
    lr: float | None = opt(None, "peak learning rate of the head", range="> 0",
                           shown=f"{DEFAULT_LR['full']:g} full, {DEFAULT_LR['lora']:g} LoRA, "
                                 f"{DEFAULT_LR['scratch']:g} --scratch")
    layer_decay: float = opt(1.0, "discriminative learning rates: each layer below the head gets this factor "
                             "of the lr of the layer above (1: the same lr everywhere)", range="(0, 1]")
    weight_decay: float = opt(0.01, "AdamW weight decay", range=">= 0")
    warmup: float = opt(0.1, "warmup fraction of the steps, then cosine decay", range="[0, 1)")
    min_lr_ratio: float = opt(0.0, range="[0, 1]")
    dropout: float = opt(0.1, "backbone dropout while training", range="[0, 1)")
    head_dropout: float = opt(0.1, range="[0, 1)")
    pool: str = opt("mean", "sequence vector: mean of the hidden states, or the last token's", choices=POOLS)
    max_length: int | None = opt(None, "tokens per text, the start token included; longer texts are cut "
                                 "(at most the base model's context)", range=">= 2", shown="the base model's context")
    freeze: str = opt("", "comma-separated parts to keep fixed: embeddings, blocks, blocks:N (the first N), "
                      "backbone (train the head only), or a parameter-name prefix")
    lora_rank: int = opt(0, "train LoRA adapters of this rank (and the head) instead of the whole model; they "
                         "are merged into the weights when saved (0: no adapters)", range=">= 0")
    lora_alpha: float = opt(16.0, "LoRA scale alpha/rank", range="> 0")
    lora_dropout: float = opt(0.0, range="[0, 1)")
    lora_targets: str = opt(",".join(LORA_TARGETS), "layers that get adapters; add wte for the token embedding")
    merge: bool = opt(True, "save the LoRA adapters as they are instead of merging them into the weights")
    lm_weight: float = opt(0.0, "GPT-1's auxiliary objective: add this times the language-model loss of the "
                           "training texts to the classification loss while training (0: off)", range=">= 0")
    probe_epochs: int = opt(0, "LP-FT: first train the head alone for this many epochs (at 10x the lr) while the "
                            "pre-trained weights stay fixed, a linear probe; then fine-tune as usual from that head",
                            range=">= 0")
    evals_per_epoch: int = opt(2, "dev evaluations (model-selection points) per epoch", range=">= 1")
    grad_clip: float = opt(1.0, range=">= 0")        # 0 = off; with --dp-epsilon, each text's gradient is clipped
    dp_epsilon: float | None = opt(None, "fine-tune with differential privacy (DP-SGD, Opacus) at this budget ε "
                                   "(docs/challenges.md); not with LoRA", range="> 0", shown="off")
    dp_delta: float | None = opt(None, "δ of the privacy guarantee (with --dp-epsilon)", range="(0, 1)",
                                 shown="1 / the number of training texts")
    dp_max_grad_norm: float = opt(1.0, "clip each text's gradient to this norm (with --dp-epsilon)", range="> 0")
    text_column: str = opt("text", "text column or JSON key")
    label_column: str = opt("label", "label column or JSON key")
    data_dir: str | None = opt(None, "folder holding a built-in task's files", shown="the embedded copy")
    seed: int = seed_opt()
    tensorboard: bool = opt(False, "also write TensorBoard event files (losses, metrics, learning rate, "
                            "throughput) to RUN/tensorboard: tensorboard --logdir RUN")
    device: str = device_opt()
    strategy: str = strategy_opt()
    activation_checkpointing: bool = checkpointing_opt()

    def __post_init__(self):
        p = check(self)
        if self.strategy == "fsdp" and self.lora_rank and self.merge:
            p.append("merging LoRA adapters needs whole weights, not FSDP shards: use strategy 'ddp' "
                     "(LoRA trains few parameters) or keep the adapters unmerged (merge=False, --no-merge)")
        if self.dp_epsilon and self.lm_weight:
            p.append(f"lm_weight: the auxiliary language-model loss is not one per-text gradient that DP-SGD "
                     f"can clip; got lm_weight={self.lm_weight:g} with dp_epsilon: use one or the other")
        if self.init == "scratch" and self.probe_epochs:
            p.append(f"probe_epochs: the linear probe fits the head to pre-trained features, and --scratch has none "
                     f"(random weights); got probe_epochs={self.probe_epochs} with init='scratch': set it to 0")
        if self.dp_epsilon and self.probe_epochs:
            p.append(f"probe_epochs: the linear probe trains the head without DP-SGD's clipping and noise, outside "
                     f"the privacy budget; got probe_epochs={self.probe_epochs} with dp_epsilon: set it to 0")
        if self.dp_epsilon and self.lora_rank:
            p.append("dp_epsilon: differential privacy needs each example's gradient, which Opacus cannot "
                     f"compute for LoRA adapters; got lora_rank={self.lora_rank}: fine-tune the whole model or "
                     "freeze parts of it (--freeze) instead")
        if not self.dp_epsilon and (self.dp_delta is not None or self.dp_max_grad_norm != 1.0):
            p.append("dp_delta and dp_max_grad_norm apply to differentially private training: give dp_epsilon "
                     "(--dp-epsilon) too")
        _raise(self, p)

    @property
    def mode(self) -> str:
        return "scratch" if self.init == "scratch" else "lora" if self.lora_rank else "full"

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]


def finetune_config(**overrides) -> FinetuneConfig:
    """A ``FinetuneConfig``; unknown keys and wrong types are reported together with the valid keys."""
    return make_config(FinetuneConfig, overrides, source="FinetuneConfig")

# --- fromzero train forecast (recipes/forecast.py) -----------------------------------------------


@dataclass
class ForecastConfig:
    """Data, model and training settings. ``None`` means the built-in series' standard setup."""
    data: str = opt("ett", "ett, melbourne, or the path of a CSV file")
    target: str | None = opt(None, "column(s) to forecast, comma-separated, or 'all'",
                             shown="ett all, melbourne Temp, else all")
    inputs: str = opt("all", "input columns, comma-separated, or 'all'; they include the targets")
    time_col: str | None = opt("auto", "the time column", shown="the first column if it holds dates")
    lookback: int | None = opt(None, "input steps", range=">= 1",
                               shown="ett 96, melbourne 30, a CSV file 96 or a quarter of its training rows if fewer")
    horizon: int | None = opt(None, "steps to forecast", range=">= 1", shown="ett 96, melbourne 1, a CSV file 1")
    split: str | None = opt(None, "train,validation,test as fractions (0.7,0.1,0.2) or row counts "
                            "(8640,2880,2880)", shown="ett 8640,2880,2880, melbourne 2920,365,365, a CSV file "
                            "0.7,0.1,0.2")
    season: int | None = opt(None, "seasonal period in rows, for the seasonal-naive baseline and MASE", range=">= 1",
                             shown="ett 24, melbourne 365, a CSV file: from its time column's spacing, hourly 24, "
                             "daily 7, weekly 52, monthly 12, quarterly 4, else 1")
    cell: str = opt("lstm", "recurrent cell, or none for the linear skip alone (a baseline)",
                    choices=("lstm", "gru", "rnn", "none"))
    hidden: int = opt(64, "hidden units", range=">= 1")
    n_layer: int = opt(1, "stacked layers", range=">= 1", flag="--layers")
    dropout: float = opt(0.0, "dropout", range="[0, 1)")
    norm: str = opt("last", "per-window normalisation: subtract the last value, the mean (and divide by the std), "
                    "or nothing", choices=("last", "mean", "none"))
    skip: bool = opt(True, "a linear lookback-to-horizon skip (true/false)", explicit=True)
    channel_independent: bool = opt(False, "one shared network per column instead of one over all columns "
                                    "(true/false)", explicit=True)
    time_features: bool = opt(False, "day-of-year (and hour) sin/cos as extra inputs (true/false)", explicit=True)
    epochs: int = opt(20, "maximum epochs (early stopping on validation)", range=">= 1")
    batch_size: int = opt(32, "windows per step", range=">= 1")
    lr: float = opt(1e-3, "Adam's learning rate", range="> 0")
    weight_decay: float = opt(0.0, range=">= 0")
    patience: int = opt(3, "epochs without a better validation loss before stopping", range=">= 1")
    seed: int = seed_opt()
    tensorboard: bool = opt(False, "also write TensorBoard event files (losses, metrics, learning rate, "
                            "throughput) to RUN/tensorboard: tensorboard --logdir RUN")
    device: str = device_opt()

    def __post_init__(self):
        _raise(self, check(self))


# The recipe of each built-in series (ForecastConfig fields). docs/rnn.md lists the alternatives
# tried, with their validation and test scores.
FORECAST_RECIPES = {
    "ett": dict(target="all", hidden=64, norm="last", skip=True, epochs=10, lr=1e-3, batch_size=32),
    "melbourne": dict(target="Temp", hidden=32, norm="none", time_features=True, epochs=30, lr=1e-3,
                      batch_size=32, patience=5),
}

# --- fromzero train text-rnn (recipes/rnn_text.py) -----------------------------------------------


@dataclass
class TextRNNConfig:
    """Data, model and training settings of ``train_text_rnn``."""
    data: str = opt("sst2", "sst2 (built in), or a labelled .tsv/.csv/.jsonl file or a folder with train.* "
                    "(dev.*, test.*)")
    cell: str = opt("lstm", "recurrent cell", choices=("lstm", "gru"))
    units: int = opt(128, "units per direction", range=">= 1")
    embed_dim: int = opt(128, "word-vector size", range=">= 1")
    bidirectional: bool = True
    max_len: int = opt(0, "words per sentence; longer ones are cut (0: the longest training sentence, "
                       "at most 256)", range=">= 0")
    min_freq: int = opt(2, range=">= 1")   # words seen fewer times in training are "unknown" (1: 74% dev, 2: 79%)
    embed_dropout: float = opt(0.5, range="[0, 1)")   # on the word vectors
    dropout: float = opt(0.5, "dropout before the output layer", range="[0, 1)")
    # a budget, not a setting: early stopping ends most runs sooner (docs/rnn.md; 10 stopped too early)
    epochs: int = opt(30, "maximum epochs (early stopping on dev accuracy usually ends sooner)", range=">= 1")
    batch_size: int = opt(50, "sentences per step", range=">= 1")
    lr: float = opt(1e-3, "Adam's learning rate", range="> 0")
    patience: int = opt(5, "epochs without a better dev accuracy before stopping; the best weights are kept",
                        range=">= 1")
    text_column: str = opt("text", "text column or JSON key of a labelled file")
    label_column: str = opt("label", "label column or JSON key of a labelled file")
    seed: int = seed_opt()
    tensorboard: bool = opt(False, "also write TensorBoard event files (losses, metrics, learning rate, "
                            "throughput) to RUN/tensorboard: tensorboard --logdir RUN")
    device: str = device_opt()

    def __post_init__(self):
        _raise(self, check(self))

# --- fromzero compare (recipes/compare.py) -------------------------------------------------------

COMPARE_TASKS = ("mnist", "text", "forecast", "lm")


@dataclass
class CompareConfig:
    """``fromzero compare TASK``: traditional models and the matching fromzero model, one split."""
    task: str = opt(None, "mnist (images), text (labelled sentences), forecast (a time series) or lm (a language "
                    "model on text)", positional=True, choices=COMPARE_TASKS)
    data: str | None = opt(None, "mnist: mnist, fashion-mnist or a folder with the four IDX files; text: sst2 or a "
                           "labelled .tsv/.csv/.jsonl file or folder; forecast: ett, melbourne or a CSV file; lm: "
                           "shakespeare, tang-poems, movie-reviews or a UTF-8 text file or folder",
                           shown="mnist, sst2, ett, shakespeare")
    budget: str = opt("quick", "how long the deep model (and the forest) trains: tiny (seconds, for tests), quick "
                      "(minutes on 2 cores), full (the shipped recipe); docs/choosing.md lists what each trains",
                      choices=("tiny", "quick", "full"))
    target: str | None = opt(None, "forecast: column(s) to forecast, comma-separated, or 'all'",
                             shown="the series' own (ett: all)")
    lookback: int | None = opt(None, "forecast: rows of history the models see, as train forecast --lookback",
                               range=">= 1", shown="train forecast's: the built-in's, or 96 for a CSV file")
    horizon: int | None = opt(None, "forecast: rows to forecast, as train forecast --horizon", range=">= 1",
                              shown="train forecast's: the built-in's, or 1 for a CSV file")
    text_column: str | None = opt(None, "text: the text column or JSON key of a labelled file", shown="text")
    label_column: str | None = opt(None, "text: the label column or JSON key of a labelled file", shown="label")
    limit: int | None = opt(None, "mnist: train every model on the first N training images", range=">= 1",
                            shown="the budget's")
    epochs: int | None = opt(None, "epochs of the deep model (mnist, text, forecast)", range=">= 1",
                             shown="the budget's")
    max_iters: int | None = opt(None, "lm: the GPT's optimizer steps", range=">= 1", shown="the budget's")
    trees: int | None = opt(None, "mnist: trees of the random forest", range=">= 1", shown="the budget's")
    order: int | None = opt(None, "lm: order of the Kneser-Ney n-gram model (characters, the predicted one "
                            "included)", range="[1, 12]", shown="6")
    threads: int = opt(0, "CPU threads of torch and scikit-learn (0 = their default)", range="[0, 4096]")
    seed: int = seed_opt()
    device: str = device_opt()

    def __post_init__(self):
        _raise(self, check(self))
        given = [k for k, tasks in COMPARE_TASK_OPTIONS.items() if self.task not in tasks and getattr(self, k) is not None]
        if given:   # an option of another task is refused, not ignored
            raise ConfigError("; ".join(
                f"--{k.replace('_', '-')} is an option of compare {_either(COMPARE_TASK_OPTIONS[k])}, not of "
                f"compare {self.task} (received {getattr(self, k)!r})" for k in given))
        if self.target is not None and not [t for t in self.target.split(",") if t.strip()]:
            raise ConfigError(f"--target: expected column names, comma-separated, or 'all'; received {self.target!r}")


def _either(names) -> str:
    """``mnist``, ``mnist or text``, ``mnist, text or forecast``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# The options that only some tasks read (each None unless given)
COMPARE_TASK_OPTIONS = {"target": ("forecast",), "lookback": ("forecast",), "horizon": ("forecast",),
                        "text_column": ("text",), "label_column": ("text",), "limit": ("mnist",),
                        "trees": ("mnist",), "epochs": ("mnist", "text", "forecast"), "max_iters": ("lm",),
                        "order": ("lm",)}

# What each budget trains (CompareConfig's explicit --limit/--epochs/--max-iters/--trees win). The CNN
# trains with train mnist-cnn's speedrun recipe; the GPT with a pretrain gpt preset and its recipe.
COMPARE_BUDGETS = {
    "tiny": {"mnist": dict(limit=256, test_limit=256, trees=4, epochs=1),
             "text": dict(epochs=1, units=8, embed_dim=8),
             "forecast": dict(epochs=1, hidden=8),
             "lm": dict(preset="tiny", max_iters=4, eval_interval=4, batch_size=4)},
    "quick": {"mnist": dict(limit=10000, trees=100, epochs=1),
              "text": dict(epochs=3),
              "forecast": dict(epochs=3),
              "lm": dict(preset="shakespeare-speedrun")},
    "full": {"mnist": dict(limit=None, trees=100, epochs=1),
             "text": dict(),
             "forecast": dict(),
             "lm": dict(preset="shakespeare-char")},
}

# --- fromzero generate (generate.py) -------------------------------------------------------------


@dataclass
class GenerateConfig:
    """Sampling settings of ``fromzero generate`` (``generate.generate_text``'s arguments)."""
    prompt: str = opt("", "text to continue", shown="empty, start of a document")
    max_new_tokens: int = opt(500, "tokens to generate", range=">= 0")
    temperature: float = opt(0.8, "sampling temperature; 0 = greedy", range=">= 0")
    top_k: int = opt(200, "sample among the k most likely tokens", range=">= 1")
    top_p: float | None = opt(None, "nucleus sampling: the smallest set of tokens with this total probability",
                              range="(0, 1]")
    use_cache: bool = opt(True, "recompute the whole context for every token", flag="--no-cache")
    seed: int | None = opt(None, "random seed", range=SEED_RANGE, shown="a random one")
    threads: int | None = opt(None, "CPU threads", range=">= 1",
                              shown="1 for models under 20M parameters, else all cores")
    compile: bool = opt(False, "torch.compile the decode step (a GPT): 2-3x the tokens/s of a small model, "
                               "after a one-time compilation (~45 s on 2 cores, ~7 s once torch has cached it)")
    device: str = device_opt()

# --- fromzero scratch train (scratch/train.py) ---------------------------------------------------


@dataclass
class ScratchTrainConfig:
    """``fromzero scratch train``: unset sizes come from ``fromzero.scratch.train.PRESETS`` (mlp, cnn)
    and ``fromzero.scratch.gpt_train.GPT_PRESET`` (gpt)."""
    model: str = opt("cnn", "which network: mlp or cnn on MNIST, gpt on characters of text", choices=("mlp", "cnn", "gpt"))
    epochs: int | None = opt(None, "mlp/cnn: passes over the training images", range=">= 1", shown="mlp 4, cnn 3")
    batch_size: int | None = opt(None, "images (mlp/cnn) or text windows (gpt) per step", range=">= 1",
                                 shown="mlp/cnn 128, gpt 12")
    lr: float | None = opt(None, "Adam's peak learning rate, cosine-decayed (mlp/cnn: to 0; gpt: to a tenth, after "
                           "a warm-up)", range="> 0", shown="mlp/cnn 0.002, gpt 0.003")
    width: int | None = opt(None, "hidden units (mlp) or conv filters (cnn)", range=">= 1", shown="mlp 256, cnn 16")
    train_limit: int | None = opt(None, "mlp/cnn: train on the first N training images only", range=">= 1",
                                  flag="--limit", shown="all 60,000")
    data_dir: str | None = opt(None, "mlp/cnn: folder with the four IDX files: MNIST's, or your own 28x28 images "
                               "with labels 0-9", shown="the embedded copy")
    data: str | None = opt(None, "gpt: the text to learn, shakespeare (built in) or a UTF-8 text file",
                           shown="shakespeare")
    block_size: int | None = opt(None, "gpt: context length in characters", range=">= 1", shown="64")
    n_layer: int | None = opt(None, "gpt: Transformer blocks", range=">= 1", shown="4")
    n_head: int | None = opt(None, "gpt: attention heads (must divide --n-embd)", range=">= 1", shown="4")
    n_embd: int | None = opt(None, "gpt: embedding width", range=">= 1", shown="128")
    max_iters: int | None = opt(None, "gpt: optimizer steps", range=">= 1", shown="2000")
    eval_interval: int | None = opt(None, "gpt: steps between validation losses", range=">= 1", shown="250")
    strip_gutenberg: bool = opt(True, "gpt: keep a Project Gutenberg header and licence in the text (by default "
                                "they are cut, with a notice)")
    seed: int = seed_opt()
    progress: bool = opt(True, "hide the progress bar")


# --- fromzero serve (serve/) ---------------------------------------------------------------------

@dataclass
class ServeConfig:
    """``fromzero serve``: where it listens and the limits that keep one slow or huge request from
    starving the others (``fromzero.serve.create_app``'s settings)."""
    host: str = opt("127.0.0.1", "address to listen on (0.0.0.0: every interface, reachable from other machines)")
    port: int = opt(8000, "TCP port", range="[0, 65535]")
    max_body: int = opt(2_000_000, "largest request body in bytes; a larger one gets 413", range=">= 1")
    max_chars: int = opt(4000, "longest prompt or sentence in characters; a longer one gets 422", range=">= 1")
    max_new_tokens: int = opt(256, "most tokens one generate request may ask for; more gets 422", range=">= 1")
    queue: int = opt(16, "requests that may wait while the model works on one; one more gets 503", range=">= 0")
    timeout: float = opt(30.0, "seconds a request may wait and run; past it: 504 (a stream ends with an "
                         "error event)", range="> 0")


# --- fromzero models / fromzero plan (zoo.py, recipes/plan.py) -----------------------------------


@dataclass
class ModelsConfig:
    """``fromzero models``: the zoo's table at a batch size, context, precision and number of GPUs."""
    batch_size: int | None = opt(None, "samples per micro-batch for every row", range=">= 1", shown="each recipe's")
    block_size: int | None = opt(None, "context in tokens for the language models", range=">= 1",
                                 shown="each preset's")
    gpus: int = opt(1, "memory per GPU under FSDP with N GPUs: parameters, gradients and optimizer state "
                    "divided by N, activations not", range=">= 1", metavar="N")
    precision: str = opt("fp32", "the activations' precision: fp32, or bf16 autocast", choices=("fp32", "bf16"))
    activation_checkpointing: bool = checkpointing_opt()
    measure: bool = opt(False, "measure the throughput of the rows without a cached measurement on this "
                        "machine (a few training steps each; the big GPT-2 sizes are skipped on a CPU)")
    threads: int = opt(0, "CPU threads for --measure (0 = torch's default)", range="[0, 4096]")
    device: str = device_opt()
    json: bool = opt(False, "print the table as JSON (memory in *_bytes keys, with the machine measured on)")

    def __post_init__(self):
        _raise(self, check(self))


PLAN_TASKS = ("gpt", "mnist-cnn")


@dataclass
class PlanConfig:
    """``fromzero plan``: a task, its data and a budget."""
    task: str = opt("gpt", "what to train: a GPT language model on --data, or the tutorial's CNN on MNIST",
                    positional=True, choices=PLAN_TASKS)
    data: str | None = opt(None, "gpt only: a built-in corpus (shakespeare, tang-poems, movie-reviews) or a UTF-8 "
                           "text file or folder", shown="shakespeare")
    time: str | None = opt(None, "wall-time budget: 90s, 10m, 1h30m", metavar="DURATION")
    memory: str | None = opt(None, "budget of the peak memory above an idle Python process with torch imported "
                             "(~200 MiB, measured and printed by the plan): 512M, 4GB, 4GiB (K, M, G, T with or "
                             "without B: powers of 1000; KiB, MiB, GiB, TiB: of 1024)", metavar="SIZE")
    preset: list = opt(None, "gpt only: consider only this preset (repeat for several)", metavar="PRESET")
    threads: int = opt(0, "CPU threads (0 = torch's default)", range="[0, 4096]")
    device: str = opt("cpu", "where the run will go", choices=("cpu", "cuda", "mps"))
    json: bool = opt(False, "print the plan as JSON")

    def __post_init__(self):
        _raise(self, check(self))
