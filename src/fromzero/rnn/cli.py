"""``fromzero train text-rnn``: the arguments, and a call to ``recipes.rnn_text.train_text_rnn``."""
from __future__ import annotations

from ..cli import add_common, positive_float, positive_int

FIELDS = ("cell", "units", "embed_dim", "max_len", "epochs", "batch_size", "lr", "dropout", "patience")


def add_text_parser(targets) -> None:
    """Add the ``text-rnn`` target to ``fromzero train``."""
    t = targets.add_parser(
        "text-rnn", help="a bidirectional LSTM/GRU sentence classifier (SST-2 sentiment), from scratch",
        description="Train Embedding -> bidirectional LSTM/GRU -> max over positions -> Dense on labelled "
                    "sentences (early stopping on the dev accuracy), then print the test accuracy.")
    t.add_argument("--data", default="sst2", help="sst2 (built in), or a labelled .tsv/.csv/.jsonl file "
                   "or a folder with train.* (dev.*, test.*) (default: sst2)")
    t.add_argument("--cell", choices=["lstm", "gru"], default=None, help="recurrent cell (default: lstm)")
    t.add_argument("--units", type=positive_int, default=None, help="units per direction (default: 128)")
    t.add_argument("--embed-dim", type=positive_int, default=None, help="word-vector size (default: 128)")
    t.add_argument("--max-len", type=positive_int, default=None,
                   help="words per sentence; longer ones are cut (default: the longest training sentence)")
    t.add_argument("--epochs", type=positive_int, default=None, help="maximum epochs (default: 10)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="sentences per step (default: 50)")
    t.add_argument("--lr", type=positive_float, default=None, help="Adam's learning rate (default: 0.001)")
    t.add_argument("--dropout", type=float, default=None, help="dropout before the output layer (default: 0.5)")
    t.add_argument("--patience", type=positive_int, default=None,
                   help="epochs without a better dev accuracy before stopping (default: 3)")
    t.add_argument("--out", default="runs/text-rnn", help="run directory (default: runs/text-rnn)")
    add_common(t)
    t.set_defaults(func=run)


def run(args) -> int:
    from ..checkpoint import make_config
    from ..recipes.rnn_text import TextRNNConfig, train_text_rnn

    over = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
    cfg = make_config(TextRNNConfig, {"data": args.data, "seed": args.seed, "device": args.device, **over},
                      source="text-rnn")
    m = train_text_rnn(args.out, cfg)
    print(f"dev accuracy: {m['dev_accuracy'] * 100:.2f}%")
    if "test_accuracy" in m:
        print(f"test accuracy: {m['test_accuracy'] * 100:.2f}%  (test loss {m['test_loss']:.4f})")
    print(f"run saved to {args.out}")
    return 0


# --- ``fromzero pretrain lstm`` ------------------------------------------------------------------

PRETRAIN_OPTIONS = {
    "max_iters": (positive_int, "optimizer steps in total"),
    "batch_size": (positive_int, "sequences per step"),
    "block_size": (positive_int, "training window in tokens (the state is reset at each window)"),
    "lr": (positive_float, "peak learning rate (AdamW)"),
    "warmup": (int, "linear warmup steps"),
    "weight_decay": (float, "decoupled weight decay of the matrices"),
    "grad_clip": (float, "clip the gradient norm to this (0 = off)"),
    "eval_interval": (positive_int, "steps between validation, samples and checkpoints"),
    "eval_tokens": (int, "validation tokens per evaluation (0 = the whole validation split)"),
    "n_layer": (positive_int, "stacked recurrent layers"),
    "n_embd": (positive_int, "embedding width"),
    "n_hidden": (positive_int, "recurrent state width"),
    "dropout": (float, "dropout probability"),
    "sample_tokens": (int, "tokens of sample text printed at each evaluation (0 = none)"),
}


def add_pretrain_parser(models) -> None:
    """Add the ``lstm`` model to ``fromzero pretrain``: the GPT's pipeline, a recurrent model."""
    from ..text.data import BUILTIN
    from .lm import PRESETS

    m = models.add_parser(
        "lstm", help="a character-level LSTM/GRU language model (the GPT's pipeline)",
        description="Pre-train a recurrent language model (embedding, stacked LSTM or GRU, linear head) "
                    "with the same data, trainer, evaluation and generation as `fromzero pretrain gpt`. "
                    "Presets: " + ", ".join(PRESETS) + " (about the GPT preset's parameter count).")
    m.add_argument("--data", default="shakespeare",
                   help=f"built-in corpus ({', '.join(BUILTIN)}) or a UTF-8 text file or folder")
    m.add_argument("--preset", default="shakespeare-char", choices=list(PRESETS),
                   help="model size and its default training recipe")
    m.add_argument("--cell", choices=["lstm", "gru"], default=None, help="recurrent cell (default: lstm)")
    m.add_argument("--out", default=None, help="run directory (default: runs/lstm-PRESET)")
    for name, (typ, text) in PRETRAIN_OPTIONS.items():
        m.add_argument("--" + name.replace("_", "-"), type=typ, default=None,
                       help=text + " (default: the preset's)")
    m.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    m.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    m.add_argument("--quiet", action="store_true", help="no progress bar and no samples")
    add_common(m, seed=False)
    m.set_defaults(func=run_pretrain)


def run_pretrain(args) -> int:
    from ..checkpoint import read_json
    from ..recipes.gpt import pretrain

    over = {k: getattr(args, k) for k in [*PRETRAIN_OPTIONS, "cell", "seed"] if getattr(args, k) is not None}
    if args.device != "auto":
        over["device"] = args.device
    out = args.out or f"runs/lstm-{args.preset}"
    run = pretrain(args.data, preset=args.preset, out=out, resume=args.resume, family="lstm",
                   verbose=0 if args.quiet else 1, **over)
    spec = read_json(run / "model.json")
    print(f"validation loss {spec.get('val_loss'):.4f} after {spec.get('step')} steps; run saved to {run}")
    print(f"generate with: fromzero generate {run} --prompt \"...\"")
    return 0
