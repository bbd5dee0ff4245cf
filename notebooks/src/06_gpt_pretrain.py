# Source of notebooks/06_gpt_pretrain.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # Pre-train a small GPT on Shakespeare · 在莎士比亚文本上预训练一个小 GPT
#
# Tutorial 1.2.5 (the Transformer and its self-attention) and the first half of 1.2.6 (a model
# first trained on plain text): a GPT, trained from random weights to predict the next character
# of Tiny Shakespeare (1.1M characters). We watch the loss fall, read what it writes as it
# learns, and look at where its attention heads look. The model is nanoGPT's CPU configuration
# (4 layers, 4 heads, 128 wide, a context of 64 characters: 0.8M parameters); 2,000 steps take
# a few minutes on a laptop CPU. [docs/gpt.md](../docs/gpt.md) has the details.
#
# 对应教程 1.2.5（Transformer 及其自注意力）和 1.2.6 的前半部分（先在纯文本上训练的模型）：从随机权重开始训练一个 GPT，
# 预测 Tiny Shakespeare（110 万字符）中的下一个字符。我们观察损失下降，阅读它在学习过程中写出的文字，并查看注意力头在看哪里。
# 模型采用 nanoGPT 的 CPU 配置（4 层、4 个头、宽度 128、上下文 64 个字符，共 80 万参数）；2,000 步在笔记本电脑的 CPU 上需要
# 几分钟。详见 [docs/gpt.md](../docs/gpt.md)。
#
# The run is saved in `notebooks/_runs/`, where [07_gpt_finetune.ipynb](07_gpt_finetune.ipynb)
# fine-tunes it. `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then
# meaningless). · 运行结果保存在 `notebooks/_runs/`，[07_gpt_finetune.ipynb](07_gpt_finetune.ipynb) 会在其上微调。
# `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
RUNS = Path("_runs") / ("small" if SMALL else "full")                   # git-ignored
RUNS.mkdir(parents=True, exist_ok=True)
# The preset and its recipe (fromzero.models.configs.GPT_PRESETS, fromzero.recipes.configs.GPT_RECIPES);
# small: a 2-layer model for 20 steps (and no throughput measurement) on the first 20,000 characters
PRESET, OPTIONS = (("tiny", dict(max_iters=20, eval_interval=10, batch_size=4, eval_tokens=2048, peak_flops=1e12))
                   if SMALL else ("shakespeare-char", {}))
SAMPLE_CHARS = 40 if SMALL else 200

# %% [markdown]
# ## The text · 文本
#
# The corpus ships with fromzero (checked against its SHA-256). A character-level tokenizer gives
# each of its 65 distinct characters an id; the last 10% of the text is kept for validation.
#
# 语料随 fromzero 分发（用 SHA-256 校验）。字符级分词器给其中 65 个不同的字符各分配一个编号；最后 10% 的文本留作验证。

# %%
from fromzero.text.data import corpus_files

data = "shakespeare"
text = corpus_files(data)[0].read_text(encoding="utf-8")
if SMALL:
    data = RUNS / "shakespeare-20k.txt"
    data.write_text(text[:20_000], encoding="utf-8")
print(f"{len(text):,} characters, {len(set(text))} distinct; the beginning:\n")
print(text[:300])

# %% [markdown]
# ## Pre-training · 预训练
#
# `fromzero.recipes.gpt.pretrain` is what `fromzero pretrain gpt` runs: random windows of 64
# characters, the model predicts each next character, AdamW, warmup then cosine decay, and an
# evaluation on the validation text every 250 steps. A callback of our own (any `Callback` can
# join the trainer) keeps a sample of generated text after each evaluation.
#
# `fromzero.recipes.gpt.pretrain` 就是 `fromzero pretrain gpt` 所运行的：随机截取 64 个字符的窗口，模型预测每个下一个字符，
# 使用 AdamW、先预热再余弦衰减，每 250 步在验证文本上评估一次。我们自己写的回调（任何 `Callback` 都能加入训练器）
# 在每次评估后保存一段生成的文字。

# %%
from fromzero.generate import generate_text
from fromzero.recipes.gpt import pretrain
from fromzero.text.tokenizer import load_tokenizer
from fromzero.train import Callback


class Samples(Callback):
    """After each evaluation, a sample from the model as it is at that step."""

    def __init__(self, run_dir, prompt: str, chars: int):
        self.run_dir, self.prompt, self.chars, self.texts = Path(run_dir), prompt, chars, {}

    def on_epoch_end(self, trainer, epoch, logs):
        tok = load_tokenizer(self.run_dir)            # written by pretrain before the first step
        self.texts[trainer.step] = generate_text(trainer.model, self.prompt, self.chars, seed=0, tokenizer=tok)


samples = Samples(RUNS / "gpt", "ROMEO:", SAMPLE_CHARS)
run = pretrain(data, preset=PRESET, out=RUNS / "gpt", overwrite=True, verbose=0 if SMALL else 1,
               callbacks=[samples], sample_tokens=0, **OPTIONS)
print("saved in", run, sorted(p.name for p in run.iterdir()))

# %% [markdown]
# ## The loss curve · 损失曲线
#
# The loss is the cross-entropy of the next character, in nats. A model that guesses uniformly
# among 65 characters scores $\ln 65 \approx 4.17$; nanoGPT reports 1.88 for this configuration
# on the validation text. `history.csv` in the run directory holds one row per evaluation.
#
# 损失是下一个字符的交叉熵（单位为 nat）。在 65 个字符中均匀瞎猜的模型得分为 $\ln 65 \approx 4.17$；nanoGPT 报告这个配置在
# 验证文本上的损失为 1.88。运行目录中的 `history.csv` 每次评估记录一行。

# %%
import csv
import math

rows = list(csv.DictReader(open(run / "history.csv")))
steps = [int(r["step"]) for r in rows]
plt.figure(figsize=(6, 3.2))
plt.plot(steps, [float(r["loss"]) for r in rows], "o-", label="training (mean since the last evaluation)")
plt.plot(steps, [float(r["val_loss"]) for r in rows], "o-", label="validation")
plt.axhline(math.log(65), color="grey", ls=":", label="uniform guess, ln 65")
plt.xlabel("step")
plt.ylabel("cross-entropy (nats)")
plt.legend(fontsize=8)
plt.show()
print(f"final validation loss {float(rows[-1]['val_loss']):.3f}")

# %% [markdown]
# ## What it writes as it learns · 它在学习过程中写出的文字
#
# The same prompt and random seed after each evaluation. First random characters, then
# letters in word-sized groups, then the shape of a play: names in capitals, a colon, a line
# break, lines of verse.
#
# 每次评估后用相同的提示词和随机种子生成。起初是随机字符，然后是单词大小的字母组合，最后出现剧本的样子：大写的人名、
# 冒号、换行、一行行的诗句。

# %%
for step, sample in samples.texts.items():
    print(f"===== after step {step} =====\nROMEO:{sample}\n")

# %% [markdown]
# ## Where the attention heads look · 注意力头在看哪里
#
# Each head computes $\mathrm{softmax}(QK^\top/\sqrt{d} + M)$: row $i$ says how much character $i$
# takes from each earlier character $j$ (the causal mask $M$ empties the upper triangle, and each
# row sums to 1). `fromzero.explain.attention.attention_maps` records them for a prompt, every
# layer (rows of the grid) and head (columns). Some heads look at the previous character, some at
# the start of the current word or line.
#
# 每个头计算 $\mathrm{softmax}(QK^\top/\sqrt{d} + M)$：第 $i$ 行表示字符 $i$ 从前面每个字符 $j$ 读取多少（因果掩码 $M$ 使
# 上三角为空，每行之和为 1）。`fromzero.explain.attention.attention_maps` 记录一个提示词在每一层（网格的行）和每个头（列）
# 的注意力权重。有的头看前一个字符，有的看当前单词或当前行的开头。

# %%
from IPython.display import Image, display

from fromzero.checkpoint import load_model
from fromzero.explain.attention import attention_maps, save_attention_grid
from fromzero.explain.checks import attention_check

model, tok = load_model(run), load_tokenizer(run)
prompt = "ROMEO:\nBut soft, what light"
idx = torch.tensor([tok.encode(prompt)])
att = attention_maps(model, idx)                          # (layers, heads, T, T)
print("shape", tuple(att.shape), attention_check(att))
save_attention_grid(att, [tok.decode([int(t)]) for t in idx[0]], RUNS / "attention.png")   # rows: layers
display(Image(filename=str(RUNS / "attention.png"), width=900))

# %% [markdown]
# ## Generate · 生成
#
# `generate_text` samples one character at a time with a KV cache (what `fromzero generate RUN
# --prompt ...` does); `evaluate_run` scores the validation text (`fromzero evaluate RUN`).
#
# `generate_text` 借助 KV 缓存逐个字符采样（即 `fromzero generate RUN --prompt ...` 所做的）；`evaluate_run` 在验证文本上
# 评分（即 `fromzero evaluate RUN`）。

# %%
from fromzero.recipes.gpt import evaluate_run

print(evaluate_run(run, device="cpu"))
print("ROMEO:" + generate_text(run, "ROMEO:", 100 if SMALL else 500, temperature=0.8, seed=1))

# %% [markdown]
# Next: [07_gpt_finetune.ipynb](07_gpt_finetune.ipynb) puts a classification head on this model and
# fine-tunes it on movie-review sentiment (SST-2) with LoRA.
#
# 下一步：[07_gpt_finetune.ipynb](07_gpt_finetune.ipynb) 在这个模型上加一个分类头，用 LoRA 在影评情感数据（SST-2）上微调。
