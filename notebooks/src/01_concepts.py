# Source of notebooks/01_concepts.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # 1.2 Core concepts, runnable · 1.2 核心概念（可运行）
#
# Section 1.2 of the tutorial names the parts every model is built from: neurons and layers
# (1.2.1), deep networks that learn their own features (1.2.2), and the model families that
# follow (CNN, RNN, Transformer, pre-trained models). This notebook builds the first two with
# fromzero's Keras-like layers and trains a small dense network on a problem a straight line
# cannot solve. Under a minute on a laptop CPU.
#
# 教程 1.2 节介绍了构成模型的基本部件：神经元与层（1.2.1）、能自己学习特征的深层网络（1.2.2），以及后面的
# 模型家族（CNN、RNN、Transformer、预训练模型）。本 notebook 用 fromzero 的 Keras 风格的层搭建前两部分，
# 并训练一个小的全连接网络，去解决一条直线分不开的问题。在笔记本电脑的 CPU 上不到一分钟。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size so that the notebook runs in seconds (the tests do
# this); the results are then meaningless. · 设置 `FROMZERO_NOTEBOOK_SMALL=1` 会把所有规模缩到最小，
# 几秒内跑完（测试就是这样运行的），此时结果没有意义。

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
_ = torch.manual_seed(0)
print("small sizes" if SMALL else "full sizes")

# %% [markdown]
# ## 1.2.1 A neuron, a layer · 神经元与层
#
# A neuron takes numbers $x_1, \dots, x_n$, weighs them, adds a bias and passes the sum through
# an activation function $f$: $y = f(w \cdot x + b)$. A **layer** is many neurons reading the
# same input, so its weights form a matrix $W$ (one row per neuron): $y = f(Wx + b)$, the formula
# of section 1.3.1. fromzero's `Dense(units)` is that layer; it creates $W$ and $b$ when it first
# sees its input, so you never compute the input size by hand.
#
# 神经元接收若干数 $x_1, \dots, x_n$，加权求和、加上偏置，再经过激活函数 $f$：$y = f(w \cdot x + b)$。
# **层**是读取同一输入的许多神经元，因此权重组成矩阵 $W$（每个神经元一行）：$y = f(Wx + b)$，即 1.3.1 节的公式。
# fromzero 的 `Dense(units)` 就是这样的层；它在第一次看到输入时才创建 $W$ 和 $b$，输入维度无需手算。

# %%
from fromzero.layers import Dense

layer = Dense(3, activation="relu")         # 3 neurons
x = torch.tensor([[1.0, -2.0, 0.5, 4.0]])   # one example with 4 inputs: shape (batch, 4)
y = layer(x)                                # builds W (3, 4) and b (3,), then computes
W, b = layer.linear.weight, layer.linear.bias
by_hand = torch.relu(x @ W.T + b)           # y = f(Wx + b), written out
print("W", tuple(W.shape), "b", tuple(b.shape))
print("layer:  ", y.detach().numpy().round(4))
print("by hand:", by_hand.detach().numpy().round(4))

# %% [markdown]
# ### Activation functions · 激活函数
#
# Without $f$, two layers are one: $W_2(W_1x + b_1) + b_2$ is again $Wx + b$. The activation is
# what lets stacked layers compute more than a straight line. ReLU, $\max(0, z)$, is the usual
# choice in hidden layers; sigmoid and tanh squash to (0, 1) and (−1, 1); GELU is a smooth ReLU.
#
# 没有 $f$，两层就等于一层：$W_2(W_1x + b_1) + b_2$ 仍是 $Wx + b$。正是激活函数让层层堆叠的网络能表示直线以外的
# 东西。隐藏层通常用 ReLU，即 $\max(0, z)$；sigmoid 和 tanh 把输出压到 (0, 1) 和 (−1, 1)；GELU 是平滑的 ReLU。

# %%
from fromzero.layers.core import get_activation

z = torch.linspace(-4, 4, 200)
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6), sharex=True)
for ax, name in zip(axes, ["relu", "sigmoid", "tanh", "gelu"]):
    ax.plot(z, get_activation(name)(z))
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_title(name)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The loss: how wrong is the network? · 损失：网络错得有多厉害？
#
# A classifier's last layer outputs one score per class, the **logits** $z$. Softmax turns them
# into probabilities, $p_k = e^{z_k} / \sum_j e^{z_j}$, and the cross-entropy loss is
# $L = -\log p_y$, where $y$ is the true class: 0 when the network is sure and right, large when
# it is sure and wrong. Training lowers the mean of $L$ over the data. (The tutorial puts a ReLU
# on the last layer; fromzero's loss takes the logits and applies the softmax itself, see the
# README's "three bugs".)
#
# 分类器的最后一层为每个类别输出一个分数，即 **logits** $z$。softmax 把它们变成概率
# $p_k = e^{z_k} / \sum_j e^{z_j}$，交叉熵损失为 $L = -\log p_y$，$y$ 是真实类别：网络确信且正确时为 0，
# 确信但错误时很大。训练就是降低 $L$ 在数据上的平均值。（教程在最后一层用了 ReLU；fromzero 的损失函数接收 logits、
# 自己做 softmax，见 README 中的“三个错误”。）

# %%
from fromzero.train.losses import get_loss

loss_fn = get_loss("sparse_categorical_crossentropy")
label = torch.tensor([0])                                 # the true class is 0 of 3
for what, logits in [("sure and right", [6.0, 0.0, 0.0]), ("unsure", [0.0, 0.0, 0.0]),
                     ("sure and wrong", [0.0, 6.0, 0.0])]:
    z = torch.tensor([logits])
    p = torch.softmax(z, -1)[0, 0]
    print(f"{what:15s} logits {logits}  p(true class) {p:.3f}  loss {loss_fn(z, label):.3f}")

# %% [markdown]
# ## 1.2.2 Deep learning: a network learns its own features · 深度学习：网络自己学习特征
#
# Two interleaved spirals: each point belongs to one of two arms. A network with no hidden layer
# (logistic regression) can only split the plane with a straight line. With two hidden layers of
# ReLU neurons, the network bends the boundary to follow the spirals: the hidden layers compute
# features of $(x_1, x_2)$ that make the classes separable, and nobody wrote those features.
#
# 两条交错的螺旋线：每个点属于其中一条。没有隐藏层的网络（逻辑回归）只能用一条直线划分平面。有了两层 ReLU
# 隐藏层，网络能把边界弯曲成螺旋的形状：隐藏层计算出 $(x_1, x_2)$ 的新特征，使两类可分，而这些特征没有人手写。

# %%
def spirals(n: int, noise: float = 0.08, seed: int = 0):
    """n points on two interleaved spirals: (n, 2) float32 inputs and (n,) labels 0/1, shuffled."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * np.pi          # angle along the arm
    label = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    xy = np.stack([r * np.cos(t + np.pi * label), r * np.sin(t + np.pi * label)], 1)
    return (xy + rng.normal(0, noise, xy.shape)).astype(np.float32), label


N, EPOCHS, G = (400, 3, 40) if SMALL else (4000, 60, 200)   # points, epochs, grid of the plots
x, y = spirals(N)
plt.figure(figsize=(3.2, 3.2))
plt.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=4)
plt.title(f"{N} points, 2 classes")
plt.show()

# %% [markdown]
# The same three calls as the tutorial's Keras program: build, `compile` (optimizer, loss,
# metrics), `fit`. `validation_split=0.2` keeps the last 20% of the points aside to measure how
# well each network does on points it never trained on.
#
# 与教程中 Keras 程序相同的三步：搭建、`compile`（优化器、损失、指标）、`fit`。`validation_split=0.2` 留出最后 20%
# 的点，用来衡量网络在没训练过的点上表现如何。

# %%
from fromzero import Sequential
from fromzero.layers import Input

shallow = Sequential([Input((2,)), Dense(2)])                              # logistic regression
deep = Sequential([Input((2,)), Dense(64, activation="relu"), Dense(64, activation="relu"), Dense(2)])
_ = deep.summary()
histories = {}
for name, model in [("no hidden layer", shallow), ("2 hidden layers", deep)]:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], lr=1e-2)
    histories[name] = model.fit(x, y, batch_size=64, epochs=EPOCHS, validation_split=0.2, verbose=0).history
    print(f"{name}: validation accuracy {histories[name]['val_accuracy'][-1]:.3f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for name, h in histories.items():
    axes[0].plot(h["loss"], label=f"{name}, train")
    axes[0].plot(h["val_loss"], "--", label=f"{name}, validation")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("cross-entropy")
axes[0].legend(fontsize=7)
grid = np.stack(np.meshgrid(np.linspace(-1.2, 1.2, G), np.linspace(-1.2, 1.2, G)), -1).reshape(-1, 2)
for ax, (name, model) in zip(axes[1:], [("no hidden layer", shallow), ("2 hidden layers", deep)]):
    p = torch.softmax(model.predict(grid.astype(np.float32), batch_size=10_000), -1)[:, 1].reshape(G, G).numpy()
    ax.contourf(grid[:, 0].reshape(G, G), grid[:, 1].reshape(G, G), p, levels=20, cmap="coolwarm", alpha=0.6)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=2)
    ax.set_title(f"{name}: p(class 1)")
plt.tight_layout()
plt.show()

# %% [markdown]
# What the hidden layers learnt: each of the 64 neurons of the first hidden layer is one ReLU of a
# straight line across the plane; each neuron of the second layer combines them into a curved
# region. Below, over the whole plane, the six second-layer neurons whose activation varies most:
# regions with bent edges, which the output layer weighs against each other to trace the spirals.
#
# 隐藏层学到了什么：第一隐藏层的 64 个神经元各是平面上一条直线的 ReLU；第二隐藏层的每个神经元把它们组合成一个边界弯曲的
# 区域。下图是在整个平面上激活值变化最大的六个第二层神经元：这些边界弯曲的区域由输出层加权组合，描出螺旋。

# %%
from fromzero import Model

hidden = Model(deep.inputs, deep.nodes[1])          # the same layers, stopping at the 2nd hidden layer
h = hidden.predict(grid.astype(np.float32), batch_size=10_000)  # (G·G, 64)
top = h.std(0).argsort(descending=True)[:6]         # the neurons that vary most over the plane
fig, axes = plt.subplots(1, 6, figsize=(13, 2.3))
for ax, k in zip(axes, top.tolist()):
    ax.imshow(h[:, k].reshape(G, G), origin="lower", cmap="magma")
    ax.set_title(f"neuron {k}")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## What comes next · 接下来
#
# | tutorial | notebook |
# | --- | --- |
# | 1.2.3 CNN: convolution and pooling layers · 卷积与池化层 | [03_cnn.ipynb](03_cnn.ipynb) (and the formulas in [02_formulas.ipynb](02_formulas.ipynb)) |
# | 1.2.4 RNN: sequences · 序列 | [docs/rnn.md](../docs/rnn.md): `fromzero train forecast`, `fromzero train text-rnn` |
# | 1.2.5 Transformer: self-attention · 自注意力 | [06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb) |
# | 1.2.6 pre-trained models · 预训练模型 | [06_gpt_pretrain.ipynb](06_gpt_pretrain.ipynb), [07_gpt_finetune.ipynb](07_gpt_finetune.ipynb) |
# | 1.3 the formulas · 公式 | [02_formulas.ipynb](02_formulas.ipynb) |
