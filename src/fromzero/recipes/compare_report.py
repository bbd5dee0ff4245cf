"""``fromzero compare``'s table: aligned text, CSV and a chart of the rows ``recipes.compare`` measured."""
from __future__ import annotations

import csv
import io
from pathlib import Path


def _fmt(v, f) -> str:
    return f"{v * 100:.2f}" if f == "pct" else format(v, f)


def _columns(table: dict) -> list:
    """[(title, row -> text)] of the table's columns."""
    cols = [("model", lambda r: r["model"])]
    cols += [(title, lambda r, k=k, f=f: _fmt(r["quality"][k], f)) for k, title, f in table["metrics"]]
    cols += [("params", lambda r: f"{r['params']:,}"), ("train s", lambda r: f"{r['train_s']:.1f}"),
             (f"ms/{table['sample']}", lambda r: f"{r['latency_ms']:.3g}"),
             ("size MB", lambda r: f"{r['size_mb']:.3g}")]
    return cols


def format_table(table: dict) -> str:
    """The table as aligned text, with what its columns mean."""
    cols = _columns(table)
    cells = [[title for title, _ in cols]] + [[get(r) for _, get in cols] for r in table["rows"]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{table['task']} on {table['data']} ({table['budget']} budget); " + "; ".join(table["notes"]),
             f"ms/{table['sample']}: inference time per {table['sample']} on a batch of up to "
             f"{table['latency_batch']:,}, best of 3; train s: wall clock of the fit ("
             + ("the CNN's: its training, in memory; its run is not saved" if table["task"] == "mnist" else
                "the fromzero recipe's includes reading the data and saving its run")
             + "); size: parameters and buffers (torch), the pickled model (scikit-learn) or the count tables "
             "(n-gram)",
             f"measured on {table['cpu']}, {table['threads']} thread{'s' * (table['threads'] != 1)}"]
    notes += [f"{r['model']}: {r['note']}" for r in table["rows"] if r.get("note")]
    return "\n".join(lines + [f"({n})" for n in notes])


def table_csv(table: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "kind", *(k for k, _, _ in table["metrics"]), "params", "train_s", "latency_ms",
                "size_mb", "note"])
    for r in table["rows"]:
        w.writerow([r["model"], r["kind"], *(r["quality"][k] for k, _, _ in table["metrics"]), r["params"],
                    r["train_s"], r["latency_ms"], r["size_mb"], r["note"]])
    return buf.getvalue()


def plot_table(path, table: dict) -> Path:
    """Three bar charts side by side: the first quality metric, training time, latency per sample."""
    import matplotlib  # lazy: matplotlib (~1 s) loads only to draw
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    rows = table["rows"]
    key, title, f = table["metrics"][0]
    names = [r["model"].split(" (")[0] for r in rows]
    colors = ["tab:orange" if r["kind"] == "deep" else "tab:blue" for r in rows]
    values = [[r["quality"][key] * (100 if f == "pct" else 1) for r in rows], [r["train_s"] for r in rows],
              [r["latency_ms"] for r in rows]]
    titles = [title, "training time (s)", f"latency (ms per {table['sample']})"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.5 * len(rows) + 2))
    for ax, v, t in zip(axes, values, titles):
        bars = ax.barh(range(len(rows)), v, color=colors)
        ax.bar_label(bars, fmt="%.4g", padding=2, fontsize=8)
        ax.set_yticks(range(len(rows)), names if ax is axes[0] else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_title(t)
        if t != title and max(v) > 0 and min(x for x in v if x > 0) * 100 < max(v):
            ax.set_xscale("log")
    fig.suptitle(f"fromzero compare {table['task']}: {table['data']} (blue: traditional, orange: fromzero)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform  # lazy: only where /proc/cpuinfo is missing
    return platform.processor() or platform.machine()
