"""``plan``'s choices with a fake throughput and a known scaling law, and the two commands end to end
with a pre-seeded cache (nothing is measured here: timings belong in benchmarks/plan_check.py)."""
import json
import shlex

import pytest
import torch

from fromzero import zoo
from fromzero.device import machine
from fromzero.zoo import measure as zoo_measure
from fromzero.cli import build_parser
from fromzero.errors import ConfigError
from fromzero.models.configs import gpt_config
from fromzero.recipes import plan as planner
from fromzero.scaling import ScalingLaw
from inprocess import run_cli

LAW = ScalingLaw(E=1.0, A=20.0, alpha=0.4, B=50.0, beta=0.3)
SIZES = {"train": 1_000_000, "val": 100_000, "vocab": 65}
OVER = {"wall_s": 5.0, "peak_rss": 300e6, "torch_rss": 200e6, "preset": "tiny", "batch": 8}
FLOP_RATE = 2e9   # the fake machine: FLOP/s of training, 3x that for evaluation


def fake_throughput(preset, batch, block, vocab=None):
    if preset == "mnist-cnn":
        return {"step_s": 0.05, "eval_samples_per_s": 5000.0}
    f = zoo.gpt_flops_per_token(gpt_config(preset, vocab_size=vocab or 65), block)
    return {"step_s": f * batch * block / FLOP_RATE, "eval_tokens_per_s": 3 * FLOP_RATE / f}


def make(time=None, memory=None, law=LAW, throughput=fake_throughput, **kw):
    return planner.plan("gpt", "shakespeare", time, memory, "cpu", law=law, throughput=throughput,
                        overhead=OVER, sizes=SIZES, **kw)


def test_budgets_parse_and_bad_ones_name_the_option():
    assert planner.parse_duration("1h30m") == 5400 and planner.parse_duration("90s") == 90
    assert planner.parse_bytes("4GB") == 4e9 and planner.parse_bytes("512MiB") == 512 * 2**20
    # K, M, G, T with or without B: powers of 1000; with iB: of 1024
    assert [planner.parse_bytes(t) for t in ("512M", "1TB", "1t", "4GiB", "2k", "2KiB")] == \
        [512e6, 1e12, 1e12, 4 * 2**30, 2000, 2048]
    assert [planner._mb(b) for b in (1000, 1536, 3.25 * 2**20, 40 * 2**20, 4 * 2**30)] == \
        ["1,000 B", "1.5 KiB", "3.2 MiB", "40 MiB", "4.00 GiB"]
    for bad in ("ten minutes", "10x", "0s"):
        with pytest.raises(ConfigError, match="--time"):
            planner.parse_duration(bad)
    with pytest.raises(ConfigError, match="--memory"):
        planner.parse_bytes("lots")
    with pytest.raises(ConfigError, match="give a budget"):
        planner.plan("gpt", "shakespeare")


def test_a_bigger_time_budget_never_buys_a_smaller_model_or_fewer_tokens():
    plans = [make(t) for t in ("2m", "10m", "1h", "10h")]
    size = [zoo.gpt_params(gpt_config(p.preset, vocab_size=65)) for p in plans]
    tokens = [p.steps * p.batch_size * gpt_config(p.preset).block_size for p in plans]
    compute = [zoo.gpt_flops_per_token(gpt_config(p.preset, vocab_size=65)) * d for p, d in zip(plans, tokens)]
    assert size == sorted(size) and compute == sorted(compute) and size[-1] > size[0]
    for a, b in zip(plans, plans[1:]):       # the same preset: more steps (a bigger one may take fewer)
        assert a.preset != b.preset or a.steps <= b.steps
    losses = [p.expected[0] for p in plans]
    assert losses == sorted(losses, reverse=True)          # more compute: a lower predicted loss
    for p in plans:   # the chosen preset is the law's best among those considered
        best = min((r for r in p.candidates if r.get("loss")), key=lambda r: r["loss"])
        assert best["preset"] == p.preset


def test_the_wall_time_adds_up_within_the_budget_and_the_command_parses():
    p = make("10m")
    row = next(r for r in p.candidates if r["preset"] == p.preset)
    assert p.wall_s == pytest.approx(OVER["wall_s"] + p.steps * row["step_s"] + row["evals"] * row["eval_s"])
    assert p.wall_s <= 600 and p.wall_s + row["step_s"] > 600 - row["step_s"] - 1
    argv = shlex.split(p.command)
    assert argv[:3] == ["fromzero", "pretrain", "gpt"]
    ns = vars(build_parser().parse_args(argv[1:]))
    assert ns["max_iters"] == p.steps and ns["preset"] == p.preset and ns["batch_size"] == p.batch_size
    assert p.precision == ("bf16" if planner.native_bf16(torch.device("cpu")) else "fp32")


def test_a_memory_budget_is_respected_by_a_smaller_batch_or_preset():
    free = make("1h")
    tight = make("1h", memory=OVER["peak_rss"] - OVER["torch_rss"] + free.memory["total"] * 0.6)
    assert tight.peak_bytes <= OVER["peak_rss"] - OVER["torch_rss"] + free.memory["total"] * 0.6
    assert (tight.preset, tight.batch_size) != (free.preset, free.batch_size)


def test_an_impossible_budget_is_refused_naming_what_the_smallest_needs():
    with pytest.raises(ConfigError, match=r"no preset trains 30 steps in --time 6 s: the smallest, tiny, needs about"):
        make("6s")
    with pytest.raises(ConfigError, match=r"no preset fits in --memory 48 MiB \(peak memory above an idle Python "
                       r"process with torch imported, 191 MiB here\): the smallest, tiny at batch 1, needs"):
        make("1h", memory="50MB")


def test_the_memory_budget_is_what_comes_above_an_idle_torch_process():
    p = make("1h", memory="1GB")
    assert p.peak_bytes <= 1e9 < p.peak_bytes + p.baseline_bytes + 1e9      # the budget leaves out the baseline
    assert "--memory budgets this part" in planner.describe(p)
    help_text = " ".join(run_help_memory())
    assert "above an idle Python process with torch imported" in help_text and "powers of 1000" in help_text


def run_help_memory():
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "plan" in a.choices)
    return [a.help for a in sub.choices["plan"]._actions if "--memory" in a.option_strings]


def test_many_passes_over_a_small_text_predict_no_loss_from_the_law():
    small = {"train": 30_000, "val": 3_000, "vocab": 65}
    p = planner.plan("gpt", "small.txt", "2m", None, "cpu", law=LAW, throughput=fake_throughput, overhead=OVER,
                     sizes=small)
    assert p.passes == pytest.approx(p.steps * p.batch_size * gpt_config(p.preset).block_size / 30_000)
    assert p.passes > planner.MAX_PASSES and all(x != x for x in p.expected)       # NaN: not predicted
    text = planner.describe(p)
    assert f"not predicted (outside the law's range: {p.passes:.1f} passes over the data)" in text
    assert any("fitted on fresh text" in n for n in p.notes)
    within = make("2m")                                         # 1M tokens: within a few passes, a range
    assert within.passes <= planner.MAX_PASSES and within.expected[0] < within.expected[1]


def test_without_a_law_the_largest_preset_with_twenty_tokens_per_parameter_is_chosen():
    p = make("1h", law=False)
    row = next(r for r in p.candidates if r["preset"] == p.preset)
    assert row["tokens"] >= planner.TOKENS_PER_PARAM * row["params"]
    assert any("no fitted scaling law" in n for n in p.notes)


def test_mnist_plans_whole_epochs_of_the_speedrun_recipe():
    p = planner.plan("mnist-cnn", None, "3m", None, "cpu", throughput=fake_throughput,
                     overhead={**OVER, "preset": "mnist-cnn"})
    epoch = 469 * 0.05
    assert p.steps == int((180 - 5 + 2) / (epoch + 2)) and p.metric == "test accuracy"
    assert "--speedrun" in p.command and f"--epochs {p.steps}" in p.command and "(on MNIST)" in planner.describe(p)
    p = planner.plan("mnist-cnn", None, "3m", None, "cpu", threads=1, throughput=fake_throughput,
                     overhead={**OVER, "preset": "mnist-cnn"})
    assert p.command.startswith("OMP_NUM_THREADS=1 fromzero train mnist-cnn")   # measured at 1 thread
    for option, kw in (("--data", {"data": "fm_gz"}), ("--preset", {"presets": ["tiny"]})):
        with pytest.raises(ConfigError, match=f"plan: {option} applies to gpt only"):
            planner.plan("mnist-cnn", time_budget="3m", throughput=fake_throughput,
                         overhead={**OVER, "preset": "mnist-cnn"}, **kw)
    with pytest.raises(ConfigError, match="one epoch of mnist-cnn needs about"):
        planner.plan("mnist-cnn", None, "20s", None, "cpu", throughput=fake_throughput,
                     overhead={**OVER, "preset": "mnist-cnn"})


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """A cache holding the measurements a plan for the tiny preset on a small file needs."""
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be, that is the question.\n" * 200)
    vocab = planner.corpus_size(text)["vocab"]
    zoo.write_cache(zoo_measure._key("tiny", 8, 32, "cpu", 1, vocab),
                    {"step_s": 0.01, "eval_tokens_per_s": 1e5, "tokens_per_s": 25600.0, "samples_per_s": 800.0})
    zoo.write_cache(f"overhead|gpt|{text}|cpu|threads=1|torch={torch.__version__}|{machine()['cpu']}", OVER)
    monkeypatch.setattr(zoo_measure, "_measure", lambda *a: pytest.fail("measured although cached"))
    monkeypatch.setattr(zoo, "run_measured", lambda *a, **k: pytest.fail("measured although cached"))
    return text


def test_plan_command_end_to_end_from_the_cache(seeded, tmp_path):
    r = run_cli(["plan", "gpt", "--data", str(seeded), "--time", "2m", "--preset", "tiny", "--threads", "1"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "plan for gpt: tiny, batch 8" in r.stdout and "fromzero pretrain gpt --data" in r.stdout
    r = run_cli(["plan", "gpt", "--data", str(seeded), "--time", "2m", "--preset", "tiny", "--threads", "1",
                 "--json"], tmp_path)
    p = json.loads(r.stdout)
    assert p["preset"] == "tiny" and p["wall_s"] <= 120 and p["command"].startswith("fromzero pretrain gpt")
    r = run_cli(["plan", "gpt", "--data", str(seeded), "--time", "1s", "--preset", "tiny", "--threads", "1"], tmp_path)
    assert r.returncode == 2 and "needs about" in r.stderr


def test_models_command_shows_a_cached_measurement_and_measures_nothing_unasked(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path))
    zoo.write_cache(zoo_measure._key("shakespeare-char", 12, 64, "cpu", 1, None), {"tokens_per_s": 12345.0})
    monkeypatch.setattr(zoo_measure, "_measure", lambda *a: pytest.fail("measured without --measure"))
    r = run_cli(["models", "--device", "cpu", "--threads", "1", "--gpus", "2", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    rows = {row["name"]: row for row in table["models"]}
    assert rows["gpt/shakespeare-char"]["throughput"]["tokens_per_s"] == 12345.0
    assert rows["gpt/cpu-small"]["throughput"] is None and rows["mnist-cnn"]["memory"]["gpus"] == 2
    assert table["machine"].startswith(machine()["cpu"])
    mem = rows["gpt/tiny"]["memory"]      # bytes, as integers, named so; per GPU under FSDP
    card = zoo.find_card("tiny")
    ref = zoo.training_memory(card, card.batch_size, card.block_size, gpus=2)
    assert all(isinstance(mem[k], int) for k in mem) and mem["activations_bytes"] == round(ref.activations)
    assert mem["params_bytes"] == round(ref.params) and mem["params_bytes"] >= 4 * card.params // 2
    assert mem["total_bytes"] == pytest.approx(sum(mem[f"{k}_bytes"] for k in
                                                   ("params", "grads", "optimizer", "activations", "workspace")), abs=5)
    r = run_cli(["models", "--device", "cpu", "--threads", "1"], tmp_path)
    assert "param MiB  grad MiB  optim MiB  activ MiB  total MiB" in r.stdout


def test_presets_far_too_slow_for_the_budget_are_not_measured():
    asked = []
    p = make("1h", throughput=lambda *a: asked.append(a[0]) or fake_throughput(*a))
    assert "cpu-small" in asked and "cpu-medium" not in asked and any("not measured" in n for n in p.notes)
