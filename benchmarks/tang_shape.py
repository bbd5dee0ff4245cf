"""How many generated lines of a Tang-poem model have the corpus's shape (5 or 7 characters per half-line)?

Generates ``--samples`` texts of ``--tokens`` characters (different seeds) from a run trained on
``tang-poems`` and counts, with ``fromzero.text.poems.line_shapes``, the complete lines that are
``XXXXX，XXXXX。`` or ``XXXXXXX，XXXXXXX。``. The corpus itself scores 100%.

    python benchmarks/tang_shape.py runs/tang
"""
from __future__ import annotations

import argparse

from fromzero.generate import generate_text
from fromzero.text.poems import line_shapes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory of a model pre-trained on tang-poems")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=200)
    args = ap.parse_args()
    totals = {"lines": 0, "five": 0, "seven": 0}
    first = None
    for seed in range(args.samples):
        text = generate_text(args.run, "", args.tokens, temperature=args.temperature, top_k=args.top_k,
                             seed=seed)
        first = first or text
        r = line_shapes(text, drop_last=True)
        for k in totals:
            totals[k] += r[k]
    frac = (totals["five"] + totals["seven"]) / max(totals["lines"], 1)
    print(f"sample (seed 0):\n{first}\n")
    print(f"{totals['lines']} complete lines in {args.samples} samples of {args.tokens} characters "
          f"(temperature {args.temperature}, top-k {args.top_k}): {totals['five']} five-character and "
          f"{totals['seven']} seven-character couplets = {frac:.1%} with the corpus's shape")


if __name__ == "__main__":
    main()
