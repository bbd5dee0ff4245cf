# Source of notebooks/05_choosing.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # 1.6 Choosing a model · 1.6 如何选择模型
#
# The tutorial's FAQ (1.6) asks three questions: how do large models differ from traditional
# ones, how do you choose one, and what makes training and deployment hard. Its answers are
# words ("consider the task type, the data size, the compute"); this notebook answers with
# numbers measured on your machine: the sizes and training memory of fromzero's models, a
# traditional-versus-deep comparison on MNIST (`fromzero compare`), and a plan for a time budget
# (`fromzero plan`). A few minutes on a laptop CPU; [docs/choosing.md](../docs/choosing.md) has
# the tables measured for the documentation.
#
# 教程的常见问题（1.6 节）提出三个问题：大模型与传统模型有什么区别、如何选择模型、训练和部署有哪些挑战。教程的回答是文字
# （“考虑任务类型、数据规模、计算资源”）；本 notebook 用在你的机器上测得的数字回答：fromzero 各模型的规模和训练内存、MNIST 上
# 传统模型与深度模型的比较（`fromzero compare`），以及按时间预算给出的训练计划（`fromzero plan`）。在笔记本电脑的 CPU 上
# 需要几分钟；为文档测得的表格见 [docs/choosing.md](../docs/choosing.md)。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then meaningless).
# · `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
RUNS = Path("_runs") / ("small" if SMALL else "full")                   # git-ignored
RUNS.mkdir(parents=True, exist_ok=True)
BUDGET = "tiny" if SMALL else "quick"    # fromzero compare's sizes (fromzero.recipes.configs.COMPARE_BUDGETS)

# %% [markdown]
# ## Large versus traditional: size · 大模型与传统模型：规模
#
# "Large" is first a count: parameters, the FLOPs to train on one token or image (about
# $6N$ for $N$ weights: 2 per weight forward, 4 backward), and the memory training needs. Memory is
# not only the weights: their gradients, the optimizer's state (AdamW keeps two numbers per weight)
# and the activations kept for the backward pass, which grow with batch × context and, at the
# recipes' batch sizes, are most of it. `fromzero.zoo` computes all of it from the configs (`fromzero models` prints it).
#
# “大”首先是一个数量：参数个数、在一个词元或一张图片上训练所需的 FLOPs（对 $N$ 个权重约为 $6N$：前向每个权重 2 次，反向 4 次），
# 以及训练需要的内存。内存不只是权重：还有梯度、优化器状态（AdamW 为每个权重保存两个数）以及为反向传播保存的激活值；激活值随
# 批大小 × 上下文长度增长，在各配方的批大小下占了大部分。`fromzero.zoo` 从配置算出这一切（命令行 `fromzero models`）。

# %%
from fromzero import zoo

rows = zoo.zoo_table()
print(zoo.format_table(rows))

# %%
gpts = [r for r in rows if r["name"].startswith("gpt/") and "speedrun" not in r["name"]]
parts = ["params", "grads", "optimizer", "activations", "workspace"]
labels = [f"{r['name'][4:]} ({r['params'] / 1e6:.3g}M, batch {r['batch_size']} × {r['block_size']})" for r in gpts]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), sharey=True)
left.barh(range(len(gpts)), [r["memory"]["total"] / 2**20 for r in gpts], color="grey")
left.set_xscale("log")
left.set_xlabel("training memory in all (MiB, log scale)")
left.set_yticks(range(len(gpts)), labels)
start = [0.0] * len(gpts)
for part in parts:
    share = [r["memory"][part] / r["memory"]["total"] for r in gpts]
    right.barh(range(len(gpts)), share, left=start, label=part)
    start = [a + b for a, b in zip(start, share)]
right.set_xlabel("share of the training memory")
right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## How to choose: measure the simple models first · 如何选择：先测量简单模型
#
# A deep model is worth its cost only when it beats the simple ones by enough. `fromzero compare`
# trains traditional models (logistic regression and a random forest on the raw pixels) and the
# tutorial's CNN on the same split and measures quality, training time, inference latency and
# size side by side. The same exists for text (TF-IDF vs an LSTM), forecasting (seasonal naive,
# ridge vs an LSTM) and language modelling (a Kneser-Ney n-gram vs a GPT).
#
# 深度模型只有在明显胜过简单模型时才值得它的代价。`fromzero compare` 在同一划分上训练传统模型（在原始像素上的逻辑回归和随机
# 森林）与教程中的 CNN，并排测量质量、训练时间、推理延迟和模型大小。文本（TF-IDF 对比 LSTM）、时间序列预测（季节性朴素法、
# 岭回归对比 LSTM）和语言建模（Kneser-Ney n-gram 对比 GPT）也有同样的比较。

# %%
from IPython.display import Image, display

from fromzero.recipes.compare import compare
from fromzero.recipes.compare_report import format_table

table = compare("mnist", budget=BUDGET, out=RUNS / "compare-mnist", overwrite=True, verbose=0)
print(format_table(table))
display(Image(filename=str(RUNS / "compare-mnist" / "chart.png"), width=900))

# %% [markdown]
# How to read it: with 10,000 training images and one epoch (the quick budget) the CNN is not
# clearly ahead of the random forest, and it is the slowest per image; given all 60,000 images it
# reaches about 99% ([03_cnn.ipynb](03_cnn.ipynb)). Logistic regression trains in seconds, weighs a few
# kilobytes, and may be enough for a task that tolerates its error rate. The same trade-off decides
# every choice: the quality the task needs, the data there is (deep models need more), and the
# compute for training and for every prediction after it.
#
# 如何解读：在 10,000 张训练图片、一个 epoch（quick 预算）下，CNN 并不明显领先于随机森林，而且单张图片的推理最慢；用全部
# 60,000 张图片训练时，它能达到约 99%（[03_cnn.ipynb](03_cnn.ipynb)）。逻辑回归几秒就能训练好，只有几 KB，对于能容忍其错误率的
# 任务也许已经足够。每一次选择都取决于同样的权衡：任务需要的质量、现有的数据（深度模型需要更多数据），以及训练和之后每次预测的
# 计算量。
#
# ## Training: a plan for a budget · 训练：按预算制定计划
#
# `fromzero plan` turns a time (or memory) budget into a command: it measures this machine's
# training throughput for each candidate GPT preset and the fixed cost of a run (in child
# processes, cached), then picks the largest model that still sees enough tokens (about 20 per
# parameter, Chinchilla's ratio) or, with a fitted scaling law, the one with the lowest predicted
# loss. At small sizes this cell is skipped: its measurements start new processes.
#
# `fromzero plan` 把时间（或内存）预算变成一条命令：它测量本机上每个候选 GPT 预设的训练吞吐量和一次运行的固定开销（在子进程中
# 测量并缓存），然后选出仍能看到足够多词元的最大模型（每个参数约 20 个词元，即 Chinchilla 比例），或者在有拟合好的扩展定律时，
# 选出预测损失最低的模型。小规模运行时跳过此单元：它的测量需要启动新进程。

# %%
from fromzero.recipes.plan import describe, plan

if SMALL:
    print("skipped at small sizes")
else:
    print(describe(plan("gpt", "shakespeare", time_budget="5m", presets=("tiny", "shakespeare-char", "cpu-small"))))

# %% [markdown]
# Deployment is the other half of the cost: a run directory (safetensors weights and a JSON
# config) loads without unpickling; `fromzero export RUN --format onnx` and `fromzero serve RUN`
# take it further ([docs/serve.md](../docs/serve.md)).
#
# 部署是另一半代价：运行目录（safetensors 权重加 JSON 配置）加载时不会反序列化任意对象；`fromzero export RUN --format onnx`
# 和 `fromzero serve RUN` 更进一步（[docs/serve.md](../docs/serve.md)）。
