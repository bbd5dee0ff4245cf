"""Tiny runs of every kind the server answers with, made once per test session (a few seconds)."""
import random

import pytest

WORDS = {1: ["good", "great", "lovely", "fun"], 0: ["bad", "awful", "dull", "boring"]}
FILL = ["the", "film", "was", "a", "very", "plot", "and", "story"]


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory):
    from fromzero.recipes.configs import MnistConfig
    from fromzero.recipes.mnist import train_mnist

    out = tmp_path_factory.mktemp("serve") / "mnist"
    train_mnist(out, MnistConfig(epochs=1, limit=256, device="cpu"), verbose=0)
    return out


@pytest.fixture(scope="session")
def gpt_run(tmp_path_factory):
    """A 1-layer character GPT, pre-trained for 4 steps: enough to stream text, not to make sense."""
    from fromzero.recipes.gpt import pretrain

    root = tmp_path_factory.mktemp("serve-gpt")
    (root / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. ROMEO: hello!\n" * 200)
    return pretrain(root / "corpus.txt", preset="tiny", out=root / "run", verbose=0, max_iters=4, eval_interval=4,
                    eval_tokens=256, batch_size=4, block_size=32, n_layer=1, n_head=2, n_embd=32, device="cpu",
                    peak_flops=1e9)


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    """A tiny bidirectional-LSTM sentiment classifier (fromzero train text-rnn) on made-up sentences."""
    from fromzero.recipes.configs import TextRNNConfig
    from fromzero.recipes.rnn_text import train_text_rnn

    rng = random.Random(0)
    root = tmp_path_factory.mktemp("serve-text")
    task = root / "task"
    task.mkdir()
    for name, n in (("train", 200), ("dev", 40), ("test", 40)):
        rows = []
        for i in range(n):
            words = [rng.choice(FILL) for _ in range(4)] + [rng.choice(WORDS[i % 2])]
            rng.shuffle(words)
            rows.append(f"{' '.join(words)}\t{i % 2}\n")
        (task / f"{name}.tsv").write_text("text\tlabel\n" + "".join(rows))
    train_text_rnn(root / "run", TextRNNConfig(data=str(task), epochs=1, units=8, embed_dim=8), verbose=0)
    return root / "run"


@pytest.fixture(scope="session")
def forecast_run(tmp_path_factory):
    """A tiny forecaster of a made-up daily series (fromzero train forecast), and its CSV file."""
    from fromzero.recipes.forecast import forecast_config, train_forecast

    root = tmp_path_factory.mktemp("serve-forecast")
    rng = random.Random(0)
    lines = ["date,units"] + [f"2024-{1 + d // 28:02d}-{1 + d % 28:02d},{10 + 5 * (d % 7 == 5) + rng.random():.3f}"
                              for d in range(12 * 28)]
    (root / "sales.csv").write_text("\n".join(lines) + "\n")
    train_forecast(root / "run", forecast_config(str(root / "sales.csv"), target="units", epochs=1, hidden=8,
                                                 lookback=14, horizon=7), verbose=0)
    return root / "run", root / "sales.csv"
