"""What each part of the forecaster is worth: ETTh1 (standard setup) and Melbourne, variant by variant.

Every row is ``fromzero train forecast --data DATA`` with the options shown (the recipe's
defaults otherwise), trained on the training part, early-stopped on the validation part, and
scored on the test part. The validation score is printed too: it is the one a choice between
variants may look at. ETTh1 figures are MSE/MAE of z-scored values (the published metric);
Melbourne figures are RMSE/MAE in °C.

    python benchmarks/forecast_ablation.py                 # both series (~25 min on 1 core)
    python benchmarks/forecast_ablation.py --data melbourne
"""
from __future__ import annotations

import argparse
import tempfile
import time

VARIANTS = {
    "ett": [
        ("recipe: LSTM 64 + linear skip, norm last, lookback 96", {}),
        ("linear skip alone (--cell none)", {"cell": "none"}),
        ("LSTM alone (--skip false)", {"skip": False}),
        ("GRU (--cell gru)", {"cell": "gru"}),
        ("RevIN-style mean/std norm (--norm mean)", {"norm": "mean"}),
        ("no per-window norm (--norm none)", {"norm": "none"}),
        ("channel-independent (--channel-independent true)", {"channel_independent": True}),
        ("hidden 128 (--hidden 128)", {"hidden": 128}),
        ("lookback 336 (--lookback 336)", {"lookback": 336}),
    ],
    "melbourne": [
        ("recipe: LSTM 32 + skip, calendar features, lookback 30", {}),
        ("linear skip alone (--cell none)", {"cell": "none"}),
        ("LSTM alone (--skip false)", {"skip": False}),
        ("no calendar features (--time-features false)", {"time_features": False}),
        ("norm last (--norm last)", {"norm": "last"}),
        ("GRU (--cell gru)", {"cell": "gru"}),
        ("lookback 7 (--lookback 7)", {"lookback": 7}),
        ("seed 1 (--seed 1)", {"seed": 1}),
        ("seed 2 (--seed 2)", {"seed": 2}),
    ],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=list(VARIANTS), nargs="*", default=list(VARIANTS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from fromzero.recipes.forecast import forecast_config, train_forecast

    for data in args.data:
        key, unit = ("mse_scaled", "mae_scaled") if data == "ett" else ("rmse", "mae")
        print(f"\n{data}: {key} / {unit} (validation | test)", flush=True)
        for name, over in VARIANTS[data]:
            t0 = time.time()
            with tempfile.TemporaryDirectory() as d:
                m = train_forecast(d, forecast_config(data, **over), verbose=0)
            v, t = m["val"]["model"], m["test"]["model"]
            print(f"  {name:55s} {v[key]:.4f} / {v[unit]:.4f} | {t[key]:.4f} / {t[unit]:.4f}   "
                  f"({m['params']:,} params, {m['epochs']} epochs, {time.time() - t0:.0f} s)", flush=True)
        base = m["test"]
        for b in [k for k in base if k != "model"]:
            print(f"  baseline {b:46s} {m['val'][b][key]:.4f} / {m['val'][b][unit]:.4f} | "
                  f"{base[b][key]:.4f} / {base[b][unit]:.4f}")


if __name__ == "__main__":
    main()
