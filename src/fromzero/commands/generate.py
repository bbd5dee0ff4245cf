"""``fromzero generate RUN``: stream text from a pre-trained language model."""
from __future__ import annotations

import sys

from ..cli import add_common, positive_float, positive_int


def _unit(text: str) -> float:
    v = positive_float(text)
    if v > 1:
        import argparse
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {v}")
    return v


def register(sub):
    p = sub.add_parser("generate", help="generate text with a pre-trained language model",
                       description="Load a run directory written by `fromzero pretrain` and stream "
                                   "text after a prompt (KV-cached sampling).")
    p.add_argument("run", help="run directory (model.safetensors, model.json, tokenizer.json)")
    p.add_argument("--prompt", default="", help="text to continue (default: empty, start of a document)")
    p.add_argument("--max-new-tokens", type=int, default=500, help="tokens to generate (default: 500)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature; 0 = greedy (default: 0.8)")
    p.add_argument("--top-k", type=positive_int, default=200,
                   help="sample among the k most likely tokens (default: 200)")
    p.add_argument("--top-p", type=_unit, default=None,
                   help="nucleus sampling: the smallest set of tokens with this total probability")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads (default: 1 for models under 20M parameters, else all cores)")
    add_common(p, seed=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..device import resolve_device
    from ..generate import generate_text

    def out(piece):
        sys.stdout.write(piece)
        sys.stdout.flush()

    out(args.prompt)
    generate_text(args.run, args.prompt, args.max_new_tokens, temperature=args.temperature,
                  top_k=args.top_k, top_p=args.top_p, seed=args.seed, use_cache=not args.no_cache,
                  on_text=out, device=resolve_device(args.device), threads=args.threads)
    out("\n")
    return 0
