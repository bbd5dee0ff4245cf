"""``fromzero finetune RUN --task sst2|PATH``: fine-tune a pre-trained GPT on a labelled text task."""
from __future__ import annotations

from ..cli import add_common, positive_float, positive_int


def _fraction(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {v}")
    return v


def register(sub):
    p = sub.add_parser(
        "finetune", help="fine-tune a pre-trained GPT on a labelled text task (sst2, or your file)",
        description="Load a run written by `fromzero pretrain gpt` (weights and tokenizer), add a "
                    "classification head (mean-pooled hidden states -> linear), and train it on a "
                    "labelled task through the Trainer: the whole model, some of it (--freeze), or LoRA "
                    "adapters (--lora-rank). The weights with the best dev accuracy are kept; dev and "
                    "test accuracy go to metrics.json. Then: fromzero evaluate OUT; fromzero predict OUT "
                    "\"a sentence\".")
    p.add_argument("run", help="pre-trained run directory (fromzero pretrain gpt)")
    p.add_argument("--task", default="sst2",
                   help="sst2 (built in), or a labelled .tsv/.csv/.jsonl file with text and label "
                        "columns, or a folder with train.* and optionally dev.* and test.* (default: sst2)")
    p.add_argument("--out", default=None, help="run directory to write (default: runs/finetune-TASK)")
    p.add_argument("--epochs", type=positive_int, default=None, help="passes over the training set (default: 4)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="peak learning rate of the head (default: 1e-4 full, 2e-3 LoRA, 5e-4 --scratch)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="examples per step (default: 32)")
    p.add_argument("--lora-rank", type=int, default=None,
                   help="train LoRA adapters of this rank (and the head) instead of the whole model; "
                        "they are merged into the weights when saved")
    p.add_argument("--lora-alpha", type=positive_float, default=None, help="LoRA scale alpha/rank (default: 16)")
    p.add_argument("--lora-targets", default=None,
                   help="layers that get adapters (default: attn.qkv,attn.proj,mlp.fc,mlp.proj; add wte "
                        "for the token embedding)")
    p.add_argument("--no-merge", dest="merge", action="store_false", default=None,
                   help="save the LoRA adapters as they are instead of merging them into the weights")
    p.add_argument("--freeze", default=None,
                   help="comma-separated parts to keep fixed: embeddings, blocks, blocks:N (the first N), "
                        "backbone (train the head only), or a parameter-name prefix")
    p.add_argument("--layer-decay", type=positive_float, default=None,
                   help="discriminative learning rates: each layer below the head gets this factor of the "
                        "lr of the layer above (default: 1, the same lr everywhere)")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default: 0.01)")
    p.add_argument("--warmup", type=_fraction, default=None, help="warmup fraction of the steps (default: 0.1)")
    p.add_argument("--dropout", type=_fraction, default=None, help="backbone dropout while training (default: 0.1)")
    p.add_argument("--pool", choices=["mean", "last"], default=None,
                   help="sequence vector: mean of the hidden states, or the last token's (default: mean)")
    p.add_argument("--evals-per-epoch", type=positive_int, default=None,
                   help="dev evaluations (model-selection points) per epoch (default: 1)")
    p.add_argument("--scratch", action="store_true",
                   help="the baseline: the same architecture and tokenizer, random weights")
    p.add_argument("--text-column", default=None, help="text column or JSON key (default: text)")
    p.add_argument("--label-column", default=None, help="label column or JSON key (default: label)")
    p.add_argument("--data-dir", default=None, help="folder holding a built-in task's files (default: the embedded copy)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common(p)
    from ..distributed import add_arguments
    add_arguments(p)  # --strategy, --nproc, --activation-checkpointing
    p.set_defaults(func=run)


OPTIONS = ("epochs", "lr", "batch_size", "lora_rank", "lora_alpha", "lora_targets", "merge", "freeze",
           "layer_decay", "weight_decay", "warmup", "dropout", "pool", "evals_per_epoch", "text_column",
           "label_column", "data_dir", "strategy", "activation_checkpointing")


def run(args) -> int:
    from pathlib import Path

    from ..recipes.finetune import finetune

    over = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    if args.scratch:
        over["init"] = "scratch"
    out = args.out or f"runs/finetune-{Path(args.task).stem}"
    m = finetune(args.run, task=args.task, out=out, verbose=0 if args.quiet else 1, seed=args.seed,
                 device=args.device, **over)
    from ..distributed import is_main
    if not is_main():  # a distributed run: rank 0 reports
        return 0
    line = f"dev accuracy {m['dev_accuracy'] * 100:.2f}%"
    if "test_accuracy" in m:
        line += f", test accuracy {m['test_accuracy'] * 100:.2f}%"
    print(f"{line} (best of {m['evals']} evaluations: #{m['best_eval']}); {m['trainable_params']:,} of "
          f"{m['total_params']:,} parameters trained ({m['trainable_share'] * 100:.2f}%)")
    print(f"run saved to {out}; try: fromzero predict {out} \"a sentence\"")
    return 0
