"""``fromzero scratch train``: train an MLP or CNN on MNIST with the NumPy-only ``fromzero.scratch``."""
from __future__ import annotations

from ..cli import positive_float, positive_int


def register(sub) -> None:
    p = sub.add_parser("scratch", help="the tutorial's formulas in plain NumPy (no PyTorch)",
                       description="Section 1.3's formulas, forward and backward, in NumPy only.")
    cmds = p.add_subparsers(dest="scratch_command", metavar="COMMAND")
    t = cmds.add_parser("train", help="train an MLP or a CNN on MNIST with the NumPy ops",
                        description="Train a NumPy-only MLP (784-256-10) or CNN (conv5x5-relu-maxpool-"
                                    "dense) on MNIST with hand-written backprop and Adam; prints the "
                                    "test accuracy. Tip: on a busy machine, OPENBLAS_NUM_THREADS=1 "
                                    "is often much faster.")
    t.add_argument("--model", choices=["mlp", "cnn"], default="cnn", help="which network (default: cnn)")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the training images (default: mlp 4, cnn 3)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default: 128)")
    t.add_argument("--lr", type=positive_float, default=None,
                   help="Adam's peak learning rate, cosine-decayed to 0 (default: 0.002)")
    t.add_argument("--width", type=positive_int, default=None,
                   help="hidden units (mlp, default 256) or conv filters (cnn, default 16)")
    t.add_argument("--limit", type=positive_int, default=None,
                   help="train on the first N training images only (default: all 60,000)")
    t.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (default: the embedded copy)")
    t.add_argument("--seed", type=int, default=0, help="random seed for weights and data order (default: 0)")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.set_defaults(func=run_train)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_train(args) -> int:
    from ..scratch.train import train_mnist

    r = train_mnist(args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    width=args.width, seed=args.seed, data_dir=args.data_dir,
                    train_limit=args.limit, progress=not args.no_progress)
    cfg = r["config"]
    print(f"scratch {cfg.model} ({r['model'].n_params():,} parameters, {cfg.epochs} epochs): "
          f"test accuracy {r['test_accuracy'] * 100:.2f}%, trained in {r['train_time_s']:.1f} s "
          f"({r['samples_per_s']:,.0f} images/s)")
    return 0

