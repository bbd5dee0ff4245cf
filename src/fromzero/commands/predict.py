"""``fromzero predict RUN INPUT``: predict with a saved run."""
from __future__ import annotations

from ..cli import add_common, positive_int


def register(sub):
    p = sub.add_parser("predict", help="predict with a saved run (an image file for image models)",
                       description="Load a run directory and print the top classes and probabilities. "
                                   "For image models INPUT is an image file of 28x28 or larger, greyscale "
                                   "or colour; it is converted to greyscale and resized.")
    p.add_argument("run", help="run directory")
    p.add_argument("input", help="what to predict on: an image file (PNG, JPEG, ...); for text models, "
                                 "a sentence; for forecasters, a CSV file whose last rows are the input window")
    p.add_argument("--top", type=positive_int, default=3, help="how many classes to show (default: 3)")
    add_common(p, seed=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..recipes import predict_run

    result = predict_run(args.run, args.input, device=args.device, top=args.top)
    if "lines" in result:  # a table (forecasts)
        print("\n".join(result["lines"]))
        return 0
    if result.get("inverted"):
        print("(dark-on-light image: inverted to MNIST's light-on-dark)")
    for label, p in result["top"]:
        print(f"{label}\t{p * 100:6.2f}%")
    return 0
