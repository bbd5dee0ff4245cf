"""A tiny pre-trained GPT and a tiny labelled task, shared by the fine-tuning tests."""
import random

import pytest

POS = ["good", "great", "lovely", "superb", "fun", "moving"]
NEG = ["bad", "awful", "dull", "boring", "poor", "weak"]
FILL = ["the", "film", "movie", "plot", "actor", "story", "was", "is", "and", "a", "very", "quite",
        "its", "cast", "script", "ending", "music", "this", "it", "really"]


def sentence(rng, label: int) -> str:
    words = [rng.choice(FILL) for _ in range(rng.randint(3, 8))]
    words.insert(rng.randint(0, len(words)), rng.choice(POS if label else NEG))
    return " ".join(words)


def write_task(folder, n_train=480, n_dev=80, n_test=100, seed=0):
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        rows = [(sentence(rng, i % 2), i % 2) for i in range(n)]
        rng.shuffle(rows)
        (folder / f"{name}.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return folder


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("task") / "toy")


@pytest.fixture(scope="session")
def tiny_gpt(tmp_path_factory):
    """A tiny GPT (2 layers, 32 wide) pre-trained briefly on sentences of the same words."""
    from fromzero.recipes.gpt import pretrain

    root = tmp_path_factory.mktemp("pre")
    rng = random.Random(1)
    (root / "corpus.txt").write_text("\n".join(sentence(rng, i % 2) for i in range(3000)) + "\n")
    return pretrain(root / "corpus.txt", preset="tiny", out=root / "run", verbose=0, tokenizer="bpe",
                    bpe_vocab_size=300, max_iters=60, eval_interval=30, device="cpu", peak_flops=1e9)
