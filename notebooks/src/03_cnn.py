# Source of notebooks/03_cnn.ipynb (python notebooks/_build.py writes the notebook).

# %% [markdown]
# # 1.4 The tutorial's CNN on MNIST · 1.4 教程中的 CNN 与 MNIST
#
# Section 1.4 builds a convolutional network with tf.keras and trains it on MNIST. This notebook
# runs the same program with fromzero (its three bugs fixed, see the
# [README](../README.md#the-tutorials-three-bugs-and-the-fixes)), then looks inside: the loss
# curves, the filters it learnt, what its layers see, and the digits it gets wrong. About three
# minutes on a laptop CPU (3 epochs; the tutorial trains 10: `fromzero train mnist-cnn --epochs 10`).
#
# 教程 1.4 节用 tf.keras 搭建一个卷积神经网络并在 MNIST 上训练。本 notebook 用 fromzero 运行同一个程序（修正了其中的
# 三个错误，见 [README](../README.md#the-tutorials-three-bugs-and-the-fixes)），然后看看模型内部：损失曲线、学到的卷积核、
# 各层看到的东西，以及认错的数字。在笔记本电脑的 CPU 上约三分钟（训练 3 个 epoch；教程训练 10 个：
# `fromzero train mnist-cnn --epochs 10`）。
#
# `FROMZERO_NOTEBOOK_SMALL=1` shrinks every size (seconds; the results are then meaningless).
# · `FROMZERO_NOTEBOOK_SMALL=1` 把所有规模缩到最小（几秒跑完，结果没有意义）。

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: text bars without ipywidgets
SMALL = os.environ.get("FROMZERO_NOTEBOOK_SMALL", "") not in ("", "0")  # tiny sizes: seconds, for the tests
N_TRAIN, N_TEST, EPOCHS = (256, 128, 1) if SMALL else (60_000, 10_000, 3)
_ = torch.manual_seed(0)

# %% [markdown]
# ## The data · 数据
#
# 60,000 training and 10,000 test images of handwritten digits, 28×28 grey pixels, shipped with
# fromzero and checked against their SHA-256. The tutorial's preprocessing, `reshape` and `/ 255`,
# is `to_inputs`; images are channels-first, `(1, 28, 28)`, PyTorch's convention.
#
# 60,000 张训练图片和 10,000 张测试图片，都是 28×28 的灰度手写数字，随 fromzero 一起分发，并用 SHA-256 校验。教程的
# 预处理（`reshape` 和 `/ 255`）就是 `to_inputs`；图片采用 PyTorch 的“通道在前”格式 `(1, 28, 28)`。

# %%
from fromzero.datasets import load_mnist
from fromzero.recipes.mnist import to_inputs

(train_images, train_labels), (test_images, test_labels) = load_mnist("train"), load_mnist("test")
x_train, y_train = to_inputs(train_images[:N_TRAIN]), torch.from_numpy(train_labels[:N_TRAIN])
x_test, y_test = to_inputs(test_images[:N_TEST]), torch.from_numpy(test_labels[:N_TEST])
print("x_train", tuple(x_train.shape), x_train.dtype, "y_train", tuple(y_train.shape))
fig, axes = plt.subplots(1, 10, figsize=(12, 1.6))
for ax, img, label in zip(axes, x_train, y_train):
    ax.imshow(img[0], cmap="gray")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 1.4.1 Build the model · 构建模型
#
# `fromzero.models.cnn.build_model` is the tutorial's `build_model`: conv(32) → pool → conv(64) →
# pool → dense(128) → dense(10), with a `Flatten` before the dense layers, ReLU on the
# convolutions, and logits out of the last layer (the three fixes). `summary()` prints Keras's table.
#
# `fromzero.models.cnn.build_model` 就是教程中的 `build_model`：卷积(32) → 池化 → 卷积(64) → 池化 → 全连接(128) →
# 全连接(10)，并在全连接层前加 `Flatten`、卷积层加 ReLU、最后一层输出 logits（三处修正）。`summary()` 打印 Keras 式的表格。

# %%
from fromzero.models.cnn import build_model

model = build_model((1, 28, 28))
_ = model.summary()

# %% [markdown]
# ## 1.4.2 Train the model · 训练模型
#
# The tutorial's `compile` and `fit`, with integer labels (`sparse_categorical_crossentropy`; the
# tutorial's one-hot labels with `categorical_crossentropy` work too). The test images serve as
# validation data, as in the tutorial.
#
# 教程中的 `compile` 和 `fit`，使用整数标签（`sparse_categorical_crossentropy`；教程中的 one-hot 标签配合
# `categorical_crossentropy` 同样可用）。与教程一样，用测试图片作为验证数据。

# %%
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=128, epochs=EPOCHS, validation_data=(x_test, y_test),
                    verbose=0 if SMALL else 1)
print(model.evaluate(x_test, y_test))

# %%
h = history.history
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
epochs = range(1, len(h["loss"]) + 1)
for ax, key in zip(axes, ["loss", "accuracy"]):
    ax.plot(epochs, h[key], "o-", label="train")
    ax.plot(epochs, h["val_" + key], "o-", label="test")
    ax.set_xlabel("epoch")
    ax.set_title(key)
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What the network learnt · 网络学到了什么
#
# The first convolution has 32 kernels of 3×3 weights, each a small pattern detector (edges of
# some direction, blobs). Below them, what the two convolution layers output for one test digit:
# the first layer's maps still look like the digit, filtered; after pooling, the second layer's
# 14×14 maps respond to parts of strokes. A functional `Model` from the same input to the inner
# layers' outputs (`model.nodes`) reads them without changing the model.
#
# 第一个卷积层有 32 个 3×3 的卷积核，每个都是一个小的模式检测器（某个方向的边缘、斑点）。下面是两个卷积层对一张测试数字
# 的输出：第一层的特征图仍然像经过滤波的数字；池化之后，第二层 14×14 的特征图对笔画的局部作出响应。用函数式 `Model`
# 把同一个输入连到内部层的输出（`model.nodes`），即可读出它们，而不改变模型。

# %%
from fromzero import Model

kernels = model.nodes[0].layer.conv.weight.detach()[:, 0]      # (32, 3, 3)
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for ax, k in zip(axes.flat, kernels):
    ax.imshow(k, cmap="RdBu_r", vmin=-kernels.abs().max(), vmax=kernels.abs().max())
    ax.axis("off")
fig.suptitle("the 32 learnt 3×3 kernels of the first convolution (red +, blue −)")
plt.show()

features = Model(model.inputs, [model.nodes[0], model.nodes[2]])   # conv 1 (32, 28, 28), conv 2 (64, 14, 14)
model.eval()
with torch.no_grad():
    conv1, conv2 = features(x_test[:1])
fig, axes = plt.subplots(2, 9, figsize=(12, 3))
for row, maps, name in zip(axes, [conv1[0], conv2[0]], ["conv 1", "conv 2"]):
    row[0].imshow(x_test[0, 0], cmap="gray")
    row[0].set_title("input", fontsize=8)
    strongest = maps.flatten(1).amax(1).argsort(descending=True)[:8]
    for ax, k in zip(row[1:], strongest.tolist()):
        ax.imshow(maps[k], cmap="magma")
        ax.set_title(f"{name} #{k}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Where it goes wrong · 错在哪里
#
# The confusion matrix counts, for each true digit (row), what the model predicted (column); the
# diagonal is right. Then the test digits it misclassified, with its answer and how sure it was:
# many are ones a person would hesitate over too.
#
# 混淆矩阵统计每个真实数字（行）被预测成了什么（列）；对角线上是预测正确的。接着是模型分错的测试数字，以及它的回答和
# 把握：其中很多连人也会犹豫。

# %%
probs = torch.softmax(model.predict(x_test), -1)
pred = probs.argmax(-1)
confusion = torch.bincount(y_test * 10 + pred, minlength=100).reshape(10, 10)
fig, ax = plt.subplots(figsize=(5, 4.4))
ax.imshow(confusion.float().log1p(), cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if i == j else "black")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title(f"{int((pred != y_test).sum())} mistakes in {len(y_test):,} test images")
plt.show()

wrong = (pred != y_test).nonzero()[:, 0][:16]
fig, axes = plt.subplots(2, 8, figsize=(12, 3.6), squeeze=False)
for ax in axes.flat:
    ax.axis("off")
for ax, i in zip(axes.flat, wrong.tolist()):
    ax.imshow(x_test[i, 0], cmap="gray")
    ax.set_title(f"{int(y_test[i])} → {int(pred[i])} ({probs[i, pred[i]]:.0%})", fontsize=9)
fig.suptitle("true → predicted (probability)")
plt.show()

# %% [markdown]
# The command line does all of this and saves a run directory (weights, config, history, plot):
# `fromzero train mnist-cnn --epochs 10 --batch-size 128`, then `fromzero evaluate runs/mnist-cnn`
# and `fromzero predict runs/mnist-cnn examples/digit-7.png`. Next, why the model answers what it
# does and what it reveals about its training data: [04_challenges.ipynb](04_challenges.ipynb).
#
# 命令行完成同样的工作并保存运行目录（权重、配置、历史、曲线图）：`fromzero train mnist-cnn --epochs 10 --batch-size 128`，
# 然后 `fromzero evaluate runs/mnist-cnn` 和 `fromzero predict runs/mnist-cnn examples/digit-7.png`。下一步：模型为什么
# 这样回答，以及它泄露了多少训练数据：[04_challenges.ipynb](04_challenges.ipynb)。
