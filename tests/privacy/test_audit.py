"""The membership-inference attack (fromzero.privacy.audit) and `fromzero audit-privacy`."""
import itertools
import json

import pytest
import torch

from fromzero.privacy.audit import advantage, membership_inference, roc_auc
from tests.inprocess import run_cli


def test_roc_auc_is_the_share_of_pairs_a_positive_wins_ties_half():
    g = torch.Generator().manual_seed(0)
    pos = torch.randint(0, 6, (40,), generator=g).double()           # many ties
    neg = torch.randint(0, 5, (30,), generator=g).double()
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p, n in itertools.product(pos, neg)]
    assert roc_auc(pos, neg) == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert roc_auc(torch.ones(5), torch.ones(7)) == 0.5
    assert advantage(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert advantage(torch.ones(5), torch.ones(7)) == 0.0


def test_low_losses_on_members_are_detected_and_equal_ones_are_not():
    g = torch.Generator().manual_seed(1)
    leak = membership_inference(torch.rand(500, generator=g) * 0.5, torch.rand(500, generator=g) + 0.25)
    assert leak["auc"] > 0.9 and leak["examples_per_group"] == 500
    same = membership_inference(torch.rand(2000, generator=g), torch.rand(2000, generator=g))
    assert abs(same["auc"] - 0.5) < 0.05 and same["advantage"] < 0.1


def test_the_attack_finds_an_overfit_cnn():
    from fromzero.datasets import load_mnist
    from fromzero.models.cnn import build_model
    from fromzero.privacy.audit import example_losses
    from fromzero.recipes.mnist import to_inputs
    from fromzero.train import Trainer

    x, y = load_mnist("train")
    x, y = to_inputs(x[:256]), torch.from_numpy(y[:256]).long()
    torch.manual_seed(0)
    model = build_model()
    attack = lambda: membership_inference(example_losses(model, x[:128], y[:128]),  # noqa: E731
                                          example_losses(model, x[128:], y[128:]))
    untrained = attack()
    Trainer(model, lr=3e-3, verbose=0).fit((x[:128], y[:128]), epochs=30, batch_size=16)
    trained = attack()
    assert abs(untrained["auc"] - 0.5) < 0.08          # the same model for both groups: a coin toss
    assert trained["auc"] > 0.6 and trained["member_loss"] < trained["non_member_loss"] / 3


def test_audit_privacy_reports_a_dp_runs_epsilon_and_a_plain_runs_leak(tmp_path):
    common = ["--limit", "128", "--batch-size", "16", "--device", "cpu", "--lr", "0.003"]
    r = run_cli(["train", "mnist-cnn", "--epochs", "1", "--out", "private", "--dp-epsilon", "2", *common], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "differential privacy: ε budget 2" in r.stderr
    spent = json.loads((tmp_path / "private" / "metrics.json").read_text())["epsilon"]
    assert 1.8 < spent <= 2.0 + 1e-6
    r = run_cli(["audit-privacy", "private", "--examples", "128"], tmp_path)
    assert r.returncode == 0 and f"ε = {spent:.3g}" in r.stdout and "ROC AUC" in r.stdout
    r = run_cli(["train", "mnist-cnn", "--epochs", "1", "--out", "plain", *common], tmp_path)
    r = run_cli(["audit-privacy", "plain", "--examples", "128", "--json"], tmp_path)
    leak = json.loads(r.stdout)
    assert leak["epsilon"] is None and leak["examples_per_group"] == 128 and 0 <= leak["advantage"] <= 1


def test_audit_privacy_refuses_a_language_model_run_with_what_it_takes(tmp_path):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "model.json").write_text(json.dumps({"task": "language-modeling", "name": "gpt"}))
    r = run_cli(["audit-privacy", "lm"], tmp_path)
    assert r.returncode == 2 and "takes an image classifier" in r.stderr


def test_audit_privacy_on_a_fine_tuned_text_classifier(tmp_path):
    (tmp_path / "book.txt").write_text("a good film, a bad film, not good, not bad.\n" * 60, encoding="utf-8")
    (tmp_path / "task").mkdir()
    for split, n in (("train", 60), ("test", 30)):
        rows = [("a good film" if i % 2 else "a bad film", "positive" if i % 2 else "negative") for i in range(n)]
        (tmp_path / "task" / f"{split}.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    assert run_cli(["pretrain", "gpt", "--data", "book.txt", "--out", "lm", "--n-layer", "1", "--n-head", "2",
                    "--n-embd", "16", "--max-iters", "2", "--eval-interval", "2", "--eval-tokens", "256",
                    "--batch-size", "4", "--block-size", "16", "--quiet"], tmp_path).returncode == 0
    r = run_cli(["finetune", "lm", "--task", "task", "--out", "clf", "--epochs", "1"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["audit-privacy", "clf", "--examples", "25", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["examples_per_group"] == 25 and 0 <= res["auc"] <= 1 and "train.tsv" in res["members"]
