"""fromzero.hub: GPT-2 checkpoints in the Hugging Face layout, checked against transformers itself."""
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from fromzero.checkpoint import load_model  # noqa: E402
from fromzero.errors import CheckpointError, ConfigError  # noqa: E402
from fromzero.generate import generate  # noqa: E402
from fromzero.hub import export_gpt2, import_gpt2  # noqa: E402
from fromzero.models.configs import GPTConfig  # noqa: E402
from fromzero.models.gpt import GPT  # noqa: E402
from fromzero.text.tokenizer import BPETokenizer, load_tokenizer  # noqa: E402
from tests.inprocess import run_cli  # noqa: E402

TEXT = ["Hello world, the quick brown fox jumps over the lazy dog. 你好，世界！ Ünïcödé and émojis 🙂"] * 40


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A random GPT2LMHeadModel saved by transformers, with a byte-level BPE tokenizer.json."""
    folder = tmp_path_factory.mktemp("hf") / "gpt2-tiny"
    tok = BPETokenizer.train(TEXT, vocab_size=320)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=tok.vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=4,
        bos_token_id=tok.start_id, eos_token_id=tok.start_id))
    with torch.no_grad():          # non-zero biases and norms: a mapping that drops one is seen
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder)
    tok.tk.save(str(folder / "tokenizer.json"))
    return folder, model.eval(), tok


def test_a_transformers_gpt2_loads_with_the_same_logits_and_greedy_tokens(hf_folder, tmp_path):
    folder, hf, _ = hf_folder
    ours = load_model(import_gpt2(folder, tmp_path / "run"))
    assert ours.config.pos_emb == "learned" and ours.config.activation == "gelu_tanh"
    idx = torch.randint(0, hf.config.vocab_size, (3, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), hf(idx).logits, rtol=0, atol=1e-5)
        want = hf.generate(idx[:1, :5], max_new_tokens=12, do_sample=False, pad_token_id=0)
    got = generate(ours, idx[:1, :5], 12, temperature=0)
    assert got.tolist() == want.tolist()


def test_an_exported_fromzero_gpt_loads_in_transformers_with_the_same_logits(tmp_path):
    # fromzero's own choices GPT-2 can hold: relu2, no biases (written as zeros), untied output layer
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=320, block_size=32, n_layer=2, n_head=4, n_embd=32, pos_emb="learned",
                          qk_norm=False, zero_init=False, tie_weights=False)).eval()
    from fromzero.checkpoint import save_model
    from fromzero.text.tokenizer import save_tokenizer

    tok = BPETokenizer.train(TEXT, vocab_size=320)
    save_model(tmp_path / "run", model, extra={"task": "language-modeling", "tokenizer": "tokenizer.json"})
    save_tokenizer(tok, tmp_path / "run")
    r = run_cli(["export", "run", "--out", "exported"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli(["export", "run", "--out", "run"], tmp_path)                   # never into a run
    assert r.returncode == 2 and "a fromzero run" in r.stderr
    assert run_cli(["export", "run", "--out", "exported"], tmp_path).returncode == 0   # an earlier export: replaced
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "exported").eval()
    idx = torch.randint(0, 320, (2, 17), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, model(idx), rtol=0, atol=1e-5)
    ht = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    for text in ("the lazy dog jumps", "你好，Ünïcödé 🙂 world", " leading space\nand a newline"):
        ids = ht(text)["input_ids"]
        assert ids == tok.tk.encode(text).ids and ht.decode(ids) == tok.decode(ids) == text


def test_the_cli_takes_a_hugging_face_folder_and_a_name_offline_fails_clearly(hf_folder, tmp_path, monkeypatch):
    folder, _, _ = hf_folder
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    r = run_cli(["generate", str(folder), "--prompt", "Hello", "--max-new-tokens", "5", "--temperature", "0"],
                tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("Hello"), r.stderr
    runs = list((tmp_path / "cache" / "hf").iterdir())
    assert len(runs) == 1 and load_tokenizer(runs[0]).vocab_size == hf_folder[2].vocab_size
    stamp = (runs[0] / "model.safetensors").stat().st_mtime_ns
    assert run_cli(["generate", str(folder), "--prompt", "Hi", "--max-new-tokens", "2"], tmp_path).returncode == 0
    assert list((tmp_path / "cache" / "hf").iterdir()) == runs                 # converted once, then reused
    assert (runs[0] / "model.safetensors").stat().st_mtime_ns == stamp
    r = run_cli(["generate", "hf:nobody/no-such-model", "--prompt", "x"], tmp_path)
    assert r.returncode != 0 and "not in the Hugging Face cache" in r.stderr


def test_what_gpt2_cannot_hold_is_named(hf_folder, tmp_path):
    folder, _, _ = hf_folder
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in folder.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((folder / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "scale_attn_by_inverse_layer_idx": True}))
    with pytest.raises(CheckpointError, match="scale_attn_by_inverse_layer_idx"):
        import_gpt2(bad, tmp_path / "out")
    (bad / "config.json").write_text(json.dumps({**cfg, "model_type": "llama"}))
    with pytest.raises(CheckpointError, match="model_type 'gpt2'"):
        import_gpt2(bad, tmp_path / "out")
    with pytest.raises(ConfigError, match="pos_emb=learned"):
        from fromzero.hub import to_gpt2
        to_gpt2(GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=8)))
