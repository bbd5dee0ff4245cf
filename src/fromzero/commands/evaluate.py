"""``fromzero evaluate RUN``: evaluate a saved run on its task's test data."""
from __future__ import annotations

from ..cli import add_common


def register(sub):
    p = sub.add_parser("evaluate", help="evaluate a saved run on its test data",
                       description="Load a run directory and print its test loss and metrics.")
    p.add_argument("run", help="run directory written by a train/pretrain/finetune command")
    p.add_argument("--data-dir", default=None, help="folder with the test data (default: the embedded copy)")
    add_common(p, seed=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..recipes import evaluate_run

    metrics = evaluate_run(args.run, data_dir=args.data_dir, device=args.device)
    for k, v in metrics.items():
        print(f"test {k}: {v * 100:.2f}%" if k == "accuracy" else f"test {k}: {v:.4f}")
    return 0
