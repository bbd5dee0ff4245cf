"""``fromzero pretrain gpt``: pre-train a GPT language model on text."""
from __future__ import annotations

import argparse
import dataclasses

from ..cli import add_common, positive_float, positive_int

# option -> (type, help); each becomes an override of the preset's recipe when given
OPTIONS = {
    "max_iters": (positive_int, "optimizer steps in total"),
    "batch_size": (positive_int, "sequences per micro-batch"),
    "block_size": (positive_int, "context length in tokens"),
    "grad_accum": (positive_int, "micro-batches per optimizer step (gradient accumulation)"),
    "lr": (positive_float, "peak learning rate (AdamW's; Muon's is --muon-lr)"),
    "muon_lr": (positive_float, "peak learning rate of Muon's hidden matrices"),
    "warmup": (int, "linear warmup steps"),
    "weight_decay": (float, "decoupled weight decay of matrices and embeddings"),
    "grad_clip": (float, "clip the gradient norm to this (0 = off)"),
    "eval_interval": (positive_int, "steps between validation, samples and checkpoints"),
    "eval_tokens": (int, "validation tokens per evaluation, evenly spaced windows (0 = the whole split)"),
    "dropout": (float, "dropout probability"),
    "n_layer": (positive_int, "Transformer blocks"),
    "n_head": (positive_int, "attention heads"),
    "n_embd": (positive_int, "embedding width"),
    "bpe_vocab_size": (positive_int, "vocabulary size of the BPE tokenizer"),
    "sample_tokens": (int, "tokens of sample text printed at each evaluation (0 = none)"),
    "sample_prompt": (str, "the prompt of those samples"),
    "peak_flops": (positive_float, "the device's peak FLOP/s for MFU (default: measured matmul throughput)"),
    "threads": (positive_int, "CPU threads (default: one per core; use 1 on a busy machine)"),
}
# option -> help; the values are the recipe's (fromzero.recipes.gpt.CHOICES)
CHOICES = {
    "tokenizer": "character level, or byte-level BPE trained on the corpus",
    "optimizer": "AdamW, or Muon for hidden matrices + AdamW for the rest",
    "schedule": "warmup + cosine decay, warmup-stable-decay, or a constant learning rate",
    "amp": "bf16 autocast: auto = where the hardware computes bf16 natively",
}


def _parse_set(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    low = v.lower()
    if low in ("true", "false"):
        return k.replace("-", "_"), low == "true"
    for cast in (int, float):
        try:
            return k.replace("-", "_"), cast(v)
        except ValueError:
            pass
    return k.replace("-", "_"), v


def register(sub):
    from ..models.gpt import PRESETS
    from ..recipes.gpt import CHOICES as RECIPE_CHOICES
    from ..text.data import BUILTIN

    p = sub.add_parser("pretrain", help="pre-train a language model on text (gpt, lstm)",
                       description="Pre-train a model on a text corpus and write a run directory.")
    models = p.add_subparsers(dest="model", metavar="MODEL")
    g = models.add_parser("gpt", help="a GPT (decoder-only Transformer)",
                          description="Pre-train a GPT through fromzero's Trainer: validation loss, a "
                                      "text sample, tokens/s and MFU at each evaluation; resumable "
                                      "checkpoints. Presets: " + ", ".join(PRESETS) + ".")
    g.add_argument("--data", default="shakespeare",
                   help=f"built-in corpus ({', '.join(BUILTIN)}) or a UTF-8 text file or folder")
    g.add_argument("--preset", default="shakespeare-char", choices=list(PRESETS),
                   help="model size and its default training recipe")
    g.add_argument("--out", default=None, help="run directory (default: runs/gpt-PRESET)")
    for name, (typ, text) in OPTIONS.items():
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=text + " (default: the preset's)")
    for name, text in CHOICES.items():
        g.add_argument("--" + name, choices=RECIPE_CHOICES[name], default=None,
                       help=text + " (default: the preset's)")
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    g.add_argument("--set", type=_parse_set, action="append", default=[], metavar="KEY=VALUE",
                   help="any other model or training field, e.g. --set qk_norm=false --set pos_emb=learned")
    g.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    g.add_argument("--init", default=None, metavar="RUN",
                   help="continue pre-training the GPT of RUN (its weights and tokenizer) on --data: "
                        "domain adaptation")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    g.add_argument("--quiet", action="store_true", help="no progress bar and no samples")
    add_common(g, seed=False)
    from ..distributed import add_arguments
    add_arguments(g)  # --strategy, --nproc, --activation-checkpointing
    g.set_defaults(func=run_gpt)
    from ..rnn.cli import add_pretrain_parser
    add_pretrain_parser(models)  # `fromzero pretrain lstm`: the same pipeline, a recurrent model
    p.set_defaults(func=lambda args: p.print_help() or 2)


def overrides_from_args(args) -> dict:
    over = {k: getattr(args, k) for k in [*OPTIONS, *CHOICES, "compile", "seed", "strategy",
                                          "activation_checkpointing"]
            if getattr(args, k, None) is not None}
    over.update(dict(args.set))
    if args.device != "auto":
        over["device"] = args.device
    return over


def run_gpt(args) -> int:
    from ..recipes.gpt import pretrain

    out = args.out or f"runs/gpt-{args.preset}"
    run = pretrain(args.data, preset=args.preset, out=out, resume=args.resume, init=args.init,
                   verbose=0 if args.quiet else 1, **overrides_from_args(args))
    from ..checkpoint import read_json
    from ..distributed import is_main

    if not is_main():  # a distributed run: rank 0 reports
        return 0
    spec = read_json(run / "model.json")
    print(f"validation loss {spec.get('val_loss'):.4f} after {spec.get('step')} steps; run saved to {run}")
    print(f"generate with: fromzero generate {run} --prompt \"...\"")
    return 0
