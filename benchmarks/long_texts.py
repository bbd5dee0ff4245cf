"""Texts longer than the context: does reading the rest of them change the pre-trained vs scratch gap?

Fine-tuning and evaluation read a text's first ``max_length`` tokens (the start token included) and
cut the rest. This script takes the fine-tuned runs of ``benchmarks/finetune_defaults.py`` (run that
first; its seeds) and scores each again on the task's test split, reading a long text four ways,
with the same weights and no training:

    head          the first max_length - 1 tokens (what fromzero does)
    head+tail     the first half and the last half of that budget
    windows       windows of max_length - 1 tokens, stride half of that, class probabilities averaged
    head+windows  the mean of the probabilities of the two above

    python benchmarks/long_texts.py                                # ChnSentiCorp, seeds 0-4
    python benchmarks/long_texts.py --task cr --seeds 3

It prints each run's accuracies and, per reading, the mean accuracy of each init and the paired gain
± its standard error over the seeds (docs/finetune.md has the ChnSentiCorp figures).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
READINGS = ("head", "head+tail", "windows", "head+windows")


def readings(full: list[np.ndarray], T: int) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """The sequences of each reading of the token lists ``full`` (each starting with the start token),
    and for ``windows`` the index of the text each window belongs to."""
    L = T - 1                                  # text tokens after the start token
    head = [f[:T] for f in full]
    head_tail = [f if len(f) <= T else np.concatenate([f[:1], f[1:1 + L // 2], f[len(f) - (L - L // 2):]])
                 for f in full]
    windows, owner = [], []
    for i, f in enumerate(full):
        body = f[1:]
        starts = [0] if len(body) <= L else [*range(0, len(body) - L, L // 2), len(body) - L]
        for a in starts:
            windows.append(np.concatenate([f[:1], body[a:a + L]]))
            owner.append(i)
    return {"head": head, "head+tail": head_tail, "windows": windows}, np.array(owner)


@torch.no_grad()
def probabilities(model, seqs: list[np.ndarray], batch: int = 64) -> np.ndarray:
    from fromzero.text.labelled import pad

    return torch.cat([torch.softmax(model(pad(seqs[i:i + batch])).float(), -1)
                      for i in range(0, len(seqs), batch)]).numpy()


def score_run(run: Path, test) -> dict[str, float]:
    """Test accuracy of the saved classifier ``run`` on ``test`` (LabelledText) under each reading."""
    from fromzero.recipes.finetune import load_classifier, start_token
    from fromzero.text.labelled import encode_texts

    spec, model, tok = load_classifier(run, "cpu")
    model.eval()
    T = spec.get("max_length") or model.gpt.config.block_size
    full = encode_texts(tok, test.texts, 10 ** 9, start=start_token(spec, tok))
    y = np.array(test.label_ids(spec["labels"]))
    seqs, owner = readings(full, T)
    p = {k: probabilities(model, v) for k, v in seqs.items()}
    p["windows"] = np.stack([p["windows"][owner == i].mean(0) for i in range(len(full))])
    p["head+windows"] = (p["head"] + p["windows"]) / 2
    return {k: float((p[k].argmax(1) == y).mean()) for k in READINGS}


def test_split(run: Path, cache: dict):
    """The test split of the task that ``run`` was fine-tuned on (its finetune.json), loaded once."""
    from fromzero.text.labelled import load_task

    task = json.loads((run / "finetune.json").read_text(encoding="utf-8"))["task"]
    if task not in cache:
        cache[task] = load_task(task).test
    return cache[task]


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from finetune_defaults import TASKS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="chnsenticorp", choices=sorted(TASKS),
                    help="a task of finetune_defaults.py (default chnsenticorp)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 of finetune_defaults.py (default 5)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "finetune-defaults"), help="its work folder")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds: expected a count >= 1, got {args.seeds}")
    if args.threads < 1:
        ap.error(f"--threads: expected a count >= 1, got {args.threads}")
    work = Path(args.work)
    runs = {init: [work / (f"{args.task}-{init}" + (f"-seed{s}" if s else "")) for s in range(args.seeds)]
            for init in ("pretrained", "scratch")}
    missing = [str(r) for rs in runs.values() for r in rs if not (r / "finetune.json").is_file()]
    if missing:
        ap.error(f"no fine-tuned run in {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: run "
                 f"python benchmarks/finetune_defaults.py --tasks {args.task} --seeds {args.seeds} first "
                 f"(with --work {args.work} if it is not the default)")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; {args.task}, {args.seeds} seed(s)")
    acc: dict[str, list[dict]] = {"pretrained": [], "scratch": []}
    tests: dict = {}
    for init, rs in runs.items():
        for s, run in enumerate(rs):
            acc[init].append(score_run(run, test_split(run, tests)))
            print(f"{init:10s} seed {s}: " + "  ".join(f"{k} {100 * v:.1f}" for k, v in acc[init][-1].items()),
                  flush=True)
    se_note = f", ± its standard error over the {args.seeds} seeds" if args.seeds > 1 else ""
    print(f"\n| reading | pre-trained | from scratch | gain (paired{se_note}) |\n| --- | ---: | ---: | ---: |")
    for k in READINGS:
        pre, sc = ([100 * a[k] for a in acc[i]] for i in ("pretrained", "scratch"))
        gains = [a - b for a, b in zip(pre, sc)]
        se = f" ± {statistics.stdev(gains) / len(gains) ** 0.5:.1f}" if len(gains) > 1 else ""
        print(f"| {k} | {statistics.mean(pre):.1f}% | {statistics.mean(sc):.1f}% | {statistics.mean(gains):+.1f}{se} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
