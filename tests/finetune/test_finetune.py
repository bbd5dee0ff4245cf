import csv
import dataclasses
import json

import pytest
import torch

from fromzero.checkpoint import load_model, load_weights, save_model
from fromzero.cli import main
from fromzero.errors import CheckpointError, ConfigError
from fromzero.lora import LoRAEmbedding, LoRALinear, merge_lora
from fromzero.models.classifier import ClassifierConfig, GPTClassifier, count_params, freeze, param_groups
from fromzero.models.gpt import GPT, gpt_config
from fromzero.recipes.finetune import evaluate_run, finetune, predict_proba
from fromzero.text.labelled import PaddedBatches, encode_texts, load_task
from fromzero.text.tokenizer import load_tokenizer
from fromzero.train import Trainer

FAST = dict(epochs=3, batch_size=16, evals_per_epoch=2, device="cpu", dropout=0.0, lr=5e-3)


def _accuracy(model, tok, data, labels):
    x = PaddedBatches(encode_texts(tok, data.texts, model.gpt.config.block_size), data.label_ids(labels), 64)
    return Trainer(model, metrics=["accuracy"], device="cpu", verbose=0).evaluate(x)["accuracy"]


def test_finetuning_a_pretrained_gpt_learns_the_task(tiny_gpt, tiny_task, tmp_path):
    task, tok = load_task(tiny_task), load_tokenizer(tiny_gpt)
    before = _accuracy(GPTClassifier.from_pretrained(tiny_gpt, 2), tok, task.test, task.labels)
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "ft", verbose=0, **FAST)
    assert m["test_accuracy"] >= 0.85 and m["test_accuracy"] > before + 0.3, (before, m)
    rows = list(csv.DictReader(open(tmp_path / "ft" / "history.csv")))
    assert len(rows) == 6 and m["dev_accuracy"] == max(float(r["val_accuracy"]) for r in rows)
    after = _accuracy(load_model(tmp_path / "ft"), tok, task.test, task.labels)
    assert after == pytest.approx(m["test_accuracy"])                    # the saved model is the selected one


def test_pretrained_weights_are_loaded(tiny_gpt, tmp_path):
    base = GPT(gpt_config("tiny", vocab_size=300))
    load_weights(tiny_gpt / "model.safetensors", base)
    pre = GPTClassifier.from_pretrained(tiny_gpt, 2)
    assert torch.equal(pre.gpt.blocks[1].mlp.fc.weight, base.blocks[1].mlp.fc.weight)
    idx = torch.randint(0, 300, (2, 7))
    torch.testing.assert_close(pre.gpt.hidden_states(idx), base.norm_f(_blocks(base, idx)))
    (tmp_path / "model.json").write_text('{"name": "model", "config": {}}')
    with pytest.raises(CheckpointError, match="expected a pre-trained GPT run"):
        GPTClassifier.from_pretrained(tmp_path, 2)
    with pytest.raises(CheckpointError, match="expected a run written by `fromzero pretrain gpt`"):
        finetune(tmp_path, "sst2")


def _blocks(gpt, idx):
    x = gpt.wte(idx)
    rope = gpt._rope(0, idx.size(1))
    for b in gpt.blocks:
        x = b(x, rope)
    return x


def test_padding_changes_nothing():
    torch.manual_seed(0)
    for pool in ("mean", "last"):
        m = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny")), pool=pool)).eval()
        short, long = torch.tensor([[3, 4, 5]]), torch.tensor([[9, 8, 7, 6, 5, 4]])
        both = torch.tensor([[3, 4, 5, -1, -1, -1], [9, 8, 7, 6, 5, 4]])
        torch.testing.assert_close(m(both), torch.cat([m(short), m(long)]))


def test_the_auxiliary_lm_loss_is_the_gpts_own_loss_on_the_real_tokens():
    """GPT-1's auxiliary objective (``lm_weight``): the backbone's next-token loss, padding skipped."""
    torch.manual_seed(0)
    m = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny")))).eval()
    short, long = torch.tensor([[3, 4, 5]]), torch.tensor([[9, 8, 7, 6, 5, 4]])
    both = torch.tensor([[3, 4, 5, -1, -1, -1], [9, 8, 7, 6, 5, 4]])
    logits, lm = m(both, lm=True)
    torch.testing.assert_close(logits, m(both))
    own = [m.gpt(x[:, :-1], x[:, 1:]) for x in (short, long)]          # GPT.forward's mean loss, per text
    torch.testing.assert_close(lm, (2 * own[0] + 5 * own[1]) / 7)      # the mean over the 7 real targets


def test_finetuning_with_the_auxiliary_lm_loss(tiny_gpt, tiny_task, tmp_path):
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "aux", verbose=0, **dict(FAST, lm_weight=0.5))
    assert m["test_accuracy"] >= 0.85
    rows = list(csv.DictReader(open(tmp_path / "aux" / "history.csv")))
    assert float(rows[0]["loss"]) > float(rows[0]["val_loss"]) + 0.5 * 2     # train loss holds 0.5 x the LM's
    with pytest.raises(ConfigError, match="lm_weight.*dp_epsilon"):
        finetune(tiny_gpt, tiny_task, out=tmp_path / "dp", lm_weight=0.5, dp_epsilon=8.0)


def test_the_linear_probe_trains_the_head_alone_and_then_everything_trains(tiny_gpt, tiny_task, tmp_path):
    """LP-FT (``probe_epochs``): the head learns on the fixed features first; nothing else moves."""
    from fromzero.recipes.finetune import _probe, finetune_config

    task, tok = load_task(tiny_task), load_tokenizer(tiny_gpt)
    model = GPTClassifier.from_pretrained(tiny_gpt, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acc0 = _accuracy(model, tok, task.test, task.labels)
    train = PaddedBatches(encode_texts(tok, task.train.texts, 64), task.train.label_ids(task.labels), 16,
                          shuffle=True)
    dev = PaddedBatches(encode_texts(tok, task.dev.texts, 64), task.dev.label_ids(task.labels), 64)
    _probe(model, finetune_config(task=str(tiny_task), probe_epochs=2, **FAST), train, dev, verbose=0)
    after = model.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved == ["head.weight", "head.bias"], moved
    assert all(p.requires_grad for p in model.parameters())       # then the whole model trains
    assert _accuracy(model, tok, task.test, task.labels) > acc0 + 0.2, acc0
    # --resume with no checkpoint yet (a run stopped during its probe) still probes
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "lpft", verbose=0, resume=True, **dict(FAST, probe_epochs=1))
    assert m["test_accuracy"] >= 0.85 and 0 < m.get("probe_dev_accuracy", -1) <= 1, m     # it probed
    with pytest.raises(ConfigError, match="probe_epochs.*dp_epsilon"):
        finetune(tiny_gpt, tiny_task, out=tmp_path / "dp", probe_epochs=1, dp_epsilon=8.0)
    with pytest.raises(ConfigError, match="probe_epochs.*scratch"):
        finetune(tiny_gpt, tiny_task, out=tmp_path / "sc", probe_epochs=1, init="scratch")
    with pytest.raises(ConfigError, match="probe_epochs: only the head trains"):
        finetune(tiny_gpt, tiny_task, out=tmp_path / "fb", verbose=0, freeze="backbone", **dict(FAST, probe_epochs=1))
    assert not any((tmp_path / "fb").iterdir())            # the failed run leaves nothing behind


def test_frozen_weights_stay_unchanged(tiny_gpt, tiny_task, tmp_path):
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "fz", verbose=0, freeze="embeddings,blocks:1",
                 **{**FAST, "epochs": 1})
    base = GPTClassifier.from_pretrained(tiny_gpt, 2).state_dict()
    tuned = load_model(tmp_path / "fz").state_dict()
    frozen = [k for k in base if k.startswith(("gpt.wte.", "gpt.blocks.0.", "gpt.lm_head."))]
    trained = [k for k in base if k.startswith("gpt.blocks.1.") and k.endswith("weight")]
    assert frozen and trained and m["frozen_params"] == len([k for k in frozen if "lm_head" not in k])
    for k in frozen:
        assert torch.equal(base[k], tuned[k]), k
    for k in trained:
        assert not torch.equal(base[k], tuned[k]), k


def test_freeze_parts_and_errors():
    m = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny"))))
    names = freeze(m, "backbone")
    assert count_params(m)[0] == 32 * 2 + 2 and len(names) == len(list(m.gpt.parameters()))
    with pytest.raises(ConfigError, match="expected 1 to 2 blocks"):
        freeze(m, "blocks:3")
    with pytest.raises(ConfigError, match="matches no parameter; expected one of embeddings"):
        freeze(m, "encoder")


def test_layer_decay_gives_lower_layers_smaller_learning_rates():
    m = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny"))))
    groups = param_groups(m, 1e-3, weight_decay=0.1, layer_decay=0.5)
    lr = {n: g["lr"] for g in groups for n in g["names"]}
    assert lr["head.weight"] == lr["gpt.norm_f.weight"] == 1e-3
    assert lr["gpt.blocks.1.attn.qkv.weight"] == 5e-4 and lr["gpt.blocks.0.mlp.fc.weight"] == 2.5e-4
    assert lr["gpt.wte.weight"] == 1.25e-4
    wd = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert wd["gpt.blocks.0.mlp.fc.weight"] == 0.1 and wd["head.bias"] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))


def test_lora_trains_a_small_share_of_the_parameters():
    cfg = dataclasses.asdict(gpt_config("tiny", n_layer=4, n_head=4, n_embd=256, vocab_size=8192, block_size=128))
    m = GPTClassifier(ClassifierConfig(gpt=cfg, lora_rank=8))
    trainable, total = count_params(m)
    C, r = 256, 8
    per_block = r * ((C + 3 * C) + (C + C) + (C + 4 * C) + (4 * C + C))   # qkv, proj, fc, mlp.proj
    assert trainable == 4 * per_block + (C * 2 + 2)                      # + the head
    assert trainable / total < 0.05
    assert sum(isinstance(x, LoRALinear) for x in m.modules()) == 16
    assert all(not p.requires_grad for n, p in m.named_parameters() if "lora_" not in n and "head" not in n)
    # the experiment's setting: the token embedding gets an adapter too
    m = GPTClassifier(ClassifierConfig(gpt=cfg, lora_rank=8, lora_targets="wte,attn.qkv,attn.proj,mlp.fc,mlp.proj"))
    trainable2, total2 = count_params(m)
    assert trainable2 == trainable + r * (8192 + C) and trainable2 / total2 < 0.05


def test_lora_embedding_starts_as_the_identity_with_b_at_the_tables_scale():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(500, 64)
    torch.nn.init.normal_(emb.weight, std=0.07)
    lora = LoRAEmbedding(emb, rank=8)
    idx = torch.randint(0, 500, (2, 5))
    torch.testing.assert_close(lora(idx), emb(idx))                      # A = 0: no change at first
    assert lora.lora_B.std().item() == pytest.approx(0.07, rel=0.15)     # not N(0, 1)
    assert not emb.weight.requires_grad and lora.lora_A.requires_grad


def test_merged_lora_gives_the_same_predictions(tmp_path):
    torch.manual_seed(0)
    m = GPTClassifier(ClassifierConfig(gpt=dataclasses.asdict(gpt_config("tiny", zero_init=False)), lora_rank=4,
                                       lora_targets="wte,attn.qkv,attn.proj,mlp.fc,mlp.proj")).eval()
    for mod in m.modules():                                              # a trained-looking update
        if isinstance(mod, LoRALinear):
            torch.nn.init.normal_(mod.lora_B, std=0.1)
        if isinstance(mod, LoRAEmbedding):
            torch.nn.init.normal_(mod.lora_A, std=0.1)
    idx = torch.randint(0, 64, (4, 20))
    want = m(idx)
    save_model(tmp_path / "unmerged", m)                                 # the adapters as they are
    torch.testing.assert_close(load_model(tmp_path / "unmerged")(idx), want)
    merge_lora(m)
    assert m.config.lora_rank == 0 and not any(isinstance(x, (LoRALinear, LoRAEmbedding)) for x in m.modules())
    assert m.gpt.lm_head.weight is m.gpt.wte.weight                      # the merged embedding stays tied
    torch.testing.assert_close(m(idx), want, atol=1e-5, rtol=1e-5)
    save_model(tmp_path / "merged", m)
    loaded = load_model(tmp_path / "merged")
    assert not any("lora_" in k for k in loaded.state_dict())
    torch.testing.assert_close(loaded(idx), want, atol=1e-5, rtol=1e-5)


def test_lora_finetuning_keeps_base_weights_and_merges_on_save(tiny_gpt, tiny_task, tmp_path):
    lora = dict(FAST, lora_rank=4, lr=3e-3)
    m = finetune(tiny_gpt, tiny_task, out=tmp_path / "lora", verbose=0, merge=False, **lora)
    assert m["test_accuracy"] >= 0.7 and m["trainable_share"] < 0.2
    unmerged = load_model(tmp_path / "lora")
    base = GPTClassifier.from_pretrained(tiny_gpt, 2)
    assert torch.equal(unmerged.gpt.blocks[0].attn.qkv.base.weight, base.gpt.blocks[0].attn.qkv.weight)
    assert not torch.equal(unmerged.gpt.blocks[0].attn.qkv.lora_B, torch.zeros(1))
    texts = ["the film was great", "a dull and boring plot", "this movie is very good"]
    classes, p_unmerged = predict_proba(tmp_path / "lora", texts)
    (tmp_path / "merged").mkdir()
    save_model(tmp_path / "merged", merge_lora(unmerged))
    for f in ("tokenizer.json",):
        (tmp_path / "merged" / f).write_bytes((tmp_path / "lora" / f).read_bytes())
    spec = json.loads((tmp_path / "lora" / "model.json").read_text())
    merged_spec = json.loads((tmp_path / "merged" / "model.json").read_text())
    (tmp_path / "merged" / "model.json").write_text(json.dumps({**spec, **merged_spec}))
    _, p_merged = predict_proba(tmp_path / "merged", texts)
    assert p_merged.argmax(-1).tolist() == p_unmerged.argmax(-1).tolist()
    torch.testing.assert_close(p_merged, p_unmerged, atol=1e-5, rtol=1e-4)


def test_cli_finetune_evaluate_predict(tiny_gpt, tiny_task, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["finetune", str(tiny_gpt), "--task", str(tiny_task), "--epochs", "3", "--lr", "0.005",
                 "--batch-size", "16", "--dropout", "0", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "model.json", "tokenizer.json", "metrics.json", "finetune.json",
            "history.csv", "history.png"} <= names
    spec = json.loads((out / "model.json").read_text())
    assert spec["task"] == "text-classification" and spec["name"] == "gpt-classifier"
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy'] * 100:.2f}%" in printed
    assert main(["evaluate", str(out), "--device", "cpu"]) == 0
    assert f"test accuracy: {metrics['test_accuracy'] * 100:.2f}%" in capsys.readouterr().out
    assert evaluate_run(out, device="cpu")["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert "trained on" not in capsys.readouterr().err
    assert main(["evaluate", str(out), "--data-dir", str(tiny_task / "train.tsv"), "--device", "cpu"]) == 0
    assert "train.tsv is the file this run was trained on" in capsys.readouterr().err   # issue #16's cold review
    (tmp_path / "only-test").mkdir()                                       # a folder of test data only
    (tmp_path / "only-test" / "test.tsv").write_text((tiny_task / "test.tsv").read_text())
    only_test = evaluate_run(out, tmp_path / "only-test", device="cpu")
    assert only_test["accuracy"] == pytest.approx(metrics["test_accuracy"])
    texts = ["the plot was superb and the music lovely", "an awful , dull movie"]
    classes, probs = predict_proba(out, texts)
    for text, p in zip(texts, probs):
        assert main(["predict", str(out), text, "--device", "cpu"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert [l.split("\t")[0] for l in lines] == [classes[i] for i in p.argsort(descending=True)]
        assert float(lines[0].split("\t")[1].strip(" %")) == pytest.approx(100 * float(p.max()), abs=0.01)


def test_cli_reports_bad_input(tiny_gpt, tmp_path, capsys):
    (tmp_path / "bad.tsv").write_text("text\tlabel\ngood\t1\n\t0\n")
    assert main(["finetune", str(tiny_gpt), "--task", str(tmp_path / "bad.tsv"), "--quiet",
                 "--out", str(tmp_path / "ft-bad")]) == 1  # the file
    assert "bad.tsv:3: empty text" in capsys.readouterr().err
    assert main(["finetune", str(tiny_gpt), "--freeze", "decoder", "--quiet", "--out", str(tmp_path / "ft")]) == 2
    assert "freeze 'decoder' matches no parameter" in capsys.readouterr().err


def test_overwrite_with_bad_input_keeps_the_earlier_run(tiny_gpt, tiny_task, tmp_path, capsys):
    """Issue #16's cold review: a typo in --task, with --overwrite, deleted the earlier run."""
    out = tmp_path / "keep"
    finetune(tiny_gpt, tiny_task, out=out, verbose=0, **dict(FAST, epochs=1))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "nolabel.tsv").write_text("text\nfine\n")
    for bad in (["--task", str(tmp_path / "typo.tsv")], ["--task", str(tmp_path / "nolabel.tsv")],
                ["--task", str(tiny_task), "--freeze", "nosuch"]):
        assert main(["finetune", str(tiny_gpt), *bad, "--out", str(out), "--overwrite", "--quiet"]) != 0
        assert "previous run's files are back" in capsys.readouterr().err
        assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_continued_pretraining_starts_from_the_run(tiny_gpt, tmp_path):
    from fromzero.recipes.gpt import pretrain
    from fromzero.train import Callback

    class Grab(Callback):
        def on_train_begin(self, trainer):
            self.wte = trainer.model.wte.weight.detach().clone()

    (tmp_path / "new.txt").write_text("a brand new domain of text about the film . " * 200)
    grab = Grab()
    run = pretrain(tmp_path / "new.txt", preset="tiny", out=tmp_path / "adapted", init=tiny_gpt, verbose=0,
                   max_iters=4, eval_interval=2, device="cpu", peak_flops=1e9, callbacks=[grab])
    base = load_model(tiny_gpt)
    assert torch.equal(grab.wte, base.wte.weight)
    assert (run / "tokenizer.json").read_text() == (tiny_gpt / "tokenizer.json").read_text()
    assert json.loads((run / "model.json").read_text())["init"] == str(tiny_gpt)
    assert not torch.equal(load_model(run).wte.weight, base.wte.weight)
    with pytest.raises(ConfigError, match="only dropout may change, got n_layer"):
        pretrain(tmp_path / "new.txt", preset="tiny", out=tmp_path / "x", init=tiny_gpt, n_layer=3, verbose=0)


def test_differentially_private_finetuning_spends_its_budget_and_the_audit_reports_it(tiny_gpt, tiny_task, tmp_path):
    from fromzero.recipes.finetune import audit_run

    m = finetune(tiny_gpt, task=str(tiny_task), out=tmp_path / "dp", verbose=0, epochs=1, batch_size=64,
                 lr=1e-3, dp_epsilon=4.0, dp_delta=1e-5, freeze="embeddings", device="cpu")
    assert 3.5 < m["epsilon"] <= 4.0 + 1e-6 and m["delta"] == 1e-5 and m["noise_multiplier"] > 0
    with open(tmp_path / "dp" / "history.csv") as f:
        eps = [float(r["epsilon"]) for r in csv.DictReader(f) if r.get("epsilon")]
    assert eps and all(a < b for a, b in zip(eps, eps[1:])) and eps[-1] == pytest.approx(m["epsilon"])
    assert audit_run(tmp_path / "dp", n=50, device="cpu")["epsilon"] == pytest.approx(m["epsilon"])
    with pytest.raises(ConfigError, match="LoRA"):
        finetune(tiny_gpt, task=str(tiny_task), out=tmp_path / "lora", verbose=0, lora_rank=4, dp_epsilon=4.0)


def test_texts_start_after_the_newline_and_old_runs_keep_their_start_token(tiny_gpt, tiny_task, tmp_path):
    """A fine-tuned run starts each text after the token the base saw before every line (the newline;
    ``tests/text``), records it in model.json, and a run saved before it was recorded still reads its
    texts the way it was trained: a BPE text after ``<|endoftext|>``."""
    tok = load_tokenizer(tiny_gpt)
    finetune(tiny_gpt, tiny_task, out=tmp_path / "ft", verbose=0, **dict(FAST, epochs=1))
    spec_path = tmp_path / "ft" / "model.json"
    spec = json.loads(spec_path.read_text())
    assert spec["start_token"] == tok.start_id == tok.encode("\n")[0] != tok.eot_id
    model, texts = load_model(tmp_path / "ft").eval(), ["the film was great", "a dull plot"]

    def direct(start):
        x = PaddedBatches(encode_texts(tok, texts, 64, start=start), batch_size=8)
        return torch.softmax(Trainer(model, device="cpu", verbose=0).predict(x), -1)

    _, p = predict_proba(tmp_path / "ft", texts, device="cpu")
    torch.testing.assert_close(p, direct(tok.start_id))
    del spec["start_token"]                        # as written before the start token was recorded
    spec_path.write_text(json.dumps(spec))
    _, old = predict_proba(tmp_path / "ft", texts, device="cpu")
    torch.testing.assert_close(old, direct(tok.eot_id))
    assert not torch.allclose(old, p)


@pytest.mark.parametrize("key, value, said", [
    ("classes", ["negative"], "classes: expected a list of 2 class names"),
    ("start_token", 99999, "start_token: expected a token id in [0, 300)"),
    ("max_length", 1000, "max_length: expected a number of tokens from 2 to the model's context (32)"),
])
def test_a_hand_edited_model_json_is_named_not_a_bug(tiny_gpt, tiny_task, tmp_path, capsys, key, value, said):
    """Issue #16's cold review: these gave "unexpected IndexError ... (a bug in fromzero)"."""
    out = tmp_path / "ft"
    finetune(tiny_gpt, tiny_task, out=out, verbose=0, **dict(FAST, epochs=1))
    spec = json.loads((out / "model.json").read_text())
    (out / "model.json").write_text(json.dumps({**spec, key: value}))
    for command in (["predict", str(out), "a good film"], ["evaluate", str(out)]):
        assert main([*command, "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert f"{out / 'model.json'}: {said}" in err and "bug" not in err, err
