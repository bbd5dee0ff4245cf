"""The ``fromzero`` command line: a thin layer over library functions.

Every module in ``fromzero/commands/`` defines ``register(subparsers)``, which adds one
sub-command and sets ``func`` to the function that runs it; this file only discovers them.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .errors import FromzeroError


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v}")
    return v


def add_common(p: argparse.ArgumentParser, seed: bool = True) -> None:
    """Options every command takes: --device (and --seed)."""
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="where to run: auto picks CUDA, then MPS (Apple), then CPU (default: auto)")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed for weights and data order (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, commands

    parser = argparse.ArgumentParser(
        prog="fromzero", description="Build and train AI models from zero, on plain PyTorch.")
    parser.add_argument("--version", action="version", version=f"fromzero {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{m.name}").register(sub)
    return parser


def main(argv=None) -> int:
    from . import distributed as dist

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(dist.strip_nproc(argv))
    nproc = dist.nproc_arg(argv, parser)
    if nproc > 1 and not dist.launched():  # --nproc N: this command again, as N processes (torchrun)
        return dist.launch(nproc, dist.strip_nproc(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except FromzeroError as e:
        print(f"fromzero: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fromzero: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
