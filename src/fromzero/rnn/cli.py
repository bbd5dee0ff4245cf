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
