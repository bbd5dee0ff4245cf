"""The explanation sanity checks (fromzero.explain.checks) on a CNN trained here, with the
edge-detector map as the negative control, and `fromzero explain` on image and GPT runs."""
import json

import pytest
import torch

from fromzero.explain.attention import attention_maps, recording_attention
from fromzero.explain.checks import (attention_check, completeness, deletion, image_checks, randomization,
                                     reinitialized, spearman)
from fromzero.explain.images import attribution_maps, edge_map
from fromzero.models.gpt import GPT, gpt_config
from tests.inprocess import run_cli


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("explain")
    r = run_cli(["train", "mnist-cnn", "--epochs", "2", "--limit", "3000", "--batch-size", "64", "--lr", "0.002",
                 "--out", "run", "--device", "cpu"], work)
    assert r.returncode == 0, r.stderr
    return work


@pytest.fixture(scope="module")
def checked(cnn_run):
    """The checks on 100 test images, through the command line (status 0: every map passed)."""
    r = run_cli(["explain", "run", "--check", "--examples", "100"], cnn_run)
    return r


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 5, (3, 50), generator=g).float(), torch.randn(3, 50, generator=g)
    b[:, :10] = 0.0
    ours = spearman(a, b)
    for i in range(3):
        assert float(ours[i]) == pytest.approx(spearmanr(a[i], b[i]).statistic, abs=1e-9)


def test_every_map_passes_randomization_and_the_edge_detector_fails_it(checked):
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    for method in ("saliency", "integrated_gradients", "grad_cam"):
        assert any(line.strip().startswith(f"PASS  randomization {method}:") for line in lines), checked.stdout
        assert any(line.strip().startswith(f"PASS  deletion {method}:") for line in lines), checked.stdout
    assert any(line.strip().startswith("FAIL as expected  randomization edges (control: ignores the model): Spearman 1.000") for line in lines)
    assert any(line.strip().startswith("PASS  completeness") for line in lines)


def test_the_checks_would_fail_maps_that_ignore_the_model(mnist_small):
    """Direct calls: a re-initialised model's own maps compared with themselves fail randomization,
    random noise as a map fails deletion, and IG with too few steps fails completeness."""
    xtr, ytr, xte, _ = mnist_small
    from fromzero.models.cnn import build_model
    from fromzero.train import Trainer

    torch.manual_seed(0)
    model = build_model()
    Trainer(model, lr=2e-3, verbose=0).fit((xtr, ytr), epochs=1, batch_size=64)
    x = xte[:40]
    target = model(x).argmax(-1)
    edges = edge_map(x)
    assert not randomization(edges, edges)["passed"]
    noise = torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(1))
    assert not deletion(model, x, target, noise)["passed"]
    assert deletion(model, x, target, attribution_maps(model, x, target, ("saliency",))["saliency"])["passed"]
    coarse = attribution_maps(model, x, target, ("integrated_gradients",), ig_steps=2)["integrated_gradients"]
    assert not completeness(model, x, target, coarse)["passed"]
    assert completeness(model, x, target)["passed"]
    fresh = reinitialized(model)
    assert fresh.state_dict().keys() == model.state_dict().keys()
    assert not any(torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))


def test_explain_writes_maps_of_an_image_and_refuses_a_missing_one(cnn_run):
    from pathlib import Path

    digit = Path(__file__).resolve().parents[2] / "examples" / "digit-7.png"
    r = run_cli(["explain", "run", str(digit), "--out", "maps"], cnn_run)
    assert r.returncode == 0, r.stderr
    result = json.loads((cnn_run / "maps" / "digit-7.explain.json").read_text())
    assert result["class"] == "7" and result["probability"] > 0.5
    assert {k: (len(v), len(v[0])) for k, v in result["maps"].items()} == \
        {"saliency": (28, 28), "integrated_gradients": (28, 28), "grad_cam": (28, 28)}
    assert (cnn_run / "maps" / "digit-7.explain.png").read_bytes()[:4] == b"\x89PNG"
    (cnn_run / "maps" / "7.png").write_bytes(digit.read_bytes())     # inputs in --out keep their files
    r = run_cli(["explain", "run", "maps/7.png", str(digit), str(digit), "--out", "maps"], cnn_run)
    assert r.returncode == 0, r.stderr
    assert (cnn_run / "maps" / "7.png").read_bytes() == digit.read_bytes()
    assert {"digit-7.explain.json", "digit-7-2.explain.json", "7.explain.json"} <= {
        p.name for p in (cnn_run / "maps").iterdir()}
    r = run_cli(["explain", "run", "nothing.png"], cnn_run)
    assert r.returncode == 1 and "nothing.png: image file not found" in r.stderr


def test_attention_maps_are_causal_distributions_and_a_missing_mask_is_caught():
    torch.manual_seed(0)
    model = GPT(gpt_config("tiny", zero_init=False))
    idx = torch.randint(0, 64, (1, 12))
    att = attention_maps(model, idx)
    assert att.shape == (model.config.n_layer, model.config.n_head, 12, 12)
    assert attention_check(att)["passed"]
    leaky = torch.softmax(torch.randn(1, 2, 12, 12), -1)          # no causal mask
    assert not attention_check(leaky)["passed"]
    assert not attention_check(att * 1.1)["passed"]               # rows that do not sum to 1
    with torch.no_grad():                                          # recording does not change the output
        plain = model(idx)
        with recording_attention(model) as weights:
            recorded = model(idx)
    torch.testing.assert_close(recorded, plain)
    assert len(weights) == model.config.n_layer
    assert all(b.attn.attend.__name__ != "attend" for b in model.blocks)   # put back


def test_explain_on_a_gpt_run_draws_its_attention(tmp_path):
    (tmp_path / "book.txt").write_text("to be or not to be, that is the question.\n" * 100, encoding="utf-8")
    r = run_cli(["pretrain", "gpt", "--data", "book.txt", "--out", "lm", "--n-layer", "2", "--n-head", "2",
                 "--n-embd", "16", "--max-iters", "2", "--eval-interval", "2", "--eval-tokens", "256",
                 "--batch-size", "4", "--block-size", "16", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["explain", "lm", "to be or"], tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "lm" / "explain" / "to_be_or.explain.json").read_text())
    assert result["tokens"] == list("to be or") and result["check"]["passed"]
    assert len(result["attention"]) == 2 and len(result["attention"][0]) == 2
    assert len(result["token_attributions"]) == 8 and result["completeness_error"] < 0.01
    assert "<span" in (tmp_path / "lm" / "explain" / "to_be_or.explain.html").read_text(encoding="utf-8")
    assert (tmp_path / "lm" / "explain" / "to_be_or.attention.png").is_file()
    r = run_cli(["explain", "lm", "--check", "--examples", "3", "--out", "unused"], tmp_path)
    assert r.returncode == 0 and "PASS  attention" in r.stdout and "PASS  completeness" in r.stdout
    assert "--out applies to INPUTs" in r.stderr and not (tmp_path / "unused").exists()


@pytest.mark.parametrize("kind", ["gpt", "classifier"])
def test_token_attributions_add_up_to_the_score_change(kind):
    """Integrated Gradients on the token embeddings (mean-token baseline): completeness within 1%,
    and a coarse integral (2 points) misses it, so the check can fail; given 2 points, the sum
    doubles them until it holds (issue #16's cold review: sharply trained classifiers missed by 12%)."""
    from fromzero.explain.tokens import token_attributions
    from fromzero.models.classifier import ClassifierConfig, GPTClassifier

    torch.manual_seed(0)
    cfg = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=40, zero_init=False, init_std=0.2)
    model = GPT(gpt_config("tiny", **cfg)) if kind == "gpt" else \
        GPTClassifier(ClassifierConfig(gpt=dict(gpt_config("tiny", **cfg).__dict__), n_classes=3))
    idx = torch.randint(0, 40, (1, 12))
    score = (lambda out: out[:, -1, 5]) if kind == "gpt" else (lambda out: out[:, 1])

    def error(steps, **kw):
        r = token_attributions(model, idx, score, steps=steps, **kw)
        gap = r["score"] - r["baseline_score"]
        assert r["attributions"].shape == (12,) and abs(gap) > 1e-3
        return abs(float(r["attributions"].sum()) - gap) / abs(gap), r["steps"]
    assert error(64) == (pytest.approx(error(64)[0]), 64) and error(64)[0] < 0.01
    assert error(2, max_steps=2)[0] > 0.01                        # no doubling allowed: the coarse sum misses
    err, steps = error(2)
    assert err < 0.01 and 2 < steps <= 64
    assert error(200, max_steps=200)[0] == pytest.approx(error(64)[0], abs=0.01)   # batches of 64 rows add up


def test_explain_a_forecast_says_which_steps_and_variables_moved_it(tmp_path):
    import math

    rows = [f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00,{10 + 5 * math.sin(i / 24 * 6.28):.3f},"
            f"{20 + 3 * math.cos(i / 24 * 6.28):.3f}" for i in range(300)]
    (tmp_path / "load.csv").write_text("date,load,temp\n" + "\n".join(rows) + "\n")
    r = run_cli(["train", "forecast", "--data", "load.csv", "--target", "load", "--epochs", "1", "--hidden", "4",
                 "--lookback", "12", "--horizon", "3", "--out", "fc"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["explain", "fc", "load.csv"], tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "fc" / "explain" / "load.explain.json").read_text())
    assert result["variables"] == ["load", "temp"] and len(result["attributions"]) == 12
    assert result["completeness_error"] < 0.01 and result["target"] == "load"
    assert (tmp_path / "fc" / "explain" / "load.explain.png").is_file()
    r = run_cli(["explain", "fc", "--check"], tmp_path)
    assert r.returncode == 1 and "completeness_error" in r.stderr


def test_token_labels_show_a_character_split_over_bpe_tokens_once_per_part():
    """Issue #16's cold review: a BPE classifier's explanation of Chinese showed only '\ufffd'."""
    from fromzero.explain.tokens import token_labels
    from fromzero.text.tokenizer import make_tokenizer

    tok = make_tokenizer("bpe", ["a good hotel, a good room\n"] * 20, vocab_size=300)
    ids = tok.encode("good 好")
    assert "\ufffd" in "".join(tok.decode([t]) for t in ids)          # the bytes of 好 are 3 tokens
    labels = token_labels(tok, ids)
    assert len(labels) == len(ids) and labels[-3:] == ["好[1/3]", "好[2/3]", "好[3/3]"]
    assert "".join(labels[:-3]) == "good "
