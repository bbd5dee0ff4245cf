"""``fromzero train TARGET``: train a shipped model recipe."""
from __future__ import annotations

from ..cli import add_common, positive_float, positive_int


def register(sub):
    p = sub.add_parser("train", help="train a shipped model (mnist-cnn, forecast, text-rnn, ...)",
                       description="Train a shipped model recipe and write a run directory.")
    targets = p.add_subparsers(dest="target", metavar="TARGET")
    m = targets.add_parser("mnist-cnn", help="the tutorial's CNN on MNIST (section 1.4), bugs fixed",
                           description="Train the tutorial's CNN (conv32-pool-conv64-pool-dense128-dense10) "
                                       "on MNIST and print the test accuracy.")
    m.add_argument("--epochs", type=positive_int, default=None, help="passes over the 60,000 training images (default: 10)")
    m.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default: 128)")
    m.add_argument("--lr", type=positive_float, default=None, help="Adam's peak learning rate (default: 0.001)")
    m.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="learning rate: warmup + cosine decay, or constant as in the tutorial (default: cosine)")
    m.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist",
                   help="which dataset (default: mnist, embedded; fashion-mnist is read from --data-dir or downloaded)")
    m.add_argument("--data-dir", default=None, help="folder with the IDX files (default: the embedded copy)")
    m.add_argument("--limit", type=positive_int, default=None,
                   help="train on the first N training images only, for quick experiments (default: all 60,000)")
    m.add_argument("--out", default="runs/mnist-cnn", help="run directory to write (default: runs/mnist-cnn)")
    m.add_argument("--demo", action="store_true",
                   help="the quick demo recipe: 4 epochs, lr 0.002 (explicit options still win)")
    add_common(m)
    from ..distributed import add_arguments
    add_arguments(m)
    m.set_defaults(func=run_mnist)
    from ..rnn.cli import add_text_parser
    from ..timeseries.cli import add_parser as add_forecast
    add_forecast(targets)
    add_text_parser(targets)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_mnist(args) -> int:
    from ..recipes.mnist import DEMO, MnistConfig, train_mnist

    base = MnistConfig(**(DEMO if args.demo else {}))
    for k in ("epochs", "batch_size", "lr"):
        if getattr(args, k) is not None:
            setattr(base, k, getattr(args, k))
    base.seed, base.dataset, base.data_dir = args.seed, args.dataset, args.data_dir
    base.schedule, base.device, base.limit = args.schedule, args.device, args.limit
    base.strategy = args.strategy or base.strategy
    base.activation_checkpointing = bool(args.activation_checkpointing)
    metrics = train_mnist(args.out, base)
    from ..distributed import is_main
    if is_main():
        print(f"test accuracy: {metrics['accuracy'] * 100:.2f}%  (test loss {metrics['loss']:.4f})")
        print(f"run saved to {args.out}")
    return 0
