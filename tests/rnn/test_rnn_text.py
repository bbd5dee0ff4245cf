"""The recurrent sentence classifier: trains through model.fit, saves, evaluates and predicts."""
import random

from fromzero.cli import main
from fromzero.recipes.runs import evaluate_run, predict_run
from fromzero.recipes.rnn_text import TextRNNConfig, build_vocab, encode, train_text_rnn


def toy_task(folder, n=240):
    """Sentiment decided by one word somewhere in the sentence (so order-free pooling must find it)."""
    rng = random.Random(0)
    filler = "the film plot actor was a it and of story".split()
    folder.mkdir()
    for split, k in (("train", n), ("dev", 60), ("test", 60)):
        lines = ["text\tlabel"]
        for _ in range(k):
            label = rng.randrange(2)
            words = rng.choices(filler, k=rng.randint(3, 7))
            words.insert(rng.randrange(len(words) + 1), rng.choice(["great", "fine"] if label else ["awful", "dull"]))
            lines.append(" ".join(words) + f"\t{label}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_vocab_and_encoding():
    vocab = build_vocab(["a b a", "c a"], min_freq=1)
    assert vocab[:3] == ["<pad>", "<unk>", "a"]
    x = encode(["a zzz c", "a b a c d e"], vocab, 4)
    assert x.tolist() == [[2, 1, vocab.index("c"), 0], [2, vocab.index("b"), 2, vocab.index("c")]]


def test_bilstm_classifier_learns_and_its_run_evaluates_and_predicts(tmp_path):
    data = toy_task(tmp_path / "toy")
    cfg = TextRNNConfig(data=str(data), units=8, embed_dim=8, epochs=8, batch_size=16, lr=1e-2,
                        patience=8, device="cpu", embed_dropout=0.0, dropout=0.0)
    m = train_text_rnn(tmp_path / "run", cfg, verbose=0)
    assert m["test_accuracy"] >= 0.9
    again = evaluate_run(tmp_path / "run", device="cpu")
    assert abs(again["accuracy"] - m["test_accuracy"]) < 1e-9
    top = predict_run(tmp_path / "run", "the story was awful", device="cpu")["top"]
    assert top[0][0] == "0" and top[0][1] > 0.5


def test_cli(tmp_path, capsys):
    data = toy_task(tmp_path / "toy", n=40)
    assert main(["train", "text-rnn", "--data", str(data), "--units", "4", "--embed-dim", "4", "--epochs", "1",
                 "--out", str(tmp_path / "r"), "--device", "cpu"]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "r"), "great film", "--device", "cpu"]) == 0


def test_defaults_give_a_larger_budget_with_early_stopping():
    cfg = TextRNNConfig()                      # issue #16: 10 epochs stopped a run still improving
    assert (cfg.epochs, cfg.patience) == (30, 5)


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path, capsys):
    data = toy_task(tmp_path / "toy", n=60)
    # a learning rate too small to change any prediction: dev accuracy is flat after the first epoch
    cfg = TextRNNConfig(data=str(data), units=4, embed_dim=4, epochs=30, patience=2, lr=1e-12, device="cpu")
    m = train_text_rnn(tmp_path / "run", cfg, verbose=0)
    assert m["epochs"] == 3 and m["stopped_early"] and not m["still_improving"]
    assert "still improving" not in capsys.readouterr().err


def test_a_run_still_improving_at_its_last_epoch_says_so(tmp_path, capsys):
    data = toy_task(tmp_path / "toy", n=60)
    cfg = TextRNNConfig(data=str(data), units=4, embed_dim=4, epochs=1, device="cpu")   # 1 of 1: the best
    m = train_text_rnn(tmp_path / "run", cfg, verbose=0)
    assert m["still_improving"] and not m["stopped_early"]
    assert "try --epochs 2" in capsys.readouterr().err
