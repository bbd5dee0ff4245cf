# Source of notebooks/07_gpt_finetune.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # Fine-tune the GPT on SST-2 with LoRA · 用 LoRA 在 SST-2 上微调 GPT
#
# The second half of tutorial 1.2.6: a model pre-trained on plain text is fine-tuned on a
# labelled task. Here the Shakespeare GPT of [06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb) gets a
# classification head and learns the sentiment of movie-review sentences (SST-2: 6,920 training,
# 872 dev and 1,821 test sentences, each positive or negative). With **LoRA** only small low-rank
# updates of its weight matrices and the head train; the pre-trained weights stay frozen. We
# compare with the same model trained from random weights, look at predictions, and ask which
# characters drove them. A few minutes on a laptop CPU; [docs/finetune.md](../docs/finetune.md)
# has the larger experiment (a BPE model pre-trained on movie reviews).
#
# 对应教程 1.2.6 的后半部分：在纯文本上预训练的模型，再在带标签的任务上微调。这里给
# [06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb) 训练的莎士比亚 GPT 加上分类头，学习影评句子的情感（SST-2：训练 6,920 句、
# 开发 872 句、测试 1,821 句，每句为正面或负面）。使用 **LoRA** 时只训练权重矩阵的小型低秩更新和分类头，预训练的权重保持不变。
# 我们与从随机权重训练的同一模型比较，查看预测结果，并分析是哪些字符决定了预测。在笔记本电脑的 CPU 上需要几分钟；更大的实验
# （在影评上预训练的 BPE 模型）见 [docs/finetune.md](../docs/finetune.md)。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then meaningless).
# · `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import json
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
RUNS = Path("_runs") / ("small" if SMALL else "full")                   # git-ignored; 06 saved its GPT here
RUNS.mkdir(parents=True, exist_ok=True)
OPTIONS = dict(epochs=1, evals_per_epoch=1) if SMALL else dict(epochs=2)  # fromzero's default is 4 epochs
VERBOSE = 0 if SMALL else 1

# %% [markdown]
# ## The pre-trained model · 预训练模型
#
# The run that 06 saved; if it is not there, the same pre-training runs now.
#
# 使用 06 保存的运行；如果还没有，就在这里运行同样的预训练。

# %%
from fromzero.recipes.gpt import pretrain
from fromzero.text.data import corpus_files

base = RUNS / "gpt"
if not (base / "model.safetensors").is_file():
    print("no pre-trained GPT in", base, "- pre-training it now, as 06_gpt_pretrain.ipynb does")
    if SMALL:
        corpus = RUNS / "shakespeare-20k.txt"
        corpus.write_text(corpus_files("shakespeare")[0].read_text(encoding="utf-8")[:20_000], encoding="utf-8")
        pretrain(corpus, preset="tiny", out=base, overwrite=True, verbose=0, sample_tokens=0, max_iters=20,
                 eval_interval=10, batch_size=4, eval_tokens=2048, peak_flops=1e12)
    else:
        pretrain("shakespeare", preset="shakespeare-char", out=base, overwrite=True, sample_tokens=0)
spec = json.loads((base / "model.json").read_text())
print({k: spec["config"][k] for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")},
      "validation loss", round(spec["val_loss"], 3))

# %% [markdown]
# ## The task · 任务
#
# SST-2 ships with fromzero. Its sentences are lower-cased and tokenized (spaces around
# punctuation), and the model reads characters: a sentence longer than the context (64
# characters) is cut, and characters Shakespeare never used (digits, some symbols) are dropped;
# the run says how many.
#
# SST-2 随 fromzero 分发。句子已转为小写并分词（标点两侧有空格）；模型按字符读取：超过上下文长度（64 个字符）的句子会被截断，
# 莎士比亚从未用过的字符（数字、一些符号）会被丢弃；运行时会报告数量。

# %%
from fromzero.text.labelled import load_task

sst2 = load_task("sst2")
print(sst2.describe())
for text, label in list(zip(sst2.train.texts, sst2.train.labels))[:5]:
    print(f"{sst2.classes[int(label)]:9s} {text}")
task = "sst2"
if SMALL:                                   # a few sentences of each split, as a folder of TSV files
    task = RUNS / "sst2-small"
    task.mkdir(exist_ok=True)
    for name, split, n in [("train", sst2.train, 64), ("dev", sst2.dev, 32), ("test", sst2.test, 32)]:
        rows = [f"{t}\t{sst2.classes[int(lab)]}" for t, lab in zip(split.texts[:n], split.labels[:n])]
        (task / f"{name}.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")

# %% [markdown]
# ## Fine-tuning · 微调
#
# `fromzero.recipes.finetune.finetune` is what `fromzero finetune RUN --task sst2 --lora-rank 8`
# runs. LoRA (Hu et al. 2021) adds to each attention and MLP matrix $W$ a trainable update
# $\frac{\alpha}{r} BA$ of rank $r = 8$ ($B$ starts at zero, so training starts from the
# pre-trained model); the classifier reads the mean of the last hidden states. The dev set is
# evaluated twice per epoch and the best weights are kept (2 epochs here, 4 by default); the adapters are merged into $W$ when
# the run is saved. The baseline, `init="scratch"`, trains every weight of the same architecture
# from random values.
#
# `fromzero.recipes.finetune.finetune` 就是 `fromzero finetune RUN --task sst2 --lora-rank 8` 所运行的。LoRA（Hu 等 2021）
# 给每个注意力和 MLP 矩阵 $W$ 加上一个可训练的秩 $r = 8$ 的更新 $\frac{\alpha}{r} BA$（$B$ 从零开始，因此训练从预训练模型出发）；
# 分类器读取最后一层隐藏状态的平均值。每个 epoch 在开发集上评估两次并保留最好的权重（这里训练 2 个 epoch，默认为 4 个）；保存时把适配器合并进 $W$。
# 对照组 `init="scratch"` 从随机值开始训练同一结构的全部权重。

# %%
from fromzero.recipes.finetune import finetune

lora = finetune(base, task=task, out=RUNS / "sst2-lora", lora_rank=8, overwrite=True, verbose=VERBOSE, **OPTIONS)
scratch = finetune(base, task=task, out=RUNS / "sst2-scratch", init="scratch", overwrite=True, verbose=VERBOSE,
                   **OPTIONS)
for name, m in [("pre-trained + LoRA", lora), ("from scratch", scratch)]:
    print(f"{name:20s} dev {m['dev_accuracy']:.4f}  test {m['test_accuracy']:.4f}  "
          f"trainable {m['trainable_params']:,} of {m['total_params']:,} ({m['trainable_share']:.1%})")

# %%
import csv

fig, ax = plt.subplots(figsize=(6, 3.2))
for name in ("sst2-lora", "sst2-scratch"):
    rows = list(csv.DictReader(open(RUNS / name / "history.csv")))
    ax.plot([int(r["step"]) for r in rows], [float(r["val_accuracy"]) for r in rows], "o-", label=name)
ax.axhline(0.5, color="grey", ls=":", label="coin toss")
ax.set_xlabel("step")
ax.set_ylabel("dev accuracy")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# A character-level model pre-trained on 1.1M characters of Shakespeare knows spelling and a
# little grammar, not the words of film criticism; the context of 64 characters also cuts three
# sentences in four. Expect modest accuracies here: a few points above the same model trained from
# scratch, far below what a larger in-domain pre-training reaches ([docs/finetune.md](../docs/finetune.md):
# a BPE model pre-trained on movie reviews, 80.8% against 77.6% from scratch on the SST-2 test set).
#
# 在 110 万个莎士比亚字符上预训练的字符级模型懂得拼写和一点语法，却不懂影评的用词；64 个字符的上下文也截断了四分之三的句子。
# 因此这里的准确率不高：比从零训练的同一模型高几个百分点，但远低于更大的同领域预训练所能达到的水平
# （[docs/finetune.md](../docs/finetune.md)：在影评上预训练的 BPE 模型，SST-2 测试集上 80.8%，从零训练为 77.6%）。
#
# ## Predictions · 预测

# %%
from fromzero.recipes.finetune import predict_many

reviews = ["a gorgeous , witty , seductive movie .", "a dull , lifeless film .",
           "the acting is great but the story is boring .", "i loved every minute of it .",
           "not worth the price of the ticket ."]
for r in predict_many(RUNS / "sst2-lora", reviews, device="cpu"):
    label, p = r["top"][0]
    print(f"{label:9s} {p:6.1%}  {r['input']}")

# %% [markdown]
# ## Which characters decided? · 哪些字符起了决定作用？
#
# Integrated Gradients on the token embeddings (`fromzero explain RUN "text"`): each character gets
# the part of the class score it contributed, measured against an "average character" baseline.
# Red characters pushed toward the predicted class, blue ones away from it. With a model this weak,
# read them with care: the completeness error printed above each map says how far its
# attributions are from adding up to score(text) − score(baseline).
#
# 在词元嵌入上计算积分梯度（即 `fromzero explain RUN "文本"`）：以“平均字符”为基准，每个字符得到它对类别分数的贡献。红色字符
# 把预测推向所选类别，蓝色字符则相反。模型这么弱时要谨慎解读：每张图上方打印的完备性误差表示归因之和与
# 分数(文本) − 分数(基准) 相差多少。

# %%
from IPython.display import HTML, display

from fromzero.explain.runs import explain_run

for result in explain_run(RUNS / "sst2-lora", reviews[:3], out=RUNS / "sst2-lora-explain"):
    print(f"{result['class']} ({result['probability']:.1%}), completeness error {result['completeness_error']:.2%}")
    display(HTML(Path(result["html"]).read_text(encoding="utf-8")))
