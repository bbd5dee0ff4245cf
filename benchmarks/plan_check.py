"""Does ``fromzero plan`` predict what its command then does? Wall time and peak memory, three presets.

For each case: measure the fixed cost of the command and the preset's throughput again (just
before, so that the machine's load drifts as little as possible between prediction and run), plan
with a time budget, then run the printed command as a child process in a scratch folder and
measure its wall time and its peak resident memory (``ru_maxrss`` of that child, ``os.wait4``).
Memory is compared above an idle process that imported torch (measured here too): what the run
adds to what every command pays. Targets (issue #20): wall time within 25%, peak memory within 15%.

    python benchmarks/plan_check.py                      # three GPT presets (2, 4 and 5 minutes), 1 thread
    python benchmarks/plan_check.py --cases mnist-cnn    # the CNN (one epoch or more)

The CPU's features, the load average before and after each run and whether other processes shared
the machine are printed with the figures; ``--json PATH`` writes them.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time

from fromzero import zoo
from fromzero.device import describe_machine
from fromzero.models.configs import gpt_config
from fromzero.recipes import plan as planner
from fromzero.recipes.configs import GPT_RECIPES

CASES = {   # name -> (task, data, time budget, preset)
    "shakespeare-char": ("gpt", "shakespeare", "2m", "shakespeare-char"),
    "tang-char": ("gpt", "tang-poems", "4m", "tang-char"),
    "cpu-small": ("gpt", "shakespeare", "5m", "cpu-small"),
    "mnist-cnn": ("mnist-cnn", None, "5m", None),
}


def check(name: str, threads: int) -> dict:
    task, data, budget, preset = CASES[name]
    os.environ["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    planner.measure_overhead(task, data or ("shakespeare" if task == "gpt" else None), "cpu", threads, refresh=True)
    if task == "gpt":
        vocab = planner.corpus_size(data)["vocab"]
        batch = GPT_RECIPES[preset]["batch_size"]
        zoo.measure_throughput(preset, batch, gpt_config(preset).block_size, "cpu", threads, vocab, refresh=True)
    else:
        zoo.measure_throughput("mnist-cnn", 128, 1, "cpu", threads, refresh=True)
    p = planner.plan(task, data, budget, None, "cpu", threads, [preset] if preset else None)
    measured_in = time.perf_counter() - t0
    print(planner.describe(p), flush=True)
    argv = shlex.split(p.command)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="plan-check-") as tmp:
        r = zoo.run_measured(["-m", "fromzero", *argv[1:]], cwd=tmp, quiet=True)
    load1 = os.getloadavg()[0]
    base = zoo.torch_baseline_rss(threads)
    above = r["peak_rss"] - base
    row = {"case": name, "command": p.command, "rc": r["rc"], "budget": budget, "preset": p.preset,
           "steps": p.steps, "unit": p.unit, "predicted_wall_s": p.wall_s, "wall_s": r["wall_s"],
           "wall_error": r["wall_s"] / p.wall_s - 1, "predicted_peak": p.peak_bytes, "peak_above_torch": above,
           "peak_error": above / p.peak_bytes - 1, "torch_rss": base, "peak_rss": r["peak_rss"],
           "load_before": load0, "load_after": load1, "calibration_s": measured_in,
           "expected": p.expected, "metric": p.metric}
    print(f"{name}: wall {r['wall_s']:.1f} s vs predicted {p.wall_s:.1f} s ({row['wall_error']:+.1%}); peak "
          f"{above / 2**20:.0f} MiB above torch's {base / 2**20:.0f} MiB vs predicted {p.peak_bytes / 2**20:.0f} MiB "
          f"({row['peak_error']:+.1%}); exit {r['rc']}; load average {load0:.1f} -> {load1:.1f}", flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=["shakespeare-char", "tang-char", "cpu-small"], choices=list(CASES))
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of every run (1 on a shared machine)")
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args(argv)
    print(describe_machine(), flush=True)
    rows = [check(c, a.threads) for c in a.cases]
    print("\n| case | budget | plan | predicted wall | measured wall | error | predicted peak | measured peak "
          "(above torch) | error | load avg |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['budget']} | {r['steps']} {r['unit']} | {r['predicted_wall_s']:.0f} s | "
              f"{r['wall_s']:.0f} s | {r['wall_error']:+.1%} | {r['predicted_peak'] / 2**20:.0f} MiB | "
              f"{r['peak_above_torch'] / 2**20:.0f} MiB | {r['peak_error']:+.1%} | "
              f"{r['load_before']:.1f}-{r['load_after']:.1f} |")
    ok = all(abs(r["wall_error"]) <= 0.25 and abs(r["peak_error"]) <= 0.15 and r["rc"] == 0 for r in rows)
    shared = max(max(r["load_before"], r["load_after"]) for r in rows) > a.threads + 0.5
    print(f"targets (wall within 25%, peak within 15%): {'met' if ok else 'NOT met'} in every case"
          if ok else "targets (wall within 25%, peak within 15%): NOT met in every case")
    if shared:
        print(f"other processes shared the machine (load average above {a.threads} thread(s)): timings are "
              "measured under contention")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": describe_machine(), "threads": a.threads, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
